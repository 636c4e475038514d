"""Evidence records: identities checked to round-off, and claims decided by an interval over seeds.

Two kinds of record, one rule for outcomes (see the reproducibility appendix):

- An **identity** (:class:`IdentitySpec`) is a mathematical fact — a closed form, an
  exact rank, an equality of two routes to one number. It is *checked*: the largest
  error measured must stay below a tolerance that has a reason. A violated identity is
  a bug, never evidence about the paper, so identities are counted apart from claims.
- A **claim** (:class:`ClaimSpec`) is an empirical statement of the paper (or of this
  book) about trained networks. It is measured once per seed (5 or more), and the
  outcome follows from the 95% t-interval of the per-seed values against a threshold
  declared *before* the measurement, with a one-line reason:

  ``direction ">"``: **holds** when ``lo > threshold``, **not reproduced** when
  ``hi < threshold``, **inconclusive** otherwise (mirrored for ``"<"``).

Every chapter's claims module (``advnotes.claims.chN``) declares its specs at import
time, and each spec registers itself in ``REGISTRY`` by name. A chapter's verdict
cell records what it measured with :class:`Evidence`; the scorecard (chapter 5)
re-reads the files with :func:`load_evidence`, which re-derives every outcome from the
recorded per-seed values with the *declared* spec, so the two cannot disagree.

A paper claim that holds in one regime and not in another is recorded once per regime
(same ``group``); :func:`paper_outcome` then says "holds in a regime" for the group.
"""

from __future__ import annotations

import json
import math
import numbers
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..stats import roundoff, t_interval  # the one home of both (claims uses them)

HOLDS = "holds"
INCONCLUSIVE = "inconclusive"
NOT_REPRODUCED = "not reproduced"
REGIME = "holds in a regime"
#: Outcomes of one claim record (decided by its interval).
OUTCOMES = (HOLDS, INCONCLUSIVE, NOT_REPRODUCED)
#: Outcomes of a paper claim as a whole (a group of records, one per regime).
GROUP_OUTCOMES = (HOLDS, REGIME, INCONCLUSIVE, NOT_REPRODUCED)
#: Outcomes of an identity.
VERIFIED = "verified"
VIOLATED = "violated"

LEVEL = 0.95
MIN_SEEDS = 5
#: Per-seed values are stored to this many significant digits (and outcomes are decided
#: on the stored values), so the last bits of BLAS round-off never reach a file.
SIGNIFICANT = 6

#: Every declared spec, by name (filled as the chapter modules are imported).
REGISTRY: dict[str, IdentitySpec | ClaimSpec] = {}

#: Settings: the data and model a claim was measured on.
SETTINGS = {
    "digits-mlp": "scikit-learn digits (8x8, pixels in [0, 1]), ReLU MLP",
    "mnist1d-cnn": "MNIST-1D (length-40 signals), 1-D ReLU CNN",
    "synthetic": "synthetic problem generated in code (known answer)",
}


def _register(spec):
    old = REGISTRY.get(spec.name)
    if old is not None and old != spec:
        raise ValueError(f"two different specs are declared with the name {spec.name!r}; names must be unique.")
    REGISTRY[spec.name] = spec
    return spec


