"""Chapter 5's pipelines (``advnotes.chapters.ch5``) against independent oracles: dense Hessians and
Jacobians from ``torch.func``, per-sample gradients from a plain loop, ``training.train`` one seed at a
time, and hand-computed statistics of synthetic curves."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from advnotes import threat
from advnotes.chapters import ch5 as pipe
from advnotes.claims import ClaimSpec
from advnotes.claims import ch5 as claims
from advnotes.influence import confidence_groups
from advnotes.models import cnn1d, mlp
from advnotes.training import train, train_ensemble

torch.set_num_threads(1)


def _mlp(seed=0):
    torch.manual_seed(seed)
    return mlp(6, (12, 12), 4).double()


def _cnn(seed=0):
    torch.manual_seed(seed)
    return cnn1d(12, channels=(3, 3), num_classes=4).double()


def _data(n=24, shape=(6,), seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, *shape, generator=g, dtype=torch.float64), torch.arange(n) % 4


def _loss_of_input(model, y):
    return lambda xi: F.cross_entropy(model(xi.unsqueeze(0)), y.unsqueeze(0))


# ----------------------------------------------------------------------------- 5.2 curvature
@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_input_curvature_against_dense_hessians_and_jacobians(kind):
    model, (x, y) = (_mlp(), _data()) if kind == "mlp" else (_cnn(), _data(shape=(1, 12)))
    eps = 0.05
    out = pipe.input_curvature(model, x, y, eps=eps, clamp=None)
    for i in range(len(x)):
        loss = _loss_of_input(model, y[i])
        H = torch.func.hessian(loss)(x[i]).reshape(x[i].numel(), x[i].numel())
        assert out["lam"][i] == pytest.approx(float(torch.linalg.eigvalsh(H)[-1]), rel=1e-8, abs=1e-12)
        J = torch.func.jacrev(lambda xi: model(xi.unsqueeze(0))[0])(x[i]).reshape(4, -1)
        assert out["gain"][i] == pytest.approx(float(torch.linalg.matrix_norm(J, ord=2) ** 2), rel=1e-8)
        p = F.softmax(model(x[i : i + 1]), -1)[0]
        assert out["unconf"][i] == pytest.approx(float(1 - (p**2).sum()), rel=1e-10)
        g0 = torch.func.grad(loss)(x[i])
        d = eps * g0.sign()
        g1 = torch.func.grad(loss)(x[i] + d)
        ratio = float((g1 - g0).norm() / d.norm())
        assert out["nbhd"][i] == pytest.approx(ratio, rel=1e-8)
    # the bound of chapter 1: lambda_max <= |W|^2 (1 - |p|^2)
    assert (out["lam"] <= out["gain"] * out["unconf"] * (1 + 1e-9)).all()


def test_input_curvature_clips_to_the_box_and_drops_unmoved_inputs():
    model, (x, y) = _mlp(), _data()
    x = x.clone()
    x[0] = 0.0  # a corner: the step may leave the box and be clipped
    out = pipe.input_curvature(model, x, y, eps=2.0, clamp=(0.0, 1.0))
    loss = _loss_of_input(model, y[1])
    g0 = torch.func.grad(loss)(x[1])
    d = (x[1] + 2.0 * g0.sign()).clamp(0, 1) - x[1]
    moved = [
        i
        for i in range(len(x))
        if (x[i] + 2.0 * torch.func.grad(_loss_of_input(model, y[i]))(x[i]).sign()).clamp(0, 1).sub(x[i]).norm() > 0
    ]
    assert len(out["nbhd"]) == len(moved)
    expected = float((torch.func.grad(loss)(x[1] + d) - g0).norm() / d.norm())
    assert out["nbhd"][moved.index(1)] == pytest.approx(expected, rel=1e-8)


def test_curvature_log_ratios_and_rows():
    a = [
        {
            "lam": torch.tensor([1.0, 2.0, 4.0]),
            "nbhd": torch.tensor([1.0, 1.0]),
            "gain": torch.ones(3),
            "unconf": torch.ones(3),
        }
    ] * 2
    b = [
        {
            "lam": torch.tensor([2.0, 4.0, 8.0]),
            "nbhd": torch.tensor([4.0, 4.0]),
            "gain": torch.ones(3) * 2,
            "unconf": torch.ones(3),
        }
    ] * 2
    r = pipe.curvature_log_ratios(a, b)
    assert r["median"] == pytest.approx([-math.log(2)] * 2)
    assert r["mean"] == pytest.approx([math.log(7 / 3) - math.log(14 / 3)] * 2)
    assert r["neighbourhood"] == pytest.approx([-math.log(4)] * 2)
    assert r["factor"]["lam"] == pytest.approx(0.5) and r["factor"]["gain"] == pytest.approx(0.5)
    rows = pipe.curvature_rows({"x": a})
    assert rows[0]["median lam_max"] == "2.000 ± 0.000" and rows[0]["top-1%"] == "0.571 ± 0.000"


# ----------------------------------------------------------------------------- 5.3 shares
def _per_sample_grads(model, x, y, delta=None):
    rows = []
    for i in range(len(x)):
        model.zero_grad()
        xi = x[i : i + 1] if delta is None else x[i : i + 1] + delta[i : i + 1]
        F.cross_entropy(model(xi), y[i : i + 1]).backward()
        rows.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()]))
    return torch.stack(rows)


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_decile_share_against_a_per_sample_loop(kind):
    model, (x, y) = (_mlp(), _data(40)) if kind == "mlp" else (_cnn(), _data(40, shape=(1, 12)))
    delta = 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    for d in (None, delta):
        g = _per_sample_grads(model, x, y, d)
        p_y = F.softmax(model(x), -1).gather(1, y[:, None])[:, 0].detach()
        low = p_y <= p_y.quantile(0.1)
        total = g.sum(0)
        expected = float(g[low].sum(0) @ total / (total @ total))
        assert pipe.decile_share(model, x, y, d) == pytest.approx(expected, rel=1e-10)
        rest = float(g[~low].sum(0) @ total / (total @ total))
        assert expected + rest == pytest.approx(1.0, rel=1e-12)  # shares of a partition add to 1


def test_log_r_against_a_per_sample_loop():
    model, (x, y) = _mlp(), _data(60)
    g = confidence_groups(F.softmax(model(x), -1).detach(), y, frac=0.1)
    norms = _per_sample_grads(model, x, y).norm(dim=1)
    expected = float(norms[g["unconfident"]].log().mean() - norms[g["typical"]].log().mean())
    assert pipe.log_r(model, x, y) == pytest.approx(expected, rel=1e-9)


def test_share_study_route_error_and_rows():
    models, (x, y) = [_mlp(0), _mlp(1)], _data(40)
    attacks = {"PGD": threat.training_attack("pgd", eps=0.1)}
    study = pipe.share_study(models, x.float(), y, attacks, eps=0.1)
    assert set(study["share"]) == {"clean", "PGD"} and len(study["share"]["PGD"]) == 2
    assert all(0 < s <= 0.1 + 1e-12 for s in study["size"]["PGD"])
    assert pipe.share_route_error(models[0], x, y, [None, attacks["PGD"]]) < 1e-9
    shares, ratios = pipe.share_rows(study, pipe.clean_shares(models, x, y), eps=0.1)
    assert [r["model, inputs"] for r in shares] == ["standard, clean", "PGD, clean", "PGD, PGD"]
    assert shares[2]["|delta|/eps"] == pytest.approx(np.mean(study["size"]["PGD"]) / 0.1)
    assert ratios[0]["minus clean"] is None and ratios[1]["minus clean"].startswith(
        f"{np.mean(np.subtract(study['log_r']['PGD'], study['log_r']['clean'])):.3f}"
    )


# ----------------------------------------------------------------------------- 5.1 protocol
def test_train_rounds_is_train_one_seed_at_a_time():
    x, y = _data(32)
    recipe = dict(lr=0.05, batch_size=8, momentum=0.9)
    calls = []

    def probe(models):
        calls.append(len(models))
        return [0.0 for _ in models]

    models, curve = pipe.train_rounds(_mlp, x, y, seeds=[0, 1], recipe=recipe, rounds=2, steps=3, probe=probe)
    assert curve.shape == (2, 2) and calls == [2, 2]
    for seed, model in zip([0, 1], models):
        oracle = _mlp(seed)
        for r in range(2):  # round r: minibatch seed 1000 r + seed, momentum restarted
            train(oracle, x, y, seed=1000 * r + seed, steps=3, **recipe)
        for p, q in zip(model.parameters(), oracle.parameters()):
            assert torch.allclose(p, q, rtol=1e-10, atol=1e-12)
    # continuing from copies leaves the starting models untouched
    before = [copy.deepcopy(m.state_dict()) for m in models]
    more, _ = pipe.train_rounds(_mlp, x, y, seeds=[0, 1], recipe=recipe, rounds=1, steps=2, start=models, first=2)
    assert all(torch.equal(before[k][n], models[k].state_dict()[n]) for k in range(2) for n in before[k])
    assert not all(torch.equal(a, b) for a, b in zip(more[0].parameters(), models[0].parameters()))


def test_train_ensemble_reference_matches_train_rounds_lr_override():
    x, y = _data(32)
    recipe = dict(lr=0.05, batch_size=8, momentum=0.0)
    models, _ = pipe.train_rounds(_mlp, x, y, seeds=[3], recipe=recipe, rounds=1, steps=4, lr=0.01)
    oracle, _ = train_ensemble(_mlp, x, y, seeds=[3], steps=4, **dict(recipe, lr=0.01))
    assert all(torch.allclose(p, q) for p, q in zip(models[0].parameters(), oracle[0].parameters()))


def test_checkpoint_probe_and_clean_and_robust():
    models, (x, y) = [_mlp(0), _mlp(1)], _data(20)
    probe = pipe.checkpoint_probe([(x, y), (x[:10], y[:10])], lambda m, xs, ys, s: float(len(xs) + s), [5, 7])
    assert probe(models) == [[25.0, 27.0], [15.0, 17.0]]
    clean, robust = pipe.clean_and_robust(models, x, y, seeds=[0, 1])
    assert (robust <= clean).all()
    assert robust[1] == threat.robust_accuracy(models[1], x, y, seed=1)


# ----------------------------------------------------------------------------- 5.4-5.6 statistics
def test_collapse_study_by_hand():
    # (rounds, [clean, FGSM, PGD], seeds): seed 0 collapses, seed 1 never had robustness
    curve = np.array(
        [
            [[0.9, 0.9], [0.5, 0.1], [0.4, 0.1]],
            [[0.9, 0.9], [0.8, 0.1], [0.1, 0.1]],
        ]
    )
    out = pipe.collapse_study({"fgsm": curve})
    assert out["collapse"]["fgsm"] == pytest.approx([0.75, 0.0])
    assert out["qualified"]["fgsm"] == [True, False]
    assert out["gap"]["fgsm"] == pytest.approx([0.7, 0.0])
    assert out["rows"][0]["qualify"] == "1/2"


def test_overfitting_study_selects_on_validation():
    # (checkpoints, [validation, test, training], seeds)
    c = np.zeros((3, 3, 2))
    c[:, 0, 0], c[:, 1, 0], c[:, 2, 0] = [0.5, 0.9, 0.6], [0.4, 0.7, 0.6], [0.5, 0.8, 0.95]
    c[:, 0, 1], c[:, 1, 1], c[:, 2, 1] = [0.1, 0.2, 0.3], [0.9, 0.2, 0.5], [0.5, 0.6, 0.7]
    out = pipe.overfitting_study({"a": c})
    assert out["gain"]["a"] == pytest.approx([0.1, 0.0])  # seed 1: best validation is the last
    assert out["gap"]["a"] == pytest.approx([0.35, 0.2])


def test_data_study_by_hand():
    test10 = {"standard": (np.array([0.8, 0.9]), None), "PGD training": (None, np.array([0.5, 0.6]))}
    acc = {"standard": (np.array([0.9, 0.95]), None), "PGD training": (None, np.array([0.7, 0.8]))}
    train10 = [(0.0, 0.1), (0.05, 0.0)]
    train_full = {"clean gap, standard": [0.0, 0.01], "robust gap, PGD training": [0.1, 0.05]}
    out = pipe.data_study(test10, train10, acc, train_full)
    assert out["drop"]["clean error, standard"] == pytest.approx([0.1, 0.05])
    assert out["fraction"]["robust error, PGD training"] == pytest.approx([0.2 / 0.5, 0.2 / 0.4])
    assert out["gap10"]["clean gap, standard"] == pytest.approx([0.2, 0.05])
    assert out["gap10"]["robust gap, PGD training"] == pytest.approx([0.4, 0.4])
    assert out["gap_full"]["robust gap, PGD training"] == pytest.approx([0.2, 0.15])
    errors, gaps = pipe.data_rows(out)
    assert errors[0]["drop"] == pipe.mean_sd([0.1, 0.05])
    assert gaps[1]["100% / 10%"] == pytest.approx(0.175 / 0.4)


def test_mean_sd_uses_the_sample_sd():
    assert pipe.mean_sd([1.0, 2.0, 3.0]) == "2.000 ± 1.000"


# ----------------------------------------------------------------------------- 5.9 differences
def test_difference_text_prints_both_settings_and_where():
    recs = [
        claims.FLATTER_MEAN.measure([-1.0, -1.1, -0.9, -1.0, -1.2]),
        claims.FLATTER_MEAN.measure([1.0, 1.1, 0.9, 1.0, 1.2], setting="mnist1d-cnn"),
    ]
    (row,) = claims.setting_differences(recs)
    text = pipe.difference_text(recs, row)
    assert "digits-mlp: holds" in text and "mnist1d-cnn: not reproduced" in text
    assert "discussed in section 5.7" in text and "[" in text


def test_difference_text_names_each_records_own_statistic_and_marks_controls():
    spec = dict(chapter=2, group="g-test", paper="", reading="r", reason="a test spec")
    book = ClaimSpec(name="b-test", statistic="ratio", threshold=1.0, direction=">", **spec)
    control = ClaimSpec(name="c-test", statistic="rho", threshold=-0.3, direction="<", control=True, **spec)
    up, down = [2.0, 2.1, 1.9, 2.0, 2.2], [0.0, 0.1, -0.1, 0.0, 0.2]
    recs = [
        book.measure(up),
        book.measure(down, setting="mnist1d-cnn"),
        control.measure(down),
        control.measure(down, setting="mnist1d-cnn"),
    ]
    (row,) = claims.setting_differences(recs)
    assert row["whose"] == "book"
    text = pipe.difference_text(recs, row)
    assert "b-test (ratio > 1)" in text and "c-test" not in text and "rho" not in text
    (ctrl,) = [r for r in claims.setting_outcomes(recs) if r["whose"] == "control"]
    assert "c-test [control] (rho < -0.3)" in pipe.difference_text(recs, ctrl)


def test_curvature_factor_product_is_the_product_of_the_two_ratios():
    rng = np.random.default_rng(0)

    def fake():
        keys = ("lam", "gain", "unconf", "nbhd")
        return {k: torch.from_numpy(rng.uniform(0.5, 2.0, 21)) for k in keys}

    a, s = [fake() for _ in range(3)], [fake() for _ in range(3)]
    factor = pipe.curvature_log_ratios(a, s)["factor"]
    assert factor["gain x unconf"] == pytest.approx(factor["gain"] * factor["unconf"])
    ratio = np.mean([np.median(x["gain"].numpy()) / np.median(y["gain"].numpy()) for x, y in zip(a, s)])
    assert factor["gain"] == pytest.approx(ratio)
