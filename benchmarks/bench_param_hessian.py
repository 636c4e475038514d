"""Benchmark for chapter 4: top eigenvalue of parameter-space operators, Lanczos/Arnoldi vs power iteration.

For each of the chapter's models and operators (clean Hessian, Hessian at a fixed
perturbation, J_eff through the gradient-ascent attack) it measures the number of
matrix-vector products and the wall time needed to reach the top eigenvalue to 1e-3
relative accuracy. The comparison is fair: both methods start from the same vector and
both are credited with the first product at which their estimate (Lanczos/Arnoldi: the
top Ritz value of ``advnotes.krylov.top_eig``, read through its ``callback``; power
iteration: the Rayleigh quotient) is within 1e-3 of a float64 reference solved to
residual 1e-10. Beside it, each solver's own stopping rule: ``param_hessian_top_eig`` /
``jeff_top_eig`` at the loosest residual tolerance that reaches 1e-3 and at ``tol=1e-3``,
ARPACK (``method='arpack'``) at ``tol=1e-3``, and power iteration stopped by the same
residual rule at ``tol=1e-3`` (``||A v - theta v|| <= tol |theta|``).
A sweep over known spectra shows at which ``lambda_2 / lambda_1`` Lanczos halves power
iteration. It also times one product against one plain autograd gradient of the same
loss (in a solver, from scratch, and the earlier forward-over-reverse formulation), at two
scales and three batch sizes. Targets (issue 5): Lanczos needs at most half the
products of power iteration; one HVP costs at most 3 gradients.

Usage: python benchmarks/bench_param_hessian.py  (writes benchmarks/results/param_hessian.json)
"""

from __future__ import annotations

import copy
import functools
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from torch.func import grad, jvp

from advnotes import config, krylov, operators
from advnotes import param_hessian as ph
from advnotes.attacks import gradient_ascent
from advnotes.data import load_digits
from advnotes.models import mlp
from advnotes.training import train

REL = 1e-3
GA = dict(step_size=1.0, steps=5)
OUT = Path(__file__).resolve().parent / "results" / "param_hessian.json"


def median_time(fn, repeats: int = 7) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def chapter_models():
    """The chapter's setting: 512 digits, 64-128-128-10 MLP (float32), eta = 0.2, gradient ascent (1.0, 5)."""
    split = load_digits(dtype="float32")
    x, y = split.x_train[:512], split.y_train[:512]
    torch.manual_seed(0)
    init = mlp(64, (128, 128), 10)
    std, adv, adv_end = copy.deepcopy(init), copy.deepcopy(init), None
    attack = functools.partial(gradient_ascent, **GA)
    train(std, x, y, lr=0.2, steps=100)
    train(adv, x, y, lr=0.2, steps=100, attack=attack)
    adv_end = copy.deepcopy(adv)
    train(adv_end, x, y, lr=0.2, steps=100, attack=attack)
    models = {"standard, step 100": std, "gradient ascent, step 100": adv, "gradient ascent, step 200": adv_end}
    return x, y, models


def top(model, x, y, op, tol, **kw):
    """lambda_1 (real part) of one of the chapter's operators, by chapter 4's own solvers, and the products used."""
    if op == "J_eff":
        vals, _, n = ph.jeff_top_eig(model, x, y, **GA, tol=tol, **kw)
        return float(vals[0].real), n
    delta = operators.attack_delta(model, x, y, **GA) if op == "H (delta fixed)" else None
    vals, _, n = ph.param_hessian_top_eig(model, x, y, delta=delta, tol=tol, **kw)
    return float(vals[0]), n


def operator(model, x, y, op):
    """The operator object (``advnotes.operators``) behind ``op``."""
    if op == "J_eff":
        return operators.EffectiveJacobian(model, x, y, **GA)
    delta = operators.attack_delta(model, x, y, **GA) if op == "H (delta fixed)" else None
    return operators.ParamHessian(model, x, y, delta=delta)


