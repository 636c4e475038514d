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
