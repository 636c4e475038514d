"""The threat model: projected attacks stay in the ball and the box; restarts can only lower robust accuracy."""

from __future__ import annotations

import pytest
import torch

from advnotes import threat
from advnotes.attacks import fgsm, gradient_ascent, pgd_linf


def test_training_attacks_respect_ball_and_box(trained_mlp, digits64):
    x, y = digits64.x_test[:64], digits64.y_test[:64]
    torch.manual_seed(0)
    for kind, kw in [("pgd", {}), ("ascent", {"step_size": 5.0}), ("fgsm", {})]:
        delta = threat.training_attack(kind, eps=0.1, **kw)(trained_mlp, x, y)
        assert float(delta.abs().max()) <= 0.1 + 1e-12, kind
        assert float((x + delta).min()) >= -1e-12 and float((x + delta).max()) <= 1 + 1e-12, kind
        assert float(delta.abs().max()) > 0.05, kind  # the attack moved
    with pytest.raises(ValueError, match="step_size"):
        threat.training_attack("ascent")
    with pytest.raises(ValueError, match="kind"):
        threat.training_attack("cw")


def test_unprojected_gradient_ascent_is_unchanged_by_the_new_options(trained_mlp, digits64):
    x, y = digits64.x_test[:16], digits64.y_test[:16]
    free = gradient_ascent(trained_mlp, x, y, step_size=0.5, steps=3)
    manual = torch.zeros_like(x)
    for _ in range(3):
        d = manual.clone().requires_grad_(True)
        loss = torch.nn.functional.cross_entropy(trained_mlp(x + d), y, reduction="sum")
        manual = manual + 0.5 * torch.autograd.grad(loss, d)[0]
    assert torch.allclose(free, manual, rtol=1e-12, atol=1e-14)
    big = gradient_ascent(trained_mlp, x, y, step_size=50.0, steps=3, eps=0.05)
    assert float(big.abs().max()) == pytest.approx(0.05)


def test_fgsm_is_one_signed_step(trained_mlp, digits64):
    x, y = digits64.x_test[:16], digits64.y_test[:16]
    d = fgsm(trained_mlp, x, y, eps=0.1)
    ref = pgd_linf(trained_mlp, x, y, eps=0.1, step_size=0.1, steps=1)
    assert torch.equal(d, ref) and set(d.abs().unique().tolist()) <= {0.0, 0.1}


def test_robust_accuracy_restarts_only_lower_it(trained_mlp, digits64):
    x, y = digits64.x_test[:200], digits64.y_test[:200]
    clean = float((trained_mlp(x).argmax(1) == y).double().mean())
    one = threat.robust_accuracy(trained_mlp, x, y, eps=0.1, restarts=1)
    five = threat.robust_accuracy(trained_mlp, x, y, eps=0.1, restarts=5)
    assert five <= one <= clean and one < clean
    assert threat.robust_accuracy(trained_mlp, x, y, eps=0.1, restarts=5) == five  # seeded
    assert "[0, 1]" in threat.STATEMENT and f"from {threat.EVAL_RESTARTS} starts" in threat.STATEMENT
