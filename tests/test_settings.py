"""The two settings (issue 11): named once, offline, of the sizes and budgets the docstring states."""

from __future__ import annotations

import pytest
import torch

from advnotes import settings, threat
from advnotes.claims import SETTINGS as CLAIM_SETTINGS
from advnotes.models import check_piecewise_linear


def test_names_are_the_claim_settings():
    assert set(settings.NAMES) <= set(CLAIM_SETTINGS)
    assert [settings.get(n).name for n in settings.NAMES] == list(settings.NAMES)


@pytest.mark.parametrize("name", settings.NAMES)
def test_model_fits_the_data_and_is_piecewise_linear(name):
    s = settings.get(name)
    split = s.load()
    model = s.make_model(0)
    z = model(split.x_test[:7])
    assert z.shape == (7, split.num_classes) and z.dtype == torch.float64
    check_piecewise_linear(model)
    again = s.make_model(0)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), again.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(model.parameters(), s.make_model(1).parameters()))


def test_budgets_and_boxes():
    d, m = settings.get("digits-mlp"), settings.get("mnist1d-cnn")
    assert (d.eps, d.clamp, d.eps_sweep) == (threat.EPS, threat.BOX, threat.EPS_SWEEP)
    assert m.clamp is None and m.eps == threat.MNIST1D_EPS
    # the MNIST-1D budget keeps the digits' budget relative to the data's pooled spread
    ratio = d.eps / float(d.load().x_train.std())
    assert m.eps / float(m.load().x_train.std()) == pytest.approx(ratio, rel=0.1)
    assert m.eps_sweep == tuple(f * m.eps for f in (0.5, 1, 2, 3))


def test_attack_respects_the_setting_box():
    torch.manual_seed(0)
    m = settings.get("mnist1d-cnn")
    split = m.load()
    model = m.make_model(0)
    x, y = split.x_test[:16], split.y_test[:16]
    delta = m.attack("pgd")(model, x, y)
    assert float(delta.abs().max()) <= m.eps + 1e-12
    # no box: the perturbed signal leaves [0, 1]; under the digits box it would be clipped
    assert float((x + delta).min()) < 0.0
    d = settings.get("digits-mlp")
    dsplit = d.load()
    dmodel = d.make_model(0)
    xd = dsplit.x_test[:16]
    pert = xd + d.attack("pgd")(dmodel, xd, dsplit.y_test[:16])
    assert float(pert.min()) >= 0.0 and float(pert.max()) <= 1.0


def test_recipe_follows_the_profile(monkeypatch):
    s = settings.get("mnist1d-cnn")
    quick, size = s.recipe, sum(p.numel() for p in s.make_model(0).parameters())
    monkeypatch.setenv("ADVNOTES_PROFILE", "full")
    assert s.recipe["steps"] > quick["steps"]
    assert sum(p.numel() for p in s.make_model(0).parameters()) > 2 * size


def test_unknown_setting_is_refused():
    with pytest.raises(ValueError, match="unknown setting 'digits'.*digits-mlp"):
        settings.get("digits")


def test_bad_clamp_is_refused():
    with pytest.raises(ValueError, match="clamp must satisfy low < high"):
        threat.training_attack("pgd", clamp=(1.0, 0.0))
