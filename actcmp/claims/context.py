"""What a claim's functions read (:class:`ClaimContext`: the stored results of its sweep),
and the guards that give a claim with no stored runs an inconclusive verdict, an empty
figure and no tables."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from actcmp.analysis import stats as stats
from actcmp.claims.checks import Verdict, no_data

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from actcmp.store.database import Results


@dataclass
class ClaimContext:
    """What a claim's functions read: the stored results of its sweep (only the runs that
    sweep plans), the sweep file and results directory, and lazily computed references."""

    results: Results | None
    sweep_file: Path
    results_dir: Path
    alpha: float = stats.ALPHA
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def runs(self) -> pd.DataFrame:
        import pandas as pd

        return self.results.runs if self.results is not None else pd.DataFrame(columns=["run_id", "status"])

    @property
    def has_runs(self) -> bool:
        return self.results is not None and not self.results.runs.empty

    @property
    def layers(self) -> pd.DataFrame:
        """The per-layer metrics of the runs (only asked for when there are runs)."""
        assert self.results is not None
        return self.results.layers

    @property
    def epochs(self) -> pd.DataFrame:
        """The per-epoch metrics of the runs (only asked for when there are runs)."""
        assert self.results is not None
        return self.results.epochs

    def pca(self) -> pd.DataFrame:
        """PCA train/test MSE on every (dataset, seed, bottleneck) split of the runs."""
        if "pca" not in self.cache:
            from actcmp.claims.reference import pca_reference

            self.cache["pca"] = pca_reference(self.runs)
        return self.cache["pca"]


#: a claim's tables: (title, table) pairs
Tables = list[tuple[str, "pd.DataFrame"]]


def needs_runs(decide: Callable[[ClaimContext], Verdict]) -> Callable[[ClaimContext], Verdict]:
    """``decide``, or an inconclusive verdict ("no finished runs") when nothing is stored."""

    def wrapped(ctx: ClaimContext) -> Verdict:
        return decide(ctx) if ctx.has_runs else no_data()

    return wrapped


def figure_or_empty(draw: Callable[[ClaimContext], Figure]) -> Callable[[ClaimContext], Figure]:
    """``draw``, or a figure that says there are no runs yet."""

    def wrapped(ctx: ClaimContext) -> Figure:
        from actcmp.claims import figures

        return draw(ctx) if ctx.has_runs else figures.no_data()

    return wrapped


def tables_or_empty(build: Callable[[ClaimContext], Tables]) -> Callable[[ClaimContext], Tables]:
    """``build``, or no tables."""

    def wrapped(ctx: ClaimContext) -> Tables:
        return build(ctx) if ctx.has_runs else []

    return wrapped


__all__ = ["ClaimContext", "Tables", "figure_or_empty", "needs_runs", "tables_or_empty"]
