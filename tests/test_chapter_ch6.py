"""advnotes.chapters.ch6: chapter 6's interventions against independent oracles.

Oracles: advnotes.training.train (the plain loop, and a hand-written block loop for the reused
perturbation), per-example gradients summed by hand, dense Jacobians of the training gradient
(torch.func.jacrev) and their eigenvalues, advnotes.curvature.input_hessian_eig (the input-Hessian
eigenvectors of a module), dense projectors, and plain arithmetic.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from torch.func import jacrev

from advnotes import operators, settings, threat
from advnotes.chapters import ch6
from advnotes.claims import ch6 as claims
from advnotes.curvature import input_hessian_eig
from advnotes.models import cnn1d, mlp
from advnotes.stats import t_interval
from advnotes.training import train

ASCENT = dict(step_size=0.3, steps=3, eps=0.1, clamp=(0.0, 1.0))


def net(seed=0, n=16, hidden=(12,), classes=5):
    torch.manual_seed(seed)
    return mlp(n, hidden, classes).double()


def cnn(seed=0, length=40, classes=10):
    torch.manual_seed(seed)
    return cnn1d(length, channels=(3, 3), num_classes=classes).double().eval()


def data(n=16, batch=20, classes=5, seed=0, shape=None):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, *(shape or (n,)), dtype=torch.float64, generator=gen)
    y = torch.randint(0, classes, (batch,), generator=gen)
    return x, y


def attack():
    return threat.training_attack("ascent", step_size=0.3, steps=3)


def flat(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


# ----------------------------------------------------------------------------- 1a: reuse


def test_reused_attack_recomputes_every_k_calls_and_at_a_new_model():
    calls = []

    def counting(model, x, y):
        calls.append(id(model))
        return torch.full_like(x, float(len(calls)))

    reused = ch6.ReusedAttack(counting, 3)
    m1, m2 = net(), net()
    x, y = data()
    out = [float(reused(m1, x, y)[0, 0]) for _ in range(7)]
    assert out == [1, 1, 1, 2, 2, 2, 3]
    assert float(reused(m2, x, y)[0, 0]) == 4  # a new run recomputes at once
    assert reused.calls == 8 and reused.computed == 4


def test_training_with_a_reused_attack_is_blocks_of_plain_steps_on_frozen_inputs():
    """Oracle: for each block, delta from the attack at the block's start, then plain train() on x + delta."""
    x, y = data()
    a, k, blocks = attack(), 3, 3
    model = net()
    train(model, x, y, lr=0.2, steps=k * blocks, attack=ch6.ReusedAttack(a, k))
    ref = net()
    for _ in range(blocks):
        delta = a(ref, x, y).detach()
        train(ref, x + delta, y, lr=0.2, steps=k)
    assert torch.allclose(flat(model), flat(ref), rtol=0, atol=1e-12)
    # and reuse 1 is ordinary adversarial training
    live, once = net(), net()
    train(live, x, y, lr=0.2, steps=4, attack=a)
    train(once, x, y, lr=0.2, steps=4, attack=ch6.ReusedAttack(a, 1))
    assert torch.equal(flat(live), flat(once))


# ----------------------------------------------------------------------------- the loop


def test_the_loop_without_options_is_train_and_with_frozen_delta_a_plain_step():
    x, y = data()
    a = attack()
    ref, mine = net(), net()
    log_ref = train(ref, x, y, lr=0.3, steps=6, attack=a)
    log = ch6.adversarial_steps(mine, x, y, lr=0.3, steps=6, attack=a)
    assert torch.allclose(flat(ref), flat(mine), rtol=0, atol=1e-13)
    assert log.update_cos == pytest.approx(log_ref.update_cos, abs=1e-12)
    assert log.lr == [0.3] * 6
    delta = a(mine, x, y).detach()
    plain = copy.deepcopy(mine)
    train(plain, x + delta, y, lr=0.3, steps=4)
    ch6.adversarial_steps(mine, x, y, lr=0.3, steps=4, attack=lambda *_: delta)
    assert torch.allclose(flat(plain), flat(mine), rtol=0, atol=1e-13)


