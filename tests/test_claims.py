"""The evidence format: identities checked against tolerances, claims decided by a t-interval over seeds."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from advnotes import claims as cl
from advnotes.claims import (
    HOLDS,
    INCONCLUSIVE,
    NOT_REPRODUCED,
    REGIME,
    ClaimSpec,
    Evidence,
    IdentitySpec,
    load_evidence,
    paper_outcome,
)
from advnotes.stats import roundoff, t_interval

# Specs used only here (chapter 99 so that they cannot clash with a chapter's).
UP = ClaimSpec(
    name="test-up",
    chapter=99,
    group="test-group",
    paper="a few words of the abstract",
    reading="the statistic is above 0.5",
    statistic="a share",
    threshold=0.5,
    direction=">",
    reason="a majority",
)
DOWN = ClaimSpec(
    name="test-down",
    chapter=99,
    group="test-group",
    paper="",
    reading="the statistic is below 0",
    statistic="a correlation",
    threshold=0.0,
    direction="<",
    reason="negative",
)
EXACT = IdentitySpec(
    name="test-identity",
    chapter=99,
    statement="two routes agree",
    error="max relative error",
    tolerance=1e-10,
    reason="float64 round-off with room for conditioning",
)


@pytest.mark.parametrize("seed", range(5))
def test_t_interval_matches_scipy(seed):
    v = np.random.default_rng(seed).normal(size=7)
    est, lo, hi = t_interval(v)
    ref = stats.t.interval(0.95, 6, loc=v.mean(), scale=stats.sem(v))
    assert math.isclose(est, v.mean(), rel_tol=1e-5, abs_tol=1e-6)
    assert math.isclose(lo, ref[0], rel_tol=1e-5, abs_tol=1e-6) and math.isclose(hi, ref[1], rel_tol=1e-5, abs_tol=1e-6)


def test_t_interval_covers_the_mean_at_its_level():
    """Coverage of the true mean over many simulated 5-seed experiments is close to 95%."""
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(2000):
        _, lo, hi = t_interval(rng.normal(3.0, 2.0, size=5))
        hits += lo <= 3.0 <= hi
    assert 0.93 < hits / 2000 < 0.97


def test_outcome_follows_from_the_interval_in_both_directions():
    assert UP.measure([0.8, 0.82, 0.79, 0.81, 0.8]).outcome == HOLDS
    assert UP.measure([0.2, 0.22, 0.19, 0.21, 0.2]).outcome == NOT_REPRODUCED
    assert UP.measure([0.3, 0.7, 0.4, 0.6, 0.55]).outcome == INCONCLUSIVE
    assert UP.measure([0.5] * 5).outcome == INCONCLUSIVE  # landing on the threshold is not "holds"
    assert DOWN.measure([-0.9, -0.8, -0.85, -0.95, -0.9]).outcome == HOLDS
    assert DOWN.measure([0.9, 0.8, 0.85, 0.95, 0.9]).outcome == NOT_REPRODUCED
    assert DOWN.measure([-0.5, 0.5, -0.2, 0.3, 0.1]).outcome == INCONCLUSIVE
    # one seed far off widens the interval: a single lucky seed cannot carry a verdict
    assert UP.measure([0.9, 0.3, 0.9, 0.3, 0.9]).outcome == INCONCLUSIVE


def test_claims_need_five_finite_seeds_and_a_known_setting():
    with pytest.raises(ValueError, match="at least 5 seeds"):
        UP.measure([0.9, 0.9, 0.9, 0.9])
    with pytest.raises(ValueError, match="not finite"):
        UP.measure([0.9, 0.9, float("nan"), 0.9, 0.9])
    with pytest.raises(ValueError, match="unknown setting"):
        UP.measure([0.9] * 5, setting="imagenet")


def test_margin_is_positive_when_the_claim_clears_its_threshold():
    c = UP.measure([0.8, 0.82, 0.79, 0.81, 0.8])
    assert c.margin > 0 and math.isclose(c.margin, c.ci[0] - 0.5, rel_tol=1e-9)
    d = DOWN.measure([0.9, 0.8, 0.85, 0.95, 0.9])
    assert d.margin < 0 and math.isclose(d.margin, 0.0 - d.ci[1], rel_tol=1e-9)


def test_identity_is_verified_or_violated():
    assert EXACT.check(1e-14).outcome == cl.VERIFIED
    assert EXACT.check(1e-6).outcome == cl.VIOLATED
    with pytest.raises(ValueError, match="not finite"):
        EXACT.check(float("inf"))
    assert "identity verified" in str(EXACT.check(0.0))


def test_specs_are_validated_and_names_unique():
    with pytest.raises(ValueError, match="direction"):
        ClaimSpec("test-bad", 99, "g", "", "r", "s", 0.0, ">=", "why")
    with pytest.raises(ValueError, match="tolerance"):
        IdentitySpec("test-bad2", 99, "s", "e", 0.0, "why")
    with pytest.raises(ValueError, match="unique"):
        ClaimSpec("test-up", 99, "other", "", "r", "s", 0.1, ">", "why")


def test_paper_outcome_over_regimes():
    h = UP.measure([0.8] * 4 + [0.81])
    n = UP.measure([0.2] * 4 + [0.21])
    i = UP.measure([0.3, 0.7, 0.4, 0.6, 0.55])
    assert paper_outcome([h, h]) == HOLDS
    assert paper_outcome([h, n]) == REGIME
    assert paper_outcome([h, i]) == REGIME
    assert paper_outcome([n, i]) == INCONCLUSIVE
    assert paper_outcome([n, n]) == NOT_REPRODUCED
    with pytest.raises(ValueError):
        paper_outcome([])


def test_verdict_counts_identities_apart_from_claims():
    text = cl.verdict(
        [EXACT.check(1e-15), UP.measure([0.8] * 4 + [0.81]), UP.measure([0.2] * 4 + [0.21], regime="large s")]
    )
    assert text.splitlines()[0] == "Identities: 1 of 1 verified against their stated tolerances."
    assert text.splitlines()[1] == (
        "Claims: 2 records (1 holds, 1 not reproduced); by setting, digits-mlp: 1 claims, 1 holds in a regime."
    )
    with pytest.raises(ValueError):
        cl.verdict([])


def test_evidence_round_trip_rederives_every_outcome(tmp_path, monkeypatch):
    ev = Evidence(99)
    a = ev.identity(EXACT, 3e-15)
    b = ev.claim(UP, [0.8, 0.82, 0.79, 0.81, 0.8], measured={"n_inputs": 128})
    c = ev.claim(DOWN, [-0.5, 0.5, -0.2, 0.3, 0.1], regime="small s")
    with pytest.raises(ValueError, match="already recorded"):
        ev.claim(UP, [0.8] * 5)
    with pytest.raises(ValueError, match="chapter 99, not 3"):
        Evidence(3).claim(UP, [0.8] * 5)
    monkeypatch.setenv(cl.EVIDENCE_ENV, str(tmp_path / "ev"))
    path = ev.save()
    assert path == tmp_path / "ev" / "ch99.json"
    before = path.stat().st_mtime_ns
    ev.save()
    assert path.stat().st_mtime_ns == before  # unchanged content: no rewrite
    assert load_evidence(path) == [a, b, c]
    data = json.loads(path.read_text())
    rec = data["records"][1]
    assert rec["kind"] == "claim" and rec["setting"] == "digits-mlp"
    assert set(rec["statistic"]) == {"name", "per_seed", "estimate", "ci", "level", "threshold", "direction"}
    assert data["records"][0]["kind"] == "identity" and data["records"][2]["regime"] == "small s"
    # a stale outcome, a changed threshold or a changed number is caught, not trusted
    for edit in (
        lambda d: d["records"][1].update(outcome=NOT_REPRODUCED),
        lambda d: d["records"][1]["statistic"].update(threshold=0.9),
        lambda d: d["records"][1]["statistic"].update(per_seed=[0.1] * 5),
        lambda d: d["records"][1]["statistic"].update(name="another statistic"),
        lambda d: d["records"][1].update(statement="another reading"),
        lambda d: d["records"][0].update(tolerance=1.0),
    ):
        bad = json.loads(path.read_text())
        edit(bad)
        path.write_text(json.dumps(bad))
        with pytest.raises(RuntimeError, match="re-execute the chapter"):
            load_evidence(path)
    with pytest.raises(FileNotFoundError, match="execute the chapter"):
        load_evidence(tmp_path / "missing.json")


def test_evidence_dir_follows_profile_and_override(monkeypatch):
    monkeypatch.delenv(cl.EVIDENCE_ENV, raising=False)
    assert str(cl.evidence_dir(profile="quick")) == "evidence"
    assert str(cl.evidence_dir(profile="full")) == "evidence/full"
    monkeypatch.setenv(cl.EVIDENCE_ENV, "/tmp/somewhere")
    assert str(cl.evidence_dir()) == "/tmp/somewhere"


def test_tables_show_estimate_interval_threshold_and_margin():
    recs = [EXACT.check(1e-15), UP.measure([0.8, 0.82, 0.79, 0.81, 0.8]), DOWN.measure([0.9] * 4 + [0.8])]
    ids = cl.identity_table(recs).splitlines()
    assert ids[0] == "| ch. | identity | error | tolerance | outcome |" and len(ids) == 3
    table = cl.claim_table(recs).splitlines()
    assert table[0].startswith("| ch. | outcome | claim | setting | regime | estimate | 95% CI | threshold | margin |")
    assert len(table) == 4 and "**holds**" in table[2] and "| > 0.5 |" in table[2] and "**not reproduced**" in table[3]
    groups = cl.group_table(recs).splitlines()
    assert groups[0] == "| ch. | claim | whose | digits-mlp |" and "holds in a regime" in groups[2]
    assert '"a few words of the abstract"' in groups[2] and "| paper |" in groups[2]
    with pytest.raises(ValueError):
        cl.claim_table([EXACT.check(0.0)])


@pytest.mark.parametrize("value, text", [(2.3e-14, "< 1e-13"), (1e-12, "< 1e-12"), (0.0, "0"), (-3e-9, "< 1e-08")])
def test_roundoff_bounds(value, text):
    assert roundoff(value) == text


def test_every_declared_chapter_spec_has_a_reason_and_a_unique_name():
    cl.get_spec("ch1-local-linear")  # imports every chapter's claims module, which registers its specs
    chapter_specs = [s for s in cl.REGISTRY.values() if s.chapter != 99]
    assert chapter_specs, "no chapter declares any spec"
    for s in chapter_specs:
        assert s.reason.strip(), f"{s.name} has no reason"


ROOT = Path(__file__).resolve().parent.parent


def test_committed_evidence_is_the_package_copy_and_every_chapter_loads():
    """book/evidence is the package's folder, so a plain install (Colab) reads what the book shows."""
    assert (ROOT / "book" / "evidence").resolve() == (ROOT / "src" / "advnotes" / "evidence").resolve()
    for n in range(1, 6):
        records = load_evidence(cl.committed_evidence(n))
        assert records and all(r.spec.chapter == n for r in records)
        assert all(r.outcome in (cl.VERIFIED, *cl.OUTCOMES) for r in records)
    claims_2_to_5 = [r for n in range(2, 6) for r in load_evidence(cl.committed_evidence(n)) if r.kind == "claim"]
    assert len(claims_2_to_5) >= 15
    with pytest.raises(ValueError, match="profile"):
        cl.committed_evidence(1, profile="huge")


