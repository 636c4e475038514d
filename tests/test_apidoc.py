"""book/_ext/apidoc.py (a local Sphinx extension: the API page's docstring escaping) against docutils."""

from __future__ import annotations

import inspect
import pkgutil
import textwrap
from types import SimpleNamespace

import pytest
from docutils import nodes, utils
from docutils.core import publish_doctree
from docutils.parsers.rst import roles
from local_modules import load_extension

import advnotes

apidoc = load_extension("apidoc")
escape_docstring, escape_line, setup = apidoc.escape_docstring, apidoc.escape_line, apidoc.setup

# Sphinx's Python roles, unknown to plain docutils: register them as generic (literal-like) roles.
for _name in ("func", "mod", "class", "meth", "attr", "data", "obj", "exc", "eq", "doc"):
    roles.register_generic_role(_name, nodes.literal)


def parse(text: str):
    """Doctree and the system messages (level >= 2: warnings and errors) docutils reports for ``text``."""
    doctree = publish_doctree(
        text,
        settings_overrides={"report_level": utils.Reporter.WARNING_LEVEL, "halt_level": 5, "warning_stream": False},
    )
    # Messages from transforms (undefined substitutions, unknown link targets) are filtered out of the
    # tree, but the text they flag stays wrapped in `problematic` nodes: count both.
    messages = [m for m in doctree.findall(nodes.system_message) if m["level"] >= 2]
    messages += list(doctree.findall(nodes.problematic))
    for message in list(doctree.findall(nodes.system_message)):  # keep only the text itself
        message.parent.remove(message)
    return doctree, messages


def test_samples_are_broken_without_escaping():
    broken = [line for line in PLAIN if parse(line)[1] or parse(line)[0].astext() != line]
    assert len(broken) >= 3


PLAIN = [
    "x of shape (B, *input_shape) with labels y",
    "|g| = |grad_x L| and |Spearman rho| >= 0.8",
    "the recurrence delta_ and theta_, then x_",
    "a*b + c**2 and 2 * 3",
    "e.g. eta * lambda > 2 (no emphasis here",
]


@pytest.mark.parametrize("line", PLAIN)
def test_plain_text_renders_as_written(line):
    """Escaped plain text parses without a message and renders exactly as written."""
    doctree, messages = parse(escape_line(line))
    assert messages == []
    assert doctree.astext() == line


def test_markup_is_kept():
    line = "the *other* entries, **strong**, ``a*b|c_`` and :func:`advnotes.curvature.one_minus` of *input_shape"
    doctree, messages = parse(escape_line(line))
    assert messages == []
    assert [n.astext() for n in doctree.findall(nodes.emphasis)] == ["other"]
    assert [n.astext() for n in doctree.findall(nodes.strong)] == ["strong"]
    literals = [n.astext() for n in doctree.findall(nodes.literal)]
    assert "a*b|c_" in literals and "advnotes.curvature.one_minus" in literals
    assert doctree.astext().endswith("of *input_shape")


def test_bullets_and_literal_blocks():
    lines = ["Steps::", "", "    delta_{t+1} = delta_t * 2 | x", "", "* first *x", "* second |y|"]
    out = escape_docstring(lines)
    assert out[2] == lines[2], "the body of a literal block is left alone"
    doctree, messages = parse("\n".join(out))
    assert messages == []
    assert next(iter(doctree.findall(nodes.literal_block))).astext() == lines[2].strip()
    items = [n.astext() for n in doctree.findall(nodes.list_item)]
    assert items == ["first *x", "second |y|"]


def _docstrings():
    """Every docstring of the package's modules and their public functions, classes and methods."""
    for info in pkgutil.walk_packages(advnotes.__path__, "advnotes."):
        module = __import__(info.name, fromlist=["_"])
        yield info.name, module.__doc__ or ""
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            yield f"{info.name}.{name}", inspect.getdoc(obj) or ""
            if inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if not attr.startswith("_") and callable(member) and member.__doc__:
                        yield f"{info.name}.{name}.{attr}", inspect.getdoc(member)


def test_every_package_docstring_parses_cleanly():
    """The oracle the strict build applies: docutils reports nothing for any escaped docstring."""
    bad = {}
    for name, doc in _docstrings():
        _, messages = parse("\n".join(escape_docstring(textwrap.dedent(doc).splitlines())))
        if messages:
            bad[name] = [m.astext()[:120] for m in messages]
    assert bad == {}


def test_bad_input():
    with pytest.raises(TypeError):
        escape_line(3)
    with pytest.raises(TypeError):
        escape_docstring("a string, not a list of lines")
    with pytest.raises(TypeError):
        escape_docstring(["ok", None])


def test_setup_escapes_first_and_restores_attributes_after_napoleon():
    handlers = []
    app = SimpleNamespace(
        env=SimpleNamespace(temp_data={}),
        setup_extension=lambda name: None,
        connect=lambda event, fn, priority: handlers.append((priority, event, fn)),
    )
    meta = setup(app)
    assert meta["parallel_read_safe"]
    assert sorted(p for p, _, _ in handlers) == [400, 600]
    assert {e for _, e, _ in handlers} == {"autodoc-process-docstring"}
    escape, restore = (fn for _, _, fn in sorted(handlers, key=lambda h: h[0]))

    def napoleon(what, lines):  # napoleon's inline attribute parsing: "type: description"
        if what == "data":
            head, _, tail = lines[0].partition(": ")
            lines[:] = [tail, "", f":type: {head}"]

    for what, expected in [("data", ["equal within a factor: 3 \\|x\\|"]), ("function", None)]:
        lines = ["equal within a factor: 3 |x|"]
        escape(app, what, "m.X", None, {}, lines)
        napoleon(what, lines)
        restore(app, what, "m.X", None, {}, lines)
        assert lines == (expected or ["equal within a factor: 3 \\|x\\|"])
    assert app.env.temp_data["advnotes_apidoc_attributes"] == {}
