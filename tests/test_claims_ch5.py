"""Chapter 5's claims: declared specs, per-seed statistics against independent oracles, the evidence file,
and the threat model as the introduction states it."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from advnotes import threat
from advnotes.claims import (
    EVIDENCE_ENV,
    HOLDS,
    INCONCLUSIVE,
    NOT_REPRODUCED,
    REGIME,
    ClaimSpec,
    Evidence,
    IdentitySpec,
    ch5,
    committed_evidence,
    counts,
    load_evidence,
)
from advnotes.stats import top_share

ROOT = Path(__file__).resolve().parent.parent
SPECS = [v for v in vars(ch5).values() if isinstance(v, (ClaimSpec, IdentitySpec))]
CLAIMS = [s for s in SPECS if isinstance(s, ClaimSpec)]
# The abstract's sentences that chapter 5 quotes (the paper's abstract, arXiv:2205.15130).
ABSTRACT = (
    "We also prove that adversarial training tends to strengthen the influence of unconfident input samples with "
    "large gradient norms in an exponential manner. Crucially, our proofs provide a unified explanation for "
    "previous findings in understanding adversarial training."
)


# ----------------------------------------------------------------------------- declarations
def test_specs_are_chapter_5_with_reasons_and_unique_names():
    assert len(CLAIMS) >= 3
    names = [s.name for s in SPECS]
    assert len(names) == len(set(names))
    for s in SPECS:
        assert s.chapter == 5 and s.name.startswith("ch5-")
        assert s.reason.strip()


def test_records_test_the_findings_not_the_paper():
    # the records ask whether an earlier finding occurs at this scale: none is scored as the paper's claim
    assert ch5.UNIFIED in ABSTRACT and ch5.RESULT2 in ABSTRACT
    for s in CLAIMS:
        assert s.paper == "", f"{s.name}: chapter 5 tests earlier findings, not the paper's explanation"
        assert s.reading.startswith("control:") or "not tested" in s.reading, s.name
        assert s.control == s.reading.startswith("control:"), f"{s.name}: a control is declared control=True"


def test_declared_criteria_match_the_readings():
    for spec in (ch5.FLATTER_MEDIAN, ch5.FLATTER_MEAN, ch5.FLATTER_NEIGHBOURHOOD):
        assert spec.direction == "<" and spec.threshold == 0 and spec.group == spec.name  # readings, not regimes
    assert "median" in ch5.FLATTER_MEDIAN.statistic and "mean" in ch5.FLATTER_MEAN.statistic
    assert "neighbourhood" in ch5.FLATTER_NEIGHBOURHOOD.statistic
    assert "standard" in ch5.LEANS_MORE_THAN_STANDARD.statistic and ch5.LEANS_MORE_THAN_STANDARD.threshold == 0
    assert f"{ch5.CO_MIN_CLEAN:g}" in ch5.CATASTROPHIC_OVERFITTING.reading
    assert f"{ch5.CO_MIN_PEAK:g}" in ch5.CATASTROPHIC_OVERFITTING.reading and ch5.CO_MIN_PEAK == 0.2
    assert ch5.CATASTROPHIC_OVERFITTING.threshold == ch5.NO_COLLAPSE_UNDER_PGD.threshold
    assert ch5.FGSM_PGD_GAP.threshold == 0.1 and ch5.FGSM_PGD_GAP.direction == ">"
    assert ch5.ROBUST_OVERFITTING.threshold == ch5.NO_CLEAN_OVERFITTING.threshold
    assert "(e10 - e100)/e10" in ch5.MORE_DATA_RELATIVE.statistic
    assert "(e10 - e100) robust" in ch5.MORE_DATA_ABSOLUTE.statistic
    assert (
        "train" in ch5.ROBUST_GAP_LARGER.statistic
        and "not that robustness needs more data" in ch5.ROBUST_GAP_LARGER.reading
    )
    assert "not a test of re-weighting" in ch5.LEANS_MORE_THAN_STANDARD.reason
    assert not hasattr(ch5, "SHARE_RISES_UNDER_ATTACK")  # saturated share: printed, not recorded
    assert ch5.ASCENT_ALPHAS == (0.1, 1.0, 10.0)


def test_outcomes_follow_the_direction_of_each_claim():
    down = [-0.5, -0.4, -0.6, -0.5, -0.45]
    assert ch5.FLATTER_MEDIAN.measure(down).outcome == HOLDS
    assert ch5.FLATTER_MEDIAN.measure([-x for x in down]).outcome == NOT_REPRODUCED
    assert ch5.FLATTER_MEAN.measure([0.3, -0.2, 0.5, -0.4, 0.1]).outcome == INCONCLUSIVE
    assert ch5.LEANS_MORE_THAN_STANDARD.measure([-0.4, -0.3, -0.5, -0.35, -0.45]).outcome == NOT_REPRODUCED
    assert ch5.FGSM_PGD_GAP.measure([0.09, 0.1, 0.11, 0.1, 0.1]).outcome == INCONCLUSIVE
    assert ch5.NO_COLLAPSE_UNDER_PGD.measure([0.0] * 5).outcome == HOLDS
    assert ch5.CATASTROPHIC_OVERFITTING.measure([0.0] * 5).outcome == NOT_REPRODUCED


# ----------------------------------------------------------------------------- statistics
def test_log_ratio_against_numpy():
    rng = np.random.default_rng(0)
    a, b = rng.lognormal(size=101), rng.lognormal(size=57)
    assert ch5.log_median_ratio(a, b) == pytest.approx(np.log(np.median(a)) - np.log(np.median(b)), rel=1e-12)
    assert ch5.log_ratio(a, b, stat="mean") == pytest.approx(np.log(a.mean() / b.mean()), rel=1e-12)
    # the median ignores a heavy tail that moves the mean
    tail = np.concatenate([b, [1e6]])
    assert abs(ch5.log_median_ratio(tail, b)) < 0.1 and ch5.log_ratio(tail, b, stat="mean") > 5
    assert ch5.log_median_ratio(torch.tensor([2.0, 2.0, 2.0]), [1.0]) == pytest.approx(math.log(2))
    # zeros are values (a flat region, lambda_max = 0); only the statistics must be positive
    assert ch5.log_median_ratio([0.0, 2.0, 2.0], [1.0]) == pytest.approx(math.log(2))
    with pytest.raises(ValueError, match="must be positive"):
        ch5.log_median_ratio([1.0, 0.0, 0.0], [1.0])
    with pytest.raises(ValueError, match="non-negative"):
        ch5.log_ratio([1.0, -1e-3], [1.0], stat="mean")
    with pytest.raises(ValueError):
        ch5.log_median_ratio([], [1.0])
    with pytest.raises(ValueError):
        ch5.log_ratio(a, b, stat="max")


def test_top_share_against_a_sort_by_hand():
    # section 5.2's top-1% / top-5% shares: advnotes.stats.top_share(values, fraction=...)
    v = [1.0, 5.0, 2.0, 2.0]
    assert top_share(v, fraction=0.25) == pytest.approx(0.5)  # the largest of four: 5 of 10
    assert top_share(v, fraction=0.3) == pytest.approx(0.7)  # ceil(1.2) = 2 values: 5 + 2
    assert top_share(v, fraction=1.0) == pytest.approx(1.0)
    rng = np.random.default_rng(3)
    w = rng.exponential(size=200)
    assert top_share(w, fraction=0.05) == pytest.approx(sum(sorted(w)[-10:]) / w.sum())
    for bad in ([], [-1.0, 2.0], [0.0, 0.0]):
        with pytest.raises(ValueError):
            top_share(bad, fraction=0.1)
    with pytest.raises(ValueError):
        top_share(v, fraction=0.0)


def test_summed_gradient_shares_of_a_partition_add_to_one():
    rng = np.random.default_rng(1)
    g = rng.normal(size=(40, 7))  # per-sample gradients
    total = g.sum(0)
    groups = np.array_split(rng.permutation(40), 4)
    shares = [ch5.summed_gradient_share(g[idx].sum(0), total) for idx in groups]
    assert sum(shares) == pytest.approx(1.0, abs=1e-12)
    idx = groups[0]
    oracle = sum(float(g[i] @ total) for i in idx) / float(total @ total)
    assert shares[0] == pytest.approx(oracle, rel=1e-12)
    assert ch5.summed_gradient_share(torch.tensor(total), torch.tensor(total)) == pytest.approx(1.0)
    assert ch5.summed_gradient_share(-total, total) == pytest.approx(-1.0)
    with pytest.raises(ValueError):
        ch5.summed_gradient_share(total, np.zeros(7))
    with pytest.raises(ValueError):
        ch5.summed_gradient_share(total[:3], total)


def test_collapse_fraction_is_raw_and_qualification_is_separate():
    assert ch5.collapse_fraction([0.2, 0.5, 0.4, 0.05]) == pytest.approx(0.9)
    assert ch5.collapse_fraction([0.2, 0.4, 0.5]) == 0.0  # still rising: no collapse
    assert ch5.collapse_fraction([0.2, 0.5, 0.0]) == 1.0  # raw, whatever the clean accuracy
    assert ch5.collapse_fraction([0.0, 0.0]) == 0.0  # never robust: nothing to lose
    assert ch5.co_qualifies([0.2, 0.5, 0.0], 0.9)
    assert not ch5.co_qualifies([0.2, 0.5, 0.0], 0.5)  # a degenerate model is excluded
    assert not ch5.co_qualifies([0.11, 0.15, 0.05], 0.95)  # never clearly above chance: excluded
    assert ch5.co_qualifies([0.11, 0.15], 0.5, min_clean=0.0, min_peak=0.1)
    for bad in ([], [0.5, 1.5], [np.nan]):
        with pytest.raises(ValueError):
            ch5.collapse_fraction(bad)
    with pytest.raises(ValueError):
        ch5.co_qualifies([0.5], 1.2)


def test_relative_reduction_is_free_of_the_ceiling():
    # the same absolute gain of 0.04 is a large relative gain near the ceiling, a small one far from it
    assert ch5.relative_reduction(0.05, 0.01) == pytest.approx(0.8)
    assert ch5.relative_reduction(0.40, 0.36) == pytest.approx(0.1)
    assert ch5.relative_reduction(0.1, 0.2) == pytest.approx(-1.0)
    with pytest.raises(ValueError):
        ch5.relative_reduction(0.0, 0.0)
    with pytest.raises(ValueError):
        ch5.relative_reduction(1.5, 0.1)


def test_early_stopping_gain_selects_on_validation_not_test():
    val = [0.5, 0.8, 0.7, 0.6]
    test = [0.5, 0.7, 0.9, 0.6]  # the test maximum (0.9) is not where validation peaks
    assert ch5.early_stopping_gain(val, test) == pytest.approx(0.1)
    assert ch5.early_stopping_gain([0.1, 0.3, 0.3], [0.0, 0.2, 0.5]) == pytest.approx(-0.3)  # first best
    assert ch5.early_stopping_gain([0.1, 0.2], [0.4, 0.5]) == 0.0  # best at the end
    with pytest.raises(ValueError):
        ch5.early_stopping_gain([0.1], [0.1, 0.2])


def test_split_counts_keeps_paper_book_and_controls_apart():
    paper = ClaimSpec(
        name="test-ch5-split-counts-paper",
        chapter=99,  # the test chapter of tests/test_claims.py
        group="g",
        paper=ch5.RESULT2,
        reading="r",
        statistic="s",
        threshold=0.0,
        direction=">",
        reason="a test spec",
    )
    recs = [
        paper.measure([1.0, 1.1, 0.9, 1.0, 1.2], regime="a"),
        paper.measure([-1.0, -1.1, -0.9, -1.0, -1.2], regime="b"),  # one claim, holds in a regime
        ch5.NO_COLLAPSE_UNDER_PGD.measure([0.0] * 5),
        ch5.NO_CLEAN_OVERFITTING.measure([0.5, 0.6, 0.4, 0.5, 0.55]),
        ch5.CATASTROPHIC_OVERFITTING.measure([0.0] * 5, regime="a"),
        ch5.CATASTROPHIC_OVERFITTING.measure([0.0] * 5, regime="b"),
        ch5.FGSM_PGD_GAP.measure([0.0] * 5),
        ch5.SHARE_TWO_ROUTES.check(1e-16),
    ]
    c = ch5.split_counts(recs)
    assert c["identities"] == 1
    assert c["paper"]["records"] == {HOLDS: 1, INCONCLUSIVE: 0, NOT_REPRODUCED: 1}
    assert c["paper"]["claims"] == {HOLDS: 0, REGIME: 1, INCONCLUSIVE: 0, NOT_REPRODUCED: 0}
    assert c["book"]["records"] == {HOLDS: 0, INCONCLUSIVE: 0, NOT_REPRODUCED: 3}
    assert c["book"]["claims"] == {HOLDS: 0, REGIME: 0, INCONCLUSIVE: 0, NOT_REPRODUCED: 2}
    assert c["controls"]["records"] == {HOLDS: 1, INCONCLUSIVE: 0, NOT_REPRODUCED: 1}
    # the same totals as the core's counts(), which also keeps controls apart
    core = counts(recs)
    assert core["controls"] == 2 and core[HOLDS] == 1 and core[NOT_REPRODUCED] == 4
    line = ch5.counts_line(c)
    assert line.startswith("identities 1; paper 1 (1 holds in a regime) from 2 records (1 holds, 1 not reproduced)")
    assert "book 2 (2 not reproduced) from 3 records (3 not reproduced)" in line
    assert "controls 2 (1 holds, 1 not reproduced) from 2 records" in line
    assert (
        ch5.counts_line(ch5.split_counts([ch5.SHARE_TWO_ROUTES.check(0.0)]))
        == "identities 1; paper: none; book: none; controls: none"
    )


def test_scorecard_evidence_is_strict_and_names_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv(EVIDENCE_ENV, str(tmp_path))
    own = tmp_path / "ch5.json"
    evidence = Evidence(chapter=5)
    evidence.claim(ch5.NO_COLLAPSE_UNDER_PGD, [0.0] * 5)
    evidence.save()
    assert own.is_file()
    # full profile: nothing of chapters 1-4 in this session's folder -> the error names them
    with pytest.raises(RuntimeError, match=r"execute chapter\(s\) 1, 2, 3, 4\b"):
        ch5.scorecard_evidence(own, profile="full")
    # ... and with chapters 1-4 left out, chapter 5 alone loads
    out = ch5.scorecard_evidence(own, profile="full", chapters=())
    assert list(out) == [5] and out[5][0].spec is ch5.NO_COLLAPSE_UNDER_PGD
    # quick: a missing own file is reported as chapter 5's, never skipped
    with pytest.raises(RuntimeError, match="chapter 5: FileNotFoundError"):
        ch5.scorecard_evidence(tmp_path / "missing.json", profile="quick", chapters=())


def test_summary_reads_the_outcomes():
    recs = [
        ch5.CATASTROPHIC_OVERFITTING.measure([0.9, 0.8, 0.95, 0.85, 0.9], regime="step 2 eps"),
        ch5.CATASTROPHIC_OVERFITTING.measure([0.0] * 5, regime="step 1.25 eps"),
        ch5.NO_COLLAPSE_UNDER_PGD.measure([0.0] * 5),
        ch5.SHARE_TWO_ROUTES.check(1e-16),
    ]
    text = ch5.summary(recs)
    assert (
        "overfits catastrophically': catastrophic-overfitting holds in a regime (step 2 eps: holds; "
        "step 1.25 eps: not reproduced)." in text
    )
    assert "control at this scale: 'PGD training does not collapse': no-collapse-under-pgd holds." in text
    assert "curvature" not in text  # only what was recorded


# ----------------------------------------------------------------------------- the committed evidence
def test_committed_evidence_loads_with_the_declared_specs():
    records = load_evidence(committed_evidence(5))
    claims = [r for r in records if r.kind == "claim"]
    assert len(claims) >= 3
    assert all(len(c.per_seed) >= 5 for c in claims)
    assert {c.spec.name for c in claims} <= {s.name for s in CLAIMS}
    assert all(not c.spec.paper for c in claims)
    assert all(r.outcome == "verified" for r in records if r.kind == "identity")


# ----------------------------------------------------------------------------- the introduction
def test_intro_states_the_threat_model_of_threat_py():
    intro = re.sub(r"\s+", " ", (ROOT / "book" / "intro.md").read_text(encoding="utf-8"))
    assert threat.STATEMENT in intro
    words = intro[intro.index("In words:") :]
    assert f"$\\varepsilon={threat.EPS:g}$" in words
    assert ", ".join(f"{e:g}" for e in threat.EPS_SWEEP[:-1]) + f" and {threat.EPS_SWEEP[-1]:g}" in words
    assert f"{threat.EVAL_STEPS} steps of size $2.5\\varepsilon/{threat.EVAL_STEPS}$" in words
    assert f"from each of {threat.EVAL_RESTARTS} starts" in words
    assert f"{threat.TRAIN_STEPS} steps of size $2.5\\varepsilon/{threat.TRAIN_STEPS}$" in words
    assert "not reproduced here" in intro and "95% Student-t interval" in intro


def test_appendix_names_the_interval_and_the_seed_protocol():
    book = ROOT / "book"
    md, nb = book / "appendix_reproducibility.md", book / "appendix_reproducibility.ipynb"
    if md.exists():
        text = md.read_text(encoding="utf-8")
    else:  # the lead converted the appendix into a notebook: its markdown and code sources
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        text = "\n".join("".join(c["source"]) for c in cells)
    assert "scipy.stats.t" in text and "bootstrap" in text
    for what in ("initialisation", "data order", "random start"):
        assert what in text


def test_every_reading_is_summarised_once():
    listed = [g for table in (ch5.FINDINGS, ch5.CONTROLS) for names in table.values() for g in names]
    assert sorted(listed) == sorted({s.group for s in CLAIMS})
    controls = [g for names in ch5.CONTROLS.values() for g in names]
    assert sorted(controls) == sorted(s.group for s in CLAIMS if s.control)


# ----------------------------------------------------------------------------- the scorecard by setting
INTERVENTION = ClaimSpec(
    name="test-ch5-intervention",
    chapter=99,  # the test chapter of tests/test_claims.py
    group="test-ch5-intervention",
    paper="",
    reading="prediction: cutting the path moves the onset back",
    statistic="s",
    threshold=0.0,
    direction=">",
    reason="a test spec",
    intervention="cut d(delta)/d(theta)",
)


def _records():
    up, down = [1.0, 1.1, 0.9, 1.0, 1.2], [-1.0, -1.1, -0.9, -1.0, -1.2]
    return [
        ch5.FLATTER_MEAN.measure(down),
        ch5.FLATTER_MEAN.measure(up, setting="mnist1d-cnn"),  # differs
        ch5.FLATTER_MEDIAN.measure(down),
        ch5.FLATTER_MEDIAN.measure(down, setting="mnist1d-cnn"),  # agrees
        ch5.ROBUST_OVERFITTING.measure(up, regime="a"),
        ch5.ROBUST_OVERFITTING.measure(down, regime="b"),  # digits only, holds in a regime
        ch5.NO_CLEAN_OVERFITTING.measure(down),
        INTERVENTION.measure(up, setting="mnist1d-cnn"),
        ch5.SHARE_TWO_ROUTES.check(1e-16),
    ]


def test_setting_outcomes_and_differences():
    rows = {r["claim"]: r for r in ch5.setting_outcomes(_records())}
    assert rows["ch5-flatter-mean"]["digits-mlp"] == HOLDS
    assert rows["ch5-flatter-mean"]["mnist1d-cnn"] == NOT_REPRODUCED
    assert rows["ch5-robust-overfitting"]["digits-mlp"] == REGIME
    assert rows["ch5-robust-overfitting"]["mnist1d-cnn"] is None
    assert rows["ch5-no-clean-overfitting"]["whose"] == "control"
    assert rows["test-ch5-intervention"]["intervention"] == "cut d(delta)/d(theta)"
    differ = ch5.setting_differences(_records())
    assert [r["claim"] for r in differ] == ["ch5-flatter-mean"]  # agreement and one-setting claims are not listed


def test_scorecard_text_has_a_column_per_setting_and_interventions_apart():
    text = ch5.scorecard_text(_records())
    assert max(len(line) for line in text.splitlines()) <= 88
    claims_part, interventions = text.split("Interventions (chapter 6)")
    head = claims_part.splitlines()[1].split()
    assert head == ["ch", "claim", "whose", "digits-mlp", "mnist1d-cnn"]
    line = next(s for s in claims_part.splitlines() if " flatter-mean " in s)
    assert line.split()[-3:] == ["holds", "not", "repr."]  # digits holds, MNIST-1D not reproduced
    assert "robust-overfitting" in claims_part and "test-ch5-intervention" not in claims_part
    assert "cut d(delta)/d(theta) (test-ch5-intervention)" in interventions
    assert "Predictions tested:\n  test-ch5-intervention: test-ch5-intervention" in interventions
    both = ch5.scorecard_text(_records(), full=_records()[:2])
    assert "q:digits" in both and "f:mnist1d" in both
    flat = next(s for s in both.splitlines() if " flatter-median " in s)
    assert flat.split()[-4:] == ["holds", "-", "holds", "-"]  # full: not measured
    assert max(len(line) for line in both.splitlines()) <= 88


def test_setting_counts_per_setting_and_kind():
    rows = ch5.setting_counts(_records())
    digits = {r["kind"]: r for r in rows if r["setting"] == "digits-mlp"}
    assert digits["book"]["claims"] == 3 and digits["book"]["holds"] == 2 and digits["book"]["regime"] == 1
    assert digits["controls"]["claims"] == 1 and digits["book"]["records"] == 4
    cnn = {r["kind"]: r for r in rows if r["setting"] == "mnist1d-cnn"}
    assert cnn["book"]["claims"] == 3 and cnn["book"]["not repr."] == 1


def test_scorecard_evidence_reads_every_chapter_present(tmp_path, monkeypatch):
    committed = tmp_path / "committed"
    monkeypatch.setattr(ch5, "committed_evidence", lambda n, profile="quick": committed / f"ch{n}.json")
    for n in (1, 6):  # chapters 2-4 absent: read what there is, chapter 6 included
        ev = Evidence(chapter=99)
        ev.claim(INTERVENTION, [1.0, 1.1, 0.9, 1.0, 1.2], setting="mnist1d-cnn")
        ev.save(committed / f"ch{n}.json")
    own = tmp_path / "own.json"
    mine = Evidence(chapter=5)
    mine.claim(ch5.NO_COLLAPSE_UNDER_PGD, [0.0] * 5)
    mine.save(own)
    out = ch5.scorecard_evidence(own, profile="quick")
    assert sorted(out) == [1, 5, 6]
    assert out[6][0].spec.intervention == "cut d(delta)/d(theta)"
    # full: the committed chapters must all be in this session's folder
    monkeypatch.setenv(EVIDENCE_ENV, str(tmp_path / "full"))
    with pytest.raises(RuntimeError, match=r"execute chapter\(s\) 1, 6 first"):
        ch5.scorecard_evidence(own, profile="full")


# ----------------------------------------------------------------------------- referee, session 3: no pooling
_BOOK = ClaimSpec(
    name="test-ch5-book",
    chapter=2,
    group="test-ch5-shared-group",
    paper="",
    reading="a book claim",
    statistic="s",
    threshold=0.0,
    direction=">",
    reason="a test spec",
)
_CONTROL = ClaimSpec(
    name="test-ch5-control",
    chapter=2,
    group="test-ch5-shared-group",  # the same group as the book claim (as ch2-breakdown-cause)
    paper="",
    reading="a control",
    statistic="c",
    threshold=0.0,
    direction="<",
    reason="a test spec",
    control=True,
)


def test_a_control_sharing_a_group_is_its_own_row_and_counts_match_the_rows():
    up, down = [1.0, 1.1, 0.9, 1.0, 1.2], [-1.0, -1.1, -0.9, -1.0, -1.2]
    recs = _records() + [_BOOK.measure(up), _CONTROL.measure(up)]  # book holds, control not
    rows = [r for r in ch5.setting_outcomes(recs) if r["claim"] == "test-ch5-shared-group"]
    assert {(r["whose"], r["digits-mlp"]) for r in rows} == {("book", HOLDS), ("control", NOT_REPRODUCED)}
    text = ch5.scorecard_text(recs)
    assert sum(" test-ch5-shared-group " in line for line in text.splitlines()) == 2
    outcome_rows = ch5.setting_outcomes(recs)
    for row in ch5.setting_counts(recs):  # every count is the number of table rows of its kind
        kind = {"controls": "control"}.get(row["kind"], row["kind"])
        mine = [r for r in outcome_rows if r["whose"] == kind and r.get(row["setting"])]
        assert row["claims"] == len(mine), row
    assert _CONTROL.measure(down).outcome == HOLDS  # the spec itself can hold


def test_split_counts_and_summary_keep_settings_apart():
    recs = _records()
    digits = ch5.split_counts(recs, setting="digits-mlp")
    cnn = ch5.split_counts(recs, setting="mnist1d-cnn")
    assert sum(digits["book"]["records"].values()) == 4 and sum(cnn["book"]["records"].values()) == 3
    assert cnn["book"]["claims"][NOT_REPRODUCED] == 1 and cnn["book"]["claims"][HOLDS] == 2
    with pytest.raises(ValueError, match="unknown setting"):
        ch5.split_counts(recs, setting="cifar")
    text = ch5.summary(recs)
    assert "flatter-mean (digits-mlp) holds" in text and "flatter-mean (mnist1d-cnn) is not reproduced" in text
    assert "robust-overfitting (digits-mlp)" not in text  # one setting: no setting clause
