"""Chapter 4's measurements in parameter space: top eigenvalues, per-sample shares, training traces, onsets.

The operators themselves (the parameter Hessian, clean or at a fixed perturbation, and
``J_eff = H_thth + H_thx d delta / d theta``, the Jacobian of the adversarial training
gradient, chapter 4 ``eq-ch4-jeff``) live in :mod:`advnotes.operators`; the eigensolvers
(Lanczos, Arnoldi, power iteration, ARPACK) in :mod:`advnotes.krylov`. This module puts the
two together for the chapter:

- :func:`param_hessian_top_eig` and :func:`jeff_top_eig`: the top eigenpairs of those
  operators at a model's parameters (``krylov.top_eig`` on
  ``operators.ParamHessian`` / ``operators.EffectiveJacobian``);
- :func:`sample_shares`, :func:`jeff_sample_shares`, :func:`participation_number`,
  :func:`top_k_share`: which examples carry the top direction;
- :func:`oscillation_stats`, :func:`track_training`, :func:`step_radius`, :func:`onset_lr`,
  :func:`find_onset`, :func:`seed_experiment`, :func:`onset_experiment`: the zig-zag of
  training and its predicted and observed onset.

Solvers spend at most ``MAX_PRODUCTS`` products and attacks at most
``advnotes.attacks.MAX_STEPS`` steps.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.func import jvp

from . import krylov, stats
from .operators import EffectiveJacobian, ParamHessian, check_projection
from .validation import (
    check_at_most,
    check_bool,
    check_delta,
    check_finite,
    check_limit,
    check_number,
    check_positive,
    check_seed,
)

#: The most matrix-vector products one eigen-solve may spend (``max_hvp``, ``max_mvp``); each one costs about
#: two gradients. Set ``advnotes.param_hessian.MAX_PRODUCTS`` higher to allow more.
MAX_PRODUCTS = 100_000

#: The Krylov basis size (``ncv``) of Lanczos/Arnoldi when none is given: the basis is thick-restarted when full.
DEFAULT_BASIS = 40

__all__ = [
    "MAX_PRODUCTS",
    "DEFAULT_BASIS",
    "OscillationStats",
    "param_hessian_top_eig",
    "jeff_top_eig",
    "sample_shares",
    "jeff_sample_shares",
    "participation_number",
    "top_k_share",
    "oscillation_stats",
    "sharpness_ratio",
    "SharpnessTrace",
    "track_training",
    "step_radius",
    "onset_lr",
    "negative_cosines",
    "continue_training",
    "Onset",
    "find_onset",
    "seed_experiment",
    "pinned_fractions",
    "onset_experiment",
]


# ----------------------------------------------------------------------------- top eigenpairs


def _solve(op, *, k, tol, method: str, methods: tuple[str, ...], ncv, budget: tuple[str, int], seed, v0):
    """``krylov.top_eig`` on ``op`` with chapter 4's knobs: the one dispatch of both solvers below."""
    k = check_positive("k", k, integer=True)
    check_positive("tol", tol)
    if k >= op.size - 1:
        raise ValueError(f"k={k} must be smaller than the number of parameters minus one ({op.size - 1}).")
    name, max_products = budget
    max_products = check_positive(name, max_products, integer=True)
    check_at_most(
        name,
        max_products,
        MAX_PRODUCTS,
        how=f"each product costs about two gradients; use a smaller {name} or a larger tol, or set "
        "advnotes.param_hessian.MAX_PRODUCTS higher if you mean it.",
    )
    seed = check_seed(seed)
    if method not in methods:
        raise ValueError(f"method must be {', '.join(map(repr, methods[:-1]))} or {methods[-1]!r}, got {method!r}.")
    if method == "power" and k != 1:
        raise ValueError(f"method='power' finds one eigenpair; use k=1 or method={methods[0]!r}.")
    if v0 is not None:
        if isinstance(v0, torch.Tensor) and v0.is_complex():
            v0 = v0.real  # a complex eigenvector of J_eff as a warm start: its real part
        v0 = op.space.check_vector(v0, "v0")
    if ncv is None:
        ncv = max(2 * k + 2, 6) if method == "arpack" else DEFAULT_BASIS
    solver = {"arnoldi": "lanczos"}.get(method, method)  # 'lanczos' on a non-symmetric operator is Arnoldi
    return krylov.top_eig(
        op, k=k, tol=tol, method=solver, max_matvec=max_products, v0=v0, seed=seed, max_basis=min(ncv, op.size)
    )


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
    ``delta`` fixed (``advnotes.operators.ParamHessian``). ``method='lanczos'`` (default)
    runs ``advnotes.krylov.top_eig`` (Lanczos with full re-orthogonalisation and thick restart
    when the basis holds ``ncv`` vectors, default ``DEFAULT_BASIS``; largest algebraic
    eigenvalues), which stops as soon as each Ritz pair's residual, read off the projected
    problem, is below ``tol`` times its eigenvalue, so the eigenvalue itself is accurate to
    about ``tol**2 * lambda_1 / gap`` (``tol=0.03`` already gives ~1e-3 in the chapter's
    models). ``method='arpack'`` runs ``scipy.sparse.linalg.eigsh`` (``which='LA'``, same
    residual rule, ``ncv`` default ``max(2k + 2, 6)``; it never stops before ``ncv`` products).
    ``method='power'`` runs power iteration (``k=1`` only; the baseline, stopped on the same
    residual rule). ``v0``: a start vector (e.g. the previous top eigenvector). Returns
    ``eigvals`` (k,) in descending order, ``eigvecs`` (P, k) orthonormal, both in the model's
    dtype and on its device, and ``n_hvp``, the number of products used (chapter 4, section 4.3).
    """
    op = ParamHessian(model, x, y, delta=delta)
    knobs = dict(k=k, tol=tol, method=method, ncv=ncv, seed=seed, v0=v0)
    return _solve(op, methods=("lanczos", "arpack", "power"), budget=("max_hvp", max_hvp), **knobs)


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
    eps: float | None = None,
    clamp: tuple | None = None,
):
    """Eigenvalues of ``J_eff`` with the largest real part, from Jacobian-vector products.

    ``J_eff`` (``advnotes.operators.EffectiveJacobian``) is not symmetric, so
    ``method='arnoldi'`` (default) runs ``advnotes.krylov.top_eig`` on it: Arnoldi with full
    re-orthogonalisation and Krylov-Schur restart (basis ``ncv``, default
    ``DEFAULT_BASIS``), largest real part, stopped when each Ritz pair's residual is below
    ``tol`` times its modulus; its eigenvalues may come in complex pairs. ``method='arpack'``
    runs ``scipy.sparse.linalg.eigs`` (``which='LR'``). ``method='power'`` runs power iteration
    (dominant-magnitude eigenvalue, real case only). Returns ``eigvals`` (k,) complex128 sorted
    by descending real part, ``eigvecs`` (P, k) complex128 (both on the model's device), and the
    number of products used. The quantity that decides whether a training step with learning
    rate ``eta`` overshoots is the spectral radius of ``I - eta J_eff`` (:func:`step_radius`):
    ``|1 - eta mu| > 1`` for some eigenvalue ``mu`` (chapter 4, ``eq-ch4-radius``). ``eps`` /
    ``clamp`` project the attack (see ``advnotes.operators.attack_in_theta``).
    """
    op = EffectiveJacobian(model, x, y, step_size=step_size, steps=steps, eps=eps, clamp=clamp)
    knobs = dict(k=k, tol=tol, method=method, ncv=ncv, seed=seed, v0=v0)
    vals, vecs, n = _solve(op, methods=("arnoldi", "arpack", "power"), budget=("max_mvp", max_mvp), **knobs)
    return vals.to(torch.complex128), vecs.to(torch.complex128), n


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
    op = ParamHessian(model, x, y, delta=delta)
    space = op.space
    v = space.check_vector(v)
    q = _second_directional(lambda th: space.losses(th, op.x, op.y), space.theta, v).detach()
    return _normalise_shares(q)


def jeff_sample_shares(
    model: nn.Module, x, y, v, *, step_size: float, steps: int, eps=None, clamp=None
) -> torch.Tensor:
    """Each example's share of ``v^T J_eff v`` (B,), summing to 1 (``v`` real, e.g. J_eff's top eigenvector).

    ``J_eff = (1/B) sum_i J_i`` where ``J_i`` is the Jacobian of example ``i``'s training
    gradient through its own perturbation ``delta_i(theta)`` (the attack acts per example).
    ``v^T J_i v = (D_a D_b + D_b D_b) l_i [v, v]`` for ``l_i(theta_a, theta_b) = L(x_i + delta_i(theta_a); theta_b)``,
    computed for all examples with nested ``jvp``.
    """
    op = EffectiveJacobian(model, x, y, step_size=step_size, steps=steps, eps=eps, clamp=clamp)
    space = op.space
    v = space.check_vector(v)

    def inner(th_a):
        d = op.attack(th_a)
        return jvp(lambda th_b: space.losses(th_b, op.x + d, op.y), (th_a,), (v,))[1]

    q = jvp(inner, (space.theta,), (v,))[1].detach()
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
    check_finite("shares", shares)
    k = check_positive("k", k, integer=True)
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
        if not isinstance(direction, torch.Tensor):
            raise TypeError(f"direction must be a torch.Tensor of shape (P,), got {type(direction).__name__}.")
        check_finite("direction", direction)
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
    eta = check_positive("eta", eta)
    eigval = check_number("eigval", eigval)
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
    ncv: int | None = None,
) -> SharpnessTrace:
    """Full-batch training with :func:`advnotes.training.train`, measuring the top curvature every ``every`` steps.

    ``attack`` is passed to ``train`` (``None``: standard training). ``jeff_attack``, a dict
    ``{'step_size': ..., 'steps': ...}`` of the plain gradient-ascent attack, adds ``mu_1(J_eff)``
    (it must describe the same attack as ``attack``). Eigen-solves are warm-started from the
    previous checkpoint's eigenvector. The model is trained in place.
    """
    from .training import MAX_STEPS, TrainLog, train

    if attack is not None and not callable(attack):
        raise TypeError(f"attack must be None or a callable (model, x, y) -> delta, got {type(attack).__name__}.")
    check_positive("lr", lr)
    steps = check_positive("steps", steps, integer=True)
    check_limit("steps", steps, "advnotes.training.MAX_STEPS", MAX_STEPS, what="a training run that long")
    every = check_positive("every", every, integer=True)
    if steps % every:
        raise ValueError(f"steps={steps} must be a multiple of every={every}.")
    if jeff_attack is not None and attack is None:
        raise ValueError("jeff_attack needs the matching attack for training (attack=...).")
    if jeff_attack is not None and (not isinstance(jeff_attack, dict) or set(jeff_attack) != {"step_size", "steps"}):
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
    if len(updates) > 1:
        U = torch.stack(updates)
        log.update_cos = stats.cosine(U[:-1], U[1:], zero=0.0).tolist()
    direction = v_j if v_j is not None else (v_f if v_f is not None else v_c)
    return SharpnessTrace(at, clean, fixed, jeff, log, direction / direction.norm(), n_products)


# ----------------------------------------------------------------------------- stability of the linearised step


def step_radius(eta: float, eigvals) -> float:
    """``max_i |1 - eta mu_i|`` over the given eigenvalues (complex allowed): ``rho(I - eta J)`` restricted to them.

    The linearised training step ``Delta theta <- (I - eta J) Delta theta`` is unstable iff the
    spectral radius of ``I - eta J`` exceeds 1 (chapter 4, ``eq-ch4-radius``). For a real ``mu``,
    ``|1 - eta mu| > 1`` iff ``eta mu > 2`` (overshoot, the sign flips every step) or ``mu < 0``
    (slow monotone drift down a negative-curvature direction, no zig-zag). Given the
    eigenvalues with the largest real part (Lanczos / Arnoldi), this is the overshooting side.
    """
    check_positive("eta", eta)
    mu = _eigvals(eigvals)
    if mu.numel() == 0 or not torch.isfinite(torch.view_as_real(mu)).all():
        raise ValueError("eigvals must be a non-empty list of finite numbers.")
    return float((1 - float(eta) * mu).abs().max())


def onset_lr(eigvals) -> float:
    """The smallest learning rate at which some ``mu`` with ``Re mu > 0`` gives ``|1 - eta mu| > 1``.

    ``|1 - eta mu|^2 = 1 - 2 eta Re mu + eta^2 |mu|^2 > 1`` iff ``eta > 2 Re mu / |mu|^2``
    (chapter 4, ``eq-ch4-onset``); for a real ``mu`` this is ``2 / mu``. Returns ``inf`` when no
    eigenvalue has a positive real part.
    """
    mu = _eigvals(eigvals)
    if mu.numel() == 0 or not torch.isfinite(torch.view_as_real(mu)).all():
        raise ValueError("eigvals must be a non-empty list of finite numbers.")
    pos = mu[mu.real > 0]
    if pos.numel() == 0:
        return math.inf
    return float((2 * pos.real / pos.abs() ** 2).min())


def _eigvals(eigvals) -> torch.Tensor:
    """Eigenvalues (real or complex; a number, list, array or tensor) as a flat complex128 tensor."""
    if isinstance(eigvals, (str, bytes, dict)) or eigvals is None:
        raise TypeError(f"eigvals must be numbers (a list, array or tensor), got {type(eigvals).__name__}.")
    try:
        return torch.as_tensor(eigvals).to(torch.complex128).reshape(-1)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(
            f"eigvals must be numbers (a list, array or tensor), got {type(eigvals).__name__} that does not "
            "convert to a tensor."
        ) from None


def _check_log(log) -> None:
    for attr in ("loss", "update_cos", "updates"):
        if not hasattr(log, attr):
            raise TypeError(f"log must be a TrainLog (it has no {attr!r}), got {type(log).__name__}.")


def negative_cosines(log, *, window: int) -> float:
    """Fraction of the last ``window`` successive-update cosines of a TrainLog that are negative."""
    _check_log(log)
    window = check_positive("window", window, integer=True)
    if len(log.update_cos) < window:
        raise ValueError(f"the log has {len(log.update_cos)} cosines, fewer than window={window}.")
    return stats.negative_share(log.update_cos, window=window)


class _Recorder:
    """An attack that records the perturbations it returns (or returns one frozen perturbation)."""

    def __init__(self, attack: Callable | None = None, frozen: torch.Tensor | None = None):
        self.attack, self.frozen, self.deltas = attack, frozen, []

    def __call__(self, model, x, y):
        d = self.frozen if self.frozen is not None else self.attack(model, x, y).detach()
        self.deltas.append(d)
        return d


def continue_training(model: nn.Module, x, y, *, lr: float, steps: int, attack: Callable, window: int, freeze: bool):
    """Train a copy of ``model`` for ``steps`` more steps; return (negative-cosine fraction, jump fraction).

    ``freeze=False`` recomputes the attack at every step (adversarial training as usual);
    ``freeze=True`` keeps the perturbation computed at the starting weights for every step,
    so the step's Jacobian is ``H_thth`` at that fixed ``delta`` (chapter 4, section 4.6). The jump
    fraction is the mean, over successive steps, of the fraction of input coordinates whose
    perturbation moved by more than a tenth of its largest entry (0 when frozen).
    """
    from .training import train

    if not callable(attack):
        raise TypeError(f"attack must be a callable (model, x, y) -> delta, got {type(attack).__name__}.")
    freeze = check_bool("freeze", freeze)
    check_positive("window", window, integer=True)
    net = copy.deepcopy(model)
    rec = _Recorder(frozen=attack(net, x, y).detach()) if freeze else _Recorder(attack)
    log = train(net, x, y, lr=lr, steps=steps, attack=rec)
    D = torch.stack(rec.deltas)
    scale = float(D.abs().max())
    jumps = float(((D[1:] - D[:-1]).abs() > 0.1 * scale).double().mean()) if scale > 0 else 0.0
    return negative_cosines(log, window=window), jumps


@dataclass(frozen=True)
class Onset:
    """The learning rate at which training from a checkpoint starts to zig-zag, found by bisection.

    ``lr``: geometric midpoint of the final bracket ``[lo, hi]`` (``lo`` calm, ``hi`` zig-zagging);
    ``resolution``: ``hi / lo - 1``, the relative width of the bracket; ``bracketed``: whether an
    onset was found inside the search range (if not, ``lr = lo = hi`` is the bound it crossed, a
    censored value, and ``resolution`` is 0); ``runs``: short runs spent.
    """

    lr: float
    lo: float
    hi: float
    bracketed: bool
    runs: int

    @property
    def resolution(self) -> float:
        return self.hi / self.lo - 1


def find_onset(
    model: nn.Module,
    x,
    y,
    *,
    attack: Callable | None,
    lo: float,
    hi: float,
    steps: int,
    window: int,
    iters: int,
    factor: float = 1.25,
    level: float = 0.5,
) -> Onset:
    """The smallest learning rate whose short run zig-zags: a scan up from ``lo``, then bisection (chapter 4, 4.8).

    A run of ``steps`` full-batch steps from ``model`` (a copy; the model is not changed)
    "zig-zags" when at least ``level`` of its last ``window`` update cosines are negative.
    Learning rates ``lo, lo * factor, lo * factor^2, ...`` (up to ``hi``) are tried in turn until
    one zig-zags, so the *first* onset is found even if larger rates calm down again (a large
    step can throw the weights to a flatter region); the last calm and the first zig-zagging
    rate are then bisected ``iters`` times in ``log eta``, to a relative width of about
    ``factor^(2^-iters) - 1``. If ``lo`` already zig-zags or nothing up to ``hi`` does, the
    result is censored (see :class:`Onset`).
    """
    from .training import train

    if attack is not None and not callable(attack):
        raise TypeError(f"attack must be None or a callable (model, x, y) -> delta, got {type(attack).__name__}.")
    lo = check_positive("lo", lo)
    hi = check_positive("hi", hi)
    iters = check_positive("iters", iters, integer=True, allow_zero=True)
    check_at_most("iters", iters, 60, how="60 bisections already resolve the onset to float64 precision.")
    steps = check_positive("steps", steps, integer=True)
    window = check_positive("window", window, integer=True)
    if window > steps:
        raise ValueError(f"window={window} exceeds steps={steps}: the run has fewer update cosines than the window.")
    factor = check_positive("factor", factor)
    level = check_positive("level", level)
    if not level <= 1:
        raise ValueError(f"level must be a fraction in (0, 1] of the window's cosines, got {level!r}.")
    if not hi > lo:
        raise ValueError(f"need hi > lo, got lo={lo}, hi={hi}.")
    if not factor > 1:
        raise ValueError(f"factor must exceed 1, got {factor}.")
    runs = 0

    def zigzags(eta):
        nonlocal runs
        runs += 1
        net = copy.deepcopy(model)
        log = train(net, x, y, lr=eta, steps=steps, attack=attack)
        return negative_cosines(log, window=window) >= level

    if zigzags(lo):  # censored: the onset is at or below lo
        return Onset(lo, lo, lo, False, runs)
    calm = lo
    while True:
        up = min(calm * factor, hi)
        if zigzags(up):
            break
        if up >= hi:  # censored: the onset is above hi
            return Onset(hi, hi, hi, False, runs)
        calm = up
    for _ in range(iters):
        mid = math.sqrt(calm * up)
        calm, up = (calm, mid) if zigzags(mid) else (mid, up)
    return Onset(math.sqrt(calm * up), calm, up, True, runs)


# ----------------------------------------------------------------------------- one seed of chapter 4's experiment


def _step_operator(model, x, y, *, attack, jeff, k: int, tol: float):
    """Top eigenvalues and eigenvector (real part) of the operator whose ``I - eta *`` is the step's Jacobian.

    Standard training: ``H_clean``. An attack differentiable in theta (``jeff``: its knobs for
    :func:`jeff_top_eig`): ``J_eff``. A sign-gradient attack (``jeff=None``): ``H_thth`` at its
    ``delta``, since ``d delta / d theta = 0`` almost everywhere. Also returns that ``delta``.
    """
    delta = None if attack is None else attack(model, x, y).detach()
    if jeff is not None:
        mu, V, _ = jeff_top_eig(model, x, y, **jeff, k=k, tol=tol)
        return mu, V[:, 0].real.to(x.dtype), delta
    vals, V, _ = param_hessian_top_eig(model, x, y, delta=delta, k=k, tol=tol)
    return vals.to(torch.complex128), V[:, 0], delta


def seed_experiment(
    seed: int,
    x,
    y,
    *,
    make_model: Callable[[int], nn.Module],
    runs: dict,
    lr: float,
    steps: int,
    window: int,
    probe_steps: int,
    onset: dict | None = None,
    k: int = 3,
    tol: float = 1e-3,
    x_test=None,
    y_test=None,
    box=(0.0, 1.0),
    robust_accuracy: Callable | None = None,
) -> dict:
    """Everything chapter 4 measures on one seed: a dict ``{run name: {quantity: float}}``.

    ``runs`` maps a name to ``(attack, jeff)``: ``attack`` for :func:`advnotes.training.train`
    (``None``: standard training) and ``jeff``, the knobs of :func:`jeff_top_eig` for the same
    attack (``None`` for a sign-gradient attack, whose ``d delta / d theta`` vanishes). Each run
    trains ``make_model(seed)`` full-batch for ``steps`` steps at ``lr`` and records:
    ``neg_cos`` (last ``window`` update cosines), ``test_acc``, ``lam_clean`` / ``lam_fixed``
    (``lambda_1`` of the clean Hessian and of ``H_thth`` at the final ``delta``), ``radius``
    (``rho(I - lr * step operator)`` over its top ``k`` eigenvalues), ``mu_re`` / ``mu_im`` (its top
    eigenvalue), ``n_eff`` (participation number of the per-sample shares of its top eigenvector),
    ``at_bound`` (fraction of ``delta``'s coordinates at its largest magnitude), ``at_ball`` / ``at_box``
    (:func:`pinned_fractions` with the threat model's ``box``: ``(0, 1)`` for digits, ``None`` for
    MNIST-1D), ``robust_acc`` (``robust_accuracy(model, x_test, y_test)``, default
    :func:`advnotes.threat.robust_accuracy` with the digits' threat model; pass the setting's, e.g.
    ``settings.get("mnist1d-cnn").robust_accuracy``), ``neg_share`` (the part of the shares'
    absolute sum that is negative), ``top10_share``, then
    (if ``probe_steps`` > 0) ``probe_steps`` more steps with ``delta`` recomputed (``live_neg_cos``,
    ``live_jumps``) and frozen (``frozen_neg_cos``) (see :func:`continue_training`). With ``onset``
    (keys ``lr``, ``steps``: a calm warm-up; ``probe``, ``window``, ``iters``: the bisection), adversarial runs add the
    predicted onsets ``onset_A = 2 / lambda_1(H_thth)`` and ``onset_B`` (:func:`onset_lr` of the
    step operator) at the warm-up checkpoint, the bisected ``onset_obs`` and its ``onset_res``.
    """
    from . import threat
    from .training import accuracy, train

    seed = check_seed(seed)
    if not callable(make_model):
        raise TypeError(f"make_model must be a function seed -> nn.Module, got {type(make_model).__name__}.")
    if not isinstance(runs, dict) or not runs:
        raise ValueError(f"runs must be a non-empty dict name -> (attack, jeff), got {runs!r}.")
    for name, run in runs.items():
        if not (isinstance(run, (tuple, list)) and len(run) == 2):
            raise ValueError(f"runs[{name!r}] must be a pair (attack, jeff), got {run!r}.")
        if run[0] is not None and not callable(run[0]):
            raise TypeError(f"runs[{name!r}]: the attack must be None or a callable, got {type(run[0]).__name__}.")
        if run[1] is not None and not isinstance(run[1], dict):
            raise TypeError(f"runs[{name!r}]: jeff must be None or a dict of jeff_top_eig's knobs, got {run[1]!r}.")
    if (x_test is None) != (y_test is None):
        raise ValueError("pass both x_test and y_test, or neither.")
    check_projection(None, box)
    if robust_accuracy is not None and not callable(robust_accuracy):
        raise TypeError(f"robust_accuracy must be None or a callable (model, x, y) -> float, got {robust_accuracy!r}.")
    out = {}
    for name, (attack, jeff) in runs.items():
        torch.manual_seed(seed)
        model = make_model(seed)
        log = train(model, x, y, lr=lr, steps=steps, attack=attack)
        r = {"neg_cos": negative_cosines(log, window=window)}
        if x_test is not None:
            r["test_acc"] = accuracy(model, x_test, y_test)
            r["robust_acc"] = (robust_accuracy or threat.robust_accuracy)(model, x_test, y_test)
        mu, v, delta = _step_operator(model, x, y, attack=attack, jeff=jeff, k=k, tol=tol)
        r["lam_clean"] = float(param_hessian_top_eig(model, x, y, tol=tol)[0][0])
        r["lam_fixed"] = (
            r["lam_clean"] if delta is None else float(param_hessian_top_eig(model, x, y, delta=delta, tol=tol)[0][0])
        )
        r["radius"] = step_radius(lr, mu)
        r["mu_re"], r["mu_im"] = float(mu[0].real), float(mu[0].imag)
        shares = (
            jeff_sample_shares(model, x, y, v, **jeff)
            if jeff is not None
            else sample_shares(model, x, y, v, delta=delta)
        )
        r["n_eff"] = participation_number(shares)
        r["neg_share"] = float(shares.clamp(max=0).abs().sum() / shares.abs().sum())
        r["top10_share"] = top_k_share(shares, min(10, shares.numel()))
        if attack is not None:
            r["at_bound"] = float((delta.abs() >= 0.999 * delta.abs().max()).double().mean())
            r["at_ball"], r["at_box"] = pinned_fractions(x, delta, eps=float(delta.abs().max()), clamp=box)
        if attack is not None and probe_steps:
            kw = dict(lr=lr, steps=probe_steps, attack=attack, window=probe_steps // 2)
            r["live_neg_cos"], r["live_jumps"] = continue_training(model, x, y, freeze=False, **kw)
            r["frozen_neg_cos"], _ = continue_training(model, x, y, freeze=True, **kw)
            if onset is not None:
                r.update(_onset(seed, x, y, make_model=make_model, attack=attack, jeff=jeff, k=k, tol=tol, **onset))
        out[name] = r
    return out


def _onset(seed, x, y, *, make_model, attack, jeff, k, tol, lr, steps, probe, window, iters) -> dict:
    """Predicted (readings A and B) and bisected onset of the zig-zag from a calm checkpoint."""
    from .training import train

    torch.manual_seed(seed)
    model = make_model(seed)
    train(model, x, y, lr=lr, steps=steps, attack=attack)
    mu, _, delta = _step_operator(model, x, y, attack=attack, jeff=jeff, k=k, tol=tol)
    lam_fixed = float(param_hessian_top_eig(model, x, y, delta=delta, tol=tol)[0][0])
    pred_a, pred_b = 2 / lam_fixed, onset_lr(mu)
    found = find_onset(
        model,
        x,
        y,
        attack=attack,
        lo=0.25 * min(pred_a, pred_b),
        hi=2 * max(pred_a, pred_b),
        steps=probe,
        window=window,
        iters=iters,
    )
    return {
        "onset_A": pred_a,
        "onset_B": pred_b,
        "onset_obs": found.lr,
        "onset_res": found.resolution,
        "onset_bracketed": float(found.bracketed),
    }


# ----------------------------------------------------------------------------- chapter 4's onsets, with controls


def pinned_fractions(x, delta, *, eps: float, clamp=(0.0, 1.0)) -> tuple[float, float]:
    """Fractions of ``delta``'s coordinates pinned by the projection: at the ``eps``-ball, and at the box only.

    A coordinate is at the ball when ``|delta_i| >= 0.999 eps``; at the box when ``x_i + delta_i`` is
    within 1e-6 of ``clamp``'s low or high bound and it is not already counted at the ball. A pinned
    coordinate has ``d delta_i / d theta = 0`` (chapter 4, section 4.2); the rest are free.
    ``clamp=None``: no box (MNIST-1D's threat model), so the box fraction is 0.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}.")
    delta = check_delta(delta, x)
    check_positive("eps", eps)
    check_projection(eps, clamp)
    ball = delta.abs() >= 0.999 * float(eps)
    if clamp is None:
        return float(ball.double().mean()), 0.0
    xa = x + delta
    box = ((xa <= clamp[0] + 1e-6) | (xa >= clamp[1] - 1e-6)) & ~ball
    return float(ball.double().mean()), float(box.double().mean())


def _predictions(model, x, y, *, attack, jeff, k, tol, box) -> dict:
    """Readings A and B's predicted onsets at the current weights, and what they rest on."""
    mu, _, delta = _step_operator(model, x, y, attack=attack, jeff=jeff, k=k, tol=tol)
    lam = float(param_hessian_top_eig(model, x, y, delta=delta, tol=tol)[0][0])
    out = {"pred_A": 2 / lam, "pred_B": onset_lr(mu), "lam1": lam, "mu1": float(mu[0].real)}
    out["mu_im_max"] = float(mu.imag.abs().max())
    if delta is not None:
        eps = float(delta.abs().max()) if jeff is None else float(jeff.get("eps") or delta.abs().max())
        out["at_ball"], out["at_box"] = pinned_fractions(x, delta, eps=eps, clamp=box)
    return out, delta


def onset_experiment(
    seed: int,
    x,
    y,
    *,
    make_model: Callable[[int], nn.Module],
    attack: Callable | None,
    jeff: dict | None,
    lr: float,
    steps: int,
    probes: tuple = ((30, 15),),
    iters: int = 4,
    factor: float = 1.25,
    lo_factor: float = 0.25,
    frozen: bool = True,
    variants: dict | None = None,
    k: int = 3,
    tol: float = 1e-3,
    box=(0.0, 1.0),
) -> dict:
    """Predicted and observed onsets of the zig-zag from a calm checkpoint, with controls (chapter 4, 4.8).

    Trains ``make_model(seed)`` full-batch for ``steps`` steps at the calm ``lr`` with ``attack``
    (``None``: standard training). At this checkpoint: ``pred_A = 2 / lambda_1`` of ``H_thth`` at the
    attack's ``delta`` (the clean Hessian for standard training) and ``pred_B`` = :func:`onset_lr`
    of the step operator's top ``k`` eigenvalues (``J_eff`` with ``jeff``, the knobs of
    :func:`jeff_top_eig`; ``H_thth`` for a sign attack), with ``lam1``, ``mu1`` (real part),
    ``mu_im_max`` (largest ``|Im mu|`` of the ``k``) and the pinned fractions ``at_ball`` / ``at_box``.
    Observed onsets (:func:`find_onset`, scanning up from ``lo_factor`` times the smaller prediction by
    ``factor`` to twice the larger, then ``iters`` bisections): ``obs_{probe}`` for each
    ``(probe, window)`` in ``probes`` (``res_`` / ``found_`` the bracket's relative width and whether
    it was bracketed); with ``frozen`` and an attack, ``frozen_obs`` (first probe) with ``delta`` held
    at its checkpoint value, whose linearised step is exactly ``I - eta H_thth``, so ``pred_A`` is its
    linear prediction. ``variants`` maps a name to ``(attack, jeff, search)``: another attack at the
    same checkpoint, whose predictions are stored as ``"{name}:pred_A"`` etc. and, with ``search``,
    its observed onset (first probe) as ``"{name}:obs"``. ``box``: the input box of the threat model
    for the pinned fractions (digits: ``(0, 1)``; ``None`` for MNIST-1D, which has none).
    """
    from .training import train

    seed = check_seed(seed)
    if not callable(make_model):
        raise TypeError(f"make_model must be a function seed -> nn.Module, got {type(make_model).__name__}.")
    if attack is not None and not callable(attack):
        raise TypeError(f"attack must be None or a callable (model, x, y) -> delta, got {type(attack).__name__}.")
    if not probes or not all(isinstance(p, (tuple, list)) and len(p) == 2 for p in probes):
        raise ValueError(f"probes must be a non-empty sequence of (steps, window) pairs, got {probes!r}.")
    frozen = check_bool("frozen", frozen)
    check_projection(None, box)
    torch.manual_seed(seed)
    model = make_model(seed)
    train(model, x, y, lr=lr, steps=steps, attack=attack)
    model.eval()
    out, delta = _predictions(model, x, y, attack=attack, jeff=jeff, k=k, tol=tol, box=box)
    preds = (out["pred_A"], out["pred_B"])
    search = dict(lo=lo_factor * min(preds), hi=2 * max(preds), iters=iters, factor=factor)

    def record(prefix, found):
        out[f"{prefix}obs"], out[f"{prefix}res"] = found.lr, found.resolution
        out[f"{prefix}found"] = float(found.bracketed)

    for probe, window in probes:
        record(f"p{probe}:", find_onset(model, x, y, attack=attack, steps=probe, window=window, **search))
    probe, window = probes[0]
    if frozen and attack is not None:
        fixed = _Recorder(frozen=delta)
        record("frozen:", find_onset(model, x, y, attack=fixed, steps=probe, window=window, **search))
    for name, (v_attack, v_jeff, v_search) in (variants or {}).items():
        pred, _ = _predictions(model, x, y, attack=v_attack, jeff=v_jeff, k=k, tol=tol, box=box)
        out.update({f"{name}:{key}": val for key, val in pred.items()})
        if v_search:
            v_preds = (pred["pred_A"], pred["pred_B"])
            v_kw = dict(lo=lo_factor * min(v_preds), hi=2 * max(v_preds), iters=iters, factor=factor)
            found = find_onset(model, x, y, attack=v_attack, steps=probe, window=window, **v_kw)
            record(f"{name}:", found)
    return out
