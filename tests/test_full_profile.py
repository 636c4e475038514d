"""`make full`: every chapter in the full profile, the scorecards last, times recorded (issue 11)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import execute  # noqa: E402


def test_make_full_runs_every_chapter_with_the_scorecard_last():
    cmd = ["make", "--no-print-directory", "-n", "full"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True).stdout
    line = out.replace("\\\n", " ").strip().splitlines()[-1]
    assert "ADVNOTES_PROFILE=full" in line and "--output-dir _build/full" in line
    assert "--times benchmarks/results/full_profile.md" in line
    notebooks = [w for w in line.split() if w.endswith(".ipynb")]
    assert sorted(notebooks) == sorted(str(p.relative_to(ROOT)) for p in (ROOT / "book").glob("*.ipynb"))
    assert notebooks[-2:] == ["book/ch5_prior_findings.ipynb", "book/appendix_reproducibility.ipynb"]


def test_times_table(tmp_path):
    path = tmp_path / "t" / "times.md"
    execute.write_times(path, [("ch1_input_hessian", 12.34), ("ch4_parameter_hessian", 301.0)], "full")
    lines = path.read_text().splitlines()
    assert lines[0].startswith("Profile `full` on ") and "one BLAS thread" in lines[0]
    assert lines[2:] == [
        "| notebook | wall time (s) |",
        "| --- | ---: |",
        "| ch1_input_hessian | 12.3 |",
        "| ch4_parameter_hessian | 301.0 |",
    ]
