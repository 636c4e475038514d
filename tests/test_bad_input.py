"""Bad input never passes silently: every public function of these modules refuses it with an advnotes error.

``CASES`` is a table of (function, arguments, expected exception, message pattern): each call must raise
that exception, from advnotes itself (not from inside torch or NumPy), with a message that names the
problem, and without torch's raw wording (``mat1 and mat2 shapes cannot be multiplied``...).
``ACCEPTED`` lists inputs that look odd but are fine (0-d tensors and NumPy scalars as numbers, integral
float labels...). :func:`test_every_public_function_is_in_the_table` walks the public functions of the
modules and fails when one is in neither table nor in ``EXEMPT`` (with a reason), so a new function must
come with its bad inputs.
"""

from __future__ import annotations

import functools
import inspect
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import advnotes
from advnotes import attacks, config, data, models, threat, validation

MODULES = (attacks, threat, data, models, config, validation)
PACKAGE_DIR = Path(advnotes.__file__).resolve().parent

#: Torch's, NumPy's and Python's own wording that must never reach the user.
RAW = (
    "mat1 and mat2",
    "shapes cannot be multiplied",
    "expected scalar type",
    "Expected ",
    "size of tensor",
    "must match the size",
    "not implemented for",
    "Found dtype",
    "has no attribute",
    "unsupported operand",
    "not supported between instances",
    "object is not iterable",
    "object cannot be interpreted",
    "could not convert",
    "invalid literal",
    "Boolean value of Tensor",
    "operands could not be broadcast",
)

#: Public names that need no bad-input case, and why.
EXEMPT = {
    "config.pick": "takes any two values by keyword; Python itself refuses a missing one",
    "config.get_profile": "takes no argument; a bad ADVNOTES_PROFILE is tested in test_config_data.py",
    "config.Setup": "a frozen record returned by setup(), not built by users",
    "models.NotPiecewiseLinearError": "an exception class",
    "validation.eval_mode": "accepts any model; tested by the eval-mode tests below",
    **{
        f"validation.{name}": "added in phase 2: its cases are in test_bad_input_phase2.py"
        for name in ("check_number", "check_limit", "check_array", "check_int_list", "check_not_training")
    },
}


# ----------------------------------------------------------------------------- fixtures (cheap, cached)


@functools.cache
def net() -> nn.Module:
    """A float64 ReLU MLP on 64 features, 10 classes, eval mode."""
    torch.manual_seed(0)
    return models.mlp(64, (16,), 10).double().eval()


@functools.cache
def conv_net() -> nn.Module:
    torch.manual_seed(0)
    return models.cnn((1, 8, 8), (4,), 10, hidden=8).double().eval()


def x(n: int = 5, d: int = 64, dtype=torch.float64) -> torch.Tensor:
    return torch.rand(n, d, generator=torch.Generator().manual_seed(0), dtype=dtype)


def y(n: int = 5) -> torch.Tensor:
    return torch.arange(n) % 10


def nan_x() -> torch.Tensor:
    t = x()
    t[0, 0] = float("nan")
    return t


def one_logit(t):
    return t[:, :1]


class Custom(nn.Module):
    def forward(self, t):
        return t


@functools.cache
def tmp() -> Path:
    return Path(tempfile.mkdtemp(prefix="advnotes-bad-input-"))


@pytest.fixture(scope="module", autouse=True)
def _remove_temporary_files():
    yield
    if tmp.cache_info().currsize:
        shutil.rmtree(tmp(), ignore_errors=True)


def npz(name: str, **arrays) -> Path:
    path = tmp() / f"{name}.npz"
    np.savez(path, **arrays)
    return path


def npz_xy(name: str, *, n: int = 40, x_=None, y_=None) -> Path:
    rng = np.random.default_rng(0)
    xa = rng.standard_normal((n, 3)) if x_ is None else x_
    ya = (np.arange(n) % 4) if y_ is None else y_
    return npz(name, x=xa, y=ya)


def text_file() -> Path:
    path = tmp() / "not-an-archive.npz"
    path.write_text("hello")
    return path


def bn(train: bool) -> nn.Sequential:
    m = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    return m.train(train)


def seq(*mods) -> nn.Sequential:
    return nn.Sequential(nn.Linear(4, 4), *mods, nn.Linear(4, 2))


def split_parts(**over):
    parts = dict(x_train=x(6, 3), y_train=torch.arange(6) % 2, x_test=x(2, 3), y_test=torch.arange(2), num_classes=2)
    parts.update(over)
    return parts


# ----------------------------------------------------------------------------- the table


def case(fn: str, build, error, match: str, *, env=None, needs_no_cuda=False, id=None):
    """``build()`` returns (args, kwargs); ``fn`` is "module.name" (or "module.Class.method")."""
    marks = [pytest.mark.skipif(torch.cuda.is_available(), reason="CPU-only case")] if needs_no_cuda else []
    return pytest.param(fn, build, error, match, env, id=id or f"{fn}:{match[:40]}", marks=marks)


def A(*args, **kwargs):
    return lambda: (args, kwargs)


def lazy(fn):
    """Build (args, kwargs) at test time: ``fn()`` returns them."""
    return fn


GA = dict(step_size=0.1, steps=2)
PGD = dict(eps=0.1, step_size=0.05, steps=2)
E = ValueError
T = TypeError

