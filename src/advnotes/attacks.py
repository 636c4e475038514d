"""Attacks: plain gradient ascent (the one the theory studies), L-inf and L2 PGD, FGSM.

All attacks maximise the per-example cross-entropy (the batch loss is a *sum*,
so each example's gradient is its own) and return the perturbation ``delta`` with
the shape of ``x``. They do not change the model or accumulate parameter
gradients: attacks run the model in eval mode and restore its mode afterwards
(:func:`advnotes.validation.eval_mode`), so batch-norm statistics are never
updated and dropout is off (an attack on a model in training mode is the attack
on its eval-mode function). ``model`` may be any callable mapping
(B, *input_shape) to (B, C) logits, e.g. :class:`advnotes.linear_regions.FrozenGates`.

Every attack checks its inputs first: the model is run once on ``x`` and a
shape or dtype mismatch is reported in the model's terms; labels must lie in
[0, C); with ``clamp`` the inputs must already lie in the box; ``steps`` may not
exceed :data:`MAX_STEPS` (set ``advnotes.attacks.MAX_STEPS`` higher to allow
longer runs).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from .validation import (
    check_bool,
    check_finite,
    check_inputs,
    check_int_list,
    check_limit,
    check_model_data,
    check_not_training,
    check_positive,
    eval_mode,
)

Model = Callable[[torch.Tensor], torch.Tensor]

#: The most steps one attack may take. A longer run shows no progress and may look
#: like a hang; set ``advnotes.attacks.MAX_STEPS`` to a larger value to allow it.
MAX_STEPS = 100_000


def check_steps(steps, *, name: str = "steps", allow_zero: bool = True) -> int:
    """A step count of an iterated attack: an integer >= 0 (>= 1 with ``allow_zero=False``), at most
    :data:`MAX_STEPS` (the one check of attack lengths, also used by ``advnotes.theory`` and
    ``advnotes.influence``)."""
    steps = check_positive(name, steps, integer=True, allow_zero=allow_zero)
    return check_limit(name, steps, "advnotes.attacks.MAX_STEPS", MAX_STEPS, what="an attack that long")


def _check_generator(generator) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator (e.g. torch.Generator().manual_seed(0)) or None, "
            f"got {type(generator).__name__}."
        )


def _loss_grad(model: Model, x: torch.Tensor, y: torch.Tensor, delta: torch.Tensor, *, create_graph: bool = False):
    with torch.enable_grad():
        if not delta.requires_grad:
            delta = delta.detach().requires_grad_(True)
        loss = F.cross_entropy(model(x + delta), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, delta, create_graph=create_graph)
    return grad


def _prepare(model: Model, x, y, clamp=None):
    """Validate ``x``, ``y`` and the model on the whole batch (call inside :func:`eval_mode`)."""
    x, y, _ = check_model_data(model, x, y)
    _check_in_box(x, clamp)
    return x, y


def _check_in_box(x: torch.Tensor, clamp) -> None:
    if clamp is None:
        return
    lo, hi = clamp
    for name, bound in (("low", lo), ("high", hi)):
        if isinstance(bound, torch.Tensor):
            try:
                ok = torch.broadcast_shapes(bound.shape, x.shape) == x.shape
            except RuntimeError:
                ok = False
            if not ok:
                raise ValueError(
                    f"clamp's {name} bound has shape {tuple(bound.shape)}, which does not broadcast to x's shape "
                    f"{tuple(x.shape)}; use a scalar or a tensor broadcastable to x."
                )
            if bound.device != x.device:
                raise ValueError(f"clamp's {name} bound is on {bound.device} but x is on {x.device}.")
    below, above = x < lo, x > hi
    if below.any() or above.any():
        n = int((below | above).sum())
        raise ValueError(
            f"x has {n} value(s) outside the clamp range (min {float(x.min()):.4g}, max {float(x.max()):.4g}), so "
            "projecting x + delta onto it would move x by more than eps. Pass inputs inside the box (e.g. "
            "advnotes.data.load_digits(scale='unit') for the threat model's [0, 1]) or clamp=None."
        )


def _draw(kind: str, shape, *, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Random numbers drawn with ``generator`` on its own device, then moved to ``like``'s device/dtype.

    A seeded CPU generator then gives the same draws whether the data live on the CPU or a GPU.
    """
    dev = generator.device if generator is not None else like.device
    fn = torch.rand if kind == "uniform" else torch.randn
    return fn(tuple(shape), generator=generator, dtype=like.dtype, device=dev).to(like.device)


def _check_result(delta: torch.Tensor, what: str) -> torch.Tensor:
    if not torch.isfinite(delta).all():
        raise FloatingPointError(
            f"{what} produced a non-finite perturbation; lower step_size or steps (the loss overflowed)."
        )
    return delta