def get_spec(name: str):
    """The declared spec called ``name`` (importing every chapter's claims module first)."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a spec's name (a string such as 'ch1-psd'), got {type(name).__name__}.")
    _import_chapters()
    try:
        return REGISTRY[name]
    except KeyError:
        raise KeyError(f"no claim or identity is declared with the name {name!r}.") from None


def _import_chapters():
    import importlib
    import pkgutil

    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")


def _number(name: str, value, *, finite: bool = True) -> float:
    """A real number (Python/NumPy scalar, 0-d array or tensor) as a float; bools and strings are refused."""
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}.")
    value = float(value)
    if finite and not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}.")
    return value


def _sequence(name: str, values) -> list:
    if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{name} must be a list of numbers (one per seed), got {type(values).__name__} {values!r}.")
    return list(values)


def check_records(records, *, what: str = "records") -> list:
    """``records`` must be a collection of :class:`Identity` / :class:`Claim` records; returns them as a list."""
    if isinstance(records, (Identity, Claim)):
        raise TypeError(f"{what} must be a list of records; wrap a single record as [record].")
    if isinstance(records, (str, bytes, dict)) or not hasattr(records, "__iter__"):
        raise TypeError(
            f"{what} must be a list of Identity/Claim records (e.g. evidence.records or load_evidence(path)), "
            f"got {type(records).__name__}."
        )
    records = list(records)
    bad = [r for r in records if not isinstance(r, (Identity, Claim))]
    if bad:
        raise TypeError(
            f"{what} must hold Identity/Claim records (from spec.check / spec.measure or load_evidence), got "
            f"{type(bad[0]).__name__} {bad[0]!r:.60}."
        )
    return records


def _round(value: float) -> float:
    value = _number("measured value", value, finite=False)
    if not math.isfinite(value):
        raise ValueError(f"measured value {value!r} is not finite; a check needs finite numbers.")
    return float(f"{value:.{SIGNIFICANT}g}")


def decide(lo: float, hi: float, threshold: float, direction: str) -> str:
    """The outcome rule: the interval ``[lo, hi]`` against ``threshold`` in ``direction``."""
    lo, hi, threshold = _check_interval(lo, hi, threshold, direction)
    if direction == ">":
        return HOLDS if lo > threshold else NOT_REPRODUCED if hi < threshold else INCONCLUSIVE
    if direction == "<":
        return HOLDS if hi < threshold else NOT_REPRODUCED if lo > threshold else INCONCLUSIVE
    raise ValueError(f"direction must be '>' or '<', got {direction!r}.")


def margin(lo: float, hi: float, threshold: float, direction: str) -> float:
    """Distance from the interval's near edge to the threshold; positive when the claim clears it."""
    lo, hi, threshold = _check_interval(lo, hi, threshold, direction)
    return lo - threshold if direction == ">" else threshold - hi


def _check_interval(lo, hi, threshold, direction) -> tuple[float, float, float]:
    lo, hi, threshold = _number("lo", lo), _number("hi", hi), _number("threshold", threshold)
    if lo > hi:
        raise ValueError(f"the interval must have lo <= hi, got lo={lo!r} > hi={hi!r}.")
    if direction not in (">", "<"):
        raise ValueError(f"direction must be '>' or '<', got {direction!r}.")
    return lo, hi, threshold


# --------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class IdentitySpec:
    """A mathematical identity, declared with its tolerance and the reason for it.

    ``statement`` says what must be equal; ``error`` names the measured discrepancy.
    """

    name: str
    chapter: int
    statement: str
    error: str
    tolerance: float
    reason: str

    def __post_init__(self):
        _check_spec_fields(self, ("statement", "error", "reason"))
        tolerance = _number(f"identity {self.name!r}: tolerance", self.tolerance, finite=False)
        if not (tolerance > 0 and math.isfinite(tolerance)):
            raise ValueError(f"identity {self.name!r}: tolerance must be a positive number.")
        _register(self)

    def check(self, error: float, *, setting: str = "digits-mlp", measured: dict | None = None) -> Identity:
        """Compare the largest measured ``error`` with the tolerance; return an :class:`Identity`."""
        error = _number(f"identity {self.name!r}: error", error, finite=False)
        _check_setting(setting)
        if not math.isfinite(error):
            raise ValueError(f"identity {self.name!r}: the measured error {error!r} is not finite.")
        return Identity(self, _round(abs(error)), setting, _plain(measured or {}))


