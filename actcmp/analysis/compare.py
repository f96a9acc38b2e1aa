"""``actcmp compare NEW BASELINE``: which cells moved beyond their seed spread.

A *cell* is one configuration without its seed (dataset, depth, activation and every
other field); its runs over seeds give a mean and a standard deviation of the metric
(default ``test_loss``, over runs that finished with a finite value). A cell has

* **regressed** when the metric got worse by more than the limit
  ``max(k * pooled_std, atol, rtol * |mean_baseline|)`` (defaults k=3, atol=1e-6,
  rtol=0.01: three seed standard deviations, with a floor for cells whose seeds agree,
  e.g. a single seed), or when a larger share of its runs diverged or failed;
* **improved** when it got better by more than the limit (or fewer runs diverged);
* **missing** when the baseline has it and NEW does not; **new** the other way round;
* **incomplete** when NEW holds fewer of the cell's runs than the baseline (seeds missing:
  an interrupted sweep, one shard) and it did not regress: its mean is over fewer seeds.

A sweep with ``[tune]`` is compared on the runs the report's tables compare: its tuning
runs (other seeds, every candidate value) and its evaluation runs at a selected value other
than the common one are left out (:func:`left_out_runs`, with the report's rule
:func:`actcmp.analysis.tune.left_out_ids`), and the summary says how many.

When the two directories ran on different CPU kernel families (the ``cpu_capability``
each run's environment records, e.g. AVX2 and AVX512), float32 results differ in their
last digits for reasons that are not regressions: the relative floor is then at least
``KERNEL_RTOL`` (1e-3) and the summary says so.

``pooled_std = sqrt(((n1-1) s1^2 + (n2-1) s2^2) / (n1 + n2 - 2))`` over the two sides'
seeds. Lower is better except for ``probe_accuracy`` and ``anomaly_auroc``. The check
fails (``Comparison.failed``) when any cell regressed, is missing or is incomplete.

Only a result is compared: a final metric measured on the trained model, not a config field
(``lr``, ``init_gain``) nor what the config or the data fix, or bookkeeping (:data:`NOT_RESULTS`:
``n_params``, ``probe_version``, ...). A metric that no converged run of a side holds (e.g.
``anomaly_auroc`` of a sweep without an anomaly set) compares nothing and is refused
(:func:`check_held`), rather than passing every cell as "same".
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from actcmp.config import DERIVED_FIELDS, RUN_FIELDS
from actcmp.errors import ActcmpError, ConfigError, did_you_mean

#: the least relative limit between directories computed with different CPU kernel families
KERNEL_RTOL = 1e-3
HIGHER_IS_BETTER = frozenset({"probe_accuracy", "anomaly_auroc"})
NOT_CELL = frozenset({"seed"})
ALWAYS_SHOWN = ("dataset", "depth", "activation")
VERDICTS = ("regressed", "missing", "incomplete", "improved", "new", "same")
#: columns of the runs frame that are neither config fields nor metrics
BOOKKEEPING = frozenset(
    {"run_id", "status", "wall_time_s", "error", "finished_at", "data_fingerprint", "sweeps", "role", "tune_unit"}
)
_DIVERGENCE = "every comparison judges divergence already: the share of a cell's runs that diverged or failed"
#: stored final metrics that are no result of training, and why
NOT_RESULTS = {
    "n_params": "the model's size, fixed by its config",
    "probe_version": "bookkeeping: the version of the linear probe's definition",
    "baseline_loss": "the mean predictor's loss, fixed by the data",
    "loss_threshold": "threshold_fraction x baseline_loss, fixed by the config and the data",
    "epochs_run": "a converged run trains every epoch its config asks for",
    "diverged": _DIVERGENCE,
    "diverged_epoch": _DIVERGENCE,
}
#: metrics that a converged run may lack as a result (it never reached the loss threshold):
#: one side without any value is a verdict on each cell, not a comparison of nothing
MISSING_IS_A_RESULT = frozenset({"epochs_to_threshold"})


@dataclass
class Side:
    """One cell on one side: metric values of its converged (``done``) runs, and all its runs."""

    values: list[float] = field(default_factory=list)
    runs: int = 0

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def bad(self) -> int:
        """Runs without a finite metric (diverged or failed)."""
        return self.runs - self.n

    @property
    def mean(self) -> float:
        return sum(self.values) / self.n if self.values else math.nan

    @property
    def std(self) -> float:
        if self.n < 2:
            return 0.0
        m = self.mean
        return math.sqrt(sum((v - m) ** 2 for v in self.values) / (self.n - 1))

    def describe(self) -> str:
        if not self.runs:
            return "-"
        text = f"{self.mean:.4g} ± {self.std:.2g} (n={self.n})" if self.values else f"- (n=0/{self.runs})"
        return text + (f", {self.bad} bad" if self.bad and self.values else "")


@dataclass
class CellResult:
    cell: dict[str, Any]
    base: Side
    new: Side
    delta: float = math.nan
    limit: float = math.nan
    verdict: str = "same"
    note: str = ""


@dataclass
class Comparison:
    """Every cell of NEW and BASELINE with its verdict (see the module docstring)."""

    metric: str
    keys: tuple[str, ...]
    cells: list[CellResult]
    k: float
    rtol: float
    atol: float
    #: the kernel families of each side when they differ (the rtol floor was raised), else ()
    kernels: tuple[str, str] | tuple[()] = ()
    #: runs of a [tune] sweep left out of NEW and of BASELINE (:func:`left_out_runs`)
    left_out: tuple[int, int] = (0, 0)
    #: the results versions of NEW and BASELINE when they differ (else ()): a metric whose
    #: definition changed between versions moves without a regression
    versions: tuple[int, int] | tuple[()] = ()

    def count(self, verdict: str) -> int:
        return sum(1 for c in self.cells if c.verdict == verdict)

    @property
    def failed(self) -> bool:
        return bool(self.count("regressed") or self.count("missing") or self.count("incomplete"))

    def summary(self) -> str:
        counts = ", ".join(f"{self.count(v)} {v}" for v in VERDICTS if self.count(v) or v == "regressed")
        rule = f"limit = max({self.k:g} x pooled seed std, {self.atol:g}, {self.rtol:g} x |baseline mean|)"
        kernels = (
            f"; rtol at least {KERNEL_RTOL:g}: NEW ran on {self.kernels[0]} kernels, BASELINE on {self.kernels[1]}"
            if self.kernels
            else ""
        )
        tuned = (
            f"; [tune]: left out {self.left_out[0]} runs of NEW, {self.left_out[1]} of BASELINE "
            "(tuning runs, runs at a selected value: as the report)"
            if any(self.left_out)
            else ""
        )
        versions = (
            f"; NEW holds results version {self.versions[0]}, BASELINE {self.versions[1]}: a metric whose "
            "definition changed between them moves without a regression (CHANGELOG)"
            if self.versions
            else ""
        )
        return f"{len(self.cells)} cells compared on {self.metric}: {counts}  [{rule}{kernels}{tuned}{versions}]"


def _check_options(k: float, rtol: float, atol: float) -> None:
    for name, value in (("--k", k), ("--rtol", rtol), ("--atol", atol)):
        if not math.isfinite(value) or value < 0:
            raise ConfigError(f"{name} {value}: must be a finite number >= 0")


def left_out_runs(directory: str | Path) -> set[str]:
    """The run ids of ``directory`` that compare leaves out: those the report's tables leave
    out (:func:`actcmp.analysis.tune.left_out_ids`, the same function): every [tune]
    sweep's tuning runs and its evaluation runs at a selected value other than the common
    one. Empty without [tune]."""
    from actcmp.analysis.tune import report_left_out
    from actcmp.store.database import Store

    with Store(directory, create=False) as store, store.snapshot():
        return report_left_out(store)


@dataclass
class _Stored:
    """One side as :func:`compare_results` reads it."""

    sides: dict[str, Side]
    cells: dict[str, dict[str, Any]]
    metrics: set[str]  # the results its runs store (:func:`result_metrics`)
    held: set[str]  # those of them that a converged run holds a finite value of
    left_out: int  # runs of a [tune] sweep left out
    converged: int  # runs that converged (status done): those the metric is read from


def result_metrics(columns: Any, numeric: Any = None) -> set[str]:
    """The results among the runs frame's ``columns``: every column that is no config field
    (:data:`RUN_FIELDS`, :data:`DERIVED_FIELDS`), no :data:`BOOKKEEPING` and no
    :data:`NOT_RESULTS`; ``numeric(name)``: whether that column holds numbers (a config key of
    another version is text)."""
    names = set(columns) - set(RUN_FIELDS) - set(DERIVED_FIELDS) - BOOKKEEPING - set(NOT_RESULTS)
    return {name for name in names if numeric is None or numeric(name)}


def check_metric(metric: str, stored: set[str], held: set[str]) -> None:
    """Refuse a ``--metric`` that is no result, or that neither side stores (one line naming
    the results ``held`` by both sides; close matches among those ``stored``)."""
    available = ", ".join(sorted(held)) or "none"
    if metric in RUN_FIELDS or metric in DERIVED_FIELDS:
        raise ConfigError(f"--metric {metric!r}: a config field, not a result (results: {available})")
    if metric in NOT_RESULTS:
        raise ConfigError(f"--metric {metric!r}: not a result: {NOT_RESULTS[metric]} (results: {available})")
    if metric not in stored and metric not in MISSING_IS_A_RESULT:  # never reached anywhere: still a result
        raise ConfigError(
            f"--metric {metric!r}: not a stored metric{did_you_mean(metric, sorted(stored))} (available: {available})"
        )


def check_held(metric: str, new: tuple[str | Path, _Stored], baseline: tuple[str | Path, _Stored]) -> None:
    """Refuse a metric that no converged run of a side holds: every cell would pass as
    "same" (or "improved") with no number compared. A side whose runs all diverged or
    failed is judged by its cells' divergence; one whose runs never reached the loss
    threshold (:data:`MISSING_IS_A_RESULT`) is judged too, whether or not the other side's
    did: never reaching it is a result (a gate on a hard sweep where neither side reaches it
    compares "same", as it did before this check)."""
    lacking = [
        f"{label} ({path})"
        for label, (path, side) in (("NEW", new), ("BASELINE", baseline))
        if side.converged and metric not in side.held
    ]
    if not lacking or metric in MISSING_IS_A_RESULT:
        return
    held = ", ".join(sorted(new[1].held & baseline[1].held)) or "none held by both"
    raise ConfigError(
        f"no converged run of {' or '.join(lacking)} holds {metric}: nothing to compare (results: {held})"
    )


def open_side(directory: str | Path, label: str) -> None:
    """Open ``directory`` as a results store, read-only; a problem is one line that says
    which argument it is (``NEW`` or ``BASELINE``)."""
    from actcmp.store.database import Store

    try:
        with Store(directory, create=False):
            pass
    except ActcmpError as exc:
        exc.args = (f"{label}: {exc}",)
        raise


def _cells(directory: str | Path, metric: str) -> _Stored:
    import pandas as pd

    from actcmp.store.database import load_results

    runs = load_results(directory).runs
    left_out = left_out_runs(directory)
    if left_out and "run_id" in runs:
        before = len(runs)
        runs = runs[~runs["run_id"].isin(left_out)]
        left = before - len(runs)
    else:
        left = 0
    metrics = result_metrics(runs.columns, lambda name: pd.api.types.is_numeric_dtype(runs[name]))
    fields = [f for f in RUN_FIELDS if f not in NOT_CELL and f in runs.columns]
    sides: dict[str, Side] = {}
    cells: dict[str, dict[str, Any]] = {}
    converged = 0
    for record in runs.to_dict("records"):
        cell = {f: _plain(record.get(f)) for f in fields}
        key = json.dumps(cell, sort_keys=True, default=str)
        cells.setdefault(key, cell)
        side = sides.setdefault(key, Side())
        side.runs += 1
        value = record.get(metric)
        converged += record.get("status") == "done"
        if record.get("status") == "done" and isinstance(value, int | float) and math.isfinite(value):
            side.values.append(float(value))
    done = runs[runs["status"] == "done"] if "status" in runs else runs.iloc[0:0]
    held = {m for m in metrics if pd.to_numeric(done[m], errors="coerce").map(math.isfinite).any()}
    return _Stored(sides, cells, metrics, held, left, converged)


#: the most fields :func:`_kept_apart` names
APART_SHOWN = 3


def _kept_apart(new: dict[str, dict[str, Any]], base: dict[str, dict[str, Any]]) -> str:
    """Why two sets of cells meet nowhere, in words: the fields whose values the two sides
    never share (``split_seed: 0 against none`` for a tuned sweep stored before
    ``split_seed``), or "results of different sweeps?" when no single field explains it."""

    def values(cells: dict[str, dict[str, Any]], name: str) -> list[str]:
        shown = ("none" if c.get(name) is None else str(c.get(name)) for c in cells.values())
        return sorted(set(shown))

    fields = dict.fromkeys(f for cells in (new, base) for c in cells.values() for f in c)
    apart: list[tuple[str, str]] = []
    for name in fields:
        ours, theirs = values(new, name), values(base, name)
        if set(ours).isdisjoint(theirs):
            apart.append((name, f"{name}: {', '.join(ours)} against {', '.join(theirs)}"))
    if not apart:
        return "results of different sweeps?"
    shown = apart[:APART_SHOWN]
    more = f"; {len(apart) - APART_SHOWN} more" if len(apart) > APART_SHOWN else ""
    hint = ""
    split = [text for name, text in shown if name == "split_seed"]
    if split and "none" in split[0].replace(" against ", ", ").removeprefix("split_seed: ").split(", "):
        hint = "; a tuned sweep stored before split_seed drew each seed's own split (none): rerun it to compare"
    return "they differ in " + "; ".join(text for _, text in shown) + more + hint


def _plain(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return value.item() if hasattr(value, "item") else value


def compare_results(
    new: str | Path,
    baseline: str | Path,
    *,
    metric: str = "test_loss",
    k: float = 3.0,
    rtol: float = 0.01,
    atol: float = 1e-6,
) -> Comparison:
    """Compare every cell of ``new`` with the same cell of ``baseline``; a directory that
    cannot be read is named as ``NEW`` or ``BASELINE``, a ``metric`` that is no result or
    that a side does not hold is refused (module docstring)."""
    _check_options(k, rtol, atol)
    open_side(new, "NEW")
    open_side(baseline, "BASELINE")
    new_stored, base_stored = _cells(new, metric), _cells(baseline, metric)
    new_sides, new_cells, new_left = new_stored.sides, new_stored.cells, new_stored.left_out
    base_sides, base_cells, base_left = base_stored.sides, base_stored.cells, base_stored.left_out
    if not new_sides or not base_sides:
        empty = new if not new_sides else baseline
        raise ConfigError(f"{empty}: no stored runs to compare")
    check_metric(metric, new_stored.metrics | base_stored.metrics, new_stored.held & base_stored.held)
    check_held(metric, (new, new_stored), (baseline, base_stored))
    if not set(new_sides) & set(base_sides):
        raise ConfigError(f"{new} and {baseline} have no cell in common ({_kept_apart(new_cells, base_cells)})")
    cells = {**base_cells, **new_cells}
    shown = [
        f
        for f in RUN_FIELDS
        if f not in NOT_CELL and len({json.dumps(c.get(f), default=str) for c in cells.values()}) > 1
    ]
    keys = tuple(dict.fromkeys([*ALWAYS_SHOWN, *shown]))
    sign = -1.0 if metric in HIGHER_IS_BETTER else 1.0
    families = (kernel_families(new), kernel_families(baseline))
    kernels: tuple[str, str] | tuple[()] = ()
    if all(families) and families[0] != families[1]:
        kernels = (",".join(sorted(families[0])), ",".join(sorted(families[1])))
    used_rtol = max(rtol, KERNEL_RTOL) if kernels else rtol
    stored_versions = (results_version(new), results_version(baseline))
    results = []
    for key in sorted(cells, key=lambda c: tuple(str(cells[c].get(f)) for f in keys)):
        result = CellResult(cell=cells[key], base=base_sides.get(key, Side()), new=new_sides.get(key, Side()))
        _judge(result, sign, k, used_rtol, atol, _bad_words(metric))
        results.append(result)
    return Comparison(
        metric=metric,
        keys=keys,
        cells=results,
        k=k,
        rtol=used_rtol,
        atol=atol,
        kernels=kernels,
        left_out=(new_left, base_left),
        versions=stored_versions if stored_versions[0] != stored_versions[1] else (),
    )


def results_version(directory: str | Path) -> int:
    """The results version a directory's store was written with."""
    from actcmp.store.database import Store

    with Store(directory, create=False) as store:
        return store.results_version


