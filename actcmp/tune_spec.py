"""The ``[tune]`` table of a sweep file: which run fields to tune, on which seeds.

::

    [grid]
    activation = ["relu", "tanh"]
    dataset = ["digits"]
    seed = [0, 1, 2]                 # evaluation seeds
    [tune]
    lr = [1e-4, 1e-3, 1e-2]          # candidates (any run field but activation, dataset, seed)
    seeds = [100, 101]               # tuning seeds: disjoint from the evaluation seeds
    # select_by = "val_loss"         # final validation loss, mean over the tuning seeds

Several tuned fields mean their **Cartesian product**: ``lr = [1e-3, 1e-2]`` and
``weight_decay = [0, 1e-4]`` are 4 candidates, each trained on every tuning seed, and the
best *combination* is selected (not each field on its own).

Rules checked at load (one line, exit 2): candidate lists non-empty and valid run values;
the tuning seeds non-empty and disjoint from the evaluation seeds (``grid.seed``, else the
fixed ``seed``, else the default 0); a tuned field is not also a grid axis. A fixed value of a
tuned field (``lr = 1e-3`` at the top of the file, or the default) is the *common* value:
the evaluation seeds are trained at it too, for the common-value comparison shown beside
the tuned one. What planning and selection do with this is in :mod:`actcmp.run.tune`.

It validates candidates as run fields with :mod:`actcmp.run_config` (config imports this module).
"""

from __future__ import annotations

import itertools
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from actcmp.errors import ConfigError, did_you_mean
from actcmp.run_config import RUN_FIELDS, Record, RunConfig, check_field

#: keys of the [tune] table that are not run fields
TUNE_KEYS = ("seeds", "select_by", "record")
#: what the tuning runs record (the run field ``record``) unless ``[tune]`` says: the
#: validation loss alone, which is all selection reads. ``record = "full"`` keeps everything
#: (layer metrics, test metrics, samples), as every tuning run did before this key existed:
#: a stored ``[tune]`` table without it means ``"full"``.
TUNING_RECORD: Record = "val_loss"
#: selection criteria (only one: the final validation loss, mean over the tuning seeds)
SELECT_BY = ("val_loss",)
#: run fields that cannot be tuned, and why
NOT_TUNABLE = {
    "seed": "tuning seeds go in tune.seeds (evaluation seeds in grid.seed)",
    "activation": "the activation is what is compared; each one is tuned on its own",
    "dataset": "the dataset is part of the cell; each cell is tuned on its own",
    "split_seed": "the split is shared by the tuning and evaluation runs of a cell (set it at the top, or as a "
    "grid axis)",
    # the validation rows come first in the split's permutation, the test rows after them: another
    # val_fraction would validate (select) on rows another run tests on, and test each activation
    # on its own rows
    "val_fraction": "the split is shared by the tuning and evaluation runs of a cell: tuning it would select on "
    "test rows (set it at the top, or as a grid axis)",
    "test_fraction": "the split is shared by the tuning and evaluation runs of a cell: tuning it would select on "
    "test rows (set it at the top, or as a grid axis)",
    "loss": "validation losses of different loss functions are not comparable, so selection cannot choose between "
    "them (set it at the top, or as a grid axis)",
}


