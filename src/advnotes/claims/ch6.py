"""Chapter 6 claims: the explanation tested by intervention; each prediction declared before its run.

Each intervention changes one mechanism the book's chapters 1-4 single out, and each
spec's ``reading`` *is* the prediction, written here before the chapter measures it:

- 1a (Result 3, chapter 4's Reading B): reuse the perturbation for ``REUSE`` steps, as "free"
  adversarial training does, so ``d delta / d theta`` drops out of the step within a block;
  the onset of the zig-zag should move back to Reading A's ``2 / lambda_1(H_thth)``.
- 1b (Result 3): scale the step by the measured curvature, ``eta_t = min(eta, c / Re mu_1(J_eff))``
  with ``c = C_SCALED < 2``: no zig-zag; with ``c = C_OVER > 2``: the zig-zag returns.
- 2 (Result 2, chapter 3): equalise the examples' logit residuals, so the least-confident
  decile carries a tenth of them: its share of the update falls and the zig-zag weakens.
- 3 (Result 1, chapters 1-2): train against perturbations restricted to the top ``K_TOP``
  eigenvectors of each example's input Hessian: they buy most of the robustness that the
  unrestricted attack buys, and more than the orthogonal complement at the same budget.

Predictions 1a, 1b and 2 follow from the book's readings (chapters 3 and 4), not from words of
the paper, so their specs are the book's (``paper=""``); prediction 3 is read from the
abstract's Result 1 by the book (an extrapolation: Result 1 is descriptive), so it is the
book's too. Each intervention has a control (the
same run without it); controls that say "the mechanism is there to switch off" are
``control=True``.
"""

from __future__ import annotations

from . import ClaimSpec, IdentitySpec, check_records

CHAPTER = 6

#: Intervention 1a: the perturbation is recomputed every REUSE steps (free training replays it m times).
REUSE = 5
#: Intervention 1b: eta_t = min(eta, C_SCALED / Re mu_1(J_eff)); any c < 2 keeps the linear step stable.
C_SCALED = 1.5
#: Intervention 1b, the other side of the limit: c = C_OVER > 2 should overshoot again.
C_OVER = 3.0
#: Intervention 3: the number of top input-Hessian eigenvectors the perturbation may use.
K_TOP = 3
#: Chapter 4's onset tolerance (readings A and B were judged within 20%).
ONSET_TOL = 0.2
#: Chapter 4's zig-zag detector: a run zig-zags when at least this fraction of its window's cosines is negative.
ZIGZAG_LEVEL = 0.5

RESULT_1 = (
    "the adversarial perturbation tends to strengthen eigenvectors corresponding to a few top-ranked "
    "eigenvalues of the Hessian matrix of the loss w.r.t. the input"
)
RESULT_2 = (
    "adversarial training tends to strengthen the influence of unconfident input samples with large gradient "
    "norms in an exponential manner"
)
RESULT_3 = (
    "adversarial training strengthens the influence of the Hessian matrix of the loss w.r.t. network "
    "parameters, which makes the adversarial training more likely to oscillate"
)

REUSED = f"1a: delta recomputed every {REUSE} steps and reused in between ('free' training's replay)"
SCALED = "1b: step scaled by the measured curvature, eta_t = min(eta, c / Re mu_1(J_eff))"
REWEIGHTED = "2: per-sample weights equalising |p - e_y| at its mean (each decile carries a tenth of the residuals)"
RESTRICTED = f"3: training perturbation restricted to the top-{K_TOP} input-Hessian eigenvectors"

# --------------------------------------------------------------------------- identities

