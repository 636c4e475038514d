"""Benchmark ``train_ensemble``: five seeds in one batched computation against one seed's ``train()``.

The chapters train each setting with five seeds to put confidence intervals on what
they measure. :func:`advnotes.training.train_ensemble` stacks the seeds' parameters and
runs one forward and one backward pass per step for all of them (batched matrix
products for a plain MLP, ``torch.vmap`` over ``torch.func.functional_call`` for
anything else). This script times, for the chapters' typical run (digits, ReLU MLP
64-128-128-10, float32, SGD with lr 0.1, batch 64, 200 steps):

* standard training,
* adversarial training with L-inf PGD (eps 0.1, step 0.025, 5 steps, inputs clamped to [0, 1]),
* adversarial training with plain gradient ascent (step 0.5, 5 steps),

the wall time of one seed's ``train()``, of five seeds' ``train_ensemble`` and of the
same five seeds through the generic ``vmap`` path (the fast path switched off). Each
repeat times the three one after the other, so that all see the same load; reported
are the medians over the repeats, and the median of the per-repeat ratios "five seeds /
one seed" (target: at most 3). Beside the times, a correctness check in float64: the
largest relative deviation of each member (parameters and every log entry) from
``train(make_model(seed), seed=seed)``, which must stay below ``--rtol`` (1e-6).
Timings use one torch CPU thread by default (``--threads``), and CUDA as well when
it is present.

Usage::

    python benchmarks/bench_train_ensemble.py           # 200 steps, 5 repeats (about a minute on one CPU core)
    python benchmarks/bench_train_ensemble.py --quick   # 50 steps, 3 repeats (several seconds)

It prints a markdown table and writes it as JSON to ``benchmarks/results/train_ensemble.json``
(``train_ensemble_quick.json`` with ``--quick``; ``--out`` overrides). The exit status is 1 if
a member deviates from ``train()`` by more than the tolerance; the speed target is reported,
not enforced, since timings depend on the machine and its load.
"""

from __future__ import annotations

import contextlib
import functools
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import bench_chapters  # benchmarks/bench_chapters.py, a sibling (machine_info)
import report  # benchmarks/report.py, a sibling (the one table formatter, shared with the book)
import torch

from advnotes import training
from advnotes.attacks import gradient_ascent, pgd_linf
from advnotes.config import synchronize
from advnotes.data import load_digits
from advnotes.models import mlp
from advnotes.training import train, train_ensemble

RESULTS = Path(__file__).resolve().parent / "results"
SEEDS = 5
HIDDEN = (128, 128)
LR = 0.1
BATCH = 64
RATIO_TARGET = 3.0  # five seeds in at most three times one seed's time
CASES = {
    "standard": None,
    "PGD-Linf (eps 0.1, 5 steps)": functools.partial(pgd_linf, eps=0.1, step_size=0.025, steps=5, clamp=(0.0, 1.0)),
    "gradient ascent (0.5, 5 steps)": functools.partial(gradient_ascent, step_size=0.5, steps=5),
}
FULL = {"steps": 200, "repeats": 5, "check_steps": 50}
QUICK = {"steps": 50, "repeats": 3, "check_steps": 10}


def make_model_fn(dtype: torch.dtype, device) -> Callable[[int], torch.nn.Module]:
    """``make_model(seed)``: the chapters' digits MLP 64-128-128-10, seeded."""

    def make_model(seed: int) -> torch.nn.Module:
        torch.manual_seed(seed)
        return mlp(64, HIDDEN, 10).to(dtype=dtype, device=device)

    return make_model


@functools.lru_cache(maxsize=4)
def digits(dtype: torch.dtype, device: str):
    """The digits training set (1347 examples, 64 features), standardised."""
    split = load_digits(dtype=dtype).to(device)
    return split.x_train, split.y_train


@contextlib.contextmanager
def generic_path():
    """Switch the batched-matmul fast path off: every model runs through ``torch.vmap``."""
    with mock.patch.object(training, "mlp_plan", lambda model: None):
        yield


def timed(fn, device) -> tuple[float, float]:
    """Wall time and CPU time of this process (s) of one call of ``fn``."""
    synchronize(device)
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    synchronize(device)
    return time.perf_counter() - wall, time.process_time() - cpu


def time_case(name: str, *, steps: int, repeats: int, device="cpu", seeds: int = SEEDS, vmap: bool = True) -> dict:
    """Wall times of one seed's ``train()``, ``seeds`` seeds' ``train_ensemble`` (and through ``vmap``), float32."""
    attack = CASES[name]
    make_model = make_model_fn(torch.float32, device)
    x, y = digits(torch.float32, device)
    kwargs = dict(lr=LR, batch_size=BATCH, attack=attack)
    runs = {
        "single": lambda n: train(make_model(0), x, y, steps=n, seed=0, **kwargs),
        "ensemble": lambda n: train_ensemble(make_model, x, y, seeds=range(seeds), steps=n, **kwargs),
    }
    if vmap:

        def through_vmap(n):
            with generic_path():
                return train_ensemble(make_model, x, y, seeds=range(seeds), steps=n, **kwargs)

        runs["vmap"] = through_vmap
    for run in runs.values():  # warm-up
        run(2)
    times = {key: [] for key in runs}
    cpu_times = {key: [] for key in runs}
    for _ in range(repeats):  # interleaved, so that a change of load hits every route alike
        for key, run in runs.items():
            wall, cpu = timed(functools.partial(run, steps), device)
            times[key].append(wall)
            cpu_times[key].append(cpu)
    ratios = [e / s for e, s in zip(times["ensemble"], times["single"])]
    cpu_ratios = [e / s for e, s in zip(cpu_times["ensemble"], cpu_times["single"])]
    row = {
        "training": name,
        "device": str(device),
        "dtype": "float32",
        "seeds": seeds,
        "steps": steps,
        "batch_size": BATCH,
        "repeats": repeats,
        "single_s": statistics.median(times["single"]),
        "ensemble_s": statistics.median(times["ensemble"]),
        "ratio": statistics.median(ratios),
        "ratio_range": [min(ratios), max(ratios)],
        "cpu_ratio": statistics.median(cpu_ratios),
        "times_s": times,
        "cpu_times_s": cpu_times,
    }
    row["speedup_vs_sequential"] = seeds / row["ratio"]
    row["target_met"] = row["ratio"] <= RATIO_TARGET
    if vmap:
        row["vmap_s"] = statistics.median(times["vmap"])
        row["vmap_ratio"] = statistics.median(v / s for v, s in zip(times["vmap"], times["single"]))
    return row


