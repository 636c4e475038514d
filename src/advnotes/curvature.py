"""Closed-form input curvature of softmax cross-entropy on a ReLU network.

On the linear region of ``x`` the logits are ``z = W x + b`` (see
:mod:`advnotes.linear_regions`), so with ``p = softmax(z)``:

- the input gradient is ``g = W^T (p - e_y)``                      (chapter 1, ``eq-input-hessian``)
- the input Hessian is ``H = W^T A W`` with ``A = diag(p) - p p^T``  (chapter 1, ``eq-input-hessian``)
- ``A = F F^T`` with ``F = (I - p 1^T) diag(sqrt p)``                (chapter 1, ``eq-A``, ``thm-input-hessian``)

so ``H = G^T G`` with ``G = F^T W`` (C x n): its nonzero spectrum comes from the
C x C problem, never from the n x n matrix.

Models in training mode with batch-norm or active dropout are refused ("call
model.eval()"): they are not piecewise linear per input.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F_
from torch import nn

from .linear_regions import local_linear_map
from .validation import check_finite, check_labels


def one_minus(p: torch.Tensor) -> torch.Tensor:
    """``1 - p_i`` computed as the sum of the *other* probabilities (B, C).

    For a confident prediction ``p_y = 1 - 1e-12`` the naive ``1 - p_y`` keeps about
    four correct digits; the sum of the other (positive) entries keeps them all.
    """
    if not isinstance(p, torch.Tensor) or not p.is_floating_point() or p.dim() < 1 or p.shape[-1] == 0:
        raise TypeError(
            f"p must be a floating tensor of probabilities (..., C), got {type(p).__name__} "
            f"{getattr(p, 'dtype', '')} {tuple(getattr(p, 'shape', ()))}; e.g. torch.softmax(logits, dim=-1)."
        )
    check_finite("p", p)
    zero = torch.zeros_like(p[..., :1])
    prefix = torch.cat([zero, torch.cumsum(p, dim=-1)[..., :-1]], dim=-1)  # sum_{j < i} p_j
    rev = torch.cumsum(torch.flip(p, dims=(-1,)), dim=-1)
    suffix = torch.cat([torch.flip(rev, dims=(-1,))[..., 1:], zero], dim=-1)  # sum_{j > i} p_j
    return prefix + suffix


def softmax_curvature(p: torch.Tensor) -> torch.Tensor:
    """``A = diag(p) - p p^T`` for probabilities ``p`` of shape (B, C) -> (B, C, C).

    The diagonal ``p_i (1 - p_i)`` uses :func:`one_minus`, so ``A`` keeps full
    relative accuracy for confident predictions.
    """
    _check_probs(p)
    eye = torch.eye(p.shape[-1], dtype=torch.bool, device=p.device)
    return torch.where(eye, torch.diag_embed(p * one_minus(p)), -p.unsqueeze(-1) * p.unsqueeze(-2))


def softmax_curvature_factor(p: torch.Tensor) -> torch.Tensor:
    """``F = (I - p 1^T) diag(sqrt p)`` of shape (B, C, C), with ``A = F F^T`` (no eigensolver)."""
    _check_probs(p)
    eye = torch.eye(p.shape[-1], dtype=torch.bool, device=p.device)
    return torch.where(eye, torch.diag_embed(one_minus(p) * p.sqrt()), -p.unsqueeze(-1) * p.sqrt().unsqueeze(-2))


def softmax_residual(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``p - e_y`` (the logits' gradient of the cross-entropy) with the ``y`` entry computed as ``-(1 - p_y)``.

    ``p`` (B, C) probabilities, ``y`` (B,) labels; the true-class entry keeps full relative
    accuracy when ``p_y`` is close to 1 (chapter 1, ``eq-ch1-grad``; chapter 2's tilt lemma).
    """
    y = check_labels(y, batch=p.shape[0], num_classes=p.shape[1], device=p.device)
    onehot = F_.one_hot(y, p.shape[1]).bool()
    return torch.where(onehot, -one_minus(p), p)


def _check_probs(p: torch.Tensor) -> None:
    if not isinstance(p, torch.Tensor) or p.dim() != 2 or p.shape[1] < 2:
        raise ValueError(f"p must be a (B, C) tensor of probabilities with C >= 2, got {getattr(p, 'shape', p)}.")
    check_finite("p", p)
    if (p < 0).any() or not torch.allclose(p.sum(-1), torch.ones_like(p[:, 0]), atol=1e-5):
        raise ValueError("each row of p must be a probability vector (non-negative, summing to 1).")


def _logits_and_map(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
    W, b = local_linear_map(model, x)  # validates model and x
    y = check_labels(y, batch=x.shape[0], num_classes=W.shape[1])
    z = b + torch.einsum("bcn,bn->bc", W, x.reshape(x.shape[0], -1))
    p = torch.softmax(z, dim=-1)
    return W, p, y


def input_hessian(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Input gradient ``g`` (B, n) and Hessian ``H = W^T A W`` (B, n, n) of CE loss, in closed form.

    ``x``: (B, *input_shape); ``y``: (B,) integer labels. Exact for piecewise-linear
    models away from gate boundaries (chapter 1, theorem ``thm-input-hessian``).
    Memory is O(B n^2): for large ``n`` use :func:`input_hessian_eig`.
    """
    W, p, y = _logits_and_map(model, x, y)
    g = torch.einsum("bcn,bc->bn", W, softmax_residual(p, y))
    A = softmax_curvature(p)
    H = torch.einsum("bcn,bcd,bdm->bnm", W, A, W)
    H = 0.5 * (H + H.transpose(1, 2))
    check_finite("the input Hessian", H)
    return g, H


def input_hessian_eig(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Nonzero spectrum of the input Hessian from a C x C problem.

    Returns ``eigvals`` (B, C), descending, and orthonormal ``eigvecs`` (B, n, C) with
    ``H = eigvecs diag(eigvals) eigvecs^T``. Computed from the thin SVD of
    ``G = F^T W`` (C x n), so the cost is O(C^2 n) and the n x n matrix is never
    formed. At least one eigenvalue is 0 (``rank H <= C - 1``); its eigenvector is an
    arbitrary unit vector orthogonal to the others. Each eigenvector's sign is fixed
    so that its largest-magnitude entry is positive.
    """
    W, p, _ = _logits_and_map(model, x, y)
    G = torch.einsum("bcd,bcn->bdn", softmax_curvature_factor(p), W)  # F^T W
    _, S, Vh = torch.linalg.svd(G, full_matrices=False)
    eigvals = S**2
    eigvecs = Vh.transpose(1, 2)
    idx = eigvecs.abs().argmax(dim=1, keepdim=True)
    sign = torch.sign(torch.gather(eigvecs, 1, idx))
    sign = torch.where(sign == 0, torch.ones_like(sign), sign)
    eigvecs = eigvecs * sign
    check_finite("the input-Hessian eigenvalues", eigvals)
    return eigvals, eigvecs


def input_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Input gradient ``g = W^T (p - e_y)`` (B, n) of the per-example CE loss."""
    W, p, y = _logits_and_map(model, x, y)
    return torch.einsum("bcn,bc->bn", W, softmax_residual(p, y))
