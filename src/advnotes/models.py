"""ReLU MLP and CNN builders, and the check that a model is piecewise linear.

The results of the book hold for piecewise-linear networks: Linear/Conv layers,
ReLU, max-pooling, flattening, and batch-norm in eval mode (an affine map that
folds into the next layer). :func:`check_piecewise_linear` walks a model and
names the first module that breaks this (see chapter 1, "ReLU networks are
locally linear").

What is accepted, and why:

- **Accepted**: Linear, Conv1d/2d/3d, nn.ReLU, MaxPool1d/2d/3d, AvgPool and
  AdaptiveAvgPool (linear maps), Flatten/Unflatten/Identity, eval-mode dropout and
  eval-mode batch-norm with running statistics (affine).
- **Refused although piecewise linear**: LeakyReLU, PReLU, RReLU, ReLU6, Hardtanh,
  Threshold, Hardshrink/Softshrink and adaptive max-pooling. The book's results and
  tools assume ReLU gates that are 0 or 1 (the gate patterns, frozen gates and
  closed-form curvature of :mod:`advnotes.linear_regions` and
  :mod:`advnotes.curvature` only see ``nn.ReLU`` modules), so such a layer would be
  silently treated as if it were linear. Write ReLU6 as two ReLUs if needed.
- **Refused**: smooth activations (Tanh, Sigmoid, GELU, Softplus...), per-example
  normalisation (LayerNorm, GroupNorm...), training-mode batch-norm or dropout,
  ``nn.ReLU(inplace=True)``, and custom leaf modules (their ``forward`` cannot be
  inspected).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_weights, fuse_linear_bn_weights

from .validation import check_positive

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
    nn.AvgPool3d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveAvgPool3d,
    nn.Flatten,
    nn.Unflatten,
    nn.Identity,
    nn.modules.dropout._DropoutNd,  # identity in eval mode; refused in train mode below
)
#: Piecewise-linear modules that are refused all the same: their gates are not in {0, 1}, or the
#: gate machinery (advnotes.linear_regions, advnotes.curvature) cannot see them.
PIECEWISE_LINEAR_UNSUPPORTED = (
    nn.LeakyReLU,
    nn.PReLU,
    nn.RReLU,
    nn.Hardtanh,  # includes nn.ReLU6
    nn.Threshold,
    nn.Hardshrink,
    nn.Softshrink,
    nn.AdaptiveMaxPool1d,
    nn.AdaptiveMaxPool2d,
    nn.AdaptiveMaxPool3d,
)
CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)


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
        if isinstance(module, nn.modules.dropout._DropoutNd) and module.training and module.p > 0:
            raise NotPiecewiseLinearError(
                f"module {where!r} ({type(module).__name__}) is in training mode, which makes the network random; "
                "call model.eval()."
            )
        if isinstance(module, nn.ReLU) and module.inplace:
            raise NotPiecewiseLinearError(
                f"module {where!r} is nn.ReLU(inplace=True); use nn.ReLU() (torch.func needs out-of-place ops)."
            )
        if isinstance(module, PIECEWISE_LINEAR_UNSUPPORTED):
            raise NotPiecewiseLinearError(
                f"module {where!r} ({type(module).__name__}) is piecewise linear but not supported: the book's "
                "results and tools assume ReLU gates that are 0 or 1, and the gate machinery (linear_regions, "
                "curvature) only sees nn.ReLU, so this layer would silently be treated as linear; use nn.ReLU "
                "(ReLU6(x) = ReLU(x) - ReLU(x - 6)) or nn.MaxPool with a fixed kernel."
            )
        if isinstance(module, PIECEWISE_LINEAR):
            continue
        if list(module.children()):
            continue  # a custom container: its children are checked one by one
        if not type(module).__module__.startswith("torch."):
            raise NotPiecewiseLinearError(
                f"module {where!r} ({type(module).__name__}) is a custom module without submodules, so advnotes "
                "cannot tell whether its forward is piecewise linear; build it from Linear/Conv, nn.ReLU, "
                "max-pooling and Flatten modules (a custom container of such modules is fine)."
            )
        raise NotPiecewiseLinearError(
            f"module {where!r} ({type(module).__name__}) is not piecewise linear; the results need a network "
            "built from Linear/Conv, ReLU, max-pooling, Flatten and eval-mode BatchNorm only "
            "(replace smooth activations such as Tanh/GELU/Sigmoid/Softplus with nn.ReLU)."
        )
    return model


def mlp(in_features: int, hidden: Sequence[int] = (128, 128), num_classes: int = 10) -> nn.Sequential:
    """A ReLU MLP ``in_features -> hidden... -> num_classes`` (flattens its input first)."""
    in_features = check_positive("in_features", in_features, integer=True)
    num_classes = _num_classes(num_classes)
    hidden = _widths("hidden", hidden)
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
    if isinstance(in_shape, (str, bytes)) or not isinstance(in_shape, Sequence) or len(in_shape) != 3:
        raise ValueError(f"in_shape must be (channels, height, width), got {in_shape!r}.")
    c, h, w = (check_positive(f"in_shape[{i}]", v, integer=True) for i, v in enumerate(in_shape))
    channels = _widths("channels", channels)
    if not channels:
        raise ValueError("channels must name at least one convolution (use mlp() for none).")
    num_classes = _num_classes(num_classes)
    hidden = check_positive("hidden", hidden, integer=True)
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
    length, in_channels, kernel_size, pool = (
        check_positive(name, value, integer=True)
        for name, value in (
            ("length", length),
            ("in_channels", in_channels),
            ("kernel_size", kernel_size),
            ("pool", pool),
        )
    )
    num_classes = _num_classes(num_classes)
    channels, hidden = _widths("channels", channels), _widths("hidden", hidden)
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


def _num_classes(num_classes) -> int:
    num_classes = check_positive("num_classes", num_classes, integer=True)
    if num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}.")
    return num_classes


def _widths(name: str, widths) -> list[int]:
    if isinstance(widths, (str, bytes)) or not isinstance(widths, Sequence):
        raise ValueError(f"{name} must be a sequence of positive integers (e.g. (64, 64)), got {widths!r}.")
    try:
        return [check_positive(f"{name}[{i}]", w, integer=True) for i, w in enumerate(widths)]
    except ValueError as err:
        raise ValueError(f"{name} must be a sequence of positive integers, got {widths!r} ({err})") from None


def num_parameters(model: nn.Module) -> int:
    """Number of trainable scalars in ``model``."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"num_parameters expects a torch.nn.Module, got {type(model).__name__}.")
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def flat_params(params, *, batch: int | None = None) -> torch.Tensor:
    """Parameters as one flat vector: the package's one way to flatten them.

    ``params``: an ``nn.Module`` (its trainable parameters, in ``model.parameters()`` order,
    detached: ``torch.nn.utils.parameters_to_vector``), or a dict / sequence of tensors
    (kept attached, e.g. gradients). With ``batch=B`` every tensor has a leading batch axis
    of length B (per-sample gradients) and the result is (B, P); otherwise it is (P,).
    """
    if isinstance(params, nn.Module):
        if batch is not None:
            raise ValueError("batch is for per-sample tensors (a dict or a list), not for a model's parameters.")
        trainable = [p for p in params.parameters() if p.requires_grad]
        if not trainable:
            raise ValueError(
                "the model has no trainable parameters (requires_grad=True), so there is nothing to flatten."
            )
        return nn.utils.parameters_to_vector(trainable).detach()
    tensors = list(params.values()) if isinstance(params, dict) else params
    if isinstance(tensors, (str, bytes, torch.Tensor)) or not hasattr(tensors, "__iter__"):
        raise TypeError(f"params must be an nn.Module, a dict or a list of tensors, got {type(params).__name__}.")
    tensors = list(tensors)
    if not tensors or not all(isinstance(t, torch.Tensor) for t in tensors):
        raise TypeError("params must hold at least one tensor, and only tensors.")
    if batch is None:
        return torch.cat([t.reshape(-1) for t in tensors])
    batch = check_positive("batch", batch, integer=True)
    if any(t.dim() == 0 or t.shape[0] != batch for t in tensors):
        raise ValueError(f"every tensor must have a leading batch axis of length {batch}.")
    return torch.cat([t.reshape(batch, -1) for t in tensors], dim=1)


