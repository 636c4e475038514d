"""Chapter 4's specs: names, thresholds with reasons, the two readings in one wording, outcomes from numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from advnotes.claims import (
    HOLDS,
    INCONCLUSIVE,
    NOT_REPRODUCED,
    REGIME,
    ClaimSpec,
    Evidence,
    IdentitySpec,
    load_evidence,
)
from advnotes.claims import ch4 as claims

SPECS = [v for v in vars(claims).values() if isinstance(v, (ClaimSpec, IdentitySpec))]
CLAIMS = [s for s in SPECS if isinstance(s, ClaimSpec)]
ASCENT = claims.ascent_regime(0.3, 5, "probe 30/15")


def test_specs_are_declared_for_chapter_4_with_reasons():
    assert len(CLAIMS) >= 3
    names = [s.name for s in SPECS]
    assert len(set(names)) == len(names)
    for s in SPECS:
        assert s.chapter == 4 and s.name.startswith("ch4-") and s.reason.strip()


def test_every_claim_group_is_reported_and_paper_words_are_the_abstracts():
    controls = {c.group for c in claims.CONTROLS}
    assert {c.group for c in CLAIMS} == set(claims.GROUPS) | controls
    assert not controls & set(claims.GROUPS)  # calibration records get no group verdict in the summary
    for c in CLAIMS:
        if c.paper:  # "" is a claim of the book itself
            assert c.paper in claims.PAPER, c.name
    book = {c.group for c in CLAIMS if not c.paper}
    assert book == {"ch4-zigzag-source", "ch4-m-growth"} | controls


def test_one_group_per_sub_claim():
    """A group mixes no sub-claims: "holds in a regime" is always about one statement (referee item 4)."""
    groups = [c.group for c in CLAIMS]
    assert len(set(groups)) == len(groups)


def test_the_two_readings_are_worded_once_with_the_restriction():
    a = [c for c in CLAIMS if c.group.startswith("ch4-A-")]
    b = [c for c in CLAIMS if c.group.startswith("ch4-B-")]
    assert len(a) == 3 and len(b) == 2
    assert all("Reading A" in c.reading for c in a) and all("Reading B" in c.reading for c in b)
    assert "H_thth" in claims.READING_A and "passes 2" in claims.READING_A
    assert "J_eff = H_thth + H_thx d delta / d theta" in claims.READING_B
    assert "rho(I - eta J_eff) > 1" in claims.READING_B
    restriction = f"{claims.TOP_K} eigenvalues of J_eff with the largest real part"
    assert restriction in claims.READING_B and restriction in claims.B_UNSTABLE.reading
    assert "upper bound" in claims.B_ONSET.reading


def test_the_onset_threshold_reason_names_its_controls_and_the_gating_rule():
    assert len(claims.CONTROLS) == 4 and len({c.group for c in claims.CONTROLS}) == 4
    for spec in (claims.A_ONSET, claims.B_ONSET):
        assert all(spec.threshold == c.threshold == 0.2 for c in claims.CONTROLS)
        assert "ch4-onset-control-" in spec.reason and "judged only" in spec.reason
    for c in claims.CONTROLS:
        assert c.name.startswith("ch4-onset-control-") and c.name == c.group and not c.paper
    assert "512" not in claims.FEW_SAMPLES.reason  # no batch size typed into a reason


def test_end_of_training_regime_carries_the_edge_of_stability_caveat():
    note = claims.at_end(0.5)
    assert "eta = 0.5" in note and "edge of stability" in note
    assert (
        claims.short_regime(f"{claims.PGD}; {note}")
        == "L-inf PGD, 5 sign steps | end of training (full batch, eta = 0.5)"
    )
    assert claims.short_regime(ASCENT) == "ascent, alpha = 0.3, m = 5 | probe 30/15"


@pytest.mark.parametrize(
    ("spec", "values", "outcome"),
    [
        (claims.OSCILLATION, [0.6, 0.7, 0.65, 0.55, 0.62], HOLDS),
        (claims.OSCILLATION, [1.2, 1.3, 1.25, 1.1, 1.4], NOT_REPRODUCED),
        (claims.OSCILLATION, [0.6, 1.4, 0.8, 1.2, 1.0], INCONCLUSIVE),
        (claims.A_CROSSES, [2.5, 2.6, 2.4, 2.55, 2.45], HOLDS),
        (claims.A_CROSSES, [1.4, 1.5, 1.45, 1.6, 1.5], NOT_REPRODUCED),
        (claims.B_UNSTABLE, [1.8, 1.7, 1.9, 1.6, 2.0], HOLDS),
        (claims.B_ONSET, [0.05, 0.03, 0.08, 0.02, 0.06], HOLDS),
        (claims.A_ONSET, [0.5, 0.45, 0.48, 0.52, 0.47], NOT_REPRODUCED),
        (claims.CONTROL_LONG, [0.86, 0.6, 1.1, 0.9, 0.8], NOT_REPRODUCED),
        (claims.CONTROL_FROZEN_PGD, [0.1, 0.3, 0.2, 0.4, 0.35], INCONCLUSIVE),
        (claims.CONTROL_STANDARD, [0.06, 0.03, 0.1, 0.05, 0.08], HOLDS),
        (claims.DELTA_FOLLOWS, [0.65, 0.6, 0.7, 0.68, 0.62], HOLDS),
        (claims.DELTA_FOLLOWS, [1.0, 1.02, 0.98, 1.01, 0.99], INCONCLUSIVE),
        (claims.M_GROWTH, [0.23, 0.2, 0.25, 0.22, 0.24], HOLDS),
        (claims.M_GROWTH, [-0.1, -0.12, -0.09, -0.11, -0.1], NOT_REPRODUCED),
        (claims.FEW_SAMPLES, [3.0, 4.0, 5.0, 2.0, 6.0], HOLDS),
        (claims.FEW_SAMPLES, [83.0, 60.0, 120.0, 90.0, 70.0], NOT_REPRODUCED),
        (claims.FEWER_SAMPLES, [2.7, 1.9, 3.5, 2.2, 4.0], NOT_REPRODUCED),
        (claims.FEWER_SAMPLES, [0.3, 0.4, 0.5, 0.35, 0.45], HOLDS),
    ],
)
def test_outcomes_follow_the_declared_thresholds(spec, values, outcome):
    assert spec.measure(values).outcome == outcome


def test_summary_reads_outcomes_per_group_and_regime(tmp_path):
    ev = Evidence(chapter=4)
    ev.identity(claims.HVP_DENSE, 1e-15)
    ev.claim(claims.B_ONSET, [0.05, 0.03, 0.08, 0.02, 0.06], regime=ASCENT)
    ev.claim(claims.B_ONSET, [0.5, 0.45, 0.48, 0.52, 0.47], regime=f"{claims.PGD}; probe 30/15")
    ev.claim(claims.FEW_SAMPLES, [80.0, 90.0, 85.0, 70.0, 95.0], regime=ASCENT)
    text = claims.summary(ev.records)
    assert "Identities: 1 of 1 verified." in text
    assert f"{claims.GROUPS['ch4-B-onset']}: {REGIME}" in text
    assert "    ascent, alpha = 0.3, m = 5 | probe 30/15: holds" in text
    assert "    L-inf PGD, 5 sign steps | probe 30/15: not reproduced" in text
    assert f"{claims.GROUPS['ch4-few-samples']}: {NOT_REPRODUCED}" in text
    assert "Reading A" not in text  # no records, no line
    assert "Onset detector" not in text  # no controls, no calibration block
    path = ev.save(tmp_path / "ch4.json")
    assert [r.outcome for r in load_evidence(path)] == [r.outcome for r in ev.records]


def test_controls_are_listed_per_configuration_and_gate_the_readings():
    ev = Evidence(chapter=4)
    good = ev.claim(claims.CONTROL_STANDARD, [0.06, 0.03, 0.1, 0.05, 0.08], regime="standard training; probe 30/15")
    bad = ev.claim(claims.CONTROL_LONG, [0.86, 0.6, 1.1, 0.9, 0.8], regime="standard training; probe 60/30")
    text = claims.summary(ev.records)
    assert "    ch4-onset-control-standard (standard training | probe 30/15): holds" in text
    assert "    ch4-onset-control-long-probe (standard training | probe 60/30): not reproduced" in text
    assert REGIME not in text  # a calibration is never summarised as "holds in a regime"
    assert claims.not_judged([good]) == []
    assert claims.not_judged([good, bad]) == ["ch4-onset-control-long-probe: not reproduced"]
    other = ev.claim(claims.B_ONSET, [0.05, 0.03, 0.08, 0.02, 0.06], regime=ASCENT)
    with pytest.raises(ValueError, match="not an onset-detector control"):
        claims.not_judged([good, other])


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
    # every onset reading recorded is judged under controls that hold (second-round referee a, b):
    # the standard control of its probe and the frozen control of the attack
    controls = {r.name: r for r in records if r.kind == "claim" and r.name.startswith("ch4-onset-control-")}
    assert set(controls) == {c.name for c in claims.CONTROLS}
    probe_ctrl = {
        controls[n].regime.split("; ")[1]: controls[n]
        for n in ("ch4-onset-control-standard", "ch4-onset-control-long-probe")
    }
    for r in records:
        if r.kind == "claim" and r.name in ("ch4-A-onset", "ch4-B-onset"):
            probe = next(p for p in probe_ctrl if p in r.regime)
            frozen = (
                "ch4-onset-control-frozen-pgd" if r.regime.startswith(claims.PGD) else "ch4-onset-control-frozen-ascent"
            )
            assert probe_ctrl[probe].outcome == HOLDS and controls[frozen].outcome == HOLDS, r.regime
