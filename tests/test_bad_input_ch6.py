"""Bad input never passes silently: chapter 6's claims (advnotes.claims.ch6) and pipelines (advnotes.chapters.ch6)."""

from __future__ import annotations

import pytest
import torch
from test_bad_input import A, E, T, assert_refused, case, lazy
from torch import nn

import advnotes.chapters.ch6  # noqa: F401  (resolve() walks the attribute)
from advnotes import settings
from advnotes.claims import ch6  # noqa: F401


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3)).double()


def _x(n=5):
    return torch.rand(n, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))


def _y(n=5):
    return torch.zeros(n, dtype=torch.long)


def _logits(n=5):
    return torch.zeros(n, 3, dtype=torch.float64)


def _attack(model, x, y):
    return torch.zeros_like(x)


P = "chapters.ch6."

CASES = [
    case("claims.ch6.summary", A("records"), T, "records must be a list"),
    case(P + "ReusedAttack", A("pgd", 2), T, "attack must be a callable"),
    case(P + "ReusedAttack", A(_attack, 0), E, "every"),
    case(P + "equalising_weights", lazy(lambda: ((torch.zeros(5), _y()), {})), E, r"logits must be a \(B, C\) tensor"),
    case(P + "equalising_weights", lazy(lambda: ((_logits(), _y(4)), {})), E, "y must be a"),
    case(P + "equalising_weights", lazy(lambda: ((_logits(), _y() + 3), {})), E, "labels must lie in 0..2"),
    case(P + "residual_shares", lazy(lambda: ((_logits(), _y()), {"weights": torch.ones(4)})), E, "weights must be"),
    case(P + "least_confident", lazy(lambda: ((_logits(), _y()), {"fraction": 2.0})), E, "fraction must be at most 1"),
    case(P + "decile_share", lazy(lambda: (("model", _x(), _y()), {})), T, "model must be a torch.nn.Module"),
    case(
        P + "adversarial_steps",
        lazy(lambda: ((_net(), _x(), _y()), {"lr": -0.1, "steps": 2, "attack": None})),
        E,
        "lr",
    ),
    case(
        P + "adversarial_steps",
        lazy(lambda: ((_net(), _x(), _y()), {"lr": 0.1, "steps": 2, "attack": None, "scaled": {"c": 1.5}})),
        E,
        "scaled must be a dict with keys 'c', 'every' and 'jeff'",
    ),
    case(
        P + "adversarial_steps",
        lazy(lambda: ((_net(), _x(), _y()), {"lr": 0.1, "steps": 2, "attack": "pgd"})),
        T,
        "attack must be None or a callable",
    ),
    case(P + "hessian_subspace", lazy(lambda: ((_net(), _x(), _y(), 3), {})), E, r"exceeds C - 1 = 2"),
    case(P + "hessian_subspace", lazy(lambda: (("net", _x(), _y(), 1), {})), T, "f must be a model or a callable"),
    case(P + "project", lazy(lambda: ((_x(), None, "middle"), {})), E, "part must be one of"),
    case(P + "project", lazy(lambda: ((_x(), torch.zeros(5, 3, 1), "top"), {})), E, r"basis must be a \(B, n, k\)"),
    case(P + "restricted_attack", A(part="sideways", k=3, eps=0.1), E, "part must be one of"),
    case(P + "restricted_attack", A(part="top", k=3, eps=-0.1), E, "eps"),
    case(
        P + "seed_checkpoint",
        lazy(lambda: ((0, _x(), _y()), {"make_model": "mlp", "attack": _attack, "jeff": {}, "lr": 0.1, "steps": 1})),
        T,
        "make_model must be a function",
    ),
    case(
        P + "onset",
        lazy(lambda: ((_net(), _x(), _y()), {"attack": "pgd", "pred_a": 0.1, "pred_b": 0.1})),
        T,
        "attack must be None or a callable",
    ),
    case(
        P + "seed_interventions_1_2",
        lazy(
            lambda: (
                (0, _x(), _y()),
                dict(
                    make_model=None,
                    attack=_attack,
                    jeff={},
                    warmup=dict(lr=0.1, steps=1),
                    reuse=2,
                    lr=0.1,
                    steps=2,
                    c=1.5,
                    c_over=3.0,
                    every=1,
                    window=1,
                    x_test=_x(),
                    y_test=_y(),
                    robust={},
                ),
            )
        ),
        T,
        "make_model must be a function",
    ),
    case(
        P + "subspace_ensembles",
        A("digits-mlp", None, seeds=[0], k=1, recipe={}),
        T,
        "setting must be an advnotes.settings.Setting",
    ),
    case(
        P + "subspace_ensembles",
        A(settings.get("digits-mlp"), None, seeds=[0], k=1, recipe={}, parts=("middle",)),
        E,
        "parts must be a sequence of",
    ),
    case(P + "robustness_fraction", A({"standard": {"robust": [0.1]}}), E, "robust must be subspace_ensembles"),
    case(P + "identity_errors", A(None, _x(), _y(), attack=_attack, eps=0.1, k=1), T, "must be callables"),
    case(P + "column", A({"a": 1}, "a"), T, "results must be a list of per-seed dicts"),
    case(P + "column", A([{"a": 1.0}], "b"), E, "no 'b' in the results"),
    case(P + "interval_rows", A([{"a": 1.0}], ["a"]), T, "keys must be a dict"),
    case(P + "compare", A("record"), T, "record must be a claim record"),
]

EXEMPT = {
    P + "StepLog": "a record returned by adversarial_steps(), filled by it (plain lists)",
}


@pytest.mark.parametrize("fn,build,error,match,env", CASES)
def test_bad_input_is_refused(fn, build, error, match, env, monkeypatch):
    assert_refused(fn, build, error, match, env, monkeypatch)
