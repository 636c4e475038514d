"""The book's frame: every chapter is in the table of contents, has a title and the shared setup cell,
the Colab install is a no-op off Colab, and re-executing a chapter changes no byte."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "book").glob("*.ipynb"))
SETUP_HEAD = """\
# Setup: on Colab, install the advnotes release these outputs come from;
# elsewhere nothing is installed.
import importlib.metadata
import subprocess
import sys

RELEASE = "0.2.0"  # the advnotes version (git tag v0.2.0) of these outputs
if "google.colab" in sys.modules:
    try:
        installed = importlib.metadata.version("advnotes")
    except importlib.metadata.PackageNotFoundError:
        installed = None
    if installed != RELEASE:  # missing, older or newer: install the release
        package = f"advnotes @ git+https://github.com/advnotes/advnotes@v{RELEASE}"
        pip = [sys.executable, "-m", "pip", "install", "-q", "--upgrade", package]
        subprocess.run(pip, check=True)
""".splitlines()


def cells(path):
    return json.loads(path.read_text())["cells"]


def source(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def test_there_are_chapters():
    assert CHAPTERS, "no chapters found in book/"


def test_every_chapter_is_in_the_table_of_contents():
    toc = (ROOT / "_toc.yml").read_text()
    listed = {line.split("file:")[1].strip() for line in toc.splitlines() if line.strip().startswith("- file:")}
    for path in CHAPTERS:
        assert f"book/{path.stem}" in listed, f"{path.name} is not listed in _toc.yml"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_has_title_and_setup_cell(path):
    cs = cells(path)
    assert cs[0]["cell_type"] == "markdown" and source(cs[0]).startswith("# "), "first cell must hold the # Title"
    code = [c for c in cs if c["cell_type"] == "code"]
    first = code[0]
    assert source(first).splitlines()[: len(SETUP_HEAD)] == SETUP_HEAD, (
        "the setup cell must start with the shared Colab guard"
    )
    assert "hide-input" in first.get("metadata", {}).get("tags", [])
    assert "config.setup(" in source(first)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_outputs_are_committed_without_errors(path):
    for c in cells(path):
        if c["cell_type"] == "code":
            assert c.get("outputs") is not None
            assert all(o["output_type"] != "error" for o in c["outputs"]), "a stored output is an error"
            assert "execution" not in c.get("metadata", {}), "volatile timing metadata is stored"
    assert any(c["cell_type"] == "code" and c["outputs"] for c in cells(path)), "chapter was never executed"


def _run_guard(monkeypatch, *, colab: bool, installed: str | None):
    import importlib.metadata

    calls = []
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: calls.append((a, k)))
    if colab:
        monkeypatch.setitem(sys.modules, "google.colab", type(sys)("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)

    def version(name):
        if installed is None:
            raise importlib.metadata.PackageNotFoundError(name)
        return installed

    monkeypatch.setattr(importlib.metadata, "version", version)
    exec("\n".join(SETUP_HEAD), {})
    return calls


def _release():
    import advnotes

    return advnotes.__version__


def test_setup_cell_installs_nothing_off_colab(monkeypatch):
    assert _run_guard(monkeypatch, colab=False, installed=None) == []


@pytest.mark.parametrize("installed", [None, "0.0.1", "99.0"])
def test_setup_cell_installs_the_matching_release_on_colab(monkeypatch, installed):
    calls = _run_guard(monkeypatch, colab=True, installed=installed)
    assert len(calls) == 1
    (cmd,), kwargs = calls[0]
    assert cmd[1:6] == ["-m", "pip", "install", "-q", "--upgrade"] and kwargs == {"check": True}
    assert cmd[6] == f"advnotes @ git+{_repository()}@v{_release()}"


def test_setup_cell_keeps_the_matching_release(monkeypatch):
    assert _run_guard(monkeypatch, colab=True, installed=_release()) == []


def _repository():
    import yaml

    return yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]


def test_release_url_and_version_agree_everywhere():
    """The install cells, the package version, CITATION.cff and _config.yml name one release and one repository."""
    import re

    import yaml

    head = "\n".join(SETUP_HEAD)
    assert re.search(r'RELEASE = "([^"]+)"', head).group(1) == _release()
    assert f"git+{_repository()}@v{{RELEASE}}" in head
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert str(cff["version"]) == _release() and cff["repository-code"] == _repository()
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'version = {attr = "advnotes.__version__"}' in pyproject
    assert f'Homepage = "{_repository()}"' in pyproject


@pytest.mark.slow
def test_execute_script_is_byte_stable(tmp_path):
    """Re-executing an unchanged notebook with scripts/execute.py changes no byte."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    nb = new_notebook(
        cells=[
            new_markdown_cell("# T"),
            new_code_cell("import torch\ntorch.manual_seed(0)\nprint(round(float(torch.randn(3).sum()), 4))"),
            new_code_cell("import matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0]); plt.show()"),
        ]
    )
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "t.ipynb"
    nbformat.write(nb, path)
    script = ROOT / "scripts" / "execute.py"
    subprocess.run([sys.executable, str(script), str(path)], check=True, capture_output=True)
    first = path.read_bytes()
    subprocess.run([sys.executable, str(script), str(path)], check=True, capture_output=True)
    assert path.read_bytes() == first
    out = json.loads(first)["cells"][1]["outputs"][0]
    assert out["output_type"] == "stream" and out["text"]
