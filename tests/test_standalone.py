"""A page runs where no repository is around (Colab): chapter 5 alone, with advnotes installed from a wheel."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("run_standalone", ROOT / "scripts" / "run_standalone.py")
standalone = importlib.util.module_from_spec(spec)
spec.loader.exec_module(standalone)


@pytest.mark.slow
def test_chapter5_shows_the_scorecard_alone_with_an_installed_package(tmp_path):
    """Chapter 5 reads every chapter's committed evidence from the installed package, not from book/."""
    target = tmp_path / "site"
    standalone.install_package(target)
    committed = sorted(p.name for p in (ROOT / "src" / "advnotes" / "evidence").glob("ch*.json"))
    installed = sorted(p.name for p in (target / "advnotes" / "evidence").glob("ch*.json"))
    assert installed == committed and {f"ch{n}.json" for n in range(1, 6)} <= set(installed)
    ok, why, _ = standalone.run_alone(ROOT / "book" / "ch5_prior_findings.ipynb", target, tmp_path / "alone")
    assert ok, why


def test_every_page_that_cannot_run_alone_has_no_launch_button():
    pages = {f"book/{p.stem}" for p in standalone.toc_notebooks()}
    assert standalone.no_launch_pages() <= pages
    assert standalone.no_launch_pages() == {"book/appendix_benchmarks"}
