"""advnotes.chapters.ch2: chapter 2's pipelines against independent oracles.

Oracles: autograd and ``torch.func.hessian`` (gradients, Hessians), the iterated
recurrence, exact rational arithmetic, NumPy medians, and the unwrapped CNN on
(N, 1, 40) inputs for the flat-input wrapper the chapter measures MNIST-1D through.
"""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")

from advnotes import theory  # noqa: E402
from advnotes.attacks import gradient_ascent  # noqa: E402
from advnotes.chapters import ch2  # noqa: E402
from advnotes.claims import Evidence  # noqa: E402
from advnotes.claims import ch2 as claims  # noqa: E402
from advnotes.curvature import input_hessian_eig  # noqa: E402
from advnotes.models import cnn1d, mlp  # noqa: E402
from advnotes.training import train  # noqa: E402


def small_mlp(seed=0, n=8, classes=4):
    torch.manual_seed(seed)
    return mlp(n, (16,), classes).double().eval()


def small_cnn(seed=0, length=12, classes=4):
    torch.manual_seed(seed)
    return cnn1d(length, channels=(3, 3), num_classes=classes).double().eval()


def data(n=8, batch=6, classes=4, seed=0):
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, n, dtype=torch.float64, generator=gen)
    y = torch.randint(0, classes, (batch,), generator=gen)
    return x, y


# ----------------------------------------------------------------------------- the flat-input wrapper


def test_flat_input_is_the_cnn_in_flat_coordinates():
    cnn = small_cnn()
    x, y = data(n=12)
    flat = ch2.flat_input(cnn, (1, 12))
    assert torch.equal(flat(x), cnn(x.reshape(-1, 1, 12)))
    # the gradient ascent of the wrapper is the CNN's own, reshaped
    d_flat = gradient_ascent(flat, x, y, step_size=0.3, steps=3)
    d_cnn = gradient_ascent(cnn, x.reshape(-1, 1, 12), y, step_size=0.3, steps=3)
    assert torch.allclose(d_flat, d_cnn.reshape(len(x), -1), rtol=1e-12, atol=1e-14)
    # the input Hessian through the wrapper against torch.func.hessian of the unwrapped CNN
    lam, V = input_hessian_eig(flat, x, y)
    for i in range(len(x)):

        def loss(v, i=i):
            z = cnn(v.reshape(1, 1, 12))
            return torch.nn.functional.cross_entropy(z, y[i : i + 1])

        H = torch.func.hessian(loss)(x[i])
        ref = torch.linalg.eigvalsh(H).flip(0)[: lam.shape[1]]
        assert torch.allclose(lam[i], ref, atol=1e-10)
    assert flat.training is False and ch2.flat_input(cnn.train(), (1, 12)).training is True


def test_validity_table_on_the_wrapped_cnn_matches_the_oracles():
    cnn = small_cnn(seed=4)
    x, y = data(n=12, batch=5, seed=2)
    flat = ch2.flat_input(cnn, (1, 12))
    table = theory.validity_table(flat, x, y, step_sizes=[0.05], steps=[1, 3], project={"eps": 0.1})
    m1 = table["m"] == 1
    # m = 1: the closed form is the first step, and g is its own baseline
    assert np.all(table["err_real"][m1] < 1e-10)
    assert np.allclose(table["offtop_real"][m1], 1.0, atol=1e-9)
    # the real attack at m = 3 against gradient ascent on the unwrapped CNN, through err_real's definition
    lam, V = input_hessian_eig(flat, x, y)
    xr = x.clone().requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(cnn(xr.reshape(-1, 1, 12)), y, reduction="sum")
    g = torch.autograd.grad(loss, xr)[0]
    closed = theory.perturbation_closed_form(lam, V, g.detach(), step_size=0.05, steps=3)
    real = gradient_ascent(cnn, x.reshape(-1, 1, 12), y, step_size=0.05, steps=3).reshape(len(x), -1)
    err = ((closed - real).norm(dim=1) / real.norm(dim=1)).numpy()
    assert np.allclose(table["err_real"][table["m"] == 3], err, rtol=1e-8, atol=1e-14)


