"""Top eigenpairs of linear operators: Lanczos, Arnoldi, power iteration and ARPACK behind one call.

The solvers of chapter 4, the parameter Hessian and J_eff, need the few largest
eigenvalues of operators that exist only as products ``v -> A v``: Hessian-vector
products (symmetric) and products with the training Jacobian ``J_eff`` (not
symmetric). This module holds those solvers apart from any model: they see an
*operator*, anything with

- ``size`` (int): the dimension ``n`` of the space the operator acts on;
- ``dtype`` (a real floating ``torch.dtype``) and ``device`` (``torch.device``): what
  ``matvec`` takes and returns;
- ``symmetric`` (bool): whether ``A = A^T`` (Lanczos) or not (Arnoldi);
- ``matvec(v)``: a ``(size,)`` tensor of that dtype on that device to ``A v``, of the
  same shape, dtype and device. ``v`` may be a view of the solver's basis: ``matvec``
  must not modify it in place.

(:class:`Operator`, a ``typing.Protocol``). :class:`DenseOperator` wraps a matrix and
:class:`LinearOperator` a function. :func:`top_eig` returns the ``k`` eigenvalues of
largest algebraic value (symmetric) or largest real part (non-symmetric), their
eigenvectors and the number of products spent:

- ``method='lanczos'`` (default): Lanczos with full re-orthogonalisation and thick
  restart (Krylov-Schur form) for a symmetric operator; Arnoldi with Krylov-Schur
  restart for a non-symmetric one (``'arnoldi'`` forces Arnoldi). Residuals are read
  off the small projected problem, the basis is one preallocated ``(m + 1, size)``
  float64 tensor on the operator's device, and Ritz vectors are formed only at the end.
- ``method='power'``: power iteration (``k = 1``), the baseline, stopped on its residual.
- ``method='arpack'``: ``scipy.sparse.linalg.eigsh`` / ``eigs`` through a SciPy
  ``LinearOperator`` (a CPU NumPy round-trip per product).

Every method stops when each wanted pair has ``||A x - theta x|| <= tol |theta|``
(ARPACK's own rule), and raises :class:`NotConvergedError` (a ``RuntimeError`` carrying
the best pairs and residuals reached) when ``max_matvec`` products do not get there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from .validation import check_bool, check_limit, check_positive, check_seed

__all__ = [
    "MAX_MATVEC",
    "Operator",
    "DenseOperator",
    "LinearOperator",
    "KrylovInfo",
    "NotConvergedError",
    "top_eig",
]

#: The most products one :func:`top_eig` call may be allowed (``max_matvec``); set it higher if you mean it.
MAX_MATVEC = 1_000_000

_METHODS = ("lanczos", "arnoldi", "power", "arpack")
_REAL = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_COMPLEX = {torch.float64: torch.complex128}
_DGKS = 1 / math.sqrt(2)  # a second Gram-Schmidt pass when the first removed more than this share of the norm


# ----------------------------------------------------------------------------- operators


@runtime_checkable
class Operator(Protocol):
    """What :func:`top_eig` needs of a linear operator ``A`` on ``R^size``.

    ``size`` (int), ``dtype`` (a real floating torch dtype), ``device`` (torch device),
    ``symmetric`` (bool) and ``matvec(v)``: a ``(size,)`` tensor of ``dtype`` on ``device``
    to ``A v`` of the same shape, dtype and device, without modifying ``v``.
    """

    size: int
    dtype: torch.dtype
    device: torch.device
    symmetric: bool

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """``A v`` for a ``(size,)`` tensor ``v``."""
        ...


def _check_dtype(dtype) -> torch.dtype:
    if not isinstance(dtype, torch.dtype) or dtype not in _REAL:
        raise TypeError(f"dtype must be a real floating torch dtype (torch.float64, torch.float32...), got {dtype!r}.")
    return dtype


def _check_vector_arg(name: str, v, size: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    if not isinstance(v, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape ({size},), got {type(v).__name__}.")
    if tuple(v.shape) != (size,):
        raise ValueError(f"{name} must have shape ({size},), got {tuple(int(s) for s in v.shape)}.")
    if v.dtype != dtype:
        raise TypeError(f"{name} must be {dtype}, got {v.dtype}; convert it with .to({dtype}).")
    if v.device != device:
        raise ValueError(f"{name} is on {v.device} but the operator is on {device}; move it with .to({str(device)!r}).")
    return v


class DenseOperator:
    """A square real matrix as an :class:`Operator` (``matvec(v) = matrix @ v``).

    ``symmetric=None`` infers symmetry: the matrix counts as symmetric when
    ``max|M - M^T| <= 100 eps max|M|`` (``eps`` of its dtype), so ``Q diag(l) Q^T`` built
    in floating point qualifies. ``symmetric=True`` for a matrix further from symmetric
    than ``sqrt(eps) max|M|`` is refused (symmetrise it first: ``(M + M.T) / 2``).
    """

    def __init__(self, matrix, symmetric: bool | None = None):
        if not isinstance(matrix, torch.Tensor):
            hint = " (convert it with torch.as_tensor(matrix))" if isinstance(matrix, (np.ndarray, list)) else ""
            raise TypeError(f"matrix must be a square torch.Tensor, got {type(matrix).__name__}{hint}.")
        if matrix.dim() != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] == 0:
            raise ValueError(f"matrix must be square and non-empty, got shape {tuple(int(s) for s in matrix.shape)}.")
        _check_dtype(matrix.dtype)
        if not torch.isfinite(matrix).all():
            raise ValueError("matrix has non-finite entries (NaN or inf).")
        scale = float(matrix.abs().max())
        asym = float((matrix - matrix.T).abs().max())
        eps = torch.finfo(matrix.dtype).eps
        if symmetric is None:
            symmetric = asym <= 100 * eps * scale
        else:
            symmetric = check_bool("symmetric", symmetric)
            if symmetric and asym > math.sqrt(eps) * scale:
                raise ValueError(
                    f"symmetric=True but the matrix is not symmetric (max|M - M^T| = {asym:.3g}, "
                    f"max|M| = {scale:.3g}); "
                    "pass symmetric=False (Arnoldi) or symmetrise it: (M + M.T) / 2."
                )
        self.matrix = matrix.detach()
        self.size = int(matrix.shape[0])
        self.dtype = matrix.dtype
        self.device = matrix.device
        self.symmetric = bool(symmetric)

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """``matrix @ v`` for a ``(size,)`` tensor of the matrix's dtype and device."""
        _check_vector_arg("v", v, self.size, self.dtype, self.device)
        return self.matrix @ v

    def __repr__(self) -> str:
        return f"DenseOperator(size={self.size}, dtype={self.dtype}, device={self.device}, symmetric={self.symmetric})"


