"""Chapter 1 (ReLU networks are locally linear; the input Hessian): the notebook's pipelines.

Each function computes one step of the chapter for a list of trained networks (one per
seed) and returns numbers or table rows; the notebook prints them with
``advnotes.tables.show`` and records identities and claims with ``advnotes.claims``.
The same functions serve both settings of the book (``advnotes.settings``): the digits
MLP (inputs (B, 64)) and the MNIST-1D CNN (inputs (B, 1, 40), flattened to ``n = 40``
wherever the local map is used). The equations are the chapter's: ``eq-local-linear``
(section 1.1), ``eq-A`` and ``eq-input-hessian`` (1.2-1.4), ``eq-lambda-bound`` and
``eq-lambda-lower`` (1.6).

A max-pool choice that changes also leaves the linear region (``thm-local-linear``), so
the linearity runs count ``advnotes.linear_regions.count_choice_flips`` (ReLU gates and
pool winners), not ``count_gate_flips`` (gates only).
"""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import hessian

from .. import config
from ..attacks import random_direction
from ..claims import Evidence
from ..claims import ch1 as claims
from ..curvature import input_gradient, input_hessian, input_hessian_eig, one_minus
from ..linear_regions import count_choice_flips, local_linear_map, run_with_hooks
from ..models import check_piecewise_linear, mlp
from ..settings import PUBLISHED, Setting
from ..stats import roundoff, t_interval, to_numpy
from ..training import accuracy, train_ensemble
from ..validation import check_inputs, check_model_data, check_model_input

#: Regimes of section 1.5 (top share) and 1.6 (curvature against uncertainty), by key.
ALL = "all test inputs"
UNCONFIDENT = f"unconfident test inputs (max p < {claims.CONFIDENT})"
WRONG = "misclassified test inputs"
CONFIDENTLY_WRONG = "confidently wrong vs matched correct inputs"
#: Radii (Euclidean) of the random steps of section 1.1.
RADII = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
#: Short names of the regimes for the side-by-side table of section 1.8.
SHORT = {ALL: "all", UNCONFIDENT: "unconfident", WRONG: "misclassified", CONFIDENTLY_WRONG: "matched"}


def _check_models(models) -> list[nn.Module]:
    if isinstance(models, nn.Module) or not isinstance(models, (list, tuple)) or not models:
        raise TypeError(f"models must be a non-empty list of trained networks (one per seed), got {models!r}.")
    for m in models:
        if not isinstance(m, nn.Module):
            raise TypeError(f"models must hold torch.nn.Module networks, got {type(m).__name__}.")
    return list(models)


def _check_curv(curv) -> list:
    if not isinstance(curv, (list, tuple)) or not curv or not all(isinstance(s, Spectrum) for s in curv):
        raise TypeError(
            "curv must be a non-empty list of Spectrum, one per seed (pipeline.spectra(models, x, y)), "
            f"got {type(curv).__name__}."
        )
    return list(curv)


def _check_dict(name: str, value, what: str, keys=()) -> dict:
    if not isinstance(value, dict) or not value:
        raise TypeError(f"{name} must be the non-empty dict returned by {what}, got {type(value).__name__}.")
    missing = [k for k in keys if k not in value]
    if missing:
        raise ValueError(f"{name} must be the dict returned by {what}; it lacks {missing}.")
    return value


def _check_evidence(evidence) -> None:
    if not isinstance(evidence, Evidence):
        raise TypeError(
            f"evidence must be an advnotes.claims.Evidence (Evidence(chapter=1)), got {type(evidence).__name__}."
        )


def _check_maps(maps) -> list:
    if (
        not isinstance(maps, (list, tuple))
        or not maps
        or not all(isinstance(m, (list, tuple)) and len(m) == 2 for m in maps)
    ):
        raise TypeError("maps must be a non-empty list of local maps (W, b), one per seed: local_linear_map(model, x).")
    return list(maps)


# --------------------------------------------------------------------------- training


def train_setting(setting: Setting, *, seeds, device=None, train_dtype=torch.float64):
    """Section 1.1: the setting's networks, one per seed, trained together; returned in float64.

    Returns ``(split, models, logs)``: the setting's data in float64 on ``device``, the
    networks in eval mode (checked piecewise linear) and their training logs. The recipe
    is the setting's (``setting.recipe``). ``train_dtype=torch.float32`` trains in single
    precision (about twice as fast on a CPU) and converts the trained weights to float64:
    the identities are then checked to float64 round-off on that float64 network.
    """
    if not isinstance(setting, Setting):
        raise TypeError(f"setting must be an advnotes.settings.Setting (settings.get(name)), got {setting!r}.")
    if train_dtype not in (torch.float32, torch.float64):
        raise ValueError(f"train_dtype must be torch.float32 or torch.float64, got {train_dtype!r}.")
    split = setting.load(dtype="float64").to(device)
    x_train = split.x_train.to(train_dtype)

    def make(seed):
        return setting.make_model(seed, dtype=train_dtype, device=device)

    models, logs = train_ensemble(make, x_train, split.y_train, seeds=list(seeds), **setting.recipe)
    return split, [check_piecewise_linear(m.double().eval()) for m in models], logs


def mnist1d_accuracies(cnn_accuracy, *, seeds, recipe: dict, hidden=(128, 128)) -> list[dict]:
    """Section 1.8: clean test accuracy of an MLP and the CNN on MNIST-1D beside the published figures.

    ``cnn_accuracy``: the CNN's test accuracy per seed (trained by ``train_setting``).
    The MLP ``mlp(40, hidden, 10)`` trains here on the flat signals in float32 with
    ``recipe`` (the CNN's, for a like-for-like comparison), one per seed. Returns rows
    (model, mean, 95% t-interval over seeds, published) for ``tables.show``.
    """
    from ..data import load_mnist1d

    cnn_accuracy = [float(a) for a in to_numpy(cnn_accuracy, name="cnn_accuracy", finite=True).reshape(-1)]
    flat = load_mnist1d(dtype="float32")

    def make(seed):
        torch.manual_seed(seed)
        return mlp(flat.num_features, hidden, flat.num_classes)

    mlps, _ = train_ensemble(make, flat.x_train, flat.y_train, seeds=list(seeds), **recipe)
    mlp_accuracy = [accuracy(m.eval(), flat.x_test, flat.y_test) for m in mlps]
    rows = []
    for name, acc in (("MLP", mlp_accuracy), ("CNN", cnn_accuracy)):
        mean, lo, hi = t_interval(acc)
        rows.append(
            {
                "model": name,
                "seeds": len(acc),
                "test accuracy": mean,
                "95% interval": (lo, hi),
                "published": PUBLISHED[name],
            }
        )
    return rows


