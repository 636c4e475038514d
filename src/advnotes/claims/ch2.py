"""Claims of chapter 2 (Result 1: the multi-step attack strengthens a few top Hessian eigenvectors).

One check function per claim: each takes the numbers the chapter measured and
returns a :class:`advnotes.claims.Claim` whose outcome follows from a stated
criterion. The chapter's verdict cell and the scorecard call the same functions.
"""

from __future__ import annotations

import math

from . import HOLDS, NOT_REPRODUCED, REGIME, Claim, roundoff

#: float64 round-off on these small problems is ~1e-15; 1e-10 leaves room for
#: conditioning (the closed form's factors reach ~1e3 on the test grids) while
#: staying far below any modelling error.
ROUNDOFF = 1e-10
#: The analytic perturbation "tracks" the attack while its median relative error is
#: at most 10% and has "failed" once it exceeds 50% (then it is no longer even a
#: rough description of the attack's size).
TRACK_TOL = 0.1
FAIL_TOL = 0.5
#: Two breakdown points count as "the same" within a factor of 3 in s: the map's
#: bins are half a decade (a factor 3.16) wide.
SAME_S_FACTOR = 3.0
#: "Concentrated" means a majority of the energy on the top 3 of the n = 64 directions.
MAJORITY = 0.5


def closed_form_exact(*, max_rel_error: float) -> Claim:
    """Thm ``thm-ch2-closed-form``: delta_m = sum_i c_i(m) gamma_i v_i solves the recurrence exactly."""
    return Claim(
        key="ch2-closed-form",
        chapter=2,
        statement="On a quadratic loss, m gradient-ascent steps give delta_m = sum_i ((1+a l_i)^m - 1)/l_i g_i v_i",
        statistic="max relative error, closed form vs the iterated recurrence (float64)",
        value=roundoff(max_rel_error),
        criterion=f"< {ROUNDOFF:.0e}",
        outcome=HOLDS if max_rel_error < ROUNDOFF else NOT_REPRODUCED,
    )


def first_step(*, max_rel_error: float, tolerance: float) -> Claim:
    """For m = 1 the analytic perturbation is alpha g, exactly the real attack's first step."""
    return Claim(
        key="ch2-first-step",
        chapter=2,
        statement="For m = 1 the analytic perturbation equals the real attack's",
        statistic="max relative error over the test inputs (float64)",
        value=roundoff(max_rel_error),
        criterion=f"< {tolerance:.0e} (round-off of p - e_y at the most confident input)",
        outcome=HOLDS if max_rel_error < tolerance else NOT_REPRODUCED,
    )


def flow_limit(*, errors: list[float], step_sizes: list[float]) -> Claim:
    """``eq-ch2-flow``: the discrete closed form tends to the flow as alpha -> 0 with t = m alpha fixed (order 1)."""
    if len(errors) < 2 or len(errors) != len(step_sizes):
        raise ValueError("need at least two (step_size, error) pairs of one length.")
    orders = [
        math.log(errors[i] / errors[i + 1]) / math.log(step_sizes[i] / step_sizes[i + 1])
        for i in range(len(errors) - 1)
    ]
    ok = all(0.8 < q < 1.2 for q in orders) and errors[-1] < errors[0]
    return Claim(
        key="ch2-flow-limit",
        chapter=2,
        statement="As alpha -> 0 with t = m alpha fixed, delta_m tends to the flow's (e^{l t} - 1)/l g",
        statistic="observed convergence orders between successive step sizes",
        value=", ".join(f"{q:.2f}" for q in orders),
        criterion="every order in (0.8, 1.2): first-order convergence",
        outcome=HOLDS if ok else NOT_REPRODUCED,
    )


def strengthening_bound(*, max_ratio: float) -> Claim:
    """Prop ``prop-ch2-bound``: the top component gains at most e^s over any other, s = alpha m lambda_max."""
    return Claim(
        key="ch2-strengthening-bound",
        chapter=2,
        statement="The top eigen-direction's gain over any other is at most e^s, s = alpha m lambda_max",
        statistic="max over inputs and grid of (c_1/c_i) / e^s",
        value=f"{max_ratio:.3f}",
        criterion="<= 1 (+1e-12)",
        outcome=HOLDS if max_ratio <= 1 + 1e-12 else NOT_REPRODUCED,
    )


