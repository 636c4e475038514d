"""The book's own Sphinx extensions (``book/_ext``) for the tests: loaded from their files, not the package."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

EXT = Path(__file__).resolve().parents[1] / "book" / "_ext"


def load_extension(name: str) -> ModuleType:
    """The module ``book/_ext/<name>.py``, imported under the name Sphinx gives it (``local_extensions``)."""
    if name in sys.modules and getattr(sys.modules[name], "__file__", None) == str(EXT / f"{name}.py"):
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, EXT / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
