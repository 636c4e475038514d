"""Bad input never passes silently, phase 2: curvature, linear_regions, training, theory, influence, param_hessian
and the claims package.

The same machinery as ``test_bad_input.py`` (whose helpers are imported): ``CASES`` is a table of
(function, arguments, expected exception, message pattern); each call must raise that exception from
advnotes itself with a message that names the problem, and without torch's or NumPy's raw wording.
:func:`test_every_public_function_of_every_module_is_covered` walks *every* module of the package
(``advnotes/*.py`` and ``advnotes/claims/*.py``) and fails when a public function or class is in
neither table (phase 1 or phase 2) nor exempt with a reason.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import pkgutil
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from test_bad_input import CASES as PHASE1_CASES
from test_bad_input import EXEMPT as PHASE1_EXEMPT
from test_bad_input import (
    A,
    E,
    T,
    assert_refused,
    bn_net,
    case,
    lazy,
    nan_x,
    net,
    resolve,
    x,
    y,
)
from torch import nn

import advnotes
import advnotes.claims
from advnotes import claims, curvature, influence, linear_regions, models, param_hessian, theory, training
from advnotes.claims import ch1, ch2, ch3, ch4, ch5  # noqa: F401  (resolve() walks these attributes)

# ----------------------------------------------------------------------------- fixtures (cheap, cached)


def drop_net() -> nn.Sequential:
    """Active dropout: a model in training mode whose output is random."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 10)).double().train()


@functools.cache
def two_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 8), nn.ReLU(), nn.Linear(8, 2)).double().eval()


@functools.cache
def small() -> nn.Module:
    """A tiny float64 MLP (4 -> 3 -> 2) for the parameter-space functions."""
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).double()


def sx(n: int = 6, d: int = 4) -> torch.Tensor:
    return x(n, d)


def sy(n: int = 6) -> torch.Tensor:
    return torch.arange(n) % 2


def P() -> int:
    return sum(p.numel() for p in small().parameters())


def v(n: int | None = None) -> torch.Tensor:
    return torch.ones(P() if n is None else n, dtype=torch.float64)


@functools.cache
def spectrum():
    lam, V = curvature.input_hessian_eig(net(), x(), y())
    g = curvature.input_gradient(net(), x(), y())
    return lam, V, g


@functools.cache
def local_map():
    return linear_regions.local_linear_map(net(), x())


@functools.cache
def log() -> training.TrainLog:
    m = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).double()
    return training.train(m, sx(), sy(), lr=0.1, steps=6, record_updates=True)


def probs(n: int = 5) -> torch.Tensor:
    return torch.softmax(x(n, 10), dim=1)


def masks(n: int = 5):
    a = torch.zeros(n, dtype=torch.bool)
    a[:2] = True
    return a, ~a


def make_model(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).double()


def attack(model, xb, yb):
    return torch.zeros_like(xb)


def identity_record():
    return ch1.PSD.check(1e-17)


def a_claim():
    """A declared claim of chapter 1 (whichever is first: the chapter's claims are being revised)."""
    return ch1.CLAIMS[0]


def claim_record():
    return a_claim().measure([-0.5, -0.6, -0.55, -0.52, -0.58])


def spec_kwargs(**over):
    kw = dict(name="phase2-test-identity", chapter=1, statement="a = a", error="|a - a|", tolerance=1e-12, reason="r")
    kw.update(over)
    return kw


def claim_kwargs(**over):
    kw = dict(
        name="phase2-test-claim",
        chapter=1,
        group="g",
        paper="",
        reading="r",
        statistic="s",
        threshold=0.0,
        direction=">",
        reason="why",
    )
    kw.update(over)
    return kw


@functools.cache
def tmp() -> Path:
    """This module's own temporary folder (test_bad_input removes its own when its tests end)."""
    return Path(tempfile.mkdtemp(prefix="advnotes-bad-input-2-"))


@pytest.fixture(scope="module", autouse=True)
def _remove_temporary_files():
    yield
    if tmp.cache_info().currsize:
        shutil.rmtree(tmp(), ignore_errors=True)


#: A small validity table (two step counts at alpha = 0.1, a constant column "zero").
TABLE = {"alpha": [0.1] * 4, "m": [2, 2, 3, 3], "s": [0.2, 0.3, 0.4, 0.5], "v": [1.0, 2.0, 3.0, 5.0], "zero": [1.0] * 4}


def bad_json():
    path = tmp() / "not-json.json"
    path.write_text("{not json")
    return path


NET = lambda: (net(), x(), y())  # noqa: E731
NPL = models.NotPiecewiseLinearError  # a TypeError: training-mode batch-norm / active dropout, "call model.eval()"
SOLVE = dict(tol=1e-3)
JEFF = dict(step_size=0.1, steps=1)

# ----------------------------------------------------------------------------- the table

