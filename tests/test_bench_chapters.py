"""benchmarks/bench_chapters.py (chapter run times) and benchmarks/report.py (the appendix's tables)."""

from __future__ import annotations

import configparser
import json
import os
import re
from pathlib import Path

import nbformat
import pytest
from local_modules import load_benchmark
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parent.parent


def _load(name):
    return load_benchmark(name)


@pytest.fixture(scope="module")
def bench():
    return _load("bench_chapters")


@pytest.fixture(scope="module")
def report():
    return _load("report")


@pytest.fixture(scope="module")
def sanitize():
    """The nbval sanitizer of the book's tests, as one function (the oracle for the masked forms)."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "tests" / "nbval_sanitize.cfg", encoding="utf-8")
    pairs = [(re.compile(parser[s]["regex"]), parser[s]["replace"]) for s in parser.sections()]

    def apply(text):
        for pattern, replacement in pairs:
            text = pattern.sub(replacement, text)
        return text

    return apply


def _notebook(path: Path, code: str) -> Path:
    nb = new_notebook(cells=[new_markdown_cell("# T"), new_code_cell(code)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


# ----------------------------------------------------------------------------- report.py


@pytest.mark.parametrize("seconds", [3e-7, 4.2e-5, 0.0123, 0.5, 1.0, 12.345, 250.0])
def test_times_and_ratios_are_masked_by_the_sanitizer(report, sanitize, seconds):
    assert sanitize(report.fmt_time(seconds)) == "⏱ TIME"
    assert sanitize(report.fmt_ratio(seconds * 1e3)) == "speed-up ×N"


def test_tables_differ_only_in_masked_text_when_the_machine_is_slower(report, sanitize):
    """Byte-stable re-execution: two runs that differ only in speed give the same sanitized table."""
    row = {"n": 784, "dense_s_per_sample": 0.1, "cxc_s_per_sample": 1e-3, "speedup": 100.0, "max_rel_eig_err": 2e-15}
    slow = dict(row, dense_s_per_sample=0.25, cxc_s_per_sample=2.1e-3, speedup=0.25 / 2.1e-3)
    a, b = report.input_hessian_table([row]), report.input_hessian_table([slow])
    assert a != b and sanitize(a) == sanitize(b)
    assert "< 1e-14" in a and "| 784 |" in a
    costs = {"gradient_ms": 2.0, "hvp_ms": 6.0, "adv_gradient_ms": 10.0, "jeff_mvp_ms": 40.0}
    slower = {k: 3.3 * v for k, v in costs.items()}
    assert sanitize(report.costs_table(costs)) == sanitize(report.costs_table(slower))
    assert "speed-up ×3" in report.costs_table(costs)  # one HVP = 3 gradients


def test_lanczos_and_chapter_tables(report):
    row = {
        "model": "m",
        "operator": "J_eff",
        "lambda_1": 9.5458,
        "krylov_products": 6,
        "power_products": 10,
        "product_ratio": 0.6,
        "krylov_rule_products": 7,
        "krylov_tol": 0.1,
        "krylov_rel_error": 2.7e-6,
        "krylov_default_products": 10,
        "arpack_default_products": 10,
        "power_rule_products": 10,
        "power_rule_rel_error": 3.5e-4,
    }
    line = "| m | J_eff | 9.546 | 6 | 10 | 0.60 | 7 (0.1) | < 1e-05 | 10 | 10 | 10 (3e-04) |"
    assert line in report.lanczos_table([row])
    with pytest.raises(KeyError):
        report.lanczos_table([{k: v for k, v in row.items() if k != "power_products"}])
    payload = {"budget_s": 90.0, "rows": [{"notebook": "a", "seconds": 12.0}, {"notebook": "b", "seconds": 95.0}]}
    payload["total_s"] = 107.0
    table = report.chapters_table(payload).splitlines()
    assert table[2].endswith("| yes |") and table[3].endswith("| no |") and table[4].startswith("| total |")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1.0])
def test_report_refuses_bad_numbers(report, bad):
    with pytest.raises(ValueError):
        report.fmt_time(bad)
    with pytest.raises(ValueError):
        report.fmt_ratio(bad)
    with pytest.raises(ValueError):
        report.fmt_ratio(0.0)


# ----------------------------------------------------------------------------- bench_chapters.py


def test_machine_info_and_chapters(bench):
    info = bench.machine_info()
    assert set(info) == {"cpu", "cores", "platform", "machine", "python", "torch", "device"}
    assert info["cpu"] and info["cores"] >= 1
    names = [p.name for p in bench.chapters()]
    toc = (ROOT / "_toc.yml").read_text()
    assert names and all(n.endswith(".ipynb") and f"book/{n[:-6]}" in toc for n in names)
    assert [toc.index(f"book/{n[:-6]}") for n in names] == sorted(toc.index(f"book/{n[:-6]}") for n in names)


def test_time_notebook_runs_in_the_quick_profile_and_restores_the_environment(bench, tmp_path, monkeypatch):
    monkeypatch.setenv("ADVNOTES_PROFILE", "full")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    code = "import os\nassert os.environ['ADVNOTES_PROFILE'] == 'quick' and os.environ['OMP_NUM_THREADS'] == '1'"
    seconds = bench.time_notebook(_notebook(tmp_path / "ok.ipynb", code))
    assert 0 < seconds < 120
    assert os.environ["ADVNOTES_PROFILE"] == "full" and "OMP_NUM_THREADS" not in os.environ


def test_main_writes_json_and_table_and_reports_failures(bench, tmp_path, capsys):
    ok = _notebook(tmp_path / "ok.ipynb", "print(1 + 1)")
    broken = _notebook(tmp_path / "broken.ipynb", "raise RuntimeError('boom')")
    out = tmp_path / "res" / "chapters.json"
    assert bench.main([str(ok), "--out", str(out)]) == 0
    payload = json.loads(out.read_text())
    assert [r["notebook"] for r in payload["rows"]] == ["ok.ipynb"] and payload["failed"] == []
    assert payload["profile"] == "quick" and payload["machine"]["cores"] >= 1
    table = out.with_suffix(".md").read_text()
    assert "| `ok.ipynb` |" in table and "| **total** |" in table and "Measured " in table
    assert not list(out.parent.glob("*.tmp"))
    assert bench.main([str(ok), str(broken), "--out", str(out)]) == 1
    payload = json.loads(out.read_text())
    assert payload["failed"] == ["broken.ipynb"] and len(payload["rows"]) == 1
    assert "FAILED: broken.ipynb" in capsys.readouterr().out
    assert "| `broken.ipynb` | failed to execute |" in out.with_suffix(".md").read_text()


def test_time_notebook_refuses_bad_input(bench, tmp_path):
    with pytest.raises(FileNotFoundError):
        bench.time_notebook(tmp_path / "missing.ipynb")
    path = _notebook(tmp_path / "ok.ipynb", "pass")
    with pytest.raises(ValueError):
        bench.time_notebook(path, timeout=0)


@pytest.mark.parametrize("flags", [["--timeout", "0"], ["--budget", "0"], ["missing.ipynb"], ["--bogus"]])
def test_bad_flags_are_refused(bench, flags):
    with pytest.raises(SystemExit) as info:
        bench.main(flags)
    assert info.value.code == 2


def test_train_ensemble_table_is_masked(report, sanitize):
    row = {
        "training": "standard",
        "device": "cpu",
        "seeds": 5,
        "single_s": 0.07,
        "ensemble_s": 0.2,
        "ratio": 2.8,
        "vmap_s": 0.3,
        "max_rel_deviation": 3e-15,
    }
    slow = dict(row, single_s=0.2, ensemble_s=0.62, ratio=3.1, vmap_s=0.9)
    table = report.train_ensemble_table([row])
    assert table.splitlines()[2] == "| standard | cpu | ⏱ 70 ms | ⏱ 200 ms | speed-up ×1.8 | ⏱ 300 ms | < 1e-14 |"
    assert "5 seeds: `train_ensemble`" in table and "against 5 × `train()`" in table
    assert sanitize(table) == sanitize(report.train_ensemble_table([slow]))
    no_vmap = report.train_ensemble_table([{k: v for k, v in row.items() if k != "vmap_s"}])
    assert "`vmap`" not in no_vmap and no_vmap.splitlines()[2].endswith("| speed-up ×1.8 | < 1e-14 |")


def test_train_ensemble_quick_runs_the_benchmark_on_the_cpu(bench):
    """The appendix's call, with 2 steps and one repeat: three trainings, members equal to train() in float64."""
    lines = bench.train_ensemble_quick(steps=2, repeats=1).splitlines()
    assert len(lines) == 5 and "5 seeds: `train_ensemble`" in lines[0]
    assert [line.split(" | ")[0] for line in lines[2:]] == [
        "| standard",
        "| PGD-Linf (eps 0.1, 5 steps)",
        "| gradient ascent (0.5, 5 steps)",
    ]
    for line in lines[2:]:
        assert "| cpu |" in line and line.count("⏱") == 3 and "speed-up ×" in line
        assert re.search(r"\| (0|< 1e-1[0-9]) \|$", line), line  # float64 round-off


