"""Chapter 4 operators against independent oracles: dense Hessians, dense Jacobians, finite differences."""

from __future__ import annotations

import copy
import functools

import numpy as np
import pytest
import torch
from torch.func import hessian, jacrev

from advnotes import param_hessian as ph
from advnotes.attacks import gradient_ascent
from advnotes.curvature import param_hessian_top_eig
from advnotes.models import mlp
from advnotes.training import TrainLog, train

ATTACK = dict(step_size=1.0, steps=3)


@pytest.fixture(scope="module")
def tiny(digits64):
    """A 64-6-10 float64 MLP (P = 460), briefly trained, and 48 digits: small enough for dense matrices."""
    torch.manual_seed(0)
    model = mlp(64, (6,), 10).double()
    x, y = digits64.x_train[:48], digits64.y_train[:48]
    train(model, x, y, lr=0.1, steps=20)
    return model, x, y


@pytest.fixture(scope="module")
def dense(tiny):
    model, x, y = tiny
    space = ph.ParamSpace(model)
    H = hessian(space.loss)(space.theta, x, y)
    J = jacrev(ph._training_grad_fn(space, x, y, **ATTACK))(space.theta)
    return space, H, J


def _rand(n, seed=0, dtype=torch.float64):
    return torch.randn(n, dtype=dtype, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------- products


def test_hvp_clean_matches_dense_hessian(tiny, dense):
    model, x, y = tiny
    _, H, _ = dense
    v = _rand(H.shape[0])
    assert torch.allclose(ph.hvp_clean(model, x, y, v), H @ v, rtol=1e-10, atol=1e-12)


def test_hvp_fixed_delta_matches_dense_hessian_at_shifted_input(tiny):
    model, x, y = tiny
    delta = ph.attack_delta(model, x, y, **ATTACK)
    space = ph.ParamSpace(model)
    H = hessian(space.loss)(space.theta, x + delta, y)
    v = _rand(space.size, 1)
    assert torch.allclose(ph.hvp_fixed_delta(model, x, y, delta, v), H @ v, rtol=1e-10, atol=1e-12)


def test_attack_delta_matches_package_attack(tiny):
    model, x, y = tiny
    ref = gradient_ascent(model, x, y, **ATTACK)
    assert torch.allclose(ph.attack_delta(model, x, y, **ATTACK), ref, rtol=1e-12, atol=1e-13)


def test_jeff_mvp_matches_finite_differences_of_train_update(tiny):
    """-lr * J_eff v equals the central difference of one real `train` step (float64, h = 1e-6)."""
    model, x, y = tiny
    space = ph.ParamSpace(model)
    lr = 0.1

    def update(theta):
        net = copy.deepcopy(model)
        torch.nn.utils.vector_to_parameters(theta, net.parameters())
        attack = functools.partial(gradient_ascent, **ATTACK)
        return train(net, x, y, lr=lr, steps=1, attack=attack, record_updates=True).updates[0]

    v = _rand(space.size, 2)
    h = 1e-6
    fd = (update(space.theta + h * v) - update(space.theta - h * v)) / (2 * h)
    jv = ph.jeff_mvp(model, x, y, v, **ATTACK)
    # central differences: O(h^2) truncation + O(eps/h) round-off ~ 1e-10 relative
    assert float((fd + lr * jv).norm() / fd.norm()) < 1e-7


def test_jeff_mvp_matches_dense_jacobian_and_is_not_symmetric(tiny, dense):
    model, x, y = tiny
    _, H, J = dense
    v = _rand(J.shape[0], 3)
    assert torch.allclose(ph.jeff_mvp(model, x, y, v, **ATTACK), J @ v, rtol=1e-9, atol=1e-12)
    assert float((J - J.T).norm() / J.norm()) > 1e-3  # the attack term makes it non-symmetric
    assert float((J - H).norm() / H.norm()) > 1e-2  # and different from the clean Hessian


def test_jeff_with_zero_steps_is_clean_hessian(tiny, dense):
    model, x, y = tiny
    _, H, _ = dense
    v = _rand(H.shape[0], 4)
    assert torch.allclose(ph.jeff_mvp(model, x, y, v, step_size=1.0, steps=0), H @ v, rtol=1e-10, atol=1e-12)


def test_training_gradient_matches_train_step(tiny):
    model, x, y = tiny
    g = ph.training_gradient(model, x, y, **ATTACK)
    net = copy.deepcopy(model)
    log = train(net, x, y, lr=0.5, steps=1, attack=functools.partial(gradient_ascent, **ATTACK), record_updates=True)
    assert torch.allclose(log.updates[0], -0.5 * g, rtol=1e-10, atol=1e-13)


# ----------------------------------------------------------------------------- eigen-solvers


def test_lanczos_matches_dense_eigh(tiny, dense):
    model, x, y = tiny
    _, H, _ = dense
    ref_vals, ref_vecs = torch.linalg.eigh(H)
    vals, vecs, n = param_hessian_top_eig(model, x, y, k=3, tol=1e-10)
    assert torch.allclose(vals, ref_vals.flip(0)[:3], rtol=1e-9, atol=0)
    assert abs(float(vecs[:, 0] @ ref_vecs[:, -1])) > 1 - 1e-8  # same top eigenvector up to sign
    assert torch.allclose(vecs.T @ vecs, torch.eye(3, dtype=vecs.dtype), atol=1e-8)
    assert 3 < n < 1000


def test_lanczos_with_fixed_delta_matches_dense(tiny):
    model, x, y = tiny
    delta = ph.attack_delta(model, x, y, **ATTACK)
    space = ph.ParamSpace(model)
    ref = torch.linalg.eigvalsh(hessian(space.loss)(space.theta, x + delta, y))[-1]
    vals, _, _ = param_hessian_top_eig(model, x, y, delta=delta, tol=1e-10)
    assert abs(float(vals[0]) - float(ref)) < 1e-9 * float(ref)


def test_power_iteration_matches_dense_eigh(tiny, dense):
    model, x, y = tiny
    _, H, _ = dense
    top = float(torch.linalg.eigvalsh(H)[-1])
    vals, vecs, n = param_hessian_top_eig(model, x, y, method="power", tol=1e-12, max_hvp=5000)
    assert abs(float(vals[0]) - top) < 1e-6 * top
    assert vecs.shape == (H.shape[0], 1) and n > 1


def test_arnoldi_matches_dense_jacobian_spectrum(tiny, dense):
    model, x, y = tiny
    _, _, J = dense
    ref = torch.linalg.eigvals(J)
    ref = ref[ref.real.argsort(descending=True)][:2]
    vals, vecs, _ = ph.jeff_top_eig(model, x, y, **ATTACK, k=2, tol=1e-10)
    assert torch.allclose(vals, ref, rtol=1e-8, atol=1e-10)
    resid = J.to(torch.complex128) @ vecs[:, 0] - vals[0] * vecs[:, 0]
    assert float(resid.abs().max()) < 1e-7


@pytest.mark.parametrize("gap", [0.5, 0.9])
def test_solvers_on_matrices_with_known_spectra(gap):
    """Seeded random orthogonal Q, spectrum 10, 10*gap, then decaying: both solvers recover 10."""
    n = 200
    gen = torch.Generator().manual_seed(7)
    Q, _ = torch.linalg.qr(torch.randn(n, n, dtype=torch.float64, generator=gen))
    spectrum = torch.cat([torch.tensor([10.0, 10.0 * gap], dtype=torch.float64), torch.linspace(3.0, -1.0, n - 2)])
    A = (Q * spectrum) @ Q.T
    lam, vec, n_power = ph.power_iteration(lambda v: A @ v, n, tol=1e-12, max_iter=10000)
    assert abs(lam - 10.0) < 1e-8 and abs(float(vec @ Q[:, 0])) > 1 - 1e-5
    # Lanczos through the same LinearOperator path the package uses, on the known matrix.
    from scipy.sparse.linalg import LinearOperator, eigsh

    op = LinearOperator((n, n), matvec=lambda v: A.numpy() @ v, dtype=np.float64)
    vals, _ = eigsh(op, k=2, which="LA", tol=1e-10)
    assert np.allclose(np.sort(vals)[::-1], [10.0, 10.0 * gap], rtol=1e-9)


def _known(spectrum, seed=7):
    """A symmetric matrix ``Q diag(spectrum) Q^T`` with a seeded random orthogonal ``Q``."""
    n = len(spectrum)
    Q, _ = torch.linalg.qr(torch.randn(n, n, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)))
    return (Q * torch.as_tensor(spectrum, dtype=torch.float64)) @ Q.T, Q