@pytest.mark.slow
def test_the_wheel_ships_the_evidence(tmp_path):
    import shutil
    import subprocess
    import sys
    import zipfile

    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv", "_build", ".git", "build", "*.egg-info"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(src),
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("advnotes-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for n in range(1, 6):
        assert f"advnotes/evidence/ch{n}.json" in names


def test_test_runs_write_chapter_evidence_outside_the_repository():
    """The root conftest sends nbval's chapter evidence to a temporary folder: tests write no tracked file."""
    import os

    folder = Path(os.environ[cl.EVIDENCE_ENV]).resolve()
    assert ROOT.resolve() not in folder.parents and folder != ROOT.resolve()


CTRL = ClaimSpec(
    name="test-control",
    chapter=99,
    group="test-control-group",
    paper="",
    reading="the instrument finds the known answer",
    statistic="an error",
    threshold=0.2,
    direction="<",
    reason="20% is the tolerance the readings are judged with",
    control=True,
)


def test_controls_are_counted_apart_from_claims(tmp_path):
    recs = [UP.measure([0.8] * 4 + [0.81]), CTRL.measure([0.1] * 4 + [0.11])]
    text = cl.verdict(recs)
    assert "Claims: 1 records (1 holds)" in text and "Controls (not counted as claims): 1 records (1 holds)." in text
    assert "[control holds, digits-mlp]" in text
    assert cl.counts(recs) == {"identities": 0, HOLDS: 1, INCONCLUSIVE: 0, NOT_REPRODUCED: 0, "controls": 1}
    assert "| book (control) |" in cl.group_table(recs)
    with pytest.raises(ValueError, match="control"):
        ClaimSpec("test-bad-control", 99, "g", "abstract words", "r", "s", 0.0, ">", "why", control=True)
    ev = Evidence(99)
    ev.claim(CTRL, [0.1] * 5)
    path = ev.save(tmp_path / "ch99.json")
    data = json.loads(path.read_text())
    assert data["records"][0]["control"] is True and load_evidence(path)[0].spec.control
    del data["records"][0]["control"]
    path.write_text(json.dumps(data))
    with pytest.raises(RuntimeError, match="control"):
        load_evidence(path)


def test_intervention_field_is_recorded_and_checked_on_load(tmp_path):
    import json

    from advnotes.claims import REGISTRY, ClaimSpec, load_evidence

    spec = ClaimSpec(
        name="test-intervention-field",
        chapter=0,
        group="test-intervention",
        paper="",
        reading="the intervention lowers the statistic",
        statistic="difference",
        threshold=0.0,
        direction="<",
        reason="no change is zero",
        intervention="cut the path",
    )
    try:
        rec = spec.measure([-1.0, -1.1, -0.9, -1.0, -1.2], setting="synthetic")
        js = rec.to_json()
        assert js["intervention"] == "cut the path"
        path = tmp_path / "ch0.json"
        path.write_text(json.dumps({"chapter": 0, "records": [js]}))
        (loaded,) = load_evidence(path)
        assert loaded.spec.intervention == "cut the path" and loaded.outcome == rec.outcome == "holds"
        js["intervention"] = "something else"
        path.write_text(json.dumps({"chapter": 0, "records": [js]}))
        with pytest.raises(RuntimeError, match="recorded for the intervention 'something else'"):
            load_evidence(path)
    finally:
        REGISTRY.pop("test-intervention-field", None)
