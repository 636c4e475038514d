"""The chapters read like prose (issue 13): every notebook of _toc.yml keeps its code within the page's width
(88 characters, book/ruff.toml), its median code cell at most 12 lines and no cell longer than 30; every figure
is numbered and captioned."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WIDTH, MEDIAN, LONGEST = 88, 12, 30


def toc_notebooks() -> list[Path]:
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = []

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(toc)
    return [ROOT / f"{f}.ipynb" for f in files if (ROOT / f"{f}.ipynb").is_file()]


NOTEBOOKS = toc_notebooks()


def code_cells(path: Path) -> list[dict]:
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def lines(cell: dict) -> list[str]:
    src = cell["source"]
    return ("".join(src) if isinstance(src, list) else src).splitlines()


def test_the_toc_lists_the_chapters():
    assert len(NOTEBOOKS) >= 6


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_code_fits_the_page(path):
    wide = [(i, ln) for i, c in enumerate(code_cells(path)) for ln in lines(c) if len(ln) > WIDTH]
    assert not wide, f"{len(wide)} code lines wider than {WIDTH} characters, e.g. cell {wide[0][0]}: {wide[0][1]!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_code_cells_are_short(path):
    n = [len(lines(c)) for c in code_cells(path)]
    assert statistics.median(n) <= MEDIAN, f"median code cell {statistics.median(n)} lines > {MEDIAN}"
    longest = max(range(len(n)), key=n.__getitem__)
    assert n[longest] <= LONGEST, f"code cell {longest} has {n[longest]} lines > {LONGEST}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_figure_is_numbered_and_captioned(path):
    for i, c in enumerate(code_cells(path)):
        if any("image/png" in o.get("data", {}) for o in c.get("outputs", [])):
            fig = c.get("metadata", {}).get("mystnb", {}).get("figure", {})
            assert fig.get("caption") and fig.get("name", "").startswith("fig-"), (
                f"code cell {i} draws a figure without mystnb.figure caption and name"
            )


def test_the_checks_can_fail(tmp_path):
    cell = {"cell_type": "code", "source": ["x = 1\n"] * 31, "outputs": [], "metadata": {}}
    short = {"cell_type": "code", "source": ["x = 1\n"], "outputs": [], "metadata": {}}
    nb = tmp_path / "long.ipynb"
    nb.write_text(json.dumps({"cells": [cell, short, short]}))
    with pytest.raises(AssertionError, match="31 lines > 30"):
        test_code_cells_are_short(nb)
    cell["source"] = ["y = '" + "a" * 90 + "'\n"]
    nb.write_text(json.dumps({"cells": [cell]}))
    with pytest.raises(AssertionError, match="wider than 88"):
        test_code_fits_the_page(nb)
    cell["outputs"] = [{"output_type": "display_data", "data": {"image/png": ""}}]
    nb.write_text(json.dumps({"cells": [cell]}))
    with pytest.raises(AssertionError, match="without mystnb.figure caption"):
        test_every_figure_is_numbered_and_captioned(nb)
