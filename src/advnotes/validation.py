"""Input checks shared by the package: clear errors from advnotes instead of torch's internals or silent NaNs.

Every public function validates what it is given with these helpers and raises an
error that names the problem and what to do. The main ones:

- :func:`check_inputs`, :func:`check_labels`, :func:`check_logits`: tensors of the
  right kind, shape and range.
- :func:`check_model_input`: runs the model once on the inputs and turns torch's
  shape and dtype errors (``mat1 and mat2 shapes cannot be multiplied``...) into a
  message that says what the model expects (read off its first Linear/Conv layer
  and its parameters' dtype) and what it was given; the original error stays chained.
- :func:`eval_mode`: a context manager that runs a module in eval mode (batch-norm
  uses its running statistics and is not updated, dropout is off) and restores
  every submodule's previous mode afterwards, also when the body raises.
- :func:`check_positive`, :func:`check_at_most`, :func:`check_seed`,
  :func:`check_bool`, :func:`check_fraction`: scalar knobs. Python numbers, NumPy
  scalars and 0-d tensors are accepted (and returned as Python numbers); bools are
  refused where a number is expected.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))

#: dtype -> the tensor/module method that converts to it (for messages).
_DTYPE_METHOD = {torch.float64: "double", torch.float32: "float", torch.float16: "half", torch.bfloat16: "bfloat16"}


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def _shape(t: torch.Tensor) -> tuple[int, ...]:
    return tuple(int(s) for s in t.shape)


# ----------------------------------------------------------------------------- scalars


def _scalar(name: str, value):
    """A Python number from a Python/NumPy scalar or a 0-d tensor; ``ValueError`` for anything else (bools too)."""
    if isinstance(value, torch.Tensor):
        if value.dim() != 0:
            raise ValueError(
                f"{name} must be a number (a 0-d tensor is fine), got a tensor of shape {_shape(value)}; "
                f"pass a scalar, e.g. {name}=t.item()."
            )
        if value.dtype == torch.bool:
            raise ValueError(f"{name} must be a number, got a bool tensor {value.item()!r}.")
        if value.is_complex():
            raise ValueError(f"{name} must be a real number, got a complex tensor.")
        value = value.item()
    elif isinstance(value, np.ndarray):
        if value.ndim != 0:
            raise ValueError(f"{name} must be a number, got an array of shape {value.shape}.")
        value = value[()]
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be a number, got the bool {bool(value)!r}; pass 1 or 0 if you mean a number.")
    if isinstance(value, np.generic):
        value = value.item()
    if not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {type(value).__name__} {value!r}.")
    return value


def check_positive(name: str, value, *, integer: bool = False, allow_zero: bool = False):
    """Scalar knobs such as ``step_size`` and ``steps`` must be positive (finite) numbers; returns the number.

    Python numbers, NumPy scalars and 0-d tensors are accepted and returned as a Python
    ``int`` (``integer=True``) or ``float``; bools are refused. Use the returned value.
    """
    value = _scalar(name, value)
    if integer:
        if not isinstance(value, numbers.Integral):
            bound = ">= 0" if allow_zero else ">= 1"
            raise ValueError(f"{name} must be an integer {bound}, got {value!r} ({type(value).__name__}).")
        value = int(value)
        if value < (0 if allow_zero else 1):
            raise ValueError(f"{name} must be an integer {'>= 0' if allow_zero else '>= 1'}, got {value!r}.")
        return value
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}.")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}.")
    return value


def check_at_most(name: str, value, limit: int, *, how: str) -> None:
    """Refuse ``value > limit`` with a message that states the limit and ``how`` to raise it."""
    if value > limit:
        raise ValueError(f"{name}={value:,} is above the limit of {limit:,}; {how}")


def check_fraction(name: str, value) -> float:
    """A number strictly between 0 and 1 (e.g. ``test_size``); returns it as a float."""
    value = float(_scalar(name, value))
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must lie strictly between 0 and 1, got {value!r}.")
    return value


def check_seed(seed, *, name: str = "seed") -> int:
    """A seed is an integer in [0, 2**32 - 1] (NumPy's range); NumPy ints and 0-d int tensors are fine."""
    value = _scalar(name, seed)
    if not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be a non-negative integer, got {value!r} ({type(value).__name__}).")
    value = int(value)
    if not 0 <= value < 2**32:
        raise ValueError(f"{name} must be a non-negative integer below 2**32 (NumPy's range), got {value}.")
    return value


def check_bool(name: str, value) -> bool:
    """A flag must be a bool (NumPy bools too), not a number or a string that merely looks true."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be True or False, got {type(value).__name__} {value!r}.")


def check_number(name: str, value, *, finite: bool = True) -> float:
    """Any real number (negative too) as a float: Python/NumPy scalars and 0-d tensors, not bools or strings."""
    value = float(_scalar(name, value))
    if finite and not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}.")
    return value


def check_limit(name: str, value: int, limit_name: str, limit: int, *, what: str) -> int:
    """Refuse ``value`` above the module-level limit ``limit_name`` (e.g. ``advnotes.training.MAX_STEPS``).

    The message states the limit, why it exists (``what`` runs that long) and how to raise it.
    """
    if value > limit:
        raise ValueError(
            f"{name}={value:,} is above {limit_name} = {limit:,} ({what} would run for a very long time without "
            f"showing progress); use a smaller {name}, or set {limit_name} to a larger value if you mean it."
        )
    return value


def check_array(name: str, value, *, ndim: int | None = None, finite: bool = True) -> np.ndarray:
    """Numbers (a list, NumPy array or tensor) as a non-empty float64 NumPy array, checked for ``ndim`` and NaN/inf."""
    if isinstance(value, torch.Tensor):
        if value.is_complex():
            raise TypeError(f"{name} must hold real numbers, got a complex tensor.")
        value = value.detach().cpu().double().numpy()
    if isinstance(value, (str, bytes, dict, set)) or value is None:
        raise TypeError(f"{name} must be numbers (a list, NumPy array or tensor), got {type(value).__name__}.")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"{name} must be numbers (a list, NumPy array or tensor), got {type(value).__name__} that does not "
            f"convert to floats ({type(err).__name__})."
        ) from None
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-d array, got shape {arr.shape}.")
    if arr.size == 0:
        raise ValueError(f"{name} is empty; pass at least one value.")
    if finite and not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise ValueError(f"{name} has {bad} non-finite value(s) (NaN or inf) out of {arr.size}.")
    return arr


def check_int_list(name: str, values, *, min_value: int = 0) -> list[int]:
    """A non-empty collection of integers >= ``min_value`` (e.g. step counts), as a list of ints.

    Strings, floats with a fraction and bools are refused rather than truncated.
    """
    if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{name} must be a list of integers such as [1, 2, 4], got {type(values).__name__}.")
    if isinstance(values, (torch.Tensor, np.ndarray)) and values.ndim == 0:
        raise TypeError(f"{name} must be a list of integers such as [1, 2, 4], got a single number.")
    out = [check_positive(f"each entry of {name}", v, integer=True, allow_zero=True) for v in values]
    if not out:
        raise ValueError(f"{name} is empty; pass at least one value.")
    low = min(out)
    if low < min_value:
        raise ValueError(f"{name} must hold integers >= {min_value}, got {low}.")
    return out


def check_not_training(model, *, what: str = "the model", why: str = "the result would be random") -> None:
    """Refuse a model whose output is random or depends on the batch: active dropout, batch-norm on batch statistics.

    Such a model is in training mode (``model.train()``); ``why`` says what would go wrong.
    A ReLU/Linear model in training mode is fine (training mode changes nothing for it).
    """
    if not isinstance(model, nn.Module):
        return
    for name, m in model.named_modules():
        where = name or "<root>"
        if isinstance(m, nn.modules.dropout._DropoutNd) and m.training and m.p > 0:
            raise ValueError(
                f"{what} has {type(m).__name__} {where!r} in training mode (p={m.p}): its random masks change "
                f"every call, so {why}; call model.eval() first."
            )
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and (m.training or not m.track_running_stats):
            raise ValueError(
                f"{what} has {type(m).__name__} {where!r} using batch statistics (training mode): each example's "
                f"output depends on the rest of the batch and the running statistics change, so {why}; call "
                "model.eval() first."
            )


# ----------------------------------------------------------------------------- tensors


def check_finite(name: str, t: torch.Tensor) -> None:
    """Raise ``ValueError`` if ``t`` has a NaN or an infinity."""
    if not torch.isfinite(t).all():
        bad = int((~torch.isfinite(t)).sum())
        raise ValueError(
            f"{name} has {bad} non-finite value(s) (NaN or inf) out of {t.numel()}; clean the input first."
        )


def check_inputs(x, *, name: str = "x", min_dim: int = 2) -> torch.Tensor:
    """``x`` must be a floating tensor of shape (B, *input_shape) with finite values."""
    if not isinstance(x, torch.Tensor):
        hint = f" (convert it with torch.as_tensor({name}))" if isinstance(x, (np.ndarray, list, tuple)) else ""
        raise TypeError(f"{name} must be a torch.Tensor of shape (B, *input_shape), got {type(x).__name__}{hint}.")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {x.dtype}; use x.float() or x.double().")
    if x.dim() < min_dim:
        raise ValueError(
            f"{name} must have shape (B, *input_shape) with a batch dimension, got shape {_shape(x)}; "
            f"use {name}.unsqueeze(0) for a single example."
        )
    if x.shape[0] == 0:
        raise ValueError(f"{name} is an empty batch (shape {_shape(x)}); pass at least one example.")
    check_finite(name, x)
    return x


def check_labels(
    y, *, batch: int, num_classes: int | None = None, name: str = "y", device: torch.device | None = None
) -> torch.Tensor:
    """``y`` must be an integer tensor of shape (B,) with values in [0, num_classes)."""
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of integer labels, got {type(y).__name__}.")
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer class labels, got dtype {y.dtype}; use {name}.long().")
    if y.shape != (batch,):
        raise ValueError(f"{name} must have shape ({batch},) to match the batch, got {_shape(y)}.")
    if device is not None and y.device != torch.device(device):
        raise ValueError(f"{name} is on {y.device} but the inputs are on {device}; move them to one device.")
    if (y < 0).any():
        raise ValueError(
            f"{name} has {int((y < 0).sum())} negative label(s) (smallest {int(y.min())}); class labels must be "
            "0, 1, ..., C-1 (remove or relabel examples marked -1 as 'unknown')."
        )
    if num_classes is not None and (y >= num_classes).any():
        lo, hi = int(y.min()), int(y.max())
        raise ValueError(
            f"{name} has labels in [{lo}, {hi}] but the model has {num_classes} classes; "
            f"labels must lie in [0, {num_classes - 1}]."
        )
    return y.long()


def check_logits(z: torch.Tensor, batch: int) -> int:
    """The model's output must be (B, C) logits with C >= 2; returns C."""
    if not isinstance(z, torch.Tensor):
        raise TypeError(f"the model must return a tensor of logits (B, C), got {type(z).__name__}.")
    if z.dim() != 2 or z.shape[0] != batch:
        raise ValueError(f"the model must return logits of shape (B, C) = ({batch}, C), got {_shape(z)}.")
    if z.shape[1] < 2:
        raise ValueError(f"the model must return at least 2 logits per example, got {z.shape[1]}.")
    check_finite("the model's logits", z)
    return int(z.shape[1])


# ----------------------------------------------------------------------------- models


def check_model(model, *, what: str = "the model") -> None:
    """``model`` must be callable (an ``nn.Module`` or a function of a batch)."""
    if not callable(model):
        raise TypeError(
            f"{what} must be an nn.Module or a callable mapping inputs to logits, got {type(model).__name__}."
        )


def _first_param(model) -> torch.Tensor | None:
    if not isinstance(model, nn.Module):
        return None
    for p in model.parameters():
        if p.is_floating_point():
            return p
    return None


def check_dtype_match(model: nn.Module, x: torch.Tensor, *, what: str = "the model") -> None:
    """The model's parameters and ``x`` must share one dtype and device (plain callables are not checked)."""
    p = _first_param(model)
    if p is None:
        return
    if p.dtype != x.dtype:
        to_model, to_x = _DTYPE_METHOD.get(x.dtype), _DTYPE_METHOD.get(p.dtype)
        fix = (
            f"call model.{to_model}() or x.{to_x}()"
            if to_model and to_x
            else f"convert one of them (model.to({x.dtype}) or x.to({p.dtype}))"
        )
        raise TypeError(
            f"{what}'s parameters are {_dtype_name(p.dtype)} but x is {_dtype_name(x.dtype)}: {fix} so that they match."
        )
    if p.device != x.device:
        raise ValueError(
            f"{what} is on {p.device} but x is on {x.device}; move them to one device (x.to({str(p.device)!r}))."
        )


_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


def _expected_input(model) -> tuple[str, str] | None:
    """(what the model expects, how to fix it) read off its first Linear/Conv layer, or None."""
    if not isinstance(model, nn.Module):
        return None
    flattened = False
    for name, m in model.named_modules():
        if isinstance(m, nn.Flatten):
            flattened = True
        elif isinstance(m, nn.Linear) and m.in_features > 0:
            where = f"first layer {name!r}" if name else "the model"
            if flattened:
                return (
                    f"inputs with {m.in_features} features per example after flattening ({where} is "
                    f"Linear(in_features={m.in_features}))",
                    f"reshape/flatten your inputs so each example has {m.in_features} values, e.g. shape "
                    f"(B, {m.in_features})",
                )
            return (
                f"inputs of shape (B, {m.in_features}) ({where} is Linear(in_features={m.in_features}))",
                f"reshape/flatten your inputs to (B, {m.in_features}), e.g. x.reshape(len(x), -1)",
            )
        elif isinstance(m, _CONVS) and m.in_channels > 0:
            nd = _CONVS.index(type(m)) + 1 if type(m) in _CONVS else len(m.kernel_size)
            spatial = ", ".join(["L"] if nd == 1 else ["H", "W"] if nd == 2 else ["D", "H", "W"])
            where = f"first layer {name!r}" if name else "the model"
            return (
                f"inputs of shape (B, {m.in_channels}, {spatial}) ({where} is "
                f"{type(m).__name__}(in_channels={m.in_channels}))",
                f"give x {nd + 2} dimensions with {m.in_channels} channel(s) in dimension 1 (e.g. x.unsqueeze(1) "
                "for single-channel data) and spatial size large enough for the kernels",
            )
    return None


def _raised_by_advnotes(err: BaseException) -> bool:
    tb = err.__traceback__
    last = None
    while tb is not None:
        last = tb
        tb = tb.tb_next
    return last is not None and os.path.abspath(last.tb_frame.f_code.co_filename).startswith(_PACKAGE_DIR + os.sep)


def check_model_input(model, x, *, what: str = "the model", probe: int | None = 1) -> torch.Tensor:
    """Validate ``x``, run ``model`` on ``x[:probe]`` (all of ``x`` for ``probe=None``) and return the logits.

    Torch's own errors (``mat1 and mat2 shapes cannot be multiplied``, ``expected
    input ... to have 1 channels``...) are replaced by a ``ValueError`` that says what
    the model expects (read off its first Linear/Conv layer and its parameters' dtype)
    and what ``x`` is, with the original error chained; a dtype mismatch between the
    parameters and ``x`` is a ``TypeError`` that says which conversion to call. Errors
    raised by advnotes itself (e.g. by :class:`advnotes.linear_regions.FrozenGates`)
    pass through unchanged. The logits are checked with :func:`check_logits`.
    """
    check_model(model, what=what)
    x = check_inputs(x)
    check_dtype_match(model, x, what=what)
    if probe is not None:
        probe = check_positive("probe", probe, integer=True)
    xs = x if probe is None else x[:probe]
    try:
        with torch.no_grad():
            z = model(xs)
    except (RuntimeError, TypeError, ValueError, IndexError) as err:
        if _raised_by_advnotes(err):
            raise
        given = f"got x of shape {_shape(x)} ({_dtype_name(x.dtype)})"
        expected = _expected_input(model)
        p = _first_param(model)
        dt = f"{_dtype_name(p.dtype)} " if p is not None else ""
        if expected is not None:
            msg = f"{what} expects {dt}{expected[0]} but {given}; {expected[1]}."
        else:
            msg = (
                f"{what} failed on x of shape {_shape(x)} ({_dtype_name(x.dtype)}) with a {type(err).__name__}; "
                "check that x has the shape and dtype the model was built for."
            )
        msg += " (The error from inside the model is chained above.)"
        cls = TypeError if isinstance(err, TypeError) else ValueError
        raise cls(msg) from err
    check_logits(z, xs.shape[0])
    return z


@contextlib.contextmanager
def eval_mode(model) -> Iterator:
    """Run ``model`` in eval mode inside the block and restore every submodule's ``training`` flag after it.

    Batch-norm then uses (and does not update) its running statistics and dropout is
    off, so the model is a fixed function; the flags are restored even when the block
    raises. A plain callable (not an ``nn.Module``) is passed through untouched.
    """
    if not isinstance(model, nn.Module):
        yield model
        return
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, flag in flags:
            m.training = flag


# ----------------------------------------------------------------------------- one check per repeated job


def check_vector(name: str, value) -> np.ndarray:
    """A non-empty 1-d array of finite numbers (a list, NumPy array or tensor), as float64 NumPy."""
    arr = check_array(name, value, finite=False)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a non-empty 1-d array, got shape {arr.shape}.")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} has non-finite values (NaN or inf).")
    return arr


