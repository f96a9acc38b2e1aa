"""What the analysis counts as a result and how it groups results: one definition each, used
by the store, the statistics, the report and the claims.

* A *finished* run is a result: it trained to the end (``done``) or its loss became
  non-finite (``diverged``, recorded with its epoch). A ``failed`` run raised and is tried
  again by the next sweep; ``pending`` runs were planned and not stored.
* A grid *cell* is ``dataset``, ``depth`` and every other config field that varies
  independently of the *treatment* (the compared field: ``activation`` unless said
  otherwise, e.g. ``output_activation``); seeds are replicates (:func:`cell_keys`).
* *Outcomes*: ``failed`` runs are dropped; a ``diverged`` run is the worst outcome of its
  cell, with no value (:func:`outcomes`).
* Activations are listed in the registry's legend order (:func:`activation_order`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from actcmp.config import RUN_FIELDS
from actcmp.core.activations import REGISTRY

if TYPE_CHECKING:
    import pandas as pd

#: statuses of runs that are results (the store skips them on resume; tables count them)
FINISHED = ("done", "diverged")
#: the significance level of every test (ties with the best, Friedman, the claims)
ALPHA = 0.05
#: config fields that are never cell keys (besides the treatment): seeds are replicates,
#: dataset and depth are always the first keys
NOT_CELL = ("seed", "run_id", "dataset", "depth")
#: the legend order of hidden-layer activations: the registry's order
LEGEND_ORDER: tuple[str, ...] = tuple(name for name, info in REGISTRY.items() if not info.output_only)


# -- cells ---------------------------------------------------------------------------------
def config_fields(runs: pd.DataFrame) -> list[str]:
    """Config columns of ``runs`` in config order (RunConfig fields plus data_fingerprint)."""
    return [f for f in (*RUN_FIELDS, "data_fingerprint") if f in runs.columns]


def as_text(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` as text for counting distinct values, a missing value (None: ``split_seed``
    unset, no ``widths``) a value of its own, apart from any other."""
    return frame.astype(object).where(frame.notna(), "<none>").astype(str)


def cell_keys(runs: pd.DataFrame, treatment: str = "activation") -> list[str]:
    """``dataset``, ``depth`` and every other config field that takes more than one value
    among runs sharing the treatment, dataset and depth, less those fixed by the other keys.

    A field that only follows the treatment (``init="auto"`` with the activation) never
    varies there, so it is not a key. A field fixed by the other keys and the treatment
    (``input_noise_kind`` falls back to ``gaussian`` when ``input_noise`` is 0;
    ``init="auto"`` with the activation when the activation is a key, not the treatment)
    adds no cell either: it is dropped, the earlier field kept. So each cell holds every
    treatment of the cell once per seed, and the keys name what was varied."""
    base = [k for k in ("dataset", "depth") if k in runs.columns and k != treatment]
    if runs.empty or treatment not in runs.columns:
        return base
    fields = [f for f in config_fields(runs) if f not in (*NOT_CELL, treatment)]
    if not fields:
        return base
    group = [treatment, *base]
    text = as_text(runs[fields + group])
    counts = text.groupby(group)[fields].nunique()
    extra = [f for f in fields if (counts[f] > 1).any()]
    for name in reversed(list(extra)):
        others = [*base, *(f for f in extra if f != name)]
        if others and (text.groupby([*others, treatment])[name].nunique() <= 1).all():
            extra.remove(name)
    return base + extra


def cell_groups(frame: pd.DataFrame, keys: Sequence[str]) -> list[tuple[tuple[Any, ...], pd.DataFrame]]:
    """(key tuple, rows) per group of ``keys``, sorted; one group ``()`` without keys."""
    if not keys:
        return [((), frame)]
    return [((k,) if not isinstance(k, tuple) else k, g) for k, g in frame.groupby(list(keys), sort=True, dropna=False)]


# -- outcomes ------------------------------------------------------------------------------
def outcomes(
    runs: pd.DataFrame,
    metric: str,
    *,
    treatment: str = "activation",
    keys: Sequence[str] | None = None,
    fill_missing: float | str | None = None,
) -> pd.DataFrame:
    """One row per finished run: cell keys, treatment, ``seed``, ``value`` (the metric,
    NaN when ``worst``) and ``worst`` (True for a diverged run).

    Failed runs are dropped. A converged run without a finite ``metric`` is dropped, or
    takes ``fill_missing`` (a number, or the name of a column whose value it takes, e.g.
    a per-run censoring value).
    """
    import pandas as pd

    keys = list(cell_keys(runs, treatment) if keys is None else keys)
    columns = [*keys, treatment, "seed", "value", "worst"]
    if runs.empty or (metric not in runs.columns and fill_missing is None):
        return pd.DataFrame(columns=columns)
    runs = runs[runs["status"].isin(FINISHED)]
    raw = runs[metric] if metric in runs.columns else pd.Series(np.nan, index=runs.index)
    value = pd.to_numeric(raw, errors="coerce").astype(float)
    value = value.where(np.isfinite(value))
    worst = runs["status"] == "diverged"
    if fill_missing is not None:
        fill = pd.to_numeric(runs[fill_missing], errors="coerce") if isinstance(fill_missing, str) else fill_missing
        value = value.fillna(fill if isinstance(fill, float | int) else fill.astype(float))
    keep = worst | value.notna()
    frame = runs.loc[keep, [*keys, treatment, "seed"]].copy()
    frame["value"] = value[keep].where(~worst[keep])
    frame["worst"] = worst[keep].to_numpy()
    return frame.reset_index(drop=True)[columns]


# -- activation order ----------------------------------------------------------------------
def base_name(name: str) -> str:
    """The registry name before any parameters: ``leaky_relu(negative_slope=0.2)`` -> ``leaky_relu``."""
    return name.split("(", 1)[0].strip().lower()


def activation_order(names: Iterable[str]) -> list[str]:
    """Unique names in legend order: registry order by base name, variants after their
    base (sorted), unknown names last (sorted)."""
    rank = {name: index for index, name in enumerate(LEGEND_ORDER)}
    unique = {str(n) for n in names if n == n and n is not None}
    return sorted(unique, key=lambda n: (rank.get(base_name(n), len(rank)), "(" in n, n))


__all__ = [
    "ALPHA",
    "FINISHED",
    "LEGEND_ORDER",
    "NOT_CELL",
    "activation_order",
    "base_name",
    "cell_groups",
    "cell_keys",
    "config_fields",
    "outcomes",
]
