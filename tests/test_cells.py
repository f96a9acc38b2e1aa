"""actcmp.analysis.cells: one rule for cells, used by the statistics, the tables and the figures."""

from __future__ import annotations

from itertools import product
from pathlib import Path

import pandas as pd

from actcmp.analysis import cells, stats
from actcmp.config import RUN_FIELDS
from actcmp.report import style, tables
from actcmp.store.database import Results


def runs_frame(rows: list[dict]) -> pd.DataFrame:
    """Finished runs with a test loss that depends on the activation only."""
    out = []
    for i, row in enumerate(rows):
        loss = {"relu": 1.0, "tanh": 2.0}[row["activation"]] + 0.01 * row["seed"] + 0.001 * (i % 5)
        out.append({"run_id": f"r{i}", "status": "done", "dataset": "digits", "depth": 2, "test_loss": loss, **row})
    return pd.DataFrame(out)


def old_report_rule(runs: pd.DataFrame) -> list[str]:
    """The report's rule before there was one (``report.tables.extra_fields``): every field
    that takes more than one value among runs of the same activation, dataset and depth."""
    fields = [f for f in (*RUN_FIELDS, "data_fingerprint") if f in runs and f not in (*cells.NOT_CELL, "activation")]
    counts = runs[[*fields, "activation", "dataset", "depth"]].astype(str).groupby(["activation", "dataset", "depth"])
    return ["dataset", "depth", *(f for f in fields if (counts[f].nunique() > 1).any())]


def test_a_field_fixed_by_another_key_is_not_a_cell_key() -> None:
    # input_noise = 0 stores input_noise_kind "gaussian" whatever was asked (one run): the
    # kind follows the noise level, so it names no cell of its own
    rows = [
        {"activation": a, "seed": s, "input_noise": noise, "input_noise_kind": "gaussian" if noise == 0 else "masking"}
        for a, s, noise in product(("relu", "tanh"), (0, 1, 2), (0.0, 0.2))
    ]
    runs = runs_frame(rows)
    assert old_report_rule(runs) == ["dataset", "depth", "input_noise", "input_noise_kind"]  # the old disagreement
    assert cells.cell_keys(runs) == ["dataset", "depth", "input_noise"]
    assert stats.cell_keys is cells.cell_keys and tables.cell_keys is cells.cell_keys  # one definition
    main = tables.main_table(Results(runs, pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), Path(".")))
    assert list(main.columns[:4]) == ["dataset", "depth", "input_noise", "activation"]
    assert len(main) == 4 and main["runs"].tolist() == [3, 3, 3, 3]


def test_a_field_fixed_by_another_key_and_the_treatment_keeps_the_cell_together() -> None:
    # a learning rate chosen per activation and width (as a tuned sweep over widths does):
    # keyed by lr as well, each cell would hold one activation and compare nothing
    chosen = {("relu", 16): 0.01, ("relu", 32): 0.003, ("tanh", 16): 0.03, ("tanh", 32): 0.01}
    rows = [
        {"activation": a, "seed": s, "width": w, "lr": chosen[a, w]}
        for a, s, w in product(("relu", "tanh"), (0, 1, 2), (16, 32))
    ]
    runs = runs_frame(rows)
    assert old_report_rule(runs) == ["dataset", "depth", "width", "lr"]
    assert cells.cell_keys(runs) == ["dataset", "depth", "width"]
    paired = stats.paired_vs_best(runs)
    assert paired.groupby("width")["activation"].apply(sorted).tolist() == [["relu", "tanh"], ["relu", "tanh"]]
    assert paired.loc[~paired["is_best"], "n_pairs"].tolist() == [3, 3]


def test_a_field_that_follows_the_treatment_is_not_a_cell_key() -> None:
    # init = "auto": kaiming for ReLU, xavier for tanh (both rules agreed here)
    rows = [
        {"activation": a, "seed": s, "init": "kaiming" if a == "relu" else "xavier", "width": w}
        for a, s, w in product(("relu", "tanh"), (0, 1), (16, 32))
    ]
    runs = runs_frame(rows)
    assert cells.cell_keys(runs) == old_report_rule(runs) == ["dataset", "depth", "width"]
    # with the output activation compared, the activation becomes a key and init, which
    # follows it, is dropped
    rows = [
        {"activation": a, "seed": s, "init": "kaiming" if a == "relu" else "xavier", "output_activation": out}
        for a, s, out in product(("relu", "tanh"), (0, 1), ("sigmoid", "identity"))
    ]
    keys = cells.cell_keys(runs_frame(rows), treatment="output_activation")
    assert keys == ["dataset", "depth", "activation"]


def test_config_fields_in_config_order() -> None:
    runs = pd.DataFrame(columns=["lr", "status", "data_fingerprint", "activation", "width"])
    assert cells.config_fields(runs) == ["activation", "width", "lr", "data_fingerprint"]


def test_legend_order_is_the_registry_order_and_the_styles_follow_it() -> None:
    assert tuple(style.ACTIVATION_STYLES) == cells.LEGEND_ORDER
    assert cells.activation_order(["tanh", "zz.mod:f", "leaky_relu(negative_slope=0.2)", "relu", "leaky_relu"]) == [
        "relu",
        "leaky_relu",
        "leaky_relu(negative_slope=0.2)",
        "tanh",
        "zz.mod:f",
    ]
    assert style.activation_order is cells.activation_order
