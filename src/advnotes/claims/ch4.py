"""Chapter 4 claims (Result 3): the parameter Hessian takes over and adversarial training oscillates.

The abstract says: "adversarial training strengthens the influence of the Hessian matrix
of the loss w.r.t. network parameters, which makes the adversarial training more likely
to oscillate along directions of a few samples". It admits two readings, defined once
here (``READING_A``, ``READING_B``) and tested each with its own records:

- **Reading A** (the Hessian at a fixed perturbation);
- **Reading B** (the Jacobian of the training step, through ``d delta / d theta``).

Each sub-claim is its own group (larger, crosses 2, unstable, onset), so a group's
"holds in a regime" is about one statement. The onset detector is calibrated by control
records where the linear prediction is unambiguous (standard training, per probe; delta frozen
at the checkpoint, per attack), each its own group (a calibration, not a claim with a regime
verdict); an onset reading is judged only where its controls hold (:func:`not_judged`).
Identities (checked to round-off, never counted as support) and claims (decided by a 95%
t-interval over seeds against a threshold declared here, before measuring) follow
the rules of :mod:`advnotes.claims`.
"""

from __future__ import annotations

from ..validation import check_number
from . import ClaimSpec, IdentitySpec, check_records, paper_outcome

CHAPTER = 4

#: The eigenvalues of the step operator with the largest real part that the stability criterion uses.
TOP_K = 3

#: The abstract's sentence for Result 3.
PAPER = (
    "adversarial training strengthens the influence of the Hessian matrix of the loss w.r.t. network "
    "parameters, which makes the adversarial training more likely to oscillate along directions of a few samples"
)
READING_A = (
    "Reading A: the Hessian of the adversarial loss at fixed delta, H_thth, has a larger top eigenvalue than "
    "the clean loss's, and eta * lambda_1(H_thth) passes 2 where training oscillates."
)
READING_B = (
    "Reading B: the Jacobian of the adversarial training update including d delta / d theta, "
    "J_eff = H_thth + H_thx d delta / d theta, makes the step unstable: rho(I - eta J_eff) > 1, with rho taken "
    f"over the {TOP_K} eigenvalues of J_eff with the largest real part (the overshooting side of the spectrum)."
)

#: Regimes (the attack used in training, and where it is measured).
PGD = "L-inf PGD, 5 sign steps (d delta / d theta = 0 a.e., so J_eff = H_thth and Reading B = Reading A)"


def at_end(lr: float) -> str:
    """The regime note of the end-of-training records, with their caveat (edge of stability)."""
    lr = check_number("lr", lr)
    return (
        f"end of training (full batch, eta = {lr:g}); edge of stability: the linear criterion is exceeded while "
        "training stays bounded, so this describes the state, it does not predict it"
    )


def ascent_regime(alpha: float, steps: int, note: str = "") -> str:
    """The regime text of the paper's attack, with its step size and number of steps."""
    alpha = check_number("alpha", alpha)
    if isinstance(steps, bool) or not isinstance(steps, int) and not hasattr(steps, "__index__"):
        raise TypeError(f"steps must be an integer number of attack steps, got {steps!r}.")
    if not isinstance(note, str):
        raise TypeError(f"note must be a string ('' for none), got {type(note).__name__}.")
    text = f"projected gradient ascent (the paper's attack), alpha = {alpha:g}, m = {steps}"
    return f"{text}; {note}" if note else text


# --------------------------------------------------------------------------- identities

