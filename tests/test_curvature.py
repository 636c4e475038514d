"""The closed-form input Hessian against autograd, dense eigh and known spectra."""

from __future__ import annotations

import mpmath
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import hessian

from advnotes.curvature import (
    input_gradient,
    input_hessian,
    input_hessian_eig,
    one_minus,
    softmax_curvature,
    softmax_curvature_factor,
)
from advnotes.models import NotPiecewiseLinearError, cnn


def autograd_oracle(model, x, y):
    def loss(xi, yi):
        return F.cross_entropy(model(xi[None]), yi[None])

    with torch.no_grad():
        g = torch.vmap(torch.func.grad(loss))(x, y)
        H = torch.vmap(hessian(loss))(x, y)
    return g.reshape(len(x), -1), H.reshape(len(x), g[0].numel(), -1)


def test_input_hessian_matches_autograd(trained_mlp, digits64):
    x, y = digits64.x_test[:16], digits64.y_test[:16]
    g, H = input_hessian(trained_mlp, x, y)
    g_ad, H_ad = autograd_oracle(trained_mlp, x, y)
    # Round-off yardstick: the cancelling terms W^T diag(p) W (see chapter 1, section 1.3).
    from advnotes.linear_regions import local_linear_map

    W, _ = local_linear_map(trained_mlp, x)
    p = torch.softmax(trained_mlp(x), 1).detach()
    scale = torch.einsum("bcn,bc,bcm->bnm", W, p, W).flatten(1).norm(dim=1)
    assert ((H - H_ad).flatten(1).norm(dim=1) / scale).max() < 1e-12
    assert ((g - g_ad).norm(dim=1) / torch.linalg.matrix_norm(W, ord=2)).max() < 1e-12
    assert torch.allclose(input_gradient(trained_mlp, x, y), g, atol=0, rtol=0)


def test_input_hessian_is_psd_low_rank_and_contains_the_gradient(trained_mlp, digits64):
    x, y = digits64.x_test[:32], digits64.y_test[:32]
    g, H = input_hessian(trained_mlp, x, y)
    assert torch.equal(H, H.transpose(1, 2))
    ev, vecs = torch.linalg.eigh(H)
    lam_max = ev[:, -1:]
    assert (ev >= -1e-12 * lam_max).all()
    assert ((ev > 64 * 2.3e-16 * lam_max).sum(1) <= 9).all()
    V = vecs[:, :, -9:]
    resid = g - torch.einsum("bnk,bk->bn", V, torch.einsum("bnk,bn->bk", V, g))
    assert (resid.norm(dim=1) / g.norm(dim=1)).max() < 1e-8


def test_eig_route_matches_dense_eigh(trained_mlp, digits64):
    x, y = digits64.x_test[:16], digits64.y_test[:16]
    eigvals, eigvecs = input_hessian_eig(trained_mlp, x, y)
    _, H = input_hessian(trained_mlp, x, y)
    dense = torch.linalg.eigvalsh(H).flip(-1)[:, :10]
    assert eigvals.shape == (16, 10) and eigvecs.shape == (16, 64, 10)
    assert (eigvals[:, :-1] >= eigvals[:, 1:]).all()
    assert ((eigvals[:, :9] - dense[:, :9]).abs() / dense[:, :1]).max() < 1e-10
    eye = torch.eye(10, dtype=torch.float64).expand(16, 10, 10)
    assert torch.allclose(eigvecs.transpose(1, 2) @ eigvecs, eye, atol=1e-10)
    rebuilt = eigvecs @ torch.diag_embed(eigvals) @ eigvecs.transpose(1, 2)
    assert ((rebuilt - H).flatten(1).norm(dim=1) / H.flatten(1).norm(dim=1)).max() < 1e-10
    big = eigvecs.abs().argmax(dim=1, keepdim=True)
    assert (torch.gather(eigvecs, 1, big) > 0).all()  # the documented sign convention