PLAIN_STEP = IdentitySpec(
    name="ch6-plain-step",
    chapter=CHAPTER,
    statement=(
        "the chapter's training loop without an intervention equals advnotes.training.train (full batch, "
        "no momentum), and with delta frozen it equals a plain step on the fixed inputs x + delta"
    ),
    error="largest |theta_loop - theta_train| / |theta_train| after the steps",
    tolerance=1e-5,
    reason="the same float32 operations in a different order: a few ulps per step, summed over the steps",
)
REUSE_ONE = IdentitySpec(
    name="ch6-reuse-one",
    chapter=CHAPTER,
    statement="ReusedAttack with every = 1 returns the attack's perturbation at every step",
    error="largest |delta_reused - delta_attack|",
    tolerance=1e-12,
    reason="the same call on the same weights: any difference is a bug",
)
SUBSPACE = IdentitySpec(
    name="ch6-subspace",
    chapter=CHAPTER,
    statement=(
        "the restricted perturbations lie in their subspace (top-k span or its complement), are orthogonal to "
        "the other, and meet the L-inf budget"
    ),
    error="largest of |P_other delta| / |delta| and max(|delta|_inf / eps - 1, 0)",
    tolerance=1e-5,
    reason="float32 projections: round-off relative to |delta|, a few ulps times the dimension",
)
WEIGHTS = IdentitySpec(
    name="ch6-weights",
    chapter=CHAPTER,
    statement=(
        "the equalising weights keep the summed residual length and give the least-confident decile exactly "
        "its size's share (n_D / B, a tenth) of it"
    ),
    error="largest |sum w|r| / sum |r| - 1| and |decile share - n_D / B|",
    tolerance=1e-5,
    reason="float32 sums of a few hundred terms",
)

# --------------------------------------------------------------------------- 1a

REUSE_ONSET = ClaimSpec(
    name="ch6-reuse-onset",
    chapter=CHAPTER,
    group="1a: reusing delta moves the onset back to 2 / lambda_1(H_thth)",
    paper="",
    reading=(
        f"Prediction: with delta reused for {REUSE} steps, the zig-zag starts (chapter 4's detector, from the same "
        "calm checkpoint) within 20% of Reading A's 2 / lambda_1(H_thth at fixed delta)."
    ),
    statistic="|eta_onset(delta reused) / (2 / lambda_1(H_thth)) - 1|",
    threshold=ONSET_TOL,
    direction="<",
    reason="chapter 4's tolerance for an onset prediction (the detector's bracket is under 3%)",
    intervention=REUSED,
)
REUSE_LATER = ClaimSpec(
    name="ch6-reuse-later",
    chapter=CHAPTER,
    group="1a: reusing delta delays the onset",
    paper="",
    reading=(
        f"Prediction: from the same checkpoint, the onset with delta reused for {REUSE} steps is at a larger "
        "learning rate than with delta recomputed every step (the J_eff term, which lowers it, is cut)."
    ),
    statistic="eta_onset(delta reused) / eta_onset(delta recomputed)",
    threshold=1.0,
    direction=">",
    reason="'moves back' = a later onset: a ratio above 1",
    intervention=REUSED,
)
LIVE_ONSET = ClaimSpec(
    name="ch6-live-onset-control",
    chapter=CHAPTER,
    group="1a control: with delta recomputed the onset is not at 2 / lambda_1(H_thth)",
    paper="",
    reading=(
        "Control (no intervention): with delta recomputed every step, the onset misses 2 / lambda_1(H_thth) by "
        "more than 20% (chapter 4's finding that the intervention should undo)."
    ),
    statistic="|eta_onset(delta recomputed) / (2 / lambda_1(H_thth)) - 1|",
    threshold=ONSET_TOL,
    direction=">",
    reason="the same 20% as the prediction: the mechanism must be there to switch off",
    control=True,
    intervention=REUSED,
)

# --------------------------------------------------------------------------- 1b