class LinearOperator:
    """A function ``v -> A v`` as an :class:`Operator`.

    ``matvec`` maps a ``(size,)`` tensor of ``dtype`` on ``device`` to one of the same shape,
    dtype and device (checked on every call); ``symmetric`` must be stated (it picks
    Lanczos or Arnoldi, and is not checked).
    """

    def __init__(self, matvec, size: int, *, dtype=torch.float64, device="cpu", symmetric: bool):
        if not callable(matvec):
            raise TypeError(f"matvec must be a callable mapping a (size,) tensor to one, got {type(matvec).__name__}.")
        self.size = check_positive("size", size, integer=True)
        self.dtype = _check_dtype(dtype)
        try:
            self.device = torch.device(device)
        except (RuntimeError, TypeError) as err:
            raise ValueError(f"device must be a torch device such as 'cpu' or 'cuda', got {device!r}.") from err
        self.symmetric = check_bool("symmetric", symmetric)
        self._fn = matvec

    def matvec(self, v: torch.Tensor) -> torch.Tensor:
        """``A v``: the wrapped function's value, checked for shape, dtype and device."""
        _check_vector_arg("v", v, self.size, self.dtype, self.device)
        out = self._fn(v)
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"the matvec function must return a torch.Tensor, got {type(out).__name__}.")
        _check_vector_arg("the matvec function's output", out, self.size, self.dtype, self.device)
        return out

    def __repr__(self) -> str:
        return f"LinearOperator(size={self.size}, dtype={self.dtype}, device={self.device}, symmetric={self.symmetric})"


