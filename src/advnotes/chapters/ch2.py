"""Chapter 2's pipelines: the loops, records and tables of ``book/ch2_attack_dynamics.ipynb``.

The chapter tests Result 1 of Cheng et al. (the multi-step attack strengthens a few top
eigenvectors of the input Hessian) against the closed form ``eq-ch2-closed-form`` of the
attack's linear recurrence ``eq-ch2-recurrence``. Every function names the section and the
equation it computes; the notebook calls them and prints what they return.

Both settings of the book go through the same functions: the digits MLP takes flat (N, 64)
inputs; the MNIST-1D CNN takes (N, 1, 40) signals and is wrapped by :func:`flat_input`
(``theory.validity_table`` measures norms along ``dim=1`` and needs flat inputs; the wrapper
only reshapes, so attacks, Hessians and norms are the CNN's own).
"""

from __future__ import annotations

import re
from fractions import Fraction

import numpy as np
import torch
from torch import nn

from .. import stats, theory
from ..attacks import fgsm, gradient_ascent, gradient_ascent_path
from ..claims import ch2 as claims
from ..claims import check_records
from ..curvature import input_gradient, input_hessian, input_hessian_eig
from ..linear_regions import FrozenGates
from ..validation import check_int_list, check_number, check_positive, check_seed

__all__ = [
    "flat_input",
    "random_quadratic",
    "recurrence_error",
    "exact_factor",
    "factor_rows",
    "first_step_error",
    "quadratic_attack_error",
    "bound_excess",
    "flow_orders",
    "accuracy_rows",
    "defined_inputs",
    "validity_tables",
    "tracks_records",
    "decomposition_rows",
    "breakdown_records",
    "tilt_error",
    "tilt_rows",
    "strengthening_records",
    "spread_records",
    "pgd_records",
    "trend_records",
    "two_class",
    "margin_geometry",
    "lambert_errors",
    "comparison_rows",
    "differences",
    "plot_validity_map",
    "plot_strengthening",
    "plot_perturbations",
    "plot_two_logit",
]


def flat_input(model: nn.Module, shape) -> nn.Module:
    """``model`` seen as a function of flat inputs (N, prod(shape)): ``Unflatten`` then ``model``.

    Section 2.12: chapter 2's tables (``theory.validity_table``) take flat inputs; the 1-d
    CNN of MNIST-1D takes (N, 1, 40). The wrapper shares the CNN's parameters and only
    reshapes, so its gradients, Hessians and attacks are the CNN's, in flat coordinates.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    shape = tuple(check_int_list("shape", shape, min_value=1))
    if not shape:
        raise ValueError("shape must name at least one dimension, e.g. (1, 40).")
    return nn.Sequential(nn.Unflatten(1, shape), model).train(model.training)


# ----------------------------------------------------------------------------- 2.4 the closed form


def random_quadratic(seed: int, *, batch: int = 32, n: int = 64, rank: int = 9, device=None) -> dict:
    """A batch of exactly quadratic losses (section 2.4): ``H = Q diag(lam) Q^T`` of ``rank`` in ``n``
    dimensions, eigenvalues uniform in [0, 1] (descending) and ``g`` in the range of ``H``.

    Returns ``eigvals`` (B, rank), ``eigvecs`` (B, n, rank), ``H`` (B, n, n), ``g`` (B, n), float64.
    """
    seed = check_seed(seed)
    batch = check_positive("batch", batch, integer=True)
    n = check_positive("n", n, integer=True)
    rank = check_positive("rank", rank, integer=True)
    if rank > n:
        raise ValueError(f"rank must be at most n = {n}, got {rank}.")
    gen = torch.Generator().manual_seed(seed)
    Q = torch.linalg.qr(torch.randn(batch, n, n, dtype=torch.float64, generator=gen)).Q[:, :, :rank]
    lam = torch.rand(batch, rank, dtype=torch.float64, generator=gen).sort(dim=1, descending=True).values
    coef = torch.randn(batch, rank, dtype=torch.float64, generator=gen)
    out = {
        "eigvals": lam,
        "eigvecs": Q,
        "H": Q @ torch.diag_embed(lam) @ Q.transpose(1, 2),
        "g": torch.einsum("bnk,bk->bn", Q, coef),
    }
    return {k: v.to(device) for k, v in out.items()}


def _rel_err(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per input (B,): ``|a - b| / |b|`` over the flattened input dimensions."""
    a, b = a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)
    return (a - b).norm(dim=1) / b.norm(dim=1)


def recurrence_error(quadratic: dict, pairs) -> float:
    """Max relative error of ``eq-ch2-closed-form`` against the iterated ``eq-ch2-recurrence``.

    Section 2.4 (identity ``ch2-closed-form``). ``quadratic`` from :func:`random_quadratic`;
    ``pairs``: (step size, step count) pairs.
    """
    if not isinstance(quadratic, dict) or not {"eigvals", "eigvecs", "H", "g"} <= set(quadratic):
        raise ValueError("quadratic must be the dict of random_quadratic (eigvals, eigvecs, H, g).")
    worst = 0.0
    for step_size, steps in pairs:
        closed = theory.perturbation_closed_form(
            quadratic["eigvals"], quadratic["eigvecs"], quadratic["g"], step_size=step_size, steps=steps
        )
        iterated = theory.iterate_quadratic_attack(quadratic["H"], quadratic["g"], step_size=step_size, steps=steps)
        worst = max(worst, float(_rel_err(closed, iterated).max()))
    return worst


def exact_factor(lam: float, step_size: float, steps: int) -> float:
    """``c(m) = ((1 + alpha lam)^m - 1) / lam`` (``m alpha`` at ``lam = 0``) in exact rational arithmetic.

    Section 2.4: the oracle of ``theory.growth_factor``; ``Fraction`` of the float inputs, so the
    only rounding is the final conversion to float.
    """
    lam_f = Fraction(check_number("lam", lam))
    alpha_f = Fraction(check_number("step_size", step_size))
    steps = check_positive("steps", steps, integer=True)
    if lam_f == 0:
        return float(steps * alpha_f)
    return float(((1 + alpha_f * lam_f) ** steps - 1) / lam_f)


