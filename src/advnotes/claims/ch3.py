"""Claims of chapter 3 (Result 2: adversarial training and the influence of unconfident samples).

The abstract says: "adversarial training tends to strengthen the influence of
unconfident input samples with large gradient norms in an exponential manner". The
chapter reads it four ways, each declared here before it is measured on trained digits
MLPs (five seeds or more):

- ``ch3-unconfident-large``: unconfident samples are the ones with large gradient norms
  and large curvature (rank correlations across the test set);
- ``ch3-exponential``: the log of the influence ratio (unconfident over typical) grows
  linearly in the number of attack steps ``m``, at the rate of ``prop-ch3-exponential``,
  in the linearised model and under the real attack;
- ``ch3-steps``: many attack steps give the unconfident samples more influence than one;
- ``ch3-training``: adversarial training gives the least-confident decile a larger share
  of the update than standard training does (and than the clean gradient does).

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
    statement="the jvp first-order term K u equals the central difference of grad_theta L along u",
    error="largest relative gap over seeds (t = 1e-4)",
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
        "gradient shares <sum_S grad L_i, G>/|G|^2 of a partition sum to 1 and equal the sum of per-sample projections"
    ),
    error="largest absolute error over seeds",
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
        "across test inputs (confidently wrong set aside), the less confident an input, the larger |grad_x L|: "
        "Spearman rho(p_y, |g|) is strongly negative"
    ),
    statistic="Spearman rho(p_y, |g|) over the test set",
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
        "across test inputs (confidently wrong set aside), the less confident an input, the larger "
        "lambda_max(H): Spearman rho(p_y, lambda_max) is strongly negative"
    ),
    statistic="Spearman rho(p_y, lambda_max) over the test set",
    threshold=-STRONG,
    direction="<",
    reason="a strong monotone relation by the usual convention |rho| >= 0.8",
)
RATE_ASYMPTOTE = ClaimSpec(
    name="ch3-rate-asymptote",
    chapter=CHAPTER,
    group="ch3-exponential",
    paper=PAPER,
    reading=(
        "linearised model: the late slope of log r(m) (unconfident over typical decile) matches the "
        "proposition's asymptote log((1 + alpha lambda_U)/(1 + alpha lambda_C)) within 5%"
    ),
    statistic="|slope / asymptote - 1|, slope fitted on m = 50..100",
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
TRAINING_VS_STANDARD = ClaimSpec(
    name="ch3-training-vs-standard",
    chapter=CHAPTER,
    group="ch3-training",
    paper=PAPER,
    reading=(
        "at the same step and seed, the least-confident decile carries a larger share of the summed "
        "gradient under adversarial training than under standard training"
    ),
    statistic="share of the unconfident decile, adversarial minus standard training (final checkpoint)",
    threshold=0.0,
    direction=">",
    reason="0: adversarial training concentrates the update no more than standard training does",
)
TRAINING_ATTACK_SHARE = ClaimSpec(
    name="ch3-training-attack-share",
    chapter=CHAPTER,
    group="ch3-training",
    paper=PAPER,
    reading=(
        "on an adversarially trained network, the attack raises the least-confident decile's share of the "
        "summed gradient above its share of the clean gradient"
    ),
    statistic="share of the unconfident decile, attacked minus clean gradient, same parameters (final checkpoint)",
    threshold=0.0,
    direction=">",
    reason="0: the attack does not shift the update towards the unconfident samples",
)

#: Every spec of the chapter, identities apart from claims.
IDENTITIES = (RESIDUAL_MAX, FIRST_ORDER, VMAP_LOOP, JVP_FD, CLOSED_FORM, SHARES_PARTITION)
CLAIMS = (
    GRADIENT_CONFIDENCE,
    CURVATURE_CONFIDENCE,
    RATE_ASYMPTOTE,
    RATE_REAL,
    STEPS_RATIO,
    TRAINING_VS_STANDARD,
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
