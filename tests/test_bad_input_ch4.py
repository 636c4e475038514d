"""Bad input never passes silently: chapter 4's claims module and pipelines (the machinery of
``test_bad_input.py``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_bad_input import A, E, T, assert_refused, case, lazy

import advnotes.chapters.ch4  # noqa: F401  (resolve() walks the attribute)
import advnotes.claims.ch4  # noqa: F401


def _data():
    from advnotes.chapters.ch4 import SeedData

    one = {"standard": {"p30:obs": 0.2, "pred_A": 0.2, "p30:found": 1.0}}
    return SeedData([], [one, one])


def _empty():
    from advnotes.chapters.ch4 import SeedData

    return SeedData([], [])


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 3)).double()


CASES = [
    # ------------------------------------------------------------------ claims.ch4 (moved from phase2)
    case("claims.ch4.summary", A(["claim"]), T, "records must hold"),
    case("claims.ch4.at_end", A("0.1"), E, "lr must be a real number"),
    case("claims.ch4.ascent_regime", A(0.1, 2.5), T, "steps must be an integer"),
    case("claims.ch4.ascent_regime", A(0.1, 5, note=3), T, "note must be a string"),
    case("claims.ch4.ascent_regime", A(None, 5), E, "alpha must be a real number"),
    case("claims.ch4.short_regime", A(3), T, "regime must be a record's regime string"),
    case("claims.ch4.not_judged", A(["claim"]), T, "claims must hold"),
    case("claims.ch4.not_judged", A(None), T, "claims must be a list"),
    # ------------------------------------------------------------------ chapters.ch4
    case("chapters.ch4.SeedData", A("end", []), T, "end and onsets must be lists"),
    case("chapters.ch4.SeedData", A([], [3]), T, "each seed's result must be a dict"),
    case("chapters.ch4.SeedData.end", lazy(lambda: ((_empty(), "standard", "neg_cos"), {})), E, "no per-seed results"),
    case(
        "chapters.ch4.SeedData.onset", lazy(lambda: ((_data(), "standard", "mu1"), {})), KeyError, "no quantity 'mu1'"
    ),
    case("chapters.ch4.SeedData.max_over_onsets", lazy(lambda: ((_data(), 3), {})), T, "suffix must be a string"),
    case("chapters.ch4.mean_sd", A([1.0]), E, "at least 2 per-seed values"),
    case("chapters.ch4.onset_formula_error", A(0), E, "n must be"),
    case("chapters.ch4.fd_update", A("net", None, None, None, None), T, "model must be a torch.nn.Module"),
    case(
        "chapters.ch4.fd_update",
        lazy(lambda: ((_net(), torch.zeros(2, 4), torch.zeros(2), torch.zeros(3), None), {})),
        E,
        "v must be a tensor of shape",
    ),
    case(
        "chapters.ch4.run_seeds",
        A([], None, None, make_model=None, runs={}, end=None, onset={}, probes={}),
        E,
        "seeds must name at least one seed",
    ),
    case(
        "chapters.ch4.run_seeds",
        A([0], None, None, make_model=None, runs={"a": (None, None)}, end=None, onset={}, probes={}),
        E,
        "probes has no entry",
    ),
    case("chapters.ch4.end_table", A({}, ["standard"], 0.5), T, "data must be the SeedData"),
    case("chapters.ch4.pinned_table", lazy(lambda: ((_data(), ["PGD"]), {"where": "start"})), E, "where must be"),
    case("chapters.ch4.onset_line", A("x", [1.0, 2.0], [1.0], [1.0]), E, "one length"),
    case("chapters.ch4.measure_controls", A(None, {}, []), T, "data must be the SeedData"),
    case("chapters.ch4.judge_onsets", A(None, {}, [], {}), T, "data must be the SeedData"),
    case("chapters.ch4.oscillation_records", A(None, {}, {}, key="p30:obs"), T, "data must be the SeedData"),
    case("chapters.ch4.follows_records", A(None, {}, {}, {}, key="p30:obs"), T, "data must be the SeedData"),
    case("chapters.ch4.m_growth_record", A(None, {}, "run", "regime"), T, "data must be the SeedData"),
    case(
        "chapters.ch4.width_sweep",
        A((0,), [0], None, None, make_model=None, attack=None, jeff={}, lr=0.1, steps=1, window=1, onset={}),
        E,
        "width must be",
    ),
    case("chapters.ch4.plot_end_curvature", A([], ["standard"], 0.5), T, "data must be the SeedData"),
    case("chapters.ch4.plot_onsets", A({}), E, "panels must be a non-empty dict"),
    case("chapters.ch4.setting_outcomes", A(None, ("digits-mlp",)), T, "records must be a list"),
    case("chapters.ch4.differences", A(None, []), T, "records must be a list"),
    case("chapters.ch4.pgd_decomposition", A(np.ones(3)), T, "data must be the SeedData"),
    case("chapters.ch4.checkpoint_curvature", A(None, "digits-mlp"), T, "data must be the SeedData"),
    case("chapters.ch4.paired_follows_difference", A(None), T, "data must be the SeedData"),
    case(
        "chapters.ch4.end_of_training",
        A("net", None, None, attack=None, jeff={}, lr=0.1, steps=1, window=1),
        T,
        "model must be a torch.nn.Module",
    ),
    case("chapters.ch4.few_samples_table", A(None, ["PGD"], 512), T, "data must be the SeedData"),
]

EXEMPT: dict[str, str] = {}


@pytest.mark.parametrize("fn,build,error,match,env", CASES)
def test_bad_input_is_refused(fn, build, error, match, env, monkeypatch):
    assert_refused(fn, build, error, match, env, monkeypatch)
