"""Chapter 3's claims module: declared specs, outcomes that can go either way, the verdict in words."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from advnotes.claims import HOLDS, INCONCLUSIVE, NOT_REPRODUCED, REGIME, ClaimSpec, IdentitySpec, load_evidence
from advnotes.claims import ch3 as claims

EVIDENCE = Path(__file__).resolve().parent.parent / "book" / "evidence" / "ch3.json"


def test_specs_are_declared_for_chapter_3_with_reasons():
    specs = claims.IDENTITIES + claims.CLAIMS
    assert len({s.name for s in specs}) == len(specs)
    for s in specs:
        assert s.chapter == 3 and s.name.startswith("ch3-") and s.reason.strip()
    assert all(isinstance(s, IdentitySpec) for s in claims.IDENTITIES)
    assert all(isinstance(s, ClaimSpec) and s.reading.strip() and s.statistic.strip() for s in claims.CLAIMS)
    # every paper claim quotes the abstract's words; the linearised model's rates are the book's own
    abstract = claims.PAPER
    book = {claims.RATE_FINITE_M, claims.RATE_ASYMPTOTE}
    assert all(s.paper == "" and s.group == "ch3-linearised-rate" for s in book)
    assert all(s.paper and s.paper in abstract for s in claims.CLAIMS if s not in book)
    # the rank-correlation claims use the |rho| >= 0.8 convention, negative side
    for s in (claims.GRADIENT_CONFIDENCE, claims.CURVATURE_CONFIDENCE):
        assert (s.threshold, s.direction) == (-0.8, "<")
    # the differences are judged against 0 (no effect), the asymptote within 5%
    for s in (claims.STEPS_RATIO, claims.TRAINING_ATTACK_SHARE):
        assert (s.threshold, s.direction) == (0.0, ">")
    for s in (claims.RATE_ASYMPTOTE, claims.RATE_FINITE_M):
        assert (s.threshold, s.direction) == (0.05, "<")
    # the rank correlations are measured within the unconfident decile, where they can fail
    assert all("decile" in s.statistic for s in (claims.GRADIENT_CONFIDENCE, claims.CURVATURE_CONFIDENCE))
    assert not hasattr(claims, "TRAINING_VS_STANDARD")  # confounded (different networks): dropped


@pytest.mark.parametrize(
    ("spec", "good", "bad"),
    [
        (claims.GRADIENT_CONFIDENCE, [-0.99, -0.98, -0.99, -0.97, -0.99], [-0.3, -0.2, -0.4, -0.3, -0.25]),
        (claims.RATE_ASYMPTOTE, [0.01, 0.02, 0.015, 0.01, 0.02], [0.1, 0.11, 0.1, 0.12, 0.1]),
        (claims.RATE_REAL, [0.9, 1.0, 0.95, 1.1, 0.9], [0.0, -0.02, 0.01, 0.0, -0.01]),
        (claims.RATE_FINITE_M, [0.006, 0.007, 0.0065, 0.006, 0.007], [0.2, 0.25, 0.3, 0.2, 0.22]),
        (claims.TRAINING_ATTACK_SHARE, [0.1, 0.2, 0.15, 0.1, 0.12], [-0.4, -0.5, -0.3, -0.45, -0.4]),
    ],
)
def test_claims_can_hold_and_fail(spec, good, bad):
    assert spec.measure(good).outcome == HOLDS
    assert spec.measure(bad).outcome == NOT_REPRODUCED
    straddle = [spec.threshold - 0.05, spec.threshold + 0.05] * 2 + [spec.threshold]
    assert spec.measure(straddle).outcome == INCONCLUSIVE


def test_summary_reads_the_outcomes_per_paper_claim():
    recs = [
        claims.VMAP_LOOP.check(1e-15),
        claims.JVP_FD.check(1.0),  # violated
        claims.STEPS_RATIO.measure([0.2, 0.3, 0.25, 0.2, 0.3], regime="unprojected"),
        claims.STEPS_RATIO.measure([-2.0, -2.1, -2.2, -2.0, -2.1], regime="projected"),
        claims.TRAINING_ATTACK_SHARE.measure([-0.4, -0.5, -0.3, -0.45, -0.4], regime="PGD"),
    ]
    lines = claims.summary(recs).splitlines()
    assert lines[0].startswith(f"ch3-steps: {REGIME} [")
    assert "ch3-steps-ratio (unprojected): holds" in lines[0] and "(projected): not reproduced" in lines[0]
    assert lines[1].startswith(f"ch3-training: {NOT_REPRODUCED} [")
    assert lines[2] == "identities: 1 of 2 verified (not counted as support for the paper)"


@pytest.mark.skipif(not EVIDENCE.is_file(), reason="execute chapter 3 first")
def test_committed_evidence_rederives_and_meets_the_issue():
    records = load_evidence(EVIDENCE)  # raises if the file disagrees with the declared specs
    ids = [r for r in records if r.kind == "identity"]
    cls = [r for r in records if r.kind == "claim"]
    assert {r.name for r in ids} == {s.name for s in claims.IDENTITIES}
    assert all(r.outcome == "verified" for r in ids)
    assert len(cls) >= 3 and all(len(c.per_seed) >= 5 for c in cls)
    assert {c.name for c in cls} == {s.name for s in claims.CLAIMS}
    # a claim measured in several regimes is one record per regime, regimes named
    for name in ("ch3-rate-real", "ch3-steps-ratio", "ch3-training-attack-share"):
        regimes = [c.regime for c in cls if c.name == name]
        assert len(regimes) >= 2 and len(set(regimes)) == len(regimes) and all(regimes)
    # the training records include the standard-training control for every training attack
    train = [c.regime for c in cls if c.name == "ch3-training-attack-share"]
    assert sum(r.startswith("standard training (control)") for r in train) == len(train) // 2 >= 3
    assert json.loads(EVIDENCE.read_text())["chapter"] == 3
