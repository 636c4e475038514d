"""Chapter 3's pipelines: do unconfident samples take over? (``book/ch3_unconfident_samples.ipynb``).

The notebook's loops over networks, groups and attacks, moved out of its cells. Every
function takes a list of trained networks (one per seed) and the inputs of one setting
(digits: (N, 64) images; MNIST-1D: (N, 1, 40) signals), so the chapter runs the *same*
code on both settings. Sections and equations of the chapter:

- ``sec-ch3-across`` (``thm-ch3-confidence``, ``eq-ch3-trace``, ``eq-ch3-residual``):
  :func:`confidence_stats`, :func:`correlation_rows`, :func:`decile_rho_rows`,
  :func:`group_median_rows`, :func:`plot_groups`;
- ``sec-ch3-growth`` (``prop-ch3-exponential``, ``eq-ch3-term-sum``, ``eq-ch3-rate``,
  ``eq-ch3-asymptote``): :func:`growth_curves`, :func:`closed_form_error`,
  :func:`growth_slopes`, :func:`exponent_rows`, :func:`path_condition_rows`,
  :func:`plot_growth`;
- ``sec-ch3-steps``: :func:`step_attacks`, :func:`steps_log_ratios`, :func:`steps_rows`,
  :func:`steps_shift`, :func:`grad_inf_medians`, :func:`projected_sweep`;
- ``sec-ch3-training`` (``eq-ch3-share``): :func:`training_attacks`,
  :func:`train_checkpoints`, :func:`checkpoint_shares`, :func:`accuracy_rows`,
  :func:`share_rows`, :func:`shares_identity_error`, :func:`log_r_rows`,
  :func:`log_r_shift`, :func:`plot_shares`.

:func:`flat_view` is a documented work-around: ``influence.attack_terms`` and
``influence.log_ratio_curves`` hand the closed-form perturbation, flattened to (B, n), to
functions that require the shape of ``x``; on (N, 1, 40) signals they are run on the same
network behind an ``nn.Unflatten`` layer, with flattened inputs (the same function of the
same numbers).
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from ..attacks import fgsm, gradient_ascent, random_direction
from ..curvature import input_gradient, input_hessian, input_hessian_eig
from ..influence import (
    adversarial_term_norm,
    asymptotic_slope,
    attack_terms,
    confidence_groups,
    finite_m_slope,
    gradient_shares,
    group_log_ratio,
    group_rate,
    influence_log_ratios,
    input_grad_norm,
    lambda_max,
    linearised_term,
    linearised_term_norm,
    per_sample_param_grads,
    training_shares,
)
from ..linear_regions import choice_pattern
from ..stats import rank_correlation, to_numpy
from ..theory import iterate_quadratic_attack, perturbation_closed_form
from ..training import accuracy, train_ensemble_snapshots
from ..validation import check_fraction, check_int_list, check_positive

__all__ = [
    "GROUPS",
    "STEP_LABELS",
    "accuracy_rows",
    "checkpoint_shares",
    "closed_form_error",
    "confidence_stats",
    "correlation_rows",
    "decile_rho_rows",
    "decile_span_rows",
    "exponent_rows",
    "control_shares",
    "flat_view",
    "gradient_identity_errors",
    "rate_records",
    "record_rows",
    "finetune_from",
    "grad_inf_medians",
    "group_median_rows",
    "growth_curves",
    "growth_slopes",
    "log_r_rows",
    "log_r_shift",
    "path_condition_rows",
    "plot_groups",
    "plot_growth",
    "plot_shares",
    "projected_sweep",
    "share_rows",
    "shares_identity_error",
    "side_by_side",
    "step_attacks",
    "steps_log_ratios",
    "steps_rows",
    "steps_shift",
    "train_checkpoints",
    "training_attacks",
]

#: Short labels of :func:`step_attacks`' three attacks, in its order, for tables.
STEP_LABELS = ("ascent, unprojected", "ascent, projected", "FGSM / PGD")
#: The three groups of ``sec-ch3-groups``, in the order the chapter prints them.
GROUPS = ("unconfident", "typical", "confidently wrong")


def _check_models(models) -> list[nn.Module]:
    if isinstance(models, nn.Module) or not isinstance(models, (list, tuple)) or not models:
        raise TypeError("models must be a non-empty list of trained networks (one per seed).")
    if not all(isinstance(m, nn.Module) for m in models):
        raise TypeError("models must be a non-empty list of torch.nn.Module (one per seed).")
    return list(models)


def _check_same_length(name: str, values, models) -> list:
    values = list(values)
    if len(values) != len(models):
        raise ValueError(f"{name} must hold one entry per network ({len(models)}), got {len(values)}.")
    return values


def _check_rows(name: str, values, keys, producer: str) -> list:
    """A non-empty list of dicts with ``keys``: the output of ``producer``."""
    ok = isinstance(values, (list, tuple)) and len(values) > 0
    ok = ok and all(isinstance(v, dict) and all(k in v for k in keys) for v in values)
    if not ok:
        raise TypeError(f"{name} must be the list that {producer} returns.")
    return list(values)


def _check_mapping(name: str, value, producer: str) -> dict:
    if not isinstance(value, dict) or not value:
        raise TypeError(f"{name} must be the dict that {producer} returns.")
    return value


def _check_setting(setting):
    if not all(hasattr(setting, a) for a in ("eps", "clamp", "attack", "name")):
        raise TypeError(
            f"setting must be an advnotes.settings.Setting (settings.get(name)), got {type(setting).__name__}."
        )
    return setting


def _mask(t) -> np.ndarray:
    """A boolean group mask as a NumPy bool array (via ``stats.to_numpy``)."""
    return to_numpy(t, name="mask").astype(bool)


def flat_view(model: nn.Module, x: torch.Tensor) -> tuple[nn.Module, torch.Tensor]:
    """The network on flattened inputs and the inputs flattened: ``(model', x')`` with ``model'(x') = model(x)``.

    For (N, n) inputs it returns ``(model, x)`` unchanged; otherwise
    ``nn.Sequential(nn.Unflatten(1, x.shape[1:]), model)`` in eval mode and
    ``x.reshape(N, -1)``. Chapter 3 (``sec-ch3-growth``) needs it on MNIST-1D because
    ``influence.attack_terms`` passes the flat closed-form ``delta_m`` of ``eq-ch3-term-sum``
    to functions that want ``x``'s shape.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    if not isinstance(x, torch.Tensor) or x.dim() < 2:
        raise ValueError(f"x must be a batch tensor (N, ...), got {getattr(x, 'shape', x)!r}.")
    if x.dim() == 2:
        return model, x
    return nn.Sequential(nn.Unflatten(1, tuple(x.shape[1:])), model).eval(), x.reshape(x.shape[0], -1)


