"""Chapter 4 claims (Result 3): the parameter Hessian takes over and adversarial training oscillates.

Each function takes numbers measured in the chapter and returns a
:class:`advnotes.claims.Claim` whose outcome is computed from them. The
thresholds are stated in the criterion strings; the scorecard chapter calls the
same functions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from . import HOLDS, NOT_REPRODUCED, REGIME, Claim

CHAPTER = 4

#: Oscillation = at least this fraction of successive updates point against each other.
OSCILLATING = 0.5
#: Standard training counts as not oscillating below this fraction.
CALM = 0.05


def _finite(name: str, *values: float) -> None:
    for v in values:
        if not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"{name} must be finite numbers, got {values!r}.")


def _slug(text: str) -> str:
    return "-".join(str(text).lower().split())


def _fraction(name: str, v: float) -> None:
    _finite(name, v)
    if not 0.0 <= v <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {v!r}.")


def check_oscillation(*, attack: str, neg_cos_adv: float, neg_cos_std: float, loss_rise_adv: float) -> Claim:
    """Adversarial training zig-zags where standard training at the same learning rate does not.

    ``neg_cos_*``: fraction of negative cosines between successive updates over the
    analysed window; ``loss_rise_adv``: fraction of steps on which the adversarial loss rose.
    """
    for n, v in (("neg_cos_adv", neg_cos_adv), ("neg_cos_std", neg_cos_std), ("loss_rise_adv", loss_rise_adv)):
        _fraction(n, v)
    zigzag = neg_cos_adv >= OSCILLATING and neg_cos_std <= CALM
    return Claim(
        key=f"ch4-oscillation-{_slug(attack)}",
        chapter=CHAPTER,
        statement=f"Adversarial training ({attack}) oscillates where standard training at the same learning rate "
        "does not.",
        statistic="negative successive-update cosines, adversarial vs standard (loss rose on)",
        value=f"{neg_cos_adv:.0%} vs {neg_cos_std:.0%} (loss rose on {loss_rise_adv:.0%} of adversarial steps)",
        criterion=f"adversarial >= {OSCILLATING:.0%} and standard <= {CALM:.0%}",
        outcome=HOLDS if zigzag else NOT_REPRODUCED,
    )


def check_fixed_delta_sharpness(*, attack: str, eta: float, max_lam_fixed: float, neg_cos_adv: float) -> Claim:
    """The paper's mechanism read literally: training oscillates because ``eta * lambda_max(H_thth)`` nears 2.

    ``max_lam_fixed``: the largest top eigenvalue of the parameter Hessian at fixed ``delta``
    seen over the adversarial run; ``neg_cos_adv``: that run's negative-cosine fraction.
    "Approaches or passes 2" is read as ``eta * lambda >= 1.8``.
    """
    _finite("eta, max_lam_fixed", eta, max_lam_fixed)
    _fraction("neg_cos_adv", neg_cos_adv)
    r = eta * max_lam_fixed
    return Claim(
        key=f"ch4-fixed-delta-crosses-2-{_slug(attack)}",
        chapter=CHAPTER,
        statement=f"Training ({attack}) oscillates because eta * lambda_max of the parameter Hessian "
        "(delta fixed) approaches or passes 2.",
        statistic="max over training of eta * lambda_1(H_thth at fixed delta) (negative cosines)",
        value=f"{r:.2f} ({neg_cos_adv:.0%} of steps)",
        criterion=f">= 1.8 in a run that oscillates (negative cosines >= {OSCILLATING:.0%})",
        outcome=HOLDS if (neg_cos_adv >= OSCILLATING and r >= 1.8) else NOT_REPRODUCED,
    )


def check_jeff_curvature(*, lam_clean: float, lam_fixed: float, mu_jeff: float, mu_by_steps: Sequence[float]) -> Claim:
    """Through ``d delta / d theta`` the adversarial step's curvature exceeds the clean one and grows with ``m``.

    ``lam_clean``, ``lam_fixed``, ``mu_jeff``: top eigenvalues of the clean Hessian, of ``H_thth``
    at fixed ``delta`` and of ``J_eff`` at one parameter point; ``mu_by_steps``: ``mu_1(J_eff)`` for
    an increasing number of attack steps at that point (first entry: 0 steps, the clean Hessian).
    """
    _finite("eigenvalues", lam_clean, lam_fixed, mu_jeff, *mu_by_steps)
    if lam_clean <= 0 or len(mu_by_steps) < 3:
        raise ValueError("need lam_clean > 0 and at least 3 entries in mu_by_steps.")
    ratio, ratio_fixed = mu_jeff / lam_clean, lam_fixed / lam_clean
    growing = all(b > a for a, b in zip(mu_by_steps, mu_by_steps[1:], strict=False))
    if ratio >= 1.5 and growing:
        outcome = HOLDS
    elif ratio > 1.1 or growing:
        outcome = REGIME
    else:
        outcome = NOT_REPRODUCED
    return Claim(
        key="ch4-jeff-exceeds-clean",
        chapter=CHAPTER,
        statement="Through d(delta)/d(theta) the adversarial loss's curvature in theta exceeds the clean loss's "
        "and grows with the attack steps m.",
        statistic="mu_1(J_eff) / lambda_1(clean) [lambda_1(fixed delta) / lambda_1(clean)]; mu_1 over m",
        value=f"{ratio:.2f} [{ratio_fixed:.2f}]; " + ", ".join(f"{v:.1f}" for v in mu_by_steps),
        criterion="ratio >= 1.5 and mu_1 strictly increasing in m",
        outcome=outcome,
        regime="" if outcome != REGIME else "only part of the criterion is met",
    )


def check_onset_at_two(*, etas: Sequence[float], neg_cos: Sequence[float], mu_jeff: float, lam_fixed: float) -> Claim:
    """In a learning-rate sweep from one checkpoint, oscillation sets in where ``eta * mu_1(J_eff)`` crosses 2.

    ``etas`` increasing; ``neg_cos[i]``: negative-cosine fraction of the short run at ``etas[i]``;
    ``mu_jeff``, ``lam_fixed``: top eigenvalues at the checkpoint. The onset is the first
    learning rate whose run oscillates; its product with ``mu_jeff`` should be 2 within
    the grid spacing and the drift of ``mu_1`` during the short run (tolerance 0.4).
    """
    if len(etas) != len(neg_cos) or len(etas) < 3:
        raise ValueError("etas and neg_cos must have the same length (at least 3).")
    _finite("etas, mu_jeff, lam_fixed", *etas, mu_jeff, lam_fixed)
    for v in neg_cos:
        _fraction("neg_cos", v)
    onset = next((e for e, c in zip(etas, neg_cos, strict=True) if c >= OSCILLATING), None)
    if onset is None:
        return Claim(
            key="ch4-onset-jeff-2",
            chapter=CHAPTER,
            statement="Oscillation sets in where eta * mu_1(J_eff) crosses 2.",
            statistic="eta * mu_1(J_eff) at the onset",
            value="no run oscillated",
            criterion="|eta_onset * mu_1 - 2| <= 0.4",
            outcome=NOT_REPRODUCED,
        )
    r, r_fixed = onset * mu_jeff, onset * lam_fixed
    return Claim(
        key="ch4-onset-jeff-2",
        chapter=CHAPTER,
        statement="Oscillation sets in where eta * mu_1(J_eff) crosses 2.",
        statistic="eta * mu_1(J_eff) [eta * lambda_1(fixed delta)] at the first oscillating learning rate",
        value=f"{r:.2f} [{r_fixed:.2f}] at eta = {onset:.3f} (predicted onset 2/mu_1 = {2 / mu_jeff:.3f})",
        criterion="|eta_onset * mu_1 - 2| <= 0.4",
        outcome=HOLDS if abs(r - 2.0) <= 0.4 else NOT_REPRODUCED,
    )


def check_few_samples(*, participation: float, n: int, top_share: float, top_k: int, participation_std: float) -> Claim:
    """The top direction of the adversarial step is carried by a few samples.

    ``participation``: participation number of the per-sample shares of the top
    eigenvalue (adversarial run); ``top_share``: share carried by the ``top_k`` largest;
    ``participation_std``: the same participation number for standard training.
    """
    _finite("participation, top_share, participation_std", participation, top_share, participation_std)
    if n < 1 or top_k < 1 or top_k > n:
        raise ValueError(f"need 1 <= top_k <= n, got top_k={top_k}, n={n}.")
    few = max(10.0, 0.02 * n)
    concentrated = top_share >= 5 * top_k / n
    if participation <= few:
        outcome, regime = HOLDS, ""
    elif concentrated and participation < 0.8 * participation_std:
        outcome, regime = REGIME, "concentrated on the unconfident samples, more than in standard training"
    else:
        outcome, regime = NOT_REPRODUCED, ""
    return Claim(
        key="ch4-few-samples",
        chapter=CHAPTER,
        statement="The top direction of adversarial training is dominated by a few samples.",
        statistic=f"participation number of {n} samples (standard training); share of the top {top_k}",
        value=f"{participation:.0f} ({participation_std:.0f}); {top_share:.0%} (uniform: {top_k / n:.0%})",
        criterion=f"holds if <= {few:.0f} samples; in a regime if the top {top_k} carry >= 5x their uniform share "
        "and adversarial training concentrates more than standard (participation < 0.8x)",
        outcome=outcome,
        regime=regime,
    )