CASES = [
    # --- attacks: model/input mismatch in the model's terms
    case(
        "attacks.gradient_ascent",
        lazy(lambda: ((net(), x(5, 63), y()), GA)),
        E,
        r"expects float64 inputs with 64 features",
    ),
    case(
        "attacks.gradient_ascent",
        lazy(lambda: ((net(), x(dtype=torch.float32), y()), GA)),
        T,
        r"parameters are float64 but x is float32: call model\.float\(\) or x\.double\(\)",
    ),
    case("attacks.gradient_ascent", lazy(lambda: ((net(), x().long(), y()), GA)), T, "floating-point"),
    case("attacks.gradient_ascent", lazy(lambda: ((net(), x().numpy(), y()), GA)), T, r"torch\.as_tensor"),
    case("attacks.gradient_ascent", lazy(lambda: ((net(), x()[0], y(1)), GA)), E, "batch dimension"),
    case("attacks.gradient_ascent", lazy(lambda: ((net(), x()[:0], y(0)), GA)), E, "empty batch"),
    case("attacks.gradient_ascent", lazy(lambda: ((net(), nan_x(), y()), GA)), E, r"1 non-finite value"),
    case("attacks.gradient_ascent", lazy(lambda: ((net(), x(), y().double()), GA)), T, "integer class labels"),
    case(
        "attacks.gradient_ascent",
        lazy(lambda: ((net(), x(), torch.full((5,), 12)), GA)),
        E,
        r"labels in \[12, 12\] but the model has 10 classes",
    ),
    case("attacks.gradient_ascent", lazy(lambda: ((net(), x(), y() - 1), GA)), E, r"1 negative label"),
    case("attacks.gradient_ascent", lazy(lambda: ((net(), x(), y(4)), GA)), E, r"shape \(5,\) to match the batch"),
    case("attacks.gradient_ascent", lazy(lambda: (("net", x(), y()), GA)), T, "callable"),
    case("attacks.gradient_ascent", lazy(lambda: ((one_logit, x(), y()), GA)), E, "at least 2 logits"),
    case(
        "attacks.gradient_ascent",
        lazy(lambda: ((net(), x(), y()), dict(step_size=0, steps=2))),
        E,
        "step_size must be > 0",
    ),
    case(
        "attacks.gradient_ascent",
        lazy(lambda: ((net(), x(), y()), dict(step_size=-1.0, steps=2))),
        E,
        "step_size must be > 0",
    ),
    case(
        "attacks.gradient_ascent",
        lazy(lambda: ((net(), x(), y()), dict(step_size=float("nan"), steps=2))),
        E,
        "step_size must be a finite number",
    ),
    case(
        "attacks.gradient_ascent",
        lazy(lambda: ((net(), x(), y()), dict(step_size=float("inf"), steps=2))),
        E,
        "step_size must be a finite number",
    ),
    case(
        "attacks.gradient_ascent",
        lazy(lambda: ((net(), x(), y()), dict(step_size=True, steps=2))),
        E,
        "step_size must be a number, got the bool",
    ),
    case(
        "attacks.gradient_ascent",
        lazy(lambda: ((net(), x(), y()), dict(step_size="0.1", steps=2))),
        E,
        "step_size must be a real number",
    ),
    case(
        "attacks.gradient_ascent",
        lazy(lambda: ((net(), x(), y()), dict(step_size=0.1, steps=2.5))),
        E,
        "steps must be an integer",
    ),
    case(
        "attacks.gradient_ascent",
        lazy(lambda: ((net(), x(), y()), dict(step_size=0.1, steps=True))),
        E,
        "steps must be a number, got the bool",
    ),
    case(
        "attacks.gradient_ascent",
        lazy(lambda: ((net(), x(), y()), dict(step_size=0.1, steps=torch.ones(2)))),
        E,
        "0-d tensor",
    ),
    case(
        "attacks.gradient_ascent",
        lazy(lambda: ((net(), x(), y()), dict(step_size=0.1, steps=10**9))),
        E,
        r"above advnotes\.attacks\.MAX_STEPS",
    ),
    case("attacks.gradient_ascent", lazy(lambda: ((net(), x(), y()), dict(GA, eps=-0.1))), E, "eps must be > 0"),
    case(
        "attacks.gradient_ascent",
        lazy(lambda: ((net(), x(), y()), dict(GA, create_graph="yes"))),
        T,
        "create_graph must be True or False",
    ),
    case("attacks.gradient_ascent", lazy(lambda: ((net(), x(), y()), dict(GA, clamp=(1.0, 0.0)))), E, "low < high"),
    case(
        "attacks.gradient_ascent",
        lazy(lambda: ((net(), x(), y()), dict(GA, clamp=("a", "b")))),
        E,
        "bound must be a number or a tensor",
    ),
    case(
        "attacks.gradient_ascent",
        lazy(lambda: ((net(), x() * 4 - 2, y()), dict(GA, clamp=(0.0, 1.0)))),
        E,
        "outside the clamp range",
    ),
    case(
        "attacks.gradient_ascent",
        lazy(lambda: ((conv_net(), x(), y()), GA)),
        E,
        r"expects float64 inputs of shape \(B, 1, H, W\).*x\.unsqueeze\(1\)",
    ),
    case("attacks.pgd_linf", lazy(lambda: ((net(), x(5, 63), y()), PGD)), E, "expects float64 inputs with 64 features"),
    case("attacks.pgd_linf", lazy(lambda: ((net(), x(dtype=torch.float32), y()), PGD)), T, "float64 but x is float32"),
    case("attacks.pgd_linf", lazy(lambda: ((net(), nan_x(), y()), PGD)), E, "non-finite"),
    case("attacks.pgd_linf", lazy(lambda: ((net(), x(), y() + 10), PGD)), E, "but the model has 10 classes"),
    case("attacks.pgd_linf", lazy(lambda: ((net(), x(), y()), dict(PGD, eps=float("nan")))), E, "eps must be a finite"),
    case("attacks.pgd_linf", lazy(lambda: ((net(), x(), y()), dict(PGD, eps=0.0))), E, "eps must be > 0"),
    case("attacks.pgd_linf", lazy(lambda: ((net(), x(), y()), dict(PGD, steps=10**9))), E, "MAX_STEPS"),
    case(
        "attacks.pgd_linf",
        lazy(lambda: ((net(), x(), y()), dict(PGD, random_start="yes"))),
        T,
        "random_start must be True or False",
    ),
    case(
        "attacks.pgd_linf",
        lazy(lambda: ((net(), x(), y()), dict(PGD, random_start=True, generator=0))),
        T,
        r"generator must be a torch\.Generator",
    ),
    case("attacks.pgd_linf", lazy(lambda: ((net(), x(), y()), dict(PGD, clamp=3.0))), E, "clamp must be None or"),
    case(
        "attacks.pgd_linf",
        lazy(lambda: ((net(), x(), y()), dict(PGD, clamp=(torch.zeros(3), 1.0)))),
        E,
        "does not broadcast",
    ),
    case("attacks.pgd_l2", lazy(lambda: ((net(), x(5, 65), y()), PGD)), E, "expects float64 inputs with 64 features"),
    case("attacks.pgd_l2", lazy(lambda: ((net(), x(), y()), dict(PGD, steps=-1))), E, "steps must be an integer >= 0"),
    case("attacks.pgd_l2", lazy(lambda: ((net(), x(), y()), dict(PGD, steps=10**6))), E, "MAX_STEPS"),
    case("attacks.pgd_l2", lazy(lambda: ((net(), x(), y()), dict(PGD, eps=-1))), E, "eps must be > 0"),
    case("attacks.pgd_l2", lazy(lambda: ((net(), x(), y().float()), PGD)), T, "integer class labels"),
    case("attacks.fgsm", lazy(lambda: ((net(), x(), y()), dict(eps=0))), E, "eps must be > 0"),
    case("attacks.fgsm", lazy(lambda: ((net(), x(), y()), dict(eps=0.1, step_size=False))), E, "bool"),
    case(
        "attacks.fgsm",
        lazy(lambda: ((net(), x(dtype=torch.float32), y()), dict(eps=0.1))),
        T,
        "float64 but x is float32",
    ),
    case("attacks.fgsm", lazy(lambda: ((net(), x(5, 8), y()), dict(eps=0.1))), E, "64 features"),
    case("attacks.random_direction", lazy(lambda: ((x().long(),), {})), T, "floating-point"),
    case("attacks.random_direction", lazy(lambda: ((x(),), dict(norm=-1.0))), E, "norm must be >= 0"),
    case("attacks.random_direction", lazy(lambda: ((x(),), dict(generator=3))), T, "generator"),
    case("attacks.loss_per_example", lazy(lambda: ((net(), x(5, 32), y()), {})), E, "64 features"),
    case("attacks.loss_per_example", lazy(lambda: ((net(), x(), y() - 3), {})), E, "negative label"),
    # --- threat
    case("threat.training_attack", A("PGD"), E, "kind must be 'pgd', 'ascent' or 'fgsm'"),
    case("threat.training_attack", A(3), E, "kind must be"),
    case("threat.training_attack", A("pgd", eps=-0.1), E, "eps must be > 0"),
    case("threat.training_attack", A("pgd", steps=0), E, "steps must be an integer >= 1"),
    case("threat.training_attack", A("pgd", steps=10**9), E, "MAX_STEPS"),
    case("threat.training_attack", A("pgd", step_size=float("nan")), E, "step_size must be a finite"),
    case("threat.training_attack", A("ascent"), E, "needs step_size"),
    case("threat.robust_accuracy", lazy(lambda: ((net(), x(), y()), dict(restarts=10**6))), E, r"MAX_RESTARTS"),
    case("threat.robust_accuracy", lazy(lambda: ((net(), x(), y()), dict(restarts=0))), E, "restarts must be"),
    case("threat.robust_accuracy", lazy(lambda: ((net(), x(), y()), dict(steps=10**9))), E, "MAX_STEPS"),
    case("threat.robust_accuracy", lazy(lambda: ((net(), x(), y()), dict(seed=-1))), E, "seed must be a non-negative"),
    case("threat.robust_accuracy", lazy(lambda: ((net(), x(), y()), dict(seed=1.5))), E, "seed must be a non-negative"),
    case("threat.robust_accuracy", lazy(lambda: ((net(), x() * 4 - 2, y()), {})), E, "outside the clamp range"),
    case("threat.robust_accuracy", lazy(lambda: ((net(), x(5, 63), y()), {})), E, "64 features"),
    case(
        "threat.robust_accuracy",
        lazy(lambda: ((net(), x(dtype=torch.float32), y()), {})),
        T,
        "float64 but x is float32",
    ),
    case("threat.robust_accuracy", lazy(lambda: ((net(), x(), y() + 20), {})), E, "10 classes"),
    # --- data
    case(
        "data.load_npz",
        lazy(lambda: ((npz_xy("float-labels", y_=np.arange(40) % 4 + 0.5),), {})),
        E,
        r"not whole numbers .*not truncated",
    ),
    case(
        "data.load_npz",
        lazy(lambda: ((npz_xy("nan-labels", y_=np.where(np.arange(40) == 3, np.nan, np.arange(40) % 4)),), {})),
        E,
        "not whole numbers",
    ),
    case(
        "data.load_npz",
        lazy(lambda: ((npz_xy("minus-one", y_=np.arange(40) % 4 - 1),), {})),
        E,
        r"10 negative label\(s\) .*-1",
    ),
    case(
        "data.load_npz",
        lazy(lambda: ((npz_xy("nan-x", x_=np.where(np.eye(40, 3) > 0, np.nan, 1.0)),), {})),
        E,
        r"3 non-finite entries",
    ),
    case(
        "data.load_npz",
        lazy(lambda: ((npz_xy("inf-x", x_=np.full((40, 3), np.inf)),), {})),
        E,
        r"120 non-finite entries",
    ),
    case("data.load_npz", lazy(lambda: ((npz_xy("rows", y_=np.arange(39) % 4),), {})), E, "x has 40 rows but y has 39"),
    case("data.load_npz", lazy(lambda: ((npz_xy("one-class", y_=np.zeros(40, int)),), {})), E, "at least 2"),
    case(
        "data.load_npz",
        lazy(lambda: ((npz_xy("gap", y_=(np.arange(40) % 2) * 5),), {})),
        E,
        r"class\(es\) 1, 2, 3, 4 have no examples",
    ),
    case("data.load_npz", lazy(lambda: ((npz_xy("y2d", y_=np.eye(40, 4)),), {})), E, r"shape \(N,\)"),
    case(
        "data.load_npz", lazy(lambda: ((npz_xy("str-y", y_=np.array(["a", "b"] * 20)),), {})), E, "integer class labels"
    ),
    case("data.load_npz", lazy(lambda: ((npz_xy("x1d", x_=np.zeros(40)),), {})), E, "one row per example"),
    case("data.load_npz", lazy(lambda: ((npz_xy("tiny", n=2, y_=np.array([0, 1])),), {})), E, "too few"),
    case("data.load_npz", lazy(lambda: ((tmp() / "missing.npz",), {})), FileNotFoundError, "does not download"),
    case("data.load_npz", lazy(lambda: ((npz("keys", inputs=np.zeros(3)),), {})), E, "'x' and 'y'"),
    case("data.load_npz", lazy(lambda: ((text_file(),), {})), E, "could not be read as an .npz"),
    case("data.load_npz", lazy(lambda: ((npz_xy("ok"),), dict(test_size=0))), E, "test_size must lie"),
    case("data.load_npz", lazy(lambda: ((npz_xy("ok"),), dict(seed=-1))), E, "seed must be"),
    case("data.load_npz", lazy(lambda: ((npz_xy("ok"),), dict(dtype="int8"))), E, "dtype must be"),
    case("data.load_npz", A(123), T, "path must be a str"),
    case("data.load_digits", A(test_size=1.5), E, "test_size must lie strictly between 0 and 1"),
    case("data.load_digits", A(test_size=True), E, "bool"),
    case("data.load_digits", A(seed=1.5), E, "seed must be a non-negative integer"),
    case("data.load_digits", A(seed=True), E, "bool"),
    case("data.load_digits", A(dtype="float16"), E, "dtype must be 'float32' or 'float64'"),
    case("data.load_digits", A(dtype=[1]), E, "dtype must be"),
    case("data.load_digits", A(image="yes"), T, "image must be True or False"),
    case("data.load_digits", A(scale="pixels"), E, "scale must be 'unit'"),
    case("data.load_mnist1d", A(dtype="int8"), E, "dtype must be"),
    case("data.load_mnist1d", A(image=1), T, "image must be True or False"),
    case("data.gaussian_mixture", A(3.7), E, "n must be an integer"),
    case("data.gaussian_mixture", A(True), E, "bool"),
    case("data.gaussian_mixture", A(3, classes=3), E, "too small"),
    case("data.gaussian_mixture", A(dim=0), E, "dim must be an integer >= 1"),
    case("data.gaussian_mixture", A(classes=1), E, "classes >= 2"),
    case("data.gaussian_mixture", A(separation="far"), E, "separation must be a finite non-negative number"),
    case("data.gaussian_mixture", A(separation=float("nan")), E, "separation"),
    case("data.gaussian_mixture", A(test_size=0.0), E, "test_size"),
    case("data.gaussian_mixture", A(seed=-3), E, "seed"),
    case("data.gaussian_mixture", A(dtype=torch.int64), E, "dtype"),
    case("data.Split", lazy(lambda: ((), split_parts(y_train=torch.zeros(6)))), T, "integer labels"),
    case("data.Split", lazy(lambda: ((), split_parts(num_classes=1))), E, "num_classes must be >= 2"),
    case("data.Split", lazy(lambda: ((), split_parts(y_train=torch.arange(6)))), E, "labels outside"),
    case("data.Split", lazy(lambda: ((), split_parts(x_test=x(2, 4)))), E, "different input shapes"),
    case("data.Split.to", lazy(lambda: ((data.Split(**split_parts()),), dict(dtype=torch.int64))), E, "dtype must be"),
    case("data.Split.to", lazy(lambda: ((data.Split(**split_parts()),), dict(device=3))), T, "device must be"),
    # --- models
    case("models.mlp", A(0), E, "in_features must be an integer >= 1"),
    case("models.mlp", A(64.0), E, "in_features must be an integer"),
    case("models.mlp", A(64, 128), E, "hidden must be a sequence of positive integers"),
    case("models.mlp", A(64, (16, 0)), E, "hidden must be a sequence"),
    case("models.mlp", A(64, (16,), 1), E, "num_classes must be an integer >= 2"),
    case("models.mlp", A(64, (16,), True), E, "bool"),
    case("models.cnn", A((8, 8)), E, r"in_shape must be \(channels, height, width\)"),
    case("models.cnn", A((1, 8, 8), (16, -1)), E, "channels must be a sequence"),
    case("models.cnn", A((1, 8, 8), ()), E, "at least one convolution"),
    case("models.cnn", A((1, 8, 8), hidden=0), E, "hidden must be an integer >= 1"),
    case("models.cnn", A((1, 1, 1)), E, "too small"),
    case("models.cnn", A((1, 8, 8.5)), E, "in_shape"),
    case("models.cnn1d", A(length=0), E, "length must be an integer >= 1"),
    case("models.cnn1d", A(pool=True), E, "pool must be a number, got the bool"),
    case("models.cnn1d", A(channels=32), E, "channels must be a sequence"),
    case(
        "models.check_piecewise_linear",
        lazy(lambda: ((seq(nn.LeakyReLU()),), {})),
        models.NotPiecewiseLinearError,
        r"'1' \(LeakyReLU\) is piecewise linear but not supported.*gates",
    ),
    case(
        "models.check_piecewise_linear",
        lazy(lambda: ((seq(nn.ReLU6()),), {})),
        models.NotPiecewiseLinearError,
        "ReLU6.*not supported",
    ),
    case(
        "models.check_piecewise_linear",
        lazy(lambda: ((seq(nn.Hardtanh()),), {})),
        models.NotPiecewiseLinearError,
        "Hardtanh.*not supported",
    ),
    case(
        "models.check_piecewise_linear", lazy(lambda: ((seq(nn.PReLU()),), {})), models.NotPiecewiseLinearError, "PReLU"
    ),
    case(
        "models.check_piecewise_linear",
        lazy(lambda: ((seq(nn.Tanh()),), {})),
        models.NotPiecewiseLinearError,
        r"\(Tanh\) is not piecewise linear",
    ),
    case(
        "models.check_piecewise_linear",
        lazy(lambda: ((seq(nn.Softplus()),), {})),
        models.NotPiecewiseLinearError,
        "Softplus",
    ),
    case(
        "models.check_piecewise_linear", lazy(lambda: ((seq(nn.GELU()),), {})), models.NotPiecewiseLinearError, "GELU"
    ),
    case(
        "models.check_piecewise_linear",
        lazy(lambda: ((seq(nn.Sigmoid()),), {})),
        models.NotPiecewiseLinearError,
        "Sigmoid",
    ),
    case(
        "models.check_piecewise_linear",
        lazy(lambda: ((seq(nn.LayerNorm(4)),), {})),
        models.NotPiecewiseLinearError,
        "LayerNorm",
    ),
    case(
        "models.check_piecewise_linear",
        lazy(lambda: ((seq(Custom()),), {})),
        models.NotPiecewiseLinearError,
        r"'1' \(Custom\) is a custom module",
    ),
    case(
        "models.check_piecewise_linear",
        lazy(lambda: ((bn(True),), {})),
        models.NotPiecewiseLinearError,
        "training mode",
    ),
    case(
        "models.check_piecewise_linear",
        lazy(lambda: ((seq(nn.Dropout(0.5)),), {})),
        models.NotPiecewiseLinearError,
        "Dropout.*training mode",
    ),
    case(
        "models.check_piecewise_linear",
        lazy(lambda: ((seq(nn.ReLU(inplace=True)),), {})),
        models.NotPiecewiseLinearError,
        "inplace",
    ),
    case("models.check_piecewise_linear", A(len), T, r"expected a torch\.nn\.Module"),
    case("models.num_parameters", A("model"), T, r"expects a torch\.nn\.Module"),
    case("models.fold_batchnorm", lazy(lambda: ((Custom(),), {})), T, "expects an nn.Sequential"),
    case(
        "models.fold_batchnorm", lazy(lambda: ((bn(True),), {})), models.NotPiecewiseLinearError, "eval-mode batch-norm"
    ),
    case(
        "models.fold_batchnorm",
        lazy(lambda: ((nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(4)).eval(),), {})),
        E,
        r"BatchNorm1d\(4\) follows a layer with 3 outputs",
    ),
    case("models.fold_batchnorm", lazy(lambda: ((nn.Sequential(nn.BatchNorm1d(4)).eval(),), {})), E, "directly follow"),
    # --- config
    case("config.get_device", A("gpu"), E, "'gpu' is not a device torch knows"),
    case("config.get_device", A(0), T, "prefer must be a string"),
    case("config.get_device", A("cuda"), RuntimeError, "CUDA was requested", needs_no_cuda=True),
    case("config.get_device", A("meta"), E, "not supported by advnotes"),
    case("config.seed_everything", A(-1), E, "seed must be a non-negative integer"),
    case("config.seed_everything", A(1.5), E, "seed must be a non-negative integer"),
    case("config.seed_everything", A(True), E, "bool"),
    case("config.seed_everything", A(2**40), E, "below 2\\*\\*32"),
    case("config.seed_everything", A("3"), E, "seed must be a real number"),
    case("config.setup", A(True), E, "bool"),
    case("config.setup", A(device="gpu"), E, "not a device torch knows"),
    case("config.setup", A(threads=0), E, "threads must be an integer >= 1"),
    case("config.setup", A(threads=2.0), E, "threads must be an integer"),
    case("config.synchronize", A("gpu"), E, "not a device torch knows"),
    case("config.synchronize", A(1), T, "device must be a string"),
    # --- validation helpers themselves
    case(
        "validation.check_model_input",
        lazy(lambda: ((net(), x(5, 63)), {})),
        E,
        r"the model expects float64 inputs with 64 features per example after flattening .* but got x of "
        r"shape \(5, 63\) \(float64\); reshape/flatten",
    ),
    case(
        "validation.check_model_input",
        lazy(lambda: ((nn.Linear(64, 3).double(), x(5, 63)), {})),
        E,
        r"expects float64 inputs of shape \(B, 64\)",
    ),
    case(
        "validation.check_model_input",
        lazy(lambda: ((nn.Linear(64, 3).double(), x(dtype=torch.float32)), {})),
        T,
        r"float64 but x is float32: call model\.float\(\) or x\.double\(\)",
    ),
    case(
        "validation.check_model_input",
        lazy(lambda: ((lambda t: t @ torch.ones(3, 2, dtype=t.dtype), x()), {})),
        E,
        "failed on x of shape",
    ),
    case("validation.check_model_input", lazy(lambda: ((lambda t: "logits", x()), {})), T, "must return a tensor"),
    case("validation.check_model_input", lazy(lambda: ((net(), x()), dict(probe=0))), E, "probe"),
    case("validation.check_inputs", A([1.0, 2.0]), T, r"torch\.as_tensor"),
    case("validation.check_labels", lazy(lambda: ((y(),), dict(batch=5, num_classes=3))), E, "3 classes"),
    case("validation.check_labels", lazy(lambda: ((torch.tensor([True, False]),), dict(batch=2))), T, "integer"),
    case("validation.check_logits", lazy(lambda: ((torch.zeros(5),), dict(batch=5))), E, r"shape \(B, C\)"),
    case(
        "validation.check_logits", lazy(lambda: ((torch.full((2, 3), float("inf")),), dict(batch=2))), E, "non-finite"
    ),
    case(
        "validation.check_finite",
        lazy(lambda: (("t", torch.tensor([1.0, float("nan")])), {})),
        E,
        r"1 non-finite value\(s\) .* out of 2",
    ),
    case("validation.check_dtype_match", lazy(lambda: ((net(), x(dtype=torch.float32)), {})), T, "model.float()"),
    case("validation.check_positive", A("k", torch.tensor(True)), E, "bool tensor"),
    case("validation.check_positive", A("k", 1 + 2j), E, "real number"),
    case("validation.check_positive", A("k", np.array([1.0, 2.0])), E, "array of shape"),
    case("validation.check_positive", A("k", np.float64("nan")), E, "finite"),
    case("validation.check_positive", A("k", 0, integer=True), E, ">= 1"),
    case("validation.check_at_most", A("steps", 11, 10, how="ask nicely."), E, "above the limit of 10; ask nicely"),
    case("validation.check_fraction", A("f", 1.0), E, "strictly between 0 and 1"),
    case("validation.check_seed", A(np.int64(-2)), E, "non-negative"),
    case("validation.check_bool", A("b", 1), T, "True or False"),
    case("validation.check_model", A(3), T, "callable"),
]


