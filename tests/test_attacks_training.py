"""attacks (gradient ascent, PGD) and training, against plain autograd loops."""

from __future__ import annotations

from functools import partial

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from advnotes.attacks import gradient_ascent, loss_per_example, pgd_l2, pgd_linf, random_direction
from advnotes.models import flat_params, mlp
from advnotes.training import accuracy, robust_accuracy, train


@pytest.fixture()
def batch(digits64):
    return digits64.x_test[:12], digits64.y_test[:12]


def per_example_grad(model, x, y):
    out = []
    for xi, yi in zip(x, y):
        xi = xi.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(F.cross_entropy(model(xi[None]), yi[None]), xi)
        out.append(g)
    return torch.stack(out)


def test_gradient_ascent_is_the_plain_recurrence(trained_mlp, batch):
    """Oracle: a per-example Python loop of delta <- delta + alpha * grad."""
    x, y = batch
    alpha, steps = 0.3, 4
    delta = gradient_ascent(trained_mlp, x, y, step_size=alpha, steps=steps)
    ref = torch.zeros_like(x)
    for _ in range(steps):
        ref = ref + alpha * per_example_grad(trained_mlp, x + ref, y)
    assert torch.allclose(delta, ref, atol=1e-12)
    one = gradient_ascent(trained_mlp, x, y, step_size=alpha, steps=1)
    assert torch.allclose(one, alpha * per_example_grad(trained_mlp, x, y), atol=1e-14)
    assert torch.equal(gradient_ascent(trained_mlp, x, y, step_size=alpha, steps=0), torch.zeros_like(x))
    assert trained_mlp.training is False and all(p.grad is None for p in trained_mlp.parameters())


def test_attacks_treat_examples_independently(trained_mlp, batch):
    x, y = batch
    full = gradient_ascent(trained_mlp, x, y, step_size=0.5, steps=3)
    part = gradient_ascent(trained_mlp, x[3:5], y[3:5], step_size=0.5, steps=3)
    assert torch.allclose(full[3:5], part, atol=1e-13)


def test_attacks_raise_the_loss(trained_mlp, batch):
    x, y = batch
    before = loss_per_example(trained_mlp, x, y)
    for attack in (
        partial(gradient_ascent, step_size=0.5, steps=5),
        partial(pgd_linf, eps=0.3, step_size=0.1, steps=5),
        partial(pgd_l2, eps=2.0, step_size=0.5, steps=5),
    ):
        after = loss_per_example(trained_mlp, x + attack(trained_mlp, x, y), y)
        assert (after >= before - 1e-12).all() and (after > before).any()


def test_pgd_respects_its_ball_and_the_data_range(trained_mlp, batch):
    x, y = batch
    gen = torch.Generator().manual_seed(0)
    d = pgd_linf(trained_mlp, x, y, eps=0.25, step_size=0.1, steps=6, random_start=True, generator=gen)
    assert d.abs().max() <= 0.25 + 1e-12
    lo, hi = x.min().item(), x.max().item()
    d = pgd_linf(trained_mlp, x, y, eps=5.0, step_size=2.0, steps=3, clamp=(lo, hi))
    assert (x + d).min() >= lo - 1e-12 and (x + d).max() <= hi + 1e-12
    d2 = pgd_l2(trained_mlp, x, y, eps=1.5, step_size=1.0, steps=6, random_start=True, generator=gen)
    assert (d2.norm(dim=1) <= 1.5 + 1e-10).all()
    r = random_direction(x, norm=2.0, generator=gen)
    assert torch.allclose(r.norm(dim=1), torch.full((12,), 2.0, dtype=x.dtype))


def test_create_graph_gives_a_differentiable_perturbation(batch):
    x, y = batch
    torch.manual_seed(0)
    net = mlp(64, (8,), 10).double()
    delta = gradient_ascent(net, x, y, step_size=0.1, steps=2, create_graph=True)
    (g,) = torch.autograd.grad(delta.sum(), net[1].weight)
    assert torch.isfinite(g).all() and g.abs().sum() > 0


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"step_size": -1.0, "steps": 2}, ValueError, "step_size"),
        ({"step_size": float("nan"), "steps": 2}, ValueError, "step_size"),
        ({"step_size": 0.1, "steps": 2.5}, ValueError, "steps"),
    ],
)
def test_gradient_ascent_bad_knobs(trained_mlp, batch, kwargs, error, match):
    with pytest.raises(error, match=match):
        gradient_ascent(trained_mlp, *batch, **kwargs)


