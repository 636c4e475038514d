"""Time every chapter of the book: execute each notebook with nbclient in the quick profile.

Each notebook of the book (those ``_toc.yml`` lists) is executed from a fresh kernel, one after the other, in
memory (the notebook files are not changed), with ``ADVNOTES_PROFILE=quick`` and one
BLAS thread (``OMP_NUM_THREADS=1``, as ``make nbval`` runs them). The time is the wall
time of the whole execution, kernel start included, as a reader running the chapter top
to bottom sees it. The reproducibility appendix shows the table.

Usage::

    python benchmarks/bench_chapters.py                 # every notebook in _toc.yml (a few minutes)
    python benchmarks/bench_chapters.py book/ch1_input_hessian.ipynb ...

It prints a markdown table and writes it, with the raw numbers and the machine, to
``benchmarks/results/chapters.json`` and ``benchmarks/results/chapters.md`` (``--out``
sets the JSON path; the table goes next to it with the suffix ``.md``). The exit status
is 1 if a notebook fails to execute or takes longer than ``--budget`` seconds (default
90, the book's per-chapter budget).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
BUDGET_S = 90.0
CHAPTER_ENV = {"ADVNOTES_PROFILE": "quick", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (Linux), else :func:`platform.processor`, else ``'unknown'``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict:
    """Where a benchmark ran: CPU model, logical cores, OS, Python, torch and its device."""
    import torch

    cuda = torch.cuda.is_available()
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "platform": platform.platform(terse=True),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(0) if cuda else "cpu",
    }


def chapters(root: Path = ROOT) -> list[Path]:
    """The notebooks of the book, in the order of its table of contents (``_toc.yml``).

    A notebook in ``book/`` that the table of contents does not list (a chapter being written)
    is left out; so are the Markdown pages, which execute nothing.
    """
    listed = []
    for line in (root / "_toc.yml").read_text().splitlines():
        line = line.strip()
        if line.startswith("- file:"):
            path = root / (line.split("file:", 1)[1].strip() + ".ipynb")
            if path.is_file():
                listed.append(path)
    return listed


def time_notebook(path: Path, *, timeout: int = 600, env: dict | None = None) -> float:
    """Execute ``path`` in a fresh ``python3`` kernel (in memory) and return its wall time in seconds.

    ``env`` entries are set in the kernel's environment (default :data:`CHAPTER_ENV`). A cell
    that raises makes this raise ``nbclient.exceptions.CellExecutionError``.
    """
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    if not path.is_file() or path.suffix != ".ipynb":
        raise FileNotFoundError(f"no such notebook: {path}")
    if not (isinstance(timeout, int) and timeout > 0):
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    nb = nbformat.read(path, as_version=4)
    saved = {k: os.environ.get(k) for k in (env or CHAPTER_ENV)}
    os.environ.update(env or CHAPTER_ENV)  # the kernel inherits this process's environment
    try:
        client = NotebookClient(
            nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
        )
        start = time.perf_counter()
        client.execute()
        return time.perf_counter() - start
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def train_ensemble_quick(*, steps: int | None = None, repeats: int | None = None) -> str:
    """The table of ``bench_train_ensemble.py --quick`` on the CPU, for the Benchmarks appendix.

    Five seeds of the chapters' digits MLP in one ``train_ensemble`` against one seed's
    ``train()`` (standard, PGD and gradient-ascent training), with the float64 deviation
    of the members from ``train()``; wall times and ratios in the masked forms of
    ``report.py``. The CPU only, so that the table has the same rows on every machine.
    ``steps`` and ``repeats`` override the quick setting (50 steps, 3 repeats).
    """
    import report  # benchmarks/report.py (a sibling: in sys.modules when loaded through report.load)

    bench_train_ensemble = report.load("bench_train_ensemble")

    rows = bench_train_ensemble.run(quick=True, steps=steps, repeats=repeats, devices=["cpu"])
    return report.train_ensemble_table(rows)


def fmt_seconds(seconds: float) -> str:
    return f"{seconds:.1f} s"


def markdown_table(rows: list[dict], *, budget: float = BUDGET_S, failed: list[str] = ()) -> str:
    """The table the reproducibility appendix shows: one row per notebook (and per failed one), then the total."""
    lines = [f"| notebook | wall time (quick profile, CPU) | within the {budget:.0f} s budget |", "|---|---:|:---:|"]
    for r in rows:
        ok = "yes" if r["seconds"] <= budget else "**no**"
        lines.append(f"| `{r['notebook']}` | {fmt_seconds(r['seconds'])} | {ok} |")
    lines += [f"| `{name}` | failed to execute | **no** |" for name in failed]
    lines.append(f"| **total** | {fmt_seconds(sum(r['seconds'] for r in rows))} | |")
    return "\n".join(lines)


def provenance(payload: dict) -> str:
    """One sentence saying when, where and how the table was measured (printed under it)."""
    m = payload["machine"]
    return (
        f"Measured {payload['measured']} with `python benchmarks/bench_chapters.py` on {m['cpu']} "
        f"({m['cores']} logical cores, device {m['device']}), Python {m['python']}, torch {m['torch']}; "
        f"profile {payload['profile']}, one BLAS thread."
    )


def main(argv=None) -> int:
    import report  # benchmarks/report.py: the shared results writer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to time (default: those in _toc.yml)")
    parser.add_argument("--out", type=Path, default=RESULTS / "chapters.json", help="JSON output (.md beside it)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
    parser.add_argument("--budget", type=float, default=BUDGET_S, help="seconds per notebook (default 90)")
    args = parser.parse_args(argv)
    if args.timeout <= 0:
        parser.error(f"--timeout must be positive, got {args.timeout}")
    if not args.budget > 0:
        parser.error(f"--budget must be positive, got {args.budget}")
    notebooks = args.notebooks or chapters()
    missing = [str(p) for p in notebooks if not Path(p).is_file()]
    if missing:
        parser.error(f"no such notebook: {', '.join(missing)}")
    if not notebooks:
        parser.error("no notebooks listed in _toc.yml")

    rows, failed = [], []
    for path in notebooks:
        path = Path(path).resolve()
        name = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name
        try:
            seconds = time_notebook(path, timeout=args.timeout)
        except Exception as exc:  # report every notebook, then fail
            print(f"{name}: FAILED ({type(exc).__name__})", file=sys.stderr, flush=True)
            failed.append(name)
            continue
        rows.append({"notebook": name, "seconds": seconds})
        print(f"{name}: {fmt_seconds(seconds)}", file=sys.stderr, flush=True)

    table = markdown_table(rows, budget=args.budget, failed=failed)
    over = [r["notebook"] for r in rows if r["seconds"] > args.budget]
    payload = {
        "benchmark": "wall time to execute each notebook top to bottom in a fresh kernel (nbclient)",
        "profile": "quick",
        "environment": CHAPTER_ENV,
        "measured": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_info(),
        "budget_s": args.budget,
        "rows": rows,
        "failed": failed,
        "over_budget": over,
        "total_s": sum(r["seconds"] for r in rows),
        "table_markdown": table,
    }
    report.write_json(args.out, payload)
    report.write_atomic(args.out.with_suffix(".md"), table + "\n\n" + provenance(payload) + "\n")
    print(table)
    print("\n" + provenance(payload))
    if failed:
        print(f"FAILED: {', '.join(failed)}")
    if over:
        print(f"over the {args.budget:.0f} s budget: {', '.join(over)}")
    return 1 if failed or over else 0


if __name__ == "__main__":
    sys.exit(main())
