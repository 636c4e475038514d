"""Claims of chapter 3 (Result 2: adversarial training and the influence of unconfident samples).

The abstract says: "adversarial training tends to strengthen the influence of
unconfident input samples with large gradient norms in an exponential manner". The
chapter reads it four ways, each declared here before it is measured on trained digits
MLPs (five seeds or more):

- ``ch3-unconfident-large``: within the least-confident decile, lower confidence goes with
  larger gradient norms and larger curvature (rank correlations; over the whole test set
  the bounds of ``eq-ch3-residual`` force the relation, so it is not tested there);
- ``ch3-exponential``: under the real attack the log of the influence ratio (unconfident
  over typical) rises at least half as fast in ``m`` as in the linearised model;
- ``ch3-steps``: many attack steps give the unconfident samples more influence than one;
- ``ch3-training``: the training attack raises the least-confident decile's share of the
  full-batch gradient above its clean share, on adversarially trained networks and on
  standard-trained ones (the control).

The book's own claim ``ch3-linearised-rate`` (``paper=""``) checks the rate of the
proposition in the linearised model: at finite ``m`` against the exact top-eigenvector
rate, and against the asymptote where ``m`` is large enough for it.

The mathematics (SymPy derivations, the batched per-sample gradients, the linearised
model's closed form, the gradient shares of a partition) is recorded as identities.
"""

from __future__ import annotations

from . import VERIFIED, ClaimSpec, IdentitySpec, check_records, paper_outcome

CHAPTER = 3
#: The abstract's words for Result 2.
PAPER = (
    "adversarial training tends to strengthen the influence of unconfident input samples "
    "with large gradient norms in an exponential manner"
)
#: float64 round-off on these problems is ~1e-15; 1e-10 leaves room for conditioning.
ROUNDOFF = 1e-10
#: "Strong" monotone relation: the usual convention for a rank correlation, |rho| >= 0.8.
STRONG = 0.8

# --------------------------------------------------------------------------- identities

RESIDUAL_MAX = IdentitySpec(
    name="ch3-residual-max",
    chapter=CHAPTER,
    statement=(
        "|p - e_y|^2 = 1 - 2 p_y + |p|^2 is convex on the simplex, 0 at p = e_y and maximal (= 2) at a "
        "confidently wrong vertex p = e_j, j != y, where tr A = 1 - |p|^2 = 0 (SymPy, C = 2..5)"
    ),
    error="symbolic remainder (exact arithmetic)",
    tolerance=ROUNDOFF,
    reason="SymPy works in exact arithmetic: any nonzero remainder is an error",
)
FIRST_ORDER = IdentitySpec(
    name="ch3-first-order",
    chapter=CHAPTER,
    statement=(
        "d/de grad_theta L(x + e d) at e = 0 equals (d2L/dtheta dx) d = A W d x^T + (p - e_y) d^T "
        "(SymPy, two-class linear model)"
    ),
    error="symbolic remainder (exact arithmetic)",
    tolerance=ROUNDOFF,
    reason="SymPy works in exact arithmetic: any nonzero remainder is an error",
)
LINEAR_REGIME = IdentitySpec(
    name="ch3-linear-regime",
    chapter=CHAPTER,
    statement=(
        "log c(m) = log(m alpha) + log((e^s - 1)/s) + log(log(1 + alpha lambda)/(alpha lambda)) with "
        "s = m log(1 + alpha lambda); the middle term increases with s (<= log(e - 1) = 0.54 for s <= 1) and the "
        "last is <= 0 (SymPy)"
    ),
    error="symbolic remainder (exact arithmetic)",
    tolerance=ROUNDOFF,
    reason="SymPy works in exact arithmetic: any nonzero remainder is an error",
)
VMAP_LOOP = IdentitySpec(
    name="ch3-vmap-loop",
    chapter=CHAPTER,
    statement="per-sample parameter gradients by vmap(grad) equal a loop of autograd.grad calls",
    error="largest relative error over seeds",
    tolerance=ROUNDOFF,
    reason="the same arithmetic in another order: float64 round-off only",
)
JVP_FD = IdentitySpec(
    name="ch3-jvp-fd",
    chapter=CHAPTER,
    statement="the jvp first-order term K u (a vector) equals the central difference of grad_theta L along u",
    error="largest |fd / 2t - K u| / |K u| over inputs and seeds (t = 1e-4)",
    tolerance=1e-4,
    reason="central differences err by O((t lambda)^2), with input curvature lambda <= ~100 per pixel unit at t = 1e-4",
)
CLOSED_FORM = IdentitySpec(
    name="ch3-closed-form",
    chapter=CHAPTER,
    statement=(
        "the linearised model's closed form delta_m = sum_i c_i(m) gamma_i v_i equals the iterated "
        "recurrence delta_{t+1} = (I + alpha H) delta_t + alpha g"
    ),
    error="largest relative error over seeds and m",
    tolerance=ROUNDOFF,
    reason="two exact routes to one vector: float64 round-off, grown at most by (1 + alpha lambda)^m",
)
SHARES_PARTITION = IdentitySpec(
    name="ch3-shares-partition",
    chapter=CHAPTER,
    statement=(
        "gradient shares <sum_S grad L_i, G>/|G|^2 of a partition sum to 1 and equal the sum of per-sample "
        "projections, on clean and attacked inputs"
    ),
    error="largest absolute error over seeds and training attacks",
    tolerance=ROUNDOFF,
    reason="a linear identity: float64 round-off only",
)

# --------------------------------------------------------------------------- claims

