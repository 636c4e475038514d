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

from ..validation import check_number as _number
from . import HOLDS, INCONCLUSIVE, NOT_REPRODUCED, ClaimSpec, IdentitySpec, check_records, paper_outcome

CHAPTER = 1
#: float64 round-off on these small problems is ~1e-15; 1e-10 leaves room for
#: conditioning while staying far below any modelling error.
ROUNDOFF = 1e-10
#: numpy's ``matrix_rank`` convention: an eigenvalue below ``n eps lambda_max`` is zero to
#: round-off (``n = 64`` digits pixels, float64 ``eps``; MNIST-1D's ``n = 40`` signals are
#: held to the same, slightly looser, tolerance: one spec for both settings).
RANK_RTOL = 64 * float(np.finfo(np.float64).eps)
#: The confidence level that splits inputs into confident and unconfident (max p >= 0.9).
CONFIDENT = 0.9
#: "Strong" monotone relation: the usual convention for a rank correlation.
STRONG = 0.8
#: Each confidently wrong input is matched with this many correct inputs of the same
#: network, the nearest in ``log(1 - max p)`` (section 1.6).
K_MATCH = 5
#: Equivalence band of the confidently-wrong comparison, a factor 2 either way (log10):
#: ``1 - max p <= 1 - |p|^2 <= 2 (1 - max p)``, so the two usual measures of the uncertainty
#: of a prediction differ by up to a factor 2, and a curvature per unit of uncertainty within
#: that factor cannot be told apart from the choice of measure.
EQUIVALENCE = float(np.log10(2.0))
#: Equivalence band of the top-share control (section 1.5): H's top share within 0.1 of A's.
SHARE_BAND = 0.1

# --------------------------------------------------------------------------- identities

LOCAL_LINEAR = IdentitySpec(
    name="ch1-local-linear",
    chapter=CHAPTER,
    statement=(
        "f(x+u) = W(x+u) + b wherever no ReLU gate or max-pool choice changes between x and x+u (thm-local-linear)"
    ),
    error="max |f(x+u) - (W(x+u) + b)| in logits, over perturbed inputs whose gates and pool choices all stay",
    tolerance=ROUNDOFF,
    reason="float64 round-off on logits of size <= 100 is ~1e-13; 1e-10 leaves room",
)
CLOSED_FORM = IdentitySpec(
    name="ch1-closed-form",
    chapter=CHAPTER,
    statement=(
        "the float64 closed form g = W^T (p - e_y), H = W^T A W equals an extended-precision (long double) "
        "evaluation of the same formula at the same W, b, x (thm-input-hessian)"
    ),
    error="max over inputs of |H - H_ref| / |H_ref| and |g - g_ref| / |g_ref|",
    tolerance=ROUNDOFF,
    reason="float64 round-off (~1e-16) times the mild cancellation left in W^T A W; 1e-10 leaves room",
)
AUTOGRAD = IdentitySpec(
    name="ch1-autograd",
    chapter=CHAPTER,
    statement="autograd's input gradient and Hessian equal the closed form, up to autograd's own cancellation",
    error="max error relative to the cancelling terms (|W^T diag(p) W| for H, |W|_2 for g)",
    tolerance=ROUNDOFF,
    reason="autograd subtracts numbers of the size of the cancelling terms: round-off ~1e-15 of them",
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
    statement=(
        "lambda_max(H) <= |W|_2^2 lambda_max(A) <= |W|_2^2 (1 - |p|^2) <= 2 |W|_2^2 (1 - max p) (eq-lambda-bound)"
    ),
    error="max over inputs and the three inequalities of left / right - 1, or 0 where all hold",
    tolerance=ROUNDOFF,
    reason="both sides carry float64 round-off ~1e-15 relative; 1e-10 leaves room",
)
CURVATURE_LOWER_BOUND = IdentitySpec(
    name="ch1-curvature-lower-bound",
    chapter=CHAPTER,
    statement=(
        "lambda_max(H) >= p_k p_j |w_k - w_j|^2 >= p_k (1 - p_k) / (C - 1) min_i |w_k - w_i|^2, k the predicted "
        "class, j the second most probable (eq-lambda-lower)"
    ),
    error="max over inputs and the two inequalities of right / left - 1, or 0 where both hold",
    tolerance=ROUNDOFF,
    reason="both sides carry float64 round-off ~1e-15 relative; 1e-10 leaves room",
)

