"""Data: scikit-learn's digits (embedded, offline), MNIST-1D (generated), Gaussian mixtures.

Every loader returns a :class:`Split`. Digits come in pixel units in [0, 1] (the grey
levels 0..16 divided by 16), the convention of the threat model (:mod:`advnotes.threat`);
MNIST-1D comes standardised by its own generator (see :func:`load_mnist1d`); the other
loaders standardise (statistics from the training part only). Nothing here downloads
anything.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass

import numpy as np
import torch

DIGITS_SHAPE = (1, 8, 8)
DIGITS_CLASSES = 10
MNIST1D_LENGTH = 40
MNIST1D_CLASSES = 10


@dataclass(frozen=True)
class Split:
    """A train/test split: ``x_*`` of shape (N, *input_shape), ``y_*`` of shape (N,)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def num_features(self) -> int:
        return int(np.prod(self.input_shape))

    def to(self, device=None, dtype=None) -> Split:
        """Move the inputs (and labels, device only) to ``device``/``dtype``."""
        return Split(
            self.x_train.to(device=device, dtype=dtype),
            self.y_train.to(device=device),
            self.x_test.to(device=device, dtype=dtype),
            self.y_test.to(device=device),
            self.num_classes,
        )

    def __repr__(self) -> str:
        return (
            f"Split(train={tuple(self.x_train.shape)}, test={tuple(self.x_test.shape)}, "
            f"classes={self.num_classes}, dtype={self.x_train.dtype})"
        )


def _dtype(dtype) -> torch.dtype:
    if dtype in ("float32", torch.float32, None):
        return torch.float32
    if dtype in ("float64", torch.float64):
        return torch.float64
    raise ValueError(f"dtype must be float32 or float64, got {dtype!r}.")


def _split_standardise(
    x: np.ndarray, y: np.ndarray, *, test_size, seed, dtype, classes, standardise: bool = True
) -> Split:
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size must lie in (0, 1), got {test_size!r}.")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    n_test = max(1, int(round(test_size * len(x))))
    test, train = order[:n_test], order[n_test:]
    if standardise:
        mean = x[train].mean(axis=0)
        std = x[train].std(axis=0)
        std = np.where(std > 1e-8, std, 1.0)  # constant pixels stay constant (0) instead of 0/0
        x = (x - mean) / std
    dt = _dtype(dtype)
    as_x = lambda idx: torch.as_tensor(x[idx], dtype=dt)  # noqa: E731
    as_y = lambda idx: torch.as_tensor(y[idx], dtype=torch.long)  # noqa: E731
    return Split(as_x(train), as_y(train), as_x(test), as_y(test), int(classes))


def load_digits(
    *, test_size: float = 0.25, seed: int = 0, dtype="float32", image: bool = False, scale: str = "unit"
) -> Split:
    """scikit-learn's 8x8 digits (1797 images, 10 classes).

    ``scale="unit"`` (default) gives pixel units in [0, 1] (grey level / 16), the
    threat model's convention: an L-inf budget eps is a fraction of the full grey
    range, and attacks project onto the box [0, 1]. ``scale="standard"`` standardises
    each pixel (training statistics), as many tutorials do. ``image=False`` gives flat
    inputs (N, 64) for MLPs; ``image=True`` gives (N, 1, 8, 8) for CNNs. The data ships
    inside scikit-learn: no download.
    """
    from sklearn.datasets import load_digits as _load

    if scale not in ("unit", "standard"):
        raise ValueError(f"scale must be 'unit' (pixels in [0, 1]) or 'standard', got {scale!r}.")
    bunch = _load()
    x = bunch.data.astype(np.float64)
    if scale == "unit":
        x = x / 16.0
    split = _split_standardise(
        x, bunch.target, test_size=test_size, seed=seed, dtype=dtype, classes=10, standardise=scale == "standard"
    )
    if image:
        split = Split(
            split.x_train.reshape(-1, *DIGITS_SHAPE),
            split.y_train,
            split.x_test.reshape(-1, *DIGITS_SHAPE),
            split.y_test,
            split.num_classes,
        )
    return split