class _CountingMatvec:
    def __init__(self, A):
        self.A, self.calls = A, 0

    def __call__(self, v):
        self.calls += 1
        return self.A @ v


@pytest.mark.parametrize("max_basis", [40, 6])
def test_lanczos_recovers_a_known_spectrum(max_basis):
    """Top 3 of a known spectrum to 1e-9, with and without thick restarts (max_basis=6 restarts many times)."""
    spectrum = torch.cat([torch.tensor([10.0, 9.0, 8.5]), torch.linspace(4.0, -2.0, 197)])
    A, Q = _known(spectrum)
    mv = _CountingMatvec(A)
    vals, vecs, n = ph.krylov_top_eig(mv, _rand(200), k=3, tol=1e-10, max_basis=max_basis)
    assert torch.allclose(vals, torch.tensor([10.0, 9.0, 8.5], dtype=torch.float64), rtol=1e-9, atol=0)
    assert abs(float(vecs[:, 0] @ Q[:, 0])) > 1 - 1e-9
    assert torch.allclose(vecs.T @ vecs, torch.eye(3, dtype=torch.float64), atol=1e-9)
    assert n == mv.calls  # every product is counted


def test_lanczos_stops_on_an_invariant_krylov_space():
    """Three distinct eigenvalues (5, 2, 0): span{v0, A v0, A^2 v0} is invariant, so Lanczos stops after 3 products."""
    A, _ = _known(torch.cat([torch.tensor([5.0, 2.0]), torch.zeros(48)]))
    mv = _CountingMatvec(A)
    vals, _, n = ph.krylov_top_eig(mv, _rand(50), k=2, tol=1e-12)
    assert n == mv.calls == 3
    assert torch.allclose(vals, torch.tensor([5.0, 2.0], dtype=torch.float64), rtol=1e-12, atol=0)


