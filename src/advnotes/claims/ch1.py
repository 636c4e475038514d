"""Claims of chapter 1 (ReLU networks are locally linear; the input Hessian).

Chapter 1 is mostly mathematics: its identities (closed form against autograd,
positive semi-definite, rank at most ``C - 1``, gradient in the range, the ``C x C``
eigenproblem, the curvature bound, local linearity) are checked to round-off and
recorded as identities, never as support for the paper. Its empirical claims are
about trained digits MLPs (five seeds or more): how the largest input curvature
``lambda_max(H)`` relates to the prediction, and how much of ``tr H`` the top
eigenvalue carries. Every spec below is declared before the chapter measures it.

The abstract words Result 1 in terms of "the Hessian matrix of the loss w.r.t. the
input"; it says nothing about that Hessian's spectrum by itself, so the claims here
are the book's own (``paper=""``): the setup that chapters 2 and 3 build on.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from . import HOLDS, INCONCLUSIVE, NOT_REPRODUCED, ClaimSpec, IdentitySpec, _number, check_records, paper_outcome

CHAPTER = 1
#: float64 round-off on these small problems is ~1e-15; 1e-10 leaves room for
#: conditioning while staying far below any modelling error.
ROUNDOFF = 1e-10
#: numpy's ``matrix_rank`` convention: an eigenvalue below ``n eps lambda_max`` is zero to
#: round-off (``n = 64`` digits pixels, float64 ``eps``).
RANK_RTOL = 64 * float(np.finfo(np.float64).eps)
#: The confidence level that splits inputs into confident and unconfident (max p >= 0.9).
CONFIDENT = 0.9
#: "Strong" monotone relation: the usual convention for a rank correlation.
STRONG = 0.8

# --------------------------------------------------------------------------- identities

LOCAL_LINEAR = IdentitySpec(
    name="ch1-local-linear",
    chapter=CHAPTER,
    statement="f(x+u) = W(x+u) + b wherever no ReLU gate flips between x and x+u (thm-local-linear)",
    error="max |f(x+u) - (W(x+u) + b)| in logits, over perturbed inputs without a gate flip",
    tolerance=ROUNDOFF,
    reason="float64 round-off on logits of size <= 100 is ~1e-13; 1e-10 leaves room",
)
CLOSED_FORM = IdentitySpec(
    name="ch1-closed-form",
    chapter=CHAPTER,
    statement="g = W^T (p - e_y) and H = W^T A W equal autograd's input gradient and Hessian (thm-input-hessian)",
    error="max error relative to the cancelling terms (|W^T diag(p) W| for H, |W|_2 for g)",
    tolerance=ROUNDOFF,
    reason="float64 round-off times the size of the cancelling terms is ~1e-15; 1e-10 leaves room",
)
PSD = IdentitySpec(
    name="ch1-psd",
    chapter=CHAPTER,
    statement="H is positive semi-definite: lambda_min(H) >= 0 (thm-input-hessian (i))",
    error="max over inputs of -lambda_min(H) / lambda_max(H) (dense eigh; 0 when none is negative)",
    tolerance=RANK_RTOL,
    reason="numpy's rank convention: eigenvalues within n eps lambda_max of 0 are 0 to round-off",
)
RANK = IdentitySpec(
    name="ch1-rank",
    chapter=CHAPTER,
    statement="rank H <= C - 1: the C-th largest eigenvalue of H is 0 (thm-input-hessian (ii))",
    error="max over inputs of |lambda_C(H)| / lambda_max(H) (dense eigh)",
    tolerance=RANK_RTOL,
    reason="numpy's rank convention: eigenvalues within n eps lambda_max of 0 are 0 to round-off",
)
GRADIENT_IN_RANGE = IdentitySpec(
    name="ch1-gradient-in-range",
    chapter=CHAPTER,
    statement="g lies in range(H), spanned by the top C - 1 eigenvectors (thm-input-hessian (iii))",
    error="max over inputs of |g - P g| / |g|, P the projector on the top C - 1 eigenvectors",
    tolerance=ROUNDOFF,
    reason="float64 round-off of an orthogonal projection is ~1e-15; 1e-10 leaves room",
)
SMALL_EIGENPROBLEM = IdentitySpec(
    name="ch1-cxc-eigenproblem",
    chapter=CHAPTER,
    statement="the C x C route (SVD of F^T W) gives the nonzero eigenvalues of dense eigh(H) (thm-input-hessian (iv))",
    error="max over inputs and i < C of |lambda_i(C x C) - lambda_i(dense)| / lambda_max",
    tolerance=ROUNDOFF,
    reason="both eigensolvers are backward stable: errors ~ n eps lambda_max ~ 1e-14; 1e-10 leaves room",
)
CURVATURE_BOUND = IdentitySpec(
    name="ch1-curvature-bound",
    chapter=CHAPTER,
    statement="lambda_max(H) <= |W|_2^2 (1 - |p|^2) (eq-lambda-bound)",
    error="max over inputs of lambda_max(H) / (|W|_2^2 (1 - |p|^2)) - 1, or 0 where the bound holds",
    tolerance=ROUNDOFF,
    reason="both sides carry float64 round-off ~1e-15 relative; 1e-10 leaves room",
)

IDENTITIES = (LOCAL_LINEAR, CLOSED_FORM, PSD, RANK, GRADIENT_IN_RANGE, SMALL_EIGENPROBLEM, CURVATURE_BOUND)

# --------------------------------------------------------------------------- claims

CURVATURE_VS_PY = ClaimSpec(
    name="ch1-curvature-vs-py",
    chapter=CHAPTER,
    group="ch1-curvature-vs-py",
    paper="",
    reading=(
        "lambda_max(H) falls as the true-class probability p_y rises, i.e. the inputs with the "
        "largest 1 - p_y have the largest curvature (the first edition's caption)"
    ),
    statistic="Spearman rho(lambda_max, p_y) over the test inputs of the regime",
    threshold=-STRONG,
    direction="<",
    reason="a strong monotone relation by the usual convention |rho| >= 0.8",
)
CURVATURE_VS_UNCERTAINTY = ClaimSpec(
    name="ch1-curvature-vs-uncertainty",
    chapter=CHAPTER,
    group="ch1-curvature-vs-uncertainty",
    paper="",
    reading=(
        "lambda_max(H) rises with the uncertainty of the prediction, 1 - max_k p_k, whichever "
        "class is predicted (right or wrong)"
    ),
    statistic="Spearman rho(lambda_max, 1 - max p) over the test inputs of the regime",
    threshold=STRONG,
    direction=">",
    reason="a strong monotone relation by the usual convention |rho| >= 0.8",
)
CONFIDENT_WRONG_FLAT = ClaimSpec(
    name="ch1-confident-wrong-flat",
    chapter=CHAPTER,
    group="ch1-confident-wrong-flat",
    paper="",
    reading=(
        f"confidently wrong inputs (predicted class != y, max p >= {CONFIDENT}) have a smaller median "
        f"lambda_max than correctly classified unconfident ones (p_y < {CONFIDENT})"
    ),
    statistic="log10 of median lambda_max (confidently wrong) / median lambda_max (correct, unconfident)",
    threshold=0.0,
    direction="<",
    reason="a ratio below 1 (log below 0) is a smaller median; the 0.9 split is fixed in advance",
)
TOP_EIGENVALUE_SHARE = ClaimSpec(
    name="ch1-top-eigenvalue-share",
    chapter=CHAPTER,
    group="ch1-top-eigenvalue-share",
    paper="",
    reading="the top eigenvalue carries most of the input curvature: median over test inputs of lambda_1 / tr H",
    statistic="median over the test inputs of lambda_1 / tr H",
    threshold=0.5,
    direction=">",
    reason="a majority of tr H in one of the C - 1 = 9 curved directions (an even spread gives 1/9)",
)

CLAIMS = (CURVATURE_VS_PY, CURVATURE_VS_UNCERTAINTY, CONFIDENT_WRONG_FLAT, TOP_EIGENVALUE_SHARE)

# --------------------------------------------------------------------------- statistics

#: The four groups of test inputs of section 1.5, in the order the figure draws them.
GROUPS = ("correct, confident", "correct, unconfident", "wrong, unconfident", "confidently wrong")


def declared(spec: ClaimSpec) -> str:
    """The declaration of a claim, printed before it is measured."""
    if not isinstance(spec, ClaimSpec):
        raise TypeError(f"spec must be a ClaimSpec (e.g. CURVATURE_VS_PY), got {type(spec).__name__}.")
    return (
        f"{spec.name}: {spec.reading}.\n    statistic: {spec.statistic}; holds if its 95% interval over "
        f"seeds lies {'below' if spec.direction == '<' else 'above'} {spec.threshold:g} ({spec.reason})."
    )


def confidence_groups(p, y, *, level: float = CONFIDENT) -> dict[str, np.ndarray]:
    """Boolean masks (B,) of the four groups of :data:`GROUPS` for probabilities ``p`` (B, C), labels ``y`` (B,).

    Correct means ``argmax p == y``; confident means ``max p >= level`` (for a correct
    input ``max p = p_y``). *Confidently wrong*: wrong and confident, so ``p`` is close to
    a vertex of the simplex that is not ``e_y``: ``1 - p_y`` is near 1, yet ``A`` is near 0.
    """
    p, y = _probs_and_labels(p, y)
    level = _number("level", level)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level!r}.")
    correct = p.argmax(axis=1) == y
    confident = p.max(axis=1) >= level
    masks = (correct & confident, correct & ~confident, ~correct & ~confident, ~correct & confident)
    return dict(zip(GROUPS, masks))


def _probs_and_labels(p, y) -> tuple[np.ndarray, np.ndarray]:
    from ..validation import check_array

    p, y_f = check_array("p", p), check_array("y", y)
    if p.ndim != 2 or y_f.shape != (p.shape[0],):
        raise ValueError(f"p must be (B, C) and y (B,), got {p.shape} and {y_f.shape}.")
    if (y_f != np.round(y_f)).any() or (y_f < 0).any() or (y_f >= p.shape[1]).any():
        raise ValueError(f"y must hold integer class labels in [0, {p.shape[1] - 1}] (C = {p.shape[1]} columns of p).")
    return p, y_f.astype(np.int64)


def _spearman(a, b, what: str) -> float:
    if len(a) < 3:
        raise ValueError(f"a rank correlation over {what} needs at least 3 inputs, got {len(a)}.")
    return float(stats.spearmanr(a, b).statistic)


def curvature_statistics(lam_max, p, y, *, level: float = CONFIDENT) -> dict[str, float]:
    """The per-seed statistics of section 1.5 for one model (chapter 1, ``eq-lambda-bound``).

    ``lam_max`` (B,): largest eigenvalue of each input Hessian; ``p`` (B, C): probabilities;
    ``y`` (B,): labels. Returns the Spearman correlations of :data:`CURVATURE_VS_PY` and
    :data:`CURVATURE_VS_UNCERTAINTY` per regime, the log-ratio of
    :data:`CONFIDENT_WRONG_FLAT` and the size of each group.
    """
    from ..validation import check_array

    p, y = _probs_and_labels(p, y)
    lam = check_array("lam_max", lam_max)
    if lam.shape != (p.shape[0],):
        raise ValueError(f"lam_max must be (B,) with B = {p.shape[0]}, got {lam.shape}.")
    groups = confidence_groups(p, y, level=level)
    p_y, unc = p[np.arange(len(y)), y], 1.0 - p.max(axis=1)
    correct = groups["correct, confident"] | groups["correct, unconfident"]
    wrong, cw, cu = ~correct, groups["confidently wrong"], groups["correct, unconfident"]
    if not cw.any() or not cu.any():
        raise ValueError(
            f"both compared groups need inputs: {int(cw.sum())} confidently wrong, {int(cu.sum())} correct unconfident."
        )
    out = {
        "rho_py_correct": _spearman(lam[correct], p_y[correct], "the correct inputs"),
        "rho_py_wrong": _spearman(lam[wrong], p_y[wrong], "the misclassified inputs"),
        "rho_uncertainty_all": _spearman(lam, unc, "all inputs"),
        "rho_uncertainty_wrong": _spearman(lam[wrong], unc[wrong], "the misclassified inputs"),
        "log_ratio_confident_wrong": float(np.log10(np.median(lam[cw]) / np.median(lam[cu]))),
    }
    out.update({f"n {g}": int(m.sum()) for g, m in groups.items()})
    return out


def rank_counts(eigvals, *, rtol: float = RANK_RTOL) -> dict[int, int]:
    """How many inputs have each numerical rank: eigenvalues (B, k) above ``rtol * lambda_max`` counted.

    The convention of ``numpy.linalg.matrix_rank``; the rank is relative to the largest
    eigenvalue, so an input whose small probabilities span many decades can have a
    numerical rank below its exact rank ``C - 1``.
    """
    from ..validation import check_array

    ev = check_array("eigvals", eigvals)
    if ev.ndim != 2:
        raise ValueError(f"eigvals must be (B, k), got shape {ev.shape}.")
    rtol = _number("rtol", rtol)
    if not 0 <= rtol < 1:
        raise ValueError(f"rtol must lie in [0, 1) (relative to lambda_max), got {rtol!r}.")
    ranks = (ev > rtol * ev.max(axis=1, keepdims=True)).sum(axis=1)
    values, counts = np.unique(ranks, return_counts=True)
    return {int(v): int(c) for v, c in zip(values, counts)}


def summary(records) -> str:
    """The chapter's verdict in words, computed from its records (identities, then each claim group)."""
    records = check_records(records)
    ids = [r for r in records if r.kind == "identity"]
    cls = [r for r in records if r.kind == "claim"]
    lines = [
        f"{sum(r.outcome == 'verified' for r in ids)} of {len(ids)} identities verified: the closed forms of "
        "this chapter are exact wherever they apply."
    ]
    groups: dict[str, list] = {}
    for c in cls:
        groups.setdefault(c.spec.group, []).append(c)
    for recs in groups.values():
        where = "; ".join(f"{r.regime or 'all inputs'}: {r.outcome}" for r in recs)
        lines.append(f"- {paper_outcome(recs)}: {recs[0].spec.reading} ({where}).")
    n = {o: sum(c.outcome == o for c in cls) for o in (HOLDS, INCONCLUSIVE, NOT_REPRODUCED)}
    lines.append(f"Claim records: {n[HOLDS]} hold, {n[INCONCLUSIVE]} inconclusive, {n[NOT_REPRODUCED]} not reproduced.")
    return "\n".join(lines)
