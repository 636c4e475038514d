"""The threat model of the book, stated once and used by every chapter.

RobustBench's convention for images (Croce et al. 2021), adapted to 8x8 digits:

- **Inputs** in pixel units, ``x in [0, 1]^n`` (:func:`advnotes.data.load_digits`
  divides the grey levels 0..16 by 16).
- **Budget**: an L-inf ball ``|delta|_inf <= eps`` in pixel units; every attack
  projects onto the ball *and* the box ``[0, 1]``. ``EPS`` = 0.1 is the headline
  budget: 1.6 of the 16 grey levels, below the two-level steps that separate strokes
  from background, so the label of a perturbed digit is not in doubt; ``EPS_SWEEP``
  brackets it (0.3 is MNIST's customary budget, on images 12 times larger).
- **Attacks**: the paper analyses plain multi-step gradient ascent (unnormalised
  steps, :func:`advnotes.attacks.gradient_ascent`); people train with sign-gradient
  L-inf PGD (Madry et al. 2018, :func:`advnotes.attacks.pgd_linf`); FGSM
  (:func:`advnotes.attacks.fgsm`) is the one-step baseline. :func:`training_attack`
  builds each, projected, with the same budget.
- **Robust accuracy**: PGD with ``EVAL_STEPS`` steps of size
  ``2.5 eps / EVAL_STEPS`` (Madry et al.'s rule: the iterate can cross the ball 2.5
  times) from ``EVAL_RESTARTS`` starts (the clean input, then random points of the
  ball); an input counts as robust only if
  it survives every restart (:func:`robust_accuracy`).

Like the attacks, :func:`robust_accuracy` runs the model in eval mode and restores
its mode afterwards; the number of steps is capped by
``advnotes.attacks.MAX_STEPS`` and the restarts by ``MAX_RESTARTS`` (set them
higher to allow longer evaluations).

The theory of chapter 2 is about the *unprojected* attack; chapters that test it say so
where they leave this threat model, and why.

**MNIST-1D** (the second setting, :mod:`advnotes.settings`): the generator standardises
the signals (each coordinate has mean ~0 and standard deviation 0.8-1.1; pooled, 1.0)
and there is no pixel box, so budgets are in units of the signal's standard deviation
and attacks project onto the ball only (``clamp=None``). ``MNIST1D_EPS`` = 0.25 sigma
keeps the digits' budget *relative to the data's spread*: 0.1 pixel units is 0.27 of
the digits' pooled standard deviation (0.376). ``MNIST1D_EPS_SWEEP`` scales the digits
sweep by the same factor (0.5, 1, 2 and 3 times the headline budget).
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from .attacks import check_clamp, check_steps, fgsm, gradient_ascent, pgd_linf
from .validation import check_at_most, check_labels, check_model_input, check_positive, check_seed, eval_mode

#: The pixel box every perturbed input must stay in.
BOX = (0.0, 1.0)
#: The headline L-inf budget in pixel units (1.6 of 16 grey levels).
EPS = 0.1
#: Budgets of the sweeps (0.3: MNIST's customary budget).
EPS_SWEEP = (0.05, 0.1, 0.2, 0.3)
#: MNIST-1D: the headline budget in units of the signal's standard deviation, and its sweep.
MNIST1D_EPS = 0.25
MNIST1D_EPS_SWEEP = (0.125, 0.25, 0.5, 0.75)
#: Evaluation PGD: steps and starts (the first at the clean input, the others random).
EVAL_STEPS = 20
EVAL_RESTARTS = 5
#: Training attacks: steps of the multi-step attacks.
TRAIN_STEPS = 5
#: The most random restarts :func:`robust_accuracy` accepts (set it higher to allow more).
MAX_RESTARTS = 1000

STATEMENT = (
    f"Threat model: inputs in [0, 1] pixel units; L-inf budget eps = {EPS:g} (sweeps: "
    + ", ".join(f"{e:g}" for e in EPS_SWEEP)
    + "); every attack projects onto the eps-ball and the [0, 1] box; robust accuracy from "
    f"PGD-{EVAL_STEPS} (step 2.5 eps/{EVAL_STEPS}) from {EVAL_RESTARTS} starts (the clean input and "
    f"{EVAL_RESTARTS - 1} random points of the ball), worst case per input."
)

STATEMENT_MNIST1D = (
    "Threat model on MNIST-1D: standardised signals (unit standard deviation), no box; L-inf budget "
    f"eps = {MNIST1D_EPS:g} standard deviations (sweeps: "
    + ", ".join(f"{e:g}" for e in MNIST1D_EPS_SWEEP)
    + "), the digits' budget relative to the data's spread; every attack projects onto the eps-ball; "
    "robust accuracy as on digits."
)


def training_attack(
    kind: str, *, eps: float = EPS, steps: int = TRAIN_STEPS, step_size: float | None = None, clamp=BOX
):
    """The attack ``(model, x, y) -> delta`` used inside training, under the threat model.

    ``kind``: ``"pgd"`` (sign-gradient L-inf PGD, step ``2.5 eps / steps``, no random
    start so the run is deterministic), ``"ascent"`` (the paper's unnormalised gradient
    ascent, projected onto the ball and the box; ``step_size`` is required because the
    gradient's size is the model's, not the budget's), ``"fgsm"`` (FGSM-RS of Wong et al.:
    random start, step ``1.25 eps``; draws from torch's global generator).
    ``clamp``: the box (``BOX`` for digits; ``None`` for MNIST-1D, which has none).
    """
    if not isinstance(kind, str) or kind not in ("pgd", "ascent", "fgsm"):
        raise ValueError(f"kind must be 'pgd', 'ascent' or 'fgsm', got {kind!r}.")
    eps = check_positive("eps", eps)
    steps = check_steps(steps, allow_zero=False)
    clamp = check_clamp(clamp)
    if step_size is not None:
        step_size = check_positive("step_size", step_size)
    if kind == "pgd":
        size = 2.5 * eps / steps if step_size is None else step_size
        return partial(pgd_linf, eps=eps, step_size=size, steps=steps, clamp=clamp)
    if kind == "ascent":
        if step_size is None:
            raise ValueError("the gradient-ascent attack needs step_size (its steps are not normalised).")
        return partial(gradient_ascent, eps=eps, step_size=step_size, steps=steps, clamp=clamp)
    if kind == "fgsm":
        return partial(
            fgsm, eps=eps, step_size=1.25 * eps if step_size is None else step_size, clamp=clamp, random_start=True
        )
    raise ValueError(f"kind must be 'pgd', 'ascent' or 'fgsm', got {kind!r}.")


def robust_accuracy(
    model: nn.Module | object,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float = EPS,
    steps: int = EVAL_STEPS,
    restarts: int = EVAL_RESTARTS,
    seed: int = 0,
    clamp=BOX,
) -> float:
    """Accuracy under L-inf PGD with random restarts (worst case over restarts, per input).

    The first run starts at ``delta = 0``, the others at uniform random points of the
    ball (a CPU generator seeded with ``seed``), so ``restarts=1`` is plain PGD.
    ``clamp``: the box (``None`` for MNIST-1D).
    """
    eps = check_positive("eps", eps)
    clamp = check_clamp(clamp)
    steps = check_steps(steps, allow_zero=False)
    restarts = check_positive("restarts", restarts, integer=True)
    check_at_most(
        "restarts",
        restarts,
        MAX_RESTARTS,
        how="use fewer restarts, or set advnotes.threat.MAX_RESTARTS to a larger value if you mean it.",
    )
    seed = check_seed(seed)
    with eval_mode(model):
        z = check_model_input(model, x, probe=None)
        y = check_labels(y, batch=x.shape[0], num_classes=int(z.shape[1]), device=x.device)
        gen = torch.Generator().manual_seed(seed)
        robust = torch.ones(x.shape[0], dtype=torch.bool, device=x.device)
        for r in range(restarts):
            delta = pgd_linf(
                model,
                x,
                y,
                eps=eps,
                step_size=2.5 * eps / steps,
                steps=steps,
                clamp=clamp,
                random_start=r > 0,
                generator=gen,
            )
            with torch.no_grad():
                robust &= model(x + delta).argmax(dim=1) == y
    return float(robust.double().mean())