def _check_operator(op) -> None:
    missing = [a for a in ("size", "dtype", "device", "symmetric", "matvec") if not hasattr(op, a)]
    if missing:
        raise TypeError(
            f"op must be an operator with size, dtype, device, symmetric and matvec (see advnotes.krylov.Operator; "
            f"wrap a matrix in DenseOperator or a function in LinearOperator), got {type(op).__name__} without "
            f"{', '.join(missing)}."
        )
    if not callable(op.matvec):
        raise TypeError("op.matvec must be callable.")
    check_positive("op.size", op.size, integer=True)
    _check_dtype(op.dtype)
    if not isinstance(op.device, torch.device):
        raise TypeError(f"op.device must be a torch.device, got {type(op.device).__name__}.")
    check_bool("op.symmetric", op.symmetric)


# ----------------------------------------------------------------------------- results


@dataclass(frozen=True)
class KrylovInfo:
    """How a :func:`top_eig` call went (``return_info=True``, or on :class:`NotConvergedError`).

    ``residuals``: the relative residuals ``||A x_i - theta_i x_i|| / |theta_i|`` of the returned
    pairs as the solver estimated them (from the projected problem for Lanczos/Arnoldi,
    exactly for power iteration, ``None`` for ARPACK); ``restarts``: thick restarts
    (Lanczos/Arnoldi) or ARPACK's restart count; ``basis_size``: ``m``.
    """

    method: str
    n_matvec: int
    converged: bool
    residuals: np.ndarray | None
    restarts: int
    basis_size: int


class NotConvergedError(RuntimeError):
    """``max_matvec`` products did not reach ``tol``; ``eigvals``, ``eigvecs`` and ``info`` hold the best reached."""

    def __init__(self, message: str, eigvals=None, eigvecs=None, info: KrylovInfo | None = None):
        super().__init__(message)
        self.eigvals, self.eigvecs, self.info = eigvals, eigvecs, info


# ----------------------------------------------------------------------------- shared pieces


class _Products:
    """Calls ``op.matvec`` and checks what comes back; counts the products."""

    def __init__(self, op):
        self.op, self.n = op, 0

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        op = self.op
        self.n += 1
        x = v if v.dtype == op.dtype else v.to(op.dtype)
        out = op.matvec(x)
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"op.matvec must return a torch.Tensor, got {type(out).__name__} (product {self.n}).")
        if tuple(out.shape) != (op.size,):
            raise ValueError(
                f"op.matvec returned shape {tuple(int(s) for s in out.shape)} at product {self.n}; "
                f"it must return ({op.size},)."
            )
        if out.dtype != op.dtype:
            raise TypeError(f"op.matvec returned {out.dtype} at product {self.n}; the operator's dtype is {op.dtype}.")
        if out.device != op.device:
            raise ValueError(
                f"op.matvec returned a tensor on {out.device} at product {self.n}; op.device is {op.device}."
            )
        return out.detach()

    def not_finite(self) -> FloatingPointError:
        return FloatingPointError(
            f"product {self.n} of the operator (op.matvec) was not finite (NaN or inf); check the operator "
            "(an overflow in float16/float32, a model producing NaN)."
        )


