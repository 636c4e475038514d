"""Chapter 4's pipelines (advnotes.chapters.ch4) against independent oracles.

Finite differences of train() against a dense Hessian from torch.func; the seed loop against
direct calls of the param_hessian functions it wraps; the records against the statistic
recomputed by hand; the side-by-side table against records built here.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.func import functional_call, hessian

from advnotes import param_hessian as ph
from advnotes import threat
from advnotes.chapters import ch4
from advnotes.claims import Evidence
from advnotes.claims import ch4 as claims
from advnotes.models import mlp


def _tiny(seed=0):
    torch.manual_seed(seed)
    return mlp(6, (5,), 3).double()


def _data(n=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 6, generator=g, dtype=torch.float64), torch.arange(n) % 3


def test_mean_sd_matches_numpy():
    v = np.array([1.0, 2.0, 4.0])
    assert ch4.mean_sd(v) == f"{v.mean():.2f} ± {v.std(ddof=1):.2f}"


def test_onset_formula_error_is_round_off():
    assert ch4.onset_formula_error(200) < 1e-12


def test_fd_update_of_standard_training_is_minus_lr_dense_hessian_times_v():
    """Standard training: one step's update is -lr * grad, so its derivative along v is -lr H v (dense H)."""
    model, (x, y) = _tiny(), _data()
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]
    theta = torch.nn.utils.parameters_to_vector(model.parameters()).detach()

    def loss(flat):
        parts, i = {}, 0
        for n, s in zip(names, shapes, strict=True):
            parts[n] = flat[i : i + s.numel()].reshape(s)
            i += s.numel()
        return torch.nn.functional.cross_entropy(functional_call(model, parts, (x,)), y)

    H = hessian(loss)(theta)
    v = torch.randn(theta.numel(), dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    fd = ch4.fd_update(model, x, y, v, None, lr=0.1)
    assert torch.allclose(fd, -0.1 * H @ v, rtol=1e-6, atol=1e-9)
    # the model itself is untouched
    assert torch.equal(torch.nn.utils.parameters_to_vector(model.parameters()).detach(), theta)


def test_fd_update_detects_a_wrong_operator():
    """The oracle can fail: a different learning rate gives a different derivative."""
    model, (x, y) = _tiny(), _data()
    v = torch.ones(sum(p.numel() for p in model.parameters()), dtype=torch.float64)
    a = ch4.fd_update(model, x, y, v, None, lr=0.1)
    b = ch4.fd_update(model, x, y, v, None, lr=0.2)
    assert torch.allclose(b, 2 * a, rtol=1e-5) and not torch.allclose(a, b)


def test_run_seeds_equals_direct_calls_of_the_wrapped_functions():
    x, y = _data(32)
    x = x.float()

    def make_model(seed):
        torch.manual_seed(seed)
        return mlp(6, (8,), 3)

    attack = threat.training_attack("ascent", step_size=0.2, steps=2, clamp=None)
    knobs = dict(step_size=0.2, steps=2, eps=threat.EPS, clamp=None)
    runs = {"standard": (None, None), "ascent": (attack, knobs)}
    onset = dict(lr=0.05, steps=10, iters=1, lo_factor=0.4, factor=1.5)
    end = dict(lr=0.3, steps=12, window=4)
    probes = {"standard": ((6, 3),), "ascent": ((6, 3),)}
    data = ch4.run_seeds([0, 1], x, y, make_model=make_model, runs=runs, end=end, onset=onset, probes=probes)
    direct = ph.onset_experiment(
        1, x, y, make_model=make_model, attack=attack, jeff=knobs, probes=((6, 3),), k=claims.TOP_K, **onset
    )
    assert data.onset("ascent", "pred_B")[1] == direct["pred_B"]
    assert data.onset("ascent", "p6:obs")[1] == direct["p6:obs"]
    end_direct = ph.seed_experiment(
        0, x, y, runs={"standard": runs["standard"]}, probe_steps=0, make_model=make_model, k=claims.TOP_K, **end
    )
    assert data.end("standard", "lam_clean")[0] == end_direct["standard"]["lam_clean"]
    assert data.end("ascent", "radius").shape == (2,)


def _synthetic(obs_standard, pred_standard, obs_ascent, frozen_ascent, pred_a, pred_b):
    seeds = []
    for i in range(5):
        seeds.append(
            {
                "standard": {"p30:obs": obs_standard[i], "pred_A": pred_standard[i], "p30:found": 1.0},
                "gradient ascent": {
                    "p30:obs": obs_ascent[i],
                    "p30:found": 1.0,
                    "frozen:obs": frozen_ascent[i],
                    "frozen:found": 1.0,
                    "pred_A": pred_a[i],
                    "pred_B": pred_b[i],
                    "mu1": 3.0 + i,
                    "lam1": 2.0 + i,
                    "m=1:mu1": 2.5 + i,
                    "m=1:lam1": 2.0 + i,
                },
            }
        )
    return ch4.SeedData([], seeds)


def _controls_and_onsets(data, setting="digits-mlp"):
    ev = Evidence(chapter=4)
    cases = [
        (claims.CONTROL_STANDARD, "standard", "p30:", "standard training; probe 30/15"),
        (claims.CONTROL_FROZEN_ASCENT, "gradient ascent", "frozen:", "ascent; delta frozen, probe 30/15"),
    ]
    control, rows = ch4.measure_controls(ev, data, cases, setting=setting)
    gates = [claims.CONTROL_STANDARD.name, claims.CONTROL_FROZEN_ASCENT.name]
    regime = claims.ascent_regime(0.3, 5, "probe 30/15")
    recs, judged, skipped = ch4.judge_onsets(
        ev, data, [("gradient ascent", "p30:", "", regime, gates)], control, setting=setting
    )
    return ev, control, rows, recs, judged, skipped


def test_controls_and_onset_records_compute_the_declared_statistic():
    pred = np.array([0.2, 0.21, 0.19, 0.2, 0.22])
    obs_std = pred * np.array([1.02, 0.98, 1.05, 1.0, 0.97])
    pred_a, pred_b = np.full(5, 0.3), np.full(5, 0.2)
    obs = pred_b * np.array([1.01, 0.99, 1.02, 0.98, 1.0])
    data = _synthetic(obs_std, pred, obs, pred_a * 1.01, pred_a, pred_b)
    ev, control, rows, recs, judged, skipped = _controls_and_onsets(data)
    assert control[claims.CONTROL_STANDARD.name].outcome == "holds"
    np.testing.assert_allclose(control[claims.CONTROL_STANDARD.name].per_seed, np.abs(obs_std / pred - 1), rtol=1e-5)
    assert [r.spec for r in recs] == [claims.A_ONSET, claims.B_ONSET] and not skipped
    np.testing.assert_allclose(recs[1].per_seed, np.abs(obs / pred_b - 1), rtol=1e-5, atol=1e-9)
    assert recs[0].outcome == "not reproduced" and recs[1].outcome == "holds"  # |0.2/0.3 - 1| = 1/3 > 0.2
    assert len(rows) == 2 and len(judged) == 2


def test_a_failing_control_means_not_judged_and_not_recorded():
    pred = np.full(5, 0.2)
    data = _synthetic(pred * 0.5, pred, pred, pred, np.full(5, 0.3), pred)  # standard onset at half the prediction
    ev, control, rows, recs, judged, skipped = _controls_and_onsets(data)
    assert control[claims.CONTROL_STANDARD.name].outcome == "not reproduced"
    assert recs == [] and judged == [] and len(skipped) == 2
    assert all("ch4-onset-control-standard" in row["not judged"] for row in skipped)
    assert not [r for r in ev.records if r.spec in (claims.A_ONSET, claims.B_ONSET)]


def test_oscillation_follows_and_m_growth_records():
    pred = np.full(5, 0.2)
    obs_std = np.array([0.2, 0.21, 0.19, 0.2, 0.2])
    obs = np.array([0.1, 0.12, 0.11, 0.1, 0.13])
    frozen = obs * 1.5
    data = _synthetic(obs_std, pred, obs, frozen, frozen, pred)  # frozen onset = its prediction: control holds
    ev, control, *_ = _controls_and_onsets(data, setting="mnist1d-cnn")
    assert control[claims.CONTROL_FROZEN_ASCENT.name].outcome == "holds"
    (osc,) = ch4.oscillation_records(ev, data, {"gradient ascent": "r"}, key="p30:obs", setting="mnist1d-cnn")
    np.testing.assert_allclose(osc.per_seed, obs / obs_std, rtol=1e-5)
    assert osc.setting == "mnist1d-cnn" and osc.outcome == "holds"
    attacks = {"gradient ascent": ("r", claims.CONTROL_FROZEN_ASCENT.name)}
    (fol,) = ch4.follows_records(ev, data, attacks, control, key="p30:obs", setting="mnist1d-cnn")
    np.testing.assert_allclose(fol.per_seed, 1 / 1.5, rtol=1e-5)
    rec, ratio_m, ratio_1 = ch4.m_growth_record(ev, data, "gradient ascent", "r", setting="mnist1d-cnn")
    expect = np.array([(3.0 + i) / (2.0 + i) - (2.5 + i) / (2.0 + i) for i in range(5)])
    np.testing.assert_allclose(rec.per_seed, expect, rtol=1e-5)
    assert rec.outcome == "holds"


def test_setting_outcomes_and_differences():
    ev = Evidence(chapter=4)
    ev.claim(claims.OSCILLATION, [0.5, 0.6, 0.55, 0.5, 0.6], setting="digits-mlp", regime="r")
    ev.claim(claims.OSCILLATION, [1.5, 1.6, 1.55, 1.5, 1.6], setting="mnist1d-cnn", regime="r")
    ev.claim(claims.A_LARGER, [2.0, 2.1, 2.2, 2.0, 2.1], setting="digits-mlp", regime="r")
    side = ch4.setting_outcomes(ev.records, ("digits-mlp", "mnist1d-cnn"))
    by = {row["claim"]: row for row in side}
    assert by["ch4-oscillation"] == {
        "claim": "ch4-oscillation",
        "digits-mlp": "holds",
        "mnist1d-cnn": "not reproduced",
    }
    assert by["ch4-A-larger"]["mnist1d-cnn"] == "not measured"
    lines = ch4.differences(ev.records, side)
    assert lines[0].startswith("ch4-oscillation differs") and len(lines) == 3
    assert not any("A-larger" in line for line in lines)


def test_summary_names_the_setting_only_when_there_are_two():
    ev = Evidence(chapter=4)
    ev.claim(claims.OSCILLATION, [0.5, 0.6, 0.55, 0.5, 0.6], setting="digits-mlp", regime="attack; probe 30/15")
    assert "digits-mlp" not in claims.summary(ev.records)
    ev.claim(claims.OSCILLATION, [0.5, 0.6, 0.55, 0.5, 0.6], setting="mnist1d-cnn", regime="attack; probe 30/15")
    text = claims.summary(ev.records)
    assert "digits-mlp: attack | probe 30/15" in text and "mnist1d-cnn: attack | probe 30/15" in text


def test_tables_from_seed_data():
    seeds = [
        {
            run: {"test_acc": 0.9 + 0.01 * i, "robust_acc": 0.5, "neg_cos": 1.0, "lam_clean": 2.0 + i,
                  "lam_fixed": 3.0, "mu_re": 4.0, "at_ball": 0.1, "at_box": 0.2, "n_eff": 30.0 + i,
                  "neg_share": 0.0, "top10_share": 0.4}
            for run in ("standard", "PGD")
        }
        for i in range(3)
    ]  # fmt: skip
    data = ch4.SeedData(seeds, [])
    (row,) = ch4.end_table(data, ["standard"], 0.5)
    assert row["eta*lam1 clean"] == ch4.mean_sd(0.5 * np.array([2.0, 3.0, 4.0]))
    (pin,) = ch4.pinned_table(data, ["PGD"])
    assert pin["free"] == ch4.mean_sd([0.7, 0.7, 0.7])
    (few,) = ch4.few_samples_table(data, ["PGD"], 512)
    assert few["N_eff of 512"] == ch4.mean_sd([30.0, 31.0, 32.0], ".0f")
    with pytest.raises(ValueError, match="no per-seed results"):
        data.onset("PGD", "pred_A")


def test_pgd_decomposition_is_the_product_of_its_factors_seed_by_seed():
    live, frozen, pred = np.array([0.1, 0.12, 0.11]), np.array([0.15, 0.14, 0.16]), np.array([0.2, 0.2, 0.21])
    onsets = [{"PGD": {"p30:obs": live[i], "frozen:obs": frozen[i], "pred_A": pred[i]}} for i in range(3)]
    rows, product = ch4.pgd_decomposition(ch4.SeedData([], onsets))
    assert rows[0]["mean ± sd"] == ch4.mean_sd(live / pred)
    assert product == pytest.approx(np.mean(frozen / pred) * np.mean(live / frozen))


def _small_ascent():
    attack = threat.training_attack("ascent", step_size=0.2, steps=2, clamp=None)
    return attack, dict(step_size=0.2, steps=2, eps=threat.EPS, clamp=None)


def test_end_of_training_equals_seed_experiments_quantities():
    """The lean end-of-training run of the width sweep measures what ph.seed_experiment measures."""
    x, y = _data(32)
    x = x.float()
    attack, knobs = _small_ascent()

    def make_model(seed):
        torch.manual_seed(seed)
        return mlp(6, (8,), 3)

    ref = ph.seed_experiment(
        0, x, y, runs={"a": (attack, knobs)}, lr=0.3, steps=12, window=4, probe_steps=0,
        make_model=make_model, k=claims.TOP_K,
    )["a"]  # fmt: skip
    got = ch4.end_of_training(make_model(0), x, y, attack=attack, jeff=knobs, lr=0.3, steps=12, window=4)
    assert got["neg_cos"] == ref["neg_cos"]
    assert got["mu_re"] == pytest.approx(ref["mu_re"], rel=1e-6)
    assert got["lam_fixed"] == pytest.approx(ref["lam_fixed"], rel=1e-6)


def _width_mlp(width, seed):
    torch.manual_seed(seed)
    return mlp(6, (width,), 3)


def test_width_sweep_rows_and_means():
    x, y = _data(32)
    x = x.float()
    attack, knobs = _small_ascent()

    onset = dict(lr=0.05, steps=10, iters=1, lo_factor=0.4, factor=1.5)
    rows, means = ch4.width_sweep(
        (4, 8), [0, 1], x, y, make_model=_width_mlp, attack=attack, jeff=knobs, lr=0.3, steps=12,
        window=4, onset=onset, probe=(6, 3),
    )  # fmt: skip
    assert [r["width"] for r in rows] == [4, 8] and set(means) == {4, 8}
    again = ch4.end_of_training(_width_mlp(8, 1), x, y, attack=attack, jeff=knobs, lr=0.3, steps=12, window=4)
    first = ch4.end_of_training(_width_mlp(8, 0), x, y, attack=attack, jeff=knobs, lr=0.3, steps=12, window=4)
    assert means[8]["eta_mu"] == pytest.approx(0.3 * (again["mu_re"] + first["mu_re"]) / 2, rel=1e-6)


def test_follows_records_are_gated_by_the_frozen_control():
    """A delta-frozen control that does not hold: ch4-delta-follows is not recorded (section 4.10)."""
    pred = np.full(5, 0.2)
    obs_std = pred * np.array([1.02, 0.98, 1.0, 1.01, 0.99])
    obs = np.array([0.1, 0.12, 0.11, 0.1, 0.13])
    pred_a = np.full(5, 0.3)
    data = _synthetic(obs_std, pred, obs, pred_a * 0.5, pred_a, pred)  # frozen misses pred_A by half
    ev, control, *_ = _controls_and_onsets(data)
    assert control[claims.CONTROL_FROZEN_ASCENT.name].outcome == "not reproduced"
    attacks = {"gradient ascent": ("r", claims.CONTROL_FROZEN_ASCENT.name)}
    assert ch4.follows_records(ev, data, attacks, control, key="p30:obs") == []
    assert not [r for r in ev.records if r.spec is claims.DELTA_FOLLOWS]


def test_paired_follows_difference_matches_numpy_and_scipy():
    from scipy import stats as scipy_stats

    live_a, frozen_a = np.array([0.1, 0.12, 0.11, 0.1, 0.13]), np.array([0.15, 0.16, 0.17, 0.15, 0.2])
    live_p, frozen_p = np.array([0.2, 0.21, 0.19, 0.2, 0.22]), np.array([0.25, 0.3, 0.2, 0.28, 0.26])
    seeds = [
        {
            "gradient ascent": {"p30:obs": live_a[i], "frozen:obs": frozen_a[i]},
            "PGD": {"p30:obs": live_p[i], "frozen:obs": frozen_p[i]},
        }
        for i in range(5)
    ]
    got = ch4.paired_follows_difference(ch4.SeedData([], seeds))
    diff = live_a / frozen_a - live_p / frozen_p
    np.testing.assert_allclose(got["per_seed"], diff, rtol=1e-12)
    half = scipy_stats.t.ppf(0.975, 4) * diff.std(ddof=1) / np.sqrt(5)
    assert got["mean"] == pytest.approx(diff.mean(), rel=1e-12)
    assert (got["low"], got["high"]) == pytest.approx((diff.mean() - half, diff.mean() + half), rel=1e-9)


def test_checkpoint_curvature_predicted_ratio():
    seeds = [
        {
            "standard": {"p30:obs": 0.2, "lam1": 10.0 + i},
            "gradient ascent": {"p30:obs": 0.1, "lam1": 8.0, "mu1": 20.0},
        }
        for i in range(5)
    ]
    row = ch4.checkpoint_curvature(ch4.SeedData([], seeds), "digits-mlp")
    assert row["pred. ratio"] == ch4.mean_sd(np.array([(10.0 + i) / 20.0 for i in range(5)]))
    assert row["onset ratio"].startswith("0.50")


def test_width_sweep_without_onset_reports_the_end_only():
    x, y = _data(32)
    x = x.float()
    attack, knobs = _small_ascent()

    rows, means = ch4.width_sweep(
        (4,), [0, 1], x, y, make_model=_width_mlp, attack=attack, jeff=knobs, lr=0.3, steps=12, window=4
    )
    assert "onset eta" not in rows[0] and "obs_pred_b" not in means[4]
    ends = [
        ch4.end_of_training(_width_mlp(4, s), x, y, attack=attack, jeff=knobs, lr=0.3, steps=12, window=4)
        for s in (0, 1)
    ]
    ratio = np.mean([e["mu_re"] / e["lam_fixed"] for e in ends])
    assert means[4]["mu_over_lam"] == pytest.approx(ratio, rel=1e-6)
