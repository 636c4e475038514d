"""Closed forms of the attack's dynamics: the perturbation of a multi-step attack (chapter 2).

Under the second-order model ``grad_x L(x + delta) ~ g + H delta`` plain gradient
ascent ``delta_{t+1} = delta_t + alpha grad_x L(x + delta_t)`` is the linear
recurrence ``delta_{t+1} = (I + alpha H) delta_t + alpha g`` (chapter 2,
``eq-ch2-recurrence``). With ``H = sum_i lambda_i v_i v_i^T`` its solution is

``delta_m = sum_i c_i(m) gamma_i v_i``,  ``c_i(m) = ((1 + alpha lambda_i)^m - 1) / lambda_i``,
``gamma_i = v_i^T g``                                                  (``eq-ch2-closed-form``)

and the gradient flow ``d delta / dt = g + H delta`` gives
``c_i(t) = (e^{lambda_i t} - 1) / lambda_i``                           (``eq-ch2-flow``).

For two logits with the ReLU gates frozen the flow of the real (not quadratic)
loss has an exact solution through the Lambert W function (``eq-ch2-lambert``):
:func:`logit_margin_flow` and :func:`two_logit_flow`.

Everything is batched like :func:`advnotes.curvature.input_hessian_eig`:
``eigvals`` (B, C), ``eigvecs`` (B, n, C) with orthonormal columns, ``g`` (B, n).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from torch import nn

from .attacks import check_steps, gradient_ascent_path
from .linear_regions import local_linear_map
from .validation import (
    check_array,
    check_finite,
    check_inputs,
    check_int_list,
    check_labels,
    check_positive,
)

__all__ = [
    "growth_factor",
    "flow_factor",
    "perturbation_closed_form",
    "perturbation_flow",
    "iterate_quadratic_attack",
    "energy_on_top",
    "logit_margin_flow",
    "two_logit_flow",
    "gradient_tilt",
    "lambda_max_affine",
    "offtop_ratio",
    "validity_table",
    "projected_table",
]

# Below this |alpha * lambda| (or |lambda t|) the factors use their Taylor series:
# the series' first omitted term is ~|u|^3 < 1e-24, far below float64 round-off.
_SERIES_CUTOFF = 1e-8


def _check_spectrum(eigvals, eigvecs, g) -> None:
    for name, t in (("eigvals", eigvals), ("eigvecs", eigvecs), ("g", g)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}.")
        if not t.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got dtype {t.dtype}.")
    if eigvals.dim() != 2 or eigvecs.dim() != 3 or g.dim() != 2:
        raise ValueError(
            "expected eigvals (B, C), eigvecs (B, n, C) and g (B, n) as returned by input_hessian_eig / "
            f"input_hessian; got shapes {tuple(eigvals.shape)}, {tuple(eigvecs.shape)}, {tuple(g.shape)}."
        )
    B, C = eigvals.shape
    if eigvecs.shape[0] != B or eigvecs.shape[2] != C or g.shape != (B, eigvecs.shape[1]):
        raise ValueError(
            f"shapes do not match: eigvals {tuple(eigvals.shape)} needs eigvecs (B={B}, n, C={C}) and g (B, n); "
            f"got eigvecs {tuple(eigvecs.shape)} and g {tuple(g.shape)}."
        )
    if B == 0 or C == 0:
        raise ValueError("empty batch or empty spectrum.")
    if not (eigvals.dtype == eigvecs.dtype == g.dtype):
        raise TypeError(f"dtypes differ: eigvals {eigvals.dtype}, eigvecs {eigvecs.dtype}, g {g.dtype}.")
    for name, t in (("eigvals", eigvals), ("eigvecs", eigvecs), ("g", g)):
        check_finite(name, t)


def _exprel(z: torch.Tensor) -> torch.Tensor:
    """``(e^z - 1) / z``, equal to 1 at ``z = 0``, without cancellation for tiny ``z``."""
    small = z.abs() < _SERIES_CUTOFF
    safe = torch.where(small, torch.ones_like(z), z)
    return torch.where(small, 1 + z / 2 + z * z / 6, torch.expm1(safe) / safe)


def _log1p_rel(u: torch.Tensor) -> torch.Tensor:
    """``log(1 + u) / u``, equal to 1 at ``u = 0`` (needs ``u > -1``)."""
    small = u.abs() < _SERIES_CUTOFF
    safe = torch.where(small, torch.ones_like(u), u)
    return torch.where(small, 1 - u / 2 + u * u / 3, torch.log1p(safe) / safe)


def _log_max(dtype: torch.dtype) -> float:
    return math.log(torch.finfo(dtype).max)


def _check_step_sizes(step_sizes) -> list[float]:
    if isinstance(step_sizes, (str, bytes, dict)) or not hasattr(step_sizes, "__iter__"):
        raise TypeError(f"step_sizes must be a list of positive numbers such as [0.1, 1.0], got {step_sizes!r}.")
    out = [check_positive("each entry of step_sizes", a) for a in step_sizes]
    if not out:
        raise ValueError("step_sizes is empty; pass at least one step size, e.g. [0.1, 1.0].")
    return out


def _check_step_counts(steps) -> list[int]:
    out = check_int_list("steps", steps, min_value=1)
    check_steps(max(out), name="the largest of steps")
    return out


def growth_factor(eigvals: torch.Tensor, *, step_size: float, steps: int) -> torch.Tensor:
    """``c(m) = ((1 + alpha lambda)^m - 1) / lambda`` elementwise (limit ``m alpha`` at ``lambda = 0``).

    Chapter 2, ``eq-ch2-closed-form``. Computed as
    ``alpha * m * log1p(u)/u * exprel(m log1p(u))`` with ``u = alpha lambda``, which is
    exact as ``lambda -> 0`` and has no cancellation for tiny ``u``. Entries with
    ``1 + u <= 0`` (an oscillating recurrence, possible only for a negative
    eigenvalue) use the power directly. Raises ``OverflowError`` when
    ``(1 + alpha lambda)^m`` does not fit in the dtype.
    """
    step_size = check_positive("step_size", step_size)
    steps = check_positive("steps", steps, integer=True, allow_zero=True)
    if not isinstance(eigvals, torch.Tensor) or not eigvals.is_floating_point():
        raise TypeError(f"eigvals must be a floating-point torch.Tensor, got {_kind(eigvals)}.")
    check_finite("eigvals", eigvals)
    a, m = float(step_size), int(steps)
    u = a * eigvals
    pos = u > -1
    u_pos = torch.where(pos, u, torch.zeros_like(u))
    log_growth = m * torch.log1p(u_pos)
    log_neg = m * torch.log(torch.where(pos, torch.ones_like(u), (1 + u).abs()))
    worst = float(torch.maximum(log_growth, log_neg).max())
    if worst > _log_max(eigvals.dtype) - 1:
        raise OverflowError(
            f"(1 + step_size * lambda)^steps overflows {eigvals.dtype}: steps * log(1 + step_size * lambda_max) = "
            f"{worst:.4g}. The quadratic model is meaningless long before this (chapter 2 shows it fails once "
            "s = step_size * steps * lambda_max exceeds about 1); lower step_size or steps, or use float64."
        )
    c_pos = a * m * _log1p_rel(u_pos) * _exprel(log_growth)
    if bool(pos.all()):
        return c_pos
    lam_safe = torch.where(pos, torch.ones_like(eigvals), eigvals)
    c_neg = (torch.pow(1 + torch.where(pos, torch.zeros_like(u), u), m) - 1) / lam_safe
    return torch.where(pos, c_pos, c_neg)


def flow_factor(eigvals: torch.Tensor, *, t: float) -> torch.Tensor:
    """``(e^{lambda t} - 1) / lambda`` elementwise (limit ``t`` at ``lambda = 0``); chapter 2, ``eq-ch2-flow``.

    Raises ``OverflowError`` when ``e^{lambda t}`` does not fit in the dtype.
    """
    t = check_positive("t", t, allow_zero=True)
    if not isinstance(eigvals, torch.Tensor) or not eigvals.is_floating_point():
        raise TypeError(f"eigvals must be a floating-point torch.Tensor, got {_kind(eigvals)}.")
    check_finite("eigvals", eigvals)
    z = eigvals * float(t)
    worst = float(z.max())
    if worst > _log_max(eigvals.dtype) - 1:
        raise OverflowError(
            f"e^(lambda t) overflows {eigvals.dtype}: lambda_max * t = {worst:.4g}; lower t (the quadratic model "
            "fails long before this, see chapter 2) or use float64."
        )
    return float(t) * _exprel(z)


def _assemble(coef: torch.Tensor, scale_perp: float, eigvecs: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    gamma = torch.einsum("bnc,bn->bc", eigvecs, g)  # gamma_i = v_i^T g
    inside = torch.einsum("bnc,bc->bn", eigvecs, gamma)
    delta = torch.einsum("bnc,bc->bn", eigvecs, coef * gamma) + scale_perp * (g - inside)
    if not torch.isfinite(delta).all():
        raise OverflowError(
            "the closed-form perturbation is not finite (|c_i(m) gamma_i| overflowed); lower step_size/steps or t."
        )
    return delta


def perturbation_closed_form(
    eigvals: torch.Tensor, eigvecs: torch.Tensor, g: torch.Tensor, *, step_size: float, steps: int
) -> torch.Tensor:
    """Perturbation ``delta_m`` (B, n) of ``steps`` plain gradient-ascent steps on the quadratic model.

    Chapter 2, ``eq-ch2-closed-form``: ``delta_m = sum_i c_i(m) gamma_i v_i + m alpha g_perp``
    with ``c_i(m) = ((1 + alpha lambda_i)^m - 1)/lambda_i`` (:func:`growth_factor`),
    ``gamma_i = v_i^T g`` and ``g_perp = g - V V^T g`` (the part of ``g`` outside the
    given eigenvectors, on which ``H`` is zero; it vanishes for a ReLU network, whose
    gradient lies in ``range(H)``). This is the exact solution of
    ``delta_{t+1} = (I + alpha H) delta_t + alpha g``, ``delta_0 = 0``, for
    ``H = V diag(eigvals) V^T``.

    ``eigvals`` (B, C), ``eigvecs`` (B, n, C) with orthonormal columns (e.g. from
    :func:`advnotes.curvature.input_hessian_eig`, or all n pairs of a dense ``eigh``),
    ``g`` (B, n). ``steps = 0`` gives zeros; ``steps = 1`` gives ``alpha g``.
    Raises ``OverflowError`` instead of returning inf/NaN.
    """
    _check_spectrum(eigvals, eigvecs, g)
    step_size = check_positive("step_size", step_size)
    steps = check_positive("steps", steps, integer=True, allow_zero=True)
    coef = growth_factor(eigvals, step_size=step_size, steps=steps)
    return _assemble(coef, float(step_size) * int(steps), eigvecs, g)


def perturbation_flow(eigvals: torch.Tensor, eigvecs: torch.Tensor, g: torch.Tensor, *, t: float) -> torch.Tensor:
    """Solution ``delta(t)`` (B, n) of the gradient flow ``d delta/dt = g + H delta``, ``delta(0) = 0``.

    Chapter 2, ``eq-ch2-flow``: ``delta(t) = sum_i (e^{lambda_i t} - 1)/lambda_i gamma_i v_i + t g_perp``,
    the ``alpha -> 0`` limit of :func:`perturbation_closed_form` with ``t = m alpha``.
    Shapes as in :func:`perturbation_closed_form`.
    """
    _check_spectrum(eigvals, eigvecs, g)
    t = check_positive("t", t, allow_zero=True)
    coef = flow_factor(eigvals, t=t)
    return _assemble(coef, float(t), eigvecs, g)


def iterate_quadratic_attack(H: torch.Tensor, g: torch.Tensor, *, step_size: float, steps: int) -> torch.Tensor:
    """The recurrence ``delta_{t+1} = delta_t + alpha (g + H delta_t)`` iterated ``steps`` times (B, n).

    The oracle for :func:`perturbation_closed_form`: gradient ascent on the exactly
    quadratic loss ``g^T delta + delta^T H delta / 2``. ``H`` (B, n, n), ``g`` (B, n).
    """
    step_size = check_positive("step_size", step_size)
    steps = check_steps(steps)
    H = check_inputs(H, name="H", min_dim=3)
    g = check_inputs(g, name="g")
    if H.dim() != 3 or g.dim() != 2 or H.shape != (g.shape[0], g.shape[1], g.shape[1]):
        raise ValueError(f"expected H (B, n, n) and g (B, n); got {tuple(H.shape)} and {tuple(g.shape)}.")
    if H.dtype != g.dtype or H.device != g.device:
        raise TypeError(
            f"H and g must share one dtype and device, got {H.dtype} on {H.device} and {g.dtype} on {g.device}."
        )
    delta = torch.zeros_like(g)
    for _ in range(int(steps)):
        delta = delta + step_size * (g + torch.einsum("bnm,bm->bn", H, delta))
    if not torch.isfinite(delta).all():
        raise OverflowError("the iterated recurrence overflowed; lower step_size or steps.")
    return delta


def _kind(v) -> str:
    if isinstance(v, torch.Tensor):
        return f"a {v.dtype} tensor of shape {tuple(v.shape)}"
    return type(v).__name__


def _flat(v: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(v, torch.Tensor) or not v.is_floating_point() or v.dim() < 2:
        raise ValueError(f"{name} must be a floating tensor of shape (B, ...), got {getattr(v, 'shape', v)}.")
    check_finite(name, v)
    return v.reshape(v.shape[0], -1)


def energy_on_top(eigvecs: torch.Tensor, d: torch.Tensor, k: int) -> torch.Tensor:
    """Share of ``|d|^2`` on the top-``k`` eigenvectors (B,): ``|V_k^T d|^2 / |d|^2``, in [0, 1].

    ``eigvecs`` (B, n, C) sorted by descending eigenvalue (as
    :func:`advnotes.curvature.input_hessian_eig` returns them); ``d`` (B, n) or (B, *input_shape).
    A zero ``d`` raises ``ValueError`` (its share is undefined).
    """
    d = _flat(d, "d")
    if not isinstance(eigvecs, torch.Tensor) or eigvecs.dim() != 3 or eigvecs.shape[:2] != d.shape:
        raise ValueError(
            f"eigvecs must be (B, n, C) matching d {tuple(d.shape)}, got {getattr(eigvecs, 'shape', None)}."
        )
    if eigvecs.dtype != d.dtype:
        raise TypeError(f"eigvecs and d must share one dtype, got {eigvecs.dtype} and {d.dtype}.")
    check_finite("eigvecs", eigvecs)
    k = check_positive("k", k, integer=True)
    if k > eigvecs.shape[2]:
        raise ValueError(f"k={k} exceeds the {eigvecs.shape[2]} eigenvectors given.")
    norm2 = (d * d).sum(1)
    if (norm2 == 0).any():
        raise ValueError("d has a zero row: the share of its energy on any direction is undefined.")
    proj = torch.einsum("bnk,bn->bk", eigvecs[:, :, :k], d)
    return (proj * proj).sum(1) / norm2


def logit_margin_flow(margin0, k, t):
    """Exact margin ``u(t)`` of the two-logit gradient flow with frozen gates (chapter 2, ``eq-ch2-lambert``).

    For logits ``z = W x + b`` with two classes, the margin ``u = z_y - z_other``, its
    input gradient ``w`` and ``k = |w|^2``, the attack flow ``d delta/dt = grad_x CE``
    moves the margin by ``du/dt = -k / (1 + e^u)``, whose solution is
    ``u(t) = C - W(e^C)`` with ``C = u_0 + e^{u_0} - k t`` (``W``: principal Lambert W).
    Evaluated stably as ``log W(e^C)`` for ``C >= 0`` (because ``u = C - W = log W``) and
    ``C - W(e^C)`` for ``C < 0``, with ``W(e^C)`` from :func:`scipy.special.wrightomega`
    (the Wright omega function, which never forms ``e^C``).

    ``margin0``, ``k`` and ``t`` broadcast against each other (floats, NumPy arrays or
    tensors; ``k >= 0``, ``t >= 0``). Returns a float64 NumPy array (or a float for scalars).
    """
    from scipy.special import wrightomega

    u0, kk, tt = check_array("margin0", margin0), check_array("k", k), check_array("t", t)
    try:
        np.broadcast_shapes(u0.shape, kk.shape, tt.shape)
    except ValueError:
        raise ValueError(
            f"margin0, k and t must broadcast against each other, got shapes {u0.shape}, {kk.shape} and {tt.shape}."
        ) from None
    if (kk < 0).any() or (tt < 0).any():
        raise ValueError("k = |w|^2 and t must be non-negative.")
    if (u0 > 700).any():
        raise OverflowError("margin0 > 700: e^margin0 overflows float64; such a margin needs no attack model.")
    C = u0 + np.exp(u0) - kk * tt
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        om = np.real(wrightomega(C))
        u = np.where(C >= 0, np.log(np.where(C >= 0, om, 1.0)), C - om)
    u = np.where((tt == 0) | (kk == 0), u0, u)  # exactly u0 at t = 0 (no round-off through W)
    if not np.isfinite(u).all():
        raise FloatingPointError("the Lambert-W margin is not finite; check the inputs' range.")
    return float(u) if u.ndim == 0 else u


def two_logit_flow(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, t: float):
    """Exact attack flow ``delta(t)`` (B, n) for a two-logit ReLU model with its gates frozen at ``x``.

    Chapter 2, ``eq-ch2-lambert``: with ``W, b`` the local linear map at ``x`` (so the
    model is the affine :class:`advnotes.linear_regions.FrozenGates` of ``x``),
    ``w = W_y - W_other``, ``k = |w|^2`` and margin ``u_0``, the gradient always points
    along ``-w``, so ``delta(t) = (u(t) - u_0) / k * w`` with ``u(t)`` from
    :func:`logit_margin_flow`. Returns ``(delta, margin)`` with ``margin`` (B,) the
    margin ``u(t)``, both in the dtype of ``x``. It is the ``alpha -> 0`` limit of
    ``gradient_ascent(FrozenGates(model, x), x, y, step_size=alpha, steps=t/alpha)``.
    """
    t = check_positive("t", t, allow_zero=True)
    W, b = local_linear_map(model, x)
    if W.shape[1] != 2:
        raise ValueError(f"two_logit_flow needs a model with exactly 2 logits, got {W.shape[1]}.")
    y = check_labels(y, batch=x.shape[0], num_classes=2)
    x_flat = x.reshape(x.shape[0], -1)
    z = b + torch.einsum("bcn,bn->bc", W, x_flat)
    sign = 1 - 2 * y.to(W.dtype)  # +1 for y = 0, -1 for y = 1
    w = sign[:, None] * (W[:, 0] - W[:, 1])  # grad of u = z_y - z_other
    u0 = sign * (z[:, 0] - z[:, 1])
    k = (w * w).sum(1)
    if (k == 0).any():
        raise ValueError("the two logits have identical input gradients at some x (k = 0): the flow is delta = 0.")
    u = torch.as_tensor(logit_margin_flow(u0, k, float(t)), dtype=x.dtype, device=x.device).reshape(u0.shape)
    delta = ((u - u0) / k)[:, None] * w
    return delta, u


# ----------------------------------------------------------------------------- chapter 2, sections 2.8-2.10


def gradient_tilt(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> dict:
    """The gradient in the Hessian's eigenbasis, split as ``gamma_i = sqrt(lambda_i) (U^T s)_i`` (``lem-ch2-tilt``).

    With ``F = (I - p 1^T) diag(sqrt p)`` (``A = F F^T``) and ``G = F^T W = U S V^T``
    (thin SVD, so ``H = V S^2 V^T``), the residual ``p - e_y`` equals ``F s`` for
    ``s = diag(p)^{-1/2} (p - e_y)`` (which is ``F^+ (p - e_y)``: it is orthogonal to
    ``sqrt p``, the null vector of ``F``), hence ``g = W^T F s = G^T s = V S U^T s``.
    Returns a dict of tensors: ``eigvals`` (B, C) = ``S^2`` descending, ``eigvecs``
    (B, n, C) = ``V``, ``g`` (B, n), ``a`` (B, C) = ``U^T s`` (the untilted coefficients),
    ``s`` (B, C), ``gamma`` (B, C) = ``V^T g`` (computed directly), and ``fit_error`` (B,)
    = ``|F s - (p - e_y)| / |p - e_y|``.
    """
    from .curvature import softmax_curvature_factor, softmax_residual

    W, b = local_linear_map(model, x)
    y = check_labels(y, batch=x.shape[0], num_classes=W.shape[1])
    p = torch.softmax(b + torch.einsum("bcn,bn->bc", W, x.reshape(x.shape[0], -1)), dim=-1)
    r = softmax_residual(p, y)
    F_ = softmax_curvature_factor(p)
    s = r / p.sqrt()
    G = torch.einsum("bcd,bcn->bdn", F_, W)
    U, S, Vh = torch.linalg.svd(G, full_matrices=False)
    V = Vh.transpose(1, 2)
    g = torch.einsum("bcn,bc->bn", W, r)
    fit = (torch.einsum("bcd,bd->bc", F_, s) - r).norm(dim=1) / r.norm(dim=1)
    return {
        "eigvals": S**2,
        "eigvecs": V,
        "g": g,
        "a": torch.einsum("bcd,bc->bd", U, s),
        "s": s,
        "gamma": torch.einsum("bnc,bn->bc", V, g),
        "fit_error": fit,
    }


def lambda_max_affine(W: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Top eigenvalue (B,) of ``W^T A(p) W`` with ``p = softmax(W x + b)``: the Hessian of a frozen region.

    ``W`` (B, C, n) and ``b`` (B, C) from :func:`advnotes.linear_regions.local_linear_map`
    at the clean inputs; ``x`` (B, n) any inputs (e.g. ``x + delta_t`` along an attack).
    Chapter 2 measures with it how the curvature the frozen-gate attack meets changes
    along its path (section 2.8): ``lambda_max = sigma_1(F^T W)^2``.
    """
    from .curvature import softmax_curvature_factor

    W, b, x = check_inputs(W, name="W", min_dim=3), check_inputs(b, name="b"), check_inputs(x)
    B, n = x.shape[0], x[0].numel()
    if W.dim() != 3 or W.shape[0] != B or W.shape[2] != n or tuple(b.shape) != (B, W.shape[1]):
        raise ValueError(
            f"W must be (B, C, n) = ({B}, C, {n}) and b (B, C) for x of shape {tuple(x.shape)}, got W "
            f"{tuple(W.shape)} and b {tuple(b.shape)}; take them from local_linear_map(model, x_clean)."
        )
    if not (W.dtype == b.dtype == x.dtype):
        raise TypeError(f"W, b and x must share one dtype, got {W.dtype}, {b.dtype} and {x.dtype}.")
    p = torch.softmax(b + torch.einsum("bcn,bn->bc", W, x.reshape(x.shape[0], -1)), dim=-1)
    G = torch.einsum("bcd,bcn->bdn", softmax_curvature_factor(p), W)
    return torch.linalg.matrix_norm(G, ord=2) ** 2