def _start(op, v0, seed: int) -> torch.Tensor:
    """A unit float64 start vector on the operator's device: ``v0`` or a seeded Gaussian one."""
    if v0 is None:
        gen = torch.Generator().manual_seed(seed)
        v = torch.randn(op.size, dtype=torch.float64, generator=gen).to(op.device)
    else:
        if not isinstance(v0, torch.Tensor):
            raise TypeError(f"v0 must be a torch.Tensor of shape ({op.size},), got {type(v0).__name__}.")
        if v0.is_complex():
            raise TypeError("v0 must be real (the solvers work in real arithmetic); pass v0.real.")
        if tuple(v0.shape) != (op.size,):
            raise ValueError(f"v0 must have shape ({op.size},), got {tuple(int(s) for s in v0.shape)}.")
        if not v0.is_floating_point():
            raise TypeError(f"v0 must be a floating-point tensor, got {v0.dtype}.")
        if not torch.isfinite(v0).all():
            raise ValueError("v0 has non-finite values (NaN or inf).")
        v = v0.detach().to(device=op.device, dtype=torch.float64)
    norm = float(v.norm())
    if norm == 0.0:
        raise ValueError("v0 must not be the zero vector.")
    return v / norm


def _orthogonalise(Vb: torch.Tensor, w: torch.Tensor) -> tuple[np.ndarray, float, float]:
    """Gram-Schmidt of ``w`` (in place) against the rows of ``Vb``, a second pass when needed (DGKS).

    Returns the coefficients ``h = Vb w`` (both passes), ``beta = ||w||`` after and ``||w||`` before.
    """
    h_t = Vb @ w
    w.addmv_(Vb.T, h_t, alpha=-1.0)
    h = h_t.cpu().numpy()
    beta = float(w.norm())
    before = math.sqrt(beta * beta + float(h @ h))
    if beta < _DGKS * before:
        c = Vb @ w
        w.addmv_(Vb.T, c, alpha=-1.0)
        h = h + c.cpu().numpy()
        beta = float(w.norm())
    return h, beta, before


def _new_direction(Vb: torch.Tensor, out: torch.Tensor, gen: torch.Generator) -> None:
    """A random unit vector orthogonal to the rows of ``Vb``, written into ``out`` (the Krylov space is invariant)."""
    out.copy_(torch.randn(out.shape[0], dtype=torch.float64, generator=gen))
    for _ in range(2):
        out.addmv_(Vb.T, Vb @ out, alpha=-1.0)
    out.div_(out.norm())


def _ritz(T: np.ndarray, symmetric: bool):
    """Eigenpairs of the projected matrix, wanted first: largest value, or largest real part (+imag first)."""
    if symmetric:
        theta, S = np.linalg.eigh(T)
        return theta[::-1].copy(), S[:, ::-1].copy()
    theta, S = np.linalg.eig(T)
    order = np.lexsort((-theta.imag, -theta.real))
    return theta[order], S[:, order]


def _fmt(res) -> str:
    return np.array2string(np.asarray(res, dtype=float), precision=2, separator=", ")


# ----------------------------------------------------------------------------- Lanczos / Arnoldi (Krylov-Schur)


