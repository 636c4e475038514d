"""Per-sample influence in adversarial training (chapter 3, Result 2).

Each function maps a batch ``x`` (B, *input_shape) with labels ``y`` (B,) to one
number per example, computed for the whole batch at once with ``torch.func``
(``vmap`` over ``grad``/``jvp`` of a ``functional_call`` on the parameters), never with
a Python loop over examples:

- :func:`confidence`: ``p_y``                                   (chapter 3, ``eq-ch3-trace``)
- :func:`input_grad_norm`: ``|g| = |grad_x L|``                 (chapter 3, ``eq-ch3-residual``)
- :func:`lambda_max`: top eigenvalue of the input Hessian       (chapter 1, ``eq-input-hessian``)
- :func:`param_grad_norm`: ``|grad_theta L(x + delta)|``        (chapter 3, ``eq-ch3-first-order``)
- :func:`adversarial_term_norm`: ``|grad_theta L(x+delta) - grad_theta L(x)|``  (``eq-ch3-first-order``)
- :func:`linearised_term_norm`: ``|(d^2 L / d theta d x) delta|``, its first-order part
  (:func:`linearised_term`: the vector itself, (B, P))
- :func:`gate_flips`: the fraction of ReLU gates that ``delta`` flips

and, for groups of examples,

- :func:`confidence_groups`: the unconfident decile, the confidently wrong, a typical decile
- :func:`gradient_shares`: each group's share of the *summed* parameter gradient (a
  projection, so samples that cancel each other do not count twice)

plus the statistics the chapter's experiments need: group log-ratios, the
linearised model's asymptotic and finite-``m`` log-ratio slopes, rank
correlations and exponential / linear / power growth-law fits with R^2. (The real
attack's iterates come from :func:`advnotes.attacks.gradient_ascent_path`, the linearised
perturbation from :func:`advnotes.theory.perturbation_closed_form`.) The chapter's
experiments themselves: :func:`attack_terms` (the growth law in ``m``),
:func:`influence_log_ratios` (one step against many), :func:`training_shares` (inside
training, groups at ``x`` and at ``x + delta``), :func:`group_rate` (one group's finite-``m`` rate).

Models whose output is random or depends on the batch (active dropout, batch-norm in
training mode) are refused with "call model.eval()": their per-example gradients would
change from call to call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, jvp, vmap

from .attacks import check_steps
from .curvature import input_hessian_eig
from .linear_regions import gate_pattern
from .models import flat_params
from .validation import (
    check_array,
    check_bool,
    check_delta,
    check_finite,
    check_inputs,
    check_int_list,
    check_labels,
    check_model_data,
    check_positive,
    check_vector,
)

__all__ = [
    "SampleStats",
    "adversarial_term_norm",
    "asymptotic_slope",
    "attack_terms",
    "confidence",
    "confidence_groups",
    "finite_m_slope",
    "gate_flips",
    "gradient_shares",
    "group_log_ratio",
    "group_rate",
    "influence_log_ratios",
    "input_grad_norm",
    "lambda_max",
    "linearised_term",
    "linearised_term_norm",
    "param_grad_norm",
    "per_sample_param_grads",
    "sample_stats",
    "training_shares",
]


# ----------------------------------------------------------------------------- plumbing
def _prepare(model: nn.Module, x, y) -> tuple[torch.Tensor, torch.Tensor]:
    why = "the per-example quantities would be random or depend on the batch"
    x, y, _ = check_model_data(model, x, y, module=True, why=why)
    return x, y


def _check_chunk(chunk_size) -> None:
    if chunk_size is not None:
        check_positive("chunk_size", chunk_size, integer=True)


def _functional(model: nn.Module):
    """Detached parameters, buffers and the single-example loss ``(params, x_i, y_i) -> L``."""
    params = {k: v.detach() for k, v in model.named_parameters() if v.requires_grad}
    if not params:
        raise ValueError("the model has no trainable parameters (requires_grad=True), so no parameter gradient.")
    buffers = {k: v.detach() for k, v in model.named_buffers()}

    def loss(p, xi, yi):
        z = functional_call(model, (p, buffers), (xi.unsqueeze(0),))
        return F.cross_entropy(z, yi.unsqueeze(0))

    return params, loss


def _chunks(n: int, chunk_size: int | None):
    step = n if chunk_size is None else chunk_size
    for start in range(0, n, step):
        yield slice(start, min(start + step, n))


# ----------------------------------------------------------------------------- per-sample quantities
def confidence(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Confidence ``p_y = softmax(f(x))_y`` of each example, shape (B,) (chapter 3, ``eq-ch3-trace``)."""
    x, y = _prepare(model, x, y)
    with torch.no_grad():
        p = torch.softmax(model(x), dim=-1)
    return p.gather(1, y.unsqueeze(1)).squeeze(1)