SCALED_CALM = ClaimSpec(
    name="ch6-scaled-calm",
    chapter=CHAPTER,
    group="1b: a curvature-scaled step does not zig-zag",
    paper="",
    reading=(
        f"Prediction: with eta_t = min(eta, {C_SCALED:g} / Re mu_1(J_eff)) re-measured every few steps, full-batch "
        "adversarial training does not zig-zag: fewer than half of the last window's update cosines are negative."
    ),
    statistic="fraction of negative update cosines over the last window",
    threshold=ZIGZAG_LEVEL,
    direction="<",
    reason="chapter 4's detector: a run zig-zags when at least half of its window's cosines are negative",
    intervention=SCALED,
)
OVER_ZIGZAG = ClaimSpec(
    name="ch6-scaled-over-zigzags",
    chapter=CHAPTER,
    group="1b: past c = 2 the curvature-scaled step zig-zags again",
    paper="",
    reading=(
        f"Prediction: the same curvature-scaled step with c = {C_OVER:g} > 2 zig-zags: at least half of the last "
        "window's update cosines are negative (the limit is eta * mu_1 = 2, not a small step as such)."
    ),
    statistic="fraction of negative update cosines over the last window",
    threshold=ZIGZAG_LEVEL,
    direction=">",
    reason="chapter 4's detector level, on the other side of the linear limit",
    intervention=SCALED,
)
FIXED_ZIGZAG = ClaimSpec(
    name="ch6-fixed-zigzag-control",
    chapter=CHAPTER,
    group="1b, 2 control: at the fixed learning rate training zig-zags",
    paper="",
    reading=(
        "Control (no intervention): the same continuation at the fixed learning rate eta zig-zags: at least half "
        "of the last window's update cosines are negative."
    ),
    statistic="fraction of negative update cosines over the last window",
    threshold=ZIGZAG_LEVEL,
    direction=">",
    reason="the same detector level: the oscillation must be there to remove",
    control=True,
    intervention=SCALED,
)

SCALED_BEATS_MATCHED = ClaimSpec(
    name="ch6-scaled-beats-matched",
    chapter=CHAPTER,
    group="1b: the curvature-scaled step buys robustness beyond a smaller fixed step",
    paper="",
    reading=(
        f"Prediction: the curvature-scaled run (c = {C_SCALED:g}) ends with a higher robust test accuracy than "
        "the matched-step control, a fixed step equal to that run's mean eta_t (same seed, same checkpoint)."
    ),
    statistic="robust acc(scaled, c = C_SCALED) - robust acc(fixed step = its mean eta_t)",
    threshold=0.0,
    direction=">",
    reason="a gain of the scaling itself, not of a smaller step: a positive difference at equal mean step",
    intervention=SCALED,
)

# --------------------------------------------------------------------------- 2

REWEIGHT_SHARE = ClaimSpec(
    name="ch6-reweight-share",
    chapter=CHAPTER,
    group="2: re-weighting lowers the least-confident decile's share of the update",
    paper="",
    reading=(
        "Prediction: with the equalising weights, the least-confident decile's share g_D . g / |g|^2 of the "
        "training gradient at the final weights is smaller than without them (same seed, same checkpoint)."
    ),
    statistic="decile share (re-weighted) - decile share (control)",
    threshold=0.0,
    direction="<",
    reason="'falls' = a negative difference of shares measured the same way",
    intervention=REWEIGHTED,
)
REWEIGHT_CALMER = ClaimSpec(
    name="ch6-reweight-calmer",
    chapter=CHAPTER,
    group="2: re-weighting weakens the zig-zag",
    paper="",
    reading=(
        "Prediction: with the equalising weights, successive updates are less anti-aligned: the mean update "
        "cosine over the last window is larger than without them (same seed, same learning rate)."
    ),
    statistic="mean update cosine (re-weighted) - mean update cosine (control), last window",
    threshold=0.0,
    direction=">",
    reason="'weakens' = successive updates less opposed: a positive difference of mean cosines",
    intervention=REWEIGHTED,
)

# --------------------------------------------------------------------------- 3

