"""Statistics the chapters share: intervals, ranks, bins, crossings, growth laws, cosines, shares.

One home for each small statistic the book computes in several places (issue 13):

- :func:`to_numpy`: a tensor, array or list of numbers as a float64 NumPy array (the one conversion).
- :func:`t_interval`: the mean over seeds and its Student-t interval (the claims' rule, ``advnotes.claims``).
- :func:`roundoff`: a round-off-sized number printed as a power-of-ten bound.
- :func:`rank_correlation`: Spearman's rank correlation (chapter 3).
- :func:`binned_median`, :func:`first_crossing`: the validity map's bins and where a curve crosses a level
  (chapter 2).
- :class:`GrowthFit`, :func:`fit_growth`: exponential, linear and power laws fitted to a growth curve
  (chapter 3).
- :func:`cosine`: row-wise cosine similarity (update cosines in training, chapters 2 and 4).
- :func:`negative_share`: the fraction of negative values in the last ``window`` of a series (the
  zig-zag statistic of chapter 4).
- :func:`top_share`: the share of a total carried by its ``k`` largest entries, or by the largest
  ``fraction`` of them (chapters 4 and 5).

Layer 1 of the package: it imports only :mod:`advnotes.validation` (see CONTRIBUTING.md).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from .validation import check_array, check_number, check_positive, check_vector

__all__ = [
    "to_numpy",
    "t_interval",
    "roundoff",
    "rank_correlation",
    "binned_median",
    "first_crossing",
    "GrowthFit",
    "fit_growth",
    "cosine",
    "negative_share",
    "top_share",
]


def to_numpy(value, *, name: str = "value", finite: bool = False) -> np.ndarray:
    """``value`` (a tensor on any device, a NumPy array, a list of numbers) as a float64 NumPy array.

    Tensors are detached and copied to the CPU first. ``finite=True`` refuses NaN and inf.
    The one conversion the package uses wherever a tensor leaves torch for NumPy or SciPy.
    """
    return check_array(name, value, finite=finite)


# ----------------------------------------------------------------------------- intervals and round-off


def t_interval(values, *, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and two-sided ``level`` Student-t interval of independent values: ``(mean, lo, hi)``.

    The values are independent runs (one per seed: initialisation, data order, attack start),
    so their mean has a t-distributed error with ``n - 1`` degrees of freedom:
    ``mean +- t_{(1 + level)/2, n-1} * sd / sqrt(n)``. Needs at least two finite values.
    """
    from scipy import stats as scipy_stats

    values = check_vector("values", values)
    n = values.size
    if n < 2:
        raise ValueError(f"an interval needs at least two values (seeds), got {n}.")
    level = check_number("level", level)
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level!r}.")
    mean = math.fsum(values.tolist()) / n
    sd = math.sqrt(math.fsum(((values - mean) ** 2).tolist()) / (n - 1))
    half = float(scipy_stats.t.ppf(0.5 + level / 2, n - 1)) * sd / math.sqrt(n)
    return mean, mean - half, mean + half


def roundoff(value: float) -> str:
    """Print a round-off-sized number as a power-of-ten bound, e.g. ``2.3e-14 -> '< 1e-13'`` (``0`` stays ``'0'``).

    Round-off differs in its last bits between machines; its order of magnitude does not,
    so chapters and benchmark tables print these bounds rather than the raw value.
    """
    value = abs(check_number("value", value, finite=False))
    if not math.isfinite(value):
        raise ValueError(f"roundoff() needs a finite number, got {value!r}.")
    if value == 0.0:
        return "0"
    return f"< 1e{math.ceil(math.log10(value)):+03d}"


# ----------------------------------------------------------------------------- ranks, bins, crossings


def rank_correlation(a, b) -> float:
    """Spearman rank correlation of two 1-d arrays of equal length (ties get average ranks)."""
    from scipy.stats import spearmanr

    a, b = check_vector("a", a), check_vector("b", b)
    if a.shape != b.shape or a.size < 3:
        raise ValueError(f"need two arrays of one length >= 3, got {a.size} and {b.size}.")
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        raise ValueError("a constant array has no rank correlation.")
    return float(spearmanr(a, b).statistic)