def input_grad_norm(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``|grad_x L(x, y)|`` of each example's own loss, shape (B,), by ``vmap(grad)``.

    On a linear region this is ``|W^T (p - e_y)|`` (chapter 3, ``eq-ch3-residual``).
    """
    x, y = _prepare(model, x, y)
    params, loss = _functional(model)
    gx = vmap(grad(loss, argnums=1), in_dims=(None, 0, 0))(params, x, y)
    return gx.reshape(x.shape[0], -1).norm(dim=1)


def lambda_max(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Top eigenvalue of the input Hessian ``H = W^T A W`` of each example, shape (B,).

    From :func:`advnotes.curvature.input_hessian_eig` (a C x C problem per example).
    """
    x, y = _prepare(model, x, y)
    return input_hessian_eig(model, x, y)[0][:, 0]


def per_sample_param_grads(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, delta: torch.Tensor | None = None
) -> torch.Tensor:
    """Flattened per-example parameter gradients ``grad_theta L(x_i + delta_i, y_i)``, shape (B, P).

    ``P`` is the number of trainable scalars, in ``model.named_parameters()`` order.
    Memory is O(B P): for norms of large batches use :func:`param_grad_norm`.
    """
    x, y = _prepare(model, x, y)
    if delta is not None:
        x = x + check_delta(delta, x)
    params, loss = _functional(model)
    return flat_params(vmap(grad(loss), in_dims=(None, 0, 0))(params, x, y), batch=x.shape[0])


def param_grad_norm(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    delta: torch.Tensor | None = None,
    chunk_size: int | None = 256,
) -> torch.Tensor:
    """``|grad_theta L(x + delta, y)|`` of each example, shape (B,): its pull on the parameter update.

    ``delta=None`` means the clean input. ``chunk_size`` bounds memory to
    O(chunk_size * P) (None: the whole batch at once).
    """
    x, y = _prepare(model, x, y)
    if delta is not None:
        x = x + check_delta(delta, x)
    _check_chunk(chunk_size)
    params, loss = _functional(model)
    per = vmap(grad(loss), in_dims=(None, 0, 0))
    out = [
        flat_params(per(params, x[s], y[s]), batch=x[s].shape[0]).norm(dim=1) for s in _chunks(x.shape[0], chunk_size)
    ]
    return torch.cat(out)


def adversarial_term_norm(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    delta: torch.Tensor,
    *,
    chunk_size: int | None = 256,
) -> torch.Tensor:
    """``|grad_theta L(x + delta) - grad_theta L(x)|`` of each example for any ``delta``.

    The extra pull that the perturbation adds to an example's parameter gradient
    (chapter 3, ``eq-ch3-first-order``). ``delta`` has the shape of ``x`` -> result (B,),
    or a leading axis of M perturbations, (M, *x.shape) -> result (M, B), for which
    the clean gradients are computed once.
    """
    x, y = _prepare(model, x, y)
    if not isinstance(delta, torch.Tensor):
        raise TypeError(f"delta must be a torch.Tensor shaped like x, got {type(delta).__name__}.")
    single = delta.dim() == x.dim()
    deltas = delta.unsqueeze(0) if single else delta
    if deltas.dim() != x.dim() + 1 or deltas.shape[0] == 0:
        raise ValueError(f"delta must have shape {tuple(x.shape)} or (M, *{tuple(x.shape)}), got {tuple(delta.shape)}.")
    deltas = torch.stack([check_delta(d, x) for d in deltas])
    _check_chunk(chunk_size)
    params, loss = _functional(model)
    per = vmap(grad(loss), in_dims=(None, 0, 0))
    out = []
    for s in _chunks(x.shape[0], chunk_size):
        b = x[s].shape[0]
        clean = flat_params(per(params, x[s], y[s]), batch=b)
        out.append(
            torch.stack([(flat_params(per(params, x[s] + d[s], y[s]), batch=b) - clean).norm(dim=1) for d in deltas])
        )
    out = torch.cat(out, dim=1)
    return out[0] if single else out


def linearised_term_norm(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    delta: torch.Tensor,
    *,
    include_clean: bool = False,
    chunk_size: int | None = 256,
) -> torch.Tensor:
    """``|(d^2 L / d theta d x) delta|`` of each example, shape (B,): the first-order adversarial term.

    The directional derivative of ``x -> grad_theta L(x)`` along ``delta`` (a ``jvp`` of a
    ``grad``), exact on the linear region of ``x`` (ReLU derivative 0 at the kink).
    Linear in ``delta`` (chapter 3, ``eq-ch3-first-order``). ``include_clean=True``
    returns instead ``|grad_theta L(x) + (d^2 L / d theta d x) delta|``, the linearised
    parameter gradient on ``x + delta``.
    """
    x, y = _prepare(model, x, y)
    delta = check_delta(delta, x)
    _check_chunk(chunk_size)
    include_clean = check_bool("include_clean", include_clean)
    params, loss = _functional(model)
    g_theta = grad(loss)

    def one(xi, di, yi):
        return jvp(lambda u: g_theta(params, u, yi), (xi,), (di,))[1]

    def one_with_clean(xi, di, yi):
        g, t = jvp(lambda u: g_theta(params, u, yi), (xi,), (di,))
        return {k: g[k] + t[k] for k in g}

    per = vmap(one_with_clean if include_clean else one)
    out = [
        flat_params(per(x[s], delta[s], y[s]), batch=x[s].shape[0]).norm(dim=1) for s in _chunks(x.shape[0], chunk_size)
    ]
    return torch.cat(out)


@dataclass(frozen=True)
class SampleStats:
    """Per-example confidence ``p_y``, ``|g|``, ``lambda_max(H)`` and ``|grad_theta L|``, each (B,)."""

    confidence: torch.Tensor
    grad_norm: torch.Tensor
    lambda_max: torch.Tensor
    param_grad_norm: torch.Tensor

    def as_dict(self) -> dict[str, torch.Tensor]:
        return {
            "confidence": self.confidence,
            "grad_norm": self.grad_norm,
            "lambda_max": self.lambda_max,
            "param_grad_norm": self.param_grad_norm,
        }


def sample_stats(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> SampleStats:
    """All clean per-example quantities of chapter 3 at once (see :class:`SampleStats`)."""
    return SampleStats(
        confidence=confidence(model, x, y),
        grad_norm=input_grad_norm(model, x, y),
        lambda_max=lambda_max(model, x, y),
        param_grad_norm=param_grad_norm(model, x, y),
    )


# ----------------------------------------------------------------------------- groups of examples
#: A prediction is "sure" when its largest probability is at least this (chapter 3, ``sec-ch3-groups``): then
#: ``tr A <= 2 (1 - p_max) <= 0.2`` (at most 22% of the largest curvature for 10 classes), while a wrong one
#: has ``|p - e_y| >= 0.95`` (two thirds of the largest residual, ``sqrt 2``).
SURE = 0.9


def confidence_groups(
    probs: torch.Tensor, y: torch.Tensor, *, frac: float = 0.1, sure: float = SURE
) -> dict[str, torch.Tensor]:
    """Boolean masks (B,) of the three groups of chapter 3 (``sec-ch3-groups``), from ``p = softmax(z)``.

    - ``"confidently wrong"``: ``argmax p != y`` and ``max p >= sure`` (large ``|p - e_y|``,
      tiny curvature ``A``);
    - ``"unconfident"``: the ``ceil(frac * B)`` examples with the smallest ``p_y`` once the
      confidently wrong are set aside (fewer if fewer are left);
    - ``"typical"``: the ``ceil(frac * B)`` examples around the median ``p_y`` (of all B),
      minus any already in the other two groups.

    The three masks are disjoint. ``probs`` (B, C) rows on the simplex; ``y`` (B,).
    """
    if not isinstance(probs, torch.Tensor) or probs.dim() != 2 or probs.shape[0] == 0:
        raise ValueError(f"probs must be a (B, C) tensor, got {getattr(probs, 'shape', probs)}.")
    if not probs.is_floating_point():
        raise TypeError(f"probs must be a floating tensor of probabilities, got dtype {probs.dtype}.")
    frac, sure = check_positive("frac", frac), check_positive("sure", sure)
    if not 0 < frac <= 1:
        raise ValueError(f"frac must lie in (0, 1], got {frac!r}.")
    if not 0 < sure <= 1:
        raise ValueError(f"sure must lie in (0, 1], got {sure!r}.")
    check_finite("probs", probs)
    if (probs < 0).any() or not torch.allclose(probs.sum(1), torch.ones_like(probs[:, 0]), atol=1e-6):
        raise ValueError("probs must be probability vectors (non-negative rows summing to 1).")
    y = check_labels(y, batch=probs.shape[0], num_classes=probs.shape[1])
    B = probs.shape[0]
    k = max(1, math.ceil(frac * B))
    top, pred = probs.max(dim=1)
    p_y = probs.gather(1, y[:, None]).squeeze(1)
    wrong = (pred != y) & (top >= sure)
    order = torch.argsort(torch.where(wrong, torch.full_like(p_y, math.inf), p_y), stable=True)
    unconf = torch.zeros(B, dtype=torch.bool, device=probs.device)
    unconf[order[: min(k, int((~wrong).sum()))]] = True
    by_py = torch.argsort(p_y, stable=True)
    lo = max(0, B // 2 - k // 2)
    typical = torch.zeros_like(unconf)
    typical[by_py[lo : lo + k]] = True
    typical &= ~(unconf | wrong)
    return {"unconfident": unconf, "confidently wrong": wrong, "typical": typical}


def gradient_shares(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    groups: dict[str, torch.Tensor],
    *,
    delta: torch.Tensor | None = None,
) -> dict[str, float]:
    """Each group's share of the summed parameter gradient ``G = sum_j grad_theta L_j`` (chapter 3).

    ``share_S = <sum_{i in S} grad_theta L_i, G> / |G|^2`` with ``L_i = L(x_i + delta_i, y_i)``:
    the part of the update that group S carries *along the update itself*. A group whose
    gradients cancel against the others' gets a small or negative share, and the shares
    of a partition sum to 1. ``groups``: disjoint boolean masks (B,); the result has one
    entry per group plus ``"rest"`` (the examples in none of them). One backward pass per
    group (no per-example gradients are stored).
    """
    x, y = _prepare(model, x, y)
    if delta is not None:
        x = x + check_delta(delta, x)
    if not isinstance(groups, dict):
        raise TypeError(
            f"groups must be a dict of boolean masks, e.g. confidence_groups(p, y), got {type(groups).__name__}."
        )
    masks = {}
    taken = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    for name, g in groups.items():
        if not isinstance(g, (torch.Tensor, np.ndarray, list, tuple)):
            raise ValueError(f"group {name!r} must be a boolean mask of shape ({x.shape[0]},), got {type(g).__name__}.")
        g = torch.as_tensor(np.asarray(g) if isinstance(g, (list, tuple)) else g, device=x.device)
        if g.dtype != torch.bool or g.shape != (x.shape[0],):
            raise ValueError(f"group {name!r} must be a boolean mask of shape ({x.shape[0]},).")
        if (g & taken).any():
            raise ValueError(f"group {name!r} overlaps another group; the shares need disjoint groups.")
        if name == "rest":
            raise ValueError("'rest' is reserved for the examples outside every group.")
        taken |= g
        masks[name] = g
    masks["rest"] = ~taken
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable parameters (requires_grad=True), so no parameter gradient.")
    with torch.enable_grad():
        losses = F.cross_entropy(model(x), y, reduction="none")
        sums = {}
        for name, g in masks.items():
            gs = torch.autograd.grad(losses[g].sum(), params, retain_graph=True, allow_unused=True)
            flat = [(t if t is not None else torch.zeros_like(p)).reshape(-1) for t, p in zip(gs, params)]
            sums[name] = torch.cat(flat)
    total = torch.stack(list(sums.values())).sum(0)
    norm2 = float(total @ total)
    if norm2 == 0:
        raise ValueError("the summed gradient is zero: no update to share out.")
    return {name: float(v @ total) / norm2 for name, v in sums.items()}


# ----------------------------------------------------------------------------- statistics
def asymptotic_slope(lam_a, lam_b, *, step_size: float) -> float:
    """``m -> oo`` slope of the group log-ratio in the linearised model (chapter 3, ``prop-ch3-exponential``).

    ``mean_a log(1 + alpha lambda) - mean_b log(1 + alpha lambda)`` over the two groups'
    top eigenvalues ``lam_a``, ``lam_b`` (1-d, > 0).
    """
    step_size = check_positive("step_size", step_size)
    a, b = check_vector("lam_a", lam_a), check_vector("lam_b", lam_b)
    if (a <= 0).any() or (b <= 0).any():
        raise ValueError("eigenvalues must be > 0.")
    return float(np.log1p(step_size * a).mean() - np.log1p(step_size * b).mean())


def finite_m_slope(lam_a, lam_b, *, step_size: float, steps) -> np.ndarray:
    """The exact slope ``d/dm`` of ``mean_a log c(m) - mean_b log c(m)`` at each ``m`` in ``steps``.

    ``d/dm log c(m) = log q / (1 - q^{-m})`` with ``q = 1 + alpha lambda`` (chapter 3,
    ``prop-ch3-exponential``); it tends to ``log q`` as ``m -> oo`` and is about ``1/m``
    while ``alpha lambda m << 1``. Evaluated without cancellation via ``expm1``.
    """
    step_size = check_positive("step_size", step_size)
    a, b = check_vector("lam_a", lam_a), check_vector("lam_b", lam_b)
    m = check_vector("steps", steps)
    if (a <= 0).any() or (b <= 0).any() or (m <= 0).any():
        raise ValueError("eigenvalues and steps must be > 0.")

    def rate(lam):
        lq = np.log1p(step_size * lam)[None, :]
        return (lq / -np.expm1(-m[:, None] * lq)).mean(1)

    return rate(a) - rate(b)


def group_log_ratio(values, group_a, group_b) -> torch.Tensor:
    """``mean_{i in a} log v_i - mean_{j in b} log v_j`` along the last axis: (..., B) -> (...).

    The log of the ratio of the two groups' geometric means; ``group_a``/``group_b``
    are boolean masks (B,). Values must be positive (a zero would give -inf).
    """
    if not isinstance(values, torch.Tensor):
        values = torch.as_tensor(check_array("values", values, finite=False), dtype=torch.float64)
    if values.dim() == 0 or values.dtype == torch.bool or values.is_complex():
        raise TypeError(f"values must be a real tensor (..., B), got {values.dtype} of shape {tuple(values.shape)}.")
    masks = []
    for name, g in (("group_a", group_a), ("group_b", group_b)):
        if not isinstance(g, (torch.Tensor, np.ndarray, list, tuple)):
            raise ValueError(f"{name} must be a boolean mask of shape ({values.shape[-1]},), got {type(g).__name__}.")
        g = torch.as_tensor(np.asarray(g) if isinstance(g, (list, tuple)) else g)
        if g.dtype != torch.bool or g.shape != values.shape[-1:]:
            raise ValueError(
                f"{name} must be a boolean mask of shape ({values.shape[-1]},), got {g.dtype} {tuple(g.shape)}."
            )
        if not g.any():
            raise ValueError(f"{name} is empty.")
        masks.append(g.to(values.device))
    if not torch.isfinite(values).all() or (values <= 0).any():
        raise ValueError("values must be finite and > 0 to take logs; drop m = 0 (no perturbation) first.")
    logs = values.log()
    return logs[..., masks[0]].mean(-1) - logs[..., masks[1]].mean(-1)


# ----------------------------------------------------------------------------- the chapter's experiments
def log_ratio_curves(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, group_a, group_b, *, step_size: float, steps
) -> dict[str, np.ndarray]:
    """``log r(m)`` of group a over group b, for each ``m`` in ``steps`` (chapter 3, ``sec-ch3-growth``).

    ``r(m)`` is the ratio of the groups' geometric-mean adversarial terms
    (:func:`group_log_ratio`), two ways: ``"linearised"``, ``|K delta_m|`` with the
    quadratic model's closed-form ``delta_m`` (:func:`advnotes.theory.perturbation_closed_form`),
    and ``"real attack"``, ``|grad_theta L(x + delta_m) - grad_theta L(x)|`` with ``m`` real,
    unprojected gradient-ascent steps (:func:`advnotes.attacks.gradient_ascent_path`).
    Returns arrays of shape ``(len(steps),)``; also ``"lam"``, the top eigenvalues (B,).
    """
    from .attacks import gradient_ascent_path
    from .curvature import input_gradient
    from .theory import perturbation_closed_form

    if isinstance(steps, (str, bytes)) or not hasattr(steps, "__iter__"):
        raise ValueError(f"steps must be a non-empty list of step counts >= 1, got {steps!r}.")
    steps = check_int_list("steps", steps, min_value=1)
    check_steps(max(steps), name="the largest of steps")
    step_size = check_positive("step_size", step_size)
    x, y = _prepare(model, x, y)
    lam, V = input_hessian_eig(model, x, y)
    g = input_gradient(model, x, y)
    path = gradient_ascent_path(model, x, y, step_size=step_size, record=steps)
    lin = torch.stack(
        [
            linearised_term_norm(model, x, y, perturbation_closed_form(lam, V, g, step_size=step_size, steps=m))
            for m in steps
        ]
    )
    real = adversarial_term_norm(model, x, y, torch.stack([path[m] for m in steps]))
    out = {
        name: group_log_ratio(v, group_a, group_b).cpu().numpy()
        for name, v in (("linearised", lin), ("real attack", real))
    }
    out["lam"] = lam[:, 0].cpu().numpy()
    return out


def shares_now(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, attack=None, frac: float = 0.1) -> dict:
    """Groups' shares of the update at the current parameters (chapter 3, ``sec-ch3-training``).

    Groups from the clean predictions (:func:`confidence_groups`, without the typical
    decile). Returns ``{"clean": shares of the clean summed gradient, "attacked": shares of
    the gradient on x + attack(model, x, y) (None without an attack), "n": group sizes}``.
    """
    if attack is not None and not callable(attack):
        raise TypeError(f"attack must be None or a callable (model, x, y) -> delta, got {type(attack).__name__}.")
    x, y = _prepare(model, x, y)
    with torch.no_grad():
        p = torch.softmax(model(x), dim=-1)
    groups = confidence_groups(p, y, frac=frac)
    groups.pop("typical")
    clean = gradient_shares(model, x, y, groups)
    attacked = None if attack is None else gradient_shares(model, x, y, groups, delta=attack(model, x, y).detach())
    return {"clean": clean, "attacked": attacked, "n": {k: int(v.sum()) for k, v in groups.items()}}


# ----------------------------------------------------------------------------- chapter 3, revised experiments
def linearised_term(model: nn.Module, x: torch.Tensor, y: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """The first-order adversarial term ``(d^2 L / d theta d x) delta`` itself, flattened, shape (B, P).

    The vector whose norm :func:`linearised_term_norm` returns (chapter 3, ``eq-ch3-first-order``),
    in ``model.named_parameters()`` order, as :func:`per_sample_param_grads`. Memory O(B P).
    """
    x, y = _prepare(model, x, y)
    delta = check_delta(delta, x)
    params, loss = _functional(model)
    g_theta = grad(loss)

    def one(xi, di, yi):
        return jvp(lambda u: g_theta(params, u, yi), (xi,), (di,))[1]

    return flat_params(vmap(one)(x, delta, y), batch=x.shape[0])


def gate_flips(model: nn.Module, x: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    """Fraction of the ReLU gates of each example that differ between ``x`` and ``x + delta``, shape (B,).

    Assumption 1 of chapter 3's ``prop-ch3-exponential`` (fixed gates) holds for an example
    exactly when its value is 0. A gate is "on" when the ReLU's input is > 0; the gates are
    read by :func:`advnotes.linear_regions.gate_pattern` (forward hooks on every ``nn.ReLU``).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    x = check_inputs(x)
    delta = check_delta(delta, x)
    return (gate_pattern(model, x) != gate_pattern(model, x + delta)).double().mean(dim=1)


def attack_terms(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, step_size: float, steps) -> dict:
    """Per-example adversarial terms along plain unprojected gradient ascent (chapter 3, ``sec-ch3-growth``).

    For each ``m`` in ``steps`` (ints >= 1) and each example, arrays of shape ``(len(steps), B)``:

    - ``"linearised"``: ``|K delta_m|`` with the linearised dynamics' closed form ``delta_m``
      (:func:`advnotes.theory.perturbation_closed_form`);
    - ``"real attack"``: ``|grad_theta L(x + delta_m) - grad_theta L(x)|`` after ``m`` real steps
      (:func:`advnotes.attacks.gradient_ascent_path`);
    - ``"first order, real delta"``: ``|K delta_m|`` with the *real* ``delta_m`` (assumption 3 alone);
    - ``"gate flips"``: the fraction of ReLU gates flipped by the real ``delta_m`` (:func:`gate_flips`);

    and ``"lam"`` (B,), the top eigenvalues of the input Hessians. Group log-ratios follow
    with :func:`group_log_ratio`.
    """
    from .attacks import gradient_ascent_path
    from .curvature import input_gradient
    from .theory import perturbation_closed_form

    if isinstance(steps, (str, bytes)) or not hasattr(steps, "__iter__"):
        raise ValueError(f"steps must be a non-empty list of step counts >= 1, got {steps!r}.")
    steps = check_int_list("steps", steps, min_value=1)
    check_steps(max(steps), name="the largest of steps")
    if not steps or min(steps) < 1:
        raise ValueError(f"steps must be a non-empty list of step counts >= 1, got {steps!r}.")
    check_positive("step_size", step_size)
    x, y = _prepare(model, x, y)
    lam, V = input_hessian_eig(model, x, y)
    g = input_gradient(model, x, y)
    path = gradient_ascent_path(model, x, y, step_size=step_size, record=steps)
    closed = [perturbation_closed_form(lam, V, g, step_size=step_size, steps=m) for m in steps]
    real = torch.stack([path[m] for m in steps])
    out = {
        "linearised": torch.stack([linearised_term_norm(model, x, y, d) for d in closed]),
        "real attack": adversarial_term_norm(model, x, y, real),
        "first order, real delta": torch.stack([linearised_term_norm(model, x, y, d) for d in real]),
        "gate flips": torch.stack([gate_flips(model, x, d) for d in real]),
    }
    out = {k: v.cpu().numpy() for k, v in out.items()}
    out["lam"] = lam[:, 0].cpu().numpy()
    return out


def group_rate(lam, *, step_size: float, steps) -> np.ndarray:
    """One group's mean ``d/dm log c(m) = log q / (1 - q^{-m})``, ``q = 1 + alpha lambda``, at each ``m``.

    The per-group part of :func:`finite_m_slope` (which is ``group_rate(a) - group_rate(b)``);
    its excess over ``mean log q`` is the group's finite-``m`` correction (chapter 3, ``prop-ch3-exponential``).
    """
    check_positive("step_size", step_size)
    lam, m = check_vector("lam", lam), check_vector("steps", steps)
    if (lam <= 0).any() or (m <= 0).any():
        raise ValueError("eigenvalues and steps must be > 0.")
    lq = np.log1p(step_size * lam)[None, :]
    return (lq / -np.expm1(-m[:, None] * lq)).mean(1)


def influence_log_ratios(model: nn.Module, x: torch.Tensor, y: torch.Tensor, groups: dict, attack, steps) -> dict:
    """``log r(m)`` of each group over the ``"typical"`` group under ``attack``, for each ``m`` in ``steps``.

    ``attack(model, x, y, m) -> delta``; ``r(m)`` is the ratio of the groups' geometric-mean
    adversarial terms ``|grad_theta L(x + delta) - grad_theta L(x)|`` (:func:`group_log_ratio`).
    ``groups``: boolean masks (B,) including ``"typical"``; empty groups give NaN.
    Returns ``{group: array (len(steps),)}`` for every group but ``"typical"`` (chapter 3, ``sec-ch3-steps``).
    """
    if not callable(attack):
        raise TypeError(f"attack must be a callable (model, x, y, m) -> delta, got {type(attack).__name__}.")

    if not isinstance(groups, dict):
        raise TypeError(f"groups must be a dict of boolean masks (with 'typical'), got {type(groups).__name__}.")
    if "typical" not in groups:
        raise ValueError("groups must contain a 'typical' mask, the reference group.")
    if isinstance(steps, (str, bytes)) or not hasattr(steps, "__iter__"):
        raise ValueError(f"steps must be a non-empty list of step counts >= 1, got {steps!r}.")
    steps = check_int_list("steps", steps, min_value=1)
    check_steps(max(steps), name="the largest of steps")
    terms = adversarial_term_norm(model, x, y, torch.stack([attack(model, x, y, int(m)).detach() for m in steps]))
    return {
        k: np.array([float(group_log_ratio(t, g, groups["typical"])) if g.any() else math.nan for t in terms])
        for k, g in groups.items()
        if k != "typical"
    }


def training_shares(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, attack=None, frac: float = 0.1) -> dict:
    """Groups' shares of the full-batch gradient ``G`` at the current parameters (chapter 3, ``sec-ch3-training``).

    ``"clean"`` / ``"attacked"``: shares (:func:`gradient_shares`) of the clean and of the
    attacked full-batch gradient, groups from the clean predictions ``p(x)``;
    ``"attacked, groups at x+delta"``: shares of the attacked gradient with the groups taken
    from ``p(x + delta)``, the inputs training actually uses. ``"n"`` and ``"n at x+delta"``:
    group sizes. Without an attack, the attacked entries are None. The typical decile is
    left out of the shares (it is part of ``"rest"``). ``"log r"``: ``{"clean", "attacked"}``,
    the log influence ratio of ``sec-ch3-growth`` on the training set, the unconfident
    decile's geometric-mean ``|grad_theta L_i|`` over the typical decile's (groups from
    ``p(x)``; the attacked one at ``x + delta``, the same ``delta`` as the shares; None
    without an attack).
    """
    if attack is not None and not callable(attack):
        raise TypeError(f"attack must be None or a callable (model, x, y) -> delta, got {type(attack).__name__}.")
    x, y = _prepare(model, x, y)

    def groups_at(inp, keep_typical=False):
        with torch.no_grad():
            grp = confidence_groups(torch.softmax(model(inp), dim=-1), y, frac=frac)
        typical = grp.pop("typical")
        return (grp, typical) if keep_typical else grp

    grp, typ = groups_at(x, keep_typical=True)
    sel = grp["unconfident"] | typ  # the log ratio needs only the two deciles' per-sample gradients

    def log_r(delta=None):
        norms = param_grad_norm(model, x[sel], y[sel], delta=None if delta is None else delta[sel])
        return float(group_log_ratio(norms, grp["unconfident"][sel], typ[sel]))

    out = {"clean": gradient_shares(model, x, y, grp), "n": {k: int(v.sum()) for k, v in grp.items()}}
    out["attacked"] = out["attacked, groups at x+delta"] = out["n at x+delta"] = None
    out["log r"] = {"clean": log_r(), "attacked": None}
    if attack is not None:
        delta = attack(model, x, y).detach()
        grp_d = groups_at(x + delta)
        out["attacked"] = gradient_shares(model, x, y, grp, delta=delta)
        out["attacked, groups at x+delta"] = gradient_shares(model, x, y, grp_d, delta=delta)
        out["n at x+delta"] = {k: int(v.sum()) for k, v in grp_d.items()}
        out["log r"]["attacked"] = log_r(delta)
    return out
