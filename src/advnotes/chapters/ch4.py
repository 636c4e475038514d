"""Chapter 4's pipelines: the seed loops, the onset records and the tables of "Does the parameter Hessian take over?".

The notebook ``book/ch4_parameter_hessian.ipynb`` keeps its knobs, its quotations and its
verdicts; the loops that train and measure every seed, the tables and the figures live here.
Each function names the section of the chapter and the equation it computes. The same
functions measure both settings of the book (``"digits-mlp"`` and ``"mnist1d-cnn"``): a
record's ``setting`` is passed through.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from .. import param_hessian as ph
from ..claims import ch4 as claims
from ..stats import t_interval
from ..training import train
from ..validation import check_positive, check_seed

__all__ = [
    "SeedData",
    "paired_follows_difference",
    "mean_sd",
    "onset_formula_error",
    "fd_update",
    "run_seeds",
    "end_table",
    "pinned_table",
    "onset_line",
    "measure_controls",
    "judge_onsets",
    "oscillation_records",
    "follows_records",
    "m_growth_record",
    "width_sweep",
    "end_of_training",
    "plot_end_curvature",
    "plot_onsets",
    "setting_outcomes",
    "pgd_decomposition",
    "few_samples_table",
    "differences",
    "checkpoint_curvature",
]


def _check_data(data) -> None:
    if not isinstance(data, SeedData):
        raise TypeError(f"data must be the SeedData of run_seeds (per-seed results), got {type(data).__name__}.")


def _check_seeds(seeds) -> list[int]:
    seeds = [check_seed(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must name at least one seed.")
    return seeds


class SeedData:
    """Per-seed results of the chapter's two experiments (section 4.4).

    ``end``: one dict ``{run: {quantity: float}}`` per seed from ``ph.seed_experiment`` (end of
    training); ``onsets``: one such dict per seed from ``ph.onset_experiment`` (calm checkpoint,
    section 4.5). ``data.end(run, key)`` and ``data.onset(run, key)`` give one value per seed.
    """

    def __init__(self, end: Sequence[Mapping], onsets: Sequence[Mapping]):
        if not isinstance(end, (list, tuple)) or not isinstance(onsets, (list, tuple)):
            raise TypeError("end and onsets must be lists of per-seed dicts {run: {quantity: value}}.")
        for item in (*end, *onsets):
            if not isinstance(item, Mapping):
                raise TypeError(f"each seed's result must be a dict {{run: {{quantity: value}}}}, got {item!r}.")
        self.end_results, self.onset_results = list(end), list(onsets)

    @staticmethod
    def _column(results, run, key) -> np.ndarray:
        if not results:
            raise ValueError("no per-seed results of this experiment were measured.")
        try:
            return np.array([float(r[run][key]) for r in results])
        except KeyError as err:
            raise KeyError(f"no quantity {key!r} for run {run!r} ({err} missing).") from None

    def end(self, run: str, key: str) -> np.ndarray:
        """One end-of-training quantity (section 4.4), one value per seed."""
        return self._column(self.end_results, run, key)

    def onset(self, run: str, key: str) -> np.ndarray:
        """One quantity of the onset experiment at the calm checkpoint (section 4.5), one value per seed."""
        return self._column(self.onset_results, run, key)

    def max_over_onsets(self, suffix: str) -> float:
        """The largest value, over seeds and runs, of every onset quantity whose name ends with ``suffix``."""
        if not isinstance(suffix, str):
            raise TypeError(f"suffix must be a string (the end of a quantity's name), got {type(suffix).__name__}.")
        vals = [v for o in self.onset_results for r in o.values() for k, v in r.items() if k.endswith(suffix)]
        return max(vals) if vals else 0.0


def mean_sd(values, fmt: str = ".2f") -> str:
    """``mean ± sd`` over seeds (sample standard deviation), formatted with ``fmt``."""
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or v.size < 2:
        raise ValueError(f"mean_sd needs a 1-d array of at least 2 per-seed values, got shape {v.shape}.")
    return f"{np.mean(v):{fmt}} ± {np.std(v, ddof=1):{fmt}}"


def onset_formula_error(n: int = 1000, *, seed: int = 0) -> float:
    """Largest error of ``ph.onset_lr`` and ``ph.step_radius`` on ``n`` random complex eigenvalues (eq-ch4-onset).

    For each ``mu`` with ``Re mu > 0``: ``|onset_lr(mu) - 2 Re mu / |mu|^2|`` plus
    ``|step_radius(onset_lr(mu), mu) - 1|`` (section 4.1: at the onset the radius is exactly 1).
    """
    n = check_positive("n", n, integer=True)
    gen = torch.Generator().manual_seed(check_seed(seed))
    re = torch.rand(n, dtype=torch.float64, generator=gen) + 0.1
    mu = torch.complex(re, torch.randn(n, dtype=torch.float64, generator=gen))
    err = 0.0
    for m in mu[:, None]:
        onset = ph.onset_lr(m)
        err = max(err, abs(onset - float(2 * m.real / m.abs() ** 2)) + abs(ph.step_radius(onset, m) - 1))
    return err


def fd_update(model: nn.Module, x, y, v, attack, *, h: float = 1e-6, lr: float = 0.1) -> torch.Tensor:
    """Central finite difference along ``v`` of one step of ``train()`` (eq-ch4-G; section 4.3).

    Equals ``-lr J_eff v`` for a differentiable attack and ``-lr H_thth v`` at the fixed delta
    for a sign attack: an oracle that knows nothing of ``torch.func``.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    check_positive("h", h)
    check_positive("lr", lr)
    theta = torch.nn.utils.parameters_to_vector(model.parameters()).detach()
    if not isinstance(v, torch.Tensor) or v.shape != theta.shape:
        raise ValueError(f"v must be a tensor of shape {tuple(theta.shape)} (one entry per weight).")

    def step(point):
        net = copy.deepcopy(model)
        torch.nn.utils.vector_to_parameters(point, net.parameters())
        return train(net, x, y, lr=lr, steps=1, attack=attack, record_updates=True).updates[0]

    return (step(theta + h * v) - step(theta - h * v)) / (2 * h)