def test_lanczos_stops_early_and_beats_power_iteration_from_the_same_start():
    """The trace: Ritz values rise monotonically to lambda_1; Lanczos is within 1e-3 in fewer products than power."""
    A, _ = _known(torch.cat([torch.tensor([1.0, 0.95]), 0.8 * torch.linspace(0, 1, 298) ** 4 - 0.03]))
    v0 = torch.as_tensor(ph._start_vector(300, 0))
    vals, _, n, hist = ph.krylov_top_eig(lambda v: A @ v, v0, tol=1e-3, trace=True)
    assert len(hist) == n and hist[-1] == pytest.approx(float(vals[0]), abs=1e-15)
    assert all(b >= a - 1e-12 for a, b in zip(hist, hist[1:], strict=False))  # Ritz values only grow (no restart)
    assert abs(float(vals[0]) - 1.0) < 1e-5  # residual 1e-3 -> eigenvalue error ~ 1e-6 / gap
    _, _, _, hist_p = ph.power_iteration(lambda v: A @ v, 300, tol=1e-12, max_iter=5000, trace=True)
    first = [next(i + 1 for i, v in enumerate(h) if abs(v - 1.0) <= 1e-3) for h in (hist, hist_p)]
    assert first[0] <= first[1] / 2, first


def test_arnoldi_on_a_known_nonsymmetric_spectrum():
    """Eigenvalues 3 +- 2i, 2.5, then a real bulk, in a random non-orthogonal basis: Arnoldi finds them."""
    n = 120
    D = torch.zeros(n, n, dtype=torch.float64)
    D[0, 0] = D[1, 1] = 3.0
    D[0, 1], D[1, 0] = 2.0, -2.0
    D[2, 2] = 2.5
    D[3:, 3:] = torch.diag(torch.linspace(1.5, -1.0, n - 3, dtype=torch.float64))
    D[3:, 3:] += torch.triu(torch.full((n - 3, n - 3), 0.01, dtype=torch.float64), diagonal=1)
    S = torch.eye(n, dtype=torch.float64) + 0.1 * _rand(n * n, seed=3).reshape(n, n)
    A = S @ D @ torch.linalg.inv(S)
    vals, vecs, _ = ph.krylov_top_eig(lambda v: A @ v, _rand(n), k=3, tol=1e-10, symmetric=False)
    ref = torch.tensor([3 + 2j, 3 - 2j, 2.5], dtype=torch.complex128)
    assert torch.allclose(vals, ref, rtol=1e-9, atol=1e-9)
    resid = A.to(torch.complex128) @ vecs - vecs * vals
    assert float(resid.abs().max()) < 1e-8


def test_lanczos_uses_fewer_products_than_arpack_and_matches_dense(tiny, dense):
    model, x, y = tiny
    _, H, _ = dense
    top = float(torch.linalg.eigvalsh(H)[-1])
    vals, _, n = param_hessian_top_eig(model, x, y, tol=1e-3)
    vals_a, _, n_a = param_hessian_top_eig(model, x, y, tol=1e-3, method="arpack")
    assert abs(float(vals[0]) - top) < 1e-5 * top and abs(float(vals_a[0]) - top) < 1e-5 * top
    assert n <= n_a


