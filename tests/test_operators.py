"""advnotes.operators against independent oracles: dense Hessians and Jacobians (torch.func), finite differences of
real training steps, dense eigensolvers; on the digits MLP and on a 1-d CNN with (N, 1, 40) inputs."""

from __future__ import annotations

import copy
import functools

import pytest
import torch
from torch.func import grad, hessian, jacrev, jvp

from advnotes import krylov, operators
from advnotes.attacks import gradient_ascent
from advnotes.models import mlp
from advnotes.training import train

ATTACK = dict(step_size=1.0, steps=3)
PROJ = dict(step_size=0.3, steps=3, eps=0.1, clamp=(0.0, 1.0))


@pytest.fixture(scope="module")
def tiny(digits64):
    """A 64-6-10 float64 MLP (P = 460), briefly trained, and 48 digits: small enough for dense matrices."""
    torch.manual_seed(0)
    model = mlp(64, (6,), 10).double()
    x, y = digits64.x_train[:48], digits64.y_train[:48]
    train(model, x, y, lr=0.1, steps=20)
    return model.eval(), x, y


@pytest.fixture(scope="module")
def dense(tiny):
    model, x, y = tiny
    space = operators.ParamSpace(model)
    H = hessian(space.loss)(space.theta, x, y)
    J = jacrev(operators.training_gradient_fn(space, x, y, **ATTACK))(space.theta)
    return space, H, J