def offtop_ratio(eigvecs: torch.Tensor, d: torch.Tensor, base: torch.Tensor, *, k: int = 1) -> torch.Tensor:
    """Per input (B,): the share of ``|d|^2`` off the top-``k`` eigenvectors over that of ``base``.

    ``(1 - E_k(d)) / (1 - E_k(base))`` with ``E_k`` from :func:`energy_on_top`. Below 1:
    ``d`` is more concentrated on the top ``k`` than ``base`` (chapter 2, section 2.10,
    where ``base`` is the attack's own first step: ``g`` for gradient ascent, FGSM for
    PGD). Inputs whose ``base`` lies entirely on the top ``k`` raise ``ValueError``.
    """
    base = _flat(base, "base")
    if base.shape != _flat(d, "d").shape:
        raise ValueError(f"d and base must have one shape, got {tuple(d.shape)} and {tuple(base.shape)}.")
    off_base = 1 - energy_on_top(eigvecs, base, k)
    if (off_base <= 0).any():
        raise ValueError("base has no energy off the top-k eigenvectors for some input; the ratio is undefined.")
    return (1 - energy_on_top(eigvecs, d, k)) / off_base


def validity_table(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, step_sizes, steps, project: dict | None = None
) -> dict:
    """The closed form against the real, frozen-gate and projected attacks, per (step size, m, input).

    Chapter 2, sections 2.6-2.10. For every ``alpha`` in ``step_sizes`` it runs plain
    gradient ascent on ``model`` and on ``FrozenGates(model, x)`` (once each, recording
    every ``m`` in ``steps``) and, if ``project`` is given (keyword arguments ``eps`` and
    ``clamp`` of :func:`advnotes.attacks.gradient_ascent`), the projected attack. Returns
    a dict of flat float64 NumPy arrays, one entry per (alpha, m, input):

    ``s`` = alpha m lambda_max; ``m``; ``alpha``; ``err_real``/``err_frozen``: relative error of the
    closed form against the real/frozen attack; ``closed_over_real``,
    ``closed_over_frozen``, ``frozen_over_real``: ratios of norms; ``gate_term`` =
    ``|real - frozen| / |real|``, ``softmax_term`` = ``|frozen - closed| / |real|`` and
    ``gate_over_softmax`` their ratio;
    ``cos_terms``: cosine of ``real - frozen`` with ``frozen - closed`` (0 where either is 0);
    ``err_linear``: relative error of the first-order null model ``m alpha g`` against the
    real attack;
    ``flips``: fraction of gates flipped by the real attack; ``lam_frozen``/``lam_real``:
    lambda_max of the Hessian at ``x + delta_m`` (frozen: clean region's ``W``; real:
    the region reached) over the clean lambda_max; ``lam_frozen_path``: the mean over the
    steps ``t = 0, ..., m - 1`` of the frozen attack's ``lambda_max(x + delta_t)`` over the
    clean one (the curvature that drove its steps); ``offtop_real``/``offtop_closed``:
    :func:`offtop_ratio` of each against ``g`` (k = 1, clean eigenvectors); ``offtop_proj``:
    that of the projected attack against *its own* first step (``m = 1`` of the same
    projected attack, already cut by the projection), and ``offtop_proj1_vs_g`` that first
    step's against ``g``; ``E1_g``/``E1_real``: the shares :func:`energy_on_top` (k = 1) of
    ``g`` and of the real attack.
    """
    from .curvature import input_gradient, input_hessian_eig
    from .linear_regions import FrozenGates, count_gate_flips, gate_pattern

    step_sizes, steps = _check_step_sizes(step_sizes), _check_step_counts(steps)
    if project is not None:
        _check_project(project)
    lam, V = input_hessian_eig(model, x, y)
    g = input_gradient(model, x, y)
    W, b = local_linear_map(model, x)
    frozen = FrozenGates(model, x)
    n_gates = gate_pattern(model, x).shape[1]
    rows: dict[str, list] = {}

    def add(key, val):
        rows.setdefault(key, []).append(val.detach().double().cpu())

    for a in step_sizes:
        real = gradient_ascent_path(model, x, y, step_size=a, record=steps)
        froz = gradient_ascent_path(frozen, x, y, step_size=a, record=range(max(steps) + 1))
        lam_path = torch.stack([lambda_max_affine(W, b, x + froz[t]) for t in range(max(steps))]) / lam[:, 0]
        lam_path_mean = lam_path.cumsum(0) / torch.arange(1, max(steps) + 1, dtype=lam.dtype)[:, None]
        proj = None
        if project is not None:
            proj = {m: _projected(model, x, y, a, m, project) for m in sorted(set(steps) | {1})}
        for m in steps:
            closed = perturbation_closed_form(lam, V, g, step_size=a, steps=m)
            r_, f_ = real[m], froz[m]
            nr, nf, nc = r_.norm(dim=1), f_.norm(dim=1), closed.norm(dim=1)
            add("s", a * m * lam[:, 0])
            add("m", torch.full_like(nr, float(m)))
            add("alpha", torch.full_like(nr, float(a)))
            add("err_real", (closed - r_).norm(dim=1) / nr)
            add("err_frozen", (closed - f_).norm(dim=1) / nf)
            add("closed_over_real", nc / nr)
            add("closed_over_frozen", nc / nf)
            add("frozen_over_real", nf / nr)
            add("gate_term", (r_ - f_).norm(dim=1) / nr)
            add("softmax_term", (f_ - closed).norm(dim=1) / nr)
            add("gate_over_softmax", (r_ - f_).norm(dim=1) / (f_ - closed).norm(dim=1).clamp_min(1e-300))
            dot = ((r_ - f_) * (f_ - closed)).sum(1)
            add("cos_terms", dot / ((r_ - f_).norm(dim=1) * (f_ - closed).norm(dim=1)).clamp_min(1e-300))
            add("err_linear", (a * m * g - r_).norm(dim=1) / nr)
            add("lam_frozen_path", lam_path_mean[m - 1])
            add("flips", count_gate_flips(model, x, x + r_).double() / n_gates)
            add("lam_frozen", lambda_max_affine(W, b, x + f_) / lam[:, 0])
            add("lam_real", input_hessian_eig(model, x + r_, y)[0][:, 0] / lam[:, 0])
            add("offtop_real", offtop_ratio(V, r_, g))
            add("E1_g", energy_on_top(V, g, 1))
            add("E1_real", energy_on_top(V, r_, 1))
            add("offtop_closed", offtop_ratio(V, closed, g))
            if proj is not None:
                add("offtop_proj", offtop_ratio(V, proj[m], proj[1]))
                add("offtop_proj1_vs_g", offtop_ratio(V, proj[1], g))
    return {k: torch.cat(v).cpu().numpy() for k, v in rows.items()}