def test_hvp_formulations_agree(tiny):
    """Reverse over reverse with a cached graph (the default) = forward over reverse, call after call."""
    model, x, y = tiny
    space = ph.ParamSpace(model)
    rr, fr = ph._hvp_fn(space, x, y), ph._hvp_fn_forward_over_reverse(space, x, y)
    for seed in range(3):
        v = _rand(space.size, seed)
        assert torch.allclose(rr(v), fr(v), rtol=1e-10, atol=1e-13)
    assert torch.allclose(rr(2 * v), 2 * fr(v), rtol=1e-10, atol=1e-13)


def test_krylov_bad_inputs():
    A = torch.eye(10, dtype=torch.float64)
    with pytest.raises(ValueError, match="zero vector"):
        ph.krylov_top_eig(lambda v: A @ v, torch.zeros(10, dtype=torch.float64))
    with pytest.raises(ValueError, match="smaller than the dimension"):
        ph.krylov_top_eig(lambda v: A @ v, _rand(10), k=10)
    with pytest.raises(ValueError, match="max_basis"):
        ph.krylov_top_eig(lambda v: A @ v, _rand(10), k=3, max_basis=4)
    with pytest.raises(TypeError):
        ph.krylov_top_eig(lambda v: A @ v, [1.0] * 10)
    with pytest.raises(FloatingPointError):
        ph.krylov_top_eig(lambda v: v * float("nan"), _rand(10))
    B, _ = _known(torch.linspace(1.0, 0.0, 100))
    with pytest.raises(RuntimeError, match="did not reach"):
        ph.krylov_top_eig(lambda v: B @ v, _rand(100), tol=1e-12, max_products=5)
    with pytest.raises(ValueError):
        ph.krylov_top_eig(lambda v: A @ v, _rand(10), tol=0.0)


def test_power_iteration_reports_nonconvergence():
    A = torch.diag(torch.tensor([1.0, 0.99999, 0.5], dtype=torch.float64))
    with pytest.raises(RuntimeError, match="did not reach"):
        ph.power_iteration(lambda v: A @ v, 3, tol=1e-14, max_iter=5)


def test_warm_start_does_not_change_the_answer(tiny):
    model, x, y = tiny
    vals, vecs, _ = param_hessian_top_eig(model, x, y, tol=1e-10)
    vals2, _, n2 = param_hessian_top_eig(model, x, y, tol=1e-10, v0=vecs[:, 0])
    assert abs(float(vals2[0] - vals[0])) < 1e-9 * float(vals[0])


# ----------------------------------------------------------------------------- shares and oscillation statistics


def test_sample_shares_match_per_example_loop(tiny, dense):
    model, x, y = tiny
    space, H, _ = dense
    v = torch.linalg.eigh(H)[1][:, -1]
    shares = ph.sample_shares(model, x, y, v)
    q = torch.stack([v @ hessian(space.loss)(space.theta, x[i : i + 1], y[i : i + 1]) @ v for i in range(len(x))])
    assert torch.allclose(shares, q / q.sum(), atol=1e-12)
    assert abs(float(shares.sum()) - 1) < 1e-12


def test_jeff_sample_shares_match_per_example_jacobians(tiny, dense):
    model, x, y = tiny
    space, _, J = dense
    v = _rand(space.size, 5)
    shares = ph.jeff_sample_shares(model, x, y, v, **ATTACK)
    q = []
    for i in range(8):  # a per-example loop on a subset is enough to pin the formula
        Ji = jacrev(ph._training_grad_fn(space, x[i : i + 1], y[i : i + 1], **ATTACK))(space.theta)
        q.append(v @ Ji @ v)
    total = len(x) * float(v @ J @ v)  # J = mean of the J_i
    assert torch.allclose(shares[:8], torch.stack(q) / total, rtol=1e-8, atol=1e-12)


def test_participation_number_and_top_k():
    assert ph.participation_number(torch.full((50,), 0.02)) == pytest.approx(50)
    one_hot = torch.zeros(50)
    one_hot[3] = 1
    assert ph.participation_number(one_hot) == pytest.approx(1)
    assert ph.top_k_share(torch.tensor([0.5, 0.3, 0.2]), 2) == pytest.approx(0.8)


def test_oscillation_stats_on_a_known_zigzag():
    u = torch.tensor([1.0, 0.1])
    log = TrainLog(
        loss=[3.0, 2.0, 2.5, 1.5, 1.8, 1.0],
        update_cos=[-1.0] * 5,
        updates=[u * (-1) ** t for t in range(6)],
    )
    st = ph.oscillation_stats(log, direction=torch.tensor([1.0, 0.0]))
    assert st.neg_cos == 1.0 and st.sign_flips == 1.0 and st.loss_rise == pytest.approx(0.4)
    assert st.mean_cos == -1.0 and st.steps == 6


