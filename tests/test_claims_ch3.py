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
    # the paper's claims quote the abstract; the book's own (gain, linearised rate) and the control do not
    abstract = claims.PAPER
    book = {claims.RATE_FINITE_M, claims.GRADIENT_GAIN, claims.CURVATURE_GAIN, claims.TRAINING_LOG_RATIO_CONTROL}
    assert all(s.paper == "" for s in book)
    assert all(s.paper and s.paper in abstract and not s.control for s in claims.CLAIMS if s not in book)
    # the control is a control, in a group of its own, and the only one
    assert [s for s in claims.CLAIMS if s.control] == [claims.TRAINING_LOG_RATIO_CONTROL]
    assert claims.TRAINING_LOG_RATIO_CONTROL.group != claims.TRAINING_LOG_RATIO.group
    assert claims.TRAINING_LOG_RATIO_CONTROL.statistic.replace("standard networks, ", "") == (
        claims.TRAINING_LOG_RATIO.statistic
    )
    # the gain correlations use the |rho| >= 0.8 convention, negative side, within the decile
    for s in (claims.GRADIENT_GAIN, claims.CURVATURE_GAIN):
        assert (s.threshold, s.direction) == (-0.8, "<") and "decile" in s.statistic
    # the differences are judged against 0 (no effect), the finite-m rate within 5%
    for s in (claims.STEPS_RATIO, claims.TRAINING_LOG_RATIO, claims.TRAINING_LOG_RATIO_CONTROL):
        assert (s.threshold, s.direction) == (0.0, ">")
    assert (claims.RATE_FINITE_M.threshold, claims.RATE_FINITE_M.direction) == (0.05, "<")
    # dropped: the share test (no room to rise), the asymptote record (follows from the finite-m rate),
    # the whole-decile rho(p_y, |g|) (forced by the theorem's bound), the cross-network comparison
    for gone in ("TRAINING_ATTACK_SHARE", "RATE_ASYMPTOTE", "GRADIENT_CONFIDENCE", "CURVATURE_CONFIDENCE"):
        assert not hasattr(claims, gone)
    assert not hasattr(claims, "TRAINING_VS_STANDARD")


@pytest.mark.parametrize(
    ("spec", "good", "bad"),
    [
        (claims.GRADIENT_GAIN, [-0.99, -0.98, -0.99, -0.97, -0.99], [-0.1, 0.2, -0.1, -0.2, -0.1]),
        (claims.CURVATURE_GAIN, [-0.9, -0.95, -0.92, -0.9, -0.93], [-0.1, 0.2, -0.1, -0.2, -0.1]),
        (claims.RATE_REAL, [0.9, 1.0, 0.95, 1.1, 0.9], [0.0, -0.02, 0.01, 0.0, -0.01]),
        (claims.RATE_FINITE_M, [0.006, 0.007, 0.0065, 0.006, 0.007], [0.2, 0.25, 0.3, 0.2, 0.22]),
        (claims.TRAINING_LOG_RATIO, [1.3, 1.2, 1.5, 1.1, 1.4], [-2.8, -3.0, -2.5, -2.9, -3.1]),
        (claims.TRAINING_LOG_RATIO_CONTROL, [4.4, 4.0, 4.9, 4.2, 4.5], [-5.3, -5.0, -5.5, -5.2, -5.4]),
    ],
)
def test_claims_can_hold_and_fail(spec, good, bad):
    assert spec.measure(good).outcome == HOLDS
    assert spec.measure(bad).outcome == NOT_REPRODUCED
    straddle = [spec.threshold - 0.05, spec.threshold + 0.05] * 2 + [spec.threshold]
    assert spec.measure(straddle).outcome == INCONCLUSIVE