def start_vector(size: int, seed: int = 0) -> torch.Tensor:
    """The seeded unit start vector both methods share (float64)."""
    v0 = np.random.default_rng(seed).standard_normal(size)
    return torch.as_tensor(v0 / np.linalg.norm(v0))


class _Reached(Exception):
    pass


def products_to_reference(op, ref: float, *, method: str, v0, max_matvec: int, **kw) -> tuple[int, float]:
    """Oracle stopping: the first product at which the top estimate is within REL of ``ref``, and the seconds spent.

    Runs ``krylov.top_eig`` with a ``callback`` that stops the solver there (the estimate: the top Ritz
    value's real part, or power iteration's Rayleigh quotient).
    """
    reached = []

    def stop(n, values):
        if abs(float(np.real(values[0])) - ref) <= REL * abs(ref):
            reached.append(n)
            raise _Reached

    start = time.perf_counter()
    try:
        krylov.top_eig(op, tol=1e-12, method=method, v0=v0, max_matvec=max_matvec, callback=stop, **kw)
    except _Reached:
        pass
    seconds = time.perf_counter() - start
    if not reached:
        raise RuntimeError(f"{method} did not come within {REL:g} of the reference in its budget.")
    return reached[0], seconds


def bench_operator(name, op, model, x, y):
    """Products and seconds to lambda_1 within REL: Lanczos/Arnoldi against power iteration, same start vector.

    The fair comparison (``product_ratio``) credits both with the first product at which their
    estimate (top Ritz value; Rayleigh quotient) is within REL of a float64 reference solved to
    residual 1e-10. Each solver's own stopping rule is reported beside it.
    """
    ref, _ = top(copy.deepcopy(model).double(), x.double(), y, op, 1e-10)  # float64 reference
    A = operator(model, x, y, op)
    v0 = start_vector(A.size).to(A.device)  # the start of both methods
    n_kry, t_kry = products_to_reference(A, ref, method="lanczos", v0=v0, max_matvec=500, max_basis=ph.DEFAULT_BASIS)
    # Each solver's own rule. Lanczos/Arnoldi: the residual tol bounds |A y - theta y| / |theta|, the eigenvalue
    # error is ~ tol^2 / gap; take the loosest tol whose eigenvalue reaches REL, and report tol = REL too.
    rule = None
    for tol in (0.1, 0.03, 0.01, 3e-3, 1e-3):
        start = time.perf_counter()
        val, n = top(model, x, y, op, tol)
        seconds = time.perf_counter() - start
        err = abs(val - ref) / abs(ref)
        if tol == REL:
            default = (n, seconds, err)
        if rule is None and err <= REL:
            rule = (n, seconds, err, tol)
    _, n_arpack = top(model, x, y, op, REL, method="arpack")
    start = time.perf_counter()
    vals_p, _, n_rule = krylov.top_eig(A, tol=REL, method="power", v0=v0, max_matvec=5000)
    t_rule = time.perf_counter() - start
    err_rule = abs(float(vals_p[0].real) - ref) / abs(ref)
    n_pow, t_pow = products_to_reference(A, ref, method="power", v0=v0, max_matvec=5000)
    return {
        "model": name,
        "operator": op,
        "lambda_1": ref,
        "krylov_products": n_kry,
        "krylov_seconds": t_kry,
        "krylov_rule_products": rule[0],
        "krylov_rule_seconds": rule[1],
        "krylov_rel_error": rule[2],
        "krylov_tol": rule[3],
        "krylov_default_products": default[0],
        "krylov_default_rel_error": default[2],
        "arpack_default_products": n_arpack,
        "power_products": n_pow,
        "power_seconds": t_pow,
        "power_rule_products": n_rule,
        "power_rule_seconds": t_rule,
        "power_rule_rel_error": err_rule,
        "product_ratio": n_kry / n_pow,
        "rule_product_ratio": rule[0] / n_rule,
    }


