"""Chapter 6's specs: every prediction declared with its intervention and a reason; the summary follows the records."""

from __future__ import annotations

import pytest

from advnotes.claims import (
    HOLDS,
    INCONCLUSIVE,
    NOT_REPRODUCED,
    ClaimSpec,
    Evidence,
    IdentitySpec,
    ch2,
    ch3,
    ch4,
    load_evidence,
)
from advnotes.claims import ch6 as claims

SPECS = [v for v in vars(claims).values() if isinstance(v, (ClaimSpec, IdentitySpec))]
CLAIMS = [s for s in SPECS if isinstance(s, ClaimSpec)]


def test_specs_are_declared_for_chapter_6_with_reasons_and_interventions():
    names = [s.name for s in SPECS]
    assert len(set(names)) == len(names)
    assert set(CLAIMS) == set(claims.CLAIMS) | set(claims.CONTROLS)
    assert set(s for s in SPECS if isinstance(s, IdentitySpec)) == set(claims.IDENTITIES)
    for s in SPECS:
        assert s.chapter == 6 and s.name.startswith("ch6-") and s.reason.strip()
    for c in CLAIMS:
        assert c.intervention.startswith(("1a:", "1b:", "2:", "3:")), c.name
        assert c.reading.startswith("Control" if c.control else "Prediction"), c.name
    assert len([c for c in claims.CLAIMS if c.intervention]) >= 4


def test_paper_words_are_the_abstracts_and_the_book_claims_say_so():
    assert claims.RESULT_3 in ch4.PAPER
    assert claims.RESULT_2 in " ".join(ch3.PAPER.split())
    assert any(s.paper == claims.RESULT_1 for s in vars(ch2).values() if isinstance(s, ClaimSpec))
    for c in CLAIMS:
        assert c.paper in ("", claims.RESULT_1, claims.RESULT_2, claims.RESULT_3)
        if c.control:
            assert c.paper == ""
    # every chapter-6 spec is the book's (intervention 3 extrapolates Result 1; the quote is kept in the reading)
    assert not any(c.paper for c in CLAIMS)
    assert claims.RESULT_1 in claims.TOP_BUYS_MOST.reading
    assert claims.FULL_GAIN.control and claims.FULL_GAIN.intervention == claims.RESTRICTED


def test_thresholds_follow_chapter_4s_detector_and_tolerance():
    for spec in (claims.REUSE_ONSET, claims.LIVE_ONSET):
        assert spec.threshold == claims.ONSET_TOL == 0.2
    assert claims.REUSE_ONSET.direction == "<" and claims.LIVE_ONSET.direction == ">"
    for spec in (claims.SCALED_CALM, claims.OVER_ZIGZAG, claims.FIXED_ZIGZAG):
        assert spec.threshold == claims.ZIGZAG_LEVEL == 0.5
    assert claims.SCALED_CALM.direction == "<" and claims.OVER_ZIGZAG.direction == ">"
    assert claims.C_SCALED < 2 < claims.C_OVER
    assert claims.TOP_BUYS_MOST.threshold == 0.5 and claims.TOP_BUYS_MOST.direction == ">"
    assert claims.REUSE_LATER.threshold == 1.0


def test_outcomes_follow_the_interval():
    held = claims.SCALED_CALM.measure([0.0, 0.05, 0.0, 0.1, 0.0])
    failed = claims.SCALED_CALM.measure([0.9, 1.0, 0.95, 1.0, 0.9])
    unclear = claims.SCALED_CALM.measure([0.0, 1.0, 0.2, 0.9, 0.5])
    assert (held.outcome, failed.outcome, unclear.outcome) == (HOLDS, NOT_REPRODUCED, INCONCLUSIVE)


def records():
    return [
        claims.PLAIN_STEP.check(1e-9),
        claims.LIVE_ONSET.measure([0.4, 0.35, 0.38, 0.41, 0.37]),
        claims.REUSE_ONSET.measure([0.05, 0.1, 0.08, 0.06, 0.07]),
        claims.SCALED_CALM.measure([0.9, 1.0, 0.95, 1.0, 0.9]),
        claims.TOP_BUYS_MOST.measure([0.9, 1.0, 0.95, 1.1, 0.92]),
        claims.TOP_BUYS_MOST.measure([0.2, 1.5, 0.6, 1.2, 0.4], setting="mnist1d-cnn"),
    ]


def test_summary_follows_the_records():
    text = claims.summary(records())
    lines = text.splitlines()
    assert lines[0] == "Identities: 1 of 1 verified."
    onset = "1a [digits-mlp]: ch6-reuse-onset holds; control ch6-live-onset-control holds"
    assert onset in lines
    assert "1b [digits-mlp]: ch6-scaled-calm not reproduced" in lines
    assert "3 [digits-mlp]: ch6-topk-buys-most holds" in lines
    assert "3 [mnist1d-cnn]: ch6-topk-buys-most inconclusive" in lines
    assert "Predictions borne out on digits-mlp: 2 of 3 intervention records." in lines
    assert lines[-1] == "Predictions borne out on mnist1d-cnn: 0 of 1 intervention records."
    assert "regime" not in text


def test_summary_says_not_tested_when_the_control_fails():
    recs = [claims.FULL_GAIN.measure([-0.03, 0.05, 0.01, -0.02, 0.04], setting="mnist1d-cnn")]
    lines = claims.summary(recs).splitlines()
    assert lines[0] == (
        "3 [mnist1d-cnn]: control ch6-full-gain-control inconclusive; "
        "ch6-topk-buys-most not tested; ch6-topk-beats-complement not tested"
    )
    held = [claims.FULL_GAIN.measure([0.2, 0.18, 0.21, 0.19, 0.2])]
    assert "not tested" not in claims.summary(held)


def test_evidence_round_trip_keeps_the_intervention(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVNOTES_EVIDENCE_DIR", str(tmp_path))
    ev = Evidence(chapter=6)
    ev.identity(claims.PLAIN_STEP, 1e-9)
    ev.claim(claims.REUSE_ONSET, [0.05, 0.1, 0.08, 0.06, 0.07])
    path = ev.save()
    loaded = load_evidence(path)
    claim = [r for r in loaded if r.kind == "claim"][0]
    assert claim.spec.intervention == claims.REUSED and claim.outcome == HOLDS


def test_summary_refuses_a_non_list():
    with pytest.raises(TypeError):
        claims.summary("records")