def resolve(name: str):
    obj = advnotes
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def _origin_is_advnotes(excinfo) -> bool:
    return Path(str(excinfo.traceback[-1].path)).resolve().is_relative_to(PACKAGE_DIR)


def assert_refused(fn, build, error, match, env, monkeypatch) -> None:
    """The one check of every bad-input table: advnotes itself raises ``error`` matching ``match``, in its words."""
    for k, v in (env or {}).items():
        monkeypatch.setenv(k, v)
    args, kwargs = build()
    torch.set_num_threads(1)
    with pytest.raises(error, match=match) as excinfo:
        resolve(fn)(*args, **kwargs)
    msg = str(excinfo.value)
    for raw in RAW:
        assert raw not in msg, f"torch/NumPy wording leaked: {raw!r} in {msg!r}"
    assert _origin_is_advnotes(excinfo), f"raised outside advnotes: {excinfo.traceback[-1]}"


@pytest.mark.parametrize("fn, build, error, match, env", CASES)
def test_bad_input_is_refused_by_advnotes(fn, build, error, match, env, monkeypatch):
    assert_refused(fn, build, error, match, env, monkeypatch)


# ----------------------------------------------------------------------------- accepted inputs


def _same_attack(**odd):
    plain = attacks.pgd_linf(net(), x(), y(), eps=0.1, step_size=0.05, steps=3)
    return torch.equal(attacks.pgd_linf(net(), x(), y(), **odd), plain)


