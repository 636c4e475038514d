"""Claims of chapter 5 (what the three results explain): do the earlier findings occur at this scale?

Every spec is declared here *before* the chapter measures it, with its statistic, its
threshold and the reason for that threshold. The abstract claims that the three results
give "a unified explanation for previous findings" (:data:`UNIFIED`) but names no
finding. The chapter asks the question that comes first: **does each earlier finding
occur at this scale** (8x8 digits, a small ReLU MLP)? Whether Results 1-3 *explain* a
finding is not tested by these records, so every spec here is the book's own
(``paper=""``); its ``reading`` names the earlier finding and says how this book reads it.
Result 2's "exponential manner" (its dependence on the number of steps ``m``) is not
tested either: section 5.3 uses one ``m``.

The pure statistics the chapter computes per seed live here too, so that the tests can
check them against independent oracles:

- :func:`log_ratio` / :func:`log_median_ratio` — curvature after adversarial training (5.2),
- :func:`summed_gradient_share` — a group's share of the summed gradient (5.3, printed as a description),
- :func:`collapse_fraction`, :func:`co_qualifies` — catastrophic overfitting of one run (5.4),
- :func:`relative_reduction` — how much an error falls with more data (5.5),
- :func:`early_stopping_gain` — robust overfitting of one run (5.6),
- :func:`scorecard_evidence` — every chapter's records for the scorecard, strictly (5.9),
- :func:`split_counts` — the scorecard's counts: paper claims, the book's claims and its controls apart (5.9).
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np

from ..stats import to_numpy
from ..tables import table
from ..validation import check_number
from . import (
    GROUP_OUTCOMES,
    HOLDS,
    INCONCLUSIVE,
    NOT_REPRODUCED,
    OUTCOMES,
    REGIME,
    SETTINGS,
    ClaimSpec,
    IdentitySpec,
    check_records,
    committed_evidence,
    evidence_dir,
    load_evidence,
    paper_outcome,
)

#: The abstract's words for the reach of the three results (the paper's only statement of it).
UNIFIED = "our proofs provide a unified explanation for previous findings in understanding adversarial training"
#: The abstract's words for Result 2.
RESULT2 = (
    "adversarial training tends to strengthen the influence of unconfident input samples with large "
    "gradient norms in an exponential manner"
)

#: A single-step run counts in section 5.4 only if its model ends as a good classifier: final
#: clean test accuracy >= 0.8 (a model wrong on clean inputs has nothing to overfit).
CO_MIN_CLEAN = 0.8
#: ... and only if it ever had robustness to lose: peak PGD test accuracy >= 0.2, twice chance (0.1).
CO_MIN_PEAK = 0.2
#: The least-confident group whose share of the update section 5.3 measures: a decile.
LOW_FRACTION = 0.1
#: The step sizes of the paper's plain gradient ascent in section 5.3 (m = 5 steps, projected).
ASCENT_ALPHAS = (0.1, 1.0, 10.0)

_NOT_EXPLAINED = " (at this scale; whether Results 1-3 explain it is not tested)"

# ----------------------------------------------------------------------------- 5.2 curvature
_CURV = "Moosavi-Dezfooli et al. 2019 (adversarial training flattens the input loss)" + _NOT_EXPLAINED + ", read as: "
FLATTER_MEDIAN = ClaimSpec(
    name="ch5-flatter-median",
    chapter=5,
    group="ch5-flatter-median",
    paper="",
    reading=_CURV + "the median over test inputs of the top input-Hessian eigenvalue at the clean input is lower "
    "after PGD training than after standard training (same seed)",
    statistic="log(median lambda_max, PGD-trained / median lambda_max, standard)",
    threshold=0.0,
    direction="<",
    reason="0 = the same typical curvature; one of three readings declared together (median, mean, neighbourhood)",
)
FLATTER_MEAN = ClaimSpec(
    name="ch5-flatter-mean",
    chapter=5,
    group="ch5-flatter-mean",
    paper="",
    reading=_CURV + "the mean over test inputs of the top input-Hessian eigenvalue at the clean input is lower "
    "after PGD training than after standard training (same seed)",
    statistic="log(mean lambda_max, PGD-trained / mean lambda_max, standard)",
    threshold=0.0,
    direction="<",
    reason="0 = the same average curvature; one of three readings declared together (median, mean, neighbourhood)",
)
FLATTER_NEIGHBOURHOOD = ClaimSpec(
    name="ch5-flatter-neighbourhood",
    chapter=5,
    group="ch5-flatter-neighbourhood",
    paper="",
    reading=_CURV + "the median over test inputs of the neighbourhood curvature |grad L(x+d) - grad L(x)|_2 / |d|_2, "
    "d = eps sign(grad L(x)) clipped to the setting's box, if any (CURE's finite difference over the eps-ball), "
    "is lower after PGD training than after standard training (same seed)",
    statistic="log(median neighbourhood curvature, PGD-trained / same, standard)",
    threshold=0.0,
    direction="<",
    reason="0 = the same curvature over the ball; the reading closest to Moosavi-Dezfooli et al.'s own measure",
)

# ----------------------------------------------------------------------------- 5.3 who carries the update
LEANS_MORE_THAN_STANDARD = ClaimSpec(
    name="ch5-leans-more-than-standard",
    chapter=5,
    group="ch5-leans-more-than-standard",
    paper="",
    reading="Result 2's direction at the level of training (adversarial training leans on unconfident samples "
    "more than standard training does)"
    + _NOT_EXPLAINED
    + ", read as: the least-confident decile's share of the summed parameter gradient is larger for a "
    "PGD-trained model on its PGD-5 training perturbations than for a standard-trained model on clean inputs "
    "(same seed)",
    statistic="share(PGD-trained, PGD-5 inputs) - share(standard-trained, clean inputs), "
    "share = <sum_{i in S} grad L_i, G> / |G|^2, S = least-confident decile",
    threshold=0.0,
    direction=">",
    reason="0 = adversarial training leans on the decile as much as standard training does (any trained net "
    "already gives it most of the gradient, so a decile's size 0.1 is no baseline); not a test of re-weighting "
    "(MART / GAIRAT start from adversarial training giving low-margin samples too little weight)",
)
#: Section 5.3's second question, whether the attack raises the unconfident decile's pull
#: relative to the typical decile's (chapter 3's ``log r``, attacked minus clean), is recorded by
#: chapter 3 (``ch3-training-log-ratio``, per training attack); chapter 5 only prints it, with
#: the share and the size of each attack, as a description (a second record would duplicate it).

# ----------------------------------------------------------------------------- 5.4 catastrophic overfitting
CATASTROPHIC_OVERFITTING = ClaimSpec(
    name="ch5-catastrophic-overfitting",
    chapter=5,
    group="ch5-catastrophic-overfitting",
    paper="",
    reading="Wong et al. 2020 / Andriushchenko & Flammarion 2020 (single-step training can overfit "
    "catastrophically)" + _NOT_EXPLAINED + ", read as: during FGSM-RS training the PGD test accuracy "
    "collapses from its peak, over the runs that end a good classifier (final clean accuracy >= "
    f"{CO_MIN_CLEAN:g}) and ever had robustness (peak PGD accuracy >= {CO_MIN_PEAK:g}); other runs are excluded",
    statistic="collapse fraction 1 - final/peak PGD test accuracy of each qualifying run",
    threshold=0.5,
    direction=">",
    reason="a collapse loses most of the robustness the run had reached (Wong et al.: down to about 0)",
)
FGSM_PGD_GAP = ClaimSpec(
    name="ch5-fgsm-pgd-gap",
    chapter=5,
    group="ch5-fgsm-pgd-gap",
    paper="",
    reading="Wong et al. 2020's other half" + _NOT_EXPLAINED + ", read as: after FGSM-RS training the accuracy "
    "against FGSM exceeds the accuracy against PGD by more than after PGD training (same eps, same seed), "
    "by over 0.1",
    statistic="(FGSM acc - PGD acc) after FGSM-RS training - (FGSM acc - PGD acc) after PGD-5 training",
    threshold=0.1,
    direction=">",
    reason="catastrophic overfitting leaves FGSM accuracy high and PGD accuracy near 0: ten points beyond the "
    "gap multi-step training itself leaves is the least such a split shows",
)
NO_COLLAPSE_UNDER_PGD = ClaimSpec(
    name="ch5-no-collapse-under-pgd",
    chapter=5,
    group="ch5-no-collapse-under-pgd",
    paper="",
    reading="control: multi-step PGD training at the same eps does not collapse",
    control=True,
    statistic="collapse fraction 1 - final/peak PGD test accuracy (every run)",
    threshold=0.5,
    direction="<",
    reason="the same bar as the FGSM runs: losing most of the robustness reached",
)

# ----------------------------------------------------------------------------- 5.5 more data
_DATA = "Schmidt et al. 2018 (robust generalisation needs more data)" + _NOT_EXPLAINED + ", read as: "
ROBUST_GAP_LARGER = ClaimSpec(
    name="ch5-robust-gap-larger",
    chapter=5,
    group="ch5-robust-gap-larger",
    paper="",
    reading="Schmidt et al. 2018's quantity, the generalisation gap, at one training-set size" + _NOT_EXPLAINED + ", "
    "read as: trained on 10% of the training set (a subset drawn per seed), PGD training's robust "
    "generalisation gap (test - train robust error) exceeds standard training's clean gap (test - train clean "
    "error); it says the robust gap is larger at equal n, not that robustness needs more data",
    statistic="(robust test error - robust train error, PGD training) - (clean test - clean train error, standard)",
    threshold=0.0,
    direction=">",
    reason="0 = equal generalisation gaps at equal data; Schmidt et al.'s quantity is the gap, not the test error",
)
MORE_DATA_ABSOLUTE = ClaimSpec(
    name="ch5-more-data-absolute",
    chapter=5,
    group="ch5-more-data-absolute",
    paper="",
    reading=_DATA + "going from 10% to 100% of the training set, the robust test error of PGD training falls by more "
    "(in error points) than the clean test error of standard training",
    statistic="(e10 - e100) robust (PGD training) - (e10 - e100) clean (standard training)",
    threshold=0.0,
    direction=">",
    reason="0 = both errors fall by the same amount; one of two readings declared together (absolute, relative)",
)
MORE_DATA_RELATIVE = ClaimSpec(
    name="ch5-more-data-relative",
    chapter=5,
    group="ch5-more-data-relative",
    paper="",
    reading=_DATA + "going from 10% to 100% of the training set, the robust test error of PGD training falls by a "
    "larger fraction than the clean test error of standard training",
    statistic="(e10 - e100)/e10 robust (PGD training) - (e10 - e100)/e10 clean (standard training)",
    threshold=0.0,
    direction=">",
    reason="0 = both errors fall by the same fraction; one of two readings declared together (absolute, relative)",
)

# ----------------------------------------------------------------------------- 5.6 robust overfitting
ROBUST_OVERFITTING = ClaimSpec(
    name="ch5-robust-overfitting",
    chapter=5,
    group="ch5-robust-overfitting",
    paper="",
    reading="Rice et al. 2020 (robust overfitting)" + _NOT_EXPLAINED + ", read as: "
    "stopping PGD training at the checkpoint with the best validation robust accuracy beats the end "
    "of the run on held-out test inputs",
    statistic="test robust accuracy at the best validation checkpoint - at the last checkpoint",
    threshold=0.03,
    direction=">",
    reason="3 accuracy points: a clear fall, well under the ~8 points Rice et al. report on CIFAR-10",
)
NO_CLEAN_OVERFITTING = ClaimSpec(
    name="ch5-no-clean-overfitting",
    chapter=5,
    group="ch5-no-clean-overfitting",
    paper="",
    reading="control: standard training shows no such fall of clean test accuracy",
    control=True,
    statistic="clean test accuracy at the best validation checkpoint - at the last checkpoint",
    threshold=0.03,
    direction="<",
    reason="the same 3 points as the robust claim",
)

# ----------------------------------------------------------------------------- identity
SHARE_TWO_ROUTES = IdentitySpec(
    name="ch5-share-two-routes",
    chapter=5,
    statement="the decile's share from two backward passes equals the share from per-sample gradients",
    error="largest absolute difference of the two shares",
    tolerance=1e-9,
    reason="float64 sums of a few hundred gradients: round-off ~1e-14, with room for cancellation",
)


# ----------------------------------------------------------------------------- statistics
def _floats(name: str, v) -> np.ndarray:
    return to_numpy(v, name=name).reshape(-1)


def _nonnegative_1d(name: str, v) -> np.ndarray:
    a = _floats(name, v)
    if a.size == 0 or not np.isfinite(a).all() or (a < 0).any():
        raise ValueError(f"{name} must be a non-empty array of finite non-negative numbers.")
    return a


def log_ratio(values_a, values_b, *, stat: str = "median") -> float:
    """``log(stat(a) / stat(b))`` of two non-negative samples, ``stat`` the median or the mean
    (section 5.2). Zeros are values like any other (a ReLU network is flat, lambda_max = 0,
    where every unit is off); only the two statistics must be positive."""
    if stat not in ("median", "mean"):
        raise ValueError(f"stat must be 'median' or 'mean', got {stat!r}.")
    a, b = _nonnegative_1d("values_a", values_a), _nonnegative_1d("values_b", values_b)
    f = np.median if stat == "median" else np.mean
    sa, sb = float(f(a)), float(f(b))
    if sa <= 0 or sb <= 0:
        raise ValueError(f"the {stat}s must be positive to take a log ratio, got {sa!r} and {sb!r}.")
    return math.log(sa) - math.log(sb)


def log_median_ratio(values_a, values_b) -> float:
    """``log(median(a) / median(b))`` of two non-negative samples (section 5.2's per-seed statistic)."""
    return log_ratio(values_a, values_b, stat="median")


def summed_gradient_share(group_sum, total) -> float:
    """``<g_S, G> / |G|^2``: the part of the summed gradient ``G`` along itself that group ``S`` carries.

    ``group_sum`` is ``sum_{i in S} grad L_i``, ``total`` is ``G = sum_j grad L_j`` (flat
    vectors). The shares of a partition of the samples add up to 1 (section 5.3).
    """
    g, t = _floats("group_sum", group_sum), _floats("total", total)
    if g.shape != t.shape:
        raise ValueError(f"group_sum and total must have one length, got {g.size} and {t.size}.")
    norm2 = float(t @ t)
    if not math.isfinite(norm2) or norm2 == 0:
        raise ValueError("the summed gradient is zero or not finite: no share to take.")
    return float(g @ t) / norm2


def _curve(pgd_curve) -> np.ndarray:
    c = _floats("pgd_curve", pgd_curve)
    if c.size == 0 or not np.isfinite(c).all() or (c < 0).any() or (c > 1).any():
        raise ValueError("pgd_curve must be a non-empty sequence of accuracies in [0, 1].")
    return c


def collapse_fraction(pgd_curve) -> float:
    """``1 - final / peak`` of a run's PGD-accuracy curve (0 for a run that never had any; section 5.4)."""
    c = _curve(pgd_curve)
    peak = float(c.max())
    return 0.0 if peak == 0 else 1.0 - float(c[-1]) / peak


def co_qualifies(pgd_curve, final_clean: float, *, min_clean: float = CO_MIN_CLEAN, min_peak: float = CO_MIN_PEAK):
    """Whether a run counts for catastrophic overfitting: final clean accuracy >= ``min_clean`` and peak
    PGD accuracy >= ``min_peak`` (section 5.4; other runs are excluded, not scored as 0)."""
    c = _curve(pgd_curve)
    final_clean = check_number("final_clean", final_clean)
    if not 0 <= final_clean <= 1:
        raise ValueError(f"final_clean must be an accuracy in [0, 1], got {final_clean!r}.")
    return bool(final_clean >= check_number("min_clean", min_clean) and c.max() >= check_number("min_peak", min_peak))


def relative_reduction(error_small: float, error_full: float) -> float:
    """``(e_small - e_full) / e_small``: the fraction of the error that more data removes (section 5.5)."""
    error_small = check_number("error_small", error_small, finite=False)
    error_full = check_number("error_full", error_full, finite=False)
    for name, e in (("error_small", error_small), ("error_full", error_full)):
        if not 0 <= e <= 1:
            raise ValueError(f"{name} must be an error rate in [0, 1], got {e!r}.")
    if error_small == 0:
        raise ValueError("error_small is 0: no error to reduce.")
    return (error_small - error_full) / error_small


def early_stopping_gain(val_curve, test_curve) -> float:
    """Test accuracy at the checkpoint best on validation (first such) minus at the last checkpoint (5.6)."""
    v, t = _floats("val_curve", val_curve), _floats("test_curve", test_curve)
    if v.size == 0 or v.shape != t.shape or not (np.isfinite(v).all() and np.isfinite(t).all()):
        raise ValueError("val_curve and test_curve must be finite and of one non-zero length.")
    return float(t[int(np.argmax(v))] - t[-1])


def _chapters_in(folder: Path) -> set[int]:
    """The chapter numbers N of the files ``chN.json`` in ``folder`` (none if it is missing)."""
    found = set()
    for path in folder.glob("ch*.json") if folder.is_dir() else ():
        number = path.stem[2:]
        if number.isdigit() and int(number) >= 1:
            found.add(int(number))
    return found


def scorecard_evidence(own, *, profile: str | None = None, chapters=None) -> dict:
    """Every chapter's records for the scorecard (section 5.9): ``{n: records}``, ``own`` (the
    file chapter 5 just wrote) as chapter 5.

    ``chapters=None`` reads every chapter's evidence there is, not a fixed list: in ``quick``
    the committed files that ship with the package (:func:`~advnotes.claims.committed_evidence`),
    every ``chN.json`` present (chapter 6's too, once it is committed); in ``full`` the files
    the chapters wrote in that profile (:func:`~advnotes.claims.evidence_dir`; in a repository
    checkout that is the committed ``evidence/full/`` folder, which a full run overwrites), and
    there every chapter with committed quick evidence *must* be present. An explicit
    ``chapters`` (numbers other than 5) reads exactly those. Strict: raises ``RuntimeError``
    naming every chapter whose file is missing or does not load, with the reason (and, in
    ``full``, the chapters to execute first).
    """
    from ..config import get_profile

    profile = get_profile() if profile is None else profile
    if profile not in ("quick", "full"):
        raise ValueError(f"profile must be None, 'quick' or 'full', got {profile!r}.")
    if chapters is None:
        chapters = _chapters_in(committed_evidence(1).parent)
        if profile == "full":
            chapters |= _chapters_in(evidence_dir())
        chapters = sorted(chapters - {5})
    if isinstance(chapters, (str, bytes)) or not all(
        isinstance(n, int) and not isinstance(n, bool) and 1 <= n != 5 for n in chapters
    ):
        raise TypeError(f"chapters must be chapter numbers other than 5 (ints >= 1), got {chapters!r}.")
    paths = {n: committed_evidence(n) if profile == "quick" else evidence_dir() / f"ch{n}.json" for n in chapters}
    paths[5] = Path(own)
    out, failed = {}, {}
    for n, path in sorted(paths.items()):
        try:
            out[n] = load_evidence(path)
        except Exception as err:  # every failure is reported, with its reason
            failed[n] = f"{type(err).__name__}: {err}"
    if failed:
        todo = ", ".join(map(str, failed))
        where = (
            f" (full profile: execute chapter(s) {todo} first, writing to {evidence_dir()})"
            if profile == "full"
            else ""
        )
        raise RuntimeError(
            f"the scorecard needs every chapter's evidence{where}: "
            + "; ".join(f"chapter {n}: {w}" for n, w in failed.items())
        )
    return out


#: How the scorecard prints an outcome (short, so that a column per setting fits the page).
SHORT = {HOLDS: "holds", REGIME: "regime", INCONCLUSIVE: "inconcl.", NOT_REPRODUCED: "not repr."}
#: The legend of :data:`SHORT` (printed under every scorecard).
LEGEND = (
    "holds: every record holds; regime: holds in some regime(s), not in others; inconcl.: "
    "none holds, some inconclusive; not repr.: not reproduced; -: not measured in that setting"
)


def _claims_by_group(records) -> dict[tuple[str, str], list]:
    """Claim records keyed by (group, whose): a control sharing a group with a book claim
    is a row of its own, never merged into the claim's outcome."""
    groups: dict[tuple[str, str], list] = {}
    for r in check_records(records):
        if r.kind == "claim":
            groups.setdefault((r.spec.group, _whose(r.spec)), []).append(r)
    return groups


def _settings_of(groups) -> list[str]:
    present = {r.setting for recs in groups for r in recs}
    return [s for s in SETTINGS if s in present]


def _whose(spec) -> str:
    return "control" if spec.control else "paper" if spec.paper else "book"


def setting_outcomes(records) -> list[dict]:
    """One row per claim (a group of records): ``ch``, ``claim`` (the group's name), ``whose``
    (paper / book / control), ``name`` (the first record's spec name), ``intervention``
    (chapter 6's, else "") and the claim's outcome
    in each setting present (:func:`~advnotes.claims.paper_outcome` of that setting's records;
    ``None`` where the claim was not measured in that setting). Section 5.8."""
    groups = _claims_by_group(records)
    settings = _settings_of(groups.values())
    rows = []
    for (name, _), recs in groups.items():
        spec = recs[0].spec
        row = {"ch": spec.chapter, "claim": name, "name": spec.name, "whose": _whose(spec)}
        row["intervention"] = spec.intervention
        for s in settings:
            mine = [r for r in recs if r.setting == s]
            row[s] = paper_outcome(mine) if mine else None
        rows.append(row)
    return rows


def setting_differences(records, settings=("digits-mlp", "mnist1d-cnn")) -> list[dict]:
    """The claims measured in every setting of ``settings`` whose outcomes differ between them
    (rows of :func:`setting_outcomes`, in the book's order). Section 5.8 discusses each."""
    if isinstance(settings, str) or len(settings) < 2 or not all(s in SETTINGS for s in settings):
        raise ValueError(f"settings must name two or more of {sorted(SETTINGS)}, got {settings!r}.")
    rows = [r for r in setting_outcomes(records) if all(r.get(s) for s in settings)]
    return [r for r in rows if len({r[s] for s in settings}) > 1]


def scorecard_text(records, *, full=None) -> str:
    """The book's scorecard as text within 88 columns (section 5.8; the reproducibility
    appendix calls it too): one row per claim, one outcome column per setting, chapter 6's
    claims in their own table ("interventions", with the intervention named under it).

    ``full``: the full profile's records; then every setting has two columns, ``q:`` (the
    quick records) and ``f:`` (the full ones), side by side. Outcomes print as :data:`SHORT`
    (legend :data:`LEGEND`)."""
    profiles = {"q": check_records(records)} if full is not None else {"": check_records(records)}
    if full is not None:
        profiles["f"] = check_records(full, what="full")
    rows = {p: {(r["ch"], r["claim"], r["whose"]): r for r in setting_outcomes(recs)} for p, recs in profiles.items()}
    settings = [s for s in SETTINGS if any(s in r for rs in rows.values() for r in rs.values())]
    if not settings:
        raise ValueError("no claim records to tabulate.")
    keys = list(dict.fromkeys(k for rs in rows.values() for k in rs))
    keys.sort(key=lambda k: k[0])  # stable: each chapter's claims in recorded order

    def head(p, s):
        short = s.split("-")[0] if full is not None else s
        return f"{p}:{short}" if p else short

    def line(key):
        first = next(rs[key] for rs in rows.values() if key in rs)
        label = first["name"] if first["intervention"] else key[1]
        row = {"ch": key[0], "claim": label.removeprefix(f"ch{key[0]}-"), "whose": first["whose"]}
        for s in settings:
            for p, rs in rows.items():
                outcome = rs[key].get(s) if key in rs else None
                row[head(p, s)] = SHORT[outcome] if outcome else "-"
        return row, first

    lines = [line(k) for k in keys]
    plain = [row for row, first in lines if not first["intervention"]]
    parts = []
    if plain:
        parts.append(table(plain, title="Claims (chapters 1-5)"))
    acted = [(row, first) for row, first in lines if first["intervention"]]
    if acted:
        parts.append(table([row for row, _ in acted], title="Interventions (chapter 6)"))
        wrap = dict(width=88, initial_indent="  ", subsequent_indent="    ", break_on_hyphens=False)
        said = [textwrap.fill(f"{row['claim']}: {first['claim']}", **wrap) for row, first in acted]
        parts.append("Predictions tested:\n" + "\n".join(said))
        named: dict[str, list] = {}
        for row, first in acted:
            named.setdefault(first["intervention"], []).append(row["claim"])
        said = [textwrap.fill(f"{what} ({', '.join(names)})", **wrap) for what, names in named.items()]
        parts.append("Interventions:\n" + "\n".join(said))
    parts.append(textwrap.fill(LEGEND, 88))
    return "\n\n".join(parts)


def setting_counts(records) -> list[dict]:
    """Counts per setting (section 5.8), as table rows: for each setting present and each kind
    (paper, book, controls) with records, the number of claims (groups), how many hold, hold in
    a regime, are inconclusive or not reproduced, and the number of records."""
    records = check_records(records)
    rows = []
    for s in SETTINGS:
        mine = [r for r in records if r.setting == s]
        if not any(r.kind == "claim" for r in mine):
            continue
        c = split_counts(mine)
        for kind in ("paper", "book", "controls"):
            n = sum(c[kind]["records"].values())
            if n:
                row = {"setting": s, "kind": kind, "claims": sum(c[kind]["claims"].values())}
                row |= {SHORT[o]: k for o, k in c[kind]["claims"].items()}
                rows.append(row | {"records": n})
    return rows


def split_counts(records, *, setting: str | None = None) -> dict:
    """The scorecard's counts (section 5.8), paper claims, the book's claims and its controls apart.

    Returns ``{"identities": n, "paper": ..., "book": ..., "controls": ...}``; each kind is
    ``{"records": {outcome: n}, "claims": {claim outcome: n}}``. A record is a control if its
    spec says so (``spec.control``), else the paper's if ``spec.paper`` is set, else the book's;
    a claim is a group of records of one kind (its outcome from :func:`~advnotes.claims.paper_outcome`).
    ``setting``: count only that setting's records (settings are not regimes: never pool them).
    """
    records = check_records(records)
    if setting is not None:
        if setting not in SETTINGS:
            raise ValueError(f"unknown setting {setting!r}; use one of {sorted(SETTINGS)}.")
        records = [r for r in records if r.setting == setting]
    out: dict = {"identities": sum(r.kind == "identity" for r in records)}
    kinds: dict[str, list] = {"paper": [], "book": [], "controls": []}
    for r in records:
        if r.kind == "claim":
            kinds["controls" if r.spec.control else "paper" if r.spec.paper else "book"].append(r)
    for kind, mine in kinds.items():
        groups: dict[str, list] = {}
        for r in mine:
            groups.setdefault(r.spec.group, []).append(r)
        out[kind] = {
            "records": {o: sum(r.outcome == o for r in mine) for o in OUTCOMES},
            "claims": {o: sum(paper_outcome(g) == o for g in groups.values()) for o in GROUP_OUTCOMES},
        }
    return out


def counts_line(counts: dict) -> str:
    """One line of :func:`split_counts`'s result: identities, then per kind ``paper 3 (2 holds, ...) from 5
    records (...)`` (claims, i.e. groups, and their records), or ``controls: none``."""
    keys = ("identities", "paper", "book", "controls")
    if not isinstance(counts, dict) or not all(k in counts for k in keys):
        raise TypeError("counts must be the dict that split_counts returns (identities, paper, book, controls).")
    parts = [f"identities {counts['identities']}"]
    for kind in ("paper", "book", "controls"):
        rec, cls = counts[kind]["records"], counts[kind]["claims"]
        words = lambda d: ", ".join(f"{n} {o}" for o, n in d.items() if n) or "none"  # noqa: E731
        n = sum(rec.values())
        if n == 0:
            parts.append(f"{kind}: none")
            continue
        parts.append(f"{kind} {sum(cls.values())} ({words(cls)}) from {n} record{'' if n == 1 else 's'} ({words(rec)})")
    return "; ".join(parts)


# ----------------------------------------------------------------------------- the chapter's verdict in words
#: The findings of the chapter, each with its readings (one group per reading: readings are not regimes).
FINDINGS = {
    "adversarial training lowers the input curvature": (
        "ch5-flatter-median",
        "ch5-flatter-mean",
        "ch5-flatter-neighbourhood",
    ),
    "Result 2 at the level of training: adversarial training leans on the least-confident decile more than "
    "standard training (not a test of re-weighting)": ("ch5-leans-more-than-standard",),
    "single-step (FGSM-RS) training overfits catastrophically": (
        "ch5-catastrophic-overfitting",
        "ch5-fgsm-pgd-gap",
    ),
    "at equal data the robust generalisation gap is larger than the clean one (not by itself a need for more data)": (
        "ch5-robust-gap-larger",
    ),
    "robust generalisation needs more data than clean generalisation": (
        "ch5-more-data-absolute",
        "ch5-more-data-relative",
    ),
    "adversarial training overfits (early stopping helps)": ("ch5-robust-overfitting",),
}
#: The controls (specs declared with ``control=True``): checks of the instrument, counted apart.
CONTROLS = {
    "PGD training does not collapse": ("ch5-no-collapse-under-pgd",),
    "standard training does not overfit": ("ch5-no-clean-overfitting",),
}
_WORDS = {
    HOLDS: "holds",
    REGIME: "holds in a regime",
    INCONCLUSIVE: "is inconclusive",
    NOT_REPRODUCED: "is not reproduced",
}


def summary(records) -> str:
    """One line per finding (and control) of the chapter, from the recorded outcomes: each reading
    (one group) with its outcome over regimes, and the regimes' outcomes where there are several;
    a reading measured in several settings gets one clause per setting (settings are never pooled)."""
    records = check_records(records)
    groups: dict[str, list] = {}
    for r in records:
        if r.kind == "claim":
            groups.setdefault(r.spec.group, []).append(r)
    lines = []

    def clause(g, recs, tag=""):
        where = [f"{r.regime}: {r.outcome}" for r in recs if r.regime]
        detail = f" ({'; '.join(where)})" if len(where) > 1 else ""
        return f"{g.removeprefix('ch5-')}{tag} {_WORDS[paper_outcome(recs)]}{detail}"

    for findings, head in ((FINDINGS, "finding"), (CONTROLS, "control")):
        for text, names in findings.items():
            parts = []
            for g in (n for n in names if n in groups):
                present = [s for s in SETTINGS if any(r.setting == s for r in groups[g])]
                if len(present) == 1:
                    parts.append(clause(g, groups[g]))
                    continue
                for s in present:
                    parts.append(clause(g, [r for r in groups[g] if r.setting == s], f" ({s})"))
            if parts:
                lines.append(f"{head} at this scale: '{text}': " + "; ".join(parts) + ".")
    return "\n".join(lines)