def test_the_reweighted_step_is_the_weighted_sum_of_per_example_gradients():
    """Oracle: one backward pass per example, weighted by w_i / B and summed by hand."""
    x, y = data()
    a = attack()
    model = net()
    before = copy.deepcopy(model)
    ch6.adversarial_steps(model, x, y, lr=0.1, steps=1, attack=a, reweight=True)
    delta = a(before, x, y).detach()
    w = ch6.equalising_weights(before(x + delta), y)
    params = list(before.parameters())
    total = [torch.zeros_like(p) for p in params]
    for i in range(x.shape[0]):
        loss = F.cross_entropy(before(x[i : i + 1] + delta[i : i + 1]), y[i : i + 1])
        for t, g in zip(total, torch.autograd.grad(loss, params), strict=True):
            t += w[i] * g / x.shape[0]
    expect = flat(before) - 0.1 * torch.cat([t.reshape(-1) for t in total])
    assert torch.allclose(flat(model), expect, rtol=0, atol=1e-12)


def test_the_scaled_step_uses_c_over_the_top_eigenvalue_of_the_dense_jeff():
    """Oracle: the dense Jacobian of the training gradient (jacrev) and numpy-free eigvals."""
    x, y = data(batch=12)
    model = net(hidden=(6,))
    space = operators.ParamSpace(model)
    G = operators.training_gradient_fn(space, x, y, **ASCENT)
    mu = torch.linalg.eigvals(jacrev(G)(space.theta))
    mu1 = float(mu.real.max())
    lr, c = 100.0, 1.5
    a = threat.training_attack("ascent", step_size=ASCENT["step_size"], steps=ASCENT["steps"])
    log = ch6.adversarial_steps(model, x, y, lr=lr, steps=1, attack=a, scaled={"c": c, "every": 5, "jeff": ASCENT})
    assert log.curvature[0] == pytest.approx(mu1, rel=2e-2)
    assert log.lr[0] == pytest.approx(min(lr, c / log.curvature[0]), rel=1e-12)
    assert log.products > 0
    capped = ch6.adversarial_steps(
        net(hidden=(6,)), x, y, lr=1e-4, steps=1, attack=a, scaled={"c": c, "every": 5, "jeff": ASCENT}
    )
    assert capped.lr[0] == 1e-4  # the fixed rate caps the scaled one


# ----------------------------------------------------------------------------- 2: weights and shares


def test_equalising_weights_keep_the_sum_and_equalise_the_residuals():
    gen = torch.Generator().manual_seed(3)
    logits = 3 * torch.randn(50, 7, dtype=torch.float64, generator=gen)
    y = torch.randint(0, 7, (50,), generator=gen)
    w = ch6.equalising_weights(logits, y)
    p = torch.softmax(logits, 1).numpy()
    r = [math.dist(p[i], [float(j == int(y[i])) for j in range(7)]) for i in range(50)]  # oracle residual lengths
    weighted = [float(w[i]) * r[i] for i in range(50)]
    assert sum(weighted) == pytest.approx(sum(r), rel=1e-13)  # the summed residual length is kept
    assert max(weighted) - min(weighted) < 1e-12 * max(weighted)
    shares = ch6.residual_shares(logits, y, w)
    assert float(shares.sum()) == pytest.approx(1.0, abs=1e-14)
    idx = ch6.least_confident(logits, y)
    assert float(shares[idx].sum()) == pytest.approx(idx.numel() / 50, abs=1e-14)  # the decile carries its size
    # without the weights the least-confident decile carries more than its size
    assert float(ch6.residual_shares(logits, y)[idx].sum()) > idx.numel() / 50


def test_least_confident_picks_the_smallest_p_y():
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0], [1.0, 1.0], [3.0, 0.0]], dtype=torch.float64)
    y = torch.tensor([0, 0, 0, 0])
    assert ch6.least_confident(logits, y, fraction=0.25).tolist() == [1]
    assert sorted(ch6.least_confident(logits, y, fraction=0.5).tolist()) == [1, 2]


