"""Claims of chapter 3 (Result 2: adversarial training weights unconfident samples exponentially).

One check function per claim: each takes the numbers the chapter measured and
returns a :class:`advnotes.claims.Claim` whose outcome follows from a stated
criterion. The chapter's verdict cell and the scorecard call the same functions.
"""

from __future__ import annotations

import math

from . import HOLDS, NOT_REPRODUCED, REGIME, Claim

#: A "strong" (anti-)correlation: |Spearman rho| >= 0.8, the usual threshold for a
#: strong monotone relation; the probe found |rho| ~ 0.99, chance gives ~0.
RHO_STRONG = 0.8
#: An exponential law "fits" when it explains >= 99% of the variance of the ratio and
#: beats the linear law; its rate must match the prediction within 5% (the measured
#: log-ratio is the exact linearised term, the prediction keeps only the top eigenvector).
R2_FIT = 0.99
RATE_TOL = 0.05
#: The real attack "tracks" the linearised growth while it achieves >= 90% of the
#: predicted growth of the log-ratio, and has "failed" once it achieves < 50% of it.
TRACK_FRAC = 0.9
FAIL_FRAC = 0.5
#: Beyond the regime the ratio "keeps growing" if it grows at least like m^0.1 (a
#: power-law exponent of 0.1 is a 26% rise over a tenfold range of m).
MIN_GROWTH_EXPONENT = 0.1
#: In training, the top decile "is" the unconfident decile when at least half of it
#: is (chance: 10%), and "dominates" when it carries at least half of the total pull.
MIN_OVERLAP = 0.5
MIN_SHARE = 0.5
#: A share counts as rising from one attack strength to the next unless it drops by
#: more than this (a hundredth of the total: well above round-off, below any trend).
SHARE_TOL = 0.01


def confidence_drives_curvature(*, rho_grad: float, rho_lambda: float) -> Claim:
    """Thm ``thm-ch3-confidence``: less confident inputs have larger |g| and lambda_max(H)."""
    ok = rho_grad <= -RHO_STRONG and rho_lambda <= -RHO_STRONG
    return Claim(
        key="ch3-confidence",
        chapter=3,
        statement="Unconfident samples have larger input gradients |g| and larger lambda_max(H)",
        statistic="Spearman rho(p_y, |g|) / rho(p_y, lambda_max) over the test set",
        value=f"{rho_grad:.3f} / {rho_lambda:.3f}",
        criterion=f"both <= -{RHO_STRONG:g}",
        outcome=HOLDS if ok else NOT_REPRODUCED,
    )


def adversarial_term_tracks_confidence(*, rho_term: float, steps: int, step_size: float) -> Claim:
    """``eq-ch3-first-order``: the perturbation adds the most to the parameter gradient of unconfident samples."""
    return Claim(
        key="ch3-adversarial-term",
        chapter=3,
        statement="The adversarial term |grad_theta L(x+delta) - grad_theta L(x)| is largest for unconfident samples",
        statistic=f"Spearman rho(p_y, adversarial term) over the test set, real attack alpha={step_size:g}, m={steps}",
        value=f"{rho_term:.3f}",
        criterion=f"<= -{RHO_STRONG:g}",
        outcome=HOLDS if rho_term <= -RHO_STRONG else NOT_REPRODUCED,
    )


def linearised_ratio_exponential(
    *, exp_r2: float, lin_r2: float, best_law: str, rate: float, predicted_rate: float, asymptotic_rate: float
) -> Claim:
    """Thm ``thm-ch3-exponential``: in the linearised model the influence ratio grows exponentially in m."""
    rel = abs(rate / predicted_rate - 1) if predicted_rate else math.inf
    ok = exp_r2 >= R2_FIT and best_law == "exponential" and rel <= RATE_TOL
    return Claim(
        key="ch3-linearised-exponential",
        chapter=3,
        statement="Linearised model: the unconfident/confident influence ratio grows exponentially in m",
        statistic="R^2 exponential / linear fit (best law); late log-ratio slope vs the top-eigenvector prediction "
        f"(asymptote log((1+a l_U)/(1+a l_C)) = {asymptotic_rate:.3f})",
        value=f"{exp_r2:.4f} / {lin_r2:.3f} ({best_law}); slope {rate:.4f} vs {predicted_rate:.4f}",
        criterion=f"exponential R^2 >= {R2_FIT:g}, best of exponential/linear/power; slope within {RATE_TOL:.0%}",
        outcome=HOLDS if ok else NOT_REPRODUCED,
    )


