"""Bad input never passes silently: advnotes.operators (the machinery of ``test_bad_input.py``).

``CASES`` and ``EXEMPT`` cover every public name of :mod:`advnotes.operators`; the package-wide coverage check
(``test_bad_input_phase2.test_every_public_function_of_every_module_is_covered``) reads these tables.
"""

from __future__ import annotations

import functools

import pytest
import torch
from test_bad_input import A, E, T, assert_refused, bn_net, case, lazy, x, y
from torch import nn

from advnotes import operators

JEFF = dict(step_size=0.1, steps=1)


def drop_net() -> nn.Sequential:
    """Active dropout: a model in training mode whose output is random."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 10)).double().train()


@functools.cache
def small() -> nn.Module:
    """A tiny float64 MLP (4 -> 3 -> 2), eval mode."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).double().eval()


def sx(n: int = 6, d: int = 4) -> torch.Tensor:
    return x(n, d)


def sy(n: int = 6) -> torch.Tensor:
    return torch.arange(n) % 2


def P() -> int:
    return sum(p.numel() for p in small().parameters())


def v(n: int | None = None) -> torch.Tensor:
    return torch.ones(P() if n is None else n, dtype=torch.float64)


def space() -> operators.ParamSpace:
    return operators.ParamSpace(small())


CASES = [
    # --- the parameter space
    case("operators.ParamSpace", A("net"), T, r"torch\.nn\.Module"),
    case("operators.ParamSpace", lazy(lambda: ((nn.ReLU(),), {})), E, "no trainable parameters"),
    case("operators.ParamSpace.unflatten", lazy(lambda: ((space(), [0.0] * P()), {})), T, "theta must be a torch"),
    case("operators.ParamSpace.unflatten", lazy(lambda: ((space(), v(3)), {})), E, "theta must have shape"),
    case("operators.ParamSpace.logits", lazy(lambda: ((space(), v(), sx().tolist()), {})), T, "x must be a torch"),
    case("operators.ParamSpace.loss", lazy(lambda: ((space(), v(), sx(), sy().double()), {})), T, "integer class"),
    case("operators.ParamSpace.losses", lazy(lambda: ((space(), v(), sx(), sy() + 2), {})), E, "2 classes"),
    case("operators.ParamSpace.check_vector", lazy(lambda: ((space(), v(3)), {})), E, r"v must have shape \(23,\)"),
    case("operators.ParamSpace.check_vector", lazy(lambda: ((space(), v() * float("nan")), {})), E, "non-finite"),
    case("operators.ParamSpace.check_vector", lazy(lambda: ((space(), [1.0]), {"name": "v0"})), T, "v0 must be"),
    # --- checks
    case("operators.check_ascent", A(0.0, 3), E, "step_size must be > 0"),
    case("operators.check_ascent", A(0.1, 10**9), E, "MAX_STEPS"),
    case("operators.check_ascent", A(0.1, 2, eps=-1.0), E, "eps must be > 0"),
    case("operators.check_projection", A(clamp=(1, 0)), E, "low < high"),
    case("operators.check_projection", A(clamp=("a", 1)), E, "clamp's low bound must be a number"),
    case("operators.check_projection", A(clamp=3), E, r"clamp must be None or a \(low, high\) pair"),
    # --- the attack and the training gradient as functions of theta
    case(
        "operators.attack_in_theta",
        lazy(lambda: ((space(), v(3), sx(), sy()), JEFF)),
        E,
        "theta must have shape",
    ),
    case("operators.training_gradient_fn", lazy(lambda: ((small(), sx(), sy()), JEFF)), T, "must be an advnotes"),
    case("operators.training_gradient_fn", lazy(lambda: ((space(), sx(), sy()), dict(JEFF, steps=-1))), E, "steps"),
    # --- the operators
    case("operators.ParamHessian", lazy(lambda: ((drop_net(), x(), y()), {})), E, r"Dropout.*model\.eval"),
    case("operators.ParamHessian", lazy(lambda: ((bn_net(), x(), y()), {})), E, "batch statistics"),
    case("operators.ParamHessian", lazy(lambda: ((small(), sx(6, 5), sy()), {})), E, "in_features=4"),
    case("operators.ParamHessian", lazy(lambda: ((small(), sx(), sy()), {"delta": sx(2)})), E, "delta must have"),
    case(
        "operators.ParamHessian.matvec",
        lazy(lambda: ((operators.ParamHessian(small(), sx(), sy()), v(3)), {})),
        E,
        r"v must be a torch.Tensor of shape \(23,\), got \(3,\)",
    ),
    case("operators.EffectiveJacobian", lazy(lambda: ((small(), sx(), sy()), dict(JEFF, steps=10**9))), E, "MAX_"),
    case("operators.EffectiveJacobian", lazy(lambda: ((small(), sx(), sy()), dict(JEFF, eps=0))), E, "eps must be"),
    case("operators.EffectiveJacobian", lazy(lambda: ((drop_net(), x(), y()), JEFF)), E, "Dropout"),
    case(
        "operators.EffectiveJacobian.matvec",
        lazy(lambda: ((operators.EffectiveJacobian(small(), sx(), sy(), **JEFF), [1.0]), {})),
        T,
        r"v must be a torch.Tensor of shape \(23,\), got list",
    ),
    case(
        "operators.EffectiveJacobian.attack",
        lazy(lambda: ((operators.EffectiveJacobian(small(), sx(), sy(), **JEFF), v(2)), {})),
        E,
        "theta must have shape",
    ),
    # --- one-shot conveniences
    case("operators.hvp_clean", lazy(lambda: ((small(), sx(6, 5), sy(), v()), {})), E, "in_features=4"),
    case("operators.hvp_clean", lazy(lambda: ((small(), sx(), sy(), v(3)), {})), E, r"v must have shape"),
    case("operators.hvp_clean", lazy(lambda: ((drop_net(), x(), y(), v(3)), {})), E, r"Dropout.*model\.eval"),
    case("operators.hvp_clean", lazy(lambda: ((bn_net(), x(), y(), v(3)), {})), E, "batch statistics"),
    case("operators.hvp_fixed_delta", lazy(lambda: ((small(), sx(), sy(), sx(3), v()), {})), E, "delta must have"),
    case("operators.hvp_fixed_delta", lazy(lambda: ((small(), sx(), sy(), sx(), v().tolist()), {})), T, "v must"),
    case(
        "operators.jeff_mvp",
        lazy(lambda: ((small(), sx(), sy(), v()), dict(step_size=0.1, steps=10**9))),
        E,
        "MAX_STEPS",
    ),
    case("operators.jeff_mvp", lazy(lambda: ((small(), sx(), sy(), v()), dict(JEFF, clamp=(1, 0)))), E, "low < high"),
    case(
        "operators.jeff_mvp",
        lazy(lambda: ((small(), sx(), sy(), v()), dict(JEFF, clamp=("a", 1)))),
        E,
        "clamp's low bound must be a number",
    ),
    case(
        "operators.attack_delta",
        lazy(lambda: ((small(), sx(), sy()), dict(step_size=0.1, steps=10**9))),
        E,
        "MAX_STEPS",
    ),
    case("operators.attack_delta", lazy(lambda: ((small(), sx(6, 5), sy()), JEFF)), E, "in_features=4"),
    case("operators.attack_delta", lazy(lambda: ((small(), sx(), sy()), dict(JEFF, eps=0))), E, "eps must be > 0"),
    case("operators.training_gradient", lazy(lambda: ((small(), sx(), sy()), dict(JEFF, steps=-1))), E, "steps"),
    case("operators.training_gradient", lazy(lambda: ((drop_net(), x(), y()), JEFF)), E, "Dropout"),
]

EXEMPT: dict[str, str] = {}


@pytest.mark.parametrize("fn,build,error,match,env", CASES)
def test_bad_input_is_refused(fn, build, error, match, env, monkeypatch):
    assert_refused(fn, build, error, match, env, monkeypatch)