def factor_rows(lams, *, step_size: float, steps: int) -> list[dict]:
    """One row per eigenvalue (section 2.4): ``theory.growth_factor``, whether it matches
    :func:`exact_factor` to 1e-14 (relative), and the naive formula ``((1 + alpha lam)^m - 1)/lam``."""
    lams = torch.as_tensor(np.asarray(lams, dtype=np.float64))
    ours = theory.growth_factor(lams, step_size=step_size, steps=steps)
    naive = ((1 + step_size * lams) ** steps - 1) / lams
    rows = []
    for lam, c_ours, c_naive in zip(lams.tolist(), ours.tolist(), naive.tolist()):
        exact = exact_factor(lam, step_size, steps)
        rows.append(
            {
                "lambda": f"{lam:.0e}",
                "c (growth_factor)": f"{c_ours:.12f}",
                "exact to 1e-14": abs(c_ours - exact) / exact < 1e-14,
                "naive": f"{c_naive:.6g}",
            }
        )
    return rows


def first_step_error(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, step_size: float) -> float:
    """Identity ``ch2-first-step`` (section 2.5): for ``m = 1`` the closed form is ``alpha g``.

    Returns the max over inputs of ``|closed - real| / |real|`` times ``1 - p_y`` (autograd
    forms ``p_y - 1`` with an absolute round-off ~1e-16).
    """
    eigvals, eigvecs = input_hessian_eig(model, x, y)
    g = input_gradient(model, x, y)
    closed = theory.perturbation_closed_form(eigvals, eigvecs, g, step_size=step_size, steps=1)
    real = gradient_ascent(model, x, y, step_size=step_size, steps=1)
    with torch.no_grad():
        p_y = torch.softmax(model(x), dim=1).gather(1, y[:, None]).squeeze(1)
    return float((_rel_err(closed, real) * (1 - p_y)).max())


def quadratic_attack_error(model: nn.Module, x: torch.Tensor, y: torch.Tensor, pairs) -> float:
    """Identity ``ch2-quadratic-attack`` (section 2.5): gradient ascent iterated on the network's
    exact quadratic model (the dense ``H`` of ``input_hessian``) against the closed form."""
    eigvals, eigvecs = input_hessian_eig(model, x, y)
    g_dense, H_dense = input_hessian(model, x, y)
    g = g_dense.reshape(g_dense.shape[0], -1)
    worst = 0.0
    for step_size, steps in pairs:
        closed = theory.perturbation_closed_form(eigvals, eigvecs, g, step_size=step_size, steps=steps)
        iterated = theory.iterate_quadratic_attack(H_dense, g_dense, step_size=step_size, steps=steps)
        worst = max(worst, float(_rel_err(closed, iterated).max()))
    return worst


def bound_excess(eigvals: torch.Tensor, step_sizes, steps) -> float:
    """Identity ``ch2-strengthening-bound`` (``prop-ch2-bound``): the largest
    ``(c_1 / min_i c_i) s / (e^s - 1) - 1`` over inputs and the grid (<= 0 when the bound holds)."""
    worst = 0.0
    for step_size in step_sizes:
        for m in steps:
            cs = theory.growth_factor(eigvals, step_size=step_size, steps=m)
            s = step_size * m * eigvals[:, 0]
            excess = cs[:, 0] / cs.min(dim=1).values * s / torch.expm1(s) - 1
            worst = max(worst, float(excess.max()))
    return worst


def flow_orders(eigvals, eigvecs, g, *, t: float, counts) -> np.ndarray:
    """Observed convergence orders of the discrete closed form to the flow ``eq-ch2-flow`` at fixed
    ``t = m alpha`` as ``m`` runs over ``counts`` (each the double of the last): identity ``ch2-flow-limit``."""
    counts = check_int_list("counts", counts, min_value=1)
    if len(counts) < 2:
        raise ValueError("counts needs at least two step counts to observe an order.")
    ref = theory.perturbation_flow(eigvals, eigvecs, g, t=t)
    errors = [
        float(_rel_err(theory.perturbation_closed_form(eigvals, eigvecs, g, step_size=t / k, steps=k), ref).max())
        for k in counts
    ]
    ratios = np.log(np.array(counts[1:], float) / np.array(counts[:-1], float))
    return np.log(np.array(errors[:-1]) / errors[1:]) / ratios


# ----------------------------------------------------------------------------- 2.6-2.7 the validity map


def validity_tables(models, x: torch.Tensor, y: torch.Tensor, *, per_seed: int, step_sizes, steps, project=None):
    """Section 2.6: one ``theory.validity_table`` per model, each on its own disjoint slice of
    ``per_seed`` inputs (seed ``i`` gets inputs ``i * per_seed ... (i + 1) * per_seed - 1``).

    Returns ``(tables, slices)``.
    """
    models = list(models)
    per_seed = check_positive("per_seed", per_seed, integer=True)
    if not models:
        raise ValueError("models must hold at least one model.")
    if len(models) * per_seed > len(x):
        raise ValueError(
            f"{len(models)} disjoint slices of {per_seed} inputs need {len(models) * per_seed}, got {len(x)}."
        )
    slices = [slice(i * per_seed, (i + 1) * per_seed) for i in range(len(models))]
    tables = [
        theory.validity_table(m, x[sl], y[sl], step_sizes=step_sizes, steps=steps, project=project)
        for m, sl in zip(models, slices)
    ]
    return tables, slices


def _regimes():
    small, one, large = claims.S_SMALL, claims.S_ONE, claims.S_LARGE
    return [
        (f"s <= {small:g}", 0.0, small),
        (f"{small:g} <= s <= {one:g}", small, one),
        (f"s >= {large:g}", large, np.inf),
    ]


