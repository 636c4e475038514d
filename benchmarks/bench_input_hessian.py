"""Benchmark the input-Hessian spectrum: the C x C problem against a dense Hessian and ``eigh``.

For a ReLU network the input Hessian of the cross-entropy loss is ``H = W^T A W``
(chapter 1, ``eq-input-hessian``), of rank at most ``C - 1``. The package computes its
nonzero spectrum from the C x C factor ``G = F^T W`` (:func:`advnotes.curvature.input_hessian_eig`,
chapter 1, ``eq-A-factor``), at a cost of O(C^2 n) after the Jacobian ``W``. The dense
baseline forms the n x n Hessian with ``torch.func.hessian`` and diagonalises it with
``torch.linalg.eigh``, at a cost of O(n^3).

Both run on the same random-weight ReLU MLP ``n -> 256 -> 256 -> C`` (float64, C = 10)
at random inputs and labels. Reported per sample: the best time of a few repeats (after
a warm-up) of each path, both on one CPU thread by default (``--threads``), their ratio,
and the largest difference between the C - 1 nonzero eigenvalues of the two paths
relative to ``lambda_max``.

Usage::

    python benchmarks/bench_input_hessian.py           # n = 64, 784, 3072 (about 30 s on one CPU core)
    python benchmarks/bench_input_hessian.py --quick   # n = 64, 784, fewer repeats (a few seconds)

It prints a markdown table and writes it as JSON to ``benchmarks/results/input_hessian.json``
(``input_hessian_quick.json`` with ``--quick``; ``--out`` overrides). The exit status is 1
if an eigenvalue differs by more than the tolerance (``--rtol``, default 1e-8); the speed-up
target (1000x at n = 3072) is reported, not enforced, since timings depend on the machine
and its load.
"""

from __future__ import annotations

import platform
import statistics
import sys
import time
from pathlib import Path

import report  # benchmarks/report.py, a sibling (the one table formatter, shared with the book)
import torch
import torch.nn.functional as F
from torch.func import hessian

from advnotes.config import seed_everything
from advnotes.curvature import input_hessian_eig
from advnotes.models import mlp

RESULTS = Path(__file__).resolve().parent / "results"
NUM_CLASSES = 10
HIDDEN = (256, 256)
SPEEDUP_TARGET = 1000.0
TARGET_N = 3072  # the speed-up target applies at this input size
# (n, samples, dense repeats, C x C repeats)
FULL = ((64, 4, 5, 20), (784, 4, 3, 20), (3072, 2, 1, 20))
QUICK = ((64, 2, 5, 20), (784, 2, 2, 20))


def make_problem(n: int, samples: int, *, seed: int):
    """A random-weight ReLU MLP ``n -> 256 -> 256 -> 10`` (float64, eval mode), inputs (B, n) and labels (B,)."""
    seed_everything(seed)
    model = mlp(n, HIDDEN, NUM_CLASSES).double().eval()
    x = torch.randn(samples, n, dtype=torch.float64)
    y = torch.randint(0, NUM_CLASSES, (samples,))
    return model, x, y


def eigh_dense(model, x, y):
    """The dense path timed in the benchmark: Hessian plus full ``eigh`` (eigenvectors included)."""
    out = []
    for xi, yi in zip(x, y, strict=True):

        def loss(v, yi=yi):
            return F.cross_entropy(model(v.unsqueeze(0)), yi.unsqueeze(0))

        H = hessian(loss)(xi)
        vals, vecs = torch.linalg.eigh(0.5 * (H + H.T))
        out.append((vals.flip(-1), vecs.flip(-1)))
    return out


def best_time(fn, repeats: int, *, warmup=None) -> tuple[float, float, object]:
    """Best and median wall time (s) of ``repeats`` calls of ``fn`` after one warm-up call, and its result.

    ``warmup`` (default ``fn``) is the call made first and not timed: a cheaper call on the same code path
    (e.g. one sample instead of all) warms up just as well.
    """
    (warmup or fn)()
    times = []
    result = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times), result