CASES = [
    # --- curvature
    case("curvature.one_minus", A([0.2, 0.8]), T, "floating tensor of probabilities"),
    case("curvature.one_minus", A(torch.tensor([[1, 0]])), T, "floating tensor of probabilities"),
    case("curvature.one_minus", lazy(lambda: ((torch.tensor([[0.5, float("nan")]]),), {})), E, "non-finite"),
    case("curvature.softmax_curvature", lazy(lambda: ((torch.tensor([[0.5, 0.7]]),), {})), E, "probability vector"),
    case("curvature.softmax_curvature", A(np.array([[0.5, 0.5]])), E, r"\(B, C\) tensor of probabilities"),
    case("curvature.softmax_curvature_factor", lazy(lambda: ((torch.ones(3),), {})), E, r"\(B, C\) tensor"),
    case("curvature.softmax_curvature_factor", lazy(lambda: ((-probs(),), {})), E, "non-negative"),
    case("curvature.input_hessian", lazy(lambda: ((net(), x(5, 63), y()), {})), E, "expects float64 inputs"),
    case("curvature.input_hessian", lazy(lambda: ((net(), x(dtype=torch.float32), y()), {})), T, "model.float()"),
    case("curvature.input_hessian", lazy(lambda: ((net(), nan_x(), y()), {})), E, "non-finite"),
    case("curvature.input_hessian", lazy(lambda: ((net(), x(), y() + 10), {})), E, "10 classes"),
    case("curvature.input_hessian", lazy(lambda: ((bn_net(), x(), y()), {})), NPL, r"training mode.*model\.eval\(\)"),
    case("curvature.input_hessian", lazy(lambda: ((drop_net(), x(), y()), {})), NPL, r"training mode.*model\.eval\(\)"),
    case("curvature.input_hessian_eig", lazy(lambda: ((net(), x(5, 65), y()), {})), E, "64 features"),
    case("curvature.input_hessian_eig", lazy(lambda: ((net(), x(), y().double()), {})), T, "integer class labels"),
    case("curvature.input_hessian_eig", lazy(lambda: ((drop_net(), x(), y()), {})), NPL, "Dropout"),
    case("curvature.input_gradient", lazy(lambda: ((net(), x(5, 8), y()), {})), E, "64 features"),
    case("curvature.input_gradient", lazy(lambda: ((net(), x().numpy(), y()), {})), T, r"torch\.as_tensor"),
    case("curvature.input_gradient", lazy(lambda: ((net(), x(), y(4)), {})), E, "to match the batch"),
    # --- linear_regions
    case("linear_regions.local_linear_map", lazy(lambda: ((net(), x(5, 63)), {})), E, "64 features"),
    case("linear_regions.local_linear_map", lazy(lambda: ((net(), x(dtype=torch.float32)), {})), T, "x.double()"),
    case("linear_regions.local_linear_map", lazy(lambda: ((bn_net(), x()), {})), NPL, r"call model\.eval\(\)"),
    case("linear_regions.local_linear_map", lazy(lambda: ((net(), x()[0]), {})), E, "batch dimension"),
    case("linear_regions.gate_pattern", lazy(lambda: ((net(), x(5, 63)), {})), E, "64 features"),
    case("linear_regions.gate_pattern", lazy(lambda: ((drop_net(), x()), {})), NPL, r"call model\.eval\(\)"),
    case("linear_regions.gate_pattern", lazy(lambda: ((nn.Linear(64, 3).double(), x()), {})), E, "no nn.ReLU"),
    case("linear_regions.count_gate_flips", lazy(lambda: ((net(), x(), x(4)), {})), E, "same shape"),
    case("linear_regions.count_gate_flips", lazy(lambda: ((net(), x(), x().tolist()), {})), E, "same shape"),
    case("linear_regions.count_gate_flips", lazy(lambda: ((net(), x(5, 63), x(5, 63)), {})), E, "64 features"),
    case("linear_regions.count_gate_flips", lazy(lambda: ((net(), x().tolist(), x()), {})), T, "torch.Tensor"),
    case("linear_regions.FrozenGates", lazy(lambda: ((net(), x(5, 63)), {})), E, "64 features"),
    case("linear_regions.FrozenGates", lazy(lambda: ((bn_net(), x()), {})), NPL, r"call model\.eval\(\)"),
    case("linear_regions.FrozenGates", lazy(lambda: ((net(), nan_x()), {})), E, "x_ref has 1 non-finite"),
    case(
        "linear_regions.FrozenGates.forward",
        lazy(lambda: ((linear_regions.FrozenGates(net(), x(3)), x(5)), {})),
        E,
        "built for inputs of shape",
    ),
    case(
        "linear_regions.FrozenGates.forward",
        lazy(lambda: ((linear_regions.FrozenGates(net(), x(3)), x(3).tolist()), {})),
        T,
        "FrozenGates takes a torch.Tensor",
    ),
    case("linear_regions.linearity_error", lazy(lambda: ((net(), x(), x(4)), {})), E, "same shape"),
    case(
        "linear_regions.linearity_error",
        lazy(lambda: ((net(), x(), x()), dict(W=local_map()[0]))),
        E,
        "pass both W and b",
    ),
    case(
        "linear_regions.linearity_error",
        lazy(lambda: ((net(), x(), x()), dict(W=local_map()[0][:, :, :10], b=local_map()[1]))),
        E,
        r"W and b must be the local map at x",
    ),
    case(
        "linear_regions.linearity_error",
        lazy(lambda: ((net(), x(), x()), dict(W=local_map()[0].float(), b=local_map()[1]))),
        T,
        "must have x's dtype",
    ),
    case("linear_regions.linearity_error", lazy(lambda: ((net(), x(), nan_x()), {})), E, "non-finite"),
    # --- training
    case("training.train", lazy(lambda: ((net(), x(5, 63), y()), dict(lr=0.1, steps=1))), E, "64 features"),
    case(
        "training.train",
        lazy(lambda: ((net(), x(dtype=torch.float32), y()), dict(lr=0.1, steps=1))),
        T,
        "float64 but x is float32",
    ),
    case("training.train", lazy(lambda: ((*NET(),), dict(lr=0.1, steps=10**9))), E, r"advnotes\.training\.MAX_STEPS"),
    case("training.train", lazy(lambda: ((*NET(),), dict(lr=0.1, steps=1, seed=-1))), E, "seed must be a non-neg"),
    case("training.train", lazy(lambda: ((*NET(),), dict(lr=0.1, steps=1, seed=1.5))), E, "seed must be a non-neg"),
    case(
        "training.train",
        lazy(lambda: ((*NET(),), dict(lr=0.1, steps=1, record_updates="yes"))),
        T,
        "record_updates must be True or False",
    ),
    case("training.train", lazy(lambda: ((*NET(),), dict(lr=0.1, steps=1, attack="pgd"))), T, "attack must be None"),
    case("training.train", lazy(lambda: ((*NET(),), dict(lr=float("nan"), steps=1))), E, "lr must be a finite"),
    case("training.train", lazy(lambda: ((*NET(),), dict(lr=0.1, steps=1, momentum=1.0))), E, "momentum must be < 1"),
    case("training.train", lazy(lambda: ((*NET(),), dict(lr=0.1, steps=1, batch_size=0))), E, "batch_size"),
    case("training.train", lazy(lambda: ((lambda t: t, x(), y()), dict(lr=0.1, steps=1))), T, "nn.Module"),
    case("training.train", lazy(lambda: ((net(), x(), y() + 10), dict(lr=0.1, steps=1))), E, "10 classes"),
    case(
        "training.train_ensemble",
        lazy(lambda: ((make_model, sx(), sy()), dict(seeds=[0, 1], lr=0.1, steps=10**9))),
        E,
        "MAX_STEPS",
    ),
    case(
        "training.train_ensemble",
        lazy(lambda: ((make_model, sx(), sy()), dict(seeds=[0, -1], lr=0.1, steps=1))),
        E,
        "each seed must be a non-negative",
    ),
    case(
        "training.train_ensemble",
        lazy(lambda: (("mlp", sx(), sy()), dict(seeds=[0, 1], lr=0.1, steps=1))),
        T,
        "make_model must be a function",
    ),
    case(
        "training.train_ensemble",
        lazy(lambda: ((make_model, sx(6, 5), sy()), dict(seeds=[0, 1], lr=0.1, steps=1))),
        E,
        "in_features=4",
    ),
    case(
        "training.train_ensemble",
        lazy(lambda: ((make_model, sx(), sy()), dict(seeds=[0, 1], lr=0.1, steps=1, attack=3))),
        T,
        "attack must be None",
    ),
    case(
        "training.train_ensemble",
        lazy(lambda: ((make_model, sx(), sy()), dict(seeds=[0, 1], lr=0.1, steps=1, record_updates=1))),
        T,
        "record_updates must be True or False",
    ),
    case(
        "training.train_ensemble_snapshots",
        lazy(lambda: ((make_model, sx(), sy()), dict(seeds=[0, 1], at=[5, 2], lr=0.1))),
        E,
        "strictly increasing",
    ),
    case(
        "training.train_ensemble_snapshots",
        lazy(lambda: ((make_model, sx(), sy()), dict(seeds=[0, 1], at=[0, 2], lr=0.1))),
        E,
        "step counts >= 1",
    ),
    case(
        "training.train_ensemble_snapshots",
        lazy(lambda: ((make_model, sx(), sy()), dict(seeds=[0, 1], at=[], lr=0.1))),
        E,
        "at is empty",
    ),
    case(
        "training.train_ensemble_snapshots",
        lazy(lambda: ((make_model, sx(), sy()), dict(seeds=[0, 1], at=[1, 2], lr=0.1, steps=2))),
        E,
        "takes no steps=",
    ),
    case(
        "training.train_ensemble_snapshots",
        lazy(lambda: ((make_model, sx(), sy()), dict(seeds=[0, 1], at=[1, 10**9], lr=0.1))),
        E,
        "MAX_STEPS",
    ),
    case(
        "training.train_ensemble_snapshots",
        lazy(lambda: ((make_model, sx(), sy()), dict(seeds=[0, 1], at=[1], lr=float("inf")))),
        E,
        "lr must be a finite",
    ),
    case("training.accuracy", lazy(lambda: ((net(), x(5, 63), y()), {})), E, "64 features"),
    case("training.accuracy", lazy(lambda: ((net(), x(), y(3)), {})), E, "to match the batch"),
    case("training.accuracy", lazy(lambda: (("net", x(), y()), {})), T, "callable"),
    case("training.robust_accuracy", lazy(lambda: ((*NET(), "pgd"), {})), T, "attack must be a callable"),
    case(
        "training.robust_accuracy",
        lazy(lambda: ((*NET(), lambda m, a, b: torch.zeros(2)), {})),
        E,
        "perturbation of x's shape",
    ),
    case("training.robust_accuracy", lazy(lambda: ((net(), x(5, 63), y(), attack), {})), E, "64 features"),
    # --- theory
    case("theory.growth_factor", A([1.0, 2.0], step_size=0.1, steps=2), T, "floating-point torch.Tensor"),
    case("theory.growth_factor", lazy(lambda: ((torch.ones(3),), dict(step_size=0, steps=2))), E, "step_size"),
    case("theory.growth_factor", lazy(lambda: ((torch.ones(3),), dict(step_size=0.1, steps=2.5))), E, "integer"),
    case(
        "theory.growth_factor",
        lazy(lambda: ((torch.tensor([float("nan")]),), dict(step_size=0.1, steps=2))),
        E,
        "non-finite",
    ),
    case("theory.flow_factor", lazy(lambda: ((torch.ones(3),), dict(t=-1.0))), E, "t must be >= 0"),
    case("theory.flow_factor", A(np.ones(3), t=1.0), T, "floating-point torch.Tensor"),
    case(
        "theory.perturbation_closed_form",
        lazy(lambda: ((*spectrum()[:2], spectrum()[2][:, :10]), dict(step_size=0.1, steps=2))),
        E,
        "shapes do not match",
    ),
    case(
        "theory.perturbation_closed_form",
        lazy(lambda: ((*spectrum(),), dict(step_size=float("nan"), steps=2))),
        E,
        "step_size must be a finite",
    ),
    case(
        "theory.perturbation_closed_form",
        lazy(lambda: ((spectrum()[0].float(), *spectrum()[1:]), dict(step_size=0.1, steps=2))),
        T,
        "dtypes differ",
    ),
    case("theory.perturbation_flow", lazy(lambda: ((*spectrum(),), dict(t="1"))), E, "t must be a real number"),
    case("theory.perturbation_flow", lazy(lambda: ((*spectrum()[:2], [1.0]), dict(t=1.0))), T, "g must be a torch"),
    case(
        "theory.iterate_quadratic_attack",
        lazy(lambda: ((torch.zeros(2, 3, 3), torch.zeros(2, 3)), dict(step_size=0.1, steps=10**9))),
        E,
        r"advnotes\.attacks\.MAX_STEPS",
    ),
    case(
        "theory.iterate_quadratic_attack",
        lazy(lambda: ((torch.zeros(2, 3, 3, dtype=torch.long), torch.zeros(2, 3)), dict(step_size=0.1, steps=2))),
        T,
        "H must be a floating-point tensor",
    ),
    case(
        "theory.iterate_quadratic_attack",
        lazy(lambda: ((torch.zeros(2, 3, 3), torch.zeros(2, 3, dtype=torch.float64)), dict(step_size=0.1, steps=2))),
        T,
        "share one dtype",
    ),
    case(
        "theory.iterate_quadratic_attack",
        lazy(lambda: ((torch.zeros(2, 3, 3), torch.zeros(2, 4)), dict(step_size=0.1, steps=2))),
        E,
        r"expected H \(B, n, n\)",
    ),
    case(
        "theory.iterate_quadratic_attack",
        lazy(lambda: ((torch.full((2, 3, 3), float("inf")), torch.zeros(2, 3)), dict(step_size=0.1, steps=2))),
        E,
        "H has 18 non-finite",
    ),
    case("attacks.gradient_ascent_path", lazy(lambda: (NET(), dict(step_size=0.1, record=[]))), E, "record is empty"),
    case(
        "attacks.gradient_ascent_path",
        lazy(lambda: (NET(), dict(step_size=0.1, record=[10**9]))),
        E,
        r"advnotes\.attacks\.MAX_STEPS",
    ),
    case("attacks.gradient_ascent_path", lazy(lambda: (NET(), dict(step_size=0.1, record="12"))), E, "record must be"),
    case("attacks.gradient_ascent_path", lazy(lambda: (NET(), dict(step_size=0.1, record=[1.5]))), E, "integer"),
    case("attacks.gradient_ascent_path", lazy(lambda: (NET(), dict(step_size=0.1, record=[-1]))), E, ">= 0"),
    case(
        "attacks.gradient_ascent_path",
        lazy(lambda: ((net(), x(5, 63), y()), dict(step_size=0.1, record=[1]))),
        E,
        "64 features",
    ),
    case(
        "attacks.gradient_ascent_path",
        lazy(lambda: ((drop_net(), x(), y()), dict(step_size=0.1, record=[1]))),
        E,
        r"Dropout .*call model\.eval\(\)",
    ),
    case("attacks.gradient_ascent_path", lazy(lambda: (NET(), dict(step_size=True, record=[1]))), E, "bool"),
    case("theory.energy_on_top", lazy(lambda: ((spectrum()[1], spectrum()[2], 0), {})), E, "k must be an integer"),
    case("theory.energy_on_top", lazy(lambda: ((spectrum()[1], spectrum()[2], 11), {})), E, "exceeds the 10"),
    case(
        "theory.energy_on_top",
        lazy(lambda: ((spectrum()[1].float(), spectrum()[2], 1), {})),
        T,
        "share one dtype",
    ),
    case("theory.energy_on_top", lazy(lambda: ((spectrum()[1], 0 * spectrum()[2], 1), {})), E, "zero row"),
    case("theory.logit_margin_flow", A("a", 1.0, 1.0), T, "margin0 must be numbers"),
    case("theory.logit_margin_flow", A(np.zeros(3), np.ones(2), 1.0), E, "must broadcast"),
    case("theory.logit_margin_flow", A(0.0, -1.0, 1.0), E, "non-negative"),
    case("theory.logit_margin_flow", A(0.0, 1.0, float("nan")), E, "t has 1 non-finite"),
    case("theory.two_logit_flow", lazy(lambda: (NET(), dict(t=1.0))), E, "exactly 2 logits"),
    case("theory.two_logit_flow", lazy(lambda: ((two_net(), x(), y() % 2), dict(t=-1.0))), E, "t must be >= 0"),
    case("theory.two_logit_flow", lazy(lambda: ((two_net(), x(5, 63), y() % 2), dict(t=1.0))), E, "in_features=64"),
    case("theory.two_logit_flow", lazy(lambda: ((two_net(), x(), y()), dict(t=1.0))), E, "2 classes"),
    case("theory.gradient_tilt", lazy(lambda: ((net(), x(5, 63), y()), {})), E, "64 features"),
    case("theory.gradient_tilt", lazy(lambda: ((net(), x(), y() + 10), {})), E, "10 classes"),
    case("theory.gradient_tilt", lazy(lambda: ((bn_net(), x(), y()), {})), NPL, r"model\.eval\(\)"),
    case("theory.lambda_max_affine", lazy(lambda: ((*local_map(), x(5, 63)), {})), E, r"W must be \(B, C, n\)"),
    case("theory.lambda_max_affine", lazy(lambda: ((*local_map(), nan_x()), {})), E, "non-finite"),
    case(
        "theory.lambda_max_affine",
        lazy(lambda: ((local_map()[0].float(), local_map()[1], x()), {})),
        T,
        "share one dtype",
    ),
    case("theory.lambda_max_affine", lazy(lambda: ((local_map()[0].tolist(), local_map()[1], x()), {})), T, "W must"),
    case(
        "theory.offtop_ratio",
        lazy(lambda: ((spectrum()[1], spectrum()[2], spectrum()[2][:3]), {})),
        E,
        "one shape",
    ),
    case("theory.offtop_ratio", lazy(lambda: ((spectrum()[1], spectrum()[2], spectrum()[2]), dict(k=0))), E, "k must"),
    case(
        "theory.validity_table",
        lazy(lambda: (NET(), dict(step_sizes=[], steps=[1]))),
        E,
        "step_sizes is empty",
    ),
    case("theory.validity_table", lazy(lambda: (NET(), dict(step_sizes=[0.1], steps=[0]))), E, "integers >= 1"),
    case("theory.validity_table", lazy(lambda: (NET(), dict(step_sizes=[-0.1], steps=[1]))), E, "must be > 0"),
    case("theory.validity_table", lazy(lambda: (NET(), dict(step_sizes=0.1, steps=[1]))), T, "step_sizes must be"),
    case(
        "theory.validity_table",
        lazy(lambda: (NET(), dict(step_sizes=[0.1], steps=[1], project=dict(epsilon=0.1)))),
        E,
        "project must be None or a dict",
    ),
    case("theory.validity_table", lazy(lambda: (NET(), dict(step_sizes=[0.1], steps=[10**9]))), E, "MAX_STEPS"),
    case("theory.validity_table", lazy(lambda: ((net(), x(5, 63), y()), dict(step_sizes=[0.1], steps=[1]))), E, "64"),
    case("theory.projected_table", lazy(lambda: (NET(), dict(step_sizes=[0.1], steps=[1.5]))), E, "integer"),
    case("theory.projected_table", lazy(lambda: (NET(), dict(step_sizes=(), steps=[1]))), E, "step_sizes is empty"),
    case("theory.projected_table", lazy(lambda: (NET(), dict(step_sizes=[0.1], steps=[1], eps=-1))), E, "eps must"),
    # --- influence
    case("influence.confidence", lazy(lambda: ((net(), x(5, 63), y()), {})), E, "64 features"),
    case("influence.confidence", lazy(lambda: ((drop_net(), x(), y()), {})), E, r"Dropout .*model\.eval\(\)"),
    case("influence.confidence", lazy(lambda: ((bn_net(), x(), y()), {})), E, r"batch statistics.*model\.eval\(\)"),
    case("influence.confidence", lazy(lambda: ((lambda t: t, x(), y()), {})), T, r"torch\.nn\.Module"),
    case("influence.input_grad_norm", lazy(lambda: ((net(), x(dtype=torch.float32), y()), {})), T, "model.float()"),
    case("influence.input_grad_norm", lazy(lambda: ((drop_net(), x(), y()), {})), E, "Dropout"),
    case("influence.lambda_max", lazy(lambda: ((net(), x(5, 63), y()), {})), E, "64 features"),
    case("influence.lambda_max", lazy(lambda: ((net(), x(), y() - 1), {})), E, "negative label"),
    case("influence.per_sample_param_grads", lazy(lambda: ((net(), x(5, 63), y()), {})), E, "64 features"),
    case("influence.per_sample_param_grads", lazy(lambda: ((*NET(),), dict(delta=x(4)))), E, "delta must have"),
    case("influence.per_sample_param_grads", lazy(lambda: ((drop_net(), x(), y()), {})), E, "Dropout"),
    case("influence.param_grad_norm", lazy(lambda: ((*NET(),), dict(chunk_size=1.5))), E, "chunk_size must be"),
    case("influence.param_grad_norm", lazy(lambda: ((*NET(),), dict(chunk_size=0))), E, "chunk_size must be"),
    case("influence.param_grad_norm", lazy(lambda: ((*NET(),), dict(delta=nan_x()))), E, "delta has 1 non-finite"),
    case("influence.adversarial_term_norm", lazy(lambda: ((*NET(), x(4)), {})), E, "delta must have the shape of x"),
    case("influence.adversarial_term_norm", lazy(lambda: ((*NET(), x().tolist()), {})), T, "delta must be a torch"),
    case("influence.adversarial_term_norm", lazy(lambda: ((net(), x(5, 63), y(), x()), {})), E, "64 features"),
    case(
        "influence.linearised_term_norm",
        lazy(lambda: ((*NET(), x()), dict(include_clean="yes"))),
        T,
        "include_clean must be True or False",
    ),
    case("influence.linearised_term_norm", lazy(lambda: ((*NET(), x().float()), {})), T, "delta must share"),
    case("influence.linearised_term_norm", lazy(lambda: ((*NET(), x()), dict(chunk_size=-2))), E, "chunk_size"),
    case("influence.sample_stats", lazy(lambda: ((net(), x(5, 63), y()), {})), E, "64 features"),
    case("influence.sample_stats", lazy(lambda: ((drop_net(), x(), y()), {})), E, "Dropout"),
    case("influence.confidence_groups", lazy(lambda: ((probs(), y()), dict(frac=True))), E, "frac must be a number"),
    case("influence.confidence_groups", lazy(lambda: ((probs(), y()), dict(frac=2.0))), E, r"frac must lie in"),
    case("influence.confidence_groups", lazy(lambda: ((probs(), y()), dict(sure="0.9"))), E, "sure must be a real"),
    case("influence.confidence_groups", lazy(lambda: ((probs(), y().double()), {})), T, "integer class labels"),
    case("influence.confidence_groups", lazy(lambda: ((probs().long(), y()), {})), T, "floating tensor"),
    case("influence.confidence_groups", lazy(lambda: ((probs() * 2, y()), {})), E, "probability vectors"),
    case("influence.gradient_shares", lazy(lambda: ((*NET(), [masks()[0]]), {})), T, "groups must be a dict"),
    case(
        "influence.gradient_shares",
        lazy(lambda: ((*NET(), {"a": masks()[0].long()}), {})),
        E,
        "boolean mask of shape",
    ),
    case("influence.gradient_shares", lazy(lambda: ((*NET(), {"a": "all"}), {})), E, "boolean mask of shape"),
    case(
        "influence.gradient_shares",
        lazy(lambda: ((*NET(), {"a": masks()[0], "b": masks()[0]}), {})),
        E,
        "overlaps",
    ),
    case("influence.gradient_shares", lazy(lambda: ((net(), x(5, 63), y(), {}), {})), E, "64 features"),
    case("influence.gradient_shares", lazy(lambda: ((drop_net(), x(), y(), {}), {})), E, "Dropout"),
    case("influence.asymptotic_slope", A(["a"], [1.0], step_size=0.1), T, "lam_a must be numbers"),
    case("influence.asymptotic_slope", A([1.0], [1.0], step_size=0), E, "step_size must be > 0"),
    case("influence.asymptotic_slope", A([1.0], [-1.0], step_size=0.1), E, "eigenvalues must be > 0"),
    case("influence.finite_m_slope", A([1.0], [1.0], step_size=0.1, steps="12"), T, "steps must be numbers"),
    case("influence.finite_m_slope", A([1.0], [1.0], step_size=0.1, steps=[0]), E, "steps must be > 0"),
    case("influence.group_log_ratio", A(["a", "b"], [True, False], [False, True]), T, "values must be numbers"),
    case("influence.group_log_ratio", A([1.0, 2.0], [1, 0], [0, 1]), E, "group_a must be a boolean mask"),
    case("influence.group_log_ratio", A([1.0, 2.0], "a", [False, True]), E, "group_a must be a boolean mask"),
    case("influence.group_log_ratio", A([0.0, 2.0], [True, False], [False, True]), E, "finite and > 0"),
    case(
        "influence.log_ratio_curves",
        lazy(lambda: ((*NET(), *masks()), dict(step_size=0.1, steps=[1.5]))),
        E,
        "integer",
    ),
    case(
        "influence.log_ratio_curves",
        lazy(lambda: ((*NET(), *masks()), dict(step_size=0.1, steps=[10**9]))),
        E,
        "MAX_STEPS",
    ),
    case(
        "influence.log_ratio_curves",
        lazy(lambda: ((*NET(), *masks()), dict(step_size=0.1, steps=[0]))),
        E,
        ">= 1",
    ),
    case(
        "influence.log_ratio_curves",
        lazy(lambda: ((*NET(), *masks()), dict(step_size=-0.1, steps=[1]))),
        E,
        "step_size must be > 0",
    ),
    case(
        "influence.log_ratio_curves",
        lazy(lambda: ((net(), x(5, 63), y(), *masks()), dict(step_size=0.1, steps=[1]))),
        E,
        "64 features",
    ),
    case("influence.shares_now", lazy(lambda: ((net(), x(5, 63), y()), {})), E, "64 features"),
    case("influence.shares_now", lazy(lambda: ((*NET(),), dict(attack="pgd"))), T, "attack must be None"),
    case("influence.shares_now", lazy(lambda: ((drop_net(), x(), y()), {})), E, "Dropout"),
    case("influence.shares_now", lazy(lambda: ((*NET(),), dict(frac=0))), E, "frac must be > 0"),
    case(
        "influence.attack_terms",
        lazy(lambda: ((*NET(),), dict(step_size=0.1, steps=[1.5]))),
        E,
        "each entry of steps must be an integer",
    ),
    case("influence.attack_terms", lazy(lambda: ((*NET(),), dict(step_size=0.1, steps=[10**9]))), E, "MAX_STEPS"),
    case("influence.attack_terms", lazy(lambda: ((*NET(),), dict(step_size=0.1, steps="12"))), E, "steps must be"),
    case("influence.attack_terms", lazy(lambda: ((net(), x(5, 63), y()), dict(step_size=0.1, steps=[1]))), E, "64"),
    case("influence.gate_flips", lazy(lambda: ((net(), x(), x(4)), {})), E, "delta must have the shape"),
    case("influence.gate_flips", lazy(lambda: (("net", x(), x()), {})), T, r"torch\.nn\.Module"),
    case("influence.gate_flips", lazy(lambda: ((nn.Linear(64, 3).double(), x(), x()), {})), E, "no nn.ReLU"),
    case("influence.group_rate", A(["a"], step_size=0.1, steps=[1]), T, "lam must be numbers"),
    case("influence.group_rate", A([1.0], step_size=-1, steps=[1]), E, "step_size must be > 0"),
    case("influence.group_rate", A([1.0], step_size=0.1, steps=[0]), E, "steps must be > 0"),
    case(
        "influence.influence_log_ratios",
        lazy(lambda: ((*NET(), {"a": masks()[0]}, lambda m, a, b, k: 0 * a, [1]), {})),
        E,
        "'typical' mask",
    ),
    case(
        "influence.influence_log_ratios",
        lazy(lambda: ((*NET(), [masks()[0]], lambda m, a, b, k: 0 * a, [1]), {})),
        T,
        "groups must be a dict",
    ),
    case(
        "influence.influence_log_ratios",
        lazy(lambda: ((*NET(), dict(zip(("a", "typical"), masks())), "pgd", [1]), {})),
        T,
        "attack must be a callable",
    ),
    case(
        "influence.influence_log_ratios",
        lazy(lambda: ((*NET(), dict(zip(("a", "typical"), masks())), lambda m, a, b, k: 0 * a, [2.5]), {})),
        E,
        "each entry of steps must be an integer",
    ),
    case("influence.linearised_term", lazy(lambda: ((*NET(), x(4)), {})), E, "delta must have the shape"),
    case("influence.linearised_term", lazy(lambda: ((drop_net(), x(), y(), x()), {})), E, "Dropout"),
    case("influence.linearised_term", lazy(lambda: ((net(), x(5, 63), y(), x()), {})), E, "64 features"),
    case("influence.training_shares", lazy(lambda: ((*NET(),), dict(attack="pgd"))), T, "attack must be None"),
    case("influence.training_shares", lazy(lambda: ((net(), x(5, 63), y()), {})), E, "64 features"),
    case("influence.training_shares", lazy(lambda: ((*NET(),), dict(frac=1.5))), E, r"frac must lie in"),
    # --- param_hessian
    case("param_hessian.pinned_fractions", lazy(lambda: ((x().tolist(), x()), dict(eps=0.1))), T, "x must be a torch"),
    case("param_hessian.pinned_fractions", lazy(lambda: ((x(), x(4)), dict(eps=0.1))), E, "delta must have the shape"),
    case("param_hessian.pinned_fractions", lazy(lambda: ((x(), x()), dict(eps=0))), E, "eps must be > 0"),
    case("param_hessian.pinned_fractions", lazy(lambda: ((x(), x()), dict(eps=0.1, clamp=(1, 0)))), E, "low < high"),
    case(
        "param_hessian.onset_experiment",
        lazy(lambda: ((-1, sx(), sy()), dict(make_model=make_model, attack=None, jeff=None, lr=0.1, steps=2))),
        E,
        "seed must be a non-negative",
    ),
    case(
        "param_hessian.onset_experiment",
        lazy(lambda: ((0, sx(), sy()), dict(make_model="mlp", attack=None, jeff=None, lr=0.1, steps=2))),
        T,
        "make_model must be a function",
    ),
    case(
        "param_hessian.onset_experiment",
        lazy(lambda: ((0, sx(), sy()), dict(make_model=make_model, attack="pgd", jeff=None, lr=0.1, steps=2))),
        T,
        "attack must be None",
    ),
    case(
        "param_hessian.onset_experiment",
        lazy(
            lambda: ((0, sx(), sy()), dict(make_model=make_model, attack=None, jeff=None, lr=0.1, steps=2, probes=[3]))
        ),
        E,
        "probes must be a non-empty sequence",
    ),
    case(
        "param_hessian.param_hessian_top_eig",
        lazy(lambda: ((small(), sx(), sy()), dict(max_hvp=10**9))),
        E,
        r"max_hvp=1,000,000,000 is above the limit of 100,000",
    ),
    case("param_hessian.param_hessian_top_eig", lazy(lambda: ((small(), sx(), sy()), dict(seed=-1))), E, "seed"),
    case(
        "param_hessian.param_hessian_top_eig",
        lazy(lambda: ((small(), sx(), sy()), dict(method="Lanczos"))),
        E,
        "method must be 'lanczos', 'arpack' or 'power'",
    ),
    case(
        "param_hessian.param_hessian_top_eig",
        lazy(lambda: ((drop_net(), x(), y()), {})),
        E,
        r"random top eigenvalue\); call model\.eval\(\)",
    ),
    case("param_hessian.param_hessian_top_eig", lazy(lambda: ((small(), sx(), sy()), dict(k=100))), E, "k=100"),
    case("param_hessian.param_hessian_top_eig", lazy(lambda: ((small(), sx(6, 5), sy()), {})), E, "in_features=4"),
    case(
        "param_hessian.jeff_top_eig",
        lazy(lambda: ((small(), sx(), sy()), dict(JEFF, max_mvp=10**6))),
        E,
        "max_mvp=1,000,000 is above the limit",
    ),
    case(
        "param_hessian.jeff_top_eig",
        lazy(lambda: ((small(), sx(), sy()), dict(step_size=0.1, steps=10**9))),
        E,
        "MAX_STEPS",
    ),
    case("param_hessian.jeff_top_eig", lazy(lambda: ((small(), sx(), sy()), dict(JEFF, seed=2.5))), E, "seed"),
    case(
        "param_hessian.jeff_top_eig", lazy(lambda: ((small(), sx(), sy()), dict(JEFF, method="lanczos"))), E, "method"
    ),
    case("param_hessian.jeff_top_eig", lazy(lambda: ((bn_net(), x(), y()), JEFF)), E, "batch statistics"),
    case("param_hessian.sample_shares", lazy(lambda: ((small(), sx(), sy(), v(3)), {})), E, "v must have shape"),
    case("param_hessian.sample_shares", lazy(lambda: ((small(), sx(), sy(), v()), dict(delta=sx(2)))), E, "delta"),
    case("param_hessian.sample_shares", lazy(lambda: ((drop_net(), x(), y(), v(3)), {})), E, "Dropout"),
    case(
        "param_hessian.jeff_sample_shares",
        lazy(lambda: ((small(), sx(), sy(), v()), dict(JEFF, steps=10**9))),
        E,
        "MAX_STEPS",
    ),
    case("param_hessian.jeff_sample_shares", lazy(lambda: ((small(), sx(6, 5), sy(), v()), JEFF)), E, "in_features=4"),
    case("param_hessian.participation_number", A([0.5, 0.5]), E, "non-empty 1-d tensor"),
    case("param_hessian.participation_number", lazy(lambda: ((torch.zeros(3),), {})), E, "all zero"),
    case("param_hessian.top_k_share", lazy(lambda: ((torch.ones(3), 4), {})), E, "exceeds the number"),
    case("param_hessian.top_k_share", lazy(lambda: ((torch.ones(3), 1.5), {})), E, "k must be an integer"),
    case("param_hessian.top_k_share", lazy(lambda: ((torch.tensor([1.0, float("nan")]), 1), {})), E, "non-finite"),
    case("param_hessian.oscillation_stats", A([0.1, 0.2]), T, "log must be a TrainLog"),
    case("param_hessian.oscillation_stats", lazy(lambda: ((log(),), dict(direction=[1.0]))), T, "direction must"),
    case("param_hessian.oscillation_stats", lazy(lambda: ((log(),), dict(skip=-1))), E, "skip must be"),
    case("param_hessian.oscillation_stats", lazy(lambda: ((log(),), dict(skip=10))), E, "at least 3 updates"),
    case("param_hessian.sharpness_ratio", A(0.1, "a"), E, "eigval must be a real number"),
    case("param_hessian.sharpness_ratio", A(0.1, float("inf")), E, "eigval must be a finite"),
    case("param_hessian.sharpness_ratio", A(-0.1, 1.0), E, "eta must be > 0"),
    case(
        "param_hessian.track_training",
        lazy(lambda: ((small(), sx(), sy()), dict(lr=0.1, steps=4, every=3))),
        E,
        "multiple of every",
    ),
    case(
        "param_hessian.track_training",
        lazy(lambda: ((small(), sx(), sy()), dict(lr=0.1, steps=4, every=2, attack="pgd"))),
        T,
        "attack must be None",
    ),
    case(
        "param_hessian.track_training",
        lazy(lambda: ((small(), sx(), sy()), dict(lr=0.1, steps=4, every=2, attack=attack, jeff_attack=[0.1, 1]))),
        E,
        "jeff_attack must be a dict",
    ),
    case(
        "param_hessian.track_training",
        lazy(lambda: ((small(), sx(), sy()), dict(lr=0.1, steps=10**9, every=1))),
        E,
        r"advnotes\.training\.MAX_STEPS",
    ),
    case("param_hessian.track_training", lazy(lambda: ((small(), sx(), sy()), dict(lr=0, steps=2, every=1))), E, "lr"),
    case("param_hessian.step_radius", A(0.1, "a"), T, "eigvals must be numbers"),
    case("param_hessian.step_radius", A(0.1, []), E, "non-empty list"),
    case("param_hessian.step_radius", A(0, [1.0]), E, "eta must be > 0"),
    case("param_hessian.onset_lr", A(["a"]), T, "eigvals must be numbers"),
    case("param_hessian.onset_lr", A([float("nan")]), E, "finite numbers"),
    case("param_hessian.negative_cosines", A([0.1], window=1), T, "log must be a TrainLog"),
    case("param_hessian.negative_cosines", lazy(lambda: ((log(),), dict(window=100))), E, "fewer than window"),
    case("param_hessian.negative_cosines", lazy(lambda: ((log(),), dict(window=0))), E, "window must be"),
    case(
        "param_hessian.continue_training",
        lazy(lambda: ((small(), sx(), sy()), dict(lr=0.1, steps=3, attack="pgd", window=2, freeze=False))),
        T,
        "attack must be a callable",
    ),
    case(
        "param_hessian.continue_training",
        lazy(lambda: ((small(), sx(), sy()), dict(lr=0.1, steps=3, attack=attack, window=2, freeze="yes"))),
        T,
        "freeze must be True or False",
    ),
    case(
        "param_hessian.continue_training",
        lazy(lambda: ((small(), sx(), sy()), dict(lr=0.1, steps=3, attack=attack, window=0, freeze=True))),
        E,
        "window must be",
    ),
    case(
        "param_hessian.find_onset",
        lazy(
            lambda: ((small(), sx(), sy()), dict(attack=None, lo=0.1, hi=1.0, steps=4, window=2, iters=1, factor="a"))
        ),
        E,
        "factor must be a real number",
    ),
    case(
        "param_hessian.find_onset",
        lazy(lambda: ((small(), sx(), sy()), dict(attack=None, lo=0.1, hi=1.0, steps=4, window=2, iters=1, level=2))),
        E,
        r"level must be a fraction in \(0, 1\]",
    ),
    case(
        "param_hessian.find_onset",
        lazy(lambda: ((small(), sx(), sy()), dict(attack=None, lo=0.1, hi=1.0, steps=4, window=8, iters=1))),
        E,
        "window=8 exceeds steps=4",
    ),
    case(
        "param_hessian.find_onset",
        lazy(lambda: ((small(), sx(), sy()), dict(attack=None, lo=0.1, hi=float("nan"), steps=4, window=2, iters=1))),
        E,
        "hi must be a finite",
    ),
    case(
        "param_hessian.find_onset",
        lazy(lambda: ((small(), sx(), sy()), dict(attack=None, lo=1.0, hi=0.5, steps=4, window=2, iters=1))),
        E,
        "need hi > lo",
    ),
    case(
        "param_hessian.find_onset",
        lazy(lambda: ((small(), sx(), sy()), dict(attack=3, lo=0.1, hi=1.0, steps=4, window=2, iters=1))),
        T,
        "attack must be None",
    ),
    case(
        "param_hessian.seed_experiment",
        lazy(
            lambda: (
                (0, sx(), sy()),
                dict(make_model=make_model, runs=[None], lr=0.1, steps=2, window=1, probe_steps=2),
            )
        ),
        E,
        "runs must be a non-empty dict",
    ),
    case(
        "param_hessian.seed_experiment",
        lazy(
            lambda: (
                (0, sx(), sy()),
                dict(make_model=make_model, runs={"a": None}, lr=0.1, steps=2, window=1, probe_steps=2),
            )
        ),
        E,
        r"runs\['a'\] must be a pair",
    ),
    case(
        "param_hessian.seed_experiment",
        lazy(
            lambda: (
                (-1, sx(), sy()),
                dict(make_model=make_model, runs={"a": (None, None)}, lr=0.1, steps=2, window=1, probe_steps=2),
            )
        ),
        E,
        "seed must be a non-negative",
    ),
    case(
        "param_hessian.seed_experiment",
        lazy(
            lambda: (
                (0, sx(), sy()),
                dict(make_model="mlp", runs={"a": (None, None)}, lr=0.1, steps=2, window=1, probe_steps=2),
            )
        ),
        T,
        "make_model must be a function",
    ),
    case(
        "param_hessian.seed_experiment",
        lazy(
            lambda: (
                (0, sx(), sy()),
                dict(
                    make_model=make_model,
                    runs={"a": (None, None)},
                    lr=0.1,
                    steps=2,
                    window=1,
                    probe_steps=2,
                    x_test=sx(),
                ),
            )
        ),
        E,
        "both x_test and y_test",
    ),
    # --- claims
    case("claims.get_spec", A(3), T, "name must be a spec's name"),
    case("claims.get_spec", A("no-such-claim"), KeyError, "no claim or identity is declared"),
    case("claims.decide", A(0.1, 0.2, 0.0, ">="), E, "direction must be"),
    case("claims.decide", A(0.3, 0.2, 0.0, ">"), E, "lo <= hi"),
    case("claims.decide", A(float("nan"), 0.2, 0.0, ">"), E, "lo must be a finite"),
    case("claims.decide", A(0.1, 0.2, "0", ">"), T, "threshold must be a real number"),
    case("claims.margin", A(0.1, 0.2, 0.0, "up"), E, "direction must be"),
    case("claims.margin", A(0.1, 0.2, float("inf"), "<"), E, "threshold must be a finite"),
    case("claims.IdentitySpec", lazy(lambda: ((), spec_kwargs(tolerance=0))), E, "tolerance must be a positive"),
    case("claims.IdentitySpec", lazy(lambda: ((), spec_kwargs(tolerance="1e-12"))), T, "tolerance must be a real"),
    case("claims.IdentitySpec", lazy(lambda: ((), spec_kwargs(chapter="1"))), T, "chapter must be a chapter number"),
    case("claims.IdentitySpec", lazy(lambda: ((), spec_kwargs(name=""))), T, "name must be a non-empty string"),
    case("claims.IdentitySpec.check", lazy(lambda: ((ch1.PSD, "0.1"), {})), T, "error must be a real number"),
    case("claims.IdentitySpec.check", lazy(lambda: ((ch1.PSD, float("nan")), {})), E, "not finite"),
    case("claims.IdentitySpec.check", lazy(lambda: ((ch1.PSD, 0.0), dict(setting="mnist"))), E, "unknown setting"),
    case("claims.ClaimSpec", lazy(lambda: ((), claim_kwargs(threshold="0"))), T, "threshold must be a real"),
    case("claims.ClaimSpec", lazy(lambda: ((), claim_kwargs(threshold=float("nan")))), E, "threshold must be finite"),
    case("claims.ClaimSpec", lazy(lambda: ((), claim_kwargs(direction=">="))), E, "direction must be"),
    case("claims.ClaimSpec", lazy(lambda: ((), claim_kwargs(reading=3))), T, "reading must be a string"),
    case("claims.ClaimSpec.measure", lazy(lambda: ((a_claim(), [0.1] * 3), {})), E, "at least 5 seeds"),
    case("claims.ClaimSpec.measure", lazy(lambda: ((a_claim(), 0.1), {})), T, "per_seed must be a list"),
    case(
        "claims.ClaimSpec.measure",
        lazy(lambda: ((a_claim(), [0.1] * 5), dict(setting="cifar"))),
        E,
        "unknown setting",
    ),
    case(
        "claims.ClaimSpec.measure",
        lazy(lambda: ((a_claim(), [0.1] * 5), dict(regime=3))),
        T,
        "regime must be a string",
    ),
    case(
        "claims.ClaimSpec.measure",
        lazy(lambda: ((a_claim(), [0.1, 0.2, 0.3, 0.4, float("nan")]), {})),
        E,
        "not finite",
    ),
    case("claims.paper_outcome", A([]), E, "at least one record"),
    case("claims.paper_outcome", A(["holds"]), T, "claims must hold Identity/Claim records"),
    case("claims.paper_outcome", lazy(lambda: ((claim_record(),), {})), T, r"wrap a single record as \[record\]"),
    case("claims.verdict", A([]), E, "at least one record"),
    case("claims.verdict", A("records"), T, "records must be a list of Identity/Claim"),
    case("claims.verdict", A([{"name": "x"}]), T, "records must hold Identity/Claim records"),
    case("claims.identity_table", lazy(lambda: (([claim_record()],), {})), E, "no identity records"),
    case("claims.identity_table", A([1, 2]), T, "records must hold"),
    case("claims.claim_table", lazy(lambda: (([identity_record()],), {})), E, "no claim records"),
    case("claims.claim_table", A(None), T, "records must be a list"),
    case("claims.group_table", A([]), E, "no claim records"),
    case("claims.group_table", A(["a"]), T, "records must hold"),
    case("claims.counts", A(3), T, "records must be a list"),
    case("claims.counts", A([None]), T, "records must hold"),
    case("claims.check_records", A([1]), T, "records must hold"),
    case("claims.evidence_dir", A(profile="Full"), E, "profile must be None, 'quick' or 'full'"),
    case("claims.Evidence", A("one"), T, "chapter must be a chapter number"),
    case("claims.Evidence", A(-1), T, "chapter must be a chapter number"),
    case("claims.Evidence.identity", lazy(lambda: ((claims.Evidence(1), "PSD", 0.0), {})), T, "spec must be an Ident"),
    case(
        "claims.Evidence.identity", lazy(lambda: ((claims.Evidence(2), ch1.PSD, 0.0), {})), E, "declared for chapter 1"
    ),
    case(
        "claims.Evidence.claim",
        lazy(lambda: ((claims.Evidence(1), ch1.PSD, [0.1] * 5), {})),
        T,
        "spec must be a ClaimSpec",
    ),
    case("claims.Evidence.save", lazy(lambda: ((claims.Evidence(1),), dict(path=3))), T, "path must be None or a file"),
    case("claims.record_from_json", A(["name"]), E, "one record of an evidence file"),
    case("claims.record_from_json", A({"name": "ch1-psd", "kind": "identity"}), E, r"without \['outcome'\]"),
    case(
        "claims.record_from_json",
        A({"name": "ch1-psd", "kind": "identity", "outcome": "verified"}),
        E,
        "must be an 'identity' \\(with 'error'\\)",
    ),
    case(
        "claims.record_from_json",
        A({"name": "ch1-psd", "kind": "claim", "outcome": "holds", "statistic": {}, "setting": "digits-mlp"}),
        RuntimeError,
        "recorded as a claim, declared otherwise",
    ),
    case("claims.committed_evidence", A(1, profile="Full"), E, "profile must be 'quick' or 'full'"),
    case("claims.committed_evidence", A("one"), T, "chapter must be a chapter number"),
    case("claims.load_evidence", lazy(lambda: ((tmp() / "missing.json",), {})), FileNotFoundError, "no evidence file"),
    case("claims.load_evidence", lazy(lambda: ((bad_json(),), {})), RuntimeError, "not a JSON evidence file"),
    case("claims.ch3.summary", A([3]), T, "records must hold"),
    # claims.ch4: tests/test_bad_input_ch4.py
    # claims.ch5: tests/test_bad_input_ch5.py
    # --- validation (the helpers added in phase 2)
    case("validation.check_number", A("x", "1"), E, "x must be a real number"),
    case("validation.check_number", A("x", float("inf")), E, "x must be a finite number"),
    case(
        "validation.check_limit", A("steps", 11, "advnotes.x.MAX", 10, what="a run"), E, r"above advnotes\.x\.MAX = 10"
    ),
    case("validation.check_array", A("a", "abc"), T, "a must be numbers"),
    case("validation.check_array", A("a", [[1.0], [1.0, 2.0]]), T, "does not convert to floats"),
    case("validation.check_array", A("a", []), E, "a is empty"),
    case("validation.check_array", A("a", [1.0], ndim=2), E, "a must be a 2-d array"),
    case("validation.check_int_list", A("steps", [1, 2.5]), E, "each entry of steps must be an integer"),
    case("validation.check_int_list", A("steps", "12"), T, "steps must be a list of integers"),
    case("validation.check_int_list", A("steps", [0], min_value=1), E, "integers >= 1"),
    case("validation.check_not_training", lazy(lambda: ((drop_net(),), {})), E, r"Dropout '2' in training mode"),
    case("validation.check_not_training", lazy(lambda: ((bn_net(),), {})), E, r"BatchNorm1d '2' using batch stat"),
]


