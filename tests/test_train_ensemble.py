"""advnotes.training.train_ensemble: several seeds in one batched computation, member by member equal to train()."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from torch import nn

from advnotes import training
from advnotes.attacks import gradient_ascent, pgd_linf
from advnotes.models import cnn, mlp
from advnotes.training import train, train_ensemble

RTOL = 1e-6  # the contract; float64 round-off gives ~1e-15
SEEDS = [0, 1, 2]
LOG_FIELDS = ("loss", "clean_loss", "update_norm", "update_cos")
PGD = partial(pgd_linf, eps=0.1, step_size=0.025, steps=3, clamp=(0.0, 1.0))
GA = partial(gradient_ascent, step_size=0.5, steps=3)


@pytest.fixture(scope="module")
def data(digits64):
    return digits64.x_train[:200], digits64.y_train[:200]


def make_mlp(seed, hidden=(32,)):
    torch.manual_seed(seed)
    return mlp(64, hidden, 10).double()


def make_frozen_mlp(seed):
    model = make_mlp(seed, hidden=(32, 16))
    model[1].requires_grad_(False)  # train() updates only the trainable parameters
    return model


def make_cnn(seed):
    torch.manual_seed(seed)
    return cnn((1, 8, 8), (4,), 10, hidden=16).double()


def max_rel_deviation(model, log, ref_model, ref_log) -> float:
    """Largest relative deviation of a member from train()'s result: per parameter tensor, per log entry."""
    worst = 0.0
    ref_params = dict(ref_model.named_parameters())
    for name, p in model.named_parameters():
        q = ref_params[name].detach()
        worst = max(worst, float((p.detach() - q).abs().max() / q.abs().max()))
    for field in LOG_FIELDS:
        a, b = getattr(log, field), getattr(ref_log, field)
        assert len(a) == len(b), field
        for u, v in zip(a, b):
            worst = max(worst, abs(u - v) / abs(v) if v else abs(u))
    assert len(log.updates) == len(ref_log.updates)
    for u, v in zip(log.updates, ref_log.updates):
        assert u.shape == v.shape  # the same flattening order as train()
        worst = max(worst, float((u - v).norm() / v.norm()))
    return worst


def check_against_train(make_model, x, y, seeds, **kwargs) -> float:
    models, logs = train_ensemble(make_model, x, y, seeds=seeds, **kwargs)
    assert len(models) == len(logs) == len(seeds)
    worst = 0.0
    for seed, model, log in zip(seeds, models, logs):
        ref = make_model(seed)
        ref_log = train(ref, x, y, seed=seed, **kwargs)
        assert type(model) is type(ref) and model.training == ref.training
        assert log.steps == ref_log.steps == kwargs["steps"]
        worst = max(worst, max_rel_deviation(model, log, ref, ref_log))
    return worst


