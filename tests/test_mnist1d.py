"""MNIST-1D (advnotes.data.load_mnist1d) and the 1-d CNN (advnotes.models.cnn1d).

The loader must be offline, deterministic and leave the global random streams alone;
the 1-d CNN with max-pooling must be piecewise linear, with an exact closed-form input
Hessian and a frozen-gate network that is affine in the perturbation.
"""

from __future__ import annotations

import random
import socket
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from advnotes import data as data_module
from advnotes.curvature import input_hessian, input_hessian_eig
from advnotes.data import load_mnist1d
from advnotes.linear_regions import FrozenGates, count_gate_flips, gate_pattern, local_linear_map
from advnotes.models import check_piecewise_linear, cnn1d, num_parameters

pytest.importorskip("mnist1d")

EPS64 = torch.finfo(torch.float64).eps

# ----------------------------------------------------------------------------- the loader


def test_load_mnist1d_shapes_dtypes_classes():
    d = load_mnist1d()
    assert d.x_train.shape == (4000, 40) and d.x_test.shape == (1000, 40)
    assert d.y_train.shape == (4000,) and d.y_test.shape == (1000,)
    assert d.x_train.dtype == torch.float32 and d.y_train.dtype == torch.long
    assert d.num_classes == 10 and d.input_shape == (40,) and d.num_features == 40
    for y in (d.y_train, d.y_test):
        assert set(y.tolist()) == set(range(10))
    assert torch.bincount(d.y_train, minlength=10).min() >= 350  # roughly balanced (400 each)

    img = load_mnist1d(image=True, dtype="float64")
    assert img.x_train.shape == (4000, 1, 40) and img.x_test.shape == (1000, 1, 40)
    assert img.x_train.dtype == torch.float64 and img.input_shape == (1, 40)
    assert torch.equal(img.x_train.reshape(4000, 40).float(), d.x_train)
    assert torch.equal(img.y_test, d.y_test)

    # Standardised by the generator over the whole set (train + test, all positions), kept as is.
    x_all = torch.cat([img.x_train, img.x_test]).reshape(-1)
    assert abs(float(x_all.mean())) < 1e-12
    assert abs(float(x_all.std(correction=0)) - 1.0) < 1e-12

    with pytest.raises(ValueError, match="dtype"):
        load_mnist1d(dtype="float16")


def test_load_mnist1d_is_deterministic_and_returns_fresh_tensors():
    a, b = load_mnist1d(), load_mnist1d()
    for name in ("x_train", "y_train", "x_test", "y_test"):
        assert torch.equal(getattr(a, name), getattr(b, name))
    a.x_train.zero_()  # the caller owns its tensors: the cache is not affected
    assert not torch.equal(load_mnist1d().x_train, a.x_train)


def test_load_mnist1d_leaves_the_global_random_states_alone():
    """mnist1d's make_dataset seeds NumPy's and Python's global generators; load_mnist1d restores them."""
    np.random.seed(123)  # noqa: NPY002
    random.seed(456)
    np_before, py_before = np.random.get_state(), random.getstate()  # noqa: NPY002
    data_module.mnist1d_arrays.cache_clear()  # force the generator to run
    load_mnist1d()
    np_after, py_after = np.random.get_state(), random.getstate()  # noqa: NPY002
    assert np_after[0] == np_before[0] and np.array_equal(np_after[1], np_before[1])
    assert np_after[2:] == np_before[2:]
    assert py_after == py_before


def test_load_mnist1d_opens_no_socket_and_writes_no_file(monkeypatch, tmp_path):
    cached = load_mnist1d()
    attempts = []

    def refuse(*args, **kwargs):  # recorded too: mnist1d's get_dataset swallows any error with a bare except
        attempts.append(args)
        raise AssertionError("load_mnist1d tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.chdir(tmp_path)  # mnist1d's get_dataset would write ./mnist1d_data.pkl
    data_module.mnist1d_arrays.cache_clear()
    d = load_mnist1d()  # generated afresh, offline
    assert attempts == [] and list(tmp_path.iterdir()) == []
    for name in ("x_train", "y_train", "x_test", "y_test"):  # and the same as before: deterministic
        assert torch.equal(getattr(d, name), getattr(cached, name))


def test_load_mnist1d_without_the_package_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "mnist1d", None)
    monkeypatch.setitem(sys.modules, "mnist1d.data", None)
    data_module.mnist1d_arrays.cache_clear()
    with pytest.raises(ImportError, match="pip install mnist1d"):
        load_mnist1d()
    data_module.mnist1d_arrays.cache_clear()  # failures are not cached, but be explicit


