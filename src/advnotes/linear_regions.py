"""Linear regions of a ReLU network: the local linear map, gate and choice patterns, frozen gates.

On the linear region that contains ``x`` (every ReLU gate fixed) a piecewise-linear
network is exactly affine, ``z = W x + b`` with ``W = dz/dx`` (chapter 1,
"ReLU networks are locally linear"). Inputs are flattened: ``n = prod(input_shape)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import jacrev, vmap

from .models import check_piecewise_linear
from .validation import check_inputs, check_model_input

_POOLS = (nn.MaxPool1d, nn.MaxPool2d)


def _single_logits(model: nn.Module, input_shape):
    def f(x_flat: torch.Tensor) -> torch.Tensor:
        return model(x_flat.reshape(1, *input_shape)).squeeze(0)

    return f


def local_linear_map(model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``W = dz/dx`` of shape (B, C, n) and ``b = z - W x`` of shape (B, C) at each input.

    For a piecewise-linear model this is the exact affine map of the region that
    contains each ``x`` (chapter 1, equation ``eq-local-linear``).
    """
    check_piecewise_linear(model)  # refuses training-mode batch-norm and active dropout ("call model.eval()")
    z = check_model_input(model, x, probe=None)  # x's dtype and shape in the model's terms; the logits
    x_flat = x.reshape(x.shape[0], -1)
    W = vmap(jacrev(_single_logits(model, x.shape[1:])))(x_flat).detach()
    b = z - torch.einsum("bcn,bn->bc", W, x_flat)
    return W, b


def _relus(model: nn.Module) -> list[nn.ReLU]:
    return [m for m in model.modules() if isinstance(m, nn.ReLU)]


def run_with_hooks(model: nn.Module, x: torch.Tensor, hooks) -> None:
    """Run ``model(x)`` without gradients with forward ``hooks`` [(module, fn)], removed afterwards.

    ``fn(module, inputs, output)`` is a forward hook (``nn.Module.register_forward_hook``);
    every reading of a network's choices at ``x`` goes through this one runner.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    hooks = list(hooks)
    for pair in hooks:
        if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], nn.Module) and callable(pair[1])):
            raise TypeError(f"hooks must be (module, function) pairs, e.g. [(model[1], fn)], got {pair!r}.")
    handles = [m.register_forward_hook(fn) for m, fn in hooks]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()


def gate_pattern(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Boolean gates (B, G): ``True`` where a ReLU's pre-activation is > 0, over all ReLUs in order.

    Convention at the kink: a pre-activation of exactly 0 counts as *off*, matching
    autograd's derivative of ReLU at 0 (which is 0).
    """
    check_piecewise_linear(model)
    check_model_input(model, x)
    relus = _relus(model)
    if not relus:
        raise ValueError("the model has no nn.ReLU modules, so it has no gates to report.")
    gates: list[torch.Tensor] = []
    record = lambda m, inp, out: gates.append((inp[0] > 0).reshape(inp[0].shape[0], -1))  # noqa: E731
    run_with_hooks(model, x, [(r, record) for r in relus])
    return torch.cat(gates, dim=1)


def count_gate_flips(model: nn.Module, x: torch.Tensor, x_other: torch.Tensor) -> torch.Tensor:
    """Number of ReLU gates (B,) that differ between ``x`` and ``x_other`` (same shape)."""
    x = check_inputs(x)
    if not isinstance(x_other, torch.Tensor) or x_other.shape != getattr(x, "shape", None):
        raise ValueError(
            f"x and x_other must have the same shape, got {tuple(getattr(x, 'shape', ()))} and "
            f"{tuple(getattr(x_other, 'shape', ()))}."
        )
    return (gate_pattern(model, x) != gate_pattern(model, x_other)).sum(dim=1)


def _pool_winners(mod: nn.Module, inp: torch.Tensor) -> torch.Tensor:
    """The index of the kept entry of each window of a max-pool layer on its input."""
    fn = F.max_pool1d if isinstance(mod, nn.MaxPool1d) else F.max_pool2d
    _, idx = fn(inp, mod.kernel_size, mod.stride, mod.padding, mod.dilation, mod.ceil_mode, return_indices=True)
    return idx