@dataclass(frozen=True)
class ClaimSpec:
    """An empirical claim, declared before it is measured.

    ``group`` names the paper claim (records of one claim in several regimes share it);
    ``paper`` quotes how the abstract words it ("" for a claim of this book);
    ``reading`` is the precise statement tested; ``statistic`` is what one seed yields;
    ``threshold`` and ``direction`` are the criterion, ``reason`` says why that value.
    ``control=True`` marks a control (a check of the instrument or a baseline that the
    claims are read against): verdicts and scorecards count controls apart from claims.
    ``intervention`` names the change to the mechanism a claim of chapter 6 tests ("" for
    the claims of chapters 1-5); its prediction is the claim's ``reading``, declared before
    the run.
    """

    name: str
    chapter: int
    group: str
    paper: str
    reading: str
    statistic: str
    threshold: float
    direction: str
    reason: str
    control: bool = False
    intervention: str = ""

    def __post_init__(self):
        _check_spec_fields(self, ("group", "paper", "reading", "statistic", "reason", "intervention"))
        if self.direction not in (">", "<"):
            raise ValueError(f"claim {self.name!r}: direction must be '>' or '<'.")
        if not isinstance(self.control, bool):
            raise TypeError(f"claim {self.name!r}: control must be True or False.")
        if self.control and self.paper:
            raise ValueError(f"claim {self.name!r}: a control is the book's own check; leave `paper` empty.")
        if not math.isfinite(_number(f"claim {self.name!r}: threshold", self.threshold, finite=False)):
            raise ValueError(f"claim {self.name!r}: threshold must be finite.")
        _register(self)

    def measure(
        self,
        per_seed,
        *,
        setting: str = "digits-mlp",
        regime: str = "",
        measured: dict | None = None,
        level: float = LEVEL,
    ) -> Claim:
        """Decide the claim from one value per seed (at least ``MIN_SEEDS``)."""
        values = [_round(v) for v in _plain(_sequence("per_seed", per_seed))]
        if len(values) < MIN_SEEDS:
            raise ValueError(f"claim {self.name!r} needs at least {MIN_SEEDS} seeds, got {len(values)}.")
        _check_setting(setting)
        if not isinstance(regime, str):
            raise TypeError(f"regime must be a string (a short description, '' for none), got {regime!r}.")
        est, lo, hi = t_interval(values, level=level)
        return Claim(
            self,
            tuple(values),
            _round(est),
            (_round(lo), _round(hi)),
            level,
            decide(lo, hi, self.threshold, self.direction),
            setting,
            regime,
            _plain(measured or {}),
        )


def _check_setting(setting) -> None:
    if not isinstance(setting, str) or setting not in SETTINGS:
        raise ValueError(f"unknown setting {setting!r}; use one of {sorted(SETTINGS)}.")


def _check_spec_fields(spec, texts: tuple[str, ...]) -> None:
    kind = "identity" if isinstance(spec, IdentitySpec) else "claim"
    if not isinstance(spec.name, str) or not spec.name:
        raise TypeError(f"a {kind}'s name must be a non-empty string, got {spec.name!r}.")
    if isinstance(spec.chapter, bool) or not isinstance(spec.chapter, int) or spec.chapter < 0:
        raise TypeError(f"{kind} {spec.name!r}: chapter must be a chapter number (int >= 0), got {spec.chapter!r}.")
    for f in texts:
        if not isinstance(getattr(spec, f), str):
            raise TypeError(f"{kind} {spec.name!r}: {f} must be a string, got {getattr(spec, f)!r}.")


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Identity:
    """The result of checking an :class:`IdentitySpec`."""

    spec: IdentitySpec
    error: float
    setting: str = "digits-mlp"
    measured: dict = field(default_factory=dict, compare=False)

    kind = "identity"

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def outcome(self) -> str:
        return VERIFIED if self.error <= self.spec.tolerance else VIOLATED

    def __str__(self) -> str:
        return (
            f"[identity {self.outcome}] {self.spec.statement}\n"
            f"    {self.spec.error}: {_error(self.error)} (tolerance {self.spec.tolerance:.0e}: {self.spec.reason})"
        )

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "kind": "identity",
            "chapter": self.spec.chapter,
            "setting": self.setting,
            "statement": self.spec.statement,
            "error": self.error,
            "tolerance": self.spec.tolerance,
            "outcome": self.outcome,
            "measured": self.measured,
        }


