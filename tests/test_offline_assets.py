"""The book typesets offline: MathJax 3 is bundled and configured, and the page-script fix holds.

tests/test_browser.py checks the rendered pages in a browser; these checks need neither a build
nor a browser, so they also guard a machine without Chromium.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import yaml
from local_modules import load_extension

htmlfixes = load_extension("htmlfixes")
drop_duplicate_scripts, drop_launch_buttons, setup = (
    htmlfixes.drop_duplicate_scripts,
    htmlfixes.drop_launch_buttons,
    htmlfixes.setup,
)

ROOT = Path(__file__).resolve().parent.parent
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
SPHINX = CONFIG["sphinx"]["config"]


def test_mathjax_path_is_a_bundled_mathjax_3():
    path = SPHINX["mathjax_path"]
    assert "://" not in path and not path.startswith("//"), "MathJax must not come from a CDN"
    found = [ROOT / static / path for static in SPHINX["html_static_path"] if (ROOT / static / path).is_file()]
    assert found, f"{path} is in none of {SPHINX['html_static_path']}"
    text = found[0].read_text(encoding="utf-8")
    assert 'VERSION="3.' in text, "not a MathJax 3 component"
    assert (found[0].parent / "LICENSE").is_file(), "ship MathJax's license with it"
    # SVG output needs no font files; CHTML would load woff fonts from a path next to it.
    assert "svg" in found[0].name


def test_static_folder_is_not_the_one_jupyter_book_autoloads():
    """Jupyter Book adds every .js of <book root>/_static to every page: MathJax would load twice."""
    assert all(Path(p).name != "_static" or Path(p).parent != Path(".") for p in SPHINX["html_static_path"])
    assert not (ROOT / "_static").exists()


def test_mathjax_macros_are_kept():
    macros = SPHINX["mathjax3_config"]["tex"]["macros"]
    assert macros["R"] == "\\mathbb{R}" and "softmax" in macros


def test_the_html_fix_extension_is_enabled():
    assert CONFIG["sphinx"]["local_extensions"] == {"apidoc": "book/_ext", "htmlfixes": "book/_ext"}
    assert not any(e.startswith("advnotes") for e in CONFIG["sphinx"]["extra_extensions"])
    assert SPHINX["html_context"]["default_mode"] in ("auto", "light", "dark")


def test_duplicate_inline_scripts_are_dropped():
    from sphinx.builders.html._assets import _JavaScript

    body = 'const THEBE_JS_URL = "x"'
    scripts = [
        _JavaScript("_static/doctools.js", priority=200),
        _JavaScript(None, body=body),
        _JavaScript("_static/sphinx-thebe.js", **{"async": "async"}),
        _JavaScript("", body=body),
        _JavaScript("_static/doctools.js", priority=200),
    ]
    context = {"script_files": scripts}
    drop_duplicate_scripts(None, "p", "page.html", context, None)
    assert context["script_files"] == scripts[:3]
    other = {"script_files": scripts[:3]}
    drop_duplicate_scripts(None, "p", "page.html", other, None)
    assert other["script_files"] == scripts[:3]


def test_extension_setup_connects_the_handlers():
    calls, config = [], []
    app = SimpleNamespace(
        connect=lambda event, handler, priority=500: calls.append((event, handler, priority)),
        add_config_value=lambda name, default, rebuild: config.append((name, default, rebuild)),
    )
    meta = setup(app)
    assert calls == [
        ("html-page-context", drop_duplicate_scripts, 900),
        ("html-page-context", drop_launch_buttons, 910),  # after the theme adds them (501)
    ]
    assert config == [("advnotes_no_launch", [], "html")]
    assert meta["parallel_read_safe"] and meta["parallel_write_safe"]


def test_pages_that_need_the_repository_have_no_launch_button():
    """The benchmarks appendix imports benchmarks/: alone on Colab it would fail, so it offers no button."""
    app = SimpleNamespace(config=SimpleNamespace(advnotes_no_launch=["book/appendix_benchmarks"]))
    launch = {"type": "group", "label": "launch-buttons", "buttons": []}
    other = {"type": "group", "label": "download-buttons", "buttons": []}
    context = {"header_buttons": [other, launch]}
    drop_launch_buttons(app, "book/appendix_benchmarks", "page.html", context, None)
    assert context["header_buttons"] == [other]
    kept = {"header_buttons": [other, launch]}
    drop_launch_buttons(app, "book/ch1_input_hessian", "page.html", kept, None)
    assert kept["header_buttons"] == [other, launch]
    configured = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["config"]["advnotes_no_launch"]
    assert configured == ["book/appendix_benchmarks"]
