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

from .validation import check_positive, check_seed

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


def _parse_device(device, *, name: str) -> torch.device:
    """A ``torch.device`` from a string such as ``'cpu'``/``'cuda:0'`` or a device; clear errors otherwise."""
    if isinstance(device, torch.device):
        dev = device
    elif isinstance(device, str):
        try:
            dev = torch.device(device.strip())
        except (RuntimeError, ValueError) as err:
            raise ValueError(
                f"{name}={device!r} is not a device torch knows; use 'cpu', 'cuda', 'cuda:<index>' or 'mps'."
            ) from err
    else:
        raise TypeError(f"{name} must be a string such as 'cpu' or 'cuda', or a torch.device; got {device!r}.")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("CUDA was requested but torch.cuda.is_available() is False; use 'cpu'.")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"{name}={str(dev)!r} names GPU {dev.index} but only {torch.cuda.device_count()} GPU(s) are visible; "
                "use 'cuda' or an index below that."
            )
    elif dev.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise RuntimeError("MPS was requested but torch.backends.mps.is_available() is False; use 'cpu'.")
    elif dev.type != "cpu":
        raise ValueError(f"{name}={str(dev)!r} is not supported by advnotes; use 'cpu', 'cuda' or 'mps'.")
    return dev


def get_device(prefer: str | None = None) -> torch.device:
    """CUDA when present, else CPU. ``prefer='cpu'`` forces the CPU (``'cuda:1'``, ``'mps'``, a device work too)."""
    if prefer is not None:
        return _parse_device(prefer, name="prefer")
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) for reproducible chapters.

    ``seed`` is an integer in [0, 2**32 - 1] (NumPy's range); NumPy integers and 0-d
    integer tensors are accepted, bools and floats are not.
    """
    seed = check_seed(seed)
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
    seed = check_seed(seed)
    if threads is not None:
        threads = check_positive("threads", threads, integer=True)
    profile = get_profile()
    dev = _parse_device(device, name="device") if device is not None else get_device()
    seed_everything(seed)
    if threads is None and dev.type == "cpu" and profile == "quick":
        threads = 1
    if threads is not None:
        torch.set_num_threads(threads)
    return Setup(profile=profile, device=dev, seed=seed)


def synchronize(device: torch.device | str | None = None) -> None:
    """Wait until queued GPU work on ``device`` has finished (a no-op on the CPU).

    CUDA kernels run asynchronously, so a timer read right after a call measures
    only the launch; the chapters' timing helpers call this before reading the clock.
    """
    dev = _parse_device(device, name="device") if device is not None else get_device()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
