"""A small Sphinx extension for the book's API reference (``book/api.md``): docstrings as plain text.

The package's docstrings are written for readers of the source: shapes such as
``(B, *input_shape)``, norms such as ``|g|`` and names such as ``delta_`` appear as
plain text, where reStructuredText would read an unclosed emphasis, a substitution
or a link target, and the strict build (``-W``) would fail. Before autodoc renders a
docstring this extension escapes those characters outside inline literals and roles
(such as :func:`escape_line`); balanced ``*emphasis*`` and ``**strong**`` are kept.

It also keeps :mod:`sphinx.ext.napoleon` from reading the first line of an attribute's
docstring as ``type: description`` (napoleon's inline-attribute convention, which the
package does not use): a module constant documented as ``#: ... within a factor: 3``
keeps its text. A local extension of the book (``book/_ext``, enabled in ``_config.yml`` under
``sphinx.local_extensions``): part of the build, not of the ``advnotes`` package, which never
imports it.
"""

from __future__ import annotations

import re

# Spans left untouched: inline literals, roles (:func:`x`, :py:class:`x`), interpreted text and links.
_PROTECTED = re.compile(r"``.+?``|:[A-Za-z0-9_:+.-]+:`[^`]*`|`[^`]+`_{0,2}")
# Balanced emphasis or strong emphasis, as docutils would accept it.
_EMPHASIS = re.compile(r"(?<![\w*\\])(\*\*?)(?=[^\s*])([^*]+?)(?<=[^\s\\*])\1(?![\w*])")
# A word ending in underscores reads as a link reference (``word_``) in rst.
_TRAILING_UNDERSCORE = re.compile(r"(?<=\w)(_+)(?=$|[\s.,;:!?)\]}'\"])")
_BULLET = re.compile(r"^(\s*)([*+-] )")
_ATTRIBUTE_KINDS = ("attribute", "data", "property")


def _escape_plain(text: str) -> str:
    """Escape ``|``, stray ``*`` and trailing ``_`` in text that holds no literal or role."""
    text = text.replace("|", r"\|")
    text = _TRAILING_UNDERSCORE.sub(lambda m: "".join("\\" + c for c in m.group(1)), text)
    out, last = [], 0
    for m in _EMPHASIS.finditer(text):
        out.append(text[last : m.start()].replace("*", r"\*"))
        out.append(m.group(0))
        last = m.end()
    out.append(text[last:].replace("*", r"\*"))
    return "".join(out)


def escape_line(line: str) -> str:
    """One docstring line with reST's inline-markup characters escaped outside literals and roles.

    A leading bullet (``* item``) stays a bullet. Lines of an indented literal block
    after ``::`` are the caller's business (see :func:`escape_docstring`).
    """
    if not isinstance(line, str):
        raise TypeError(f"expected a str, got {type(line).__name__}.")
    bullet = _BULLET.match(line)
    head, line = (bullet.group(0), line[bullet.end() :]) if bullet else ("", line)
    out, last = [head], 0
    for m in _PROTECTED.finditer(line):
        out.append(_escape_plain(line[last : m.start()]))
        out.append(m.group(0))
        last = m.end()
    out.append(_escape_plain(line[last:]))
    return "".join(out)


def escape_docstring(lines: list[str]) -> list[str]:
    """Every line through :func:`escape_line`, except the indented body of a ``::`` literal block."""
    if isinstance(lines, str) or not all(isinstance(s, str) for s in lines):
        raise TypeError("expected a list of str (the docstring's lines).")
    out: list[str] = []
    literal_indent = None  # indent of the paragraph that opened a literal block with '::'
    opener_indent = 0
    for line in lines:
        indent = len(line) - len(line.lstrip())
        if literal_indent is not None:
            if not line.strip() or indent > opener_indent:
                out.append(line)
                continue
            literal_indent = None
        out.append(escape_line(line))
        if line.rstrip().endswith("::"):
            literal_indent, opener_indent = indent, indent
    return out


def _escape(app, what, name, obj, options, lines):
    stash = app.env.temp_data.setdefault("advnotes_apidoc_attributes", {})
    lines[:] = escape_docstring(lines)
    if what in _ATTRIBUTE_KINDS:
        stash[name] = list(lines)


def _restore_attribute(app, what, name, obj, options, lines):
    stash = app.env.temp_data.get("advnotes_apidoc_attributes", {})
    if what in _ATTRIBUTE_KINDS and name in stash:
        lines[:] = stash.pop(name)


def setup(app):
    """Sphinx entry point: escape before napoleon (priority 500) runs, restore attributes after it."""
    app.setup_extension("sphinx.ext.autodoc")
    app.connect("autodoc-process-docstring", _escape, priority=400)
    app.connect("autodoc-process-docstring", _restore_attribute, priority=600)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
