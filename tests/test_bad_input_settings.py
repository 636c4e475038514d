"""Bad input never passes silently: advnotes.settings (the machinery of ``test_bad_input.py``)."""

from __future__ import annotations

import pytest
from test_bad_input import A, E, assert_refused, case

import advnotes.settings  # noqa: F401  (resolve() walks the attribute)

CASES = [
    case("settings.get", A("digits"), E, r"unknown setting 'digits'; the book's settings are digits-mlp, mnist1d-cnn"),
    case("settings.get", A(3), E, r"unknown setting 3"),
    case(
        "settings.Setting.make_model",
        lambda: ((__import__("advnotes.settings").settings.get("mnist1d-cnn"), -1), {}),
        E,
        r"seed",
    ),
    case(
        "settings.Setting.attack",
        lambda: ((__import__("advnotes.settings").settings.get("mnist1d-cnn"), "cw"), {}),
        E,
        r"kind must be 'pgd', 'ascent' or 'fgsm'",
    ),
]

EXEMPT = {
    "settings.Setting": "a frozen record; the book's settings are built once in the module and reached by get()",
    "settings.Setting.load": "takes only a dtype, checked by the loaders it calls (test_bad_input.py covers them)",
    "settings.Setting.robust_accuracy": "passes its arguments to threat.robust_accuracy, whose cases cover them",
}


@pytest.mark.parametrize("fn,build,error,match,env", CASES)
def test_bad_input_is_refused(fn, build, error, match, env, monkeypatch):
    assert_refused(fn, build, error, match, env, monkeypatch)