def test_decile_share_is_the_projection_of_the_decile_gradient():
    """Oracle: per-example gradients by hand; the shares of the decile and the rest add to 1."""
    x, y = data(batch=30)
    model = net()
    w = ch6.equalising_weights(model(x), y)
    share = ch6.decile_share(model, x, y, weights=w)
    idx = set(ch6.least_confident(model(x), y).tolist())
    params = list(model.parameters())
    grads = []
    for i in range(30):
        loss = F.cross_entropy(model(x[i : i + 1]), y[i : i + 1]) * w[i] / 30
        grads.append(torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, params)]))
    g = sum(grads)
    g_d = sum(grads[i] for i in idx)
    g_rest = sum(grads[i] for i in range(30) if i not in idx)
    assert share == pytest.approx(float(g_d @ g / (g @ g)), abs=1e-12)
    assert share + float(g_rest @ g / (g @ g)) == pytest.approx(1.0, abs=1e-12)


# ----------------------------------------------------------------------------- 3: subspaces


def projector(basis):
    return torch.einsum("bnk,bmk->bnm", basis, basis)


@pytest.mark.parametrize("which", ["mlp", "cnn"])
def test_hessian_subspace_spans_the_top_eigenvectors_of_the_module(which):
    if which == "mlp":
        model, (x, y) = net().eval(), data()
    else:
        model, (x, y) = cnn(), data(batch=6, classes=10, shape=(1, 40))
    k = 3
    basis = ch6.hessian_subspace(model, x, y, k)
    _, vecs = input_hessian_eig(model, x, y)
    assert torch.allclose(projector(basis), projector(vecs[:, :, :k]), atol=1e-10)
    eye = torch.eye(k, dtype=x.dtype).expand(x.shape[0], k, k)
    assert torch.allclose(basis.transpose(1, 2) @ basis, eye, atol=1e-12)
    batched = ch6.hessian_subspace(model, x, y, k, batched=True)
    assert torch.allclose(projector(batched), projector(basis), atol=1e-10)