def tracks_records(evidence, tables, *, setting: str, inputs_per_seed: int) -> list:
    """Section 2.6: ``ch2-tracks`` per regime of ``s`` and ``ch2-beats-linear`` for ``s <= 1``.

    The ``s <= 0.3`` record is the control ``ch2-tracks-small-s`` (the null model passes there too).
    Returns the records and, per ``ch2-beats-linear`` record, a line with the two median errors.
    """
    out = []
    for regime, lo, hi in _regimes():
        closed_err = claims.regime_medians(tables, "err_real", lo=lo, hi=hi)
        measured = {"inputs_per_seed": inputs_per_seed}
        # s <= 0.3: the null model passes too, so the record is a control (claims.TRACKS_SMALL_S)
        spec = claims.TRACKS_SMALL_S if hi <= claims.S_SMALL else claims.TRACKS
        out.append(evidence.claim(spec, closed_err, setting=setting, regime=regime, measured=measured))
        if hi <= claims.S_ONE:
            linear_err = claims.regime_medians(tables, "err_linear", lo=lo, hi=hi)
            ratio = np.array(closed_err) / np.array(linear_err)
            measured = {"linear_error": linear_err}
            out.append(evidence.claim(claims.BEATS_LINEAR, ratio, setting=setting, regime=regime, measured=measured))
            out.append(
                f"    (median error: closed form {np.mean(closed_err):.2%}, m alpha g {np.mean(linear_err):.2%})"
            )
    return out


#: Bins of s for the decomposition table of section 2.7.
DECOMPOSITION_BINS = ((0.0, 0.3), (0.3, 0.5), (0.5, 2.0), (2.0, 10.0), (10.0, np.inf))
#: Columns of the decomposition (``eq-ch2-decomposition``): the sizes, then the causes.
DECOMPOSITION_SIZES = {
    "closed_over_real": "closed/real",
    "closed_over_frozen": "closed/frozen",
    "frozen_over_real": "frozen/real",
    "softmax_term": "softmax term",
    "gate_term": "gate term",
}
DECOMPOSITION_CAUSES = {
    "cos_terms": "cos(terms)",
    "flips": "flips",
    "lam_frozen_path": "lam path",
    "lam_frozen": "lam end frozen",
    "lam_real": "lam end real",
}


def decomposition_rows(tables, columns: dict, bins=DECOMPOSITION_BINS) -> list[dict]:
    """Section 2.7 (``eq-ch2-decomposition``): per bin of ``s``, the mean over seeds of each seed's
    median of every column of ``columns`` (a dict ``table key -> header``).
    The cosine of the two terms is taken only over the rows with a nonzero gate term (it is
    undefined elsewhere); a bin without such rows prints ``n/a``."""
    tables = [dict(t) for t in claims.check_tables(tables, {"s", "m"})]
    for t in tables:
        if "cos_terms" in t and "gate_term" in t:
            t["cos_terms"] = np.where(np.asarray(t["gate_term"]) > 0, t["cos_terms"], np.nan)
    rows = []
    for lo, hi in bins:
        row = {"s in": f"[{lo:g}, {hi:g}]"}
        for key, header in columns.items():
            try:
                row[header] = float(np.mean(claims.regime_medians(tables, key, lo=lo, hi=hi)))
            except ValueError:
                if key != "cos_terms":
                    raise
                row[header] = "n/a"
        rows.append(row)
    return rows


def breakdown_records(evidence, tables, *, setting: str) -> list:
    """Section 2.7: ``ch2-undershoot``, ``ch2-curvature-grows`` and ``ch2-gates-minor`` near ``s = 1``
    (and ``ch2-gates-minor`` for 2 <= s <= 10), the control ``ch2-undershoot-follows-curvature``, and a
    line with the same Spearman rho against the end-point curvature."""
    near = {"lo": claims.S_NEAR[0], "hi": claims.S_NEAR[1]}
    mid = {"lo": claims.S_NEAR[1], "hi": claims.S_HUGE}
    r_near = f"{near['lo']:g} <= s <= {near['hi']:g}"
    r_mid = f"{mid['lo']:g} <= s <= {mid['hi']:g}"
    out = []
    for spec, key, where, regime in [
        (claims.UNDERSHOOT, "closed_over_real", near, r_near),
        (claims.CURVATURE_GROWS, "lam_frozen_path", near, r_near),
        (claims.GATES_MINOR, "gate_over_softmax", near, r_near),
        (claims.GATES_MINOR, "gate_over_softmax", mid, r_mid),
    ]:
        values = claims.regime_medians(tables, key, **where)
        out.append(evidence.claim(spec, values, setting=setting, regime=regime))

    def undershoot_per_s(t):
        return np.log(t["closed_over_frozen"]) / t["s"]

    rho = claims.regime_spearman(tables, "lam_frozen_path", undershoot_per_s, **near)
    spec = claims.UNDERSHOOT_FOLLOWS_CURVATURE
    out.append(evidence.claim(spec, rho, setting=setting, regime=r_near))
    rho_end = claims.regime_spearman(tables, "lam_frozen", undershoot_per_s, **near)
    out.append("    (the same with lambda_max at the end point only: rho per seed " + _join(rho_end, "{:.2f}") + ")")
    return out


def _check_tilts(tilts) -> list:
    tilts = list(tilts)
    for i, t in enumerate(tilts):
        if not isinstance(t, dict) or not {"eigvals", "eigvecs", "g", "a"} <= set(t):
            raise ValueError(f"tilts[{i}] must be a dict of theory.gradient_tilt (eigvals, eigvecs, g, a, ...).")
    return tilts


def _join(values, fmt: str = "{:.3f}") -> str:
    return ", ".join(fmt.format(v) for v in values)


# ----------------------------------------------------------------------------- 2.9 the gradient's tilt


