"""Re-execute chapters in place with their outputs, in the quick profile, reproducibly.

Usage: python scripts/execute.py book/ch1_input_hessian.ipynb [...]

Outputs are stored without timings or other volatile metadata, so re-running it
on unchanged code changes no byte: where a cell's new text output differs from the
stored one only in what tests/nbval_sanitize.cfg masks (measured wall times, speed-ups,
addresses, the machine's kernel and CPU names), the stored output is kept. Consecutive
stream outputs are merged (stdout before stderr), as the kernel splits a cell's printing
into messages at timing-dependent points. The kernel runs with one BLAS thread
(BLAS_THREADS), as under nbval. Set ADVNOTES_PROFILE=full to execute the full profile
instead, with ``--output-dir`` so the quick outputs nbval checks stay in place (``make full``
does both; the chapters' evidence then goes to ``book/evidence/full/``).
"""

from __future__ import annotations

import argparse
import configparser
import copy
import json
import os
import re
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

VOLATILE_CELL_KEYS = ("execution", "collapsed", "scrolled")
SANITIZE_FILE = Path(__file__).resolve().parent.parent / "tests" / "nbval_sanitize.cfg"
# As the Makefile's nbval target: one BLAS thread, so floats and printed thread counts do not depend
# on the caller's environment. The kernel inherits these from this process.
BLAS_THREADS = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
STREAM_ORDER = {"stdout": 0, "stderr": 1}


def load_sanitizers(path: Path = SANITIZE_FILE) -> list[tuple[re.Pattern, str]]:
    """The (regex, replacement) pairs nbval uses to mask what truly varies."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(path, encoding="utf-8")
    return [(re.compile(parser[s]["regex"]), parser[s]["replace"]) for s in parser.sections()]


def _masked(outputs, sanitizers) -> str:
    text = json.dumps(outputs, sort_keys=True, ensure_ascii=False)
    for pattern, replacement in sanitizers:
        text = pattern.sub(replacement, text)
    return text


def _text(output) -> str:
    text = output.get("text", "")
    return "".join(text) if isinstance(text, list) else text


def merge_streams(outputs: list) -> list:
    """Merge each run of consecutive stream outputs into one output per stream name, stdout first.

    The kernel sends a cell's printing in as many messages as its output buffer was flushed, at
    timing-dependent points, and stdout and stderr are flushed independently; a display (figure,
    table) flushes both first, so runs never cross one and the order of text and displays is kept.
    """
    merged: list = []
    run: dict = {}

    def close_run():
        merged.extend(sorted(run.values(), key=lambda o: STREAM_ORDER.get(o["name"], len(STREAM_ORDER))))
        run.clear()

    for output in outputs:
        if output.get("output_type") != "stream":
            close_run()
            merged.append(output)
        elif output["name"] in run:
            run[output["name"]]["text"] += _text(output)
        else:
            first = copy.deepcopy(output)
            first["text"] = _text(output)
            run[output["name"]] = first
    close_run()
    return merged


def normalise(nb: nbformat.NotebookNode) -> None:
    """Merge consecutive stream outputs in every code cell (see merge_streams)."""
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.get("outputs"):
            cell.outputs = merge_streams(cell.outputs)


def keep_stable_outputs(old: nbformat.NotebookNode, new: nbformat.NotebookNode, sanitizers) -> int:
    """Keep a cell's stored outputs where the new ones differ only in masked text; return how many."""
    kept = 0
    if len(old.cells) != len(new.cells):
        return kept
    for before, after in zip(old.cells, new.cells):
        if after.cell_type != "code" or before.get("source") != after.get("source"):
            continue
        if before.outputs != after.outputs and _masked(before.outputs, sanitizers) == _masked(
            after.outputs, sanitizers
        ):
            after.outputs = before.outputs
            kept += 1
    return kept


def clean(nb: nbformat.NotebookNode) -> None:
    """Drop metadata that changes run to run (timings, widget state)."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        for key in VOLATILE_CELL_KEYS:
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            for out in cell.get("outputs", []):
                out.get("metadata", {}).pop("execution", None)


def execute(path: Path, timeout: int, output_dir: Path | None = None) -> float:
    nb = nbformat.read(path, as_version=4)
    stored = copy.deepcopy(nb)
    normalise(stored)
    start = time.perf_counter()
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    elapsed = time.perf_counter() - start
    clean(nb)
    normalise(nb)
    keep_stable_outputs(stored, nb, load_sanitizers())
    if output_dir is None:
        nbformat.write(nb, path)
    else:
        output_dir.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, output_dir / path.name)
    return elapsed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=None,
        help="write the executed notebooks here instead of in place (the full profile: `make full`)",
    )
    parser.add_argument(
        "--times",
        type=Path,
        default=None,
        help="also write a Markdown table of the wall time per notebook here (`make full` records its run)",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("ADVNOTES_PROFILE", "quick")
    os.environ.update(BLAS_THREADS)
    times = []
    for path in args.notebooks:
        if not path.is_file():
            print(f"no such notebook: {path}", file=sys.stderr)
            return 2
        seconds = execute(path, args.timeout, args.output_dir)
        print(f"executed {path} in {seconds:.1f} s (profile {os.environ['ADVNOTES_PROFILE']})")
        times.append((path.stem, seconds))
    if args.times is not None:
        write_times(args.times, times, os.environ["ADVNOTES_PROFILE"])
    return 0


def write_times(path: Path, times: list[tuple[str, float]], profile: str) -> None:
    """A Markdown table of wall times (seconds) per notebook, with the machine it ran on."""
    import platform

    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({os.cpu_count()} cores)"
    lines = [
        f"Profile `{profile}` on {device}, {platform.python_implementation()} {platform.python_version()}, "
        f"torch {torch.__version__}, one BLAS thread.",
        "",
        "| notebook | wall time (s) |",
        "| --- | ---: |",
    ]
    lines += [f"| {name} | {seconds:.1f} |" for name, seconds in times]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