def test_project_splits_a_vector_into_orthogonal_parts():
    x, y = data(batch=5)
    basis = ch6.hessian_subspace(net().eval(), x, y, 2)
    v = torch.randn(5, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    top, rest = ch6.project(v, basis, "top"), ch6.project(v, basis, "complement")
    assert torch.allclose(top + rest, v, atol=1e-14)
    assert float((top * rest).sum(1).abs().max()) < 1e-13
    assert torch.allclose(ch6.project(top, basis, "top"), top, atol=1e-14)
    assert ch6.project(v, basis, "full") is v


@pytest.mark.parametrize("which", ["mlp", "cnn"])
def test_restricted_perturbations_lie_in_their_span_and_meet_the_budget(which):
    if which == "mlp":
        model, (x, y), eps = net().eval(), data(), 0.1
    else:
        model, (x, y), eps = cnn(), data(batch=6, classes=10, shape=(1, 40)), 0.25
    basis = ch6.hessian_subspace(model, x, y, 3)
    for part, other in (("top", "complement"), ("complement", "top")):
        d = ch6.restricted_attack(part=part, k=3, eps=eps)(model, x, y)
        assert d.shape == x.shape
        assert float(ch6.project(d, basis, other).norm() / d.norm()) < 1e-10
        assert float(d.abs().amax()) <= eps * (1 + 1e-12)
    full = ch6.restricted_attack(part="full", k=3, eps=eps)(model, x, y)
    assert float(full.abs().amax()) <= eps * (1 + 1e-12)
    loss = lambda d: float(F.cross_entropy(model(x + d), y).detach())  # noqa: E731
    assert loss(full) > loss(torch.zeros_like(x))  # an attack: the loss rises


def test_robustness_fraction_is_the_share_of_the_gain():
    runs = {
        "standard": {"robust": [0.2, 0.3, 0.4]},
        "full": {"robust": [0.6, 0.5, 0.4]},
        "top": {"robust": [0.5, 0.5, 0.5]},
    }
    out = ch6.robustness_fraction(runs)
    assert out[:2] == pytest.approx([0.75, 1.0]) and math.isnan(out[2])


# ----------------------------------------------------------------------------- pipelines and tables


def test_identity_errors_are_round_off_on_a_small_net():
    x, y = data(n=64, batch=24, classes=10)
    errors = ch6.identity_errors(lambda s: net(s, n=64, classes=10), x, y, attack=attack(), eps=0.1, k=3)
    assert set(errors) == {"plain_step", "reuse_one", "subspace", "weights"}
    assert errors["plain_step"] < 1e-12 and errors["reuse_one"] == 0
    assert errors["subspace"] < 1e-10 and errors["weights"] < 1e-12


def test_seed_pipeline_returns_every_quantity():
    x, y = data(n=16, batch=32, classes=5)
    out = ch6.seed_interventions_1_2(
        0,
        x,
        y,
        make_model=lambda s: net(s, hidden=(6,)),
        attack=threat.training_attack("ascent", step_size=0.3, steps=2),
        jeff=dict(step_size=0.3, steps=2, eps=0.1, clamp=(0.0, 1.0)),
        warmup=dict(lr=0.1, steps=3),
        reuse=2,
        lr=0.5,
        steps=6,
        c=1.5,
        c_over=3.0,
        every=3,
        window=3,
        x_test=x,
        y_test=y,
        robust=dict(steps=2, restarts=1),
    )
    for key in ("pred_A", "pred_B", "onset_live", "onset_reuse", "scaled_products", "over_eta_mu"):
        assert math.isfinite(out[key]), key
    for name in ("control", "scaled", "over", "reweight"):
        assert 0 <= out[f"{name}_neg"] <= 1 and -1 <= out[f"{name}_cos"] <= 1
    assert out["scaled_eta_mu"] == pytest.approx(1.5, rel=1e-9) or out["scaled_lr"] == 0.5
    # the matched-step controls run at a fixed step equal to the scaled runs' mean eta_t
    assert out["matched_lr"] == pytest.approx(out["scaled_lr"], rel=1e-12)
    assert out["matched_over_lr"] == pytest.approx(out["over_lr"], rel=1e-12)
    assert out["control_lr"] == 0.5 and 0 <= out["matched_neg"] <= 1


def test_subspace_ensembles_trains_four_runs_per_seed():
    setting = settings.get("digits-mlp")
    split = setting.load(dtype="float32")
    recipe = {**setting.recipe, "steps": 2}
    out = ch6.subspace_ensembles(setting, split, seeds=range(2), k=2, recipe=recipe, robust_n=10)
    assert set(out) == {"standard", "full", "top", "complement"}
    assert all(len(run["robust"]) == 2 and len(run["clean"]) == 2 for run in out.values())
    # L2 length of an L-inf-bounded perturbation: at most eps * sqrt(d), positive for an attack
    bound = setting.eps * split.x_test[0].numel() ** 0.5
    for part in ("full", "top", "complement"):
        assert all(0 < v <= bound * (1 + 1e-5) for v in out[part]["delta_l2"]), part
    assert "delta_l2" not in out["standard"]
    two = ch6.subspace_ensembles(setting, split, seeds=range(2), k=2, recipe=recipe, robust_n=10, parts=("full",))
    assert set(two) == {"standard", "full"} and two["full"]["robust"] == out["full"]["robust"]


def test_tables_and_comparison_lines():
    results = [{"a": 1.0}, {"a": 2.0}, {"a": 3.0}, {"a": 4.0}, {"a": 5.0}]
    assert ch6.column(results, "a") == [1.0, 2.0, 3.0, 4.0, 5.0]
    (row,) = ch6.interval_rows(results, {"the a": "a"})
    assert row["quantity"] == "the a" and row["mean"] == 3.0 and row["95% CI"] == t_interval([1, 2, 3, 4, 5])[1:]
    rec = claims.SCALED_CALM.measure([0.0, 0.1, 0.0, 0.1, 0.0])
    line = ch6.compare(rec)
    assert line.startswith("ch6-scaled-calm [digits-mlp]: predicted < 0.5") and line.endswith(rec.outcome)


def test_a_diverging_run_stops_at_its_last_finite_weights():
    x, y = data()
    model = net()
    log = ch6.adversarial_steps(model, x, y, lr=1e300, steps=20, attack=None)
    assert log.diverged and len(log.lr) < 20
    assert torch.isfinite(flat(model)).all()
    calm = ch6.adversarial_steps(net(), x, y, lr=0.1, steps=3, attack=None)
    assert not calm.diverged and len(calm.lr) == 3