@pytest.mark.parametrize("fn, build, error, match, env", CASES)
def test_bad_input_is_refused_by_advnotes(fn, build, error, match, env, monkeypatch):
    assert_refused(fn, build, error, match, env, monkeypatch)


# ----------------------------------------------------------------------------- accepted inputs

ACCEPTED = [
    (
        "theory.growth_factor",
        lambda: torch.equal(
            theory.growth_factor(torch.ones(3, dtype=torch.float64), step_size=np.float64(0.1), steps=torch.tensor(3)),
            theory.growth_factor(torch.ones(3, dtype=torch.float64), step_size=0.1, steps=3),
        ),
    ),
    (
        "attacks.gradient_ascent_path",
        lambda: (
            sorted(advnotes.attacks.gradient_ascent_path(*NET(), step_size=0.1, record=np.array([2, 0, 1])))
            == [0, 1, 2]
        ),
    ),
    (
        "training.train",
        lambda: (
            training.train(make_model(0), sx(), sy(), lr=np.float32(0.1), steps=np.int64(2), seed=np.uint8(3)).steps
            == 2
        ),
    ),
    ("training.accuracy", lambda: 0.0 <= training.accuracy(drop_net(), x(), y()) <= 1.0),
    ("influence.confidence_groups", lambda: len(influence.confidence_groups(probs(), y(), frac=np.float64(0.2))) == 3),
    ("influence.confidence", lambda: influence.confidence(net().train(), x(), y()).shape == (5,)),
    ("param_hessian.sharpness_ratio", lambda: param_hessian.sharpness_ratio(0.5, torch.tensor(4.0)) == 2.0),
    (
        "claims.ch5.relative_reduction",
        lambda: ch5.relative_reduction(np.float64(0.2), torch.tensor(0.1, dtype=torch.float64)) == 0.5,
    ),
    ("linear_regions.gate_pattern", lambda: linear_regions.gate_pattern(net().train(), x()).shape[0] == 5),
]