IDENTITIES = (
    LOCAL_LINEAR,
    CLOSED_FORM,
    AUTOGRAD,
    PSD,
    RANK,
    GRADIENT_IN_RANGE,
    SMALL_EIGENPROBLEM,
    CURVATURE_BOUND,
    CURVATURE_LOWER_BOUND,
)

# --------------------------------------------------------------------------- claims

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
CONFIDENT_WRONG_LIKE_CORRECT = ClaimSpec(
    name="ch1-confident-wrong-like-correct",
    chapter=CHAPTER,
    group="ch1-confident-wrong-like-correct",
    paper="",
    reading=(
        f"confidently wrong inputs (wrong, max p >= {CONFIDENT}) are neither flatter nor steeper than correct "
        f"inputs equally uncertain by more than a factor 2: kappa = lambda_max / (1 - max p) of each, against the "
        f"median kappa of its {K_MATCH} nearest correct inputs in log(1 - max p)"
    ),
    statistic=(
        f"|mean over the confidently wrong inputs of log10(kappa / median kappa of its {K_MATCH} matched correct "
        "inputs)|"
    ),
    threshold=EQUIVALENCE,
    direction="<",
    reason=(
        "log10 2: 1 - max p <= 1 - |p|^2 <= 2 (1 - max p), so within a factor 2 the difference cannot be told "
        "apart from the choice of uncertainty measure"
    ),
)
CURVATURE_BEYOND_BOUNDS = ClaimSpec(
    name="ch1-curvature-beyond-bounds",
    chapter=CHAPTER,
    group="ch1-curvature-beyond-bounds",
    paper="",
    reading=(
        "the trained network orders lambda_max(H) by the uncertainty 1 - max p more closely than the two proven "
        "bounds force: the observed rank correlation exceeds that of a curvature drawn at random between the bounds"
    ),
    statistic=(
        "per seed, Spearman rho(lambda_max, 1 - max p) minus the same rho for the bounds-only baseline "
        "(claims.ch1.bounds_baseline, one seeded draw), over the test inputs of the regime"
    ),
    threshold=0.0,
    direction=">",
    reason=(
        "0: the baseline is what the bounds alone give; an interval above 0 means the network adds ordering "
        "beyond them, one at or below 0 that the bounds account for it"
    ),
)
TOP_EIGENVALUE_SHARE = ClaimSpec(
    name="ch1-top-eigenvalue-share",
    chapter=CHAPTER,
    group="ch1-top-eigenvalue-share",
    paper="",
    reading=(
        "for the p of trained networks, the top eigenvalue carries most of the input curvature, as A's does "
        "(the control): median of lambda_1 / tr H"
    ),
    statistic="median over the test inputs of the regime of lambda_1 / tr H",
    threshold=0.5,
    direction=">",
    reason="a majority of tr H in one of the C - 1 = 9 curved directions (an even spread gives 1/9)",
)
TOP_SHARE_SET_BY_P = ClaimSpec(
    name="ch1-top-share-set-by-p",
    chapter=CHAPTER,
    group="ch1-top-share-set-by-p",
    paper="",
    reading=(
        "control: the top share of H = W^T A W is the top share of the softmax's A alone: "
        "|lambda_1(H) / tr H - lambda_1(A) / tr A| is small, so the local map W neither concentrates nor spreads it"
    ),
    statistic="median over the test inputs of the regime of |lambda_1(H) / tr H - lambda_1(A) / tr A|",
    threshold=SHARE_BAND,
    direction="<",
    reason="0.1 is below 1/9, the share one direction gets from an even spread: less than one direction's worth",
    control=True,
)

CLAIMS = (
    CURVATURE_VS_UNCERTAINTY,
    CONFIDENT_WRONG_LIKE_CORRECT,
    CURVATURE_BEYOND_BOUNDS,
    TOP_EIGENVALUE_SHARE,
    TOP_SHARE_SET_BY_P,
)