def run_seeds(
    seeds,
    x,
    y,
    *,
    make_model: Callable[[int], nn.Module],
    runs: Mapping,
    end: Mapping | None,
    onset: Mapping,
    probes: Mapping,
    variants: Mapping | None = None,
    k: int = claims.TOP_K,
) -> SeedData:
    """Both experiments of section 4.4 for every seed: end of training and the onset search.

    ``runs`` maps a name to ``(attack, jeff)`` (``ph.seed_experiment``'s convention); ``end`` holds
    the end-of-training knobs (``lr``, ``steps``, ``window``, optional ``x_test`` / ``y_test``;
    ``None`` skips that experiment), ``onset`` the calm warm-up and search knobs of
    ``ph.onset_experiment``, ``probes[run]`` its probes and ``variants[run]`` its variants.
    """
    seeds = _check_seeds(seeds)
    if not isinstance(runs, Mapping) or not runs:
        raise ValueError("runs must be a non-empty dict name -> (attack, jeff).")
    missing = [r for r in runs if r not in probes]
    if missing:
        raise ValueError(f"probes has no entry for the runs {missing}.")
    variants = variants or {}
    end_results = []
    if end is not None:
        end_results = [
            ph.seed_experiment(s, x, y, runs=dict(runs), probe_steps=0, make_model=make_model, k=k, **end)
            for s in seeds
        ]
    onsets = [
        {
            run: ph.onset_experiment(
                s,
                x,
                y,
                attack=attack,
                jeff=jeff,
                probes=probes[run],
                variants=variants.get(run),
                make_model=make_model,
                k=k,
                **onset,
            )
            for run, (attack, jeff) in runs.items()
        }
        for s in seeds
    ]
    return SeedData(end_results, onsets)


def end_table(data: SeedData, runs, lr: float) -> list[dict]:
    """Rows of the end-of-training table (section 4.4): accuracies, negative cosines, eta times top curvatures."""
    _check_data(data)
    rows = []
    for run in runs:
        row = {"run": run}
        row["test acc"] = mean_sd(data.end(run, "test_acc"), ".3f")
        row["robust acc"] = mean_sd(data.end(run, "robust_acc"), ".3f")
        row["neg. cos."] = mean_sd(data.end(run, "neg_cos"))
        for key, label in (("lam_clean", "clean"), ("lam_fixed", "fixed"), ("mu_re", "step")):
            row[f"eta*lam1 {label}"] = mean_sd(lr * data.end(run, key))
        rows.append(row)
    return rows


