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


def test_the_floor_says_when_the_test_over_datasets_cannot_reject() -> None:
    """3 treatments on 2 datasets that agree perfectly: the smallest p is 1/3! = 0.17, so the
    test cannot reject; claims and report must not read "no difference" from it."""
    agree = np.array([[1.0, 2.0, 3.0]] * 4)
    blocks = dataset_blocks(agree, ["a", "a", "b", "b"], ["x", "y", "z"])
    assert blocks is not None
    assert blocks.floor == pytest.approx(1 / 6) and blocks.p_value >= blocks.floor
    assert blocks.kendall_w == pytest.approx(1.0) and list(blocks.mean_ranks) == ["x", "y", "z"]
    assert blocks.cd == pytest.approx(ranks.nemenyi_cd(3, 2)) and blocks.top_group() == ["x", "y", "z"]
    # ties: fewer distinct orders, a higher floor (the second block's order decides)
    tied = dataset_blocks(np.array([[1.0, 2.5, 2.5]] * 2 + [[1.0, 2.0, 3.0]] * 2), ["a", "a", "b", "b"])
    assert tied is not None and tied.floor == pytest.approx(1 / 3)
    # 5 datasets of 4 treatments: (4!)^-4, below the draws' resolution 1 / 20,001
    many = dataset_blocks(np.array([[1.0, 2.0, 3.0, 4.0]] * 10), [d for d in "abcde" for _ in range(2)])
    assert many is not None and many.floor == pytest.approx(1 / 20_001) and many.p_value == many.floor


def test_claim_8_gives_no_negative_verdict_from_a_test_that_cannot_reject() -> None:
    from actcmp.claims.checks import FAILS, HOLDS
    from actcmp.claims.checks.ranking import check_activation_matters

    rows = []
    for dataset in ("a", "b"):
        for depth in (1, 2, 4, 8):
            for act, level in (("relu", 1.0), ("tanh", 1.001), ("sigmoid", 1.002)):
                for seed in range(3):
                    # seed noise up to 50%: too much for the equivalence test to show "within 10%"
                    loss = level + 0.5 * ((seed * 7 + depth * 3 + len(act)) % 5) / 5
                    rows.append({"run_id": f"{dataset}{depth}{act}{seed}", "status": "done", "activation": act,
                                 "dataset": dataset, "depth": depth, "seed": seed, "epochs": 5, "test_loss": loss,
                                 "epochs_to_threshold": 3})  # fmt: skip
    verdict = check_activation_matters(pd.DataFrame(rows))
    assert verdict.verdict not in (FAILS, HOLDS), verdict.explanation
    assert "cannot reach p < 0.05" in verdict.explanation


def test_the_findings_verdict_follows_the_test_over_datasets() -> None:
    from actcmp.report.findings import ranks_text
    from actcmp.report.statistics import Statistics

    blocks = ranks.DatasetBlocks(3, 2.0, 0.4, kendall_w=0.3, floor=0.001, mean_ranks={"a": 1.5, "b": 1.5}, cd=1.0)
    result = FriedmanResult("test_loss", "activation", {"a": 1.4, "b": 1.6}, 9, 0, 9.0, 0.003, 0.5, 0.4,
                            by_dataset=blocks)  # fmt: skip
    text = ranks_text(Statistics(result, 3, 1.5)) or ""
    assert "with datasets as blocks p = 0.400 (no significant difference between the ranks" in text, text
    said = " ".join(friedman_text(result))
    assert "no significant difference between the activations' ranks" in said
    floored = ranks.DatasetBlocks(2, 4.0, 0.17, kendall_w=1.0, floor=1 / 6, mean_ranks={"a": 1.0, "b": 2.0}, cd=2.0)
    result.by_dataset = floored
    assert "cannot reach p < 0.05 (its smallest p is 0.17): no verdict either way" in " ".join(friedman_text(result))


def test_the_floor_with_ties_is_that_of_the_most_extreme_attainable_arrangement() -> None:
    """4 datasets of 3 treatments with ties in every block: counting orderings gave 0.037, below
    0.05, so claim 8 thought the test could reject; the exact smallest p (by enumeration) is 0.074."""
    block = np.array([[1, 2.5, 2.5], [1.5, 1.5, 3], [2.5, 2.5, 1], [1, 2.5, 2.5]])
    found = dataset_blocks(np.repeat(block, 2, axis=0), [d for d in "abcd" for _ in range(2)])
    assert found is not None and 0.06 < found.floor < 0.09 and found.floor > 0.05


def test_few_cells_take_the_permutation_p() -> None:
    """Under 10 cells the chi-square approximation is conservative (3 blocks, 7 treatments:
    1.6% of null cases under 0.05); the permutation p within the cells holds the level."""
    from actcmp.analysis.ranks import friedman_from_scores

    rng = np.random.default_rng(3)
    rejected = 0
    for _ in range(200):
        scores = pd.DataFrame(
            [{"dataset": f"d{c}", "activation": f"a{t}", "score": rng.normal()} for c in range(3) for t in range(7)]
        )
        result = friedman_from_scores(scores, "test_loss")
        rejected += result.p_value < 0.05
        assert any("by permutation" in note for note in result.notes) and result.p_method == "permutation"
        assert result.floor == pytest.approx(1 / math.factorial(7) ** 2, abs=1 / 20_001)
    assert 0.02 <= rejected / 200 <= 0.09
