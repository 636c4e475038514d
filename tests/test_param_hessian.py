"""Chapter 4's conveniences (advnotes.param_hessian) against independent oracles: dense eigensolvers, per-example
loops, the training run itself. The operators have their own tests (test_operators.py), the solvers theirs
(test_krylov.py)."""

from __future__ import annotations

import copy
import functools

import numpy as np
import pytest
import torch
from torch.func import hessian, jacrev

from advnotes import operators
from advnotes import param_hessian as ph
from advnotes.attacks import gradient_ascent
from advnotes.models import cnn1d, mlp
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
    space = operators.ParamSpace(model)
    H = hessian(space.loss)(space.theta, x, y)
    J = jacrev(operators.training_gradient_fn(space, x, y, **ATTACK))(space.theta)
    return space, H, J


def _rand(n, seed=0, dtype=torch.float64):
    return torch.randn(n, dtype=dtype, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------- top eigenpairs (krylov.top_eig behind)


def test_lanczos_matches_dense_eigh(tiny, dense):
    model, x, y = tiny
    _, H, _ = dense
    ref_vals, ref_vecs = torch.linalg.eigh(H)
    vals, vecs, n = ph.param_hessian_top_eig(model, x, y, k=3, tol=1e-10)
    assert torch.allclose(vals, ref_vals.flip(0)[:3], rtol=1e-9, atol=0)
    assert abs(float(vecs[:, 0] @ ref_vecs[:, -1])) > 1 - 1e-8  # same top eigenvector up to sign
    assert torch.allclose(vecs.T @ vecs, torch.eye(3, dtype=vecs.dtype), atol=1e-8)
    assert 3 < n < 1000


def test_lanczos_with_fixed_delta_matches_dense(tiny):
    model, x, y = tiny
    delta = operators.attack_delta(model, x, y, **ATTACK)
    space = operators.ParamSpace(model)
    ref = torch.linalg.eigvalsh(hessian(space.loss)(space.theta, x + delta, y))[-1]
    vals, _, _ = ph.param_hessian_top_eig(model, x, y, delta=delta, tol=1e-10)
    assert abs(float(vals[0]) - float(ref)) < 1e-9 * float(ref)


def test_power_iteration_matches_dense_eigh(tiny, dense):
    model, x, y = tiny
    _, H, _ = dense
    top = float(torch.linalg.eigvalsh(H)[-1])
    vals, vecs, n = ph.param_hessian_top_eig(model, x, y, method="power", tol=1e-12, max_hvp=5000)
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


def test_lanczos_uses_fewer_products_than_arpack_and_matches_dense(tiny, dense):
    model, x, y = tiny
    _, H, _ = dense
    top = float(torch.linalg.eigvalsh(H)[-1])
    vals, _, n = ph.param_hessian_top_eig(model, x, y, tol=1e-3)
    vals_a, _, n_a = ph.param_hessian_top_eig(model, x, y, tol=1e-3, method="arpack")
    assert abs(float(vals[0]) - top) < 1e-5 * top and abs(float(vals_a[0]) - top) < 1e-5 * top
    assert n <= n_a


def test_warm_start_does_not_change_the_answer(tiny):
    model, x, y = tiny
    vals, vecs, _ = ph.param_hessian_top_eig(model, x, y, tol=1e-10)
    vals2, _, n2 = ph.param_hessian_top_eig(model, x, y, tol=1e-10, v0=vecs[:, 0])
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
        Ji = jacrev(operators.training_gradient_fn(space, x[i : i + 1], y[i : i + 1], **ATTACK))(space.theta)
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
    P = operators.ParamSpace(model).size
    v = torch.ones(P, dtype=torch.float64)
    with pytest.raises(ValueError, match="labels"):
        ph.param_hessian_top_eig(model, x, y + 20)
    with pytest.raises(TypeError, match="parameters are"):
        ph.param_hessian_top_eig(model, x.float(), y)
    with pytest.raises(ValueError, match="shape of x"):
        ph.sample_shares(model, x, y, v, delta=x[:2])
    with pytest.raises(ValueError, match="step_size"):
        ph.jeff_top_eig(model, x, y, step_size=-1.0, steps=2)
    with pytest.raises(ValueError, match=r"v0 must have shape"):
        ph.jeff_top_eig(model, x, y, **ATTACK, v0=v[:3])
    with pytest.raises(ValueError, match="k="):
        ph.param_hessian_top_eig(model, x, y, k=P)
    with pytest.raises(ValueError, match="tol"):
        ph.param_hessian_top_eig(model, x, y, tol=0.0)
    with pytest.raises(ValueError, match="method"):
        ph.param_hessian_top_eig(model, x, y, method="qr")
    with pytest.raises(ValueError, match="k=1"):
        ph.param_hessian_top_eig(model, x, y, k=2, method="power")
    with pytest.raises(ValueError, match="method"):
        ph.jeff_top_eig(model, x, y, **ATTACK, method="lanczos")
    with pytest.raises(ValueError, match="zero"):
        ph.param_hessian_top_eig(model, x, y, v0=torch.zeros(P, dtype=torch.float64))
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
    with pytest.raises(RuntimeError, match="did not reach"):
        ph.param_hessian_top_eig(model, x, y, tol=1e-12, max_hvp=3)


# ----------------------------------------------------------------------------- the projected attack


PROJ = dict(step_size=0.3, steps=3, eps=0.1, clamp=(0.0, 1.0))


def test_projected_jeff_top_eig_matches_dense(tiny):
    model, x, y = tiny
    space = operators.ParamSpace(model)
    J = jacrev(operators.training_gradient_fn(space, x, y, **PROJ))(space.theta)
    mu_dense = torch.linalg.eigvals(J)
    mu_dense = mu_dense[mu_dense.real.argsort(descending=True)]
    mu, _, _ = ph.jeff_top_eig(model, x, y, **PROJ, k=2, tol=1e-10)
    assert mu.dtype == torch.complex128
    assert float((mu - mu_dense[:2]).abs().max() / mu_dense[0].abs()) < 1e-8
    mu_a, _, _ = ph.jeff_top_eig(model, x, y, **PROJ, k=2, tol=1e-10, method="arpack")
    assert float((mu_a - mu_dense[:2]).abs().max() / mu_dense[0].abs()) < 1e-8


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
    space = operators.ParamSpace(model)
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
    space = operators.ParamSpace(ref)
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
    space = operators.ParamSpace(ref)
    lam1 = float(torch.linalg.eigvalsh(hessian(space.loss)(space.theta, x + d, y))[-1])
    mu = torch.linalg.eigvals(jacrev(operators.training_gradient_fn(space, x, y, **PROJ))(space.theta))
    assert adv["pred_A"] == pytest.approx(2 / lam1, rel=1e-5)
    assert adv["mu1"] == pytest.approx(float(mu.real.max()), rel=1e-5)
    lo, hi = 0.25 * min(adv["pred_A"], adv["pred_B"]), 2 * max(adv["pred_A"], adv["pred_B"])
    fixed = ph.find_onset(ref, x + d, y, attack=None, lo=lo, hi=hi, steps=6, window=3, iters=2)
    assert adv["frozen:obs"] == pytest.approx(fixed.lr)
    assert {"one:pred_A", "one:pred_B", "one:mu1", "one:lam1", "one:obs", "one:at_ball"} <= set(adv)
    with pytest.raises(ValueError):
        ph.onset_experiment(0, x, y, attack=None, jeff=None, **(kw | {"probes": ()}))


# ----------------------------------------------------------------------------- the second setting: a 1-d CNN, no box


CNN_ATTACK = dict(step_size=0.2, steps=3, eps=0.25)  # MNIST-1D: eps in units of the signal's std, no box


def test_cnn_top_eigs_and_shares_match_dense(tiny_cnn):
    model, x, y = tiny_cnn
    space = operators.ParamSpace(model)
    H = hessian(space.loss)(space.theta, x, y)
    J = jacrev(operators.training_gradient_fn(space, x, y, **CNN_ATTACK))(space.theta)
    vals, vecs, _ = ph.param_hessian_top_eig(model, x, y, k=2, tol=1e-10)
    assert torch.allclose(vals, torch.linalg.eigvalsh(H).flip(0)[:2], rtol=1e-9, atol=0)
    mu, _, _ = ph.jeff_top_eig(model, x, y, **CNN_ATTACK, k=2, tol=1e-10)
    ref = torch.linalg.eigvals(J)
    ref = ref[ref.real.argsort(descending=True)][:2]
    assert float((mu - ref).abs().max() / ref[0].abs()) < 1e-8
    v = vecs[:, 0]
    shares = ph.sample_shares(model, x, y, v)
    q = torch.stack([v @ hessian(space.loss)(space.theta, x[i : i + 1], y[i : i + 1]) @ v for i in range(6)])
    assert torch.allclose(shares[:6], q / (len(x) * float(v @ H @ v)), rtol=1e-8, atol=1e-12)
    jshares = ph.jeff_sample_shares(model, x, y, v, **CNN_ATTACK)
    Ji = jacrev(operators.training_gradient_fn(space, x[:1], y[:1], **CNN_ATTACK))(space.theta)
    assert float(jshares[0]) == pytest.approx(float(v @ Ji @ v) / (len(x) * float(v @ J @ v)), rel=1e-8, abs=1e-12)


def test_pinned_fractions_without_a_box():
    x = torch.tensor([[-1.5, 0.0, 1.0, 2.0]], dtype=torch.float64)
    d = torch.tensor([[0.25, -0.25, 0.0, 0.1]], dtype=torch.float64)
    assert ph.pinned_fractions(x, d, eps=0.25, clamp=None) == (0.5, 0.0)
    # with the digits' box, x + d = 1.0 would count as pinned at the box
    assert ph.pinned_fractions(x, d, eps=0.25, clamp=(0.0, 1.0))[1] > 0


def test_cnn_experiments_run_without_a_box(tiny_cnn):
    """seed_experiment / onset_experiment on (N, 1, 40) signals with box=None: no box fraction, the setting's robust
    accuracy is the one called."""
    model, x, y = tiny_cnn

    def make_model(seed):
        torch.manual_seed(seed)
        return cnn1d(40, channels=(2, 3), kernel_size=5, pool=2, num_classes=4).double()

    attack = functools.partial(gradient_ascent, **CNN_ATTACK)
    calls = []

    def robust(m, xt, yt):
        calls.append(xt.shape)
        return 0.5

    out = ph.seed_experiment(
        0,
        x,
        y,
        make_model=make_model,
        runs={"ascent": (attack, dict(CNN_ATTACK))},
        lr=0.05,
        steps=3,
        window=2,
        probe_steps=0,
        k=1,
        tol=1e-6,
        x_test=x[:8],
        y_test=y[:8],
        box=None,
        robust_accuracy=robust,
    )["ascent"]
    assert out["at_box"] == 0.0 and 0 < out["at_ball"] <= 1 and out["robust_acc"] == 0.5 and calls == [(8, 1, 40)]
    kw = dict(make_model=make_model, lr=0.05, steps=3, probes=((4, 2),), iters=1, k=1, tol=1e-6, box=None)
    onset = ph.onset_experiment(0, x, y, attack=attack, jeff=dict(CNN_ATTACK), **kw)
    assert onset["at_box"] == 0.0 and np.isfinite(onset["pred_A"]) and np.isfinite(onset["pred_B"])