@pytest.mark.parametrize("fn, check", ACCEPTED, ids=[f"{name}-{i}" for i, (name, _) in enumerate(ACCEPTED)])
def test_odd_but_valid_input_is_accepted(fn, check):
    torch.set_num_threads(1)
    try:
        assert resolve(fn) is not None and check()
    finally:
        net().eval()


# ----------------------------------------------------------------------------- training mode


def test_accuracy_runs_in_eval_mode_and_restores_the_mode():
    torch.set_num_threads(1)
    m = drop_net()
    accs = {training.accuracy(m, x(20), torch.arange(20) % 10) for _ in range(3)}
    assert len(accs) == 1 and m.training and m[2].training
    bn = bn_net()
    before = {k: t.clone() for k, t in bn.state_dict().items()}
    training.robust_accuracy(bn, x(), y(), attack)
    assert all(torch.equal(t, bn.state_dict()[k]) for k, t in before.items()) and bn.training


def test_train_checks_the_data_without_touching_batchnorm_statistics():
    """The probe forward of train()'s input check runs in eval mode: running statistics change only by training."""
    torch.set_num_threads(1)
    bn = bn_net()
    before = {k: t.clone() for k, t in bn.state_dict().items()}
    with pytest.raises(ValueError, match="64 features"):
        training.train(bn, x(5, 63), y(), lr=0.1, steps=1)
    assert all(torch.equal(t, bn.state_dict()[k]) for k, t in before.items())


