"""Chapter 4's specs: names, thresholds with reasons, the two readings in one wording, outcomes from numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from advnotes.claims import (
    HOLDS,
    INCONCLUSIVE,
    NOT_REPRODUCED,
    ClaimSpec,
    Evidence,
    IdentitySpec,
    load_evidence,
)
from advnotes.claims import ch4 as claims

SPECS = [v for v in vars(claims).values() if isinstance(v, (ClaimSpec, IdentitySpec))]
CLAIMS = [s for s in SPECS if isinstance(s, ClaimSpec)]


def test_specs_are_declared_for_chapter_4_with_reasons():
    assert len(CLAIMS) >= 3
    names = [s.name for s in SPECS]
    assert len(set(names)) == len(names)
    for s in SPECS:
        assert s.chapter == 4 and s.name.startswith("ch4-") and s.reason.strip()


def test_every_claim_group_is_reported_and_paper_words_are_the_abstracts():
    assert {c.group for c in CLAIMS} == set(claims.GROUPS)
    abstract = claims.PAPER
    for c in CLAIMS:
        if c.paper:  # "" is a claim of the book itself
            assert c.paper in abstract, c.name
    assert [c.paper for c in CLAIMS if c.group == "ch4-zigzag-source"] == [""]


def test_the_two_readings_are_worded_once():
    a = [c for c in CLAIMS if c.group == "ch4-reading-A"]
    b = [c for c in CLAIMS if c.group == "ch4-reading-B"]
    assert a and b
    assert all("Reading A" in c.reading for c in a) and all("Reading B" in c.reading for c in b)
    assert "H_thth" in claims.READING_A and "passes 2" in claims.READING_A
    assert (
        "J_eff = H_thth + H_thx d delta / d theta" in claims.READING_B and "rho(I - eta J_eff) > 1" in claims.READING_B
    )


@pytest.mark.parametrize(
    ("spec", "values", "outcome"),
    [
        (claims.OSCILLATION, [1.0, 1.0, 0.98, 1.0, 0.96], HOLDS),
        (claims.OSCILLATION, [0.0, 0.02, 0.0, 0.04, 0.0], NOT_REPRODUCED),
        (claims.OSCILLATION, [0.1, 0.9, 0.3, 1.0, 0.6], INCONCLUSIVE),
        (claims.A_CROSSES, [2.5, 2.6, 2.4, 2.55, 2.45], HOLDS),
        (claims.A_CROSSES, [1.4, 1.5, 1.45, 1.6, 1.5], NOT_REPRODUCED),
        (claims.B_UNSTABLE, [1.8, 1.7, 1.9, 1.6, 2.0], HOLDS),
        (claims.B_ONSET, [0.05, 0.03, 0.08, 0.02, 0.06], HOLDS),
        (claims.A_ONSET, [0.5, 0.45, 0.48, 0.52, 0.47], NOT_REPRODUCED),
        (claims.FEW_SAMPLES, [3.0, 4.0, 5.0, 2.0, 6.0], HOLDS),
        (claims.FEW_SAMPLES, [83.0, 60.0, 120.0, 90.0, 70.0], NOT_REPRODUCED),
    ],
)
def test_outcomes_follow_the_declared_thresholds(spec, values, outcome):
    assert spec.measure(values).outcome == outcome


def test_summary_reads_outcomes_per_group(tmp_path):
    ev = Evidence(chapter=4)
    ev.identity(claims.HVP_DENSE, 1e-15)
    ev.claim(claims.OSCILLATION, [1.0] * 5, regime=claims.ASCENT)
    ev.claim(claims.OSCILLATION, [0.0, 0.01, 0.0, 0.02, 0.0], regime=claims.PGD)
    ev.claim(claims.FEW_SAMPLES, [80.0, 90.0, 85.0, 70.0, 95.0], regime=claims.ASCENT)
    text = claims.summary(ev.records)
    assert "Identities: 1 of 1 verified." in text
    assert "oscillates (control: standard training): holds in a regime" in text
    assert "few samples: not reproduced" in text
    assert "Reading A" not in text  # no records, no line
    path = ev.save(tmp_path / "ch4.json")
    assert [r.outcome for r in load_evidence(path)] == [r.outcome for r in ev.records]


def test_committed_evidence_rederives_with_the_declared_specs():
    path = Path(__file__).resolve().parent.parent / "book" / "evidence" / "ch4.json"
    if not path.is_file():
        pytest.skip("the chapter has not been executed")
    records = load_evidence(path)
    assert sum(r.kind == "claim" for r in records) >= 3
    assert all(r.outcome == "verified" for r in records if r.kind == "identity")
    assert all(len(r.per_seed) >= 5 for r in records if r.kind == "claim")
    data = json.loads(path.read_text())
    assert data["chapter"] == 4
