"""Chapter 4 claims (Result 3): the parameter Hessian takes over and adversarial training oscillates.

The abstract says: "adversarial training strengthens the influence of the Hessian matrix
of the loss w.r.t. network parameters, which makes the adversarial training more likely
to oscillate along directions of a few samples". It admits two readings, defined once
here (:data:`READING_A`, :data:`READING_B`) and tested each with its own records:

- **Reading A** (the Hessian at a fixed perturbation);
- **Reading B** (the Jacobian of the training step, through ``d delta / d theta``).

Identities (checked to round-off, never counted as support) and claims (decided by a 95%
t-interval over seeds against a threshold declared here, before measuring) follow the
rules of :mod:`advnotes.claims`. Every oscillation claim has standard training at the
same learning rate as its control.
"""

from __future__ import annotations

from . import ClaimSpec, IdentitySpec, check_records, paper_outcome

CHAPTER = 4

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
    "J_eff = H_thth + H_thx d delta / d theta, makes the step unstable: rho(I - eta J_eff) > 1."
)

#: Regimes (the attack used in training).
ASCENT = "projected gradient ascent (the paper's attack)"
PGD = "L-inf PGD (sign gradient; d delta / d theta = 0 a.e., so J_eff = H_thth)"

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

OSCILLATION = ClaimSpec(
    name="ch4-oscillation",
    chapter=CHAPTER,
    group="ch4-oscillation",
    paper="makes the adversarial training more likely to oscillate",
    reading="At the same learning rate, full-batch adversarial training reverses its update (negative cosine "
    "between successive updates) on a majority more of its last steps than standard training does.",
    statistic="fraction of negative successive-update cosines over the last 50 steps, adversarial minus standard",
    threshold=0.5,
    direction=">",
    reason="a zig-zag reverses a majority of updates; standard training at the same lr is the control",
)
A_LARGER = ClaimSpec(
    name="ch4-A-larger",
    chapter=CHAPTER,
    group="ch4-reading-A",
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
    group="ch4-reading-A",
    paper="which makes the adversarial training more likely to oscillate",
    reading="Reading A, second half: at the end of an adversarial run, eta * lambda_1(H_thth at fixed delta) passes 2.",
    statistic="eta * lambda_1(H_thth, delta fixed) at the final weights",
    threshold=2.0,
    direction=">",
    reason="gradient descent on a quadratic overshoots and grows iff eta * lambda > 2 (thm-ch4-quadratic-gd)",
)
A_ONSET = ClaimSpec(
    name="ch4-A-onset",
    chapter=CHAPTER,
    group="ch4-reading-A",
    paper="which makes the adversarial training more likely to oscillate",
    reading="Reading A as a prediction: from a calm checkpoint, training starts to zig-zag at the learning rate "
    "2 / lambda_1(H_thth at fixed delta), within 20%.",
    statistic="|eta_onset (bisection) / (2 / lambda_1(H_thth)) - 1|",
    threshold=0.2,
    direction="<",
    reason="within 20%: many times the onset's resolution (~1.4%: a scan by factors 1.25, then 4 bisections)",
)
B_UNSTABLE = ClaimSpec(
    name="ch4-B-unstable",
    chapter=CHAPTER,
    group="ch4-reading-B",
    paper="which makes the adversarial training more likely to oscillate",
    reading="Reading B: at the end of an adversarial run, the linearised step is unstable, rho(I - eta J_eff) > 1 "
    "over the 3 eigenvalues of J_eff with the largest real part (Arnoldi; J_eff = H_thth for PGD).",
    statistic="rho(I - eta J_eff) over its top-3 eigenvalues at the final weights",
    threshold=1.0,
    direction=">",
    reason="the linear map Delta theta -> (I - eta J) Delta theta grows iff its spectral radius exceeds 1",
)
B_ONSET = ClaimSpec(
    name="ch4-B-onset",
    chapter=CHAPTER,
    group="ch4-reading-B",
    paper="which makes the adversarial training more likely to oscillate",
    reading="Reading B as a prediction: from a calm checkpoint, training starts to zig-zag at the smallest "
    "learning rate with rho(I - eta J_eff) > 1, min 2 Re(mu) / |mu|^2, within 20%.",
    statistic="|eta_onset (bisection) / min(2 Re mu / |mu|^2) - 1|",
    threshold=0.2,
    direction="<",
    reason="within 20%: many times the onset's resolution (~1.4%: a scan by factors 1.25, then 4 bisections)",
)
DELTA_FOLLOWS = ClaimSpec(
    name="ch4-delta-follows",
    chapter=CHAPTER,
    group="ch4-zigzag-source",
    paper="",
    reading="The zig-zag needs delta to be recomputed from the current weights: continuing from the final weights, "
    "training with delta recomputed zig-zags on a majority more of the steps than with delta frozen.",
    statistic="negative-cosine fraction over the last 15 of 30 more steps, delta recomputed minus delta frozen",
    threshold=0.5,
    direction=">",
    reason="as ch4-oscillation: a majority of steps; the frozen-delta run is the control",
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
    reason="'a few' read generously: ten samples, 2% of the 512-sample batch",
)

#: The claim groups in the order the chapter reports them, with a short label.
GROUPS = {
    "ch4-oscillation": "adversarial training oscillates (control: standard training)",
    "ch4-reading-A": "Reading A (fixed-delta Hessian)",
    "ch4-reading-B": "Reading B (J_eff, through d delta / d theta)",
    "ch4-few-samples": "along directions of a few samples",
    "ch4-zigzag-source": "the zig-zag needs delta to follow the weights (the book's claim)",
}


def summary(records) -> str:
    """The chapter's verdict in words, one line per claim group, computed from the records' outcomes."""
    records = check_records(records)
    claims = [r for r in records if r.kind == "claim"]
    ids = [r for r in records if r.kind == "identity"]
    lines = [f"Identities: {sum(r.outcome == 'verified' for r in ids)} of {len(ids)} verified."] if ids else []
    for group, label in GROUPS.items():
        recs = [c for c in claims if c.spec.group == group]
        if not recs:
            continue
        parts = ", ".join(f"{c.name} [{c.regime.split(' (')[0] or '-'}]: {c.outcome}" for c in recs)
        lines.append(f"{label}: {paper_outcome(recs)} ({parts})")
    return "\n".join(lines)
