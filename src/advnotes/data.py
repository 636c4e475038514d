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

from .validation import check_bool, check_fraction, check_positive, check_seed

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

    def __post_init__(self):
        k = _positive_int("num_classes", self.num_classes)
        if k < 2:
            raise ValueError(f"num_classes must be >= 2, got {k}.")
        for part in ("train", "test"):
            x, y = getattr(self, f"x_{part}"), getattr(self, f"y_{part}")
            if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
                raise TypeError(f"x_{part} and y_{part} must be torch tensors.")
            if not x.is_floating_point():
                raise TypeError(f"x_{part} must be a floating-point tensor, got {x.dtype}.")
            if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool or y.dim() != 1:
                raise TypeError(f"y_{part} must be a 1-d tensor of integer labels, got {y.dtype} {tuple(y.shape)}.")
            if x.dim() < 2 or x.shape[0] != y.shape[0]:
                raise ValueError(
                    f"x_{part} {tuple(x.shape)} and y_{part} {tuple(y.shape)} must have one row per label."
                )
            if y.numel() and (int(y.min()) < 0 or int(y.max()) >= k):
                raise ValueError(f"y_{part} has labels outside [0, {k - 1}] for num_classes={k}.")
        if self.x_train.shape[1:] != self.x_test.shape[1:]:
            raise ValueError(
                f"x_train {tuple(self.x_train.shape)} and x_test {tuple(self.x_test.shape)} have different "
                "input shapes."
            )

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def num_features(self) -> int:
        return int(np.prod(self.input_shape))

    def to(self, device=None, dtype=None) -> Split:
        """Move the inputs (and labels, device only) to ``device``/``dtype`` (float32 or float64)."""
        if dtype is not None:
            dtype = _dtype(dtype)
        if device is not None and not isinstance(device, (str, torch.device)):
            raise TypeError(f"device must be a string such as 'cpu' or a torch.device, got {type(device).__name__}.")
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
    if dtype is None or isinstance(dtype, (str, torch.dtype)):
        if dtype in ("float32", torch.float32, None):
            return torch.float32
        if dtype in ("float64", torch.float64):
            return torch.float64
    raise ValueError(f"dtype must be 'float32' or 'float64' (or torch.float32/torch.float64), got {dtype!r}.")


def _positive_int(name: str, value) -> int:
    return check_positive(name, value, integer=True)


def _split_standardise(
    x: np.ndarray, y: np.ndarray, *, test_size, seed, dtype, classes, standardise: bool = True
) -> Split:
    test_size = check_fraction("test_size", test_size)
    seed = check_seed(seed)
    dt = _dtype(dtype)
    n_test = max(1, int(round(test_size * len(x))))
    if len(x) - n_test < 2:
        raise ValueError(
            f"{len(x)} example(s) are too few to split with test_size={test_size}: the training part would have "
            f"{len(x) - n_test} (at least 2 are needed); give more examples or a smaller test_size."
        )
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    test, train = order[:n_test], order[n_test:]
    if standardise:
        mean = x[train].mean(axis=0)
        std = x[train].std(axis=0)
        std = np.where(std > 1e-8, std, 1.0)  # constant pixels stay constant (0) instead of 0/0
        x = (x - mean) / std
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

    test_size, seed, image = check_fraction("test_size", test_size), check_seed(seed), check_bool("image", image)
    _dtype(dtype)
    if not isinstance(scale, str) or scale not in ("unit", "standard"):
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
def mnist1d_arrays() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MNIST-1D from the ``mnist1d`` package's generator (default arguments and seed), cached (read-only arrays).

    ``(x_train, y_train, x_test, y_test)`` as NumPy arrays; :func:`load_mnist1d` turns them into
    a :class:`Split`. ``mnist1d_arrays.cache_clear()`` forces a fresh generation.

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
    dt = _dtype(dtype)
    image = check_bool("image", image)
    x, y, x_test, y_test = mnist1d_arrays()
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
    n, dim, classes = _positive_int("n", n), _positive_int("dim", dim), _positive_int("classes", classes)
    if classes < 2:
        raise ValueError(f"need classes >= 2, got classes={classes}.")
    if n < 2 * classes:
        raise ValueError(f"n={n} is too small for {classes} classes; use at least {2 * classes}.")
    try:
        separation = check_positive("separation", separation, allow_zero=True)
    except ValueError as err:
        raise ValueError(f"separation must be a finite non-negative number, got {separation!r}.") from err
    test_size, seed = check_fraction("test_size", test_size), check_seed(seed)
    _dtype(dtype)
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((classes, dim))
    means *= separation / np.linalg.norm(means, axis=1, keepdims=True)
    y = rng.integers(0, classes, size=n)
    x = means[y] + rng.standard_normal((n, dim))
    return _split_standardise(x, y, test_size=test_size, seed=seed, dtype=dtype, classes=classes)