def kernel_families(directory: str | Path) -> set[str]:
    """The CPU kernel families (``cpu_capability``) a directory's runs were computed with."""
    from actcmp.store.database import Store

    with Store(directory, create=False) as store:
        return {v.lower() for v in store.environment_values("cpu_capability")} - {"unknown", ""}


def _bad_words(metric: str) -> str:
    """What a run without a value of ``metric`` is, in a cell's note."""
    if metric in MISSING_IS_A_RESULT:  # a converged run that never reached the loss threshold has none
        return "diverged, failed or never reached the threshold"
    return "diverged/failed"


def _judge(result: CellResult, sign: float, k: float, rtol: float, atol: float, bad: str = "diverged/failed") -> None:
    _judge_values(result, sign, k, rtol, atol, bad)
    base, new = result.base, result.new
    if 0 < new.runs < base.runs:  # seeds missing from NEW: a mean over fewer runs
        fewer = f"NEW holds {new.runs} of BASELINE's {base.runs} runs"
        result.note = f"{fewer}; {result.note}" if result.note else fewer
        if result.verdict != "regressed":
            result.verdict = "incomplete"


def _judge_values(result: CellResult, sign: float, k: float, rtol: float, atol: float, bad: str) -> None:
    base, new = result.base, result.new
    if not new.runs:
        result.verdict, result.note = "missing", "not in NEW"
        return
    if not base.runs:
        result.verdict, result.note = "new", "not in BASELINE"
        return
    bad_base, bad_new = base.bad / base.runs, new.bad / new.runs
    if bad_new > bad_base:
        result.verdict, result.note = "regressed", f"{bad} {new.bad}/{new.runs} (was {base.bad}/{base.runs})"
        return
    if not new.values or not base.values:
        result.verdict = "improved" if bad_new < bad_base else "same"
        return
    dof = base.n + new.n - 2
    pooled = math.sqrt(((base.n - 1) * base.std**2 + (new.n - 1) * new.std**2) / dof) if dof > 0 else 0.0
    result.delta = new.mean - base.mean
    result.limit = max(k * pooled, atol, rtol * abs(base.mean))
    worse = sign * result.delta
    if worse > result.limit:
        result.verdict = "regressed"
    elif worse < -result.limit or bad_new < bad_base:
        result.verdict = "improved"
    if bad_new < bad_base:
        result.note = f"{bad} {new.bad}/{new.runs} (was {base.bad}/{base.runs})"


