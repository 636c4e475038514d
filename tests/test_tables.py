"""advnotes.tables: the book's one table printer."""

from __future__ import annotations

import numpy as np
import torch

from advnotes.tables import show, table


def test_dict_rows_align_and_round():
    text = table([{"name": "a", "value": 0.123456, "n": 5}, {"name": "longer", "value": -12.5, "n": 10}])
    lines = text.splitlines()
    assert lines == ["name    value   n", "------  -----  --", "a       0.123   5", "longer  -12.5  10"]


def test_sequences_intervals_formats_and_scalars():
    text = table(
        [("x", (0.1234, 0.5678), np.float64(0.25), torch.tensor(3))],
        ["k", "ci", "share", "t"],
        fmt={"share": "{:.1%}"},
        digits=2,
        title="T",
    )
    assert text.splitlines() == [
        "T",
        "k            ci  share  t",
        "-  ------------  -----  -",
        "x  [0.12, 0.57]  25.0%  3",
    ]


def test_bad_tables_are_refused():
    import pytest

    with pytest.raises(ValueError, match="columns are required"):
        table([(1, 2)])
    with pytest.raises(ValueError, match="row 0 has 2 values for 3 columns"):
        table([(1, 2)], ["a", "b", "c"])
    with pytest.raises(ValueError, match="row 1 has no value for column"):
        table([{"a": 1}, {"b": 2}])
    with pytest.raises(ValueError, match="fmt names columns the table does not have"):
        table([{"a": 1}], fmt={"b": "{}"})
    with pytest.raises(ValueError, match="digits must be a positive integer"):
        table([{"a": 1}], digits=0)


def test_show_prints(capsys):
    show([{"a": 1.0}])
    assert capsys.readouterr().out == "a\n-\n1\n"
