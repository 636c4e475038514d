"""Settings for every pytest run from the repository root, as `make unit` and `make nbval` have them.

Plain ``pytest --nbval`` (and ``pytest --nbval book/``) thus re-executes the chapters the way the
committed outputs were made: one BLAS thread and the quick profile, unless the environment already
says otherwise, and with the chapters' evidence written to a temporary folder. The kernels nbval
starts inherit these variables.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

for _name, _value in {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "ADVNOTES_PROFILE": "quick",
}.items():
    os.environ.setdefault(_name, _value)

# Chapters re-executed by nbval write their evidence here, never into the committed
# book/evidence (= src/advnotes/evidence): tests do not write tracked files.
os.environ.setdefault("ADVNOTES_EVIDENCE_DIR", tempfile.mkdtemp(prefix="advnotes-evidence-"))


def pytest_configure(config):
    """Find the sanitizer named in pyproject.toml's addopts from any working directory."""
    path = config.getoption("nbval_sanitize_with", None)
    if path and not Path(path).is_file() and (config.rootpath / path).is_file():
        config.option.nbval_sanitize_with = str(config.rootpath / path)
