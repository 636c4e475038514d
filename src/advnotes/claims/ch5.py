"""Claims of chapter 5 (what the three results explain): small CPU checks of earlier findings.

One check function per claim, as in the other chapters: each takes the numbers the
chapter measured and returns a :class:`advnotes.claims.Claim`.
"""

from __future__ import annotations

from . import HOLDS, NOT_REPRODUCED, REGIME, Claim


def flatter_input_loss(*, mean_lam_std: float, mean_lam_adv: float, w2_std: float, w2_adv: float) -> Claim:
    """Adversarial training lowers the input curvature: mean lambda_max(H) and the local gain |W|_2^2."""
    lower_lam, lower_w = mean_lam_adv < mean_lam_std, w2_adv < w2_std
    if lower_lam and lower_w:
        outcome, regime = HOLDS, ""
    elif lower_lam or lower_w:
        outcome, regime = REGIME, "one of the two curvature measures drops"
    else:
        outcome, regime = NOT_REPRODUCED, ""
    return Claim(
        key="ch5-flatter-input-loss",
        chapter=5,
        statement="Adversarial training flattens the loss in input space (Moosavi-Dezfooli et al. 2019)",
        statistic="mean lambda_max(H), median |W|_2^2: standard -> adversarial training",
        value=f"{mean_lam_std:.3f} -> {mean_lam_adv:.3f}, {w2_std:.1f} -> {w2_adv:.1f}",
        criterion="both lower after adversarial training",
        outcome=outcome,
        regime=regime,
    )


def unconfident_samples_dominate(*, share_clean: float, share_ascent: float, share_pgd: float) -> Claim:
    """Low-confidence samples carry the adversarial update (the premise of MART / GAIRAT re-weighting)."""
    if share_ascent > share_clean and share_pgd >= share_clean:
        outcome, regime = HOLDS, ""
    elif share_ascent > share_clean:
        outcome, regime = REGIME, "plain gradient-ascent attacks; L-inf PGD spreads the update over all samples"
    else:
        outcome, regime = NOT_REPRODUCED, ""
    return Claim(
        key="ch5-unconfident-dominate",
        chapter=5,
        statement="The 10% least confident samples carry a growing share of the adversarial update",
        statistic="their share of sum |grad_theta L|: clean / gradient ascent / L-inf PGD",
        value=f"{share_clean:.2f} / {share_ascent:.2f} / {share_pgd:.2f}",
        criterion="share under the attack > share on clean inputs",
        outcome=outcome,
        regime=regime,
    )


def catastrophic_overfitting(
    *, gap_small_eps: float, gap_large_eps: float, eps_small: float, eps_large: float
) -> Claim:
    """Single-step (FGSM) training: accuracy against FGSM far above that against PGD at large eps."""
    if gap_large_eps > 0.5 and gap_small_eps < 0.5:
        outcome, regime = REGIME, f"large radius (eps = {eps_large:g}); at eps = {eps_small:g} the gap stays moderate"
    elif gap_large_eps > 0.5:
        outcome, regime = HOLDS, ""
    else:
        outcome, regime = NOT_REPRODUCED, ""
    return Claim(
        key="ch5-catastrophic-overfitting",
        chapter=5,
        statement="Single-step adversarial training overfits to its own attack (Wong et al. 2020)",
        statistic=f"FGSM accuracy - PGD accuracy of the FGSM-trained model at eps = {eps_small:g} / {eps_large:g}",
        value=f"{gap_small_eps:.2f} / {gap_large_eps:.2f}",
        criterion="gap > 0.5",
        outcome=outcome,
        regime=regime,
    )


def robustness_needs_more_data(*, clean_gain: float, robust_gain: float) -> Claim:
    """Robust accuracy gains more from more data than clean accuracy does (Schmidt et al. 2018)."""
    return Claim(
        key="ch5-more-data",
        chapter=5,
        statement="Robust accuracy needs more data than clean accuracy (Schmidt et al. 2018)",
        statistic="accuracy gain from 10% to 100% of the training set: clean (standard) / robust (adversarial)",
        value=f"{clean_gain:+.3f} / {robust_gain:+.3f}",
        criterion="robust gain > 2 x clean gain",
        outcome=HOLDS if robust_gain > 2 * clean_gain and robust_gain > 0 else NOT_REPRODUCED,
    )


def robust_overfitting(*, best_robust: float, final_robust: float, train_gap: float) -> Claim:
    """Test robust accuracy peaks and then falls while training robust accuracy climbs (Rice et al. 2020)."""
    drop = best_robust - final_robust
    return Claim(
        key="ch5-robust-overfitting",
        chapter=5,
        statement="Adversarial training overfits: test robust accuracy falls after its peak (Rice et al. 2020)",
        statistic="best - final test robust accuracy; final train - test robust accuracy",
        value=f"{drop:.3f}; {train_gap:.3f}",
        criterion="drop > 0.03",
        outcome=HOLDS if drop > 0.03 else NOT_REPRODUCED,
    )
