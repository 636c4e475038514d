"""Benchmark for chapter 4: top eigenvalue of parameter-space operators, Lanczos/Arnoldi vs power iteration.

For each of the chapter's models and operators (clean Hessian, Hessian at a fixed
perturbation, J_eff through the gradient-ascent attack) it measures the number of
matrix-vector products and the wall time needed to reach the top eigenvalue to 1e-3
relative accuracy:

- Lanczos / Arnoldi: ``param_hessian_top_eig`` / ``jeff_top_eig`` with their default
  settings and ``tol=1e-3`` (what a reader gets), with the error they actually reach;
- power iteration: the first iterate whose Rayleigh quotient is within 1e-3 of the
  reference ("oracle stopping", the best any stopping rule could do), and what its
  own stopping rule (relative change < 1e-3) costs and reaches.

The reference is Lanczos/Arnoldi at ``tol=1e-12`` on a float64 copy. It also times one product against
one gradient of the same loss. Targets (issue 5): Lanczos needs at most half the
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

import torch
from torch.func import grad

from advnotes import config
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


def krylov(model, x, y, op, tol, **kw):
    if op == "J_eff":
        vals, _, n = ph.jeff_top_eig(model, x, y, **GA, tol=tol, **kw)
        return float(vals[0].real), n
    delta = ph.attack_delta(model, x, y, **GA) if op == "H (delta fixed)" else None
    vals, _, n = ph.param_hessian_top_eig(model, x, y, delta=delta, tol=tol, **kw)
    return float(vals[0]), n


def matvec(model, x, y, op):
    space = ph.ParamSpace(model)
    if op == "J_eff":
        return space, ph._jeff_fn(space, x, y, GA["step_size"], GA["steps"])
    if op == "H (delta fixed)":
        x = x + ph.attack_delta(model, x, y, **GA)
    return space, ph._hvp_fn(space, x, y)


def bench_operator(name, op, model, x, y):
    """Products and seconds to lambda_1 within REL, for Lanczos/Arnoldi and power iteration (both oracle-stopped)."""
    ref, _ = krylov(copy.deepcopy(model).double(), x.double(), y, op, 1e-12, ncv=20)  # float64 reference
    # Lanczos/Arnoldi: ARPACK's tol bounds the residual; the eigenvalue error is ~ tol^2 / gap. Take the
    # loosest residual tolerance whose eigenvalue reaches REL (the analogue of stopping power iteration
    # at the first iterate within REL), and report the library's default (tol = REL) as well.
    best = None
    for tol in (0.1, 0.03, 0.01, 3e-3, 1e-3):
        start = time.perf_counter()
        val, n = krylov(model, x, y, op, tol)
        seconds = time.perf_counter() - start
        err = abs(val - ref) / abs(ref)
        if tol == REL:
            default = (n, seconds, err)
        if best is None and err <= REL:
            best = (n, seconds, err, tol)
    space, mv = matvec(model, x, y, op)
    start = time.perf_counter()
    _, _, n_rule, hist = ph.power_iteration(mv, space.size, tol=REL, max_iter=5000, dtype=space.dtype, trace=True)
    t_rule = time.perf_counter() - start
    err_rule = abs(hist[-1] - ref) / abs(ref)
    start = time.perf_counter()
    _, _, _, hist = ph.power_iteration(mv, space.size, tol=1e-9, max_iter=5000, dtype=space.dtype, trace=True)
    per_product = (time.perf_counter() - start) / len(hist)
    n_pow = next(i + 1 for i, v in enumerate(hist) if abs(v - ref) <= REL * abs(ref))
    return {
        "model": name,
        "operator": op,
        "lambda_1": ref,
        "krylov_products": best[0],
        "krylov_seconds": best[1],
        "krylov_rel_error": best[2],
        "krylov_tol": best[3],
        "krylov_default_products": default[0],
        "krylov_default_rel_error": default[2],
        "power_products": n_pow,
        "power_seconds": per_product * n_pow,
        "power_rule_products": n_rule,
        "power_rule_seconds": t_rule,
        "power_rule_rel_error": err_rule,
        "product_ratio": best[0] / n_pow,
    }


def bench_costs(model, x, y):
    """Median wall time of one gradient, one HVP, one adversarial gradient G and one J_eff product."""
    space = ph.ParamSpace(model)
    theta = space.theta
    v = torch.randn(space.size, generator=torch.Generator().manual_seed(0)).to(space.dtype)
    g = grad(space.loss)
    hvp = ph._hvp_fn(space, x, y)
    G = ph._training_grad_fn(space, x, y, GA["step_size"], GA["steps"])
    jmv = ph._jeff_fn(space, x, y, GA["step_size"], GA["steps"])
    t_grad = median_time(lambda: g(theta, x, y))
    t_hvp = median_time(lambda: hvp(v))
    t_G = median_time(lambda: G(theta), repeats=3)
    t_j = median_time(lambda: jmv(v), repeats=3)
    return {
        "gradient_ms": 1e3 * t_grad,
        "hvp_ms": 1e3 * t_hvp,
        "hvp_over_gradient": t_hvp / t_grad,
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
        "full: 1347 digits, 64-512-512-10": bench_costs(mlp(64, (512, 512), 10), split.x_train, split.y_train),
    }
    costs = scales["quick: 512 digits, 64-128-128-10"]
    result = {
        "what": "products and wall time to reach lambda_1 to 1e-3 relative accuracy; cost of one product",
        "setting": "512 digits, MLP 64-128-128-10 float32 (P = 26122), gradient ascent step 1.0 x 5",
        "machine": f"{platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads",
        "rows": rows,
        "costs": costs,
        "costs_by_scale": scales,
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
        "| model | operator | lambda_1 | Lanczos/Arnoldi: products (s), residual tol | default tol=1e-3: products "
        "| power: products to 1e-3 (s) | power, own rule: products (error) | ratio |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {r['operator']} | {r['lambda_1']:.3f} "
            f"| {r['krylov_products']} ({r['krylov_seconds']:.2f}), {r['krylov_tol']:g} "
            f"| {r['krylov_default_products']} | {r['power_products']} ({r['power_seconds']:.2f}) "
            f"| {r['power_rule_products']} ({r['power_rule_rel_error']:.0e}) | {r['product_ratio']:.2f} |"
        )
    print()
    print("| scale | gradient ms | HVP ms | HVP / gradient | adv. gradient G ms | J_eff product ms | J_eff / G |")
    print("|---|---|---|---|---|---|---|")
    for k, c in scales.items():
        print(
            f"| {k} | {c['gradient_ms']:.1f} | {c['hvp_ms']:.1f} | {c['hvp_over_gradient']:.2f} "
            f"| {c['adv_gradient_ms']:.1f} | {c['jeff_mvp_ms']:.1f} | {c['jeff_mvp_over_adv_gradient']:.2f} |"
        )
    print()
    print(f"targets: {json.dumps(result['targets'])}")
    print(f"({result['machine']}); written {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
