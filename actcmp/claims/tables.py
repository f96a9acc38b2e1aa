"""The claims' tables: numbers as the documents print them (:func:`fmt`), the comparison
of every treatment with its cell's best (:func:`comparison_table`), mean ranks over cells
(:func:`rank_table`), and each claim's tables from its context (``<claim>_tables``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from actcmp.analysis import stats as stats
from actcmp.claims import checks
from actcmp.claims.reference import attach_pca
from actcmp.report.format import fmt_stat

if TYPE_CHECKING:
    import pandas as pd

    from actcmp.claims.context import ClaimContext, Tables


def fmt(value: Any, sig: int = 3) -> str:
    """A claims table's cell (the report's formatter for statistics)."""
    return fmt_stat(value, sig)


#: the equivalence test's mark where the paired ratios had no spread (no t statistic)
SAME_RATIO_TEXT = "no test (the same ratio on every seed)"


def comparison_table(
    runs: pd.DataFrame,
    metric: str,
    *,
    treatment: str = "activation",
    higher_is_better: bool = False,
    alpha: float = stats.ALPHA,
    scale: str | None = None,
) -> pd.DataFrame:
    """Per cell x treatment: mean ± std over converged seeds, Student t 95% CI, and the
    comparison with the cell's best: ``best``, ``≈ best`` (within 10% of the best, whichever it
    is: :func:`~actcmp.analysis.paired.within_margin_of_all`), ``tied``
    (not separable, paired t, Holm-corrected within the cell) or ``worse``, with the
    p-value (Holm-adjusted for tied / worse). ``scale``: of the paired tests (default
    :func:`~actcmp.analysis.stats.scale_for` the metric: log for a loss)."""
    import pandas as pd

    summary = stats.summarise(runs, metric, treatment=treatment)
    if summary.empty:
        return pd.DataFrame()
    paired = stats.paired_vs_best(
        runs,
        metric,
        treatment=treatment,
        higher_is_better=higher_is_better,
        alpha=alpha,
        scale=scale or stats.scale_for(metric),
    )
    keys = [
        c
        for c in summary.columns
        if c not in (treatment, "n", "n_diverged", "mean", "std", "ci_low", "ci_high", "note")
    ]
    merged = summary.merge(
        paired[[*keys, treatment, "is_best", "tied", "equivalent", "p_equivalence", "p_value", "p_adjusted"]],
        on=[*keys, treatment],
        how="left",
    )

    def equivalence(p: float) -> str:
        # p exactly 0 comes only from paired ratios that are the same on every seed (no t statistic:
        # equal seeds, or one activation a constant multiple of another): said, not a p of 0
        return SAME_RATIO_TEXT if p == 0 else f"p = {fmt(p, 2)}"

    rows = []
    for row in merged.itertuples(index=False):
        record = row._asdict()
        if record.get("is_best") is True:
            shown = (
                f"; within 10% of all, {equivalence(record['p_equivalence'])}"
                if record.get("equivalent") is True
                else ""
            )
            versus = f"**best**{shown}"
        elif record.get("equivalent") is True:
            versus = f"≈ best ({equivalence(record['p_equivalence'])})"
        elif record.get("tied") is True:
            versus = f"tied (Holm p = {fmt(record['p_adjusted'], 2)})"
        elif record.get("tied") is False:
            versus = f"worse (Holm p = {fmt(record['p_adjusted'], 2)})"
        else:
            versus = "–"
        out = {k: record[k] for k in keys}
        out[treatment] = record[treatment]
        out["seeds"] = f"{record['n']}" + (f" (+{record['n_diverged']} div.)" if record["n_diverged"] else "")
        out[f"{metric} mean ± std"] = f"{fmt(record['mean'])} ± {fmt(record['std'], 2)}"
        equal = "all seeds equal" in str(record.get("note") or "")
        out["95% CI"] = "– (all seeds equal)" if equal else f"[{fmt(record['ci_low'])}, {fmt(record['ci_high'])}]"
        out["vs best of cell"] = versus
        rows.append(out)
    return pd.DataFrame(rows)


def rank_table(
    runs: pd.DataFrame, metric: str = "test_loss", fill_missing: Any = None, alpha: float = stats.ALPHA
) -> pd.DataFrame:
    """Mean rank per activation over cells, with the Nemenyi top group and per-cell counts.
    Where cells share a dataset and the test with datasets as blocks ran (what the verdicts
    decide on: ``FriedmanResult.decisive_blocks``), the mean rank over the datasets and the
    top group within *their* critical difference are shown too; the top group over cells
    would be optimistic (cells of one dataset are not independent)."""
    import pandas as pd

    result = stats.friedman(runs, metric, fill_missing=fill_missing, alpha=alpha)
    blocks = result.decisive_blocks
    deciding = blocks if blocks is not None else result
    top = set(deciding.top_group())
    unit = f"the {blocks.n_blocks} datasets" if blocks is not None else "cells"
    top_column = f"top group (CD {fmt(deciding.cd, 3)} over {unit})"
    paired = stats.paired_vs_best(runs, metric, alpha=alpha, fill_missing=fill_missing, scale=stats.scale_for(metric))
    rows = []
    for name in deciding.mean_ranks:  # best first, by the ranks the verdict decides with
        rank = result.mean_ranks.get(name)
        mine = paired[paired["activation"] == name]
        over_datasets = {} if blocks is None else {"mean rank over datasets": fmt(blocks.mean_ranks.get(name))}
        rows.append(
            {
                "activation": name,
                "mean rank over cells": fmt(rank),
                **over_datasets,
                top_column: "yes" if name in top else "",
                "best in": int(mine["is_best"].sum()),
                "≈ best in": int(mine["equivalent"].sum()),
                "worse in": int((~mine["tied"]).sum()),
                "cells": len(mine),
            }
        )
    return pd.DataFrame(rows)


def linear_tables(ctx: ClaimContext) -> Tables:
    import pandas as pd

    runs = ctx.runs[ctx.runs["status"] == "done"]
    joined = attach_pca(runs, ctx.pca())
    rows = []
    for (dataset, bottleneck, depth), group in joined.groupby(["dataset", "bottleneck", "depth"]):
        ratio = pd.to_numeric(group["final_train_loss"]) / group["pca_train_mse"]
        rows.append(
            {
                "dataset": dataset,
                "bottleneck": bottleneck,
                "depth": depth,
                "seeds": len(group),
                "train MSE / PCA": f"{fmt(ratio.mean(), 4)} ± {fmt(ratio.std(ddof=1), 2)}",
                "test MSE": fmt(pd.to_numeric(group["test_loss"]).mean()),
                "PCA test MSE": fmt(group["pca_test_mse"].mean()),
            }
        )
    return [("Identity networks against PCA (mean ± std over seeds)", pd.DataFrame(rows))]


def condition_index(runs: pd.DataFrame, claim: str, always: tuple[str, ...] = ()) -> list[str]:
    """The columns a claim's table is split by: the factors its verdict map judges apart
    (:data:`~actcmp.claims.decisions.CONDITIONS`) that the runs vary, and ``always``; a table
    never pools over a factor that the verdict keeps apart."""
    from actcmp.claims.decisions import CONDITIONS

    return [f for f in CONDITIONS[claim] if f in runs.columns and (f in always or runs[f].astype(str).nunique() > 1)]


def _as_conditions(runs: pd.DataFrame) -> pd.DataFrame:
    """``runs`` with ``init`` named as the verdict map names it (``auto``, not the rule it
    resolved to per activation: :func:`~actcmp.claims.conditions.configured_init`)."""
    from actcmp.claims.conditions import configured_init

    if runs.empty or "init" not in runs.columns or "activation" not in runs.columns:
        return runs
    return runs.assign(init=configured_init(runs))


#: the column of claim 3's dead-fraction table that puts ReLU's share at initialisation beside
#: its final one
DEAD_INIT_COLUMN = "relu: init → final"


def _dead_init_column(runs: pd.DataFrame, index: list[str], table: pd.DataFrame) -> pd.DataFrame:
    """``table`` (the mean final dead fraction per condition) with :data:`DEAD_INIT_COLUMN`:
    per condition, ReLU's mean dead share at initialisation and after training over the runs
    where both are stored (``27.2% → 14.1% (fell)``), what the "units die" text compares: the
    final share that the test reads counts units dead from initialisation. Unchanged where
    ``dead_fraction_init`` is not stored for ReLU."""
    from actcmp.claims.checks.units import init_and_final, init_direction

    relu = runs[runs["activation"] == "relu"] if "activation" in runs.columns else runs.iloc[0:0]
    if relu.empty or "dead_fraction_init" not in relu.columns:
        return table
    shown = {}
    for key, cell in relu.groupby(index, sort=True) if index else [((), relu)]:
        start, end, n, _, _ = init_and_final(cell)
        where = key if isinstance(key, tuple) else (key,)
        if n:
            shown[tuple(str(v) for v in where)] = f"{start:.1%} → {end:.1%} ({init_direction(start, end)})"
    if not shown:
        return table
    keys = [tuple(str(v) for v in row) for row in table[index].itertuples(index=False)] if index else [()] * len(table)
    return table.assign(**{DEAD_INIT_COLUMN: [shown.get(k, "–") for k in keys]})


def dying_tables(ctx: ClaimContext) -> Tables:
    from actcmp.claims.checks.units import stuck_fraction

    runs = _as_conditions(ctx.runs[ctx.runs["status"] == "done"])
    runs = runs.assign(_stuck=stuck_fraction(runs))
    index = condition_index(runs, "dying", always=("depth", "lr"))

    def shares(column: str) -> pd.DataFrame:
        table = runs.pivot_table(index=index, columns="activation", values=column, aggfunc="mean")
        table = table.reset_index()
        table.columns.name = None
        for name in table.columns[len(index) :]:
            table[name] = table[name].map(lambda v: f"{v:.1%}" if v == v else "–")
        return table

    dead = _dead_init_column(runs, index, shares("dead_fraction_final"))
    title = "Mean dead fraction after training (converged seeds), per condition of the verdict map"
    if DEAD_INIT_COLUMN in dead.columns:
        title += (
            f"; '{DEAD_INIT_COLUMN}': ReLU's mean dead share at initialisation and after training (the 5% test reads "
            "the final share, which counts units dead from initialisation: where it fell, fewer units were dead "
            "at the end than at the start and much of the share was dead from the start; a net change of counts)"
        )
    tables = [(title, dead)]
    if runs["_stuck"].notna().any():
        tables.append(
            (
                "Mean share of units stuck after training (dead or saturated; see Definitions), per condition of the "
                "verdict map (what 'fewer units stuck' compares, seed by seed)",
                shares("_stuck"),
            )
        )
    return tables


def vanishing_tables(ctx: ClaimContext) -> Tables:
    import numpy as np
    import pandas as pd

    ratios = checks.gradient_ratios(ctx.runs, ctx.layers)
    if ratios.empty:
        return [("log10(first / last layer gradient norm) at initialisation", pd.DataFrame())]
    if "init" in ctx.runs.columns:
        ratios = ratios.merge(_as_conditions(ctx.runs)[["run_id", "init"]], on="run_id", how="left")
    index = condition_index(ratios, "vanishing", always=("depth",))
    rows = []
    for key, values in ratios.groupby([*index, "activation"])["log10_ratio"]:
        *where, name = key
        value = float(np.median(values.to_numpy(float)))  # what each verdict reads
        rows.append({**dict(zip(index, where, strict=True)), "activation": name, "value": value})
    table = pd.DataFrame(rows).pivot(index=index, columns="activation", values="value")
    table = table.map(lambda v: fmt(v, 2)).reset_index()
    table.columns.name = None
    return [
        (
            "Median log10(first / last layer gradient norm) at initialisation over the seeds, per condition of "
            "the verdict map (what its signed-rank tests read; −∞: the first-layer gradient of at least half "
            "the seeds underflowed to 0)",
            table,
        )
    ]


def tanh_sigmoid_tables(ctx: ClaimContext) -> Tables:
    early = checks.early_loss(ctx.runs, ctx.epochs)
    runs = ctx.runs.merge(early[["run_id", "early"]], on="run_id", how="left")
    k = int(early["k"].iloc[0]) if len(early) else 0
    return [
        (
            f"Training loss over epochs 1..{k} / mean-predictor loss (lower = faster)",
            comparison_table(runs, "early", alpha=ctx.alpha, scale="log"),  # a loss (over the mean predictor's)
        )
    ]


def generalisation_tables(ctx: ClaimContext) -> Tables:
    import numpy as np
    import pandas as pd

    runs = ctx.runs.assign(
        gap=np.log(pd.to_numeric(ctx.runs["test_loss"]) / pd.to_numeric(ctx.runs["final_train_loss"]))
    )
    return [
        ("Test loss", comparison_table(runs, "test_loss", alpha=ctx.alpha)),
        ("Generalisation gap log(test / train loss)", comparison_table(runs, "gap", alpha=ctx.alpha)),
    ]


def softmax_tables(ctx: ClaimContext) -> Tables:
    kept, metric, note = checks.common_metric(ctx.runs)
    return [
        (
            f"Output activations on {note}",
            comparison_table(kept, metric, treatment="output_activation", alpha=ctx.alpha),
        )
    ]


def matters_tables(ctx: ClaimContext) -> Tables:
    import pandas as pd

    censored = ctx.runs.assign(_censor=pd.to_numeric(ctx.runs["epochs"]) + 1)
    return [
        ("How well: mean rank of test loss", rank_table(censored, "test_loss", alpha=ctx.alpha)),
        (
            "How quickly: mean rank of epochs to threshold (never reached = epochs + 1)",
            rank_table(censored, "epochs_to_threshold", fill_missing="_censor", alpha=ctx.alpha),
        ),
    ]


def relu_default_tables(ctx: ClaimContext) -> Tables:
    """The rank table, and per cell ReLU against each other activation: the family the verdict's
    "significantly worse" reads (the rank table's "worse in" column counts the comparison with
    the cell's best, Holm over every pair, as the report's tables do)."""
    from actcmp.claims.checks.ranking import versus_others_table

    return [
        ("Mean rank of test loss (top group: within the CD the verdict uses)", rank_table(ctx.runs, alpha=ctx.alpha)),
        (
            "ReLU against each other activation, per cell (the tests the verdict reads)",
            versus_others_table(ctx.runs, alpha=ctx.alpha),
        ),
    ]


def anomaly_tables(ctx: ClaimContext) -> Tables:
    return [
        (
            "Anomaly AUROC per activation",
            comparison_table(ctx.runs, "anomaly_auroc", higher_is_better=True, alpha=ctx.alpha),
        )
    ]


def compression_tables(ctx: ClaimContext) -> Tables:
    return [("Test MSE per bottleneck size", comparison_table(ctx.runs, "test_loss", alpha=ctx.alpha))]


__all__ = [
    "DEAD_INIT_COLUMN",
    "anomaly_tables",
    "comparison_table",
    "compression_tables",
    "dying_tables",
    "fmt",
    "generalisation_tables",
    "linear_tables",
    "matters_tables",
    "rank_table",
    "relu_default_tables",
    "softmax_tables",
    "tanh_sigmoid_tables",
    "vanishing_tables",
]
