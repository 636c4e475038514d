"""Chapter 1's claims module: declared specs, the per-seed statistics, the verdict in words."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from advnotes.claims import HOLDS, NOT_REPRODUCED, REGIME, ClaimSpec, IdentitySpec, load_evidence
from advnotes.claims import ch1 as claims

EVIDENCE = Path(__file__).resolve().parent.parent / "book" / "evidence" / "ch1.json"


def test_specs_are_declared_for_chapter_1_with_reasons():
    specs = claims.IDENTITIES + claims.CLAIMS
    assert len({s.name for s in specs}) == len(specs)
    for s in specs:
        assert s.chapter == 1 and s.name.startswith("ch1-") and s.reason.strip()
    assert all(isinstance(s, IdentitySpec) and s.tolerance <= 1e-10 for s in claims.IDENTITIES)
    assert all(isinstance(s, ClaimSpec) for s in claims.CLAIMS)
    # the rank tolerance is numpy's matrix_rank default for a 64 x 64 float64 matrix
    assert claims.RANK.tolerance == pytest.approx(64 * np.finfo(np.float64).eps)
    # the rank-correlation claims use the |rho| >= 0.8 convention, in the stated direction
    assert (claims.CURVATURE_VS_PY.threshold, claims.CURVATURE_VS_PY.direction) == (-0.8, "<")
    assert (claims.CURVATURE_VS_UNCERTAINTY.threshold, claims.CURVATURE_VS_UNCERTAINTY.direction) == (0.8, ">")


def test_declared_states_threshold_and_side():
    text = claims.declared(claims.CURVATURE_VS_PY)
    assert "below -0.8" in text and claims.CURVATURE_VS_PY.reason in text
    assert "above 0.5" in claims.declared(claims.TOP_EIGENVALUE_SHARE)


def _probs(rows):
    p = np.asarray(rows, dtype=float)
    return p / p.sum(axis=1, keepdims=True)


def test_confidence_groups_partition_the_inputs():
    p = _probs([[0.95, 0.05, 0], [0.6, 0.4, 0], [0.2, 0.7, 0.1], [0.01, 0.98, 0.01]])
    y = np.array([0, 0, 0, 0])
    g = claims.confidence_groups(p, y)
    assert list(g) == list(claims.GROUPS)
    expected = {
        "correct, confident": [1, 0, 0, 0],
        "correct, unconfident": [0, 1, 0, 0],
        "wrong, unconfident": [0, 0, 1, 0],
        "confidently wrong": [0, 0, 0, 1],
    }
    for name, mask in expected.items():
        assert g[name].tolist() == [bool(v) for v in mask], name
    assert (sum(m.astype(int) for m in g.values()) == 1).all()
    with pytest.raises(ValueError, match="level"):
        claims.confidence_groups(p, y, level=1.0)
    with pytest.raises(ValueError, match=r"\(B, C\)"):
        claims.confidence_groups(p[0], y)


def _synthetic(seed=0, n=200, C=4):
    """Inputs whose lambda_max is exactly 1 - max p (the bound's shape), labels chosen per group."""
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(C, 0.3), size=n)
    top = p.argmax(axis=1)
    y = top.copy()
    wrong = rng.random(n) < 0.3
    y[wrong] = (top[wrong] + 1 + rng.integers(0, C - 1, wrong.sum())) % C
    lam = 1.0 - p.max(axis=1)
    return lam, p, y


def test_curvature_statistics_on_a_known_relation():
    lam, p, y = _synthetic()
    st = claims.curvature_statistics(lam, p, y)
    assert st["rho_uncertainty_all"] == pytest.approx(1.0)  # lam is a monotone function of 1 - max p
    assert st["rho_uncertainty_wrong"] == pytest.approx(1.0)
    assert st["rho_py_correct"] == pytest.approx(-1.0)  # for correct inputs p_y = max p
    groups = claims.confidence_groups(p, y)
    ref = np.log10(np.median(lam[groups["confidently wrong"]]) / np.median(lam[groups["correct, unconfident"]]))
    assert st["log_ratio_confident_wrong"] == pytest.approx(ref)
    assert st["log_ratio_confident_wrong"] < 0  # confident inputs are flat, right or wrong
    assert sum(st[f"n {g}"] for g in claims.GROUPS) == len(y)


def test_curvature_statistics_refuses_empty_groups_and_bad_shapes():
    lam, p, y = _synthetic()
    keep = ~claims.confidence_groups(p, y)["confidently wrong"]
    with pytest.raises(ValueError, match="confidently wrong"):
        claims.curvature_statistics(lam[keep], p[keep], y[keep])
    with pytest.raises(ValueError, match="lam_max"):
        claims.curvature_statistics(lam[:-1], p, y)


@pytest.mark.parametrize("rank", [1, 5, 9])
def test_rank_counts_agree_with_numpy_matrix_rank(rank):
    rng = np.random.default_rng(rank)
    mats = []
    for scale in (1.0, 1e-6, 1e3):
        B = rng.normal(size=(64, rank)) * scale
        mats.append(B @ B.T)
    ev = np.stack([np.linalg.eigvalsh(M)[::-1] for M in mats])
    assert claims.rank_counts(ev) == {rank: 3}
    assert all(np.linalg.matrix_rank(M, hermitian=True) == rank for M in mats)
    with pytest.raises(ValueError, match=r"\(B, k\)"):
        claims.rank_counts(ev[0])


def test_summary_reports_regimes_and_counts():
    recs = [
        claims.CLOSED_FORM.check(1e-15),
        claims.CURVATURE_VS_PY.measure([-0.99] * 4 + [-0.98], regime="correct"),
        claims.CURVATURE_VS_PY.measure([0.85] * 4 + [0.9], regime="wrong"),
        claims.TOP_EIGENVALUE_SHARE.measure([0.88, 0.87, 0.89, 0.9, 0.86]),
    ]
    text = claims.summary(recs)
    assert text.splitlines()[0].startswith("1 of 1 identities verified")
    assert f"- {REGIME}: " in text and "correct: holds; wrong: not reproduced" in text
    assert f"- {HOLDS}: the top eigenvalue" in text
    assert text.splitlines()[-1] == "Claim records: 2 hold, 0 inconclusive, 1 not reproduced."
    assert recs[2].outcome == NOT_REPRODUCED


@pytest.mark.skipif(not EVIDENCE.is_file(), reason="execute chapter 1 first")
def test_committed_evidence_rederives_and_meets_the_issue():
    records = load_evidence(EVIDENCE)  # raises if the file disagrees with the declared specs
    ids = [r for r in records if r.kind == "identity"]
    cls = [r for r in records if r.kind == "claim"]
    assert {r.name for r in ids} == {s.name for s in claims.IDENTITIES}
    assert all(r.outcome == "verified" for r in ids)
    assert len(cls) >= 2 and all(len(c.per_seed) >= 5 for c in cls)
    assert {c.name for c in cls} == {s.name for s in claims.CLAIMS}
    assert json.loads(EVIDENCE.read_text())["chapter"] == 1
