"""The book's two settings, each named once: data, model, threat model and training recipe.

- ``"digits-mlp"``: scikit-learn's 8x8 digits in pixel units [0, 1]
  (:func:`advnotes.data.load_digits`) and a ReLU MLP 64-128-128-10 (512-512 in the
  ``full`` profile; chapters 3, 4 and 5 size their own networks and say so); budget
  :data:`advnotes.threat.EPS` in pixel units, box [0, 1].
- ``"mnist1d-cnn"``: MNIST-1D (Greydanus & Kobak, 2024; :func:`advnotes.data.load_mnist1d`,
  generated offline) and a ReLU 1-d CNN (two Conv1d(kernel 5) -> ReLU -> MaxPool1d(2)
  blocks of 16 channels, 32 in ``full``, then a linear read-out;
  :func:`advnotes.models.cnn1d`); budget :data:`advnotes.threat.MNIST1D_EPS` in units of
  the signal's standard deviation, no box.

A chapter measures a claim in both settings by looping over :data:`NAMES` and calling
the same functions with ``setting.load()``, ``setting.make_model`` and
``setting.attack(...)``; records carry ``setting=setting.name``. Chapters may override
the recipe (``{**setting.recipe, "lr": ...}``; the ``full`` profile trains longer) where
their experiment needs it, and say so.

``PUBLISHED`` holds the clean test accuracies that Greydanus & Kobak report for MNIST-1D,
so that a chapter can print its own models' accuracies beside them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType

import torch
from torch import nn

from . import threat
from .config import pick
from .data import Split, load_digits, load_mnist1d
from .models import cnn1d, mlp
from .validation import check_seed

#: The settings' names, in the order chapters and scorecards show them.
NAMES = ("digits-mlp", "mnist1d-cnn")

#: Clean test accuracy reported for MNIST-1D (default generator arguments) by
#: Greydanus & Kobak (2024), Table 1 / the mnist1d README.
PUBLISHED = MappingProxyType({"logistic regression": 0.32, "MLP": 0.68, "CNN": 0.94, "GRU": 0.91})


@dataclass(frozen=True)
class Setting:
    """One setting of the book: data, model, threat model and a training recipe."""

    name: str
    title: str
    eps: float
    eps_sweep: tuple[float, ...]
    clamp: tuple[float, float] | None
    recipes: MappingProxyType = field(repr=False)
    statement: str = field(repr=False)

    @property
    def recipe(self) -> dict:
        """The training recipe of the active profile (``lr``, ``steps``, ``batch_size``, ``momentum``)."""
        return dict(pick(quick=self.recipes["quick"], full=self.recipes["full"]))

    def load(self, *, dtype="float64") -> Split:
        """The setting's train/test split (offline, deterministic)."""
        if self.name == "digits-mlp":
            return load_digits(dtype=dtype)
        return load_mnist1d(dtype=dtype, image=True)

    def make_model(self, seed: int, *, dtype=torch.float64, device=None) -> nn.Module:
        """A fresh model of the active profile's size, initialised from ``torch.manual_seed(seed)``."""
        seed = check_seed(seed)
        torch.manual_seed(seed)
        if self.name == "digits-mlp":
            model = mlp(64, pick(quick=(128, 128), full=(512, 512)), 10)
        else:
            model = cnn1d(40, channels=pick(quick=(16, 16), full=(32, 32)))
        return model.to(dtype=dtype, device=device)

    def attack(self, kind: str, **kwargs):
        """:func:`advnotes.threat.training_attack` with this setting's budget and box (overridable)."""
        kwargs = {"eps": self.eps, "clamp": self.clamp, **kwargs}
        return threat.training_attack(kind, **kwargs)

    def robust_accuracy(self, model, x, y, **kwargs) -> float:
        """:func:`advnotes.threat.robust_accuracy` with this setting's budget and box (overridable)."""
        kwargs = {"eps": self.eps, "clamp": self.clamp, **kwargs}
        return threat.robust_accuracy(model, x, y, **kwargs)


_SETTINGS = {
    "digits-mlp": Setting(
        name="digits-mlp",
        title="8x8 digits, ReLU MLP",
        eps=threat.EPS,
        eps_sweep=threat.EPS_SWEEP,
        clamp=threat.BOX,
        recipes=MappingProxyType(
            {
                "quick": MappingProxyType({"lr": 0.05, "steps": 400, "batch_size": 64, "momentum": 0.9}),
                "full": MappingProxyType({"lr": 0.05, "steps": 1600, "batch_size": 64, "momentum": 0.9}),
            }
        ),
        statement=threat.STATEMENT,
    ),
    "mnist1d-cnn": Setting(
        name="mnist1d-cnn",
        title="MNIST-1D, ReLU 1-d CNN",
        eps=threat.MNIST1D_EPS,
        eps_sweep=threat.MNIST1D_EPS_SWEEP,
        clamp=None,
        recipes=MappingProxyType(
            {
                "quick": MappingProxyType({"lr": 0.1, "steps": 600, "batch_size": 128, "momentum": 0.9}),
                "full": MappingProxyType({"lr": 0.05, "steps": 3000, "batch_size": 128, "momentum": 0.9}),
            }
        ),
        statement=threat.STATEMENT_MNIST1D,
    ),
}


def get(name: str) -> Setting:
    """The setting called ``name`` (one of :data:`NAMES`)."""
    if not isinstance(name, str) or name not in _SETTINGS:
        raise ValueError(f"unknown setting {name!r}; the book's settings are {', '.join(NAMES)}.")
    return _SETTINGS[name]
