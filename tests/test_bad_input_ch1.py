"""Bad input never passes silently: chapter 1's claims (advnotes.claims.ch1) and pipelines (advnotes.chapters.ch1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_bad_input import A, E, T, assert_refused, case, lazy
from torch import nn

import advnotes.chapters.ch1  # noqa: F401  (resolve() walks the attribute)
from advnotes.claims import ch1  # noqa: F401


def _net():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv1d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool1d(2), nn.Flatten(), nn.Linear(4, 3)
    ).double()


def _x(n=2):
    return torch.randn(n, 1, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))


def _y(n=2):
    return torch.zeros(n, dtype=torch.long)


def _evidence():
    from advnotes.claims import Evidence

    return Evidence(chapter=1)


P = "chapters.ch1."

CASES = [
    # --- advnotes.claims.ch1 (moved from test_bad_input_phase2.py)
    case("claims.ch1.declared", A("CURVATURE_VS_PY"), T, "spec must be a ClaimSpec"),
    case("claims.ch1.confidence_groups", A([[0.5, 0.5]], [0.5]), E, "integer class labels"),
    case("claims.ch1.confidence_groups", A([[0.5, 0.5]], [2]), E, r"labels in \[0, 1\]"),
    case("claims.ch1.confidence_groups", A([["a", "b"]], [0]), T, "p must be numbers"),
    case("claims.ch1.confidence_groups", A([[0.5, 0.5]], [0], level=1.0), E, r"level must lie in \(0, 1\)"),
    case("claims.ch1.confidence_groups", A([0.5, 0.5], [0, 1]), E, r"p must be \(B, C\) and y \(B,\)"),
    case("claims.ch1.curvature_statistics", A([1.0], [[0.5, 0.5]], [3]), E, r"labels in \[0, 1\]"),
    case("claims.ch1.curvature_statistics", A([1.0, 2.0], [[0.5, 0.5]], [0]), E, r"lam_max must be \(B,\)"),
    case("claims.ch1.curvature_statistics", A("1", [[0.5, 0.5]], [0]), T, "lam_max must be numbers"),
    case("claims.ch1.rank_counts", A([1.0, 2.0]), E, r"eigvals must be \(B, k\)"),
    case("claims.ch1.rank_counts", A([[1.0, 2.0]], rtol=-1e-3), E, r"rtol must lie in \[0, 1\)"),
    case("claims.ch1.rank_counts", A([[1.0, float("nan")]]), E, "non-finite"),
    case("claims.ch1.summary", A(["x"]), T, "records must hold"),
    case("claims.ch1.uncertainty", A([0.5, 0.5]), E, r"p must be \(B, C\)"),
    case("claims.ch1.uncertainty", A([["a", "b"]]), T, "p must be numbers"),
    case(
        "claims.ch1.curvature_bound_errors", A([1.0], np.ones((1, 2, 3)), [[0.5, 0.5], [0.5, 0.5]]), E, "need lam_max"
    ),
    case("claims.ch1.curvature_bound_errors", A([float("nan")], np.ones((1, 2, 3)), [[0.5, 0.5]]), E, "non-finite"),
    case("claims.ch1.reference_curvature", A(np.ones((1, 2, 3)), np.ones((1, 2)), np.ones((1, 3)), [2]), E, "labels"),
    case("claims.ch1.reference_curvature", A(np.ones((1, 2, 3)), np.ones((1, 2)), np.ones((1, 4)), [0]), E, "need W"),
    case("claims.ch1.reference_curvature", A("W", np.ones((1, 2)), np.ones((1, 3)), [0]), T, "W must be numbers"),
    case("claims.ch1.matched_log_ratio", A([1.0], [[0.5, 0.5]], [0], k=0), E, "k must be an integer >= 1"),
    case("claims.ch1.matched_log_ratio", A([1.0], [[0.5, 0.5]], [0], level=2.0), E, r"level must lie in \(0, 1\)"),
    case("claims.ch1.matched_log_ratio", A([1.0], [[0.5, 0.5]], [0]), E, "need >= 1 confidently wrong"),
    case("claims.ch1.softmax_top_eigenvalue", A([0.5, 0.5]), E, r"p must be \(B, C\) probabilities"),
    case("claims.ch1.softmax_top_eigenvalue", A([[-0.5, 1.5]]), E, "non-negative"),
    case("claims.ch1.softmax_top_eigenvalue", A([[0.5, float("nan")]]), E, "non-finite"),
    case("claims.ch1.bounds_baseline", A(np.ones((1, 2, 3)), [[0.5, 0.5], [0.5, 0.5]], seed=0), E, "need W"),
    case("claims.ch1.bounds_baseline", A(np.ones((1, 2, 3)), [[0.5, 0.5]], seed=0.5), T, "seed must be an integer"),
    case("claims.ch1.bounds_baseline", A(np.ones((1, 2, 3)), [[0.7, 0.3]], seed=0), E, "lower bound is 0"),
    case("claims.ch1.matched_log_ratio", A([1.0, 2.0], [[0.5, 0.5]], [0]), E, r"lam_max must be \(B,\)"),
    # --- advnotes.chapters.ch1
    case(P + "train_setting", A("digits-mlp", seeds=[0]), T, "setting must be an advnotes.settings.Setting"),
    case(P + "untrained_rows", A("mnist1d-cnn", [0], _x(), _y()), T, "setting must be an advnotes.settings.Setting"),
    case(P + "mnist1d_accuracies", A(["a"], seeds=[0], recipe={}), T, "cnn_accuracy must be numbers"),
    case(
        "linear_regions.choice_pattern",
        lazy(lambda: ((nn.Linear(4, 3).double(), torch.zeros(2, 4, dtype=torch.float64)), {})),
        E,
        "the model has no nn.ReLU modules",
    ),
    case("linear_regions.count_choice_flips", lazy(lambda: ((_net(), _x(2), _x(3)), {})), E, "same shape"),
    case("linear_regions.run_with_hooks", lazy(lambda: (("net", _x(2), []), {})), T, "model must be a torch.nn.Module"),
    case("linear_regions.run_with_hooks", lazy(lambda: ((_net(), _x(2), [print]), {})), T, "hooks must be"),
    case(
        P + "sign_directions",
        lazy(lambda: ((_net(), _x(), _y()), dict(generator=None))),
        T,
        "models must be a non-empty list",
    ),
    case(
        P + "linearity_runs",
        lazy(lambda: (([], [], _x()), dict(signs={}, eps_values=(), generator=None))),
        T,
        "models must be a non-empty list",
    ),
    case(P + "linearity_rows", A([]), T, "runs must be the non-empty dict returned by linearity_runs"),
    case(P + "linearity_error_kept", A({}), T, "runs must be the non-empty dict returned by linearity_runs"),
    case(
        P + "autograd_curvature",
        lazy(lambda: ((_net(), torch.zeros(2, 1, 8, dtype=torch.float64), _y()), {})),
        E,
        "the model expects float64 inputs",
    ),
    case(P + "autograd_curvature", lazy(lambda: ((_net(), _x(), torch.tensor([0, 7])), {})), E, "label"),
    case(P + "dense_spectrum", lazy(lambda: ((_net(), _x(), torch.tensor([0, 7])), {})), E, "label"),
    case(
        P + "distance_to_kink",
        lazy(lambda: ((_net(), torch.zeros(2, 1, 8, dtype=torch.float64)), {})),
        E,
        "the model expects float64 inputs",
    ),
    case(
        P + "closed_form_errors",
        lazy(
            lambda: (
                (_net(), torch.zeros(2, 3, 5, dtype=torch.float64), torch.zeros(2, 3, dtype=torch.float64), _x(), _y()),
                {},
            )
        ),
        E,
        "W and b must be the local map at x",
    ),
    case(
        P + "fifty_digit_errors",
        lazy(lambda: ((_net(), torch.zeros(3, 5, dtype=torch.float64), _x()[0], 0), {})),
        E,
        r"W_i must be the local map \(C, n\)",
    ),
    case(P + "spectra", A([], None, None), T, "models must be a non-empty list"),
    case(P + "spectrum_errors", A([1]), T, "curv must be a non-empty list of Spectrum"),
    case(P + "rank_rows", A([]), T, "curv must be a non-empty list of Spectrum"),
    case(P + "range_shares", A(None, {}), T, "curv must be a non-empty list of Spectrum"),
    case(P + "spectrum_ratios", A("curv"), T, "curv must be a non-empty list of Spectrum"),
    case(P + "top_shares", A([None]), T, "curv must be a non-empty list of Spectrum"),
    case(P + "regime_masks", A([]), T, "curv must be a non-empty list of Spectrum"),
    case(P + "bound_errors", A([], []), T, "curv must be a non-empty list of Spectrum"),
    case(P + "bound_ratio", A([], []), T, "curv must be a non-empty list of Spectrum"),
    case(P + "curvature_stats", A([], _y()), T, "curv must be a non-empty list of Spectrum"),
    case(P + "group_rows", A([], _y()), T, "curv must be a non-empty list of Spectrum"),
    case(P + "baseline_stats", A([], [], _y(), [0]), T, "curv must be a non-empty list of Spectrum"),
    case(P + "variance_ratio", A([]), T, "curv must be a non-empty list of Spectrum"),
    case(P + "plot_curvature_vs_confidence", A([], _y()), T, "curv must be a non-empty list of Spectrum"),
    case(P + "smallest_singular_ratio", A([]), T, r"maps must be a non-empty list of local maps \(W, b\)"),
    case(P + "share_values", A([], [], None), T, "masks must be the non-empty dict returned by regime_masks"),
    case(P + "share_rows", A([], [], [], []), T, "masks must be the non-empty dict returned by regime_masks"),
    case(P + "rho_rows", A({"x": 1}, {"n_all": [1]}), E, "stat must be the dict returned by curvature_stats"),
    case(P + "caption_rows", A({"n_all": [1]}), E, "stat must be the dict returned by curvature_stats"),
    case(P + "wrap", A(3), T, "text must be a string"),
    case(P + "spread_rows", A({}, {}), T, "curvs must be the non-empty dict"),
    case(
        P + "record_claims", A(None, [], _y(), setting="mnist1d-cnn"), T, "evidence must be an advnotes.claims.Evidence"
    ),
    case(P + "measure_or_skip", A(None, None, [1.0] * 5), T, "evidence must be an advnotes.claims.Evidence"),
    case(
        P + "record_identities",
        A([], [], None, setting="mnist1d-cnn", n_check=1, generator=None),
        T,
        "evidence must be an advnotes.claims.Evidence",
    ),
    case(
        P + "record_identities",
        lazy(lambda: ((_evidence(), [_net()], None), dict(setting="mnist", n_check=1, generator=None))),
        E,
        "unknown setting 'mnist'",
    ),
    case(P + "identity_rows", A({"psd": 0.0}), T, "errors must map IdentitySpec"),
    case(P + "outcome_rows", A(["x"]), T, "records must hold"),
    case(P + "differing", A([{"claim": "x"}]), T, "rows must be the list returned by outcome_rows"),
    case(P + "differing_text", A([{"claim": "x"}]), T, "rows must be the list returned by outcome_rows"),
    case(P + "beyond_bounds", A({"n_all": [1]}, {"x": 1}), E, "base must be the dict returned by baseline_stats"),
    case(P + "beyond_bounds", A([], {"n_all": [1]}), T, "stat must be the non-empty dict"),
    case(P + "match_gaps", A([], _y()), T, "curv must be a non-empty list of Spectrum"),
    case(P + "confident_share_rows", A({}), T, "stats must be the non-empty dict"),
    case(P + "confident_share_rows", A({"digits-mlp": {"n_all": [1]}}), E, r"stats\[setting\] must be the dict"),
    case(
        P + "dense_tolerance",
        lazy(lambda: ((_net(), _x(), _y(), torch.zeros(2, 3, 3)), {})),
        E,
        "H_autograd must be autograd's Hessian",
    ),
    case(P + "timed", A(3), T, "fn must be a callable"),
    case(P + "timed", A(lambda: 0, repeats=0), E, "repeats must be an integer >= 1"),
    case(P + "speed_row", lazy(lambda: ((3, _net(), _x(), _y()), {})), T, "name must be a string"),
]

EXEMPT = {
    P + "Spectrum": "a record returned by spectra(), not built by users",
    P + "SettingCheck": "a record returned by record_identities(), not built by users",
}


@pytest.mark.parametrize("fn,build,error,match,env", CASES)
def test_bad_input_is_refused(fn, build, error, match, env, monkeypatch):
    assert_refused(fn, build, error, match, env, monkeypatch)


def test_every_public_name_of_chapter_1_has_a_case():
    import inspect

    from advnotes.chapters import ch1 as pipeline

    names = {
        P + n
        for n, obj in vars(pipeline).items()
        if not n.startswith("_")
        and (inspect.isfunction(obj) or inspect.isclass(obj))
        and obj.__module__ == pipeline.__name__
    }
    covered = {p.values[0] for p in CASES} | set(EXEMPT)
    assert names - covered == set()
    assert np.all([isinstance(p.values[2], type) for p in CASES])
