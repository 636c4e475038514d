"""Chapter 3's pipelines (advnotes.chapters.ch3) against independent oracles, on an MLP and a 1-d CNN.

Oracles: per-example autograd loops, dense eigensolvers of ``torch.func.hessian``, scipy's Spearman
correlation, plain least squares on synthetic curves, and hand-built perturbations.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import scipy.stats
import torch
import torch.nn.functional as F

from advnotes import settings
from advnotes.attacks import gradient_ascent
from advnotes.chapters import ch3
from advnotes.claims import ch3 as claims
from advnotes.models import cnn1d, mlp


@functools.cache
def _cnn():
    torch.manual_seed(0)
    return cnn1d(40, channels=(4, 4)).double().eval()


@functools.cache
def _mlp():
    torch.manual_seed(1)
    return mlp(12, (16,), 10).double().eval()


def _signals(n=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 40, generator=g, dtype=torch.float64), torch.arange(n) % 10


def _vectors(n=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 12, generator=g, dtype=torch.float64), torch.arange(n) % 10


def _input_grad_loop(model, x, y):
    rows = []
    for i in range(len(x)):
        xi = x[i : i + 1].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(F.cross_entropy(model(xi), y[i : i + 1]), xi)
        rows.append(g.reshape(-1))
    return torch.stack(rows)


def _param_grad_loop(model, x, y):
    params = list(model.parameters())
    out = []
    for i in range(len(x)):
        gs = torch.autograd.grad(F.cross_entropy(model(x[i : i + 1]), y[i : i + 1]), params)
        out.append(torch.cat([g.reshape(-1) for g in gs]))
    return torch.stack(out)


def test_flat_view_is_the_same_function_on_flat_inputs():
    x, _ = _signals(7)
    flat, xf = ch3.flat_view(_cnn(), x)
    assert xf.shape == (7, 40)
    assert torch.equal(flat(xf), _cnn()(x))
    same, xs = ch3.flat_view(_mlp(), _vectors(5)[0])
    assert same is _mlp() and xs.shape == (5, 12)


@pytest.mark.parametrize("which", ["mlp", "cnn"])
def test_confidence_stats_against_autograd_dense_hessians_and_scipy(which):
    model, (x, y) = (_mlp(), _vectors()) if which == "mlp" else (_cnn(), _signals())
    (r,) = ch3.confidence_stats([model], x, y)
    with torch.no_grad():
        p = torch.softmax(model(x), 1)
    g = _input_grad_loop(model, x, y).norm(dim=1)
    torch.testing.assert_close(r["g"], g, rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(r["resid"], (p - F.one_hot(y, 10)).norm(dim=1))
    torch.testing.assert_close(r["trA"], 1 - (p**2).sum(1))
    torch.testing.assert_close(r["gain"], g / r["resid"], rtol=1e-10, atol=0)
    # lambda_max against the dense input Hessian of each example (torch.func.hessian)
    for i in range(0, len(x), 9):

        def loss(xi, i=i):
            return F.cross_entropy(model(xi.reshape(1, *x.shape[1:])), y[i : i + 1])

        H = torch.func.hessian(loss)(x[i].reshape(-1))
        assert abs(float(torch.linalg.eigvalsh(H.detach())[-1]) - float(r["lam"][i])) <= 1e-9 * max(
            1.0, float(r["lam"][i])
        )
    dec = r["grp"]["unconfident"]
    rho = scipy.stats.spearmanr(r["p_y"][dec].numpy(), (r["g"] / r["resid"])[dec].numpy()).statistic
    assert abs(r["rho_gain_dec"] - rho) < 1e-12
    rho_all = scipy.stats.spearmanr(r["p_y"].numpy(), r["g"].numpy()).statistic
    assert abs(r["rho_g_all"] - rho_all) < 1e-12
    assert r["n_dec"] == int(dec.sum()) == 4
    rows = ch3.correlation_rows([r], [7])
    assert rows[0]["seed"] == 7 and rows[0]["|g| all"] == r["rho_g_all"]
    assert ch3.decile_span_rows([r], [7])[0]["misclassified"] == f"{r['n_mis']} of 4"
    assert [row["group"] for row in ch3.group_median_rows([r])] == list(ch3.GROUPS)
    assert len(ch3.decile_rho_rows([r], [7])) == 4


@functools.cache
def _cnn_curves():
    x, y = _signals(60)
    stats = ch3.confidence_stats([_cnn()], x, y)
    curves = ch3.growth_curves(
        [_cnn()], stats, x, y, steps=[1, 2, 3, 4, 6], steps_early=[1, 2, 3], s_per_step=0.05, s_early=0.02
    )
    return x, y, stats, curves


def test_growth_curves_real_term_against_an_autograd_loop_on_the_cnn():
    x, y, stats, (c,) = _cnn_curves()
    sel, gs = c["sel"], c["gs"]
    xs, ys = x[sel], y[sel]
    assert len(sel) == sum(int(v.sum()) for v in stats[0]["grp"].values())
    lam_u = float(stats[0]["lam"][sel][gs["unconfident"]].log().mean().exp())
    assert c["alpha"] == pytest.approx(0.05 / lam_u, rel=1e-12)
    clean = _param_grad_loop(_cnn(), xs, ys)
    for k, m in enumerate([1, 2, 3, 4, 6]):
        delta = gradient_ascent(_cnn(), xs, ys, step_size=c["alpha"], steps=m)
        term = (_param_grad_loop(_cnn(), xs + delta, ys) - clean).norm(dim=1)
        np.testing.assert_allclose(c["terms"]["real attack"][k], term.numpy(), rtol=1e-8, atol=1e-14)
        log_t = term.log()
        expect = float(log_t[gs["unconfident"]].mean() - log_t[gs["typical"]].mean())
        assert c["real attack"][k] == pytest.approx(expect, rel=1e-8, abs=1e-10)
    # at m = 1 the linearised perturbation is alpha g: |K alpha g| by a central difference
    g = _input_grad_loop(_cnn(), xs, ys).reshape(xs.shape)
    t = 1e-5
    fd = (_param_grad_loop(_cnn(), xs + t * g, ys) - _param_grad_loop(_cnn(), xs - t * g, ys)) / (2 * t)
    np.testing.assert_allclose(c["terms"]["linearised"][0], c["alpha"] * fd.norm(dim=1).numpy(), rtol=1e-4)


def test_closed_form_error_is_round_off_on_the_cnn_and_detects_a_wrong_step():
    x, y, _, curves = _cnn_curves()
    assert ch3.closed_form_error([_cnn()], curves, x, y, steps=(1, 5)) < 1e-10
    wrong = [dict(curves[0], alpha=curves[0]["alpha"] * 1.5)]
    # the identity is exact for any alpha, so a changed alpha still agrees: the check is about the two routes
    assert ch3.closed_form_error([_cnn()], wrong, x, y, steps=(1, 5)) < 1e-10


def _synthetic_curve(a_lin, a_real, k_u, k_c, steps, early):
    M, E = np.asarray(steps, float), np.asarray(early, float)
    gs = {"unconfident": torch.tensor([True, True, False, False]), "typical": torch.tensor([False, False, True, True])}
    gs["confidently wrong"] = torch.zeros(4, dtype=torch.bool)
    real = np.stack([M**k_u, 2 * M**k_u, M**k_c, 3 * M**k_c], axis=1)
    return {
        "gs": gs,
        "alpha": 0.01,
        "terms": {"lam": np.array([8.0, 9.0, 0.5, 0.25]), "real attack": real},
        "linearised": a_lin * M + 1.0,
        "real attack": a_real * M - 2.0,
        "linearised (wrong)": 0.5 * a_lin * M,
        "real attack (wrong)": -0.1 * M,
        "linearised (early)": 0.3 * E,
        "real attack (early)": 0.15 * E,
    }


def test_growth_slopes_and_rate_records_on_curves_with_known_slopes():
    steps, early = [1, 10, 50, 60, 80, 100, 200, 300, 400], [1, 2, 3, 4]
    curve = _synthetic_curve(0.1, 0.02, 0.8, 1.0, steps, early)
    (row,) = ch3.growth_slopes([curve], [3], steps, early)
    assert row["lin"] == pytest.approx(0.1) and row["real"] == pytest.approx(0.02)
    assert row["far lin"] == pytest.approx(0.1) and row["early real/lin"] == pytest.approx(0.5)
    assert curve["real_pow"]["unconfident"] == pytest.approx(0.8) and curve["real_pow"]["typical"] == pytest.approx(1.0)
    assert curve["wrong"]["linearised"] == pytest.approx(0.05) and curve["wrong"]["real attack"] == pytest.approx(-0.1)
    lq = np.log1p(0.01 * np.array([8.0, 9.0, 0.5, 0.25]))
    assert row["asymptote"] == pytest.approx(lq[:2].mean() - lq[2:].mean())
    rates = ch3.rate_records([curve], steps)
    assert rates["late"] == [pytest.approx(0.2)] and rates["early"] == [pytest.approx(0.5)]
    assert rates["finite-m"][0] == pytest.approx(abs(0.1 / curve["finite"] - 1))
    assert rates["1/m"] == pytest.approx(np.mean(1 / np.array([50, 60, 80, 100])))
    (exp_row,) = ch3.exponent_rows([curve], [3])
    assert exp_row["k unconfident"] == pytest.approx(0.8)
    # no far window: NaN, not an error
    short = _synthetic_curve(0.1, 0.02, 0.8, 1.0, steps[:6], early)
    ch3.growth_slopes([short], [3], steps[:6], early)
    assert np.isnan(short["far"])


def test_path_conditions_are_medians_of_the_pooled_inputs():
    _, _, _, curves = _cnn_curves()
    (row,) = ch3.path_condition_rows(curves, [1, 2, 3, 4, 6], [1, 2, 3], [("terms", 4, 0.2)])
    c = curves[0]
    u = c["gs"]["unconfident"].numpy()
    ratio = c["terms"]["first order, real delta"][3][u] / c["terms"]["real attack"][3][u]
    assert row["U |Kd|/T"] == pytest.approx(np.median(ratio))
    assert row["U flips"] == pytest.approx(np.median(c["terms"]["gate flips"][3][u]))


def test_step_attacks_steps_rows_and_shift_on_the_cnn():
    x, y, _, curves = _cnn_curves()
    cnn = settings.get("mnist1d-cnn")
    attacks = ch3.step_attacks(cnn)
    assert list(attacks)[1] == "gradient ascent, projected (eps 0.25, alpha 1)"
    log_r = ch3.steps_log_ratios([_cnn()], curves, x, y, attacks, [1, 3])
    shift = ch3.steps_shift(log_r, [1, 3], m=3)
    for name, v in log_r.items():
        assert v["unconfident"].shape == (1, 2)
        assert shift[name][0] == pytest.approx(v["unconfident"][0, 1] - v["unconfident"][0, 0])
    # the projected attack's perturbation stays in the ball (no box on MNIST-1D)
    sel = curves[0]["sel"]
    d = attacks[list(attacks)[1]](curves[0]["alpha"])(_cnn(), x[sel], y[sel], 3)
    assert float(d.abs().max()) <= cnn.eps + 1e-12
    rows = ch3.steps_rows(log_r, [1, 3])
    assert [r["attack"] for r in rows[::2]] == list(ch3.STEP_LABELS)
    assert np.isnan(rows[0]["sd 3"])  # one network: no spread
    with pytest.raises(ValueError, match="m_steps must contain 1 and m = 10"):
        ch3.steps_shift(log_r, [1, 3])


def test_projected_sweep_against_hand_built_perturbations():
    x, y, _, curves = _cnn_curves()
    c = curves[0]
    shift, rows = ch3.projected_sweep([_cnn()], curves, x, y, [0.05], eps=0.25, clamp=None)
    xs, ys = x[c["sel"]], y[c["sel"]]
    clean = _param_grad_loop(_cnn(), xs, ys)
    logs = []
    for m in (1, 10):
        d = gradient_ascent(_cnn(), xs, ys, step_size=0.05, steps=m, eps=0.25)
        t = (_param_grad_loop(_cnn(), xs + d, ys) - clean).norm(dim=1).log()
        logs.append(float(t[c["gs"]["unconfident"]].mean() - t[c["gs"]["typical"]].mean()))
        reach = (d.reshape(len(xs), -1).abs().amax(1) >= 0.99 * 0.25).double()
        assert rows[0][f"unconf, {m}"] == pytest.approx(float(reach[c["gs"]["unconfident"]].mean()))
    assert shift[0.05][0] == pytest.approx(logs[1] - logs[0], rel=1e-8)


def test_grad_inf_medians_against_an_autograd_loop():
    x, y = _signals(50)
    med = ch3.grad_inf_medians([_cnn()], x, y)
    (r,) = ch3.confidence_stats([_cnn()], x, y)
    g_inf = _input_grad_loop(_cnn(), x, y).abs().amax(1)
    for grp in ("unconfident", "typical"):
        assert med[grp] == pytest.approx(float(g_inf[r["grp"][grp]].median()), rel=1e-10)


def test_gradient_identity_errors_are_round_off_and_can_fail(monkeypatch):
    x, y = _signals(6)
    err_vmap, err_jvp, steps = ch3.gradient_identity_errors([_cnn()], [0], x, y, t=1e-4)
    assert err_vmap < 1e-12 and err_jvp < 1e-4 and steps.shape == (1, 6) and (steps <= 1e-4).all()
    # a broken route (zero gradients) is caught: relative error 1
    monkeypatch.setattr(
        ch3, "per_sample_param_grads", lambda model, x, y, delta=None: 0 * _param_grad_loop(model, x, y)
    )
    assert ch3.gradient_identity_errors([_cnn()], [0], x, y)[0] == pytest.approx(1.0)


@functools.cache
def _trained():
    x, y = _vectors(64)
    atts = ch3.training_attacks(settings.get("mnist1d-cnn"), ascent_step=0.5)
    atts = {k: v for k, v in atts.items() if k in ("standard", "PGD")}

    def make(seed):
        torch.manual_seed(seed)
        return mlp(12, (16,), 10).double()

    recipe = dict(lr=0.1, batch_size=16, momentum=0.9)
    nets = ch3.train_checkpoints(make, x, y, seeds=[0, 1], attacks=atts, checkpoints=[5, 20], recipe=recipe)
    return x, y, atts, nets, make, recipe


def test_train_checkpoints_are_prefixes_of_one_run():
    from advnotes.training import train

    x, y, atts, nets, make, recipe = _trained()
    assert [len(v) for v in nets.values()] == [2, 2] and len(nets["PGD"][0]) == 2
    alone = make(1)
    train(alone, x, y, seed=1, steps=5, attack=atts["PGD"], **recipe)
    for a, b in zip(alone.parameters(), nets["PGD"][0][1].parameters()):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_shares_identity_log_r_and_tables_on_trained_networks():
    from advnotes.influence import training_shares

    x, y, atts, nets, _, _ = _trained()
    assert ch3.shares_identity_error(nets, atts, x, y) < 1e-10
    runs = ch3.checkpoint_shares(nets, atts, x, y)
    assert runs["standard"][0][0]["attacked"] is None
    control = ch3.control_shares(nets["standard"][-1], atts, x, y)
    assert list(control) == ["PGD"]
    direct = training_shares(nets["standard"][-1][1], x, y, attack=atts["PGD"])
    assert control["PGD"][1]["log r"] == direct["log r"]
    shift = ch3.log_r_shift(control["PGD"])
    assert shift[1] == pytest.approx(direct["log r"]["attacked"] - direct["log r"]["clean"])
    rows = ch3.log_r_rows({"PGD": runs["PGD"][-1]}, control)
    assert [r["networks, attack"] for r in rows] == ["adv., PGD", "std., PGD"]
    assert rows[1]["room"] == pytest.approx(1 - rows[1]["share"])
    assert len(ch3.share_rows(runs, [5, 20])) == 4
    acc = ch3.accuracy_rows(nets, x, y, lambda m, a, b: 0.5)
    assert [r["robust"] for r in acc] == [0.5, 0.5]


def test_finetune_from_copies_and_casts():
    x, y, atts, nets, _, _ = _trained()
    base = nets["standard"][-1]
    make = ch3.finetune_from(base, [0, 1], dtype=torch.float32)
    m = make(1)
    assert m is not base[1] and next(m.parameters()).dtype == torch.float32
    for a, b in zip(m.parameters(), base[1].parameters()):
        torch.testing.assert_close(a.double(), b, rtol=1e-6, atol=1e-7)
    assert next(base[1].parameters()).dtype == torch.float64  # the original is untouched
    with pytest.raises(ValueError, match="no trained network for seed 5"):
        make(5)


def test_record_rows_per_setting():
    recs = [
        claims.STEPS_RATIO.measure([0.1, 0.2, 0.3, 0.2, 0.1], regime="a"),
        claims.STEPS_RATIO.measure([-0.1, -0.2, -0.3, -0.2, -0.1], regime="b", setting="mnist1d-cnn"),
        claims.GRADIENT_GAIN.measure([-0.1] * 5),
    ]
    rows = ch3.record_rows(recs, "ch3-steps")
    assert [(r["setting"], r["outcome"]) for r in rows] == [("digits-mlp", "holds"), ("mnist1d-cnn", "not reproduced")]
    assert rows[0]["95% CI"][0] < 0.2 < rows[0]["95% CI"][1]


def test_side_by_side_rows():
    rows = ch3.side_by_side({"a": (1, 2), "b": (3.0, None)})
    assert rows == [
        {"quantity": "a", "digits-mlp": 1, "mnist1d-cnn": 2},
        {"quantity": "b", "digits-mlp": 3.0, "mnist1d-cnn": None},
    ]
    with pytest.raises(ValueError, match="one per setting"):
        ch3.side_by_side({"a": (1,)})


def test_rise_rows_on_curves_with_known_slopes():
    steps, early = [1, 10, 50, 60, 80, 100], [1, 2, 3, 4]
    curve = _synthetic_curve(0.1, 0.02, 0.8, 1.0, steps, early)
    (row,) = ch3.rise_rows([curve], [4], steps)
    # linearised (early) = 0.3 m, real (early) = 0.15 m over m = 1..4; linearised = 0.1 m + 1
    assert row["seed"] == 4
    assert row["early lin"] == pytest.approx(0.9) and row["early real"] == pytest.approx(0.45)
    assert row["lin 10 - 1"] == pytest.approx(0.9)
    (row,) = ch3.rise_rows([curve], [4], steps, m=50)
    assert row["lin 50 - 1"] == pytest.approx(4.9)
    with pytest.raises(ValueError, match="must contain 1 and m = 3"):
        ch3.rise_rows([curve], [4], steps, m=3)


def test_above_floor_keeps_the_networks_at_or_above_it():
    kept, dropped = ch3.above_floor([1.0, 2.0, 3.0, 4.0], [0.9, 0.5, 0.68, 0.6799], 0.68)
    np.testing.assert_array_equal(kept, [1.0, 3.0])
    assert dropped == 2
    kept, dropped = ch3.above_floor([1.0, 2.0], [0.9, 0.95], claims.MNIST1D_ACCURACY_FLOOR)
    assert dropped == 0 and len(kept) == 2
    assert claims.MNIST1D_ACCURACY_FLOOR == settings.PUBLISHED["MLP"]


def test_gradient_identity_fd_step_stays_in_the_linear_region(monkeypatch):
    """An input next to a ReLU kink: a fixed central-difference step crosses it, the per-input step does not."""
    torch.manual_seed(0)
    model = mlp(3, (6,), 4).double()
    x = torch.randn(2, 3, dtype=torch.float64)
    first = next(m for m in model.modules() if isinstance(m, torch.nn.Linear))
    w, b = first.weight[0].detach(), first.bias[0].detach()
    x[0] = x[0] - (x[0] @ w + b - 1e-9) * w / (w @ w)  # gate 0 of input 0 sits 1e-9 above its kink
    y = torch.tensor([0, 1])
    _, err, steps = ch3.gradient_identity_errors([model], [0], x, y, t=1e-4)
    assert err < 1e-5  # the identity's tolerance is 1e-4
    assert steps[0, 0] < 1e-4 and steps[0, 1] == 1e-4  # only the input at the kink got a smaller step
    # without the region check (one choice pattern everywhere) the same step crosses the kink: the check can fail
    monkeypatch.setattr(ch3, "choice_pattern", lambda model, x: torch.zeros(x.shape[0], 1, dtype=torch.long))
    assert ch3.gradient_identity_errors([model], [0], x, y, t=1e-4)[1] > 1e-2