def _krylov(op, v, *, k: int, tol: float, max_matvec: int, m: int, keep: int, symmetric: bool, seed: int, callback):
    """Restarted Lanczos (``symmetric``) or Arnoldi in Krylov-Schur form.

    Invariant: ``A V[:p]^T = V[:p]^T T[:p, :p] + V[p]^T b^T`` with ``b = T[p, :p]`` (the coupling row). After
    each product the Ritz pairs of ``T[:p, :p]`` give the residual norms ``|b^T s_i|`` at no cost of the
    operator's size. A full basis (``p = m``) is cut to the ``keep`` wanted Ritz (Schur) vectors plus ``V[m]``.
    """
    n, dev = op.size, op.device
    prod = _Products(op)
    V = torch.empty(m + 1, n, dtype=torch.float64, device=dev)  # row i: basis vector i (contiguous)
    V[0] = v
    T = np.zeros((m + 1, m))  # projected matrix (rows :p) and coupling row (row p)
    gen = torch.Generator().manual_seed(seed + 1)
    j, restarts, scale = 0, 0, 0.0
    name = "Lanczos" if symmetric else "Arnoldi"
    while True:
        w = V[j + 1]
        w.copy_(prod(V[j]))
        h, beta, before = _orthogonalise(V[: j + 1], w)
        if not (math.isfinite(beta) and np.isfinite(h).all()):
            raise prod.not_finite()
        p = j + 1
        if symmetric:
            T[j, j] = h[j]  # the rest of column j is the known coupling (symmetric), h[:j] is round-off
        else:
            T[: j + 1, j] = h
        theta, S = _ritz(T[:p, :p], symmetric)
        if callback is not None:
            callback(prod.n, theta[: min(k, p)].copy())
        scale = max(scale, float(np.abs(theta).max()), before)
        invariant = beta <= 1e-12 * max(before, 1e-300) or p == n
        if invariant:
            beta = 0.0
        T[p, :p] = 0.0
        T[p, j] = beta
        kk = min(k, p)
        res = np.abs(T[p, :p] @ S[:, :kk])  # ||A x_i - theta_i x_i|| = |b^T s_i| (unit s_i)
        floor = 1e-12 * scale  # a zero eigenvalue converges in absolute terms
        rel = res / np.maximum(np.abs(theta[:kk]), floor)
        if p >= k and np.all(res <= tol * np.maximum(np.abs(theta[:k]), floor)):
            break
        if prod.n >= max_matvec:
            vals, vecs = _finish(op, V[:p], theta[:kk], S[:, :kk], symmetric)
            info = KrylovInfo(name.lower(), prod.n, False, rel, restarts, m)
            raise NotConvergedError(
                f"{name} did not reach tol={tol:g} in max_matvec={max_matvec} products (relative residuals of the "
                f"top {kk} Ritz pairs: {_fmt(rel)}); raise max_matvec, loosen tol, or give a larger basis "
                "(max_basis) if the top eigenvalues are clustered.",
                vals,
                vecs,
                info,
            )
        if invariant:  # the Krylov space is invariant but holds fewer than k vectors: go on in a new direction
            _new_direction(V[:p], V[p], gen)
        else:
            V[p].div_(beta)
        if p < m:
            j = p
            if symmetric:
                T[j - 1, j] = T[j, j - 1]
            continue
        # ---- thick restart: keep `keep` wanted Ritz (symmetric) or Schur (Arnoldi) vectors and the residual V[m]
        restarts += 1
        b = T[m, :m].copy()
        if symmetric:
            kept = keep
            Z = S[:, :kept]
            block = np.diag(theta[:kept])
        else:
            Z, block, kept = _schur_keep(T[:m, :m], theta, keep, m)
        Zt = torch.as_tensor(Z.T.copy(), device=dev)
        V[:kept] = Zt @ V[:m]
        V[kept] = V[m]
        T[:] = 0.0
        T[:kept, :kept] = block
        T[kept, :kept] = b @ Z
        if symmetric:
            T[:kept, kept] = T[kept, :kept]
        else:
            T[:kept, kept] = 0.0  # filled by the next product's h
        j = kept
    vals, vecs = _finish(op, V[:p], theta[:k], S[:, :k], symmetric)
    return vals, vecs, KrylovInfo(name.lower(), prod.n, True, rel, restarts, m)


def _schur_keep(H: np.ndarray, theta: np.ndarray, keep: int, m: int):
    """Real Schur form of ``H`` with the ``keep`` (or ``keep + 1``, a conjugate pair) wanted eigenvalues first."""
    from scipy.linalg import schur

    for cut in (keep, max(1, keep - 1)):
        edge = theta[cut - 1].real
        tie = 1e-12 * max(1.0, float(np.abs(theta).max()))
        S, Z, sdim = schur(H, output="real", sort=lambda re, im, e=edge, t=tie: re >= e - t)
        if 0 < sdim < m:
            return Z[:, :sdim], S[:sdim, :sdim], int(sdim)
    raise FloatingPointError("the Arnoldi restart could not separate the wanted eigenvalues (ties in real part).")