def tilt_error(models, x: torch.Tensor, y: torch.Tensor, tilts) -> float:
    """Identity ``ch2-gradient-tilt`` (``lem-ch2-tilt``): the largest relative error of ``F s`` vs
    ``p - e_y``, of ``G^T s = V S a`` vs autograd's gradient and of ``S^2`` vs ``input_hessian_eig``."""
    worst = 0.0
    for model, tilt in zip(models, _check_tilts(tilts)):
        g_auto = input_gradient(model, x, y).reshape(len(x), -1)
        lam_auto = input_hessian_eig(model, x, y)[0]
        g_tilt = torch.einsum("bnc,bc->bn", tilt["eigvecs"], tilt["eigvals"].sqrt() * tilt["a"])
        err_g = float(_rel_err(g_tilt, g_auto).max())
        err_l = float(((tilt["eigvals"] - lam_auto).abs().max(dim=1).values / lam_auto[:, 0]).max())
        worst = max(worst, float(tilt["fit_error"].max()), err_g, err_l)
    return worst


def tilt_rows(seeds, tilts, *, spread: float = claims.SPREAD_GRADIENT) -> list[dict]:
    """Section 2.9, per seed: median ``E_1(g)``, the untilted share ``a_1^2/|a|^2``, median
    ``lambda_2/lambda_1``, the number of inputs with ``E_1(g) < spread``, and the median factor
    ``(1 - E_1(g)) / (1 - a_1^2/|a|^2)`` by which the tilt shrinks the share off ``v_1`` (inputs where
    both shares are 1 to round-off, 0/0, are left out of that median)."""
    rows = []
    for seed, tilt in zip(seeds, _check_tilts(tilts)):
        e1 = theory.energy_on_top(tilt["eigvecs"], tilt["g"], 1)
        untilted = tilt["a"][:, 0] ** 2 / (tilt["a"] ** 2).sum(1)
        rows.append(
            {
                "seed": seed,
                "E_1(g)": float(e1.median()),
                "untilted": float(untilted.median()),
                "lam_2/lam_1": float((tilt["eigvals"][:, 1] / tilt["eigvals"][:, 0]).median()),
                f"E_1(g)<{spread:g}": int((e1 < spread).sum()),
                "tilted/untilted off": float(((1 - e1) / (1 - untilted)).nanmedian()),
            }
        )
    return rows


# ----------------------------------------------------------------------------- 2.10 strengthening


def _closed_line(tables, where) -> str:
    value = np.mean(claims.regime_medians(tables, "offtop_closed", **where))
    return f"    closed form's own off-top ratio, same inputs and grid: {value:.3g}"


def strengthening_records(evidence, tables, *, setting: str, eps: float, box: bool, ball_tables=None) -> list:
    """Section 2.10: ``ch2-strengthens`` for gradient ascent on the validity tables.

    Unprojected at ``0.3 <= s <= 1`` and ``s >= 3``; projected as the tables were (``box``:
    onto the eps-ball and the box, regime "projected (eps, box)"; else onto the ball only);
    ``ball_tables`` (``theory.projected_table`` with the ball only, per seed) adds the
    ball-only regime where the tables' projection had the box. Each record is followed by the
    closed form's own ratio on the same inputs and grid. Without the box, the projected record is
    kept only if the projection acts on some row of the regime (``projection_active``).
    """
    lo_s, hi_s = claims.S_STRENGTH
    one, big = {"lo": lo_s, "hi": hi_s}, {"lo": claims.S_LARGE}
    rs = f"{lo_s:g} <= s <= {hi_s:g}"
    ball = f"gradient ascent, projected on the eps = {eps:g} ball only, {rs}"
    proj = f"gradient ascent, projected (eps = {eps:g}, box), {rs}" if box else ball
    out = []
    rows = [
        ("offtop_real", one, f"gradient ascent, unprojected, {rs}"),
        ("offtop_real", big, f"gradient ascent, unprojected, s >= {claims.S_LARGE:g}"),
        ("offtop_proj", one, proj),
    ]
    if not box:  # the ball alone: recorded only if the projection acts in the regime
        active = projection_active(tables, **one)
        out.append(f"rows of {rs} (m >= 2) where the ball projection acts: {active:.1%}")
        if active == 0:
            rows = rows[:2]
            out.append(f"[not testable ({proj})] projection inactive: it equals the unprojected record")
    for key, where, regime in rows:
        values = claims.regime_medians(tables, key, **where)
        out.append(evidence.claim(claims.STRENGTHENS, values, setting=setting, regime=regime))
        out.append(_closed_line(tables, where))
    if ball_tables is not None:
        values = claims.regime_medians(ball_tables, "offtop", **one)
        out.append(evidence.claim(claims.STRENGTHENS, values, setting=setting, regime=ball))
        out.append(_closed_line(tables, one))
    pooled = [np.mean(claims.regime_medians(tables, k, hi=hi_s)) for k in ("offtop_real", "offtop_closed")]
    out.append(f"pooled s <= {hi_s:g} (not recorded): real {pooled[0]:.3f}, closed form {pooled[1]:.3f}")
    return out


def projection_active(tables, *, lo: float = 0.0, hi: float = float("inf")) -> float:
    """Section 2.10: the fraction of the rows with ``lo <= s <= hi`` (``m >= 2``, pooled over seeds)
    where the projected attack's off-top ratio differs from the unprojected one (``offtop_proj`` vs
    ``offtop_real``, relative difference above 1e-9): 0 means the projection never acted. Valid for
    a projection onto the ball alone, whose first step ``alpha g`` is inside the ball at these ``s``."""
    tables = claims.check_tables(tables, {"s", "m", "offtop_proj", "offtop_real"})
    acted, total = 0, 0
    for t in tables:
        sel = claims.in_regime(t["s"], lo, hi) & (np.asarray(t["m"]) >= 2)
        proj, real = np.asarray(t["offtop_proj"])[sel], np.asarray(t["offtop_real"])[sel]
        acted += int((~np.isclose(proj, real, rtol=1e-9, atol=0)).sum())
        total += int(sel.sum())
    if total == 0:
        raise ValueError(f"no row with {lo} <= s <= {hi} and m >= 2.")
    return acted / total


