"""Bad input never passes silently: chapter 2's claims helpers and pipelines (advnotes.claims.ch2,
advnotes.chapters.ch2), with the machinery of ``test_bad_input.py``."""

from __future__ import annotations

import pytest
import torch
from test_bad_input import A, E, T, assert_refused, case

import advnotes.chapters.ch2  # noqa: F401  (resolve() walks the attribute)
from advnotes.claims import ch2  # noqa: F401

TABLE = {"alpha": [0.1] * 4, "m": [2, 2, 3, 3], "s": [0.2, 0.3, 0.4, 0.5], "v": [1.0, 2.0, 3.0, 5.0], "zero": [1.0] * 4}


def _mlp():
    from advnotes.models import mlp

    torch.manual_seed(0)
    return mlp(4, (3,), 3).double().eval()


def _binary():
    from advnotes.models import mlp

    torch.manual_seed(0)
    return mlp(4, (3,), 2).double().eval()


X = torch.rand(3, 4, dtype=torch.float64)
Y = torch.tensor([0, 1, 2])

CASES = [
    # --- claims.ch2 (moved from test_bad_input_phase2.py; numbers are checked by validation.check_number now)
    case("claims.ch2.in_regime", A(["a"]), T, "s must be numbers"),
    case("claims.ch2.check_tables", A({"s": [1.0]}, {"s"}), T, "tables must be a list of validity tables"),
    case("claims.ch2.check_tables", A([{"s": [1.0]}], {"s", "m"}), E, r"tables\[0\] must be a validity_table dict"),
    case("claims.ch2.in_regime", A([1.0], 2.0, 1.0), E, "need lo <= hi"),
    case("claims.ch2.regime_medians", A([{"s": [1.0], "m": [2]}], "err_real"), E, "'err_real'"),
    case("claims.ch2.regime_medians", A({"s": [1.0], "m": [2]}, "s"), T, "tables must be a list"),
    case("claims.ch2.regime_medians", A([{"s": [1.0], "m": [2]}], "s", min_steps=-1), E, "min_steps must be"),
    case("claims.ch2.regime_medians", A([{"s": [1.0], "m": [1]}], "s"), E, "seed 0 has no"),
    case("claims.ch2.regime_medians", A([{"s": [1.0], "m": [2], "v": [float("nan")]}], "v"), E, "seed 0 has no"),
    case("claims.ch2.summary", A([3]), T, "records must hold"),
    case("claims.ch2.summary", A([], setting=3), T, "setting must be None or a setting name"),
    case("claims.ch2.m_trend", A({"alpha": [0.1], "m": [2]}, "offtop_real", 0.1), E, "'offtop_real'"),
    case("claims.ch2.m_trend", A(TABLE, "v", "0.1"), E, "alpha must be a real number"),
    case("claims.ch2.m_trend", A(TABLE, "v", 0.1, min_steps=1.5), E, "min_steps must be"),
    case("claims.ch2.m_trend", A(TABLE, "v", 0.3), E, "no entry with alpha = 0.3"),
    case("claims.ch2.m_trend", A(TABLE, "v", 0.1, max_s="1"), E, "max_s must be a real number"),
    case("claims.ch2.m_slope_ratios", A(TABLE, 0.1), T, "tables must be a list"),
    case("claims.ch2.m_slope_ratios", A([TABLE], 0.1, "v", "zero"), E, "slope is 0"),
    case("claims.ch2.regime_spearman", A([TABLE], "v", "s", lo=0.0, hi=1.0), T, "y_of must map a table"),
    case("claims.ch2.regime_spearman", A([TABLE], "v", lambda t: t["v"], lo=0.0, hi=0.1), E, "fewer than 3"),
    case("claims.ch2.regime_spearman", A([TABLE], "v", lambda t: t["v"], lo=1.0, hi=0.1), E, "need lo <= hi"),
    # --- chapters.ch2
    case("chapters.ch2.flat_input", A("model", (1, 4)), T, "model must be a torch.nn.Module"),
    case("chapters.ch2.flat_input", lambda: ((_mlp(), ()), {}), E, "shape is empty"),
    case("chapters.ch2.random_quadratic", A(0, n=3, rank=4), E, "rank must be at most n = 3"),
    case("chapters.ch2.random_quadratic", A(-1), E, "seed"),
    case("chapters.ch2.recurrence_error", A({"H": 1}, [(0.1, 2)]), E, "quadratic must be the dict of random_quadratic"),
    case("chapters.ch2.exact_factor", A("x", 0.1, 3), E, "lam must be a real number"),
    case("chapters.ch2.exact_factor", A(0.1, 0.1, 0), E, "steps"),
    case("chapters.ch2.factor_rows", A([0.1], step_size=0.1, steps=0), E, "steps"),
    case("chapters.ch2.first_step_error", lambda: ((_mlp(), X, Y), {"step_size": -1.0}), E, "step_size"),
    case("chapters.ch2.quadratic_attack_error", lambda: ((_mlp(), X, Y, [(0.1, -2)]), {}), E, "steps"),
    case("chapters.ch2.bound_excess", A(torch.ones(2, 3, dtype=torch.float64), [0.1], [-1]), E, "steps"),
    case("chapters.ch2.flow_orders", A(None, None, None, t=1.0, counts=[50]), E, "counts needs at least two"),
    case("chapters.ch2.accuracy_rows", lambda: (([0], [_mlp()], X, Y[:2]), {}), E, "y"),
    case(
        "chapters.ch2.validity_tables",
        lambda: (([], X, Y), dict(per_seed=1, step_sizes=[0.1], steps=[1])),
        E,
        "models must hold at least one model",
    ),
    case(
        "chapters.ch2.validity_tables",
        lambda: (([_mlp()], X, Y), dict(per_seed=4, step_sizes=[0.1], steps=[1])),
        E,
        "disjoint slices of 4 inputs need 4, got 3",
    ),
    case(
        "chapters.ch2.tracks_records",
        A(None, {"s": [1.0]}, setting="digits-mlp", inputs_per_seed=1),
        T,
        "tables must be a list",
    ),
    case("chapters.ch2.decomposition_rows", A({"s": [1.0]}, {"v": "v"}), T, "tables must be a list"),
    case("chapters.ch2.projection_active", A({"s": [1.0]}), T, "tables must be a list"),
    case("chapters.ch2.projection_active", A([{"s": [1.0]}]), E, "must be a validity_table dict"),
    case("chapters.ch2.breakdown_records", A(None, {"s": [1.0]}, setting="digits-mlp"), T, "tables must be a list"),
    case(
        "chapters.ch2.strengthening_records",
        A(None, {"s": [1.0]}, setting="digits-mlp", eps=0.1, box=True),
        T,
        "tables must be a list",
    ),
    case(
        "chapters.ch2.trend_records",
        A(None, [{"s": [1.0]}], setting="digits-mlp", steps=[1, 2]),
        E,
        "must be a validity_table dict",
    ),
    case("chapters.ch2.tilt_error", lambda: (([_mlp()], X, Y, [{}]), {}), E, "must be a dict of theory.gradient_tilt"),
    case("chapters.ch2.tilt_rows", A([0], [{}]), E, "must be a dict of theory.gradient_tilt"),
    case("chapters.ch2.defined_inputs", A([]), E, "tilts must hold at least one"),
    case("chapters.ch2.defined_inputs", A([{}]), E, "must be a dict of theory.gradient_tilt"),
    case("chapters.ch2.two_class", A(X, Y, classes=(3, 3)), E, "classes must be two different labels"),
    case("chapters.ch2.margin_geometry", lambda: ((_mlp(), X, Y), {}), E, "needs a two-logit model, got 3"),
    case("chapters.ch2.lambert_errors", lambda: ((_binary(), X, Y, {}), dict(t_end=1.0, counts=[0])), E, "counts"),
    case("chapters.ch2.comparison_rows", A([3], {"digits-mlp": (0.1,)}), T, "records must hold"),
    case("chapters.ch2.comparison_rows", A([], []), T, "sweeps must be a dict"),
    case("chapters.ch2.differences", A([3], {"digits-mlp": (0.1,)}), T, "records must hold"),
    case("chapters.ch2.plot_perturbations", lambda: ((_mlp(), X[:1], Y[:1]), dict(step_size=0.1, steps=0)), E, "steps"),
]

EXEMPT = {
    "chapters.ch2.spread_records": "passes its tables to theory.validity_table and claims.ch2.regime_medians, whose "
    "cases cover them; too few inputs is a reported outcome, not an error",
    "chapters.ch2.pgd_records": "passes models and inputs to the attacks and theory.offtop_ratio, whose cases cover "
    "them (test_chapter_ch2.py runs it on the CNN setting)",
    "chapters.ch2.plot_validity_map": "a figure of tables built by validity_tables; theory.binned_median checks them",
    "chapters.ch2.plot_strengthening": "a figure of the chapter's tables; claims.ch2.m_trend and "
    "theory.binned_median check them",
    "chapters.ch2.plot_two_logit": "a figure of margin_geometry's output; theory.logit_margin_flow checks the numbers",
}


@pytest.mark.parametrize("fn,build,error,match,env", CASES)
def test_bad_input_is_refused(fn, build, error, match, env, monkeypatch):
    assert_refused(fn, build, error, match, env, monkeypatch)
