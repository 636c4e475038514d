"""Claim records: the one shape every chapter's verdict (and the scorecard) is built from.

A chapter measures a statistic, then calls a *check function* that applies the
claim's criterion and returns a :class:`Claim`. The verdict cell prints the
claims; the scorecard calls the same check functions, so the two cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

HOLDS = "holds"
REGIME = "holds in a regime"
NOT_REPRODUCED = "not reproduced"
OUTCOMES = (HOLDS, REGIME, NOT_REPRODUCED)


@dataclass(frozen=True)
class Claim:
    """One tested claim: what is claimed, what was measured, the criterion and the outcome."""

    key: str
    chapter: int
    statement: str
    statistic: str
    value: str
    criterion: str
    outcome: str
    regime: str = ""

    def __post_init__(self):
        if self.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {self.outcome!r}.")
        if self.outcome == REGIME and not self.regime:
            raise ValueError(f"claim {self.key!r}: an outcome of {REGIME!r} must say which regime.")

    def __str__(self) -> str:
        where = f" ({self.regime})" if self.regime else ""
        return (
            f"[{self.outcome}{where}] {self.statement}\n"
            f"    measured {self.statistic} = {self.value}; criterion: {self.criterion}"
        )


def roundoff(value: float) -> str:
    """Print a round-off-sized number as a power-of-ten bound, e.g. ``2.3e-14 -> '< 1e-13'``.

    Round-off differs in its last bits between machines; its order of magnitude does
    not, so chapters print these bounds rather than the raw value.
    """
    import math

    value = abs(float(value))
    if not math.isfinite(value):
        raise ValueError(f"roundoff() needs a finite number, got {value!r}.")
    if value == 0.0:
        return "0"
    return f"< 1e{math.ceil(math.log10(value)):+03d}"


def verdict(claims) -> str:
    """The chapter's closing verdict: every claim with its outcome, one block each."""
    claims = list(claims)
    if not claims:
        raise ValueError("a verdict needs at least one claim.")
    counts = {o: sum(c.outcome == o for c in claims) for o in OUTCOMES}
    head = ", ".join(f"{n} {o}" for o, n in counts.items() if n)
    return f"Verdict: {head}.\n" + "\n".join(str(c) for c in claims)


def scorecard(claims) -> str:
    """A markdown table of claims: chapter, claim, outcome, measured value, criterion, statistic."""
    claims = list(claims)
    if not claims:
        raise ValueError("a scorecard needs at least one claim.")

    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    rows = ["| ch. | claim | outcome | measured | criterion | statistic |", "| --- | --- | --- | --- | --- | --- |"]
    for c in claims:
        outcome = f"**{c.outcome}**" + (f" ({c.regime})" if c.regime else "")
        rows.append(
            f"| {c.chapter} | {cell(c.statement)} | {cell(outcome)} | {cell(c.value)} | {cell(c.criterion)} "
            f"| {cell(c.statistic)} |"
        )
    return "\n".join(rows)


class Evidence:
    """Records each check a chapter makes (the check function and the numbers it was given).

    A chapter's verdict cell calls ``evidence.check(fn, **measured)`` instead of
    ``fn(**measured)`` and then ``evidence.save(path)``; the scorecard (chapter 5)
    loads the file with :func:`load_evidence`, which calls the *same* functions on
    the *same* numbers, so the two cannot disagree. The file is rewritten only when
    its content changes, so re-running a chapter with unchanged results changes no byte.
    """

    def __init__(self, chapter: int):
        self.chapter = int(chapter)
        self.records: list[dict] = []

    def check(self, fn, **measured) -> Claim:
        """Call ``fn(**measured)``, record the call, and return its :class:`Claim`."""
        claim = fn(**measured)
        if not isinstance(claim, Claim):
            raise TypeError(f"{fn.__qualname__} must return a Claim, got {type(claim).__name__}.")
        self.records.append(
            {
                "function": f"{fn.__module__}:{fn.__qualname__}",
                "measured": {k: _plain(v) for k, v in measured.items()},
                "outcome": claim.outcome,
                "key": claim.key,
            }
        )
        return claim

    def save(self, path) -> bool:
        """Write the records as JSON (atomically, only if changed); return whether the file changed."""
        import json
        import os
        from pathlib import Path

        path = Path(path)
        text = json.dumps({"chapter": self.chapter, "checks": self.records}, indent=1, sort_keys=True) + "\n"
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
        return True


def _plain(value):
    """Measured numbers as JSON-ready Python values (tensors and arrays become floats/lists)."""
    import math

    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"measured value {value!r} is not finite; a check needs finite numbers.")
        return float(value)
    raise TypeError(f"cannot record a measured value of type {type(value).__name__}; pass numbers or lists.")


def load_evidence(path) -> list[Claim]:
    """Re-apply a chapter's recorded checks (see :class:`Evidence`) and return its claims.

    Raises ``RuntimeError`` if a re-applied check gives another outcome than the one
    the chapter recorded (it cannot, unless the check function changed since).
    """
    import importlib
    import json
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no evidence file {str(path)!r}; execute the chapter that writes it first.")
    data = json.loads(path.read_text(encoding="utf-8"))
    claims = []
    for rec in data["checks"]:
        module, _, name = rec["function"].partition(":")
        fn = importlib.import_module(module)
        for part in name.split("."):
            fn = getattr(fn, part)
        claim = fn(**rec["measured"])
        if claim.outcome != rec["outcome"]:
            raise RuntimeError(
                f"{rec['key']}: re-applying {rec['function']} gives {claim.outcome!r}, but the chapter recorded "
                f"{rec['outcome']!r}; re-execute the chapter."
            )
        claims.append(claim)
    return claims