def real_attack_regime(*, s_track: float, s_fail: float | None, s_min: float) -> Claim:
    """The real attack's influence ratio follows the linearised growth only while s = alpha m lambda_U is small.

    ``s_track``: the largest s up to which the real log-ratio achieves >= ``TRACK_FRAC``
    of the predicted rise (0 if not even at the first step); ``s_fail``: the first s
    where it achieves < ``FAIL_FRAC`` of it (None if never, on the measured grid).
    """
    if s_track <= s_min:
        outcome, regime = NOT_REPRODUCED, ""
    elif s_fail is None:
        outcome, regime = HOLDS, ""
    else:
        outcome, regime = REGIME, f"s = alpha m lambda_U <= {s_track:.2g}; below half the growth from s = {s_fail:.2g}"
    fail = "never" if s_fail is None else f"{s_fail:.2g}"
    return Claim(
        key="ch3-real-regime",
        chapter=3,
        statement="With the real attack the influence ratio grows as the linearised model predicts",
        statistic=f"largest s with >= {TRACK_FRAC:.0%} / first s with < {FAIL_FRAC:.0%} of the predicted log-growth",
        value=f"{s_track:.2g} / {fail}",
        criterion=f"tracks while the real log-ratio rises by >= {TRACK_FRAC:.0%} of the linearised rise",
        outcome=outcome,
        regime=regime,
    )


def real_growth_beyond(
    *, ratio_exponent: float, best_law: str, best_r2: float, exponent_unconfident: float, exponent_confident: float
) -> Claim:
    """Beyond the regime: does the real influence ratio keep growing, and by which law?"""
    grows = ratio_exponent >= MIN_GROWTH_EXPONENT
    exponential = grows and best_law == "exponential"
    return Claim(
        key="ch3-real-beyond",
        chapter=3,
        statement="Beyond that regime the real influence ratio keeps growing exponentially in m",
        statistic="ratio ~ m^q past the peak (best law, R^2); per-group terms ~ m^q_U, m^q_C",
        value=f"q = {ratio_exponent:.2f} ({best_law}, R^2 {best_r2:.3f}); q_U = {exponent_unconfident:.2f}, "
        f"q_C = {exponent_confident:.2f}",
        criterion=f"exponential law best and q >= {MIN_GROWTH_EXPONENT:g}",
        outcome=HOLDS if exponential else NOT_REPRODUCED,
    )


def training_dominated(*, overlap: float, share: float, checkpoint: int, steps: int) -> Claim:
    """In an adversarial-training run the parameter update is carried by the least confident samples."""
    ok = overlap >= MIN_OVERLAP and share >= MIN_SHARE
    return Claim(
        key="ch3-training-dominated",
        chapter=3,
        statement="During adversarial training a few unconfident samples dominate the parameter update",
        statistic=f"at step {checkpoint}, training attack (m={steps}): top-10% share of sum |grad_theta L(x+delta)|; "
        "overlap with the least-confident 10%",
        value=f"{share:.2f}; {overlap:.2f}",
        criterion=f"share >= {MIN_SHARE:g} and overlap >= {MIN_OVERLAP:g} (chance 0.1)",
        outcome=HOLDS if ok else NOT_REPRODUCED,
    )


def concentration_grows_with_attack(*, steps: list[int], shares: dict[int, list[float]]) -> Claim:
    """Stronger attacks (more steps) concentrate the update on fewer samples; measured per checkpoint.

    ``shares[checkpoint]`` lists the top-10% share at each attack strength in ``steps``
    (ascending). The share "rises up to m_k" while no step lowers it by more than
    ``SHARE_TOL``.
    """
    if not shares or any(len(v) != len(steps) for v in shares.values()) or len(steps) < 2:
        raise ValueError("need, per checkpoint, one share for each of at least two attack strengths.")
    reach = {}
    for ck, vals in shares.items():
        k = 0
        while k + 1 < len(vals) and vals[k + 1] >= vals[k] - SHARE_TOL:
            k += 1
        reach[ck] = steps[k]
    worst = min(reach.values())
    if worst == steps[-1]:
        outcome, regime = HOLDS, ""
    elif worst > steps[0]:
        outcome, regime = REGIME, f"attack steps m <= {worst} at every checkpoint"
    else:
        outcome, regime = NOT_REPRODUCED, ""
    return Claim(
        key="ch3-training-attack-strength",
        chapter=3,
        statement="Stronger attacks concentrate the adversarial-training update on fewer samples",
        statistic="largest m up to which the top-10% share rises, per checkpoint",
        value=", ".join(f"step {ck}: m={m}" for ck, m in reach.items()),
        criterion=f"no drop > {SHARE_TOL:g} from one attack strength to the next (m in {steps})",
        outcome=outcome,
        regime=regime,
    )
