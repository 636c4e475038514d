"""A small, reproducible training loop for standard and adversarial training.

One loop serves both: with ``attack=None`` it is standard training; with an
attack ``(model, x, y) -> delta`` each step trains on ``x + delta`` (the
adversarial loss ``L(x + delta_m(theta); theta)`` of chapter 4). Plain SGD
(optionally with momentum), full-batch or minibatch, and per-step records of the
loss and of the parameter update, which chapter 4 reads to detect oscillation.
:func:`train_ensemble` runs the same loop for several seeds at once, as one batched
computation; :func:`train_ensemble_snapshots` keeps the networks at several step counts of one run.

Inputs are checked against the model before the first step (in eval mode, so the check
never touches batch-norm statistics); ``steps`` may not exceed :data:`MAX_STEPS`.
:func:`accuracy` and :func:`robust_accuracy` evaluate the model in eval mode and restore
its mode afterwards.
"""

from __future__ import annotations

import copy
import itertools
import numbers
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from .stats import cosine
from .validation import (
    check_bool,
    check_limit,
    check_model,
    check_model_data,
    check_positive,
    check_seed,
    eval_mode,
)

Attack = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]

#: The most steps one call of :func:`train` / :func:`train_ensemble` may take. A longer run shows no
#: progress and may look like a hang; set ``advnotes.training.MAX_STEPS`` higher to allow it.
MAX_STEPS = 1_000_000


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


def _check_training_data(model, x, y):
    """``x`` and ``y`` against the model (one probe forward, in eval mode: the check never changes the model)."""
    with eval_mode(model):
        x, y, _ = check_model_data(model, x, y, probe=1)
    return x, y


def _check_attack(attack) -> None:
    if attack is not None and not callable(attack):
        raise TypeError(
            f"attack must be None or a callable (model, x, y) -> delta, e.g. "
            f"advnotes.threat.training_attack('pgd'), got {type(attack).__name__}."
        )


def _check_knobs(*, lr, steps, momentum, weight_decay, record_updates=False) -> None:
    """The scalar arguments of :func:`train` (and :func:`train_ensemble`)."""
    check_positive("lr", lr)
    steps = check_positive("steps", steps, integer=True, allow_zero=True)
    check_limit("steps", steps, "advnotes.training.MAX_STEPS", MAX_STEPS, what="a training run that long")
    momentum = check_positive("momentum", momentum, allow_zero=True)
    check_positive("weight_decay", weight_decay, allow_zero=True)
    check_bool("record_updates", record_updates)
    if momentum >= 1:
        raise ValueError(f"momentum must be < 1, got {momentum}.")


class _Minibatches:
    """The minibatch order of :func:`train`: without replacement, reshuffled each epoch.

    A permutation of ``range(n)`` is drawn from a CPU generator seeded with ``seed``
    whenever the rest of the current one is shorter than a batch (the tail is dropped).
    """

    def __init__(self, n: int, batch_size: int, seed: int, device) -> None:
        check_positive("batch_size", batch_size, integer=True)
        self.n, self.batch_size, self.device = n, min(batch_size, n), device
        self.gen = torch.Generator().manual_seed(int(seed))
        self.order, self.pos = None, n

    def next(self) -> torch.Tensor:
        """The indices of the next minibatch."""
        if self.pos + self.batch_size > self.n:
            self.order, self.pos = torch.randperm(self.n, generator=self.gen).to(self.device), 0
        idx = self.order[self.pos : self.pos + self.batch_size]
        self.pos += self.batch_size
        return idx


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
    _check_knobs(lr=lr, steps=steps, momentum=momentum, weight_decay=weight_decay, record_updates=record_updates)
    check_model(model)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module (train updates its parameters), got {type(model).__name__}.")
    seed = check_seed(seed)
    _check_attack(attack)
    x, y = _check_training_data(model, x, y)
    if not any(p.requires_grad for p in model.parameters()):
        raise ValueError("the model has no trainable parameters (requires_grad=True): there is nothing to train.")
    batches = None if batch_size is None else _Minibatches(x.shape[0], batch_size, seed, x.device)
    params = [p for p in model.parameters() if p.requires_grad]
    velocity = [torch.zeros_like(p) for p in params]
    log = TrainLog()
    prev_update = None
    for _ in range(steps):
        if batches is None:
            xb, yb = x, y
        else:
            idx = batches.next()
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
            log.update_cos.append(float(cosine(update, prev_update, zero=0.0)))
        if record_updates:
            log.updates.append(update.clone())
        prev_update = update
    return log