def tracks_real_attack(*, s_track: float, s_fail: float, s_min: float) -> Claim:
    """The analytic delta_m tracks the real attack for small s and fails beyond; the regime is measured."""
    if s_track <= s_min:
        outcome, regime = NOT_REPRODUCED, ""
    elif math.isinf(s_fail):
        outcome, regime = HOLDS, ""
    else:
        outcome, regime = REGIME, f"s = alpha m lambda_max < {s_track:.2g}; fails beyond s = {s_fail:.2g}"
    return Claim(
        key="ch2-tracks-attack",
        chapter=2,
        statement="The analytic delta_m describes the real multi-step attack",
        statistic=f"s where the median relative error first exceeds {TRACK_TOL:g} / {FAIL_TOL:g}",
        value=f"{s_track:.2g} / {s_fail:.2g}",
        criterion=f"median relative error <= {TRACK_TOL:g} (tracks), > {FAIL_TOL:g} (fails)",
        outcome=outcome,
        regime=regime,
    )


def saturation_not_gates(*, s_fail_real: float, s_fail_frozen: float, flips_at_fail: float) -> Claim:
    """The breakdown comes from softmax saturation: the frozen-gate attack fails at about the same s."""
    ratio = s_fail_frozen / s_fail_real if math.isfinite(s_fail_real) else math.inf
    ok = math.isfinite(s_fail_frozen) and ratio <= SAME_S_FACTOR
    return Claim(
        key="ch2-saturation",
        chapter=2,
        statement="The analytic delta_m fails because the softmax saturates, not because ReLU gates flip",
        statistic="s at failure: gates frozen / real attack (flipped gates at the real failure)",
        value=f"{s_fail_frozen:.2g} / {s_fail_real:.2g} = x{ratio:.2f} ({flips_at_fail:.0%} of gates flipped)",
        criterion=f"frozen-gate attack fails within a factor {SAME_S_FACTOR:g} of the real one",
        outcome=HOLDS if ok else NOT_REPRODUCED,
    )


def two_logit_exact(*, errors: list[float], step_sizes: list[float]) -> Claim:
    """``eq-ch2-lambert``: the Lambert-W margin flow is the small-step limit of the frozen-gate attack."""
    order = math.log(errors[0] / errors[-1]) / math.log(step_sizes[0] / step_sizes[-1])
    ok = errors[-1] < 1e-2 and 0.8 < order < 1.2
    return Claim(
        key="ch2-lambert-flow",
        chapter=2,
        statement="For two logits with frozen gates the attack's margin follows the exact Lambert-W flow",
        statistic="max relative margin-change error at the smallest step size; convergence order",
        value=f"{errors[-1]:.1e}; {order:.2f}",
        criterion="< 1e-2 and order in (0.8, 1.2)",
        outcome=HOLDS if ok else NOT_REPRODUCED,
    )


def growth_turns_linear(*, final_speed_ratio: float, quadratic_speed_ratio: float) -> Claim:
    """Past saturation the exact margin moves at the constant speed k = |w|^2; the quadratic model accelerates."""
    ok = abs(final_speed_ratio - 1) < 0.05 and quadratic_speed_ratio > 10
    return Claim(
        key="ch2-linear-growth",
        chapter=2,
        statement="Once the softmax saturates the attack's growth turns from exponential to linear",
        statistic="margin speed / k at the end: exact flow, quadratic model",
        value=f"{final_speed_ratio:.3f}, {quadratic_speed_ratio:.3g}",
        criterion="exact within 5% of 1 while the quadratic model's exceeds 10",
        outcome=HOLDS if ok else NOT_REPRODUCED,
    )


def analytic_concentrates(*, top1_by_m: list[float]) -> Claim:
    """The analytic delta_m puts a growing share of its energy on the top eigenvector as m grows."""
    monotone = all(b >= a - 1e-12 for a, b in zip(top1_by_m, top1_by_m[1:], strict=False))
    shrink = (1 - top1_by_m[-1]) / max(1 - top1_by_m[0], 1e-300)
    ok = monotone and shrink < 0.5
    return Claim(
        key="ch2-analytic-energy",
        chapter=2,
        statement="The analytic delta_m concentrates on the top eigenvector as m grows",
        statistic="median top-1 energy share, first m -> last m (off-top share ratio)",
        value=f"{top1_by_m[0]:.3f} -> {top1_by_m[-1]:.3f} (x{shrink:.2f})",
        criterion="non-decreasing in m and the off-top share at least halved",
        outcome=HOLDS if ok else NOT_REPRODUCED,
    )