def _table(comparison: Comparison, show_all: bool) -> tuple[list[str], list[list[str]]]:
    header = [*comparison.keys, "baseline", "new", "delta", "limit", "verdict"]
    rows = []
    for cell in comparison.cells:
        if not show_all and cell.verdict == "same":
            continue
        delta = f"{cell.delta:+.3g}" if math.isfinite(cell.delta) else "-"
        limit = f"{cell.limit:.3g}" if math.isfinite(cell.limit) else "-"
        verdict = cell.verdict + (f" ({cell.note})" if cell.note else "")
        rows.append(
            [
                *(str(cell.cell.get(f)) for f in comparison.keys),
                cell.base.describe(),
                cell.new.describe(),
                delta,
                limit,
                verdict,
            ]
        )
    return header, rows


def format_comparison(comparison: Comparison, show_all: bool = False) -> str:
    """Plain-text table of the cells that moved (every cell with ``show_all``) + summary."""
    header, rows = _table(comparison, show_all)
    lines = []
    if rows:
        table = [header, *rows]
        widths = [max(len(r[i]) for r in table) for i in range(len(header))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in table]
        lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append(comparison.summary())
    return "\n".join(lines)


def format_markdown(comparison: Comparison, new: str | Path, baseline: str | Path) -> str:
    """Markdown for ``$GITHUB_STEP_SUMMARY``: verdict, then the cells that moved."""
    mark = "❌" if comparison.failed else "✅"
    header, rows = _table(comparison, show_all=False)
    lines = [f"### {mark} actcmp compare: `{new}` vs baseline `{baseline}`", "", comparison.summary(), ""]
    if rows:
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join("---" for _ in header) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        lines.append("")
    return "\n".join(lines)