TOP_BUYS_MOST = ClaimSpec(
    name="ch6-topk-buys-most",
    chapter=CHAPTER,
    group="3: the top-k eigenvectors buy most of the robustness",
    paper="",
    reading=(
        f"Prediction (the book's extrapolation of Result 1, '{RESULT_1}'): training against perturbations "
        f"restricted to the top {K_TOP} eigenvectors of each "
        "example's input Hessian buys more than half of the robust accuracy (full PGD-20) that the "
        "unrestricted attack buys over standard training, at the same eps."
    ),
    statistic="(robust acc(top-k) - robust acc(standard)) / (robust acc(unrestricted) - robust acc(standard))",
    threshold=0.5,
    direction=">",
    reason="'most' = more than half",
    intervention=RESTRICTED,
)
TOP_BEATS_COMPLEMENT = ClaimSpec(
    name="ch6-topk-beats-complement",
    chapter=CHAPTER,
    group="3: the top-k span beats its complement",
    paper="",
    reading=(
        "Prediction (the book's extrapolation of Result 1): at the same eps, training against perturbations "
        f"in the top-{K_TOP} span gives a higher "
        "robust accuracy (full PGD-20) than training against perturbations in its orthogonal complement."
    ),
    statistic="robust acc(top-k) - robust acc(complement)",
    threshold=0.0,
    direction=">",
    reason="'more than the complement' = a positive difference",
    intervention=RESTRICTED,
)

FULL_GAIN = ClaimSpec(
    name="ch6-full-gain-control",
    chapter=CHAPTER,
    group="3 control: the unrestricted attack buys robustness",
    paper="",
    reading=(
        "Control (no restriction): training against the unrestricted attack gives a higher robust test accuracy "
        "(full PGD-20) than standard training; without that gain the fraction of it that top-k buys is not tested."
    ),
    statistic="robust acc(full) - robust acc(standard)",
    threshold=0.0,
    direction=">",
    reason="the fraction's denominator must be there: a positive difference, else intervention 3 is not tested",
    control=True,
    intervention=RESTRICTED,
)

IDENTITIES = (PLAIN_STEP, REUSE_ONE, SUBSPACE, WEIGHTS)
CLAIMS = (
    REUSE_ONSET,
    REUSE_LATER,
    SCALED_CALM,
    OVER_ZIGZAG,
    SCALED_BEATS_MATCHED,
    REWEIGHT_SHARE,
    REWEIGHT_CALMER,
    TOP_BUYS_MOST,
    TOP_BEATS_COMPLEMENT,
)
CONTROLS = (LIVE_ONSET, FIXED_ZIGZAG, FULL_GAIN)


def summary(records, specs=CLAIMS) -> str:
    """The chapter's verdict in words, computed from the records: one line per intervention, per setting.

    Settings are not regimes: each line gives one setting's outcomes. For each control that does not
    hold, the ``specs`` of its intervention without a record in that setting are listed as "not
    tested" (their control failed, so they were not recorded as claims).
    """
    records = check_records(records)
    ids = [r for r in records if r.kind == "identity"]
    claims = [r for r in records if r.kind == "claim"]
    lines = [f"Identities: {sum(r.outcome == 'verified' for r in ids)} of {len(ids)} verified."] if ids else []
    by_key: dict[tuple, list] = {}
    for c in claims:
        by_key.setdefault((c.spec.intervention, c.setting), []).append(c)
    for (intervention, setting), recs in by_key.items():
        parts = [f"{c.spec.name} {c.outcome}" for c in recs if not c.spec.control]
        ctrl = [c for c in recs if c.spec.control]
        parts += [f"control {c.spec.name} {c.outcome}" for c in ctrl]
        failed = [c for c in ctrl if c.outcome != "holds"]
        if failed:
            done = {c.spec.name for c in recs}
            parts += [f"{s.name} not tested" for s in specs if s.intervention == intervention and s.name not in done]
        lines.append(f"{intervention.split(':')[0]} [{setting}]: " + "; ".join(parts))
    for setting in dict.fromkeys(c.setting for c in claims):
        preds = [c for c in claims if not c.spec.control and c.setting == setting]
        held = sum(c.outcome == "holds" for c in preds)
        lines.append(f"Predictions borne out on {setting}: {held} of {len(preds)} intervention records.")
    return "\n".join(lines)