class TuneSpec(BaseModel):
    """Candidates per tuned run field, the tuning seeds and the selection criterion."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    candidates: dict[str, list[Any]] = Field(description="tuned run field -> candidate values (Cartesian product)")
    seeds: list[int] = Field(description="tuning seeds, disjoint from the evaluation seeds")
    select_by: str = Field("val_loss", description="final validation loss, mean over the tuning seeds")
    record: Record = Field(
        TUNING_RECORD,
        description="what the tuning runs record: val_loss (the validation loss every epoch, all selection reads) "
        "or full (everything an evaluation run records)",
    )

    @model_validator(mode="before")
    @classmethod
    def _split_table(cls, data: Any) -> Any:
        """The TOML shape (``lr = [...]`` beside ``seeds``) -> ``candidates`` + the rest."""
        if isinstance(data, dict) and "candidates" not in data:
            return {
                **{k: v for k, v in data.items() if k in TUNE_KEYS},
                "candidates": {k: v for k, v in data.items() if k not in TUNE_KEYS},
            }
        return data

    @field_validator("seeds", mode="before")
    @classmethod
    def _seed_list(cls, value: Any) -> Any:
        if not isinstance(value, list) or not value:
            raise ValueError(
                f"tune.seeds: give a non-empty list of tuning seeds, e.g. seeds = [100, 101]; got {value!r}"
            )
        if any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in value):
            raise ValueError(f"tune.seeds: seeds are whole numbers >= 0; got {value!r}")
        if len(set(value)) != len(value):
            raise ValueError(f"tune.seeds: a seed is given twice; got {value!r}")
        return value

    @field_validator("select_by")
    @classmethod
    def _known_criterion(cls, value: str) -> str:
        if value not in SELECT_BY:
            raise ValueError(
                f"tune.select_by: only 'val_loss' (final validation loss, mean over the tuning seeds) is "
                f"supported; test loss is never used for selection; got {value!r}"
            )
        return value

    @field_validator("candidates", mode="before")
    @classmethod
    def _candidate_lists(cls, value: Any) -> Any:
        if not isinstance(value, dict) or not value:
            raise ValueError("tune: no field to tune; add candidates, e.g. lr = [1e-4, 1e-3, 1e-2]")
        for key, options in value.items():
            if key in NOT_TUNABLE:
                raise ValueError(f"tune.{key}: cannot be tuned: {NOT_TUNABLE[key]}")
            if key not in RUN_FIELDS:
                raise ValueError(f"tune: unknown key '{key}'{did_you_mean(key, [*RUN_FIELDS, *TUNE_KEYS])}")
            if not isinstance(options, list):
                raise ValueError(f"tune.{key}: must be a list of candidate values, got {options!r}")
            if not options:
                raise ValueError(f"tune.{key}: empty candidate list, nothing to select from")
            if len({repr(o) for o in options}) != len(options):
                raise ValueError(f"tune.{key}: a candidate is given twice; got {options!r}")
        return value

    @property
    def fields(self) -> tuple[str, ...]:
        """The tuned run fields, in the order given."""
        return tuple(self.candidates)

    def combos(self) -> list[dict[str, Any]]:
        """Every candidate combination (Cartesian product, the last field varying fastest)."""
        keys = self.fields
        return [dict(zip(keys, values, strict=True)) for values in itertools.product(*self.candidates.values())]

    def to_dict(self) -> dict[str, Any]:
        """The TOML shape, as stored with the sweep: ``record`` only where it is not
        ``"full"``, what a stored table without it means (so a tuned sweep stored before the
        key existed keeps its sweep id when resumed with ``record = "full"``)."""
        stored = {"record": self.record} if self.record != "full" else {}
        return {**self.candidates, "seeds": list(self.seeds), "select_by": self.select_by, **stored}


def parse_stored_tune(table: Any, where: str) -> TuneSpec:
    """A ``[tune]`` table as stored with a sweep: without ``record``, ``"full"`` (what
    every tuning run recorded before the key existed; see :meth:`TuneSpec.to_dict`)."""
    if isinstance(table, dict) and "record" not in table:
        table = {**table, "record": "full"}
    return parse_tune(table, where)


def parse_tune(table: Any, where: str) -> TuneSpec:
    """A ``[tune]`` table -> :class:`TuneSpec`; any problem is one :class:`ConfigError` line."""
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: 'tune' must be a table ([tune] with lists of candidates and seeds)")
    try:
        spec = TuneSpec.model_validate(table)
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "missing":
            msg = "missing; give the tuning seeds, e.g. seeds = [100, 101]"
        loc = [str(p) for p in err["loc"] if p != "candidates"]
        label = "" if msg.startswith("tune") else f"tune.{'.'.join(loc)}: " if loc else "tune: "
        raise ConfigError(f"{where}: {label}{msg}") from None
    for key, options in spec.candidates.items():
        for value in options:
            check_field(key, value, where, label=f"tune.{key}")
    return spec


def evaluation_seeds(fixed: dict[str, Any], grid: dict[str, list[Any]]) -> list[Any]:
    """The seeds the comparison is made on: ``grid.seed``, else the fixed seed, else 0."""
    if "seed" in grid:
        return list(grid["seed"])
    return [fixed.get("seed", 0)]


def check_tune(spec: TuneSpec, fixed: dict[str, Any], grid: dict[str, list[Any]], where: str) -> None:
    """Rules between [tune] and the rest of the sweep (raises a one-line :class:`ConfigError`).
    A new sweep with one candidate combination selects nothing (its "selected" value is the
    only one): refused here, not in :func:`parse_tune`, so stored sweeps still read."""
    for key in spec.fields:
        if key in grid:
            raise ConfigError(
                f"{where}: tune.{key}: {key} is also a grid axis; a field is either tuned or swept, not both "
                f"(a fixed {key} = ... at the top is the common value compared beside the tuned one)"
            )
    overlap = [s for s in spec.seeds if s in evaluation_seeds(fixed, grid)]
    if overlap:
        shown = ", ".join(str(s) for s in overlap)
        raise ConfigError(
            f"{where}: tune.seeds: {shown} {'is' if len(overlap) == 1 else 'are'} also evaluation "
            f"seed{'s' if len(overlap) > 1 else ''} (grid.seed = {evaluation_seeds(fixed, grid)}); "
            "tuning seeds must differ from them"
        )
    if len(spec.combos()) == 1:
        only = ", ".join(f"{k} = {v[0]!r}" for k, v in spec.candidates.items())
        raise ConfigError(
            f"{where}: tune: one candidate ({only}): nothing to select from; give two or more candidates, or "
            "set the field at the top of the sweep file and drop [tune]"
        )


def check_record(fixed: dict[str, Any], grid: dict[str, list[Any]], where: str) -> None:
    """A sweep's own runs record everything: ``record`` other than ``"full"`` at the top or
    as a grid axis is refused in one :class:`ConfigError` line (the report, ``compare`` and
    the claims read the train and test metrics such a run leaves out); ``[tune] record`` sets
    what a tuned sweep's tuning runs record."""
    given = [v for v in [fixed.get("record", "full"), *grid.get("record", [])] if v != "full"]
    if given:
        raise ConfigError(
            f"{where}: record = {given[0]!r}: a sweep's runs record everything (the report, compare and claims read "
            "their train and test metrics); what a tuned sweep's tuning runs record is set under [tune] "
            "(record = 'val_loss', the default, or 'full')"
        )


def common_values(spec: TuneSpec, fixed: dict[str, Any]) -> dict[str, Any]:
    """The value each tuned field takes without tuning: the sweep's fixed value or the default,
    as a run config holds it (``"Sigmoid"`` -> ``"sigmoid"``, ``"linear"`` -> ``"identity"``,
    ``"0.01"`` -> 0.01), so that it compares equal to the stored runs' values. Where the fixed
    fields alone do not validate (they may need a grid axis), the values as written."""
    raw = {k: fixed.get(k, RunConfig.model_fields[k].default) for k in spec.fields}
    try:
        model = RunConfig(**{k: v for k, v in fixed.items() if k in RunConfig.model_fields})
    except (ValidationError, ConfigError, TypeError, ValueError):
        return raw
    dumped = model.model_dump()
    return {k: dumped.get(k, value) for k, value in raw.items()}


__all__ = [
    "TUNING_RECORD",
    "TuneSpec",
    "check_record",
    "check_tune",
    "common_values",
    "evaluation_seeds",
    "parse_stored_tune",
    "parse_tune",
]
