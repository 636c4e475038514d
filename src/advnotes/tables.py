"""One way to print a table in the book: plain text, aligned, rounded, stable under nbval.

Chapters print their summaries with :func:`show` (or build the text with :func:`table`)
instead of hand-formatted f-strings, so every table in the book looks the same and fits
the page. Numbers are rounded to ``digits`` significant figures (``fmt`` overrides per
column, e.g. ``{"share": "{:.1%}"}``); an interval given as a ``(lo, hi)`` tuple prints
as ``[lo, hi]``; text is left-aligned and numbers right-aligned.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence

#: Widest table line the chapters allow (the book's code width).
WIDTH = 88


def _number(value, digits: int) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    value = float(value)
    if not math.isfinite(value):
        return str(value)
    if value == 0.0:
        return "0"
    text = f"{value:.{digits}g}"
    return "-0" if text == "-0" else text


def _cell(value, digits: int, fmt: str | None) -> tuple[str, bool]:
    """The text of one cell and whether it is numeric (right-aligned)."""
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 0) == 0:
        value = value.item()  # 0-d torch / NumPy values
    if fmt is not None:
        return fmt.format(value), True
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, numbers.Real) for v in value):
        return f"[{_number(value[0], digits)}, {_number(value[1], digits)}]", True
    if isinstance(value, numbers.Real):
        return _number(value, digits), True
    if value is None:
        return "", False
    return str(value), False


def table(
    rows: Sequence[Mapping] | Sequence[Sequence],
    columns: Sequence[str] | None = None,
    *,
    digits: int = 3,
    fmt: Mapping[str, str] | None = None,
    title: str | None = None,
) -> str:
    """The text of an aligned table.

    ``rows``: dicts (``columns`` defaults to the first row's keys) or sequences (then
    ``columns`` is required and each row must have one value per column).
    """
    if isinstance(digits, bool) or not isinstance(digits, int) or digits < 1:
        raise ValueError(f"digits must be a positive integer, got {digits!r}.")
    rows = list(rows)
    if columns is None:
        if not rows or not isinstance(rows[0], Mapping):
            raise ValueError("columns are required unless rows are dicts (their keys name the columns).")
        columns = list(rows[0])
    columns = [str(c) for c in columns]
    if not columns:
        raise ValueError("a table needs at least one column.")
    fmt = dict(fmt or {})
    unknown = sorted(set(fmt) - set(columns))
    if unknown:
        raise ValueError(f"fmt names columns the table does not have: {unknown}; columns are {columns}.")
    body = []
    for i, row in enumerate(rows):
        if isinstance(row, Mapping):
            missing = [c for c in columns if c not in row]
            if missing:
                raise ValueError(f"row {i} has no value for column(s) {missing}.")
            values = [row[c] for c in columns]
        else:
            values = list(row)
            if len(values) != len(columns):
                raise ValueError(f"row {i} has {len(values)} values for {len(columns)} columns {columns}.")
        body.append([_cell(v, digits, fmt.get(c)) for v, c in zip(values, columns)])
    widths = [max([len(c)] + [len(r[j][0]) for r in body]) for j, c in enumerate(columns)]
    numeric = [bool(body) and all(r[j][1] or not r[j][0] for r in body) for j in range(len(columns))]

    def line(cells) -> str:
        parts = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, numeric)]
        return "  ".join(parts).rstrip()

    out = [] if title is None else [str(title)]
    out.append(line(columns))
    out.append("  ".join("-" * w for w in widths))
    out.extend(line([text for text, _ in r]) for r in body)
    return "\n".join(out)


def show(rows, columns=None, **kwargs) -> None:
    """Print :func:`table` (the chapters' one way to show a table)."""
    print(table(rows, columns, **kwargs))
