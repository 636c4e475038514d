"""Attacks: plain gradient ascent (the one the theory studies), L-inf and L2 PGD, FGSM.

All attacks maximise the per-example cross-entropy (the batch loss is a *sum*,
so each example's gradient is its own) and return the perturbation ``delta`` with
the shape of ``x``. They do not change the model or accumulate parameter
gradients. ``model`` may be any callable mapping (B, *input_shape) to (B, C)
logits, e.g. :class:`advnotes.linear_regions.FrozenGates`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from .validation import check_finite, check_inputs, check_labels, check_logits, check_positive

Model = Callable[[torch.Tensor], torch.Tensor]


def _loss_grad(model: Model, x: torch.Tensor, y: torch.Tensor, delta: torch.Tensor, *, create_graph: bool = False):
    with torch.enable_grad():
        if not delta.requires_grad:
            delta = delta.detach().requires_grad_(True)
        loss = F.cross_entropy(model(x + delta), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, delta, create_graph=create_graph)
    return grad


def _prepare(model: Model, x, y):
    x = check_inputs(x)
    with torch.no_grad():
        z = model(x)
    C = check_logits(z, x.shape[0])
    y = check_labels(y, batch=x.shape[0], num_classes=C)
    return x, y


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
    check_positive("step_size", step_size)
    check_positive("steps", steps, integer=True, allow_zero=True)
    if eps is not None:
        check_positive("eps", eps)
    _check_clamp(clamp)
    x, y = _prepare(model, x, y)
    delta = torch.zeros_like(x)
    for _ in range(steps):
        g = _loss_grad(model, x, y, delta, create_graph=create_graph)
        delta = delta + step_size * g
        if eps is not None:
            delta = torch.clamp(delta, -eps, eps)
        delta = _clamp_to_range(x, delta, clamp)
        if not create_graph:
            delta = delta.detach()
    return _check_result(delta, "gradient_ascent")


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
    check_positive("eps", eps)
    step_size = eps if step_size is None else step_size
    check_positive("step_size", step_size)
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


def _check_clamp(clamp):
    if clamp is None:
        return
    try:
        lo, hi = clamp
    except (TypeError, ValueError):
        raise ValueError(f"clamp must be None or a (low, high) pair, got {clamp!r}.") from None
    if not isinstance(lo, torch.Tensor) and not isinstance(hi, torch.Tensor) and not lo < hi:
        raise ValueError(f"clamp must satisfy low < high, got {clamp!r}.")


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
    check_positive("eps", eps)
    check_positive("step_size", step_size)
    check_positive("steps", steps, integer=True, allow_zero=True)
    _check_clamp(clamp)
    x, y = _prepare(model, x, y)
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
    check_positive("eps", eps)
    check_positive("step_size", step_size)
    check_positive("steps", steps, integer=True, allow_zero=True)
    _check_clamp(clamp)
    x, y = _prepare(model, x, y)
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
    check_positive("norm", norm, allow_zero=True)
    d = _draw("normal", x.shape, like=x, generator=generator)
    return _l2_normalise(d) * norm


def loss_per_example(model: Model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of each example (B,), without gradients."""
    x, y = _prepare(model, x, y)
    with torch.no_grad():
        out = F.cross_entropy(model(x), y, reduction="none")
    check_finite("the loss", out)
    return out