# ----------------------------------------------------------------------------- section 2.4


def test_random_quadratic_is_a_psd_quadratic_of_the_stated_rank():
    q = ch2.random_quadratic(0, batch=3, n=10, rank=4)
    H = q["H"]
    assert torch.allclose(H, H.transpose(1, 2))
    eig = torch.linalg.eigvalsh(H)
    assert (eig > -1e-12).all() and ((eig > 1e-10).sum(1) == 4).all()
    # g lies in the range of H: its projection on the null space vanishes
    P = q["eigvecs"] @ q["eigvecs"].transpose(1, 2)
    assert torch.allclose(P @ q["g"][..., None], q["g"][..., None], atol=1e-12)
    with pytest.raises(ValueError, match="rank must be at most"):
        ch2.random_quadratic(0, n=3, rank=4)


def test_recurrence_error_is_round_off_and_catches_a_wrong_operator():
    q = ch2.random_quadratic(1, batch=4, n=12, rank=5)
    pairs = [(0.1, 5), (1.0, 20)]
    assert ch2.recurrence_error(q, pairs) < 1e-12
    wrong = dict(q, H=q["H"] * 1.1)  # the iterated recurrence no longer matches the spectrum
    assert ch2.recurrence_error(wrong, pairs) > 1e-3


def test_exact_factor_and_factor_rows():
    assert ch2.exact_factor(0.5, 0.1, 3) == pytest.approx((1.05**3 - 1) / 0.5, rel=1e-15)
    assert ch2.exact_factor(0.0, 0.1, 30) == pytest.approx(3.0, rel=1e-15)
    rows = ch2.factor_rows([0.0, 1e-17, 0.3], step_size=0.1, steps=30)
    assert [r["exact to 1e-14"] for r in rows] == [True, True, True]
    assert rows[0]["naive"] == "nan"


# ----------------------------------------------------------------------------- section 2.5


def test_first_step_and_quadratic_attack_identities_on_an_mlp_and_a_cnn():
    for model, n in [(small_mlp(), 8), (ch2.flat_input(small_cnn(), (1, 12)), 12)]:
        x, y = data(n=n)
        assert ch2.first_step_error(model, x, y, step_size=0.1) < 1e-12
        assert ch2.quadratic_attack_error(model, x, y, [(0.1, 4), (1.0, 8)]) < 1e-10


def test_bound_excess_and_flow_orders():
    q = ch2.random_quadratic(2, batch=5, n=10, rank=4)
    assert ch2.bound_excess(q["eigvals"], [0.1, 1.0], [1, 4, 16]) <= 1e-12
    orders = ch2.flow_orders(q["eigvals"], q["eigvecs"], q["g"], t=1.0, counts=[50, 100, 200])
    assert np.all(np.abs(orders - 1) < 0.05)
    # counts that triple: the order is still measured per factor, not per halving
    orders3 = ch2.flow_orders(q["eigvals"], q["eigvecs"], q["g"], t=1.0, counts=[50, 150])
    assert abs(orders3[0] - 1) < 0.05


# ----------------------------------------------------------------------------- sections 2.6-2.10


def fake(s, v, m, alpha=None, **extra):
    t = {"s": np.asarray(s, float), "m": np.asarray(m, float), "alpha": np.asarray(alpha or [0.1] * len(s), float)}
    t.update({k: np.asarray(val, float) for k, val in extra.items()})
    t["v"] = np.asarray(v, float)
    return t