def _check_project(project) -> None:
    if not isinstance(project, dict) or not set(project) <= {"eps", "clamp"}:
        raise ValueError(
            f"project must be None or a dict of gradient_ascent's projection arguments 'eps' and/or 'clamp', "
            f"e.g. dict(eps=0.1, clamp=(0.0, 1.0)); got {project!r}."
        )


def _projected(model, x, y, a, m, project):
    from .attacks import gradient_ascent

    return gradient_ascent(model, x, y, step_size=a, steps=m, **project)


def projected_table(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    step_sizes,
    steps,
    eps: float | None = None,
    clamp: tuple | None = None,
) -> dict:
    """Off-top ratio of the projected gradient ascent against its own first step, per (step size, m, input).

    Chapter 2, section 2.10: which part of the threat model's projection (the L-inf
    ball ``eps``, the pixel box ``clamp``, or both) spreads the attack's energy off the
    clean H's top eigenvector. Runs :func:`advnotes.attacks.gradient_ascent` with
    ``eps``/``clamp`` for every ``alpha`` in ``step_sizes`` and ``m`` in ``steps``; returns
    flat float64 NumPy arrays ``s`` (alpha m lambda_max), ``m``, ``offtop``
    (:func:`offtop_ratio`, k = 1, against the same projected attack's ``m = 1`` step) and
    ``first_vs_g`` (that first step's ratio against ``g``), as :func:`validity_table` does.
    """
    from .attacks import gradient_ascent
    from .curvature import input_gradient, input_hessian_eig

    step_sizes, steps = _check_step_sizes(step_sizes), _check_step_counts(steps)
    lam, V = input_hessian_eig(model, x, y)
    g = input_gradient(model, x, y)
    rows: dict[str, list] = {"s": [], "m": [], "offtop": [], "first_vs_g": []}
    for a in step_sizes:
        first = gradient_ascent(model, x, y, step_size=a, steps=1, eps=eps, clamp=clamp)
        for m in steps:
            d = gradient_ascent(model, x, y, step_size=a, steps=m, eps=eps, clamp=clamp)
            rows["s"].append(a * m * lam[:, 0])
            rows["m"].append(torch.full_like(lam[:, 0], float(m)))
            rows["offtop"].append(offtop_ratio(V, d, first))
            rows["first_vs_g"].append(offtop_ratio(V, first, g))
    return {k: torch.cat(v).detach().double().cpu().numpy() for k, v in rows.items()}
