"""config (profile, device, seeding) and data (digits, Gaussian mixtures, on-disk data)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from advnotes import config
from advnotes.data import gaussian_mixture, load_digits, load_npz


def test_profile_defaults_to_quick(monkeypatch):
    monkeypatch.delenv(config.PROFILE_ENV, raising=False)
    assert config.get_profile() == "quick"
    assert config.pick(quick=1, full=2) == 1


def test_full_profile_from_environment(monkeypatch):
    monkeypatch.setenv(config.PROFILE_ENV, " FULL ")
    assert config.get_profile() == "full"
    assert config.pick(quick=1, full=2) == 2


def test_unknown_profile_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(config.PROFILE_ENV, "fast")
    with pytest.raises(ValueError, match="not a known profile"):
        config.get_profile()


def test_device_is_cpu_without_cuda():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert config.get_device().type == expected
    assert config.get_device("cpu").type == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="only meaningful without CUDA")
def test_requesting_missing_cuda_fails_clearly():
    with pytest.raises(RuntimeError, match="CUDA was requested"):
        config.get_device("cuda")


def test_seeding_makes_draws_repeat():
    config.seed_everything(3)
    a = (torch.randn(3), np.random.rand(3))
    config.seed_everything(3)
    b = (torch.randn(3), np.random.rand(3))
    assert torch.equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    with pytest.raises(ValueError, match="non-negative integer"):
        config.seed_everything(-1)


def test_setup_limits_threads_in_quick_profile(monkeypatch):
    monkeypatch.delenv(config.PROFILE_ENV, raising=False)
    before = torch.get_num_threads()
    try:
        env = config.setup(seed=1, device="cpu")
        assert torch.get_num_threads() == 1
        assert str(env) == "profile: quick | device: cpu | seed: 1"
        with pytest.raises(ValueError, match="threads"):
            config.setup(seed=1, device="cpu", threads=0)
    finally:
        torch.set_num_threads(before)


def test_digits_come_in_pixel_units():
    s = load_digits(dtype="float64")
    from sklearn.datasets import load_digits as raw

    levels = torch.unique(torch.cat([s.x_train, s.x_test]) * 16)
    assert float(levels.min()) == 0.0 and float(levels.max()) == 16.0
    assert torch.equal(levels, levels.round())  # grey levels 0..16, divided by 16 exactly
    assert len(s.x_train) + len(s.x_test) == len(raw().data)
    with pytest.raises(ValueError, match="scale"):
        load_digits(scale="minmax")


def test_digits_split_is_standardised_and_disjoint():
    s = load_digits(dtype="float64", scale="standard")
    assert s.x_train.shape[1:] == (64,) and s.num_classes == 10
    assert len(s.x_train) + len(s.x_test) == 1797
    assert s.x_train.dtype == torch.float64 and s.y_train.dtype == torch.long
    assert torch.allclose(s.x_train.mean(0), torch.zeros(64, dtype=torch.float64), atol=1e-12)
    std = s.x_train.std(0, unbiased=False)
    assert torch.all((std - 1).abs() < 1e-12) or torch.all(((std - 1).abs() < 1e-12) | (std == 0))
    assert torch.isfinite(s.x_test).all()
    img = load_digits(image=True)
    assert img.x_train.shape[1:] == (1, 8, 8) and img.x_train.dtype == torch.float32
    assert img.input_shape == (1, 8, 8) and img.num_features == 64


def test_digits_split_is_seeded():
    a, b, c = load_digits(seed=1), load_digits(seed=1), load_digits(seed=2)
    assert torch.equal(a.x_train, b.x_train) and not torch.equal(a.y_test, c.y_test)


def test_gaussian_mixture_separation_controls_difficulty():
    easy = gaussian_mixture(600, dim=2, classes=3, separation=8.0, seed=0)
    hard = gaussian_mixture(600, dim=2, classes=3, separation=0.0, seed=0)
    assert easy.x_train.shape[1] == 2 and easy.num_classes == 3
    assert set(easy.y_train.tolist()) == {0, 1, 2}

    def centroid_accuracy(split):
        means = torch.stack([split.x_train[split.y_train == k].mean(0) for k in range(3)])
        pred = torch.cdist(split.x_test, means).argmin(1)
        return float((pred == split.y_test).float().mean())

    assert centroid_accuracy(easy) > 0.95 > centroid_accuracy(hard) + 0.3


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n": 3, "classes": 3}, "too small"),
        ({"classes": 1}, "classes >= 2"),
        ({"separation": float("nan")}, "separation"),
        ({"test_size": 1.5}, "test_size"),
        ({"dtype": "int8"}, "dtype"),
    ],
)
def test_gaussian_mixture_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        gaussian_mixture(**kwargs)


def test_missing_data_file_is_a_clear_error_not_a_download(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not download"):
        load_npz(tmp_path / "mnist.npz", download_url="https://example.org/mnist.npz")


def test_npz_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "d.npz"
    np.savez(path, x=rng.standard_normal((40, 1, 4, 4)), y=np.arange(40) % 4)
    s = load_npz(path)
    assert s.x_train.shape[1:] == (1, 4, 4) and s.num_classes == 4
    np.savez(tmp_path / "bad.npz", inputs=np.zeros(3))
    with pytest.raises(ValueError, match="'x' and 'y'"):
        load_npz(tmp_path / "bad.npz")
