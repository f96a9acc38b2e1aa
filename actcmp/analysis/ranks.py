"""Across cells: ranks within each cell, the Friedman test over cells and the Nemenyi critical
difference (Demsar 2006). Pure functions on the runs frame; see :mod:`actcmp.analysis.stats`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from actcmp.analysis.cells import ALPHA, activation_order, cell_groups, cell_keys, outcomes

if TYPE_CHECKING:
    import pandas as pd


def cell_scores(
    runs: pd.DataFrame,
    metric: str = "test_loss",
    *,
    treatment: str = "activation",
    higher_is_better: bool = False,
    fill_missing: float | str | None = None,
) -> pd.DataFrame:
    """Per cell x treatment: ``score`` (mean over seeds, oriented so that lower is better;
    +inf when any seed diverged) and ``rank`` within the cell (1 = best, ties averaged)."""
    import pandas as pd
    from scipy import stats

    keys = cell_keys(runs, treatment)
    data = outcomes(runs, metric, treatment=treatment, keys=keys, fill_missing=fill_missing)
    rows = []
    for key, group in cell_groups(data, keys):
        names, scores = [], []
        for name, mine in group.groupby(treatment, sort=True):
            mean = float(mine["value"].mean())
            names.append(name)
            scores.append(math.inf if mine["worst"].any() else (-mean if higher_is_better else mean))
        ranks = stats.rankdata(scores, method="average")
        for name, score, rank in zip(names, scores, ranks, strict=True):
            rows.append({**dict(zip(keys, key, strict=True)), treatment: name, "score": score, "rank": float(rank)})
    return pd.DataFrame(rows, columns=[*keys, treatment, "score", "rank"])


@dataclass
class FriedmanResult:
    """Friedman test over cells (blocks) and the Nemenyi critical difference (Demsar 2006).

    ``mean_ranks``: treatment -> mean rank over complete cells (1 = best), sorted best
    first. ``reason`` says why the statistic is NaN, when it is.
    """

    metric: str
    treatment: str
    mean_ranks: dict[str, float]
    n_cells: int
    n_dropped: int
    statistic: float
    p_value: float
    kendall_w: float
    cd: float
    alpha: float = ALPHA
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    #: the same test with each dataset as one block (see :func:`dataset_blocks`), or None where
    #: no cell shares its dataset with another (the cells are then the datasets' own blocks)
    by_dataset: DatasetBlocks | None = None
    #: how ``p_value`` was computed: ``"chi-square"``, or ``"permutation"`` under 10 cells
    p_method: str = "chi-square"
    #: the smallest p the test over cells can reach (its permutation's; 0 for the chi-square)
    floor: float = 0.0

    @property
    def p_prefix(self) -> str:
        """What goes before ``p`` in a sentence: ``"permutation "`` for a permutation p, else ``""``."""
        return "permutation " if self.p_method == "permutation" else ""

    @property
    def k(self) -> int:
        return len(self.mean_ranks)

    @property
    def decisive_blocks(self) -> DatasetBlocks | None:
        """:attr:`by_dataset` where it decides (2 or more datasets and a p value), else None:
        then the test over cells decides (cells of distinct datasets, or one dataset)."""
        blocks = self.by_dataset
        return blocks if blocks is not None and math.isfinite(blocks.p_value) else None

    def as_decided(self) -> tuple[FriedmanResult, str]:
        """The ranks a verdict decides with and their unit: over the datasets (mean ranks,
        chi-square, permutation p and Nemenyi CD of :attr:`decisive_blocks`) where those
        decide, else this result over cells. For a critical-difference diagram that agrees
        with the verdict (the one over cells of shared datasets is optimistic)."""
        blocks = self.decisive_blocks
        if blocks is None:
            return self, "cells"
        over = replace(
            self,
            mean_ranks=dict(blocks.mean_ranks),
            n_cells=blocks.n_blocks,
            n_dropped=0,
            statistic=blocks.statistic,
            p_value=blocks.p_value,
            kendall_w=blocks.kendall_w,
            cd=blocks.cd,
            by_dataset=None,
            p_method="permutation",
            floor=blocks.floor,
        )
        return over, "datasets"

    @property
    def decision_p(self) -> float:
        """The p value a verdict takes: over the datasets where they decide, else over cells."""
        blocks = self.decisive_blocks
        return blocks.p_value if blocks is not None else self.p_value

    @property
    def best(self) -> str | None:
        return next(iter(self.mean_ranks), None)

    @property
    def significant(self) -> bool:
        return bool(self.p_value < self.alpha) if math.isfinite(self.p_value) else False

    def top_group(self) -> list[str]:
        """Treatments whose mean rank is within the critical difference of the best."""
        if not self.mean_ranks or not math.isfinite(self.cd):
            return list(self.mean_ranks)
        first = min(self.mean_ranks.values())
        return [name for name, rank in self.mean_ranks.items() if rank - first <= self.cd]

    def groups(self) -> list[list[str]]:
        """Maximal runs of treatments (in rank order) whose ranks differ by at most CD:
        the bars of the critical-difference diagram. Single treatments are left out."""
        names = list(self.mean_ranks)
        ranks = [self.mean_ranks[n] for n in names]
        if not math.isfinite(self.cd):
            return [names] if len(names) > 1 else []
        out: list[list[str]] = []
        last_end = -1
        for i in range(len(names)):
            j = i
            while j + 1 < len(names) and ranks[j + 1] - ranks[i] <= self.cd:
                j += 1
            if j > i and j > last_end:
                out.append(names[i : j + 1])
                last_end = j
        return out


#: within-dataset permutations drawn for :func:`dataset_blocks` (seeded: the report's numbers
#: depend on the stored runs only); the p value's Monte Carlo standard error is at most 0.0035
PERMUTATIONS = 20_000
PERMUTATION_SEED = 0


@dataclass
class DatasetBlocks:
    """Friedman's test with datasets as blocks: ``n_blocks`` datasets, the chi-square
    statistic (ties corrected, as scipy's), its permutation p value, Kendall's W over the
    datasets, ``floor`` (the smallest p value the test can give with these blocks: below
    alpha or not, it says whether the test could reject at all), and per treatment its mean
    rank over the datasets (``mean_ranks``, best first) with the Nemenyi ``cd`` over them."""

    n_blocks: int
    statistic: float
    p_value: float
    permutations: int = PERMUTATIONS
    kendall_w: float = math.nan
    floor: float = math.nan
    mean_ranks: dict[str, float] = field(default_factory=dict)
    cd: float = math.nan

    def top_group(self) -> list[str]:
        """Treatments whose mean rank over the datasets is within ``cd`` of the best."""
        if not self.mean_ranks or not math.isfinite(self.cd):
            return list(self.mean_ranks)
        first = min(self.mean_ranks.values())
        return [name for name, rank in self.mean_ranks.items() if rank - first <= self.cd]


def dataset_blocks(
    ranks: np.ndarray, datasets: list[str], names: list[str] | None = None, alpha: float = ALPHA
) -> DatasetBlocks | None:
    """The Friedman test over datasets instead of cells.

    Cells of one dataset (its depths, widths, ...) share its data, so they are not the
    independent blocks the Friedman test assumes, and its p value over cells is optimistic.
    Here each dataset is one block: a treatment's mean rank over the dataset's cells, ranked
    again within the dataset. With few datasets the chi-square approximation does not hold,
    so the p value is a permutation test's: the ranks permuted independently within each
    dataset (:data:`PERMUTATIONS` draws, seeded), p = (1 + draws at least as extreme) /
    (1 + draws). ``ranks``: ``[cells, treatments]`` within-cell ranks; ``datasets``: each
    cell's dataset; ``names``: the treatments (columns of ``ranks``). None when no dataset
    holds two cells; NaN statistics for fewer than 2 datasets or every treatment tied in
    every dataset.

    With few datasets and treatments the test cannot reject at all: with n blocks of k
    untied ranks the smallest p is (k!)^-(n-1) (3 treatments on 2 datasets: 1/6). ``floor``
    holds it, so that "no difference" is never read from a test that could not find one."""
    from scipy import stats

    sets = sorted(set(datasets))
    if len(sets) == len(datasets):
        return None
    nan = math.nan
    if len(sets) < 2:
        return DatasetBlocks(len(sets), nan, nan)
    per_dataset = np.stack([ranks[[d == name for d in datasets]].mean(axis=0) for name in sets])
    block = stats.rankdata(per_dataset, axis=1, method="average")
    if all(np.ptp(row) == 0 for row in block):
        return DatasetBlocks(len(sets), nan, nan)
    n, k = block.shape
    labels = [str(x) for x in names] if names is not None else [str(i) for i in range(k)]
    mean = block.mean(axis=0)
    order = sorted(range(k), key=lambda i: (round(float(mean[i]), 12), i))
    statistic = float(stats.friedmanchisquare(*block.T).statistic)
    p_value, floor = permutation_p(block)
    return DatasetBlocks(
        n,
        statistic,
        p_value,
        PERMUTATIONS,
        kendall_w=statistic / (n * (k - 1)),
        floor=floor,
        mean_ranks={labels[i]: float(mean[i]) for i in order},
        cd=nemenyi_cd(k, n, alpha),
    )


def permutation_p(block: np.ndarray) -> tuple[float, float]:
    """``(p, floor)`` of Friedman's test on ``block`` (``[blocks, treatments]`` within-block
    ranks) by permutation: the ranks permuted independently within each block
    (:data:`PERMUTATIONS` draws, seeded), p = (1 + draws at least as extreme) / (1 + draws);
    ``floor`` the smallest p attainable (with n blocks of k untied ranks (k!)^-(n-1); with
    ties, also the p of the most extreme arrangement drawn), never below 1 / (1 + draws)."""
    k = block.shape[1]
    # the most extreme arrangement (every block in one order) has probability 1 / the product of
    # each block's distinct orderings, but for the first block's (any order may lead)
    arrangements = sorted(_orderings(row) for row in block)
    floor = 1.0 / math.prod(arrangements[:-1])
    # the statistic orders permutations as the sum of squared rank sums does (the tie correction
    # and the other terms stay the same when ranks move within a block)
    observed = float(np.sum(block.sum(axis=0) ** 2))
    rng = np.random.default_rng(PERMUTATION_SEED)
    shuffled = rng.permuted(np.broadcast_to(block, (PERMUTATIONS, *block.shape)), axis=2)
    drawn = np.sum(shuffled.sum(axis=1) ** 2, axis=1)
    extreme = int(np.sum(drawn >= observed * (1 - 1e-12)))
    # with ties within a block the arrangements are not equally extreme, and the count of
    # orderings understates the floor (4 datasets of 3 with ties: 0.037 against an exact 0.074):
    # the p of the most extreme arrangement drawn is the floor too, whichever is larger
    if any(len(set(row.tolist())) < k for row in block):
        top = int(np.sum(drawn >= float(drawn.max()) * (1 - 1e-12)))
        floor = max(floor, (1 + top) / (1 + PERMUTATIONS))
    return (1 + extreme) / (1 + PERMUTATIONS), max(floor, 1.0 / (1 + PERMUTATIONS))


def _orderings(row: np.ndarray) -> int:
    """How many distinct orders the values of ``row`` have (k! without ties)."""
    _, counts = np.unique(row, return_counts=True)
    return math.factorial(len(row)) // math.prod(math.factorial(int(c)) for c in counts)


def nemenyi_cd(k: int, n_cells: int, alpha: float = ALPHA) -> float:
    """Critical difference of mean ranks (Demsar 2006): q_alpha * sqrt(k(k+1) / (6N)),
    q_alpha = studentized range quantile(1 - alpha, k, inf) / sqrt(2)."""
    from scipy import stats

    if k < 2 or n_cells < 1:
        return math.nan
    q_alpha = float(stats.studentized_range.ppf(1 - alpha, k, np.inf)) / math.sqrt(2)
    return q_alpha * math.sqrt(k * (k + 1) / (6.0 * n_cells))


def friedman(
    runs: pd.DataFrame,
    metric: str = "test_loss",
    *,
    treatment: str = "activation",
    higher_is_better: bool = False,
    fill_missing: float | str | None = None,
    alpha: float = ALPHA,
) -> FriedmanResult:
    """Friedman test (``scipy.stats.friedmanchisquare``) over cells, with mean ranks,
    Kendall's W and the Nemenyi CD. Cells missing a treatment (failed or not run) are
    dropped (counted in ``n_dropped``). Needs 3 or more treatments and 2 or more cells."""
    scores = cell_scores(
        runs, metric, treatment=treatment, higher_is_better=higher_is_better, fill_missing=fill_missing
    )
    return friedman_from_scores(scores, metric, treatment=treatment, alpha=alpha)


def friedman_from_scores(
    scores: pd.DataFrame, metric: str, *, treatment: str = "activation", alpha: float = ALPHA
) -> FriedmanResult:
    """:func:`friedman` on a :func:`cell_scores` frame."""
    from scipy import stats

    nan = math.nan
    if scores.empty:
        return FriedmanResult(metric, treatment, {}, 0, 0, nan, nan, nan, nan, alpha, "no finished runs")
    keys = [c for c in scores.columns if c not in (treatment, "score", "rank")]
    wide = (
        scores.pivot_table(index=keys or None, columns=treatment, values="score", aggfunc="first")
        if keys
        else (scores.set_index(treatment)[["score"]].T)
    )
    complete = wide.dropna(axis=0, how="any")
    dropped = len(wide) - len(complete)
    names = list(complete.columns)
    n_cells, k = len(complete), len(names)
    notes = [f"{dropped} cell(s) without every {treatment} left out"] if dropped else []
    if n_cells == 0:
        return FriedmanResult(metric, treatment, {}, 0, dropped, nan, nan, nan, nan, alpha, "no complete cell", notes)
    block_ranks = stats.rankdata(complete.to_numpy(dtype=float), axis=1, method="average")
    mean = block_ranks.mean(axis=0)
    legend = {name: i for i, name in enumerate(activation_order(str(n) for n in names))}
    order = sorted(range(k), key=lambda i: (round(float(mean[i]), 12), legend[str(names[i])]))
    mean_ranks = {str(names[i]): float(mean[i]) for i in order}
    cd = nemenyi_cd(k, n_cells, alpha)
    if k < 3:
        reason = f"Friedman needs at least 3 {treatment}s (got {k})"
    elif n_cells < 2:
        reason = f"Friedman needs at least 2 complete cells (got {n_cells})"
    elif all(np.ptp(row) == 0 for row in block_ranks):
        reason = f"every {treatment} tied in every cell"
    else:
        reason = ""
    if reason:
        return FriedmanResult(metric, treatment, mean_ranks, n_cells, dropped, nan, nan, nan, cd, alpha, reason, notes)
    # infinite scores (a diverged seed) only need to rank last: a finite stand-in suffices
    columns = [np.where(np.isinf(c), np.finfo(float).max, c) for c in (complete[n].to_numpy(float) for n in names)]
    result = stats.friedmanchisquare(*columns)
    statistic = float(result.statistic)
    p_value = float(result.pvalue)
    w = statistic / (n_cells * (k - 1))
    p_method, floor = "chi-square", 0.0
    if n_cells < 10:
        # the chi-square approximation is conservative for few blocks (at 3 blocks and 7
        # treatments it rejects 1.6% of null cases at 0.05): the permutation p holds the level
        p_value, floor = permutation_p(block_ranks)
        p_method = "permutation"
        notes.append(
            f"{n_cells} cells: p by permutation within the cells ({PERMUTATIONS} seeded draws); the chi-square "
            "approximation is rough under 10"
        )
    by_dataset = None
    if "dataset" in keys:
        index = complete.index
        cell_datasets = [str(d) for d in (index.get_level_values("dataset") if len(keys) > 1 else index)]
        by_dataset = dataset_blocks(block_ranks, cell_datasets, [str(n) for n in names], alpha)
    return FriedmanResult(
        metric, treatment, mean_ranks, n_cells, dropped, statistic, p_value, w, cd, alpha, "", notes,
        by_dataset, p_method, floor,
    )  # fmt: skip


__all__ = [
    "DatasetBlocks",
    "FriedmanResult",
    "cell_scores",
    "dataset_blocks",
    "friedman",
    "friedman_from_scores",
    "nemenyi_cd",
    "permutation_p",
]