def spread_records(evidence, models, x, y, spread_idx, *, setting: str, step_sizes, steps, max_inputs=None):
    """Section 2.10: ``ch2-strengthens`` (unprojected, ``0.3 <= s <= 1``) on the inputs whose gradient
    is not concentrated (``spread_idx[i]``: indices with ``E_1(g) < 0.5`` for seed ``i``, at most
    ``max_inputs`` of them). Returns ``(items, tables)``; ``items`` is empty of records (a line says
    why) when some seed has fewer than 3 such inputs."""
    idx = [i if max_inputs is None else i[:max_inputs] for i in spread_idx]
    counts = [len(i) for i in idx]
    if min(counts) < 3:
        return [f"inputs with E_1(g) < {claims.SPREAD_GRADIENT:g} per seed: {counts}; too few, not recorded"], None
    tables = [theory.validity_table(m, x[i], y[i], step_sizes=step_sizes, steps=steps) for m, i in zip(models, idx)]
    lo_s, hi_s = claims.S_STRENGTH
    one = {"lo": lo_s, "hi": hi_s}
    regime = f"gradient ascent, unprojected, inputs with E_1(g) < {claims.SPREAD_GRADIENT:g}, {lo_s:g} <= s <= {hi_s:g}"
    values = claims.regime_medians(tables, "offtop_real", **one)
    measured = {"inputs_per_seed": counts}
    spec = claims.STRENGTHENS_SPREAD  # a control: the closed form predicts no effect on these inputs
    out = [evidence.claim(spec, values, setting=setting, regime=regime, measured=measured)]
    out.append(_closed_line(tables, one))
    e1 = [np.mean(claims.regime_medians(tables, k, **one)) for k in ("E1_g", "E1_real")]
    out.append(f"    on these inputs: median E_1(g) {e1[0]:.3f} -> E_1(delta_m) {e1[1]:.3f}")
    return out, tables


def pgd_records(evidence, models, x, y, tilts, setting) -> tuple[list, dict]:
    """Section 2.10: ``ch2-strengthens`` for L-inf PGD-10 (``setting.attack("pgd", steps=10)``)
    against FGSM (one step of eps, the setting's box) at every eps of ``setting.eps_sweep``.

    ``tilts``: ``theory.gradient_tilt`` per model (its eigenvectors and ``g``). Returns the items
    and ``{eps: (vs FGSM per seed, vs g per seed)}`` for the figure.
    """
    out, rows = [], {}
    eigvecs = [t["eigvecs"] for t in tilts]
    grads = [t["g"] for t in tilts]

    def med(ds, bases):
        flat = [d.reshape(len(d), -1) for d in ds]
        return [
            float(theory.offtop_ratio(V, d, b.reshape(len(b), -1)).median()) for V, d, b in zip(eigvecs, flat, bases)
        ]

    def e1(ds):
        return np.mean([float(theory.energy_on_top(V, d.reshape(len(d), -1), 1).median()) for V, d in zip(eigvecs, ds)])

    for eps in setting.eps_sweep:
        pgd = [setting.attack("pgd", eps=eps, steps=10)(m, x, y) for m in models]
        one_step = [fgsm(m, x, y, eps=eps, clamp=setting.clamp) for m in models]
        first = [setting.attack("pgd", eps=eps, steps=1, step_size=0.25 * eps)(m, x, y) for m in models]
        vs_fgsm, vs_g = med(pgd, one_step), med(pgd, grads)
        rows[eps] = (vs_fgsm, vs_g)
        measured = {"pgd_vs_g": vs_g, "pgd_vs_its_first_step": med(pgd, first)}
        regime = f"L-inf PGD-10 vs FGSM, eps = {eps:g}"
        spec = claims.PGD_VS_FGSM  # a control: the closed form says nothing about sign steps
        out.append(evidence.claim(spec, vs_fgsm, setting=setting.name, regime=regime, measured=measured))
        out.append(
            f"    vs PGD's own first step (0.25 eps): {np.mean(measured['pgd_vs_its_first_step']):.3f}; "
            f"vs g: {np.mean(vs_g):.1f}; median E_1: PGD {e1(pgd):.3f}, FGSM {e1(one_step):.3f} "
            f"(a random direction: 1/n = {1 / x[0].numel():.3f})"
        )
    return out, rows


def trend_records(evidence, tables, *, setting: str, steps) -> list:
    """Section 2.10: ``ch2-exponential-in-m`` at each step size of ``claims.TREND_ALPHAS``, on all
    inputs and on the fixed set whose ``s`` stays ``<= 1`` up to the largest ``m``; with the share of
    such inputs and the medians per ``m`` (mean over seeds) of the real attack and the closed form.
    A regime with no input (or no slope) is reported as not measured instead of recorded, and one
    where the closed form's own off-top ratio at the largest ``m`` is above ``claims.MIN_PREDICTED``
    (the model predicts less than the minimal effect) as not testable."""
    steps = check_int_list("steps", steps, min_value=1)
    tables = claims.check_tables(tables, {"s", "m", "alpha", "offtop_real", "offtop_closed"})
    m_max = max(steps)
    out = []
    for alpha in claims.TREND_ALPHAS:
        at_end = [np.isclose(t["alpha"], alpha) & (t["m"] == m_max) for t in tables]
        shares = [np.mean(t["s"][sel] <= claims.S_ONE) for t, sel in zip(tables, at_end) if sel.any()]
        stay = f"{np.mean(shares):.0%}" if shares else "no input"
        out.append(f"alpha = {alpha:g}: share of inputs with s <= 1 at m = {m_max}: {stay}")
        for max_s, who in [(None, "all inputs"), (claims.S_ONE, f"inputs with s <= 1 at m = {m_max}")]:
            regime = f"alpha = {alpha:g}, m = 2..{m_max}, {who}"
            try:
                per_seed = claims.m_slope_ratios(tables, alpha, max_s=max_s)
            except ValueError as err:
                out.append(f"[not measured ({regime})] {err}")
                continue
            meds = {
                key: np.mean([claims.m_trend(t, key, alpha, max_s=max_s)[1] for t in tables], axis=0)
                for key in ("offtop_real", "offtop_closed")
            }
            if meds["offtop_closed"][-1] > claims.MIN_PREDICTED:
                out.append(
                    f"[not testable ({regime})] the closed form's own off-top ratio at m = {m_max} is "
                    f"{meds['offtop_closed'][-1]:.3f} > {claims.MIN_PREDICTED:g}: it predicts less than the "
                    "minimal effect"
                )
            else:
                out.append(evidence.claim(claims.EXPONENTIAL_IN_M, per_seed, setting=setting, regime=regime))
            for key, values in meds.items():
                out.append(f"    {key:>13}: {_join(values)}  (m = {', '.join(map(str, steps[1:]))})")
    return out


