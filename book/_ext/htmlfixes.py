"""A small Sphinx extension for the book's HTML pages: no error in a reader's browser console, and no
launch button on a page that cannot run alone.

sphinx-thebe 0.3.1 registers its inline configuration script (``const THEBE_JS_URL = ...``) while
the documents are read, with the file name ``None``; before writing, Sphinx 7.4's HTML builder adds
the registered scripts once more with the file name ``''``, which does not compare equal, so every
page carried the script twice and the browser reported ``SyntaxError: Identifier 'THEBE_JS_URL' has
already been declared``. :func:`drop_duplicate_scripts` keeps the first of the scripts that are
equal once a missing file name counts as ``''``. A local extension of the book (``book/_ext``,
enabled in ``_config.yml`` under ``sphinx.local_extensions``), checked by ``tests/test_browser.py``;
the ``advnotes`` package never imports it.
"""

from __future__ import annotations


def script_key(script) -> tuple:
    """What makes two page scripts the same: file name (``None`` as ``''``), priority and attributes."""
    attributes = getattr(script, "attributes", {}) or {}
    return (
        str(getattr(script, "filename", script) or ""),
        getattr(script, "priority", None),
        tuple(sorted((str(k), str(v)) for k, v in attributes.items())),
    )


def drop_duplicate_scripts(app, pagename, templatename, context, doctree) -> None:
    """``html-page-context`` handler: keep the first of equal entries of ``script_files``."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        key = script_key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    if len(unique) < len(scripts):
        context["script_files"] = unique


def drop_launch_buttons(app, pagename, templatename, context, doctree) -> None:
    """``html-page-context`` handler: no launch buttons on the pages named in ``advnotes_no_launch``.

    A page that needs the repository around it (the benchmarks appendix imports the scripts in
    ``benchmarks/``) cannot run alone on Colab or Binder, so it offers no button that would fail.
    """
    if pagename not in app.config.advnotes_no_launch:
        return
    buttons = context.get("header_buttons")
    if buttons:
        context["header_buttons"] = [b for b in buttons if b.get("label") != "launch-buttons"]


def setup(app):
    app.add_config_value("advnotes_no_launch", [], "html")
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)
    # after sphinx-book-theme adds its launch buttons (priority 501)
    app.connect("html-page-context", drop_launch_buttons, priority=910)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
