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
    # a minimal effect, declared: 1 (zero effect) would let any sliver count as strengthening
    assert claims.STRENGTHENS.threshold == 0.9 and claims.STRENGTHENS.direction == "<"
    assert claims.EXPONENTIAL_IN_M.threshold == 0.5 and claims.EXPONENTIAL_IN_M.direction == ">"


def test_no_record_that_cannot_fail_for_s_beyond_ten():
    # the overshoot and the curvature collapse for s >= 10 follow from e^s; they are printed, not claimed
    names = {s.name for s in claims.CLAIMS}
    assert "ch2-overshoot" not in names and "ch2-curvature-collapses" not in names


def test_identities_verify_below_and_violate_above_their_tolerance():
    for spec in claims.IDENTITIES:
        assert spec.check(spec.tolerance / 10).outcome == "verified"
        assert spec.check(spec.tolerance * 10).outcome == "violated"


@pytest.mark.parametrize(
    "spec, good, bad",
    [
        (claims.TRACKS, 1e-3, 0.5),
        (claims.BEATS_LINEAR, 0.1, 0.9),
        (claims.UNDERSHOOT, 0.8, 1.3),
        (claims.CURVATURE_GROWS, 2.5, 0.5),
        (claims.UNDERSHOOT_FOLLOWS_CURVATURE, -0.9, 0.2),
        (claims.GATES_MINOR, 0.3, 3.0),
        (claims.STRENGTHENS, 0.7, 0.99),
        (claims.EXPONENTIAL_IN_M, 1.0, -0.8),
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
    # non-finite entries (the closed form past float64's range) are left out, not propagated
    t = fake_table([0.1, 0.2, 0.3, 0.4], [1.0, np.nan, np.inf, 3.0], m=[2, 2, 2, 2])
    assert claims.regime_medians([t], "v") == [2.0]
    with pytest.raises(ValueError, match="seed 0 has no"):
        claims.regime_medians([fake_table([0.1], [np.nan], m=[2])], "v")


def test_regime_spearman_against_scipy_and_a_monotone_relation():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(2)
    s = rng.uniform(0, 3, 300)
    x = rng.uniform(1, 3, 300)
    t = {"s": s, "m": np.full(300, 4.0), "lam": x, "y": -(x**3) + 0.1 * rng.standard_normal(300)}
    sel = (s >= 0.5) & (s <= 2)
    got = claims.regime_spearman([t], "lam", lambda tb: tb["y"], lo=0.5, hi=2)[0]
    assert got == pytest.approx(spearmanr(x[sel], t["y"][sel])[0])
    assert got < -0.9  # a noisy decreasing relation: strongly negative
    # non-finite entries are left out rather than poisoning the rank correlation
    t["y"][0] = np.nan
    assert np.isfinite(claims.regime_spearman([t], "lam", lambda tb: tb["y"], lo=0.0, hi=3)[0])
    with pytest.raises(ValueError, match="fewer than 3"):
        claims.regime_spearman([t], "lam", lambda tb: tb["y"], lo=10, hi=11)


def trend_table(rate_real, rate_model, alphas=(0.01, 0.03), ms=(1, 2, 4, 8, 16), n=7):
    rows = {"alpha": [], "m": [], "s": [], "offtop_real": [], "offtop_closed": []}
    for a in alphas:
        for m in ms:
            rows["alpha"] += [a] * n
            rows["m"] += [m] * n
            rows["s"] += [a * m] * n
            rows["offtop_real"] += list(np.exp(rate_real * m) * np.linspace(0.9, 1.1, n))
            rows["offtop_closed"] += list(np.exp(rate_model * m) * np.linspace(0.8, 1.2, n))
    return {k: np.asarray(v, float) for k, v in rows.items()}


def test_m_trend_recovers_an_exponential_rate():
    t = trend_table(-0.05, -0.1)
    ms, med, slope = claims.m_trend(t, "offtop_real", 0.03)
    assert ms.tolist() == [2, 4, 8, 16]  # m = 1 left out
    assert np.allclose(med, np.exp(-0.05 * ms))
    assert slope == pytest.approx(-0.05)
    assert claims.m_slope_ratios([t, t], 0.01) == pytest.approx([0.5, 0.5])
    # a real attack whose off-top share rises while the model's falls gives a negative ratio
    assert claims.m_slope_ratios([trend_table(0.02, -0.1)], 0.01)[0] == pytest.approx(-0.2)
    with pytest.raises(ValueError, match="alpha"):
        claims.m_trend(t, "offtop_real", 0.5)
    with pytest.raises(ValueError, match="slope is 0"):
        claims.m_slope_ratios([trend_table(0.02, 0.0)], 0.01)
    with pytest.raises(TypeError, match="tables must be a list"):
        claims.m_slope_ratios(t, 0.01)
    with pytest.raises(ValueError, match="alpha"):
        claims.m_trend({"m": [2]}, "offtop_real", 0.01)
    with pytest.raises(TypeError, match="y_of"):
        claims.regime_spearman([t], "m", "s", lo=0, hi=1)


def test_m_trend_max_s_keeps_a_fixed_set_of_inputs():
    # two kinds of input: small curvature (s = 0.01 m, stays <= 1) with a falling ratio, large curvature
    # (s = 0.2 m, leaves s <= 1 at m = 8) with a rising one; max_s keeps the first kind at every m
    rows = {"alpha": [], "m": [], "s": [], "offtop_real": [], "offtop_closed": []}
    for m in (1, 2, 4, 8, 16):
        for lam, rate in [(1.0, -0.05)] * 3 + [(20.0, 0.2)] * 4:
            rows["alpha"].append(0.01)
            rows["m"].append(m)
            rows["s"].append(0.01 * m * lam)
            rows["offtop_real"].append(np.exp(rate * m))
            rows["offtop_closed"].append(np.exp(-0.1 * m))
    t = {k: np.asarray(v, float) for k, v in rows.items()}
    assert claims.m_trend(t, "offtop_real", 0.01)[2] == pytest.approx(0.2)  # the majority rises
    ms, med, slope = claims.m_trend(t, "offtop_real", 0.01, max_s=1.0)
    assert ms.tolist() == [2, 4, 8, 16] and slope == pytest.approx(-0.05)
    assert claims.m_slope_ratios([t], 0.01, max_s=1.0) == pytest.approx([0.5])
    with pytest.raises(ValueError, match="stays <= 0.001"):
        claims.m_trend(t, "offtop_real", 0.01, max_s=1e-3)


def test_strengthening_regime_starts_above_the_bound_floor():
    # the bound identity floors the closed form's off-top ratio at (s / (e^s - 1))^2; at s = 0.1 that is
    # above the 0.9 threshold (the effect is impossible there), at the regime's lower end it is below
    floor = lambda s: (s / np.expm1(s)) ** 2  # noqa: E731
    assert floor(0.1) > claims.STRENGTHENS.threshold > floor(claims.S_STRENGTH[0])
    assert claims.S_STRENGTH == (claims.S_SMALL, claims.S_ONE)
    assert claims.UNDERSHOOT_FOLLOWS_CURVATURE.control and not claims.UNDERSHOOT_FOLLOWS_CURVATURE.paper


def test_in_regime_is_inclusive():
    assert claims.in_regime([0.3, 1.0, 3.0], 0.3, 1.0).tolist() == [True, True, False]


def records(strengthens_values, regimes, association=-0.9):
    ev = Evidence(chapter=2)
    for spec in claims.IDENTITIES:
        ev.identity(spec, spec.tolerance / 100)
    ev.claim(claims.TRACKS, [1e-3] * 4 + [2e-3], regime="s <= 0.3")
    ev.claim(claims.TRACKS, [100, 200, 300, 150, 250], regime="s >= 3")
    ev.claim(claims.BEATS_LINEAR, [0.2, 0.25, 0.22, 0.24, 0.21], regime="0.3 <= s <= 1")
    for spec, v in [
        (claims.UNDERSHOOT, 0.8),
        (claims.CURVATURE_GROWS, 2.4),
        (claims.GATES_MINOR, 0.3),
        (claims.UNDERSHOOT_FOLLOWS_CURVATURE, association),
    ]:
        ev.claim(spec, v * (1 + 0.01 * np.arange(SEEDS)), regime="0.5 <= s <= 2")
    for vals, regime in zip(strengthens_values, regimes, strict=True):
        ev.claim(claims.STRENGTHENS, vals, regime=regime)
    ev.claim(claims.EXPONENTIAL_IN_M, [0.01, -0.02, 0.03, 0.0, 0.02], regime="alpha = 0.01")
    return ev


def test_summary_is_computed_from_the_outcomes():
    ev = records([[0.8, 0.81, 0.82, 0.8, 0.83], [40, 50, 45, 42, 48]], ["ascent, s <= 1", "ascent, s >= 3"])
    text = claims.summary(ev.records)
    assert "7 of 7 identities verified" in text
    assert "s <= 0.3: holds; s >= 3: not reproduced" in text
    assert "Closed form vs m alpha g: 0.3 <= s <= 1: holds" in text
    assert "inputs whose curvature grew more undershoot more" in text and "consistent with it" in text
    assert "holds in a regime" in text and "holds: ascent, s <= 1" in text and "not reproduced: ascent, s >= 3" in text
    assert "rate): alpha = 0.01: not" in text
    # paper claims and book claims are told apart
    assert "[paper] Closed form vs real attack" in text and "[book] Closed form vs m alpha g" in text
    assert "[paper] Result 1" in text and "[book] Exponential" in text
    # no per-input association: the consistency check is reported as failing
    text_co = claims.summary(records([[0.8] * 5], ["ascent, s <= 1"], association=0.05).records)
    assert "per input the two are not associated" in text_co and "consistent with it" not in text_co
    # the words change with the numbers: a Result 1 that never holds
    ev2 = records([[0.95, 0.96, 0.94, 0.95, 0.97]], ["ascent, s <= 1"])  # below 1 but not by 10%
    text2 = claims.summary(ev2.records)
    assert "Result 1 (at least 10% less off-top energy than the attack's first step): not reproduced" in text2
    assert "holds: nowhere" in text2
    strengthens = [r for r in ev.records if r.name == "ch2-strengthens"]
    assert paper_outcome(strengthens) == "holds in a regime"


def test_summary_per_setting_keeps_only_that_settings_claims():
    ev = records([[0.8, 0.81, 0.82, 0.8, 0.83]], ["ascent, s <= 1"])
    ev.claim(claims.STRENGTHENS, [40, 50, 45, 42, 48], setting="mnist1d-cnn", regime="ascent, s <= 1")
    digits = claims.summary(ev.records, setting="digits-mlp")
    cnn = claims.summary(ev.records, setting="mnist1d-cnn")
    assert "Result 1 (at least 10% less off-top energy than the attack's first step): holds" in digits
    assert "Result 1 (at least 10% less off-top energy than the attack's first step): not reproduced" in cnn
    # identities and claims of the other setting are left out
    assert "7 of 7 identities verified." in digits and "Closed form vs real attack: not measured" in cnn
    assert "0 of 0 identities verified (the others are setting-free mathematics)" in cnn


def test_evidence_round_trip_re_decides_every_record(tmp_path):
    ev = records([[0.8, 0.81, 0.82, 0.8, 0.83]], ["ascent, s <= 1"])
    path = ev.save(tmp_path / "ch2.json")
    back = load_evidence(path)
    assert [(r.name, getattr(r, "regime", ""), r.outcome) for r in back] == [
        (r.name, getattr(r, "regime", ""), r.outcome) for r in ev.records
    ]
    data = json.loads(path.read_text())
    last = data["records"][-1]
    last["outcome"] = HOLDS if last["outcome"] != HOLDS else NOT_REPRODUCED  # disagrees with the rule: refused
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
    # issue 11: the paper's claims of the chapter are measured in both settings
    for spec in (claims.TRACKS, claims.STRENGTHENS):
        assert {r.setting for r in recs if r.name == spec.name} == {"digits-mlp", "mnist1d-cnn"}
    # records the paper's model cannot test are controls, never the paper claim
    for r in recs:
        if r.kind == "claim" and ("E_1(g) <" in r.regime or "PGD" in r.regime):
            assert r.spec.control and not r.spec.paper, r.name
        assert not (r.name == claims.TRACKS.name and r.regime == "s <= 0.3"), "the null model passes there too"


def test_controls_are_declared_as_controls():
    for spec in (claims.TRACKS_SMALL_S, claims.STRENGTHENS_SPREAD, claims.PGD_VS_FGSM):
        assert spec.control and not spec.paper and spec in claims.CLAIMS
    assert claims.MIN_PREDICTED == claims.STRENGTHENS.threshold
