"""Bad input never passes silently: advnotes.tables (the machinery of ``test_bad_input.py``)."""

from __future__ import annotations

import pytest
from test_bad_input import A, E, assert_refused, case

import advnotes.tables  # noqa: F401  (resolve() walks the attribute)

CASES = [
    case("tables.table", A([(1, 2)]), E, r"columns are required unless rows are dicts"),
    case("tables.table", A([(1, 2)], ["a"]), E, r"row 0 has 2 values for 1 columns"),
    case("tables.table", A([{"a": 1}], digits=-1), E, r"digits must be a positive integer"),
    case("tables.show", A([{"a": 1}], fmt={"z": "{}"}), E, r"fmt names columns the table does not have"),
]

EXEMPT: dict = {}


@pytest.mark.parametrize("fn,build,error,match,env", CASES)
def test_bad_input_is_refused(fn, build, error, match, env, monkeypatch):
    assert_refused(fn, build, error, match, env, monkeypatch)