def test_attack_bad_inputs(trained_mlp, batch):
    x, y = batch
    with pytest.raises(ValueError, match=r"labels in \[12, 12\] but the model has 10 classes"):
        gradient_ascent(trained_mlp, x, torch.full_like(y, 12), step_size=0.1, steps=1)
    with pytest.raises(ValueError, match="non-finite"):
        pgd_linf(trained_mlp, x * float("nan"), y, eps=0.1, step_size=0.1, steps=1)
    with pytest.raises(ValueError, match="clamp"):
        pgd_l2(trained_mlp, x, y, eps=1.0, step_size=0.1, steps=1, clamp=(1.0, 0.0))
    with pytest.raises(ValueError, match="clamp"):
        pgd_linf(trained_mlp, x, y, eps=1.0, step_size=0.1, steps=1, clamp=3.0)


def test_overflowing_attack_is_an_error_not_a_nan():
    lin = nn.Linear(2, 2).double()
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1e3, 0.0], [0.0, -1e3]]))
        lin.bias.zero_()
    x = torch.zeros(1, 2, dtype=torch.float64)
    with pytest.raises(FloatingPointError, match="lower step_size"):
        gradient_ascent(lin, x, torch.tensor([1]), step_size=1e306, steps=1)


def test_training_reduces_the_loss_and_is_reproducible(digits64):
    x, y = digits64.x_train[:256], digits64.y_train[:256]

    def run():
        torch.manual_seed(0)
        net = mlp(64, (16,), 10).double()
        log = train(net, x, y, lr=0.1, steps=30, batch_size=64, momentum=0.5, seed=3, record_updates=True)
        return net, log

    (a, la), (b, lb) = run(), run()
    assert la.loss == lb.loss and torch.equal(flat_params(a), flat_params(b))
    assert sum(la.loss[-5:]) < sum(la.loss[:5])
    assert len(la.update_cos) == la.steps - 1 == 29 and len(la.updates) == 30
    assert accuracy(a, x, y) > 0.5
    assert "steps=30" in la.summary()


def test_training_records_the_true_update(digits64):
    """Oracle: the recorded update equals the parameter difference, and -lr * autograd gradient."""
    x, y = digits64.x_train[:64], digits64.y_train[:64]
    torch.manual_seed(0)
    net = mlp(64, (8,), 10).double()
    theta0 = flat_params(net)
    grads = torch.autograd.grad(F.cross_entropy(net(x), y), list(net.parameters()))
    log = train(net, x, y, lr=0.2, steps=1, record_updates=True)
    assert torch.allclose(flat_params(net) - theta0, log.updates[0], atol=1e-15)
    assert torch.allclose(log.updates[0], -0.2 * torch.cat([g.reshape(-1) for g in grads]), atol=1e-15)


def test_adversarial_training_uses_the_attack(digits64):
    x, y = digits64.x_train[:64], digits64.y_train[:64]
    torch.manual_seed(0)
    net = mlp(64, (8,), 10).double()
    attack = partial(gradient_ascent, step_size=0.5, steps=2)
    log = train(net, x, y, lr=0.1, steps=3, attack=attack)
    assert all(a > c for a, c in zip(log.loss, log.clean_loss))
    assert robust_accuracy(net, x, y, attack) <= accuracy(net, x, y)
    with pytest.raises(ValueError, match="the attack returned shape"):
        train(net, x, y, lr=0.1, steps=1, attack=lambda m, xb, yb: xb[:1])


def test_training_bad_arguments(digits64):
    x, y = digits64.x_train[:32], digits64.y_train[:32]
    net = mlp(64, (8,), 10).double()
    with pytest.raises(ValueError, match="momentum"):
        train(net, x, y, lr=0.1, steps=1, momentum=1.0)
    with pytest.raises(ValueError, match="lr"):
        train(net, x, y, lr=0.0, steps=1)
    with pytest.raises(TypeError, match="float32"):
        train(net, x.float(), y, lr=0.1, steps=1)
    with pytest.raises(ValueError, match="batch_size"):
        train(net, x, y, lr=0.1, steps=1, batch_size=0)
    with pytest.raises(FloatingPointError, match="non-finite"):
        train(net, x, y, lr=1e300, steps=5)