def gradient_identity_errors(models, seeds, x: torch.Tensor, y: torch.Tensor, *, t: float = 1e-4) -> tuple:
    """``(err_vmap, err_jvp, steps)``: the identities ``ch3-vmap-loop`` and ``ch3-jvp-fd`` (``eq-ch3-first-order``).

    ``err_vmap``: largest relative error of ``influence.per_sample_param_grads`` (vmap over
    grad) against a loop of ``torch.autograd.grad`` calls, one per input. ``err_jvp``: largest
    ``|fd / 2t - K u| / |K u|`` of the jvp term ``K u`` (``influence.linearised_term``) against
    the central difference of the per-sample gradients along a random unit ``u`` (seeded by
    the network's seed), O(t^2). Both are exact only inside one linear region: where
    ``x +- t u`` of an input would switch a ReLU gate or a max-pool winner
    (``linear_regions.choice_pattern``; a wide network has gates that close to a kink), that
    input's step is divided by ten until it does not (at most six times), so the difference
    compares the same piece of the network; an input still crossing then keeps the last step,
    and its error shows in ``err_jvp``. ``steps``: the step used for each input and seed, a
    numpy array (seeds, inputs).
    """
    models = _check_models(models)
    seeds = _check_same_length("seeds", seeds, models)
    t = check_positive("t", t)
    err_vmap = err_jvp = 0.0
    steps = []
    for seed, model in zip(seeds, models):
        params = list(model.parameters())
        rows = []
        for i in range(len(x)):
            loss = torch.nn.functional.cross_entropy(model(x[i : i + 1]), y[i : i + 1])
            rows.append(torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, params)]))
        loop = torch.stack(rows)
        err_vmap = max(err_vmap, float((per_sample_param_grads(model, x, y) - loop).norm() / loop.norm()))
        u = random_direction(x, norm=1.0, generator=torch.Generator().manual_seed(seed))
        step = _same_region_steps(model, x, u, t).reshape((-1,) + (1,) * (x.dim() - 1))
        plus = per_sample_param_grads(model, x, y, delta=step * u)
        minus = per_sample_param_grads(model, x, y, delta=-step * u)
        ku = linearised_term(model, x, y, u)
        if not torch.allclose(ku.norm(dim=1), linearised_term_norm(model, x, y, u)):
            raise AssertionError("linearised_term and linearised_term_norm disagree")  # an invariant of the code
        fd = (plus - minus) / (2 * step.reshape(-1, 1))
        err_jvp = max(err_jvp, float((fd - ku).norm(dim=1).div(ku.norm(dim=1)).max()))
        steps.append(to_numpy(step.reshape(-1)))
    return err_vmap, err_jvp, np.stack(steps)


def _same_region_steps(model: nn.Module, x: torch.Tensor, u: torch.Tensor, t: float) -> torch.Tensor:
    """Per input, ``t`` divided by ten until ``x +- step u`` keep ``x``'s choices (at most six times)."""
    gates = choice_pattern(model, x)
    step = torch.full((x.shape[0],), t, dtype=x.dtype, device=x.device)
    for _ in range(6):
        shape = (-1,) + (1,) * (x.dim() - 1)
        same = [(choice_pattern(model, x + sign * step.reshape(shape) * u) == gates).all(1) for sign in (1, -1)]
        crossed = ~(same[0] & same[1])
        if not bool(crossed.any()):
            break
        step = torch.where(crossed, step / 10, step)
    return step


# ----------------------------------------------------------------------------- sec-ch3-across
def confidence_stats(models, x: torch.Tensor, y: torch.Tensor) -> list[dict]:
    """Per network, the per-input quantities of ``thm-ch3-confidence`` on the test inputs (``sec-ch3-across``).

    Keys: ``p_y``, ``grp`` (the three groups, ``influence.confidence_groups``), ``g`` = |g|,
    ``lam`` = lambda_max(H), ``resid`` = |p - e_y| (``eq-ch3-residual``), ``trA`` = 1 - |p|^2
    (``eq-ch3-trace``), ``gain`` = |g| / |p - e_y| and ``lamr`` = lambda_max / tr A (the parts
    the theorem does not fix); Spearman ``rho_<k><w>`` of p_y with ``k`` in g, lam (``w``:
    "" without the confidently wrong, ``_all`` all inputs, ``_dec`` the unconfident decile) and
    ``rho_gain_dec``, ``rho_lamr_dec``; the decades spanned (``span``, ``gain_span``: all but the
    confidently wrong; ``span_dec``: 1 - p_y and the gain in the decile); counts ``n_w``
    (confidently wrong), ``n_mis`` (misclassified in the decile), ``n_dec``.
    """
    models = _check_models(models)
    out = []
    for model in models:
        with torch.no_grad():
            p = torch.softmax(model(x), dim=1)
        grp = confidence_groups(p, y)
        p_y = p.gather(1, y[:, None]).squeeze(1)
        keep, dec = ~grp["confidently wrong"], grp["unconfident"]
        r = dict(p_y=p_y, grp=grp, g=input_grad_norm(model, x, y), lam=lambda_max(model, x, y))
        r["resid"] = (p - torch.nn.functional.one_hot(y, p.shape[1])).norm(dim=1)
        r["trA"] = 1 - (p**2).sum(1)
        r["gain"], r["lamr"] = r["g"] / r["resid"], r["lam"] / r["trA"]
        for k in ("g", "lam"):
            for w, mask in (("", keep), ("_all", torch.ones_like(keep)), ("_dec", dec)):
                r[f"rho_{k}{w}"] = rank_correlation(p_y[mask], r[k][mask])
        for k in ("gain", "lamr"):
            r[f"rho_{k}_dec"] = rank_correlation(p_y[dec], r[k][dec])

        def decades(v):
            v = v.log10()
            return float(v.max() - v.min())

        r["span_dec"] = [decades((1 - p_y)[dec]), decades(r["gain"][dec])]
        r["span"], r["gain_span"] = decades((1 - p_y)[keep]), decades(r["gain"][keep])
        r.update(n_w=int((~keep).sum()), n_mis=int((p[dec].argmax(1) != y[dec]).sum()), n_dec=int(dec.sum()))
        out.append(r)
    return out


