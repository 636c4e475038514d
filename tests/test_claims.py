"""Claim records and chapter 1's check functions: each can fail."""

from __future__ import annotations

import pytest

from advnotes.claims import (
    HOLDS,
    NOT_REPRODUCED,
    REGIME,
    Claim,
    Evidence,
    ch1,
    load_evidence,
    roundoff,
    scorecard,
    verdict,
)


def test_claim_validates_its_outcome():
    with pytest.raises(ValueError, match="outcome"):
        Claim("k", 1, "s", "stat", "1", "crit", "maybe")
    with pytest.raises(ValueError, match="which regime"):
        Claim("k", 1, "s", "stat", "1", "crit", REGIME)
    c = Claim("k", 1, "s", "stat", "1", "crit", REGIME, regime="small s")
    assert "[holds in a regime (small s)]" in str(c)


def test_verdict_counts_outcomes():
    a = Claim("a", 1, "s", "t", "1", "c", HOLDS)
    b = Claim("b", 1, "s", "t", "1", "c", NOT_REPRODUCED)
    text = verdict([a, b, a])
    assert text.startswith("Verdict: 2 holds, 1 not reproduced.")
    with pytest.raises(ValueError):
        verdict([])


@pytest.mark.parametrize("value, text", [(2.3e-14, "< 1e-13"), (1e-12, "< 1e-12"), (0.0, "0"), (-3e-9, "< 1e-08")])
def test_roundoff_bounds(value, text):
    assert roundoff(value) == text


def test_roundoff_refuses_nan():
    with pytest.raises(ValueError, match="finite"):
        roundoff(float("nan"))


def test_ch1_checks_can_fail():
    assert ch1.closed_form_hessian(max_rel_error=1e-14).outcome == HOLDS
    assert ch1.closed_form_hessian(max_rel_error=1e-6).outcome == NOT_REPRODUCED
    assert ch1.psd_low_rank(min_eig_rel=-1e-15, max_rank=9, num_classes=10).outcome == HOLDS
    assert ch1.psd_low_rank(min_eig_rel=-1e-15, max_rank=10, num_classes=10).outcome == NOT_REPRODUCED
    assert ch1.psd_low_rank(min_eig_rel=-1e-3, max_rank=9, num_classes=10).outcome == NOT_REPRODUCED
    assert ch1.gradient_in_range(max_residual=1e-3).outcome == NOT_REPRODUCED
    assert ch1.small_eigenproblem(max_rel_error=1e-15, faster=False).outcome == NOT_REPRODUCED
    assert ch1.small_eigenproblem(max_rel_error=1e-15, faster=True).outcome == HOLDS
    assert ch1.curvature_tracks_confidence(spearman_rho=-0.95, bound_violations=0).outcome == HOLDS
    assert ch1.curvature_tracks_confidence(spearman_rho=-0.3, bound_violations=0).outcome == REGIME
    assert ch1.curvature_tracks_confidence(spearman_rho=-0.95, bound_violations=2).outcome == NOT_REPRODUCED
    kw = {"n_no_flip": 10, "n_flip": 5}
    assert ch1.local_linearity(max_error_no_flip=1e-14, max_error_flip=1e-2, **kw).outcome == HOLDS
    assert ch1.local_linearity(max_error_no_flip=1e-5, max_error_flip=1e-2, **kw).outcome == NOT_REPRODUCED


def test_evidence_round_trip_reapplies_the_same_checks(tmp_path):
    import json

    ev = Evidence(1)
    a = ev.check(ch1.closed_form_hessian, max_rel_error=1e-14)
    b = ev.check(ch1.psd_low_rank, min_eig_rel=-1e-15, max_rank=10, num_classes=10)
    path = tmp_path / "ev" / "ch1.json"
    assert ev.save(path) is True and ev.save(path) is False  # unchanged content: no rewrite
    assert load_evidence(path) == [a, b]
    data = json.loads(path.read_text())
    data["checks"][0]["outcome"] = NOT_REPRODUCED  # a stale record is caught, not trusted
    path.write_text(json.dumps(data))
    with pytest.raises(RuntimeError, match="re-execute the chapter"):
        load_evidence(path)
    with pytest.raises(FileNotFoundError, match="execute the chapter"):
        load_evidence(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="not finite"):
        Evidence(1).check(ch1.curvature_tracks_confidence, spearman_rho=float("nan"), bound_violations=0)


def test_scorecard_lists_every_claim_with_its_outcome_and_escapes_pipes():
    a = ch1.curvature_tracks_confidence(spearman_rho=-0.9, bound_violations=0)
    b = ch1.curvature_tracks_confidence(spearman_rho=-0.3, bound_violations=0)
    table = scorecard([a, b]).splitlines()
    assert table[0] == "| ch. | claim | outcome | measured | criterion | statistic |"
    assert len(table) == 4 and "**holds**" in table[2] and "**holds in a regime** (only a weak" in table[3]
    assert "\\|W\\|^2" in table[2]  # the statistic's |W| must not split the row
    assert all(row.count(" | ") == 5 for row in table[2:])
    with pytest.raises(ValueError):
        scorecard([])
