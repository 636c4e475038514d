"""Chapter 5 (``book/ch5_prior_findings.ipynb``): the pipelines behind its measurements.

The chapter asks whether earlier findings of the adversarial-training literature occur at
the book's scale. Its cells call these functions; the per-seed *statistics* they feed
(log ratios, shares, collapse fractions, ...) and the claim declarations live in
``advnotes.claims.ch5``.

- :func:`train_rounds`, :func:`checkpoint_probe`, :func:`clean_and_robust` — the protocol
  of section 5.1 (seeds trained together, a checkpoint after each round);
- :func:`input_curvature`, :func:`curvature_rows`, :func:`curvature_log_ratios` — section
  5.2 (the bound ``lambda_max <= |W|_2^2 (1 - |p|^2)`` of chapter 1 and the
  neighbourhood curvature);
- :func:`decile_share`, :func:`clean_shares`, :func:`log_r`, :func:`share_study`,
  :func:`share_rows`, :func:`share_route_error` — section 5.3 (the share of the summed
  gradient, equation ``share(S)``);
- :func:`collapse_probe`, :func:`collapse_study` — section 5.4;
  :func:`subset_training_errors`, :func:`data_study` — section 5.5;
  :func:`overfitting_study` — section 5.6;
- :func:`second_setting` — the MNIST-1D CNN measurements of section 5.7.
"""

from __future__ import annotations

import copy
import textwrap
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F

from .. import threat
from ..attacks import fgsm
from ..claims import ch5 as claims
from ..curvature import input_gradient, input_hessian_eig
from ..influence import (
    confidence,
    confidence_groups,
    group_log_ratio,
    param_grad_norm,
    per_sample_param_grads,
)
from ..linear_regions import local_linear_map
from ..stats import top_share
from ..training import accuracy, robust_accuracy, train_ensemble
from ..validation import check_fraction, check_positive


