"""Chapter 6: testing the explanation by intervention (``book/ch6_interventions.ipynb``).

Each function is one intervention on adversarial training, or the loop that runs it:

- :class:`ReusedAttack` (section 6.2, intervention 1a): the perturbation is recomputed only
  every ``every`` steps and reused in between, as "free" adversarial training reuses it, so
  within a block ``d delta / d theta = 0`` and the step's Jacobian is ``H_thth``
  (chapter 4, ``eq-ch4-jeff``).
- :func:`adversarial_steps` (sections 6.3 and 6.4): full-batch adversarial training with two
  optional changes: a curvature-scaled step ``eta_t = min(eta, c / Re mu_1(J_eff))``
  (intervention 1b, ``eq-ch6-scaled-step``) and per-sample weights that equalise the examples'
  logit residuals (intervention 2, ``eq-ch6-weights``).
- :func:`equalising_weights`, :func:`decile_share`: the re-weighting rule and the share of
  the update carried by the least-confident decile (``eq-ch6-decile-share``).
- :func:`hessian_subspace`, :func:`restricted_attack` (section 6.5, intervention 3): the top-k
  eigenvectors of each example's input Hessian (chapter 1, ``thm-input-hessian``) and an
  L-inf attack restricted to their span, or to its orthogonal complement, at equal budget.
- :func:`seed_checkpoint`, :func:`seed_interventions_1_2`, :func:`subspace_ensembles`: the
  per-seed pipelines the notebook calls.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .. import param_hessian as ph
from .. import threat
from ..curvature import softmax_curvature_factor
from ..stats import negative_share, t_interval
from ..training import accuracy, train, train_ensemble
from ..validation import check_bool, check_positive

#: The three restrictions of intervention 3.
PARTS = ("top", "complement", "full")
#: A projected input gradient smaller than this fraction of the whole gradient (L-inf) is round-off: no step.
NEGLIGIBLE = 1e-6


# ----------------------------------------------------------------------------- 1a: reuse delta


class ReusedAttack:
    """An attack whose perturbation is recomputed every ``every`` calls and reused in between (6.2).

    ``every=1`` is the attack itself. A call with a different model object (a new run, as
    ``find_onset`` makes for every learning rate it tries) starts a new block, so every run
    recomputes at its first step. ``calls`` counts calls and ``computed`` the recomputations.
    """

    def __init__(self, attack: Callable, every: int):
        if not callable(attack):
            raise TypeError(f"attack must be a callable (model, x, y) -> delta, got {type(attack).__name__}.")
        self.attack = attack
        self.every = check_positive("every", every, integer=True)
        self.calls = self.computed = 0
        self._model = self._delta = None
        self._count = 0

    def __call__(self, model, x, y):
        new_run = model is not self._model
        if new_run or self._count % self.every == 0 or self._delta.shape != x.shape:
            self._delta = self.attack(model, x, y).detach()
            self._model, self._count = model, 0
            self.computed += 1
        self._count += 1
        self.calls += 1
        return self._delta


# ----------------------------------------------------------------------------- 2: re-weighting


def _check_logits(logits, y) -> None:
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2 or logits.shape[1] < 2:
        shape = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ValueError(f"logits must be a (B, C) tensor with C >= 2 classes, got {shape}.")
    if not isinstance(y, torch.Tensor) or y.shape != logits.shape[:1] or y.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"y must be a ({logits.shape[0]},) tensor of integer labels matching the logits.")
    if bool(((y < 0) | (y >= logits.shape[1])).any()):
        raise ValueError(f"labels must lie in 0..{logits.shape[1] - 1}.")


def equalising_weights(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample weights ``w_i = mean_j |r_j| / |r_i|``, ``r_i = p_i - e_{y_i}`` (eq-ch6-weights).

    After weighting, every example's residual ``w_i r_i`` (the gradient of its loss in the logits)
    has the same length, the mean length before weighting: each decile of examples carries exactly
    a tenth of the summed residual lengths, and that sum is unchanged, so the update keeps its scale
    (weights with mean 1 would not: they shrink every residual to about the smallest one).
    """
    _check_logits(logits, y)
    p = torch.softmax(logits.detach(), dim=1)
    r = (p - F.one_hot(y.long(), p.shape[1]).to(p.dtype)).norm(dim=1).clamp_min(torch.finfo(p.dtype).tiny)
    return r.mean() / r


