"""Bad input never passes silently: advnotes.stats and the one-helper-per-job checks (issue 13).

The machinery of ``test_bad_input.py``; the coverage test in ``test_bad_input_phase2.py`` reads
``CASES`` and ``EXEMPT`` from here. Cases of functions that moved into ``advnotes.stats`` moved
with them (from ``theory`` and ``influence``).
"""

from __future__ import annotations

import pytest
import torch
from test_bad_input import A, E, T, assert_refused, case, lazy
from torch import nn

import advnotes.attacks
import advnotes.curvature
import advnotes.models
import advnotes.stats
import advnotes.training
import advnotes.validation  # noqa: F401  (resolve() walks these attributes)

D = torch.float64


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3)).double().eval()


def _x(n=5, d=4, dtype=D):
    return torch.randn(n, d, dtype=dtype)


def _y(n=5):
    return torch.zeros(n, dtype=torch.long)


CASES = [
    # --- stats: numbers in, numbers out
    case("stats.to_numpy", A("abc"), T, "value must be numbers"),
    case("stats.to_numpy", A([1.0, float("nan")], finite=True), E, "non-finite"),
    case("stats.t_interval", A([1.0]), E, "at least two values"),
    case("stats.t_interval", A("123"), T, "values must be numbers"),
    case("stats.t_interval", A([1.0, 2.0], level=1.5), E, r"level must lie in \(0, 1\)"),
    case("stats.t_interval", A([1.0, float("inf")]), E, "non-finite"),
    case("stats.roundoff", A("a"), E, "value must be a real number"),
    case("stats.roundoff", A(float("nan")), E, "needs a finite number"),
    case("stats.rank_correlation", A([1, 2, 3], ["a", "b", "c"]), T, "b must be numbers"),
    case("stats.rank_correlation", A([1, 2, 3], [1, 2]), E, "one length"),
    case("stats.rank_correlation", A([1, 2, float("nan")], [1, 2, 3]), E, "non-finite"),
    case("stats.rank_correlation", A([1, 1, 1], [1, 2, 3]), E, "constant array"),
    case("stats.binned_median", A(["a"], [1.0], [1.0, 2.0]), T, "s must be numbers"),
    case("stats.binned_median", A([1.0], [1.0], [2.0, 1.0]), E, "strictly increasing"),
    case("stats.binned_median", A([1.0, 2.0], [1.0], [1.0, 2.0]), E, "one length"),
    case("stats.binned_median", A([5.0], [1.0], [1.0, 2.0]), E, "no value of s"),
    case("stats.first_crossing", A([1.0, 2.0], [1.0, 2.0], "a"), E, "level must be a real number"),
    case("stats.first_crossing", A([1.0, 2.0], [1.0, 2.0], -1.0), E, "level positive"),
    case("stats.first_crossing", A([1.0, 2.0], [[1.0, 2.0]], 1.0), E, "1-D arrays"),
    case("stats.fit_growth", A(["1", "x", "3"], [1, 2, 3]), T, "m must be numbers"),
    case("stats.fit_growth", A([1, 2, 3], [1, 1, 1]), E, "constant"),
    case("stats.fit_growth", A([1, 2], [1, 2]), E, ">= 3 distinct"),
    case("stats.fit_growth", A([0, 1, 2], [1, 2, 3]), E, "must be positive"),
    case("stats.cosine", lazy(lambda: ((_x(), _x(4)), {})), E, "same shape"),
    case("stats.cosine", lazy(lambda: ((_x(), _x(dtype=torch.float32)), {})), T, "share one dtype"),
    case("stats.cosine", lazy(lambda: ((_x(), [1.0]), {})), E, "b must be a floating tensor"),
    case("stats.cosine", lazy(lambda: ((_x(), torch.zeros(5, 4, dtype=D)), {})), E, "zero row"),
    case("stats.cosine", lazy(lambda: ((_x(), _x()), dict(zero="0"))), E, "zero must be a real number"),
    case("stats.cosine", lazy(lambda: ((_x(), _x() * float("nan")), {})), E, "non-finite"),
    case("stats.negative_share", A([0.1, -0.2], window=3), E, "fewer than window"),
    case("stats.negative_share", A([0.1, -0.2], window=0), E, "window must be"),
    case("stats.negative_share", A([]), E, "empty"),
    case("stats.top_share", A([1.0, 2.0], k=3), E, "exceeds the number"),
    case("stats.top_share", A([1.0, 2.0], k=1.5), E, "k must be an integer"),
    case("stats.top_share", A([1.0, 2.0]), T, "exactly one of k"),
    case("stats.top_share", A([1.0, 2.0], k=1, fraction=0.5), T, "exactly one of k"),
    case("stats.top_share", A([1.0, 2.0], fraction=0.0), E, r"fraction must be in \(0, 1\]"),
    case("stats.top_share", A([-1.0], fraction=0.5), E, "finite non-negative numbers"),
    case("stats.top_share", A([1.0, float("nan")], k=1), E, "non-finite"),
    # --- one helper per repeated job
    case("validation.check_vector", A("v", [[1.0, 2.0]]), E, "1-d array"),
    case("validation.check_vector", A("v", [1.0, float("inf")]), E, "non-finite"),
    case("validation.check_vector", A("v", "ab"), T, "v must be numbers"),
    case("validation.check_model_data", lazy(lambda: ((_net(), _x(5, 3), _y()), {})), E, "in_features=4"),
    case("validation.check_model_data", lazy(lambda: ((_net(), _x(), _y() + 3), {})), E, "3 classes"),
    case("validation.check_model_data", lazy(lambda: ((_net(), _x(), _y(4)), {})), E, r"shape \(5,\)"),
    case(
        "validation.check_model_data",
        lazy(lambda: ((lambda t: t[:, :3], _x(), _y()), dict(module=True))),
        T,
        "torch.nn.Module",
    ),
    case(
        "validation.check_model_data",
        lazy(lambda: ((nn.Sequential(nn.Dropout(0.5), nn.Linear(4, 3)).double(), _x(), _y()), dict(why="x"))),
        E,
        r"Dropout .*call model\.eval\(\)",
    ),
    case("validation.check_delta", lazy(lambda: (([1.0], _x()), {})), T, "delta must be a torch.Tensor"),
    case("validation.check_delta", lazy(lambda: ((_x(5, 3), _x()), {})), E, "shape of x"),
    case("validation.check_delta", lazy(lambda: ((_x(dtype=torch.float32), _x()), {})), T, "dtype and device"),
    case("validation.check_delta", lazy(lambda: ((_x() * float("nan"), _x()), {})), E, "non-finite"),
    case("models.flat_params", A("net"), T, r"nn\.Module, a dict or a list"),
    case("models.flat_params", lazy(lambda: ((nn.ReLU(),), {})), E, "no trainable parameters"),
    case("models.flat_params", lazy(lambda: ((_net(),), dict(batch=2))), E, "per-sample tensors"),
    case("models.flat_params", lazy(lambda: (([torch.ones(3, 2), torch.ones(2)],), dict(batch=3))), E, "leading batch"),
    case("models.flat_params", A([]), T, "at least one tensor"),
    case("attacks.check_steps", A(-1), E, "steps must be"),
    case("attacks.check_steps", A(10**9), E, r"advnotes\.attacks\.MAX_STEPS"),
    case("attacks.check_steps", A(0, allow_zero=False), E, "steps must be"),
    case("training.ensemble_path", A("mlp"), T, "torch.nn.Module"),
    case("attacks.check_clamp", A((1.0, 0.0)), E, "low < high"),
    case("attacks.check_clamp", A("01"), E, r"clamp must be None or a \(low, high\) pair"),
    case("attacks.check_clamp", A((0.0, float("nan"))), E, "high bound must be a number"),
    case(
        "curvature.softmax_residual", lazy(lambda: ((torch.ones(2, 3) / 3, torch.tensor([0, 5])), {})), E, "3 classes"
    ),
]

EXEMPT = {
    "training.mlp_plan": "reads any object and answers None for whatever is not a plain MLP (it never raises)",
    "stats.GrowthFit": "a frozen record returned by fit_growth(), not built by users",
}


@pytest.mark.parametrize("fn,build,error,match,env", CASES)
def test_bad_input_is_refused(fn, build, error, match, env, monkeypatch):
    assert_refused(fn, build, error, match, env, monkeypatch)