def test_training_max_steps_can_be_raised(monkeypatch):
    monkeypatch.setattr(training, "MAX_STEPS", 2)
    with pytest.raises(ValueError, match=r"steps=3 is above advnotes\.training\.MAX_STEPS = 2"):
        training.train(make_model(0), sx(), sy(), lr=0.1, steps=3)
    monkeypatch.setattr(training, "MAX_STEPS", 3)
    assert training.train(make_model(0), sx(), sy(), lr=0.1, steps=3).steps == 3


def test_max_products_can_be_raised(monkeypatch):
    monkeypatch.setattr(param_hessian, "MAX_PRODUCTS", 5)
    with pytest.raises(ValueError, match=r"max_hvp=6 is above the limit of 5.*MAX_PRODUCTS"):
        param_hessian.param_hessian_top_eig(small(), sx(), sy(), max_hvp=6)


def test_dropout_model_is_refused_not_answered_at_random():
    """The parameter-Hessian solver on a dropout model in training mode gave a random lambda_1 (5.63 vs 2.77)."""
    torch.set_num_threads(1)
    m = drop_net()
    with pytest.raises(ValueError, match="Dropout"):
        param_hessian.param_hessian_top_eig(m, x(), y(), tol=1e-2)
    m.eval()
    a = param_hessian.param_hessian_top_eig(m, x(), y(), tol=1e-2)[0]
    b = param_hessian.param_hessian_top_eig(m, x(), y(), tol=1e-2)[0]
    assert torch.equal(a, b)