def pinned_table(data: SeedData, runs, *, where: str = "end", prefix: str = "") -> list[dict]:
    """Fractions of delta's coordinates pinned at the ball, at the box only, and free (section 4.2)."""
    _check_data(data)
    if where not in ("end", "onset"):
        raise ValueError(f"where must be 'end' or 'onset' (which experiment), got {where!r}.")
    get = data.end if where == "end" else data.onset
    rows = []
    for run in runs:
        ball, box = get(run, prefix + "at_ball"), get(run, prefix + "at_box")
        rows.append(
            {"run": run, "at the ball": mean_sd(ball), "box only": mean_sd(box), "free": mean_sd(1 - ball - box)}
        )
    return rows


def onset_line(label: str, observed, predicted, found) -> dict:
    """One row of an onset table: observed over predicted onset, and how many seeds were bracketed (4.5)."""
    observed, predicted, found = (np.asarray(v, dtype=float) for v in (observed, predicted, found))
    if not observed.shape == predicted.shape == found.shape or observed.ndim != 1:
        raise ValueError("observed, predicted and found must be 1-d arrays of one length (one value per seed).")
    return {
        "configuration": label,
        "obs/pred": mean_sd(np.asarray(observed) / np.asarray(predicted)),
        "found": f"{int(found.sum())}/{found.size}",
    }


def measure_controls(evidence, data: SeedData, cases, *, setting: str = "digits-mlp") -> tuple[dict, list[dict]]:
    """The detector's calibration records (section 4.5): ``|eta_onset / (2 / lambda_1) - 1|`` per control.

    ``cases``: ``(spec, run, key, regime)`` with ``key`` the prefix of the observed onset
    (``"p30:"``, ``"frozen:"``). The prediction is ``pred_A`` of that run (``2 / lambda_1`` of the
    clean Hessian for standard training, of ``H_thth`` at the frozen delta otherwise).
    Returns ``{spec name: record}`` and the table's rows.
    """
    _check_data(data)
    control, rows = {}, []
    for spec, run, key, regime in cases:
        obs, pred, found = data.onset(run, key + "obs"), data.onset(run, "pred_A"), data.onset(run, key + "found")
        measured = {"observed": obs, "pred": pred, "found": found}
        control[spec.name] = evidence.claim(
            spec, np.abs(obs / pred - 1), setting=setting, regime=regime, measured=measured
        )
        label = f"{spec.name} ({claims.short_regime(regime).split(' | ')[-1]})"
        rows.append({**onset_line(label, obs, pred, found), "outcome": control[spec.name].outcome})
    return control, rows


def judge_onsets(evidence, data: SeedData, cases, control: Mapping, *, setting: str = "digits-mlp"):
    """Readings A and B as predictions of the onset (section 4.9, eq-ch4-onset), judged where the controls hold.

    ``cases``: ``(run, observed prefix, prediction prefix, regime, gates)`` with ``gates`` the control
    spec names that must hold. Returns (records, rows of judged readings, rows of readings not judged).
    """
    _check_data(data)
    records, judged, skipped = [], [], []
    for run, obs_key, pred_key, regime, gates in cases:
        obs, found = data.onset(run, obs_key + "obs"), data.onset(run, obs_key + "found")
        why = claims.not_judged([control[g] for g in gates])
        label = claims.short_regime(regime).split(", from")[0].split("; frozen")[0]
        for spec, which in ((claims.A_ONSET, "pred_A"), (claims.B_ONSET, "pred_B")):
            pred = data.onset(run, pred_key + which)
            row = onset_line(f"{label}: Reading {which[-1]}", obs, pred, found)
            if why:
                skipped.append({**row, "not judged": "; ".join(why)})
                continue
            measured = {"observed": obs, "pred": pred, "found": found}
            records.append(
                evidence.claim(spec, np.abs(obs / pred - 1), setting=setting, regime=regime, measured=measured)
            )
            judged.append({**row, "outcome": records[-1].outcome})
    return records, judged, skipped


def oscillation_records(evidence, data: SeedData, attacks: Mapping, *, key: str, setting: str = "digits-mlp"):
    """ch4-oscillation per attack (section 4.6): onset(adversarial) / onset(standard), same detector."""
    _check_data(data)
    std = data.onset("standard", key)
    return [
        evidence.claim(
            claims.OSCILLATION,
            data.onset(run, key) / std,
            setting=setting,
            regime=regime,
            measured={"adversarial": data.onset(run, key), "standard": std},
        )
        for run, regime in attacks.items()
    ]