CHAIN_RULE = IdentitySpec(
    name="ch4-jeff-chain-rule",
    chapter=CHAPTER,
    statement="dG/dtheta = H_thth + H_thx d delta/d theta (SymPy: generic L and delta, and the linear model)",
    error="symbolic residual (0 when SymPy simplifies it to zero)",
    tolerance=1e-12,
    reason="an exact symbolic identity: any nonzero residual is a mistake",
)
ONSET_FORMULA = IdentitySpec(
    name="ch4-radius-onset",
    chapter=CHAPTER,
    statement="|1 - eta mu| > 1 iff eta > 2 Re(mu) / |mu|^2 for Re(mu) > 0 (SymPy), checked on random complex mu",
    error="largest |onset_lr(mu) - 2 Re mu / |mu|^2| and radius at that eta minus 1",
    tolerance=1e-12,
    reason="closed form in double precision: errors are a few ulps",
)
HVP_DENSE = IdentitySpec(
    name="ch4-hvp-dense",
    chapter=CHAPTER,
    statement="Hessian-vector product (reverse over reverse) equals the dense Hessian times v (64-8-10 MLP, float64)",
    error="relative error |Hv - H_dense v| / |H_dense v|",
    tolerance=1e-10,
    reason="two float64 routes to one product differ by round-off, ~1e-14 times the condition of the sum",
)
LANCZOS_DENSE = IdentitySpec(
    name="ch4-lanczos-dense",
    chapter=CHAPTER,
    statement="Lanczos top-3 eigenvalues of the parameter Hessian equal dense eigh's (tol 1e-10)",
    error="largest relative eigenvalue error",
    tolerance=1e-8,
    reason="a residual below 1e-10 bounds the eigenvalue error by ~1e-10 (times |lambda|/gap <= 100)",
)
ARNOLDI_DENSE = IdentitySpec(
    name="ch4-arnoldi-dense",
    chapter=CHAPTER,
    statement="Arnoldi's top-2 eigenvalues of J_eff (projected ascent) equal those of the dense Jacobian of G",
    error="largest |mu - mu_dense| / |mu_dense_1|",
    tolerance=1e-8,
    reason="Ritz residual below 1e-10; a non-normal J_eff can amplify it, by at most 100 here",
)
JEFF_FD = IdentitySpec(
    name="ch4-jeff-fd",
    chapter=CHAPTER,
    statement="-eta J_eff v equals central finite differences of train()'s projected-ascent update (float64)",
    error="relative error |FD - (-eta J_eff v)| / |FD|",
    tolerance=1e-6,
    reason="central differences with h = 1e-6 err by O(h^2) plus round-off 1e-16/h = 1e-10; no gate or clip within h",
)
PGD_FD = IdentitySpec(
    name="ch4-pgd-jeff-fd",
    chapter=CHAPTER,
    statement="for L-inf PGD, finite differences of train()'s update equal -eta H_thth v at the fixed delta "
    "(d delta / d theta = 0 a.e.)",
    error="relative error |FD - (-eta H_thth v)| / |FD|",
    tolerance=1e-6,
    reason="as ch4-jeff-fd; the sign of no gradient coordinate changes within h = 1e-6",
)

# --------------------------------------------------------------------------- claims

_ONSET_REASON = (
    "within 20%: a prediction that misses by more than a fifth does not predict the onset; judged only with a "
    "probe and an attack whose detector controls (ch4-onset-control-*) hold: a control that does not hold means "
    "the reading is not judged in that configuration (printed, not recorded)"
)

OSCILLATION = ClaimSpec(
    name="ch4-oscillation",
    chapter=CHAPTER,
    group="ch4-oscillation",
    paper="makes the adversarial training more likely to oscillate",
    reading="From the same initialisation and the same calm warm-up, adversarial training starts to zig-zag at a "
    "smaller learning rate than standard training: the ratio of their observed onsets is below 1.",
    statistic="eta_onset(adversarial) / eta_onset(standard), each from its own calm checkpoint",
    threshold=1.0,
    direction="<",
    reason="'more likely to oscillate' = oscillates from a smaller step size: a ratio below 1",
)
A_LARGER = ClaimSpec(
    name="ch4-A-larger",
    chapter=CHAPTER,
    group="ch4-A-larger",
    paper="adversarial training strengthens the influence of the Hessian matrix of the loss w.r.t. network parameters",
    reading="Reading A, first half: after adversarial training, lambda_1 of H_thth at the attack's fixed delta "
    "exceeds lambda_1 of the clean loss's Hessian at the same weights.",
    statistic="lambda_1(H_thth, delta fixed) / lambda_1(H_clean) at the final weights",
    threshold=1.0,
    direction=">",
    reason="'larger' means a ratio above 1",
)
A_CROSSES = ClaimSpec(
    name="ch4-A-crosses-2",
    chapter=CHAPTER,
    group="ch4-A-crosses-2",
    paper="which makes the adversarial training more likely to oscillate",
    reading="Reading A, second half: at the end of an adversarial run (which zig-zags), eta * lambda_1(H_thth at "
    "fixed delta) passes 2.",
    statistic="eta * lambda_1(H_thth, delta fixed) at the final weights",
    threshold=2.0,
    direction=">",
    reason="gradient descent on a quadratic overshoots and grows iff eta * lambda > 2 (thm-ch4-quadratic-gd)",
)
B_UNSTABLE = ClaimSpec(
    name="ch4-B-unstable",
    chapter=CHAPTER,
    group="ch4-B-unstable",
    paper="which makes the adversarial training more likely to oscillate",
    reading=f"Reading B: at the end of an adversarial run (which zig-zags), the linearised step is unstable, "
    f"rho(I - eta J_eff) > 1 over the {TOP_K} eigenvalues of J_eff with the largest real part (Arnoldi; "
    "J_eff = H_thth for PGD).",
    statistic=f"rho(I - eta J_eff) over its top-{TOP_K} eigenvalues (by real part) at the final weights",
    threshold=1.0,
    direction=">",
    reason="the linear map Delta theta -> (I - eta J) Delta theta grows iff its spectral radius exceeds 1",
)
A_ONSET = ClaimSpec(
    name="ch4-A-onset",
    chapter=CHAPTER,
    group="ch4-A-onset",
    paper="which makes the adversarial training more likely to oscillate",
    reading="Reading A as a prediction: from a calm checkpoint, adversarial training (delta recomputed) starts to "
    "zig-zag at the learning rate 2 / lambda_1(H_thth at fixed delta), within 20%.",
    statistic="|eta_onset / (2 / lambda_1(H_thth)) - 1|",
    threshold=0.2,
    direction="<",
    reason=_ONSET_REASON,
)
B_ONSET = ClaimSpec(
    name="ch4-B-onset",
    chapter=CHAPTER,
    group="ch4-B-onset",
    paper="which makes the adversarial training more likely to oscillate",
    reading=f"Reading B as a prediction: from a calm checkpoint, adversarial training (delta recomputed) starts to "
    f"zig-zag at min 2 Re(mu) / |mu|^2 over the top-{TOP_K} eigenvalues of J_eff (an upper bound on the smallest "
    "learning rate with rho(I - eta J_eff) > 1), within 20%.",
    statistic=f"|eta_onset / min_top{TOP_K}(2 Re mu / |mu|^2) - 1|",
    threshold=0.2,
    direction="<",
    reason=_ONSET_REASON,
)
_CONTROL_REASON = (
    "the same 20% the readings are judged by: a detector that misses its control by more cannot judge a reading "
    "in that configuration"
)