def max_rel_deviation(make_model, x, y, seeds, **kwargs) -> float:
    """Largest relative deviation of the members from ``train()`` (per parameter tensor and per log entry)."""
    models, logs = train_ensemble(make_model, x, y, seeds=seeds, **kwargs)
    worst = 0.0
    for seed, model, log in zip(seeds, models, logs):
        ref = make_model(seed)
        ref_log = train(ref, x, y, seed=seed, **kwargs)
        with torch.no_grad():
            for p, q in zip(model.parameters(), ref.parameters()):
                worst = max(worst, float((p - q).abs().max() / q.abs().max()))
        for field in ("loss", "clean_loss", "update_norm", "update_cos"):
            a, b = getattr(log, field), getattr(ref_log, field)
            if len(a) != len(b):
                return float("inf")
            worst = max([worst] + [abs(u - v) / abs(v) if v else abs(u) for u, v in zip(a, b)])
    return worst


def check_case(name: str, *, steps: int, seeds: int = SEEDS) -> float:
    """The equivalence check of a case, in float64 on the CPU, with the fast path and with ``vmap``."""
    make_model = make_model_fn(torch.float64, "cpu")
    x, y = digits(torch.float64, "cpu")
    kwargs = dict(lr=LR, steps=steps, batch_size=BATCH, attack=CASES[name], momentum=0.9)
    fast = max_rel_deviation(make_model, x, y, list(range(seeds)), **kwargs)
    with generic_path():
        generic = max_rel_deviation(make_model, x, y, list(range(seeds)), **kwargs)
    return max(fast, generic)


def run(
    *, quick: bool, steps: int | None = None, repeats: int | None = None, vmap: bool = True, devices=None
) -> list[dict]:
    """Every case on each device (default: the CPU, and CUDA when present): timing rows with their float64 deviation.

    ``steps`` and ``repeats`` override the setting (``QUICK`` or ``FULL``).
    """
    setting = QUICK if quick else FULL
    steps = steps or setting["steps"]
    repeats = repeats or setting["repeats"]
    check_steps = min(setting["check_steps"], steps)
    if devices is None:
        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = []
    for name in CASES:
        deviation = check_case(name, steps=check_steps)
        for device in devices:
            row = time_case(name, steps=steps, repeats=repeats, device=device, vmap=vmap)
            row["check_steps"] = check_steps
            row["max_rel_deviation"] = deviation
            rows.append(row)
    return rows


def main(argv=None) -> int:
    parser = report.run_parser(
        __doc__,
        quick="50 steps, 3 repeats (several seconds)",
        rtol=1e-6,
        rtol_help="largest relative deviation from train() (float64)",
    )
    args = parser.parse_args(argv)
    report.apply_run_options(parser, args)
    out = args.out or RESULTS / ("train_ensemble_quick.json" if args.quick else "train_ensemble.json")

    start = time.perf_counter()
    rows = run(quick=args.quick)
    table = report.train_ensemble_table(rows)
    accurate = all(r["max_rel_deviation"] <= args.rtol for r in rows)
    print(table)
    print()
    print(f"every member equals train() to {args.rtol:.0e} (float64): {'yes' if accurate else 'NO'}")
    for r in rows:
        print(
            f"{r['training']} ({r['device']}): {r['seeds']} seeds take {r['ratio']:.2f} x one seed's wall time "
            f"(target <= {RATIO_TARGET:g}: {'met' if r['target_met'] else 'NOT met'}; "
            f"{r['cpu_ratio']:.2f} x its CPU time)"
        )
    report.write_atomic(
        out,
        json.dumps(
            {
                "benchmark": f"train_ensemble ({SEEDS} seeds, one batched computation) vs train() (one seed)",
                "model": f"digits ReLU MLP 64 -> {' -> '.join(map(str, HIDDEN))} -> 10, float32, "
                f"SGD lr {LR}, batch {BATCH}",
                "profile": "quick" if args.quick else "full",
                "timing": "median wall time over interleaved repeats after a warm-up (time.perf_counter); "
                "ratio: median of the per-repeat ratios; cpu_ratio: the same with the process's CPU time "
                "(time.process_time), less sensitive to other processes on a shared machine",
                "rtol": args.rtol,
                "ratio_target": RATIO_TARGET,
                "accurate": accurate,
                "target_met": all(r["target_met"] for r in rows),
                "torch_threads": torch.get_num_threads(),
                "machine": bench_chapters.machine_info(),
                "seconds_total": time.perf_counter() - start,
                "rows": rows,
                "table_markdown": table,
            },
            indent=2,
        )
        + "\n",
    )
    print(f"wrote {out.relative_to(Path.cwd()) if out.is_relative_to(Path.cwd()) else out}")
    return 0 if accurate else 1


if __name__ == "__main__":
    sys.exit(main())
