"""advnotes.stats and the one-helper-per-job functions (issue 13) against independent oracles.

Oracles: scipy.stats (t quantiles, Spearman), numpy (quantiles, sorting), torch (cosine similarity,
parameters_to_vector), the model itself (batch-norm folding keeps the function), and the attack run
once per step count (the ascent path).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
import torch
from torch import nn

from advnotes import attacks, models, stats, validation

D = torch.float64


# ----------------------------------------------------------------------------- intervals, round-off


@pytest.mark.parametrize("n", [2, 5, 12])
@pytest.mark.parametrize("level", [0.9, 0.95])
def test_t_interval_matches_scipy(n, level):
    values = np.random.default_rng(n).normal(3.0, 2.0, size=n)
    mean, lo, hi = stats.t_interval(values, level=level)
    ref_lo, ref_hi = scipy.stats.t.interval(level, n - 1, loc=values.mean(), scale=scipy.stats.sem(values))
    assert mean == pytest.approx(values.mean(), rel=1e-14)
    assert (lo, hi) == pytest.approx((ref_lo, ref_hi), rel=1e-12)


def test_t_interval_of_equal_values_is_a_point():
    assert stats.t_interval([2.5] * 5) == (2.5, 2.5, 2.5)


@pytest.mark.parametrize("value, text", [(2.3e-14, "< 1e-13"), (-1e-10, "< 1e-10"), (0.0, "0"), (0.5, "< 1e+00")])
def test_roundoff_bounds(value, text):
    assert stats.roundoff(value) == text
    if value:
        assert abs(value) <= 10.0 ** float(text.split("e")[1])


def test_to_numpy_detaches_and_copies_to_float64():
    t = torch.arange(4, dtype=torch.float32, requires_grad=True)
    out = stats.to_numpy(t * 2)
    assert out.dtype == np.float64 and out.tolist() == [0.0, 2.0, 4.0, 6.0]
    assert stats.to_numpy([1, float("nan")]).shape == (2,)  # finite=False lets NaN through


# ----------------------------------------------------------------------------- ranks, bins, crossings


@pytest.mark.parametrize("seed", range(3))
def test_rank_correlation_matches_pearson_of_ranks(seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=40)
    b = a + rng.normal(size=40)
    ranks = lambda v: np.argsort(np.argsort(v)).astype(float)  # noqa: E731  (no ties: exact ranks)
    ref = np.corrcoef(ranks(a), ranks(b))[0, 1]
    assert stats.rank_correlation(a, b) == pytest.approx(ref, abs=1e-12)
    assert stats.rank_correlation(torch.tensor(a), b) == pytest.approx(ref, abs=1e-12)


def test_rank_correlation_of_a_monotone_map_is_one():
    a = np.linspace(0.1, 3, 20)
    assert stats.rank_correlation(a, np.exp(a)) == pytest.approx(1.0)
    assert stats.rank_correlation(a, -(a**3)) == pytest.approx(-1.0)


def test_binned_median_matches_numpy_per_bin():
    rng = np.random.default_rng(0)
    s = np.exp(rng.uniform(-3, 3, size=500))
    v = rng.normal(size=500)
    edges = np.exp(np.linspace(-3, 3, 7))
    c, med, lo, hi = stats.binned_median(s, v, edges)
    assert len(c) == 6
    for i in range(6):
        sel = (s >= edges[i]) & (s < edges[i + 1])
        assert med[i] == pytest.approx(np.median(v[sel]))
        assert (lo[i], hi[i]) == pytest.approx(tuple(np.quantile(v[sel], [0.25, 0.75])))
        assert c[i] == pytest.approx(math.sqrt(edges[i] * edges[i + 1]))


def test_binned_median_skips_empty_bins():
    c, med, _, _ = stats.binned_median([1.5, 1.6, 3.5], [1.0, 3.0, 7.0], [1.0, 2.0, 3.0, 4.0])
    assert len(c) == 2 and med.tolist() == [2.0, 7.0]


def test_first_crossing_on_a_power_law_is_exact():
    s = np.array([0.1, 1.0, 10.0, 100.0])
    v = 0.01 * s**2  # a straight line in log-log: the interpolation is exact
    assert stats.first_crossing(s, v, 0.25) == pytest.approx(5.0)
    assert stats.first_crossing(s, v, 1e6) == math.inf
    assert stats.first_crossing(s, v, 1e-9) == 0.1


# ----------------------------------------------------------------------------- growth laws


def test_fit_growth_recovers_each_law():
    m = np.arange(1, 16, dtype=float)
    exp_fit = stats.fit_growth(m, 0.5 * np.exp(0.3 * m))
    assert exp_fit.best == "exponential" and exp_fit.exp_rate == pytest.approx(0.3, rel=1e-6)
    assert exp_fit.exp_r2 == pytest.approx(1.0)
    pow_fit = stats.fit_growth(m, 2.0 * m**1.5)
    assert pow_fit.best == "power" and pow_fit.power == pytest.approx(1.5, rel=1e-6)
    lin_fit = stats.fit_growth(m, 1.0 + 0.2 * m)
    assert lin_fit.lin_slope == pytest.approx(0.2) and lin_fit.lin_r2 == pytest.approx(1.0)
    assert "best" in str(exp_fit)


# ----------------------------------------------------------------------------- cosines and shares


def test_cosine_matches_torch():
    a, b = torch.randn(6, 3, 4, dtype=D), torch.randn(6, 3, 4, dtype=D)
    ref = torch.nn.functional.cosine_similarity(a.reshape(6, -1), b.reshape(6, -1), dim=1)
    torch.testing.assert_close(stats.cosine(a, b), ref, rtol=1e-14, atol=1e-15)
    one = stats.cosine(a[0].reshape(-1), b[0].reshape(-1))
    assert one.dim() == 0 and float(one) == pytest.approx(float(ref[0]), rel=1e-14)


def test_cosine_of_a_zero_row_is_the_given_value():
    a = torch.randn(3, 5, dtype=D)
    b = a.clone()
    b[1] = 0
    out = stats.cosine(a, b, zero=0.0)
    assert out[1] == 0 and out[0] == pytest.approx(1.0) and out[2] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="zero row"):
        stats.cosine(a, b)


def test_training_logs_update_cosines_with_stats_cosine():
    from advnotes.training import train

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3)).double()
    x, y = torch.randn(32, 4, dtype=D), torch.randint(0, 3, (32,))
    log = train(model, x, y, lr=0.1, steps=6, batch_size=32, record_updates=True)
    ref = [float(stats.cosine(u, v)) for u, v in zip(log.updates[1:], log.updates[:-1], strict=True)]
    assert log.update_cos == pytest.approx(ref, rel=1e-12)
    assert stats.negative_share(log.update_cos) == sum(c < 0 for c in ref) / len(ref)


def test_negative_share_reads_the_last_window():
    values = [0.5, -0.1, 0.2, -0.3, -0.4]
    assert stats.negative_share(values) == 3 / 5
    assert stats.negative_share(values, window=2) == 1.0
    assert stats.negative_share(values, window=3) == 2 / 3


def test_top_share_by_count_and_by_fraction():
    rng = np.random.default_rng(1)
    v = rng.exponential(size=37)
    top = np.sort(v)[::-1]
    assert stats.top_share(v, k=5) == pytest.approx(top[:5].sum() / v.sum())
    assert stats.top_share(v, fraction=0.1) == pytest.approx(top[:4].sum() / v.sum())  # ceil(3.7) = 4
    shares = torch.tensor([0.5, 0.3, 0.2], dtype=D)
    assert stats.top_share(shares, k=2) == pytest.approx(0.8)
    assert stats.top_share(v, fraction=1.0) == pytest.approx(1.0)


# ----------------------------------------------------------------------------- one helper per job


def test_flat_params_matches_parameters_to_vector():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    model[0].bias.requires_grad_(False)
    flat = models.flat_params(model)
    ref = torch.cat([model[0].weight.reshape(-1), model[2].weight.reshape(-1), model[2].bias])
    assert torch.equal(flat, ref.detach()) and not flat.requires_grad
    grads = {"w": torch.randn(5, 2, 3), "b": torch.randn(5, 2)}
    per = models.flat_params(grads, batch=5)
    assert per.shape == (5, 8)
    assert torch.equal(per[2], torch.cat([grads["w"][2].reshape(-1), grads["b"][2]]))
    assert torch.equal(models.flat_params(list(grads.values())), torch.cat([t.reshape(-1) for t in grads.values()]))


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("conv", [False, True])
def test_fold_batchnorm_keeps_the_function(affine, conv):
    torch.manual_seed(1)
    if conv:
        layers = [nn.Conv1d(2, 3, 3), nn.BatchNorm1d(3, affine=affine), nn.ReLU(), nn.Flatten(), nn.Linear(18, 4)]
        x = torch.randn(16, 2, 8, dtype=D)
    else:
        layers = [nn.Linear(5, 6), nn.BatchNorm1d(6, affine=affine), nn.ReLU(), nn.Linear(6, 4)]
        x = torch.randn(16, 5, dtype=D)
    model = nn.Sequential(*layers).double()
    model.train()
    for _ in range(3):  # give the running statistics and the affine parameters non-trivial values
        model(x * 3 + 1)
    if affine:
        with torch.no_grad():
            model[1].weight.uniform_(0.5, 2.0)
            model[1].bias.uniform_(-1.0, 1.0)
    model.eval()
    folded = models.fold_batchnorm(model)
    assert not any(isinstance(m, nn.BatchNorm1d) for m in folded)
    torch.testing.assert_close(folded(x), model(x), rtol=1e-12, atol=1e-12)


def test_check_model_data_returns_labels_and_classes():
    model = nn.Sequential(nn.Linear(4, 3)).double()
    x, y = torch.randn(5, 4, dtype=D), torch.tensor([0, 1, 2, 0, 1], dtype=torch.int32)
    x2, y2, classes = validation.check_model_data(model, x, y, module=True, why="test")
    assert x2 is x and y2.dtype == torch.long and classes == 3


def test_check_delta_detaches_and_keeps_values():
    x = torch.randn(3, 4, dtype=D)
    delta = torch.randn(3, 4, dtype=D, requires_grad=True)
    out = validation.check_delta(delta * 1, x)
    assert torch.equal(out, delta.detach()) and not out.requires_grad


def test_gradient_ascent_path_equals_the_attack_at_each_step_count():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3)).double().eval()
    x, y = torch.randn(7, 6, dtype=D), torch.randint(0, 3, (7,))
    path = attacks.gradient_ascent_path(model, x, y, step_size=0.3, record=[0, 1, 4])
    assert sorted(path) == [0, 1, 4] and torch.equal(path[0], torch.zeros_like(x))
    for m in (1, 4):
        torch.testing.assert_close(
            path[m], attacks.gradient_ascent(model, x, y, step_size=0.3, steps=m), rtol=0, atol=0
        )
    proj = attacks.gradient_ascent_path(model, x, y, step_size=0.3, record=[3], eps=0.1)
    ref = attacks.gradient_ascent(model, x, y, step_size=0.3, steps=3, eps=0.1)
    assert torch.equal(proj[3], ref) and proj[3].abs().max() <= 0.1


def test_check_steps_counts():
    assert attacks.check_steps(3) == 3 and attacks.check_steps(0) == 0
    with pytest.raises(ValueError, match=r"MAX_STEPS"):
        attacks.check_steps(attacks.MAX_STEPS + 1)


def test_check_clamp_returns_the_pair():
    assert attacks.check_clamp(None) is None
    assert attacks.check_clamp((0.0, 1.0)) == (0.0, 1.0)
    lo, hi = torch.zeros(3), torch.ones(3)
    out = attacks.check_clamp((lo, hi))
    assert out[0] is lo and out[1] is hi