def _finish(op, Vb: torch.Tensor, theta: np.ndarray, S: np.ndarray, symmetric: bool):
    """Ritz values and unit Ritz vectors ``(size, k)`` on the operator's device, the only (k x p x size) work."""
    dev = op.device
    if symmetric:
        X = torch.as_tensor(S.T.copy(), device=dev) @ Vb
        X = X / X.norm(dim=1, keepdim=True)
        return torch.as_tensor(theta.copy(), device=dev).to(op.dtype), X.T.contiguous().to(op.dtype)
    Sr = torch.as_tensor(S.real.T.copy(), device=dev)
    Si = torch.as_tensor(S.imag.T.copy(), device=dev)
    X = torch.complex(Sr @ Vb, Si @ Vb)
    X = X / X.norm(dim=1, keepdim=True)
    ctype = _complex_of(op.dtype)
    return torch.as_tensor(theta.astype(np.complex128), device=dev).to(ctype), X.T.contiguous().to(ctype)


def _complex_of(dtype: torch.dtype) -> torch.dtype:
    return torch.complex128 if dtype == torch.float64 else torch.complex64


# ----------------------------------------------------------------------------- power iteration


def _power(op, v, *, tol: float, max_matvec: int, callback):
    """Power iteration stopped when ``||A v - theta v|| <= tol |theta|`` (``theta = v^T A v``, ``|v| = 1``)."""
    prod = _Products(op)
    while True:
        w = prod(v).to(torch.float64)
        theta = float(v @ w)
        r = w - theta * v
        res = float(r.norm())
        if not (math.isfinite(res) and math.isfinite(theta)):
            raise prod.not_finite()
        if callback is not None:
            callback(prod.n, np.array([theta]))
        rel = res / abs(theta) if theta != 0 else math.inf
        if res <= tol * abs(theta) or res == 0.0:
            break
        if prod.n >= max_matvec:
            info = KrylovInfo("power", prod.n, False, np.array([rel]), 0, 1)
            raise NotConvergedError(
                f"power iteration did not reach tol={tol:g} in max_matvec={max_matvec} products (relative residual "
                f"{rel:.2g}, estimate {theta:.6g}); the top two eigenvalues are close in modulus: raise max_matvec "
                "or use method='lanczos'.",
                torch.tensor([theta], dtype=op.dtype, device=op.device),
                v.to(op.dtype).reshape(-1, 1),
                info,
            )
        wn = float(w.norm())
        v = w / wn
    return theta, v, KrylovInfo("power", prod.n, True, np.array([rel]), 0, 1)


# ----------------------------------------------------------------------------- ARPACK


class _Budget(Exception):
    pass


def _arpack(op, v, *, k: int, tol: float, max_matvec: int, m: int, symmetric: bool):
    from scipy.sparse.linalg import ArpackNoConvergence, eigs, eigsh
    from scipy.sparse.linalg import LinearOperator as ScipyOperator

    prod = _Products(op)

    def mv(x):
        if prod.n >= max_matvec:
            raise _Budget
        xt = torch.as_tensor(np.ascontiguousarray(x).reshape(-1), device=op.device).to(op.dtype)
        out = prod(xt).to(torch.float64).cpu().numpy()
        if not np.isfinite(out).all():
            raise prod.not_finite()
        return out

    solver, which = (eigsh, "LA") if symmetric else (eigs, "LR")
    A = ScipyOperator((op.size, op.size), matvec=mv, dtype=np.float64)
    ncv = min(op.size, m) if symmetric else min(op.size, max(m, 2 * k + 1))
    try:
        vals, vecs = solver(A, k=k, which=which, tol=tol, ncv=ncv, v0=v.cpu().numpy(), maxiter=max_matvec)
    except (_Budget, ArpackNoConvergence) as err:
        info = KrylovInfo("arpack", prod.n, False, None, 0, ncv)
        why = f"max_matvec={max_matvec} products" if isinstance(err, _Budget) else "its restart limit"
        raise NotConvergedError(
            f"ARPACK ({solver.__name__}) did not reach tol={tol:g} within {why} ({prod.n} products); raise "
            "max_matvec or loosen tol.",
            info=info,
        ) from None
    order = np.lexsort((-vals.imag, -vals.real)) if np.iscomplexobj(vals) else np.argsort(-vals)
    vals, vecs = vals[order], vecs[:, order]
    if symmetric:
        out_vals = torch.as_tensor(vals.copy(), device=op.device).to(op.dtype)
        out_vecs = torch.as_tensor(vecs.copy(), device=op.device).to(op.dtype)
    else:
        ctype = _complex_of(op.dtype)
        out_vals = torch.as_tensor(vals.astype(np.complex128), device=op.device).to(ctype)
        out_vecs = torch.as_tensor(vecs.astype(np.complex128), device=op.device).to(ctype)
    return out_vals, out_vecs, KrylovInfo("arpack", prod.n, True, None, 0, ncv)


