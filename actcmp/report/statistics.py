"""The report's statistics across cells: Friedman test, Nemenyi critical difference and
depth scaling (all computed by :mod:`actcmp.analysis.stats`; this module only picks and words).

:func:`analyse` gathers what the statistics section of the report needs;
:func:`figure_specs` lists its figures in the form of
:func:`actcmp.report.plots.standard_figures`, only those the data support: the
critical-difference diagram when the Friedman test can run, depth scaling with 2 or more
depths. Otherwise the section says why in words, and ``make_report`` removes a figure of
that name left by an earlier report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from actcmp.report.format import p_clause

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from actcmp.analysis.stats import FriedmanResult
    from actcmp.report.render import FigureDoc
    from actcmp.store.database import Results

METRIC = "test_loss"
#: the statistics figures' file stems (each written only when it applies)
FIGURE_STEMS = ("critical_difference", "depth_scaling")


@dataclass
class Statistics:
    """What the statistics section reads: the Friedman result over cells, the number of
    depths (depth scaling needs 2 or more) and the figures written for it, by stem."""

    friedman: FriedmanResult
    n_depths: int
    factor: float
    figures: dict[str, FigureDoc] = field(default_factory=dict)

    @property
    def cd_drawn(self) -> bool:
        """A diagram says something only when the test could run."""
        return not self.friedman.reason and self.friedman.k >= 2

    @property
    def depth_drawn(self) -> bool:
        return self.n_depths >= 2


def analyse(results: Results) -> Statistics:
    """The Friedman test of mean test loss over cells (a diverged seed = worst) and the
    depth count, from the stored runs."""
    from actcmp.analysis import stats as stats

    runs = results.runs
    finished = runs[runs["status"].isin(stats.FINISHED)] if "status" in runs else runs
    n_depths = int(finished["depth"].nunique()) if "depth" in finished and len(finished) else 0
    return Statistics(stats.friedman(runs, METRIC), n_depths, stats.DEPTH_FACTOR)


def _notice(text: str, size: tuple[float, float] = (6.4, 1.2)) -> Figure:
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=100)
    ax = fig.add_subplot()
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, transform=ax.transAxes)
    ax.set_axis_off()
    return fig


def plot_critical_difference(statistics: Statistics) -> Figure:
    """The critical-difference diagram of the test that decides (:meth:`FriedmanResult.as_decided`):
    over the datasets as blocks where cells share datasets, as the Findings' verdict and the claims'
    diagrams; over the cells otherwise (its caption, :func:`cd_caption`, gives the optimistic test
    over cells where that is not the one drawn)."""
    import matplotlib

    from actcmp.report.plots import RC, plot_cd_diagram

    result = statistics.friedman
    if not statistics.cd_drawn:
        return _notice(f"no critical-difference diagram: {result.reason or 'no activations'}")
    shown, unit = result.as_decided()
    with matplotlib.rc_context(RC):
        return plot_cd_diagram(shown, title=cd_title(result), unit=unit)


def cd_title(result: FriedmanResult) -> str:
    """The diagram's title: what its ranks are over and its test's p, the decided one
    (:meth:`FriedmanResult.as_decided`); over cells of one dataset, said optimistic."""
    shown, unit = result.as_decided()
    if unit == "datasets":
        return (
            f"Mean rank of test loss over the {shown.n_cells} datasets as blocks (1 = best) · "
            f"permutation {p_clause(shown.p_value)}"
        )
    blocks = result.by_dataset
    caveat = (
        ""
        if blocks is None
        else " (optimistic: the cells share one dataset)"
        if blocks.n_blocks == 1
        else f" (optimistic: the cells share {blocks.n_blocks} datasets)"
    )
    return (
        f"Mean rank of test loss over {result.n_cells} cells (1 = best) · Friedman "
        f"{result.p_prefix}{p_clause(result.p_value)}{caveat}"
    )


def plot_depth(results: Results, statistics: Statistics) -> Figure:
    import matplotlib

    from actcmp.analysis import stats as stats
    from actcmp.report.plots import RC, plot_depth_scaling

    if not statistics.depth_drawn:
        return _notice("no depth-scaling figure: the runs use a single depth")
    with matplotlib.rc_context(RC):
        profile = stats.depth_profile(results.runs, METRIC, factor=statistics.factor)
        return plot_depth_scaling(profile, factor=statistics.factor)


def figure_specs(results: Results, statistics: Statistics) -> list[tuple[str, str, str, Any]]:
    """(file stem, title, caption, function of Results) for the statistics figures that
    apply to ``statistics`` (none, one or both of :data:`FIGURE_STEMS`)."""
    factor = statistics.factor
    specs = [
        (
            "critical_difference",
            "Critical-difference diagram",
            cd_caption(statistics.friedman),
            lambda _results: plot_critical_difference(statistics),
        ),
        (
            "depth_scaling",
            "Depth scaling: loss relative to the best depth",
            f"Mean test loss relative to each activation's best depth (log scales), one panel per dataset; the "
            f"dashed line is {factor:g}×: the deepest point at or under it still trains, unless a hollow circle "
            "marks that the median seed did not learn (final validation loss not below predicting the training mean)"
            + ("; crosses mark depths where a seed diverged" if _any_diverged(results) else "")
            + ". Each activation's points are set a little to the side of their depth so that they do not hide "
            "one another where every line meets 1.",
            lambda results: plot_depth(results, statistics),
        ),
    ]
    drawn = {"critical_difference": statistics.cd_drawn, "depth_scaling": statistics.depth_drawn}
    return [spec for spec in specs if drawn[spec[0]]]


def cd_caption(result: FriedmanResult) -> str:
    """The CD diagram's caption: what it draws (the decided test, :func:`plot_critical_difference`)
    and, where that is the test over the datasets, the test over cells as a remark, optimistic."""
    blocks = result.decisive_blocks
    bars = (
        "A thick bar joins activations whose mean ranks differ by less than the Nemenyi critical difference "
        "(CD, the scale bar): those are not shown to differ at α = 0.05."
    )
    if blocks is None:
        text = f"Each activation at its mean rank of test loss over the cells (1 = best, left; Demšar 2006). {bars}"
        if result.by_dataset is not None and result.by_dataset.n_blocks == 1:
            text += " The cells are all of one dataset, so this CD is optimistic."
        elif result.by_dataset is not None:  # the datasets' test has no p: every activation ties in every dataset
            text += f" The cells share {result.by_dataset.n_blocks} datasets, so this CD is optimistic."
        return text
    over_cells = (
        f"Over the {result.n_cells} cells as blocks (optimistic: cells of one dataset share its data, so they are "
        f"not independent blocks) Friedman {result.p_prefix}{p_clause(result.p_value)} and CD = {result.cd:.2f} "
        f"ranks; within it of the best ({result.best}): {', '.join(result.top_group())}."
    )
    return (
        f"Each activation at its mean rank of test loss over the {blocks.n_blocks} datasets as blocks (within each "
        "dataset, its mean rank over the dataset's cells, ranked again; 1 = best, left; Demšar 2006), the test the "
        f"Findings decide with (permutation {p_clause(blocks.p_value)}). {bars} {over_cells}"
    )


def _any_diverged(results: Results) -> bool:
    runs = results.runs
    return "status" in runs and bool((runs["status"] == "diverged").any())


# -- words ----------------------------------------------------------------------------------


def friedman_text(result: FriedmanResult) -> list[str]:
    """Sentences stating the Friedman test, Kendall's W and the Nemenyi CD, or why no
    test was run. Where cells share a dataset, the verdict is that of the test with
    datasets as blocks (:func:`block_verdict`), the one over cells being optimistic."""
    if result.reason:
        return [f"No Friedman test and no critical-difference diagram: {result.reason}."]
    alpha = result.alpha
    first = (
        f"Friedman test over {result.n_cells} cells and {result.k} activations: χ² = {result.statistic:.2f}, "
        f"{result.p_prefix}{p_clause(result.p_value)}, Kendall's W = "
        f"{result.kendall_w:.2f} (0: the cells disagree on the order, "
        f"1: every cell ranks the activations alike)"
    )
    blocks = result.by_dataset
    if blocks is None:
        cells = unreachable(result)  # a permutation p over few cells may be unable to reject at all
        out = [f"{first}: {_no_verdict(result, *cells) if cells else _verdict(result.significant, alpha)}."]
    else:
        out = [f"{first}."]
        shared = (
            f"The {result.n_cells} cells are all of one dataset"
            if blocks.n_blocks == 1
            else f"The {result.n_cells} cells share {_datasets(blocks.n_blocks)}"
        ) + ", so they are not independent blocks: the p value above and the critical difference below are optimistic."
        if blocks.n_blocks == 1:
            out.append(f"{shared} With one dataset no test over datasets is possible.")
        elif math.isfinite(blocks.p_value):
            out.append(
                f"{shared} With each dataset as one block (an activation's mean rank over the dataset's cells, ranked "
                f"again): χ² = {blocks.statistic:.2f} over {blocks.n_blocks} datasets, permutation "
                f"{p_clause(blocks.p_value)} ({blocks.permutations:,} within-dataset permutations; the chi-square "
                f"approximation does not hold for so few blocks), Kendall's W = {blocks.kendall_w:.2f}: "
                f"{block_verdict(result)}. Nemenyi critical difference over the datasets: CD = {blocks.cd:.2f} ranks; "
                f"within it of the best ({next(iter(blocks.mean_ranks))}): {', '.join(blocks.top_group())}."
            )
        else:
            out.append(f"{shared} No test with datasets as blocks: every activation ties in every dataset.")
    top = result.top_group()
    out.append(
        f"Nemenyi critical difference at α = {alpha:g}: CD = {result.cd:.2f} ranks; mean ranks closer "
        f"than this are not shown to differ. Within CD of the best ({result.best}): {', '.join(top)}."
    )
    return out


def _verdict(significant: bool, alpha: float) -> str:
    return (
        f"the activations' ranks differ more than chance would give (p < {alpha:g})"
        if significant
        else f"no significant difference between the activations' ranks (p ≥ {alpha:g})"
    )


def block_verdict(result: FriedmanResult) -> str:
    """The verdict of the test with datasets as blocks, or that it could not reject at all."""
    blocks = result.by_dataset
    assert blocks is not None
    if blocks.p_value >= result.alpha and blocks.floor >= result.alpha:
        return _no_verdict(result, _datasets(blocks.n_blocks), blocks.floor)
    return _verdict(blocks.p_value < result.alpha, result.alpha)


def unreachable(result: FriedmanResult) -> tuple[str, float] | None:
    """Where the test that decides (with datasets as blocks, :attr:`FriedmanResult.decisive_blocks`;
    else the one over cells) did not reject and cannot reach p < alpha at all (its permutation
    p's ``floor`` is at least alpha: 2 datasets and 4 activations with ties, 0.083; 2 cells of 3
    activations, 1/6), as :func:`block_verdict` says: its blocks (``2 datasets``, ``3 cells``)
    and that floor, for "no verdict either way"; None otherwise."""
    blocks = result.decisive_blocks
    if blocks is not None and blocks.p_value >= result.alpha and blocks.floor >= result.alpha:
        return _datasets(blocks.n_blocks), blocks.floor
    if blocks is None and result.p_value >= result.alpha and result.floor >= result.alpha:
        return f"{result.n_cells} cells", result.floor  # the test over cells decides; its permutation p too
    return None


def _no_verdict(result: FriedmanResult, unit: str, floor: float) -> str:
    return (
        f"with {unit} and {result.k} activations this test cannot reach p < {result.alpha:g} "
        f"(its smallest p is {floor:.2g}): no verdict either way"
    )


def _datasets(n: int) -> str:
    return "1 dataset" if n == 1 else f"{n} datasets"


def depth_text(statistics: Statistics) -> str | None:
    if statistics.depth_drawn:
        return None  # the table's caption says it all
    return "No depth scaling: the runs use a single depth, so there is no deeper network to compare with."