# ----------------------------------------------------------------------------- the 1-d CNN


def test_cnn1d_default_architecture_is_piecewise_linear():
    torch.manual_seed(0)
    m = cnn1d()
    assert check_piecewise_linear(m) is m
    kinds = [type(layer) for layer in m]
    assert kinds == [nn.Conv1d, nn.ReLU, nn.MaxPool1d, nn.Conv1d, nn.ReLU, nn.MaxPool1d, nn.Flatten, nn.Linear]
    assert m(torch.randn(3, 1, 40)).shape == (3, 10)
    assert m[-1].in_features == 32 * 10  # 40 -> pool -> 20 -> pool -> 10 positions
    assert num_parameters(m) == (1 * 5 * 32 + 32) + (32 * 5 * 32 + 32) + (320 * 10 + 10)


def test_cnn1d_knobs():
    torch.manual_seed(0)
    m = cnn1d(30, in_channels=2, channels=(4, 5, 6), kernel_size=3, pool=1, hidden=(7, 8), num_classes=3)
    check_piecewise_linear(m)
    assert not any(isinstance(layer, nn.MaxPool1d) for layer in m)
    assert m(torch.randn(2, 2, 30)).shape == (2, 3)
    m = cnn1d(40, kernel_size=4, pool=3)  # even kernel: the length shrinks by one per stage
    assert m(torch.randn(2, 1, 40)).shape == (2, 10)
    assert m[-1].in_features == 32 * ((39 // 3 - 1) // 3)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(length=0), "length"),
        (dict(length=40.0), "length"),
        (dict(in_channels=0), "in_channels"),
        (dict(kernel_size=0), "kernel_size"),
        (dict(pool=0), "pool"),
        (dict(pool=True), "pool"),
        (dict(num_classes=1), "num_classes"),
        (dict(channels=()), "at least one"),
        (dict(channels=32), "channels"),
        (dict(channels=(32, 0)), "channels"),
        (dict(hidden=(16, -1)), "hidden"),
        (dict(length=8, channels=(4, 4, 4, 4), pool=2), "too short"),
        (dict(length=1, kernel_size=4, pool=1), "too short"),
        (dict(length=1), "too short"),
    ],
)
def test_cnn1d_rejects_bad_knobs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        cnn1d(**kwargs)


# ----------------------------------------------------------------------------- exact curvature with 1-d pooling


@pytest.fixture()
def cnn_and_batch():
    """A small float64 1-d CNN with max-pooling and a hidden layer, and a few MNIST-1D signals."""
    torch.manual_seed(0)
    model = cnn1d(channels=(4, 6), kernel_size=5, pool=2, hidden=(8,)).double().eval()
    with torch.no_grad():
        model[-1].weight.mul_(20.0)  # confident, non-uniform softmax: a Hessian well away from 0
    d = load_mnist1d(image=True, dtype="float64")
    return model, d.x_test[:5].clone(), d.y_test[:5].clone()