# ----------------------------------------------------------------------------- every public function is covered


def all_modules() -> list:
    """Every module of the package: ``advnotes/*.py``, ``advnotes/claims/*.py`` and ``advnotes/chapters/*.py``."""
    import advnotes.chapters

    mods = []
    for pkg in (advnotes, advnotes.claims, advnotes.chapters):
        if pkg is advnotes.claims:
            mods.append(pkg)
        for info in pkgutil.iter_modules(pkg.__path__):
            if not info.ispkg:
                mods.append(importlib.import_module(f"{pkg.__name__}.{info.name}"))
    return mods


#: Whole modules without bad-input cases, and why.
EXEMPT_MODULES: dict[str, str] = {}  # the Sphinx extensions left the package for book/_ext (issue 13)

#: Public names that need no bad-input case, and why.
EXEMPT = {
    "training.TrainLog": "a record returned by train(), filled by it (plain lists)",
    "training.TrainLog.summary": "takes no argument",
    "influence.SampleStats": "a frozen record returned by sample_stats(), not built by users",
    "influence.SampleStats.as_dict": "takes no argument",
    "param_hessian.OscillationStats": "a frozen record returned by oscillation_stats(), not built by users",
    "param_hessian.SharpnessTrace": "a record returned by track_training(), not built by users",
    "param_hessian.Onset": "a frozen record returned by find_onset(), not built by users",
    "claims.Identity": "a record built by IdentitySpec.check (which validates its inputs), not by users",
    "claims.Identity.to_json": "takes no argument",
    "claims.Claim": "a record built by ClaimSpec.measure (which validates its inputs), not by users",
    "claims.Claim.to_json": "takes no argument",
    "claims.Evidence.text": "takes no argument",
}


