"""Chapter 1's pipelines (advnotes.chapters.ch1) against independent oracles, on an MLP and a 1-d CNN."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from advnotes.chapters import ch1 as pipeline
from advnotes.claims import Evidence
from advnotes.claims import ch1 as claims
from advnotes.curvature import input_hessian
from advnotes.linear_regions import FrozenGates, count_choice_flips, count_gate_flips, local_linear_map
from advnotes.models import cnn1d, mlp


def _cnn(seed=0, channels=(4, 4)):
    torch.manual_seed(seed)
    return cnn1d(12, channels=channels, kernel_size=3).double().eval()


def _mlp(seed=0):
    torch.manual_seed(seed)
    return mlp(12, (16,), 10).double().eval()


def _data(n=24, seed=0, image=True):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 1, 12, dtype=torch.float64, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    return (x if image else x.flatten(1)), y


def _pool_net():
    """Conv1d(1, 1, 1) with weight 1 and bias 0 -> ReLU -> MaxPool1d(2) -> Flatten -> Linear(1, 2): max(x0, x1)."""
    conv = nn.Conv1d(1, 1, 1)
    lin = nn.Linear(1, 2)
    with torch.no_grad():
        conv.weight.fill_(1.0)
        conv.bias.zero_()
        lin.weight.copy_(torch.tensor([[1.0], [-1.0]]))
        lin.bias.zero_()
    return nn.Sequential(conv, nn.ReLU(), nn.MaxPool1d(2), nn.Flatten(), lin).double().eval()


def test_region_flips_counts_a_max_pool_winner_that_gate_flips_miss():
    net = _pool_net()
    x = torch.tensor([[[2.0, 1.0]]], dtype=torch.float64)
    x_new = torch.tensor([[[1.0, 2.0]]], dtype=torch.float64)
    assert int(count_gate_flips(net, x, x_new)[0]) == 0  # both ReLUs stay on
    assert int(count_choice_flips(net, x, x_new)[0]) == 1  # the pool's winner moved
    W, b = local_linear_map(net, x)
    pred = torch.einsum("bcn,bn->bc", W, x_new.flatten(1)) + b
    assert not torch.allclose(net(x_new), pred)  # so the map of x no longer holds: the count is needed


def test_region_flips_zero_means_the_frozen_network_agrees():
    """Oracle: FrozenGates freezes gates and pool choices; where region_flips is 0 it equals the network."""
    net, (x, _) = _cnn(), _data()
    g = torch.Generator().manual_seed(1)
    for scale in (1e-6, 1e-3, 1e-1):
        x_new = x + scale * torch.randn(x.shape, dtype=x.dtype, generator=g)
        flips = count_choice_flips(net, x, x_new)
        with torch.no_grad():
            same = (net(x_new) - FrozenGates(net, x)(x_new)).abs().amax(dim=1) < 1e-12
        assert bool(same[flips == 0].all())
    assert int((flips > 0).sum()) > 0  # the largest step leaves some regions: the check can fail


def test_linearity_runs_round_off_where_choices_stay_on_a_cnn():
    net, (x, y) = _cnn(), _data()
    maps = [local_linear_map(net, x)]
    g = torch.Generator().manual_seed(0)
    signs = pipeline.sign_directions([net], x, y, generator=g)
    assert signs["sign(g)"][0].shape == x.shape and set(signs["random signs"][0].unique().tolist()) == {-1.0, 1.0}
    runs = pipeline.linearity_runs([net], maps, x, signs=signs, eps_values=(0.01, 0.5), generator=g)
    assert len(runs) == len(pipeline.RADII) + 4
    assert pipeline.linearity_error_kept(runs) <= claims.LOCAL_LINEAR.tolerance
    err, flips, length = runs["random, r = 1e+00"][0]
    assert torch.allclose(length, torch.ones_like(length))
    assert float(err[flips > 0].max()) > 1e-6  # leaving the region shows
    rows = pipeline.linearity_rows(runs)
    assert [r["step"] for r in rows] == list(runs)
    kept = sum(int((f == 0).sum()) for f in [runs[rows[0]["step"]][0][1]])
    assert rows[0]["kept (per seed)"].startswith(f"{kept}/{len(x)}")


def test_clamped_steps_stay_in_the_box():
    net, (x, y) = _mlp(), _data(image=False)
    x = torch.ones_like(x)  # on the box's upper face: a + step is clipped away entirely
    g = torch.Generator().manual_seed(0)
    signs = pipeline.sign_directions([net], x, y, generator=g)
    runs = pipeline.linearity_runs(
        [net], [local_linear_map(net, x)], x, signs=signs, eps_values=(0.3,), clamp=(0.0, 1.0), generator=g, radii=()
    )
    for kind, d in signs.items():
        length = runs[f"{kind}, eps = 0.3"][0][2]
        assert torch.allclose(length, 0.3 * (d[0] < 0).sum(dim=1).double().sqrt())


@pytest.mark.parametrize("make", [_mlp, _cnn])
def test_autograd_curvature_against_the_closed_form(make):
    net = make()
    x, y = _data(image=make is _cnn)
    g_ad, H_ad = pipeline.autograd_curvature(net, x, y)
    g_cf, H_cf = input_hessian(net, x, y)
    assert H_ad.shape == (len(x), 12, 12) and g_ad.shape == (len(x), 12)
    assert torch.allclose(H_ad, H_cf, rtol=1e-9, atol=1e-12) and torch.allclose(g_ad, g_cf, rtol=1e-9, atol=1e-12)


def test_closed_form_errors_and_fifty_digits_on_a_cnn():
    net, (x, y) = _cnn(), _data()
    W, b = local_linear_map(net, x)
    errs = pipeline.closed_form_errors(net, W, b, x, y)
    assert set(errs) == {"closed form", "autograd", "autograd / |H|", "|H| / cancelling"}
    assert float(errs["closed form"].max()) <= claims.CLOSED_FORM.tolerance
    assert float(errs["autograd"].max()) <= claims.AUTOGRAD.tolerance
    assert float(errs["|H| / cancelling"].max()) <= 1 + 1e-12  # |W^T A W| <= |W^T diag(p) W| (A <= diag p)
    fifty = pipeline.fifty_digit_errors(net, W[0], x[0], y[0])
    assert fifty["closed form"] < 1e-13 and fifty["autograd"] < 1e-8
    with torch.no_grad():
        p = torch.softmax(net(x[:1]), dim=1)[0]
    assert fifty["1 - p_y"] == pytest.approx(float(1 - p[y[0]]), rel=1e-9)


def test_distance_to_kink_against_hand_computed_values():
    net = _pool_net()
    x = torch.tensor([[[2.0, -0.5]], [[0.3, 0.7]]], dtype=torch.float64)
    d = pipeline.distance_to_kink(net, x)
    assert d["pre-activation"] == pytest.approx(0.3)
    assert d["pool gap"] == pytest.approx(0.4)  # windows (2, 0) and (0.3, 0.7): the smaller gap
    assert d["pool ties"] == 0
    with torch.no_grad():
        net[0].weight.zero_()
        net[0].bias.fill_(0.5)  # every entry is the bias: a tie in every window, all at the bias
    d = pipeline.distance_to_kink(net, x)
    assert (d["pool ties"], d["ties at the bias"]) == (2, 2) and d["pool gap"] == float("inf")
    assert np.isnan(pipeline.distance_to_kink(_mlp(), _data(image=False)[0])["pool gap"])


def test_spectrum_identities_hold_and_a_corrupted_spectrum_fails():
    nets, (x, y) = [_cnn(0), _cnn(1)], _data()
    curv = pipeline.spectra(nets, x, y)
    errs = pipeline.spectrum_errors(curv)
    assert set(errs) == {claims.PSD, claims.RANK, claims.GRADIENT_IN_RANGE, claims.SMALL_EIGENPROBLEM}
    assert all(err <= spec.tolerance for spec, err in errs.items())
    bad = curv[0]._replace(dense=curv[0].dense.clone())
    bad.dense[:, -1] = -0.5 * bad.dense[:, 0]
    assert pipeline.spectrum_errors([bad])[claims.PSD] == pytest.approx(0.5)
    maps = [local_linear_map(m, x) for m in nets]
    bounds = pipeline.bound_errors(curv, maps)
    assert all(err <= spec.tolerance for spec, err in bounds.items())
    assert 0 < pipeline.bound_ratio(curv, maps) <= 1 + 1e-12
    ratio = pipeline.smallest_singular_ratio(maps)
    assert 0 < ratio <= 1


def test_rank_rows_share_sums_to_one_and_range_shares_against_projection():
    nets, (x, y) = [_mlp(0), _mlp(1)], _data(image=False)
    curv = pipeline.spectra(nets, x, y)
    rows, med = pipeline.rank_rows(curv)
    assert sum(r["share of inputs"] for r in rows) == pytest.approx(1.0)
    assert max(r["numerical rank"] for r in rows) <= 9 and len(med) == 2
    e1 = torch.zeros_like(x)
    e1[:, 0] = 1.0
    shares = pipeline.range_shares(curv, {"e1": [e1, e1]})
    V = curv[0].eigvecs
    direct = float(V[:, 0, :].norm(dim=1).median())  # |V^T e_1| = norm of V's first row
    assert shares[0]["seeds"][0] <= direct <= shares[0]["seeds"][1]


def test_share_values_and_rows_by_hand():
    share_H = [np.array([0.9, 0.5, 0.7]), np.array([0.8, 0.6, 0.4])]
    share_A = [np.array([0.8, 0.5, 0.7]), np.array([0.8, 0.4, 0.4])]
    masks = {"all": [np.ones(3, bool)] * 2, "first two": [np.array([True, True, False])] * 2}
    out = pipeline.share_values(share_H, share_A, masks)
    assert out["all"] == ([0.7, 0.6], [0.0, 0.0], [3, 3])
    assert out["first two"][0] == pytest.approx([0.7, 0.7]) and out["first two"][1] == pytest.approx([0.05, 0.1])
    probs = [np.array([[0.7, 0.2, 0.1], [0.5, 0.5, 0.0], [0.4, 0.3, 0.3]])] * 2
    rows = pipeline.share_rows(share_H, share_A, probs, masks)
    assert rows[0]["H"] == (0.6, 0.7)
    assert rows[1]["p_(2)/(1 - max p)"][0] == pytest.approx(np.median([0.2 / 0.3, 1.0]))


def test_curvature_stats_match_claims_and_skip_what_a_seed_cannot_give():
    nets, (x, y) = [_mlp(0), _mlp(1)], _data(n=64, image=False)
    curv = pipeline.spectra(nets, x, y)
    stat = pipeline.curvature_stats(curv, y)
    lam, p = curv[0].small[:, 0].numpy(), curv[0].probs.numpy()
    direct = claims.uncertainty(p)
    from scipy import stats as sps

    assert stat["rho_uncertainty_all"][0] == pytest.approx(sps.spearmanr(lam, direct).statistic)
    # untrained networks have no confidently wrong input: the matched statistic is missing, not a crash
    assert "abs_log_ratio_matched" not in stat or all(np.isfinite(stat["abs_log_ratio_matched"]))
    ev = Evidence(chapter=1)
    curv5 = curv + curv + curv[:1]
    out = pipeline.record_claims(ev, curv5, y, setting="mnist1d-cnn")
    assert len(out) == 7
    skipped = [o for o in out if isinstance(o, str)]
    recorded = [o for o in out if not isinstance(o, str)]
    assert all(r.setting == "mnist1d-cnn" for r in recorded) and len(recorded) + len(skipped) == 7
    assert all("not measured" in s for s in skipped)


def test_measure_or_skip():
    ev = Evidence(chapter=1)
    spec = claims.TOP_EIGENVALUE_SHARE
    assert "not measured" in pipeline.measure_or_skip(ev, spec, None, regime="r")
    assert "not measured" in pipeline.measure_or_skip(ev, spec, [0.9, float("nan"), 0.9, 0.9, 0.9], regime="r")
    rec = pipeline.measure_or_skip(ev, spec, [0.9, 0.8, 0.85, 0.9, 0.95], regime="r")
    assert rec.outcome == "holds" and ev.records == [rec]


def test_outcome_rows_and_differing():
    spec = claims.TOP_EIGENVALUE_SHARE
    recs = [
        spec.measure([0.9, 0.8, 0.85, 0.9, 0.95], setting="digits-mlp", regime=pipeline.ALL),
        spec.measure([0.2, 0.3, 0.25, 0.2, 0.3], setting="mnist1d-cnn", regime=pipeline.ALL),
        spec.measure([0.9, 0.8, 0.85, 0.9, 0.95], setting="digits-mlp", regime=pipeline.UNCONFIDENT),
        spec.measure([0.9, 0.8, 0.85, 0.9, 0.95], setting="mnist1d-cnn", regime=pipeline.UNCONFIDENT),
        claims.PSD.check(0.0),
    ]
    rows = pipeline.outcome_rows(recs)
    assert [r["regime"] for r in rows] == ["all", "unconfident"]
    assert rows[0]["digits-mlp"].startswith("holds (") and rows[0]["mnist1d-cnn"].startswith("not reproduced (")
    assert pipeline.differing(rows) == [rows[0]]
    only_one = pipeline.outcome_rows(recs[:1])
    assert only_one[0]["mnist1d-cnn"] == "not measured" and pipeline.differing(only_one) == only_one


def test_spread_and_variance_rows_against_numpy():
    nets, (x, y) = [_mlp(0), _mlp(1)], _data(n=64, image=False)
    curv = pipeline.spectra(nets, x, y)
    rows = pipeline.spread_rows({"digits-mlp": curv}, {"digits-mlp": y})
    p, lam = curv[0].probs.numpy(), curv[0].small[:, 0].numpy()
    wrong = p.argmax(1) != y.numpy()
    v0 = np.var(np.log(claims.uncertainty(p)[wrong]))
    p1 = curv[1].probs.numpy()
    v1 = np.var(np.log(claims.uncertainty(p1)[p1.argmax(1) != y.numpy()]))
    assert rows[1]["regime"] == "misclassified" and rows[1]["var log(1 - max p)"] == pytest.approx((v0 + v1) / 2)
    var_rows = pipeline.variance_ratio(curv)
    unc = p.max(1) < claims.CONFIDENT
    factor = np.log(lam / claims.softmax_top_eigenvalue(p)[0])[unc]
    assert var_rows[0]["var log(lam_max/lam_1(A))"] == pytest.approx(np.var(factor))


def test_record_identities_on_a_small_cnn_setting():
    nets, (x, y) = [_cnn(s) for s in range(2)], _data(n=16)
    split = SimpleNamespace(x_test=x, y_test=y)
    ev = Evidence(chapter=1)
    out = pipeline.record_identities(
        ev, nets, split, setting="mnist1d-cnn", n_check=4, generator=torch.Generator().manual_seed(0)
    )
    assert set(out.errors) == set(claims.IDENTITIES)
    assert all(err <= spec.tolerance for spec, err in out.errors.items())
    assert [r.setting for r in ev.records] == ["mnist1d-cnn"] * len(claims.IDENTITIES)
    n_seen = {r.name: r.measured["n_inputs_per_seed"] for r in ev.records}
    assert n_seen["ch1-closed-form"] == n_seen["ch1-autograd"] == 4  # only the first n_check inputs compared
    assert n_seen["ch1-psd"] == n_seen["ch1-rank"] == 16
    assert len(out.curv) == 2 and len(out.maps) == 2 and out.linearity[0]["step"].startswith("random")
    rows = pipeline.identity_rows(out.errors)
    assert all(r["holds"] for r in rows) and len(rows) == len(claims.IDENTITIES)


def test_untrained_rows_and_mnist1d_accuracies():
    from advnotes import settings

    s = settings.get("mnist1d-cnn")
    x, y = _data(n=8)
    x = torch.randn(8, 1, 40, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    rows, max_p = pipeline.untrained_rows(s, [0, 1], x, y)
    assert len(rows) == 1 and 0.1 <= max_p <= 1 and rows[0]["H"][0] <= rows[0]["H"][1]
    acc = pipeline.mnist1d_accuracies(
        [0.9, 0.95, 0.93, 0.94, 0.92], seeds=range(2), recipe=dict(lr=0.1, steps=3, batch_size=64)
    )
    assert [r["model"] for r in acc] == ["MLP", "CNN"]
    assert acc[1]["test accuracy"] == pytest.approx(0.928) and acc[1]["published"] == settings.PUBLISHED["CNN"]
    lo, hi = acc[1]["95% interval"]
    assert lo < 0.928 < hi and acc[0]["seeds"] == 2


def test_speed_row_agrees_within_its_tolerance():
    net, (x, y) = _cnn(), _data(n=3)
    row = pipeline.speed_row("cnn", net, x, y)
    assert row["agreement"] <= row["tolerance"] and row["speed-up"] > 0
    _, H = pipeline.dense_spectrum(net, x, y)
    assert H.shape == (3, 12, 12)
    out, seconds = pipeline.timed(lambda: 3, repeats=2)
    assert out == 3 and seconds >= 0


def test_plot_and_wrap():
    import matplotlib

    matplotlib.use("Agg")
    nets, (x, y) = [_mlp(0)], _data(n=32, image=False)
    curv = pipeline.spectra(nets, x, y)
    fig = pipeline.plot_curvature_vs_confidence(curv, y)
    assert len(fig.axes) == 2
    ratios = pipeline.spectrum_ratios(curv)
    assert ratios.shape == (1, 9) and np.allclose(ratios[:, 0], 1.0)
    text = pipeline.wrap("a " * 60 + "\nb")
    assert all(len(line) <= 88 for line in text.splitlines()) and text.splitlines()[1].startswith("    ")
    base = pipeline.baseline_stats(curv, [local_linear_map(nets[0], x)], y, [0])
    rows, above = pipeline.rho_rows(pipeline.curvature_stats(curv, y), base)
    assert len(rows) == 1 and set(above) == {"all", "unconfident", "misclassified"}
    cap = pipeline.caption_rows(pipeline.curvature_stats(curv, y))
    assert [r["inputs"] for r in cap] == ["all test inputs", "misclassified"]


def test_beyond_bounds_is_the_paired_difference_and_is_recorded_with_base():
    nets, (x, y) = [_mlp(s) for s in range(5)], _data(n=64, image=False)
    curv = pipeline.spectra(nets, x, y)
    maps = [local_linear_map(m, x) for m in nets]
    stat, base = pipeline.curvature_stats(curv, y), pipeline.baseline_stats(curv, maps, y, range(5))
    gaps = pipeline.beyond_bounds(stat, base)
    for key in ("unconfident", "wrong"):
        expect = np.asarray(stat[f"rho_uncertainty_{key}"]) - np.asarray(base[f"rho_uncertainty_{key}"])
        np.testing.assert_allclose(gaps[key], expect, rtol=0, atol=0)
    missing = pipeline.beyond_bounds({"n_all": [1, 1]}, {"n_all": [1, 1]})
    assert all(np.isnan(v) for v in missing["wrong"])
    ev = Evidence(chapter=1)
    out = pipeline.record_claims(ev, curv, y, setting="mnist1d-cnn", base=base)
    assert len(out) == 9
    named = [o for o in out if not isinstance(o, str) and o.name == claims.CURVATURE_BEYOND_BOUNDS.name]
    for rec in named:
        key = "unconfident" if rec.regime == pipeline.UNCONFIDENT else "wrong"
        assert list(rec.per_seed) == pytest.approx(gaps[key], abs=1e-6)  # records keep 6 digits


def test_match_gaps_against_a_brute_force_loop():
    nets, (x, y) = [_mlp(0)], _data(n=64, image=False)
    curv = pipeline.spectra(nets, x, y)
    p = curv[0].probs.numpy().copy()
    # make the first three inputs confidently wrong by hand: a labelled class far from the argmax
    y_cw = y.clone()
    y_cw[:3] = torch.as_tensor((p[:3].argmax(1) + 1) % 10)
    p[:3] = 0.001
    p[np.arange(3), (p[:3].argmax(1))] = 0.991
    curv = [curv[0]._replace(probs=torch.as_tensor(p))]
    unc = claims.uncertainty(p)
    correct, cw = p.argmax(1) == y_cw.numpy(), (p.argmax(1) != y_cw.numpy()) & (p.max(1) >= claims.CONFIDENT)
    per_input = []
    for i in np.flatnonzero(cw):
        d = sorted(abs(np.log(unc[i]) - np.log(unc[j])) for j in np.flatnonzero(correct & (unc > 0)))
        per_input.append(np.mean(d[: claims.K_MATCH]))
    assert pipeline.match_gaps(curv, y_cw) == [pytest.approx(np.median(per_input))]
    assert np.isnan(pipeline.match_gaps(curv, p.argmax(1))[0])  # nothing wrong: no gap


def test_confident_share_rows_and_differing_text():
    stat = {"n_all": [10, 10], "n_wrong": [4, 2], "n confidently wrong": [1, 2]}
    row = pipeline.confident_share_rows({"digits-mlp": stat})[0]
    assert row["confident share (mean)"] == pytest.approx((0.25 + 1.0) / 2) and row["range"] == (0.25, 1.0)
    spec = claims.TOP_EIGENVALUE_SHARE
    recs = [
        spec.measure([0.9, 0.8, 0.85, 0.9, 0.95], setting="digits-mlp", regime=pipeline.ALL),
        spec.measure([0.2, 0.3, 0.25, 0.2, 0.3], setting="mnist1d-cnn", regime=pipeline.ALL),
    ]
    text = pipeline.differing_text(pipeline.outcome_rows(recs))
    assert text.startswith("1 of 1 claim records differ") and "not reproduced (0.25) on mnist1d-cnn" in text
    same = pipeline.outcome_rows([recs[0], spec.measure([0.9] * 4 + [0.8], setting="mnist1d-cnn", regime=pipeline.ALL)])
    assert pipeline.differing_text(same).startswith("No claim record's outcome differs")