CASES = {
    "full batch": dict(lr=0.2, steps=12),
    "minibatch, momentum, weight decay": dict(
        lr=0.1, steps=15, batch_size=48, momentum=0.9, weight_decay=1e-3, record_updates=True
    ),
    "minibatch, pgd_linf": dict(lr=0.1, steps=10, batch_size=64, attack=PGD, momentum=0.5),
    "full batch, gradient_ascent": dict(lr=0.1, steps=8, attack=GA, weight_decay=1e-3, record_updates=True),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_member_equals_train(data, case):
    """The contract, on the batched-matmul path (plain MLP): member k is train(make_model(seeds[k]), seed=seeds[k])."""
    x, y = data
    assert training.ensemble_path(make_mlp(0)) == "bmm"
    assert check_against_train(make_mlp, x, y, SEEDS, **CASES[case]) < RTOL


@pytest.mark.parametrize("case", ["minibatch, momentum, weight decay", "minibatch, pgd_linf"])
def test_the_vmap_path_equals_train_too(data, monkeypatch, case):
    """The generic path (torch.vmap over functional_call), forced on the MLP."""
    monkeypatch.setattr(training, "mlp_plan", lambda model: None)
    assert training.ensemble_path(make_mlp(0)) == "vmap"
    x, y = data
    assert check_against_train(make_mlp, x, y, [4, 7], **CASES[case]) < RTOL


def test_a_cnn_runs_through_vmap_and_equals_train(digits64):
    x, y = digits64.x_train[:96].reshape(-1, 1, 8, 8), digits64.y_train[:96]
    assert training.ensemble_path(make_cnn(0)) == "vmap"
    assert check_against_train(make_cnn, x, y, [0, 1], lr=0.1, steps=5, batch_size=32, attack=GA) < RTOL


def test_the_fast_path_takes_nested_and_bias_free_layers(data):
    def make(seed):
        torch.manual_seed(seed)
        inner = nn.Sequential(nn.Linear(64, 16, bias=False), nn.ReLU(inplace=True))
        return nn.Sequential(nn.Flatten(), inner, nn.Identity(), nn.Dropout(0.0), nn.Linear(16, 10)).double()

    assert training.ensemble_path(make(0)) == "bmm"
    hooked = make(0)
    hooked[4].register_forward_hook(lambda module, inputs, output: output)
    assert training.ensemble_path(hooked) == "vmap"  # hooks run only through functional_call
    x, y = data
    assert check_against_train(make, x, y, [0, 1], lr=0.1, steps=5, batch_size=64, attack=GA) < RTOL


def test_frozen_parameters_stay_frozen(data):
    x, y = data
    kwargs = dict(lr=0.1, steps=6, batch_size=50, momentum=0.9, record_updates=True)
    assert check_against_train(make_frozen_mlp, x, y, [0, 1], **kwargs) < RTOL
    models, _ = train_ensemble(make_frozen_mlp, x, y, seeds=[5], **kwargs)
    assert torch.equal(models[0][1].weight, make_frozen_mlp(5)[1].weight)


def test_a_member_does_not_depend_on_the_others(data):
    x, y = data
    kwargs = dict(lr=0.1, steps=10, batch_size=64, attack=PGD, momentum=0.9, record_updates=True)
    (alone,), (log_alone,) = train_ensemble(make_mlp, x, y, seeds=[3], **kwargs)
    models, logs = train_ensemble(make_mlp, x, y, seeds=[1, 2, 3], **kwargs)
    assert max_rel_deviation(models[2], logs[2], alone, log_alone) < 1e-12
    # and the members do differ: each has its own initialisation and data order
    assert not torch.equal(models[0][1].weight, models[2][1].weight)


def test_returns_the_models_make_model_built_in_their_mode(data):
    x, y = data
    built = []

    def make(seed):
        built.append(make_mlp(seed).eval() if seed % 2 else make_mlp(seed))
        return built[-1]

    before = [m[1].weight.detach().clone() for m in [make_mlp(s) for s in (0, 1)]]
    models, logs = train_ensemble(make, x, y, seeds=[0, 1], lr=0.1, steps=2)
    assert all(m is b for m, b in zip(models, built)) and [m.training for m in models] == [True, False]
    assert all(not torch.equal(m[1].weight, w) for m, w in zip(models, before))
    assert all(p.grad is None for m in models for p in m.parameters())
    models, logs = train_ensemble(make_mlp, x, y, seeds=[0], lr=0.1, steps=0)
    assert logs[0].steps == 0 and torch.equal(models[0][1].weight, make_mlp(0)[1].weight)


# ----------------------------------------------------------------------------- refusals


class Counter(nn.Module):
    """A module whose buffer changes in every forward pass."""

    def __init__(self):
        super().__init__()
        self.register_buffer("calls", torch.zeros((), dtype=torch.float64))

    def forward(self, x):
        self.calls += 1
        return x


@pytest.mark.parametrize(
    "seeds, match",
    [
        ([], "seeds is empty"),
        ((), "seeds is empty"),
        ([0, 1, 0], "seeds must be distinct.*0 more than once"),
        ([0, 1.5], "seeds must be ints, got 1.5"),
        ([0, "1"], "seeds must be ints"),
        ([True, 2], "seeds must be ints, got True"),
        (3, "seeds must be a sequence of ints"),
        ("01", "seeds must be a sequence of ints"),
    ],
)
def test_bad_seeds(data, seeds, match):
    x, y = data
    with pytest.raises(ValueError, match=match):
        train_ensemble(make_mlp, x, y, seeds=seeds, lr=0.1, steps=1)


def test_seed_is_not_a_keyword(data):
    x, y = data
    with pytest.raises(ValueError, match="takes no seed=.*seeds"):
        train_ensemble(make_mlp, x, y, seeds=[0, 1], seed=0, lr=0.1, steps=1)
    with pytest.raises(TypeError, match="unexpected keyword argument.*epochs"):
        train_ensemble(make_mlp, x, y, seeds=[0, 1], lr=0.1, steps=1, epochs=3)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda s: "model", r"make_model\(0\) must return a torch.nn.Module, got str"),
        (lambda s: make_mlp(s, hidden=(16 + s,)), r"same architecture.*'1.weight'.*seed 1.*seed 0"),
        (lambda s: make_mlp(s).float() if s else make_mlp(s), "same architecture.*float32.*float64"),
        (lambda s: nn.Sequential(nn.Flatten(), nn.Tanh()), "no trainable parameters"),
        (
            lambda s: nn.Sequential(*(nn.Tanh() if isinstance(m, nn.ReLU) and s else m for m in make_mlp(s))),
            r"same architecture.*: the model for seed 1 has '\(2\): Tanh\(\)' where .* seed 0 has '\(2\): ReLU\(\)'",
        ),
    ],
)
def test_bad_models(data, make, match):
    x, y = data
    with pytest.raises(ValueError, match=match):
        train_ensemble(make, x, y, seeds=[0, 1], lr=0.1, steps=1)