# --------------------------------------------------------------------------- 1.1 local linearity


def sign_directions(models, x, y, *, generator) -> dict[str, list[torch.Tensor]]:
    """Section 1.1: per seed, the sign step ``sign(g)`` of FGSM/PGD and a step along random signs."""
    models = _check_models(models)
    x = check_inputs(x)
    signs = {"sign(g)": [torch.sign(input_gradient(m, x, y)).reshape(x.shape) for m in models]}
    signs["random signs"] = [(torch.randint(0, 2, x.shape, generator=generator) * 2 - 1).to(x) for _ in models]
    return signs


def linearity_runs(models, maps, x, *, signs, eps_values, clamp=None, generator, radii=RADII) -> dict:
    """Section 1.1 (``thm-local-linear``): the local map's error after random and L-inf steps.

    For each network (with its local map ``(W, b)`` from ``maps``) and each step
    (random of Euclidean norm ``r`` for ``r`` in ``radii``; ``eps * sign`` for each
    direction in ``signs`` and each ``eps`` in ``eps_values``, projected onto ``clamp``
    when given), returns ``{label: [(error, choice flips, |step|_2) per seed]}``; error
    is ``max_c |f(x')_c - (W x' + b)_c|`` (B,).
    """
    models = _check_models(models)
    steps: dict[str, list[torch.Tensor]] = {}
    for r in radii:
        steps[f"random, r = {r:.0e}"] = [x + random_direction(x, norm=r, generator=generator) for _ in models]
    for eps in eps_values:
        for kind, per_seed in signs.items():
            moved = [x + eps * d for d in per_seed]
            steps[f"{kind}, eps = {eps:g}"] = [v.clamp(*clamp) if clamp else v for v in moved]
    runs = {}
    for label, x_new in steps.items():
        runs[label] = []
        for m, (W, b), xn in zip(models, maps, x_new):
            with torch.no_grad():
                pred = torch.einsum("bcn,bn->bc", W, xn.reshape(len(xn), -1)) + b
                err = (m(xn) - pred).abs().amax(dim=1)
            runs[label].append((err, count_choice_flips(m, x, xn), (xn - x).flatten(1).norm(dim=1)))
    return runs


def linearity_rows(runs: dict) -> list[dict]:
    """Section 1.1: one table row per step: median length, inputs that kept every choice, largest errors."""
    _check_dict("runs", runs, "linearity_runs")
    rows = []
    for label, per_seed in runs.items():
        kept = [int((f == 0).sum()) for _, f, _ in per_seed]
        e_ok = [float(e[f == 0].max()) for e, f, _ in per_seed if (f == 0).any()]
        e_fl = [float(e[f > 0].max()) for e, f, _ in per_seed if (f > 0).any()]
        ok = ("round-off" if max(e_ok) <= claims.ROUNDOFF else f"{max(e_ok):.1e}") if e_ok else "-"
        total = sum(len(e) for e, _, _ in per_seed)
        rows.append(
            {
                "step": label,
                "median L2": float(torch.cat([s for *_, s in per_seed]).median()),
                "kept (per seed)": f"{sum(kept)}/{total} ({min(kept)}-{max(kept)})",
                "err kept": ok,
                "err left": f"{max(e_fl):.1e}" if e_fl else "-",
            }
        )
    return rows


def linearity_error_kept(runs: dict) -> float:
    """``LOCAL_LINEAR``'s error: the largest logit error over steps that kept every choice (0 if none)."""
    _check_dict("runs", runs, "linearity_runs")
    errs = [float(e[f == 0].max()) for ps in runs.values() for e, f, _ in ps if (f == 0).any()]
    return max(errs, default=0.0)


# --------------------------------------------------------------------------- 1.3 closed form vs autograd


