"""Bad input never passes silently: the keywords advnotes.param_hessian gained for the second setting (the
machinery of ``test_bad_input.py``; the module's older cases stay in ``test_bad_input_phase2.py``)."""

from __future__ import annotations

import pytest
import torch
from test_bad_input import E, T, assert_refused, case, lazy, x
from torch import nn

from advnotes import param_hessian  # noqa: F401  (resolve() walks the attribute)


def make_model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).double()


def data():
    return x(6, 4), torch.arange(6) % 2


def seed_kw(**over):
    kw = dict(make_model=make_model, runs={"standard": (None, None)}, lr=0.1, steps=2, window=1, probe_steps=0)
    return kw | over


def onset_kw(**over):
    return dict(make_model=make_model, attack=None, jeff=None, lr=0.1, steps=2) | over


CASES = [
    case("param_hessian.seed_experiment", lazy(lambda: ((0, *data()), seed_kw(box=(1, 0)))), E, "clamp must satisfy"),
    case(
        "param_hessian.seed_experiment",
        lazy(lambda: ((0, *data()), seed_kw(robust_accuracy="pgd"))),
        T,
        "robust_accuracy must be None or a callable",
    ),
    case("param_hessian.onset_experiment", lazy(lambda: ((0, *data()), onset_kw(box=3))), E, "clamp must be None"),
    case(
        "param_hessian.pinned_fractions",
        lazy(lambda: ((x(), x()), dict(eps=0.1, clamp=("a", 1)))),
        E,
        "clamp's low bound must be a number",
    ),
]

EXEMPT: dict[str, str] = {}


@pytest.mark.parametrize("fn,build,error,match,env", CASES)
def test_bad_input_is_refused(fn, build, error, match, env, monkeypatch):
    assert_refused(fn, build, error, match, env, monkeypatch)
