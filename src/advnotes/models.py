"""ReLU MLP and CNN builders, and the check that a model is piecewise linear.

The results of the book hold for piecewise-linear networks: Linear/Conv layers,
ReLU, max-pooling, flattening, and batch-norm in eval mode (an affine map that
folds into the next layer). :func:`check_piecewise_linear` walks a model and
names the first module that breaks this (see chapter 1, "ReLU networks are
locally linear").
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

#: Modules that keep a network piecewise linear (eval-mode batch-norm is handled apart).
PIECEWISE_LINEAR = (
    nn.Linear,
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ReLU,
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.MaxPool3d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.Flatten,
    nn.Unflatten,
    nn.Identity,
    nn.Dropout,  # identity in eval mode; refused in train mode below
)
CONTAINERS = (nn.Sequential, nn.ModuleList)


class NotPiecewiseLinearError(TypeError):
    """A model contains a module that makes it not piecewise linear."""


def check_piecewise_linear(model: nn.Module) -> nn.Module:
    """Raise :class:`NotPiecewiseLinearError` naming the first offending module; return ``model``.

    Only the module tree is inspected: a custom ``forward`` that calls smooth
    functions directly (``torch.tanh``...) cannot be seen, so wrap such code in
    modules. ``nn.ReLU(inplace=True)`` is refused because ``torch.func``
    transforms need out-of-place ReLUs.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"expected a torch.nn.Module, got {type(model).__name__}.")
    for name, module in model.named_modules():
        where = name or "<root>"
        if isinstance(module, CONTAINERS):
            continue
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            if module.training or not module.track_running_stats:
                raise NotPiecewiseLinearError(
                    f"module {where!r} ({type(module).__name__}) is in training mode: batch statistics "
                    "couple the examples, so the map is not piecewise linear per input; call model.eval()."
                )
            continue
        if isinstance(module, nn.Dropout) and module.training and module.p > 0:
            raise NotPiecewiseLinearError(
                f"module {where!r} (Dropout) is in training mode, which makes the network random; call model.eval()."
            )
        if isinstance(module, nn.ReLU) and module.inplace:
            raise NotPiecewiseLinearError(
                f"module {where!r} is nn.ReLU(inplace=True); use nn.ReLU() (torch.func needs out-of-place ops)."
            )
        if isinstance(module, PIECEWISE_LINEAR):
            continue
        if list(module.children()):
            continue  # a custom container: its children are checked one by one
        raise NotPiecewiseLinearError(
            f"module {where!r} ({type(module).__name__}) is not piecewise linear; the results need a network "
            "built from Linear/Conv, ReLU, max-pooling, Flatten and eval-mode BatchNorm only "
            "(replace smooth activations such as Tanh/GELU/Sigmoid/Softplus with nn.ReLU)."
        )
    return model