def bench_gap_sweep(ratios=(0.3, 0.5, 0.62, 0.8, 0.9, 0.95, 0.99), n: int = 2000):
    """Products to lambda_1 within REL on known spectra: 1, r, then a bulk in [-0.03, 0.9 r] crowded near 0.

    A seeded random orthogonal basis, the same start vector for both methods, oracle stopping as in
    :func:`bench_operator`. Shows at which ``r = lambda_2 / lambda_1`` Lanczos halves power iteration.
    """
    gen = torch.Generator().manual_seed(0)
    Q, _ = torch.linalg.qr(torch.randn(n, n, dtype=torch.float64, generator=gen))
    bulk = torch.linspace(0, 1, n - 2, dtype=torch.float64) ** 4
    v0 = start_vector(n)
    rows = []
    for r in ratios:
        A = (Q * torch.cat([torch.tensor([1.0, r], dtype=torch.float64), 0.9 * r * bulk - 0.03])) @ Q.T
        op = krylov.DenseOperator((A + A.T) / 2, symmetric=True)
        nk, _ = products_to_reference(op, 1.0, method="lanczos", v0=v0, max_matvec=500, max_basis=ph.DEFAULT_BASIS)
        npow, _ = products_to_reference(op, 1.0, method="power", v0=v0, max_matvec=20000)
        rows.append(
            {"lambda2_over_lambda1": r, "krylov_products": nk, "power_products": npow, "product_ratio": nk / npow}
        )
    return rows


def bench_costs(model, x, y, repeats: int = 15):
    """Median wall times of one gradient and of one product of each operator (ms), and their ratios.

    ``gradient_ms``: one plain autograd gradient of the mean clean loss (what a training step
    computes; ``gradient_func_ms`` is the same through ``torch.func.grad``, slower on small nets).
    ``hvp_ms``: one Hessian-vector product as the eigen-solvers pay it (``operators.ParamHessian``: a
    backward pass through the gradient's graph, built once per operator: ``hvp_setup_ms``);
    ``hvp_standalone_ms``: one product from scratch (setup and input check included, what ``hvp_clean``
    costs); ``hvp_fwd_rev_ms``: ``jvp`` of ``torch.func.grad``, the earlier formulation (written here).
    """
    space = operators.ParamSpace(model)
    theta = space.theta
    v = torch.randn(space.size, generator=torch.Generator().manual_seed(0)).to(space.dtype)
    params = [p for p in model.parameters() if p.requires_grad]

    def gradient():
        return torch.autograd.grad(torch.nn.functional.cross_entropy(model(x), y), params)

    g = grad(space.loss)
    hvp = operators.ParamHessian(model, x, y).matvec

    def fwd_rev(v):
        return jvp(lambda th: g(th, x, y), (theta,), (v,))[1]

    G = operators.training_gradient_fn(space, x, y, **GA)
    jmv = operators.EffectiveJacobian(model, x, y, **GA).matvec
    t_grad = median_time(gradient, repeats)
    t_gf = median_time(lambda: g(theta, x, y), repeats)
    t_hvp = median_time(lambda: hvp(v), repeats)
    t_alone = median_time(lambda: operators.ParamHessian(model, x, y).matvec(v), repeats)
    t_fr = median_time(lambda: fwd_rev(v), repeats)
    t_G = median_time(lambda: G(theta), repeats=3)
    t_j = median_time(lambda: jmv(v), repeats=3)
    return {
        "gradient_ms": 1e3 * t_grad,
        "gradient_func_ms": 1e3 * t_gf,
        "hvp_ms": 1e3 * t_hvp,
        "hvp_setup_ms": 1e3 * max(t_alone - t_hvp, 0.0),
        "hvp_standalone_ms": 1e3 * t_alone,
        "hvp_fwd_rev_ms": 1e3 * t_fr,
        "hvp_over_gradient": t_hvp / t_grad,
        "hvp_standalone_over_gradient": t_alone / t_grad,
        "hvp_fwd_rev_over_gradient": t_fr / t_grad,
        "adv_gradient_ms": 1e3 * t_G,
        "jeff_mvp_ms": 1e3 * t_j,
        "jeff_mvp_over_adv_gradient": t_j / t_G,
    }


