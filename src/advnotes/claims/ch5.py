"""Claims of chapter 5 (what the three results explain): live checks of earlier findings.

Every spec is declared here *before* the chapter measures it, with its statistic, its
threshold and the reason for that threshold. The abstract's only words about these
findings are :data:`UNIFIED` (each spec's ``paper``); a spec's ``reading`` names the
earlier finding and says how this book reads it.
The pure statistics the chapter computes per seed live here too, so that the tests can
check them against independent oracles:

- :func:`log_median_ratio` — curvature after adversarial training (section 5.2),
- :func:`summed_gradient_share` — a group's share of the summed gradient (section 5.3),
- :func:`collapse_fraction` — catastrophic overfitting of one run (section 5.4),
- :func:`relative_reduction` — how much an error falls with more data (section 5.5),
- :func:`early_stopping_gain` — robust overfitting of one run (section 5.6).
"""

from __future__ import annotations

import math

import numpy as np

from . import HOLDS, INCONCLUSIVE, NOT_REPRODUCED, ClaimSpec, IdentitySpec, _number, check_records, paper_outcome

#: The abstract's words for the reach of the three results (the paper's only statement of it).
UNIFIED = "our proofs provide a unified explanation for previous findings in understanding adversarial training"
#: The abstract's words for Result 2.
RESULT2 = (
    "adversarial training tends to strengthen the influence of unconfident input samples with large "
    "gradient norms in an exponential manner"
)

#: A run of single-step training counts as catastrophic overfitting only if the model it
#: ends with is still a good classifier: final clean test accuracy >= 0.8 (a degenerate
#: model that is wrong on clean inputs has nothing to overfit; standard training reaches ~0.96).
CO_MIN_CLEAN = 0.8
#: The least-confident group whose share of the update section 5.3 measures: a decile.
LOW_FRACTION = 0.1


# ----------------------------------------------------------------------------- 5.2 curvature
FLATTER_INPUT_LOSS = ClaimSpec(
    name="ch5-flatter-input-loss",
    chapter=5,
    group="ch5-flatter-input-loss",
    paper=UNIFIED,
    reading="Moosavi-Dezfooli et al. 2019 (adversarial training flattens the input loss), read as: "
    "the median top input-Hessian eigenvalue over test inputs is lower after PGD training than after "
    "standard training (same seed)",
    statistic="log(median lambda_max, PGD-trained / median lambda_max, standard)",
    threshold=0.0,
    direction="<",
    reason="0 = the same typical curvature; the median, not the mean, because lambda_max is heavy-tailed "
    "(a few unconfident inputs carry the mean)",
)

# ----------------------------------------------------------------------------- 5.3 who carries the update
LOW_CONFIDENCE_SHARE = ClaimSpec(
    name="ch5-low-confidence-share",
    chapter=5,
    group="ch5-reweighting",
    paper=UNIFIED,
    reading="MART / GAIRAT (re-weighting low-margin samples helps), read as: "
    "the 10% least-confident training samples carry more than their 10% of the summed adversarial "
    "parameter gradient of a PGD-trained model",
    statistic="<sum_{i in S} grad L_i, sum_j grad L_j> / |sum_j grad L_j|^2, S = least-confident decile",
    threshold=LOW_FRACTION,
    direction=">",
    reason="0.1 is a decile's proportional share; above it the decile is over-represented",
)
SHARE_RISES_UNDER_ATTACK = ClaimSpec(
    name="ch5-share-rises-under-attack",
    chapter=5,
    group="ch5-share-rises-under-attack",
    paper=RESULT2,
    reading="the least-confident decile's share of the summed gradient is larger on attacked inputs than on "
    "clean inputs (same model, same samples)",
    statistic="share under the attack - share on clean inputs",
    threshold=0.0,
    direction=">",
    reason="0 = the attack leaves the decile's share unchanged",
)