@dataclass(frozen=True)
class Claim:
    """The result of measuring a :class:`ClaimSpec` over seeds: estimate, interval, outcome."""

    spec: ClaimSpec
    per_seed: tuple
    estimate: float
    ci: tuple
    level: float
    outcome: str
    setting: str = "digits-mlp"
    regime: str = ""
    measured: dict = field(default_factory=dict, compare=False)

    kind = "claim"

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def margin(self) -> float:
        return margin(self.ci[0], self.ci[1], self.spec.threshold, self.spec.direction)

    def __str__(self) -> str:
        where = f" ({self.regime})" if self.regime else ""
        what = "control " if self.spec.control else ""
        lo, hi = self.ci
        return (
            f"[{what}{self.outcome}, {self.setting}{where}] {self.spec.reading}\n"
            f"    {self.spec.statistic}: {_fmt(self.estimate)}, {self.level:.0%} CI [{_fmt(lo)}, {_fmt(hi)}] "
            f"over {len(self.per_seed)} seeds; threshold {self.spec.direction} {_fmt(self.spec.threshold)} "
            f"({self.spec.reason})"
        )

    def to_json(self) -> dict:
        rec = {
            "name": self.name,
            "kind": "claim",
            "chapter": self.spec.chapter,
            "group": self.spec.group,
            "setting": self.setting,
            "statement": self.spec.reading,
            "statistic": {
                "name": self.spec.statistic,
                "per_seed": list(self.per_seed),
                "estimate": self.estimate,
                "ci": list(self.ci),
                "level": self.level,
                "threshold": self.spec.threshold,
                "direction": self.spec.direction,
            },
            "outcome": self.outcome,
            "measured": self.measured,
        }
        if self.regime:
            rec["regime"] = self.regime
        if self.spec.control:
            rec["control"] = True
        if self.spec.intervention:
            rec["intervention"] = self.spec.intervention
        return rec


def _fmt(v: float) -> str:
    v = float(v)
    if v == 0:
        return "0"
    return f"{v:.3g}" if 1e-3 <= abs(v) < 1e4 else f"{v:.2e}"


def paper_outcome(claims) -> str:
    """The outcome of a paper claim from its records (one per regime or setting).

    All hold: **holds**. Some hold, the others not: **holds in a regime**. None holds
    and some are inconclusive: **inconclusive**. None holds: **not reproduced**.
    """
    outs = [c.outcome for c in check_records(claims, what="claims")]
    if not outs:
        raise ValueError("a paper claim needs at least one record.")
    if all(o == HOLDS for o in outs):
        return HOLDS
    if HOLDS in outs:
        return REGIME
    if INCONCLUSIVE in outs:
        return INCONCLUSIVE
    return NOT_REPRODUCED


def verdict(records) -> str:
    """The chapter's closing verdict: identities and claims counted apart, then each record."""
    records = check_records(records)
    if not records:
        raise ValueError("a verdict needs at least one record.")
    ids = [r for r in records if r.kind == "identity"]
    cls = [r for r in records if r.kind == "claim" and not r.spec.control]
    ctl = [r for r in records if r.kind == "claim" and r.spec.control]
    lines = []
    if ids:
        ok = sum(r.outcome == VERIFIED for r in ids)
        lines.append(f"Identities: {ok} of {len(ids)} verified against their stated tolerances.")
    if cls:
        counts = {o: sum(c.outcome == o for c in cls) for o in OUTCOMES}
        head = ", ".join(f"{n} {o}" for o, n in counts.items() if n)
        per_setting = []
        for setting in [s for s in SETTINGS if any(c.setting == s for c in cls)]:
            groups = _groups([c for c in cls if c.setting == setting])
            gcounts = {o: sum(paper_outcome(g) == o for g in groups.values()) for o in GROUP_OUTCOMES}
            ghead = ", ".join(f"{n} {o}" for o, n in gcounts.items() if n)
            per_setting.append(f"{setting}: {len(groups)} claims, {ghead}")
        lines.append(f"Claims: {len(cls)} records ({head}); by setting, " + "; ".join(per_setting) + ".")
    if ctl:
        counts = {o: sum(c.outcome == o for c in ctl) for o in OUTCOMES}
        head = ", ".join(f"{n} {o}" for o, n in counts.items() if n)
        lines.append(f"Controls (not counted as claims): {len(ctl)} records ({head}).")
    return "\n".join(lines + [str(r) for r in ids + cls + ctl])


