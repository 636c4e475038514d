"""Claims of chapter 1 (ReLU networks are locally linear; the input Hessian).

One check function per claim: each takes the numbers the chapter measured and
returns a :class:`advnotes.claims.Claim` whose outcome follows from a stated
criterion. The chapter's verdict cell and the scorecard call the same functions.
"""

from __future__ import annotations

from . import HOLDS, NOT_REPRODUCED, REGIME, Claim, roundoff

#: float64 round-off on these small problems is ~1e-15; 1e-10 leaves room for
#: conditioning while staying far below any modelling error.
ROUNDOFF = 1e-10


def local_linearity(*, max_error_no_flip: float, max_error_flip: float, n_no_flip: int, n_flip: int) -> Claim:
    """Thm ``thm-local-linear``: f(x + u) = W(x + u) + b while no gate flips; fails once gates flip."""
    exact = n_no_flip > 0 and max_error_no_flip < ROUNDOFF
    breaks = n_flip > 0 and max_error_flip > 1e3 * ROUNDOFF
    if exact and (breaks or n_flip == 0):
        outcome, regime = HOLDS, ""
    elif exact:
        outcome, regime = REGIME, "exact where no gate flipped; flipped gates left the prediction exact too"
    else:
        outcome, regime = NOT_REPRODUCED, ""
    return Claim(
        key="ch1-local-linearity",
        chapter=1,
        statement="A ReLU network is exactly affine on the linear region of each input",
        statistic="max |f(x+u) - (W(x+u)+b)| without / with gate flips",
        value=f"{roundoff(max_error_no_flip)} ({n_no_flip} points) / {max_error_flip:.1e} ({n_flip} points)",
        criterion=f"< {ROUNDOFF:.0e} where no gate flipped",
        outcome=outcome,
        regime=regime,
    )


def closed_form_hessian(*, max_rel_error: float) -> Claim:
    """Thm ``thm-input-hessian``: g = W^T(p - e_y), H = W^T A W equal autograd's."""
    return Claim(
        key="ch1-closed-form",
        chapter=1,
        statement="The input gradient and Hessian are g = W^T(p - e_y) and H = W^T A W",
        statistic="max relative error vs torch.func.hessian (float64)",
        value=roundoff(max_rel_error),
        criterion=f"< {ROUNDOFF:.0e}",
        outcome=HOLDS if max_rel_error < ROUNDOFF else NOT_REPRODUCED,
    )


def psd_low_rank(*, min_eig_rel: float, max_rank: int, num_classes: int) -> Claim:
    """H is PSD with rank <= C - 1 at every test input."""
    ok = max_rank <= num_classes - 1 and min_eig_rel > -ROUNDOFF
    return Claim(
        key="ch1-psd-rank",
        chapter=1,
        statement="The input Hessian is PSD with rank at most C - 1",
        statistic="min eigenvalue / lambda_max (round-off), max numerical rank over the test set",
        value=f"{'>= 0' if min_eig_rel >= 0 else '> -' + roundoff(min_eig_rel)[2:]}, {max_rank}",
        criterion=f"> -{ROUNDOFF:.0e} and <= {num_classes - 1}",
        outcome=HOLDS if ok else NOT_REPRODUCED,
    )


def gradient_in_range(*, max_residual: float) -> Claim:
    """g lies in range(H): no component outside the C - 1 leading eigenvectors."""
    return Claim(
        key="ch1-gradient-in-range",
        chapter=1,
        statement="The input gradient lies in the range of the input Hessian",
        statistic="max |g - P_range g| / |g| over the test set",
        value=roundoff(max_residual),
        criterion=f"< {ROUNDOFF:.0e}",
        outcome=HOLDS if max_residual < ROUNDOFF else NOT_REPRODUCED,
    )


def small_eigenproblem(*, max_rel_error: float, faster: bool) -> Claim:
    """The nonzero spectrum from the C x C problem equals the dense one, and is faster to get."""
    ok = max_rel_error < 1e-8 and bool(faster)
    return Claim(
        key="ch1-cxc-route",
        chapter=1,
        statement="The nonzero eigenpairs of H come from a C x C problem, at a fraction of the cost",
        statistic="max eigenvalue error / lambda_max vs dense eigh; faster than the dense route",
        value=f"{roundoff(max_rel_error)}; {bool(faster)}",
        criterion="< 1e-08 and faster",
        outcome=HOLDS if ok else NOT_REPRODUCED,
    )


def curvature_tracks_confidence(*, spearman_rho: float, bound_violations: int) -> Claim:
    """lambda_max falls as the confidence p_y rises, under lambda_max <= |W|^2 (1 - |p|^2)."""
    if bound_violations:
        outcome, regime = NOT_REPRODUCED, ""
    elif spearman_rho <= -0.8:
        outcome, regime = HOLDS, ""
    elif spearman_rho < 0:
        outcome, regime = REGIME, "only a weak negative rank correlation"
    else:
        outcome, regime = NOT_REPRODUCED, ""
    return Claim(
        key="ch1-curvature-confidence",
        chapter=1,
        statement="Unconfident inputs have the largest input curvature (lambda_max falls as p_y rises)",
        statistic="Spearman rho(lambda_max, p_y); violations of lambda_max <= |W|^2 (1 - |p|^2)",
        value=f"{spearman_rho:.2f}; {bound_violations}",
        criterion="rho <= -0.8 and no violations",
        outcome=outcome,
        regime=regime,
    )
