"""Device safety: the package on CUDA gives the CPU's numbers; chapters and package convert through ``.cpu()``.

Tests marked ``gpu`` run the main public functions on CUDA and compare them with the
same call on the CPU (float64, so the only differences are the kernels' round-off);
they skip where CUDA is absent (see ``conftest.py``). The unmarked tests run
everywhere and check the device-safety helpers and habits on the CPU.
"""

from __future__ import annotations

import copy
import functools
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from advnotes import config, operators, stats, theory
from advnotes import param_hessian as ph
from advnotes.attacks import gradient_ascent, pgd_l2, pgd_linf, random_direction
from advnotes.curvature import input_hessian, input_hessian_eig
from advnotes.linear_regions import FrozenGates, gate_pattern, local_linear_map
from advnotes.models import mlp
from advnotes.training import train

ROOT = Path(__file__).resolve().parents[1]
# Float64 on both devices: the kernels differ only in summation order, so agreement to ~1e-10
# relative is round-off amplified by at most a few steps of an attack or of training.
RTOL = 1e-9


def close(a: torch.Tensor, b: torch.Tensor, rtol: float = RTOL) -> bool:
    """``a`` (any device) equals ``b`` (CPU) to ``rtol`` relative to ``b``'s largest entry."""
    a, b = a.detach().cpu(), b.detach()
    return bool((a - b).abs().max() <= rtol * max(float(b.abs().max()), 1e-300))


@pytest.fixture(scope="module")
def batch(digits64):
    return digits64.x_test[:16], digits64.y_test[:16]


@pytest.fixture(scope="module")
def cuda():
    return torch.device("cuda")


# ----------------------------------------------------------------------------- CUDA vs CPU


@pytest.mark.gpu
def test_input_hessian_on_cuda_matches_cpu(trained_mlp, batch, cuda):
    x, y = batch
    net = copy.deepcopy(trained_mlp).to(cuda)
    g, H = input_hessian(trained_mlp, x, y)
    g_c, H_c = input_hessian(net, x.to(cuda), y.to(cuda))
    assert g_c.device.type == "cuda" and close(g_c, g) and close(H_c, H)
    vals, vecs = input_hessian_eig(trained_mlp, x, y)
    vals_c, vecs_c = input_hessian_eig(net, x.to(cuda), y.to(cuda))
    assert close(vals_c, vals)
    k = vals.shape[1] - 1  # the zero eigenvalue's vector is arbitrary; compare the others (sign fixed)
    assert close(vecs_c[:, :, :k], vecs[:, :, :k], rtol=1e-6)


@pytest.mark.gpu
def test_linear_regions_on_cuda_match_cpu(trained_mlp, batch, cuda):
    x, _ = batch
    net = copy.deepcopy(trained_mlp).to(cuda)
    W, b = local_linear_map(trained_mlp, x)
    W_c, b_c = local_linear_map(net, x.to(cuda))
    assert close(W_c, W) and close(b_c, b)
    assert torch.equal(gate_pattern(net, x.to(cuda)).cpu(), gate_pattern(trained_mlp, x))
    u = random_direction(x, norm=0.5, generator=torch.Generator().manual_seed(0))
    frozen, frozen_c = FrozenGates(trained_mlp, x), FrozenGates(net, x.to(cuda))
    with torch.no_grad():
        assert close(frozen_c(x.to(cuda) + u.to(cuda)), frozen(x + u))


@pytest.mark.gpu
def test_attacks_on_cuda_match_cpu(trained_mlp, batch, cuda):
    x, y = batch
    net = copy.deepcopy(trained_mlp).to(cuda)
    xc, yc = x.to(cuda), y.to(cuda)
    ga = gradient_ascent(trained_mlp, x, y, step_size=0.1, steps=5)
    assert close(gradient_ascent(net, xc, yc, step_size=0.1, steps=5), ga, rtol=1e-8)
    for attack, knobs in ((pgd_linf, dict(eps=0.1, step_size=0.05)), (pgd_l2, dict(eps=1.0, step_size=0.5))):
        # A seeded CPU generator draws the same random start for data on either device.
        cpu = attack(trained_mlp, x, y, **knobs, steps=3, random_start=True, generator=torch.Generator().manual_seed(3))
        gpu = attack(net, xc, yc, **knobs, steps=3, random_start=True, generator=torch.Generator().manual_seed(3))
        assert gpu.device.type == "cuda" and close(gpu, cpu, rtol=1e-8)
    gen = torch.Generator().manual_seed(5)
    assert close(random_direction(xc, generator=gen), random_direction(x, generator=torch.Generator().manual_seed(5)))


