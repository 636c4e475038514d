"""Smoke tests of benchmarks/bench_krylov.py and benchmarks/bench_param_hessian.py: their pieces run on small
operators and measure what they say (known spectra as oracles); the full runs are `python benchmarks/bench_*.py`."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from local_modules import load_benchmark

from advnotes import krylov


@pytest.fixture(scope="module")
def bench_krylov():
    return load_benchmark("bench_krylov")


@pytest.fixture(scope="module")
def bench_ph():
    return load_benchmark("bench_param_hessian")


def test_power_error_vs_tol_meets_tol_and_the_old_rule_does_not(bench_krylov):
    row = bench_krylov.power_error_vs_tol(1e-4, seed=0)
    assert row["rel_residual"] <= 1e-4 and row["rel_err"] <= 1e-4  # the residual rule meets its tolerance
    assert row["old_rule_rel_err"] > 1e-4  # the old change-of-estimate rule missed it (the complaint)
    assert row["products"] <= 2 * np.log(1e-4) / np.log(0.97)  # about log(tol) / log(ratio) products
    assert "| 0.97 | 1e-04 |" in bench_krylov.power_tol_table([row])


def test_lanczos_and_eigsh_rows_on_a_small_spectrum(bench_krylov, monkeypatch):
    monkeypatch.setattr(bench_krylov, "SIZE", 3000)
    row = bench_krylov.run_spectrum(0.79, 1, seed=0)
    assert row["lanczos_max_rel_eig_err"] < 1e-9 and row["eigsh_max_rel_eig_err"] < 1e-9
    assert row["lanczos_max_rel_residual"] <= 1e-6 * 1.01
    assert row["lanczos_per_step_outside_s"] > 0 and row["time_ratio"] > 0


def test_products_to_reference_is_the_first_product_within_rel(bench_ph):
    """Oracle stopping through top_eig's callback equals the count read off a full trace of Ritz values."""
    n = 300
    Q, _ = torch.linalg.qr(torch.randn(n, n, dtype=torch.float64, generator=torch.Generator().manual_seed(0)))
    A = (Q * torch.cat([torch.tensor([1.0, 0.9], dtype=torch.float64), torch.linspace(0.5, -0.2, n - 2)])) @ Q.T
    op = krylov.DenseOperator((A + A.T) / 2, symmetric=True)
    v0 = bench_ph.start_vector(n)
    for method in ("lanczos", "power"):
        count, seconds = bench_ph.products_to_reference(op, 1.0, method=method, v0=v0, max_matvec=2000)
        trace = []
        record = lambda count, ritz, t=trace: t.append(ritz[0])  # noqa: E731
        krylov.top_eig(op, tol=1e-10, method=method, v0=v0, max_matvec=2000, callback=record)
        first = next(i + 1 for i, t in enumerate(trace) if abs(t - 1.0) <= bench_ph.REL)
        assert count == first and seconds > 0
