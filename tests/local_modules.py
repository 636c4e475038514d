"""Modules of the repository that are not in the package, for the tests: loaded from their files.

``book/_ext`` (the book's Sphinx extensions) and ``benchmarks/`` (the benchmark scripts) are not
importable as ``advnotes.*``; the tests load them by path, without adding anything to ``sys.path``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
EXT = ROOT / "book" / "_ext"
BENCH = ROOT / "benchmarks"


def _load(name: str, path: Path) -> ModuleType:
    module = sys.modules.get(name)
    if module is not None and getattr(module, "__file__", None) == str(path):
        return module
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_extension(name: str) -> ModuleType:
    """The module ``book/_ext/<name>.py``, under the name Sphinx gives it (``local_extensions``)."""
    return _load(name, EXT / f"{name}.py")


def load_benchmark(name: str) -> ModuleType:
    """The script ``benchmarks/<name>.py`` as a module, through ``report.load`` (as the appendix does)."""
    report = _load("report", BENCH / "report.py")
    return report if name == "report" else report.load(name)