def _rand(n, seed=0, dtype=torch.float64):
    return torch.randn(n, dtype=dtype, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------- the operator interface


def test_operators_have_the_krylov_interface(tiny):
    model, x, y = tiny
    H = operators.ParamHessian(model, x, y)
    J = operators.EffectiveJacobian(model, x, y, **ATTACK)
    for op, sym in ((H, True), (J, False)):
        assert isinstance(op, krylov.Operator)
        assert op.size == sum(p.numel() for p in model.parameters())
        assert op.dtype == torch.float64 and op.device == torch.device("cpu") and op.symmetric is sym
        out = op.matvec(_rand(op.size))
        assert out.shape == (op.size,) and out.dtype == op.dtype and not out.requires_grad


def test_param_space_round_trip(tiny):
    model, x, _ = tiny
    space = operators.ParamSpace(model)
    theta = torch.nn.utils.parameters_to_vector(model.parameters()).detach()
    assert torch.equal(space.theta, theta)
    assert torch.allclose(space.logits(space.theta, x), model(x), rtol=0, atol=1e-13)
    named = dict(model.named_parameters())
    assert all(torch.equal(t, named[n]) for n, t in space.unflatten(theta).items())


# ----------------------------------------------------------------------------- products against dense oracles


def test_param_hessian_matches_dense_hessian(tiny, dense):
    model, x, y = tiny
    _, H, _ = dense
    op = operators.ParamHessian(model, x, y)
    for seed in range(3):  # the cached gradient graph serves product after product
        v = _rand(H.shape[0], seed)
        assert torch.allclose(op.matvec(v), H @ v, rtol=1e-10, atol=1e-12)
    assert torch.allclose(operators.hvp_clean(model, x, y, v), H @ v, rtol=1e-10, atol=1e-12)


def test_hessian_at_fixed_delta_matches_dense_hessian_at_shifted_input(tiny):
    model, x, y = tiny
    delta = operators.attack_delta(model, x, y, **ATTACK)
    space = operators.ParamSpace(model)
    H = hessian(space.loss)(space.theta, x + delta, y)
    v = _rand(space.size, 1)
    assert torch.allclose(operators.hvp_fixed_delta(model, x, y, delta, v), H @ v, rtol=1e-10, atol=1e-12)
    assert torch.allclose(operators.ParamHessian(model, x, y, delta=delta).matvec(v), H @ v, rtol=1e-10, atol=1e-12)


def test_hvp_formulations_agree(tiny):
    """Reverse over reverse with a cached graph (ParamHessian) = forward over reverse (jvp of torch.func.grad)."""
    model, x, y = tiny
    op = operators.ParamHessian(model, x, y)
    g = grad(op.space.loss)
    for seed in range(3):
        v = _rand(op.size, seed)
        fwd_rev = jvp(lambda th: g(th, x, y), (op.space.theta,), (v,))[1]
        assert torch.allclose(op.matvec(v), fwd_rev, rtol=1e-10, atol=1e-13)


def test_attack_delta_matches_package_attack(tiny):
    model, x, y = tiny
    ref = gradient_ascent(model, x, y, **ATTACK)
    assert torch.allclose(operators.attack_delta(model, x, y, **ATTACK), ref, rtol=1e-12, atol=1e-13)
    space = operators.ParamSpace(model)
    d = operators.attack_in_theta(space, space.theta, x, y, **ATTACK)
    assert torch.allclose(d, ref, rtol=1e-12, atol=1e-13)


def test_jeff_matches_finite_differences_of_train_update(tiny):
    """-lr * J_eff v equals the central difference of one real `train` step (float64, h = 1e-6)."""
    model, x, y = tiny
    space = operators.ParamSpace(model)
    lr = 0.1

    def update(theta):
        net = copy.deepcopy(model)
        torch.nn.utils.vector_to_parameters(theta, net.parameters())
        attack = functools.partial(gradient_ascent, **ATTACK)
        return train(net, x, y, lr=lr, steps=1, attack=attack, record_updates=True).updates[0]

    v = _rand(space.size, 2)
    h = 1e-6
    fd = (update(space.theta + h * v) - update(space.theta - h * v)) / (2 * h)
    jv = operators.jeff_mvp(model, x, y, v, **ATTACK)
    # central differences: O(h^2) truncation + O(eps/h) round-off ~ 1e-10 relative
    assert float((fd + lr * jv).norm() / fd.norm()) < 1e-7


def test_jeff_matches_dense_jacobian_and_is_not_symmetric(tiny, dense):
    model, x, y = tiny
    _, H, J = dense
    v = _rand(J.shape[0], 3)
    assert torch.allclose(operators.jeff_mvp(model, x, y, v, **ATTACK), J @ v, rtol=1e-9, atol=1e-12)
    op = operators.EffectiveJacobian(model, x, y, **ATTACK)
    assert torch.allclose(op.matvec(v), J @ v, rtol=1e-9, atol=1e-12)
    assert float((J - J.T).norm() / J.norm()) > 1e-3  # the attack term makes it non-symmetric
    assert float((J - H).norm() / H.norm()) > 1e-2  # and different from the clean Hessian


def test_jeff_with_zero_steps_is_clean_hessian(tiny, dense):
    model, x, y = tiny
    _, H, _ = dense
    v = _rand(H.shape[0], 4)
    assert torch.allclose(operators.jeff_mvp(model, x, y, v, step_size=1.0, steps=0), H @ v, rtol=1e-10, atol=1e-12)


def test_training_gradient_matches_train_step(tiny):
    model, x, y = tiny
    g = operators.training_gradient(model, x, y, **ATTACK)
    space = operators.ParamSpace(model)
    assert torch.equal(g, operators.training_gradient_fn(space, x, y, **ATTACK)(space.theta).detach())
    net = copy.deepcopy(model)
    log = train(net, x, y, lr=0.5, steps=1, attack=functools.partial(gradient_ascent, **ATTACK), record_updates=True)
    assert torch.allclose(log.updates[0], -0.5 * g, rtol=1e-10, atol=1e-13)


# ----------------------------------------------------------------------------- the projected attack


def test_projected_attack_matches_package_attack_and_clips(tiny):
    model, x, y = tiny
    ref = gradient_ascent(model, x, y, **PROJ)
    d = operators.attack_delta(model, x, y, **PROJ)
    assert torch.allclose(d, ref, rtol=1e-12, atol=1e-13)
    assert float(d.abs().max()) <= 0.1 + 1e-12 and float((x + d).min()) >= -1e-12
    assert float((d.abs() >= 0.1 - 1e-12).double().mean()) > 0  # some coordinates are clipped


def test_projected_jeff_matches_finite_differences_of_train_update(tiny):
    """-lr J_eff v through the clipped attack equals central differences of one `train` step with threat's attack."""
    from advnotes import threat

    model, x, y = tiny
    space = operators.ParamSpace(model)
    attack = threat.training_attack("ascent", steps=3, step_size=0.3)

    def update(theta):
        net = copy.deepcopy(model)
        torch.nn.utils.vector_to_parameters(theta, net.parameters())
        return train(net, x, y, lr=0.1, steps=1, attack=attack, record_updates=True).updates[0]

    v = _rand(space.size, 5)
    fd = (update(space.theta + 1e-6 * v) - update(space.theta - 1e-6 * v)) / 2e-6
    jv = operators.jeff_mvp(model, x, y, v, **PROJ)
    assert float((fd + 0.1 * jv).norm() / fd.norm()) < 1e-7
    # the clipped coordinates matter: the unprojected J_eff gives another product
    free = operators.jeff_mvp(model, x, y, v, step_size=0.3, steps=3)
    assert float((free - jv).norm() / jv.norm()) > 1e-3


# ----------------------------------------------------------------------------- krylov.top_eig on the operators


def test_top_eig_of_param_hessian_matches_dense_eigh(tiny, dense):
    model, x, y = tiny
    _, H, _ = dense
    ref_vals, ref_vecs = torch.linalg.eigh(H)
    vals, vecs, n = krylov.top_eig(operators.ParamHessian(model, x, y), k=3, tol=1e-10)
    assert torch.allclose(vals, ref_vals.flip(0)[:3], rtol=1e-9, atol=0)
    assert abs(float(vecs[:, 0] @ ref_vecs[:, -1])) > 1 - 1e-8
    assert 3 < n < 1000


def test_top_eig_of_jeff_matches_dense_eig(tiny, dense):
    model, x, y = tiny
    _, _, J = dense
    ref = torch.linalg.eigvals(J)
    ref = ref[ref.real.argsort(descending=True)][:2]
    vals, vecs, _ = krylov.top_eig(operators.EffectiveJacobian(model, x, y, **ATTACK), k=2, tol=1e-10)
    assert torch.allclose(vals, ref, rtol=1e-8, atol=1e-10)
    resid = J.to(torch.complex128) @ vecs[:, 0] - vals[0] * vecs[:, 0]
    assert float(resid.abs().max()) < 1e-7


def test_projected_jeff_top_eig_matches_dense(tiny):
    model, x, y = tiny
    space = operators.ParamSpace(model)
    J = jacrev(operators.training_gradient_fn(space, x, y, **PROJ))(space.theta)
    mu_dense = torch.linalg.eigvals(J)
    mu_dense = mu_dense[mu_dense.real.argsort(descending=True)]
    mu, _, _ = krylov.top_eig(operators.EffectiveJacobian(model, x, y, **PROJ), k=2, tol=1e-10)
    assert float((mu - mu_dense[:2]).abs().max() / mu_dense[0].abs()) < 1e-8


# ----------------------------------------------------------------------------- a 1-d CNN, inputs (N, 1, 40)


def test_cnn_param_hessian_and_jeff_match_dense(tiny_cnn):
    """The operators work unchanged on (N, 1, 40) signals through Conv1d and MaxPool1d (no box: clamp=None)."""
    model, x, y = tiny_cnn
    space = operators.ParamSpace(model)
    knobs = dict(step_size=0.2, steps=3, eps=0.25)
    H = hessian(space.loss)(space.theta, x, y)
    J = jacrev(operators.training_gradient_fn(space, x, y, **knobs))(space.theta)
    v = _rand(space.size, 6)
    assert torch.allclose(operators.ParamHessian(model, x, y).matvec(v), H @ v, rtol=1e-10, atol=1e-12)
    assert torch.allclose(operators.EffectiveJacobian(model, x, y, **knobs).matvec(v), J @ v, rtol=1e-9, atol=1e-12)
    ref = gradient_ascent(model, x, y, **knobs)
    assert torch.allclose(operators.attack_delta(model, x, y, **knobs), ref, rtol=1e-12, atol=1e-13)
    vals, _, _ = krylov.top_eig(operators.ParamHessian(model, x, y), k=2, tol=1e-10)
    assert torch.allclose(vals, torch.linalg.eigvalsh(H).flip(0)[:2], rtol=1e-9, atol=0)
    mu, _, _ = krylov.top_eig(operators.EffectiveJacobian(model, x, y, **knobs), k=2, tol=1e-10)
    ref_mu = torch.linalg.eigvals(J)
    ref_mu = ref_mu[ref_mu.real.argsort(descending=True)][:2]
    assert float((mu - ref_mu).abs().max() / ref_mu[0].abs()) < 1e-8


def test_cnn_jeff_matches_finite_differences_of_train_update(tiny_cnn):
    """-lr J_eff v for the CNN equals central differences of one `train` step with the package's attack."""
    model, x, y = tiny_cnn
    knobs = dict(step_size=0.2, steps=3, eps=0.25)
    space = operators.ParamSpace(model)
    attack = functools.partial(gradient_ascent, **knobs)

    def update(theta):
        net = copy.deepcopy(model)
        torch.nn.utils.vector_to_parameters(theta, net.parameters())
        return train(net, x, y, lr=0.1, steps=1, attack=attack, record_updates=True).updates[0]

    v = _rand(space.size, 7)
    # h = 1e-8: G is piecewise smooth and jumps where a gate of the attack's path flips (delta is built from input
    # gradients); at h = 1e-6 this untrained CNN crosses such a flip (error ~1), at 1e-8 it does not (round-off
    # ~ eps / h ~ 1e-8 relative, measured 1.6e-9).
    h = 1e-8
    fd = (update(space.theta + h * v) - update(space.theta - h * v)) / (2 * h)
    jv = operators.jeff_mvp(model, x, y, v, **knobs)
    assert float((fd + 0.1 * jv).norm() / fd.norm()) < 1e-7


# ----------------------------------------------------------------------------- bad input


def test_bad_inputs(tiny):
    model, x, y = tiny
    P = operators.ParamSpace(model).size
    v = torch.ones(P, dtype=torch.float64)
    with pytest.raises(ValueError, match="shape"):
        operators.hvp_clean(model, x, y, torch.ones(P + 1, dtype=torch.float64))
    with pytest.raises(ValueError, match="non-finite"):
        operators.hvp_clean(model, x, y, torch.full((P,), float("nan"), dtype=torch.float64))
    with pytest.raises(TypeError):
        operators.hvp_clean(model, x, y, [1.0] * P)
    with pytest.raises(ValueError, match="labels"):
        operators.hvp_clean(model, x, y + 20, v)
    with pytest.raises(TypeError, match="parameters are"):
        operators.hvp_clean(model, x.float(), y, v)
    with pytest.raises(ValueError, match="shape of x"):
        operators.hvp_fixed_delta(model, x, y, x[:2], v)
    with pytest.raises(ValueError, match="step_size"):
        operators.jeff_mvp(model, x, y, v, step_size=-1.0, steps=2)
    with pytest.raises(ValueError, match="steps"):
        operators.attack_delta(model, x, y, step_size=1.0, steps=1.5)
    with pytest.raises(ValueError, match="eps"):
        operators.attack_delta(model, x, y, step_size=0.1, steps=1, eps=-1.0)
    with pytest.raises(ValueError, match="clamp"):
        operators.attack_delta(model, x, y, step_size=0.1, steps=1, clamp=(1.0, 0.0))
    with pytest.raises(TypeError, match="Module"):
        operators.ParamSpace(lambda t: t)
    with pytest.raises(ValueError, match=r"shape \(460,\)"):
        operators.ParamHessian(model, x, y).matvec(v[:3])
    with pytest.raises(TypeError, match="ParamSpace"):
        operators.training_gradient_fn(model, x, y, **ATTACK)