def test_known_spectrum_uniform_probabilities():
    """W with orthonormal rows scaled by s and logits all equal: H has eigenvalue s^2/C, C-1 times."""
    C, n, s = 4, 12, 3.0
    Q, _ = torch.linalg.qr(torch.randn(n, C, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))
    lin = nn.Linear(n, C, bias=True).double()
    with torch.no_grad():
        lin.weight.copy_(s * Q.T)
    x = torch.zeros(3, n, dtype=torch.float64)
    with torch.no_grad():
        lin.bias.zero_()
    eigvals, _ = input_hessian_eig(lin, x, torch.tensor([0, 1, 3]))
    expected = torch.tensor([s**2 / C] * (C - 1) + [0.0], dtype=torch.float64)
    assert torch.allclose(eigvals, expected.expand(3, C), atol=1e-13)


def test_known_spectrum_two_classes():
    """C = 2: A has the single nonzero eigenvalue 2 p (1 - p); with W = [w, -w] H = 4|w|^2 p(1-p) ww^T/|w|^2."""
    w = torch.tensor([[1.0, 2.0, -2.0]], dtype=torch.float64)
    lin = nn.Linear(3, 2, bias=False).double()
    with torch.no_grad():
        lin.weight.copy_(torch.cat([w, -w]))
    x = torch.tensor([[0.1, 0.2, 0.3]], dtype=torch.float64)
    p = torch.sigmoid(2 * (w @ x.T)).item()
    eigvals, eigvecs = input_hessian_eig(lin, x, torch.tensor([0]))
    assert eigvals[0, 0].item() == pytest.approx(4 * 9 * p * (1 - p), rel=1e-12)
    assert eigvals[0, 1].item() == pytest.approx(0.0, abs=1e-14)
    assert torch.allclose(eigvecs[0, :, 0].abs(), (w / 3).abs().squeeze(), atol=1e-12)


def test_softmax_curvature_factor_and_accuracy():
    p = torch.softmax(torch.randn(5, 6, dtype=torch.float64), 1)
    A = softmax_curvature(p)
    Fm = softmax_curvature_factor(p)
    assert torch.allclose(Fm @ Fm.transpose(1, 2), A, atol=1e-15)
    assert torch.allclose(A, torch.diag_embed(p) - p[:, :, None] * p[:, None, :], atol=1e-15)
    assert torch.allclose(A.sum(-1), torch.zeros(5, 6, dtype=torch.float64), atol=1e-15)
    # one_minus keeps full relative accuracy where 1 - p would cancel: oracle mpmath at 40 digits.
    z = torch.tensor([[40.0, 0.0, -3.0]], dtype=torch.float64)
    pc = torch.softmax(z, 1)
    mpmath.mp.dps = 40
    e = [mpmath.exp(v) for v in (40, 0, -3)]
    exact = float((e[1] + e[2]) / sum(e))
    assert abs(one_minus(pc)[0, 0].item() - exact) < 1e-14 * exact
    assert abs((1 - pc[0, 0]).item() - exact) > 1e-6 * exact  # the naive route really loses the digits
    with pytest.raises(ValueError, match="probability"):
        softmax_curvature(torch.tensor([[0.5, 0.6]]))
    with pytest.raises(ValueError, match=r"\(B, C\)"):
        softmax_curvature_factor(torch.tensor([0.5, 0.5]))


def test_cnn_inputs_are_flattened():
    torch.manual_seed(0)
    net = cnn((1, 8, 8), (3,), 10, hidden=8).double().eval()
    x = torch.randn(2, 1, 8, 8, dtype=torch.float64)
    y = torch.tensor([1, 7])
    g, H = input_hessian(net, x, y)
    assert g.shape == (2, 64) and H.shape == (2, 64, 64)
    g_ad, H_ad = autograd_oracle(net, x, y)
    assert torch.allclose(H, H_ad, atol=1e-10 * H_ad.abs().max())
    eigvals, eigvecs = input_hessian_eig(net, x, y)
    assert eigvecs.shape == (2, 64, 10)