# ----------------------------------------------------------------------------- 5.4 catastrophic overfitting
CATASTROPHIC_OVERFITTING = ClaimSpec(
    name="ch5-catastrophic-overfitting",
    chapter=5,
    group="ch5-catastrophic-overfitting",
    paper=UNIFIED,
    reading="Wong et al. 2020 (single-step training overfits catastrophically), read as: "
    "during FGSM-RS training (step 1.25 eps, random start) the PGD accuracy collapses from its peak "
    f"while the model stays accurate on clean inputs (final clean accuracy >= {CO_MIN_CLEAN:g})",
    statistic=f"collapse fraction 1 - final/peak PGD test accuracy (0 if final clean accuracy < {CO_MIN_CLEAN:g})",
    threshold=0.5,
    direction=">",
    reason="a collapse loses most of the robustness the run had reached (Wong et al.: down to about 0)",
)
NO_COLLAPSE_UNDER_PGD = ClaimSpec(
    name="ch5-no-collapse-under-pgd",
    chapter=5,
    group="ch5-no-collapse-under-pgd",
    paper="",
    reading="control: multi-step PGD training at the same eps does not collapse",
    statistic="collapse fraction 1 - final/peak PGD test accuracy (no condition on clean accuracy)",
    threshold=0.5,
    direction="<",
    reason="the same bar as the FGSM runs: losing most of the robustness reached",
)

# ----------------------------------------------------------------------------- 5.5 more data
MORE_DATA = ClaimSpec(
    name="ch5-more-data",
    chapter=5,
    group="ch5-more-data",
    paper=UNIFIED,
    reading="Schmidt et al. 2018 (robust generalisation needs more data), read as: "
    "going from 10% to 100% of the training set, the robust error of PGD training falls by a larger "
    "fraction than the clean error of standard training",
    statistic="(e10 - e100)/e10 robust (PGD training) - (e10 - e100)/e10 clean (standard training)",
    threshold=0.0,
    direction=">",
    reason="0 = both errors fall by the same fraction (relative, so the ceiling near clean accuracy 1 does not decide)",
)

# ----------------------------------------------------------------------------- 5.6 robust overfitting
ROBUST_OVERFITTING = ClaimSpec(
    name="ch5-robust-overfitting",
    chapter=5,
    group="ch5-robust-overfitting",
    paper=UNIFIED,
    reading="Rice et al. 2020 (robust overfitting), read as: "
    "stopping PGD training at the checkpoint with the best validation robust accuracy beats the end "
    "of the run on held-out test inputs",
    statistic="test robust accuracy at the best validation checkpoint - at the last checkpoint",
    threshold=0.03,
    direction=">",
    reason="3 accuracy points: a clear fall, well under the ~8 points Rice et al. report on CIFAR-10",
)
NO_CLEAN_OVERFITTING = ClaimSpec(
    name="ch5-no-clean-overfitting",
    chapter=5,
    group="ch5-no-clean-overfitting",
    paper="",
    reading="control: standard training shows no such fall of clean test accuracy",
    statistic="clean test accuracy at the best validation checkpoint - at the last checkpoint",
    threshold=0.03,
    direction="<",
    reason="the same 3 points as the robust claim",
)

# ----------------------------------------------------------------------------- identity
SHARE_TWO_ROUTES = IdentitySpec(
    name="ch5-share-two-routes",
    chapter=5,
    statement="the decile's share from two backward passes equals the share from per-sample gradients",
    error="largest absolute difference of the two shares",
    tolerance=1e-9,
    reason="float64 sums of a few hundred gradients: round-off ~1e-14, with room for cancellation",
)


# ----------------------------------------------------------------------------- statistics
def _floats(name: str, v) -> np.ndarray:
    from ..validation import check_array

    return check_array(name, v, finite=False).reshape(-1)


def _positive_1d(name: str, v) -> np.ndarray:
    a = _floats(name, v)
    if a.size == 0 or not np.isfinite(a).all() or (a <= 0).any():
        raise ValueError(f"{name} must be a non-empty array of finite positive numbers.")
    return a


def log_median_ratio(values_a, values_b) -> float:
    """``log(median(a) / median(b))`` of two positive samples (section 5.2's per-seed statistic)."""
    a, b = _positive_1d("values_a", values_a), _positive_1d("values_b", values_b)
    return math.log(float(np.median(a))) - math.log(float(np.median(b)))


def summed_gradient_share(group_sum, total) -> float:
    """``<g_S, G> / |G|^2``: the part of the summed gradient ``G`` along itself that group ``S`` carries.

    ``group_sum`` is ``sum_{i in S} grad L_i``, ``total`` is ``G = sum_j grad L_j`` (flat
    vectors). The shares of a partition of the samples add up to 1 (section 5.3).
    """
    g, t = _floats("group_sum", group_sum), _floats("total", total)
    if g.shape != t.shape:
        raise ValueError(f"group_sum and total must have one length, got {g.size} and {t.size}.")
    norm2 = float(t @ t)
    if not math.isfinite(norm2) or norm2 == 0:
        raise ValueError("the summed gradient is zero or not finite: no share to take.")
    return float(g @ t) / norm2