def test_summary_counts_paper_book_and_controls_apart():
    recs = [
        claims.VMAP_LOOP.check(1e-15),
        claims.JVP_FD.check(1.0),  # violated
        claims.STEPS_RATIO.measure([0.2, 0.3, 0.25, 0.2, 0.3], regime="unprojected"),
        claims.STEPS_RATIO.measure([-2.0, -2.1, -2.2, -2.0, -2.1], regime="projected"),
        claims.TRAINING_LOG_RATIO.measure([-2.8, -3.0, -2.5, -2.9, -3.1], regime="PGD"),
        claims.GRADIENT_GAIN.measure([-0.1, 0.2, -0.1, -0.2, -0.1]),
        claims.TRAINING_LOG_RATIO_CONTROL.measure([4.4, 4.0, 4.9, 4.2, 4.5], regime="standard, ascent"),
    ]
    lines = claims.summary(recs).splitlines()
    assert lines[0] == (
        f"paper: 2 claims (1 {REGIME}, 1 {NOT_REPRODUCED}); book: 1 claim (1 {NOT_REPRODUCED}); "
        f"control: 1 claim (1 {HOLDS})"
    )
    assert lines[1].startswith(f"ch3-steps (paper): {REGIME} [")
    assert "ch3-steps-ratio (unprojected): holds" in lines[1] and "(projected): not reproduced" in lines[1]
    assert lines[2].startswith(f"ch3-training (paper): {NOT_REPRODUCED} [")
    assert lines[3].startswith(f"ch3-jacobian-gain (book): {NOT_REPRODUCED} [")
    assert lines[4].startswith(f"ch3-training-control (control): {HOLDS} [")
    assert lines[5] == "identities: 1 of 2 verified (not counted as support for the paper)"


@pytest.mark.skipif(not EVIDENCE.is_file(), reason="execute chapter 3 first")
def test_committed_evidence_rederives_and_meets_the_issue():
    records = load_evidence(EVIDENCE)  # raises if the file disagrees with the declared specs
    ids = [r for r in records if r.kind == "identity"]
    cls = [r for r in records if r.kind == "claim"]
    assert {r.name for r in ids} == {s.name for s in claims.IDENTITIES}
    assert all(r.outcome == "verified" for r in ids)
    assert len([c for c in cls if not c.spec.control]) >= 3 and all(len(c.per_seed) >= 5 for c in cls)
    assert {c.name for c in cls} == {s.name for s in claims.CLAIMS}
    # every claim is measured in both settings (issue 11), with the same specs
    for s in claims.CLAIMS:
        assert {c.setting for c in cls if c.name == s.name} == {"digits-mlp", "mnist1d-cnn"}, s.name
    # a claim measured in several regimes is one record per regime and setting, regimes named
    for name in ("ch3-rate-real", "ch3-steps-ratio", "ch3-training-log-ratio", "ch3-training-log-ratio-control"):
        for setting in ("digits-mlp", "mnist1d-cnn"):
            regimes = [c.regime for c in cls if c.name == name and c.setting == setting]
            assert len(regimes) >= 2 and len(set(regimes)) == len(regimes) and all(regimes)
    # one control record per training attack, each a control, in each setting
    for setting in ("digits-mlp", "mnist1d-cnn"):
        train = [c for c in cls if c.name == "ch3-training-log-ratio" and c.setting == setting]
        ctrl = [c for c in cls if c.name == "ch3-training-log-ratio-control" and c.setting == setting]
        assert len(train) == len(ctrl) >= 3 and all(c.spec.control for c in ctrl)
    assert json.loads(EVIDENCE.read_text())["chapter"] == 3


def test_summary_has_one_block_per_setting():
    recs = [
        claims.STEPS_RATIO.measure([0.2, 0.3, 0.25, 0.2, 0.3], regime="unprojected"),
        claims.STEPS_RATIO.measure([-0.2, -0.3, -0.25, -0.2, -0.3], regime="unprojected", setting="mnist1d-cnn"),
        claims.GRADIENT_GAIN.measure([-0.1, 0.2, -0.1, -0.2, -0.1], setting="mnist1d-cnn"),
        claims.VMAP_LOOP.check(1e-15),
    ]
    lines = claims.summary(recs).splitlines()
    assert lines[0] == f"digits-mlp: paper: 1 claim (1 {HOLDS})"
    assert lines[1].startswith(f"  ch3-steps (paper): {HOLDS} [")
    assert lines[2] == f"mnist1d-cnn: paper: 1 claim (1 {NOT_REPRODUCED}); book: 1 claim (1 {NOT_REPRODUCED})"
    assert lines[3].startswith("  ch3-steps (paper): not reproduced") and lines[4].startswith("  ch3-jacobian-gain")
    assert lines[5] == "identities: 1 of 1 verified (not counted as support for the paper)"
