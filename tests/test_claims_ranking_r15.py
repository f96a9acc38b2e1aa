"""Claim 2 ("ReLU is a strong default"): "significantly worse" is ReLU against each other
activation of the cell, one-sided, Holm over those comparisons (a family fixed before the
data: ReLU is the pre-specified candidate), not against the cell's best with Holm over all
k (k - 1) / 2 pairs. A review found the old family could not separate a ReLU that lost to
ELU on 45 of 45 seed pairs (inconclusive on the stored ranking sweep)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from actcmp.analysis import stats
from actcmp.claims import checks
from actcmp.claims.checks import FAILS, HOLDS, MIXED, UNSURE, check_relu_default
from actcmp.claims.checks.ranking import one_sided_worse_p, versus_others, versus_others_table
from actcmp.claims.context import ClaimContext
from actcmp.claims.decisions import decide_relu_default
from actcmp.claims.registry import CLAIMS
from actcmp.store.database import Results

SEVEN = ("relu", "leaky_relu", "elu", "silu", "gelu", "tanh", "sigmoid")
DATASETS = ("a", "b", "c")
DEPTHS = (1, 4, 8)


def _runs(
    levels: dict[str, float],
    noise: float,
    *,
    relu_vs_elu: np.ndarray | None = None,
    datasets: tuple[str, ...] = DATASETS,
    depths: tuple[int, ...] = DEPTHS,
    seeds: int = 5,
    rng_seed: int = 0,
) -> pd.DataFrame:
    """Test losses per dataset x depth cell: each activation at its level, times ``1 + u``
    with ``u`` drawn per seed (sd ``noise``) and centred over the seeds, so that every
    cell's mean is exactly the level (the same order in every cell: Friedman rejects).
    ``relu_vs_elu``: ReLU's log loss minus ELU's per seed is ``log(relu / elu) - this``
    (ELU is ReLU's seeds scaled, so the pair's spread is exactly that of this vector)."""
    rng = np.random.default_rng(rng_seed)
    rows = []
    for dataset in datasets:
        for depth in depths:
            values = {}
            for name, level in levels.items():
                u = noise * rng.standard_normal(seeds)
                values[name] = level * (1 + u - u.mean())
            if relu_vs_elu is not None:
                values["relu"] = np.full(seeds, levels["relu"])
                values["elu"] = levels["elu"] * np.exp(relu_vs_elu)
            for name, losses in values.items():
                for seed, loss in enumerate(losses):
                    rows.append(
                        {
                            "run_id": f"{dataset}-{depth}-{name}-{seed}",
                            "status": "done",
                            "dataset": dataset,
                            "depth": depth,
                            "seed": seed,
                            "activation": name,
                            "test_loss": float(loss),
                        }
                    )
    return pd.DataFrame(rows)


#: zero-mean spread of ReLU's log ratio to ELU: one-sided paired t of log(1.2) = 5.6, p ~ 0.0025 at 5 seeds
SPREAD = np.array([1.0, -1.0, 0.5, -0.5, 0.0]) * 0.092
#: ReLU ~20% worse than ELU, within noise of the other five
WORSE_THAN_ONE = {
    "elu": 1.0,
    "leaky_relu": 1.17,
    "silu": 1.19,
    "relu": 1.2,
    "gelu": 1.21,
    "tanh": 1.23,
    "sigmoid": 1.25,
}


def _worse_than_one() -> pd.DataFrame:
    return _runs(WORSE_THAN_ONE, 0.08, relu_vs_elu=SPREAD)


# -- the family --------------------------------------------------------------------------------------
def test_relu_20_percent_worse_than_one_activation_does_not_hold() -> None:
    """7 activations x 5 seeds x 9 cells; ReLU 20% worse than ELU on every seed and tied with
    the rest. Holm over all 21 pairs against the best cannot separate it in any cell (the old
    family: inconclusive); Holm over ReLU's own 6 one-sided comparisons does in every cell."""
    runs = _worse_than_one()
    old = stats.paired_vs_best(runs, "test_loss", scale="log")
    old_relu = old[old["activation"] == "relu"]
    assert bool(old_relu["tied"].all()), old_relu[["dataset", "depth", "p_adjusted"]]  # the old family: never
    table = versus_others(runs)
    assert len(table) == 9 and bool(table["worse"].all()) and set(table["others"]) == {6}
    assert all(than[0][0] == "elu" and len(than) == 1 for than in table["worse_than"])
    assert float(table["p_worse"].max()) < 0.05 < float(old_relu["p_adjusted"].min())
    assert not bool(table["equivalent"].any())
    verdict = check_relu_default(runs)
    assert verdict.verdict == FAILS, verdict.explanation
    assert "inside the top group" in verdict.explanation  # decided by the family, not by the ranks
    assert "significantly worse than another activation of the cell in 9 of 9" in verdict.explanation
    assert "relu against each of the 6 others, Holm over those 6" in verdict.explanation
    assert "a at depth 1: than elu (Holm p = " in verdict.explanation


