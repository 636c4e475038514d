"""Bad input never passes silently: chapter 5's claims module and pipelines (the machinery of
``test_bad_input.py``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_bad_input import A, E, T, assert_refused, case, lazy

import advnotes.chapters.ch5  # noqa: F401  (resolve() walks the attribute)
import advnotes.claims.ch5  # noqa: F401


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)).double()


def _data():
    g = torch.Generator().manual_seed(0)
    return torch.rand(12, 4, generator=g, dtype=torch.float64), torch.arange(12) % 3


def _record():
    from advnotes.claims import ch5

    return [ch5.NO_COLLAPSE_UNDER_PGD.measure([0.0] * 5)]


CASES = [
    # ------------------------------------------------------------------ claims.ch5 (moved from phase2)
    case("claims.ch5.log_median_ratio", A(["a"], [1.0]), T, "values_a must be numbers"),
    case("claims.ch5.log_median_ratio", A([1.0], [0.0]), E, "must be positive to take a log ratio"),
    case("claims.ch5.log_median_ratio", A([-1.0], [1.0]), E, "finite non-negative numbers"),
    case("claims.ch5.summed_gradient_share", A([1.0], "ab"), T, "total must be numbers"),
    case("claims.ch5.summed_gradient_share", A([1.0], [1.0, 2.0]), E, "one length"),
    case("claims.ch5.summed_gradient_share", A([1.0], [0.0]), E, "zero or not finite"),
    case("claims.ch5.co_qualifies", A([0.5], "high"), E, "final_clean must be a real number"),
    case("claims.ch5.co_qualifies", A([0.5], 1.5), E, "final_clean must be an accuracy"),
    case("claims.ch5.co_qualifies", A([1.5], 0.9), E, r"accuracies in \[0, 1\]"),
    case("claims.ch5.collapse_fraction", A([1.5]), E, r"accuracies in \[0, 1\]"),
    case("claims.ch5.collapse_fraction", A("x"), T, "pgd_curve must be numbers"),
    case("claims.ch5.log_ratio", A([1.0], [1.0], stat="mode"), E, "stat must be 'median' or 'mean'"),
    case("claims.ch5.log_ratio", A([1.0], [0.0]), E, "must be positive to take a log ratio"),
    case("claims.ch5.log_ratio", A(["a"], [1.0]), T, "values_a must be numbers"),
    case("claims.ch5.split_counts", A("records"), T, "records must be a list"),
    case("claims.ch5.split_counts", A([1, 2]), T, "records must hold Identity/Claim records"),
    case("claims.ch5.split_counts", lazy(lambda: ((_record(),), {"setting": "cifar"})), E, "unknown setting"),
    case("claims.ch5.relative_reduction", A("0.1", 0.05), E, "error_small must be a real number"),
    case("claims.ch5.relative_reduction", A(0.0, 0.0), E, "no error to reduce"),
    case("claims.ch5.relative_reduction", A(0.1, 2.0), E, "error_full must be an error rate"),
    case("claims.ch5.early_stopping_gain", A(["a"], [1.0]), T, "val_curve must be numbers"),
    case("claims.ch5.early_stopping_gain", A([1.0, 2.0], [1.0]), E, "one non-zero length"),
    case("claims.ch5.summary", A("records"), T, "records must be a list"),
    case("claims.ch5.counts_line", A("counts"), T, "counts must be the dict that split_counts returns"),
    case("claims.ch5.counts_line", A({"identities": 1}), T, "counts must be the dict that split_counts returns"),
    case("claims.ch5.scorecard_evidence", A("x", profile="fast"), E, "profile must be None, 'quick' or 'full'"),
    case("claims.ch5.scorecard_evidence", A("x", profile="quick", chapters=(5,)), T, "chapters must be chapter"),
    # ------------------------------------------------------------------ claims.ch5: the scorecard by setting
    case("claims.ch5.setting_outcomes", A("records"), T, "records must be a list"),
    case("claims.ch5.setting_differences", lazy(lambda: ((_record(), ("digits-mlp",)), {})), E, "two or more"),
    case("claims.ch5.setting_differences", lazy(lambda: ((_record(), ("digits", "x")), {})), E, "two or more"),
    case("claims.ch5.scorecard_text", A([1]), T, "records must hold Identity/Claim records"),
    case("claims.ch5.scorecard_text", lazy(lambda: ((_record(),), {"full": "x"})), T, "full must be a list"),
    case("claims.ch5.scorecard_text", A([]), E, "no claim records to tabulate"),
    case("claims.ch5.setting_counts", A({"a": 1}), T, "records must be a list"),
    # ------------------------------------------------------------------ chapters.ch5
    case("chapters.ch5.mean_sd", A([1.0]), E, "at least two finite numbers"),
    case("chapters.ch5.mean_sd", A([1.0, float("nan")]), E, "at least two finite numbers"),
    case(
        "chapters.ch5.train_rounds",
        lazy(lambda: ((None, *_data()), dict(seeds=[0, 1], recipe={"lr": 0.1}, rounds=1, steps=1, start=[_net()]))),
        E,
        "start must hold one model per seed",
    ),
    case(
        "chapters.ch5.train_rounds",
        lazy(lambda: ((None, *_data()), dict(seeds=[0], recipe={"lr": 0.1}, rounds=0, steps=1))),
        E,
        "rounds",
    ),
    case(
        "chapters.ch5.clean_and_robust",
        lazy(lambda: (([_net(), _net()], *_data()), dict(seeds=[0]))),
        E,
        "one seed per model",
    ),
    case("chapters.ch5.input_curvature", lazy(lambda: ((_net(), *_data()), dict(eps=-0.1))), E, "eps"),
    case("chapters.ch5.curvature_rows", A({"standard": []}), E, "at least two finite numbers"),
    case(
        "chapters.ch5.curvature_log_ratios", A([{"lam": torch.ones(3)}], [{"lam": -torch.ones(3)}]), E, "non-negative"
    ),
    case("chapters.ch5.decile_share", lazy(lambda: ((_net(), *_data()), dict(fraction=1.5))), E, "fraction"),
    case("chapters.ch5.log_r", lazy(lambda: ((_net(), *_data()), dict(fraction=0.0))), E, "fraction"),
    case("chapters.ch5.clean_shares", lazy(lambda: (([_net()], torch.rand(5, 3), torch.zeros(5).long()), {})), E, "4"),
    case("chapters.ch5.share_study", lazy(lambda: (([_net()], *_data(), ["pgd"]), dict(eps=0.1))), T, "dict"),
    case("chapters.ch5.share_route_error", lazy(lambda: ((_net(), *_data(), []), {})), E, "at least one attack"),
    case("chapters.ch5.collapse_probe", lazy(lambda: (_data(), dict(seeds=[0], eps=0.0))), E, "eps"),
    case("chapters.ch5.collapse_study", A({"fgsm": np.zeros((4, 2, 5))}), E, r"shape \(checkpoints, 3"),
    case("chapters.ch5.collapse_study", A([]), T, "curves must be a non-empty dict"),
    case("chapters.ch5.overfitting_study", A({"a": np.zeros((4, 3))}), E, r"shape \(checkpoints, 3"),
    case(
        "chapters.ch5.second_setting",
        lazy(lambda: ((None,), dict(seeds=[0], pgd_steps=0, n_curvature=1, n_share=1))),
        E,
        "pgd_steps",
    ),
    case("chapters.ch5.difference_text", lazy(lambda: ((_record(), {"claim": "nope"}), {})), E, "no claim records"),
]

EXEMPT = {
    "chapters.ch5.checkpoint_probe": "builds a closure; its parts and evaluate are checked by the functions it calls",
    "chapters.ch5.share_rows": "formats the output of share_study (checked there) as table rows",
    "chapters.ch5.subset_training_errors": "calls accuracy and threat.robust_accuracy, whose cases cover the models",
    "chapters.ch5.data_study": "its numbers go through claims.ch5.relative_reduction, whose cases cover them",
    "chapters.ch5.data_rows": "formats the output of data_study as table rows (mean_sd checks each column)",
}


@pytest.mark.parametrize("fn,build,error,match,env", CASES)
def test_bad_input_is_refused(fn, build, error, match, env, monkeypatch):
    assert_refused(fn, build, error, match, env, monkeypatch)
