"""advnotes.influence: every per-sample quantity against a plain per-example loop, plus bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from advnotes import influence as inf
from advnotes import stats

B = 8  # a small batch: the oracles below loop over it one example at a time


@pytest.fixture(scope="module")
def batch(digits64, trained_mlp):
    # mix the least confident test inputs with typical ones, so both regimes are covered
    x, y = digits64.x_test, digits64.y_test
    with torch.no_grad():
        py = torch.softmax(trained_mlp(x), 1).gather(1, y[:, None]).squeeze(1)
    idx = torch.cat([torch.argsort(py)[: B // 2], torch.arange(B // 2)])
    return x[idx], y[idx]


def _loss_one(model, xi, yi):
    return F.cross_entropy(model(xi[None]), yi[None])


def _param_grad_loop(model, x, y):
    params = [p for p in model.parameters() if p.requires_grad]
    rows = []
    for i in range(x.shape[0]):
        gs = torch.autograd.grad(_loss_one(model, x[i], y[i]), params)
        rows.append(torch.cat([g.reshape(-1) for g in gs]))
    return torch.stack(rows)


def _rel(a, b):
    return float((a - b).norm() / b.norm())


# ----------------------------------------------------------------------------- oracles
def test_confidence_matches_loop(trained_mlp, batch):
    x, y = batch
    with torch.no_grad():
        ref = torch.stack([torch.softmax(trained_mlp(x[i : i + 1]), 1)[0, y[i]] for i in range(B)])
    torch.testing.assert_close(inf.confidence(trained_mlp, x, y), ref, rtol=1e-12, atol=0)


def test_input_grad_norm_matches_loop(trained_mlp, batch):
    x, y = batch
    ref = []
    for i in range(B):
        xi = x[i].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(_loss_one(trained_mlp, xi, y[i]), xi)
        ref.append(g.norm())
    torch.testing.assert_close(inf.input_grad_norm(trained_mlp, x, y), torch.stack(ref), rtol=1e-10, atol=1e-300)


def test_lambda_max_matches_dense_autograd_hessian(trained_mlp, batch):
    x, y = batch
    ref = []
    for i in range(B):
        H = torch.autograd.functional.hessian(lambda v, i=i: _loss_one(trained_mlp, v, y[i]), x[i])
        ref.append(torch.linalg.eigvalsh(H)[-1])
    ref = torch.stack(ref)
    # autograd's softmax backward loses ~1e-8 relative at very confident inputs (chapter 1): compare to |H| scale
    err = (inf.lambda_max(trained_mlp, x, y) - ref).abs() / ref.abs().clamp_min(1e-30)
    assert float(err.max()) < 1e-6


def test_per_sample_param_grads_match_loop(trained_mlp, batch):
    x, y = batch
    torch.testing.assert_close(
        inf.per_sample_param_grads(trained_mlp, x, y), _param_grad_loop(trained_mlp, x, y), rtol=1e-10, atol=1e-14
    )


@pytest.mark.parametrize("chunk_size", [None, 3])
def test_param_grad_norm_matches_loop(trained_mlp, batch, chunk_size):
    x, y = batch
    delta = 0.1 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1), dtype=x.dtype)
    ref = _param_grad_loop(trained_mlp, x + delta, y).norm(dim=1)
    out = inf.param_grad_norm(trained_mlp, x, y, delta=delta, chunk_size=chunk_size)
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-14)
    clean = inf.param_grad_norm(trained_mlp, x, y, chunk_size=chunk_size)
    torch.testing.assert_close(clean, _param_grad_loop(trained_mlp, x, y).norm(dim=1), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("chunk_size", [None, 3])
def test_adversarial_term_matches_loop(trained_mlp, batch, chunk_size):
    x, y = batch
    gen = torch.Generator().manual_seed(2)
    deltas = 0.3 * torch.randn((3, *x.shape), generator=gen, dtype=x.dtype)
    clean = _param_grad_loop(trained_mlp, x, y)
    ref = torch.stack([(_param_grad_loop(trained_mlp, x + d, y) - clean).norm(dim=1) for d in deltas])
    many = inf.adversarial_term_norm(trained_mlp, x, y, deltas, chunk_size=chunk_size)
    assert many.shape == (3, B)
    torch.testing.assert_close(many, ref, rtol=1e-9, atol=1e-14)
    one = inf.adversarial_term_norm(trained_mlp, x, y, deltas[0], chunk_size=chunk_size)
    torch.testing.assert_close(one, ref[0], rtol=1e-9, atol=1e-14)


def test_linearised_term_matches_central_difference_loop(trained_mlp, batch):
    """(d^2 L / d theta d x) delta against a per-example central difference of grad_theta L."""
    x, y = batch
    delta = torch.randn(x.shape, generator=torch.Generator().manual_seed(3), dtype=x.dtype)
    delta = delta / delta.norm(dim=1, keepdim=True)
    eps = 1e-5  # small enough that no gate flips at these inputs, large enough for round-off ~1e-16/eps
    params = [p for p in trained_mlp.parameters()]
    fd, fd_clean = [], []
    for i in range(B):
        gp = torch.autograd.grad(_loss_one(trained_mlp, x[i] + eps * delta[i], y[i]), params)
        gm = torch.autograd.grad(_loss_one(trained_mlp, x[i] - eps * delta[i], y[i]), params)
        g0 = torch.autograd.grad(_loss_one(trained_mlp, x[i], y[i]), params)
        d = torch.cat([(a - b).reshape(-1) for a, b in zip(gp, gm)]) / (2 * eps)
        fd.append(d.norm())
        fd_clean.append((torch.cat([a.reshape(-1) for a in g0]) + d).norm())
    out = inf.linearised_term_norm(trained_mlp, x, y, delta)
    assert float(((out - torch.stack(fd)).abs() / torch.stack(fd)).max()) < 1e-5
    out_clean = inf.linearised_term_norm(trained_mlp, x, y, delta, include_clean=True, chunk_size=3)
    assert float(((out_clean - torch.stack(fd_clean)).abs() / torch.stack(fd_clean)).max()) < 1e-5


def test_linearised_term_is_first_order_of_adversarial_term(trained_mlp, batch):
    """|grad(x + t delta) - grad(x)| / t -> |(d^2 L/d theta d x) delta| as t -> 0 (error O(t))."""
    x, y = batch
    delta = torch.randn(x.shape, generator=torch.Generator().manual_seed(4), dtype=x.dtype)
    lin = inf.linearised_term_norm(trained_mlp, x, y, delta)
    errs = [_rel(inf.adversarial_term_norm(trained_mlp, x, y, t * delta) / t, lin) for t in (1e-3, 1e-4)]
    assert errs[1] < 1e-3 and errs[1] < errs[0]


def test_sample_stats_bundles_the_functions(trained_mlp, batch):
    x, y = batch
    st = inf.sample_stats(trained_mlp, x, y)
    assert set(st.as_dict()) == {"confidence", "grad_norm", "lambda_max", "param_grad_norm"}
    torch.testing.assert_close(st.grad_norm, inf.input_grad_norm(trained_mlp, x, y))
    assert all(v.shape == (B,) for v in st.as_dict().values())


# ----------------------------------------------------------------------------- statistics
def test_group_log_ratio_matches_numpy():
    rng = np.random.default_rng(0)
    v = rng.uniform(0.1, 5.0, size=(4, 10))
    a = np.zeros(10, bool)
    a[:3] = True
    b = ~a
    ref = np.log(v[:, a]).mean(1) - np.log(v[:, b]).mean(1)
    out = inf.group_log_ratio(torch.tensor(v), torch.tensor(a), torch.tensor(b))
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12)


def test_rank_correlation_matches_pearson_of_ranks():
    rng = np.random.default_rng(1)
    a = rng.standard_normal(50)
    b = a + 0.5 * rng.standard_normal(50)
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    assert stats.rank_correlation(a, b) == pytest.approx(np.corrcoef(ra, rb)[0, 1], abs=1e-12)
    assert stats.rank_correlation(torch.tensor(a), torch.tensor(-a)) == pytest.approx(-1.0)


@pytest.mark.parametrize(
    ("law", "r_of_m"),
    [
        ("exponential", lambda m: 2.0 * np.exp(0.3 * m)),
        ("linear", lambda m: 1.0 + 2.0 * m),
        ("power", lambda m: 3.0 * m**1.5),
    ],
)
def test_fit_growth_recovers_exact_laws(law, r_of_m):
    m = np.arange(1, 21, dtype=float)
    fit = stats.fit_growth(m, r_of_m(m))
    assert fit.best == law
    r2 = {"exponential": fit.exp_r2, "linear": fit.lin_r2, "power": fit.power_r2}[law]
    assert r2 == pytest.approx(1.0, abs=1e-10)
    if law == "exponential":
        assert fit.exp_rate == pytest.approx(0.3, rel=1e-8)
    if law == "linear":
        assert fit.lin_slope == pytest.approx(2.0, rel=1e-10)
    if law == "power":
        assert fit.power == pytest.approx(1.5, rel=1e-8)
    assert "best: " + law in str(fit)


# ----------------------------------------------------------------------------- bad input
PER_SAMPLE = [inf.confidence, inf.input_grad_norm, inf.lambda_max, inf.per_sample_param_grads, inf.param_grad_norm]


@pytest.mark.parametrize("fn", PER_SAMPLE)
def test_per_sample_bad_input(fn, trained_mlp, batch):
    x, y = batch
    with pytest.raises(TypeError):
        fn("not a model", x, y)
    with pytest.raises(TypeError):
        fn(trained_mlp, x.numpy(), y)
    with pytest.raises(TypeError):
        fn(trained_mlp, x.float(), y)  # dtype differs from the float64 model
    with pytest.raises(ValueError):
        fn(trained_mlp, x[0], y[:1])  # no batch dimension
    bad = x.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        fn(trained_mlp, bad, y)
    with pytest.raises(ValueError):
        fn(trained_mlp, x, y[:-1])
    with pytest.raises(ValueError):
        fn(trained_mlp, x, torch.full_like(y, 10))  # label out of range
    with pytest.raises(TypeError):
        fn(trained_mlp, x, y.double())


@pytest.mark.parametrize("fn", [inf.adversarial_term_norm, inf.linearised_term_norm])
def test_delta_bad_input(fn, trained_mlp, batch):
    x, y = batch
    with pytest.raises(TypeError):
        fn(trained_mlp, x, y, delta=None)
    with pytest.raises(ValueError):
        fn(trained_mlp, x, y, torch.zeros(B, 3, dtype=x.dtype))
    with pytest.raises(TypeError):
        fn(trained_mlp, x, y, torch.zeros_like(x).float())
    nan = torch.zeros_like(x)
    nan[1, 1] = float("inf")
    with pytest.raises(ValueError, match="non-finite"):
        fn(trained_mlp, x, y, nan)
    with pytest.raises(ValueError, match="chunk_size"):
        fn(trained_mlp, x, y, torch.zeros_like(x), chunk_size=0)


def test_param_grad_norm_bad_delta_and_chunk(trained_mlp, batch):
    x, y = batch
    with pytest.raises(ValueError):
        inf.param_grad_norm(trained_mlp, x, y, delta=torch.zeros(B, 3, dtype=x.dtype))
    with pytest.raises(ValueError, match="chunk_size"):
        inf.param_grad_norm(trained_mlp, x, y, chunk_size=1.5)
    with pytest.raises(ValueError):
        inf.adversarial_term_norm(trained_mlp, x, y, torch.zeros((0, *x.shape), dtype=x.dtype))


def test_no_trainable_parameters(trained_mlp, batch):
    import copy

    frozen = copy.deepcopy(trained_mlp).requires_grad_(False)
    with pytest.raises(ValueError, match="trainable"):
        inf.param_grad_norm(frozen, *batch)


def test_statistics_bad_input():
    with pytest.raises(ValueError):
        stats.rank_correlation([1.0, 2.0], [2.0, 1.0])  # too short
    with pytest.raises(ValueError):
        stats.rank_correlation([1.0, 1.0, 1.0], [1.0, 2.0, 3.0])  # constant
    with pytest.raises(ValueError):
        stats.rank_correlation([1.0, float("nan"), 3.0], [1.0, 2.0, 3.0])
    v = torch.ones(2, 4, dtype=torch.float64)
    a = torch.tensor([True, True, False, False])
    with pytest.raises(ValueError, match="> 0"):
        inf.group_log_ratio(torch.zeros(2, 4, dtype=torch.float64), a, ~a)
    with pytest.raises(ValueError, match="boolean"):
        inf.group_log_ratio(v, a.long(), ~a)
    with pytest.raises(ValueError, match="empty"):
        inf.group_log_ratio(v, torch.zeros(4, dtype=torch.bool), a)
    m = np.arange(1.0, 6.0)
    with pytest.raises(ValueError):
        stats.fit_growth(m, -m)  # not positive
    with pytest.raises(ValueError):
        stats.fit_growth(np.array([1.0, 1.0, 2.0]), np.array([1.0, 2.0, 3.0]))  # < 3 distinct m
    with pytest.raises(ValueError):
        stats.fit_growth(m, np.ones(5))  # constant
    with pytest.raises(ValueError):
        stats.fit_growth(m, np.ones(4))  # length mismatch
    assert math.isfinite(stats.fit_growth(m, np.exp(m)).exp_rate)


# ----------------------------------------------------------------------------- groups and shares (chapter 3)
def _probs(rows):
    return torch.tensor(rows, dtype=torch.float64)


def test_confidence_groups_by_hand():
    # 10 inputs, label 0. Two confidently wrong (max p >= 0.9 on class 1), the others by p_y.
    p_y = [0.05, 0.02, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99]
    rows = [[q, 1 - q, 0.0] for q in p_y]
    y = torch.zeros(10, dtype=torch.long)
    g = inf.confidence_groups(_probs(rows), y, frac=0.2)
    assert g["confidently wrong"].tolist() == [True, True] + [False] * 8
    # the two smallest p_y once the confidently wrong are set aside: 0.3 and 0.5
    assert torch.nonzero(g["unconfident"]).squeeze(1).tolist() == [2, 3]
    # two inputs around the median rank of p_y over all ten (ranks 4 and 5: p_y 0.6, 0.7)
    assert torch.nonzero(g["typical"]).squeeze(1).tolist() == [4, 5]
    both = torch.stack(list(g.values())).sum(0)
    assert int(both.max()) == 1  # disjoint


def test_confidence_groups_wrong_but_unsure_is_unconfident():
    rows = [[0.3, 0.7, 0.0], [0.95, 0.05, 0.0], [0.9, 0.1, 0.0]]
    g = inf.confidence_groups(_probs(rows), torch.zeros(3, dtype=torch.long), frac=0.3)
    assert not g["confidently wrong"].any()  # max p = 0.7 < 0.9
    assert g["unconfident"].tolist() == [True, False, False]


def test_confidence_groups_bad_input():
    y = torch.zeros(2, dtype=torch.long)
    with pytest.raises(ValueError):
        inf.confidence_groups(_probs([[0.5, 0.6], [1.0, 0.0]]), y)  # not on the simplex
    with pytest.raises(ValueError):
        inf.confidence_groups(_probs([[0.5, 0.5], [1.0, 0.0]]), y, frac=0.0)
    with pytest.raises(ValueError):
        inf.confidence_groups(torch.ones(3, dtype=torch.float64), y)


def test_gradient_shares_match_per_sample_projections(trained_mlp, digits64):
    x, y = digits64.x_test[:40], digits64.y_test[:40]
    with torch.no_grad():
        p = torch.softmax(trained_mlp(x), 1)
    groups = inf.confidence_groups(p, y, frac=0.2)
    delta = 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0), dtype=x.dtype)
    for d in (None, delta):
        shares = inf.gradient_shares(trained_mlp, x, y, groups, delta=d)
        per = _param_grad_loop(trained_mlp, x if d is None else x + d, y)  # independent oracle
        G = per.sum(0)
        rest = ~(groups["unconfident"] | groups["confidently wrong"] | groups["typical"])
        for name, mask in {**groups, "rest": rest}.items():
            ref = float(per[mask].sum(0) @ G / (G @ G))
            assert shares[name] == pytest.approx(ref, abs=1e-10)
        assert sum(shares.values()) == pytest.approx(1.0, abs=1e-12)


def test_gradient_shares_see_cancellation():
    # two samples with opposite gradients of equal size: each carries no net share of the update
    model = torch.nn.Linear(1, 2, bias=False).double()
    with torch.no_grad():
        model.weight.zero_()
    x = torch.tensor([[1.0], [-1.0], [1.0]], dtype=torch.float64)
    y = torch.tensor([0, 0, 1])
    a = torch.tensor([True, False, False])
    b = torch.tensor([False, True, False])
    sh = inf.gradient_shares(model, x, y, {"a": a, "b": b})
    # sample 0 and 1 have gradients g and -g (x flips sign, same label, logits 0); sample 2 has -g too
    assert sh["a"] == pytest.approx(-1.0) and sh["b"] == pytest.approx(1.0) and sh["rest"] == pytest.approx(1.0)


def test_gradient_shares_bad_input(trained_mlp, batch):
    x, y = batch
    m = torch.zeros(x.shape[0], dtype=torch.bool)
    m[0] = True
    with pytest.raises(ValueError, match="overlaps"):
        inf.gradient_shares(trained_mlp, x, y, {"a": m, "b": m})
    with pytest.raises(ValueError, match="reserved"):
        inf.gradient_shares(trained_mlp, x, y, {"rest": m})
    with pytest.raises(ValueError, match="boolean"):
        inf.gradient_shares(trained_mlp, x, y, {"a": m.long()})


def test_shares_now_uses_clean_groups_and_the_attack(trained_mlp, digits64):
    from advnotes.attacks import gradient_ascent

    x, y = digits64.x_test[:60], digits64.y_test[:60]
    out = inf.shares_now(trained_mlp, x, y)
    assert out["attacked"] is None and sum(out["clean"].values()) == pytest.approx(1.0)
    att = lambda mod, xx, yy: gradient_ascent(mod, xx, yy, step_size=0.5, steps=2)  # noqa: E731
    out2 = inf.shares_now(trained_mlp, x, y, attack=att)
    assert out2["clean"] == out["clean"] and out2["n"]["unconfident"] == 6
    assert sum(out2["attacked"].values()) == pytest.approx(1.0) and out2["attacked"] != out["clean"]


# ----------------------------------------------------------------------------- the linearised model's slopes
def test_asymptotic_and_finite_m_slopes_by_hand():
    lam_a, lam_b, a = np.array([2.0, 8.0]), np.array([0.01]), 0.05
    asym = inf.asymptotic_slope(lam_a, lam_b, step_size=a)
    assert asym == pytest.approx(np.mean(np.log1p(a * lam_a)) - np.log1p(a * 0.01), rel=1e-14)

    def logc(lam, m):  # log c(m) in exact form, differentiated numerically below
        return np.log(((1 + a * lam) ** m - 1) / lam)

    m, h = np.array([5.0, 50.0, 400.0]), 1e-4
    num = [
        np.mean([(logc(la, mm + h) - logc(la, mm - h)) / (2 * h) for la in lam_a])
        - (logc(0.01, mm + h) - logc(0.01, mm - h)) / (2 * h)
        for mm in m
    ]
    np.testing.assert_allclose(inf.finite_m_slope(lam_a, lam_b, step_size=a, steps=m), num, rtol=1e-6)
    # the finite-m slope approaches the asymptote from below, about 1/m below while a lam_b m << 1
    fm = inf.finite_m_slope(lam_a, lam_b, step_size=a, steps=[100.0, 1e6])
    assert fm[0] < asym and fm[1] == pytest.approx(asym, rel=1e-6)
    assert asym - fm[0] == pytest.approx(1 / 100, rel=0.1)
    with pytest.raises(ValueError):
        inf.asymptotic_slope([0.0], [1.0], step_size=0.1)
    with pytest.raises(ValueError):
        inf.finite_m_slope([1.0], [1.0], step_size=0.1, steps=[0.0])


def test_log_ratio_curves_match_the_definitions(trained_mlp, batch):
    from advnotes.curvature import input_gradient, input_hessian
    from advnotes.theory import iterate_quadratic_attack

    x, y = batch
    a = torch.arange(B) < B // 2
    steps, alpha = [1, 3], 0.01
    out = inf.log_ratio_curves(trained_mlp, x, y, a, ~a, step_size=alpha, steps=steps)
    g, H = input_hessian(trained_mlp, x, y)
    for j, m in enumerate(steps):
        lin = inf.linearised_term_norm(trained_mlp, x, y, iterate_quadratic_attack(H, g, step_size=alpha, steps=m))
        ref = float(lin[a].log().mean() - lin[~a].log().mean())
        assert out["linearised"][j] == pytest.approx(ref, rel=1e-8)
        delta = torch.zeros_like(x)
        for _ in range(m):  # the real attack, by hand
            xx = (x + delta).requires_grad_(True)
            (gx,) = torch.autograd.grad(F.cross_entropy(trained_mlp(xx), y, reduction="sum"), xx)
            delta = delta + alpha * gx
        real = inf.adversarial_term_norm(trained_mlp, x, y, delta)
        assert out["real attack"][j] == pytest.approx(float(real[a].log().mean() - real[~a].log().mean()), rel=1e-8)
    assert out["lam"].shape == (B,)
    assert input_gradient(trained_mlp, x, y).shape == x.shape
    with pytest.raises(ValueError):
        inf.log_ratio_curves(trained_mlp, x, y, a, ~a, step_size=alpha, steps=[0])


# ----------------------------------------------------------------------------- chapter 3's revised experiments
def test_linearised_term_is_the_vector_of_the_norm_and_a_derivative(trained_mlp, batch):
    x, y = batch
    u = torch.randn(x.shape, generator=torch.Generator().manual_seed(3), dtype=x.dtype)
    ku = inf.linearised_term(trained_mlp, x, y, u)
    assert ku.shape == (B, sum(p.numel() for p in trained_mlp.parameters()))
    torch.testing.assert_close(ku.norm(dim=1), inf.linearised_term_norm(trained_mlp, x, y, u), rtol=1e-12, atol=0)
    assert _rel(inf.linearised_term(trained_mlp, x, y, 2.5 * u), 2.5 * ku) < 1e-12  # linear in delta
    t = 1e-5  # central difference of the per-example parameter gradient along u, by a plain loop
    fd = (_param_grad_loop(trained_mlp, x + t * u, y) - _param_grad_loop(trained_mlp, x - t * u, y)) / (2 * t)
    assert float(((fd - ku).norm(dim=1) / ku.norm(dim=1)).max()) < 1e-5


def test_gate_flips_by_hand(trained_mlp, batch):
    x, _ = batch
    assert (inf.gate_flips(trained_mlp, x, torch.zeros_like(x)) == 0).all()
    d = torch.randn(x.shape, generator=torch.Generator().manual_seed(0), dtype=x.dtype)
    lin = [m for m in trained_mlp.modules() if isinstance(m, torch.nn.Linear)]

    def gates(u):  # the pre-activations of the hidden layers, by hand
        h, out = u.reshape(u.shape[0], -1), []
        for layer in lin[:-1]:
            h = layer(h)
            out.append(h > 0)
            h = torch.relu(h)
        return torch.cat(out, 1)

    with torch.no_grad():
        ref = (gates(x) != gates(x + d)).double().mean(1)
    torch.testing.assert_close(inf.gate_flips(trained_mlp, x, d), ref)
    assert (ref > 0).any()
    with pytest.raises(ValueError):
        inf.gate_flips(torch.nn.Linear(64, 10).double(), x, d)


def test_attack_terms_match_log_ratio_curves_and_the_diagnostics(trained_mlp, batch):
    x, y = batch
    a = torch.arange(B) < B // 2
    steps, alpha = [1, 3], 0.01
    out = inf.attack_terms(trained_mlp, x, y, step_size=alpha, steps=steps)
    ref = inf.log_ratio_curves(trained_mlp, x, y, a, ~a, step_size=alpha, steps=steps)
    for key in ("linearised", "real attack"):
        assert out[key].shape == (2, B)
        got = inf.group_log_ratio(torch.as_tensor(out[key]), a, ~a).numpy()
        np.testing.assert_allclose(got, ref[key], rtol=1e-10)
    np.testing.assert_allclose(out["lam"], ref["lam"])
    # at one tiny step the real perturbation is first order: the first-order term matches the real one
    tiny = inf.attack_terms(trained_mlp, x, y, step_size=1e-7, steps=[1])
    np.testing.assert_allclose(tiny["first order, real delta"], tiny["real attack"], rtol=1e-4)
    assert (tiny["gate flips"] == 0).all()
    with pytest.raises(ValueError):
        inf.attack_terms(trained_mlp, x, y, step_size=alpha, steps=[0])


def test_group_rate_is_the_per_group_part_of_the_finite_m_slope():
    lam_a, lam_b, a, m = np.array([2.0, 8.0]), np.array([0.01, 0.3]), 0.05, np.array([5.0, 50.0])
    np.testing.assert_allclose(
        inf.group_rate(lam_a, step_size=a, steps=m) - inf.group_rate(lam_b, step_size=a, steps=m),
        inf.finite_m_slope(lam_a, lam_b, step_size=a, steps=m),
        rtol=1e-12,
    )
    # tiny curvature: the rate is about 1/m + log(q)/2; huge m: it is log q
    assert inf.group_rate([1e-6], step_size=a, steps=[10.0])[0] == pytest.approx(0.1, rel=1e-5)
    assert inf.group_rate([8.0], step_size=a, steps=[1e4])[0] == pytest.approx(np.log1p(0.4), rel=1e-12)
    with pytest.raises(ValueError):
        inf.group_rate([0.0], step_size=a, steps=[1.0])


def test_influence_log_ratios_by_hand(trained_mlp, batch):
    x, y = batch
    groups = {"typical": torch.arange(B) >= B // 2, "unconfident": torch.arange(B) < 2}
    groups["confidently wrong"] = (torch.arange(B) >= 2) & (torch.arange(B) < 4)
    groups["empty"] = torch.zeros(B, dtype=torch.bool)
    att = lambda mod, xx, yy, m: 0.01 * m * torch.ones_like(xx)  # noqa: E731
    out = inf.influence_log_ratios(trained_mlp, x, y, groups, att, [1, 2])
    assert set(out) == {"unconfident", "confidently wrong", "empty"} and np.isnan(out["empty"]).all()
    for j, m in enumerate([1, 2]):
        t = inf.adversarial_term_norm(trained_mlp, x, y, 0.01 * m * torch.ones_like(x))
        for g in ("unconfident", "confidently wrong"):
            ref = float(t[groups[g]].log().mean() - t[groups["typical"]].log().mean())
            assert out[g][j] == pytest.approx(ref, rel=1e-12)
    with pytest.raises(ValueError):
        inf.influence_log_ratios(trained_mlp, x, y, {"a": groups["unconfident"]}, att, [1])


def test_training_shares_clean_attacked_and_groups_at_the_attacked_point(trained_mlp, digits64):
    from advnotes.attacks import gradient_ascent

    x, y = digits64.x_test[:60], digits64.y_test[:60]
    att = lambda mod, xx, yy: gradient_ascent(mod, xx, yy, step_size=0.5, steps=2)  # noqa: E731
    out, old = inf.training_shares(trained_mlp, x, y, attack=att), inf.shares_now(trained_mlp, x, y, attack=att)
    assert out["clean"] == old["clean"] and out["attacked"] == old["attacked"] and out["n"] == old["n"]
    delta = att(trained_mlp, x, y)
    with torch.no_grad():
        grp = inf.confidence_groups(torch.softmax(trained_mlp(x + delta), 1), y)
    grp.pop("typical")
    assert out["attacked, groups at x+delta"] == inf.gradient_shares(trained_mlp, x, y, grp, delta=delta)
    assert out["n at x+delta"] == {k: int(v.sum()) for k, v in grp.items()}
    none = inf.training_shares(trained_mlp, x, y, attack=lambda mod, xx, yy: torch.zeros_like(xx))
    assert none["attacked, groups at x+delta"] == pytest.approx(none["clean"], abs=1e-12)
    plain = inf.training_shares(trained_mlp, x, y)
    assert plain["attacked"] is None and plain["n at x+delta"] is None and plain["log r"]["attacked"] is None
    # log r: geometric-mean |grad_theta L_i| of the unconfident decile over the typical one, by a plain loop
    with torch.no_grad():
        g0 = inf.confidence_groups(torch.softmax(trained_mlp(x), 1), y)
    params = list(trained_mlp.parameters())

    def loop_log_r(inp):
        norms = []
        for i in range(len(y)):
            loss = torch.nn.functional.cross_entropy(trained_mlp(inp[i : i + 1]), y[i : i + 1])
            norms.append(torch.cat([t.reshape(-1) for t in torch.autograd.grad(loss, params)]).norm())
        logs = torch.stack(norms).log()
        return float(logs[g0["unconfident"]].mean() - logs[g0["typical"]].mean())

    assert out["log r"]["clean"] == pytest.approx(loop_log_r(x), rel=1e-9)
    assert out["log r"]["attacked"] == pytest.approx(loop_log_r(x + delta), rel=1e-9)
    assert out["log r"]["attacked"] != pytest.approx(out["log r"]["clean"], rel=1e-3)  # the attack moves it
    assert none["log r"]["attacked"] == pytest.approx(none["log r"]["clean"], rel=1e-12)


def test_checkpoints_trained_from_scratch_are_prefixes_of_one_run(digits64):
    """Chapter 3 trains each checkpoint from scratch: the run of k steps must be the first k steps of a longer one."""
    from advnotes import threat
    from advnotes.models import mlp
    from advnotes.training import train_ensemble

    def make(s):
        torch.manual_seed(s)
        return mlp(digits64.num_features, (16,), digits64.num_classes).double()

    x, y = digits64.x_train[:200], digits64.y_train[:200]
    fit = dict(lr=0.1, batch_size=32, momentum=0.9, attack=threat.training_attack("fgsm"))
    short, _ = train_ensemble(make, x, y, seeds=[0, 1], steps=5, **fit)
    long, logs = train_ensemble(make, x, y, seeds=[0, 1], steps=6, record_updates=True, **fit)
    for a, b, log in zip(short, long, logs):
        flat = lambda m: torch.cat([p.detach().reshape(-1) for p in m.parameters()])  # noqa: E731
        assert _rel(flat(b) - log.updates[-1], flat(a)) < 1e-12