def run_size(n: int, samples: int, dense_repeats: int, fast_repeats: int, *, seed: int) -> dict:
    """Time both paths at input size ``n`` and compare their nonzero eigenvalues."""
    model, x, y = make_problem(n, samples, seed=seed)
    with torch.no_grad():
        p = torch.softmax(model(x), dim=-1)
    dense_best, dense_median, dense = best_time(
        lambda: eigh_dense(model, x, y), dense_repeats, warmup=lambda: eigh_dense(model, x[:1], y[:1])
    )
    fast_best, fast_median, (vals, vecs) = best_time(lambda: input_hessian_eig(model, x, y), fast_repeats)
    k = NUM_CLASSES - 1  # rank H <= C - 1: compare the C - 1 nonzero eigenvalues
    dense_vals = torch.stack([d[0][:k] for d in dense])
    lam_max = dense_vals[:, 0]
    rel_err = ((vals[:, :k] - dense_vals).abs().amax(dim=1) / lam_max).max().item()
    # Eigenvectors: the top-k subspaces must agree (individual vectors are defined up to sign).
    dense_vecs = torch.stack([d[1][:, :k] for d in dense])
    overlap = torch.linalg.matrix_norm(dense_vecs.transpose(1, 2) @ vecs[:, :, :k], ord="fro") ** 2
    subspace_err = (k - overlap).abs().max().item() / k
    dense_s, fast_s = dense_best / samples, fast_best / samples
    return {
        "n": n,
        "samples": samples,
        "dense_repeats": dense_repeats,
        "cxc_repeats": fast_repeats,
        "dense_s_per_sample": dense_s,
        "dense_median_s_per_sample": dense_median / samples,
        "cxc_s_per_sample": fast_s,
        "cxc_median_s_per_sample": fast_median / samples,
        "speedup": dense_s / fast_s,
        "max_rel_eig_err": rel_err,
        "subspace_err": subspace_err,
        "lambda_max_range": [lam_max.min().item(), lam_max.max().item()],
        "confidence_max": p.max().item(),
    }


def main(argv=None) -> int:
    parser = report.run_parser(
        __doc__,
        quick="n = 64, 784 with fewer repeats (a few seconds)",
        rtol=1e-8,
        rtol_help="eigenvalue tolerance relative to lambda_max",
        threads_for=" for both routes",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    report.apply_run_options(parser, args)
    sizes = QUICK if args.quick else FULL
    out = args.out or RESULTS / ("input_hessian_quick.json" if args.quick else "input_hessian.json")

    start = time.perf_counter()
    rows = []
    for n, samples, dense_repeats, fast_repeats in sizes:
        rows.append(run_size(n, samples, dense_repeats, fast_repeats, seed=args.seed))
        print(f"n = {n}: done ({time.perf_counter() - start:.0f} s so far)", file=sys.stderr, flush=True)

    table = report.input_hessian_table(rows)
    accurate = all(r["max_rel_eig_err"] <= args.rtol for r in rows)
    at_target = [r for r in rows if r["n"] == TARGET_N]
    fast_enough = at_target[0]["speedup"] >= SPEEDUP_TARGET if at_target else None
    print(table)
    print()
    print(f"eigenvalues agree to {args.rtol:.0e} relative to lambda_max: {'yes' if accurate else 'NO'}")
    if at_target:
        print(
            f"speed-up at n = {TARGET_N}: {report.fmt_ratio(at_target[0]['speedup'])} "
            f"(target {SPEEDUP_TARGET:,.0f}×: {'met' if fast_enough else 'NOT met'})"
        )
    else:
        print(f"(the {SPEEDUP_TARGET:,.0f}× target applies at n = {TARGET_N}; run without --quick)")
    report.write_json(
        out,
        {
            "benchmark": "input_hessian_eig (C x C) vs torch.func.hessian + torch.linalg.eigh (dense)",
            "model": f"random-weight ReLU MLP n -> {' -> '.join(map(str, HIDDEN))} -> {NUM_CLASSES}, float64",
            "profile": "quick" if args.quick else "full",
            "timing": "best of the repeats after one warm-up, per sample (time.perf_counter)",
            "rtol": args.rtol,
            "speedup_target": SPEEDUP_TARGET,
            "accurate": accurate,
            "speedup_target_met": fast_enough,
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            "machine": platform.machine(),
            "seconds_total": time.perf_counter() - start,
            "rows": rows,
            "table_markdown": table,
        },
    )
    print(f"wrote {out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out}")
    return 0 if accurate else 1


if __name__ == "__main__":
    sys.exit(main())