def binned_median(s, values, edges) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Median and quartiles of ``values`` in bins of ``s`` (chapter 2's validity map).

    ``s``, ``values``: 1-D arrays (or tensors) of one length; ``edges``: increasing bin
    edges. Returns ``(centers, median, q25, q75)`` over the non-empty bins only, with
    geometric bin centres (the map's axis is logarithmic; ``edges`` must be positive).
    """
    s, v, edges = (
        check_array("s", s, finite=False),
        check_array("values", values, finite=False),
        check_array("edges", edges, finite=False),
    )
    if s.ndim != 1 or v.shape != s.shape:
        raise ValueError(f"s and values must be 1-D of one length, got {s.shape} and {v.shape}.")
    if edges.ndim != 1 or len(edges) < 2 or not (np.diff(edges) > 0).all() or edges[0] <= 0:
        raise ValueError("edges must be at least two positive, strictly increasing numbers.")
    if not (np.isfinite(s).all() and np.isfinite(v).all()):
        raise ValueError("s and values must be finite.")
    idx = np.digitize(s, edges) - 1
    rows = []
    for b in range(len(edges) - 1):
        sel = idx == b
        if sel.any():
            q25, q50, q75 = np.quantile(v[sel], [0.25, 0.5, 0.75])
            rows.append((np.sqrt(edges[b] * edges[b + 1]), q50, q25, q75))
    if not rows:
        raise ValueError("no value of s falls inside the bins.")
    c, med, lo, hi = (np.array(col) for col in zip(*rows, strict=True))
    return c, med, lo, hi


def first_crossing(s, values, level: float) -> float:
    """Smallest ``s`` at which the curve ``values(s)`` first rises above ``level`` (log-log interpolation).

    ``s`` increasing and positive, ``values`` positive (e.g. a binned median relative
    error). Returns ``inf`` when the curve never crosses and ``s[0]`` when it starts above.
    """
    s, v = check_array("s", s), check_array("values", values)
    level = check_number("level", level, finite=False)
    if s.ndim != 1 or v.shape != s.shape or len(s) == 0:
        raise ValueError("s and values must be 1-D arrays of one non-zero length.")
    if (s <= 0).any() or (v <= 0).any() or not (np.diff(s) > 0).all() or not level > 0:
        raise ValueError("s must be positive and increasing, values and level positive.")
    above = np.nonzero(v > level)[0]
    if len(above) == 0:
        return math.inf
    i = int(above[0])
    if i == 0:
        return float(s[0])
    x0, x1, y0, y1 = np.log(s[i - 1]), np.log(s[i]), np.log(v[i - 1]), np.log(v[i])
    return float(np.exp(x0 + (np.log(level) - y0) * (x1 - x0) / (y1 - y0)))


# ----------------------------------------------------------------------------- growth laws


@dataclass(frozen=True)
class GrowthFit:
    """Least-squares fits of a growth curve ``r(m)``; every R^2 is measured on ``r`` itself.

    - exponential: ``r = a e^{k m}``   (``exp_rate`` = k per step, ``exp_r2``)
    - linear:      ``r = a + b m``     (``lin_slope`` = b, ``lin_r2``)
    - power:       ``r = a m^q``       (``power`` = q, ``power_r2``; needs m > 0)
    """

    exp_rate: float
    exp_r2: float
    lin_slope: float
    lin_r2: float
    power: float
    power_r2: float

    @property
    def best(self) -> str:
        """The law with the highest R^2: ``'exponential'``, ``'linear'`` or ``'power'``."""
        r2 = {"exponential": self.exp_r2, "linear": self.lin_r2, "power": self.power_r2}
        return max(r2, key=r2.get)

    def __str__(self) -> str:
        return (
            f"exponential: rate {self.exp_rate:.3g}/step, R² {self.exp_r2:.4f} | "
            f"linear: slope {self.lin_slope:.3g}/step, R² {self.lin_r2:.4f} | "
            f"power: exponent {self.power:.2f}, R² {self.power_r2:.4f} -> best: {self.best}"
        )


def _r2(r: np.ndarray, pred: np.ndarray) -> float:
    ss_tot = float(((r - r.mean()) ** 2).sum())
    return 1.0 - float(((r - pred) ** 2).sum()) / ss_tot


def fit_growth(m, r) -> GrowthFit:
    """Fit exponential, linear and power laws to a positive growth curve ``r(m)`` (chapter 3).

    ``m``: step counts (> 0, at least 3 distinct); ``r``: positive values (not all equal).
    The exponential and power laws are fitted by nonlinear least squares on ``r``
    (started from the log-linear fit), so all three R^2 are comparable.
    """
    from scipy.optimize import curve_fit

    m, r = check_vector("m", m), check_vector("r", r)
    if m.shape != r.shape or np.unique(m).size < 3:
        raise ValueError(f"need m and r of one length with >= 3 distinct m, got {m.size} and {r.size}.")
    if (m <= 0).any() or (r <= 0).any():
        raise ValueError("m and r must be positive (a ratio of influences at m >= 1 steps).")
    if np.ptp(r) == 0:
        raise ValueError("r is constant: no growth law to fit.")
    lin = np.polyfit(m, r, 1)
    fits = {}
    for name, fn, x in (
        ("exp", lambda t, la, k: np.exp(la + k * t), m),
        ("pow", lambda t, la, q: np.exp(la + q * np.log(t)), np.log(m)),
    ):
        k0, la0 = np.polyfit(x, np.log(r), 1)
        try:
            with warnings.catch_warnings(), np.errstate(over="ignore", invalid="ignore"):
                warnings.simplefilter("ignore")  # OptimizeWarning on a singular covariance, overflow in trials
                (la, k), _ = curve_fit(fn, m, r, p0=(la0, k0), maxfev=20000)
        except RuntimeError:  # no convergence: keep the log-linear fit
            la, k = la0, k0
        if not (np.isfinite(la) and np.isfinite(k)):
            la, k = la0, k0
        fits[name] = (k, _r2(r, fn(m, la, k)))
    return GrowthFit(
        exp_rate=float(fits["exp"][0]),
        exp_r2=fits["exp"][1],
        lin_slope=float(lin[0]),
        lin_r2=_r2(r, np.polyval(lin, m)),
        power=float(fits["pow"][0]),
        power_r2=fits["pow"][1],
    )


# ----------------------------------------------------------------------------- cosines and shares


def _rows(v, name: str) -> torch.Tensor:
    if not isinstance(v, torch.Tensor) or not v.is_floating_point() or v.dim() < 1:
        raise ValueError(f"{name} must be a floating tensor of shape (n,) or (B, ...), got {getattr(v, 'shape', v)}.")
    if not torch.isfinite(v).all():
        raise ValueError(f"{name} has non-finite values (NaN or inf).")
    return v.reshape(1, -1) if v.dim() == 1 else v.reshape(v.shape[0], -1)


def cosine(a: torch.Tensor, b: torch.Tensor, *, zero: float | None = None) -> torch.Tensor:
    """Cosine similarity between matching rows of ``a`` and ``b`` (each flattened after the first axis).

    ``a``, ``b``: (B, ...) tensors of one shape and dtype, giving (B,); two 1-d vectors give a
    0-d tensor. A zero row has no direction: with ``zero=None`` it raises ``ValueError``; a
    number ``zero`` is returned for it instead (training logs record 0 for a step that did not
    move). The update cosines of :class:`advnotes.training.TrainLog` and chapters 2 and 4's
    alignments are this function.
    """
    vector = isinstance(a, torch.Tensor) and a.dim() == 1
    a, b = _rows(a, "a"), _rows(b, "b")
    if a.dtype != b.dtype:
        raise TypeError(f"a and b must share one dtype, got {a.dtype} and {b.dtype}.")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}.")
    denom = a.norm(dim=1) * b.norm(dim=1)
    if zero is None:
        if (denom == 0).any():
            raise ValueError("a zero row has no direction; its cosine is undefined.")
        out = (a * b).sum(1) / denom
    else:
        zero = check_number("zero", zero)
        out = torch.where(denom > 0, (a * b).sum(1) / torch.where(denom > 0, denom, 1), zero)
    return out[0] if vector else out


def negative_share(values, *, window: int | None = None) -> float:
    """Fraction of the last ``window`` values that are negative (all of them with ``window=None``).

    Chapter 4's zig-zag statistic: the share of negative successive-update cosines
    (``TrainLog.update_cos``) at the end of a run.
    """
    v = check_vector("values", values)
    if window is not None:
        window = check_positive("window", window, integer=True)
        if v.size < window:
            raise ValueError(f"there are {v.size} values, fewer than window={window}.")
        v = v[-window:]
    return float((v < 0).sum()) / v.size


def top_share(values, *, k: int | None = None, fraction: float | None = None) -> float:
    """The share of ``sum(values)`` carried by the ``k`` largest values, or by the largest ``ceil(fraction * n)``.

    ``values``: finite non-negative numbers, not all zero (per-sample shares, norms, ...);
    give exactly one of ``k`` (1 <= k <= n) and ``fraction`` (in (0, 1]). Shares that already
    sum to 1 give the sum of the top ``k`` (chapter 4's top-k share); chapter 5 uses the
    top decile (``fraction=0.1``).
    """
    v = check_vector("values", values)
    if (v < 0).any() or v.sum() == 0:
        raise ValueError("values must be finite non-negative numbers, not all 0.")
    if (k is None) == (fraction is None):
        raise TypeError("give exactly one of k (how many values) and fraction (which share of them).")
    if k is not None:
        k = check_positive("k", k, integer=True)
        if k > v.size:
            raise ValueError(f"k={k} exceeds the number of values ({v.size}).")
    else:
        fraction = check_number("fraction", fraction)
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {fraction!r}.")
        k = math.ceil(fraction * v.size)
    return float(np.sort(v)[::-1][:k].sum() / v.sum())
