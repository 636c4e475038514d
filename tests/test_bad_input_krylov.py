"""Bad input never passes silently: advnotes.krylov (the machinery of ``test_bad_input.py``).

``CASES`` and ``EXEMPT`` cover every public name of :mod:`advnotes.krylov`; the package-wide coverage
check (``test_bad_input_phase2.test_every_public_function_of_every_module_is_covered``) counts them once
it imports this file's tables.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_bad_input import A, E, T, assert_refused, case, lazy

from advnotes import krylov

N = 6


def mat() -> torch.Tensor:
    return torch.diag(torch.arange(1.0, N + 1, dtype=torch.float64))


def dense() -> krylov.DenseOperator:
    return krylov.DenseOperator(mat())


def fn_op(fn, **kw) -> krylov.LinearOperator:
    return krylov.LinearOperator(fn, N, symmetric=kw.pop("symmetric", True), **kw)


def nan_op() -> krylov.LinearOperator:
    calls = [0]

    def mv(v):
        calls[0] += 1
        return mat() @ v * (float("nan") if calls[0] == 2 else 1.0)

    return fn_op(mv)


def vec(n: int = N, dtype=torch.float64) -> torch.Tensor:
    return torch.ones(n, dtype=dtype)


CASES = [
    # --- operators
    case("krylov.DenseOperator", A(np.eye(3)), T, r"torch\.as_tensor"),
    case("krylov.DenseOperator", lazy(lambda: ((torch.ones(3, 4, dtype=torch.float64),), {})), E, "must be square"),
    case("krylov.DenseOperator", lazy(lambda: ((torch.eye(3, dtype=torch.int64),), {})), T, "real floating"),
    case("krylov.DenseOperator", lazy(lambda: ((torch.eye(3) * float("nan"),), {})), E, "non-finite"),
    case("krylov.DenseOperator", lazy(lambda: ((torch.triu(torch.ones(3, 3)),), {"symmetric": True})), E, "symmetrise"),
    case("krylov.DenseOperator", lazy(lambda: ((torch.eye(3),), {"symmetric": 1})), T, "True or False"),
    case("krylov.DenseOperator.matvec", lazy(lambda: ((dense(), vec(5)), {})), E, r"shape \(6,\)"),
    case("krylov.DenseOperator.matvec", lazy(lambda: ((dense(), vec(dtype=torch.float32)), {})), T, r"\.to\("),
    case("krylov.LinearOperator", A("A @ v", N, symmetric=True), T, "matvec must be a callable"),
    case("krylov.LinearOperator", lazy(lambda: ((lambda v: v, 0), {"symmetric": True})), E, "size must be"),
    case("krylov.LinearOperator", lazy(lambda: ((lambda v: v, N), {"symmetric": "yes"})), T, "True or False"),
    case(
        "krylov.LinearOperator", lazy(lambda: ((lambda v: v, N), {"symmetric": True, "dtype": np.float64})), T, "dtype"
    ),
    case("krylov.LinearOperator", lazy(lambda: ((lambda v: v, N), {"symmetric": True, "device": "gpu7"})), E, "device"),
    case("krylov.LinearOperator.matvec", lazy(lambda: ((fn_op(lambda v: v[:3]), vec()), {})), E, "output must have"),
    case("krylov.LinearOperator.matvec", lazy(lambda: ((fn_op(lambda v: v.numpy()), vec()), {})), T, "return a torch"),
    case("krylov.LinearOperator.matvec", lazy(lambda: ((fn_op(lambda v: v), [1.0] * N), {})), T, "torch.Tensor"),
    # --- the solver
    case("krylov.top_eig", A(np.eye(3)), T, "wrap a matrix in DenseOperator"),
    case("krylov.top_eig", lazy(lambda: ((dense(),), {"k": N})), E, "must be smaller than the operator's size"),
    case("krylov.top_eig", lazy(lambda: ((dense(),), {"k": 0})), E, "k must be an integer >= 1"),
    case("krylov.top_eig", lazy(lambda: ((dense(),), {"tol": -1e-6})), E, "tol must be > 0"),
    case("krylov.top_eig", lazy(lambda: ((dense(),), {"method": "eigh"})), E, "method must be one of"),
    case("krylov.top_eig", lazy(lambda: ((dense(),), {"k": 2, "method": "power"})), E, "use k=1"),
    case("krylov.top_eig", lazy(lambda: ((dense(),), {"max_matvec": 10**7})), E, "MAX_MATVEC"),
    case("krylov.top_eig", lazy(lambda: ((dense(),), {"v0": vec(3)})), E, r"v0 must have shape \(6,\)"),
    case("krylov.top_eig", lazy(lambda: ((dense(),), {"v0": vec() * 0})), E, "zero vector"),
    case("krylov.top_eig", lazy(lambda: ((dense(),), {"seed": -1})), E, "seed must be a non-negative"),
    case("krylov.top_eig", lazy(lambda: ((dense(),), {"callback": "print"})), T, "callback must be None or a"),
    case("krylov.top_eig", lazy(lambda: ((dense(),), {"callback": print, "method": "arpack"})), E, "not available"),
    case("krylov.top_eig", lazy(lambda: ((nan_op(),), {})), FloatingPointError, "product 2 of the operator"),
    case("krylov.top_eig", lazy(lambda: ((nan_op(),), {"method": "arpack"})), FloatingPointError, "product 2"),
    case("krylov.top_eig", lazy(lambda: ((fn_op(lambda v: v[:3]),), {})), E, "output must have shape"),
    case("krylov.top_eig", lazy(lambda: ((dense(),), {"method": "power", "max_matvec": 1})), RuntimeError, "max_ma"),
    case(
        "krylov.top_eig", lazy(lambda: ((dense(),), {"k": 4, "method": "arpack", "max_matvec": 2})), RuntimeError, "ARP"
    ),
]

#: Public names of advnotes.krylov that need no bad-input case, and why.
EXEMPT = {
    "krylov.Operator": "a typing.Protocol (the interface top_eig expects); it is not called",
    "krylov.Operator.matvec": "the Protocol's stub",
    "krylov.KrylovInfo": "a frozen record returned by top_eig, not built by users",
    "krylov.NotConvergedError": "an exception class",
}


@pytest.mark.parametrize("fn, build, error, match, env", CASES)
def test_bad_input_is_refused_by_advnotes(fn, build, error, match, env, monkeypatch):
    assert_refused(fn, build, error, match, env, monkeypatch)


def test_every_public_name_of_krylov_is_in_the_table():
    import inspect

    names = set()
    for name in dir(krylov):
        obj = getattr(krylov, name)
        if name.startswith("_") or not (inspect.isfunction(obj) or inspect.isclass(obj)):
            continue
        if getattr(obj, "__module__", None) != krylov.__name__:
            continue
        names.add(f"krylov.{name}")
        if inspect.isclass(obj) and not issubclass(obj, BaseException):
            names |= {
                f"krylov.{name}.{m}" for m, f in vars(obj).items() if not m.startswith("_") and inspect.isfunction(f)
            }
    covered = {p.values[0] for p in CASES} | set(EXEMPT)
    assert names == covered, (sorted(names - covered), sorted(covered - names))