def correlation_rows(stats, seeds) -> list[dict]:
    """One table row per network: rho(p_y, .) over the test set and the decades spanned (``sec-ch3-across``).

    ``|g| all`` / ``lam all``: every input; ``aside``: the confidently wrong set aside;
    ``dec 1-p_y`` / ``dec gain``: decades spanned by 1 - p_y and by the gain (confidently
    wrong aside).
    """
    stats = _check_rows("stats", stats, ("rho_g_all", "span_dec"), "confidence_stats")
    seeds = _check_same_length("seeds", seeds, stats)
    return [
        {
            "seed": s,
            "|g| all": r["rho_g_all"],
            "|g| aside": r["rho_g"],
            "lam all": r["rho_lam_all"],
            "lam aside": r["rho_lam"],
            "wrong": r["n_w"],
            "dec 1-p_y": r["span"],
            "dec gain": r["gain_span"],
        }
        for s, r in zip(seeds, stats)
    ]


def decile_span_rows(stats, seeds) -> list[dict]:
    """Within the unconfident decile, per network: how many are misclassified, and the decades spanned."""
    stats = _check_rows("stats", stats, ("n_mis", "span_dec"), "confidence_stats")
    seeds = _check_same_length("seeds", seeds, stats)
    return [
        {
            "seed": s,
            "misclassified": f"{r['n_mis']} of {r['n_dec']}",
            "decades of 1 - p_y": r["span_dec"][0],
            "decades of the gain": r["span_dec"][1],
        }
        for s, r in zip(seeds, stats)
    ]


def decile_rho_rows(stats, seeds) -> list[dict]:
    """Within the unconfident decile, rho(p_y, .) per network for |g|, lambda_max, the gain and lambda/tr A."""
    stats = _check_rows("stats", stats, ("rho_gain_dec",), "confidence_stats")
    seeds = _check_same_length("seeds", seeds, stats)
    labels = (("g", "|g|"), ("lam", "lambda_max"), ("gain", "|g| / |p - e_y|"), ("lamr", "lambda_max / tr A"))
    return [
        {"rho(p_y, .) in the decile": lab, **{f"seed {s}": r[f"rho_{k}_dec"] for s, r in zip(seeds, stats)}}
        for k, lab in labels
    ]


def _pooled(stats, key: str, group: str) -> torch.Tensor:
    return torch.cat([r[key][r["grp"][group]] for r in stats])


def group_median_rows(stats) -> list[dict]:
    """Pooled over the networks, each group's size and median |p - e_y|, tr A, |g|, lambda_max."""
    stats = _check_rows("stats", stats, ("grp", "resid"), "confidence_stats")
    rows = []
    for name in GROUPS:
        med = {k: _pooled(stats, k, name) for k in ("resid", "trA", "g", "lam")}
        row = {"group": name, "n": len(med["g"])}
        labels = {"resid": "|p - e_y|", "trA": "tr A", "g": "|g|", "lam": "lambda_max"}
        row.update({labels[k]: float(v.median()) if len(v) else float("nan") for k, v in med.items()})
        rows.append(row)
    return rows


def plot_groups(stats, axes) -> None:
    """Residual against tr A, and |g| against lambda_max, each input coloured by group (``sec-ch3-across``)."""
    stats = _check_rows("stats", stats, ("grp", "resid"), "confidence_stats")
    styles = {"unconfident": ("C1", "o"), "typical": ("C0", "o"), "confidently wrong": ("C3", "x")}
    ax0, ax1 = axes
    for name, (col, mk) in styles.items():
        kw = dict(s=10, color=col, marker=mk, label=name)
        ax0.scatter(to_numpy(_pooled(stats, "trA", name)), to_numpy(_pooled(stats, "resid", name)), **kw)
        ax1.scatter(to_numpy(_pooled(stats, "g", name)), to_numpy(_pooled(stats, "lam", name)), **kw)
    r0 = stats[0]
    ax1.scatter(to_numpy(r0["g"]), to_numpy(r0["lam"]), s=3, color="0.7", zorder=0, label="all (first seed)")
    ax0.set(xlabel=r"$\mathrm{tr}\,A=1-\|p\|^2$", ylabel=r"$\|p-e_y\|$", title="Residual against curvature")
    ax1.set(xscale="log", yscale="log", xlabel=r"$\|g\|$", ylabel=r"$\lambda_{\max}(H)$")
    ax1.set_title("Gradient and curvature")
    ax0.legend(fontsize=8)
    ax1.legend(fontsize=8)