# ----------------------------------------------------------------------------- 2.8 two logits


def two_class(x: torch.Tensor, y: torch.Tensor, *, classes=(3, 8)) -> tuple[torch.Tensor, torch.Tensor]:
    """Section 2.8: the inputs of two classes, relabelled 0 (``classes[0]``) and 1 (``classes[1]``)."""
    a, b = check_int_list("classes", classes)
    if a == b:
        raise ValueError(f"classes must be two different labels, got {classes!r}.")
    keep = (y == a) | (y == b)
    return x[keep], (y[keep] == b).long()


def margin_geometry(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict:
    """Section 2.8 (``eq-ch2-margin-ode``), for a two-logit ReLU network: the margin
    ``u = z_y - z_other``, its input gradient ``w`` in each input's region, ``k = |w|^2``, the top
    Hessian eigenvalue ``lam`` and its largest relative deviation from ``k sigma(u) sigma(-u)``."""
    with torch.no_grad():
        z = model(x)
    if z.shape[1] != 2:
        raise ValueError(f"margin_geometry needs a two-logit model, got {z.shape[1]} logits.")
    u = (z.gather(1, y[:, None]) - z.gather(1, 1 - y[:, None])).squeeze(1)
    jac = torch.func.vmap(torch.func.jacrev(lambda v: model(v[None])[0]))(x).detach()
    w = (jac[:, 0] - jac[:, 1]) * (1 - 2 * y.to(jac.dtype))[:, None]
    k = (w * w).sum(1)
    lam = input_hessian_eig(model, x, y)[0][:, 0]
    dev = float(((lam - k * torch.sigmoid(u) * torch.sigmoid(-u)).abs() / lam).max())
    return {"u": u, "w": w, "k": k, "lam": lam, "lam_error": dev}


def lambert_errors(model, x, y, geometry: dict, *, t_end: float, counts, fractions=(0.25, 0.5, 0.75, 1.0)):
    """Section 2.8 (identity ``ch2-lambert-flow``): for each step count ``n`` of ``counts``, the
    frozen-gate attack with ``alpha = t_end / n`` against the exact flow ``eq-ch2-lambert``
    (``theory.two_logit_flow``): the max over inputs and the times ``fractions * t_end`` of the
    relative error of the margin change. Returns a list of errors, one per count."""
    counts = check_int_list("counts", counts, min_value=1)
    frozen = FrozenGates(model, x)
    u, w = geometry["u"], geometry["w"]
    errors = []
    for n in counts:
        record = [int(round(f * n)) for f in fractions]
        path = gradient_ascent_path(frozen, x, y, step_size=t_end / n, record=record)
        worst = 0.0
        for frac, r in zip(fractions, record):
            _, u_exact = theory.two_logit_flow(model, x, y, t=float(frac * t_end))
            u_attack = u + (w * path[r]).sum(1)  # frozen gates: the margin is affine in delta
            worst = max(worst, float(((u_attack - u_exact).abs() / (u_exact - u).abs()).max()))
        errors.append(worst)
    return errors


# ----------------------------------------------------------------------------- 2.12 the two settings


def _regime_key(regime: str, sweep) -> str:
    """A regime with its budget replaced by its place in the setting's sweep (eps #i)."""

    def sub(match):
        value = float(match.group(1))
        for i, e in enumerate(sweep):
            if np.isclose(value, e):
                return f"eps #{i}"
        return match.group(0)

    return re.sub(r"eps = ([0-9.]+)", sub, regime)


#: Shorter words for the regimes in the side-by-side tables of section 2.11 (the records keep theirs).
SHORT_REGIME = (
    ("gradient ascent, ", "ascent, "),
    ("L-inf PGD-10 vs FGSM", "PGD-10 vs FGSM"),
    ("projected on the ", "projected, "),
    (" ball only", " ball"),
    ("inputs with ", ""),
)


def _short(regime: str) -> str:
    for old, new in SHORT_REGIME:
        regime = regime.replace(old, new)
    return regime


def comparison_rows(records, sweeps: dict, *, details: bool = False) -> list[dict]:
    """Section 2.11: one row per (claim, regime) with the outcome in each setting of ``sweeps``
    (``{setting name: eps sweep}``); budgets are matched by their place in each sweep, and the
    regime column names them as ``eps = a | b`` (words shortened by ``SHORT_REGIME``). A
    missing record reads "not measured". ``details``: each outcome cell is the record itself."""
    records = check_records(records)
    if not isinstance(sweeps, dict) or not sweeps:
        raise TypeError("sweeps must be a dict {setting name: eps sweep}, e.g. {'digits-mlp': (0.05, 0.1)}.")
    names = list(sweeps)
    table: dict = {}
    labels: dict = {}
    for rec in records:
        if rec.kind != "claim" or rec.setting not in sweeps:
            continue
        key = (rec.name, _regime_key(rec.regime, sweeps[rec.setting]))
        table.setdefault(key, {})[rec.setting] = rec if details else rec.outcome
        labels.setdefault(key, key[1])
    rows = []
    for (name, regime), outcomes in table.items():
        label = re.sub(
            r"eps #(\d)", lambda mt: "eps = " + " | ".join(f"{sweeps[s][int(mt.group(1))]:g}" for s in names), regime
        )
        row = {"claim": name.removeprefix("ch2-"), "regime": _short(label)}
        row.update({s: outcomes.get(s, "not measured") for s in names})
        rows.append(row)
    return rows


# ----------------------------------------------------------------------------- figures


def plot_validity_map(tables, edges):
    """Figure of section 2.6: per seed, the median per bin of ``s`` of the closed form's relative
    error against the real and the frozen-gate attack (left) and of the ratios of norms (right)."""
    import matplotlib.pyplot as plt

    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 3.8), sharex=True)
    for key, label, col, ax in [
        ("err_real", "real attack", "C0", ax0),
        ("err_frozen", "gates frozen", "C1", ax0),
        ("closed_over_real", "|closed| / |real|", "C2", ax1),
        ("closed_over_frozen", "|closed| / |frozen|", "C1", ax1),
    ]:
        for i, t in enumerate(tables):
            ctr, med, _, _ = stats.binned_median(t["s"], t[key], edges)
            ax.loglog(ctr, med, "o-", color=col, alpha=0.5, ms=3, label=label if i == 0 else None)
    for level in (0.1, 1.0):
        ax0.axhline(level, color="gray", lw=0.8, ls=":")
    ax1.axhline(1.0, color="gray", lw=0.8, ls=":")
    ax0.set(ylim=(1e-12, 1e4), xlabel=r"$s=\alpha m\lambda_{\max}$", ylabel="relative error of the closed form")
    ax1.set(ylim=(0.1, 1e4), xlabel=r"$s=\alpha m\lambda_{\max}$", ylabel="ratio of norms")
    ax0.legend()
    ax1.legend()
    return fig


