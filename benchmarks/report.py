"""Markdown tables of the benchmarks for the book's Benchmarks appendix (``book/appendix_benchmarks.ipynb``).

The benchmark scripts print tables for a terminal; these functions format the same
rows for the book, where every wall time is written ``⏱ 12.3 ms`` and every speed
ratio ``speed-up ×123``: the two forms ``tests/nbval_sanitize.cfg`` masks, so that
re-executing the page changes no stored byte when only the machine's speed differs.
Everything else in a table (sizes, product counts, errors) is deterministic on a
given machine. The few lines every benchmark script shares (an atomic JSON write, the
``--rtol``/``--threads`` checks) live here too, once.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from advnotes.stats import roundoff

__all__ = [
    "chapters_table",
    "costs_table",
    "fmt_ratio",
    "fmt_time",
    "input_hessian_table",
    "krylov_table",
    "lanczos_table",
    "train_ensemble_table",
    "apply_run_options",
    "write_atomic",
    "write_json",
]


def load(name: str):
    """The benchmark script ``benchmarks/<name>.py`` as a module, imported from its file.

    For the Benchmarks appendix and the tests, which run outside ``benchmarks/``: nothing is
    added to ``sys.path``. The module is registered in ``sys.modules`` under ``name`` (and this
    module under ``report``), so the scripts' own ``import report`` / ``import bench_chapters``
    find their siblings; run as files, the scripts find them in their own folder.
    """
    import importlib.util
    import sys

    if name != "report" and "report" not in sys.modules:  # this module, loaded by its file
        load("report")
    if name in sys.modules:
        return sys.modules[name]
    path = Path(__file__).resolve().parent / f"{name}.py"
    if not path.is_file():
        raise ValueError(f"no benchmark script {path}")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``*.tmp`` and rename it, so a killed run leaves no half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_json(path: Path, payload: dict) -> None:
    """A benchmark's results file: indented JSON, written atomically."""
    write_atomic(path, json.dumps(payload, indent=2) + "\n")


def run_parser(doc: str, *, quick: str, rtol: float, rtol_help: str, threads_for: str = ""):
    """The command line every benchmark script shares: ``--quick``, ``--out``, ``--rtol``, ``--threads``.

    ``doc`` is the script's module docstring (its first line describes the parser); the
    script adds its own options and calls :func:`apply_run_options` after parsing.
    """
    import argparse

    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=quick)
    parser.add_argument("--out", type=Path, default=None, help="JSON output (default benchmarks/results/...)")
    parser.add_argument("--rtol", type=float, default=rtol, help=rtol_help)
    threads = f"torch CPU threads{threads_for} (default 1: stable timings on a shared machine; 0: torch's default)"
    parser.add_argument("--threads", type=int, default=1, help=threads)
    return parser


def apply_run_options(parser, args) -> None:
    """Check a benchmark's ``--rtol`` (> 0) and ``--threads`` (>= 0; 0 keeps torch's default) and set the threads."""
    if not args.rtol > 0:
        parser.error(f"--rtol must be positive, got {args.rtol}")
    if args.threads < 0:
        parser.error(f"--threads must be >= 0, got {args.threads}")
    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)


def fmt_time(seconds: float) -> str:
    """A wall time as ``⏱ 12.3 ms`` (µs, ms or s, three significant digits)."""
    seconds = float(seconds)
    if not (math.isfinite(seconds) and seconds >= 0):
        raise ValueError(f"a wall time must be a finite non-negative number of seconds, got {seconds!r}")
    if seconds >= 1:
        return f"⏱ {seconds:.2f} s"
    if seconds >= 1e-3:
        return f"⏱ {seconds * 1e3:.3g} ms"
    return f"⏱ {seconds * 1e6:.3g} µs"


def fmt_ratio(ratio: float) -> str:
    """A ratio of two wall times as ``speed-up ×123`` (``×1.5`` below 10)."""
    ratio = float(ratio)
    if not (math.isfinite(ratio) and ratio > 0):
        raise ValueError(f"a speed ratio must be a finite positive number, got {ratio!r}")
    return f"speed-up ×{ratio:,.0f}" if ratio >= 10 else f"speed-up ×{ratio:.2g}"


def input_hessian_table(rows: list[dict]) -> str:
    """Rows of ``bench_input_hessian.run_size``: per-sample times of both routes, their ratio, the eigenvalue error."""
    lines = [
        "| n | dense Hessian + `eigh` | $C\\times C$ (`input_hessian_eig`) | ratio | max rel. eigenvalue error |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['n']} | {fmt_time(r['dense_s_per_sample'])} | {fmt_time(r['cxc_s_per_sample'])} "
            f"| {fmt_ratio(r['speedup'])} | {roundoff(r['max_rel_eig_err'])} |"
        )
    return "\n".join(lines)


def lanczos_table(rows: list[dict]) -> str:
    """Rows of ``bench_param_hessian.bench_operator``: products to reach lambda_1 to 1e-3, both methods."""
    lines = [
        "| model | operator | $\\lambda_1$ | Lanczos/Arnoldi: products to 1e-3 | power iteration: products to 1e-3 "
        "| ratio of products | Lanczos/Arnoldi, own rule: products (loosest tol) | its error | at tol=1e-3 "
        "| ARPACK at tol=1e-3 | power, own rule: products (its error) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['operator']} | {r['lambda_1']:.3f} | {r['krylov_products']} | {r['power_products']} "
            f"| {r['product_ratio']:.2f} | {r['krylov_rule_products']} ({r['krylov_tol']:g}) "
            f"| {roundoff(r['krylov_rel_error'])} | {r['krylov_default_products']} | {r['arpack_default_products']} "
            f"| {r['power_rule_products']} ({r['power_rule_rel_error']:.0e}) |"
        )
    return "\n".join(lines)