# ----------------------------------------------------------------------------- sec-ch3-growth
def growth_curves(
    models, stats, x: torch.Tensor, y: torch.Tensor, *, steps, steps_early, s_per_step: float, s_early: float
) -> list[dict]:
    """Per network, the adversarial terms of the three groups along unprojected gradient ascent (``sec-ch3-growth``).

    The step is ``alpha = s_per_step / lambda_U`` (``lambda_U``: the unconfident group's
    geometric-mean lambda_max), so ``s = alpha m lambda_U``; a second run uses
    ``s_early / lambda_U`` over ``steps_early``. ``influence.attack_terms`` gives the
    linearised term ``|K delta_m|`` (``eq-ch3-term-sum``) and the real one; each curve holds
    ``log r(m)`` of the unconfident (and of the confidently wrong, key ``"... (wrong)"``)
    over the typical group, and ``sel`` (the groups' inputs), ``gs`` (their masks), ``alpha``,
    ``alpha_early``, ``terms``, ``terms_early``.
    """
    models = _check_models(models)
    stats = _check_same_length("stats", stats, models)
    steps = check_int_list("steps", steps, min_value=1)
    steps_early = check_int_list("steps_early", steps_early, min_value=1)
    s_per_step, s_early = check_positive("s_per_step", s_per_step), check_positive("s_early", s_early)
    curves = []
    for model, r in zip(models, stats):
        sel = torch.nonzero(r["grp"]["unconfident"] | r["grp"]["typical"] | r["grp"]["confidently wrong"])
        sel = sel.squeeze(1)
        gs = {k: v[sel] for k, v in r["grp"].items()}
        lam_u = float(r["lam"][sel][gs["unconfident"]].log().mean().exp())
        c = dict(sel=sel, gs=gs, alpha=s_per_step / lam_u, alpha_early=s_early / lam_u)
        flat, xs = flat_view(model, x[sel])
        c["terms"] = attack_terms(flat, xs, y[sel], step_size=c["alpha"], steps=steps)
        c["terms_early"] = attack_terms(flat, xs, y[sel], step_size=c["alpha_early"], steps=steps_early)

        def log_r(t, group, gs=gs):  # NaN for an empty group (no confidently wrong input, say)
            if not gs[group].any():
                return np.full(len(t), np.nan)
            return to_numpy(group_log_ratio(torch.as_tensor(t), gs[group], gs["typical"]))

        for key in ("linearised", "real attack"):
            c[key] = log_r(c["terms"][key], "unconfident")
            c[key + " (wrong)"] = log_r(c["terms"][key], "confidently wrong")
            c[key + " (early)"] = log_r(c["terms_early"][key], "unconfident")
        curves.append(c)
    return curves


def closed_form_error(models, curves, x: torch.Tensor, y: torch.Tensor, *, steps=(1, 10, 100), n: int = 6) -> float:
    """Largest relative gap, closed form (``eq-ch2-closed-form``) against the iterated recurrence with the dense H.

    On the first ``n`` selected inputs of each network, at its ``alpha``, for each ``m`` in
    ``steps`` (``sec-ch3-growth``: the identity ``ch3-closed-form``).
    """
    models = _check_models(models)
    curves = _check_same_length("curves", curves, models)
    steps = check_int_list("steps", steps, min_value=1)
    n = check_positive("n", n, integer=True)
    err = 0.0
    for model, c in zip(models, curves):
        xs, ys = x[c["sel"][:n]], y[c["sel"][:n]]
        g, H = input_hessian(model, xs, ys)
        eigvals, eigvecs = input_hessian_eig(model, xs, ys)
        for m in steps:
            ref = iterate_quadratic_attack(H, g, step_size=c["alpha"], steps=m)
            closed = perturbation_closed_form(eigvals, eigvecs, g, step_size=c["alpha"], steps=m)
            err = max(err, float((closed - ref).norm() / ref.norm()))
    return err


def _slope(m: np.ndarray, values: np.ndarray, window: np.ndarray) -> float:
    if not np.isfinite(values[window]).all():
        return float("nan")
    return float(np.polyfit(m[window], values[window], 1)[0])


def growth_slopes(curves, seeds, steps, steps_early, *, window=(50, 100), far=(200, 400)) -> list[dict]:
    """Slopes of log r(m) per network (``prop-ch3-exponential``), stored in each curve; returns table rows.

    Adds to each curve: ``asym`` (``eq-ch3-asymptote``), ``finite`` (``eq-ch3-rate`` averaged
    over ``window``), ``late`` (linearised and real slopes on ``window``), ``far`` (linearised
    slope on ``far``; NaN if no step lies there), ``early_frac`` (real over linearised slope of
    the early run), ``real_pow`` (each group's mean log real term against log m on
    ``window``), ``excess`` (each group's finite-m rate minus its mean log q) and ``wrong``
    (linearised and real slopes of the confidently wrong over the typical, on ``window``).
    """
    curves = _check_rows("curves", curves, ("terms", "linearised", "gs"), "growth_curves")
    seeds = _check_same_length("seeds", seeds, curves)
    M = np.array(check_int_list("steps", steps, min_value=1), dtype=float)
    early = np.array(check_int_list("steps_early", steps_early, min_value=1), dtype=float)
    late, far_w = (M >= window[0]) & (M <= window[1]), (M >= far[0]) & (M <= far[1])
    if late.sum() < 2:
        raise ValueError(f"steps must hold at least two step counts in the window {window}.")
    rows = []
    for s, c in zip(seeds, curves):
        lam, gs = c["terms"]["lam"], {k: _mask(v) for k, v in c["gs"].items()}
        lam_u, lam_c = lam[gs["unconfident"]], lam[gs["typical"]]
        c["asym"] = asymptotic_slope(lam_u, lam_c, step_size=c["alpha"])
        c["finite"] = float(finite_m_slope(lam_u, lam_c, step_size=c["alpha"], steps=M[late]).mean())
        c["late"] = {k: _slope(M, c[k], late) for k in ("linearised", "real attack")}
        c["far"] = _slope(M, c["linearised"], far_w) if far_w.sum() >= 2 else float("nan")
        ones = np.ones_like(early, dtype=bool)
        fit = {k: _slope(early, c[k + " (early)"], ones) for k in ("linearised", "real attack")}
        c["early_frac"] = fit["real attack"] / fit["linearised"]
        log_t = np.log(c["terms"]["real attack"][late])  # (window, inputs)
        c["real_pow"] = {
            k: float(np.polyfit(np.log(M[late]), log_t[:, gs[k]].mean(1), 1)[0]) for k in ("unconfident", "typical")
        }
        c["excess"] = {
            k: float((group_rate(v, step_size=c["alpha"], steps=M[late]) - np.log1p(c["alpha"] * v).mean()).mean())
            for k, v in (("U", lam_u), ("C", lam_c))
        }
        c["wrong"] = {k: _slope(M, c[k + " (wrong)"], late) for k in ("linearised", "real attack")}
        rows.append(
            {
                "seed": s,
                "alpha": c["alpha"],
                "lin": c["late"]["linearised"],
                "finite-m": c["finite"],
                "real": c["late"]["real attack"],
                "far lin": c["far"],
                "asymptote": c["asym"],
                "early real/lin": c["early_frac"],
            }
        )
    return rows