def autograd_curvature(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Section 1.3: input gradient (B, n) and Hessian (B, n, n) of the per-example loss by autograd.

    The independent route against ``eq-input-hessian``: ``torch.func.grad`` and
    ``torch.func.hessian`` differentiate the network, vectorised over the batch; inputs
    of any shape are flattened to ``n`` entries.
    """

    x, y, _ = check_model_data(model, x, y, module=True)

    def loss_one(xi, yi):
        return F.cross_entropy(model(xi[None]), yi[None])

    with torch.no_grad():
        g = torch.vmap(torch.func.grad(loss_one))(x, y)
        H = torch.vmap(hessian(loss_one))(x, y)
    n = x[0].numel()
    return g.reshape(len(x), n), H.reshape(len(x), n, n)


def distance_to_kink(model: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """Section 1.3 and 1.8: how far the inputs sit from a kink: smallest |ReLU input|, max-pool gap, ties.

    The pool gap is the smallest nonzero difference between the largest and the second
    largest entry of a pooling window whose largest entry is positive (``nan`` without
    pooling). Exact ties are counted apart (``"pool ties"``), and among them those where
    both entries equal the bias of the convolution before the pool (``"ties at the bias"``):
    there every input of the entries' receptive fields is 0 (off ReLUs or zero padding),
    so both entries are constant near ``x`` and the tie does not break the local map of
    ``thm-local-linear``. A tie elsewhere would. Windows whose entries are all 0 (every
    ReLU feeding them off) are left out: their output is 0 near ``x`` whichever entry wins.
    """
    check_piecewise_linear(model)
    check_model_input(model, x)
    relu, gap, ties, at_bias, bias = [], [], [0], [0], [None]

    def conv_hook(mod, inp, out):
        bias[0] = mod.bias

    def relu_hook(mod, inp, out):
        relu.append(float(inp[0].abs().min()))

    def pool_hook(mod, inp, out):
        k = mod.kernel_size if isinstance(mod.kernel_size, int) else mod.kernel_size[0]
        windows = inp[0].unfold(-1, k, mod.stride if isinstance(mod.stride, int) else mod.stride[0])
        top2 = windows.topk(2, dim=-1).values
        d, live = top2[..., 0] - top2[..., 1], top2[..., 0] > 0
        tie = live & (d == 0)
        ties[0] += int(tie.sum())
        if bias[0] is not None:
            at_bias[0] += int((tie & (top2[..., 0] == bias[0][None, :, None])).sum())
        gap.append(float(d[live & (d > 0)].min()) if (live & (d > 0)).any() else float("inf"))

    kinds = ((nn.ReLU, relu_hook), (nn.MaxPool1d, pool_hook), (nn.Conv1d, conv_hook))
    run_with_hooks(model, x, [(mod, hook) for mod in model.modules() for kind, hook in kinds if isinstance(mod, kind)])
    return {
        "pre-activation": min(relu, default=float("nan")),
        "pool gap": min(gap, default=float("nan")),
        "pool ties": ties[0],
        "ties at the bias": at_bias[0],
    }


def closed_form_errors(model, W, b, x, y) -> dict[str, np.ndarray]:
    """Section 1.3: per-input errors of the closed form ``eq-input-hessian`` against two references.

    ``"closed form"``: float64 closed form against the long-double evaluation
    (``claims.ch1.reference_curvature``), relative to ``|H|`` and ``|g|``;
    ``"autograd"``: autograd against the closed form relative to the cancelling terms
    (``|W^T diag(p) W|`` for H, ``|W|_2`` for g); ``"autograd / |H|"``: the same
    relative to ``|H|``; ``"|H| / cancelling"``: how small ``|H|`` is against them.
    """
    (g_cf, H_cf), (g_ad, H_ad) = input_hessian(model, x, y), autograd_curvature(model, x, y)
    x_flat = x.reshape(len(x), -1)
    if (
        not isinstance(W, torch.Tensor)
        or not isinstance(b, torch.Tensor)
        or W.shape != (*H_cf.shape[:1], b.shape[-1], x_flat.shape[1])
        or b.shape != W.shape[:2]
    ):
        raise ValueError(
            f"W and b must be the local map at x (B, C, n) and (B, C) with B = {len(x)}, n = {x_flat.shape[1]}: "
            "local_linear_map(model, x)."
        )
    g_ref, H_ref = claims.reference_curvature(to_numpy(W), to_numpy(b), to_numpy(x_flat), to_numpy(y))
    p = torch.softmax(b + torch.einsum("bcn,bn->bc", W, x_flat), dim=1)
    d_H = (H_cf - H_ad).flatten(1).norm(dim=1)
    scale_H = torch.einsum("bcn,bc,bcm->bnm", W, p, W).flatten(1).norm(dim=1)
    err_g = (g_cf - g_ad).norm(dim=1) / torch.linalg.matrix_norm(W, ord=2)

    def rel(a, ref):
        d = (to_numpy(a).astype(np.longdouble) - ref).reshape(len(ref), -1)
        return (np.sqrt((d**2).sum(1)) / np.sqrt((ref.reshape(len(ref), -1) ** 2).sum(1))).astype(float)

    return {
        "closed form": np.maximum(rel(H_cf, H_ref), rel(g_cf, g_ref)),
        "autograd": to_numpy(torch.maximum(d_H / scale_H, err_g)),
        "autograd / |H|": to_numpy(d_H / H_ad.flatten(1).norm(dim=1)),
        "|H| / cancelling": to_numpy(H_cf.flatten(1).norm(dim=1) / scale_H),
    }


def fifty_digit_errors(model, W_i, x_i, y_i, *, dps: int = 50) -> dict[str, float]:
    """Section 1.3: closed form and autograd at one input against ``eq-input-hessian`` in ``dps`` digits.

    ``W_i`` (C, n) is the local map at ``x_i`` (one input, any shape) and ``y_i`` its
    label. The logits are taken from the network in float64 and carried to ``dps``
    digits by ``mpmath``; returns ``1 - p_y``, ``|H|`` and the two errors relative to it.
    """
    import mpmath

    xb, yb = x_i[None], torch.as_tensor(y_i).reshape(1)
    if not isinstance(W_i, torch.Tensor) or W_i.dim() != 2 or W_i.shape[1] != x_i.numel():
        raise ValueError(
            f"W_i must be the local map (C, n) at the one input x_i (n = {x_i.numel()}), "
            f"got {getattr(W_i, 'shape', W_i)}."
        )
    H_cf, H_ad = input_hessian(model, xb, yb)[1][0], autograd_curvature(model, xb, yb)[1][0]
    with torch.no_grad():
        logits = [float(v) for v in model(xb)[0]]
    with mpmath.workdps(dps):
        z = [mpmath.mpf(v) for v in logits]
        e = [mpmath.exp(v - max(z)) for v in z]
        p = mpmath.matrix([v / sum(e) for v in e])
        A = mpmath.diag(p) - p * p.T
        Wm = mpmath.matrix(W_i.tolist())
        H_ref = torch.tensor((Wm.T * A * Wm).tolist(), dtype=torch.float64, device=H_cf.device)
        one_minus_py = float(1 - p[int(yb)])
    rel = lambda H: float((H - H_ref).norm() / H_ref.norm())  # noqa: E731
    return {"1 - p_y": one_minus_py, "|H|": float(H_ref.norm()), "closed form": rel(H_cf), "autograd": rel(H_ad)}


# --------------------------------------------------------------------------- 1.4 spectrum identities


class Spectrum(NamedTuple):
    """One network's input curvature over a batch (section 1.4, ``thm-input-hessian``)."""

    dense: torch.Tensor  # (B, n) eigenvalues of the dense H, descending
    small: torch.Tensor  # (B, C) eigenvalues from the C x C route, descending
    eigvecs: torch.Tensor  # (B, n, C - 1) the top C - 1 eigenvectors
    grad: torch.Tensor  # (B, n) the input gradient
    probs: torch.Tensor  # (B, C) the probabilities


def spectra(models, x, y) -> list[Spectrum]:
    """Section 1.4: per network, the dense spectrum of ``H`` and the ``C x C`` route's (``thm-input-hessian``)."""
    out = []
    for m in _check_models(models):
        g, H = input_hessian(m, x, y)
        ev, V = input_hessian_eig(m, x, y)
        with torch.no_grad():
            p = torch.softmax(m(x), dim=1)
        out.append(Spectrum(torch.linalg.eigvalsh(H).flip(-1), ev, V[..., : ev.shape[1] - 1], g, p))
    return out


def spectrum_errors(curv: list[Spectrum]) -> dict:
    """Section 1.4: the errors of identities (i)-(iv) of ``thm-input-hessian``, keyed by spec."""
    curv = _check_curv(curv)
    C = curv[0].small.shape[1]
    rel = [s.dense / s.dense[:, :1] for s in curv]
    resid = [
        (s.grad - (s.eigvecs @ (s.eigvecs.transpose(1, 2) @ s.grad[..., None]))[..., 0]).norm(dim=1)
        / s.grad.norm(dim=1)
        for s in curv
    ]
    eig_err = [(s.small[:, :-1] - s.dense[:, : C - 1]).abs() / s.dense[:, :1] for s in curv]
    return {
        claims.PSD: max(0.0, max(float(-r[:, -1].min()) for r in rel)),
        claims.RANK: max(float(r[:, C - 1].abs().max()) for r in rel),
        claims.GRADIENT_IN_RANGE: max(float(r.max()) for r in resid),
        claims.SMALL_EIGENPROBLEM: max(float(r.max()) for r in eig_err),
    }


def rank_rows(curv: list[Spectrum]) -> tuple[list[dict], dict[str, float]]:
    """Section 1.4: share of inputs at each numerical rank (``claims.ch1.rank_counts``), mean and range over seeds.

    Also returns the median uncertainty ``1 - max p`` of the inputs at rank ``C - 1`` and below it.
    """
    curv = _check_curv(curv)
    C, B = curv[0].small.shape[1], curv[0].small.shape[0]
    counts = [claims.rank_counts(to_numpy(s.dense)) for s in curv]
    rows = []
    for k in sorted({k for c in counts for k in c}, reverse=True):
        share = [c.get(k, 0) / B for c in counts]
        rows.append(
            {
                "numerical rank": k,
                "share of inputs": float(np.mean(share)),
                "seeds": f"{min(share):.1%} to {max(share):.1%}",
            }
        )
    rank = torch.cat([(s.dense > claims.RANK_RTOL * s.dense[:, :1]).sum(dim=1) for s in curv])
    unc = torch.cat([one_minus(s.probs).gather(1, s.probs.argmax(1, keepdim=True))[:, 0] for s in curv])
    full = rank == C - 1
    med = {
        f"rank C - 1 = {C - 1}": float(unc[full].median()) if full.any() else float("nan"),
        "rank below C - 1": float(unc[~full].median()) if (~full).any() else float("nan"),
    }
    return rows, med


def range_shares(curv: list[Spectrum], signs: dict) -> list[dict]:
    """Section 1.4: median share of a sign step's norm inside ``range(H)`` (identity (iii)), per direction."""
    curv = _check_curv(curv)
    rows = []
    for kind, per_seed in signs.items():
        sh = []
        for s, d in zip(curv, per_seed):
            d = d.reshape(len(d), -1)
            sh.append(float(((s.eigvecs.transpose(1, 2) @ d[..., None])[..., 0].norm(dim=1) / d.norm(dim=1)).median()))
        rows.append({"step": kind, "median share in range(H)": float(np.mean(sh)), "seeds": (min(sh), max(sh))})
    return rows


def smallest_singular_ratio(maps) -> float:
    """Section 1.4: smallest ``sigma_(C-1)(PW) / sigma_1(PW)`` with ``P = I - 1 1^T / C`` (rank of ``H``)."""
    maps = _check_maps(maps)
    W0 = maps[0][0]
    C = W0.shape[1]
    P = torch.eye(C, dtype=W0.dtype, device=W0.device) - 1.0 / C
    sv = torch.cat([torch.linalg.svdvals(P @ W) for W, _ in maps])
    return float((sv[:, -2] / sv[:, 0]).min())


# --------------------------------------------------------------------------- 1.5 top share


def spectrum_ratios(curv: list[Spectrum]) -> np.ndarray:
    """Section 1.5: per seed, the median over inputs of ``lambda_i / lambda_1`` for ``i < C`` (seeds, C - 1)."""
    curv = _check_curv(curv)
    C = curv[0].small.shape[1]
    return np.stack([to_numpy((s.small / s.small[:, :1]).median(dim=0).values[: C - 1]) for s in curv])


def top_shares(curv: list[Spectrum]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Section 1.5: per seed, ``lambda_1(H) / tr H`` and ``lambda_1(A) / tr A`` at every input."""
    curv = _check_curv(curv)
    share_H = [to_numpy(s.small[:, 0] / s.small.sum(dim=1)) for s in curv]
    share_A = [np.divide(*claims.softmax_top_eigenvalue(to_numpy(s.probs))) for s in curv]
    return share_H, share_A


def regime_masks(curv: list[Spectrum]) -> dict[str, list[np.ndarray]]:
    """Section 1.5: the regimes of the top-share records: all test inputs and the unconfident ones."""
    curv = _check_curv(curv)
    return {
        ALL: [np.ones(len(s.probs), bool) for s in curv],
        UNCONFIDENT: [to_numpy(s.probs.max(dim=1).values) < claims.CONFIDENT for s in curv],
    }


def share_values(share_H, share_A, masks) -> dict[str, tuple[list[float], list[float], list[int]]]:
    """Section 1.5: per regime, per seed: median top share of H, median |share H - share A|, input count."""
    _check_dict("masks", masks, "regime_masks")
    out = {}
    for regime, ms in masks.items():
        vals = [float(np.median(h[m])) for h, m in zip(share_H, ms)]
        diff = [float(np.median(np.abs(h - a)[m])) for h, a, m in zip(share_H, share_A, ms)]
        out[regime] = (vals, diff, [int(m.sum()) for m in ms])
    return out


def share_rows(share_H, share_A, probs, masks) -> list[dict]:
    """Section 1.5: per regime, the median top share of H, of A and of the second class in ``1 - max p``.

    Each column is the range over seeds of the median over the regime's inputs; the
    last one, ``p_(2) / (1 - max p)``, is 1 when the prediction hesitates between two
    classes only.
    """
    _check_dict("masks", masks, "regime_masks")
    probs = [to_numpy(p) for p in probs]
    second = [np.sort(p, axis=1)[:, -2] / claims.uncertainty(p) for p in probs]
    rows = []
    for regime, ms in masks.items():
        row = {"regime": regime}
        for name, vals in (("H", share_H), ("A", share_A), ("p_(2)/(1 - max p)", second)):
            med = [float(np.median(v[m])) for v, m in zip(vals, ms)]
            row[name] = (min(med), max(med))
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- 1.6 curvature and confidence


def bound_errors(curv: list[Spectrum], maps) -> dict:
    """Section 1.6: the errors of ``eq-lambda-bound`` and ``eq-lambda-lower`` at every input, keyed by spec."""
    curv = _check_curv(curv)
    maps = _check_maps(maps)
    errs = [
        claims.curvature_bound_errors(to_numpy(s.small[:, 0]), to_numpy(W), to_numpy(s.probs))
        for s, (W, _) in zip(curv, maps)
    ]
    upper, lower = (max(e) for e in zip(*errs))
    return {claims.CURVATURE_BOUND: upper, claims.CURVATURE_LOWER_BOUND: lower}


def bound_ratio(curv: list[Spectrum], maps) -> float:
    """Section 1.6: the largest ``lambda_max / (|W|_2^2 (1 - |p|^2))`` over inputs and seeds (how tight)."""
    curv = _check_curv(curv)
    maps = _check_maps(maps)
    out = []
    for s, (W, _) in zip(curv, maps):
        tr_A = (s.probs * one_minus(s.probs)).sum(dim=1)
        out.append(float((s.small[:, 0] / (torch.linalg.matrix_norm(W, ord=2) ** 2 * tr_A)).max()))
    return max(out)


def curvature_stats(curv: list[Spectrum], y) -> dict[str, list]:
    """Section 1.6: ``claims.ch1.curvature_statistics`` per seed, as ``{statistic: [value per seed]}``.

    A statistic a seed cannot give (no confidently wrong input, or fewer than three
    misclassified ones) is ``nan`` for that seed, so no setting crashes the chapter.
    """
    curv = _check_curv(curv)
    per_seed = []
    for s in curv:
        lam, p = to_numpy(s.small[:, 0]), to_numpy(s.probs)
        try:
            per_seed.append(claims.curvature_statistics(lam, p, to_numpy(y)))
        except ValueError:
            per_seed.append(_partial_stats(lam, p, to_numpy(y)))
    keys = list(dict.fromkeys(k for s in per_seed for k in s))
    return {k: [s.get(k, float("nan")) for s in per_seed] for k in keys}


def _partial_stats(lam, p, y) -> dict:
    from scipy import stats

    out = {}
    wrong = p.argmax(axis=1) != y
    unc = claims.uncertainty(p)
    for key, m in (("all", np.ones(len(y), bool)), ("unconfident", p.max(axis=1) < claims.CONFIDENT), ("wrong", wrong)):
        out[f"n_{key}"] = int(m.sum())
        if m.sum() >= 3:
            out[f"rho_uncertainty_{key}"] = float(stats.spearmanr(lam[m], unc[m]).statistic)
    try:
        out["log_ratio_matched"] = claims.matched_log_ratio(lam, p, y)
        out["abs_log_ratio_matched"] = abs(out["log_ratio_matched"])
    except ValueError:
        pass
    out.update({f"n {g}": int(m.sum()) for g, m in claims.confidence_groups(p, y).items()})
    return out


def group_rows(curv: list[Spectrum], y) -> list[dict]:
    """Section 1.6: per group of ``claims.ch1.GROUPS``: inputs per seed and medians of three quantities.

    The quantities: the uncertainty ``1 - max p``, the curvature per unit of it
    ``lambda_max / (1 - max p)`` and the gradient norm ``|g|``; each cell is the range
    over seeds of the group's median.
    """
    curv = _check_curv(curv)
    y = to_numpy(y)
    rows = []
    for g in claims.GROUPS:
        n, cols = [], {"1 - max p": [], "lam_max/(1-max p)": [], "|g|": []}
        for s in curv:
            p, lam = to_numpy(s.probs), to_numpy(s.small[:, 0])
            m = claims.confidence_groups(p, y)[g]
            unc = claims.uncertainty(p)
            n.append(int(m.sum()))
            for name, v in zip(cols, (unc, lam / unc, to_numpy(s.grad.norm(dim=1)))):
                cols[name].append(float(np.median(v[m])) if m.any() else float("nan"))
        row = {"group": g, "inputs/seed": f"{np.mean(n):.0f} ({min(n)}-{max(n)})"}
        row.update({k: f"{min(v):.2g}-{max(v):.2g}" for k, v in cols.items()})
        rows.append(row)
    return rows


def baseline_stats(curv: list[Spectrum], maps, y, seeds) -> dict[str, list]:
    """Section 1.6: ``curvature_stats`` for a curvature drawn at random between the two bounds.

    The baseline of ``claims.ch1.bounds_baseline``, one seeded draw per network.
    """
    curv = _check_curv(curv)
    maps = _check_maps(maps)
    fake = []
    for s, (W, _), seed in zip(curv, maps, seeds):
        lam = claims.bounds_baseline(to_numpy(W), to_numpy(s.probs), seed=int(seed))
        fake.append(s._replace(small=torch.as_tensor(lam)[:, None].expand(-1, s.small.shape[1])))
    return curvature_stats(fake, y)


def rho_rows(stat: dict, base: dict) -> tuple[list[dict], dict[str, str]]:
    """Section 1.6: per seed, rho(lambda_max, 1 - max p) per regime beside the bounds-only baseline.

    Returns the rows (one per seed) and, per regime, on how many seeds the observed
    correlation lies above the baseline's.
    """
    _check_dict("stat", stat, "curvature_stats", keys=("n_all",))
    _check_dict("base", base, "baseline_stats", keys=("n_all",))
    keys = {"all": "all", "unconfident": "unconfident", "wrong": "misclassified"}
    rows = [{"seed": k} for k in range(len(stat["n_all"]))]
    above = {}
    for key, name in keys.items():
        obs = stat.get(f"rho_uncertainty_{key}", [float("nan")] * len(rows))
        bl = base.get(f"rho_uncertainty_{key}", [float("nan")] * len(rows))
        for row, o, b in zip(rows, obs, bl):
            row[name], row[f"{name} (bounds)"] = o, b
        above[name] = f"{sum(o > b for o, b in zip(obs, bl))} of {len(obs)}"
    return rows, above


def caption_rows(stat: dict) -> list[dict]:
    """Section 1.6: the first edition's caption, rho(lambda_max, p_y) per seed, on all and on misclassified inputs."""
    _check_dict("stat", stat, "curvature_stats", keys=("n_all", "n_wrong"))
    rows = []
    for key, what in (("all", "all test inputs"), ("wrong", "misclassified")):
        vals = stat.get(f"rho_py_{key}", [])
        rows.append(
            {
                "inputs": what,
                "rho per seed": ", ".join(f"{v:+.2f}" for v in vals),
                "inputs per seed": ", ".join(str(int(n)) for n in stat[f"n_{key}"]),
            }
        )
    return rows


def wrap(text: str, width: int = 88) -> str:
    """Wrap each line of ``text`` to ``width`` columns, continuation lines indented (for printed declarations)."""
    import textwrap

    if not isinstance(text, str):
        raise TypeError(f"text must be a string, got {type(text).__name__}.")
    return "\n".join(textwrap.fill(line, width, subsequent_indent="    ") for line in text.splitlines())


def spread_rows(curvs: dict, ys: dict) -> list[dict]:
    """Section 1.8: per setting and regime, mean over seeds of two spreads behind the rank correlation.

    ``var log(1 - max p)`` (what the correlation ranks) and ``var log(lambda_max / lambda_1(A))``
    (the factor the local map sets, section 1.6), on the unconfident and on the
    misclassified inputs; the smaller their ratio, the less the factor can blur the ranking.
    ``curvs`` and ``ys``: ``{setting: [Spectrum per seed]}`` and ``{setting: labels}``.
    """
    _check_dict("curvs", curvs, "{setting: pipeline.spectra(...)}")
    _check_dict("ys", ys, "{setting: labels}", keys=tuple(curvs))
    rows = []
    for name, curv in curvs.items():
        curv = _check_curv(curv)
        y = to_numpy(ys[name])
        for regime in ("unconfident", "misclassified"):
            v_u, v_w = [], []
            for s in curv:
                p, lam = to_numpy(s.probs), to_numpy(s.small[:, 0])
                m = p.max(axis=1) < claims.CONFIDENT if regime == "unconfident" else p.argmax(axis=1) != y
                v_u.append(float(np.var(np.log(claims.uncertainty(p)[m]))))
                v_w.append(float(np.var(np.log(lam / claims.softmax_top_eigenvalue(p)[0])[m])))
            rows.append(
                {
                    "setting": name,
                    "regime": regime,
                    "var log(1 - max p)": float(np.mean(v_u)),
                    "var log factor": float(np.mean(v_w)),
                    "ratio": float(np.mean(v_w) / np.mean(v_u)),
                }
            )
    return rows


def variance_ratio(curv: list[Spectrum]) -> list[dict]:
    """Section 1.6: per seed, unconfident inputs: ``var log(1 - max p)`` and ``var log(lambda_max / lambda_1(A))``."""
    curv = _check_curv(curv)
    rows = []
    for k, s in enumerate(curv):
        p, lam = to_numpy(s.probs), to_numpy(s.small[:, 0])
        m = p.max(axis=1) < claims.CONFIDENT
        v_u = float(np.var(np.log(claims.uncertainty(p)[m])))
        v_w = float(np.var(np.log(lam / claims.softmax_top_eigenvalue(p)[0])[m]))
        rows.append({"seed": k, "var log(1 - max p)": v_u, "var log(lam_max/lam_1(A))": v_w, "ratio": v_w / v_u})
    return rows


def plot_curvature_vs_confidence(curv: list[Spectrum], y):
    """Section 1.6: ``lambda_max`` against ``1 - p_y`` (left) and ``1 - max p`` (right), coloured by group."""
    curv = _check_curv(curv)
    import matplotlib.pyplot as plt

    y_np = to_numpy(y)
    fig, axs = plt.subplots(1, 2, figsize=(9, 3.5), sharey=True)
    for ax, xlabel, which in ((axs[0], r"$1-p_y$", "y"), (axs[1], r"$1-\max_k p_k$", "max")):
        for k, g in enumerate(claims.GROUPS):
            xs, ys = [], []
            for s in curv:
                m = claims.confidence_groups(to_numpy(s.probs), y_np)[g]
                om = one_minus(s.probs)
                idx = torch.as_tensor(y_np).long()[:, None] if which == "y" else s.probs.argmax(1, keepdim=True)
                xs.append(to_numpy(om.gather(1, idx.to(om.device))[:, 0])[m])
                ys.append(to_numpy(s.small[:, 0])[m])
            ax.scatter(np.concatenate(xs), np.concatenate(ys), s=14 if k == 3 else 6, alpha=0.6, color=f"C{k}", label=g)
        ax.set(xscale="log", yscale="log", xlabel=xlabel)
    axs[0].set(ylabel=r"$\lambda_{\max}(H)$")
    axs[1].legend(fontsize=8, loc="lower right")
    return fig


def untrained_rows(setting: Setting, seeds, x, y) -> tuple[list[dict], float]:
    """Section 1.5: ``share_rows`` for the setting's networks at initialisation; and their median max p."""
    if not isinstance(setting, Setting):
        raise TypeError(f"setting must be an advnotes.settings.Setting (settings.get(name)), got {setting!r}.")
    x = check_inputs(x)
    models = [check_piecewise_linear(setting.make_model(s, dtype=x.dtype, device=x.device).eval()) for s in seeds]
    curv = spectra(models, x, y)
    share_H, share_A = top_shares(curv)
    ones = {ALL: [np.ones(len(x), bool)] * len(models)}
    median_max_p = float(np.median(np.concatenate([to_numpy(s.probs.max(dim=1).values) for s in curv])))
    return share_rows(share_H, share_A, [s.probs for s in curv], ones), median_max_p


# --------------------------------------------------------------------------- records


def beyond_bounds(stat: dict, base: dict) -> dict[str, list[float]]:
    """Section 1.6: per regime ("unconfident", "wrong"), per seed, observed rho minus the bounds-only rho.

    The statistic of ``claims.ch1.CURVATURE_BEYOND_BOUNDS``: ``stat`` from ``curvature_stats``,
    ``base`` from ``baseline_stats`` (eq-lambda-bound, eq-lambda-lower); ``nan`` where a seed has
    too few inputs in the regime.
    """
    _check_dict("stat", stat, "curvature_stats", keys=("n_all",))
    _check_dict("base", base, "baseline_stats", keys=("n_all",))
    out = {}
    for key in ("unconfident", "wrong"):
        nan = [float("nan")] * len(stat["n_all"])
        obs, bl = stat.get(f"rho_uncertainty_{key}", nan), base.get(f"rho_uncertainty_{key}", nan)
        out[key] = [float(o - b) for o, b in zip(obs, bl)]
    return out


def match_gaps(curv: list[Spectrum], y, *, k: int = claims.K_MATCH) -> list[float]:
    """Section 1.6: per seed, the median over confidently wrong inputs of their mean ``|Delta log(1 - max p)|``
    to their ``k`` matched correct inputs (how well ``claims.ch1.matched_log_ratio`` matches); ``nan``
    where a seed has no confidently wrong input or fewer than ``k`` correct ones.
    """
    curv = _check_curv(curv)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}.")
    y_np = to_numpy(y)
    out = []
    for s in curv:
        p = to_numpy(s.probs)
        unc, correct = claims.uncertainty(p), p.argmax(axis=1) == y_np
        cw, pool = ~correct & (p.max(axis=1) >= claims.CONFIDENT), correct & (unc > 0)
        if cw.sum() < 1 or pool.sum() < k:
            out.append(float("nan"))
            continue
        gaps = np.abs(np.log(unc[cw])[:, None] - np.log(unc[pool])[None, :])
        out.append(float(np.median(np.sort(gaps, axis=1)[:, :k].mean(axis=1))))
    return out


def confident_share_rows(stats: dict) -> list[dict]:
    """Section 1.8: per setting, the share of misclassified inputs that are confidently wrong (range over seeds).

    ``stats``: ``{setting: curvature_stats(...)}``. Shares, not counts: the test sets differ in size.
    """
    _check_dict("stats", stats, "{setting: curvature_stats(...)}")
    rows = []
    for name, stat in stats.items():
        _check_dict("stats[setting]", stat, "curvature_stats", keys=("n_all", "n_wrong", "n confidently wrong"))
        share = np.asarray(stat["n confidently wrong"], float) / np.maximum(np.asarray(stat["n_wrong"], float), 1)
        rows.append(
            {
                "setting": name,
                "test inputs": int(stat["n_all"][0]),
                "misclassified per seed": f"{min(stat['n_wrong'])}-{max(stat['n_wrong'])}",
                "confident share (mean)": float(share.mean()),
                "range": (float(share.min()), float(share.max())),
            }
        )
    return rows


def differing_text(rows: list[dict]) -> str:
    """Section 1.8: the sentence naming the records of ``outcome_rows`` whose outcomes differ (from ``differing``)."""
    from ..settings import NAMES

    diff = differing(rows)
    if not diff:
        return f"No claim record's outcome differs between {NAMES[0]} and {NAMES[1]} in this run."
    parts = [f"{r['claim']} ({r['regime']}): {r[NAMES[0]]} on {NAMES[0]}, {r[NAMES[1]]} on {NAMES[1]}" for r in diff]
    return f"{len(diff)} of {len(rows)} claim records differ in outcome between the settings in this run: " + (
        "; ".join(parts) + "."
    )


def record_claims(evidence: Evidence, curv: list[Spectrum], y, *, setting: str, base: dict | None = None) -> list:
    """Sections 1.5-1.6: measure and keep every claim of ``claims.ch1`` for one setting; return the records.

    The statistics are those of the digits sections (``top_shares``,
    ``curvature_stats``; with ``base`` from ``baseline_stats`` also ``beyond_bounds``); a regime that some seed cannot
    measure (no confidently
    wrong input, say) is skipped and named in the returned list by a sentence instead of
    a record (``measure_or_skip``).
    """
    _check_evidence(evidence)
    curv = _check_curv(curv)
    out = []
    share_H, share_A = top_shares(curv)
    for regime, (vals, diff, n) in share_values(share_H, share_A, regime_masks(curv)).items():
        for spec, v in ((claims.TOP_EIGENVALUE_SHARE, vals), (claims.TOP_SHARE_SET_BY_P, diff)):
            out.append(measure_or_skip(evidence, spec, v, setting=setting, regime=regime, measured={"n_inputs": n}))
    stat = curvature_stats(curv, y)
    for key, regime in (("unconfident", UNCONFIDENT), ("wrong", WRONG)):
        n = {"n_inputs": stat[f"n_{key}"]}
        out.append(
            measure_or_skip(
                evidence,
                claims.CURVATURE_VS_UNCERTAINTY,
                stat.get(f"rho_uncertainty_{key}"),
                setting=setting,
                regime=regime,
                measured=n,
            )
        )
    if base is not None:
        for key, gap in beyond_bounds(stat, base).items():
            regime = UNCONFIDENT if key == "unconfident" else WRONG
            n = {"n_inputs": stat[f"n_{key}"]}
            spec = claims.CURVATURE_BEYOND_BOUNDS
            out.append(measure_or_skip(evidence, spec, gap, setting=setting, regime=regime, measured=n))
    sizes = {"n_confidently_wrong": stat["n confidently wrong"], "k_match": claims.K_MATCH}
    out.append(
        measure_or_skip(
            evidence,
            claims.CONFIDENT_WRONG_LIKE_CORRECT,
            stat.get("abs_log_ratio_matched"),
            setting=setting,
            regime=CONFIDENTLY_WRONG,
            measured=sizes,
        )
    )
    return out


def measure_or_skip(evidence: Evidence, spec, per_seed, **kwargs):
    """Sections 1.5-1.6: ``evidence.claim(spec, per_seed, **kwargs)``, or a sentence saying why not.

    A regime in which some seed has too few inputs (``per_seed`` missing or holding
    ``nan``) is not measured: the chapter records what it can instead of crashing.
    """
    _check_evidence(evidence)
    if per_seed is None or any(not np.isfinite(v) for v in per_seed):
        return f"{spec.name} ({kwargs.get('regime', '')}): some seed has too few inputs in this regime; not measured"
    return evidence.claim(spec, per_seed, **kwargs)


class SettingCheck(NamedTuple):
    """What ``record_identities`` measured on one setting."""

    errors: dict  # IdentitySpec -> largest error
    linearity: list  # ``linearity_rows`` of section 1.1
    curv: list  # ``Spectrum`` per seed over the test inputs
    maps: list  # local map (W, b) per seed over the test inputs


def record_identities(evidence: Evidence, models, split, *, setting: str, n_check: int, generator) -> SettingCheck:
    """Sections 1.1-1.6 in one call: every identity of ``claims.ch1`` for one setting, recorded and returned.

    Runs the digits sections' functions in their order: ``linearity_runs`` (random
    steps and the setting's L-inf steps at ``eps / 10`` and ``eps``), ``closed_form_errors``
    on the first ``n_check`` test inputs, ``spectrum_errors`` and ``bound_errors``
    on all of them. Returns a ``SettingCheck``; the caller asserts each error against its tolerance.
    """
    from ..settings import get

    _check_evidence(evidence)
    models = _check_models(models)
    s = get(setting)
    x, y = split.x_test, split.y_test
    maps = [local_linear_map(m, x) for m in models]
    signs = sign_directions(models, x, y, generator=generator)
    runs = linearity_runs(
        models, maps, x, signs=signs, eps_values=(s.eps / 10, s.eps), clamp=s.clamp, generator=generator
    )
    errors = {claims.LOCAL_LINEAR: linearity_error_kept(runs)}
    cf = [closed_form_errors(m, W[:n_check], b[:n_check], x[:n_check], y[:n_check]) for m, (W, b) in zip(models, maps)]
    errors[claims.CLOSED_FORM] = max(float(e["closed form"].max()) for e in cf)
    errors[claims.AUTOGRAD] = max(float(e["autograd"].max()) for e in cf)
    curv = spectra(models, x, y)
    errors.update(spectrum_errors(curv))
    errors.update(bound_errors(curv, maps))
    n_closed = min(int(n_check), len(x))  # the two closed-form checks compare the first n_check inputs only
    for spec, err in errors.items():
        n = n_closed if spec in (claims.CLOSED_FORM, claims.AUTOGRAD) else len(x)
        evidence.identity(spec, err, setting=setting, measured={"n_inputs_per_seed": n})
    return SettingCheck(errors, linearity_rows(runs), curv, maps)


def identity_rows(errors: dict) -> list[dict]:
    """Section 1.8: one row per identity: its name, the largest error (round-off as a bound), tolerance."""
    from ..claims import IdentitySpec

    if not isinstance(errors, dict) or not all(isinstance(k, IdentitySpec) for k in errors):
        raise TypeError("errors must map IdentitySpec -> error, as record_identities(...).errors does.")
    return [
        {
            "identity": spec.name.removeprefix("ch1-"),
            "largest error": roundoff(err),
            "tolerance": f"{spec.tolerance:.0e}",
            "holds": err <= spec.tolerance,
        }
        for spec, err in errors.items()
    ]


def outcome_rows(records) -> list[dict]:
    """Section 1.8: one row per claim and regime: the outcome (estimate) in each setting, side by side."""
    from ..claims import check_records
    from ..settings import NAMES

    table: dict[tuple[str, str], dict] = {}
    for r in check_records(records):
        if getattr(r, "kind", "") != "claim":
            continue
        regime = SHORT.get(r.regime, r.regime)
        row = table.setdefault((r.name, r.regime), {"claim": r.name.removeprefix("ch1-"), "regime": regime})
        row[r.setting] = f"{r.outcome} ({r.estimate:.2g})"
    for row in table.values():
        for name in NAMES:
            row.setdefault(name, "not measured")
    return list(table.values())


def differing(rows: list[dict]) -> list[dict]:
    """Section 1.8: the rows of ``outcome_rows`` whose outcomes differ between the two settings."""
    from ..settings import NAMES

    def outcome(text):
        return text.split(" (")[0]

    if not isinstance(rows, list) or not all(isinstance(r, dict) and set(NAMES) <= set(r) for r in rows):
        raise TypeError(f"rows must be the list returned by outcome_rows (dicts with a column per setting {NAMES}).")

    return [r for r in rows if len({outcome(r[n]) for n in NAMES}) > 1]


# --------------------------------------------------------------------------- 1.7 speed


def dense_spectrum(model, x, y) -> tuple[torch.Tensor, torch.Tensor]:
    """Section 1.7: the dense route: autograd's Hessian (B, n, n) and its eigenvalues (B, n), descending."""
    H = autograd_curvature(model, x, y)[1]
    return torch.linalg.eigvalsh(H).flip(-1), H


def dense_tolerance(model, x, y, H_autograd) -> float:
    """Section 1.7: how far the dense eigenvalues may sit from the closed form's, relative to ``lambda_max``.

    The dense route is autograd's Hessian: by Weyl's inequality its eigenvalues move by
    at most ``|dH|_F``, i.e. this network's own autograd error relative to ``|H|_F``
    times ``|H|_F <= sqrt(C - 1) lambda_max``.
    """
    H_cf = input_hessian(model, x, y)[1]
    if not isinstance(H_autograd, torch.Tensor) or H_autograd.shape != H_cf.shape:
        raise ValueError(
            f"H_autograd must be autograd's Hessian {tuple(H_cf.shape)} at x (dense_spectrum), "
            f"got {getattr(H_autograd, 'shape', H_autograd)}."
        )
    rel = float(((H_autograd - H_cf).flatten(1).norm(dim=1) / H_cf.flatten(1).norm(dim=1)).max())
    with torch.no_grad():
        C = model(x[:1]).shape[1]
    return float(np.sqrt(C - 1) * max(rel, claims.SMALL_EIGENPROBLEM.tolerance))


def timed(fn, *, repeats: int = 3, device=None):
    """Section 1.7: ``(fn(), mean seconds per call)`` after one warm-up call; waits for the device."""
    if not callable(fn):
        raise TypeError(f"fn must be a callable taking no arguments, got {type(fn).__name__}.")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an integer >= 1, got {repeats!r}.")
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        out = fn()
    config.synchronize(device)
    return out, (time.perf_counter() - start) / repeats


def speed_row(name: str, model, x, y, *, device=None) -> dict:
    """Section 1.7: the dense route against the ``C x C`` route on one batch: times and agreement."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a string (the row's label), got {type(name).__name__}.")
    (ev_fast, _), t_fast = timed(lambda: input_hessian_eig(model, x, y), device=device)
    (ev_dense, H_ad), t_dense = timed(lambda: dense_spectrum(model, x, y), device=device)
    k = ev_fast.shape[1] - 1
    agree = float(((ev_fast[:, :k] - ev_dense[:, :k]).abs() / ev_dense[:, :1]).max())
    return {
        "network": name,
        "dense (ms)": 1e3 * t_dense,
        "C x C (ms)": 1e3 * t_fast,
        "speed-up": t_dense / t_fast,
        "agreement": agree,
        "tolerance": dense_tolerance(model, x, y, H_ad),
    }