def test_track_training_records_the_run(tiny):
    model, x, y = tiny
    net = copy.deepcopy(model)
    ref = copy.deepcopy(model)
    attack = functools.partial(gradient_ascent, **ATTACK)
    tr = ph.track_training(net, x, y, lr=0.1, steps=4, every=2, attack=attack, jeff_attack=ATTACK)
    log = train(ref, x, y, lr=0.1, steps=4, attack=attack)
    assert tr.at == [0, 2, 4] and len(tr.jeff) == 3 and tr.log.steps == 4
    assert np.allclose(tr.log.loss, log.loss, rtol=1e-12)
    assert np.allclose(tr.log.update_cos, log.update_cos, rtol=1e-10)  # cosines across checkpoints too


# ----------------------------------------------------------------------------- bad input


def test_bad_inputs(tiny):
    model, x, y = tiny
    P = ph.ParamSpace(model).size
    v = torch.ones(P, dtype=torch.float64)
    with pytest.raises(ValueError, match="shape"):
        ph.hvp_clean(model, x, y, torch.ones(P + 1, dtype=torch.float64))
    with pytest.raises(ValueError, match="non-finite"):
        ph.hvp_clean(model, x, y, torch.full((P,), float("nan"), dtype=torch.float64))
    with pytest.raises(TypeError):
        ph.hvp_clean(model, x, y, [1.0] * P)
    with pytest.raises(ValueError, match="labels"):
        ph.hvp_clean(model, x, y + 20, v)
    with pytest.raises(TypeError, match="parameters are"):
        ph.hvp_clean(model, x.float(), y, v)
    with pytest.raises(ValueError, match="shape of x"):
        ph.hvp_fixed_delta(model, x, y, x[:2], v)
    with pytest.raises(ValueError, match="step_size"):
        ph.jeff_mvp(model, x, y, v, step_size=-1.0, steps=2)
    with pytest.raises(ValueError, match="steps"):
        ph.attack_delta(model, x, y, step_size=1.0, steps=1.5)
    with pytest.raises(ValueError, match="k="):
        param_hessian_top_eig(model, x, y, k=P)
    with pytest.raises(ValueError, match="tol"):
        param_hessian_top_eig(model, x, y, tol=0.0)
    with pytest.raises(ValueError, match="method"):
        param_hessian_top_eig(model, x, y, method="qr")
    with pytest.raises(ValueError, match="k=1"):
        param_hessian_top_eig(model, x, y, k=2, method="power")
    with pytest.raises(ValueError, match="method"):
        ph.jeff_top_eig(model, x, y, **ATTACK, method="lanczos")
    with pytest.raises(ValueError, match="zero"):
        param_hessian_top_eig(model, x, y, v0=torch.zeros(P, dtype=torch.float64))
    with pytest.raises(ValueError, match="shares"):
        ph.participation_number(torch.zeros(3))
    with pytest.raises(ValueError, match="k="):
        ph.top_k_share(torch.ones(3), 4)
    with pytest.raises(ValueError, match="3 updates"):
        ph.oscillation_stats(TrainLog(loss=[1.0, 0.5]))
    with pytest.raises(ValueError, match="record_updates"):
        ph.oscillation_stats(TrainLog(loss=[1.0, 0.5, 0.2, 0.1], update_cos=[1.0] * 3), direction=v)
    with pytest.raises(TypeError, match="TrainLog"):
        ph.oscillation_stats([1.0, 2.0])
    with pytest.raises(ValueError, match="multiple"):
        ph.track_training(copy.deepcopy(model), x, y, lr=0.1, steps=5, every=2)
    with pytest.raises(ValueError, match="matching attack"):
        ph.track_training(copy.deepcopy(model), x, y, lr=0.1, steps=2, every=1, jeff_attack=ATTACK)
    with pytest.raises(TypeError, match="Module"):
        ph.ParamSpace(lambda t: t)


# ----------------------------------------------------------------------------- the projected attack


PROJ = dict(step_size=0.3, steps=3, eps=0.1, clamp=(0.0, 1.0))


def test_projected_attack_matches_package_attack_and_clips(tiny):
    model, x, y = tiny
    ref = gradient_ascent(model, x, y, **PROJ)
    d = ph.attack_delta(model, x, y, **PROJ)
    assert torch.allclose(d, ref, rtol=1e-12, atol=1e-13)
    assert float(d.abs().max()) <= 0.1 + 1e-12 and float((x + d).min()) >= -1e-12
    assert float((d.abs() >= 0.1 - 1e-12).double().mean()) > 0  # some coordinates are clipped