def exponent_rows(curves, seeds) -> list[dict]:
    """Per network: each group's growth exponent k (real term ~ m^k on the window), the confidently wrong's slopes."""
    curves = _check_rows("curves", curves, ("real_pow", "wrong"), "growth_slopes (called on growth_curves)")
    seeds = _check_same_length("seeds", seeds, curves)
    return [
        {
            "seed": s,
            "k unconfident": c["real_pow"]["unconfident"],
            "k typical": c["real_pow"]["typical"],
            "wrong/typical lin": c["wrong"]["linearised"],
            "wrong/typical real": c["wrong"]["real attack"],
        }
        for s, c in zip(seeds, curves)
    ]


def rate_records(curves, steps, *, window=(50, 100)) -> dict:
    """Per-network statistics of the growth records and the printed finite-m bookkeeping (``sec-ch3-growth``).

    ``"finite-m"``: ``|slope / finite-m rate - 1|`` (``ch3-rate-finite-m``); ``"early"``,
    ``"late"``: real over linearised slope, slow run and on ``window`` (``ch3-rate-real``);
    ``"asymptote gap"``: ``|far slope / asymptote - 1|`` (NaN without a far window); and,
    averaged over networks: ``"m at 5%"`` (where 1/m is 5% of the asymptotic rate),
    ``"asymptote - slope"``, the groups' excess rates ``"excess U"``, ``"excess C"`` and the
    mean ``"1/m"`` over the window. Call :func:`growth_slopes` first.
    """
    curves = _check_rows("curves", curves, ("late", "finite", "asym"), "growth_slopes (called on growth_curves)")
    M = np.asarray(steps, dtype=float)
    late = (M >= window[0]) & (M <= window[1])
    return {
        "finite-m": [abs(c["late"]["linearised"] / c["finite"] - 1) for c in curves],
        "early": [c["early_frac"] for c in curves],
        "late": [c["late"]["real attack"] / c["late"]["linearised"] for c in curves],
        "asymptote gap": [abs(c["far"] / c["asym"] - 1) for c in curves],
        "m at 5%": float(1 / (0.05 * np.mean([c["asym"] for c in curves]))),
        "asymptote - slope": float(np.mean([c["asym"] - c["late"]["linearised"] for c in curves])),
        "excess U": float(np.mean([c["excess"]["U"] for c in curves])),
        "excess C": float(np.mean([c["excess"]["C"] for c in curves])),
        "1/m": float(np.mean(1 / M[late])),
    }


def path_condition_rows(curves, steps, steps_early, probes) -> list[dict]:
    """Along the real path, per group: median fraction of gates flipped and median |K delta| / real term T.

    Columns ``U``, ``C``, ``W``: the unconfident, typical and confidently wrong groups.

    ``probes``: ``(run, m, s)`` with ``run`` ``"terms"`` (steps) or ``"terms_early"``
    (steps_early); medians over inputs pooled over the networks (``sec-ch3-growth``,
    conditions 1 and 3 of ``prop-ch3-exponential``).
    """
    curves = _check_rows("curves", curves, ("terms", "terms_early", "gs"), "growth_curves")
    if isinstance(probes, (str, bytes)) or not all(
        isinstance(p, (tuple, list)) and len(p) == 3 and p[0] in ("terms", "terms_early") for p in probes
    ):
        raise ValueError("probes must be (run, m, s) triples with run 'terms' or 'terms_early'.")
    steps, steps_early = list(steps), list(steps_early)
    rows = []
    for run, m, s in probes:
        index = (steps if run == "terms" else steps_early).index(m)
        row = {"m": m, "s": s}
        for g in GROUPS:

            def pooled(key, g=g, run=run, index=index):
                return np.concatenate([c[run][key][index][_mask(c["gs"][g])] for c in curves])

            short = {"unconfident": "U", "typical": "C", "confidently wrong": "W"}[g]
            flips, ratio = pooled("gate flips"), pooled("first order, real delta") / pooled("real attack")
            row[f"{short} flips"] = float(np.median(flips)) if flips.size else float("nan")
            row[f"{short} |Kd|/T"] = float(np.median(ratio)) if ratio.size else float("nan")
        rows.append(row)
    return rows


def plot_growth(curves, steps, s_per_step: float, ax) -> None:
    """Rise of log r(m) over log r(1) against s = alpha m lambda_U, linearised and real (``sec-ch3-growth``)."""
    curves = _check_rows("curves", curves, ("linearised", "asym"), "growth_slopes (called on growth_curves)")
    M = np.asarray(steps, dtype=float)
    s_grid = s_per_step * M
    for key, col, lab in (
        ("linearised", "C0", "unconfident"),
        ("real attack", "C3", "unconfident"),
        ("linearised (wrong)", "C2", "conf. wrong"),
        ("real attack (wrong)", "C1", "conf. wrong"),
    ):
        rise = np.array([c[key] - c[key][0] for c in curves])
        label = f"{key.split(' (')[0]}, {lab} / typical"
        ax.plot(s_grid, rise.mean(0), "o-", ms=3, color=col, label=label)
        ax.fill_between(s_grid, rise.min(0), rise.max(0), color=col, alpha=0.2)
    asym = np.mean([c["asym"] for c in curves])
    ax.plot(s_grid, asym * (M - 1), "k:", label="asymptotic slope from m = 1")
    ax.set(xscale="log", xlabel=r"$s=\alpha m\lambda_U$", ylabel=r"$\log r(m)-\log r(1)$")
    ax.set_title(f"Influence ratio over the typical group ({len(curves)} seeds)")
    ax.legend(fontsize=7)


# ----------------------------------------------------------------------------- sec-ch3-steps
def rise_rows(curves, seeds, steps, *, m: int = 10) -> list[dict]:
    """Per network, the absolute rises of log r behind the ratio records (``sec-ch3-growth``, ``sec-ch3-steps``).

    ``early lin`` / ``early real``: log r at the last early step minus at the first (the
    denominator and numerator of ``ch3-rate-real`` at small s, bounded by
    ``eq-ch3-linear-regime``); ``lin m - 1``: the linearised model's log r(m) - log r(1) at
    the main step, what ``ch3-steps-ratio``'s unprojected record would be without the
    attack's non-linearity.
    """
    keys = ("linearised", "linearised (early)", "real attack (early)")
    curves = _check_rows("curves", curves, keys, "growth_curves")
    seeds = _check_same_length("seeds", seeds, curves)
    steps = check_int_list("steps", steps, min_value=1)
    if m not in steps or 1 not in steps:
        raise ValueError(f"steps must contain 1 and m = {m}, got {steps!r}.")
    i, j = steps.index(1), steps.index(m)
    return [
        {
            "seed": seed,
            "early lin": c["linearised (early)"][-1] - c["linearised (early)"][0],
            "early real": c["real attack (early)"][-1] - c["real attack (early)"][0],
            f"lin {m} - 1": c["linearised"][j] - c["linearised"][i],
        }
        for seed, c in zip(seeds, curves)
    ]