@functools.lru_cache(maxsize=1)
def _mnist1d_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MNIST-1D from the ``mnist1d`` package's generator (default arguments and seed), cached.

    ``make_dataset`` seeds NumPy's and Python's *global* generators; their states are
    saved and restored around the call so loading data leaves the caller's random
    streams alone. ``get_dataset`` is never called: it downloads a file by default.
    """
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as err:
        raise ImportError(
            "load_mnist1d needs the mnist1d package (it generates the data offline): pip install mnist1d"
        ) from err
    np_state, py_state = np.random.get_state(), random.getstate()  # noqa: NPY002 (the legacy global state)
    try:
        data = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(np_state)  # noqa: NPY002
        random.setstate(py_state)
    arrays = (data["x"], data["y"], data["x_test"], data["y_test"])
    for a in arrays:
        a.setflags(write=False)  # the cache hands out the same arrays every call
    return arrays


def load_mnist1d(*, dtype="float32", image: bool = False) -> Split:
    """MNIST-1D (Greydanus & Kobak, 2024): 4000 training and 1000 test signals of length 40, 10 classes.

    Generated offline by the ``mnist1d`` package's own generator (``make_dataset`` with
    its default arguments ``get_dataset_args()``, seed 42), never downloaded: the same
    tensors on every call (cached in-process), and the global NumPy/Python random
    states are left as they were. The generator standardises the whole data set
    (mean 0, standard deviation 1 over all signals and positions); the signals are
    kept as they come. There is no pixel box here: an attack budget eps is in units
    of the signal's standard deviation, and no projection onto a box applies.
    ``image=False`` gives (N, 40) for MLPs; ``image=True`` gives (N, 1, 40) for 1-d
    convolutions.
    """
    x, y, x_test, y_test = _mnist1d_arrays()
    dt = _dtype(dtype)
    shape = (1, MNIST1D_LENGTH) if image else (MNIST1D_LENGTH,)
    as_x = lambda a: torch.tensor(a, dtype=dt).reshape(-1, *shape)  # noqa: E731
    as_y = lambda a: torch.tensor(a, dtype=torch.long)  # noqa: E731
    return Split(as_x(x), as_y(y), as_x(x_test), as_y(y_test), MNIST1D_CLASSES)


def gaussian_mixture(
    n: int = 1000,
    *,
    dim: int = 2,
    classes: int = 3,
    separation: float = 3.0,
    test_size: float = 0.25,
    seed: int = 0,
    dtype="float32",
) -> Split:
    """Synthetic isotropic Gaussian mixture: one unit-variance blob per class.

    Class means are drawn on a sphere of radius ``separation`` in ``dim`` dimensions,
    so ``separation`` sets how confident a good classifier can be.
    """
    if int(n) < 2 * classes:
        raise ValueError(f"n={n} is too small for {classes} classes; use at least {2 * classes}.")
    if classes < 2 or dim < 1:
        raise ValueError(f"need classes >= 2 and dim >= 1, got classes={classes}, dim={dim}.")
    if not np.isfinite(separation) or separation < 0:
        raise ValueError(f"separation must be a finite non-negative number, got {separation!r}.")
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((classes, dim))
    means *= separation / np.linalg.norm(means, axis=1, keepdims=True)
    y = rng.integers(0, classes, size=int(n))
    x = means[y] + rng.standard_normal((int(n), dim))
    return _split_standardise(x, y, test_size=test_size, seed=seed, dtype=dtype, classes=classes)


def load_npz(
    path, *, download_url: str | None = None, test_size: float = 0.25, seed: int = 0, dtype="float32"
) -> Split:
    """Load a bigger data set the reader has placed on disk (``x``, ``y`` arrays in an ``.npz``).

    The book never downloads at run time. If the file is missing this raises a
    ``FileNotFoundError`` that says where to put it (and where it can be had),
    instead of hanging on the network.
    """
    from pathlib import Path

    path = Path(path).expanduser()
    if not path.is_file():
        hint = f" Download it from {download_url} and save it there." if download_url else ""
        raise FileNotFoundError(
            f"Data file {str(path)!r} not found. advnotes does not download data at run time; "
            f"place an .npz with arrays 'x' (N, ...) and 'y' (N,) at that path.{hint}"
        )
    with np.load(path) as f:
        if "x" not in f or "y" not in f:
            raise ValueError(f"{path} must contain arrays named 'x' and 'y'; found {sorted(f.files)}.")
        x, y = f["x"].astype(np.float64), f["y"].astype(np.int64)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{path}: x has {x.shape[0]} rows but y has {y.shape[0]}.")
    shape = x.shape[1:]
    split = _split_standardise(
        x.reshape(len(x), -1), y, test_size=test_size, seed=seed, dtype=dtype, classes=int(y.max()) + 1
    )
    return Split(
        split.x_train.reshape(-1, *shape),
        split.y_train,
        split.x_test.reshape(-1, *shape),
        split.y_test,
        split.num_classes,
    )