def plot_strengthening(tables, spread_tables, pgd_rows, *, edges, steps, alphas, xlabel_eps):
    """Figure of section 2.10: the off-top ratio of gradient ascent against ``g`` per bin of ``s``
    (left), L-inf PGD-10 against FGSM and ``g`` per budget (middle), and at fixed step size
    against ``m`` (right; real attack solid, closed form dashed)."""
    import matplotlib.pyplot as plt

    fig, (ax0, ax1, ax2) = plt.subplots(1, 3, figsize=(14, 3.6))
    series = [("offtop_real", tables, "real, all inputs", "C0"), ("offtop_closed", tables, "closed form", "C2")]
    if spread_tables is not None:
        series.append(("offtop_real", spread_tables, "real, E_1(g) < 0.5", "C3"))
    for key, tabs, label, col in series:
        for i, t in enumerate(tabs):
            sel = t["m"] >= 2
            ctr, med, _, _ = stats.binned_median(t["s"][sel], t[key][sel], edges)
            ax0.loglog(ctr, med, "o-", color=col, alpha=0.5, ms=3, label=label if i == 0 else None)
    ax0.set(
        ylim=(1e-3, 1e3), xlabel=r"$s=\alpha m\lambda_{\max}$", ylabel="off-top ratio vs g", title="Gradient ascent"
    )
    budgets = list(pgd_rows)
    for j, (label, col) in enumerate([("PGD vs FGSM", "C5"), ("PGD vs g", "C7")]):
        for eps in budgets:
            vals = pgd_rows[eps][j]
            ax1.plot([eps] * len(vals), vals, "o", color=col, alpha=0.6, label=label if eps == budgets[0] else None)
    ax1.set(yscale="log", xlabel=xlabel_eps, ylabel="off-top ratio", title=r"L$_\infty$ PGD-10")
    for i, alpha in enumerate(alphas):
        for key, style in [("offtop_real", "o-"), ("offtop_closed", "--")]:
            meds = np.array([claims.m_trend(t, key, alpha)[1] for t in tables])
            label = f"alpha {alpha:g}" + (" (closed)" if style == "--" else "")
            ax2.errorbar(steps[1:], meds.mean(0), yerr=meds.std(0), fmt=style, color=f"C{i}", ms=3, label=label)
    ax2.set(xscale="log", yscale="log", xlabel="steps m", ylabel="off-top ratio vs g", title="At fixed step size")
    ax2.set_xticks(steps[1:], [str(v) for v in steps[1:]], minor=False)
    ax2.xaxis.set_minor_locator(plt.NullLocator())
    for ax in (ax0, ax1, ax2):
        ax.axhline(1, color="gray", lw=0.8, ls=":")
        ax.legend(fontsize=7)
    return fig


def plot_perturbations(model, x: torch.Tensor, y: torch.Tensor, *, step_size: float, steps: int, shape=None):
    """Figure of section 2.10 (and 2.12): for one input, the gradient ``g``, the top eigenvector
    ``v_1`` of the input Hessian (sign chosen so that ``v_1^T g > 0``) and the ``m``-step
    perturbation ``delta_m`` of plain gradient ascent, each scaled to unit max-norm.

    ``shape`` (h, w): drawn as images with a diverging colour map centred at 0; ``None``: as
    curves over the input's positions. ``x`` (1, n), ``y`` (1,). Returns the figure and the
    shares ``E_1`` of ``g`` and ``delta_m``.
    """
    import matplotlib.pyplot as plt

    steps = check_positive("steps", steps, integer=True)
    step_size = check_positive("step_size", step_size)
    eigvals, eigvecs = input_hessian_eig(model, x, y)
    g = input_gradient(model, x, y).reshape(1, -1)
    v1 = eigvecs[0, :, 0] * torch.sign((eigvecs[0, :, 0] * g[0]).sum())
    delta = gradient_ascent(model, x, y, step_size=step_size, steps=steps).reshape(1, -1)
    shares = {
        "E_1(g)": float(theory.energy_on_top(eigvecs, g, 1)[0]),
        "E_1(delta_m)": float(theory.energy_on_top(eigvecs, delta, 1)[0]),
    }
    panels = [("gradient g", g[0]), (r"top eigenvector $v_1$", v1), (rf"$\delta_m$, m = {steps}", delta[0])]
    if shape is not None:
        fig, axes = plt.subplots(1, 3, figsize=(9, 3.2))
        for ax, (title, v) in zip(axes, panels):
            v = (v / v.abs().max()).detach().cpu().numpy().reshape(shape)
            im = ax.imshow(v, cmap="RdBu_r", vmin=-1, vmax=1)
            ax.set(title=title, xticks=[], yticks=[])
        fig.colorbar(im, ax=list(axes), shrink=0.8)
    else:
        fig, ax = plt.subplots(figsize=(8, 3.2))
        for (title, v), style in zip(panels, ["-", "--", ":"]):
            ax.plot((v / v.abs().max()).detach().cpu().numpy(), style, label=title, lw=1.5)
        ax.axhline(0, color="gray", lw=0.8)
        ax.set(xlabel="position", ylabel="value / max |value|")
        ax.legend(fontsize=8)
    return fig, shares


