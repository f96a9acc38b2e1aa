"""Statistics across seeds and cells: pure functions on the long-format runs frame.

Every function takes the ``runs`` frame of :func:`actcmp.store.database.load_results` (one row per
run: ``status``, config fields, final metrics) and returns a tidy frame or a small
dataclass. Only scipy does the statistics; these modules are glue. This one gathers them
under one name (``from actcmp.analysis import stats``), by job:

* :mod:`actcmp.analysis.cells`: cells, outcomes, ``ALPHA``, finished statuses;
* :mod:`actcmp.analysis.intervals`: mean, std and interval per cell (:func:`summarise`);
* :mod:`actcmp.analysis.paired`: paired tests against the cell's best, Holm, equivalence,
  trend, power (:func:`paired_vs_best`, :func:`min_detectable_effect`);
* :mod:`actcmp.analysis.ranks`: ranks, Friedman, Nemenyi (:func:`friedman`);
* :mod:`actcmp.analysis.depth`: depth scaling (:func:`depth_scaling`).

Conventions (shared by the claims report):

* A *cell* is ``dataset``, ``depth`` and every other config field that varies
  independently of the *treatment* (the compared field: ``activation`` unless said
  otherwise, e.g. ``output_activation``); seeds are replicates (see :func:`cell_keys`).
* *Outcomes*: ``failed`` runs are dropped (a crash says nothing about the activation).
  A ``diverged`` run is the **worst** outcome of its cell: it ranks last, it never counts
  as tied with a best that did not diverge, and it is left out of means and intervals
  (which are over converged seeds, with the diverged count beside them). A converged run
  whose metric is missing (e.g. ``epochs_to_threshold`` never reached) is dropped, or
  replaced by ``fill_missing`` when the caller gives one (e.g. ``epochs + 1``).
* Paired comparisons pair runs by ``seed``: activations of a cell share the split, the
  batch order and the initial weights (DESIGN.md), so seed-to-seed noise cancels.
* With few seeds (3 is typical) every test has little power: "tied with the best" then
  means "not shown to differ", and intervals are wide. Notes say so wherever it applies.
"""

from __future__ import annotations

from actcmp.analysis.cells import ALPHA, FINISHED, cell_keys, config_fields, outcomes
from actcmp.analysis.depth import DEPTH_FACTOR, depth_profile, depth_scaling
from actcmp.analysis.intervals import (
    CI_METHOD,
    CONFIDENCE,
    N_RESAMPLES,
    RANDOM_STATE,
    bootstrap_ci,
    summarise,
    t_interval,
)
from actcmp.analysis.paired import (
    CORRECTION,
    POWER,
    PairedTest,
    equivalence_test,
    holm,
    min_detectable_effect,
    paired_test,
    paired_vs_best,
    paired_with_divergence,
    scale_for,
    signed_rank_exact,
    signed_rank_sides,
    trend_test,
    within_margin_of_all,
)
from actcmp.analysis.ranks import FriedmanResult, cell_scores, friedman, friedman_from_scores, nemenyi_cd

__all__ = [
    "ALPHA",
    "CI_METHOD",
    "CONFIDENCE",
    "CORRECTION",
    "DEPTH_FACTOR",
    "FINISHED",
    "N_RESAMPLES",
    "POWER",
    "RANDOM_STATE",
    "FriedmanResult",
    "PairedTest",
    "bootstrap_ci",
    "cell_keys",
    "cell_scores",
    "config_fields",
    "depth_profile",
    "depth_scaling",
    "equivalence_test",
    "friedman",
    "friedman_from_scores",
    "holm",
    "min_detectable_effect",
    "nemenyi_cd",
    "outcomes",
    "paired_test",
    "paired_vs_best",
    "paired_with_divergence",
    "scale_for",
    "signed_rank_exact",
    "signed_rank_sides",
    "summarise",
    "t_interval",
    "trend_test",
    "within_margin_of_all",
]
