"""Frames -> tables: every reshape of the long-format results happens here.

Conventions, used by the tables and by the figures alike:

* a grid *cell* is ``dataset``, ``depth`` and every other config field that varies
  independently of the activation (:func:`actcmp.analysis.cells.cell_keys`); seeds are replicates;
* statistics (means, std, ranks, curves) are over *converged* runs (status ``done``);
  diverged runs are counted (``diverged`` column, figure titles and legends) but their
  losses are left out; failed runs are counted in the status table only.

* the best activation of a cell has the fewest diverged seeds, then the lowest mean (the
  rule of :mod:`actcmp.analysis.stats`); the main table also marks the activations *tied* with it:
  paired t-tests over seeds against the best, Holm-adjusted over the cell's comparisons,
  give p >= 0.05 (``stats.paired_vs_best``); intervals are Student t over seeds.

Writers turn a table into CSV (raw numbers), Markdown (formatted, best and ties in bold)
and LaTeX (booktabs, hand-written so that no jinja2 is needed) and HTML (for the report).
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actcmp.analysis.cells import ALPHA, FINISHED, activation_order, cell_keys
from actcmp.analysis.cells import config_fields as config_fields
from actcmp.report.format import MISSING, fmt_fraction, fmt_interval, fmt_mean_std, fmt_number, fmt_p

if TYPE_CHECKING:
    import pandas as pd

    from actcmp.store.database import Results

#: a rule marking the best rows of one cell: Series of test-loss means -> bool Series
#: (it sees the rows with the fewest diverged seeds only, see :func:`mark_best`)
BestRule = Callable[["pd.Series"], "pd.Series"]
TIED_NOTE = (
    "bold = the best, or not separable from the best after Holm's correction (paired t-tests over seeds "
    "against the best, Holm-adjusted p ≥ 0.05 over the cell's comparisons)"
)
#: the main table's interval, named in its caption and notes
CI_LABEL = "95% CI (t)"


def lowest(values: pd.Series) -> pd.Series:
    """Default best rule: the lowest mean (exact ties all marked)."""
    if values.notna().sum() == 0:
        return values.notna()
    return values == values.min()


# -- cells ----------------------------------------------------------------------------
REQUIRED = {
    "runs": ("run_id", "status", "activation", "dataset", "depth", "seed"),
    "epochs": ("run_id", "epoch", "metric", "value"),
    "layers": ("run_id", "epoch", "layer", "metric", "value"),
    "planned": ("run_id", "activation"),
}


def complete(results: Results) -> Results:
    """``results`` with the columns every table and figure relies on (an empty store
    gives frames without config columns)."""
    from dataclasses import replace

    frames = {}
    for name, columns in REQUIRED.items():
        frame = getattr(results, name)
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            frame = frame.assign(**{c: [None] * len(frame) for c in missing})
        frames[name] = frame
    return replace(results, **frames)


def panel_keys(keys: list[str]) -> list[str]:
    """Cell keys that pick a figure panel row: everything but depth."""
    return [k for k in keys if k != "depth"]


def label(keys: list[str], values: tuple[Any, ...]) -> str:
    """``digits · depth 4`` / ``digits · lr=0.01``."""
    parts = []
    for key, value in zip(keys, values, strict=True):
        if key == "dataset":
            parts.append(str(value))
        elif key == "depth":
            parts.append(f"depth {value}")
        else:
            parts.append(f"{key}={value}")
    return " · ".join(parts)


def sort_rows(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Sort by cell keys, then activation in legend order (stable, deterministic)."""
    if frame.empty:
        return frame.reset_index(drop=True)
    order = {name: i for i, name in enumerate(activation_order(frame["activation"]))}
    ranked = frame.assign(_order=frame["activation"].map(order))
    return ranked.sort_values([*keys, "_order"], kind="mergesort").drop(columns="_order").reset_index(drop=True)