def _control(suffix: str, what: str, prediction: str) -> ClaimSpec:
    """One calibration record of the onset detector: its own group, so no group verdict mixes configurations."""
    return ClaimSpec(
        name=f"ch4-onset-control-{suffix}",
        chapter=CHAPTER,
        group=f"ch4-onset-control-{suffix}",
        paper="",
        reading=f"Calibration of the onset detector on {what}, where the linear prediction {prediction} is "
        "unambiguous: the detected onset is within 20% of it. It gates the onset readings judged in this "
        "configuration.",
        statistic=f"|eta_onset / ({prediction}) - 1| for the control run",
        threshold=0.2,
        direction="<",
        reason=_CONTROL_REASON,
        control=True,
    )


#: Standard training with the chapter's probe (the first of ``probes``): gates every onset reading judged.
CONTROL_STANDARD = _control("standard", "standard training with the chapter's probe", "2 / lambda_1(H_clean)")
#: Standard training with the longer probe: the readings with that probe are judged only if it holds.
CONTROL_LONG = _control("long-probe", "standard training with the longer probe", "2 / lambda_1(H_clean)")
#: delta frozen at the checkpoint (gradient descent on fixed inputs x + delta): gates the attack's onset readings.
CONTROL_FROZEN_ASCENT = _control(
    "frozen-ascent", "training on the projected-ascent delta frozen at the checkpoint", "2 / lambda_1(H_thth)"
)
CONTROL_FROZEN_PGD = _control(
    "frozen-pgd", "training on the PGD delta frozen at the checkpoint", "2 / lambda_1(H_thth)"
)
#: The controls, in the order the chapter reports them.
CONTROLS = (CONTROL_STANDARD, CONTROL_LONG, CONTROL_FROZEN_ASCENT, CONTROL_FROZEN_PGD)