def above_floor(values, accuracies, floor: float) -> tuple[np.ndarray, int]:
    """The values of the networks whose clean accuracy is at least ``floor``, and how many were dropped.

    ``sec-ch3-second``: a fine-tuned MNIST-1D CNN below ``claims.ch3.MNIST1D_ACCURACY_FLOOR``
    is not recorded. ``values`` and ``accuracies``: one per network, in the same order.
    """
    values = np.asarray(values, dtype=float)
    acc = np.asarray(accuracies, dtype=float)
    if values.ndim != 1 or acc.shape != values.shape:
        raise ValueError(f"values and accuracies must be 1-d of one length, got {values.shape}, {acc.shape}.")
    floor = check_fraction("floor", floor)
    keep = acc >= floor
    return values[keep], int((~keep).sum())


def step_attacks(setting) -> dict:
    """The three attacks of ``sec-ch3-steps``: ``{name: factory(alpha) -> attack(model, x, y, m)}``.

    Unprojected gradient ascent with the network's ``alpha``; gradient ascent projected onto
    the setting's ball (and box) with step 1; the sign attack, plain FGSM at m = 1 and
    the setting's PGD with m steps beyond. ``setting``: an ``advnotes.settings.Setting``.
    """
    setting = _check_setting(setting)
    eps, clamp = setting.eps, setting.clamp

    def unprojected(a):
        return lambda mod, xs, ys, m: gradient_ascent(mod, xs, ys, step_size=a, steps=m)

    def projected(_a):
        return lambda mod, xs, ys, m: gradient_ascent(mod, xs, ys, step_size=1.0, steps=m, eps=eps, clamp=clamp)

    def sign(_a):
        def attack(mod, xs, ys, m):
            if m == 1:
                return fgsm(mod, xs, ys, eps=eps, clamp=clamp)
            return setting.attack("pgd", steps=m)(mod, xs, ys)

        return attack

    return {
        "gradient ascent, unprojected": unprojected,
        f"gradient ascent, projected (eps {eps:g}, alpha 1)": projected,
        f"sign gradient (FGSM at m = 1, PGD beyond), eps {eps:g}": sign,
    }


def steps_log_ratios(models, curves, x: torch.Tensor, y: torch.Tensor, attacks: dict, m_steps) -> dict:
    """``{attack: {group: log r (networks, len(m_steps))}}`` over the typical group (``sec-ch3-steps``).

    ``influence.influence_log_ratios`` on each network's selected inputs, with the attack
    built from the network's ``alpha``.
    """
    attacks = _check_mapping("attacks", attacks, "step_attacks")
    models = _check_models(models)
    curves = _check_same_length("curves", curves, models)
    m_steps = check_int_list("m_steps", m_steps, min_value=1)
    out = {}
    for name, make in attacks.items():
        per = [
            influence_log_ratios(mod, x[c["sel"]], y[c["sel"]], c["gs"], make(c["alpha"]), m_steps)
            for mod, c in zip(models, curves)
        ]
        out[name] = {g: np.array([d[g] for d in per]) for g in per[0]}
    return out


def steps_rows(log_r: dict, m_steps) -> list[dict]:
    """Table rows: log r(m) - log r(1), mean and sd over networks, per attack and group (``sec-ch3-steps``).

    Attacks are labelled in the order of :func:`step_attacks` by :data:`STEP_LABELS`.
    """
    log_r = _check_mapping("log_r", log_r, "steps_log_ratios")
    m_steps = list(m_steps)
    rows = []
    for label, v in zip(STEP_LABELS, log_r.values()):
        for g in ("unconfident", "confidently wrong"):
            d = v[g][:, 1:] - v[g][:, :1]
            row = {"attack": label, "group": "unconf." if g == "unconfident" else "wrong"}
            sds = d.std(0, ddof=1) if len(d) > 1 else np.full(d.shape[1], np.nan)
            for m, mean, sd in zip(m_steps[1:], d.mean(0), sds):
                row[f"m = {m}"], row[f"sd {m}"] = mean, sd
            rows.append(row)
    return rows


def steps_shift(log_r: dict, m_steps, *, m: int = 10) -> dict:
    """Per attack, per network: log r(m) - log r(1) of the unconfident group, the record of ``ch3-steps-ratio``."""
    log_r = _check_mapping("log_r", log_r, "steps_log_ratios")
    if m not in list(m_steps) or 1 not in list(m_steps):
        raise ValueError(f"m_steps must contain 1 and m = {m}, got {list(m_steps)!r}.")
    i = list(m_steps).index(m)
    return {name: v["unconfident"][:, i] - v["unconfident"][:, 0] for name, v in log_r.items()}


def grad_inf_medians(models, x: torch.Tensor, y: torch.Tensor) -> dict:
    """Median |g|_inf of the unconfident and typical groups of ``x``, pooled over networks (``sec-ch3-steps``).

    A first step of gradient ascent with step ``alpha`` moves a coordinate by up to
    ``alpha |g|_inf``: the scale to compare with the budget eps. Groups from each network's
    own predictions (``influence.confidence_groups``).
    """
    models = _check_models(models)
    out = {"unconfident": [], "typical": []}
    for mod in models:
        with torch.no_grad():
            grp = confidence_groups(torch.softmax(mod(x), 1), y)
        g_inf = input_gradient(mod, x, y).abs().amax(1)
        for g in out:
            out[g].append(g_inf[grp[g]])
    return {g: float(torch.cat(v).median()) for g, v in out.items()}


