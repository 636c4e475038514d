"""Bad input never passes silently: chapter 3's claims module and pipelines (the machinery of
``test_bad_input.py``)."""

from __future__ import annotations

import pytest
import torch
from test_bad_input import A, E, T, assert_refused, case, lazy

import advnotes.chapters.ch3  # noqa: F401  (resolve() walks the attribute)
import advnotes.claims.ch3  # noqa: F401


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)).double().eval()


def _data():
    g = torch.Generator().manual_seed(0)
    return torch.rand(12, 4, generator=g, dtype=torch.float64), torch.arange(12) % 3


STATS = "must be the list that confidence_stats returns"
CURVES = "must be the list that growth_curves returns"
SLOPED = "must be the list that growth_slopes"
CNN = lambda: __import__("advnotes.settings").settings.get("mnist1d-cnn")  # noqa: E731

CASES = [
    # ------------------------------------------------------------------ claims.ch3 (moved from phase2)
    case("claims.ch3.summary", A([3]), T, "records must hold"),
    case("claims.ch3.summary", A(None), T, "records must be a list"),
    # ------------------------------------------------------------------ chapters.ch3
    case("chapters.ch3.flat_view", A("net", torch.zeros(2, 3)), T, "model must be a torch.nn.Module"),
    case("chapters.ch3.flat_view", lazy(lambda: ((_net(), torch.zeros(3)), {})), E, r"x must be a batch tensor"),
    case("chapters.ch3.gradient_identity_errors", A(_net(), [0], None, None), T, "models must be a non-empty list"),
    case(
        "chapters.ch3.gradient_identity_errors",
        lazy(lambda: (([_net()], [0, 1]) + _data(), {})),
        E,
        r"seeds must hold one entry per network \(1\), got 2",
    ),
    case(
        "chapters.ch3.gradient_identity_errors",
        lazy(lambda: (([_net()], [0]) + _data(), {"t": -1.0})),
        E,
        "t must be",
    ),
    case("chapters.ch3.confidence_stats", A([], None, None), T, "models must be a non-empty list"),
    case("chapters.ch3.correlation_rows", A("stats", [0]), T, STATS),
    case("chapters.ch3.decile_rho_rows", A([{"x": 1}], [0]), T, STATS),
    case("chapters.ch3.decile_span_rows", A([{"n_mis": 1}], [0]), T, STATS),
    case("chapters.ch3.side_by_side", A([]), T, "values must be the dict"),
    case("chapters.ch3.side_by_side", A({"a": 1}), E, "one per setting"),
    case("chapters.ch3.group_median_rows", A(None), T, STATS),
    case("chapters.ch3.plot_groups", A([], None), T, STATS),
    case(
        "chapters.ch3.growth_curves",
        lazy(lambda: (([_net()], [{}]) + _data(), dict(steps=[0], steps_early=[1], s_per_step=0.1, s_early=0.1))),
        E,
        "steps",
    ),
    case(
        "chapters.ch3.growth_curves",
        lazy(lambda: (([_net()], [{}]) + _data(), dict(steps=[1], steps_early=[1], s_per_step=-1.0, s_early=0.1))),
        E,
        "s_per_step must be",
    ),
    case("chapters.ch3.closed_form_error", A([], [], None, None), T, "models must be a non-empty list"),
    case(
        "chapters.ch3.closed_form_error",
        lazy(lambda: (([_net()], [{}]) + _data(), {"n": 0})),
        E,
        "n must be",
    ),
    case("chapters.ch3.growth_slopes", A("curves", [0], [1, 2], [1]), T, CURVES),
    case("chapters.ch3.rise_rows", A("curves", [0], [1, 10]), T, CURVES),
    case("chapters.ch3.above_floor", A([1.0, 2.0], [0.9], 0.5), E, "one length"),
    case("chapters.ch3.above_floor", A([1.0], [0.9], 1.5), E, "strictly between 0 and 1"),
    case("chapters.ch3.exponent_rows", A([{"terms": 1}], [0]), T, SLOPED),
    case("chapters.ch3.rate_records", A(None, [1, 2]), T, SLOPED),
    case("chapters.ch3.path_condition_rows", A("curves", [1], [1], []), T, CURVES),
    case(
        "chapters.ch3.path_condition_rows",
        A([{"terms": {}, "terms_early": {}, "gs": {}}], [1], [1], [("run", 1, 0.1)]),
        E,
        "probes must be",
    ),
    case("chapters.ch3.plot_growth", A([], [1], 0.1, None), T, SLOPED),
    case("chapters.ch3.step_attacks", A("digits-mlp"), T, r"setting must be an advnotes.settings.Setting"),
    case(
        "chapters.ch3.steps_log_ratios",
        lazy(lambda: (([_net()], [{}]) + _data() + ({}, [1]), {})),
        T,
        "attacks must be the dict that step_attacks returns",
    ),
    case("chapters.ch3.steps_rows", A([], [1, 10]), T, "log_r must be the dict that steps_log_ratios returns"),
    case("chapters.ch3.steps_shift", A({"a": {}}, [1, 3]), E, "m_steps must contain 1 and m = 10"),
    case("chapters.ch3.steps_shift", A(None, [1, 10]), T, "log_r must be the dict"),
    case("chapters.ch3.grad_inf_medians", A(_net(), None, None), T, "models must be a non-empty list"),
    case(
        "chapters.ch3.projected_sweep",
        lazy(lambda: (([_net()], [{}]) + _data() + ([-0.1],), {"eps": 0.1, "clamp": None})),
        E,
        "alpha must be",
    ),
    case("chapters.ch3.training_attacks", A(None), T, "setting must be an advnotes.settings.Setting"),
    case("chapters.ch3.training_attacks", lazy(lambda: ((CNN(),), {"ascent_step": 0.0})), E, "ascent_step must be"),
    case(
        "chapters.ch3.train_checkpoints",
        lazy(lambda: ((lambda s: _net(),) + _data(), dict(seeds=[0], attacks={}, checkpoints=[0], recipe={}))),
        E,
        "checkpoints",
    ),
    case(
        "chapters.ch3.train_checkpoints",
        lazy(lambda: ((lambda s: _net(),) + _data(), dict(seeds=[0], attacks={}, checkpoints=[5], recipe=None))),
        T,
        "recipe must be a dict",
    ),
    case(
        "chapters.ch3.train_checkpoints",
        lazy(
            lambda: (
                (lambda s: _net(),) + _data(),
                dict(seeds=[0], attacks={"standard": None}, checkpoints=[5, 5], recipe={"lr": 0.1}),
            )
        ),
        E,
        "strictly increasing",
    ),
    case("chapters.ch3.finetune_from", lazy(lambda: (([_net()], [0, 1]), {})), E, "seeds must hold one entry"),
    case("chapters.ch3.finetune_from", A("nets", [0]), T, "models must be a non-empty list"),
    case("chapters.ch3.checkpoint_shares", A([], {}, None, None), T, "nets must be the dict that train_checkpoints"),
    case("chapters.ch3.control_shares", A([], {"PGD": None}, None, None), T, "models must be a non-empty list"),
    case("chapters.ch3.control_shares", lazy(lambda: (([_net()], [], None, None), {})), T, "attacks must be the dict"),
    case("chapters.ch3.accuracy_rows", A({"a": [[]]}, None, None, "robust"), T, "robust must be a callable"),
    case("chapters.ch3.share_rows", A([], [1]), T, "runs must be the dict that checkpoint_shares returns"),
    case("chapters.ch3.shares_identity_error", A({"a": 1}, [], None, None), T, "attacks must be the dict"),
    case("chapters.ch3.log_r_shift", A([{}]), T, "shares must be the list"),
    case("chapters.ch3.log_r_rows", A([], {}), T, "adversarial must be the dict"),
    case("chapters.ch3.plot_shares", A(None, [1], None), T, "runs must be the dict"),
    case("chapters.ch3.record_rows", A("records", "g"), T, "records must be a list of claim records"),
    case("chapters.ch3.record_rows", A([], 3), T, r"group must be a claim group's name \(str\)"),
]

EXEMPT: dict[str, str] = {}


@pytest.mark.parametrize("fn,build,error,match,env", CASES)
def test_bad_input_is_refused(fn, build, error, match, env, monkeypatch):
    assert_refused(fn, build, error, match, env, monkeypatch)