def krylov_table(payload: dict) -> str:
    """``bench_krylov.py``'s JSON: Lanczos (``advnotes.krylov.top_eig``) against ``eigsh``, then power vs Lanczos."""
    lines = [
        "| spectrum ($\\lambda_6/\\lambda_5$) | Lanczos | `eigsh` | Lanczos against `eigsh` "
        "| products: Lanczos / `eigsh` | per step outside the product: Lanczos / `eigsh` "
        "| max rel. eigenvalue error: Lanczos / `eigsh` |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in payload["rows"]:
        lines.append(
            f"| bulk up to {r['bulk_max']:g} ({r['gap_ratio']:.4f}) | {fmt_time(r['lanczos_s'])} "
            f"| {fmt_time(r['eigsh_s'])} | {fmt_ratio(r['eigsh_s'] / r['lanczos_s'])} "
            f"| {r['lanczos_products']} / {r['eigsh_products']} "
            f"| {fmt_time(r['lanczos_per_step_outside_s'])} / {fmt_time(r['eigsh_per_step_outside_s'])} "
            f"| {roundoff(r['lanczos_max_rel_eig_err'])} / {roundoff(r['eigsh_max_rel_eig_err'])} |"
        )
    lines += [
        "",
        "| $\\lambda_2/\\lambda_1$ | power iteration: products to 1e-6 | Lanczos: products to 1e-6 "
        "| power: $\\log(\\mathrm{tol})/\\log(\\lambda_2/\\lambda_1)$ |",
        "|---:|---:|---:|---:|",
    ]
    for r in payload["power_rows"]:
        lines.append(
            f"| {r['ratio']:g} | {r['power_products']} | {r['lanczos_products']} | {r['power_predicted']:.0f} |"
        )
    return "\n".join(lines)


def costs_table(costs: dict) -> str:
    """``bench_param_hessian.bench_costs``: the wall time of one product of each kind, against one gradient."""
    items = [
        ("gradient of the clean loss (autograd)", "gradient_ms"),
        ("Hessian-vector product in a solver (one backward through the gradient's graph)", "hvp_ms"),
        ("one Hessian-vector product from scratch (graph built, then one backward)", "hvp_standalone_ms"),
        ("Hessian-vector product, forward over reverse (`jvp` of `torch.func.grad`)", "hvp_fwd_rev_ms"),
        ("adversarial training gradient $G$ (5 attack steps)", "adv_gradient_ms"),
        ("$J_{\\text{eff}}$-vector product (through the attack)", "jeff_mvp_ms"),
    ]
    g = costs["gradient_ms"] / 1e3
    # The ratio is a speed ratio (masked in the book's test): how much faster one gradient is than the product.
    lines = ["| one product | wall time | one gradient is faster by |", "|---|---:|---:|"]
    for name, key in items:
        if key in costs:
            t = costs[key] / 1e3
            lines.append(f"| {name} | {fmt_time(t)} | {fmt_ratio(t / g) if key != 'gradient_ms' else '—'} |")
    return "\n".join(lines)


def train_ensemble_table(rows: list[dict]) -> str:
    """Rows of ``bench_train_ensemble.time_case``: one seed's ``train()`` against all seeds' ``train_ensemble``.

    The speed-up is against running the seeds one after the other (seeds x one seed's time over
    the ensemble's time); the target "seeds in at most 3x one seed's time" is a speed-up of seeds / 3.
    """
    seeds = rows[0]["seeds"] if rows else 5
    vmap = any("vmap_s" in r for r in rows)
    lines = [
        f"| training | device | one seed: `train()` | {seeds} seeds: `train_ensemble` "
        f"| against {seeds} × `train()` |"
        + (f" {seeds} seeds, `vmap` path |" if vmap else "")
        + " max rel. deviation from `train()` (float64) |",
        "|---|---|---:|---:|---:|" + ("---:|" if vmap else "") + "---:|",
    ]
    for r in rows:
        cells = [
            r["training"],
            r["device"],
            fmt_time(r["single_s"]),
            fmt_time(r["ensemble_s"]),
            fmt_ratio(r["seeds"] / r["ratio"]),
        ]
        if vmap:
            cells.append(fmt_time(r["vmap_s"]) if "vmap_s" in r else "—")
        cells.append(roundoff(r["max_rel_deviation"]))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def chapters_table(payload: dict) -> str:
    """The table of ``bench_chapters.py``'s JSON, with the wall times in the masked form."""
    budget = payload["budget_s"]
    lines = [f"| notebook | wall time (quick profile, CPU) | within the {budget:.0f} s budget |", "|---|---:|:---:|"]
    for r in payload["rows"]:
        lines.append(f"| `{r['notebook']}` | {fmt_time(r['seconds'])} | {'yes' if r['seconds'] <= budget else 'no'} |")
    lines.append(f"| total | {fmt_time(payload['total_s'])} | |")
    return "\n".join(lines)


def committed_costs(payload: dict) -> dict[str, dict]:
    """The per-scale cost dicts of ``results/param_hessian.json`` (``costs_by_scale``, or ``costs`` itself).

    ``costs`` is one ``bench_costs`` dict, or (in older results) a dict of them keyed by scale.
    """
    by_scale = payload.get("costs_by_scale")
    if isinstance(by_scale, dict) and by_scale:
        return by_scale
    costs = payload["costs"]
    if all(isinstance(v, dict) for v in costs.values()):
        return costs
    return {payload.get("setting", "chapter setting"): costs}