DELTA_FOLLOWS = ClaimSpec(
    name="ch4-delta-follows",
    chapter=CHAPTER,
    group="ch4-zigzag-source",
    paper="",
    reading="Recomputing delta from the current weights makes the zig-zag start earlier: from the same calm "
    "checkpoint, the onset with delta recomputed is below the onset with delta frozen at its checkpoint value.",
    statistic="eta_onset(delta recomputed) / eta_onset(delta frozen), same checkpoint, same detector",
    threshold=1.0,
    direction="<",
    reason="'earlier' = at a smaller learning rate: a ratio below 1; the frozen run is the control",
)
M_GROWTH = ClaimSpec(
    name="ch4-m-growth",
    chapter=CHAPTER,
    group="ch4-m-growth",
    paper="",
    reading="The J_eff term grows with the number of attack steps m (as in the linear model of section 4.2): at "
    "the calm checkpoint, Re mu_1(J_eff) / lambda_1(H_thth) is larger for m = 5 than for the one-step attack m = 1.",
    statistic="[Re mu_1(J_eff) / lambda_1(H_thth)] at m = 5 minus the same at m = 1 (same weights, same alpha)",
    threshold=0.0,
    direction=">",
    reason="the direction the theory predicts: any increase; a difference indistinguishable from 0 is inconclusive",
)
FEW_SAMPLES = ClaimSpec(
    name="ch4-few-samples",
    chapter=CHAPTER,
    group="ch4-few-samples",
    paper="oscillate along directions of a few samples",
    reading="The top eigenvector of the operator that governs the adversarial step (J_eff; H_thth at fixed delta "
    "for PGD) is carried by a few samples: the participation number of the per-sample Rayleigh-quotient shares "
    "is at most 10.",
    statistic="participation number N_eff = (sum s)^2 / sum s^2 of the per-sample shares",
    threshold=10.0,
    direction="<",
    reason="'a few' read generously: at most ten examples, whatever the batch size",
)
FEWER_SAMPLES = ClaimSpec(
    name="ch4-fewer-samples",
    chapter=CHAPTER,
    group="ch4-fewer-samples",
    paper="more likely to oscillate along directions of a few samples",
    reading="Comparative: the top direction of the adversarial step operator is carried by fewer samples than "
    "the top direction of the clean Hessian after standard training (same seed, same data).",
    statistic="N_eff(adversarial step operator) / N_eff(clean Hessian, standard training) at the final weights",
    threshold=1.0,
    direction="<",
    reason="'more ... along a few samples' than standard training: a ratio below 1",
)

#: The claim groups in the order the chapter reports them, with a short label.
GROUPS = {
    "ch4-oscillation": "oscillates from a smaller learning rate than standard training",
    "ch4-A-larger": "Reading A, larger: lambda_1(H_thth) > lambda_1(H_clean)",
    "ch4-A-crosses-2": "Reading A, crosses 2 at the end of training",
    "ch4-B-unstable": "Reading B, rho(I - eta J_eff) > 1 at the end of training",
    "ch4-A-onset": "Reading A predicts the onset",
    "ch4-B-onset": "Reading B predicts the onset",
    "ch4-zigzag-source": "recomputing delta makes the zig-zag start earlier (the book's claim)",
    "ch4-m-growth": "the J_eff term grows with the attack's steps (the book's claim)",
    "ch4-few-samples": "along directions of a few samples (at most 10)",
    "ch4-fewer-samples": "along fewer samples than standard training",
}


def not_judged(controls) -> list[str]:
    """The controls among ``controls`` that do not hold, as "name: outcome" (empty: the reading is judged).

    A reading's onset is judged only with a probe and an attack whose detector controls hold (section 4.5).
    """
    controls = check_records(controls, what="claims")
    for c in controls:
        if c.kind != "claim" or c.spec not in CONTROLS:
            raise ValueError(f"not an onset-detector control: {getattr(c.spec, 'name', c)!r}.")
    return [f"{c.spec.name}: {c.outcome}" for c in controls if c.outcome != "holds"]


def short_regime(regime: str) -> str:
    """A regime's attack and, after a bar, the first clause of its note: a label for the summary."""
    if not isinstance(regime, str):
        raise TypeError(f"regime must be a record's regime string, got {type(regime).__name__}.")
    parts = regime.split("; ")
    attack = parts[0].split(" (")[0].replace("projected gradient ascent", "ascent")
    attack += parts[0][parts[0].find("),") + 1 :] if ")," in parts[0] else ""
    return attack + (f" | {parts[1]}" if len(parts) > 1 else "")


def summary(records) -> str:
    """The chapter's verdict in words computed from the records' outcomes.

    First the detector's calibration, one line per control (no group verdict: each control is its own
    configuration), then one line per claim group with its regimes (prefixed by the setting when the
    records come from more than one).
    """
    records = check_records(records)
    claims = [r for r in records if r.kind == "claim"]
    several = len({c.setting for c in claims}) > 1

    def where(c) -> str:  # the setting is named only when the records span more than one
        return f"{c.setting}: {short_regime(c.regime)}" if several else short_regime(c.regime)

    ids = [r for r in records if r.kind == "identity"]
    lines = [f"Identities: {sum(r.outcome == 'verified' for r in ids)} of {len(ids)} verified."] if ids else []
    ctrl = [c for c in claims if c.spec in CONTROLS]
    if ctrl:
        lines.append("Onset detector, calibration per configuration (gates the onset readings, not a claim verdict):")
        lines += [f"    {c.spec.name} ({where(c)}): {c.outcome}" for c in ctrl]
    for group, label in GROUPS.items():
        recs = [c for c in claims if c.spec.group == group]
        if recs:
            lines.append(f"{label}: {paper_outcome(recs)}")
            lines += [f"    {where(c)}: {c.outcome}" for c in recs]
    return "\n".join(lines)
