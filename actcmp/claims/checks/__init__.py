"""One verdict function per claim: stored frames in, a :class:`Verdict` out.

Every function is pure (frames and numbers in, a dataclass out) and is tested on
fabricated result sets where its claim is true, false and (where that makes sense)
undecidable. The rule each applies is spelled out in its docstring and, for the report,
in :mod:`actcmp.claims.registry`.

Verdicts: ``holds``, ``does not hold`` or ``inconclusive`` (at this sample size, or with
this training budget: the explanation says which). A claim made of several parts holds
when every part holds and does not hold when any part does not (:func:`combine`).

Modules, by the kind of claim they decide:

* :mod:`~actcmp.claims.checks.verdict`: the verdict words, :class:`Verdict`, :func:`combine`;
* :mod:`~actcmp.claims.checks.frames`: what every check shares (selecting and pairing runs,
  the wording of numbers and p-values);
* :mod:`~actcmp.claims.checks.ranktests`: the one-sided tests both ways that decide a
  direction (exact signed-rank tests against a bound; :func:`sided_test` for paired runs
  and seeds against chance, with the test's own estimate);
* :mod:`~actcmp.claims.checks.ranking`: claims decided by ranks (2, 8, A2);
* :mod:`~actcmp.claims.checks.losses`: errors against another activation or a reference
  (1, 5, 6, 7, A1);
* :mod:`~actcmp.claims.checks.units`: dead and saturated units (3, part of 4);
* :mod:`~actcmp.claims.checks.gradients`: gradients across depth (4).
"""

from __future__ import annotations

from actcmp.claims.checks.frames import spearman
from actcmp.claims.checks.gradients import check_vanishing_cell, gradient_ratios
from actcmp.claims.checks.losses import (
    check_anomaly,
    check_generalisation,
    check_linear,
    check_softmax,
    check_tanh_faster,
    common_metric,
    early_loss,
)
from actcmp.claims.checks.ranking import check_activation_matters, check_compression, check_relu_default
from actcmp.claims.checks.units import check_dying, check_dying_cell
from actcmp.claims.checks.verdict import FAILS, HOLDS, MIXED, UNSURE, VERDICTS, Verdict, combine, no_data

__all__ = [
    "FAILS",
    "HOLDS",
    "MIXED",
    "UNSURE",
    "VERDICTS",
    "Verdict",
    "check_activation_matters",
    "check_anomaly",
    "check_compression",
    "check_dying",
    "check_dying_cell",
    "check_generalisation",
    "check_linear",
    "check_relu_default",
    "check_softmax",
    "check_tanh_faster",
    "check_vanishing_cell",
    "combine",
    "common_metric",
    "early_loss",
    "gradient_ratios",
    "no_data",
    "spearman",
]