def _short(mod) -> str:
    return mod.__name__.removeprefix("advnotes.")


def public_functions() -> set[str]:
    names = set()
    for mod in all_modules():
        short = _short(mod)
        if short in EXEMPT_MODULES:
            continue
        for name in dir(mod):
            obj = getattr(mod, name)
            if name.startswith("_") or not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            if getattr(obj, "__module__", None) != mod.__name__:
                continue  # imported from elsewhere
            names.add(f"{short}.{name}")
            if inspect.isclass(obj) and not issubclass(obj, BaseException):
                for meth, fn in vars(obj).items():
                    if not meth.startswith("_") and inspect.isfunction(fn):
                        names.add(f"{short}.{name}.{meth}")
            if inspect.isclass(obj) and issubclass(obj, nn.Module) and "forward" in vars(obj):
                names.add(f"{short}.{name}.forward")
    return names


def _other_tables() -> tuple[list, dict]:
    """CASES and EXEMPT of every further ``tests/test_bad_input_<topic>.py`` (one file per topic, each running its
    own cases through ``assert_refused``)."""
    cases, exempt = [], {}
    for path in sorted(Path(__file__).parent.glob("test_bad_input_*.py")):
        if path.stem == Path(__file__).stem:
            continue
        mod = importlib.import_module(path.stem)
        cases += list(getattr(mod, "CASES", []))
        exempt.update(getattr(mod, "EXEMPT", {}))
    return cases, exempt