ACCEPTED = [
    (
        "attacks.pgd_linf",
        lambda: _same_attack(
            eps=torch.tensor(0.1, dtype=torch.float64), step_size=np.float64(0.05), steps=torch.tensor(3)
        ),
    ),
    (
        "attacks.gradient_ascent",
        lambda: (
            attacks.gradient_ascent(net(), x(), y(), step_size=torch.tensor(0.1), steps=np.int64(2)).shape == (5, 64)
        ),
    ),
    (
        "attacks.pgd_l2",
        lambda: (
            attacks.pgd_l2(
                net(),
                x(),
                y(),
                eps=np.float64(1.0),
                step_size=torch.tensor(0.5),
                steps=torch.tensor(2, dtype=torch.int32),
            ).shape
            == (5, 64)
        ),
    ),
    (
        "attacks.fgsm",
        lambda: attacks.fgsm(net(), x(), y(), eps=torch.tensor(0.1, dtype=torch.float64)).abs().max() <= 0.1 + 1e-12,
    ),
    (
        "attacks.random_direction",
        lambda: torch.allclose(
            attacks.random_direction(x(), norm=torch.tensor(2.0)).norm(dim=1),
            torch.full((5,), 2.0, dtype=torch.float64),
        ),
    ),
    ("attacks.loss_per_example", lambda: attacks.loss_per_example(net(), x(), y().int()).shape == (5,)),
    (
        "threat.robust_accuracy",
        lambda: (
            0.0
            <= threat.robust_accuracy(net(), x(), y(), restarts=torch.tensor(2), steps=np.int64(2), seed=np.int64(1))
            <= 1.0
        ),
    ),
    (
        "threat.training_attack",
        lambda: callable(threat.training_attack("pgd", eps=torch.tensor(0.1), steps=np.int64(2))),
    ),
    ("models.mlp", lambda: models.mlp(np.int64(64), (np.int64(8),), torch.tensor(10))(x().float()).shape == (5, 10)),
    (
        "models.cnn",
        lambda: (
            models.cnn(torch.Size([1, 8, 8]), [np.int32(2)], 10, hidden=np.int64(4))(torch.zeros(2, 1, 8, 8)).shape
            == (2, 10)
        ),
    ),
    (
        "models.cnn1d",
        lambda: models.cnn1d(np.int64(16), channels=[4], hidden=(np.int16(3),))(torch.zeros(2, 1, 16)).shape == (2, 10),
    ),
    (
        "models.check_piecewise_linear",
        lambda: all(
            models.check_piecewise_linear(m) is m
            for m in (
                nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(1), nn.Flatten()),
                bn(False),
                seq(nn.Dropout(0.5)).eval(),
                seq(nn.ReLU(), nn.Identity()),
                seq(nn.Dropout2d(0.0)),
            )
        ),
    ),
    ("models.fold_batchnorm", lambda: isinstance(models.fold_batchnorm(bn(False)), nn.Sequential)),
    ("models.num_parameters", lambda: models.num_parameters(nn.Linear(2, 3)) == 9),
    (
        "data.load_npz",
        lambda: (
            lambda s: (
                s.num_classes == 4
                and s.y_train.dtype == torch.long
                and set(torch.cat([s.y_train, s.y_test]).tolist()) == {0, 1, 2, 3}
            )
        )(data.load_npz(npz_xy("integral-floats", y_=(np.arange(40) % 4).astype(np.float32)), seed=np.int64(2))),
    ),
    ("data.load_npz", lambda: data.load_npz(npz_xy("bool-labels", y_=np.arange(40) % 2 == 0)).num_classes == 2),
    (
        "data.gaussian_mixture",
        lambda: (
            data.gaussian_mixture(
                np.int64(30), dim=torch.tensor(2), classes=np.int8(3), separation=torch.tensor(1.0)
            ).num_classes
            == 3
        ),
    ),
    ("data.load_digits", lambda: data.load_digits(test_size=np.float32(0.5), seed=np.uint8(3)).x_test.shape[0] > 800),
    ("data.Split", lambda: data.Split(**split_parts()).num_classes == 2),
    ("data.Split.to", lambda: data.Split(**split_parts()).to(dtype="float64").x_train.dtype == torch.float64),
    ("config.seed_everything", lambda: config.seed_everything(np.int64(3)) is None),
    ("config.setup", lambda: config.setup(np.int32(1), device="cpu", threads=np.int64(1)).seed == 1),
    ("config.get_device", lambda: config.get_device(torch.device("cpu")).type == "cpu"),
    ("config.synchronize", lambda: config.synchronize("cpu") is None),
    (
        "validation.check_positive",
        lambda: (
            validation.check_positive("n", torch.tensor(5), integer=True) == 5
            and type(validation.check_positive("s", np.float32(0.5))) is float
        ),
    ),
    ("validation.check_seed", lambda: validation.check_seed(torch.tensor(7)) == 7),
    ("validation.check_bool", lambda: validation.check_bool("b", np.bool_(True)) is True),
    ("validation.check_model_input", lambda: validation.check_model_input(net(), x()).shape == (1, 10)),
]