def gradient_ascent(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    step_size: float,
    steps: int,
    eps: float | None = None,
    clamp: tuple | None = None,
    create_graph: bool = False,
) -> torch.Tensor:
    """Plain multi-step gradient ascent: ``delta_{t+1} = delta_t + step_size * grad_x L(x + delta_t)``.

    The attack the paper analyses: unnormalised steps, ``delta_0 = 0`` (chapter 2,
    ``eq-ch2-attack``). With the defaults there is no projection at all, as in the
    theory. Under the threat model (:mod:`advnotes.threat`) pass ``eps`` (project each
    iterate onto the L-inf ball ``|delta|_inf <= eps``) and ``clamp=(0, 1)`` (keep
    ``x + delta`` in the pixel box). ``create_graph=True`` keeps ``delta``
    differentiable w.r.t. the model's parameters (chapter 4 needs ``d delta / d theta``).
    """
    step_size = check_positive("step_size", step_size)
    steps = check_steps(steps)
    if eps is not None:
        eps = check_positive("eps", eps)
    create_graph = check_bool("create_graph", create_graph)
    check_clamp(clamp)
    with eval_mode(model):
        x, y = _prepare(model, x, y, clamp)
        path = _ascend(
            model, x, y, step_size=step_size, record=[steps], eps=eps, clamp=clamp, create_graph=create_graph
        )
    return _check_result(path[steps], "gradient_ascent")


def gradient_ascent_path(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    step_size: float,
    record,
    eps: float | None = None,
    clamp: tuple | None = None,
) -> dict:
    """:func:`gradient_ascent`, returning the perturbation after each step count in ``record``: ``{m: delta_m}``.

    One run up to ``max(record)`` steps instead of one run per step count (chapter 2's
    validity map, chapter 3's growth curves); each ``delta_m`` has the shape of ``x`` and
    equals ``gradient_ascent(..., steps=m)``. ``model`` may be any callable giving (B, C)
    logits, e.g. :class:`advnotes.linear_regions.FrozenGates`.
    """
    step_size = check_positive("step_size", step_size)
    if isinstance(record, (str, bytes)) or not hasattr(record, "__iter__"):
        raise ValueError(f"record must be a non-empty collection of step counts >= 0, got {record!r}.")
    record = sorted(set(check_int_list("record", record)))
    check_steps(record[-1], name="the largest step count in record")
    if eps is not None:
        eps = check_positive("eps", eps)
    check_clamp(clamp)
    check_not_training(model, why="the attack's path would be random")
    with eval_mode(model):
        x, y = _prepare(model, x, y, clamp)
        path = _ascend(model, x, y, step_size=step_size, record=record, eps=eps, clamp=clamp)
    return {m: _check_result(d, "gradient_ascent_path") for m, d in path.items()}


def _ascend(model, x, y, *, step_size, record, eps=None, clamp=None, create_graph=False) -> dict:
    """The plain ascent loop of :func:`gradient_ascent` and :func:`gradient_ascent_path` (arguments checked)."""
    out, delta, last = {}, torch.zeros_like(x), record[-1]
    for t in range(last + 1):
        if t in record:
            out[t] = delta
        if t == last:
            break
        g = _loss_grad(model, x, y, delta, create_graph=create_graph)
        delta = delta + step_size * g
        if eps is not None:
            delta = torch.clamp(delta, -eps, eps)
        delta = _clamp_to_range(x, delta, clamp)
        if not create_graph:
            delta = delta.detach()
        if not torch.isfinite(delta).all():
            break  # the loss overflowed: report it (as non-finite) at every later step count
    for m in record:
        out.setdefault(m, delta)
    return out


