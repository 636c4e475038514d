"""advnotes.krylov against independent oracles: prescribed spectra, torch.linalg.eigh and numpy.linalg.eig.

Matrices are ``Q diag(lam) Q^T`` (random orthogonal ``Q``) with a prescribed spectrum, or
``X diag(lam) X^{-1}`` / a real block form for non-symmetric ones, so the exact answer is known
apart from the solver under test.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from advnotes import krylov
from advnotes.krylov import DenseOperator, LinearOperator, NotConvergedError, top_eig

N = 200


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def orthogonal(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(n, n, dtype=torch.float64, generator=g))
    return q * torch.sign(torch.diagonal(r))


def with_spectrum(lam, seed: int = 0) -> torch.Tensor:
    lam = torch.as_tensor(lam, dtype=torch.float64)
    Q = orthogonal(lam.numel(), seed)
    A = (Q * lam) @ Q.T
    return (A + A.T) / 2


def spectrum(top, *, n: int = N, low: float = -0.5, high: float | None = None, seed: int = 0) -> torch.Tensor:
    """``top`` (descending) followed by a bulk uniform in [low, high] (default: 90 % of the last top value)."""
    top = list(top)
    high = 0.9 * top[-1] if high is None else high
    g = torch.Generator().manual_seed(seed + 100)
    bulk = low + (high - low) * torch.rand(n - len(top), dtype=torch.float64, generator=g)
    return torch.cat([torch.tensor(top, dtype=torch.float64), bulk])


def check_symmetric_pairs(A, vals, vecs, k, *, tol, rel=1e-10):
    exact, U = torch.linalg.eigh(A)
    exact, U = exact.flip(0)[:k], U.flip(1)[:, :k]
    assert vals.shape == (k,) and vecs.shape == (A.shape[0], k)
    assert torch.all(vals[:-1] >= vals[1:])
    assert torch.allclose(vals, exact, rtol=rel, atol=0), (vals - exact).abs().max()
    res = (A @ vecs - vecs * vals).norm(dim=0)
    assert torch.all(res <= 1.5 * tol * vals.abs()), res / vals.abs()
    assert torch.allclose(vecs.norm(dim=0), torch.ones(k, dtype=vecs.dtype), atol=1e-12)
    return exact, U


# ----------------------------------------------------------------------------- Lanczos against eigh


CASES = {
    "gap at k": ([4.0, 3.0, 2.5, 2.0], 4),
    "ratio 0.97": ([1.0, 0.97, 0.9], 1),
    "ratio 0.999 (both in the cluster)": ([1.0, 0.999, 0.8], 2),
    "ratio 0.999 (one of the cluster)": ([1.0, 0.999, 0.8], 1),
    "negative eigenvalues dominate in modulus": ([1.0, 0.8, 0.7], 3),
}


@pytest.mark.parametrize("name", list(CASES))
def test_lanczos_matches_eigh_on_known_spectra(name):
    top, k = CASES[name]
    low = -3.0 if "negative" in name else -0.5
    A = with_spectrum(spectrum(top, low=low))
    tol = 1e-9
    vals, vecs, n, info = top_eig(DenseOperator(A), k=k, tol=tol, return_info=True)
    assert info.converged and n == info.n_matvec and vals.dtype == torch.float64
    assert torch.allclose(vals, torch.tensor(top[:k], dtype=torch.float64), rtol=1e-10, atol=0)
    exact, U = check_symmetric_pairs(A, vals, vecs, k, tol=tol)
    # eigenvectors up to sign; inside the 0.999 cluster the angle is at most residual / gap
    gaps = torch.tensor([min(abs(top[i] - t) for j, t in enumerate(top) if j != i) for i in range(k)])
    gaps = torch.minimum(gaps, torch.tensor(top[:k]) - 0.9 * top[-1])
    sin = (vecs - U * (U * vecs).sum(0)).norm(dim=0)  # |x - (u.x) u|, not sqrt(1 - (u.x)^2) (cancellation)
    assert torch.all(sin <= 2 * tol * vals.abs() / gaps.double() + 1e-12), sin


def test_thick_restart_engages_and_converges():
    A = with_spectrum(spectrum([1.0, 0.97, 0.95, 0.9]))
    vals, vecs, n, info = top_eig(DenseOperator(A), k=3, tol=1e-10, max_basis=8, return_info=True)
    assert info.basis_size == 8 and info.restarts >= 3 and n > 8
    check_symmetric_pairs(A, vals, vecs, 3, tol=1e-10)
    # the default basis (m = 20) needs fewer products than the small one
    assert top_eig(DenseOperator(A), k=3, tol=1e-10)[2] < n


def test_lanczos_beats_power_iteration_and_arpack_agrees():
    A = with_spectrum(spectrum([1.0, 0.97], high=0.9))
    op = DenseOperator(A)
    lv, _, ln = top_eig(op, k=1, tol=1e-8)
    pv, pvec, pn = top_eig(op, k=1, tol=1e-8, method="power")
    av, avec, an = top_eig(op, k=3, tol=1e-10, method="arpack")
    assert ln < pn / 5
    check_symmetric_pairs(A, av, avec, 3, tol=1e-10)
    assert abs(lv - 1.0) < 1e-12 and abs(pv - 1.0) < 1e-12 and an > 0


def test_arpack_counts_its_products():
    A = with_spectrum(spectrum([2.0, 1.0]))
    calls = []
    op = LinearOperator(lambda v: calls.append(1) or A @ v, N, symmetric=True)
    vals, _, n = top_eig(op, k=2, tol=1e-8, method="arpack")
    assert n == len(calls) and torch.allclose(vals, torch.tensor([2.0, 1.0], dtype=torch.float64), rtol=1e-10)


# ----------------------------------------------------------------------------- power iteration


@pytest.mark.parametrize("tol", [1e-4, 1e-6])
def test_power_iteration_meets_its_tolerance_at_ratio_097(tol):
    """The old power iteration (change of the estimate) missed tol=1e-4 by 3.8x at lambda_2/lambda_1 = 0.97.

    Bounds asserted (A symmetric, |v| = 1, theta = v^T A v, r = |A v - theta v| <= tol |theta|):
    some eigenvalue lies within r of theta (Krylov-Bogoliubov), hence |theta - lambda_1| <= tol lambda_1;
    and as theta > lambda_2, Kato-Temple gives lambda_1 - theta <= r^2 / (theta - lambda_2), and the angle
    to the eigenvector obeys sin <= r / (theta - lambda_2) (Davis-Kahan).
    """
    lam1, lam2 = 1.0, 0.97
    A = with_spectrum(spectrum([lam1, lam2], low=-0.9, high=0.9), seed=3)
    vals, vecs, n, info = top_eig(DenseOperator(A), k=1, tol=tol, method="power", max_matvec=5000, return_info=True)
    theta = float(vals[0])
    r = float((A @ vecs[:, 0] - theta * vecs[:, 0]).norm())
    assert info.converged and r <= tol * abs(theta) * (1 + 1e-9)
    assert abs(theta - lam1) <= tol * lam1
    assert theta > lam2 and 0 <= lam1 - theta <= r * r / (theta - lam2) * (1 + 1e-6) + 1e-15
    u = torch.linalg.eigh(A)[1][:, -1]
    sin = float((vecs[:, 0] - (u @ vecs[:, 0]) * u).norm())
    assert sin <= r / (theta - lam2) * (1 + 1e-6) + 1e-12
    # about log(tol) / log(0.97) products, not more than twice that
    assert n <= 2 * math.log(tol) / math.log(lam2 / lam1)


def test_power_iteration_finds_the_dominant_modulus():
    lam = spectrum([1.0, 0.5], low=-0.4)
    lam[-1] = -3.0
    A = with_spectrum(lam)
    assert abs(float(top_eig(DenseOperator(A), k=1, tol=1e-8, method="power")[0][0]) + 3.0) < 1e-12
    assert abs(float(top_eig(DenseOperator(A), k=1, tol=1e-8)[0][0]) - 1.0) < 1e-12  # Lanczos: largest algebraic


# ----------------------------------------------------------------------------- non-symmetric: Arnoldi


def similar(lam_blocks, seed: int) -> torch.Tensor:
    """``X B X^{-1}``: ``B`` block diagonal (1x1 real, 2x2 [[a, b], [-b, a]] for a + ib), ``X`` well conditioned."""
    n = sum(1 if isinstance(x, float) else 2 for x in lam_blocks)
    B = torch.zeros(n, n, dtype=torch.float64)
    i = 0
    for x in lam_blocks:
        if isinstance(x, float):
            B[i, i] = x
            i += 1
        else:
            B[i : i + 2, i : i + 2] = torch.tensor([[x.real, x.imag], [-x.imag, x.real]])
            i += 2
    g = torch.Generator().manual_seed(seed)
    X = orthogonal(n, seed) + 0.3 * torch.randn(n, n, dtype=torch.float64, generator=g) / math.sqrt(n)
    return X @ B @ torch.linalg.inv(X)


def eig_sorted(M: torch.Tensor):
    w, V = np.linalg.eig(M.numpy())
    order = np.lexsort((-w.imag, -w.real))
    return w[order], V[:, order]


def bulk(n: int, radius: float, seed: int) -> list:
    """``n`` eigenvalues (real and conjugate pairs) with real part below ``radius``."""
    rng = np.random.default_rng(seed)
    out, count = [], 0
    while count < n:
        if count < n - 1 and rng.random() < 0.5:
            out.append(complex(rng.uniform(-radius, radius), rng.uniform(0.05, radius)))
            count += 2
        else:
            out.append(float(rng.uniform(-radius, radius)))
            count += 1
    return out


@pytest.mark.parametrize("top", [[2.0, 1.5], [complex(1.8, 0.6)]], ids=["real top", "complex pair on top"])
def test_arnoldi_matches_numpy_eig(top):
    M = similar(top + bulk(N - (1 if isinstance(top[0], float) else 2) * len(top), 1.0, seed=1), seed=2)
    op = DenseOperator(M)
    assert not op.symmetric
    k = 2
    vals, vecs, n, info = top_eig(op, k=k, tol=1e-10, return_info=True)
    assert vals.dtype == torch.complex128 and vecs.shape == (N, k) and info.method == "arnoldi"
    w, _ = eig_sorted(M)
    assert np.allclose(vals.numpy(), w[:k], rtol=1e-9, atol=0), (vals.numpy(), w[:k])
    res = (M.to(torch.complex128) @ vecs - vecs * vals).norm(dim=0)
    assert torch.all(res <= 1e-8 * vals.abs()), res
    if isinstance(top[0], complex):
        assert vals[0].imag > 0 and torch.allclose(vals[1], vals[0].conj())
    av = top_eig(op, k=k, tol=1e-10, method="arpack")[0]
    assert np.allclose(av.numpy(), w[:k], rtol=1e-8)


def test_arnoldi_restarts_and_runs_on_a_symmetric_operator():
    A = with_spectrum(spectrum([1.0, 0.97, 0.95]))
    vals, vecs, n, info = top_eig(DenseOperator(A), k=2, tol=1e-10, method="arnoldi", max_basis=10, return_info=True)
    assert info.restarts > 0 and vals.dtype == torch.complex128
    assert torch.allclose(vals.real, torch.tensor([1.0, 0.97], dtype=torch.float64), rtol=1e-10)
    assert vals.imag.abs().max() < 1e-10


def test_power_iteration_on_a_nonsymmetric_operator_returns_complex():
    M = similar([2.0] + bulk(N - 1, 1.0, seed=4), seed=5)
    vals, vecs, _ = top_eig(DenseOperator(M), method="power", tol=1e-8)
    assert vals.dtype == torch.complex128 and abs(complex(vals[0]) - 2.0) < 1e-6


# ----------------------------------------------------------------------------- the callback, invariant spaces


def test_callback_sees_every_product_and_the_ritz_values_rise():
    """Lanczos' top Ritz value after each product (Cauchy interlacing: it only grows without a restart)."""
    A = with_spectrum(spectrum([1.0, 0.95], high=0.8))
    seen = []
    vals, _, n = top_eig(DenseOperator(A), k=2, tol=1e-10, callback=lambda count, ritz: seen.append((count, ritz)))
    assert [c for c, _ in seen] == list(range(1, n + 1))
    top = [float(r[0]) for _, r in seen]
    assert all(b >= a - 1e-12 for a, b in zip(top, top[1:]))
    assert top[-1] == pytest.approx(float(vals[0]), abs=1e-14) and len(seen[-1][1]) == 2
    power = []
    pv, _, pn = top_eig(DenseOperator(A), tol=1e-8, method="power", callback=lambda c, r: power.append(float(r[0])))
    assert len(power) == pn and power[-1] == pytest.approx(float(pv[0]), abs=1e-14)
    with pytest.raises(ValueError, match="callback is not available with method='arpack'"):
        top_eig(DenseOperator(A), method="arpack", callback=print)
    with pytest.raises(TypeError, match="callback must be None or a callable"):
        top_eig(DenseOperator(A), callback="print")


