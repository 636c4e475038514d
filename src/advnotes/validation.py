"""Input checks shared by the package: clear errors instead of silent NaNs."""

from __future__ import annotations

import torch
from torch import nn


def check_finite(name: str, t: torch.Tensor) -> None:
    """Raise ``ValueError`` if ``t`` has a NaN or an infinity."""
    if not torch.isfinite(t).all():
        bad = int((~torch.isfinite(t)).sum())
        raise ValueError(f"{name} has {bad} non-finite value(s) (NaN or inf); clean the input first.")


def check_inputs(x, *, name: str = "x", min_dim: int = 2) -> torch.Tensor:
    """``x`` must be a floating tensor of shape (B, *input_shape) with finite values."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (B, *input_shape), got {type(x).__name__}.")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}; use x.float() or x.double().")
    if x.dim() < min_dim:
        raise ValueError(
            f"{name} must have shape (B, *input_shape) with a batch dimension, got shape {tuple(x.shape)}; "
            f"use {name}.unsqueeze(0) for a single example."
        )
    if x.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (shape {tuple(x.shape)}).")
    check_finite(name, x)
    return x


def check_labels(y, *, batch: int, num_classes: int | None = None, name: str = "y") -> torch.Tensor:
    """``y`` must be an integer tensor of shape (B,) with values in [0, num_classes)."""
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of integer labels, got {type(y).__name__}.")
    if y.is_floating_point() or y.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer class labels, got dtype {y.dtype}; use {name}.long().")
    if y.shape != (batch,):
        raise ValueError(f"{name} must have shape ({batch},) to match the batch, got {tuple(y.shape)}.")
    if num_classes is not None and ((y < 0).any() or (y >= num_classes).any()):
        lo, hi = int(y.min()), int(y.max())
        raise ValueError(
            f"{name} has labels in [{lo}, {hi}] but the model has {num_classes} classes; "
            f"labels must lie in [0, {num_classes - 1}]."
        )
    return y.long()


def check_logits(z: torch.Tensor, batch: int) -> int:
    """The model's output must be (B, C) logits with C >= 2; returns C."""
    if z.dim() != 2 or z.shape[0] != batch:
        raise ValueError(f"the model must return logits of shape (B, C) = ({batch}, C), got {tuple(z.shape)}.")
    if z.shape[1] < 2:
        raise ValueError(f"the model must return at least 2 logits per example, got {z.shape[1]}.")
    check_finite("the model's logits", z)
    return int(z.shape[1])


def check_dtype_match(model: nn.Module, x: torch.Tensor) -> None:
    """The model's parameters and ``x`` must share one dtype (float32 or float64)."""
    for p in model.parameters():
        if p.dtype != x.dtype:
            raise TypeError(
                f"the model's parameters are {p.dtype} but x is {x.dtype}; "
                f"convert one of them (model.to({x.dtype}) or x.to({p.dtype}))."
            )
        if p.device != x.device:
            raise ValueError(f"the model is on {p.device} but x is on {x.device}; move them to one device.")
        break


def check_positive(name: str, value, *, integer: bool = False, allow_zero: bool = False) -> None:
    """Scalar knobs such as ``step_size`` and ``steps`` must be positive (finite) numbers."""
    import math

    if integer:
        if isinstance(value, bool) or not isinstance(value, int) or value < (0 if allow_zero else 1):
            bound = ">= 0" if allow_zero else ">= 1"
            raise ValueError(f"{name} must be an integer {bound}, got {value!r}.")
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}.")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}.")
