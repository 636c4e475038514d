"""Re-execute chapters in place with their outputs, in the quick profile, reproducibly.

Usage: python scripts/execute.py book/ch1_input_hessian.ipynb [...]

Outputs are stored without timings or other volatile metadata, so re-running it
on unchanged code changes no byte. Set ADVNOTES_PROFILE=full to execute the
full profile instead (do not commit those outputs: nbval checks the quick ones).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

VOLATILE_CELL_KEYS = ("execution", "collapsed", "scrolled")


def clean(nb: nbformat.NotebookNode) -> None:
    """Drop metadata that changes run to run (timings, widget state)."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        for key in VOLATILE_CELL_KEYS:
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            for out in cell.get("outputs", []):
                out.get("metadata", {}).pop("execution", None)


def execute(path: Path, timeout: int) -> float:
    nb = nbformat.read(path, as_version=4)
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
    nbformat.write(nb, path)
    return elapsed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path)
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell (default 600)")
    args = parser.parse_args(argv)
    os.environ.setdefault("ADVNOTES_PROFILE", "quick")
    for path in args.notebooks:
        if not path.is_file():
            print(f"no such notebook: {path}", file=sys.stderr)
            return 2
        seconds = execute(path, args.timeout)
        print(f"executed {path} in {seconds:.1f} s (profile {os.environ['ADVNOTES_PROFILE']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