def collapse_fraction(pgd_curve, final_clean: float, *, min_clean: float = CO_MIN_CLEAN) -> float:
    """``1 - final / peak`` of a run's PGD-accuracy curve; 0 if the run ends below ``min_clean`` clean accuracy.

    Section 5.4: a run whose model is no longer a good classifier is not catastrophic
    overfitting (it has no robustness to lose that it ever had); a run that never
    reached any PGD accuracy has collapse 0.
    """
    c = _floats("pgd_curve", pgd_curve)
    final_clean = _number("final_clean", final_clean, finite=False)
    min_clean = _number("min_clean", min_clean)
    if c.size == 0 or not np.isfinite(c).all() or (c < 0).any() or (c > 1).any():
        raise ValueError("pgd_curve must be a non-empty sequence of accuracies in [0, 1].")
    if not 0 <= final_clean <= 1:
        raise ValueError(f"final_clean must be an accuracy in [0, 1], got {final_clean!r}.")
    peak = float(c.max())
    if final_clean < min_clean or peak == 0:
        return 0.0
    return 1.0 - float(c[-1]) / peak


def relative_reduction(error_small: float, error_full: float) -> float:
    """``(e_small - e_full) / e_small``: the fraction of the error that more data removes (section 5.5)."""
    error_small = _number("error_small", error_small, finite=False)
    error_full = _number("error_full", error_full, finite=False)
    for name, e in (("error_small", error_small), ("error_full", error_full)):
        if not 0 <= e <= 1:
            raise ValueError(f"{name} must be an error rate in [0, 1], got {e!r}.")
    if error_small == 0:
        raise ValueError("error_small is 0: no error to reduce.")
    return (error_small - error_full) / error_small


def early_stopping_gain(val_curve, test_curve) -> float:
    """Test accuracy at the checkpoint best on validation (first such) minus at the last checkpoint (5.6)."""
    v, t = _floats("val_curve", val_curve), _floats("test_curve", test_curve)
    if v.size == 0 or v.shape != t.shape or not (np.isfinite(v).all() and np.isfinite(t).all()):
        raise ValueError("val_curve and test_curve must be finite and of one non-zero length.")
    return float(t[int(np.argmax(v))] - t[-1])


# ----------------------------------------------------------------------------- the chapter's verdict in words
_FINDINGS = {
    "ch5-flatter-input-loss": "adversarial training lowers the typical input curvature",
    "ch5-reweighting": "the least-confident decile carries more than its share of the adversarial update",
    "ch5-share-rises-under-attack": "the attack raises that decile's share over clean inputs",
    "ch5-catastrophic-overfitting": "single-step (FGSM-RS) training overfits catastrophically",
    "ch5-more-data": "robust error gains relatively more from data than clean error",
    "ch5-robust-overfitting": "adversarial training overfits (early stopping helps)",
}
_CONTROLS = {
    "ch5-no-collapse-under-pgd": "PGD training does not collapse",
    "ch5-no-clean-overfitting": "standard training does not overfit",
}
_WORDS = {HOLDS: "holds", INCONCLUSIVE: "is inconclusive", NOT_REPRODUCED: "is not reproduced"}


def summary(records) -> str:
    """One line per finding (and control) of the chapter, from the recorded outcomes."""
    records = check_records(records)
    groups: dict[str, list] = {}
    for r in records:
        if r.kind == "claim":
            groups.setdefault(r.spec.group, []).append(r)
    lines = []
    for table, head in ((_FINDINGS, "finding"), (_CONTROLS, "control")):
        for group, text in table.items():
            if group not in groups:
                continue
            out = paper_outcome(groups[group])
            where = [f"{r.regime}: {r.outcome}" for r in groups[group] if r.regime]
            detail = f" ({'; '.join(where)})" if where and len(where) > 1 else ""
            lines.append(f"{head}: '{text}' {_WORDS.get(out, out)}{detail}.")
    return "\n".join(lines)