def mean_sd(values) -> str:
    """``"mean ± sd"`` over seeds (sample standard deviation), three decimals (section 5.1)."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or values.size < 2 or not np.isfinite(values).all():
        raise ValueError("values must be at least two finite numbers (one per seed).")
    return f"{values.mean():.3f} ± {values.std(ddof=1):.3f}"


# ----------------------------------------------------------------------------- 5.1 protocol
def train_rounds(
    make_model,
    x,
    y,
    *,
    seeds,
    recipe: dict,
    rounds: int,
    steps: int,
    attack=None,
    probe=None,
    start=None,
    first: int = 0,
    lr: float | None = None,
):
    """Train one model per seed (all at once), in ``rounds`` rounds of ``steps`` steps (5.1).

    Round ``r`` trains member ``s`` with the minibatch seed ``1000 r + s`` (a fresh order
    each round; momentum restarts at each round). ``start``: models to copy and continue
    from (one per seed) instead of ``make_model(seed)``; ``first``: the index of the first
    round (so a continued run draws new orders). ``probe(models)`` is called after each
    round (models in eval mode). Returns ``(models, curve)``, ``curve`` the probes' array.
    """
    seeds = list(seeds)
    rounds = check_positive("rounds", rounds, integer=True)
    steps = check_positive("steps", steps, integer=True)
    if start is not None:
        if len(start) != len(seeds):
            raise ValueError(f"start must hold one model per seed ({len(seeds)}), got {len(start)}.")
        models = {s: copy.deepcopy(m) for s, m in zip(seeds, start)}
    else:
        models = {s: make_model(s) for s in seeds}
    kw = dict(recipe, lr=recipe["lr"] if lr is None else lr)
    curve = []
    for r in range(first, first + rounds):
        step_seeds = [1000 * r + s for s in seeds]
        train_ensemble(lambda k: models[k % 1000], x, y, seeds=step_seeds, steps=steps, attack=attack, **kw)
        curve.append(probe([m.eval() for m in models.values()]) if probe else None)
    return list(models.values()), np.array(curve)


def checkpoint_probe(parts, evaluate, seeds):
    """A probe for :func:`train_rounds`: ``evaluate(model, x, y, seed)`` on each ``(x, y)``
    of ``parts``, for each model; gives ``[part][seed]`` (section 5.1's checkpoints)."""
    seeds = list(seeds)
    return lambda ms: [[evaluate(m, xs, ys, s) for m, s in zip(ms, seeds)] for xs, ys in parts]


def clean_and_robust(models, x, y, *, seeds, robust_accuracy=threat.robust_accuracy):
    """Per seed: clean accuracy and ``robust_accuracy(model, x, y, seed=seed)`` (section 5.1:
    PGD-20 from five starts under the setting's threat model), as two arrays."""
    models, seeds = list(models), list(seeds)
    if len(models) != len(seeds):
        raise ValueError(f"one seed per model: got {len(models)} models and {len(seeds)} seeds.")
    clean = [accuracy(m, x, y) for m in models]
    robust = [robust_accuracy(m, x, y, seed=s) for m, s in zip(models, seeds)]
    return np.array(clean), np.array(robust)


# ----------------------------------------------------------------------------- 5.2 curvature
def input_curvature(model, x, y, *, eps: float, clamp=threat.BOX) -> dict:
    """Per input of ``x``: ``lam`` = lambda_max(H) at x, ``gain`` = |W|_2^2 (W the local
    linear map), ``unconf`` = 1 - |p|^2, and ``nbhd`` = the neighbourhood curvature
    |grad L(x+d) - grad L(x)|_2 / |d|_2 with d = eps sign(grad L(x)) (clipped to ``clamp``;
    inputs where d = 0 are left out). Section 5.2, the bound lambda_max <= |W|^2 (1-|p|^2)
    of chapter 1. Computed in float64 on a copy of the model; any input shape."""
    eps = check_positive("eps", eps)
    m64, x64 = copy.deepcopy(model).double(), x.double()
    lam = input_hessian_eig(m64, x64, y)[0][:, 0]
    gain = torch.linalg.matrix_norm(local_linear_map(m64, x64)[0], ord=2) ** 2
    unconf = 1 - (F.softmax(m64(x64), -1) ** 2).sum(-1)
    g0 = input_gradient(m64, x64, y)
    moved_x = x64 + eps * g0.sign().reshape(x64.shape)
    if clamp is not None:
        moved_x = moved_x.clamp(*clamp)
    d = (moved_x - x64).flatten(1)
    moved = d.norm(dim=1) > 0
    g1 = input_gradient(m64, x64 + d.reshape(x64.shape), y)
    nbhd = (g1 - g0).norm(dim=1)[moved] / d.norm(dim=1)[moved]
    out = dict(lam=lam, gain=gain, unconf=unconf, nbhd=nbhd)
    return {k: v.detach() for k, v in out.items()}


def _median(c, key) -> float:
    return float(c[key].median())


def curvature_rows(curv: dict) -> list[dict]:
    """Section 5.2's table: per training (``curv[name]`` = one :func:`input_curvature` per
    seed), medians of lambda_max, |W|^2, 1-|p|^2 and the neighbourhood curvature, the mean
    lambda_max, and the shares of sum(lambda_max) on the top 1% and 5% of inputs."""
    rows = []
    for name, per_seed in curv.items():
        rows.append(
            {
                "training": name,
                "median lam_max": mean_sd([_median(c, "lam") for c in per_seed]),
                "mean lam_max": mean_sd([float(c["lam"].mean()) for c in per_seed]),
                "median |W|^2": mean_sd([_median(c, "gain") for c in per_seed]),
                "median 1-|p|^2": float(np.mean([_median(c, "unconf") for c in per_seed])),
                "median nbhd": mean_sd([_median(c, "nbhd") for c in per_seed]),
                "top-1%": mean_sd([top_share(c["lam"], fraction=0.01) for c in per_seed]),
                "top-5%": mean_sd([top_share(c["lam"], fraction=0.05) for c in per_seed]),
            }
        )
    return rows


def curvature_log_ratios(adversarial: list, standard: list) -> dict:
    """The three per-seed readings of section 5.2 (``claims.ch5.FLATTER_*``): log ratio
    adversarial / standard (same seed) of the median and mean lambda_max, and of the median
    neighbourhood curvature; plus ``factor``: the ratio of medians of lambda_max, |W|^2 and
    1-|p|^2 (mean over seeds), and ``gain x unconf``, the product of the last two."""
    pairs = list(zip(adversarial, standard))
    out = {
        "median": [claims.log_ratio(a["lam"], s["lam"], stat="median") for a, s in pairs],
        "mean": [claims.log_ratio(a["lam"], s["lam"], stat="mean") for a, s in pairs],
        "neighbourhood": [claims.log_ratio(a["nbhd"], s["nbhd"], stat="median") for a, s in pairs],
    }
    keys = ("lam", "gain", "unconf")
    ratio = {k: np.mean([_median(a, k) / _median(s, k) for a, s in pairs]) for k in keys}
    ratio["gain x unconf"] = ratio["gain"] * ratio["unconf"]  # the bound's ratio
    return out | {"factor": ratio}


# ----------------------------------------------------------------------------- 5.3 shares
def _flat_grad(losses, params) -> torch.Tensor:
    grads = torch.autograd.grad(losses.sum(), params, retain_graph=True)
    return torch.cat([g.reshape(-1) for g in grads])


def decile_share(model, x, y, delta=None, *, fraction: float = claims.LOW_FRACTION) -> float:
    """The least-confident ``fraction``'s share of the summed parameter gradient (5.3):
    share(S) = <sum_{i in S} grad L_i, G> / |G|^2, S chosen by the clean p_y, the losses
    taken at ``x + delta``; two backward passes."""
    fraction = check_fraction("fraction", fraction)
    p_y = confidence(model, x, y)
    low = p_y <= p_y.quantile(fraction)
    losses = F.cross_entropy(model(x if delta is None else x + delta), y, reduction="none")
    params = list(model.parameters())
    return claims.summed_gradient_share(_flat_grad(losses[low], params), _flat_grad(losses, params))


def log_r(model, x, y, delta=None, *, fraction: float = claims.LOW_FRACTION) -> float:
    """Chapter 3's log r (5.3): the geometric-mean pull |grad_theta L_i| of the unconfident
    group over that of the typical group (groups from the clean predictions)."""
    fraction = check_fraction("fraction", fraction)
    g = confidence_groups(F.softmax(model(x), -1).detach(), y, frac=fraction)
    sel = g["unconfident"] | g["typical"]
    pull = param_grad_norm(model, x[sel], y[sel], delta=None if delta is None else delta[sel])
    return float(group_log_ratio(pull, g["unconfident"][sel], g["typical"][sel]))


def share_study(models, x, y, attacks: dict, *, eps: float) -> dict:
    """Section 5.3 for each model (float64 copies) and each attack of ``attacks``
    (``name -> attack``) and ``"clean"``: the decile's share, log r, the median
    |delta|_inf and the fraction of inputs at the ball (|delta|_inf >= 0.99 eps).
    Returns ``{"share": {name: [...]}, "log_r": ..., "size": ..., "at_ball": ...}``."""
    if not isinstance(attacks, dict) or "clean" in attacks:
        raise TypeError("attacks must be a dict {name: attack} (the name 'clean' is taken).")
    names = ["clean", *attacks]
    out = {k: {n: [] for n in names} for k in ("share", "log_r")}
    out |= {k: {n: [] for n in attacks} for k in ("size", "at_ball")}
    x64 = x.double()
    for model in models:
        m64 = copy.deepcopy(model).double()
        out["share"]["clean"].append(decile_share(m64, x64, y))
        out["log_r"]["clean"].append(log_r(m64, x64, y))
        for name, attack in attacks.items():
            delta = attack(m64, x64, y)
            out["share"][name].append(decile_share(m64, x64, y, delta))
            out["log_r"][name].append(log_r(m64, x64, y, delta))
            linf = delta.flatten(1).abs().amax(1)
            out["size"][name].append(float(linf.median()))
            out["at_ball"][name].append(float((linf >= 0.99 * eps).double().mean()))
    return out


def clean_shares(models, x, y) -> list[float]:
    """:func:`decile_share` on clean inputs for each model (float64 copies; section 5.3)."""
    x64 = x.double()
    return [decile_share(copy.deepcopy(m).double(), x64, y) for m in models]


def share_rows(study: dict, standard_share, *, eps: float) -> tuple[list[dict], list[dict]]:
    """Section 5.3's two tables from :func:`share_study` (PGD-trained models) and the
    standard models' clean shares: (1) the decile's share per input kind with the attack's
    median |delta|_inf / eps and the fraction at the ball; (2) log r and log r - clean."""
    shares = [{"model, inputs": "standard, clean", "share": mean_sd(standard_share)}]
    for name, values in study["share"].items():
        row = {"model, inputs": f"PGD, {name}", "share": mean_sd(values)}
        if name in study["size"]:
            row["|delta|/eps"] = float(np.mean(study["size"][name])) / eps
            row["at ball"] = float(np.mean(study["at_ball"][name]))
        shares.append(row)
    for row in shares:
        row.setdefault("|delta|/eps", None)
        row.setdefault("at ball", None)
    clean = study["log_r"]["clean"]
    ratios = [
        {
            "PGD model, inputs": name,
            "log r": mean_sd(values),
            "minus clean": mean_sd(np.subtract(values, clean)) if name != "clean" else None,
        }
        for name, values in study["log_r"].items()
    ]
    return shares, ratios


def share_route_error(model, x, y, attacks) -> float:
    """Identity ``claims.ch5.SHARE_TWO_ROUTES`` (5.3): the largest difference, over the
    ``attacks`` (``None`` = clean inputs), between :func:`decile_share` and the share from
    per-sample gradients summed by hand. Float64 copy of the model."""
    attacks = list(attacks)
    if not attacks:
        raise ValueError("attacks must hold at least one attack (None for clean inputs).")
    m64, x64 = copy.deepcopy(model).double(), x.double()
    p_y = confidence(m64, x64, y)
    low = p_y <= p_y.quantile(claims.LOW_FRACTION)
    errors = []
    for attack in attacks:
        delta = None if attack is None else attack(m64, x64, y)
        g = per_sample_param_grads(m64, x64, y, delta=delta)
        total = g.sum(0)
        by_hand = float(g[low].sum(0) @ total / (total @ total))
        errors.append(abs(by_hand - decile_share(m64, x64, y, delta)))
    return max(errors)


# ----------------------------------------------------------------------------- 5.4 collapse
def _curves(curves, what: str) -> dict:
    if not isinstance(curves, dict) or not curves:
        raise TypeError(f"curves must be a non-empty dict {{name: curve}}, got {type(curves).__name__}.")
    out = {}
    for name, c in curves.items():
        c = np.asarray(c, dtype=float)
        if c.ndim != 3 or c.shape[1] != 3 or c.shape[0] == 0:
            raise ValueError(f"curve {name!r} must have shape (checkpoints, 3 {what}, seeds), got {c.shape}.")
        out[name] = c
    return out


def collapse_probe(x, y, *, seeds, eps: float, clamp=threat.BOX):
    """Section 5.4's checkpoint probe: per model, clean accuracy, accuracy against FGSM (no
    random start, step eps) and against PGD-20 from one start (``threat.robust_accuracy``
    with ``restarts=1``), each on ``(x, y)``; gives ``[clean, FGSM, PGD][seed]``."""
    seeds, eps = list(seeds), check_positive("eps", eps)
    fgsm_eval = partial(fgsm, eps=eps, clamp=clamp)

    def probe(models):
        return [
            [accuracy(m, x, y) for m in models],
            [robust_accuracy(m, x, y, fgsm_eval) for m in models],
            [threat.robust_accuracy(m, x, y, eps=eps, restarts=1, seed=s, clamp=clamp) for m, s in zip(models, seeds)],
        ]

    return probe


def collapse_study(curves: dict) -> dict:
    """Section 5.4 from the checkpoint curves ``{attack: (rounds, [clean, FGSM, PGD], seeds)}``:
    per attack and seed the collapse fraction of the PGD curve, whether the run qualifies
    (``claims.ch5.co_qualifies``), the final FGSM - PGD gap, and one summary row each."""
    out = {"collapse": {}, "qualified": {}, "gap": {}, "rows": []}
    for kind, curve in _curves(curves, "[clean, FGSM, PGD]").items():
        final, n = curve[-1], curve.shape[2]
        out["collapse"][kind] = [claims.collapse_fraction(curve[:, 2, k]) for k in range(n)]
        out["qualified"][kind] = [claims.co_qualifies(curve[:, 2, k], final[0, k]) for k in range(n)]
        out["gap"][kind] = final[1] - final[2]
        out["rows"].append(
            {
                "training": kind,
                "clean": mean_sd(final[0]),
                "FGSM": mean_sd(final[1]),
                "PGD": mean_sd(final[2]),
                "peak PGD": mean_sd(curve[:, 2].max(0)),
                "collapse": mean_sd(out["collapse"][kind]),
                "qualify": f"{sum(out['qualified'][kind])}/{n}",
            }
        )
    return out


# ----------------------------------------------------------------------------- 5.5 data
def subset_training_errors(standard, adversarial, x, y, subsets: dict) -> list[tuple]:
    """Section 5.5: per seed (``subsets``: seed -> indices of its 10% subset), the clean
    training error of the standard model and the robust training error (PGD-20 x 5,
    ``threat.robust_accuracy``) of the PGD-trained model, each on the seed's own subset."""
    out = []
    for a, b, (s, i) in zip(standard, adversarial, subsets.items()):
        robust = threat.robust_accuracy(b, x[i], y[i], seed=s)
        out.append((1 - accuracy(a, x[i], y[i]), 1 - robust))
    return out


def data_study(test10: dict, train10, acc: dict, train_full: dict) -> dict:
    """Section 5.5's statistics, per seed. ``test10``/``acc``: ``{"standard": (clean,
    robust), "PGD training": (clean, robust)}`` test accuracies with 10% / 100% of the data;
    ``train10``: per seed (clean training error of standard, robust training error of PGD
    training) on the seed's subset; ``train_full``: training errors at full data (same two).
    Returns the errors, drops, relative drops (``claims.ch5.relative_reduction``) and the
    generalisation gaps at 10% and 100%."""
    err = {
        "clean error, standard": (1 - test10["standard"][0], 1 - acc["standard"][0]),
        "robust error, PGD training": (1 - test10["PGD training"][1], 1 - acc["PGD training"][1]),
    }
    names = {"clean gap, standard": 0, "robust gap, PGD training": 1}
    errors = list(err.values())
    gap10 = {k: errors[j][0] - np.array([t[j] for t in train10]) for k, j in names.items()}
    gap_full = {k: errors[j][1] - np.asarray(train_full[k]) for k, j in names.items()}
    drop = {k: np.subtract(*v) for k, v in err.items()}
    fraction = {k: [claims.relative_reduction(a, b) for a, b in zip(*v)] for k, v in err.items()}
    return dict(err=err, gap10=gap10, gap_full=gap_full, drop=drop, fraction=fraction)


# ----------------------------------------------------------------------------- 5.6 overfitting
def overfitting_study(curves: dict) -> dict:
    """Section 5.6 from checkpoint curves ``{name: (checkpoints, [validation, test,
    training], seeds)}``: per seed the early-stopping gain (``claims.ch5.early_stopping_gain``
    on the validation and test halves) and the final training - test accuracy."""
    gain, gap = {}, {}
    for name, c in _curves(curves, "[validation, test, training]").items():
        n = c.shape[2]
        gain[name] = [claims.early_stopping_gain(c[:, 0, k], c[:, 1, k]) for k in range(n)]
        gap[name] = c[-1, 2] - c[-1, 1]
    return {"gain": gain, "gap": gap}


# ----------------------------------------------------------------------------- 5.7 MNIST-1D
def second_setting(setting, *, seeds, pgd_steps: int, n_curvature: int, n_share: int) -> dict:
    """Section 5.7: sections 5.2 and 5.3 on the setting ``setting`` (the MNIST-1D CNN),
    through the same functions as on digits.

    Trains a standard and a PGD-5 ensemble for the SAME number of steps ``pgd_steps`` (the
    setting's recipe otherwise: a like-for-like budget), prints nothing, and measures the
    PGD-20x5 robust accuracy of both on the first ``n_curvature`` test signals, then
    :func:`input_curvature` on the first ``n_curvature`` test signals and
    :func:`decile_share` (clean, standard model; PGD-5, PGD model) on the first
    ``n_share`` training signals. Returns accuracies, curvature and shares.
    """
    pgd_steps = check_positive("pgd_steps", pgd_steps, integer=True)
    n_curvature = check_positive("n_curvature", n_curvature, integer=True)
    n_share = check_positive("n_share", n_share, integer=True)
    split = setting.load(dtype="float32")
    x, y, xt, yt = split.x_test, split.y_test, split.x_train, split.y_train
    recipe = setting.recipe

    def make_model(seed):
        return setting.make_model(seed, dtype=torch.float32)

    recipe = dict(recipe, steps=pgd_steps)
    standard, _ = train_ensemble(make_model, xt, yt, seeds=seeds, **recipe)
    pgd = setting.attack("pgd")
    adversarial, _ = train_ensemble(make_model, xt, yt, seeds=seeds, attack=pgd, **recipe)
    models = {"standard": standard, "PGD": adversarial}
    xc, yc = x[:n_curvature], y[:n_curvature]
    curv = {
        k: [input_curvature(m, xc, yc, eps=setting.eps, clamp=setting.clamp) for m in ms] for k, ms in models.items()
    }
    xs, ys = xt[:n_share].double(), yt[:n_share]
    share_std = [decile_share(copy.deepcopy(m).double(), xs, ys) for m in standard]
    share_pgd = []
    for m in adversarial:
        m64 = copy.deepcopy(m).double()
        share_pgd.append(decile_share(m64, xs, ys, pgd(m64, xs, ys)))
    clean = {k: [accuracy(m, x, y) for m in ms] for k, ms in models.items()}
    robust = {k: [setting.robust_accuracy(m, xc, yc, seed=s) for m, s in zip(ms, seeds)] for k, ms in models.items()}
    return dict(
        models=models,
        clean=clean,
        robust=robust,
        curv=curv,
        share={"standard, clean": share_std, "PGD, PGD-5": share_pgd},
        recipe=recipe,
        pgd_steps=pgd_steps,
        n_curvature=len(xc),
        n_share=len(xs),
    )


# ----------------------------------------------------------------------------- 5.9 scorecard
def _whose(spec) -> str:
    return "control" if spec.control else "paper" if spec.paper else "book"


def _interval_words(records) -> str:
    parts = []
    for r in records:
        where = f"{r.regime}: " if r.regime else ""
        lo, hi = r.ci
        parts.append(f"{where}{r.estimate:.3g} [{lo:.3g}, {hi:.3g}] {r.outcome}")
    return "; ".join(parts)


def difference_text(records, row: dict, settings=("digits-mlp", "mnist1d-cnn")) -> str:
    """Section 5.9: one paragraph for a claim whose outcome differs between settings (``row``
    from ``claims.ch5.setting_differences``): per setting the outcome, and each record's
    estimate, interval and outcome against the declared threshold; then where the book
    discusses it (chapter 5's own claims: section 5.7; another chapter's: that chapter's
    second-setting section)."""
    whose = row.get("whose")
    group = [
        r
        for r in records
        if r.kind == "claim" and r.spec.group == row["claim"] and (whose is None or _whose(r.spec) == whose)
    ]
    if not group:
        raise ValueError(f"no claim records of the group {row['claim']!r}.")
    spec = group[0].spec
    label = row.get("name") if row.get("intervention") else row["claim"]
    lines = [f"{label} ({whose or _whose(spec)}):"]
    wrap = dict(width=88, initial_indent="    ", subsequent_indent="      ")
    for s in settings:
        lines.append(f"  {s}: {row.get(s)}")
        mine = [r for r in group if r.setting == s]
        for name in dict.fromkeys(r.spec.name for r in mine):  # each spec's own test, once
            recs = [r for r in mine if r.spec.name == name]
            spec = recs[0].spec
            head = f"{name}{' [control]' if spec.control else ''}"
            test = f"{spec.statistic} {spec.direction} {spec.threshold:g}"
            lines.append(textwrap.fill(f"{head} ({test}): {_interval_words(recs)}", **wrap))
    spec = group[0].spec
    where = "section 5.7" if spec.chapter == 5 else f"chapter {spec.chapter}, second setting"
    lines.append(f"  discussed in {where}")
    return "\n".join(lines)


def data_rows(data: dict) -> tuple[list[dict], list[dict]]:
    """Section 5.5's two tables from :func:`data_study`: (1) per error, its value with 10% and
    100% of the data, the drop and the drop as a fraction (mean ± sd over seeds); (2) per
    generalisation gap, its value at 10% and 100% and the ratio of the means 100% / 10%."""
    errors = [
        {
            "error": k,
            "10%": mean_sd(e10),
            "100%": mean_sd(e100),
            "drop": mean_sd(data["drop"][k]),
            "fraction": mean_sd(data["fraction"][k]),
        }
        for k, (e10, e100) in data["err"].items()
    ]
    gaps = [
        {
            "gap (test - train)": k,
            "10%": mean_sd(v),
            "100%": mean_sd(data["gap_full"][k]),
            "100% / 10%": float(np.mean(data["gap_full"][k]) / np.mean(v)),
        }
        for k, v in data["gap10"].items()
    ]
    return errors, gaps