def projected_sweep(models, curves, x: torch.Tensor, y: torch.Tensor, alphas, *, eps: float, clamp) -> tuple:
    """Projected gradient ascent at each step ``alpha``: ``(shift, rows)`` (``sec-ch3-steps``).

    ``shift[alpha]``: per network, log r(10) - log r(1) of the unconfident over the typical
    group; ``rows``: the fraction of each group on the ball's surface (|delta|_inf >= 0.99 eps)
    after one and ten steps, and the mean shift.
    """
    models = _check_models(models)
    curves = _check_same_length("curves", curves, models)
    shift, rows = {}, []
    for a in alphas:
        a = check_positive("alpha", a)
        ratios, on_ball = [], {1: [], 10: []}
        for mod, c in zip(models, curves):
            xs, ys, gs = x[c["sel"]], y[c["sel"]], c["gs"]
            ds = {m: gradient_ascent(mod, xs, ys, step_size=a, steps=m, eps=eps, clamp=clamp) for m in (1, 10)}
            terms = adversarial_term_norm(mod, xs, ys, torch.stack([ds[1], ds[10]]))
            ratios.append([float(group_log_ratio(t, gs["unconfident"], gs["typical"])) for t in terms])
            for m in (1, 10):
                reach = ds[m].reshape(len(xs), -1).abs().amax(1) >= 0.99 * eps
                on_ball[m].append({g: reach[gs[g]].double() for g in ("unconfident", "typical")})
        shift[a] = np.array([v[1] - v[0] for v in ratios])
        row = {"alpha": a}
        for g in ("unconfident", "typical"):
            for m in (1, 10):
                row[f"{g[:6]}, {m}"] = float(torch.cat([o[g] for o in on_ball[m]]).mean())
        row["shift"] = float(shift[a].mean())
        rows.append(row)
    return shift, rows


# ----------------------------------------------------------------------------- sec-ch3-training
def training_attacks(setting, *, ascent_step: float = 1.0) -> dict:
    """The setting's training attacks: standard (None), gradient ascent, PGD, FGSM-RS (``sec-ch3-training``)."""
    setting = _check_setting(setting)
    ascent_step = check_positive("ascent_step", ascent_step)
    return {
        "standard": None,
        "gradient ascent": setting.attack("ascent", step_size=ascent_step),
        "PGD": setting.attack("pgd"),
        "FGSM-RS": setting.attack("fgsm"),
    }


def train_checkpoints(
    make_model, x: torch.Tensor, y: torch.Tensor, *, seeds, attacks: dict, checkpoints, recipe
) -> dict:
    """``{attack: [networks at each checkpoint]}``, one ``train_ensemble_snapshots`` run per attack.

    The networks at a checkpoint are those of a run of that many steps: a run's minibatch
    order, momentum and random draws do not depend on its length, so each checkpoint is the
    prefix of one uninterrupted run (``sec-ch3-training``), and one run per attack, kept at
    every checkpoint, gives them all (for random-start attacks, when ``make_model`` seeds
    torch's generator, as the chapter's does). ``checkpoints``: strictly increasing step counts.
    ``recipe``: ``train_ensemble``'s keywords (its ``steps``, if any, is replaced by the
    checkpoints).
    """
    checkpoints = check_int_list("checkpoints", checkpoints, min_value=1)
    if not isinstance(recipe, dict):
        raise TypeError(f"recipe must be a dict of train_ensemble keywords (lr=..., ...), got {type(recipe).__name__}.")
    recipe = {k: v for k, v in recipe.items() if k != "steps"}
    return {
        name: train_ensemble_snapshots(make_model, x, y, seeds=seeds, attack=att, at=checkpoints, **recipe)[0]
        for name, att in attacks.items()
    }


def finetune_from(models, seeds, *, dtype=None):
    """``make_model(seed)`` that returns a copy of the trained network of that seed (optionally cast to ``dtype``).

    Chapter 3 trains MNIST-1D's adversarial networks by fine-tuning the standard ones
    (``sec-ch3-second``), a budget choice it states.
    """
    models = _check_models(models)
    seeds = _check_same_length("seeds", seeds, models)
    by_seed = dict(zip(seeds, models))

    def make_model(seed):
        if seed not in by_seed:
            raise ValueError(f"no trained network for seed {seed}; seeds are {sorted(by_seed)}.")
        model = copy.deepcopy(by_seed[seed])
        return model if dtype is None else model.to(dtype=dtype)

    return make_model


def checkpoint_shares(nets: dict, attacks: dict, x: torch.Tensor, y: torch.Tensor) -> dict:
    """``{attack: [[influence.training_shares per network] per checkpoint]}`` (``eq-ch3-share``)."""
    nets = _check_mapping("nets", nets, "train_checkpoints")
    attacks = _check_mapping("attacks", attacks, "training_attacks")
    return {name: [[training_shares(m, x, y, attack=attacks[name]) for m in ms] for ms in nets[name]] for name in nets}


def control_shares(models, attacks: dict, x: torch.Tensor, y: torch.Tensor) -> dict:
    """``{attack: [influence.training_shares per standard network]}``: the control of ``sec-ch3-training``.

    Each training attack applied to the standard networks (the first step of adversarial
    training from them); ``attacks`` entries that are None (standard training) are skipped.
    """
    attacks = _check_mapping("attacks", attacks, "training_attacks")
    models = _check_models(models)
    return {
        name: [training_shares(m, x, y, attack=att) for m in models] for name, att in attacks.items() if att is not None
    }


def accuracy_rows(nets: dict, x: torch.Tensor, y: torch.Tensor, robust) -> list[dict]:
    """Clean and robust test accuracy of the last checkpoint's networks; ``robust(model, x, y) -> float``."""
    nets = _check_mapping("nets", nets, "train_checkpoints")
    if not callable(robust):
        raise TypeError(f"robust must be a callable (model, x, y) -> float, got {type(robust).__name__}.")
    rows = []
    for name, ms in nets.items():
        acc = [accuracy(m, x, y) for m in ms[-1]]
        rob = [robust(m, x, y) for m in ms[-1]]
        rows.append({"training": name, "clean": np.mean(acc), "clean min": min(acc), "robust": np.mean(rob)})
    return rows


def _used(runs, name: str, k: int, group: str, key: str | None = None) -> np.ndarray:
    key = key or ("clean" if name == "standard" else "attacked")
    return np.array([sh[key][group] for sh in runs[name][k]])