def real_concentrates(
    *, offtop_ratio_small_s: float, offtop_ratio_large_s: float, s_split: float, closed_form_small_s: float
) -> Claim:
    """The real attack's off-top energy share, relative to the gradient's, shrinks as m grows (Result 1)."""
    small_ok, large_ok = offtop_ratio_small_s < 1, offtop_ratio_large_s < 1
    if small_ok and large_ok:
        outcome, regime = HOLDS, ""
    elif small_ok:
        outcome, regime = REGIME, f"s <= {s_split:g}, where the gain is at most e^s; lost beyond"
    else:
        outcome, regime = NOT_REPRODUCED, ""
    return Claim(
        key="ch2-real-energy",
        chapter=2,
        statement="The real attack concentrates on the clean H's top eigenvector more than the gradient does",
        statistic=f"median off-top energy share of delta_m / that of g, s <= {s_split:g} / s > {s_split:g}",
        value=f"{offtop_ratio_small_s:.2f} (closed form {closed_form_small_s:.2f}) / {offtop_ratio_large_s:.2f}",
        criterion="< 1 means more concentrated than g",
        outcome=outcome,
        regime=regime,
    )


def projected_concentrates(*, name: str, eps: list[float], top3: list[float], random_top3: float) -> Claim:
    """A projected attack (PGD) keeps a majority of its energy on the top 3 eigenvectors, per budget eps."""
    ok = [e for e, v in zip(eps, top3, strict=True) if v > MAJORITY]
    if len(ok) == len(eps):
        outcome, regime = HOLDS, ""
    elif ok and ok == list(eps[: len(ok)]):
        outcome, regime = REGIME, f"eps <= {ok[-1]:g}"
    else:
        outcome, regime = NOT_REPRODUCED, ""
    return Claim(
        key=f"ch2-{name.lower().replace(' ', '-')}-energy",
        chapter=2,
        statement=f"{name} perturbations concentrate on the top 3 eigenvectors",
        statistic="median top-3 energy share per eps (random direction)",
        value=", ".join(f"{v:.2f}" for v in top3) + f" ({random_top3:.2f})",
        criterion=f"> {MAJORITY:g} at every eps",
        outcome=outcome,
        regime=regime,
    )


def summary(claims: list[Claim], *, s_track: float, s_fail: float, flips_at_fail: float, gradient_top1: float) -> str:
    """The chapter's verdict in words, assembled from the claims' outcomes and the measured regime."""
    by_key = {c.key: c for c in claims}

    def outcome(key: str) -> str:
        return by_key[key].outcome if key in by_key else "not measured"

    exact = [k for k in ("ch2-closed-form", "ch2-first-step", "ch2-flow-limit") if outcome(k) == HOLDS]
    lines = [
        f"Mathematics: {len(exact)} of 3 exactness checks hold (closed form, first step, flow limit).",
        f"Where Result 1 holds: for s = alpha m lambda_max below about {s_track:.2g} the closed form "
        "describes the real attack (error under 10%).",
        f"Where it does not: past s = {s_fail:.2g} the closed form is off by more than 50% and then grows like e^s, "
        "while the attack grows linearly.",
    ]
    if outcome("ch2-saturation") == HOLDS:
        lines.append(
            "Why: the softmax saturates. The attack with its gates frozen breaks at about the same s, although "
            f"{flips_at_fail:.0%} of the gates of the real attack had flipped there: flips turn the direction, "
            "saturation limits the size."
        )
    else:
        lines.append("Why: the frozen-gate attack does not break at the same s, so gate flips are a main cause.")
    real = outcome("ch2-real-energy")
    lines.append(
        f"Concentration: the gradient already has {gradient_top1:.0%} of its energy on the top eigenvector; "
        + (
            "the real attack adds to it only while s <= 1 and loses it beyond."
            if real == REGIME
            else "the real attack adds to it at every s."
            if real == HOLDS
            else "the real attack does not add to it."
        )
    )
    return "\n".join(lines)