@pytest.mark.parametrize("fn, check", ACCEPTED, ids=[f"{name}-{i}" for i, (name, _) in enumerate(ACCEPTED)])
def test_odd_but_valid_input_is_accepted(fn, check):
    torch.set_num_threads(1)
    assert resolve(fn) is not None and check()


# ----------------------------------------------------------------------------- every public function is covered


def public_functions() -> set[str]:
    names = set()
    for mod in MODULES:
        short = mod.__name__.rsplit(".", 1)[1]
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
    return names


def covered_elsewhere() -> set[str]:
    """Names with cases (or an EXEMPT reason) in a topic's own ``tests/test_bad_input_<topic>.py``."""
    import importlib

    names = set()
    for path in sorted(Path(__file__).parent.glob("test_bad_input_*.py")):
        mod = importlib.import_module(path.stem)
        names |= {p.values[0] for p in getattr(mod, "CASES", [])} | set(getattr(mod, "EXEMPT", {}))
    return names


def test_every_public_function_is_in_the_table():
    refused = {p.values[0] for p in CASES}
    accepted = {name for name, _ in ACCEPTED}
    missing = sorted(public_functions() - refused - set(EXEMPT) - covered_elsewhere())
    assert not missing, f"public functions without bad-input cases in CASES (or a reason in EXEMPT): {missing}"
    stale = sorted((refused | accepted | set(EXEMPT)) - public_functions())
    assert not stale, f"table entries that are not public functions of the modules: {stale}"