def test_the_verdict_map_does_not_hold_at_every_depth() -> None:
    runs = _worse_than_one()
    ctx = ClaimContext(
        Results(
            runs=runs,
            epochs=pd.DataFrame(columns=["run_id", "epoch", "metric", "value"]),
            layers=pd.DataFrame(columns=["run_id", "epoch", "layer", "metric", "value"]),
            planned=runs[["run_id"]],
            directory=Path("."),
        ),
        Path("x.toml"),
        Path("x"),
    )
    verdict = decide_relu_default(ctx)
    assert verdict.verdict == FAILS and [c.verdict for c in verdict.conditions] == [FAILS] * 3
    assert verdict.verdict != MIXED
    assert verdict.parts[0].verdict == FAILS  # the pooled verdict beside the map


def test_relu_within_10_percent_and_not_worse_holds_without_being_the_best() -> None:
    """ReLU 2% behind ELU at 1.5% seed noise: not significantly worse than any activation (Holm over
    its 6), shown within 10% of every other in every cell: holds."""
    levels = {"elu": 1.0, "relu": 1.02, "leaky_relu": 1.03, "silu": 1.04, "gelu": 1.05, "tanh": 1.06, "sigmoid": 1.07}
    runs = _runs(levels, 0.015)
    table = versus_others(runs)
    assert not bool(table["worse"].any()) and bool(table["equivalent"].all())
    verdict = check_relu_default(runs)
    assert verdict.verdict == HOLDS, verdict.explanation
    assert "shown within 10% of every other activation in 9 of 9 cells" in verdict.explanation


def test_relu_best_by_a_wide_margin_is_never_worse_one_sided() -> None:
    """One-sided: ReLU 30% better than every other is not 'significantly worse' (a two-sided
    family would reject every comparison here), and being no more than 10% worse than any
    other it is within 10% of the best: holds."""
    levels = {"relu": 1.0, **{name: 1.3 + 0.05 * i for i, name in enumerate(SEVEN[1:])}}
    runs = _runs(levels, 0.01)
    table = versus_others(runs)
    assert not bool(table["worse"].any()) and float(table["p_worse"].min()) > 0.5
    two_sided = stats.paired_vs_best(runs, "test_loss", scale="log")
    assert not bool(two_sided.loc[two_sided["activation"] != "relu", "tied"].any())
    verdict = check_relu_default(runs)
    assert verdict.verdict == HOLDS, verdict.explanation
    assert "significantly worse than another activation of the cell in 0 of 9" in verdict.explanation


def test_relu_10_percent_behind_at_10_percent_noise_is_inconclusive() -> None:
    """Activations differ (the same order in every cell), but ReLU 10% behind ELU at 10%
    seed noise is neither shown worse (Holm over its 6) nor shown within 10%: inconclusive."""
    levels = {"elu": 1.0, "relu": 1.1, "leaky_relu": 1.15, "silu": 1.2, "gelu": 1.25, "tanh": 1.3, "sigmoid": 1.4}
    runs = _runs(levels, 0.1, rng_seed=1)
    table = versus_others(runs)
    assert int(table["worse"].sum()) <= 4 and int(table["equivalent"].sum()) <= 4
    verdict = check_relu_default(runs)
    assert verdict.verdict == UNSURE and "Activations differ" in verdict.explanation, verdict.explanation


