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
    assert all(isinstance(s, ClaimSpec) and s.paper == "" for s in claims.CLAIMS)  # the book's own claims
    # the rank tolerance is numpy's matrix_rank default for a 64 x 64 float64 matrix
    assert claims.RANK.tolerance == pytest.approx(64 * np.finfo(np.float64).eps)
    assert (claims.CURVATURE_VS_UNCERTAINTY.threshold, claims.CURVATURE_VS_UNCERTAINTY.direction) == (0.8, ">")
    # the equivalence test is ONE record: |mean log10-ratio| below log10 2
    eq = claims.CONFIDENT_WRONG_LIKE_CORRECT
    assert (eq.direction, eq.threshold) == ("<", pytest.approx(np.log10(2)))
    assert not eq.control and not claims.TOP_EIGENVALUE_SHARE.control
    ctl = claims.TOP_SHARE_SET_BY_P
    assert ctl.control and (ctl.direction, ctl.threshold) == ("<", claims.SHARE_BAND) and ctl.threshold < 1 / 9


def test_declared_states_threshold_and_side():
    text = claims.declared(claims.CURVATURE_VS_UNCERTAINTY)
    assert "above 0.8" in text and claims.CURVATURE_VS_UNCERTAINTY.reason in text
    assert "above 0.5" in claims.declared(claims.TOP_EIGENVALUE_SHARE)
    assert "below 0.1" in claims.declared(claims.TOP_SHARE_SET_BY_P)
    assert "below 0.30103" in claims.declared(claims.CONFIDENT_WRONG_LIKE_CORRECT)


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
    with pytest.raises(ValueError, match=r"\(B, C\)|2-d array"):
        claims.confidence_groups(p[0], y)


def _synthetic(seed=0, n=300, C=4, wrong_factor=1.0):
    """Inputs whose lambda_max is 100 (1 - max p) (the shape both bounds allow), times ``wrong_factor`` for the
    confidently wrong ones; labels chosen so that every group is populated."""
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(C, 0.3), size=n)
    top = p.argmax(axis=1)
    y = top.copy()
    wrong = rng.random(n) < 0.3
    y[wrong] = (top[wrong] + 1 + rng.integers(0, C - 1, wrong.sum())) % C
    lam = 100.0 * (1.0 - p.max(axis=1))
    lam[wrong & (p.max(axis=1) >= claims.CONFIDENT)] *= wrong_factor
    return lam, p, y


def _matched_oracle(lam, p, y, level=claims.CONFIDENT, k=claims.K_MATCH):
    """matched_log_ratio written as a plain loop (independent of the vectorised version)."""
    unc = 1.0 - p.max(axis=1)
    correct = [i for i in range(len(y)) if p[i].argmax() == y[i]]
    cw = [i for i in range(len(y)) if p[i].argmax() != y[i] and p[i].max() >= level]
    logs = []
    for i in cw:
        dist = sorted(correct, key=lambda j: (abs(np.log(unc[i]) - np.log(unc[j])), correct.index(j)))
        logs.append(np.log10(lam[i] / unc[i] / np.median([lam[j] / unc[j] for j in dist[:k]])))
    return float(np.mean(logs))


def test_curvature_statistics_on_a_known_relation():
    lam, p, y = _synthetic()
    st = claims.curvature_statistics(lam, p, y)
    for key in ("all", "unconfident", "wrong"):
        assert st[f"rho_uncertainty_{key}"] == pytest.approx(1.0)  # lam is a monotone function of 1 - max p
    groups = claims.confidence_groups(p, y)
    assert st["n_unconfident"] == groups["correct, unconfident"].sum() + groups["wrong, unconfident"].sum()
    assert st["n_all"] == len(y) and sum(st[f"n {g}"] for g in claims.GROUPS) == len(y)
    assert st["log_ratio_matched"] == pytest.approx(0.0, abs=1e-12)  # the same law, right or wrong
    assert st["abs_log_ratio_matched"] == abs(st["log_ratio_matched"])
    assert st["log_ratio_matched"] == pytest.approx(_matched_oracle(lam, p, y), abs=1e-12)


@pytest.mark.parametrize("factor", [0.25, 4.0])
def test_matched_log_ratio_can_fail_the_equivalence_band(factor):
    lam, p, y = _synthetic(wrong_factor=factor)
    ratio = claims.matched_log_ratio(lam, p, y)
    assert ratio == pytest.approx(np.log10(factor), abs=1e-12)
    assert ratio == pytest.approx(_matched_oracle(lam, p, y), abs=1e-12)
    rec = claims.CONFIDENT_WRONG_LIKE_CORRECT.measure([abs(ratio)] * 4 + [abs(ratio) * 1.01])
    assert rec.outcome == NOT_REPRODUCED  # a factor 4 either way fails the one record