def fgsm(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    step_size: float | None = None,
    clamp: tuple | None = None,
    random_start: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One signed-gradient step (Goodfellow et al. 2015), projected onto the eps-ball and ``clamp``.

    ``step_size`` defaults to ``eps``. With ``random_start=True`` and
    ``step_size=1.25 * eps`` this is the "fast" FGSM-RS training attack of Wong et al.
    (2020), the one-step baseline of the book's threat model.
    """
    eps = check_positive("eps", eps)
    step_size = eps if step_size is None else check_positive("step_size", step_size)
    return pgd_linf(
        model,
        x,
        y,
        eps=eps,
        step_size=step_size,
        steps=1,
        clamp=clamp,
        random_start=random_start,
        generator=generator,
    )


def _clamp_to_range(x: torch.Tensor, delta: torch.Tensor, clamp) -> torch.Tensor:
    if clamp is None:
        return delta
    lo, hi = clamp
    return torch.clamp(x + delta, lo, hi) - x


def check_clamp(clamp) -> tuple | None:
    """The box ``clamp`` of an attack: None, or a ``(low, high)`` pair of numbers or tensors with low < high.

    Returns None or the pair ``(low, high)``; the one check of a box (``advnotes.threat`` uses it too).
    """
    if clamp is None:
        return None
    if isinstance(clamp, (str, bytes)) or isinstance(clamp, torch.Tensor) and clamp.dim() == 0:
        raise ValueError(f"clamp must be None or a (low, high) pair, got {clamp!r}.")
    try:
        lo, hi = clamp
    except (TypeError, ValueError):
        raise ValueError(f"clamp must be None or a (low, high) pair, got {clamp!r}.") from None
    for name, bound in (("low", lo), ("high", hi)):
        if isinstance(bound, torch.Tensor):
            if bound.is_complex() or bound.dtype == torch.bool or torch.isnan(bound).any():
                raise ValueError(f"clamp's {name} bound must be a real tensor without NaN, got {bound!r}.")
        elif isinstance(bound, bool) or not isinstance(bound, (int, float)) or math.isnan(bound):
            raise ValueError(f"clamp's {name} bound must be a number or a tensor, got {bound!r}.")
    if not isinstance(lo, torch.Tensor) and not isinstance(hi, torch.Tensor):
        if not lo < hi:
            raise ValueError(f"clamp must satisfy low < high, got {clamp!r}.")
    elif not bool(torch.all(torch.as_tensor(lo) < torch.as_tensor(hi))):
        raise ValueError("clamp must satisfy low < high everywhere; some entries of the bounds have low >= high.")
    return lo, hi


def pgd_linf(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    step_size: float,
    steps: int,
    clamp: tuple | None = None,
    random_start: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """L-infinity PGD: ``delta <- Proj_{|delta|_inf <= eps}(delta + step_size * sign(grad))``.

    ``clamp=(low, high)`` keeps ``x + delta`` inside the data range (scalars or
    tensors broadcastable to ``x``). ``random_start`` draws ``delta_0`` uniformly in
    the ball using ``generator`` (seeded by the caller).
    """
    eps, step_size, steps, random_start = _check_pgd(eps, step_size, steps, random_start, generator, clamp)
    with eval_mode(model):
        x, y = _prepare(model, x, y, clamp)
        if random_start:
            delta = (_draw("uniform", x.shape, like=x, generator=generator) * 2 - 1) * eps
        else:
            delta = torch.zeros_like(x)
        delta = _clamp_to_range(x, delta, clamp)
        for _ in range(steps):
            g = _loss_grad(model, x, y, delta)
            delta = torch.clamp(delta + step_size * torch.sign(g), -eps, eps)
            delta = _clamp_to_range(x, delta, clamp).detach()
    return _check_result(delta, "pgd_linf")


def _check_pgd(eps, step_size, steps, random_start, generator, clamp) -> tuple[float, float, int, bool]:
    """The knobs of :func:`pgd_linf` and :func:`pgd_l2`, checked; returns them as Python numbers."""
    eps = check_positive("eps", eps)
    step_size = check_positive("step_size", step_size)
    steps = check_steps(steps)
    random_start = check_bool("random_start", random_start)
    _check_generator(generator)
    check_clamp(clamp)
    return eps, step_size, steps, random_start


def _l2_normalise(v: torch.Tensor) -> torch.Tensor:
    norms = v.reshape(v.shape[0], -1).norm(dim=1).clamp_min(1e-12)
    return v / norms.reshape(-1, *([1] * (v.dim() - 1)))


def _project_l2(delta: torch.Tensor, eps: float) -> torch.Tensor:
    norms = delta.reshape(delta.shape[0], -1).norm(dim=1)
    factor = torch.clamp(eps / norms.clamp_min(1e-12), max=1.0)
    return delta * factor.reshape(-1, *([1] * (delta.dim() - 1)))


def pgd_l2(
    model: Model,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    step_size: float,
    steps: int,
    clamp: tuple | None = None,
    random_start: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """L2 PGD: step along the normalised gradient, then project onto ``|delta|_2 <= eps``."""
    eps, step_size, steps, random_start = _check_pgd(eps, step_size, steps, random_start, generator, clamp)
    with eval_mode(model):
        x, y = _prepare(model, x, y, clamp)
        if random_start:
            d = _draw("normal", x.shape, like=x, generator=generator)
            r = _draw("uniform", (x.shape[0],), like=x, generator=generator)
            delta = _l2_normalise(d) * (eps * r).reshape(-1, *([1] * (x.dim() - 1)))
        else:
            delta = torch.zeros_like(x)
        delta = _clamp_to_range(x, delta, clamp)
        for _ in range(steps):
            g = _loss_grad(model, x, y, delta)
            delta = _project_l2(delta + step_size * _l2_normalise(g), eps)
            delta = _clamp_to_range(x, delta, clamp).detach()
    return _check_result(delta, "pgd_l2")


def random_direction(x: torch.Tensor, *, norm: float = 1.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """A random perturbation with L2 norm ``norm`` per example (a baseline for the attacks)."""
    x = check_inputs(x)
    norm = check_positive("norm", norm, allow_zero=True)
    _check_generator(generator)
    d = _draw("normal", x.shape, like=x, generator=generator)
    return _l2_normalise(d) * norm


def loss_per_example(model: Model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of each example (B,), without gradients (the model runs in eval mode)."""
    with eval_mode(model), torch.no_grad():
        x, y = _prepare(model, x, y)
        out = F.cross_entropy(model(x), y, reduction="none")
    check_finite("the loss", out)
    return out