def test_outside_the_top_group_still_does_not_hold() -> None:
    """ReLU last on every dataset and ELU first (mean ranks 7 and 1, beyond the CD of 5.20):
    Nemenyi's CD covers every pair, so the best picked from the data is allowed for."""
    levels = {"elu": 1.0, "leaky_relu": 1.01, "silu": 1.02, "gelu": 1.03, "tanh": 1.04, "sigmoid": 1.05, "relu": 1.06}
    runs = _runs(levels, 0.3, depths=(1,))
    verdict = check_relu_default(runs)
    assert verdict.verdict == FAILS and "outside the top group" in verdict.explanation, verdict.explanation


# -- the one-sided paired test ------------------------------------------------------------------------
def test_one_sided_worse_p_is_half_the_two_sided_p_on_the_worse_side() -> None:
    rng = np.random.default_rng(7)
    theirs = rng.normal(0, 1, 6)
    mine = theirs + 0.5 + rng.normal(0, 0.4, 6)
    none = np.zeros(6, dtype=bool)
    two_sided = stats.paired_test(mine, theirs).p_value
    assert one_sided_worse_p(mine, none, theirs, none) == pytest.approx(two_sided / 2, rel=1e-9)
    assert one_sided_worse_p(theirs, none, mine, none) == pytest.approx(1 - two_sided / 2, rel=1e-9)


def test_one_sided_worse_p_without_spread_and_with_divergence() -> None:
    none = np.zeros(5, dtype=bool)
    base = np.arange(5.0)
    assert one_sided_worse_p(base + 0.1, none, base, none) == 0.0  # worse by the same on every seed
    assert one_sided_worse_p(base - 0.1, none, base, none) == 1.0
    assert one_sided_worse_p(base, none, base, none) == 1.0  # identical
    every = np.ones(5, dtype=bool)
    # diverged on every seed where the other converged: the exact rank test alone, 1 / 2^5
    assert one_sided_worse_p(np.full(5, np.nan), every, base, none) == pytest.approx(1 / 32)
    assert one_sided_worse_p(base, none, np.full(5, np.nan), every) == pytest.approx(1.0)
    assert math.isnan(one_sided_worse_p(base[:1], none[:1], base[:1], none[:1]))  # one seed: no test


def test_a_diverged_other_does_not_make_relu_worse() -> None:
    runs = _worse_than_one()
    runs = runs[runs["depth"] == 1].copy()
    sigmoid = runs["activation"] == "sigmoid"
    runs.loc[sigmoid, "status"] = "diverged"
    runs.loc[sigmoid, "test_loss"] = np.nan
    table = versus_others(runs)
    assert set(table["others"]) == {6}  # still in the family (a test: the rank test alone)
    assert all([name for name, _ in than] == ["elu"] for than in table["worse_than"])


def test_cells_without_relu_are_not_counted() -> None:
    runs = _worse_than_one()
    runs = runs[~((runs["activation"] == "relu") & (runs["dataset"] == "a"))]
    assert len(versus_others(runs)) == 6


# -- the texts state the family --------------------------------------------------------------------------
def test_the_table_columns_name_the_family() -> None:
    table = versus_others_table(_worse_than_one())
    columns = " | ".join(table.columns)
    assert "relu compared with" in columns and "Holm over relu's comparisons in the cell" in columns
    assert "one-sided paired t on log test_loss" in columns and "within 10% of every other (IUT p)" in columns
    assert set(table["relu compared with"]) == {"6 others"}
    assert all(cell.startswith("elu (p = ") for cell in table.iloc[:, 3])


def test_claim_2s_tables_show_the_family_the_verdict_reads() -> None:
    from actcmp.claims.tables import relu_default_tables

    runs = _worse_than_one()
    tables = relu_default_tables(ClaimContext(Results(runs, *[pd.DataFrame()] * 3, Path("x")), Path("x"), Path("x")))
    titles = [title for title, _ in tables]
    assert titles[1].startswith("ReLU against each other activation, per cell")
    assert tables[1][1].equals(versus_others_table(runs))


