"""Shared fixtures and markers: `gpu` tests skip without CUDA; small seeded models."""

from __future__ import annotations

import pytest
import torch

from advnotes.data import load_digits
from advnotes.models import cnn1d, mlp
from advnotes.training import train


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA (torch.cuda.is_available() is False)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def digits64():
    """Digits in float64 (flat inputs)."""
    return load_digits(dtype="float64")


@pytest.fixture(scope="session")
def trained_mlp(digits64):
    """A small float64 ReLU MLP trained briefly on digits (seeded)."""
    torch.manual_seed(0)
    model = mlp(64, (32, 32), 10).double()
    train(model, digits64.x_train, digits64.y_train, lr=0.05, steps=150, batch_size=64, momentum=0.9, seed=0)
    return model.eval()


@pytest.fixture(scope="module")
def tiny_cnn():
    """A 1-d CNN (2 and 3 channels, kernel 5, max-pooling) on 24 random signals (1, 40), float64, eval mode.

    Module scope: each test module gets its own copy, so none sees another's changes.
    """
    torch.manual_seed(1)
    model = cnn1d(40, channels=(2, 3), kernel_size=5, pool=2, num_classes=4).double().eval()
    g = torch.Generator().manual_seed(2)
    x = torch.randn(24, 1, 40, dtype=torch.float64, generator=g)
    return model, x, torch.randint(0, 4, (24,), generator=g)