def test_validity_tables_use_disjoint_slices():
    models = [small_mlp(seed) for seed in range(2)]
    x, y = data(batch=6)
    tables, slices = ch2.validity_tables(models, x, y, per_seed=3, step_sizes=[0.1], steps=[1, 2])
    assert slices == [slice(0, 3), slice(3, 6)]
    ref = theory.validity_table(models[1], x[3:], y[3:], step_sizes=[0.1], steps=[1, 2])
    assert np.array_equal(tables[1]["err_real"], ref["err_real"])
    with pytest.raises(ValueError, match="disjoint slices"):
        ch2.validity_tables(models, x, y, per_seed=4, step_sizes=[0.1], steps=[1])


def test_decomposition_rows_are_means_of_per_seed_medians():
    rng = np.random.default_rng(0)
    tables = [fake(rng.uniform(0, 3, 50), rng.normal(size=50), rng.integers(2, 5, 50)) for _ in range(3)]
    rows = ch2.decomposition_rows(tables, {"v": "value"}, bins=[(0.0, 1.0), (1.0, 3.0)])
    for row, (lo, hi) in zip(rows, [(0.0, 1.0), (1.0, 3.0)]):
        meds = [np.median(t["v"][(t["s"] >= lo) & (t["s"] <= hi)]) for t in tables]
        assert row["value"] == pytest.approx(np.mean(meds))
    assert rows[0]["s in"] == "[0, 1]"
    # the cosine of the two terms only where the gate term is nonzero; n/a where it never is
    for t in tables:
        t["gate_term"] = np.where(t["s"] <= 1.0, 0.0, 1.0)
        t["cos_terms"] = rng.normal(size=50)
    rows = ch2.decomposition_rows(tables, {"cos_terms": "cos"}, bins=[(0.0, 0.9), (1.0, 3.0)])
    assert rows[0]["cos"] == "n/a"
    meds = [np.median(t["cos_terms"][(t["s"] >= 1.0) & (t["s"] <= 3.0)]) for t in tables]
    assert rows[1]["cos"] == pytest.approx(np.mean(meds))


def test_records_of_the_pipelines_carry_the_setting():
    models = [small_mlp(seed) for seed in range(5)]
    x, y = data(batch=20, seed=4)
    grid = dict(step_sizes=[0.3, 3.0, 30.0], steps=[1, 2, 4, 8, 16, 32, 64])
    tables, _ = ch2.validity_tables(models, x, y, per_seed=4, project={"eps": 0.1}, **grid)
    ev = Evidence(chapter=2)
    items = ch2.tracks_records(ev, tables, setting="mnist1d-cnn", inputs_per_seed=4)
    recs = [r for r in items if not isinstance(r, str)]
    assert {r.name for r in recs} == {"ch2-tracks", "ch2-tracks-small-s", "ch2-beats-linear"}
    assert all(r.setting == "mnist1d-cnn" for r in recs)
    # s <= 0.3 cannot tell the closed form from the null model: a control, not the paper claim
    assert recs[0].name == "ch2-tracks-small-s" and recs[0].spec.control and recs[0].regime == "s <= 0.3"
    assert {r.name for r in recs if r.regime == "0.3 <= s <= 1"} == {"ch2-tracks", "ch2-beats-linear"}
    assert [r.name for r in recs if r.regime == "s >= 3"] == ["ch2-tracks"]
    # the per-seed values are the regime medians
    want = claims.regime_medians(tables, "err_real", hi=claims.S_SMALL)
    assert recs[0].per_seed == pytest.approx(want, rel=1e-5)
    # a trend regime with no slope is reported, not raised
    lines = ch2.trend_records(
        ev,
        [fake([0.1], [1.0], [2], alpha=[0.02], offtop_real=[1.0], offtop_closed=[1.0])] * 5,
        setting="digits-mlp",
        steps=[1, 2],
    )
    assert any("not measured" in str(item) for item in lines)


