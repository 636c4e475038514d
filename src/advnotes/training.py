"""A small, reproducible training loop for standard and adversarial training.

One loop serves both: with ``attack=None`` it is standard training; with an
attack ``(model, x, y) -> delta`` each step trains on ``x + delta`` (the
adversarial loss ``L(x + delta_m(theta); theta)`` of chapter 4). Plain SGD
(optionally with momentum), full-batch or minibatch, and per-step records of the
loss and of the parameter update, which chapter 4 reads to detect oscillation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .validation import check_dtype_match, check_inputs, check_labels, check_logits, check_positive

Attack = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class TrainLog:
    """Per-step records of :func:`train` (one entry per parameter update).

    ``loss``: training loss of the step's batch (adversarial when attacked), before
    the update. ``clean_loss``: the same batch without perturbation.
    ``update_norm``: ``|theta_{t+1} - theta_t|``. ``update_cos``: cosine between
    update ``t`` and update ``t-1`` (one fewer entry; negative means a zig-zag).
    ``updates``: the flattened updates, kept when ``record_updates=True``.
    """

    loss: list[float] = field(default_factory=list)
    clean_loss: list[float] = field(default_factory=list)
    update_norm: list[float] = field(default_factory=list)
    update_cos: list[float] = field(default_factory=list)
    updates: list[torch.Tensor] = field(default_factory=list)

    @property
    def steps(self) -> int:
        return len(self.loss)

    def summary(self) -> str:
        """A rounded one-line summary, safe to print in a chapter."""
        if not self.loss:
            return "TrainLog(no steps)"
        rises = sum(b > a for a, b in zip(self.loss, self.loss[1:]))
        neg = sum(c < 0 for c in self.update_cos)
        return (
            f"steps={self.steps} loss {self.loss[0]:.3f} -> {self.loss[-1]:.3f}, "
            f"loss rose on {rises}/{max(self.steps - 1, 0)} steps, "
            f"negative update cosine on {neg}/{len(self.update_cos)} steps"
        )


def flat_params(model: nn.Module) -> torch.Tensor:
    """All trainable parameters as one detached vector."""
    return torch.cat([p.detach().reshape(-1) for p in model.parameters() if p.requires_grad])


def _check_training_data(model, x, y):
    x = check_inputs(x)
    check_dtype_match(model, x)
    with torch.no_grad():
        C = check_logits(model(x[:1]), 1)
    y = check_labels(y, batch=x.shape[0], num_classes=C)
    return x, y


def train(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    lr: float,
    steps: int,
    batch_size: int | None = None,
    attack: Attack | None = None,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    seed: int = 0,
    record_updates: bool = False,
) -> TrainLog:
    """Train ``model`` in place for ``steps`` SGD updates; return a :class:`TrainLog`.

    ``batch_size=None`` is full-batch gradient descent; otherwise minibatches are
    drawn without replacement, reshuffled each epoch with a generator seeded by
    ``seed``. ``attack`` maps ``(model, xb, yb)`` to a perturbation (e.g.
    ``functools.partial(gradient_ascent, step_size=0.1, steps=5)``); it is
    recomputed at every step from the current parameters.
    """
    check_positive("lr", lr)
    check_positive("steps", steps, integer=True, allow_zero=True)
    check_positive("momentum", momentum, allow_zero=True)
    check_positive("weight_decay", weight_decay, allow_zero=True)
    if momentum >= 1:
        raise ValueError(f"momentum must be < 1, got {momentum}.")
    x, y = _check_training_data(model, x, y)
    n = x.shape[0]
    if batch_size is not None:
        check_positive("batch_size", batch_size, integer=True)
        batch_size = min(batch_size, n)
    gen = torch.Generator().manual_seed(int(seed))
    params = [p for p in model.parameters() if p.requires_grad]
    velocity = [torch.zeros_like(p) for p in params]
    log = TrainLog()
    order, pos, prev_update = None, n, None
    for _ in range(steps):
        if batch_size is None:
            xb, yb = x, y
        else:
            if pos + batch_size > n:
                order, pos = torch.randperm(n, generator=gen).to(x.device), 0
            idx = order[pos : pos + batch_size]
            pos += batch_size
            xb, yb = x[idx], y[idx]
        if attack is not None:
            delta = attack(model, xb, yb).detach()
            if delta.shape != xb.shape:
                raise ValueError(f"the attack returned shape {tuple(delta.shape)}, expected {tuple(xb.shape)}.")
            x_in = xb + delta
        else:
            x_in = xb
        loss = F.cross_entropy(model(x_in), yb)
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"training loss became non-finite at step {log.steps}; lower lr or the attack strength."
            )
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            clean = loss.detach() if attack is None else F.cross_entropy(model(xb), yb)
            updates = []
            for p, g, v in zip(params, grads, velocity):
                if weight_decay:
                    g = g + weight_decay * p
                v.mul_(momentum).add_(g)
                u = -lr * v
                p.add_(u)
                updates.append(u.reshape(-1))
            update = torch.cat(updates)
        log.loss.append(float(loss.detach()))
        log.clean_loss.append(float(clean))
        log.update_norm.append(float(update.norm()))
        if prev_update is not None:
            denom = float(update.norm() * prev_update.norm())
            log.update_cos.append(float(update @ prev_update) / denom if denom > 0 else 0.0)
        if record_updates:
            log.updates.append(update.clone())
        prev_update = update
    return log


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of ``x`` classified as ``y``."""
    x, y = _check_training_data(model, x, y)
    with torch.no_grad():
        return float((model(x).argmax(dim=1) == y).double().mean())


def robust_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, attack: Attack) -> float:
    """Accuracy on ``x + attack(model, x, y)``."""
    x, y = _check_training_data(model, x, y)
    delta = attack(model, x, y)
    with torch.no_grad():
        return float((model(x + delta).argmax(dim=1) == y).double().mean())