def test_projected_jeff_matches_finite_differences_of_train_update(tiny):
    """-lr J_eff v through the clipped attack equals central differences of one `train` step with threat's attack."""
    from advnotes import threat

    model, x, y = tiny
    space = ph.ParamSpace(model)
    attack = threat.training_attack("ascent", steps=3, step_size=0.3)

    def update(theta):
        net = copy.deepcopy(model)
        torch.nn.utils.vector_to_parameters(theta, net.parameters())
        return train(net, x, y, lr=0.1, steps=1, attack=attack, record_updates=True).updates[0]

    v = _rand(space.size, 5)
    fd = (update(space.theta + 1e-6 * v) - update(space.theta - 1e-6 * v)) / 2e-6
    jv = ph.jeff_mvp(model, x, y, v, **PROJ)
    assert float((fd + 0.1 * jv).norm() / fd.norm()) < 1e-7
    # the clipped coordinates matter: the unprojected J_eff gives another product
    free = ph.jeff_mvp(model, x, y, v, step_size=0.3, steps=3)
    assert float((free - jv).norm() / jv.norm()) > 1e-3


def test_projected_jeff_top_eig_matches_dense(tiny):
    model, x, y = tiny
    space = ph.ParamSpace(model)
    J = jacrev(ph._training_grad_fn(space, x, y, **PROJ))(space.theta)
    mu_dense = torch.linalg.eigvals(J)
    mu_dense = mu_dense[mu_dense.real.argsort(descending=True)]
    mu, _, _ = ph.jeff_top_eig(model, x, y, **PROJ, k=2, tol=1e-10)
    assert float((mu - mu_dense[:2]).abs().max() / mu_dense[0].abs()) < 1e-8


def test_bad_projection(tiny):
    model, x, y = tiny
    with pytest.raises(ValueError, match="eps"):
        ph.attack_delta(model, x, y, step_size=0.1, steps=1, eps=-1.0)
    with pytest.raises(ValueError, match="clamp"):
        ph.attack_delta(model, x, y, step_size=0.1, steps=1, clamp=(1.0, 0.0))


# ----------------------------------------------------------------------------- stability of the step


def test_step_radius_is_the_spectral_radius_of_the_step_matrix():
    """Oracle: eigenvalues of I - eta J for a dense non-symmetric J with known complex eigenvalues."""
    rng = np.random.default_rng(0)
    mu = np.array([3.0 + 2.0j, 3.0 - 2.0j, 1.0, -0.5])
    blocks = np.zeros((4, 4))
    blocks[:2, :2] = [[3.0, 2.0], [-2.0, 3.0]]
    blocks[2, 2], blocks[3, 3] = 1.0, -0.5
    Q = np.linalg.qr(rng.standard_normal((4, 4)))[0]
    J = Q @ blocks @ Q.T
    for eta in (0.1, 0.3, 0.5):
        dense = np.abs(np.linalg.eigvals(np.eye(4) - eta * J)).max()
        assert ph.step_radius(eta, torch.tensor(mu)) == pytest.approx(dense, rel=1e-12)


def test_onset_lr_is_where_the_radius_crosses_one():
    mu = torch.tensor([4.0 + 3.0j, 2.0 + 0.0j, -1.0 + 0.0j])
    eta = ph.onset_lr(mu)
    assert eta == pytest.approx(2 * 4 / 25)  # 2 Re mu / |mu|^2 = 0.32 < 2 / 2
    top = mu[:2]  # the negative eigenvalue is the drift side, not the onset
    assert ph.step_radius(eta * 0.999, top) < 1 < ph.step_radius(eta * 1.001, top)
    assert ph.onset_lr(torch.tensor([5.0])) == pytest.approx(0.4)
    assert ph.onset_lr(torch.tensor([-1.0, -2.0])) == float("inf")
    with pytest.raises(ValueError):
        ph.onset_lr(torch.tensor([]))
    with pytest.raises(ValueError):
        ph.step_radius(0.1, torch.tensor([float("nan")]))