def test_matched_log_ratio_uses_every_confidently_wrong_input():
    lam, p, y = _synthetic()
    cw = np.flatnonzero(claims.confidence_groups(p, y)["confidently wrong"])
    lam2 = lam.copy()
    lam2[cw[0]] *= 10.0  # one input steeper by a decade moves the mean by 1 / n_cw decades
    ratio = claims.matched_log_ratio(lam2, p, y)
    assert ratio == pytest.approx(1.0 / len(cw), abs=1e-12) and ratio == pytest.approx(_matched_oracle(lam2, p, y))
    assert claims.CONFIDENT_WRONG_LIKE_CORRECT.measure([0.02, 0.0, 0.05, 0.01, 0.03]).outcome == HOLDS


def test_curvature_statistics_refuses_small_groups_and_bad_shapes():
    lam, p, y = _synthetic()
    cw = np.flatnonzero(claims.confidence_groups(p, y)["confidently wrong"])
    keep = np.ones(len(y), bool)
    keep[cw] = False  # no confidently wrong input left
    with pytest.raises(ValueError, match="confidently wrong"):
        claims.curvature_statistics(lam[keep], p[keep], y[keep])
    with pytest.raises(ValueError, match="lam_max"):
        claims.curvature_statistics(lam[:-1], p, y)


def test_uncertainty_keeps_full_relative_accuracy():
    tail = np.array([3e-14, 1e-14, 0.0])
    p = np.concatenate([[1.0 - tail.sum()], tail])[None]
    assert claims.uncertainty(p)[0] == pytest.approx(4e-14, rel=1e-12)  # naive 1 - max p is off by ~1e-3
    assert claims.uncertainty([[0.2, 0.5, 0.3]])[0] == pytest.approx(0.5)


def _local_problem(seed, B=6, C=5, n=12, sharp=8.0):
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(B, C, n))
    x, b = rng.random((B, n)), sharp * rng.normal(size=(B, C))
    return W, b, x, rng.integers(0, C, B)


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("seed", range(3))
def test_curvature_bound_errors_zero_on_true_spectra_and_catch_violations(seed):
    W, b, x, _ = _local_problem(seed)
    p = _softmax(b + np.einsum("bcn,bn->bc", W, x))
    A = np.stack([np.diag(q) - np.outer(q, q) for q in p])
    lam = np.array([np.linalg.eigvalsh(Wi.T @ Ai @ Wi)[-1] for Wi, Ai in zip(W, A)])  # dense eigh oracle
    assert claims.curvature_bound_errors(lam, W, p) == (0.0, 0.0)
    up, _ = claims.curvature_bound_errors(lam * 1e3, W, p)
    _, low = claims.curvature_bound_errors(lam * 1e-3, W, p)
    assert up > 1 and low > 1


@pytest.mark.parametrize("seed", range(2))
def test_reference_curvature_matches_50_digit_mpmath(seed):
    mpmath = pytest.importorskip("mpmath")
    W, b, x, y = _local_problem(seed, B=2, C=4, n=5, sharp=12.0)
    g_ref, H_ref = claims.reference_curvature(W, b, x, y)
    assert g_ref.dtype == np.longdouble and H_ref.shape == (2, 5, 5)
    mpmath.mp.dps = 50
    for i in range(2):
        Wi = mpmath.matrix(W[i].tolist())
        z = Wi * mpmath.matrix(x[i].tolist()) + mpmath.matrix(b[i].tolist())
        e = [mpmath.exp(v) for v in z]
        pv = mpmath.matrix([v / sum(e) for v in e])
        r = pv.copy()
        r[int(y[i])] -= 1
        A = mpmath.diag(pv) - pv * pv.T
        g_mp, H_mp = Wi.T * r, Wi.T * A * Wi
        H_np = np.array(H_mp.tolist(), dtype=float)
        g_np = np.array(g_mp.tolist(), dtype=float)[:, 0]
        assert np.abs(H_ref[i].astype(float) - H_np).max() <= 1e-15 * np.abs(H_np).max()
        assert np.abs(g_ref[i].astype(float) - g_np).max() <= 1e-15 * np.abs(g_np).max()


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