@pytest.mark.gpu
def test_train_on_cuda_matches_cpu(digits64, cuda):
    x, y = digits64.x_train[:256], digits64.y_train[:256]
    torch.manual_seed(0)
    net = mlp(64, (16,), 10).double()
    net_c = copy.deepcopy(net).to(cuda)
    attack = functools.partial(gradient_ascent, step_size=0.1, steps=2)
    kw = dict(lr=0.05, steps=20, batch_size=64, momentum=0.9, seed=1, attack=attack, record_updates=True)
    log = train(net, x, y, **kw)
    log_c = train(net_c, x.to(cuda), y.to(cuda), **kw)
    assert np.allclose(log_c.loss, log.loss, rtol=1e-8, atol=0)
    assert all(close(p_c, p, rtol=1e-7) for p_c, p in zip(net_c.parameters(), net.parameters(), strict=True))
    assert log_c.updates[0].device.type == "cuda"


@pytest.mark.gpu
def test_closed_form_on_cuda_matches_cpu(trained_mlp, batch, cuda):
    x, y = batch
    vals, vecs = input_hessian_eig(trained_mlp, x, y)
    g = input_hessian(trained_mlp, x, y)[0]
    ref = theory.perturbation_closed_form(vals, vecs, g, step_size=0.1, steps=10)
    out = theory.perturbation_closed_form(vals.to(cuda), vecs.to(cuda), g.to(cuda), step_size=0.1, steps=10)
    assert close(out, ref)
    u, k = torch.tensor([1.5, 2.0], dtype=torch.float64), torch.tensor([3.0, 0.5], dtype=torch.float64)
    assert np.allclose(theory.logit_margin_flow(u.to(cuda), k.to(cuda), 0.7), theory.logit_margin_flow(u, k, 0.7))


