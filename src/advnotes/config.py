"""Device, profile and seeding: the one setting every chapter reads.

The profile comes from the environment variable ``ADVNOTES_PROFILE``:

- ``quick`` (default): small models and sweeps that run on a laptop CPU; this is
  what the committed chapter outputs and ``pytest --nbval`` use.
- ``full``: bigger models and sweeps, meant for a GPU.

Chapters pick their knobs with :func:`pick`, e.g. ``pick(quick=256, full=4096)``.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import numpy as np
import torch

PROFILE_ENV = "ADVNOTES_PROFILE"
PROFILES = ("quick", "full")


def get_profile() -> str:
    """The active profile, read from ``ADVNOTES_PROFILE`` (``quick`` when unset)."""
    value = os.environ.get(PROFILE_ENV, "quick").strip().lower() or "quick"
    if value not in PROFILES:
        raise ValueError(
            f"{PROFILE_ENV}={value!r} is not a known profile; set it to one of {PROFILES} "
            "(or unset it for the default 'quick')."
        )
    return value


def pick(*, quick, full):
    """Return ``quick`` or ``full`` according to the active profile."""
    return full if get_profile() == "full" else quick


def get_device(prefer: str | None = None) -> torch.device:
    """CUDA when present, else CPU. ``prefer='cpu'`` forces the CPU."""
    if prefer is not None:
        dev = torch.device(prefer)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("CUDA was requested but torch.cuda.is_available() is False; use 'cpu'.")
        return dev
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) for reproducible chapters."""
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
    random.seed(int(seed))
    np.random.seed(int(seed))
    torch.manual_seed(int(seed))


@dataclass(frozen=True)
class Setup:
    """What a chapter's setup cell returns: profile, device and seed."""

    profile: str
    device: torch.device
    seed: int

    def __str__(self) -> str:
        return f"profile: {self.profile} | device: {self.device.type} | seed: {self.seed}"


def setup(seed: int = 0, *, device: str | None = None, threads: int | None = None) -> Setup:
    """Seed everything and report the profile and device (the chapters' setup cell).

    On the CPU in the ``quick`` profile torch is limited to one thread unless
    ``threads`` says otherwise: the chapters' models are too small to gain from
    more, oversubscribed cores slow them down many times over, and one thread
    makes every printed number independent of the machine's core count.
    """
    seed_everything(seed)
    profile, dev = get_profile(), get_device(device)
    if threads is None and dev.type == "cpu" and profile == "quick":
        threads = 1
    if threads is not None:
        check_threads = isinstance(threads, int) and not isinstance(threads, bool) and threads >= 1
        if not check_threads:
            raise ValueError(f"threads must be a positive integer, got {threads!r}.")
        torch.set_num_threads(threads)
    return Setup(profile=profile, device=dev, seed=int(seed))


def synchronize(device: torch.device | str | None = None) -> None:
    """Wait until queued GPU work on ``device`` has finished (a no-op on the CPU).

    CUDA kernels run asynchronously, so a timer read right after a call measures
    only the launch; the chapters' timing helpers call this before reading the clock.
    """
    dev = torch.device(device) if device is not None else get_device()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