def _pool_choices(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The argmax of every max-pool window, over all MaxPool1d modules, flattened per example."""
    choices: list[torch.Tensor] = []

    def hook(mod, inp, out):
        _, idx = F.max_pool1d(inp[0], mod.kernel_size, mod.stride, mod.padding, mod.dilation, return_indices=True)
        choices.append(idx.reshape(idx.shape[0], -1))

    hooks = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.MaxPool1d)]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return torch.cat(choices, dim=1)


def test_input_hessian_of_a_pooling_cnn1d_matches_torch_func(cnn_and_batch):
    """Oracle: torch.func.hessian (forward-over-reverse autodiff) of the per-example CE loss.

    Both sides are exact on the linear region (ReLU and max have zero second derivative
    there), so they differ by float64 round-off only: sums of O(n) products of the same
    W entries. Observed: <= 5 eps relative to the largest entry; tolerance 100 eps (~2e-14).
    """
    model, x, y = cnn_and_batch
    g, H = input_hessian(model, x, y)
    n = x[0].numel()
    assert g.shape == (5, n) and H.shape == (5, n, n)
    for i in range(x.shape[0]):

        def loss(v, i=i):
            return F.cross_entropy(model(v.reshape(1, *x.shape[1:])), y[i : i + 1])

        xi = x[i].reshape(-1)
        H_ref = torch.func.hessian(loss)(xi).detach()
        g_ref = torch.func.grad(loss)(xi).detach()
        scale = float(H_ref.abs().max())
        assert scale > 1e-3  # a real, non-trivial Hessian
        torch.testing.assert_close(H[i], H_ref, rtol=0, atol=100 * EPS64 * scale)
        torch.testing.assert_close(g[i], g_ref, rtol=0, atol=100 * EPS64 * float(g_ref.abs().max()))


def test_input_hessian_eig_of_a_pooling_cnn1d_matches_dense_eigvalsh(cnn_and_batch):
    """Oracle: the dense n x n eigendecomposition of the closed-form Hessian.

    Eigenvalues from either route carry a backward error of a few n eps ||H||_2
    (SVD of the C x n factor vs. dense symmetric eigensolver), so the tolerance is
    10 n eps lambda_max (~1e-13 relative; observed <= 5 eps); the n - C eigenvalues
    beyond the top C are 0.
    """
    model, x, y = cnn_and_batch
    _, H = input_hessian(model, x, y)
    eigvals, eigvecs = input_hessian_eig(model, x, y)
    B, n, C = eigvecs.shape
    assert (B, n, C) == (5, 40, 10) and eigvals.shape == (5, 10)
    dense = torch.linalg.eigvalsh(H).flip(-1)  # descending
    for i in range(B):
        tol = 10 * n * EPS64 * float(dense[i, 0])
        torch.testing.assert_close(eigvals[i], dense[i, :C], rtol=0, atol=tol)
        assert float(dense[i, C:].abs().max()) <= tol  # rank H <= C - 1
        assert float(eigvals[i, -1]) <= tol  # the softmax curvature kills one direction
        rebuilt = eigvecs[i] @ torch.diag(eigvals[i]) @ eigvecs[i].T
        torch.testing.assert_close(rebuilt, H[i], rtol=0, atol=tol)
        torch.testing.assert_close(eigvecs[i].T @ eigvecs[i], torch.eye(C, dtype=torch.float64), rtol=0, atol=1e-12)


# ----------------------------------------------------------------------------- frozen gates with 1-d pooling


def test_frozen_gates_with_1d_pooling_are_exact_and_affine(cnn_and_batch):
    """FrozenGates(model, x) equals the model at x, is affine in delta everywhere, and equals
    the model at x + delta while no ReLU gate and no max-pool choice flips.

    Oracle for the slope: W = dz/dx from local_linear_map. f(x + d) - f(x) and W d agree
    to float64 round-off of sums over the network, so the tolerance is 100 eps times the
    size of the terms summed (|W| |d| and |z|); observed <= 2 eps.
    """
    model, x, y = cnn_and_batch
    frozen = FrozenGates(model, x)
    with torch.no_grad():
        z = model(x)
        assert torch.equal(frozen(x), z)  # same operations, same values: exactly equal
    W, b = local_linear_map(model, x)
    torch.testing.assert_close(torch.einsum("bcn,bn->bc", W, x.reshape(5, -1)) + b, z, rtol=0, atol=1e-12)

    g0 = gate_pattern(model, x)
    assert g0.dtype == torch.bool and g0.shape == (5, 4 * 40 + 6 * 20 + 8)
    assert count_gate_flips(model, x, x).tolist() == [0] * 5

    gen = torch.Generator().manual_seed(0)
    direction = torch.randn(x.shape, generator=gen, dtype=torch.float64)
    direction /= direction.reshape(5, -1).norm(dim=1).reshape(5, 1, 1)

    def check_affine(f, delta):
        with torch.no_grad():
            diff = f(x + delta) - f(x)
        pred = torch.einsum("bcn,bn->bc", W, delta.reshape(5, -1))
        size = torch.einsum("bcn,bn->bc", W.abs(), delta.reshape(5, -1).abs()) + z.abs()
        torch.testing.assert_close(diff, pred, rtol=0, atol=100 * EPS64 * float(size.max()))

    # Small steps: no gate or pool choice flips, and the real model is affine too.
    checked_small = 0
    for r in (1e-2, 1e-3, 1e-4, 1e-5, 1e-6):
        delta = r * direction
        if count_gate_flips(model, x, x + delta).sum() or not torch.equal(
            _pool_choices(model, x), _pool_choices(model, x + delta)
        ):
            continue
        check_affine(model, delta)
        check_affine(frozen, delta)
        with torch.no_grad():
            torch.testing.assert_close(frozen(x + delta), model(x + delta), rtol=0, atol=1e-12)
        checked_small += 1
    assert checked_small >= 3

    # Large steps: gates flip and the model bends, but the frozen network stays exactly affine.
    delta = 3.0 * direction
    assert count_gate_flips(model, x, x + delta).min() > 0
    assert not torch.equal(_pool_choices(model, x), _pool_choices(model, x + delta))
    check_affine(frozen, delta)
    with torch.no_grad():
        bend = (model(x + delta) - frozen(x + delta)).abs().max()
    assert float(bend) > 1e-3
