"""Tables -> formatted strings and a same-shaped bold mask, ready for the writers."""

from __future__ import annotations

import pandas as pd

from actcmp.report.format import (
    MISSING,
    fmt_fraction,
    fmt_interval,
    fmt_mean_std,
    fmt_number,
    fmt_reached,
    fmt_vs_best,
    is_missing,
)
from actcmp.report.frames import cell_columns, key_value_text
from actcmp.report.significance import CI_LABEL, bold_tied, no_spread_rows


def display_main(main: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Formatted strings and a same-shaped bold mask: the main table's ``bold`` column where it
    has one (:func:`actcmp.report.tables.shown_bold`), else the best test loss of each cell and
    the activations tied with it (:data:`TIED_NOTE`)."""
    if main.empty or "test_loss_std" not in main:
        return display_plain(main.drop(columns=["best"], errors="ignore"))
    keys = cell_columns(main)
    out = pd.DataFrame({k: [key_value_text(k, v) for v in main[k]] for k in [*keys, "activation"]}, index=main.index)
    loss = "test loss*" if "tied_with_best" in main else "test loss"
    out[loss] = [fmt_mean_std(m, s) for m, s in zip(main["test_loss_mean"], main["test_loss_std"], strict=True)]
    if "tied_with_best" in main:
        out[CI_LABEL] = [
            fmt_interval(lo, hi) for lo, hi in zip(main["test_loss_ci_low"], main["test_loss_ci_high"], strict=True)
        ]
        out["p vs best (Holm)"] = [
            fmt_vs_best(bool(b), t, p, no_spread=bool(s))
            for b, t, p, s in zip(
                main["best"], main["tied_with_best"], main["p_vs_best_holm"], no_spread_rows(main), strict=True
            )
        ]
    for column, title in (
        ("dead_fraction_init", "dead init"),
        ("dead_fraction_final", "dead end"),
        ("saturated_fraction_final", "saturated end"),
    ):
        out[title] = [fmt_fraction(v) for v in main[column]]
    if "epochs_to_threshold" in main:
        out["epochs to thr."] = [
            fmt_reached(e, r, c)
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
        shown = main["bold"].astype(bool) if "bold" in main else bold_tied(main)
        bold[loss] = shown.to_numpy(dtype=bool)
    return out, bold


def display_plain(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Numbers formatted, nothing bold (rank, status and init tables)."""
    out = pd.DataFrame(index=table.index)
    for column in table.columns:
        if table[column].dtype.kind == "f":
            out[column.replace("_", " ")] = [fmt_number(v, 3) for v in table[column]]
        else:
            out[column.replace("_", " ")] = table[column].astype(str)
    return out, pd.DataFrame(False, index=out.index, columns=out.columns)


def display_depth(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    if table.empty:
        return display_plain(table.drop(columns=["factor"], errors="ignore"))
    panel = cell_columns(table)
    out = pd.DataFrame({k: table[k].astype(str) for k in [*panel, "activation"]})
    out["depths tried"] = table["depths"].str.replace(",", ", ")
    out["best depth"] = [(MISSING if is_missing(v) else str(v)) for v in table["best_depth"]]
    out["loss at best depth"] = [fmt_number(v, 3) for v in table["best_mean"]]
    out["deepest that trains"] = [("none" if is_missing(v) else str(v)) for v in table["deepest_trained"]]
    return out, pd.DataFrame(False, index=out.index, columns=out.columns)


def depth_caption(factor: float) -> str:
    return (
        "Deepest network that still trains, per activation and dataset: no seed diverged, the median seed "
        "learned (final validation loss below the loss of predicting the training mean) and mean test loss "
        f"within {factor:g}× the loss at the activation's best depth (its lowest mean among depths where no "
        "seed diverged). A value equal to the deepest depth tried means no limit was found; none, that no "
        "depth trains. The cut is a rule on the seeds' means, not a test: a depth whose mean lies near "
        f"{factor:g}× may fall on either side with other seeds (its interval is in the results per cell)."
    )


__all__ = ["depth_caption", "display_depth", "display_main", "display_plain"]