KRYLOV_CASES, KRYLOV_EXEMPT = _other_tables()


def test_every_public_function_of_every_module_is_covered():
    covered = (
        {p.values[0] for p in PHASE1_CASES + CASES + KRYLOV_CASES}
        | set(PHASE1_EXEMPT)
        | set(EXEMPT)
        | set(KRYLOV_EXEMPT)
    )
    missing = sorted(public_functions() - covered)
    assert not missing, f"public functions without bad-input cases (or a reason in EXEMPT): {missing}"
    known = (
        {p.values[0] for p in CASES + KRYLOV_CASES} | {name for name, _ in ACCEPTED} | set(EXEMPT) | set(KRYLOV_EXEMPT)
    )
    stale = sorted(known - public_functions())
    assert not stale, f"table entries that are not public functions: {stale}"
    assert {_short(m) for m in all_modules()} >= {"curvature", "claims", "claims.ch5", "param_hessian", "stats"}


def test_the_table_covers_every_phase2_module():
    def module_of(fn: str) -> str:
        parts = fn.split(".")
        return ".".join(parts[:2]) if fn.startswith("claims.ch") else parts[0]

    mods = {module_of(p.values[0]) for p in CASES + KRYLOV_CASES}  # and the per-topic tables
    expected = {"curvature", "linear_regions", "training", "theory", "influence", "param_hessian", "claims"}
    assert expected | {f"claims.ch{ch}" for ch in range(1, 6)} <= mods