def test_find_onset_brackets_a_known_threshold():
    """At a minimum of a convex loss, displaced along the top eigenvector, updates flip sign iff eta * lambda_1 > 1.

    Linear model, CE, random labels (a finite minimum, found by Newton steps). Displaced along
    the top eigenvector of the Hessian by 1e-4, gradient descent is the quadratic recurrence of
    eq-ch4-gd-quadratic to O(1e-8): every update cosine is -1 for eta * lambda_1 > 1 and +1 below.
    """
    torch.manual_seed(0)
    model = torch.nn.Linear(2, 2).double()
    x = torch.randn(64, 2, dtype=torch.float64)
    y = torch.randint(0, 2, (64,))
    space = ph.ParamSpace(model)
    theta = space.theta.clone()
    for _ in range(30):  # Newton to the minimum (pinv: the logit-shift direction is flat)
        g = torch.func.grad(space.loss)(theta, x, y)
        theta = theta - torch.linalg.pinv(hessian(space.loss)(theta, x, y), hermitian=True) @ g
    lam, V = torch.linalg.eigh(hessian(space.loss)(theta, x, y))
    torch.nn.utils.vector_to_parameters(theta + 1e-4 * V[:, -1], model.parameters())
    lam1 = float(lam[-1])
    found = ph.find_onset(model, x, y, attack=None, lo=0.5 / lam1, hi=4 / lam1, steps=6, window=3, iters=10)
    assert found.bracketed and found.resolution < 0.01
    # at eta * lambda_1 just above 1 the flipping component dies in a step or two (|1 - eta lambda_1|^t),
    # below the O(1e-8) non-quadratic remainder, so the detector fires a little late: within 5%.
    assert 1 / lam1 <= found.hi and found.lo <= 1.05 / lam1
    # bad brackets are reported as censored values, not errors
    low = ph.find_onset(model, x, y, attack=None, lo=0.1 / lam1, hi=0.5 / lam1, steps=6, window=3, iters=3)
    assert not low.bracketed and low.lr == pytest.approx(0.5 / lam1)
    high = ph.find_onset(model, x, y, attack=None, lo=1.5 / lam1, hi=3 / lam1, steps=6, window=3, iters=3)
    assert not high.bracketed and high.lr == pytest.approx(1.5 / lam1)
    with pytest.raises(ValueError):
        ph.find_onset(model, x, y, attack=None, lo=1.0, hi=0.5, steps=6, window=3, iters=3)


def test_continue_training_frozen_delta_is_training_on_fixed_inputs(tiny):
    model, x, y = tiny
    attack = functools.partial(gradient_ascent, **PROJ)
    neg, jumps = ph.continue_training(model, x, y, lr=0.1, steps=6, attack=attack, window=3, freeze=True)
    assert jumps == 0.0 and 0.0 <= neg <= 1.0
    d = attack(model, x, y)
    ref = train(copy.deepcopy(model), x + d, y, lr=0.1, steps=6)
    assert ph.negative_cosines(ref, window=3) == neg
    _, jumps_live = ph.continue_training(model, x, y, lr=0.1, steps=6, attack=attack, window=3, freeze=False)
    assert jumps_live >= 0.0


def test_negative_cosines_counts_the_window():
    log = TrainLog(update_cos=[0.5, -0.5, -0.2, 0.1])
    assert ph.negative_cosines(log, window=2) == 0.5
    assert ph.negative_cosines(log, window=4) == 0.5
    with pytest.raises(ValueError):
        ph.negative_cosines(log, window=5)


def test_seed_experiment_returns_every_quantity(digits64):
    from advnotes import threat

    x, y = digits64.x_train[:40], digits64.y_train[:40]

    def make_model(seed):
        torch.manual_seed(seed)
        return mlp(64, (6,), 10).double()

    runs = {
        "standard": (None, None),
        "ascent": (threat.training_attack("ascent", steps=2, step_size=0.3), dict(PROJ, steps=2)),
        "pgd": (threat.training_attack("pgd", steps=2), None),
    }
    out = ph.seed_experiment(
        0,
        x,
        y,
        make_model=make_model,
        runs=runs,
        lr=0.1,
        steps=6,
        window=3,
        probe_steps=4,
        onset=dict(lr=0.1, steps=3, probe=4, window=2, iters=1),
        k=2,
        tol=1e-6,
    )
    assert set(out) == set(runs)
    assert {"neg_cos", "lam_clean", "lam_fixed", "radius", "mu_re", "n_eff"} <= set(out["standard"])
    assert out["standard"]["lam_fixed"] == out["standard"]["lam_clean"]
    assert {"live_neg_cos", "frozen_neg_cos", "onset_A", "onset_B", "onset_obs"} <= set(out["ascent"])
    assert {"neg_share", "top10_share", "at_ball", "at_box"} <= set(out["ascent"])
    assert 0.0 <= out["ascent"]["neg_share"] <= 1.0 and out["ascent"]["at_ball"] + out["ascent"]["at_box"] <= 1.0
    assert out["pgd"]["onset_A"] == pytest.approx(out["pgd"]["onset_B"], rel=1e-6)  # J_eff = H_thth for PGD
    # the radius of the standard run is rho(I - lr H_clean) over its top eigenvalue(s)
    assert out["standard"]["radius"] >= abs(1 - 0.1 * out["standard"]["lam_clean"]) - 1e-9
    for r in out.values():
        assert all(np.isfinite(v) for v in r.values())