def main() -> int:
    config.setup(seed=0)
    x, y, models = chapter_models()
    rows = []
    for name, model in models.items():
        ops = ["H (clean)"] + (["H (delta fixed)", "J_eff"] if "ascent" in name else [])
        for op in ops:
            rows.append(bench_operator(name, op, model, x, y))
    split = load_digits(dtype="float32")
    torch.manual_seed(0)
    scales = {
        "quick: 512 digits, 64-128-128-10": bench_costs(models["gradient ascent, step 100"], x, y),
        f"full: {split.x_train.shape[0]} digits, 64-512-512-10": bench_costs(
            mlp(64, (512, 512), 10), split.x_train, split.y_train
        ),
    }
    by_batch = {
        str(b): bench_costs(models["gradient ascent, step 100"], split.x_train[:b], split.y_train[:b])
        for b in (128, 512, split.x_train.shape[0])
    }
    costs = scales["quick: 512 digits, 64-128-128-10"]
    sweep = bench_gap_sweep()
    result = {
        "what": "products and wall time to reach lambda_1 to 1e-3 relative accuracy; cost of one product",
        "setting": "512 digits, MLP 64-128-128-10 float32 (P = 26122), gradient ascent step 1.0 x 5",
        "comparison": "same start vector; products = first count whose estimate is within 1e-3 of a float64 "
        "reference (residual 1e-10), for both Lanczos/Arnoldi (top Ritz value) and power iteration "
        "(Rayleigh quotient)",
        "machine": f"{platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads",
        "rows": rows,
        "costs": costs,
        "costs_by_scale": scales,
        "hvp_by_batch": by_batch,
        "gap_sweep": sweep,
        "targets": {
            "krylov_at_most_half_of_power": {
                f"{r['model']} / {r['operator']}": r["product_ratio"] <= 0.5 for r in rows
            },
            "hvp_at_most_3_gradients": {k: c["hvp_over_gradient"] <= 3.0 for k, c in scales.items()},
        },
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")

    print(
        "| model | operator | lambda_1 | Lanczos/Arnoldi: products to 1e-3 (s) | power: products to 1e-3 (s) | ratio "
        "| own rules: Lanczos (loosest tol) / at tol=1e-3 / ARPACK at 1e-3 | power, own rule (error) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {r['operator']} | {r['lambda_1']:.3f} "
            f"| {r['krylov_products']} ({r['krylov_seconds']:.2f}) | {r['power_products']} ({r['power_seconds']:.2f}) "
            f"| {r['product_ratio']:.2f} | {r['krylov_rule_products']} ({r['krylov_tol']:g}) / "
            f"{r['krylov_default_products']} / {r['arpack_default_products']} "
            f"| {r['power_rule_products']} ({r['power_rule_rel_error']:.0e}) |"
        )
    print()
    print(
        "| scale | gradient ms | HVP ms (setup) | HVP / gradient | standalone HVP / gradient | fwd-rev HVP / gradient "
        "| adv. gradient G ms | J_eff product ms | J_eff / G |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for k, c in list(scales.items()) + [(f"quick model, batch {b}", c) for b, c in by_batch.items()]:
        print(
            f"| {k} | {c['gradient_ms']:.2f} | {c['hvp_ms']:.2f} ({c['hvp_setup_ms']:.2f}) "
            f"| {c['hvp_over_gradient']:.2f} | {c['hvp_standalone_over_gradient']:.2f} "
            f"| {c['hvp_fwd_rev_over_gradient']:.2f} | {c['adv_gradient_ms']:.1f} | {c['jeff_mvp_ms']:.1f} "
            f"| {c['jeff_mvp_over_adv_gradient']:.2f} |"
        )
    print()
    print(
        "known spectra, lambda_2/lambda_1: Lanczos / power products (ratio): "
        + ", ".join(
            f"{r['lambda2_over_lambda1']:g}: {r['krylov_products']}/{r['power_products']} ({r['product_ratio']:.2f})"
            for r in sweep
        )
    )
    print(f"targets: {json.dumps(result['targets'])}")
    print(f"({result['machine']}); written {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