def test_lanczos_stops_on_an_invariant_krylov_space():
    """Three distinct eigenvalues (5, 2, 0): span{v0, A v0, A^2 v0} is invariant, so Lanczos stops after 3 products."""
    A = with_spectrum(torch.cat([torch.tensor([5.0, 2.0]), torch.zeros(48)]).tolist())
    calls = []
    op = LinearOperator(lambda v: calls.append(1) or A @ v, 50, symmetric=True)
    vals, _, n = top_eig(op, k=2, tol=1e-12)
    assert n == len(calls) == 3
    assert torch.allclose(vals, torch.tensor([5.0, 2.0], dtype=torch.float64), rtol=1e-12, atol=0)


# ----------------------------------------------------------------------------- odd but valid


def test_float32_operator_small_sizes_and_warm_start():
    A = with_spectrum(spectrum([3.0, 2.0, 1.5]))
    vals, vecs, _ = top_eig(DenseOperator(A.float()), k=2, tol=1e-5)
    assert vals.dtype == torch.float32 and vecs.dtype == torch.float32
    assert torch.allclose(vals.double(), torch.tensor([3.0, 2.0], dtype=torch.float64), rtol=1e-5)
    # a Krylov space that is the whole space (size 5 < m) and one that is invariant early (rank 2)
    small = with_spectrum([5.0, 4.0, 3.0, -1.0, 0.5])
    assert torch.allclose(top_eig(DenseOperator(small), k=4, tol=1e-12)[0], torch.tensor([5.0, 4.0, 3.0, 0.5]).double())
    low_rank = with_spectrum([2.0, 1.0] + [0.0] * 48)
    vals, _, n = top_eig(DenseOperator(low_rank), k=3, tol=1e-10)
    assert n <= 4 and torch.allclose(vals, torch.tensor([2.0, 1.0, 0.0]).double(), atol=1e-12)
    # the exact top eigenvector as v0 converges after one product
    u = torch.linalg.eigh(A)[1][:, -1]
    assert top_eig(DenseOperator(A), k=1, tol=1e-10, v0=u)[2] == 1


