"""The Friedman test with datasets as blocks (``analysis.ranks.dataset_blocks``): cells that
share a dataset are not independent blocks, so the test over cells is optimistic; the test
over datasets, with a permutation p value, keeps its level."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from actcmp.analysis import ranks
from actcmp.analysis.ranks import FriedmanResult, dataset_blocks, friedman_from_scores
from actcmp.claims.checks.ranking import decision_p
from actcmp.report.statistics import friedman_text

K = 8
DATASETS = ["a", "b", "c"]
DEPTHS = [1, 2, 4, 8]


def _within_cell_ranks(scores: np.ndarray) -> np.ndarray:
    return scipy_stats.rankdata(scores, axis=1, method="average")


def _null_scores(rng: np.random.Generator, noise: float = 0.3) -> np.ndarray:
    """Scores ``[cells, activations]`` with no activation better than another on average over
    datasets: each dataset draws its own order (its depths share it, up to noise)."""
    rows = []
    for _ in DATASETS:
        effect = rng.normal(size=K)
        rows += [effect + noise * rng.normal(size=K) for _ in DEPTHS]
    return np.array(rows)


@pytest.mark.slow
def test_the_test_over_datasets_keeps_its_level_where_the_test_over_cells_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ranks, "PERMUTATIONS", 1000)
    rng = np.random.default_rng(0)
    cell_datasets = [d for d in DATASETS for _ in DEPTHS]
    over_cells, over_datasets, sims = 0, 0, 1000
    for _ in range(sims):
        block = _within_cell_ranks(_null_scores(rng))
        over_cells += scipy_stats.friedmanchisquare(*block.T).pvalue < 0.05
        result = dataset_blocks(block, cell_datasets)
        assert result is not None and result.permutations == 1000
        over_datasets += result.p_value < 0.05
    # the cells of a dataset agree, so the test over 12 cells finds "differences" most of the time
    assert over_cells / sims > 0.5
    # the permutation test over 3 datasets is exact up to its draws: 5% +- 3 standard errors (0.7%)
    assert 0.029 <= over_datasets / sims <= 0.071, over_datasets / sims


def test_the_permutation_p_agrees_with_scipys_permutation_test() -> None:
    rng = np.random.default_rng(3)
    effect = np.linspace(0, 2.5, K)  # a real difference, shared by the datasets
    scores = np.array([effect + rng.normal(size=K) for _ in DATASETS for _ in DEPTHS])
    block = _within_cell_ranks(scores)
    cell_datasets = [d for d in DATASETS for _ in DEPTHS]
    ours = dataset_blocks(block, cell_datasets)
    assert ours is not None and ours.n_blocks == 3
    per_dataset = np.stack([block[[d == name for d in cell_datasets]].mean(axis=0) for name in DATASETS])
    again = scipy_stats.rankdata(per_dataset, axis=1)
    assert ours.statistic == pytest.approx(scipy_stats.friedmanchisquare(*again.T).statistic)

    def rank_sums_squared(*samples: np.ndarray, axis: int) -> np.ndarray:
        # orders permutations as Friedman's chi-square does (the ranks move within blocks)
        return sum(np.sum(sample, axis=axis) ** 2 for sample in samples)

    theirs = scipy_stats.permutation_test(
        list(again.T),
        rank_sums_squared,
        permutation_type="samples",
        vectorized=True,
        n_resamples=20_000,
        alternative="greater",
        rng=7,
    )
    assert 0 < ours.p_value < 0.2
    assert ours.p_value == pytest.approx(theirs.pvalue, abs=0.01)
    # seeded: the report's numbers depend on the runs only
    assert dataset_blocks(block, cell_datasets) == ours


def test_cells_of_their_own_dataset_need_no_blocks_and_one_dataset_cannot_be_tested() -> None:
    block = _within_cell_ranks(np.random.default_rng(0).normal(size=(3, K)))
    assert dataset_blocks(block, ["a", "b", "c"]) is None
    one = dataset_blocks(block, ["a", "a", "a"])
    assert one is not None and one.n_blocks == 1 and math.isnan(one.p_value)


def _scores_frame(scores: np.ndarray, datasets: list[str], depths: list[int] = DEPTHS) -> pd.DataFrame:
    rows = []
    for cell, (dataset, depth) in enumerate((d, depth) for d in datasets for depth in depths):
        for act in range(K):
            rows.append({"dataset": dataset, "depth": depth, "activation": f"act{act}", "score": scores[cell, act]})
    frame = pd.DataFrame(rows)
    frame["rank"] = frame.groupby(["dataset", "depth"])["score"].rank()
    return frame


def test_friedman_reports_the_dataset_blocks_and_the_report_says_so() -> None:
    scores = _null_scores(np.random.default_rng(5))
    result = friedman_from_scores(_scores_frame(scores, DATASETS), "test_loss")
    assert result.n_cells == 12 and result.by_dataset is not None and result.by_dataset.n_blocks == 3
    text = " ".join(friedman_text(result))
    assert "share 3 datasets, so they are not independent blocks" in text
    assert "permutation p" in text and "20,000 within-dataset permutations" in text
    # the claims decide on it
    assert decision_p(result) == (result.by_dataset.p_value, 3)
    # one cell per dataset: nothing to add, the claims decide on the test over cells
    single = friedman_from_scores(_scores_frame(scores[::4], DATASETS, [1]), "test_loss")
    assert single.by_dataset is None and decision_p(single) == (single.p_value, 0)
    assert "independent blocks" not in " ".join(friedman_text(single))


def test_decision_p_falls_back_when_the_blocks_could_not_be_tested() -> None:
    untested = ranks.DatasetBlocks(1, math.nan, math.nan)
    result = FriedmanResult("m", "activation", {}, 4, 0, 9.0, 0.01, 0.5, 1.0, by_dataset=untested)
    assert decision_p(result) == (0.01, 0)
