"""Smoke test of benchmarks/bench_input_hessian.py: it runs, its two routes agree, bad flags are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from local_modules import load_benchmark

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_input_hessian.py"


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("bench_input_hessian")


def test_small_size_agrees_with_dense_eigh(bench):
    row = bench.run_size(40, 2, 1, 1, seed=0)
    # Both routes are float64 eigensolvers of the same matrix: round-off is ~1e-15 relative to lambda_max.
    assert row["max_rel_eig_err"] < 1e-10
    assert row["subspace_err"] < 1e-10
    assert row["dense_s_per_sample"] > 0 and row["cxc_s_per_sample"] > 0


def test_main_writes_table_and_json(bench, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(bench, "QUICK", ((24, 1, 1, 1),))
    out = tmp_path / "result.json"
    # --threads 0 keeps torch's thread setting: the benchmark must not change it for the rest of the session.
    assert bench.main(["--quick", "--threads", "0", "--out", str(out)]) == 0
    payload = json.loads(out.read_text())
    assert payload["accurate"] is True and payload["speedup_target_met"] is None  # target applies at n = 3072 only
    assert [r["n"] for r in payload["rows"]] == [24]
    assert "| 24 |" in capsys.readouterr().out
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("flags", [["--rtol", "0"], ["--rtol", "-1e-8"], ["--threads", "-1"], ["--bogus"]])
def test_bad_flags_are_refused(bench, flags):
    with pytest.raises(SystemExit) as info:
        bench.main(flags)
    assert info.value.code == 2
