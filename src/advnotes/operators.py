"""Parameter-space operators of chapter 4, each an operator :func:`advnotes.krylov.top_eig` can solve.

Everything here treats the model's trainable parameters as one flat vector ``theta`` of
length ``P`` (:class:`ParamSpace`) and the training loss as the *mean* cross-entropy, as
:func:`advnotes.training.train` does. The operators on ``R^P``:

- :class:`ParamHessian`: the Hessian of the clean loss ``L(x; theta)`` (``H_clean``), or,
  with ``delta``, of ``L(x + delta; theta)`` with ``delta`` held fixed (``H_thth`` at a
  fixed perturbation: what a plain look at "the adversarial loss surface" measures);
- :class:`EffectiveJacobian`: ``J_eff = H_thth + H_thx d delta / d theta``, the Jacobian of the
  adversarial training gradient ``G(theta)`` (chapter 4, ``eq-ch4-jeff``), where ``delta(theta)``
  is the gradient-ascent attack, plain or projected (:func:`attack_in_theta`). One training
  step is ``theta <- theta - eta G(theta)``, so its Jacobian is ``I - eta J_eff``. It is not
  symmetric.

Both have ``size``, ``dtype``, ``device``, ``symmetric`` and ``matvec(v)`` (the interface of
:class:`advnotes.krylov.Operator`), so ``krylov.top_eig(ParamHessian(model, x, y), k=3)`` gives
the top eigenpairs. :func:`training_gradient_fn` is ``G`` itself as a function of ``theta``
(differentiate it with ``torch.func`` for dense oracles), :func:`attack_in_theta` the attack
as a function of ``theta``. :func:`hvp_clean`, :func:`hvp_fixed_delta`, :func:`jeff_mvp`,
:func:`attack_delta` and :func:`training_gradient` are one-shot conveniences at the model's
current parameters.

Hessian-vector products are reverse over reverse (one backward pass through the
gradient's graph, built once per operator); ``J_eff`` products are ``torch.func`` forward
over reverse (``jvp`` of ``grad``: reverse mode would give ``J_eff^T v``). No ``P x P``
matrix is ever formed. Models whose output is random or depends on the batch (active
dropout, batch-norm in training mode) are refused with "call model.eval()". Inputs may
have any shape the model takes: ``(B, n)`` for the digits MLP, ``(B, 1, 40)`` for the 1-d CNN
on MNIST-1D (``advnotes.settings``); without a box, pass ``clamp=None``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, jvp

from .attacks import check_clamp, check_steps
from .models import flat_params
from .validation import check_delta, check_finite, check_labels, check_model_data, check_positive

__all__ = [
    "ParamSpace",
    "ParamHessian",
    "EffectiveJacobian",
    "attack_in_theta",
    "training_gradient_fn",
    "check_ascent",
    "check_projection",
    "hvp_clean",
    "hvp_fixed_delta",
    "jeff_mvp",
    "attack_delta",
    "training_gradient",
]


# ----------------------------------------------------------------------------- parameters as one vector


class ParamSpace:
    """The trainable parameters of ``model`` as one flat vector (in ``model.parameters()`` order).

    ``theta`` (P,) is a detached copy at construction; :meth:`unflatten` maps any
    (P,) vector to the ``{name: tensor}`` dict that ``functional_call`` takes.
    The model itself is never modified.
    """

    def __init__(self, model: nn.Module):
        if not isinstance(model, nn.Module):
            raise TypeError(f"expected a torch.nn.Module, got {type(model).__name__}.")
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        if not named:
            raise ValueError("the model has no trainable parameters.")
        self.model = model
        self.names = [n for n, _ in named]
        self.shapes = [tuple(p.shape) for _, p in named]
        self.numels = [p.numel() for _, p in named]
        self.size = int(sum(self.numels))
        self.theta = flat_params(model)  # detached, in model.parameters() order (the trainable ones)
        self.dtype, self.device = self.theta.dtype, self.theta.device

    def unflatten(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        """``{name: tensor}`` views of a flat (P,) vector, shaped like the parameters."""
        if not isinstance(theta, torch.Tensor):
            raise TypeError(f"theta must be a torch.Tensor of shape ({self.size},), got {type(theta).__name__}.")
        if theta.shape != (self.size,):
            raise ValueError(f"theta must have shape ({self.size},), got {tuple(theta.shape)}.")
        return {n: t.reshape(s) for n, t, s in zip(self.names, theta.split(self.numels), self.shapes, strict=True)}

    def logits(self, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Logits of the model at parameters ``theta`` (P,) for inputs ``x`` (B, ...)."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor of shape (B, *input_shape), got {type(x).__name__}.")
        return functional_call(self.model, self.unflatten(theta), (x,))

    def loss(self, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy (the training loss of :func:`advnotes.training.train`)."""
        z = self.logits(theta, x)
        return F.cross_entropy(z, check_labels(y, batch=z.shape[0], num_classes=z.shape[1]))

    def losses(self, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-example cross-entropy (B,)."""
        z = self.logits(theta, x)
        return F.cross_entropy(z, check_labels(y, batch=z.shape[0], num_classes=z.shape[1]), reduction="none")

    def check_vector(self, v, name: str = "v") -> torch.Tensor:
        """``v`` as a finite (P,) tensor in the parameters' dtype and on their device (refused otherwise)."""
        if not isinstance(v, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor of shape ({self.size},), got {type(v).__name__}.")
        if v.shape != (self.size,):
            raise ValueError(f"{name} must have shape ({self.size},) (one entry per parameter), got {tuple(v.shape)}.")
        check_finite(name, v)
        return v.to(dtype=self.dtype, device=self.device)


# ----------------------------------------------------------------------------- checks


def _model_data(model: nn.Module, x, y) -> tuple[ParamSpace, torch.Tensor, torch.Tensor]:
    why = "Hessian-vector products would be random (a random top eigenvalue)"
    x, y, _ = check_model_data(model, x, y, module=True, why=why, probe=None)
    return ParamSpace(model), x, y


def _check_product_input(v, size: int) -> None:
    """The cheap check of every ``matvec``: a tensor of shape ``(size,)`` (finiteness is the solver's business)."""
    if not isinstance(v, torch.Tensor):
        raise TypeError(f"v must be a torch.Tensor of shape ({size},), got {type(v).__name__}.")
    if v.shape != (size,):
        raise ValueError(f"v must be a torch.Tensor of shape ({size},), got {tuple(v.shape)}.")


def check_ascent(step_size, steps, eps=None, clamp=None) -> tuple[float, int]:
    """Validate the knobs of :func:`attack_in_theta`; returns ``(float(step_size), int(steps))``.

    ``step_size > 0``; ``steps >= 0`` and at most ``advnotes.attacks.MAX_STEPS``; ``eps`` None or
    ``> 0``; ``clamp`` None or a ``(low, high)`` pair with ``low < high``.
    """
    step_size = check_positive("step_size", step_size)
    steps = check_steps(steps)
    check_projection(eps, clamp)
    return float(step_size), int(steps)


def check_projection(eps=None, clamp=None) -> None:
    """Validate a projection: ``eps`` None or ``> 0``; ``clamp`` None or a ``(low, high)`` pair with ``low < high``
    (``advnotes.attacks.check_clamp``, the package's one check of a box)."""
    if eps is not None:
        check_positive("eps", eps)
    check_clamp(clamp)


# ----------------------------------------------------------------------------- the attack as a function of theta


def attack_in_theta(
    space: ParamSpace, theta: torch.Tensor, x, y, *, step_size: float, steps: int, eps=None, clamp=None
) -> torch.Tensor:
    """Gradient ascent ``delta <- delta + step_size * grad_x sum_i L_i`` from ``delta = 0``, differentiable in theta.

    The attack of chapter 2 (``eq-ch2-attack``) at parameters ``theta`` (P,), written with
    ``torch.func.grad`` so that ``torch.func`` can differentiate the result with respect to
    ``theta`` (``d delta / d theta`` in ``J_eff``). With ``eps`` each iterate is clipped to the
    L-inf ball, with ``clamp=(lo, hi)`` to the box ``lo <= x + delta <= hi`` (the projected attack
    of ``advnotes.threat.training_attack("ascent")``). Both clips are piecewise linear in theta:
    a clipped coordinate has zero derivative, a free one keeps the derivative of the
    unprojected recurrence. ``x`` and ``y`` are taken as given (checked by the callers).
    """

    def sum_loss(d, th):
        return F.cross_entropy(space.logits(th, x + d), y, reduction="sum")

    d = torch.zeros_like(x)
    for _ in range(steps):
        d = d + step_size * grad(sum_loss)(d, theta)
        if eps is not None:
            d = torch.clamp(d, -eps, eps)
        if clamp is not None:
            d = torch.clamp(x + d, clamp[0], clamp[1]) - x
    return d


def training_gradient_fn(
    space: ParamSpace, x, y, *, step_size: float, steps: int, eps=None, clamp=None
) -> Callable[[torch.Tensor], torch.Tensor]:
    """``G: theta -> d/d theta' L(x + delta(theta); theta')`` at ``theta' = theta`` (chapter 4, ``eq-ch4-G``).

    ``delta(theta)`` is :func:`attack_in_theta` with these knobs; one adversarial training
    step is ``theta <- theta - lr * G(theta)``. The function is differentiable with
    ``torch.func`` (``jacrev(G)(space.theta)`` is the dense ``J_eff`` of a small model).
    """
    step_size, steps = check_ascent(step_size, steps, eps, clamp)
    if not isinstance(space, ParamSpace):
        raise TypeError(f"space must be an advnotes.operators.ParamSpace, got {type(space).__name__}.")

    def G(theta):
        d = attack_in_theta(space, theta, x, y, step_size=step_size, steps=steps, eps=eps, clamp=clamp)
        return grad(space.loss)(theta, x + d, y)

    return G


# ----------------------------------------------------------------------------- the operators


class ParamHessian:
    """The parameter Hessian of the mean cross-entropy at the model's parameters, as an operator.

    ``ParamHessian(model, x, y)``: ``H_clean`` of ``L(x; theta)``;
    ``ParamHessian(model, x, y, delta=d)``: ``H_thth`` of ``L(x + d; theta)`` with ``d`` held fixed.
    ``matvec(v)`` is reverse over reverse: the first call builds ``g = dL/d theta`` with
    ``create_graph=True`` (about one gradient's work), every product is then one backward pass
    through ``g``'s graph, ``H v = d(g . v)/d theta``. ``H`` is symmetric, so this
    vector-Jacobian product is the Hessian-vector product (1.7-2.1 plain gradients per
    product, against 3.2-6.7 for ``jvp`` of ``torch.func.grad``:
    ``benchmarks/bench_param_hessian.py``). Attributes: ``size`` (P), ``dtype``, ``device``
    (the parameters'), ``symmetric = True``, ``space`` (:class:`ParamSpace`), ``x`` (the
    inputs the loss sees, ``x + delta``), ``y``.
    """

    symmetric = True

    def __init__(self, model: nn.Module, x, y, *, delta: torch.Tensor | None = None):
        self.space, x, self.y = _model_data(model, x, y)
        self.x = x if delta is None else x + check_delta(delta, x)
        self.size, self.dtype, self.device = self.space.size, self.space.dtype, self.space.device
        self._theta = self.space.theta.detach().clone().requires_grad_(True)
        self._grad: torch.Tensor | None = None

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """``H v`` (P,) for a (P,) tensor ``v``."""
        _check_product_input(v, self.size)
        with torch.enable_grad():
            if self._grad is None:
                loss = self.space.loss(self._theta, self.x, self.y)
                self._grad = torch.autograd.grad(loss, self._theta, create_graph=True)[0]
            v = v.detach().to(dtype=self.dtype, device=self.device)
            return torch.autograd.grad(self._grad, self._theta, grad_outputs=v, retain_graph=True)[0]

    def __repr__(self) -> str:
        return f"ParamHessian(size={self.size}, dtype={self.dtype}, device={self.device})"


class EffectiveJacobian:
    """``J_eff = H_thth + H_thx d delta / d theta`` (chapter 4, ``eq-ch4-jeff``) as an operator.

    The Jacobian of the adversarial training gradient ``G`` (:func:`training_gradient_fn`)
    at the model's parameters, with ``delta(theta)`` the gradient-ascent attack
    (``step_size``, ``steps``; projected with ``eps`` / ``clamp``, see :func:`attack_in_theta`).
    ``steps=0`` gives ``H_clean``. ``matvec(v)`` is ``torch.func.jvp`` of ``G`` (forward over
    reverse: ``J_eff`` is not symmetric, so a vector-Jacobian product would give
    ``J_eff^T v``); ``symmetric = False`` (Arnoldi). Attributes as for :class:`ParamHessian`,
    plus :meth:`attack` (the attack at any ``theta``) and ``gradient`` (``G``).
    """

    symmetric = False

    def __init__(self, model: nn.Module, x, y, *, step_size: float, steps: int, eps=None, clamp=None):
        self.step_size, self.steps = check_ascent(step_size, steps, eps, clamp)
        self.eps, self.clamp = eps, clamp
        self.space, self.x, self.y = _model_data(model, x, y)
        self.size, self.dtype, self.device = self.space.size, self.space.dtype, self.space.device
        self.gradient = training_gradient_fn(
            self.space, self.x, self.y, step_size=self.step_size, steps=self.steps, eps=eps, clamp=clamp
        )

    def attack(self, theta: torch.Tensor, x: torch.Tensor | None = None, y=None) -> torch.Tensor:
        """:func:`attack_in_theta` at ``theta`` with this operator's knobs (on its own ``x``, ``y`` by default)."""
        x = self.x if x is None else x
        y = self.y if y is None else y
        kw = dict(step_size=self.step_size, steps=self.steps, eps=self.eps, clamp=self.clamp)
        return attack_in_theta(self.space, theta, x, y, **kw)

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """``J_eff v`` (P,) for a (P,) tensor ``v``."""
        _check_product_input(v, self.size)
        v = v.detach().to(dtype=self.dtype, device=self.device)
        return jvp(self.gradient, (self.space.theta,), (v,))[1].detach()

    def __repr__(self) -> str:
        return (
            f"EffectiveJacobian(size={self.size}, dtype={self.dtype}, device={self.device}, "
            f"step_size={self.step_size}, steps={self.steps}, eps={self.eps}, clamp={self.clamp})"
        )


# ----------------------------------------------------------------------------- one-shot conveniences


def hvp_clean(model: nn.Module, x, y, v) -> torch.Tensor:
    """``H_clean v`` (P,): Hessian of the mean clean loss w.r.t. the flat parameters, times ``v``."""
    op = ParamHessian(model, x, y)
    return op.matvec(op.space.check_vector(v)).detach()


def hvp_fixed_delta(model: nn.Module, x, y, delta, v) -> torch.Tensor:
    """``H_thth v`` (P,) of ``L(x + delta; theta)`` with the perturbation ``delta`` held fixed."""
    op = ParamHessian(model, x, y, delta=delta)
    return op.matvec(op.space.check_vector(v)).detach()


def jeff_mvp(model: nn.Module, x, y, v, *, step_size: float, steps: int, eps=None, clamp=None) -> torch.Tensor:
    """``J_eff v`` (P,), the Jacobian of the adversarial training gradient, through ``delta(theta)``.

    ``J_eff = H_thth + H_thx d delta/d theta`` (chapter 4, ``eq-ch4-jeff``), with ``delta`` the
    plain gradient-ascent attack (``step_size``, ``steps``; projected with ``eps`` / ``clamp``).
    ``steps=0`` gives ``H_clean v``.
    """
    op = EffectiveJacobian(model, x, y, step_size=step_size, steps=steps, eps=eps, clamp=clamp)
    return op.matvec(op.space.check_vector(v))


def attack_delta(model: nn.Module, x, y, *, step_size: float, steps: int, eps=None, clamp=None) -> torch.Tensor:
    """The plain gradient-ascent perturbation ``delta_m`` (shape of ``x``) at the model's parameters.

    Same recurrence as :func:`advnotes.attacks.gradient_ascent` (chapter 2,
    ``eq-ch2-attack``): ``delta_0 = 0``, ``delta_{t+1} = delta_t + alpha grad_x L(x + delta_t)``
    with the per-example loss, computed by :func:`attack_in_theta` (the form that
    :class:`EffectiveJacobian` differentiates). ``eps`` and ``clamp`` project each iterate as
    ``advnotes.threat.training_attack("ascent")`` does.
    """
    op = EffectiveJacobian(model, x, y, step_size=step_size, steps=steps, eps=eps, clamp=clamp)
    d = op.attack(op.space.theta).detach()
    check_finite("the attack's perturbation (lower step_size or steps)", d)
    return d


def training_gradient(model: nn.Module, x, y, *, step_size: float, steps: int, eps=None, clamp=None) -> torch.Tensor:
    """The adversarial training gradient ``G(theta)`` (P,) at the model's parameters: ``train``'s step is ``-lr G``."""
    op = EffectiveJacobian(model, x, y, step_size=step_size, steps=steps, eps=eps, clamp=clamp)
    return op.gradient(op.space.theta).detach()