def choice_pattern(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Every choice of the network at ``x`` (B, K): ReLU gates (on/off) and max-pool winners (index).

    The local map is fixed while all of these are (chapter 1, ``thm-local-linear``): the
    ReLU gates are those of :func:`gate_pattern` (1 on, 0 off), and each max-pool window's
    choice is the index of its kept entry, appended after the gates. For a network
    without pooling this is :func:`gate_pattern` as integers.
    """
    gates = gate_pattern(model, x).long()  # validates the model and x
    pools: list[torch.Tensor] = []

    def record(mod, inp, out):
        idx = _pool_winners(mod, inp[0])
        pools.append(idx.reshape(idx.shape[0], -1))

    run_with_hooks(model, x, [(m, record) for m in model.modules() if isinstance(m, _POOLS)])
    return torch.cat([gates, *pools], dim=1)


def count_choice_flips(model: nn.Module, x: torch.Tensor, x_other: torch.Tensor) -> torch.Tensor:
    """Number of choices (B,) that differ between ``x`` and ``x_other``: ReLU gates and max-pool winners.

    :func:`count_gate_flips` counts ReLU gates only; a CNN with max-pooling also leaves its
    linear region when a pool's winner changes. Without pooling the two counts are equal.
    """
    count_gate_flips(model, x, x_other)  # validates x and x_other (same shape)
    return (choice_pattern(model, x) != choice_pattern(model, x_other)).sum(dim=1)


class FrozenGates(nn.Module):
    """``model`` with every ReLU gate (and max-pool choice) frozen at the reference inputs ``x_ref``.

    ``FrozenGates(model, x_ref)(x)`` is the affine map ``W(x_ref) x + b(x_ref)`` for a
    batch ``x`` of the same shape as ``x_ref``: the network of the linear region
    that contains ``x_ref``, extended to all inputs. Chapter 2 attacks it to tell
    softmax saturation apart from gate flips. The wrapped model is not changed.
    """

    def __init__(self, model: nn.Module, x_ref: torch.Tensor):
        super().__init__()
        check_piecewise_linear(model)
        x_ref = check_inputs(x_ref, name="x_ref")
        check_model_input(model, x_ref)
        self.model = model
        self.ref_shape = tuple(x_ref.shape)
        self._masks: list[torch.Tensor] = []
        self._indices: list[torch.Tensor] = []
        hooks = []
        for m in model.modules():
            if isinstance(m, nn.ReLU):
                hooks.append((m, lambda mod, inp, out: self._masks.append((inp[0] > 0).detach())))
            elif isinstance(m, _POOLS):
                hooks.append((m, self._record_pool))
            elif isinstance(m, (nn.MaxPool3d,)):
                raise NotImplementedError("freezing MaxPool3d choices is not supported; use 1-d or 2-d pooling.")
        run_with_hooks(model, x_ref, hooks)

    def _record_pool(self, mod, inp, out):
        self._indices.append(_pool_winners(mod, inp[0]).detach())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"FrozenGates takes a torch.Tensor of shape {self.ref_shape}, got {type(x).__name__}.")
        if tuple(x.shape) != self.ref_shape:
            raise ValueError(
                f"FrozenGates was built for inputs of shape {self.ref_shape}; got {tuple(x.shape)}. "
                "The gates are per example, so the batch must match x_ref."
            )
        masks, indices = iter(self._masks), iter(self._indices)

        def relu_hook(mod, inp, out):
            return inp[0] * next(masks).to(inp[0].dtype)

        def pool_hook(mod, inp, out):
            idx = next(indices)
            flat = inp[0].flatten(start_dim=2)
            return flat.gather(2, idx.flatten(start_dim=2)).reshape(idx.shape)

        hooks = []
        for m in self.model.modules():
            if isinstance(m, nn.ReLU):
                hooks.append(m.register_forward_hook(relu_hook))
            elif isinstance(m, _POOLS):
                hooks.append(m.register_forward_hook(pool_hook))
        try:
            return self.model(x)
        finally:
            for h in hooks:
                h.remove()


def linearity_error(
    model: nn.Module,
    x: torch.Tensor,
    x_new: torch.Tensor,
    *,
    W: torch.Tensor | None = None,
    b: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """How well the local map at ``x`` predicts the logits at ``x_new``: ``(error, flips)``, both (B,).

    ``error[i] = max_c |f(x_new)_c - (W x_new + b)_c|`` with ``(W, b)`` the local map at
    ``x`` (computed unless given), and ``flips[i]`` the number of gates that differ
    between ``x`` and ``x_new`` (:func:`count_gate_flips`). Chapter 1, theorem
    ``thm-local-linear``: the error is round-off wherever ``flips == 0``.
    """
    if (W is None) != (b is None):
        raise ValueError(
            f"pass both W and b (the local map at x) or neither, got only {'W' if b is None else 'b'}; "
            "e.g. W, b = local_linear_map(model, x)."
        )
    if W is None:
        W, b = local_linear_map(model, x)
    flips = count_gate_flips(model, x, x_new)  # validates the model, x and x_new
    _check_map(W, b, x)
    with torch.no_grad():
        pred = torch.einsum("bcn,bn->bc", W, x_new.reshape(x_new.shape[0], -1)) + b
        err = (model(x_new) - pred).abs().amax(dim=1)
    return err, flips


def _check_map(W, b, x: torch.Tensor) -> None:
    """``W`` (B, C, n) and ``b`` (B, C) of the local map at ``x`` (B, *input_shape), in ``x``'s dtype."""
    B, n = x.shape[0], x[0].numel()
    for name, t in (("W", W), ("b", b)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor from local_linear_map(model, x), got {type(t).__name__}.")
    if W.dim() != 3 or W.shape[0] != B or W.shape[2] != n or tuple(b.shape) != (B, W.shape[1]):
        raise ValueError(
            f"W and b must be the local map at x: W of shape (B, C, n) = ({B}, C, {n}) and b of shape (B, C); "
            f"got W {tuple(W.shape)} and b {tuple(b.shape)}. Compute them with local_linear_map(model, x)."
        )
    if W.dtype != x.dtype or b.dtype != x.dtype:
        raise TypeError(f"W and b must have x's dtype {x.dtype}, got {W.dtype} and {b.dtype}.")