def test_one_model_for_all_seeds_is_refused(data):
    x, y = data
    shared = make_mlp(0)
    with pytest.raises(ValueError, match="sharing parameters.*fresh model for every seed"):
        train_ensemble(lambda s: shared, x, y, seeds=[0, 1], lr=0.1, steps=1)


def test_training_time_state_is_refused(data):
    x, y = data

    def batchnorm(seed):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(64, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 10)).double()

    with pytest.raises(ValueError, match=r"BatchNorm1d '1' in training mode.*model.eval\(\)"):
        train_ensemble(batchnorm, x, y, seeds=[0, 1], lr=0.1, steps=1)
    # in eval mode batch-norm is a fixed affine map: allowed (through vmap), and equal to train()
    assert check_against_train(lambda s: batchnorm(s).eval(), x, y, [0, 1], lr=0.1, steps=3) < RTOL

    def dropout(seed):
        return nn.Sequential(make_mlp(seed), nn.Dropout(0.5))

    with pytest.raises(ValueError, match="active Dropout '1'"):
        train_ensemble(dropout, x, y, seeds=[0, 1], lr=0.1, steps=1)

    def counting(seed):
        return nn.Sequential(Counter(), make_mlp(seed))

    with pytest.raises(ValueError, match="changed its buffers in a forward pass"):
        train_ensemble(counting, x, y, seeds=[0, 1], lr=0.1, steps=1)


def test_a_diverging_member_is_named(data):
    """One member blows up: the error names its seed and the step at which train() fails for it too."""
    x, y = data

    def make(seed):
        model = make_mlp(seed)
        if seed == 2:
            with torch.no_grad():
                model[-1].weight.mul_(1e200)  # logits ~1e200: the next step overflows
        return model

    with pytest.raises(FloatingPointError, match=r"non-finite at step (\d+)") as alone:
        train(make(2), x, y, lr=1.0, steps=5, seed=2)
    step = alone.value.args[0].split("at step ")[1].split(";")[0]
    with pytest.raises(FloatingPointError, match=rf"member with seed 2 became non-finite at step {step};"):
        train_ensemble(make, x, y, seeds=[0, 1, 2], lr=1.0, steps=5)


def test_bad_knobs_and_attacks(data):
    x, y = data
    with pytest.raises(ValueError, match="momentum must be < 1"):
        train_ensemble(make_mlp, x, y, seeds=[0], lr=0.1, steps=1, momentum=1.0)
    with pytest.raises(ValueError, match="lr must be"):
        train_ensemble(make_mlp, x, y, seeds=[0], lr=0.0, steps=1)
    with pytest.raises(ValueError, match="batch_size must be"):
        train_ensemble(make_mlp, x, y, seeds=[0], lr=0.1, steps=1, batch_size=0)
    with pytest.raises(TypeError, match=r"float64 but x is (torch\.)?float32"):
        train_ensemble(make_mlp, x.float(), y, seeds=[0], lr=0.1, steps=1)
    with pytest.raises(ValueError, match="the attack returned shape"):
        train_ensemble(make_mlp, x, y, seeds=[0, 1], lr=0.1, steps=1, attack=lambda m, xb, yb: xb[:1])


@pytest.mark.parametrize("attack", [None, "fgsm"])
def test_snapshots_equal_runs_of_each_length(data, attack):
    """train_ensemble_snapshots(at=[k1, k2, k3]) gives, at each k, the networks of train_ensemble(steps=k)."""
    from advnotes import threat
    from advnotes.training import train_ensemble_snapshots

    x, y = data
    fit = dict(lr=0.1, batch_size=16, momentum=0.9)
    if attack is not None:
        fit["attack"] = threat.training_attack(attack)
    at = [1, 13, 27]  # 200 examples in batches of 16: 13 steps per epoch, so the run crosses two reshuffles
    snaps, logs = train_ensemble_snapshots(make_mlp, x, y, seeds=[0, 2], at=at, **fit)
    assert len(snaps) == len(at) and all(len(s) == 2 for s in snaps) and len(logs[0].loss) == at[-1]
    for k, models in zip(at, snaps):
        ref, ref_logs = train_ensemble(make_mlp, x, y, seeds=[0, 2], steps=k, **fit)
        for m, r in zip(models, ref):
            for (name, p), q in zip(m.named_parameters(), r.parameters()):
                assert torch.allclose(p, q, rtol=1e-12, atol=1e-14), (k, name)
        assert logs[0].loss[:k] == pytest.approx(ref_logs[0].loss, rel=1e-12)
    # the snapshots are copies: later steps do not move earlier ones
    first = [p.detach().clone() for p in snaps[0][0].parameters()]
    assert any(not torch.equal(a, b) for a, b in zip(first, snaps[-1][0].parameters()))