@pytest.mark.gpu
def test_param_hessian_on_cuda_matches_cpu(digits64, cuda):
    x, y = digits64.x_train[:64], digits64.y_train[:64]
    torch.manual_seed(0)
    net = mlp(64, (8,), 10).double()
    net_c, xc, yc = copy.deepcopy(net).to(cuda), x.to(cuda), y.to(cuda)
    P = operators.ParamSpace(net).size
    v = torch.randn(P, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    attack = dict(step_size=1.0, steps=2)
    assert close(operators.hvp_clean(net_c, xc, yc, v.to(cuda)), operators.hvp_clean(net, x, y, v))
    delta = operators.attack_delta(net, x, y, **attack)
    assert close(operators.attack_delta(net_c, xc, yc, **attack), delta)
    # a CPU v is moved to the model's device; delta must be on x's device (validation.check_delta refuses a mismatch)
    hv = operators.hvp_fixed_delta(net_c, xc, yc, delta.to(cuda), v)
    assert close(hv, operators.hvp_fixed_delta(net, x, y, delta, v))
    jv = operators.jeff_mvp(net_c, xc, yc, v.to(cuda), **attack)
    assert close(jv, operators.jeff_mvp(net, x, y, v, **attack), rtol=1e-8)
    vals, _, _ = ph.param_hessian_top_eig(net, x, y, k=2, tol=1e-10)
    vals_c, vecs_c, _ = ph.param_hessian_top_eig(net_c, xc, yc, k=2, tol=1e-10)
    assert vals_c.device.type == vecs_c.device.type == "cuda" and close(vals_c, vals, rtol=1e-8)
    lam_p, vec_p, _ = ph.param_hessian_top_eig(net_c, xc, yc, method="power", tol=1e-8, max_hvp=5000)
    assert lam_p.device.type == vec_p.device.type == "cuda"
    mu, _, _ = ph.jeff_top_eig(net, x, y, **attack, k=1, tol=1e-10)
    mu_c, V_c, _ = ph.jeff_top_eig(net_c, xc, yc, **attack, k=1, tol=1e-10)
    assert mu_c.device.type == V_c.device.type == "cuda" and close(mu_c, mu, rtol=1e-8)
    shares = ph.sample_shares(net, x, y, v)
    assert close(ph.sample_shares(net_c, xc, yc, v.to(cuda)), shares, rtol=1e-8)


@pytest.mark.gpu
def test_track_training_and_oscillation_stats_on_cuda(digits64, cuda):
    x, y = digits64.x_train[:64].to(cuda), digits64.y_train[:64].to(cuda)
    torch.manual_seed(0)
    net = mlp(64, (8,), 10).double().to(cuda)
    ga = dict(step_size=0.5, steps=2)
    tr = ph.track_training(
        net, x, y, lr=0.1, steps=4, every=2, attack=functools.partial(gradient_ascent, **ga), jeff_attack=ga
    )
    assert tr.direction.device.type == "cuda"
    st = ph.oscillation_stats(tr.log, direction=tr.direction)
    assert 0.0 <= st.sign_flips <= 1.0
    st_cpu_dir = ph.oscillation_stats(tr.log, direction=tr.direction.cpu())  # a CPU direction is moved
    assert st_cpu_dir == st


# ----------------------------------------------------------------------------- CPU: helpers and habits


def test_synchronize_is_a_no_op_on_cpu():
    assert config.synchronize(torch.device("cpu")) is None
    assert config.synchronize("cpu") is None
    config.synchronize()  # the default device: CUDA when present, else the CPU


def test_solvers_return_results_on_the_model_device(digits64):
    x, y = digits64.x_train[:32], digits64.y_train[:32]
    torch.manual_seed(0)
    net = mlp(64, (4,), 10).double()
    for method in ("lanczos", "power"):
        vals, vecs, _ = ph.param_hessian_top_eig(net, x, y, method=method, tol=1e-6, max_hvp=5000)
        assert vals.device == vecs.device == x.device and vals.dtype == torch.float64
    mu, V, _ = ph.jeff_top_eig(net, x, y, step_size=0.5, steps=1, tol=1e-6)
    assert mu.device == V.device == x.device and mu.dtype == torch.complex128


def test_first_crossing_accepts_tensors():
    s, v = np.array([0.1, 1.0, 10.0]), np.array([1e-6, 1e-3, 1.0])
    ref = stats.first_crossing(s, v, 1e-2)
    assert stats.first_crossing(torch.tensor(s), torch.tensor(v), 1e-2) == ref
    with pytest.raises(ValueError):
        stats.first_crossing(torch.tensor(s), torch.tensor(v[:2]), 1e-2)


def test_seeded_cpu_generator_gives_the_same_start_for_any_data_device(digits64, trained_mlp):
    """The draw depends on the generator only (drawn on its device, then moved): the oracle is a direct draw."""
    x, y = digits64.x_test[:8], digits64.y_test[:8]
    ref = (torch.rand(x.shape, generator=torch.Generator().manual_seed(2), dtype=x.dtype) * 2 - 1) * 0.1
    delta = pgd_linf(trained_mlp, x, y, eps=0.1, step_size=0.05, steps=0, random_start=True,
                     generator=torch.Generator().manual_seed(2))  # fmt: skip
    assert torch.equal(delta, ref)


NUMPY_CALL = re.compile(r"\.numpy\(\)")


def _bare_numpy_calls(text: str) -> list[str]:
    """``.numpy()`` calls whose chain (the 40 characters before) has no ``.cpu()``: they fail on CUDA tensors."""
    lines = []
    for m in NUMPY_CALL.finditer(text):
        before = text[max(0, m.start() - 40) : m.start()].split("\n")[-1]
        if ".cpu()" not in before:
            lines.append(before.strip() + ".numpy()")
    return lines


def test_package_converts_to_numpy_through_cpu():
    bad = {
        str(p.relative_to(ROOT)): hits
        for p in sorted((ROOT / "src" / "advnotes").rglob("*.py"))
        if (hits := _bare_numpy_calls(p.read_text(encoding="utf-8")))
    }
    assert bad == {}, f"use .cpu().numpy(): {bad}"


DEVICE_CHAPTERS = [
    "ch1_input_hessian",
    "ch2_attack_dynamics",
    "ch3_unconfident_samples",
    "ch4_parameter_hessian",
    "ch5_prior_findings",
]


@pytest.mark.parametrize("chapter", DEVICE_CHAPTERS)
def test_chapters_put_data_and_models_on_env_device(chapter):
    """Every data split and model a chapter builds goes to ``env.device``; ``.numpy()`` goes through ``.cpu()``."""
    nb = nbformat.read(ROOT / "book" / f"{chapter}.ipynb", as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert _bare_numpy_calls(code) == []
    builders = [ln for ln in code.splitlines() if re.search(r"\b(load_digits|mlp|cnn)\(", ln) and "import" not in ln]
    assert builders, "the chapter builds no data or model?"
    assert [ln for ln in builders if "env.device" not in ln] == []