def load_npz(
    path, *, download_url: str | None = None, test_size: float = 0.25, seed: int = 0, dtype="float32"
) -> Split:
    """Load a bigger data set the reader has placed on disk (``x``, ``y`` arrays in an ``.npz``).

    The book never downloads at run time. If the file is missing this raises a
    ``FileNotFoundError`` that says where to put it (and where it can be had),
    instead of hanging on the network.

    The arrays are checked before anything is computed from them: ``x`` (N, ...) must
    be real and finite (the error counts the NaN/inf entries); ``y`` (N,) must hold
    class labels 0, 1, ..., C-1 with every class present and C >= 2. Integer (or bool)
    labels are taken as they are; float labels are accepted only when every value is a
    whole number (then converted exactly), anything else (0.5, NaN) is refused rather
    than truncated. Negative labels (e.g. -1 for "unknown") are refused: drop or relabel
    those rows. The training inputs are standardised (statistics from the training part).
    """
    from pathlib import Path

    if not isinstance(path, (str, Path)) and not hasattr(path, "__fspath__"):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}.")
    test_size, seed = check_fraction("test_size", test_size), check_seed(seed)
    _dtype(dtype)
    if download_url is not None and not isinstance(download_url, str):
        raise TypeError(f"download_url must be a string or None, got {type(download_url).__name__}.")
    path = Path(path).expanduser()
    if not path.is_file():
        hint = f" Download it from {download_url} and save it there." if download_url else ""
        raise FileNotFoundError(
            f"Data file {str(path)!r} not found. advnotes does not download data at run time; "
            f"place an .npz with arrays 'x' (N, ...) and 'y' (N,) at that path.{hint}"
        )
    unreadable = f"{path} could not be read as an .npz archive; save the data with np.savez(path, x=x, y=y)."
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise ValueError(unreadable) from err
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{path} holds a single array, not an .npz archive; save it with np.savez(path, x=x, y=y).")
    with archive as f:
        if "x" not in f or "y" not in f:
            raise ValueError(f"{path} must contain arrays named 'x' and 'y'; found {sorted(f.files)}.")
        try:
            x_raw, y_raw = f["x"], f["y"]
        except ValueError as err:
            raise ValueError(
                f"{path}: 'x' or 'y' is an object array (saved with pickling); save plain numeric arrays instead."
            ) from err
        except (OSError, EOFError) as err:
            raise ValueError(unreadable) from err
    x = _npz_inputs(path, x_raw)
    y = _npz_labels(path, y_raw)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"{path}: x has {x.shape[0]} rows but y has {y.shape[0]}; they must match one to one.")
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


def _npz_inputs(path, x: np.ndarray) -> np.ndarray:
    if x.dtype.kind not in "biuf":
        raise ValueError(f"{path}: x must hold real numbers, got dtype {x.dtype}.")
    if x.ndim < 2:
        raise ValueError(
            f"{path}: x must have shape (N, ...) with one row per example, got {x.shape}; for one feature per "
            "example save x[:, None]."
        )
    if x.shape[0] == 0 or x[0].size == 0:
        raise ValueError(f"{path}: x is empty (shape {x.shape}).")
    x = x.astype(np.float64)
    bad = ~np.isfinite(x)
    if bad.any():
        rows = int(bad.reshape(len(x), -1).any(axis=1).sum())
        raise ValueError(
            f"{path}: x has {int(bad.sum())} non-finite entries (NaN or inf) in {rows} of {len(x)} rows; "
            "drop or impute those rows before saving."
        )
    return x


def _npz_labels(path, y: np.ndarray) -> np.ndarray:
    if y.ndim != 1:
        raise ValueError(
            f"{path}: y must have shape (N,) (one class label per example), got {y.shape}; "
            "for one-hot labels save y.argmax(1), for a column save y.ravel()."
        )
    if y.dtype.kind == "f":
        whole = np.isfinite(y) & (y == np.round(y))
        if not whole.all():
            first = y[~whole][0]
            raise ValueError(
                f"{path}: y holds float labels and {int((~whole).sum())} of them are not whole numbers "
                f"(e.g. {first!r}); class labels must be integers 0..C-1 (they are not truncated)."
            )
        if np.abs(y).max(initial=0) > 2**31:
            raise ValueError(f"{path}: y has labels too large to be class indices (max {y.max()!r}).")
        y = y.astype(np.int64)
    elif y.dtype.kind in "biu":
        y = y.astype(np.int64)
    else:
        raise ValueError(f"{path}: y must hold integer class labels, got dtype {y.dtype}.")
    if len(y) == 0:
        raise ValueError(f"{path}: y is empty.")
    if (y < 0).any():
        raise ValueError(
            f"{path}: y has {int((y < 0).sum())} negative label(s) (smallest {int(y.min())}); class labels must "
            "be 0..C-1. Drop or relabel rows marked -1 ('unknown') before saving."
        )
    present = np.unique(y)
    if len(present) < 2:
        raise ValueError(f"{path}: y has a single class ({int(present[0])}); a classifier needs at least 2.")
    C = int(y.max()) + 1
    if len(present) != C:
        missing = sorted(set(range(C)) - set(present.tolist()))
        shown = ", ".join(map(str, missing[:10])) + (", ..." if len(missing) > 10 else "")
        raise ValueError(
            f"{path}: the labels run up to {C - 1} but class(es) {shown} have no examples; relabel to 0..K-1, "
            "e.g. y = np.unique(y, return_inverse=True)[1]."
        )
    return y