def test_everything_stays_on_the_operator_device():
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    A = with_spectrum(spectrum([1.0, 0.9])).to(dev)
    for method in ("lanczos", "arnoldi", "power", "arpack"):
        vals, vecs, _ = top_eig(DenseOperator(A), tol=1e-8, method=method)
        assert vals.device == dev and vecs.device == dev
        assert abs(complex(vals[0].cpu()) - 1.0) < 1e-7


# ----------------------------------------------------------------------------- errors


def nan_at(count: int):
    calls = [0]
    A = with_spectrum(spectrum([1.0, 0.9]))

    def mv(v):
        calls[0] += 1
        out = A @ v
        return out * float("nan") if calls[0] == count else out

    return LinearOperator(mv, N, symmetric=True)


@pytest.mark.parametrize("method", ["lanczos", "arnoldi", "power", "arpack"])
def test_non_finite_product_is_named(method):
    with pytest.raises(FloatingPointError, match="product 3 of the operator"):
        top_eig(nan_at(3), tol=1e-12, method=method)


def test_bad_arguments_are_refused():
    A = with_spectrum(spectrum([1.0, 0.9]))
    op = DenseOperator(A)
    with pytest.raises(ValueError, match=f"k={N} must be smaller than the operator's size {N}"):
        top_eig(op, k=N)
    with pytest.raises(ValueError, match="method must be one of"):
        top_eig(op, method="qr")
    with pytest.raises(ValueError, match="use k=1"):
        top_eig(op, k=2, method="power")
    with pytest.raises(ValueError, match=r"v0 must have shape \(200,\)"):
        top_eig(op, v0=torch.ones(3, dtype=torch.float64))
    with pytest.raises(ValueError, match="zero vector"):
        top_eig(op, v0=torch.zeros(N, dtype=torch.float64))
    with pytest.raises(TypeError, match="wrap a matrix in DenseOperator"):
        top_eig(A)
    with pytest.raises(ValueError, match="max_basis=2 must be at least k \\+ 2"):
        top_eig(op, k=1, max_basis=2)


