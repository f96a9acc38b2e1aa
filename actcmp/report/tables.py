"""Frames -> tables: every reshape of the long-format results happens here.

Conventions, used by the tables and by the figures alike:

* a grid *cell* is ``dataset``, ``depth`` and every other config field that varies
  independently of the activation (see :func:`extra_fields`); seeds are replicates;
* statistics (means, std, ranks, curves) are over *converged* runs (status ``done``);
  diverged runs are counted (``diverged`` column, figure titles and legends) but their
  losses are left out; failed runs are counted in the status table only.

Writers turn a table into CSV (raw numbers), Markdown (formatted, best in bold) and
LaTeX (booktabs, hand-written so that no jinja2 is needed) and HTML (for the report).
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actcmp.report.style import activation_order

if TYPE_CHECKING:
    import pandas as pd

    from actcmp.store import Results

FINISHED = ("done", "diverged")
#: config fields that are never cell keys: activation is compared, seeds are replicates
NOT_CELL = ("activation", "seed", "dataset", "depth", "run_id")
#: a rule marking the best rows of one cell: Series of test-loss means -> bool Series
BestRule = Callable[["pd.Series"], "pd.Series"]


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


def config_fields(runs: pd.DataFrame) -> list[str]:
    """Config columns of ``runs`` in config order (RunConfig fields plus data_fingerprint)."""
    from actcmp.config import RUN_FIELDS

    return [f for f in (*RUN_FIELDS, "data_fingerprint") if f in runs.columns]


def extra_fields(runs: pd.DataFrame) -> list[str]:
    """Config fields beyond dataset/depth that define cells: those taking more than one
    value among runs of the same activation, dataset and depth. Fields fixed by the
    activation (``init="auto"``) or the dataset (``loss="auto"``) are not cell keys."""
    base = [k for k in ("activation", "dataset", "depth") if k in runs.columns]
    if runs.empty or not base:
        return []
    fields = [f for f in config_fields(runs) if f not in NOT_CELL]
    if not fields:
        return []
    as_text = runs[fields].astype(str).assign(**{k: runs[k].astype(str) for k in base})
    counts = as_text.groupby(base)[fields].nunique()
    return [f for f in fields if (counts[f] > 1).any()]


def cell_keys(runs: pd.DataFrame) -> list[str]:
    return [k for k in ("dataset", "depth") if k in runs.columns] + extra_fields(runs)


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


def main_table(results: Results, best_rule: BestRule = lowest) -> pd.DataFrame:
    """One row per cell x activation: test loss (mean/std/min/max over converged seeds),
    dead and saturated fractions, epochs to threshold, probe accuracy / AUROC (only when
    some run has them), counts. ``best`` marks the best activation(s) of each cell;
    pass another ``best_rule`` to also mark statistical ties."""
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
    return table


def mark_best(table: pd.DataFrame, keys: list[str], rule: BestRule = lowest) -> pd.Series:
    """Bool per row: is this activation the best of its cell (by ``test_loss_mean``)?"""
    import pandas as pd

    best = pd.Series(False, index=table.index)
    for _, group in table.groupby(keys, dropna=False, sort=False):
        best.loc[group.index] = rule(group["test_loss_mean"]).to_numpy(dtype=bool)
    return best


def rank_table(main: pd.DataFrame) -> pd.DataFrame:
    """Mean rank per activation across cells (rank 1 = lowest mean test loss in the cell;
    an activation whose seeds all diverged in a cell ranks last there)."""
    import pandas as pd

    columns = ["activation", "mean_rank", "cells", "best", "all_diverged"]
    ranked = main[main["runs"] > 0] if "runs" in main else main
    if ranked.empty:
        return pd.DataFrame(columns=columns)
    keys = [k for k in main.columns if k in ("dataset", "depth") or k in _extra_columns(main)]
    ranks = ranked.groupby(keys, dropna=False)["test_loss_mean"].rank(method="average", na_option="bottom")
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
def fmt_number(value: float, sig: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    if value == 0:
        return "0"
    if abs(value) >= 1e5 or abs(value) < 1e-4:
        return f"{value:.{sig - 1}e}"
    decimals = max(0, sig - 1 - math.floor(math.log10(abs(value))))
    return f"{value:.{decimals}f}"


def fmt_mean_std(mean: float, std: float, sig: int = 3) -> str:
    """``0.0123 ± 0.0004``: the mean to ``sig`` significant digits, more (up to two) when the
    std needs them to show one significant digit; just the mean for one seed."""
    if mean is None or not math.isfinite(mean):
        return "–"
    text = fmt_number(mean, sig)
    if std is None or not math.isfinite(std):
        return text
    if "e" in text:
        return f"{text} ± {std:.1e}"
    decimals = len(text.split(".")[1]) if "." in text else 0
    if 0 < std < 10.0**-decimals / 2:
        decimals = min(decimals + 2, -math.floor(math.log10(std)))
        text = f"{mean:.{decimals}f}"
    return f"{text} ± {std:.{decimals}f}"


def display_main(main: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Formatted strings and a same-shaped bold mask (best test loss of each cell)."""
    import pandas as pd

    if main.empty or "test_loss_std" not in main:
        return display_plain(main.drop(columns=["best"], errors="ignore"))
    keys = list(main.columns[: list(main.columns).index("activation")])
    out = pd.DataFrame({k: main[k].astype(str) for k in [*keys, "activation"]})
    out["test loss"] = [fmt_mean_std(m, s) for m, s in zip(main["test_loss_mean"], main["test_loss_std"], strict=True)]
    for column, title in (
        ("dead_fraction_init", "dead init"),
        ("dead_fraction_final", "dead end"),
        ("saturated_fraction_final", "saturated end"),
    ):
        out[title] = [f"{v:.2f}" if math.isfinite(v) else "–" for v in main[column]]
    if "epochs_to_threshold" in main:
        out["epochs to thr."] = [
            f"{e:.1f} ({r}/{c})" if math.isfinite(e) else f"– ({r}/{c})"
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
        bold["test loss"] = main["best"].to_numpy(dtype=bool)
    return out, bold


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
        head = text.split(" ")[0]
        try:
            float(head)
        except ValueError:
            return head == "–"
        return True

    return len(series) > 0 and all(ok(str(v)) for v in series)


def to_markdown(frame: pd.DataFrame, bold: pd.DataFrame) -> str:
    def cell(text: str, strong: bool) -> str:
        text = str(text).replace("|", "\\|")
        return f"**{text}**" if strong else text

    align = ["---:" if _numeric_like(frame[c]) else ":---" for c in frame.columns]
    lines = ["| " + " | ".join(str(c) for c in frame.columns) + " |", "| " + " | ".join(align) + " |"]
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
    "·": r"$\cdot$",
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX.get(ch, ch) for ch in str(text))