# ----------------------------------------------------------------------------- models in training mode


def bn_net() -> nn.Sequential:
    torch.manual_seed(0)
    m = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 10)).double()
    m(x(32))  # populate the running statistics
    return m.train()


ATTACKS = {
    "gradient_ascent": lambda m: attacks.gradient_ascent(m, x(), y(), step_size=0.1, steps=3),
    "gradient_ascent_graph": lambda m: attacks.gradient_ascent(m, x(), y(), step_size=0.1, steps=2, create_graph=True),
    "pgd_linf": lambda m: attacks.pgd_linf(m, x(), y(), eps=0.1, step_size=0.05, steps=3, clamp=(0, 1)),
    "pgd_l2": lambda m: attacks.pgd_l2(
        m, x(), y(), eps=1.0, step_size=0.5, steps=3, random_start=True, generator=torch.Generator().manual_seed(0)
    ),
    "fgsm": lambda m: attacks.fgsm(m, x(), y(), eps=0.1),
    "loss_per_example": lambda m: attacks.loss_per_example(m, x(), y()),
    "robust_accuracy": lambda m: torch.tensor(threat.robust_accuracy(m, x(), y(), steps=2, restarts=2)),
    "training_attack": lambda m: threat.training_attack("pgd", steps=2)(m, x(), y()),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attacks_leave_batchnorm_statistics_and_the_mode_alone(name):
    torch.set_num_threads(1)
    m = bn_net()
    m[1].eval()  # a mixed state must come back as it was
    before = {k: v.clone() for k, v in m.state_dict().items()}
    flags = [mod.training for mod in m.modules()]
    out = ATTACKS[name](m)
    assert all(torch.equal(v, m.state_dict()[k]) for k, v in before.items()), "the attack changed the model"
    assert [mod.training for mod in m.modules()] == flags
    # the attack saw the eval-mode function
    m.eval()
    assert torch.equal(ATTACKS[name](m), out)


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attacks_on_dropout_models_are_deterministic(name):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    m = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 10)).double().train()
    torch.manual_seed(1)
    a = ATTACKS[name](m)
    torch.manual_seed(2)
    b = ATTACKS[name](m)
    assert torch.equal(a, b) and m.training and m[3].training