def test_seed_experiment_without_probes_skips_the_continuations(digits64):
    x, y = digits64.x_train[:40], digits64.y_train[:40]

    def make_model(seed):
        torch.manual_seed(seed)
        return mlp(64, (6,), 10).double()

    runs = {"pgd": (functools.partial(gradient_ascent, **PROJ), dict(PROJ))}
    out = ph.seed_experiment(
        0,
        x,
        y,
        make_model=make_model,
        runs=runs,
        lr=0.1,
        steps=4,
        window=2,
        probe_steps=0,
        k=1,
        tol=1e-6,
        x_test=x,
        y_test=y,
    )["pgd"]
    assert "live_neg_cos" not in out and "onset_obs" not in out
    assert 0.0 <= out["robust_acc"] <= out["test_acc"] <= 1.0


def test_pinned_fractions_counts_ball_and_box_apart():
    x = torch.tensor([[0.0, 0.5, 0.95, 0.5, 0.3]], dtype=torch.float64)
    d = torch.tensor([[0.0, 0.1, 0.05, -0.04, -0.1]], dtype=torch.float64)
    # ball: 0.1 and -0.1 (2 of 5); box only: x + d = 0 (the first) and 1.0 (the third); free: 0.5 - 0.04
    ball, box = ph.pinned_fractions(x, d, eps=0.1, clamp=(0.0, 1.0))
    assert ball == pytest.approx(2 / 5) and box == pytest.approx(2 / 5)
    with pytest.raises(ValueError):
        ph.pinned_fractions(x, d[:, :3], eps=0.1)


def test_onset_experiment_against_independent_routes(digits64):
    """Predictions from dense Hessians; the frozen onset equals plain training on the fixed inputs x + delta."""
    x, y = digits64.x_train[:40], digits64.y_train[:40]

    def make_model(seed):
        torch.manual_seed(seed)
        return mlp(64, (6,), 10).double()

    attack = functools.partial(gradient_ascent, **PROJ)
    kw = dict(make_model=make_model, lr=0.1, steps=5, probes=((6, 3),), iters=2, k=2, tol=1e-8)
    std = ph.onset_experiment(0, x, y, attack=None, jeff=None, **kw)
    torch.manual_seed(0)
    ref = make_model(0)
    train(ref, x, y, lr=0.1, steps=5)
    space = ph.ParamSpace(ref)
    lam1 = float(torch.linalg.eigvalsh(hessian(space.loss)(space.theta, x, y))[-1])
    assert std["pred_A"] == pytest.approx(2 / lam1, rel=1e-5) and std["pred_B"] == pytest.approx(std["pred_A"])
    assert "frozen:obs" not in std and std["p6:found"] in (0.0, 1.0)
    same = ph.find_onset(
        ref, x, y, attack=None, lo=0.25 * std["pred_A"], hi=2 * std["pred_A"], steps=6, window=3, iters=2
    )
    assert std["p6:obs"] == pytest.approx(same.lr)

    variants = {"one": (functools.partial(gradient_ascent, **dict(PROJ, steps=1)), dict(PROJ, steps=1), True)}
    adv = ph.onset_experiment(0, x, y, attack=attack, jeff=dict(PROJ), variants=variants, **kw)
    torch.manual_seed(0)
    ref = make_model(0)
    train(ref, x, y, lr=0.1, steps=5, attack=attack)
    d = attack(ref, x, y).detach()
    space = ph.ParamSpace(ref)
    lam1 = float(torch.linalg.eigvalsh(hessian(space.loss)(space.theta, x + d, y))[-1])
    mu = torch.linalg.eigvals(jacrev(ph._training_grad_fn(space, x, y, **PROJ))(space.theta))
    assert adv["pred_A"] == pytest.approx(2 / lam1, rel=1e-5)
    assert adv["mu1"] == pytest.approx(float(mu.real.max()), rel=1e-5)
    lo, hi = 0.25 * min(adv["pred_A"], adv["pred_B"]), 2 * max(adv["pred_A"], adv["pred_B"])
    fixed = ph.find_onset(ref, x + d, y, attack=None, lo=lo, hi=hi, steps=6, window=3, iters=2)
    assert adv["frozen:obs"] == pytest.approx(fixed.lr)
    assert {"one:pred_A", "one:pred_B", "one:mu1", "one:lam1", "one:obs", "one:at_ball"} <= set(adv)
    with pytest.raises(ValueError):
        ph.onset_experiment(0, x, y, attack=None, jeff=None, **(kw | {"probes": ()}))