def to_latex(frame: pd.DataFrame, bold: pd.DataFrame, group_by: list[str] | None = None) -> str:
    """A booktabs tabular; ``\\addlinespace`` between groups of ``group_by`` columns."""
    spec = "".join("r" if _numeric_like(frame[c]) else "l" for c in frame.columns)
    lines = [f"\\begin{{tabular}}{{{spec}}}", r"\toprule"]
    lines.append(" & ".join(latex_escape(c) for c in frame.columns) + r" \\")
    lines.append(r"\midrule")
    previous = None
    for i in range(len(frame)):
        group = tuple(frame[c].iat[i] for c in group_by or [] if c in frame.columns)
        if previous is not None and group != previous:
            lines.append(r"\addlinespace")
        previous = group
        cells = [latex_escape(frame.iat[i, j]) for j in range(frame.shape[1])]
        cells = [f"\\textbf{{{c}}}" if bool(bold.iat[i, j]) else c for j, c in enumerate(cells)]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
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
    """One report table: raw numbers plus its formatted strings and bold mask."""

    name: str
    title: str
    caption: str
    raw: pd.DataFrame
    display: pd.DataFrame
    bold: pd.DataFrame
    group_by: list[str]


def build_tables(results: Results, best_rule: BestRule = lowest) -> list[Table]:
    """The report's tables in report order."""
    main = main_table(results, best_rule)
    keys = list(main.columns[: list(main.columns).index("activation")]) if "activation" in main else []
    ranks, status, init = rank_table(main), status_table(results), init_table(results)
    return [
        Table(
            "main",
            "Results per cell",
            "Test loss mean ± std over converged seeds (best of each cell in bold); "
            "dead/saturated: mean share of hidden units; epochs to thr.: mean epochs to reach the loss threshold "
            "(reached/converged); diverged runs are counted, not averaged.",
            main,
            *display_main(main),
            keys,
        ),
        Table(
            "ranks",
            "Mean rank per activation",
            "Rank of the mean test loss within each cell (1 = best), averaged "
            "over the cells the activation ran in; all-diverged cells rank last.",
            ranks,
            *display_plain(ranks),
            [],
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
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / f"{table.name}.{ext}" for ext in ("csv", "md", "tex")]
    raw_csv = table.raw.to_csv(index=False, lineterminator="\n")
    texts = (raw_csv, to_markdown(table.display, table.bold), to_latex(table.display, table.bold, table.group_by))
    for path, text in zip(paths, texts, strict=True):
        path.write_text(text, encoding="utf-8", newline="\n")
    return paths