def follows_records(evidence, data: SeedData, attacks: Mapping, control: Mapping, *, key: str, setting="digits-mlp"):
    """ch4-delta-follows per attack (section 4.10): onset with delta recomputed / with delta frozen.

    Gated like ``judge_onsets``: an attack whose delta-frozen control (``control[gate]``) does not
    hold is not recorded (its denominator, the frozen onset, is not shown to be found).
    """
    _check_data(data)
    out = []
    for run, (regime, gate) in attacks.items():
        live, frozen = data.onset(run, key), data.onset(run, "frozen:obs")
        if control[gate].outcome != "holds":
            continue  # gated as judge_onsets: the ratio's denominator is not shown to be trusted
        out.append(
            evidence.claim(
                claims.DELTA_FOLLOWS,
                live / frozen,
                setting=setting,
                regime=f"{regime}; delta-frozen control {control[gate].outcome}",
                measured={"recomputed": live, "frozen": frozen},
            )
        )
    return out


def m_growth_record(evidence, data: SeedData, run: str, regime: str, *, variant: str = "m=1:", setting="digits-mlp"):
    """ch4-m-growth (section 4.10): Re mu_1(J_eff) / lambda_1(H_thth) at m minus the same at one attack step."""
    _check_data(data)
    ratio_m = data.onset(run, "mu1") / data.onset(run, "lam1")
    ratio_1 = data.onset(run, variant + "mu1") / data.onset(run, variant + "lam1")
    rec = evidence.claim(
        claims.M_GROWTH,
        ratio_m - ratio_1,
        setting=setting,
        regime=regime,
        measured={"ratio_m": ratio_m, "ratio_1": ratio_1},
    )
    return rec, ratio_m, ratio_1


def width_sweep(
    widths,
    seeds,
    x,
    y,
    *,
    make_model: Callable[[int, int], nn.Module],
    attack,
    jeff: Mapping,
    lr: float,
    steps: int,
    window: int,
    onset: Mapping | None = None,
    probe=(30, 15),
) -> tuple[list[dict], dict]:
    """What changes with width (section 4.12): the same two experiments, for the paper's attack, per width.

    ``make_model(width, seed)``. Per width and seed: the end-of-training run at ``lr``
    (negative-cosine fraction over the last ``window`` steps, ``eta Re mu_1(J_eff)``,
    ``eta lambda_1(H_thth)``, their ratio ``Re mu_1 / lambda_1``) and, only when ``onset`` is given,
    from its calm checkpoint the observed onset over Reading B's and Reading A's predictions
    (eq-ch4-onset). Returns the rows (one per width, mean ± sd) and, per width, the means of
    ``neg_cos``, ``eta_mu``, ``mu_over_lam`` (and ``obs_pred_b`` with ``onset``).
    """
    seeds = _check_seeds(seeds)
    rows, means = [], {}
    for width in widths:
        width = check_positive("width", width, integer=True)
        build = lambda s, w=width: make_model(w, s)  # noqa: E731
        end = [
            end_of_training(build(s), x, y, attack=attack, jeff=jeff, lr=lr, steps=steps, window=window) for s in seeds
        ]
        end = {key: np.array([e[key] for e in end]) for key in end[0]}
        means[width] = {
            "neg_cos": float(end["neg_cos"].mean()),
            "eta_mu": float(lr * end["mu_re"].mean()),
            "mu_over_lam": float((end["mu_re"] / end["lam_fixed"]).mean()),
        }
        row = {
            "width": width,
            "neg. cos. (end)": mean_sd(end["neg_cos"]),
            "eta*Re mu1 (end)": mean_sd(lr * end["mu_re"]),
            "eta*lam1 fixed (end)": mean_sd(lr * end["lam_fixed"]),
            "Re mu1 / lam1 (end)": mean_sd(end["mu_re"] / end["lam_fixed"]),
        }
        if onset is not None:
            data = run_seeds(
                seeds,
                x,
                y,
                make_model=build,
                runs={"ascent": (attack, dict(jeff))},
                end=None,
                onset={**onset, "frozen": False},
                probes={"ascent": (tuple(probe),)},
            )
            obs = data.onset("ascent", f"p{probe[0]}:obs")
            means[width]["obs_pred_b"] = float((obs / data.onset("ascent", "pred_B")).mean())
            row["onset eta"] = mean_sd(obs, ".3f")
            row["obs/pred B"] = mean_sd(obs / data.onset("ascent", "pred_B"))
            row["obs/pred A"] = mean_sd(obs / data.onset("ascent", "pred_A"))
        rows.append(row)
    return rows, means