def mlp(in_features: int, hidden: Sequence[int] = (128, 128), num_classes: int = 10) -> nn.Sequential:
    """A ReLU MLP ``in_features -> hidden... -> num_classes`` (flattens its input first)."""
    if in_features < 1 or num_classes < 2 or any(h < 1 for h in hidden):
        raise ValueError(
            f"need in_features >= 1, num_classes >= 2 and positive widths; got {in_features}, {num_classes}, {hidden}."
        )
    layers: list[nn.Module] = [nn.Flatten()]
    width = in_features
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def cnn(
    in_shape: Sequence[int] = (1, 8, 8),
    channels: Sequence[int] = (16, 32),
    num_classes: int = 10,
    *,
    hidden: int = 64,
) -> nn.Sequential:
    """A ReLU CNN: [Conv3x3 -> ReLU -> MaxPool2] per channel count, then Linear -> ReLU -> Linear."""
    if len(in_shape) != 3:
        raise ValueError(f"in_shape must be (channels, height, width), got {tuple(in_shape)}.")
    c, h, w = in_shape
    layers: list[nn.Module] = []
    for out in channels:
        if h < 2 or w < 2:
            raise ValueError(f"input {tuple(in_shape)} is too small for {len(channels)} pooling stages.")
        layers += [nn.Conv2d(c, out, kernel_size=3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        c, h, w = out, h // 2, w // 2
    layers += [nn.Flatten(), nn.Linear(c * h * w, hidden), nn.ReLU(), nn.Linear(hidden, num_classes)]
    return nn.Sequential(*layers)


def cnn1d(
    length: int = 40,
    *,
    in_channels: int = 1,
    channels: Sequence[int] = (32, 32),
    kernel_size: int = 5,
    pool: int = 2,
    hidden: Sequence[int] = (),
    num_classes: int = 10,
) -> nn.Sequential:
    """A ReLU 1-d CNN for signals (N, in_channels, length), e.g. MNIST-1D (:func:`advnotes.data.load_mnist1d`).

    Per entry of ``channels``: Conv1d (``kernel_size``, zero padding ``(kernel_size - 1) // 2``,
    so odd kernels keep the length) -> ReLU -> MaxPool1d(``pool``) (no pooling when
    ``pool == 1``); then Flatten, ``Linear -> ReLU`` per entry of ``hidden``, and a final
    Linear to ``num_classes`` logits. Piecewise linear throughout.
    """
    ints = {"length": length, "in_channels": in_channels, "kernel_size": kernel_size, "pool": pool}
    for name, value in ints.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}.")
    for name, widths in (("channels", channels), ("hidden", hidden)):
        if (
            not isinstance(widths, Sequence)
            or isinstance(widths, str)
            or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths)
        ):
            raise ValueError(f"{name} must be a sequence of positive integers, got {widths!r}.")
    if len(channels) == 0:
        raise ValueError("channels must name at least one convolution (use mlp() for none).")
    padding = (kernel_size - 1) // 2
    layers: list[nn.Module] = []
    c, n = in_channels, length
    for i, out in enumerate(channels):
        n_conv = n + 2 * padding - kernel_size + 1
        if n_conv < pool:
            raise ValueError(
                f"signals of length {length} are too short for stage {i + 1} of {len(channels)} "
                f"(kernel_size={kernel_size}, pool={pool}): length {n} before it; use fewer stages, "
                "a smaller kernel or pool."
            )
        layers += [nn.Conv1d(c, out, kernel_size, padding=padding), nn.ReLU()]
        if pool > 1:
            layers.append(nn.MaxPool1d(pool))
        c, n = out, n_conv // pool
    layers.append(nn.Flatten())
    width = c * n
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


def num_parameters(model: nn.Module) -> int:
    """Number of trainable scalars in ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def fold_batchnorm(model: nn.Sequential) -> nn.Sequential:
    """Fold eval-mode BatchNorm layers into the preceding Linear/Conv (a new model, same function)."""
    if not isinstance(model, nn.Sequential):
        raise TypeError("fold_batchnorm expects an nn.Sequential.")
    out: list[nn.Module] = []
    for m in model:
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            if m.training:
                raise NotPiecewiseLinearError("fold_batchnorm needs eval-mode batch-norm; call model.eval() first.")
            if not out or not isinstance(out[-1], (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
                raise ValueError("each BatchNorm must directly follow a Linear or Conv layer to be folded.")
            prev = copy.deepcopy(out.pop())
            inv_std = torch.rsqrt(m.running_var + m.eps)
            scale = m.weight.detach() * inv_std if m.affine else inv_std
            shift = (m.bias.detach() if m.affine else 0.0) - m.running_mean * scale
            bias = prev.bias.detach() if prev.bias is not None else torch.zeros_like(scale)
            new = prev
            new.weight = nn.Parameter(prev.weight.detach() * scale.reshape((-1,) + (1,) * (prev.weight.dim() - 1)))
            new.bias = nn.Parameter(bias * scale + shift)
            out.append(new)
        else:
            out.append(m)
    return nn.Sequential(*out)