def test_mode_is_restored_when_the_attack_raises():
    m = bn_net()
    with pytest.raises(ValueError, match="10 classes"):
        attacks.pgd_linf(m, x(), y() + 10, eps=0.1, step_size=0.1, steps=1)
    assert all(mod.training for mod in m.modules())
    with pytest.raises(ValueError, match="64 features"):
        threat.robust_accuracy(m, x(5, 60), y())
    assert all(mod.training for mod in m.modules())


def test_eval_mode_restores_each_flag_even_on_error():
    m = bn_net()
    m[2].eval()
    with pytest.raises(KeyError), validation.eval_mode(m):
        assert not any(mod.training for mod in m.modules())
        raise KeyError("boom")
    assert [mod.training for mod in m.modules()] == [True, True, True, False, True, True]
    fn = lambda t: t  # noqa: E731
    with validation.eval_mode(fn) as got:
        assert got is fn


def test_max_steps_can_be_raised(monkeypatch):
    monkeypatch.setattr(attacks, "MAX_STEPS", 2)
    with pytest.raises(ValueError, match=r"steps=3 is above advnotes\.attacks\.MAX_STEPS = 2"):
        attacks.pgd_linf(net(), x(), y(), eps=0.1, step_size=0.1, steps=3)
    monkeypatch.setattr(attacks, "MAX_STEPS", 3)
    assert attacks.pgd_linf(net(), x(), y(), eps=0.1, step_size=0.1, steps=3).shape == (5, 64)
    monkeypatch.setattr(threat, "MAX_RESTARTS", 1)
    with pytest.raises(ValueError, match="MAX_RESTARTS"):
        threat.robust_accuracy(net(), x(), y(), restarts=2, steps=3)