def trend_table(rate_closed, seed):
    """A fake validity table at alpha = 0.01 whose closed form falls like exp(-rate m) (the real
    attack at half that rate)."""
    ms = np.array([2, 4, 8, 16, 32, 64] * 3)
    noise = 1 + 1e-3 * np.random.default_rng(seed).normal(size=len(ms))
    return fake(
        0.001 * ms,
        np.zeros(len(ms)),
        ms,
        alpha=[0.01] * len(ms),
        offtop_real=np.exp(-0.5 * rate_closed * ms) * noise,
        offtop_closed=np.exp(-rate_closed * ms),
    )


def test_trend_records_skip_regimes_where_the_closed_form_predicts_less_than_the_minimal_effect():
    steps = [1, 2, 4, 8, 16, 32, 64]
    # closed form at m = 64: exp(-0.01 * 64) = 0.53 <= 0.9 -> recorded (slope ratio about 0.5)
    ev = Evidence(chapter=2)
    items = ch2.trend_records(ev, [trend_table(0.01, s) for s in range(5)], setting="digits-mlp", steps=steps)
    recs = [r for r in items if not isinstance(r, str)]
    assert len(recs) == 2 and recs[0].estimate == pytest.approx(0.5, abs=0.05)
    # exp(-0.0005 * 64) = 0.97 > 0.9 -> not testable, not recorded
    ev = Evidence(chapter=2)
    items = ch2.trend_records(ev, [trend_table(0.0005, s) for s in range(5)], setting="digits-mlp", steps=steps)
    assert not [r for r in items if not isinstance(r, str)] and not ev.records
    assert sum("not testable" in str(i) for i in items) == 2


def test_projection_active_and_the_ball_record():
    s = np.array([0.5, 0.5, 0.5, 2.0, 4.0])
    real, proj = [0.5, 0.6, 0.7, 0.8, 2.0], [0.5, 0.6, 0.7, 0.1, 2.0]
    same = fake(s, np.zeros(5), [2] * 5, offtop_real=real, offtop_proj=proj)
    moved = dict(same, offtop_proj=np.array([0.5, 0.9, 0.7, 0.8, 2.0]))
    assert ch2.projection_active([same] * 5, lo=0.3, hi=1.0) == 0
    assert ch2.projection_active([same] * 5) == pytest.approx(0.2)
    assert ch2.projection_active([moved, same], lo=0.3, hi=1.0) == pytest.approx(1 / 6)
    with pytest.raises(ValueError, match="no row"):
        ch2.projection_active([same], lo=5.0, hi=6.0)
    tables = [dict(same, offtop_closed=same["offtop_real"]) for _ in range(5)]
    ev = Evidence(chapter=2)
    items = ch2.strengthening_records(ev, tables, setting="mnist1d-cnn", eps=0.25, box=False)
    assert any("not testable" in str(i) for i in items)
    assert not any("ball" in r.regime for r in ev.records)
    tables = [dict(moved, offtop_closed=same["offtop_real"]) for _ in range(5)]
    ev = Evidence(chapter=2)
    ch2.strengthening_records(ev, tables, setting="mnist1d-cnn", eps=0.25, box=False)
    assert any("ball" in r.regime for r in ev.records)


def test_comparison_rows_match_budgets_by_their_place_in_the_sweep():
    ev = Evidence(chapter=2)
    for setting, eps, val in [("digits-mlp", 0.1, 0.5), ("mnist1d-cnn", 0.25, 1.5)]:
        ev.claim(claims.STRENGTHENS, [val] * 5, setting=setting, regime=f"L-inf PGD-10 vs FGSM, eps = {eps:g}")
    ev.claim(claims.STRENGTHENS, [0.5] * 5, setting="digits-mlp", regime="projected (eps = 0.1, box)")
    rows = ch2.comparison_rows(ev.records, {"digits-mlp": (0.05, 0.1), "mnist1d-cnn": (0.125, 0.25)})
    assert rows[0] == {
        "claim": "strengthens",
        "regime": "PGD-10 vs FGSM, eps = 0.1 | 0.25",
        "digits-mlp": "holds",
        "mnist1d-cnn": "not reproduced",
    }
    assert rows[1]["mnist1d-cnn"] == "not measured"
    # differences: only pairs measured in both settings whose outcomes differ, with their intervals
    (title, diff_rows), *rest = ch2.differences(ev.records, {"digits-mlp": (0.05, 0.1), "mnist1d-cnn": (0.125, 0.25)})
    assert not rest and title == "strengthens: PGD-10 vs FGSM, eps = 0.1 | 0.25"
    assert [r["outcome"] for r in diff_rows] == ["holds", "not reproduced"]
    assert diff_rows[1]["estimate"] == pytest.approx(1.5) and diff_rows[1]["95% CI"] == (1.5, 1.5)


