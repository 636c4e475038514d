"""Curvature in parameter space: Hessian-vector products, top eigenpairs, per-sample shares (chapter 4).

Everything here treats the model's trainable parameters as one flat vector
``theta`` of length ``P`` and the training loss as the *mean* cross-entropy, as
:func:`advnotes.training.train` does. Three linear operators on ``R^P``:

- ``H_clean``: the Hessian of the clean loss ``L(x; theta)``;
- ``H_fixed``: the Hessian of ``L(x + delta; theta)`` with ``delta`` held fixed
  (what a plain look at "the adversarial loss surface" measures);
- ``J_eff = H_thth + H_thx d delta / d theta``: the Jacobian of the adversarial
  training gradient ``G(theta) = d/d theta' L(x + delta(theta); theta')|_{theta'=theta}``,
  where ``delta(theta)`` is the plain gradient-ascent attack (chapter 4,
  ``eq-ch4-jeff``). One training step is ``theta <- theta - eta G(theta)``, so its
  Jacobian is ``I - eta J_eff``: ``J_eff`` decides whether the step overshoots.
  It is not symmetric.

Products are computed with ``torch.func`` forward-over-reverse (``jvp`` of
``grad``) through ``functional_call``; no P x P matrix is ever formed. The top
eigenvalues come from Lanczos (``scipy.sparse.linalg.eigsh``) for the symmetric
operators and Arnoldi (``scipy.sparse.linalg.eigs``) for ``J_eff``; a plain power
iteration is kept only as the baseline that they are benchmarked against.

This module must not import :mod:`advnotes.curvature` at module level (that module
re-exports :func:`param_hessian_top_eig`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, jvp

from .validation import check_dtype_match, check_finite, check_inputs, check_labels, check_logits, check_positive

__all__ = [
    "ParamSpace",
    "OscillationStats",
    "hvp_clean",
    "hvp_fixed_delta",
    "jeff_mvp",
    "attack_delta",
    "training_gradient",
    "param_hessian_top_eig",
    "jeff_top_eig",
    "power_iteration",
    "sample_shares",
    "jeff_sample_shares",
    "participation_number",
    "top_k_share",
    "oscillation_stats",
    "sharpness_ratio",
    "SharpnessTrace",
    "track_training",
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
        self.theta = torch.cat([p.detach().reshape(-1) for _, p in named])
        self.dtype, self.device = self.theta.dtype, self.theta.device

    def unflatten(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        if theta.shape != (self.size,):
            raise ValueError(f"theta must have shape ({self.size},), got {tuple(theta.shape)}.")
        return {n: t.reshape(s) for n, t, s in zip(self.names, theta.split(self.numels), self.shapes, strict=True)}

    def logits(self, theta: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Logits of the model at parameters ``theta`` (P,) for inputs ``x`` (B, ...)."""
        return functional_call(self.model, self.unflatten(theta), (x,))

    def loss(self, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy (the training loss of :func:`advnotes.training.train`)."""
        return F.cross_entropy(self.logits(theta, x), y)

    def losses(self, theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-example cross-entropy (B,)."""
        return F.cross_entropy(self.logits(theta, x), y, reduction="none")


def _check_model_data(model: nn.Module, x, y) -> tuple[ParamSpace, torch.Tensor, torch.Tensor]:
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected a torch.nn.Module, got {type(model).__name__}.")
    x = check_inputs(x)
    check_dtype_match(model, x)
    with torch.no_grad():
        C = check_logits(model(x), x.shape[0])
    y = check_labels(y, batch=x.shape[0], num_classes=C)
    return ParamSpace(model), x, y


def _check_vector(v, space: ParamSpace, name: str = "v") -> torch.Tensor:
    if not isinstance(v, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape ({space.size},), got {type(v).__name__}.")
    if v.shape != (space.size,):
        raise ValueError(f"{name} must have shape ({space.size},) (one entry per parameter), got {tuple(v.shape)}.")
    check_finite(name, v)
    return v.to(dtype=space.dtype, device=space.device)


def _check_delta(delta, x: torch.Tensor) -> torch.Tensor:
    if not isinstance(delta, torch.Tensor):
        raise TypeError(f"delta must be a torch.Tensor shaped like x, got {type(delta).__name__}.")
    if delta.shape != x.shape:
        raise ValueError(f"delta must have the shape of x {tuple(x.shape)}, got {tuple(delta.shape)}.")
    check_finite("delta", delta)
    return delta.detach().to(dtype=x.dtype, device=x.device)


def _check_attack(step_size, steps) -> None:
    check_positive("step_size", step_size)
    check_positive("steps", steps, integer=True, allow_zero=True)


# ----------------------------------------------------------------------------- the attack as a function of theta


def _attack(space: ParamSpace, theta, x, y, step_size: float, steps: int):
    """Plain gradient ascent ``delta <- delta + step_size * grad_x sum_i L_i``, differentiable in theta."""

    def sum_loss(d, th):
        return F.cross_entropy(space.logits(th, x + d), y, reduction="sum")

    d = torch.zeros_like(x)
    for _ in range(steps):
        d = d + step_size * grad(sum_loss)(d, theta)
    return d


def attack_delta(model: nn.Module, x, y, *, step_size: float, steps: int) -> torch.Tensor:
    """The plain gradient-ascent perturbation ``delta_m`` (shape of ``x``), computed with ``torch.func``.

    Same recurrence as :func:`advnotes.attacks.gradient_ascent` (chapter 2,
    ``eq-ch2-attack``): ``delta_0 = 0``, ``delta_{t+1} = delta_t + alpha grad_x L(x + delta_t)``
    with the per-example loss. Written with ``torch.func.grad`` so that
    :func:`jeff_mvp` can differentiate it with respect to the parameters.
    """
    _check_attack(step_size, steps)
    space, x, y = _check_model_data(model, x, y)
    d = _attack(space, space.theta, x, y, float(step_size), int(steps)).detach()
    check_finite("the attack's perturbation (lower step_size or steps)", d)
    return d


def _training_grad_fn(space: ParamSpace, x, y, step_size: float, steps: int) -> Callable:
    """``G(theta) = d/d theta' L(x + delta(theta); theta')`` at ``theta' = theta`` (chapter 4, ``eq-ch4-G``)."""

    def G(theta):
        d = _attack(space, theta, x, y, step_size, steps)
        return grad(space.loss)(theta, x + d, y)

    return G


def training_gradient(model: nn.Module, x, y, *, step_size: float, steps: int) -> torch.Tensor:
    """The adversarial training gradient ``G(theta)`` (P,): the step of ``train`` is ``-lr * G``."""
    _check_attack(step_size, steps)
    space, x, y = _check_model_data(model, x, y)
    return _training_grad_fn(space, x, y, float(step_size), int(steps))(space.theta).detach()


# ----------------------------------------------------------------------------- matrix-vector products


def _hvp_fn(space: ParamSpace, x, y) -> Callable[[torch.Tensor], torch.Tensor]:
    g = grad(space.loss)
    theta = space.theta
    return lambda v: jvp(lambda th: g(th, x, y), (theta,), (v,))[1]


def _jeff_fn(space: ParamSpace, x, y, step_size: float, steps: int) -> Callable[[torch.Tensor], torch.Tensor]:
    G = _training_grad_fn(space, x, y, step_size, steps)
    theta = space.theta
    return lambda v: jvp(G, (theta,), (v,))[1]


def hvp_clean(model: nn.Module, x, y, v) -> torch.Tensor:
    """``H_clean v`` (P,): Hessian of the mean clean loss w.r.t. the flat parameters, times ``v``."""
    space, x, y = _check_model_data(model, x, y)
    v = _check_vector(v, space)
    return _hvp_fn(space, x, y)(v).detach()


def hvp_fixed_delta(model: nn.Module, x, y, delta, v) -> torch.Tensor:
    """``H_thth v`` (P,) of ``L(x + delta; theta)`` with the perturbation ``delta`` held fixed."""
    space, x, y = _check_model_data(model, x, y)
    delta = _check_delta(delta, x)
    v = _check_vector(v, space)
    return _hvp_fn(space, x + delta, y)(v).detach()


def jeff_mvp(model: nn.Module, x, y, v, *, step_size: float, steps: int) -> torch.Tensor:
    """``J_eff v`` (P,), the Jacobian of the adversarial training gradient, through ``delta(theta)``.

    ``J_eff = H_thth + H_thx d delta/d theta`` (chapter 4, ``eq-ch4-jeff``), with ``delta`` the
    plain gradient-ascent attack (``step_size``, ``steps``). ``steps=0`` gives ``H_clean v``.
    """
    _check_attack(step_size, steps)
    space, x, y = _check_model_data(model, x, y)
    v = _check_vector(v, space)
    return _jeff_fn(space, x, y, float(step_size), int(steps))(v).detach()


# ----------------------------------------------------------------------------- eigen-solvers


class _Counted:
    """Wrap a torch mat-vec as a float64 NumPy mat-vec that counts its calls."""

    def __init__(self, mv: Callable[[torch.Tensor], torch.Tensor], space: ParamSpace):
        self.mv, self.space, self.calls = mv, space, 0

    def __call__(self, v_np):
        self.calls += 1
        v = torch.as_tensor(np.ascontiguousarray(v_np).reshape(-1), dtype=self.space.dtype, device=self.space.device)
        out = self.mv(v).detach()
        if not torch.isfinite(out).all():
            raise FloatingPointError("a Hessian-vector product was not finite; check the model and data.")
        return out.to(torch.float64).cpu().numpy()


def _start_vector(size: int, seed: int) -> np.ndarray:
    v0 = np.random.default_rng(seed).standard_normal(size)
    return v0 / np.linalg.norm(v0)


def _start(v0, space: ParamSpace, seed: int) -> np.ndarray:
    """Starting vector: ``v0`` (e.g. the previous top eigenvector, a warm start) or a seeded random one."""
    if v0 is None:
        return _start_vector(space.size, seed)
    if not isinstance(v0, torch.Tensor):
        raise TypeError(f"v0 must be a torch.Tensor of shape ({space.size},), got {type(v0).__name__}.")
    v = v0.detach().reshape(-1)
    v = v.real if v.is_complex() else v
    v = _check_vector(v, space, "v0").to(torch.float64).cpu().numpy()
    norm = np.linalg.norm(v)
    if norm == 0.0:
        raise ValueError("v0 must not be the zero vector.")
    return v / norm


def _check_solver_knobs(k, tol, size) -> None:
    check_positive("k", k, integer=True)
    check_positive("tol", tol)
    if k >= size - 1:
        raise ValueError(f"k={k} must be smaller than the number of parameters minus one ({size - 1}).")


def power_iteration(
    matvec: Callable[[torch.Tensor], torch.Tensor],
    size: int,
    *,
    tol: float = 1e-4,
    max_iter: int = 1000,
    seed: int = 0,
    dtype=torch.float64,
    device=None,
    trace: bool = False,
):
    """Plain power iteration for the dominant eigenpair of a linear operator (the baseline only).

    Iterates ``v <- A v / |A v|`` and stops when the Rayleigh quotient ``v^T A v``
    changes by less than ``tol`` relative to itself. Finds the eigenvalue of
    largest *magnitude* (not the largest algebraic one if a negative eigenvalue
    dominates) and converges at the rate ``|lambda_2 / lambda_1|`` per step.
    Returns ``(eigval, eigvec (size,), n_matvec)``; with ``trace=True`` also the list
    of Rayleigh quotients after each product (the benchmark reads it).
    """
    check_positive("size", size, integer=True)
    check_positive("tol", tol)
    check_positive("max_iter", max_iter, integer=True)
    v = torch.as_tensor(_start_vector(size, seed), dtype=dtype, device=device)
    lam, history = None, []
    for it in range(1, max_iter + 1):
        w = matvec(v)
        if not torch.isfinite(w).all():
            raise FloatingPointError("a matrix-vector product was not finite; check the operator.")
        new = float(v @ w)
        history.append(new)
        norm = float(w.norm())
        if norm == 0.0:
            return (0.0, v, it, history) if trace else (0.0, v, it)
        v = w / norm
        if lam is not None and abs(new - lam) <= tol * abs(new):
            lam = new
            break
        lam = new
    else:
        raise RuntimeError(
            f"power iteration did not reach tol={tol} in {max_iter} products (last estimate {lam:.6g}); "
            "the top two eigenvalues are close: raise max_iter or use Lanczos."
        )
    return (lam, v, it, history) if trace else (lam, v, it)


def param_hessian_top_eig(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    k: int = 1,
    tol: float = 1e-4,
    delta: torch.Tensor | None = None,
    method: str = "lanczos",
    ncv: int | None = None,
    max_hvp: int = 2000,
    seed: int = 0,
    v0: torch.Tensor | None = None,
):
    """Top ``k`` eigenpairs of the parameter Hessian of the mean CE loss, from Hessian-vector products.

    ``delta=None``: the clean loss ``L(x; theta)``; otherwise ``L(x + delta; theta)`` with
    ``delta`` fixed. ``method='lanczos'`` (default) runs implicitly restarted Lanczos
    (``scipy.sparse.linalg.eigsh``, ``which='LA'``: largest algebraic) on a
    ``LinearOperator``; it stops when each Ritz pair's residual is below ``tol``
    times its eigenvalue, so the eigenvalue itself is accurate to about
    ``tol**2 * lambda_1 / gap`` (``tol=0.03`` already gives ~1e-3 in the chapter's models).
    ``method='power'`` runs :func:`power_iteration` (``k=1`` only; the baseline).
    Returns ``eigvals`` (k,) in descending order, ``eigvecs``
    (P, k) orthonormal, both in the model's dtype and on its device, and ``n_hvp``, the number of products
    used (chapter 4, section 4.3).
    """
    from scipy.sparse.linalg import LinearOperator, eigsh

    space, x, y = _check_model_data(model, x, y)
    if delta is not None:
        x = x + _check_delta(delta, x)
    _check_solver_knobs(k, tol, space.size)
    check_positive("max_hvp", max_hvp, integer=True)
    mv = _hvp_fn(space, x, y)
    if method == "power":
        if k != 1:
            raise ValueError("method='power' finds one eigenpair; use k=1 or method='lanczos'.")
        lam, v, n = power_iteration(
            mv, space.size, tol=tol, max_iter=max_hvp, seed=seed, dtype=space.dtype, device=space.device
        )
        return torch.tensor([lam], dtype=space.dtype, device=space.device), v.reshape(-1, 1), n
    if method != "lanczos":
        raise ValueError(f"method must be 'lanczos' or 'power', got {method!r}.")
    op = _Counted(mv, space)
    ncv = ncv if ncv is not None else min(space.size, max(2 * k + 2, 6))
    vals, vecs = eigsh(
        LinearOperator((space.size, space.size), matvec=op, dtype=np.float64),
        k=k,
        which="LA",
        tol=tol,
        ncv=ncv,
        v0=_start(v0, space, seed),
        maxiter=max(1, max_hvp // max(ncv - k, 1)),
    )
    order = np.argsort(vals)[::-1]
    vals_t = torch.as_tensor(vals[order].copy(), dtype=space.dtype, device=space.device)
    vecs_t = torch.as_tensor(vecs[:, order].copy(), dtype=space.dtype, device=space.device)
    return vals_t, vecs_t, op.calls


def jeff_top_eig(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    step_size: float,
    steps: int,
    k: int = 1,
    tol: float = 1e-4,
    method: str = "arnoldi",
    ncv: int | None = None,
    max_mvp: int = 2000,
    seed: int = 0,
    v0: torch.Tensor | None = None,
):
    """Eigenvalues of ``J_eff`` with the largest real part, from Jacobian-vector products.

    ``J_eff`` is not symmetric, so ``method='arnoldi'`` (default) uses implicitly
    restarted Arnoldi (``scipy.sparse.linalg.eigs``, ``which='LR'``: largest real
    part), whose eigenvalues may come in complex pairs. ``method='power'`` runs
    :func:`power_iteration` (dominant-magnitude eigenvalue, real case only).
    Returns ``eigvals`` (k,) complex128 sorted by descending real part, ``eigvecs``
    (P, k) complex128 (both on the model's device), and the number of products used. The quantity that decides
    whether a training step with learning rate ``eta`` overshoots along a real
    eigen-direction is ``eta * Re mu_1`` compared with 2 (chapter 4, ``eq-ch4-jeff``).
    """
    from scipy.sparse.linalg import LinearOperator, eigs

    _check_attack(step_size, steps)
    space, x, y = _check_model_data(model, x, y)
    _check_solver_knobs(k, tol, space.size)
    check_positive("max_mvp", max_mvp, integer=True)
    mv = _jeff_fn(space, x, y, float(step_size), int(steps))
    if method == "power":
        if k != 1:
            raise ValueError("method='power' finds one eigenpair; use k=1 or method='arnoldi'.")
        lam, v, n = power_iteration(
            mv, space.size, tol=tol, max_iter=max_mvp, seed=seed, dtype=space.dtype, device=space.device
        )
        return (
            torch.tensor([lam], dtype=torch.complex128, device=space.device),
            v.to(torch.complex128).reshape(-1, 1),
            n,
        )
    if method != "arnoldi":
        raise ValueError(f"method must be 'arnoldi' or 'power', got {method!r}.")
    op = _Counted(mv, space)
    ncv = ncv if ncv is not None else min(space.size, max(2 * k + 2, 6))
    vals, vecs = eigs(
        LinearOperator((space.size, space.size), matvec=op, dtype=np.float64),
        k=k,
        which="LR",
        tol=tol,
        ncv=ncv,
        v0=_start(v0, space, seed),
        maxiter=max(1, max_mvp // max(ncv - k, 1)),
    )
    order = np.argsort(-vals.real)
    vals_t = torch.as_tensor(vals[order].copy(), device=space.device)
    return vals_t, torch.as_tensor(vecs[:, order].copy(), device=space.device), op.calls


# ----------------------------------------------------------------------------- which samples carry the top direction


def _second_directional(f: Callable[[torch.Tensor], torch.Tensor], theta, v) -> torch.Tensor:
    """``d^2/dt^2 f(theta + t v)`` at t=0 for a vector-valued ``f``, by forward-over-forward mode."""
    return jvp(lambda th: jvp(f, (th,), (v,))[1], (theta,), (v,))[1]


def sample_shares(model: nn.Module, x, y, v, *, delta: torch.Tensor | None = None) -> torch.Tensor:
    """Each example's share of the Rayleigh quotient ``v^T H v`` (B,), summing to 1.

    With the mean loss ``H = (1/B) sum_i H_i``, so ``v^T H v = (1/B) sum_i v^T H_i v`` and the
    share of example ``i`` is ``v^T H_i v / sum_j v^T H_j v``. For ``v`` the top eigenvector
    this splits ``lambda_1`` among the examples (chapter 4, ``eq-ch4-shares``). All B
    quadratic forms come from one forward-over-forward pass. Shares can be negative
    (a ReLU network's per-example Hessian is not PSD).
    """
    space, x, y = _check_model_data(model, x, y)
    if delta is not None:
        x = x + _check_delta(delta, x)
    v = _check_vector(v, space)
    q = _second_directional(lambda th: space.losses(th, x, y), space.theta, v).detach()
    return _normalise_shares(q)


def jeff_sample_shares(model: nn.Module, x, y, v, *, step_size: float, steps: int) -> torch.Tensor:
    """Each example's share of ``v^T J_eff v`` (B,), summing to 1 (``v`` real, e.g. J_eff's top eigenvector).

    ``J_eff = (1/B) sum_i J_i`` where ``J_i`` is the Jacobian of example ``i``'s training
    gradient through its own perturbation ``delta_i(theta)`` (the attack acts per example).
    ``v^T J_i v = (D_a D_b + D_b D_b) l_i [v, v]`` for ``l_i(theta_a, theta_b) = L(x_i + delta_i(theta_a); theta_b)``,
    computed for all examples with nested ``jvp``.
    """
    _check_attack(step_size, steps)
    space, x, y = _check_model_data(model, x, y)
    v = _check_vector(v, space)
    theta = space.theta

    def inner(th_a):
        d = _attack(space, th_a, x, y, float(step_size), int(steps))
        return jvp(lambda th_b: space.losses(th_b, x + d, y), (th_a,), (v,))[1]

    q = jvp(inner, (theta,), (v,))[1].detach()
    return _normalise_shares(q)


def _normalise_shares(q: torch.Tensor) -> torch.Tensor:
    check_finite("the per-example curvatures", q)
    total = q.sum()
    if abs(float(total)) <= 1e-12 * float(q.abs().sum()) or float(q.abs().sum()) == 0.0:
        raise ValueError("the curvature along v sums to (almost) zero over the examples: shares are undefined.")
    return q / total


def participation_number(shares: torch.Tensor) -> float:
    """How many examples carry the shares: ``(sum s)^2 / sum s^2``, between 1 and B for non-negative shares.

    Equals B when every example carries the same share and 1 when one example carries
    everything (chapter 4, ``eq-ch4-participation``).
    """
    if not isinstance(shares, torch.Tensor) or shares.dim() != 1 or shares.numel() == 0:
        raise ValueError("shares must be a non-empty 1-d tensor.")
    check_finite("shares", shares)
    s2 = float((shares.double() ** 2).sum())
    if s2 == 0.0:
        raise ValueError("shares are all zero: the participation number is undefined.")
    return float(shares.double().sum()) ** 2 / s2


def top_k_share(shares: torch.Tensor, k: int) -> float:
    """Sum of the ``k`` largest shares (the part of the total carried by the top-k examples)."""
    if not isinstance(shares, torch.Tensor) or shares.dim() != 1 or shares.numel() == 0:
        raise ValueError("shares must be a non-empty 1-d tensor.")
    check_positive("k", k, integer=True)
    if k > shares.numel():
        raise ValueError(f"k={k} exceeds the number of examples ({shares.numel()}).")
    return float(shares.double().topk(k).values.sum())


# ----------------------------------------------------------------------------- oscillation statistics


@dataclass(frozen=True)
class OscillationStats:
    """Signs of a zig-zag in a training run (chapter 4, sections 4.4 and 4.6).

    ``neg_cos``: fraction of steps whose update has a negative cosine with the previous one.
    ``mean_cos``: mean cosine between successive updates. ``loss_rise``: fraction of
    steps on which the training loss rose. ``sign_flips``: fraction of successive
    updates whose projections on ``direction`` have opposite signs (nan-free: 0 when
    no direction was given). ``steps``: number of updates analysed.
    """

    neg_cos: float
    mean_cos: float
    loss_rise: float
    sign_flips: float
    steps: int

    def __str__(self) -> str:
        return (
            f"negative update cosine {self.neg_cos:.0%}, mean cosine {self.mean_cos:+.2f}, "
            f"loss rose {self.loss_rise:.0%}, sign flips along the direction {self.sign_flips:.0%}"
        )


def oscillation_stats(log, *, skip: int = 0, direction: torch.Tensor | None = None) -> OscillationStats:
    """Zig-zag statistics of a :class:`advnotes.training.TrainLog`, ignoring the first ``skip`` updates.

    ``direction`` (P,) needs ``record_updates=True``: the sign of each update's projection
    on it is compared with the previous one (e.g. the top eigenvector of ``J_eff``).
    """
    for attr in ("loss", "update_cos", "updates"):
        if not hasattr(log, attr):
            raise TypeError(f"log must be a TrainLog (it has no {attr!r}), got {type(log).__name__}.")
    check_positive("skip", skip, integer=True, allow_zero=True)
    if log.steps - skip < 3:
        raise ValueError(f"need at least 3 updates after skip={skip}; the log has {log.steps}.")
    cos = torch.tensor(log.update_cos[max(skip - 1, 0) :], dtype=torch.float64)
    loss = torch.tensor(log.loss[skip:], dtype=torch.float64)
    flips = 0.0
    if direction is not None:
        if not log.updates:
            raise ValueError("direction needs the updates: train with record_updates=True.")
        U = torch.stack(log.updates[skip:]).to(torch.float64)
        d = direction.reshape(-1).to(device=U.device, dtype=torch.float64, copy=True)
        if d.shape[0] != U.shape[1]:
            raise ValueError(f"direction has {d.shape[0]} entries, the updates have {U.shape[1]}.")
        proj = U @ d
        flips = float((proj[1:] * proj[:-1] < 0).double().mean())
    return OscillationStats(
        neg_cos=float((cos < 0).double().mean()),
        mean_cos=float(cos.mean()),
        loss_rise=float((loss[1:] > loss[:-1]).double().mean()),
        sign_flips=flips,
        steps=int(loss.numel()),
    )


def sharpness_ratio(eta: float, eigval: float) -> float:
    """``eta * lambda``: a gradient step overshoots along an eigen-direction when this exceeds 2."""
    check_positive("eta", eta)
    if not math.isfinite(eigval):
        raise ValueError(f"eigval must be finite, got {eigval!r}.")
    return float(eta) * float(eigval)


# ----------------------------------------------------------------------------- training with curvature checkpoints


@dataclass
class SharpnessTrace:
    """Top eigenvalues measured every ``every`` steps of a training run (chapter 4, section 4.4).

    ``at``: the step of each checkpoint (0 = before training). ``clean``: ``lambda_1`` of the clean
    parameter Hessian. ``fixed``: ``lambda_1`` of ``H_thth`` at the attack's ``delta`` held fixed
    (``nan`` without an attack). ``jeff``: ``Re mu_1`` of ``J_eff`` (``nan`` unless ``jeff_attack``
    was given). ``log``: the whole run as one TrainLog (update cosines across checkpoints
    included). ``direction``: the last top eigenvector of the most complete operator measured.
    ``n_products``: Hessian/Jacobian-vector products spent.
    """

    at: list
    clean: list
    fixed: list
    jeff: list
    log: object
    direction: torch.Tensor
    n_products: int


def track_training(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    lr: float,
    steps: int,
    every: int,
    attack: Callable | None = None,
    jeff_attack: dict | None = None,
    tol: float = 1e-3,
    ncv: int = 8,
) -> SharpnessTrace:
    """Full-batch training with :func:`advnotes.training.train`, measuring the top curvature every ``every`` steps.

    ``attack`` is passed to ``train`` (``None``: standard training). ``jeff_attack``, a dict
    ``{'step_size': ..., 'steps': ...}`` of the plain gradient-ascent attack, adds ``mu_1(J_eff)``
    (it must describe the same attack as ``attack``). Eigen-solves are warm-started from the
    previous checkpoint's eigenvector. The model is trained in place.
    """
    from .training import TrainLog, train

    check_positive("steps", steps, integer=True)
    check_positive("every", every, integer=True)
    if steps % every:
        raise ValueError(f"steps={steps} must be a multiple of every={every}.")
    if jeff_attack is not None and attack is None:
        raise ValueError("jeff_attack needs the matching attack for training (attack=...).")
    if jeff_attack is not None and set(jeff_attack) != {"step_size", "steps"}:
        raise ValueError(f"jeff_attack must be a dict with keys 'step_size' and 'steps', got {sorted(jeff_attack)}.")
    at, clean, fixed, jeff, updates, losses, clean_losses = [], [], [], [], [], [], []
    v_c = v_f = v_j = None
    n_products = 0
    nan = float("nan")
    for c in range(steps // every + 1):
        vals, vecs, n = param_hessian_top_eig(model, x, y, tol=tol, ncv=ncv, v0=v_c)
        v_c, n_products = vecs[:, 0], n_products + n
        at.append(c * every)
        clean.append(float(vals[0]))
        if attack is not None:
            delta = attack(model, x, y).detach()
            vals, vecs, n = param_hessian_top_eig(model, x, y, delta=delta, tol=tol, ncv=ncv, v0=v_f)
            v_f, n_products = vecs[:, 0], n_products + n
            fixed.append(float(vals[0]))
        else:
            fixed.append(nan)
        if jeff_attack is not None:
            mu, V, n = jeff_top_eig(model, x, y, **jeff_attack, tol=tol, ncv=ncv, v0=v_j)
            v_j, n_products = V[:, 0].real.to(v_c.dtype), n_products + n
            jeff.append(float(mu[0].real))
        else:
            jeff.append(nan)
        if c == steps // every:
            break
        part = train(model, x, y, lr=lr, steps=every, attack=attack, record_updates=True)
        updates += part.updates
        losses += part.loss
        clean_losses += part.clean_loss
    log = TrainLog(loss=losses, clean_loss=clean_losses, updates=updates)
    log.update_norm = [float(u.norm()) for u in updates]
    for a, b in zip(updates, updates[1:], strict=False):
        denom = float(a.norm() * b.norm())
        log.update_cos.append(float(a @ b) / denom if denom > 0 else 0.0)
    direction = v_j if v_j is not None else (v_f if v_f is not None else v_c)
    return SharpnessTrace(at, clean, fixed, jeff, log, direction / direction.norm(), n_products)