def test_model_errors_keep_the_original_chained():
    with pytest.raises(ValueError) as excinfo:
        attacks.pgd_linf(net(), x(5, 63), y(), eps=0.1, step_size=0.1, steps=1)
    assert isinstance(excinfo.value.__cause__, RuntimeError)
    assert "mat1 and mat2" in str(excinfo.value.__cause__) and "mat1" not in str(excinfo.value)


def test_errors_raised_by_advnotes_models_pass_through_unchanged():
    from advnotes.linear_regions import FrozenGates

    frozen = FrozenGates(net(), x(3))
    with pytest.raises(ValueError, match="FrozenGates was built for inputs of shape"):
        attacks.pgd_linf(frozen, x(5), y(), eps=0.1, step_size=0.1, steps=1)
    assert attacks.pgd_linf(frozen, x(3), y(3), eps=0.1, step_size=0.1, steps=1).shape == (3, 64)


@pytest.mark.gpu
def test_device_mismatches_are_named():
    model = net().to("cuda")
    try:
        with pytest.raises(ValueError, match="the model is on cuda:0 but x is on cpu"):
            attacks.pgd_linf(model, x(), y(), eps=0.1, step_size=0.1, steps=1)
        with pytest.raises(ValueError, match="y is on cpu but the inputs are on cuda:0"):
            attacks.pgd_linf(model, x().cuda(), y(), eps=0.1, step_size=0.1, steps=1)
        with pytest.raises(ValueError, match="clamp's low bound is on cpu"):
            attacks.pgd_linf(model, x().cuda(), y().cuda(), eps=0.1, step_size=0.1, steps=1, clamp=(torch.zeros(64), 1))
        with pytest.raises(ValueError, match="visible"):
            config.get_device(f"cuda:{torch.cuda.device_count()}")
        assert attacks.pgd_linf(model, x().cuda(), y().cuda(), eps=0.1, step_size=0.1, steps=1).is_cuda
    finally:
        net().to("cpu")