# ----------------------------------------------------------------------------- the entry point


def top_eig(
    op,
    *,
    k: int = 1,
    tol: float = 1e-6,
    max_matvec: int = 10_000,
    method: str = "lanczos",
    v0: torch.Tensor | None = None,
    seed: int = 0,
    max_basis: int | None = None,
    return_info: bool = False,
    callback=None,
):
    """The ``k`` wanted eigenpairs of an :class:`Operator`, and the number of products used.

    Wanted: the largest algebraic eigenvalues for ``op.symmetric`` (ARPACK's ``which='LA'``), the
    largest real parts otherwise (``'LR'``; a complex-conjugate pair comes ``+imag`` first). Used in
    chapter 4, the parameter Hessian and J_eff (Hessian-vector and ``J_eff``-vector products).

    ``method``:

    - ``'lanczos'`` (default): for a symmetric operator, Lanczos with full re-orthogonalisation
      (classical Gram-Schmidt, a second pass when the first cancels more than ``1 - 1/sqrt(2)`` of the
      norm) and thick restart: when the basis holds ``m = max_basis`` vectors (default
      ``max(2k + 10, 20)``, at most ``size``) it keeps the ``keep = k + (m - k) // 2`` wanted Ritz vectors
      and the residual vector (Krylov-Schur form). The residual of each Ritz pair is read off the
      projected problem, ``|beta_j s_{j,i}|`` in the Lanczos case (no work of the operator's size), and
      the iteration stops when all ``k`` satisfy ``||A x_i - theta_i x_i|| <= tol |theta_i|``; the Ritz
      vectors are formed once, at the end. The basis is one preallocated float64 ``(m + 1, size)``
      tensor on ``op.device``, each vector a contiguous row. For a symmetric operator the eigenvalue
      error is then about ``(tol theta)^2 / gap``. For a non-symmetric operator the same call runs
      Arnoldi (Krylov-Schur restart with the wanted real Schur vectors). As with ARPACK, the answer is
      the ``k`` rightmost *converged Ritz values*: when many eigenvalues crowd the right edge of a
      non-symmetric spectrum (e.g. a filled disk) a small ``max_basis`` can settle on eigenvalues that
      are not the rightmost; keep the default basis (or larger) and, when it matters, confirm with a
      larger ``max_basis`` or another ``seed``. An eigenvalue below ``1e-12`` of the operator's scale is
      judged in absolute terms (a relative residual is meaningless at zero).
    - ``'arnoldi'``: Arnoldi even for a symmetric operator (a check; returns complex values).
    - ``'power'``: power iteration, ``k = 1`` only, stopped when ``||A v - theta v|| <= tol |theta|``
      (``theta`` the Rayleigh quotient). It finds the eigenvalue of largest *modulus* (a dominant
      negative one too) and needs about ``log(tol) / log|lambda_2 / lambda_1|`` products.
    - ``'arpack'``: ``scipy.sparse.linalg.eigsh`` (symmetric) or ``eigs`` with the same ``tol`` (ARPACK's
      rule is the same relative residual), ``ncv = max_basis``; every product goes through NumPy on the CPU.

    ``v0``: a start vector (e.g. the previous top eigenvector, a warm start); default a Gaussian
    one from ``seed``. ``max_matvec``: the product budget (at most :data:`MAX_MATVEC`); when it is
    spent before every residual meets ``tol`` the call raises :class:`NotConvergedError` (a
    ``RuntimeError`` whose message gives the residuals reached and whose ``eigvals``, ``eigvecs`` and
    ``info`` hold the best pairs). A product that is not finite raises ``FloatingPointError`` naming the
    product; one of the wrong shape, dtype or device a ``ValueError``/``TypeError``.

    Returns ``(eigvals (k,), eigvecs (size, k), n_matvec)``, on ``op.device``, eigenvalues in
    descending order (of real part), unit eigenvectors: in ``op.dtype`` for a symmetric operator
    (and for ``'power'`` on one), complex (``complex128`` for float64) otherwise. With
    ``return_info=True`` a :class:`KrylovInfo` is appended.

    ``callback(n_matvec, ritz_values)``, if given, is called after every product with the
    current estimates of the wanted eigenvalues (a NumPy array, best first: the top Ritz values
    of the projected problem, or power iteration's Rayleigh quotient); it costs nothing of the
    operator's size (benchmarks use it to see when an estimate reaches a reference). Not with
    ``'arpack'``, whose iterations are inside SciPy.
    """
    _check_operator(op)
    size = int(op.size)
    k = check_positive("k", k, integer=True)
    tol = check_positive("tol", tol)
    max_matvec = check_positive("max_matvec", max_matvec, integer=True)
    check_limit("max_matvec", max_matvec, "advnotes.krylov.MAX_MATVEC", MAX_MATVEC, what="the solver")
    seed = check_seed(seed)
    return_info = check_bool("return_info", return_info)
    if method not in _METHODS:
        raise ValueError(f"method must be one of {', '.join(map(repr, _METHODS))}, got {method!r}.")
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be None or a callable (n_matvec, ritz_values), got {type(callback).__name__}.")
    if callback is not None and method == "arpack":
        raise ValueError("callback is not available with method='arpack' (its iterations run inside SciPy).")
    if k >= size:
        raise ValueError(f"k={k} must be smaller than the operator's size {size}; use torch.linalg.eigh/eig for all.")
    symmetric = bool(op.symmetric) and method != "arnoldi"
    if max_basis is None:
        m = max(2 * k + 10, 20)
    else:
        m = check_positive("max_basis", max_basis, integer=True)
        if m < k + 2:
            raise ValueError(f"max_basis={m} must be at least k + 2 = {k + 2} (the kept vectors and room to grow).")
    m = min(m, size)
    if method == "arpack" and not symmetric and k >= size - 1:
        raise ValueError(f"ARPACK's eigs needs k < size - 1 for a non-symmetric operator; got k={k}, size={size}.")
    v = _start(op, v0, seed)
    if method == "power":
        if k != 1:
            raise ValueError("method='power' finds one eigenpair; use k=1, or method='lanczos' for k > 1.")
        theta, x, info = _power(op, v, tol=tol, max_matvec=max_matvec, callback=callback)
        if op.symmetric:
            vals = torch.tensor([theta], dtype=op.dtype, device=op.device)
            vecs = x.to(op.dtype).reshape(-1, 1)
        else:
            ctype = _complex_of(op.dtype)
            vals = torch.tensor([theta], dtype=ctype, device=op.device)
            vecs = x.to(ctype).reshape(-1, 1)
    elif method == "arpack":
        vals, vecs, info = _arpack(op, v, k=k, tol=tol, max_matvec=max_matvec, m=m, symmetric=bool(op.symmetric))
    else:
        keep = min(k + (m - k) // 2, m - 1)
        knobs = dict(k=k, tol=tol, max_matvec=max_matvec, m=m, keep=keep, symmetric=symmetric, seed=seed)
        vals, vecs, info = _krylov(op, v, callback=callback, **knobs)
    return (vals, vecs, info.n_matvec, info) if return_info else (vals, vecs, info.n_matvec)