def _groups(claims) -> dict[str, list[Claim]]:
    groups: dict[str, list[Claim]] = {}
    for c in claims:
        groups.setdefault(c.spec.group, []).append(c)
    return groups


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _error(value: float) -> str:
    """An identity's error: a power-of-ten bound when it is round-off-sized (below 1e-8, where its
    last bits differ between machines), else three significant digits (a convergence order's
    distance from its exact value, say, is not round-off)."""
    return roundoff(value) if abs(value) < 1e-8 else f"{value:.3g}"


def identity_table(records) -> str:
    """A markdown table of identity records.

    Round-off-sized errors print as power-of-ten bounds, larger ones with three digits.
    """
    ids = [r for r in check_records(records) if r.kind == "identity"]
    if not ids:
        raise ValueError("no identity records to tabulate.")
    rows = ["| ch. | identity | error | tolerance | outcome |", "| --- | --- | --- | --- | --- |"]
    for r in ids:
        rows.append(
            f"| {r.spec.chapter} | {_cell(r.spec.statement)} | {_error(r.error)} | {r.spec.tolerance:.0e} "
            f"| {r.outcome} |"
        )
    return "\n".join(rows)


def claim_table(records) -> str:
    """A markdown table of claim records: estimate, interval, threshold and margin, outcome first."""
    cls = [r for r in check_records(records) if r.kind == "claim"]
    if not cls:
        raise ValueError("no claim records to tabulate.")
    rows = [
        "| ch. | outcome | claim | setting | regime | estimate | 95% CI | threshold | margin |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for c in cls:
        lo, hi = c.ci
        rows.append(
            f"| {c.spec.chapter} | **{c.outcome}** | {_cell(c.spec.reading)} | {c.setting} | {_cell(c.regime or '-')} "
            f"| {_fmt(c.estimate)} | [{_fmt(lo)}, {_fmt(hi)}] | {c.spec.direction} {_fmt(c.spec.threshold)} "
            f"| {c.margin:+.3g} |"
        )
    return "\n".join(rows)


def group_table(records) -> str:
    """A markdown table of claims (groups of records), the paper's or the book's own, with the outcome per setting.

    A paper claim is quoted in the abstract's words; a claim of the book (a control, or a
    sharper statement the measurements suggest) shows its reading.
    """
    cls = [r for r in check_records(records) if r.kind == "claim"]
    if not cls:
        raise ValueError("no claim records to tabulate.")
    settings = [s for s in SETTINGS if any(c.setting == s for c in cls)]
    rows = [
        "| ch. | claim | whose | " + " | ".join(settings) + " |",
        "| --- | --- | --- | " + " | ".join("---" for _ in settings) + " |",
    ]
    for name, group in _groups(cls).items():
        cells = []
        for s in settings:
            recs = [c for c in group if c.setting == s]
            cells.append(f"**{paper_outcome(recs)}**" if recs else "not measured")
        spec = group[0].spec
        whose = "paper" if spec.paper else "book (control)" if spec.control else "book"
        words = f'"{spec.paper}"' if spec.paper else spec.reading
        rows.append(f"| {spec.chapter} | {_cell(name)}: {_cell(words)} | {whose} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def counts(records) -> dict[str, int]:
    """How many identities, claim records of each outcome (controls apart), and controls."""
    records = check_records(records)
    out = {"identities": sum(r.kind == "identity" for r in records)}
    for o in OUTCOMES:
        out[o] = sum(r.kind == "claim" and not r.spec.control and r.outcome == o for r in records)
    out["controls"] = sum(r.kind == "claim" and r.spec.control for r in records)
    return out


# --------------------------------------------------------------------------- evidence files

#: Where a chapter writes its evidence: ``$ADVNOTES_EVIDENCE_DIR`` when set (the tests set it
#: to a temporary folder, so they never write a tracked file), else ``evidence/`` beside the
#: chapter for the quick profile and ``evidence/full/`` for the full one.
EVIDENCE_ENV = "ADVNOTES_EVIDENCE_DIR"


def evidence_dir(*, profile: str | None = None) -> Path:
    """The folder a chapter's :meth:`Evidence.save` writes to (see ``EVIDENCE_ENV``)."""
    from ..config import get_profile

    if profile is not None and profile not in ("quick", "full"):
        raise ValueError(f"profile must be None, 'quick' or 'full', got {profile!r}.")
    override = os.environ.get(EVIDENCE_ENV, "").strip()
    if override:
        return Path(override)
    profile = profile or get_profile()
    return Path("evidence") if profile == "quick" else Path("evidence") / profile


class Evidence:
    """Collects a chapter's records and writes them as ``chN.json``.

    ``evidence.identity(spec, error)`` and ``evidence.claim(spec, per_seed, ...)`` check
    or measure a declared spec, keep the record and return it; ``evidence.save()`` writes
    the file (only if its content changed, so a re-run with equal numbers changes no byte).
    """

    def __init__(self, chapter: int):
        if isinstance(chapter, bool) or not isinstance(chapter, numbers.Integral) or chapter < 0:
            raise TypeError(f"chapter must be a chapter number (int >= 0), got {chapter!r}.")
        self.chapter = int(chapter)
        self.records: list[Identity | Claim] = []

    def _keep(self, rec):
        if rec.spec.chapter != self.chapter:
            raise ValueError(f"{rec.name!r} is declared for chapter {rec.spec.chapter}, not {self.chapter}.")
        key = (rec.name, rec.setting, getattr(rec, "regime", ""))
        if any((r.name, r.setting, getattr(r, "regime", "")) == key for r in self.records):
            raise ValueError(f"{rec.name!r} ({rec.setting}) was already recorded in this chapter.")
        self.records.append(rec)
        return rec

    def identity(self, spec: IdentitySpec, error: float, **kwargs) -> Identity:
        """Check an identity and keep its record."""
        if not isinstance(spec, IdentitySpec):
            raise TypeError(f"spec must be an IdentitySpec (e.g. claims.ch1.PSD), got {type(spec).__name__}.")
        return self._keep(spec.check(error, **kwargs))

    def claim(self, spec: ClaimSpec, per_seed, **kwargs) -> Claim:
        """Measure a claim over seeds and keep its record."""
        if not isinstance(spec, ClaimSpec):
            raise TypeError(f"spec must be a ClaimSpec (e.g. claims.ch1.CURVATURE_VS_PY), got {type(spec).__name__}.")
        return self._keep(spec.measure(per_seed, **kwargs))

    def text(self) -> str:
        return json.dumps({"chapter": self.chapter, "records": [r.to_json() for r in self.records]}, indent=1) + "\n"

    def save(self, path=None) -> Path:
        """Write the records (atomically, only if changed) and return the path written."""
        if path is not None and not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be None or a file path (str or Path), got {type(path).__name__}.")
        path = Path(path) if path is not None else evidence_dir() / f"ch{self.chapter}.json"
        text = self.text()
        if not (path.is_file() and path.read_text(encoding="utf-8") == text):
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
        return path


def _plain(value):
    """Measured numbers as JSON-ready Python values (tensors and arrays become floats/lists)."""
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return _round(value)
    raise TypeError(f"cannot record a measured value of type {type(value).__name__}; pass numbers or lists.")


def record_from_json(rec: dict) -> Identity | Claim:
    """Rebuild one record from its JSON with the *declared* spec, re-deciding its outcome.

    Raises ``RuntimeError`` if the file disagrees with the declaration (another reading,
    statistic, threshold, direction or tolerance, or another outcome than the rule gives):
    re-execute the chapter.
    """
    keys = {"name", "kind", "outcome"}
    if not isinstance(rec, dict) or not keys <= set(rec):
        missing = sorted(keys - set(rec)) if isinstance(rec, dict) else sorted(keys)
        raise ValueError(
            f"rec must be one record of an evidence file (a dict with 'name', 'kind', 'outcome', ...), got "
            f"{type(rec).__name__} without {missing}; re-execute the chapter that writes it."
        )
    needed = {"identity": ("error",), "claim": ("statistic", "setting")}.get(rec["kind"], ())
    if rec["kind"] not in ("identity", "claim") or any(k not in rec for k in needed):
        raise ValueError(
            f"{rec['name']}: a record of kind {rec['kind']!r} must be an 'identity' (with 'error') or a 'claim' "
            "(with 'statistic' and 'setting'); the file is damaged or of another version: re-execute the chapter."
        )
    spec = get_spec(rec["name"])
    if rec["kind"] != ("identity" if isinstance(spec, IdentitySpec) else "claim"):
        raise RuntimeError(f"{rec['name']}: recorded as a {rec['kind']}, declared otherwise; re-execute the chapter.")
    declared = spec.statement if isinstance(spec, IdentitySpec) else spec.reading
    if rec.get("statement") != declared:
        raise RuntimeError(
            f"{rec['name']}: the file states {rec.get('statement')!r}, but the declaration now reads "
            f"{declared!r}; re-execute the chapter."
        )
    if isinstance(spec, IdentitySpec):
        if rec.get("tolerance") != spec.tolerance:
            raise RuntimeError(
                f"{rec['name']}: checked against tolerance {rec.get('tolerance')}, but declared {spec.tolerance}; "
                "re-execute the chapter."
            )
        obj = spec.check(rec["error"], setting=rec.get("setting", "digits-mlp"), measured=rec.get("measured", {}))
    else:
        st = rec["statistic"]
        if bool(rec.get("control", False)) != spec.control:
            raise RuntimeError(
                f"{rec['name']}: recorded and declared differ on being a control; re-execute the chapter."
            )
        if rec.get("intervention", "") != spec.intervention:
            raise RuntimeError(
                f"{rec['name']}: recorded for the intervention {rec.get('intervention', '')!r}, but declared for "
                f"{spec.intervention!r}; re-execute the chapter."
            )
        if (st["name"], st["threshold"], st["direction"]) != (spec.statistic, spec.threshold, spec.direction):
            raise RuntimeError(
                f"{rec['name']}: recorded as {st['name']!r} {st['direction']} {st['threshold']}, but declared "
                f"{spec.statistic!r} {spec.direction} {spec.threshold}; re-execute the chapter."
            )
        obj = spec.measure(
            st["per_seed"],
            setting=rec["setting"],
            regime=rec.get("regime", ""),
            measured=rec.get("measured", {}),
            level=st["level"],
        )
    if obj.outcome != rec["outcome"]:
        raise RuntimeError(
            f"{rec['name']}: the rule gives {obj.outcome!r} on the recorded numbers, but the file says "
            f"{rec['outcome']!r}; re-execute the chapter."
        )
    return obj


def committed_evidence(chapter: int, *, profile: str = "quick") -> Path:
    """The committed evidence file of a chapter, as shipped inside the installed package.

    The book's ``book/evidence`` folder is a link to the package folder
    ``advnotes/evidence``, so a repository checkout, an editable install and a plain
    ``pip install`` (e.g. on Colab, where no repository is around) read the same files.
    """
    from importlib.resources import files

    if profile not in ("quick", "full"):
        raise ValueError(f"profile must be 'quick' or 'full', got {profile!r}.")
    if isinstance(chapter, bool) or not isinstance(chapter, numbers.Integral) or chapter < 1:
        raise TypeError(f"chapter must be a chapter number (an int such as 1), got {chapter!r}.")
    folder = Path(str(files("advnotes") / "evidence"))
    return (folder if profile == "quick" else folder / profile) / f"ch{int(chapter)}.json"


def load_evidence(path) -> list[Identity | Claim]:
    """Re-read a chapter's evidence file and re-decide every record (see :func:`record_from_json`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no evidence file {str(path)!r}; execute the chapter that writes it first.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise RuntimeError(
            f"{path}: not a JSON evidence file ({err}); re-execute the chapter that writes it."
        ) from None
    if not isinstance(data, dict) or "records" not in data:
        raise RuntimeError(f"{path}: not an evidence file of this version (no 'records'); re-execute the chapter.")
    return [record_from_json(rec) for rec in data["records"]]