def share_rows(runs: dict, checkpoints) -> list[dict]:
    """Per training and checkpoint: the unconfident share training uses, the confidently wrong's at x + d, their n."""
    runs = _check_mapping("runs", runs, "checkpoint_shares")
    rows = []
    for name in runs:
        at = "clean" if name == "standard" else "attacked, groups at x+delta"
        nkey = "n" if name == "standard" else "n at x+delta"
        for k, ck in enumerate(checkpoints):
            rows.append(
                {
                    "training": name,
                    "step": ck,
                    "unconf. share": _used(runs, name, k, "unconfident").mean(),
                    "wrong share at x+d": _used(runs, name, k, "confidently wrong", at).mean(),
                    "wrong n": np.mean([sh[nkey]["confidently wrong"] for sh in runs[name][k]]),
                }
            )
    return rows


def shares_identity_error(nets: dict, attacks: dict, x: torch.Tensor, y: torch.Tensor) -> float:
    """Largest error of ``eq-ch3-share``: shares sum to 1 and equal per-sample projections (``ch3-shares-partition``).

    On the last checkpoint of every adversarially trained network, clean and attacked.
    """
    nets = _check_mapping("nets", nets, "train_checkpoints")
    attacks = _check_mapping("attacks", attacks, "training_attacks")
    err = 0.0
    for name, att in attacks.items():
        if att is None:
            continue
        for mod in nets[name][-1]:
            for d in (None, att(mod, x, y).detach()):
                with torch.no_grad():
                    grp = confidence_groups(torch.softmax(mod(x if d is None else x + d), 1), y)
                sh = gradient_shares(mod, x, y, grp, delta=d)
                per = per_sample_param_grads(mod, x, y, delta=d)
                G = per.sum(0)
                rest = ~(grp["unconfident"] | grp["confidently wrong"] | grp["typical"])
                direct = {k: float(per[v].sum(0) @ G / (G @ G)) for k, v in {**grp, "rest": rest}.items()}
                err = max(err, abs(sum(sh.values()) - 1), *(abs(sh[k] - direct[k]) for k in sh))
    return err


def log_r_shift(shares) -> np.ndarray:
    """Per network: log r(attacked) - log r(clean), the statistic of ``ch3-training-log-ratio``."""
    shares = _check_rows("shares", shares, ("log r",), "influence.training_shares (one per network)")
    return np.array([s["log r"]["attacked"] - s["log r"]["clean"] for s in shares])


def log_r_rows(adversarial: dict, control: dict) -> list[dict]:
    """Table rows: log r clean and attacked, the unconfident share clean (its room 1 - share) and attacked, and
    the confidently wrong at x + delta (their number and share).

    ``adversarial``/``control``: ``{attack: [training_shares per network]}`` on the
    adversarially trained and on the standard networks (``sec-ch3-training``).
    """
    adversarial = _check_mapping("adversarial", adversarial, "checkpoint_shares (last checkpoint) or control_shares")
    control = _check_mapping("control", control, "control_shares")
    rows = []
    for net, table in (("adv.", adversarial), ("std.", control)):
        for name, sh in table.items():

            def mean(f, sh=sh):
                return float(np.mean([f(s) for s in sh]))

            clean_share = mean(lambda s: s["clean"]["unconfident"])
            rows.append(
                {
                    "networks, attack": f"{net}, {name}",
                    "log r": mean(lambda s: s["log r"]["clean"]),
                    "log r att.": mean(lambda s: s["log r"]["attacked"]),
                    "share": clean_share,
                    "room": 1 - clean_share,
                    "share att.": mean(lambda s: s["attacked"]["unconfident"]),
                    "wrong n": mean(lambda s: s["n at x+delta"]["confidently wrong"]),
                    "wrong sh.": mean(lambda s: s["attacked, groups at x+delta"]["confidently wrong"]),
                }
            )
    return rows


def plot_shares(runs: dict, checkpoints, axes) -> None:
    """Shares over training: the unconfident decile, and the confidently wrong at x + delta (``sec-ch3-training``)."""
    runs = _check_mapping("runs", runs, "checkpoint_shares")
    colours = ("C0", "C1", "C2", "C4")
    for ax, group, key in zip(axes, ("unconfident", "confidently wrong"), (None, "attacked, groups at x+delta")):
        for name, col in zip(runs, colours):
            k_all = range(len(checkpoints))
            v = np.array([_used(runs, name, k, group, "clean" if name == "standard" else key) for k in k_all])
            ax.plot(checkpoints, v.mean(1), "o-", color=col, label=name)
            ax.fill_between(checkpoints, v.min(1), v.max(1), color=col, alpha=0.2)
        title = f"{group} group" + (" (at x + delta)" if key else "")
        ax.set(xlabel="training step", ylabel="share of the full-batch gradient", title=title)
    axes[0].legend(fontsize=8)


def record_rows(records, group: str) -> list[dict]:
    """Every record of one claim group, per setting: regime, estimate, interval and outcome (``sec-ch3-second``)."""
    if not isinstance(records, (list, tuple)):
        raise TypeError(f"records must be a list of claim records, got {type(records).__name__}.")
    if not isinstance(group, str):
        raise TypeError(f"group must be a claim group's name (str), got {type(group).__name__}.")
    rows = []
    for r in records:
        if getattr(r, "kind", None) == "claim" and r.spec.group == group:
            rows.append(
                {
                    "setting": r.setting,
                    "regime": r.regime,
                    "estimate": r.estimate,
                    "95% CI": tuple(r.ci),
                    "outcome": r.outcome,
                }
            )
    return rows


def side_by_side(values: dict, settings=("digits-mlp", "mnist1d-cnn")) -> list[dict]:
    """Table rows ``{"quantity", settings[0], settings[1]}`` from ``{quantity: (value in one, value in other)}``."""
    values = _check_mapping("values", values, "the chapter (quantity -> one value per setting)")
    if not all(isinstance(v, (tuple, list)) and len(v) == len(settings) for v in values.values()):
        raise ValueError(f"values must map each quantity to {len(settings)} values, one per setting.")
    return [{"quantity": k, **dict(zip(settings, v))} for k, v in values.items()]