def test_defined_inputs_leave_out_gradients_on_v1():
    models = [small_mlp(seed) for seed in range(2)]
    x, y = data(batch=10)
    tilts = [theory.gradient_tilt(m, x, y) for m in models]
    assert torch.equal(ch2.defined_inputs(tilts), torch.arange(10))
    # a gradient replaced by v_1 itself has no energy off v_1: that input is left out
    tilts[1] = dict(tilts[1], g=tilts[1]["g"].clone())
    tilts[1]["g"][3] = tilts[1]["eigvecs"][3, :, 0]
    assert 3 not in ch2.defined_inputs(tilts).tolist() and len(ch2.defined_inputs(tilts)) == 9


def test_tilt_rows_and_error():
    models = [small_mlp(seed) for seed in range(2)]
    x, y = data(batch=10)
    tilts = [theory.gradient_tilt(m, x, y) for m in models]
    assert ch2.tilt_error(models, x, y, tilts) < 1e-10
    rows = ch2.tilt_rows([0, 1], tilts)
    e1 = theory.energy_on_top(tilts[0]["eigvecs"], tilts[0]["g"], 1)
    assert rows[0]["E_1(g)"] == pytest.approx(float(e1.median()))
    assert rows[1]["seed"] == 1
    # an input whose gradient and untilted coefficients both lie on the first direction (0/0) is left out
    t = {k: v.clone() for k, v in tilts[0].items()}
    t["a"][0] = 0.0
    t["a"][0, 0] = 1.0
    t["g"][0] = t["eigvecs"][0, :, 0]
    ratio = (1 - theory.energy_on_top(t["eigvecs"], t["g"], 1)) / (1 - t["a"][:, 0] ** 2 / (t["a"] ** 2).sum(1))
    assert math.isnan(float(ratio[0])) or abs(float(ratio[0])) > 0  # 0/0 (or round-off) at input 0
    row = ch2.tilt_rows([0], [t])[0]
    assert math.isfinite(row["tilted/untilted off"])
    assert row["tilted/untilted off"] == pytest.approx(float(ratio[1:][~ratio[1:].isnan()].median()), rel=0.2)


def test_pgd_records_on_the_cnn_setting():
    from advnotes import settings

    cnn = settings.get("mnist1d-cnn")
    torch.manual_seed(0)
    nets = [ch2.flat_input(cnn.make_model(seed).eval(), (1, 40)) for seed in range(5)]
    x, y = data(n=40, batch=6, classes=10)
    tilts = [theory.gradient_tilt(m, x, y) for m in nets]
    ev = Evidence(chapter=2)
    items, rows = ch2.pgd_records(ev, nets, x, y, tilts, cnn)
    recs = [r for r in items if not isinstance(r, str)]
    assert len(recs) == len(cnn.eps_sweep) and set(rows) == set(cnn.eps_sweep)
    assert all(r.name == "ch2-pgd-vs-fgsm" and r.spec.control for r in recs)
    assert all(r.setting == "mnist1d-cnn" for r in recs)


# ----------------------------------------------------------------------------- section 2.8


