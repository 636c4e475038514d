"""Tests of advnotes.theory (chapter 2) against independent oracles: exact rational arithmetic,
the iterated recurrence, autograd, the matrix exponential, an ODE solver, scipy's Lambert W
and the attacks of advnotes.attacks; plus bad-input tests for every public function."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp
from scipy.special import lambertw

from advnotes import stats, theory
from advnotes.attacks import gradient_ascent, gradient_ascent_path
from advnotes.curvature import input_gradient, input_hessian, input_hessian_eig
from advnotes.linear_regions import FrozenGates, local_linear_map
from advnotes.models import mlp
from advnotes.training import train

D = torch.float64


def random_spectrum(B=4, n=7, eigvals=None, seed=0):
    """Random orthonormal eigenvectors (B, n, n) with given eigenvalues; returns (lam, V, H)."""
    gen = torch.Generator().manual_seed(seed)
    V = torch.linalg.qr(torch.randn(B, n, n, dtype=D, generator=gen)).Q
    if eigvals is None:
        eigvals = torch.randn(B, n, dtype=D, generator=gen)
    lam = torch.as_tensor(eigvals, dtype=D).expand(B, n).clone()
    H = V @ torch.diag_embed(lam) @ V.transpose(1, 2)
    return lam, V, 0.5 * (H + H.transpose(1, 2))


def rel(a, b):
    return float(((a - b).norm(dim=-1) / b.norm(dim=-1).clamp_min(1e-300)).max())


# ----------------------------------------------------------------------------- growth factors


def exact_c(lam, a, m):
    lam_f, a_f = Fraction(lam), Fraction(a)
    return m * a_f if lam_f == 0 else ((1 + a_f * lam_f) ** m - 1) / lam_f


@pytest.mark.parametrize("a,m", [(0.1, 1), (0.1, 30), (0.01, 200), (0.7, 13)])
def test_growth_factor_matches_exact_rationals(a, m):
    lams = [0.0, 1e-300, 1e-17, 1e-9, 1e-4, 0.3, 2.0, -1e-12, -0.5]
    ours = theory.growth_factor(torch.tensor(lams, dtype=D), step_size=a, steps=m)
    for lam, c in zip(lams, ours.tolist(), strict=True):
        ex = float(exact_c(lam, a, m))
        assert abs(c - ex) <= 1e-13 * abs(ex), (lam, c, ex)


def test_growth_factor_oscillating_branch():
    # 1 + a*lam <= 0 (a negative eigenvalue and a big step): the power is used directly.
    lam = torch.tensor([-30.0, -10.0, -25.0], dtype=D)
    for m in (1, 2, 5, 8):
        ours = theory.growth_factor(lam, step_size=0.1, steps=m)
        for lv, c in zip(lam.tolist(), ours.tolist(), strict=True):
            assert c == pytest.approx(float(exact_c(lv, 0.1, m)), rel=1e-13)


def test_growth_factor_steps_zero_and_one():
    lam = torch.tensor([0.0, 1e-8, 0.5, 3.0], dtype=D)
    assert torch.equal(theory.growth_factor(lam, step_size=0.2, steps=0), torch.zeros_like(lam))
    assert torch.allclose(theory.growth_factor(lam, step_size=0.2, steps=1), torch.full_like(lam, 0.2), rtol=1e-15)


def test_growth_factor_overflow_raises_clearly():
    lam = torch.tensor([1.0], dtype=D)
    with pytest.raises(OverflowError, match="overflows torch.float64"):
        theory.growth_factor(lam, step_size=1.0, steps=2000)
    with pytest.raises(OverflowError, match="overflows torch.float32"):
        theory.growth_factor(lam.float(), step_size=1.0, steps=200)  # fine in float64
    assert torch.isfinite(theory.growth_factor(lam, step_size=1.0, steps=200)).all()
    with pytest.raises(OverflowError):
        theory.flow_factor(lam, t=1000.0)


def test_flow_factor_matches_expm1_and_limit():
    lam = torch.tensor([0.0, 1e-300, 1e-12, 0.3, -2.0, 5.0], dtype=D)
    t = 1.7
    ours = theory.flow_factor(lam, t=t)
    for lv, c in zip(lam.tolist(), ours.tolist(), strict=True):
        ex = t if lv == 0 or abs(lv * t) < 1e-15 else math.expm1(lv * t) / lv
        assert c == pytest.approx(ex, rel=1e-14)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"step_size": 0.0, "steps": 3},
        {"step_size": -0.1, "steps": 3},
        {"step_size": float("nan"), "steps": 3},
        {"step_size": 0.1, "steps": 2.5},
        {"step_size": 0.1, "steps": -1},
        {"step_size": 0.1, "steps": True},
    ],
)
def test_growth_factor_bad_knobs(kwargs):
    with pytest.raises(ValueError):
        theory.growth_factor(torch.ones(2, dtype=D), **kwargs)


def test_factors_bad_eigvals():
    with pytest.raises(TypeError):
        theory.growth_factor(torch.ones(2, dtype=torch.long), step_size=0.1, steps=2)
    with pytest.raises(ValueError, match="non-finite"):
        theory.growth_factor(torch.tensor([1.0, float("nan")], dtype=D), step_size=0.1, steps=2)
    with pytest.raises(ValueError):
        theory.flow_factor(torch.ones(2, dtype=D), t=-1.0)
    with pytest.raises(TypeError):
        theory.flow_factor([1.0, 2.0], t=1.0)


# ----------------------------------------------------------------------------- closed form and flow


@pytest.mark.parametrize("a,m", [(0.01, 1), (0.1, 7), (0.3, 40), (1.0, 15)])
def test_closed_form_equals_iterated_recurrence_full_spectrum(a, m):
    lam, V, H = random_spectrum(eigvals=torch.tensor([2.0, 1.0, 0.5, 0.1, 0.0, 1e-13, -0.3]))
    g = torch.randn(4, 7, dtype=D, generator=torch.Generator().manual_seed(1))
    closed = theory.perturbation_closed_form(lam, V, g, step_size=a, steps=m)
    iterated = theory.iterate_quadratic_attack(H, g, step_size=a, steps=m)
    assert rel(closed, iterated) < 1e-10


def test_closed_form_partial_spectrum_keeps_the_null_part():
    # Only 3 of 7 eigenpairs given: H is zero elsewhere, and g has a part there (g_perp).
    lam, V, _ = random_spectrum(eigvals=torch.tensor([1.5, 0.7, 0.2, 0, 0, 0, 0]))
    Vk, lk = V[:, :, :3], lam[:, :3]
    H = Vk @ torch.diag_embed(lk) @ Vk.transpose(1, 2)
    g = torch.randn(4, 7, dtype=D, generator=torch.Generator().manual_seed(2))
    for a, m in [(0.1, 5), (0.5, 20)]:
        closed = theory.perturbation_closed_form(lk, Vk, g, step_size=a, steps=m)
        assert rel(closed, theory.iterate_quadratic_attack(H, g, step_size=a, steps=m)) < 1e-10


def test_iterated_recurrence_is_gradient_ascent_on_the_quadratic_loss():
    # Oracle for the oracle: autograd on L(d) = g^T d + d^T H d / 2, one example at a time.
    lam, V, H = random_spectrum(B=3, n=5)
    g = torch.randn(3, 5, dtype=D, generator=torch.Generator().manual_seed(3))
    out = theory.iterate_quadratic_attack(H, g, step_size=0.05, steps=6)
    for b in range(3):
        d = torch.zeros(5, dtype=D)
        for _ in range(6):
            d_ = d.clone().requires_grad_(True)
            (grad,) = torch.autograd.grad(g[b] @ d_ + 0.5 * d_ @ H[b] @ d_, d_)
            d = d + 0.05 * grad
        assert torch.allclose(out[b], d, rtol=1e-13, atol=1e-15)


def test_closed_form_first_steps():
    lam, V, _ = random_spectrum()
    g = torch.randn(4, 7, dtype=D)
    assert torch.equal(theory.perturbation_closed_form(lam, V, g, step_size=0.3, steps=0), torch.zeros_like(g))
    assert rel(theory.perturbation_closed_form(lam, V, g, step_size=0.3, steps=1), 0.3 * g) < 1e-14


def test_flow_matches_matrix_exponential():
    # delta(t) = int_0^t e^{Hs} ds g is the top-right block of exp([[H, g], [0, 0]] t).
    lam, V, H = random_spectrum(eigvals=torch.tensor([1.2, 0.5, 0.0, 1e-14, -0.4, -1.0, 0.05]))
    g = torch.randn(4, 7, dtype=D, generator=torch.Generator().manual_seed(4))
    t = 1.3
    M = torch.zeros(4, 8, 8, dtype=D)
    M[:, :7, :7], M[:, :7, 7] = H, g
    oracle = torch.linalg.matrix_exp(M * t)[:, :7, 7]
    assert rel(theory.perturbation_flow(lam, V, g, t=t), oracle) < 1e-12
    assert torch.equal(theory.perturbation_flow(lam, V, g, t=0.0), torch.zeros_like(g))


def test_discrete_tends_to_flow_at_first_order():
    lam, V, _ = random_spectrum(eigvals=torch.tensor([1.0, 0.5, 0.2, 0.0, 0.0, 0.0, 0.0]))
    g = torch.randn(4, 7, dtype=D)
    flow = theory.perturbation_flow(lam, V, g, t=2.0)
    errs = [rel(theory.perturbation_closed_form(lam, V, g, step_size=2.0 / m, steps=m), flow) for m in (100, 200, 400)]
    assert errs[0] > errs[1] > errs[2]
    for e0, e1 in zip(errs, errs[1:], strict=False):
        assert 1.8 < e0 / e1 < 2.2  # first order in alpha


def test_closed_form_on_network_matches_dense_iteration(trained_mlp, digits64):
    # Two independent routes: the C x C spectrum vs the dense n x n Hessian iterated.
    x, y = digits64.x_test[:16], digits64.y_test[:16]
    eigvals, eigvecs = input_hessian_eig(trained_mlp, x, y)
    g, H = input_hessian(trained_mlp, x, y)
    for a, m in [(0.1, 10), (1.0, 30)]:
        closed = theory.perturbation_closed_form(eigvals, eigvecs, g, step_size=a, steps=m)
        assert rel(closed, theory.iterate_quadratic_attack(H, g, step_size=a, steps=m)) < 1e-10


def test_first_step_equals_real_attack(trained_mlp, digits64):
    x, y = digits64.x_test[:32], digits64.y_test[:32]
    eigvals, eigvecs = input_hessian_eig(trained_mlp, x, y)
    g = input_gradient(trained_mlp, x, y)
    closed = theory.perturbation_closed_form(eigvals, eigvecs, g, step_size=0.2, steps=1)
    real = gradient_ascent(trained_mlp, x, y, step_size=0.2, steps=1)
    assert rel(closed, real) < 1e-9


def test_closed_form_overflow_is_an_error_not_inf():
    lam, V, _ = random_spectrum(eigvals=torch.tensor([3.0, 1, 0, 0, 0, 0, 0]))
    g = torch.randn(4, 7, dtype=D)
    with pytest.raises(OverflowError):
        theory.perturbation_closed_form(lam, V, g, step_size=1.0, steps=600)
    with pytest.raises(OverflowError):
        theory.perturbation_flow(lam, V, g, t=300.0)
    with pytest.raises(OverflowError, match="not finite"):  # each factor fits, the product does not
        theory.perturbation_closed_form(lam, V, g * 1e300, step_size=1.0, steps=300)


def test_closed_form_bad_inputs():
    lam, V, _ = random_spectrum()
    g = torch.randn(4, 7, dtype=D)
    with pytest.raises(ValueError, match="expected eigvals"):
        theory.perturbation_closed_form(lam[0], V, g, step_size=0.1, steps=2)
    with pytest.raises(ValueError, match="do not match"):
        theory.perturbation_closed_form(lam, V, g[:, :5], step_size=0.1, steps=2)
    with pytest.raises(ValueError, match="do not match"):
        theory.perturbation_closed_form(lam[:, :3], V, g, step_size=0.1, steps=2)
    with pytest.raises(TypeError, match="dtypes differ"):
        theory.perturbation_closed_form(lam.float(), V, g, step_size=0.1, steps=2)
    with pytest.raises(TypeError):
        theory.perturbation_closed_form(lam.numpy(), V, g, step_size=0.1, steps=2)
    bad = g.clone()
    bad[0, 0] = float("inf")
    with pytest.raises(ValueError, match="non-finite"):
        theory.perturbation_flow(lam, V, bad, t=1.0)
    with pytest.raises(ValueError):
        theory.perturbation_closed_form(lam, V, g, step_size=0.1, steps=1.5)
    with pytest.raises(ValueError):
        theory.perturbation_flow(lam, V, g, t=float("nan"))


def test_iterate_bad_inputs():
    with pytest.raises(ValueError):
        theory.iterate_quadratic_attack(torch.ones(2, 3, 3, dtype=D), torch.ones(2, 4, dtype=D), step_size=0.1, steps=1)
    with pytest.raises(TypeError):
        theory.iterate_quadratic_attack(np.ones((2, 3, 3)), torch.ones(2, 3, dtype=D), step_size=0.1, steps=1)
    with pytest.raises(OverflowError):
        theory.iterate_quadratic_attack(
            torch.eye(2, dtype=D)[None] * 1e3, torch.ones(1, 2, dtype=D), step_size=1.0, steps=200
        )


# ----------------------------------------------------------------------------- measurement helpers


def test_energy_on_top_against_projection_loop():
    lam, V, _ = random_spectrum()
    d = torch.randn(4, 7, dtype=D)
    for k in (1, 3, 7):
        ours = theory.energy_on_top(V, d, k)
        for b in range(4):
            proj = sum(float(V[b, :, i] @ d[b]) ** 2 for i in range(k))
            assert float(ours[b]) == pytest.approx(proj / float(d[b] @ d[b]), rel=1e-12)
    assert torch.allclose(theory.energy_on_top(V, d, 7), torch.ones(4, dtype=D))
    assert torch.allclose(theory.energy_on_top(V, V[:, :, 0] * 3.0, 1), torch.ones(4, dtype=D))


def test_energy_and_cosine_bad_inputs():
    lam, V, _ = random_spectrum()
    d = torch.randn(4, 7, dtype=D)
    with pytest.raises(ValueError, match="zero row"):
        theory.energy_on_top(V, torch.zeros(4, 7, dtype=D), 1)
    with pytest.raises(ValueError, match="exceeds"):
        theory.energy_on_top(V[:, :, :3], d, 4)
    with pytest.raises(ValueError):
        theory.energy_on_top(V, d, 0)
    with pytest.raises(ValueError):
        theory.energy_on_top(V, d[:, :5], 1)
    with pytest.raises(ValueError):
        stats.cosine(d, d[:, :5])
    with pytest.raises(ValueError, match="zero row"):
        stats.cosine(d, torch.zeros_like(d))
    assert float(stats.cosine(d[0], d[0])) == pytest.approx(1.0)  # two vectors: one cosine (0-d)
    with pytest.raises(ValueError):
        stats.cosine(d[0, 0], d[0, 0])  # a number has no direction


def test_cosine_against_torch():
    a, b = torch.randn(6, 2, 5, dtype=D), torch.randn(6, 2, 5, dtype=D)
    ref = torch.nn.functional.cosine_similarity(a.flatten(1), b.flatten(1), dim=1)
    assert torch.allclose(stats.cosine(a, b), ref, rtol=1e-13)


def test_binned_median_and_first_crossing():
    s = np.array([0.1, 0.2, 1.5, 2.5, 30.0])
    v = np.array([1.0, 3.0, 5.0, 7.0, 9.0])
    c, med, lo, hi = stats.binned_median(s, v, [0.05, 1.0, 10.0, 100.0])
    assert np.allclose(c, np.sqrt([0.05 * 1, 1 * 10, 10 * 100]))
    assert np.allclose(med, [2.0, 6.0, 9.0]) and np.allclose(lo, [1.5, 5.5, 9.0]) and np.allclose(hi, [2.5, 6.5, 9.0])
    xs = np.logspace(-2, 2, 9)
    assert stats.first_crossing(xs, xs**2, 0.1) == pytest.approx(0.1**0.5, rel=1e-12)  # exact on a power law
    assert stats.first_crossing(xs, xs**2, 1e6) == math.inf
    assert stats.first_crossing(xs, xs**2, 1e-9) == xs[0]
    with pytest.raises(ValueError):
        stats.binned_median(s, v[:3], [0.1, 1.0])
    with pytest.raises(ValueError):
        stats.binned_median(s, v, [1.0, 0.5])
    with pytest.raises(ValueError, match="no value"):
        stats.binned_median(s, v, [1e3, 1e4])
    with pytest.raises(ValueError):
        stats.first_crossing(xs[::-1], xs, 0.1)
    with pytest.raises(ValueError):
        stats.first_crossing(xs, -xs, 0.1)


# ----------------------------------------------------------------------------- the real attack


def test_gradient_ascent_path_equals_gradient_ascent(trained_mlp, digits64):
    x, y = digits64.x_test[:12], digits64.y_test[:12]
    for model in (trained_mlp, FrozenGates(trained_mlp, x)):
        path = gradient_ascent_path(model, x, y, step_size=0.4, record=[0, 1, 3, 9])
        assert sorted(path) == [0, 1, 3, 9]
        for m, d in path.items():
            assert torch.equal(d, gradient_ascent(model, x, y, step_size=0.4, steps=m))


def test_gradient_ascent_path_bad_inputs(trained_mlp, digits64):
    x, y = digits64.x_test[:4], digits64.y_test[:4]
    for record in ([], [-1, 2], None, 3):
        with pytest.raises(ValueError):
            gradient_ascent_path(trained_mlp, x, y, step_size=0.1, record=record)
    with pytest.raises(ValueError):
        gradient_ascent_path(trained_mlp, x, y, step_size=-0.1, record=[1])
    with pytest.raises(ValueError):
        gradient_ascent_path(trained_mlp, x, y[:3], step_size=0.1, record=[1])
    with pytest.raises(TypeError):
        gradient_ascent_path(trained_mlp, x.long(), y, step_size=0.1, record=[1])


def test_frozen_gates_is_the_affine_extension(trained_mlp, digits64):
    # The property chapter 2 relies on: far from x, FrozenGates(model, x) is still W(x) x' + b(x).
    x = digits64.x_test[:8]
    W, b = local_linear_map(trained_mlp, x)
    far = x + 5.0 * torch.randn(x.shape, dtype=D, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        out = FrozenGates(trained_mlp, x)(far)
    assert torch.allclose(out, torch.einsum("bcn,bn->bc", W, far) + b, rtol=1e-12, atol=1e-10)


# ----------------------------------------------------------------------------- two logits, exactly


def test_margin_flow_matches_lambertw_and_ode():
    u0, k = np.array([-1.0, 0.5, 2.0, 5.0]), np.array([0.3, 1.0, 2.5, 4.0])
    ts = np.array([0.0, 0.5, 3.0, 20.0])
    ours = theory.logit_margin_flow(u0[:, None], k[:, None], ts[None, :])
    C = u0[:, None] + np.exp(u0[:, None]) - k[:, None] * ts[None, :]
    direct = C - lambertw(np.exp(C)).real
    assert np.allclose(ours, direct, rtol=1e-12, atol=1e-12)
    assert np.array_equal(ours[:, 0], u0)
    for i in range(len(u0)):
        sol = solve_ivp(
            lambda t, u, k=k[i]: -k / (1 + np.exp(u)), (0, ts[-1]), [u0[i]], t_eval=ts, rtol=1e-11, atol=1e-12
        )
        assert np.allclose(ours[i], sol.y[0], rtol=1e-8, atol=1e-8)
    assert isinstance(theory.logit_margin_flow(1.0, 2.0, 0.5), float)


def test_margin_flow_extreme_arguments_stay_finite():
    # C far above 709 (e^C overflows) and far below -745 (e^C underflows).
    u = theory.logit_margin_flow(np.array([8.0, 0.0]), np.array([1.0, 1.0]), np.array([0.0, 1e4]))
    assert np.isfinite(u).all()
    assert u[0] == pytest.approx(8.0, abs=1e-12)
    assert u[1] == pytest.approx(1.0 - 1e4, rel=1e-12)  # linear regime: u ~ C = u0 + e^u0 - k t


def test_margin_flow_bad_inputs():
    with pytest.raises(ValueError):
        theory.logit_margin_flow(1.0, -1.0, 1.0)
    with pytest.raises(ValueError):
        theory.logit_margin_flow(1.0, 1.0, -1.0)
    with pytest.raises(ValueError):
        theory.logit_margin_flow(float("nan"), 1.0, 1.0)
    with pytest.raises(OverflowError):
        theory.logit_margin_flow(800.0, 1.0, 1.0)


@pytest.fixture(scope="module")
def binary_model(digits64):
    keep = digits64.y_train < 2
    torch.manual_seed(0)
    model = mlp(64, (16,), 2).double()
    train(model, digits64.x_train[keep], digits64.y_train[keep], lr=0.05, steps=30, batch_size=32, seed=0)
    return model.eval()


def test_two_logit_flow_is_the_small_step_limit_of_the_frozen_attack(binary_model, digits64):
    keep = digits64.y_test < 2
    x, y = digits64.x_test[keep][:8], digits64.y_test[keep][:8]
    t = 2.0
    delta, u = theory.two_logit_flow(binary_model, x, y, t=t)
    errs = []
    for n in (100, 200, 400):
        d = gradient_ascent(FrozenGates(binary_model, x), x, y, step_size=t / n, steps=n)
        errs.append(rel(d, delta))
    assert errs[-1] < 2e-2
    assert 1.7 < errs[0] / errs[1] < 2.3 and 1.7 < errs[1] / errs[2] < 2.3  # Euler: first order
    with torch.no_grad():
        z = FrozenGates(binary_model, x)(x + delta)
    margin = (z[:, 0] - z[:, 1]) * (1 - 2 * y.double())
    assert torch.allclose(margin, u, rtol=1e-10, atol=1e-10)


def test_two_logit_flow_bad_inputs(binary_model, trained_mlp, digits64):
    x, y = digits64.x_test[:4], digits64.y_test[:4]
    with pytest.raises(ValueError, match="exactly 2 logits"):
        theory.two_logit_flow(trained_mlp, x, y, t=1.0)
    with pytest.raises(ValueError):
        theory.two_logit_flow(binary_model, x, torch.tensor([0, 1, 2, 0]), t=1.0)
    with pytest.raises(ValueError):
        theory.two_logit_flow(binary_model, x, y.clamp(max=1), t=-1.0)
    d0, u0 = theory.two_logit_flow(binary_model, x, y.clamp(max=1), t=0.0)
    assert torch.equal(d0, torch.zeros_like(d0))


# ----------------------------------------------------------------------------- the gradient's tilt, sections 2.7-2.10


def test_gradient_tilt_against_autograd_and_dense_eigh(trained_mlp, digits64):
    """gamma_i = sqrt(lambda_i) (U^T s)_i, with g from autograd and the spectrum from a dense eigh."""
    x, y = digits64.x_test[:12], digits64.y_test[:12]
    t = theory.gradient_tilt(trained_mlp, x, y)
    xr = x.clone().requires_grad_(True)
    (g_auto,) = torch.autograd.grad(torch.nn.functional.cross_entropy(trained_mlp(xr), y, reduction="sum"), xr)
    assert rel(t["g"], g_auto) < 1e-10
    _, H = input_hessian(trained_mlp, x, y)
    dense = torch.linalg.eigvalsh(H).flip(-1)[:, : t["eigvals"].shape[1]]
    assert float((t["eigvals"] - dense).abs().max()) < 1e-10 * float(dense.abs().max())
    assert float(t["fit_error"].max()) < 1e-12
    # the lemma: gamma = sqrt(lambda) * a, with gamma computed from g directly
    assert rel(t["eigvals"].sqrt() * t["a"], t["gamma"]) < 1e-10
    # |s|^2 = (1 - p_y)/p_y, and s is orthogonal to sqrt(p) (the null vector of F)
    with torch.no_grad():
        p = torch.softmax(trained_mlp(x), 1)
    p_y = p.gather(1, y[:, None]).squeeze(1)
    assert torch.allclose((t["s"] ** 2).sum(1), (1 - p_y) / p_y, rtol=1e-8)
    assert float((t["s"] * p.sqrt()).sum(1).abs().max()) < 1e-12


def test_gradient_tilt_on_a_hand_made_affine_model():
    """A 2-class affine model: H = k sigma(u) sigma(-u) w w^T and g = -sigma(-u) w, with k = |w|^2."""
    torch.manual_seed(3)
    model = torch.nn.Sequential(torch.nn.Linear(5, 2)).double()
    x = torch.randn(4, 5, dtype=D)
    y = torch.tensor([0, 1, 0, 1])
    t = theory.gradient_tilt(model, x, y)
    Wt = model[0].weight.detach()
    w = (Wt[0] - Wt[1])[None] * (1 - 2 * y.double())[:, None]  # grad of the margin u = z_y - z_other
    with torch.no_grad():
        z = model(x)
    u = z.gather(1, y[:, None]).squeeze(1) - z.gather(1, (1 - y)[:, None]).squeeze(1)
    k = (w * w).sum(1)
    lam = k * torch.sigmoid(u) * torch.sigmoid(-u)
    assert torch.allclose(t["eigvals"][:, 0], lam, rtol=1e-10)
    assert torch.allclose(t["gamma"][:, 0].abs(), torch.sigmoid(-u) * k.sqrt(), rtol=1e-10)


def test_lambda_max_affine_against_autograd_hessian(trained_mlp, digits64):
    x, y = digits64.x_test[:6], digits64.y_test[:6]
    W, b = local_linear_map(trained_mlp, x)
    far = x + 0.7 * torch.randn(x.shape, dtype=D, generator=torch.Generator().manual_seed(2))
    got = theory.lambda_max_affine(W, b, far)
    for i in range(len(x)):

        def loss(v, i=i):
            return torch.nn.functional.cross_entropy((W[i] @ v + b[i])[None], y[i : i + 1])

        Hi = torch.func.hessian(loss)(far[i])
        assert abs(float(torch.linalg.eigvalsh(Hi)[-1]) - float(got[i])) < 1e-10 * float(got[i]) + 1e-15
    # at the clean inputs it is the top eigenvalue of input_hessian_eig
    assert torch.allclose(theory.lambda_max_affine(W, b, x), input_hessian_eig(trained_mlp, x, y)[0][:, 0], rtol=1e-10)


def test_offtop_ratio_against_explicit_projection():
    lam, V, _ = random_spectrum(B=3, n=6, seed=4)
    V = V[:, :, :3]
    gen = torch.Generator().manual_seed(1)
    d, base = torch.randn(3, 6, dtype=D, generator=gen), torch.randn(3, 6, dtype=D, generator=gen)

    def off(v):
        return 1 - (V[:, :, 0] * v).sum(1) ** 2 / (v * v).sum(1)

    assert torch.allclose(theory.offtop_ratio(V, d, base), off(d) / off(base), rtol=1e-12)
    assert torch.allclose(theory.offtop_ratio(V, base, base), torch.ones(3, dtype=D))
    with pytest.raises(ValueError, match="no energy off"):
        theory.offtop_ratio(V, d, V[:, :, 0].clone())
    with pytest.raises(ValueError):
        theory.offtop_ratio(V, d, base, k=4)


def test_validity_table_small_steps_and_first_step(trained_mlp, digits64):
    x, y = digits64.x_test[:10], digits64.y_test[:10]
    tab = theory.validity_table(
        trained_mlp, x, y, step_sizes=[1e-4, 0.5], steps=[1, 3], project={"eps": 0.1, "clamp": (0.0, 1.0)}
    )
    assert all(len(v) == 2 * 2 * 10 for v in tab.values())
    first = tab["m"] == 1
    assert tab["err_real"][first].max() < 1e-9  # m = 1: the closed form is the attack
    tiny = tab["s"] < 1e-3
    assert tiny.any() and tab["err_real"][tiny].max() < 1e-5 and tab["flips"][tiny].max() == 0
    assert np.allclose(tab["closed_over_real"][tiny], 1, atol=1e-5)
    assert np.allclose(tab["gate_term"][tiny], 0, atol=1e-12)  # no flips: real == frozen
    assert np.allclose(tab["lam_frozen"][first & tiny], 1, atol=1e-3)
    # decomposition: closed - real = (closed - frozen) + (frozen - real), so the triangle inequality holds
    assert (tab["err_real"] <= tab["softmax_term"] + tab["gate_term"] + 1e-12).all()
    assert ((tab["E1_real"] >= 0) & (tab["E1_real"] <= 1 + 1e-12)).all()
    # the unprojected ascent's off-top ratio equals the one recomputed from the levels
    assert np.allclose(tab["offtop_real"], (1 - tab["E1_real"]) / (1 - tab["E1_g"]), rtol=1e-10)
    # new columns: step size, the first-order null model, the path-averaged curvature, the terms' cosine
    assert set(np.unique(tab["alpha"])) == {1e-4, 0.5}
    assert tab["err_linear"][first].max() < 1e-9  # m = 1: m alpha g is the attack
    assert (tab["err_linear"][~first & ~tiny] > tab["err_real"][~first & ~tiny]).mean() > 0.5
    assert np.allclose(tab["lam_frozen_path"][first], 1, atol=1e-10)  # only t = 0: the clean curvature
    assert ((tab["cos_terms"] >= -1 - 1e-12) & (tab["cos_terms"] <= 1 + 1e-12)).all()
    # the projected attack is measured against its own first step: ratio 1 at m = 1
    assert np.allclose(tab["offtop_proj"][first], 1, rtol=1e-12)


def test_path_averaged_curvature_against_a_step_by_step_recomputation(trained_mlp, digits64):
    x, y = digits64.x_test[:6], digits64.y_test[:6]
    a = 0.3
    tab = theory.validity_table(trained_mlp, x, y, step_sizes=[a], steps=[1, 3])
    W, b = local_linear_map(trained_mlp, x)
    lam0 = theory.lambda_max_affine(W, b, x)
    frozen, delta, lams = FrozenGates(trained_mlp, x), torch.zeros_like(x), []
    for _ in range(3):  # the frozen attack, one explicit step at a time
        lams.append(theory.lambda_max_affine(W, b, x + delta) / lam0)
        d = delta.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(torch.nn.functional.cross_entropy(frozen(x + d), y, reduction="sum"), d)
        delta = (delta + a * grad).detach()
    expected = torch.stack(lams).mean(0).numpy()
    assert np.allclose(tab["lam_frozen_path"][tab["m"] == 3], expected, rtol=1e-9)


def test_projected_first_step_is_cut_by_the_box(trained_mlp, digits64):
    x, y = digits64.x_test[:8], digits64.y_test[:8]
    # a ball so large that it never binds and no box: the first projected step is alpha g
    loose = theory.projected_table(trained_mlp, x, y, step_sizes=[0.05], steps=[2], eps=1e6)
    assert np.allclose(loose["first_vs_g"], 1, rtol=1e-7)
    box = theory.projected_table(trained_mlp, x, y, step_sizes=[0.05], steps=[2], clamp=(0.0, 1.0))
    d1 = gradient_ascent(trained_mlp, x, y, step_size=0.05, steps=1, clamp=(0.0, 1.0))
    lam, V = input_hessian_eig(trained_mlp, x, y)
    g = input_gradient(trained_mlp, x, y)
    assert np.allclose(box["first_vs_g"], theory.offtop_ratio(V, d1, g).numpy(), rtol=1e-10)


def test_projected_table_without_projection_is_the_unprojected_attack(trained_mlp, digits64):
    x, y = digits64.x_test[:8], digits64.y_test[:8]
    kw = {"step_sizes": [0.05, 0.5], "steps": [2, 5]}
    free = theory.projected_table(trained_mlp, x, y, **kw)
    tab = theory.validity_table(trained_mlp, x, y, **kw)
    # the base is now autograd's first step alpha g, which differs from input_gradient's g by the rounding of
    # p_y - 1 (a relative ~1e-16 / (1 - p_y), identity ch2-first-step); the ratio is scale-free otherwise
    assert np.allclose(free["offtop"], tab["offtop_real"], rtol=1e-7)
    assert np.array_equal(free["s"], tab["s"]) and np.array_equal(free["m"], tab["m"])
    both = theory.projected_table(trained_mlp, x, y, eps=0.1, clamp=(0.0, 1.0), **kw)
    proj = theory.validity_table(trained_mlp, x, y, project={"eps": 0.1, "clamp": (0.0, 1.0)}, **kw)
    assert np.allclose(both["offtop"], proj["offtop_proj"], rtol=1e-10)
    assert np.allclose(both["first_vs_g"], proj["offtop_proj1_vs_g"], rtol=1e-10)
    assert np.allclose(free["first_vs_g"], 1, rtol=1e-7)