def test_the_rule_states_the_new_family_and_when_it_was_chosen() -> None:
    claim = next(c for c in CLAIMS if c.key == "relu_default")
    rule = claim.rule
    assert "significantly worse than the cell's best (paired t)" not in rule
    assert "ReLU against each of the other 6 activations" in rule and "Holm over those 6 comparisons" in rule
    assert "one-sided paired t-tests of log test loss" in rule
    assert "changed after the stored runs had been seen" in rule and "not for the verdict it gives" in rule
    assert "being inside the top group is not required" in rule
    assert "one-sided paired tests against each other activation" in claim.statistic


# -- the p a summary shows is the one that decides (intersection-union) ----------------------------------------
def test_claim_8_holds_with_the_larger_of_its_two_parts_p() -> None:
    """Both parts must hold, so the claim's p is the larger of the two Friedman p's, not the
    test-loss part's alone."""
    from test_claims import _matters

    verdict = checks.check_activation_matters(_matters(0.5, 0.05, cells=4, seeds=(0, 1, 2, 3, 4)))  # speed: weaker
    assert verdict.verdict == HOLDS
    part_ps = [part.p_value for part in verdict.parts]
    assert len(part_ps) == 2 and part_ps[0] != part_ps[1]
    assert verdict.p_value == max(part_ps)
    assert "larger of the two parts'" in verdict.statistic


def test_claim_a2_reports_the_p_that_decides() -> None:
    """A2 fails when ReLU is worse than the best at more than half the sizes: with 4 sizes the
    3rd smallest Holm-adjusted p decides; it holds with the 2nd smallest within-10% p."""
    from test_claims import _quality_runs

    bottlenecks = {"extra": {"bottleneck": (2, 4, 8, 16)}}
    bad = _quality_runs({"relu": 1.6, "elu": 1.0, "tanh": 1.1}, noise=0.005, **bottlenecks)
    verdict = checks.check_compression(bad)
    table = stats.paired_vs_best(bad, "test_loss", margin=0.1, scale=stats.scale_for("test_loss"))
    relu = table[table["activation"] == "relu"]
    assert verdict.verdict == FAILS and "3rd smallest Holm-adjusted p" in verdict.statistic
    assert verdict.p_value == sorted(relu["p_adjusted"])[2]
    good = _quality_runs({"relu": 1.0, "elu": 1.02, "tanh": 1.5}, noise=0.005, **bottlenecks)
    held = checks.check_compression(good)
    table = stats.paired_vs_best(good, "test_loss", margin=0.1, scale=stats.scale_for("test_loss"))
    relu = table[table["activation"] == "relu"]
    assert held.verdict == HOLDS and "2nd smallest p" in held.statistic
    assert held.p_value == sorted(relu["p_equivalence"].dropna())[1]


def test_a_comparison_table_of_equal_seeds_says_so_rather_than_p_0() -> None:
    """Claim A1's clusters: every activation scores AUROC 1.000 on every seed. No t statistic
    exists: the table says "no test (all seeds equal)" and shows no zero-width interval."""
    from test_claims import grid_runs

    from actcmp.claims.tables import comparison_table

    runs = grid_runs(lambda p, rng: {"anomaly_auroc": 1.0}, activations=("relu", "elu"), depths=(2,), lr=0.01)
    table = comparison_table(runs, "anomaly_auroc", higher_is_better=True)
    shown = " ".join(table["vs best of cell"].astype(str))
    assert "no test (the same ratio on every seed)" in shown and "p = 0" not in shown
    assert set(table["95% CI"]) == {"– (all seeds equal)"}


def test_the_selected_values_follow_each_sweeps_tuning_units() -> None:
    """A tuned claim sweep's selections are shown per tuning unit: dataset and depth for the
    ranking sweep, bottleneck for A2, depth and output layer for claim 7 (a review found A2's
    four units per activation collapsed into one row, showing one of their values)."""
    from actcmp.claims.runner import load_claim_sweep, unit_fields

    assert unit_fields(load_claim_sweep("ranking")[1]) == ["dataset", "depth"]
    assert unit_fields(load_claim_sweep("compression")[1]) == ["bottleneck"]
    assert unit_fields(load_claim_sweep("softmax")[1]) == ["depth", "output_activation"]