def test_two_class_and_margin_geometry():
    x = torch.rand(6, 8, dtype=torch.float64)
    y = torch.tensor([3, 8, 1, 3, 8, 2])
    x2, y2 = ch2.two_class(x, y)
    assert torch.equal(y2, torch.tensor([0, 1, 0, 1])) and torch.equal(x2, x[[0, 1, 3, 4]])
    torch.manual_seed(0)
    binary = mlp(8, (12,), 2).double()
    train(binary, x2, y2, lr=0.05, steps=5, batch_size=4, seed=0)
    binary.eval()
    geom = ch2.margin_geometry(binary, x2, y2)
    z = binary(x2).detach()
    u = torch.where(y2 == 1, z[:, 1] - z[:, 0], z[:, 0] - z[:, 1])
    assert torch.allclose(geom["u"], u)
    # w is the margin's gradient: autograd on the margin
    xr = x2.clone().requires_grad_(True)
    zz = binary(xr)
    (torch.where(y2 == 1, zz[:, 1] - zz[:, 0], zz[:, 0] - zz[:, 1]).sum()).backward()
    assert torch.allclose(geom["w"], xr.grad)
    assert geom["lam_error"] < 1e-10


def test_lambert_errors_shrink_at_first_order():
    torch.manual_seed(1)
    binary = mlp(8, (12,), 2).double().eval()
    x, _ = data(batch=4)
    with torch.no_grad():
        y = binary(x).argmax(1)  # correctly classified: positive margins
    geom = ch2.margin_geometry(binary, x, y)
    errs = ch2.lambert_errors(binary, x, y, geom, t_end=1.0, counts=[100, 200, 400])
    orders = np.log2(np.array(errs[:-1]) / errs[1:])
    assert np.all(np.abs(orders - 1) < 0.1)


# ----------------------------------------------------------------------------- figures and tables


def test_figures_draw(tmp_path):
    import matplotlib.pyplot as plt

    model = small_mlp(n=64, classes=10)
    x, y = data(n=64, batch=2, classes=10)
    fig, shares = ch2.plot_perturbations(model, x[:1], y[:1], step_size=0.1, steps=3, shape=(8, 8))
    assert len(fig.axes) == 4 and 0 <= shares["E_1(g)"] <= 1 + 1e-12
    plt.close(fig)
    cnn = ch2.flat_input(small_cnn(length=40, classes=10), (1, 40))
    x1, y1 = data(n=40, batch=1, classes=10)
    fig, _ = ch2.plot_perturbations(cnn, x1, y1, step_size=0.1, steps=3)
    assert len(fig.axes[0].lines) == 4  # g, v_1, delta_m and the zero line
    plt.close(fig)
    tables = [
        fake(
            [0.01, 0.1, 1.0, 10.0],
            [1, 1, 1, 1],
            [2, 2, 2, 2],
            err_real=[1e-4] * 4,
            err_frozen=[1e-4] * 4,
            closed_over_real=[1] * 4,
            closed_over_frozen=[1] * 4,
        )
    ]
    plt.close(ch2.plot_validity_map(tables, np.logspace(-3, 2, 6)))


def test_accuracy_rows():
    model = small_mlp()
    x, y = data()
    row = ch2.accuracy_rows([7], [model], x, y)[0]
    with torch.no_grad():
        p = torch.softmax(model(x), 1)
    assert row["seed"] == 7
    assert row["test accuracy"] == pytest.approx(float((p.argmax(1) == y).double().mean()))
    assert row["median 1 - p_y"] == pytest.approx(float((1 - p[torch.arange(len(y)), y]).median()))
    assert math.isfinite(row["median 1 - p_y"])
    ratios = []
    for pi, yi in zip(p, y):
        rivals = sorted((float(v) for j, v in enumerate(pi) if j != int(yi)), reverse=True)
        ratios.append(rivals[1] / rivals[0])
    lower_median = sorted(ratios)[(len(ratios) - 1) // 2]  # torch's median of an even count
    assert row["median p_r2/p_r1"] == pytest.approx(lower_median)