def test_wrong_matvec_output_is_refused():
    wrong_shape = LinearOperator(lambda v: torch.cat([v, v]), N, symmetric=True)
    with pytest.raises(ValueError, match=r"output must have shape \(200,\)"):
        top_eig(wrong_shape)

    class Raw:
        size, dtype, device, symmetric = N, torch.float64, torch.device("cpu"), True

        def matvec(self, v):
            return v.float()

    with pytest.raises(TypeError, match="returned torch.float32 at product 1"):
        top_eig(Raw())


@pytest.mark.parametrize("method", ["lanczos", "arnoldi", "power", "arpack"])
def test_budget_spent_raises_with_the_residuals(method):
    A = with_spectrum(spectrum([1.0, 0.999], high=0.99))
    with pytest.raises(NotConvergedError, match="did not reach tol=1e-12") as err:
        top_eig(DenseOperator(A), k=1, tol=1e-12, max_matvec=12, method=method)
    assert isinstance(err.value, RuntimeError) and not err.value.info.converged
    assert err.value.info.n_matvec <= 12
    if method != "arpack":
        assert "residual" in str(err.value) and err.value.eigvals is not None


def test_max_matvec_limit_can_be_raised(monkeypatch):
    op = DenseOperator(with_spectrum(spectrum([1.0, 0.5])))
    monkeypatch.setattr(krylov, "MAX_MATVEC", 10)
    with pytest.raises(ValueError, match=r"max_matvec=11 is above advnotes\.krylov\.MAX_MATVEC = 10"):
        top_eig(op, max_matvec=11)


def test_dense_operator_checks_symmetry():
    M = similar([2.0, 1.0, 0.5], seed=0)
    assert not DenseOperator(M).symmetric and DenseOperator(M + M.T).symmetric
    assert not DenseOperator(M + M.T, symmetric=False).symmetric
    with pytest.raises(ValueError, match="not symmetric"):
        DenseOperator(M, symmetric=True)