def check_model_data(model, x, y, *, module: bool = False, why: str | None = None, probe: int | None = None):
    """The model/data check every computation on ``(model, x, y)`` starts with; returns ``(x, y, C)``.

    ``x`` is validated and the model run on ``x[:probe]`` (all of ``x`` for ``probe=None``,
    so a model that fails on some example fails here) by :func:`check_model_input`;
    ``y`` must be integer labels (B,) in ``[0, C)`` on ``x``'s device, with ``C`` the number
    of logits. ``module=True`` requires an ``nn.Module``; ``why`` (what would go wrong)
    refuses a module in a random or batch-dependent mode (:func:`check_not_training`).
    The probe runs in the model's current mode and under ``no_grad``: wrap the call in
    :func:`eval_mode` where the model may be in training mode.
    """
    if module and not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    if why is not None:
        check_not_training(model, why=why)
    num_classes = int(check_model_input(model, x, probe=probe).shape[1])
    y = check_labels(y, batch=x.shape[0], num_classes=num_classes, device=x.device)
    return x, y, num_classes


def check_delta(delta, x: torch.Tensor) -> torch.Tensor:
    """A perturbation of ``x``: a finite floating tensor of ``x``'s shape, dtype and device; returned detached.

    The one check for every function that takes a perturbation beside its inputs (a
    mismatch is refused, never converted silently).
    """
    if not isinstance(delta, torch.Tensor):
        raise TypeError(f"delta must be a torch.Tensor shaped like x, got {type(delta).__name__}.")
    if delta.shape != x.shape:
        raise ValueError(f"delta must have the shape of x, {_shape(x)}, got {_shape(delta)}.")
    if delta.dtype != x.dtype or delta.device != x.device:
        raise TypeError(
            f"delta must share x's dtype and device ({x.dtype}, {x.device}); got {delta.dtype} on {delta.device}."
        )
    return check_inputs(delta, name="delta").detach()