# --------------------------------------------------------------------------- statistics

#: The four groups of test inputs of section 1.5, in the order the figure draws them.
GROUPS = ("correct, confident", "correct, unconfident", "wrong, unconfident", "confidently wrong")


def declared(spec: ClaimSpec) -> str:
    """The declaration of a claim, printed before it is measured."""
    if not isinstance(spec, ClaimSpec):
        raise TypeError(f"spec must be a ClaimSpec (e.g. CURVATURE_VS_UNCERTAINTY), got {type(spec).__name__}.")
    return (
        f"{spec.name}: {spec.reading}.\n    statistic: {spec.statistic}; holds if its 95% interval over "
        f"seeds lies {'below' if spec.direction == '<' else 'above'} {spec.threshold:g} ({spec.reason})."
    )


def confidence_groups(p, y, *, level: float = CONFIDENT) -> dict[str, np.ndarray]:
    """Boolean masks (B,) of the four groups of ``GROUPS`` for probabilities ``p`` (B, C), labels ``y`` (B,).

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


def _lam_max(lam_max, p) -> np.ndarray:
    from ..validation import check_array

    lam, n = check_array("lam_max", lam_max), np.shape(p)[0]
    if lam.shape != (n,):
        raise ValueError(f"lam_max must be (B,) with B = {n}, got {lam.shape}.")
    return lam


def _spearman(a, b, what: str) -> float:
    if len(a) < 3:
        raise ValueError(f"a rank correlation over {what} needs at least 3 inputs, got {len(a)}.")
    return float(stats.spearmanr(a, b).statistic)


def _one_minus(p: np.ndarray) -> np.ndarray:
    """``1 - p_i`` (B, C) as the sum of the other entries (no cancellation; as ``advnotes.curvature.one_minus``)."""
    c = np.cumsum(p, axis=1)
    prefix = np.concatenate([np.zeros_like(p[:, :1]), c[:, :-1]], axis=1)
    r = np.cumsum(p[:, ::-1], axis=1)[:, ::-1]
    suffix = np.concatenate([r[:, 1:], np.zeros_like(p[:, :1])], axis=1)
    return prefix + suffix


def uncertainty(p) -> np.ndarray:
    """``1 - max_k p_k`` (B,) computed as the sum of the other probabilities (full relative accuracy)."""
    from ..validation import check_array

    p = check_array("p", p)
    if p.ndim != 2:
        raise ValueError(f"p must be (B, C) probabilities, got shape {p.shape}.")
    return np.take_along_axis(_one_minus(p), p.argmax(axis=1)[:, None], axis=1)[:, 0]


def matched_log_ratio(lam_max, p, y, *, level: float = CONFIDENT, k: int = K_MATCH) -> float:
    """Statistic of ``CONFIDENT_WRONG_LIKE_CORRECT`` for one network, before the absolute value.

    ``kappa = lambda_max / (1 - max p)`` is the curvature per unit of uncertainty
    (``eq-lambda-bound`` and ``eq-lambda-lower`` pin it between two factors of the local
    map). Each confidently wrong input (wrong, ``max p >= level``) is matched with the ``k``
    correct inputs nearest to it in ``log(1 - max p)``; returns the mean over the confidently
    wrong inputs of ``log10(kappa / median kappa of its k matches)``: every confidently wrong
    input counts. Needs one confidently wrong and ``k`` correct inputs.
    """
    lam, (p, y) = _lam_max(lam_max, p), _probs_and_labels(p, y)
    level = _number("level", level)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level!r}.")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an integer >= 1 (matches per confidently wrong input), got {k!r}.")
    unc = uncertainty(p)
    correct = p.argmax(axis=1) == y
    cw = ~correct & (p.max(axis=1) >= level)
    pool = correct & (unc > 0)
    if cw.sum() < 1 or pool.sum() < k:
        raise ValueError(
            f"need >= 1 confidently wrong and >= {k} correct inputs, got {int(cw.sum())} and {int(pool.sum())}."
        )
    kappa = lam / np.where(unc > 0, unc, np.nan)
    lu_pool, kappa_pool = np.log(unc[pool]), kappa[pool]
    nearest = np.argsort(np.abs(np.log(unc[cw])[:, None] - lu_pool[None, :]), axis=1, kind="stable")[:, :k]
    return float(np.mean(np.log10(kappa[cw] / np.median(kappa_pool[nearest], axis=1))))


def curvature_statistics(lam_max, p, y, *, level: float = CONFIDENT, k: int = K_MATCH) -> dict[str, float]:
    """The per-seed statistics of section 1.6 for one model (chapter 1, ``eq-lambda-bound``).

    ``lam_max`` (B,): largest eigenvalue of each input Hessian; ``p`` (B, C): probabilities;
    ``y`` (B,): labels. Returns the Spearman correlations of ``CURVATURE_VS_UNCERTAINTY``
    per regime (all inputs, unconfident ``max p < level``, misclassified) with their input
    counts, the matched log-ratio of :func:`matched_log_ratio`, the correlations with
    ``p_y`` of the first edition's caption (printed, not scored) and the size of each group.
    """
    lam, (p, y) = _lam_max(lam_max, p), _probs_and_labels(p, y)
    groups = confidence_groups(p, y, level=level)
    p_y, unc = p[np.arange(len(y)), y], uncertainty(p)
    wrong = groups["wrong, unconfident"] | groups["confidently wrong"]
    unconf = groups["correct, unconfident"] | groups["wrong, unconfident"]
    out = {
        "rho_uncertainty_all": _spearman(lam, unc, "all inputs"),
        "rho_uncertainty_unconfident": _spearman(lam[unconf], unc[unconf], "the unconfident inputs"),
        "rho_uncertainty_wrong": _spearman(lam[wrong], unc[wrong], "the misclassified inputs"),
        "n_all": len(y),
        "n_unconfident": int(unconf.sum()),
        "n_wrong": int(wrong.sum()),
        "log_ratio_matched": matched_log_ratio(lam, p, y, level=level, k=k),
        "abs_log_ratio_matched": abs(matched_log_ratio(lam, p, y, level=level, k=k)),
        "rho_py_all": _spearman(lam, p_y, "all inputs"),
        "rho_py_wrong": _spearman(lam[wrong], p_y[wrong], "the misclassified inputs"),
    }
    out.update({f"n {g}": int(m.sum()) for g, m in groups.items()})
    return out


def curvature_bound_errors(lam_max, W, p) -> tuple[float, float]:
    """Largest violations of ``eq-lambda-bound`` (upper chain) and ``eq-lambda-lower`` (lower chain).

    ``lam_max`` (B,), ``W`` (B, C, n) local maps, ``p`` (B, C). Upper: ``lambda_max(H) <=
    |W|_2^2 lambda_max(A) <= |W|_2^2 (1 - |p|^2) <= 2 |W|_2^2 (1 - max p)``. Lower, with
    ``k`` the predicted class and ``j`` the second most probable: ``lambda_max(H) >= p_k p_j
    |w_k - w_j|^2 >= p_k (1 - p_k) / (C - 1) min_i |w_k - w_i|^2``. Each returned error is the
    largest ``(smaller side's excess) / (larger side) - 1`` over inputs and steps, or 0.
    """
    from ..validation import check_array

    lam, W, p = check_array("lam_max", lam_max), check_array("W", W), check_array("p", p)
    if p.ndim != 2 or p.shape[1] < 2 or lam.shape != p.shape[:1] or W.ndim != 3 or W.shape[:2] != p.shape:
        raise ValueError(
            f"need lam_max (B,), W (B, C, n) and p (B, C) with C >= 2, got {lam.shape}, {W.shape} and {p.shape}."
        )
    B, C = p.shape
    om = _one_minus(p)
    A = p[:, :, None] * (-p[:, None, :])
    A[:, np.arange(C), np.arange(C)] = p * om
    w2 = np.linalg.norm(W, ord=2, axis=(1, 2)) ** 2
    lam_A, tr_A = np.linalg.eigvalsh(A)[:, -1], (p * om).sum(axis=1)
    order = np.argsort(-p, axis=1, kind="stable")
    kk, jj, rows = order[:, 0], order[:, 1], np.arange(B)
    unc = om[rows, kk]
    upper = [lam / (w2 * lam_A), lam_A / tr_A, tr_A / (2 * unc)]
    d2 = ((W - W[rows, kk][:, None, :]) ** 2).sum(axis=2)  # |w_k - w_i|^2 (B, C)
    low1 = p[rows, kk] * p[rows, jj] * d2[rows, jj]
    low2 = p[rows, kk] * unc / (C - 1) * np.where(np.arange(C)[None] == kk[:, None], np.inf, d2).min(axis=1)
    lower = [low1 / lam, low2 / low1]
    return max(0.0, float(np.max(upper)) - 1), max(0.0, float(np.max(lower)) - 1)


def _softmax_A(p: np.ndarray) -> np.ndarray:
    """``A = diag(p) - p p^T`` (B, C, C) with the diagonal ``p_i (1 - p_i)`` free of cancellation."""
    C = p.shape[1]
    A = p[:, :, None] * (-p[:, None, :])
    A[:, np.arange(C), np.arange(C)] = p * _one_minus(p)
    return A


def softmax_top_eigenvalue(p) -> tuple[np.ndarray, np.ndarray]:
    """``lambda_1(A)`` and ``tr A = 1 - |p|^2`` (each (B,)) for ``A = diag(p) - p p^T`` (chapter 1, ``eq-A``).

    ``p`` (B, C) probabilities. ``lambda_1(A) / tr A`` is the top share of the softmax's
    curvature alone, the baseline of ``TOP_SHARE_SET_BY_P``; ``tr A`` is summed from
    ``p_i (1 - p_i)`` with ``1 - p_i`` the sum of the other entries (no cancellation).
    """
    from ..validation import check_array

    p = check_array("p", p)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"p must be (B, C) probabilities with C >= 2, got shape {p.shape}.")
    if (p < 0).any():
        raise ValueError("p must be non-negative probabilities.")
    return np.linalg.eigvalsh(_softmax_A(p))[:, -1], (p * _one_minus(p)).sum(axis=1)


def bounds_baseline(W, p, *, seed: int) -> np.ndarray:
    """A curvature placed at random between the two proven bounds: the baseline of section 1.6.

    ``W`` (B, C, n) local maps, ``p`` (B, C). With ``u = 1 - max p`` and ``k`` the predicted
    class, ``eq-lambda-lower`` and ``eq-lambda-bound`` give ``p_k min_i |w_k - w_i|^2 / (C - 1) u
    <= lambda_max <= 2 |W|_2^2 u``; returns one value per input drawn log-uniformly between the
    two (``numpy.random.default_rng(seed)``). A rank correlation of ``lambda_max`` with ``u`` that
    this baseline matches is forced by the bounds, not a finding.
    """
    from ..validation import check_array

    W, p = check_array("W", W), check_array("p", p)
    if p.ndim != 2 or p.shape[1] < 2 or W.ndim != 3 or W.shape[:2] != p.shape:
        raise ValueError(f"need W (B, C, n) and p (B, C) with C >= 2, got {W.shape} and {p.shape}.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an integer, got {seed!r}.")
    B, C = p.shape
    rows, kk = np.arange(B), p.argmax(axis=1)
    unc = _one_minus(p)[rows, kk]
    d2 = ((W - W[rows, kk][:, None, :]) ** 2).sum(axis=2)
    lo = p[rows, kk] * unc / (C - 1) * np.where(np.arange(C)[None] == kk[:, None], np.inf, d2).min(axis=1)
    hi = 2 * np.linalg.norm(W, ord=2, axis=(1, 2)) ** 2 * unc
    if (lo <= 0).any():
        raise ValueError("the lower bound is 0 at some input (a certain prediction or two equal rows of W).")
    t = np.random.default_rng(seed).random(B)
    return np.exp(np.log(lo) + t * (np.log(hi) - np.log(lo)))


def reference_curvature(W, b, x, y) -> tuple[np.ndarray, np.ndarray]:
    """``g = W^T (p - e_y)`` and ``H = W^T A W`` in extended precision (``np.longdouble``), the closed
    form's reference (chapter 1, ``eq-input-hessian``).

    ``W`` (B, C, n), ``b`` (B, C), ``x`` (B, n), ``y`` (B,): the float64 local map and
    inputs, converted exactly; ``1 - p_i`` is the sum of the other entries. On x86 the long
    double carries 64 mantissa bits (eps ~1e-19); where it is plain float64 (e.g. some ARM
    builds) the reference would be no better than the closed form it checks, so this raises
    ``RuntimeError`` there (chapter 1's 50-digit ``mpmath`` check is the portable route).
    """
    if np.finfo(np.longdouble).nmant <= np.finfo(np.float64).nmant:
        raise RuntimeError(
            "np.longdouble is plain float64 on this platform: no extended-precision reference; "
            "compare with a 50-digit mpmath evaluation instead (chapter 1, section 1.3)."
        )
    from ..validation import check_array

    W, b, x, y_f = check_array("W", W), check_array("b", b), check_array("x", x), check_array("y", y)
    if W.ndim != 3 or b.shape != W.shape[:2] or x.shape != (W.shape[0], W.shape[2]) or y_f.shape != W.shape[:1]:
        raise ValueError(
            f"need W (B, C, n), b (B, C), x (B, n) and y (B,), got {W.shape}, {b.shape}, {x.shape} and {y_f.shape}."
        )
    if (y_f != np.round(y_f)).any() or (y_f < 0).any() or (y_f >= W.shape[1]).any():
        raise ValueError(f"y must hold integer class labels in [0, {W.shape[1] - 1}].")
    ld = np.longdouble
    W, b, x, y = np.asarray(W, ld), np.asarray(b, ld), np.asarray(x, ld), y_f.astype(np.int64)
    z = b + np.einsum("bcn,bn->bc", W, x)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    om, rows = _one_minus(p), np.arange(len(y))
    r = p.copy()
    r[rows, y] = -om[rows, y]
    A = -p[:, :, None] * p[:, None, :]
    A[:, np.arange(p.shape[1]), np.arange(p.shape[1])] = p * om
    return np.einsum("bcn,bc->bn", W, r), np.einsum("bcn,bcd,bdm->bnm", W, A, W)


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
    """The chapter's verdict in words, computed from its records (identities, then each claim group).

    Every claim of this chapter is the book's own (``paper=""``): the abstract says nothing
    about the input Hessian's spectrum by itself, so each group is labelled "book's claim".
    """
    records = check_records(records)
    ids = [r for r in records if r.kind == "identity"]
    cls = [r for r in records if r.kind == "claim"]
    n_set = len({r.setting for r in ids})
    lines = [
        f"{sum(r.outcome == 'verified' for r in ids)} of {len(ids)} identity records verified "
        f"({n_set} setting{'s' if n_set > 1 else ''}): the closed forms of this chapter are exact wherever they apply."
    ]
    groups: dict[str, list] = {}
    for c in cls:
        groups.setdefault(c.spec.group, []).append(c)
    for name, recs in groups.items():
        whose = "paper's claim" if recs[0].spec.paper else "book's claim"
        several = len({r.name for r in recs}) > 1
        where = "; ".join(
            f"{(r.name + ' ') if several else ''}{r.setting}, {r.regime or 'all inputs'}: {r.outcome}" for r in recs
        )
        if recs[0].spec.control:
            whose = "control"
        by_setting: dict[str, list] = {}
        for r in recs:
            by_setting.setdefault(r.setting, []).append(r)
        per_setting = "; ".join(f"{s}: {paper_outcome(rs)}" for s, rs in by_setting.items())
        lines.append(f"- {per_setting} ({whose}, {name}): {recs[0].spec.reading} ({where}).")
    n = {o: sum(c.outcome == o for c in cls if not c.spec.control) for o in (HOLDS, INCONCLUSIVE, NOT_REPRODUCED)}
    n_ctl = sum(c.spec.control for c in cls)
    lines.append(
        f"Claim records: {n[HOLDS]} hold, {n[INCONCLUSIVE]} inconclusive, {n[NOT_REPRODUCED]} not reproduced; "
        f"{n_ctl} control records apart."
    )
    return "\n".join(lines)
