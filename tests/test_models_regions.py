"""models (builders, piecewise-linearity check, batch-norm folding) and linear_regions."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from advnotes.linear_regions import FrozenGates, count_gate_flips, gate_pattern, linearity_error, local_linear_map
from advnotes.models import NotPiecewiseLinearError, check_piecewise_linear, cnn, fold_batchnorm, mlp, num_parameters


def test_builders_are_piecewise_linear():
    torch.manual_seed(0)
    m, c = mlp(64, (16, 8), 10), cnn((1, 8, 8), (4, 8), 10, hidden=16)
    assert check_piecewise_linear(m) is m and check_piecewise_linear(c) is c
    assert m(torch.randn(5, 64)).shape == (5, 10) and c(torch.randn(5, 1, 8, 8)).shape == (5, 10)
    assert num_parameters(m) == 64 * 16 + 16 + 16 * 8 + 8 + 8 * 10 + 10


@pytest.mark.parametrize(
    "module, match",
    [
        (nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 2)), r"'1' \(Tanh\)"),
        (nn.Sequential(nn.Linear(4, 4), nn.GELU()), "GELU"),
        (nn.Sequential(nn.Linear(4, 4), nn.ReLU(inplace=True)), "inplace"),
        (nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)), "training mode"),
        (nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5)), "Dropout"),
    ],
)
def test_non_piecewise_linear_modules_are_named(module, match):
    with pytest.raises(NotPiecewiseLinearError, match=match):
        check_piecewise_linear(module)


def test_eval_mode_batchnorm_is_accepted_and_folds_exactly():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Linear(6, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, 3)).double()
    m.train()
    m(torch.randn(64, 6, dtype=torch.float64))  # populate running statistics
    m.eval()
    check_piecewise_linear(m)
    folded = fold_batchnorm(m)
    assert not any(isinstance(x, nn.BatchNorm1d) for x in folded)
    x = torch.randn(10, 6, dtype=torch.float64)
    assert torch.allclose(folded(x), m(x), atol=1e-12)
    assert not torch.equal(m[0].weight, folded[0].weight)  # the original is untouched


def test_custom_containers_are_checked_through():
    class Net(nn.Module):
        def __init__(self, act):
            super().__init__()
            self.body = nn.Sequential(nn.Linear(3, 3), act)

        def forward(self, x):
            return self.body(x)

    check_piecewise_linear(Net(nn.ReLU()))
    with pytest.raises(NotPiecewiseLinearError, match="body.1"):
        check_piecewise_linear(Net(nn.Sigmoid()))
    with pytest.raises(TypeError, match="nn.Module"):
        check_piecewise_linear(lambda x: x)


@pytest.fixture()
def small():
    torch.manual_seed(1)
    return mlp(5, (7, 6), 3).double().eval()


def test_local_linear_map_matches_finite_differences(small):
    """Oracle: central differences of the network itself, exact on a linear region."""
    x = torch.randn(4, 5, dtype=torch.float64)
    W, b = local_linear_map(small, x)
    h = 1e-6
    for j in range(5):
        e = torch.zeros(5, dtype=torch.float64)
        e[j] = h
        assert count_gate_flips(small, x - e, x + e).sum() == 0
        fd = (small(x + e) - small(x - e)).detach() / (2 * h)
        assert torch.allclose(W[:, :, j], fd, atol=1e-8)
    with torch.no_grad():
        assert torch.allclose(W @ x.unsqueeze(-1) + b.unsqueeze(-1), small(x).unsqueeze(-1), atol=1e-12)


def test_gate_pattern_counts_all_relus(small):
    x = torch.randn(3, 5, dtype=torch.float64)
    gates = gate_pattern(small, x)
    assert gates.shape == (3, 13) and gates.dtype == torch.bool
    assert count_gate_flips(small, x, x).tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="same shape"):
        count_gate_flips(small, x, x[:2])
    with pytest.raises(ValueError, match="no nn.ReLU"):
        gate_pattern(nn.Sequential(nn.Linear(5, 3)).double(), x)


def test_frozen_gates_are_exactly_affine_even_after_flips(small):
    torch.manual_seed(2)
    x = torch.randn(6, 5, dtype=torch.float64)
    W, b = local_linear_map(small, x)
    frozen = FrozenGates(small, x)
    u = 3 * torch.randn_like(x)
    assert count_gate_flips(small, x, x + u).sum() > 0  # the real network leaves the region
    with torch.no_grad():
        assert torch.allclose(frozen(x), small(x), atol=1e-12)
        affine = (W @ (x + u).unsqueeze(-1)).squeeze(-1) + b
        assert torch.allclose(frozen(x + u), affine, atol=1e-10)
        assert not torch.allclose(small(x + u), affine, atol=1e-3)
    with pytest.raises(ValueError, match="built for inputs of shape"):
        frozen(x[:2])


def test_frozen_gates_freeze_max_pool_choices():
    torch.manual_seed(3)
    net = cnn((1, 8, 8), (3,), 4, hidden=8).double().eval()
    x = torch.randn(2, 1, 8, 8, dtype=torch.float64)
    W, b = local_linear_map(net, x)
    u = 2 * torch.randn_like(x)
    with torch.no_grad():
        out = FrozenGates(net, x)(x + u)
    assert torch.allclose(out, (W @ (x + u).reshape(2, -1, 1)).squeeze(-1) + b, atol=1e-10)


def test_linear_region_bad_input(small):
    x = torch.randn(2, 5, dtype=torch.float64)
    with pytest.raises(ValueError, match="batch dimension"):
        local_linear_map(small, x[0])
    with pytest.raises(ValueError, match="non-finite"):
        local_linear_map(small, torch.full((2, 5), float("nan"), dtype=torch.float64))
    with pytest.raises(TypeError, match="float32"):
        local_linear_map(small, x.float())
    with pytest.raises(TypeError, match="floating-point"):
        local_linear_map(small, torch.ones(2, 5, dtype=torch.long))
    with pytest.raises(NotPiecewiseLinearError):
        local_linear_map(nn.Sequential(nn.Linear(5, 3), nn.Softplus()).double(), x)


def test_linearity_error_is_roundoff_without_flips_and_matches_frozen_gates(small):
    """Oracle: FrozenGates evaluates the affine map of x's region by another route."""
    torch.manual_seed(4)
    x = torch.randn(40, 5, dtype=torch.float64)
    for r in (1e-6, 0.5, 3.0):
        x_new = x + r * torch.randn_like(x)
        err, flips = linearity_error(small, x, x_new)
        with torch.no_grad():
            ref = (small(x_new) - FrozenGates(small, x)(x_new)).abs().amax(dim=1)
        assert torch.allclose(err, ref, atol=1e-10)
        assert torch.equal(flips, count_gate_flips(small, x, x_new))
        if (flips == 0).any():
            assert err[flips == 0].max() < 1e-12
    assert (flips > 0).any() and err[flips > 0].max() > 1e-3  # at r = 3 the network leaves the region
    W, b = local_linear_map(small, x)
    err_given, _ = linearity_error(small, x, x_new, W=W, b=b)
    assert torch.equal(err_given, err)
    with pytest.raises(ValueError, match="same shape"):
        linearity_error(small, x, x_new[:3])


def test_linearity_error_flattens_image_inputs():
    torch.manual_seed(5)
    net = cnn((1, 8, 8), (3,), 4, hidden=8).double().eval()
    x = torch.randn(3, 1, 8, 8, dtype=torch.float64)
    err, flips = linearity_error(net, x, x + 1e-9 * torch.randn_like(x))
    assert err.shape == flips.shape == (3,) and err[flips == 0].max() < 1e-12
