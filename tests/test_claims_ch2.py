"""Chapter 2's declared identities and claims: declared once, thresholds with reasons, outcomes follow the numbers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from advnotes.claims import (
    HOLDS,
    INCONCLUSIVE,
    NOT_REPRODUCED,
    REGISTRY,
    ClaimSpec,
    Evidence,
    IdentitySpec,
    load_evidence,
    paper_outcome,
)
from advnotes.claims import ch2 as claims

SEEDS = 5


def test_specs_are_declared_and_registered():
    specs = claims.IDENTITIES + claims.CLAIMS
    names = [s.name for s in specs]
    assert len(set(names)) == len(names)
    for s in specs:
        assert s.name.startswith("ch2-") and s.chapter == 2 and s.reason
        assert REGISTRY[s.name] is s
    assert all(isinstance(s, IdentitySpec) for s in claims.IDENTITIES)
    assert all(isinstance(s, ClaimSpec) for s in claims.CLAIMS)
    assert len(claims.CLAIMS) >= 3


def test_the_paper_claim_quotes_the_abstract():
    abstract = (
        "the adversarial perturbation tends to strengthen eigenvectors corresponding to a few top-ranked "
        "eigenvalues of the Hessian matrix of the loss w.r.t. the input"
    )
    assert claims.STRENGTHENS.paper == abstract
    assert claims.STRENGTHENS.threshold == 1.0 and claims.STRENGTHENS.direction == "<"


def test_identities_verify_below_and_violate_above_their_tolerance():
    for spec in claims.IDENTITIES:
        assert spec.check(spec.tolerance / 10).outcome == "verified"
        assert spec.check(spec.tolerance * 10).outcome == "violated"


@pytest.mark.parametrize(
    "spec, good, bad",
    [
        (claims.TRACKS, 1e-3, 0.5),
        (claims.UNDERSHOOT, 0.8, 1.3),
        (claims.OVERSHOOT, 1e5, 0.5),
        (claims.CURVATURE_GROWS, 2.5, 0.5),
        (claims.CURVATURE_COLLAPSES, -100.0, 0.5),
        (claims.GATES_MINOR, 0.3, 3.0),
        (claims.STRENGTHENS, 0.9, 1.2),
    ],
)
def test_outcomes_follow_the_numbers(spec, good, bad):
    rng = np.random.default_rng(0)
    noise = 1 + 0.01 * rng.standard_normal(SEEDS)
    assert spec.measure(good * noise).outcome == HOLDS
    assert spec.measure(bad * noise).outcome == NOT_REPRODUCED
    straddle = spec.threshold + np.array([-1.0, 1.0, -0.5, 0.5, 0.0]) * 0.05
    assert spec.measure(straddle).outcome == INCONCLUSIVE


def fake_table(s, values, m=None):
    s = np.asarray(s, float)
    return {"s": s, "m": np.full_like(s, 4.0) if m is None else np.asarray(m, float), "v": np.asarray(values, float)}


def test_regime_medians_against_numpy():
    rng = np.random.default_rng(1)
    tables = [fake_table(rng.uniform(0, 5, 200), rng.normal(size=200), rng.integers(1, 5, 200)) for _ in range(3)]
    got = claims.regime_medians(tables, "v", lo=0.5, hi=2.0)
    for t, g in zip(tables, got, strict=True):
        sel = (t["s"] >= 0.5) & (t["s"] <= 2.0) & (t["m"] >= 2)
        assert g == pytest.approx(float(np.median(t["v"][sel])))
    # m = 1 entries are left out by default and kept with min_steps=1
    t = fake_table([0.1, 0.2, 0.3], [5.0, 1.0, 1.0], m=[1, 2, 2])
    assert claims.regime_medians([t], "v") == [1.0]
    assert claims.regime_medians([t], "v", min_steps=1) == [1.0]
    assert claims.regime_medians([fake_table([0.1, 0.2], [5.0, 7.0], m=[1, 1])], "v", min_steps=1) == [6.0]
    with pytest.raises(ValueError, match="no"):
        claims.regime_medians([t], "v", lo=10)


def test_in_regime_is_inclusive():
    assert claims.in_regime([0.3, 1.0, 3.0], 0.3, 1.0).tolist() == [True, True, False]


def records(strengthens_values, regimes):
    ev = Evidence(chapter=2)
    for spec in claims.IDENTITIES:
        ev.identity(spec, spec.tolerance / 100)
    ev.claim(claims.TRACKS, [1e-3] * 4 + [2e-3], regime="s <= 0.3")
    ev.claim(claims.TRACKS, [100, 200, 300, 150, 250], regime="s >= 3")
    for spec, v in [(claims.UNDERSHOOT, 0.8), (claims.CURVATURE_GROWS, 2.4), (claims.GATES_MINOR, 0.3)]:
        ev.claim(spec, v * (1 + 0.01 * np.arange(SEEDS)), regime="0.5 <= s <= 2")
    for spec, v in [(claims.OVERSHOOT, 1e6), (claims.CURVATURE_COLLAPSES, -150.0)]:
        ev.claim(spec, v * (1 + 0.01 * np.arange(SEEDS)), regime="s >= 10")
    for vals, regime in zip(strengthens_values, regimes, strict=True):
        ev.claim(claims.STRENGTHENS, vals, regime=regime)
    return ev


def test_summary_is_computed_from_the_outcomes():
    ev = records([[0.9, 0.91, 0.92, 0.9, 0.93], [40, 50, 45, 42, 48]], ["ascent, s <= 1", "ascent, s >= 3"])
    text = claims.summary(ev.records)
    assert "7 of 7 identities verified" in text
    assert "s <= 0.3: holds; s >= 3: not reproduced" in text
    assert "undershoots and the curvature along the path grows" in text
    assert "overshoots and the curvature has collapsed" in text
    assert "holds in a regime" in text and "holds: ascent, s <= 1" in text and "not reproduced: ascent, s >= 3" in text
    # the words change with the numbers: a Result 1 that never holds
    ev2 = records([[1.2, 1.3, 1.25, 1.2, 1.22]], ["ascent, s <= 1"])
    text2 = claims.summary(ev2.records)
    assert "Result 1 (relative to the attack's first step): not reproduced" in text2
    assert "holds: nowhere" in text2
    strengthens = [r for r in ev.records if r.name == "ch2-strengthens"]
    assert paper_outcome(strengthens) == "holds in a regime"


def test_evidence_round_trip_re_decides_every_record(tmp_path):
    ev = records([[0.9, 0.91, 0.92, 0.9, 0.93]], ["ascent, s <= 1"])
    path = ev.save(tmp_path / "ch2.json")
    back = load_evidence(path)
    assert [(r.name, getattr(r, "regime", ""), r.outcome) for r in back] == [
        (r.name, getattr(r, "regime", ""), r.outcome) for r in ev.records
    ]
    data = json.loads(path.read_text())
    data["records"][-1]["outcome"] = NOT_REPRODUCED  # a file that disagrees with the rule is refused
    path.write_text(json.dumps(data))
    with pytest.raises(RuntimeError):
        load_evidence(path)


def test_committed_evidence_file_agrees_with_the_declarations():
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "book" / "evidence" / "ch2.json"
    recs = load_evidence(path)
    assert sum(r.kind == "claim" for r in recs) >= 3
    assert all(r.outcome == "verified" for r in recs if r.kind == "identity")
    assert all(len(r.per_seed) >= 5 for r in recs if r.kind == "claim")