def fold_batchnorm(model: nn.Sequential) -> nn.Sequential:
    """Fold eval-mode BatchNorm layers into the preceding Linear/Conv (a new model, same function).

    The arithmetic is torch's own (``torch.nn.utils.fusion.fuse_linear_bn_weights`` /
    ``fuse_conv_bn_weights``); a BatchNorm without affine parameters folds as weight 1, bias 0.
    """
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"fold_batchnorm expects an nn.Sequential, got {type(model).__name__}.")
    out: list[nn.Module] = []
    for m in model:
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            if m.training:
                raise NotPiecewiseLinearError("fold_batchnorm needs eval-mode batch-norm; call model.eval() first.")
            if not out or not isinstance(out[-1], (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
                raise ValueError("each BatchNorm must directly follow a Linear or Conv layer to be folded.")
            width = out[-1].out_features if isinstance(out[-1], nn.Linear) else out[-1].out_channels
            if m.num_features != width:
                raise ValueError(
                    f"{type(m).__name__}({m.num_features}) follows a layer with {width} outputs; they must match."
                )
            if not m.track_running_stats or m.running_var is None:
                raise ValueError(f"{type(m).__name__} without running statistics cannot be folded.")
            prev = copy.deepcopy(out.pop())
            mean, var = m.running_mean.detach(), m.running_var.detach()
            scale = m.weight.detach() if m.affine else torch.ones_like(var)
            shift = m.bias.detach() if m.affine else torch.zeros_like(mean)
            bias = prev.bias.detach() if prev.bias is not None else None
            if isinstance(prev, nn.Linear):
                prev.weight, prev.bias = fuse_linear_bn_weights(
                    prev.weight.detach(), bias, mean, var, m.eps, scale, shift
                )
            else:
                prev.weight, prev.bias = fuse_conv_bn_weights(
                    prev.weight.detach(), bias, mean, var, m.eps, scale, shift
                )
            out.append(prev)
        else:
            out.append(m)
    return nn.Sequential(*out)