def test_summary_reports_regimes_groups_and_whose_claim():
    recs = [
        claims.CLOSED_FORM.check(1e-15),
        claims.CURVATURE_VS_UNCERTAINTY.measure([0.99] * 4 + [0.98], regime="all"),
        claims.CURVATURE_VS_UNCERTAINTY.measure([0.6] * 4 + [0.7], regime="unconfident"),
        claims.TOP_EIGENVALUE_SHARE.measure([0.88, 0.87, 0.89, 0.9, 0.86]),
        claims.CONFIDENT_WRONG_LIKE_CORRECT.measure([0.0, 0.01, 0.01, 0.02, 0.0], regime="matched"),
        claims.TOP_SHARE_SET_BY_P.measure([0.02, 0.03, 0.02, 0.03, 0.01]),
    ]
    text = claims.summary(recs)
    assert text.splitlines()[0].startswith("1 of 1 identity records verified (1 setting)")
    assert f"- digits-mlp: {REGIME} (book's claim, ch1-curvature-vs-uncertainty): " in text
    assert "digits-mlp, all: holds; digits-mlp, unconfident: not reproduced" in text
    assert f"- digits-mlp: {HOLDS} (book's claim, ch1-top-eigenvalue-share): for the p" in text
    assert "(book's claim, ch1-confident-wrong-like-correct)" in text and "(digits-mlp, matched: holds)" in text
    assert f"- digits-mlp: {HOLDS} (control, ch1-top-share-set-by-p): control:" in text
    # one outcome per setting, never pooled across settings (referee ch1, item 5)
    two = claims.summary(recs[1:3] + [claims.CURVATURE_VS_UNCERTAINTY.measure([0.6] * 5, setting="mnist1d-cnn")])
    assert f"- digits-mlp: {REGIME}; mnist1d-cnn: {NOT_REPRODUCED} (book's claim" in two
    assert text.splitlines()[-1] == "Claim records: 3 hold, 0 inconclusive, 1 not reproduced; 1 control records apart."
    assert recs[2].outcome == NOT_REPRODUCED


@pytest.mark.skipif(not EVIDENCE.is_file(), reason="execute chapter 1 first")
def test_committed_evidence_rederives_and_meets_the_issue():
    records = load_evidence(EVIDENCE)  # raises if the file disagrees with the declared specs
    ids = [r for r in records if r.kind == "identity"]
    cls = [r for r in records if r.kind == "claim"]
    assert {r.name for r in ids} == {s.name for s in claims.IDENTITIES}
    assert all(r.outcome == "verified" for r in ids)
    assert len(cls) >= 3 and all(len(c.per_seed) >= 5 for c in cls)
    assert all(c.measured for c in cls)  # every record says how many inputs it rests on
    assert {c.name for c in cls} == {s.name for s in claims.CLAIMS}
    # issue 11: every identity and every claim is recorded in both settings
    for setting in ("digits-mlp", "mnist1d-cnn"):
        assert {r.name for r in ids if r.setting == setting} == {s.name for s in claims.IDENTITIES}, setting
        assert {c.name for c in cls if c.setting == setting} == {s.name for s in claims.CLAIMS}, setting
    assert json.loads(EVIDENCE.read_text())["chapter"] == 1


@pytest.mark.parametrize("seed", range(3))
def test_softmax_top_eigenvalue_against_dense_eigh(seed):
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(6, 0.2), size=20)
    lam1, trA = claims.softmax_top_eigenvalue(p)
    A = np.stack([np.diag(q) - np.outer(q, q) for q in p])
    assert np.allclose(lam1, np.linalg.eigvalsh(A)[:, -1], rtol=1e-12, atol=1e-15)
    assert np.allclose(trA, 1 - (p**2).sum(axis=1), rtol=1e-10)
    # a two-class confusion: A is rank one, its top share is 1 whatever the size of the leftover
    two = np.array([[1 - 1e-9, 1e-9, 0.0, 0.0], [0.6, 0.4, 0.0, 0.0]])
    lam1, trA = claims.softmax_top_eigenvalue(two)
    assert np.allclose(lam1 / trA, 1.0, rtol=1e-6) and trA[0] == pytest.approx(2e-9 * (1 - 1e-9), rel=1e-9)


def test_bounds_baseline_lies_between_the_bounds_and_is_seeded():
    W, b, x, _ = _local_problem(0, B=200, C=5, n=12, sharp=3.0)
    p = _softmax(b + np.einsum("bcn,bn->bc", W, x))
    base = claims.bounds_baseline(W, p, seed=1)
    assert np.array_equal(base, claims.bounds_baseline(W, p, seed=1))
    assert not np.array_equal(base, claims.bounds_baseline(W, p, seed=2))
    unc, k, rows = 1 - p.max(axis=1), p.argmax(axis=1), np.arange(len(p))
    hi = 2 * np.linalg.norm(W, ord=2, axis=(1, 2)) ** 2 * unc
    d2 = np.array([min(np.sum((W[i, k[i]] - W[i, j]) ** 2) for j in range(5) if j != k[i]) for i in rows])
    lo = p.max(axis=1) * unc / 4 * d2
    assert (base >= lo * (1 - 1e-12)).all() and (base <= hi * (1 + 1e-12)).all()
    # log-uniform: the mean position in log space is near 1/2
    t = np.log(base / lo) / np.log(hi / lo)
    assert abs(t.mean() - 0.5) < 0.1


def test_reference_curvature_refuses_a_float64_long_double(monkeypatch):
    real = np.finfo
    monkeypatch.setattr(np, "finfo", lambda t: real(np.float64) if t is np.longdouble else real(t))
    W, b, x, y = _local_problem(0, B=2, C=4, n=5)
    with pytest.raises(RuntimeError, match="plain float64"):
        claims.reference_curvature(W, b, x, y)