# ----------------------------------------------------------------------------- several seeds at once


def train_ensemble(
    make_model: Callable[[int], nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    seeds: Sequence[int],
    lr: float,
    steps: int,
    batch_size: int | None = None,
    attack: Attack | None = None,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    record_updates: bool = False,
    **unexpected,
) -> tuple[list[nn.Module], list[TrainLog]]:
    """Train one model per seed, all seeds in one batched computation; return ``(models, logs)``.

    The chapters train every setting with several seeds (at least five) to put a
    confidence interval on what they measure. This does it as one computation: the
    members' parameters are stacked along a leading "member" axis and every step is
    one forward and one backward pass for all of them. On one CPU thread, five seeds
    of the chapters' digits MLP take about three times one seed's :func:`train`
    (``benchmarks/bench_train_ensemble.py``).

    ``make_model(seed)`` builds a fresh model for a seed and seeds its own
    initialisation; every seed must give the same architecture (module tree and
    parameter shapes: all members run the ``forward`` of the first). The other keyword
    arguments are those of :func:`train`, except ``seed``: member ``k`` uses
    ``seeds[k]``. For example::

        def make_model(seed):
            torch.manual_seed(seed)
            return mlp(64, (128, 128), 10)

        models, logs = train_ensemble(make_model, x, y, seeds=range(5), lr=0.1, steps=200, batch_size=64)

    Contract: member ``k`` is, up to round-off, ``train(make_model(seeds[k]), x, y,
    seed=seeds[k], **kwargs)``. The returned model is the one ``make_model`` built
    (trained in place, mode unchanged) and its :class:`TrainLog` has the same entries;
    minibatches are drawn exactly as :func:`train` draws them with that seed, and a
    member does not depend on which other seeds are trained with it.

    The attack sees the ensemble as one model over a stacked batch: it is called as
    ``attack(f, xb_all, yb_all)`` with the members' batches concatenated
    (``S * B`` examples, member ``s`` owning rows ``s*B`` to ``(s+1)*B``) and ``f`` a
    callable mapping such a batch to ``(S * B, C)`` logits, each slice through its own
    member at its current parameters (without a graph to them: :func:`train` detaches
    the perturbation too). This reproduces :func:`train` only for attacks that treat the examples
    independently, as the package's attacks do (they maximise a *sum* of per-example
    losses, so an example's gradient is its own): an attack that normalises over the
    batch, or draws random numbers (``random_start=True``), gives each member a slice
    of one stacked computation instead of what it would get alone.

    A ``nn.Sequential`` of ``Linear``, ``ReLU``, ``Flatten``, ``Identity`` (and
    inactive ``Dropout``) layers runs as batched matrix products; any other model
    through ``torch.vmap`` over ``torch.func.functional_call``. Models whose buffers
    change in training (batch-norm in training mode) and active dropout are refused:
    the members could not reproduce :func:`train`.
    """
    members, logs, _ = _run_ensemble(
        "train_ensemble",
        make_model,
        x,
        y,
        seeds=seeds,
        lr=lr,
        steps=steps,
        batch_size=batch_size,
        attack=attack,
        momentum=momentum,
        weight_decay=weight_decay,
        record_updates=record_updates,
        snapshots=(),
        unexpected=unexpected,
    )
    return members, logs


def train_ensemble_snapshots(
    make_model: Callable[[int], nn.Module],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    seeds: Sequence[int],
    at: Sequence[int],
    lr: float,
    batch_size: int | None = None,
    attack: Attack | None = None,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    **unexpected,
) -> tuple[list[list[nn.Module]], list[TrainLog]]:
    """The members after each step count in ``at``, from one run of ``max(at)`` steps; ``(snapshots, logs)``.

    ``snapshots[i][k]`` is the network of seed ``seeds[k]`` after ``at[i]`` steps (a copy;
    ``at`` strictly increasing, each >= 1), and ``logs`` are the :class:`TrainLog` of the whole
    run. Nothing in the loop depends on its length (no schedule; minibatch order, momentum and
    attacks depend only on the steps taken), so ``snapshots[i]`` equals, up to round-off, the
    models of ``train_ensemble(make_model, x, y, seeds=seeds, steps=at[i], ...)``: one run
    instead of one per checkpoint. An attack with a random start draws from torch's global
    generator, so for such attacks the equality needs a ``make_model`` that seeds it (as
    ``torch.manual_seed(seed)`` in the example of :func:`train_ensemble` does): otherwise
    separate runs do not even repeat themselves. The other keywords are those of :func:`train_ensemble`
    (``record_updates`` is not offered: the logs of a long run can be large).
    """
    if "steps" in unexpected:
        raise ValueError("train_ensemble_snapshots takes no steps=: the run lasts max(at) steps.")
    at = _check_snapshots(at)
    _, logs, snapshots = _run_ensemble(
        "train_ensemble_snapshots",
        make_model,
        x,
        y,
        seeds=seeds,
        lr=lr,
        steps=at[-1],
        batch_size=batch_size,
        attack=attack,
        momentum=momentum,
        weight_decay=weight_decay,
        record_updates=False,
        snapshots=at,
        unexpected=unexpected,
    )
    return snapshots, logs


def _check_snapshots(at) -> list[int]:
    if isinstance(at, (str, bytes, torch.Tensor)) or not isinstance(at, Iterable):
        raise ValueError(f"at must be a list of step counts such as [100, 500], got {at!r}.")
    at = list(at)
    if not at:
        raise ValueError("at is empty: pass the step counts to keep, e.g. at=[100, 500].")
    bad = [k for k in at if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1]
    if bad:
        raise ValueError(f"at must hold step counts >= 1 (ints), got {bad[0]!r}.")
    if any(b <= a for a, b in zip(at, at[1:])):
        raise ValueError(f"at must be strictly increasing, got {at}; sort it and drop repeats.")
    return [int(k) for k in at]


def _run_ensemble(
    caller,
    make_model,
    x,
    y,
    *,
    seeds,
    lr,
    steps,
    batch_size,
    attack,
    momentum,
    weight_decay,
    record_updates,
    snapshots,
    unexpected,
):
    """The checks and the run shared by :func:`train_ensemble` and :func:`train_ensemble_snapshots`."""
    if "seed" in unexpected:
        raise ValueError(
            f"{caller} takes no seed=: member k uses seeds[k] for its model and its minibatch order; "
            "pass seeds=[...] instead."
        )
    if unexpected:
        raise TypeError(
            f"{caller}() got unexpected keyword argument(s) {', '.join(sorted(unexpected))}; "
            "it takes those of train() except seed."
        )
    seeds = _check_seeds(seeds)
    _check_knobs(lr=lr, steps=steps, momentum=momentum, weight_decay=weight_decay, record_updates=record_updates)
    if batch_size is not None:
        check_positive("batch_size", batch_size, integer=True)
    if not callable(make_model):
        raise TypeError(
            f"make_model must be a function seed -> nn.Module (e.g. lambda s: mlp(64, (128,), 10)), "
            f"got {type(make_model).__name__}."
        )
    _check_attack(attack)
    members = _build_members(make_model, seeds)
    x, y = _check_member_data(members, seeds, x, y)
    stack = _StackedMembers(members)
    kept, wanted = [], set(snapshots)

    def after_step(done: int) -> None:
        if done in wanted:
            copies = [copy.deepcopy(m) for m in members]
            stack.write_back(copies)
            kept.append(copies)

    logs = _train_stacked(
        stack,
        x,
        y,
        seeds=seeds,
        lr=lr,
        steps=steps,
        batch_size=batch_size,
        attack=attack,
        momentum=momentum,
        weight_decay=weight_decay,
        record_updates=record_updates,
        after_step=after_step,
    )
    stack.write_back(members)
    return members, logs, kept


def _check_seeds(seeds) -> list[int]:
    if isinstance(seeds, (str, bytes, torch.Tensor)) or not isinstance(seeds, Iterable):
        raise ValueError(f"seeds must be a sequence of ints such as [0, 1, 2, 3, 4], got {seeds!r}.")
    seeds = list(seeds)
    if len(seeds) == 0:
        raise ValueError("seeds is empty: pass at least one seed, e.g. seeds=[0, 1, 2, 3, 4].")
    bad = [s for s in seeds if isinstance(s, bool) or not isinstance(s, numbers.Integral)]
    if bad:
        raise ValueError(f"seeds must be ints, got {bad[0]!r} ({type(bad[0]).__name__}).")
    out = [check_seed(s, name="each seed") for s in seeds]
    dup = sorted({s for s in out if out.count(s) > 1})
    if dup:
        raise ValueError(f"seeds must be distinct (each trains one member), got {dup[0]} more than once.")
    return out


def _build_members(make_model, seeds: list[int]) -> list[nn.Module]:
    """``make_model(seed)`` for each seed, checked: fresh modules of one architecture, no training-time state."""
    members, owner = [], {}
    for s in seeds:
        m = make_model(s)
        if not isinstance(m, nn.Module):
            raise ValueError(f"make_model({s}) must return a torch.nn.Module, got {type(m).__name__}.")
        for t in itertools.chain(m.parameters(), m.buffers()):
            if id(t) in owner:
                raise ValueError(
                    f"make_model({s}) returned a model sharing parameters or buffers with the one for seed "
                    f"{owner[id(t)]}; make_model must build a fresh model for every seed."
                )
        owner.update({id(t): s for t in itertools.chain(m.parameters(), m.buffers())})
        members.append(m)
    ref = _signature(members[0])
    if not any(rg for _, _, _, rg in ref["params"].values()):
        raise ValueError(f"the model of make_model({seeds[0]}) has no trainable parameters.")
    for s, m in zip(seeds[1:], members[1:]):
        sig = _signature(m)
        for kind in ("params", "buffers"):
            if sig[kind] != ref[kind]:
                names = sorted(set(sig[kind]) ^ set(ref[kind])) or [
                    k for k in ref[kind] if sig[kind][k] != ref[kind][k]
                ]
                name = names[0]
                raise ValueError(
                    f"make_model must build the same architecture for every seed: {kind[:-1]} {name!r} is "
                    f"{_describe(sig[kind].get(name))} for seed {s} but {_describe(ref[kind].get(name))} "
                    f"for seed {seeds[0]}."
                )
        # Every member runs the forward of the first: the module trees (types and settings) must match too.
        lines = [line for line in zip(repr(m).splitlines(), repr(members[0]).splitlines()) if line[0] != line[1]]
        if lines or len(repr(m).splitlines()) != len(repr(members[0]).splitlines()):
            mine, first = lines[0] if lines else (repr(m), repr(members[0]))
            raise ValueError(
                f"make_model must build the same architecture for every seed: the model for seed {s} has "
                f"{mine.strip()!r} where the one for seed {seeds[0]} has {first.strip()!r}."
            )
    for s, m in zip(seeds, members):
        for name, mod in m.named_modules():
            where = name or "<root>"
            if isinstance(mod, nn.modules.batchnorm._BatchNorm) and mod.training:
                raise ValueError(
                    f"make_model({s}) has {type(mod).__name__} {where!r} in training mode: its running statistics "
                    "change during training (and batch statistics couple the examples), which the batched "
                    "members cannot reproduce; call model.eval() on it, or use train() per seed."
                )
            if isinstance(mod, nn.Dropout) and mod.training and mod.p > 0:
                raise ValueError(
                    f"make_model({s}) has active Dropout {where!r}: its random masks cannot be reproduced "
                    "member by member; call model.eval() on it (or use p=0)."
                )
    return members


def _signature(model: nn.Module) -> dict:
    params = {n: (tuple(p.shape), p.dtype, p.device, p.requires_grad) for n, p in model.named_parameters()}
    buffers = {n: (tuple(b.shape), b.dtype, b.device, True) for n, b in model.named_buffers()}
    return {"params": params, "buffers": buffers}


def _describe(entry) -> str:
    if entry is None:
        return "absent"
    shape, dtype, device, trainable = entry
    return f"shape {shape} ({str(dtype).replace('torch.', '')}, {device}{'' if trainable else ', frozen'})"


def _check_member_data(members, seeds, x, y):
    """:func:`train`'s data checks for each member, and a refusal of models whose buffers change in a forward."""
    for s, m in zip(seeds, members):
        before = [b.clone() for b in m.buffers()]
        x_checked, y_checked = _check_training_data(m, x, y)
        if any(not torch.equal(a, b) for a, b in zip(before, m.buffers())):
            raise ValueError(
                f"the model of make_model({s}) changed its buffers in a forward pass (training-time statistics); "
                "the batched members cannot reproduce that: put such modules in eval mode, or use train() per seed."
            )
    return x_checked, y_checked


class _StackedMembers:
    """The members' parameters and buffers stacked along a leading member axis, and their batched forward.

    The trainable parameters live in one ``(S, P)`` tensor ``flat`` (row ``s``: member ``s``);
    ``params`` holds views of it shaped like the stacked parameters, so that one update of
    ``flat`` updates them all. ``forward(params, xs)`` maps ``(S, B, *input_shape)`` to
    ``(S, B, C)`` logits, member ``s`` on slice ``s``: batched matrix products for a plain
    MLP (see :data:`_NARROW` for the layout of its weights), ``torch.vmap`` over
    ``torch.func.functional_call`` for anything else.
    """

    def __init__(self, members: list[nn.Module]) -> None:
        S = self.size = len(members)
        plan = mlp_plan(members[0])  # the module's global name: tests may replace it
        named = [dict(m.named_parameters()) for m in members]
        self.names = list(named[0])
        self.transposed = {op[1] for op in plan or () if op[0] == "linear" and op[3]}
        self.trainable_names = [n for n in self.names if named[0][n].requires_grad]
        first = named[0][self.trainable_names[0]]
        for n in self.trainable_names:
            if (named[0][n].dtype, named[0][n].device) != (first.dtype, first.device):
                raise ValueError(
                    f"train_ensemble needs every trainable parameter on one dtype and device; {n!r} is "
                    f"{named[0][n].dtype} on {named[0][n].device}, {self.trainable_names[0]!r} {first.dtype} "
                    f"on {first.device}."
                )

        def stacked(n):
            t = torch.stack([d[n].detach() for d in named])
            return t.transpose(1, 2) if n in self.transposed else t

        sizes = [named[0][n].numel() for n in self.trainable_names]
        self.flat = torch.empty(S, sum(sizes), dtype=first.dtype, device=first.device)
        self.params, order, offset = {}, [], 0
        with torch.no_grad():
            for n, size in zip(self.trainable_names, sizes):
                value = stacked(n)
                view = self.flat[:, offset : offset + size].view(value.shape)
                view.copy_(value)
                self.params[n] = view.requires_grad_()  # a leaf, as a view of a tensor without grad
                # The members flatten the weight as (out, in); ``flat`` holds it as (in, out).
                seg = torch.arange(offset, offset + size)
                order.append(seg.view(value.shape[1:]).mT.reshape(-1) if n in self.transposed else seg)
                offset += size
            for n in self.names:
                if n not in self.params:  # frozen: stacked, never updated
                    self.params[n] = stacked(n).contiguous()
            bufs = [dict(m.named_buffers()) for m in members]
            self.buffers = {n: torch.stack([d[n] for d in bufs]) for n in bufs[0]}
        self.params = {n: self.params[n] for n in self.names}  # the members' order
        self.trainable = [self.params[n] for n in self.trainable_names]
        # Position in ``flat`` of each entry of a member's flattened parameters (train()'s order), if it differs.
        order = torch.cat(order)
        self.member_order = None if torch.equal(order, torch.arange(order.numel())) else order.to(first.device)
        self.detached = {n: p.detach() for n, p in self.params.items()}  # views: follow the in-place updates
        if plan is not None:
            self.path = "bmm"
            self.forward = lambda params, xs: _mlp_forward(plan, params, xs)
        else:
            self.path = "vmap"
            base = copy.deepcopy(members[0]).to("meta")

            def member(params, buffers, xs):
                return functional_call(base, (params, buffers), (xs,))

            batched = torch.vmap(member)
            self.forward = lambda params, xs: batched(params, self.buffers, xs)

    def flat_model(self, *, detached: bool) -> _FlatEnsemble:
        """The ensemble as one model over a stacked batch (``detached``: without a graph to the parameters)."""
        return _FlatEnsemble(self, self.detached if detached else self.params)

    def flat_grad(self, grads) -> torch.Tensor:
        """The gradients of ``trainable`` as one ``(S, P)`` tensor laid out like ``flat``."""
        return torch.cat([g.reshape(self.size, -1) for g in grads], dim=1)

    def in_member_order(self, t: torch.Tensor) -> torch.Tensor:
        """An ``(S, P)`` tensor laid out like ``flat``, each row in the order of ``models.flat_params(member)``."""
        return t if self.member_order is None else t.index_select(1, self.member_order)

    def write_back(self, members: list[nn.Module]) -> None:
        with torch.no_grad():
            for k, m in enumerate(members):
                for n, p in m.named_parameters():
                    value = self.params[n][k]
                    p.copy_(value.mT if n in self.transposed else value)


class _FlatEnsemble:
    """The ensemble as one model over a stacked batch: ``(S * B, *input_shape) -> (S * B, C)``.

    Member ``s`` evaluates rows ``s * B`` to ``(s + 1) * B``. After ``watch(x)`` it keeps the
    logits of its first call on exactly ``x``: the package's attacks evaluate the clean batch
    once (to check it), which then also gives the clean loss without another forward pass.
    """

    def __init__(self, stack: _StackedMembers, params: dict) -> None:
        self.stack, self.params = stack, params
        self._watched, self.watched_logits = None, None

    def watch(self, x: torch.Tensor | None) -> None:
        self._watched, self.watched_logits = x, None

    def __call__(self, xf: torch.Tensor) -> torch.Tensor:
        S = self.stack.size
        if xf.dim() < 1 or xf.shape[0] % S:
            raise ValueError(
                f"the ensemble of {S} members takes a stacked batch of S * B examples, got {tuple(xf.shape)}."
            )
        z = self.stack.forward(self.params, xf.reshape(S, xf.shape[0] // S, *xf.shape[1:]))
        z = z.reshape(xf.shape[0], *z.shape[2:])
        w = self._watched
        if w is not None and self.watched_logits is None and xf.shape == w.shape and torch.equal(xf, w):
            self.watched_logits = z.detach()
        return z


def ensemble_path(model: nn.Module) -> str:
    """Which batched computation :func:`train_ensemble` uses for members built like ``model``.

    ``"bmm"``: batched matrix products, for a plain MLP (:func:`mlp_plan` reads its layers);
    ``"vmap"``: ``torch.vmap`` over ``torch.func.functional_call``, for anything else (CNNs,
    hooked or custom modules).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}.")
    return "bmm" if mlp_plan(model) is not None else "vmap"


def mlp_plan(model: nn.Module) -> list[tuple] | None:
    """The layers of a plain MLP (``nn.Sequential`` of Linear/ReLU/Flatten/Identity), or None for anything else.

    The plan of :func:`train_ensemble`'s batched-matmul path: one entry per layer,
    ``("linear", weight name, bias name or None, transposed)``, ``("relu",)`` or ``("flatten",)``."""
    names = {id(p): n for n, p in model.named_parameters()}

    def walk(mod) -> list[tuple] | None:
        if mod._forward_hooks or mod._forward_pre_hooks:
            return None
        if type(mod) is nn.Sequential:
            plan = []
            for child in mod:
                sub = walk(child)
                if sub is None:
                    return None
                plan += sub
            return plan
        if type(mod) is nn.Linear:
            if id(mod.weight) not in names or (mod.bias is not None and id(mod.bias) not in names):
                return None  # a weight that is not a registered parameter
            bias = None if mod.bias is None else names[id(mod.bias)]
            return [("linear", names[id(mod.weight)], bias, mod.out_features > _NARROW)]
        if type(mod) is nn.ReLU:
            return [("relu",)]
        if type(mod) is nn.Flatten and mod.start_dim == 1 and mod.end_dim == -1:
            return [("flatten",)]
        if type(mod) is nn.Identity or (type(mod) is nn.Dropout and (not mod.training or mod.p == 0)):
            return []
        return None

    return walk(model) if type(model) is nn.Sequential else None


def _mlp_forward(plan, params: dict, xs: torch.Tensor) -> torch.Tensor:
    """Batched forward of a plain MLP: ``xs`` (S, B, ...) -> (S, B, C), one ``baddbmm`` per Linear."""
    S, B = xs.shape[:2]
    h = xs
    for op in plan:
        if op[0] == "linear":
            w = params[op[1]] if op[3] else params[op[1]].mT  # (S, in, out)
            lead = h.shape[1:-1]
            h3 = h.reshape(S, -1, h.shape[-1])
            h3 = torch.bmm(h3, w) if op[2] is None else torch.baddbmm(params[op[2]].unsqueeze(1), h3, w)
            h = h3.reshape(S, *lead, h3.shape[-1])
        elif op[0] == "relu":
            h = torch.relu(h)
        else:  # flatten
            h = h.reshape(S, B, -1)
    return h


#: A Linear layer with more outputs than this keeps its stacked weight transposed, (S, in, out): ``baddbmm``
#: then gives its gradient contiguous. A narrow one (the logits) keeps (S, out, in), where the forward
#: product is about twice as fast on a CPU and its small gradient is copied into ``flat`` anyway.
_NARROW = 32


def _member_losses(logits: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
    """The mean cross-entropy of each member's batch: logits (S * B, C), labels (S, B) -> (S,)."""
    return F.cross_entropy(logits, yb.reshape(-1), reduction="none").view(yb.shape).mean(dim=1)


def _train_stacked(
    stack: _StackedMembers,
    x,
    y,
    *,
    seeds,
    lr,
    steps,
    batch_size,
    attack,
    momentum,
    weight_decay,
    record_updates,
    after_step=None,
) -> list[TrainLog]:
    """The loop of :func:`train`, for all members at once."""
    S, n = stack.size, x.shape[0]
    batches = None if batch_size is None else [_Minibatches(n, batch_size, s, x.device) for s in seeds]
    model = stack.flat_model(detached=False)
    attacked = stack.flat_model(detached=True)  # the attack needs no graph to the parameters
    velocity = torch.zeros_like(stack.flat)
    logs = [TrainLog() for _ in seeds]
    prev_velocity = None
    if batches is None:  # full batch: the same stacked batch at every step
        xf, yf = x.repeat(S, *([1] * (x.dim() - 1))), y.repeat(S)
    for step in range(steps):
        if batches is not None:
            idx = torch.cat([b.next() for b in batches])
            xf, yf = x.index_select(0, idx), y.index_select(0, idx)
        yb = yf.view(S, -1)
        if attack is not None:
            attacked.watch(xf)
            delta = attack(attacked, xf, yf).detach()
            if delta.shape != xf.shape:
                raise ValueError(
                    f"the attack returned shape {tuple(delta.shape)}, expected {tuple(xf.shape)} "
                    f"(the {S} members' batches stacked)."
                )
            x_in = xf + delta
        else:
            x_in = xf
        losses = _member_losses(model(x_in), yb)
        finite = torch.isfinite(losses)
        if not bool(finite.all()):
            k = int((~finite).nonzero()[0, 0])
            raise FloatingPointError(
                f"training loss of the member with seed {seeds[k]} became non-finite at step {step}; "
                "lower lr or the attack strength."
            )
        grads = torch.autograd.grad(losses.sum(), stack.trainable)
        with torch.no_grad():
            losses = losses.detach()
            if attack is None:
                clean = losses
            else:
                clean_logits = attacked.watched_logits if attacked.watched_logits is not None else attacked(xf)
                clean = _member_losses(clean_logits, yb)
                attacked.watch(None)
            g = stack.flat_grad(grads)
            if weight_decay:
                g = g + weight_decay * stack.flat
            # The update is -lr * velocity (train()'s v <- momentum * v + g). Its norm and the cosine
            # between successive updates are read off the velocity, which saves passes over (S, P).
            velocity = torch.add(g, velocity, alpha=momentum) if momentum else g
            stack.flat.add_(velocity, alpha=-lr)
            norm = torch.linalg.vector_norm(velocity, dim=1)
            if prev_velocity is not None:  # the update is -lr * velocity: same cosine
                cosines = cosine(velocity, prev_velocity, zero=0.0).tolist()
            recorded = stack.in_member_order(-lr * velocity) if record_updates else None
        for k, (log, loss_k, clean_k, norm_k) in enumerate(zip(logs, losses.tolist(), clean.tolist(), norm.tolist())):
            log.loss.append(loss_k)
            log.clean_loss.append(clean_k)
            log.update_norm.append(lr * norm_k)
            if prev_velocity is not None:
                log.update_cos.append(cosines[k])
            if recorded is not None:
                log.updates.append(recorded[k].clone())
        prev_velocity = velocity
        if after_step is not None:
            after_step(step + 1)
    return logs


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Fraction of ``x`` classified as ``y``, by the model in eval mode (its mode is restored afterwards)."""
    x, y = _check_training_data(model, x, y)
    with torch.no_grad(), eval_mode(model):
        return float((model(x).argmax(dim=1) == y).double().mean())


def robust_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, attack: Attack) -> float:
    """Accuracy on ``x + attack(model, x, y)``, attacked and evaluated in eval mode (the mode is restored)."""
    if not callable(attack):
        raise TypeError(
            f"attack must be a callable (model, x, y) -> delta, e.g. advnotes.threat.training_attack('pgd'), "
            f"got {type(attack).__name__}."
        )
    x, y = _check_training_data(model, x, y)
    with eval_mode(model):
        delta = attack(model, x, y)
        if not isinstance(delta, torch.Tensor) or delta.shape != x.shape:
            raise ValueError(
                f"the attack must return a perturbation of x's shape {tuple(x.shape)}, got "
                f"{tuple(delta.shape) if isinstance(delta, torch.Tensor) else type(delta).__name__}."
            )
        with torch.no_grad():
            return float((model(x + delta).argmax(dim=1) == y).double().mean())