def test_bench_train_ensemble_main_writes_json(tmp_path, monkeypatch, capsys):
    module = _load("bench_train_ensemble")
    monkeypatch.setattr(module, "QUICK", {"steps": 2, "repeats": 1, "check_steps": 2})
    monkeypatch.setattr(module, "CASES", {"standard": None})
    out = tmp_path / "ensemble.json"
    # --threads 0 keeps torch's thread setting: the benchmark must not change it for the rest of the session.
    assert module.main(["--quick", "--threads", "0", "--out", str(out)]) == 0
    payload = json.loads(out.read_text())
    assert payload["accurate"] is True and payload["profile"] == "quick" and payload["machine"]["device"]
    (row,) = [r for r in payload["rows"] if r["device"] == "cpu"]
    assert row["steps"] == 2 and row["seeds"] == 5 and row["ratio"] > 0 and row["cpu_ratio"] > 0
    assert "| standard | cpu |" in capsys.readouterr().out
    assert not list(tmp_path.glob("*.tmp"))
    for flags in (["--rtol", "0"], ["--threads", "-1"], ["--bogus"]):
        with pytest.raises(SystemExit) as info:
            module.main(flags)
        assert info.value.code == 2


def test_committed_costs_reads_both_layouts(report):
    one = {"gradient_ms": 1.0, "hvp_ms": 3.0, "adv_gradient_ms": 5.0, "jeff_mvp_ms": 9.0}
    assert report.committed_costs({"setting": "s", "costs": one}) == {"s": one}
    assert report.committed_costs({"costs": {"quick": one, "full": one}}) == {"quick": one, "full": one}
    assert report.committed_costs({"costs": one, "costs_by_scale": {"q": one}}) == {"q": one}