def converged(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"] == "done"] if "status" in runs else runs


# -- main tables ----------------------------------------------------------------------
def _values(frame: pd.DataFrame, column: str) -> pd.Series:
    import pandas as pd

    if column not in frame.columns:
        return pd.Series([], dtype=float)
    return pd.to_numeric(frame[column], errors="coerce").dropna()


def _stat(frame: pd.DataFrame, column: str, how: str) -> float:
    values = _values(frame, column)
    if len(values) == 0 or (how == "std" and len(values) < 2):
        return math.nan
    return float(getattr(values, how)(ddof=1) if how == "std" else getattr(values, how)())


def main_table(results: Results, best_rule: BestRule = lowest, *, statistics: bool = True) -> pd.DataFrame:
    """One row per cell x activation: test loss (mean/std/min/max over converged seeds),
    dead and saturated fractions, epochs to threshold, probe accuracy / AUROC (only when
    some run has them), counts. ``best`` marks the best activation(s) of each cell (see
    :func:`mark_best`).

    With ``statistics`` (the default) it adds ``test_loss_ci_low`` / ``test_loss_ci_high``
    (Student t 95% interval of the mean over converged seeds, NaN under 2 seeds) and, from
    paired t-tests against the cell's best (:func:`loss_statistics`), ``tied_with_best``
    (True / False / NA when fewer than 2 seeds pair up), ``p_vs_best`` (raw),
    ``p_vs_best_holm`` (Holm-adjusted within the cell; decides ``tied_with_best``) and
    ``effect_size_dz``. Figures pass ``statistics=False`` (they need none of it)."""
    results = complete(results)
    import pandas as pd

    runs = results.runs
    if runs.empty or "activation" not in runs.columns:
        return pd.DataFrame(columns=["dataset", "depth", "activation", "test_loss_mean", "runs", "best"])
    keys = cell_keys(runs)
    rows = []
    for key, group in runs.groupby([*keys, "activation"], dropna=False, sort=False):
        done = converged(group)
        row: dict[str, Any] = dict(zip([*keys, "activation"], key, strict=True))
        for how in ("mean", "std", "min", "max"):
            row[f"test_loss_{how}"] = _stat(done, "test_loss", how)
        row["dead_fraction_init"] = _stat(done, "dead_fraction_init", "mean")
        row["dead_fraction_final"] = _stat(done, "dead_fraction_final", "mean")
        row["saturated_fraction_final"] = _stat(done, "saturated_fraction_final", "mean")
        row["epochs_to_threshold"] = _stat(done, "epochs_to_threshold", "mean")
        row["threshold_reached"] = len(_values(done, "epochs_to_threshold"))
        for metric in ("probe_accuracy", "anomaly_auroc"):
            row[f"{metric}_mean"] = _stat(done, metric, "mean")
            row[f"{metric}_std"] = _stat(done, metric, "std")
        row["converged"] = len(done)
        row["diverged"] = int((group["status"] == "diverged").sum())
        row["failed"] = int((group["status"] == "failed").sum())
        row["runs"] = int(group["status"].isin(FINISHED).sum())
        rows.append(row)
    table = sort_rows(pd.DataFrame(rows), keys)
    # drop a metric's mean and std together, only when the metric is absent (a single seed
    # leaves the std NaN while the mean exists)
    absent = [m for m in ("probe_accuracy", "anomaly_auroc") if table[f"{m}_mean"].isna().all()]
    table = table.drop(columns=[f"{m}_{how}" for m in absent for how in ("mean", "std")])
    table["best"] = mark_best(table, keys, best_rule)
    if statistics:
        table = _with_statistics(table, results.runs)
    return table


def mark_best(table: pd.DataFrame, keys: list[str], rule: BestRule = lowest) -> pd.Series:
    """Bool per row: is this activation the best of its cell? ``rule`` picks among the rows
    with a mean test loss and the fewest diverged seeds of the cell (a diverged seed is
    the worst outcome, as in :mod:`actcmp.analysis.stats`); the other rows are never best."""
    import pandas as pd

    best = pd.Series(False, index=table.index)
    for _, group in table.groupby(keys, dropna=False, sort=False):
        means = pd.to_numeric(group["test_loss_mean"], errors="coerce")
        candidates = group[means.notna()]
        if "diverged" in group and len(candidates):
            candidates = candidates[candidates["diverged"] == candidates["diverged"].min()]
        if len(candidates):
            best.loc[candidates.index] = rule(candidates["test_loss_mean"]).to_numpy(dtype=bool)
    return best


STAT_COLUMNS = (
    "test_loss_ci_low",
    "test_loss_ci_high",
    "tied_with_best",
    "p_vs_best",
    "p_vs_best_holm",
    "effect_size_dz",
)


def loss_statistics(runs: pd.DataFrame, alpha: float = ALPHA) -> pd.DataFrame:
    """Per cell x activation (keys of :func:`actcmp.analysis.cells.cell_keys`): Student t interval
    of the mean test loss and the paired t-test against the cell's best, Holm-adjusted
    over the cell's comparisons.

    ``tied_with_best``: True for the best and for an activation whose Holm-adjusted p is
    ``>= alpha``; False when it is below or when it diverged on a seed where the best
    converged; NA (untested, never bold) when fewer than 2 seeds pair up with the best.
    ``p_vs_best`` (raw), ``p_vs_best_holm`` and ``effect_size_dz`` (Cohen's d_z of this
    minus best; > 0 = worse) come from the seeds where both converged."""
    import pandas as pd

    from actcmp.analysis import stats as stats

    keys = cell_keys(runs)
    summary = stats.summarise(runs, "test_loss")
    paired = stats.paired_vs_best(runs, "test_loss", alpha=alpha)
    tied = paired["tied"].astype(object)
    untested = ~paired["is_best"].astype(bool) & (paired["n_pairs"] < 2) & paired["tied"].astype(bool)
    tied[untested] = pd.NA
    out = summary[[*keys, "activation", "ci_low", "ci_high"]].merge(
        paired[[*keys, "activation"]].assign(
            tied=tied, p_value=paired["p_value"], p_adjusted=paired["p_adjusted"], d_z=paired["d_z"]
        ),
        on=[*keys, "activation"],
        how="outer",
    )
    return out.rename(
        columns={
            "ci_low": "test_loss_ci_low",
            "ci_high": "test_loss_ci_high",
            "tied": "tied_with_best",
            "p_value": "p_vs_best",
            "p_adjusted": "p_vs_best_holm",
            "d_z": "effect_size_dz",
        }
    )


def _with_statistics(table: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """``table`` with :data:`STAT_COLUMNS`: the CI beside the other test-loss columns, the
    paired-test columns after ``best``."""
    import pandas as pd

    from actcmp.analysis import stats as stats

    keys = cell_keys(runs) if not runs.empty else []
    if table.empty or not set(keys) <= set(table.columns):
        extra = pd.DataFrame({c: [math.nan] * len(table) for c in STAT_COLUMNS}, index=table.index)
        merged = pd.concat([table, extra], axis=1)
    else:
        merged = table.merge(loss_statistics(runs), on=[*keys, "activation"], how="left")
    merged["tied_with_best"] = merged["tied_with_best"].astype(object).where(merged["tied_with_best"].notna(), None)
    columns = list(table.columns)
    at = columns.index("test_loss_max") + 1
    order = [*columns[:at], "test_loss_ci_low", "test_loss_ci_high", *columns[at:]]
    return merged[[*order, "tied_with_best", "p_vs_best", "p_vs_best_holm", "effect_size_dz"]]


def rank_table(main: pd.DataFrame) -> pd.DataFrame:
    """Mean rank per activation across cells (rank 1 = lowest mean test loss in the cell;
    an activation with a diverged seed in a cell ranks last there, ties averaged: the
    scores of :func:`actcmp.analysis.stats.cell_scores`, so these are the Friedman test's ranks
    when every activation ran in every cell). ``all_diverged``: cells where every seed of
    the activation diverged."""
    import pandas as pd

    columns = ["activation", "mean_rank", "cells", "best", "all_diverged"]
    ranked = main[main["runs"] > 0] if "runs" in main else main
    if ranked.empty:
        return pd.DataFrame(columns=columns)
    keys = [k for k in main.columns if k in ("dataset", "depth") or k in _extra_columns(main)]
    score = ranked["test_loss_mean"].where(ranked["diverged"] == 0, math.inf) if "diverged" in ranked else None
    ranked = ranked.assign(_score=ranked["test_loss_mean"] if score is None else score)
    ranks = ranked.groupby(keys, dropna=False)["_score"].rank(method="average", na_option="bottom")
    ranked = ranked.assign(rank=ranks, all_diverged=ranked["test_loss_mean"].isna())
    rows = []
    for name in activation_order(ranked["activation"]):
        mine = ranked[ranked["activation"] == name]
        rows.append(
            {
                "activation": name,
                "mean_rank": float(mine["rank"].mean()),
                "cells": len(mine),
                "best": int(mine["best"].sum()),
                "all_diverged": int(mine["all_diverged"].sum()),
            }
        )
    table = pd.DataFrame(rows, columns=columns)
    return table.sort_values("mean_rank", kind="mergesort").reset_index(drop=True)


def _extra_columns(main: pd.DataFrame) -> list[str]:
    before_activation = list(main.columns[: list(main.columns).index("activation")])
    return [c for c in before_activation if c not in ("dataset", "depth")]


def status_table(results: Results) -> pd.DataFrame:
    """Runs per activation and status; ``pending`` = planned but not stored."""
    results = complete(results)
    import pandas as pd

    runs, planned = results.runs, results.planned
    statuses = ("done", "diverged", "failed")
    names = list(runs["activation"]) if "activation" in runs else []
    stored = set(runs["run_id"]) if "run_id" in runs else set()
    waiting = planned[~planned["run_id"].isin(stored)] if "run_id" in planned and "activation" in planned else None
    if waiting is not None:
        names += list(waiting["activation"])
    rows = []
    for name in activation_order(names):
        mine = runs[runs["activation"] == name] if names and "activation" in runs else runs.iloc[0:0]
        row: dict[str, Any] = {"activation": name}
        for status in statuses:
            row[status] = int((mine["status"] == status).sum()) if "status" in mine else 0
        row["pending"] = int((waiting["activation"] == name).sum()) if waiting is not None else 0
        rows.append(row)
    table = pd.DataFrame(rows, columns=["activation", *statuses, "pending"])
    total = {"activation": "all", **{c: int(table[c].sum()) for c in (*statuses, "pending")}}
    table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    table["total"] = table[[*statuses, "pending"]].sum(axis=1).astype(int)
    return table


def init_table(results: Results) -> pd.DataFrame:
    """The weight-init rule(s) each activation's runs used (from the runs' ``init``)."""
    results = complete(results)
    import pandas as pd

    runs = results.runs
    if runs.empty or "init" not in runs or "activation" not in runs:
        return pd.DataFrame(columns=["activation", "init"])
    rows = [
        {"activation": name, "init": ", ".join(sorted({str(v) for v in runs.loc[runs["activation"] == name, "init"]}))}
        for name in activation_order(runs["activation"])
    ]
    return pd.DataFrame(rows)


# -- aggregated curves for the figures ------------------------------------------------
def _with_cells(per_run: pd.DataFrame, results: Results, keys: list[str]) -> pd.DataFrame:
    runs = converged(results.runs)[["run_id", "activation", *keys]]
    return per_run.merge(runs, on="run_id", how="inner")


def _over_seeds(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    stats = frame.groupby(by, dropna=False, sort=False)["value"].agg(["mean", "min", "max", "count"])
    return sort_rows(stats.reset_index(), [k for k in by if k != "activation"])


def epoch_curves(results: Results, metric: str = "val_loss") -> pd.DataFrame:
    """Per cell x activation x epoch: mean, min, max and count over converged seeds."""
    results = complete(results)
    keys = cell_keys(results.runs)
    values = results.epochs[results.epochs["metric"] == metric][["run_id", "epoch", "value"]]
    return _over_seeds(_with_cells(values, results, keys), [*keys, "activation", "epoch"])


def layer_curves(results: Results, metric: str = "dead_fraction") -> pd.DataFrame:
    """Like :func:`epoch_curves` for a layer metric averaged over a run's layers."""
    results = complete(results)
    keys = cell_keys(results.runs)
    layers = results.layers[results.layers["metric"] == metric]
    per_run = layers.groupby(["run_id", "epoch"], sort=True)["value"].mean().reset_index()
    return _over_seeds(_with_cells(per_run, results, keys), [*keys, "activation", "epoch"])


def layer_profile(results: Results, metric: str = "grad_norm_weight") -> pd.DataFrame:
    """Per layer at init (epoch 0) and at each run's last epoch (``stage`` = init/end), for
    the deepest depth of each panel (dataset and extra fields); stats over seeds."""
    results = complete(results)
    import pandas as pd

    keys = cell_keys(results.runs)
    layers = _with_cells(results.layers[results.layers["metric"] == metric], results, keys)
    if layers.empty or "depth" not in keys:
        return pd.DataFrame(columns=[*keys, "activation", "stage", "layer", "mean", "min", "max", "count"])
    panels = panel_keys(keys)
    deepest = layers.groupby(panels, dropna=False)["depth"].transform("max") if panels else layers["depth"].max()
    layers = layers[layers["depth"] == deepest]
    last = layers.groupby("run_id")["epoch"].transform("max")
    init = layers[layers["epoch"] == 0].assign(stage="init")
    end = layers[layers["epoch"] == last].assign(stage="end")
    both = pd.concat([init, end], ignore_index=True)
    return _over_seeds(both, [*keys, "stage", "activation", "layer"])


def heatmap_matrix(main: pd.DataFrame, panel: dict[str, Any], value: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Activation x depth matrices of ``value`` and of 'all seeds diverged' for one panel."""
    rows = main
    for key, wanted in panel.items():
        rows = rows[rows[key].astype(str) == str(wanted)]
    order = activation_order(rows["activation"])
    values = rows.pivot_table(index="activation", columns="depth", values=value, aggfunc="first", dropna=False)
    lost = rows.assign(lost=(rows["runs"] > 0) & (rows["diverged"] == rows["runs"]))
    lost_matrix = lost.pivot_table(index="activation", columns="depth", values="lost", aggfunc="any", fill_value=False)
    depths = sorted(rows["depth"].unique())
    return values.reindex(index=order, columns=depths), lost_matrix.reindex(
        index=order, columns=depths, fill_value=False
    )


# -- formatting and writers ------------------------------------------------------------
def fmt_vs_best(best: bool, tied: Any, p_value: float, alpha: float = ALPHA) -> str:
    """The "p vs best" cell (``p_value`` Holm-adjusted in the main table): ``best``, the
    p-value, ``diverged`` (lost to the best on a diverged seed, or no converged run in the
    cell) or ``–`` (too few seeds to test)."""
    if best:
        return "best"
    if _missing(tied):
        return MISSING
    if not math.isfinite(p_value) or (not tied and p_value >= alpha):
        return "diverged"
    return fmt_p(p_value)


def _missing(value: Any) -> bool:
    import pandas as pd

    return value is None or bool(pd.isna(value))


def bold_tied(main: pd.DataFrame) -> pd.Series:
    """Bool per row: best of its cell or statistically tied with the best."""
    best = main["best"].astype(bool)
    if "tied_with_best" not in main:
        return best
    tied = main["tied_with_best"].map(lambda v: not _missing(v) and bool(v))
    return best | tied.astype(bool)


def display_main(main: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Formatted strings and a same-shaped bold mask (best test loss of each cell and the
    activations tied with it, see :data:`TIED_NOTE`)."""
    import pandas as pd

    if main.empty or "test_loss_std" not in main:
        return display_plain(main.drop(columns=["best"], errors="ignore"))
    keys = list(main.columns[: list(main.columns).index("activation")])
    out = pd.DataFrame({k: main[k].astype(str) for k in [*keys, "activation"]})
    loss = "test loss*" if "tied_with_best" in main else "test loss"
    out[loss] = [fmt_mean_std(m, s) for m, s in zip(main["test_loss_mean"], main["test_loss_std"], strict=True)]
    if "tied_with_best" in main:
        out[CI_LABEL] = [
            fmt_interval(lo, hi) for lo, hi in zip(main["test_loss_ci_low"], main["test_loss_ci_high"], strict=True)
        ]
        out["p vs best (Holm)"] = [
            fmt_vs_best(bool(b), t, p)
            for b, t, p in zip(main["best"], main["tied_with_best"], main["p_vs_best_holm"], strict=True)
        ]
    for column, title in (
        ("dead_fraction_init", "dead init"),
        ("dead_fraction_final", "dead end"),
        ("saturated_fraction_final", "saturated end"),
    ):
        out[title] = [fmt_fraction(v) for v in main[column]]
    if "epochs_to_threshold" in main:
        out["epochs to thr."] = [
            f"{e:.1f} ({r}/{c})" if math.isfinite(e) else f"{MISSING} ({r}/{c})"
            for e, r, c in zip(main["epochs_to_threshold"], main["threshold_reached"], main["converged"], strict=True)
        ]
    for metric, title in (("probe_accuracy", "probe acc."), ("anomaly_auroc", "AUROC")):
        if f"{metric}_mean" in main:
            out[title] = [
                fmt_mean_std(m, s) for m, s in zip(main[f"{metric}_mean"], main[f"{metric}_std"], strict=True)
            ]
    for column in ("diverged", "failed", "runs"):
        if column in main and (column != "failed" or main[column].any()):
            out[column] = main[column].astype(int).astype(str)
    bold = pd.DataFrame(False, index=out.index, columns=out.columns)
    if "best" in main and len(main):
        bold[loss] = bold_tied(main).to_numpy(dtype=bool)
    return out, bold


def main_notes(main: pd.DataFrame) -> list[str]:
    """Footnotes of the main table: the interval method, what bold means (Holm), what
    difference the seeds could detect, and when ties could not be tested."""
    if main.empty or "tied_with_best" not in main:
        return []
    notes = [f"* {TIED_NOTE}; a seed that diverged counts as worse than any converged one."]
    stored = main[main["runs"] > 0] if "runs" in main else main
    seeds = int(stored["converged"].max()) if len(stored) else 0
    notes.append(
        f"{CI_LABEL}: Student t interval of the mean over converged seeds (mean ± t(0.975, n−1)·s/√n; "
        "assumes roughly normal seed-to-seed variation); none under 2 seeds."
    )
    if seeds <= 1:
        notes.append("One seed per cell: ties with the best cannot be tested, so only the best is bold.")
    else:
        if (stored["tied_with_best"].isna() & ~stored["best"].astype(bool)).any():
            notes.append(f"p vs best {MISSING}: fewer than 2 seeds pair up with the best, so no test and not bold.")
        n_compared = int(stored.groupby(_main_keys(stored), dropna=False).size().max()) - 1 if len(stored) else 0
        notes.append(detectable_note(seeds, n_compared))
    return notes


def _main_keys(main: pd.DataFrame) -> list[str]:
    return list(main.columns[: list(main.columns).index("activation")])


def detectable_note(seeds: int, n_compared: int, alpha: float = ALPHA) -> str:
    """What "not separable from the best" can mean with ``seeds`` paired seeds and
    ``n_compared`` comparisons per cell: the minimum detectable effect at 80% power."""
    from actcmp.analysis import stats

    single = stats.min_detectable_effect(seeds, alpha)
    text = (
        f"With {seeds} seeds a paired t-test detects, with {stats.POWER:.0%} power at α = {alpha:g}, a difference "
        f"of {single:.2f} standard deviations of the seed-paired differences (d_z)"
    )
    if n_compared > 1:
        strict = stats.min_detectable_effect(seeds, alpha / n_compared)
        text += f"; at Holm's strictest step (α/{n_compared}) {strict:.2f}"
    return (
        text
        + ": smaller differences are usually not separable, so bold means not shown to differ, not shown to be equal."
    )


def display_plain(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Numbers formatted, nothing bold (rank, status and init tables)."""
    import pandas as pd

    out = pd.DataFrame(index=table.index)
    for column in table.columns:
        if table[column].dtype.kind == "f":
            out[column.replace("_", " ")] = [fmt_number(v, 3) for v in table[column]]
        else:
            out[column.replace("_", " ")] = table[column].astype(str)
    return out, pd.DataFrame(False, index=out.index, columns=out.columns)


def _numeric_like(series: pd.Series) -> bool:
    def ok(text: str) -> bool:
        head = text.removeprefix("< ").split(" ")[0]
        if head in ("best", "diverged"):  # the words of a "p vs best" column
            return True
        try:
            float(head)
        except ValueError:
            return head == MISSING
        return True

    return len(series) > 0 and all(ok(str(v)) for v in series)


def markdown_escape(text: str) -> str:
    """Escape the characters that would make table text Markdown or HTML (names come from
    users: a file name may hold ``<script>``; see :func:`actcmp.text.markdown_cell`)."""
    from actcmp.text import markdown_cell

    return markdown_cell(text)


def to_markdown(frame: pd.DataFrame, bold: pd.DataFrame) -> str:
    def cell(text: str, strong: bool) -> str:
        text = markdown_escape(text)
        return f"**{text}**" if strong else text

    align = ["---:" if _numeric_like(frame[c]) else ":---" for c in frame.columns]
    lines = ["| " + " | ".join(markdown_escape(c) for c in frame.columns) + " |", "| " + " | ".join(align) + " |"]
    for i in range(len(frame)):
        lines.append(
            "| " + " | ".join(cell(frame.iat[i, j], bool(bold.iat[i, j])) for j in range(frame.shape[1])) + " |"
        )
    return "\n".join(lines) + "\n"


_LATEX = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "#": r"\#",
    "_": r"\_",
    "$": r"\$",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\^{}",
    "±": r"$\pm$",
    "–": "--",
    "—": "---",
    "·": r"$\cdot$",
    # in text mode with the default (OT1) font encoding < and > print as ¡ and ¿
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    "≤": r"$\leq$",
    "≥": r"$\geq$",
    "×": r"$\times$",
    "−": r"$-$",
    "α": r"$\alpha$",
    "χ": r"$\chi$",
    "²": r"\textsuperscript{2}",
    "…": r"\ldots{}",
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX.get(ch, ch) for ch in str(text))


#: tables with more columns than this are set in \\small with narrower column gaps
LATEX_WIDE = 8
#: tables with more rows than this are a ``longtable`` (breaks across pages), not a float
LATEX_LONG = 40


def to_latex(
    frame: pd.DataFrame,
    bold: pd.DataFrame,
    group_by: list[str] | None = None,
    *,
    caption: str = "",
    label: str = "",
    notes: list[str] | None = None,
) -> str:
    """A booktabs tabular (needs ``\\usepackage{booktabs}``); ``\\addlinespace`` between
    groups of ``group_by`` columns. With ``caption`` or ``label``: a floating ``table``
    with ``\\caption`` and ``\\label{tab:LABEL}``, or past :data:`LATEX_LONG` rows a
    ``longtable`` (``\\usepackage{longtable}``) that repeats its header on every page;
    ``notes`` under it, in small type."""
    spec = "".join("r" if _numeric_like(frame[c]) else "l" for c in frame.columns)
    header = [r"\toprule", " & ".join(latex_escape(c) for c in frame.columns) + r" \\", r"\midrule"]
    body = []
    previous = None
    for i in range(len(frame)):
        group = tuple(frame[c].iat[i] for c in group_by or [] if c in frame.columns)
        if previous is not None and group != previous:
            body.append(r"\addlinespace")
        previous = group
        cells = [latex_escape(frame.iat[i, j]) for j in range(frame.shape[1])]
        cells = [f"\\textbf{{{c}}}" if bool(bold.iat[i, j]) else c for j, c in enumerate(cells)]
        body.append(" & ".join(cells) + r" \\")
    if not (caption or label):
        lines = [f"\\begin{{tabular}}{{{spec}}}", *header, *body, r"\bottomrule", r"\end{tabular}"]
        return "\n".join(lines) + "\n"
    title = (f"\\caption{{{latex_escape(caption)}}}" if caption else "") + (f"\\label{{tab:{label}}}" if label else "")
    wide = frame.shape[1] > LATEX_WIDE
    size = [r"\small", r"\setlength{\tabcolsep}{4pt}"] if wide else []
    # the default (OT1) encoding has no < or >: latex_escape writes \textless{} and \textgreater{}
    hint = [f"% {frame.shape[1]} columns: if wider than the page, set it in landscape (pdflscape)"] if wide else []
    tail = [f"\\par\\smallskip{{\\footnotesize {latex_escape(n)}\\par}}" for n in notes or []]
    if len(frame) > LATEX_LONG:
        lines = [
            r"% needs \usepackage{booktabs} and \usepackage{longtable}",
            *hint,
            "{" + "".join(size),
            f"\\begin{{longtable}}{{{spec}}}",
            title + r" \\",
            *header,
            r"\endfirsthead",
            *header,
            r"\endhead",
            r"\bottomrule",
            r"\endfoot",
            *body,
            r"\end{longtable}",
            *tail,
            "}",
        ]
    else:
        lines = [
            r"% needs \usepackage{booktabs}",
            *hint,
            r"\begin{table}[htbp]",
            r"\centering",
            *size,
            title,
            f"\\begin{{tabular}}{{{spec}}}",
            *header,
            *body,
            r"\bottomrule",
            r"\end{tabular}",
            *tail,
            r"\end{table}",
        ]
    return "\n".join(lines) + "\n"


def to_html(frame: pd.DataFrame, bold: pd.DataFrame) -> str:
    numeric = [_numeric_like(frame[c]) for c in frame.columns]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = []
    for i in range(len(frame)):
        cells = []
        for j in range(frame.shape[1]):
            text = html.escape(str(frame.iat[i, j]))
            text = f"<strong>{text}</strong>" if bool(bold.iat[i, j]) else text
            cells.append(f'<td class="num">{text}</td>' if numeric[j] else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(body) + "\n</tbody>\n</table>\n"


@dataclass
class Table:
    """One report table: raw numbers plus its formatted strings and bold mask; ``notes``
    are footnotes printed under it (Markdown, report) or as comments (LaTeX)."""

    name: str
    title: str
    caption: str
    raw: pd.DataFrame
    display: pd.DataFrame
    bold: pd.DataFrame
    group_by: list[str]
    notes: list[str] = field(default_factory=list)


# -- depth scaling ---------------------------------------------------------------------
def depth_table(results: Results, factor: float | None = None) -> pd.DataFrame:
    """Per panel (dataset and extra cell fields) x activation: the depths tried, the best
    depth, its mean test loss and the deepest depth that still trains
    (:func:`actcmp.analysis.stats.depth_scaling`), in legend order."""
    results = complete(results)
    import pandas as pd

    from actcmp.analysis import stats as stats

    factor = stats.DEPTH_FACTOR if factor is None else factor
    table = stats.depth_scaling(results.runs, factor=factor)
    panel = list(table.columns[: list(table.columns).index("activation")])
    table = sort_rows(table, panel)
    for column in ("best_depth", "deepest_trained"):
        table[column] = pd.to_numeric(table[column], errors="coerce").round().astype("Int64")
    return table


def display_depth(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    import pandas as pd

    if table.empty:
        return display_plain(table.drop(columns=["factor"], errors="ignore"))
    panel = list(table.columns[: list(table.columns).index("activation")])
    out = pd.DataFrame({k: table[k].astype(str) for k in [*panel, "activation"]})
    out["depths tried"] = table["depths"].str.replace(",", ", ")
    out["best depth"] = [(MISSING if _missing(v) else str(v)) for v in table["best_depth"]]
    out["loss at best depth"] = [fmt_number(v, 3) for v in table["best_mean"]]
    out["deepest that trains"] = [("none" if _missing(v) else str(v)) for v in table["deepest_trained"]]
    return out, pd.DataFrame(False, index=out.index, columns=out.columns)


def depth_caption(factor: float) -> str:
    return (
        "Deepest network that still trains, per activation and dataset: no seed diverged and mean test loss "
        f"within {factor:g}× the loss at the activation's best depth (its lowest mean among depths where no "
        "seed diverged). A value equal to the deepest depth tried means no limit was found."
    )


def build_tables(results: Results, best_rule: BestRule = lowest) -> list[Table]:
    """The report's tables in report order."""
    from actcmp.analysis.stats import DEPTH_FACTOR

    main = main_table(results, best_rule)
    keys = list(main.columns[: list(main.columns).index("activation")]) if "activation" in main else []
    ranks, status, init = rank_table(main), status_table(results), init_table(results)
    depth = depth_table(results, DEPTH_FACTOR)
    depth_panel = list(depth.columns[: list(depth.columns).index("activation")])
    return [
        Table(
            "main",
            "Results per cell",
            "Test loss mean ± std over converged seeds, with the 95% Student t interval of the mean (95% CI (t)); "
            "bold: the best of each cell and every activation not separable from it after Holm's correction (*); "
            "p vs best (Holm): paired t-test over seeds against the cell's best (fewest diverged seeds, then lowest "
            "mean), Holm-adjusted over the cell's comparisons. "
            "Dead/saturated: mean share of hidden units; epochs to thr.: mean epochs to reach the loss threshold "
            "(reached/converged); diverged runs are counted, not averaged.",
            main,
            *display_main(main),
            keys,
            main_notes(main),
        ),
        Table(
            "ranks",
            "Mean rank per activation",
            "Rank of the mean test loss within each cell (1 = best), averaged over the cells the activation "
            "ran in; an activation with a diverged seed ranks last in that cell; best: cells where it is the "
            "best.",
            ranks,
            *display_plain(ranks),
            [],
        ),
        Table(
            "depth_scaling",
            "Depth scaling",
            depth_caption(DEPTH_FACTOR),
            depth,
            *display_depth(depth),
            depth_panel,
        ),
        Table(
            "status",
            "Run status",
            "Stored runs by status; pending = planned but not (yet) stored.",
            status,
            *display_plain(status),
            [],
        ),
        Table(
            "init", "Weight initialisation", "Init rule used by each activation's runs.", init, *display_plain(init), []
        ),
    ]


def write_table(table: Table, directory: Path) -> list[Path]:
    """``NAME.csv`` (raw), ``NAME.md`` and ``NAME.tex`` under ``directory``."""
    from actcmp.atomic import make_dir, write_text

    make_dir(directory)
    paths = [directory / f"{table.name}.{ext}" for ext in ("csv", "md", "tex")]
    raw_csv = table.raw.to_csv(index=False, lineterminator="\n")
    markdown = to_markdown(table.display, table.bold)
    latex = to_latex(
        table.display, table.bold, table.group_by, caption=table.caption, label=table.name, notes=table.notes
    )
    if table.notes:
        markdown += "\n" + "".join(f"{markdown_escape(n)}  \n" for n in table.notes)
    texts = (raw_csv, markdown, latex)
    for path, text in zip(paths, texts, strict=True):
        write_text(path, text)
    return paths