def residual_shares(logits: torch.Tensor, y: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Each example's share ``w_i |r_i| / sum_j w_j |r_j|`` of the summed (weighted) residual lengths."""
    _check_logits(logits, y)
    p = torch.softmax(logits.detach(), dim=1)
    r = (p - F.one_hot(y.long(), p.shape[1]).to(p.dtype)).norm(dim=1)
    if weights is not None:
        if not isinstance(weights, torch.Tensor) or weights.shape != r.shape:
            raise ValueError(f"weights must be a ({r.shape[0]},) tensor, one weight per example.")
        r = r * weights
    return r / r.sum()


def least_confident(logits: torch.Tensor, y: torch.Tensor, fraction: float = 0.1) -> torch.Tensor:
    """Indices of the ``fraction`` of examples with the smallest ``p_y`` (at least one)."""
    _check_logits(logits, y)
    fraction = check_positive("fraction", fraction)
    if fraction > 1:
        raise ValueError(f"fraction must be at most 1, got {fraction!r}.")
    p_y = torch.softmax(logits.detach(), dim=1).gather(1, y[:, None])[:, 0]
    n = max(1, int(round(fraction * y.shape[0])))
    return p_y.argsort()[:n]


def decile_share(model: nn.Module, x_adv, y, *, weights: torch.Tensor | None = None) -> float:
    """The least-confident decile's share of the update, ``g_D . g / |g|^2`` (eq-ch6-decile-share).

    ``g`` is the gradient of the (weighted) mean loss at ``x_adv`` in the parameters and ``g_D``
    the same sum restricted to the decile with the smallest ``p_y`` (both divided by the batch
    size), so the shares of any partition of the batch add up to 1 (chapter 3's projections).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    params = [p for p in model.parameters() if p.requires_grad]
    logits = model(x_adv)
    _check_logits(logits, y)
    w = torch.ones_like(y, dtype=logits.dtype) if weights is None else weights
    per = F.cross_entropy(logits, y, reduction="none") * w
    idx = least_confident(logits, y)
    g = torch.cat([t.reshape(-1) for t in torch.autograd.grad(per.mean(), params, retain_graph=True)])
    g_d = torch.cat([t.reshape(-1) for t in torch.autograd.grad(per[idx].sum() / y.shape[0], params)])
    return float(g_d @ g / (g @ g))


# ----------------------------------------------------------------------------- 1b and 2: the loop


@dataclass
class StepLog:
    """Records of :func:`adversarial_steps`: learning rate, update norm and update cosine of each step."""

    lr: list = field(default_factory=list)
    update_cos: list = field(default_factory=list)
    update_norm: list = field(default_factory=list)
    curvature: list = field(default_factory=list)
    products: int = 0
    diverged: bool = False
    loss: list = field(default_factory=list)
    updates: list = field(default_factory=list)


def adversarial_steps(
    model: nn.Module,
    x,
    y,
    *,
    lr: float,
    steps: int,
    attack: Callable | None,
    scaled: dict | None = None,
    reweight: bool = False,
) -> StepLog:
    """Full-batch adversarial training of ``model`` in place, with interventions 1b and 2 (6.3, 6.4).

    Each step: ``delta = attack(model, x, y)`` (detached), the loss ``mean_i w_i CE_i`` at
    ``x + delta`` and ``theta <- theta - eta_t grad``. Without options, ``w_i = 1`` and
    ``eta_t = lr``: exactly :func:`advnotes.training.train` full batch without momentum.
    ``reweight=True``: ``w`` from :func:`equalising_weights` at the step's adversarial logits.
    ``scaled``: ``{"c": c, "every": E, "jeff": knobs of jeff_top_eig}``: every ``E`` steps
    ``mu_1 = Re`` of the top eigenvalue of ``J_eff`` (Arnoldi, warm-started), and
    ``eta_t = min(lr, c / mu_1)`` (``eq-ch6-scaled-step``); products are counted.
    A non-finite loss, gradient or weight, or non-finite logits after a step, stop the run
    (``log.diverged``) with the model at the last weights whose logits were finite.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module (trained in place), got {type(model).__name__}.")
    check_positive("lr", lr)
    steps = check_positive("steps", steps, integer=True)
    reweight = check_bool("reweight", reweight)
    if attack is not None and not callable(attack):
        raise TypeError(f"attack must be None or a callable (model, x, y) -> delta, got {type(attack).__name__}.")
    if scaled is not None:
        if not isinstance(scaled, dict) or set(scaled) != {"c", "every", "jeff"}:
            raise ValueError("scaled must be a dict with keys 'c', 'every' and 'jeff'.")
        check_positive("scaled['c']", scaled["c"])
        check_positive("scaled['every']", scaled["every"], integer=True)
    params = [p for p in model.parameters() if p.requires_grad]
    log, prev, eta, v0, backup = StepLog(), None, float(lr), None, None
    for t in range(steps):
        if scaled is not None and t % scaled["every"] == 0:
            mu, vecs, n = ph.jeff_top_eig(model, x, y, **scaled["jeff"], k=1, tol=1e-2, v0=v0)
            v0, log.products = vecs[:, 0].real.to(x.dtype), log.products + n
            mu1 = float(mu[0].real)
            log.curvature.append(mu1)
            eta = min(float(lr), scaled["c"] / mu1) if mu1 > 0 else float(lr)
        if backup is not None:
            with torch.no_grad():
                finite = bool(torch.isfinite(model(x)).all())
            if not finite:  # the last step threw the logits out of range: undo it and stop
                with torch.no_grad():
                    for p, b in zip(params, backup, strict=True):
                        p.copy_(b)
                log.diverged = True
                break
        x_in = x if attack is None else x + attack(model, x, y).detach()
        logits = model(x_in)
        per = F.cross_entropy(logits, y, reduction="none")
        if reweight:
            per = per * equalising_weights(logits, y)
        loss = per.mean()
        grads = torch.autograd.grad(loss, params)
        if not (torch.isfinite(loss) and all(bool(torch.isfinite(g).all()) for g in grads)):
            log.diverged = True  # stop before the step: the model keeps its last finite weights
            break
        with torch.no_grad():
            backup = [p.clone() for p in params]
            for p, g in zip(params, grads, strict=True):
                p.add_(g, alpha=-eta)
            update = -eta * torch.cat([g.reshape(-1) for g in grads])
            if not all(bool(torch.isfinite(p).all()) for p in params):  # undo: keep the last finite weights
                for p, b in zip(params, backup, strict=True):
                    p.copy_(b)
                log.diverged = True
                break
        if prev is not None:
            denom = float(update.norm() * prev.norm())
            log.update_cos.append(float(update @ prev) / denom if denom > 0 else 0.0)
        log.lr.append(eta)
        log.update_norm.append(float(update.norm()))
        log.loss.append(float(loss.detach()))
        prev = update
    return log


# ----------------------------------------------------------------------------- 3: restricted perturbations


def hessian_subspace(f: Callable, x: torch.Tensor, y: torch.Tensor, k: int, *, batched: bool = False) -> torch.Tensor:
    """Orthonormal top-``k`` eigenvectors (B, n, k) of each example's input Hessian (6.5).

    ``f`` maps a batch to logits with the examples independent (a model, or the stacked
    ensemble of :func:`advnotes.training.train_ensemble`). ``W = dz/dx`` comes from one backward
    pass per class (``batched=True``: all classes in one vmapped pass; the same numbers);
    ``H = W^T A W`` with ``A = F F^T`` (chapter 1, ``thm-input-hessian``), and
    its nonzero eigenvectors from the SVD of ``F^T W`` (C x n), as
    :func:`advnotes.curvature.input_hessian_eig` computes them for a module.
    """
    if not callable(f):
        raise TypeError(f"f must be a model or a callable batch -> logits, got {type(f).__name__}.")
    k = check_positive("k", k, integer=True)
    if not isinstance(x, torch.Tensor) or x.dim() < 2:
        raise ValueError("x must be a batch tensor (B, ...) of at least two dimensions.")
    n = x[0].numel()
    if k > n:
        raise ValueError(f"k={k} exceeds the input dimension {n}.")
    xr = x.detach().requires_grad_(True)
    z = f(xr)
    C = z.shape[1]
    if k > C - 1:
        raise ValueError(f"k={k} exceeds C - 1 = {C - 1}, the input Hessian's largest possible rank.")
    if batched:  # one vmapped backward pass for all classes
        eye = torch.eye(C, dtype=z.dtype, device=z.device)[:, None, :].expand(C, z.shape[0], C)
        W = torch.autograd.grad(z, xr, grad_outputs=eye, is_grads_batched=True)[0]
        W = W.reshape(C, x.shape[0], n).transpose(0, 1).detach()
    else:
        rows = [torch.autograd.grad(z[:, c].sum(), xr, retain_graph=c < C - 1)[0] for c in range(C)]
        W = torch.stack([r.reshape(x.shape[0], n) for r in rows], dim=1).detach()  # (B, C, n)
    G = torch.einsum("bcd,bcn->bdn", softmax_curvature_factor(torch.softmax(z.detach(), dim=1)), W)
    _, _, Vh = torch.linalg.svd(G, full_matrices=False)
    return Vh[:, :k].transpose(1, 2)


def project(v: torch.Tensor, basis: torch.Tensor, part: str) -> torch.Tensor:
    """``U U^T v`` (``part='top'``), ``v - U U^T v`` (``'complement'``) or ``v`` (``'full'``), per example."""
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, got {part!r}.")
    if part == "full":
        return v
    if not isinstance(basis, torch.Tensor) or basis.dim() != 3 or basis.shape[:2] != (v.shape[0], v[0].numel()):
        raise ValueError("basis must be a (B, n, k) tensor of orthonormal columns matching v (hessian_subspace).")
    flat = v.reshape(v.shape[0], -1)
    inside = torch.einsum("bnk,bk->bn", basis, torch.einsum("bnk,bn->bk", basis, flat))
    out = inside if part == "top" else flat - inside
    return out.reshape(v.shape)


def restricted_attack(*, part: str, k: int, eps: float, steps: int = threat.TRAIN_STEPS) -> Callable:
    """An L-inf attack of budget ``eps`` restricted to the top-k input-Hessian span or its complement (6.5).

    Each of ``steps`` steps moves along the projected input gradient, scaled to L-inf length
    ``2.5 eps / steps`` (PGD's step), keeps ``delta`` in the subspace and scales it back into the
    ball if it left it (scaling, not clipping: a clipped vector leaves the subspace). No box: a
    clamp would also leave it. ``part='full'`` is the same attack without a restriction. An example
    whose gradient has no part in the subspace (below :data:`NEGLIGIBLE` of it) takes no step.
    """
    if part not in PARTS:
        raise ValueError(f"part must be one of {PARTS}, got {part!r}.")
    k = check_positive("k", k, integer=True)
    eps = check_positive("eps", eps)
    steps = check_positive("steps", steps, integer=True)
    alpha = 2.5 * eps / steps

    def attack(f, x, y):
        basis = None if part == "full" else hessian_subspace(f, x, y, k)
        delta = torch.zeros_like(x)
        for _ in range(steps):
            d = delta.detach().requires_grad_(True)
            loss = F.cross_entropy(f(x + d), y, reduction="sum")
            grad = torch.autograd.grad(loss, d)[0]
            g = project(grad, basis, part)
            size = g.reshape(g.shape[0], -1).abs().amax(dim=1)
            # a gradient with no part in the subspace (round-off only) gives no step, not a normalised noise step
            live = size > NEGLIGIBLE * grad.reshape(grad.shape[0], -1).abs().amax(dim=1)
            step = torch.where(live, alpha / size.clamp_min(torch.finfo(g.dtype).tiny), torch.zeros_like(size))
            delta = project(delta + step.reshape(-1, *([1] * (g.dim() - 1))) * g, basis, part)
            norm = delta.reshape(delta.shape[0], -1).abs().amax(dim=1)
            scale = torch.clamp(eps / norm.clamp_min(torch.finfo(g.dtype).tiny), max=1.0)
            delta = (delta * scale.reshape(-1, *([1] * (g.dim() - 1)))).detach()
        return delta

    return attack


# ----------------------------------------------------------------------------- per-seed pipelines


def seed_checkpoint(seed, x, y, *, make_model, attack, jeff: dict, lr: float, steps: int, k: int = 1) -> tuple:
    """A calm checkpoint (chapter 4, 4.5) and its two predicted onsets (6.2).

    Trains ``make_model(seed)`` full batch for ``steps`` steps at the calm ``lr`` with ``attack``;
    returns ``(model, pred_A, pred_B)`` with ``pred_A = 2 / lambda_1(H_thth)`` at the attack's
    ``delta`` and ``pred_B = min 2 Re mu / |mu|^2`` over the top ``k`` eigenvalues of ``J_eff`` (for
    real eigenvalues, as chapter 4 measured them, ``k = 1`` gives the same number as its ``k = 3``).
    """
    if not callable(make_model):
        raise TypeError(f"make_model must be a function seed -> nn.Module, got {type(make_model).__name__}.")
    if not callable(attack):
        raise TypeError(f"attack must be a callable (model, x, y) -> delta, got {type(attack).__name__}.")
    torch.manual_seed(seed)
    model = make_model(seed)
    train(model, x, y, lr=lr, steps=steps, attack=attack)
    model.eval()
    delta = attack(model, x, y).detach()
    lam = float(ph.param_hessian_top_eig(model, x, y, delta=delta, tol=1e-3)[0][0])
    mu, _, _ = ph.jeff_top_eig(model, x, y, **jeff, k=k, tol=1e-2)
    return model, 2 / lam, ph.onset_lr(mu)


def onset(model, x, y, *, attack, pred_a: float, pred_b: float, probe=(30, 15), iters: int = 3, lo_factor=0.7):
    """Chapter 4's detector (:func:`advnotes.param_hessian.find_onset`): an :class:`~advnotes.param_hessian.Onset`.

    The scan starts at ``lo_factor`` times the smaller prediction and stops at twice the larger
    (chapter 4 started at a quarter; its observed onsets were all above 0.85 of the smaller one, and
    a seed below the start shows as not bracketed, so the chapter prints the count).
    """
    lo, hi = lo_factor * min(pred_a, pred_b), 2 * max(pred_a, pred_b)
    return ph.find_onset(model, x, y, attack=attack, lo=lo, hi=hi, steps=probe[0], window=probe[1], iters=iters)


def seed_interventions_1_2(
    seed,
    x,
    y,
    *,
    make_model,
    attack,
    jeff,
    warmup: dict,
    reuse: int,
    lr: float,
    steps: int,
    c: float,
    c_over: float,
    every: int,
    window: int,
    x_test,
    y_test,
    robust: dict,
) -> dict:
    """Interventions 1a, 1b and 2 on one seed, from one calm checkpoint (6.2-6.4); a dict of floats.

    1a: onsets with ``delta`` recomputed (``onset_live``) and reused for ``reuse`` steps
    (``onset_reuse``), ``found_live`` / ``found_reuse`` (1 if bracketed), with ``pred_A``, ``pred_B``.
    1b and 2: ``steps`` more full-batch steps at ``lr`` (``control``), with the curvature-scaled
    step at ``c`` (``scaled``) and at ``c_over`` (``over``, past the linear limit 2), and
    re-weighted (``reweight``), and the matched-step controls ``matched`` / ``matched_over``: the
    fixed step equal to the ``scaled`` / ``over`` run's mean ``eta_t``. Each gives ``{name}_neg``
    (negative-cosine fraction over the last
    ``window``), ``{name}_cos`` and ``{name}_norm`` (mean cosine and update length there),
    ``{name}_clean`` and ``{name}_robust`` (test accuracies) and ``{name}_share``
    (:func:`decile_share` at the final weights) and ``{name}_lr`` (mean step); the scaled runs add
    ``{name}_products`` and ``{name}_eta_mu`` (the last ``eta_t Re mu_1``). ``{name}_diverged``
    is 1 for a run stopped by a non-finite loss: its statistics are then over the steps it took
    (a run with fewer than two steps counts as zig-zagging), at its last finite weights.
    """
    model, pred_a, pred_b = seed_checkpoint(seed, x, y, make_model=make_model, attack=attack, jeff=jeff, **warmup)
    out = {"pred_A": pred_a, "pred_B": pred_b}
    for name, run_attack in (("live", attack), ("reuse", ReusedAttack(attack, reuse))):
        found = onset(model, x, y, attack=run_attack, pred_a=pred_a, pred_b=pred_b)
        out[f"onset_{name}"], out[f"found_{name}"] = found.lr, float(found.bracketed)
    runs = {
        "control": {},
        "scaled": {"scaled": {"c": c, "every": every, "jeff": jeff}},
        "over": {"scaled": {"c": c_over, "every": every, "jeff": jeff}},
        "reweight": {"reweight": True},
    }
    # matched-step controls: a fixed step equal to each scaled run's mean eta_t (referee item 2)
    runs.update({"matched": {"match": "scaled"}, "matched_over": {"match": "over"}})
    for name, options in runs.items():
        net = copy.deepcopy(model)
        options = dict(options)
        run_lr = out[f"{options.pop('match')}_lr"] if "match" in options else lr
        log = adversarial_steps(net, x, y, lr=run_lr, steps=steps, attack=attack, **options)
        out[f"{name}_diverged"] = float(log.diverged)
        delta = attack(net, x, y).detach()
        weights = equalising_weights(net(x + delta), y) if options.get("reweight") else None
        cos, norms = log.update_cos[-window:], log.update_norm[-window:]  # shorter if it diverged
        out[f"{name}_neg"] = negative_share(cos) if cos else 1.0  # no two steps: counted as a zig-zag
        out[f"{name}_cos"] = sum(cos) / len(cos) if cos else -1.0
        out[f"{name}_norm"] = sum(norms) / len(norms) if norms else 0.0
        out[f"{name}_share"] = decile_share(net, x + delta, y, weights=weights)
        out[f"{name}_clean"] = accuracy(net, x_test, y_test)
        out[f"{name}_robust"] = threat.robust_accuracy(net, x_test, y_test, **robust)
        out[f"{name}_lr"] = sum(log.lr) / len(log.lr) if log.lr else run_lr
        if "scaled" in options:
            out[f"{name}_products"] = float(log.products)
            out[f"{name}_eta_mu"] = log.lr[-1] * log.curvature[-1]
    return out


def subspace_ensembles(
    setting, split, *, seeds, k: int, recipe: dict, robust_n: int | None = None, parts=("full", "top", "complement")
) -> dict:
    """Intervention 3 in one setting: robust test accuracy per seed for each training attack (6.5).

    Trains ``len(seeds)`` models with ``train_ensemble`` for each of: no attack (``"standard"``),
    the unrestricted attack (``"full"``), the top-``k`` restriction (``"top"``) and its complement
    (``"complement"``), all at the setting's ``eps``; returns ``{name: {"robust": [...], "clean":
    [...], "delta_l2": [...]}}`` (``delta_l2``: the mean L2 length of the run's own training attack on
    the first 256 test inputs, at the trained weights; not for ``"standard"``) with the setting's robust
    accuracy (PGD-20, 5 restarts) on the first ``robust_n`` test
    examples (all when ``None``). ``parts`` chooses the restricted runs (all three by default).
    """
    if isinstance(parts, str) or not set(parts) <= set(PARTS):
        raise ValueError(f"parts must be a sequence of {PARTS}, got {parts!r}.")
    if not all(hasattr(setting, a) for a in ("make_model", "robust_accuracy", "eps")):
        raise TypeError(f"setting must be an advnotes.settings.Setting, got {type(setting).__name__}.")
    x_test, y_test = split.x_test[:robust_n], split.y_test[:robust_n]
    attacks = {"standard": None}
    attacks.update({part: restricted_attack(part=part, k=k, eps=setting.eps) for part in parts})
    out = {}
    for name, attack in attacks.items():
        models, _ = train_ensemble(
            lambda s: setting.make_model(s, dtype=split.x_train.dtype),
            split.x_train,
            split.y_train,
            seeds=seeds,
            attack=attack,
            **recipe,
        )
        out[name] = {
            "robust": [setting.robust_accuracy(m, x_test, y_test) for m in models],
            "clean": [accuracy(m, split.x_test, split.y_test) for m in models],
        }
        if attack is not None:  # the perturbation's energy: equal L-inf budgets need not mean equal L2 length
            n = min(256, len(split.x_test))
            out[name]["delta_l2"] = [
                float(attack(m, split.x_test[:n], split.y_test[:n]).reshape(n, -1).norm(dim=1).mean()) for m in models
            ]
    return out


def robustness_fraction(robust: dict) -> list[float]:
    """Per seed, ``(r_top - r_standard) / (r_full - r_standard)``: the part of the robustness bought (6.5)."""
    if not isinstance(robust, dict) or not {"standard", "full", "top"} <= set(robust):
        raise ValueError("robust must be subspace_ensembles' dict with the runs 'standard', 'full' and 'top'.")
    r = {name: robust[name]["robust"] for name in ("standard", "full", "top")}
    out = []
    for s, f, t in zip(r["standard"], r["full"], r["top"], strict=True):
        out.append((t - s) / (f - s) if f != s else math.nan)
    return out


# ----------------------------------------------------------------------------- identities and tables


def identity_errors(make_model, x, y, *, attack, eps: float, k: int, steps: int = 5) -> dict:
    """The errors of the chapter's four identities (6.1), each against an independent route.

    ``plain_step``: :func:`adversarial_steps` without options against
    :func:`advnotes.training.train`, and with ``delta`` frozen against a plain step on ``x + delta``;
    ``reuse_one``: ``ReusedAttack(attack, 1)`` against the attack during training; ``subspace``:
    the restricted perturbations' component in the other subspace and their excess over ``eps``;
    ``weights``: the relative change of the summed residual length and the decile's residual share
    against its size's fraction.
    """
    if not callable(make_model) or not callable(attack):
        raise TypeError("make_model (seed -> nn.Module) and attack ((model, x, y) -> delta) must be callables.")
    ref, net = make_model(0), make_model(0)
    train(ref, x, y, lr=0.1, steps=steps, attack=attack)
    adversarial_steps(net, x, y, lr=0.1, steps=steps, attack=attack)
    err = [_relative(net, ref)]
    delta = attack(net, x, y).detach()
    ref = copy.deepcopy(net)
    train(ref, x + delta, y, lr=0.1, steps=steps)
    adversarial_steps(net, x, y, lr=0.1, steps=steps, attack=lambda *_: delta)
    err.append(_relative(net, ref))
    reused, gap = ReusedAttack(attack, 1), 0.0
    for _ in range(steps):
        gap = max(gap, float((reused(net, x, y) - attack(net, x, y)).abs().max()))
        adversarial_steps(net, x, y, lr=0.1, steps=1, attack=attack)
    basis, sub = hessian_subspace(net, x, y, k), 0.0
    for part, other in (("top", "complement"), ("complement", "top")):
        d = restricted_attack(part=part, k=k, eps=eps)(net, x, y)
        sub = max(sub, float(project(d, basis, other).norm() / d.norm()))
        sub = max(sub, float(d.reshape(d.shape[0], -1).abs().amax() / eps - 1))
    logits = net(x)
    w = equalising_weights(logits, y)
    idx = least_confident(logits, y)
    share = float(residual_shares(logits, y, w)[idx].sum())
    before, after = residual_shares(logits, y), residual_shares(logits, y, w)
    lengths = (torch.softmax(logits.detach(), 1) - F.one_hot(y, logits.shape[1]).to(logits.dtype)).norm(dim=1)
    kept = abs(float((w * lengths).sum() / lengths.sum()) - 1)
    weights = max(kept, abs(share - idx.numel() / y.shape[0]), abs(float(after.sum() + before.sum()) - 2))
    return {"plain_step": max(err), "reuse_one": gap, "subspace": sub, "weights": weights}


def _relative(a: nn.Module, b: nn.Module) -> float:
    ta = torch.cat([p.detach().reshape(-1) for p in a.parameters()])
    tb = torch.cat([p.detach().reshape(-1) for p in b.parameters()])
    return float((ta - tb).norm() / tb.norm())


def column(results: list[dict], key: str) -> list[float]:
    """One quantity of the per-seed result dicts, one value per seed."""
    if isinstance(results, dict) or not all(isinstance(r, dict) for r in results):
        raise TypeError("results must be a list of per-seed dicts.")
    missing = [i for i, r in enumerate(results) if key not in r]
    if missing:
        raise ValueError(f"no {key!r} in the results of seed index {missing[0]}.")
    return [float(r[key]) for r in results]


def interval_rows(results: list[dict], keys: dict) -> list[dict]:
    """Table rows ``{quantity, mean, 95% CI}`` for the per-seed quantities ``keys`` (label -> key).

    The interval is :func:`advnotes.stats.t_interval` of the values over seeds.
    """
    if not isinstance(keys, dict):
        raise TypeError(f"keys must be a dict label -> key, got {type(keys).__name__}.")
    rows = []
    for label, key in keys.items():
        est, lo, hi = t_interval(column(results, key))
        rows.append({"quantity": label, "mean": est, "95% CI": (lo, hi)})
    return rows


def compare(record) -> str:
    """One line: the prediction (the spec's reading), the measured interval and the outcome."""
    if getattr(record, "kind", None) != "claim":
        raise TypeError(f"record must be a claim record (spec.measure / Evidence.claim), got {type(record).__name__}.")
    lo, hi = record.ci
    return (
        f"{record.spec.name} [{record.setting}]: predicted {record.spec.direction} {record.spec.threshold:g}; "
        f"measured {record.estimate:.3g} [{lo:.3g}, {hi:.3g}] -> {record.outcome}"
    )