def end_of_training(model: nn.Module, x, y, *, attack, jeff: Mapping, lr: float, steps: int, window: int) -> dict:
    """The end-of-training quantities of section 4.12 for one model (trained in place), without the extras.

    The same functions as ``ph.seed_experiment`` (``train``, ``ph.negative_cosines``,
    ``ph.jeff_top_eig``, ``ph.param_hessian_top_eig`` at the attack's delta, tolerance 1e-3), minus
    the per-sample shares and the accuracies: ``neg_cos``, ``mu_re`` (Re mu_1 of J_eff) and
    ``lam_fixed`` (lambda_1 of H_thth at the final delta).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    log = train(model, x, y, lr=lr, steps=steps, attack=attack)
    mu, _, _ = ph.jeff_top_eig(model, x, y, **jeff, k=claims.TOP_K, tol=1e-3)
    delta = attack(model, x, y).detach()
    lam = ph.param_hessian_top_eig(model, x, y, delta=delta, tol=1e-3)[0][0]
    return {"neg_cos": ph.negative_cosines(log, window=window), "mu_re": float(mu[0].real), "lam_fixed": float(lam)}


def plot_end_curvature(data: SeedData, runs, lr: float):
    """Figure of section 4.4: eta times the top eigenvalue of three operators, per kind of training."""
    _check_data(data)
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    quantities = [
        ("lam_clean", "clean $H$", "o"),
        ("lam_fixed", r"$H_{\theta\theta}$, $\delta$ fixed", "s"),
        ("mu_re", r"step operator (Re $\mu_1$)", "D"),
    ]
    for j, run in enumerate(runs):
        for q, (key, label, marker) in enumerate(quantities):
            vals = lr * data.end(run, key)
            pos = j + (q - 1) * 0.22
            ax.plot(np.full(len(vals), pos), vals, marker, color=f"C{q}", alpha=0.4, ms=4)
            ax.errorbar(
                pos,
                vals.mean(),
                yerr=vals.std(ddof=1),
                fmt=marker,
                color=f"C{q}",
                capsize=3,
                label=label if j == 0 else None,
            )
    ax.axhline(2, color="k", lw=0.8, ls=":")
    ax.set_xticks(range(len(runs)), list(runs))
    ax.set(ylabel=r"$\eta\times$ top eigenvalue", title="Top curvature times learning rate at the end of training")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_onsets(panels: Mapping):
    """Figure of section 4.9: observed onset against each reading's prediction, one marker per seed.

    ``panels`` maps a panel title to ``{run: (observed, pred_A, pred_B)}``.
    """
    if not isinstance(panels, Mapping) or not panels:
        raise ValueError("panels must be a non-empty dict title -> {run: (observed, pred_A, pred_B)}.")
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    for ax, (title, series) in zip(axes[0], panels.items(), strict=True):
        top = 0.0
        for j, (run, (obs, pred_a, pred_b)) in enumerate(series.items()):
            ax.plot(pred_a, obs, "s", color=f"C{j}", mfc="none", label=f"{run}, Reading A")
            ax.plot(pred_b, obs, "D", color=f"C{j}", label=f"{run}, Reading B")
            top = max(top, float(np.max(pred_a)), float(np.max(pred_b)), float(np.max(obs)))
        lim = [0, 1.1 * top]
        ax.plot(lim, lim, "k:", lw=0.8)
        ax.fill_between(lim, [0.8 * v for v in lim], [1.2 * v for v in lim], color="k", alpha=0.07)
        ax.set(xlabel="predicted onset learning rate", ylabel="observed onset", xlim=lim, ylim=lim, title=title)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def setting_outcomes(records, settings_order: Sequence[str]) -> list[dict]:
    """Side by side (section 4.14): each claim group's outcome per setting, from the records.

    A group measured in one setting only shows "not measured" in the other.
    """
    from ..claims import check_records, paper_outcome

    claims_ = [r for r in check_records(records) if r.kind == "claim"]
    groups = list(dict.fromkeys(r.spec.group for r in claims_))
    rows = []
    for group in groups:
        row = {"claim": group}
        for setting in settings_order:
            recs = [r for r in claims_ if r.spec.group == group and r.setting == setting]
            row[setting] = paper_outcome(recs) if recs else "not measured"
        rows.append(row)
    return rows


def pgd_decomposition(data: SeedData, *, key: str = "p30:obs") -> tuple[list[dict], float]:
    """PGD's onset shortfall per seed (section 4.9): live/pred = frozen/pred x live/frozen, exactly.

    Returns the three rows (mean ± sd over seeds) and the product of the means of the last two.
    """
    _check_data(data)
    live, frozen, pred = data.onset("PGD", key), data.onset("PGD", "frozen:obs"), data.onset("PGD", "pred_A")
    rows = [
        {"PGD, per seed": "live / pred", "mean ± sd": mean_sd(live / pred)},
        {"PGD, per seed": "frozen / pred (its control)", "mean ± sd": mean_sd(frozen / pred)},
        {"PGD, per seed": "live / frozen (recomputing delta)", "mean ± sd": mean_sd(live / frozen)},
    ]
    return rows, float(np.mean(frozen / pred) * np.mean(live / frozen))


def few_samples_table(data: SeedData, runs, n_train: int) -> list[dict]:
    """Rows of section 4.11 (eq-ch4-participation): N_eff, the negative part of the shares, the top-10 share."""
    _check_data(data)
    return [
        {
            "run": run,
            f"N_eff of {n_train}": mean_sd(data.end(run, "n_eff"), ".0f"),
            "negative part": mean_sd(data.end(run, "neg_share"), ".1e"),
            "top-10 share": mean_sd(data.end(run, "top10_share")),
        }
        for run in runs
    ]


def differences(records, side: Sequence[Mapping]) -> list[str]:
    """Section 4.14: for each claim whose outcome differs between settings, one line per record with its numbers.

    ``side`` is :func:`setting_outcomes`'s rows; a claim "not measured" in a setting is not a difference.
    """
    from ..claims import check_records

    claims_ = [r for r in check_records(records) if r.kind == "claim"]
    lines = []
    for row in side:
        outcomes = [v for k, v in row.items() if k != "claim"]
        if "not measured" in outcomes or len(set(outcomes)) < 2:
            continue
        lines.append(f"{row['claim']} differs between the settings:")
        for r in (c for c in claims_ if c.spec.group == row["claim"]):
            low, high = r.ci
            lines.append(f"  {r.setting}: {r.estimate:.3g} [{low:.3g}, {high:.3g}] -> {r.outcome}")
    return lines


def checkpoint_curvature(
    data: SeedData, setting: str, *, attack: str = "gradient ascent", key: str = "p30:obs"
) -> dict:
    """One row of section 4.14: the calm checkpoints' curvatures behind ch4-oscillation, in one setting.

    The oscillation claim compares onsets; Reading B predicts each onset from the curvature of the
    step operator at its own checkpoint (eq-ch4-onset). The row shows lambda_1 of the clean Hessian
    at the standard checkpoint, lambda_1(H_thth) and Re mu_1(J_eff) at the attack's checkpoint, and
    Reading B's predicted ratio of onsets per seed, ``lambda_1(standard) / Re mu_1(J_eff)``
    (the ratio of ``2 / curvature``), and the ratio of observed onsets (adversarial / standard).
    """
    _check_data(data)
    return {
        "setting": setting,
        "lam1 standard": mean_sd(data.onset("standard", "lam1"), ".1f"),
        "lam1(H_thth) attack": mean_sd(data.onset(attack, "lam1"), ".1f"),
        "Re mu1(J_eff) attack": mean_sd(data.onset(attack, "mu1"), ".1f"),
        "pred. ratio": mean_sd(data.onset("standard", "lam1") / data.onset(attack, "mu1")),
        "onset ratio": mean_sd(data.onset(attack, key) / data.onset("standard", key)),
    }


def paired_follows_difference(data: SeedData, *, key: str = "p30:obs", attacks=("gradient ascent", "PGD")) -> dict:
    """Section 4.10: does the recompute effect single out J_eff? Per seed, live/frozen of the paper's
    attack minus live/frozen of PGD (same seed, same checkpoint warm-up, same detector).

    Only the paper's attack has a J_eff term (PGD: d delta / d theta = 0 a.e.), so a J_eff-specific
    effect makes the difference negative. Returns the per-seed differences and their mean with a 95%
    t-interval (``mean``, ``low``, ``high``); descriptive, not a record.
    """
    _check_data(data)
    first, second = attacks
    diff = data.onset(first, key) / data.onset(first, "frozen:obs")
    diff = diff - data.onset(second, key) / data.onset(second, "frozen:obs")
    mean, low, high = t_interval(diff)
    return {"per_seed": diff, "mean": mean, "low": low, "high": high}