def plot_two_logit(model, x, y, geometry: dict, *, t_end: float, n_steps: int, index: int):
    """Figure of section 2.8: for input ``index``, the margin under the exact flow ``eq-ch2-lambert``,
    the quadratic model and the real attack with free gates (left), and the margin's speed
    relative to ``k`` (right)."""
    import matplotlib.pyplot as plt

    u0, k0, lam0 = (float(geometry[key][index]) for key in ("u", "k", "lam"))
    tt = np.linspace(0, t_end, 200)
    u_exact = theory.logit_margin_flow(u0, k0, tt)
    u_quad = u0 - (1 + np.exp(-u0)) * np.expm1(lam0 * tt)
    record = list(range(0, n_steps + 1, n_steps // 20))
    path = gradient_ascent_path(model, x, y, step_size=t_end / n_steps, record=record)
    with torch.no_grad():
        u_real = []
        for r in record:
            z = model(x[index : index + 1] + path[r][index : index + 1])[0]
            yi = int(y[index])
            u_real.append(float(z[yi] - z[1 - yi]))
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 3.6))
    ax0.plot(tt, u_exact, label="exact (Lambert W)")
    ax0.plot(tt, u_quad, "--", label="quadratic model")
    ax0.plot(np.array(record) * t_end / n_steps, u_real, "k.", label="real attack (gates free)")
    ax0.plot(tt, u0 + np.exp(u0) - k0 * tt, ":", color="gray", label="asymptote $C(t)$")
    ax0.set(ylim=(u_exact.min() - 1, u0 + 1), xlabel="t = m alpha", ylabel="margin u", title="The margin under attack")
    ax0.legend(fontsize=8)
    ax1.semilogy(tt, 1 / (1 + np.exp(u_exact)), label="exact")
    ax1.semilogy(tt, np.exp(lam0 * tt) / (1 + np.exp(u0)), "--", label="quadratic model")
    ax1.axhline(1.0, color="gray", lw=0.8, ls=":")
    ax1.set(xlabel="t = m alpha", ylabel=r"speed $|\dot u|/k$", title="Exponential, then linear")
    ax1.legend(fontsize=8)
    return fig


def differences(records, sweeps: dict) -> list[tuple[str, list[dict]]]:
    """Section 2.11: the (claim, regime) pairs measured in every setting of ``sweeps`` whose outcomes
    differ, each as ``(title, rows)`` with one row per setting: outcome, estimate, 95% interval and
    the smallest and largest per-seed value."""
    out = []
    for row in comparison_rows(records, sweeps, details=True):
        recs = [row[name] for name in sweeps]
        if any(isinstance(r, str) for r in recs) or len({r.outcome for r in recs}) == 1:
            continue
        rows = [
            {
                "setting": r.setting,
                "outcome": r.outcome,
                "estimate": r.estimate,
                "95% CI": tuple(r.ci),
                "seed min": min(r.per_seed),
                "seed max": max(r.per_seed),
            }
            for r in recs
        ]
        out.append((f"{row['claim']}: {row['regime']}", rows))
    return out


def accuracy_rows(seeds, models, x: torch.Tensor, y: torch.Tensor) -> list[dict]:
    """Sections 2.5 and 2.11, per seed: clean test accuracy and the median ``1 - p_y`` (the
    confidence that sets the input Hessian's size, ``eq-lambda-bound``) and the median ratio of the
    two largest rival (non-label) probabilities ``p_r2/p_r1``: near 0, ``A`` and ``H`` are nearly
    rank 1 and ``g`` lies on ``v_1``."""
    from ..training import accuracy

    rows = []
    for seed, model in zip(seeds, models):
        with torch.no_grad():
            p_y = torch.softmax(model(x), dim=1).gather(1, y[:, None]).squeeze(1)
            rivals = torch.softmax(model(x), dim=1).scatter(1, y[:, None], 0.0)
        top2 = rivals.topk(2, dim=1).values
        acc = accuracy(model.eval(), x, y)
        rows.append(
            {
                "seed": seed,
                "test accuracy": acc,
                "median 1 - p_y": float((1 - p_y).median()),
                "median p_r2/p_r1": float((top2[:, 1] / top2[:, 0]).median()),
            }
        )
    return rows


def defined_inputs(tilts, *, tol: float = 1e-10) -> torch.Tensor:
    """Section 2.11: indices of the inputs on which the off-top ratio against ``g`` is defined for
    every seed, ``1 - E_1(g) > tol`` (``tilts``: ``theory.gradient_tilt`` per seed, on the same inputs).

    A gradient that lies on ``v_1`` to round-off has nothing left to strengthen and makes
    ``theory.offtop_ratio`` undefined; MNIST-1D's CNN, confident on many signals, has such inputs.
    """
    tilts = _check_tilts(tilts)
    tol = check_positive("tol", tol)
    if not tilts:
        raise ValueError("tilts must hold at least one seed's gradient_tilt.")
    ok = torch.ones(len(tilts[0]["g"]), dtype=torch.bool, device=tilts[0]["g"].device)
    for t in tilts:
        if len(t["g"]) != len(ok):
            raise ValueError("every seed's gradient_tilt must be taken on the same inputs.")
        ok &= (1 - theory.energy_on_top(t["eigvecs"], t["g"], 1)) > tol
    return torch.nonzero(ok).squeeze(1)