@pytest.mark.parametrize("fn", [input_hessian, input_hessian_eig, input_gradient])
def test_bad_input_is_a_clear_error(fn, trained_mlp, digits64):
    x, y = digits64.x_test[:3], digits64.y_test[:3]
    with pytest.raises(ValueError, match=r"labels in \[0, 10\]"):
        fn(trained_mlp, x, torch.tensor([0, 1, 10]))
    with pytest.raises(ValueError, match="shape \\(3,\\)"):
        fn(trained_mlp, x, y[:2])
    with pytest.raises(TypeError, match="integer class labels"):
        fn(trained_mlp, x, y.double())
    with pytest.raises(ValueError, match="non-finite"):
        fn(trained_mlp, torch.where(x > 0.5, float("inf"), x), y)
    with pytest.raises(ValueError, match="batch dimension"):
        fn(trained_mlp, x[0], y[:1])
    with pytest.raises(NotPiecewiseLinearError, match="Tanh"):
        fn(nn.Sequential(nn.Linear(64, 10), nn.Tanh()).double(), x, y)


@pytest.mark.parametrize("seed", range(3))
def test_curvature_bound_and_confidently_wrong_inputs(seed):
    """eq-lambda-bound: lambda_max(W^T A W) <= |W|_2^2 (1 - |p|^2) <= 2 |W|_2^2 (1 - max p), oracle: dense eigh.

    A p close to a vertex e_k with k != y (confidently wrong) has 1 - p_y close to 1,
    yet its curvature vanishes with 1 - max p: A does not depend on the label.
    """
    gen = torch.Generator().manual_seed(seed)
    C, n = 5, 20
    W = torch.randn(C, n, dtype=torch.float64, generator=gen)
    w2 = torch.linalg.matrix_norm(W, ord=2) ** 2
    for tail in (0.5, 1e-2, 1e-5, 1e-9):
        rest = torch.rand(C - 1, dtype=torch.float64, generator=gen)
        p = torch.cat([torch.tensor([1.0 - tail], dtype=torch.float64), tail * rest / rest.sum()])[None]
        A = softmax_curvature(p)[0]
        lam = torch.linalg.eigvalsh(W.T @ A @ W)[-1]
        tr_a = float((p * one_minus(p)).sum())
        assert lam <= w2 * tr_a * (1 + 1e-10) and tr_a <= 2 * tail * (1 + 1e-12)
        # the label never enters A: a confidently wrong input (y = 1, p_y <= tail) is as flat as a right one
        p_y = float(p[0, 1])
        assert 1 - p_y >= 1 - tail and lam <= 2 * w2 * tail * (1 + 1e-10)


@pytest.mark.parametrize("seed", range(3))
def test_curvature_lower_bound_from_the_pair_decomposition(seed):
    """eq-lambda-lower: A = sum_{i<j} p_i p_j (e_i - e_j)(e_i - e_j)^T, hence
    lambda_max(W^T A W) >= p_k p_j |w_k - w_j|^2 >= p_k (1 - p_k) / (C - 1) min_i |w_k - w_i|^2 (oracle: dense eigh)."""
    gen = torch.Generator().manual_seed(seed)
    C, n = 6, 15
    W = torch.randn(C, n, dtype=torch.float64, generator=gen)
    eye = torch.eye(C, dtype=torch.float64)
    for sharp in (0.5, 3.0, 12.0):
        p = torch.softmax(sharp * torch.randn(C, dtype=torch.float64, generator=gen), dim=0)
        A = softmax_curvature(p[None])[0]
        pairs = sum(
            p[i] * p[j] * torch.outer(eye[i] - eye[j], eye[i] - eye[j]) for i in range(C) for j in range(i + 1, C)
        )
        torch.testing.assert_close(pairs, A, rtol=0, atol=1e-15)
        lam = torch.linalg.eigvalsh(W.T @ A @ W)[-1]
        k, j = torch.argsort(p, descending=True)[:2].tolist()
        low1 = p[k] * p[j] * (W[k] - W[j]).square().sum()
        low2 = p[k] * (1 - p[k]) / (C - 1) * min((W[k] - W[i]).square().sum() for i in range(C) if i != k)
        assert lam >= low1 * (1 - 1e-12) and low1 >= low2 * (1 - 1e-12)