GRADIENT_CONFIDENCE = ClaimSpec(
    name="ch3-gradient-confidence",
    chapter=CHAPTER,
    group="ch3-unconfident-large",
    paper="unconfident input samples with large gradient norms",
    reading=(
        "within the unconfident decile of the test inputs (not over the whole test set, where the bounds of "
        "eq-ch3-residual force the relation), the less confident an input, the larger |grad_x L|: "
        "Spearman rho(p_y, |g|) is strongly negative"
    ),
    statistic="Spearman rho(p_y, |g|) within the unconfident decile",
    threshold=-STRONG,
    direction="<",
    reason="a strong monotone relation by the usual convention |rho| >= 0.8",
)
CURVATURE_CONFIDENCE = ClaimSpec(
    name="ch3-curvature-confidence",
    chapter=CHAPTER,
    group="ch3-unconfident-large",
    paper="unconfident input samples with large gradient norms",
    reading=(
        "within the unconfident decile of the test inputs, the less confident an input, the larger "
        "lambda_max(H), the curvature the exponential gain needs: Spearman rho(p_y, lambda_max) is strongly negative"
    ),
    statistic="Spearman rho(p_y, lambda_max) within the unconfident decile",
    threshold=-STRONG,
    direction="<",
    reason="a strong monotone relation by the usual convention |rho| >= 0.8",
)
RATE_FINITE_M = ClaimSpec(
    name="ch3-rate-finite-m",
    chapter=CHAPTER,
    group="ch3-linearised-rate",
    paper="",
    reading=(
        "linearised model: the slope of log r(m) (unconfident over typical decile) matches the top-eigenvector "
        "rate of prop-ch3-exponential at finite m, mean_U log q / (1 - q^-m) - mean_C log q / (1 - q^-m), within "
        "5% (fails if the other eigen-directions still matter)"
    ),
    statistic="|slope / finite-m rate - 1|, both over the same window of m",
    threshold=0.05,
    direction="<",
    reason="one part in twenty: a rate that misses by more changes the predicted ratio at m = 100 by > e^0.5",
)
RATE_ASYMPTOTE = ClaimSpec(
    name="ch3-rate-asymptote",
    chapter=CHAPTER,
    group="ch3-linearised-rate",
    paper="",
    reading=(
        "linearised model, m >= 200 (where the typical group's 1/m deficit is below 5% of the rate): the slope "
        "of log r(m) matches the proposition's asymptote mean_U log(1 + alpha lambda) - mean_C log(1 + alpha lambda) "
        "within 5%"
    ),
    statistic="|slope / asymptote - 1|, slope fitted on m = 200..400",
    threshold=0.05,
    direction="<",
    reason="one part in twenty: a rate that misses by more changes the predicted ratio at m = 100 by > e^0.5",
)
RATE_REAL = ClaimSpec(
    name="ch3-rate-real",
    chapter=CHAPTER,
    group="ch3-exponential",
    paper=PAPER,
    reading=(
        "real unprojected gradient ascent: log r(m) rises at least half as fast as in the linearised model "
        "over the same steps"
    ),
    statistic="slope of log r(m), real attack / linearised model",
    threshold=0.5,
    direction=">",
    reason="half the predicted rate: the weakest reading of 'the same exponential'",
)
STEPS_RATIO = ClaimSpec(
    name="ch3-steps-ratio",
    chapter=CHAPTER,
    group="ch3-steps",
    paper=PAPER,
    reading="ten attack steps raise the influence ratio r (unconfident over typical) above one step",
    statistic="log r(10 steps) - log r(one step)",
    threshold=0.0,
    direction=">",
    reason="0: the multi-step attack gives the unconfident samples no more influence than one step",
)
TRAINING_ATTACK_SHARE = ClaimSpec(
    name="ch3-training-attack-share",
    chapter=CHAPTER,
    group="ch3-training",
    paper=PAPER,
    reading=(
        "at the same parameters, the training attack raises the least-confident decile's share of the full-batch "
        "gradient above its share of the clean gradient (groups from the clean predictions); measured on "
        "adversarially trained networks and, as the control, on standard-trained ones"
    ),
    statistic="share of the unconfident decile, attacked minus clean full-batch gradient (final checkpoint)",
    threshold=0.0,
    direction=">",
    reason="0: the attack does not shift the update towards the unconfident samples",
)

#: Every spec of the chapter, identities apart from claims.
IDENTITIES = (RESIDUAL_MAX, FIRST_ORDER, LINEAR_REGIME, VMAP_LOOP, JVP_FD, CLOSED_FORM, SHARES_PARTITION)
CLAIMS = (
    GRADIENT_CONFIDENCE,
    CURVATURE_CONFIDENCE,
    RATE_FINITE_M,
    RATE_ASYMPTOTE,
    RATE_REAL,
    STEPS_RATIO,
    TRAINING_ATTACK_SHARE,
)


def summary(records) -> str:
    """The chapter's verdict in words, read from the records' outcomes (one line per paper claim)."""
    records = check_records(records)
    groups: dict[str, list] = {}
    for r in records:
        if r.kind == "claim":
            groups.setdefault(r.spec.group, []).append(r)
    lines = []
    for name, recs in groups.items():
        parts = ", ".join(f"{r.name}{f' ({r.regime})' if r.regime else ''}: {r.outcome}" for r in recs)
        lines.append(f"{name}: {paper_outcome(recs)} [{parts}]")
    ids = [r for r in records if r.kind == "identity"]
    if ids:
        ok = sum(r.outcome == VERIFIED for r in ids)
        lines.append(f"identities: {ok} of {len(ids)} verified (not counted as support for the paper)")
    return "\n".join(lines)
