"""Typed, validated configuration: one run (:class:`RunConfig`) and a sweep of them.

A sweep file (TOML) has sweep-level keys (``name``, ``description``), fixed run fields at
the top level, and a ``[grid]`` table whose lists may be any run field::

    name = "default"
    epochs = 20
    [grid]
    activation = ["relu", "tanh"]
    dataset = ["digits"]
    depth = [1, 2, 4]
    seed = [0, 1, 2]

:func:`expand_grid` is pure: the cartesian product in the order the grid keys are given,
with later keys varying fastest. A run's identity is :func:`run_id`, a hash of its fully
resolved configuration (``auto`` fields replaced by what they resolve to).
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from actcmp.errors import ActcmpError, ConfigError
from actcmp.run_config import (  # noqa: F401  (config's names, defined there so that tune_spec can import them)
    _CHOICES,
    _SWEEP_KEY_HINTS,
    BIAS_INITS,
    DEFAULT_PROBE_EVERY,
    LATER_FIELDS,
    RUN_FIELDS,
    SWEEP_KEYS,
    RunConfig,
    _check_keys,
    _describe_error,
    _describe_validation,
    _is_number_text,
    check_field,
    check_values,
    split_seed_of,
)
from actcmp.tune_spec import TuneSpec, check_record, check_tune, parse_tune

#: Bumped whenever training or metric semantics change, so that old stored runs are not
#: silently reused as if they were produced by the new code.
RESULTS_VERSION = 1

#: Fields that set a run's tensor shapes and cost: runs equal in all of them train together
#: as one stacked model (``run.tasks.GROUP_KEYS``), and shards deal runs by them (``shard.COST_KEYS``).
# fmt: off
SHAPE_KEYS = (
    "dataset", "depth", "width", "bottleneck", "batch_size", "epochs", "output_activation", "loss",
    "val_fraction", "test_fraction", "probe_size", "probe_every", "data_fingerprint",
    "widths", "activity_l1", "activity_l1_on", "input_noise", "input_noise_kind", "record",
)
# fmt: on

#: The split every run of a sweep with ``[tune]`` uses unless the sweep sets ``split_seed``:
#: tuning and evaluation seeds then share one test set that no validation set overlaps.
TUNED_SPLIT_SEED = 0

#: The most runs one sweep may plan unless raised (``--max-runs``, ``max_runs=``): the grid's
#: size is the product of its axis lengths, checked before any point is expanded.
MAX_RUNS = 100_000


class SweepConfig(BaseModel):
    """A named grid of runs: fixed fields plus a grid of lists."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        "sweep", pattern=r"^[A-Za-z0-9_.\-]+$", description="sweep name; default results dir is results/<name>/"
    )
    description: str = ""
    fixed: dict[str, Any] = Field(default_factory=dict)
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    #: the ``[tune]`` protocol (per-activation selection of e.g. lr), or None (see actcmp.run.tune)
    tune: TuneSpec | None = None
    #: the published work the sweep reproduces, and how it differs from it: words for the
    #: report's Setup (recorded in sweep.json), never part of the sweep's id
    reference: str = ""
    deviations: list[str] = Field(default_factory=list)
    #: where the sweep came from (a file name, "command line"), for error messages only
    _source: str = PrivateAttr("config")
    #: the sweep file it was read from (None: built in code or on the command line), for
    #: the provenance recorded beside the results (sweep.json), never part of an id
    _path: Path | None = PrivateAttr(None)

    @field_validator("name")
    @classmethod
    def _stays_in_results(cls, value: str) -> str:
        if not value.strip("."):  # "." or "..": results/<name>/ would leave results/
            raise ValueError(f"sweep name {value!r} would leave results/: use letters, digits, '_', '-' or '.'")
        return value

    @property
    def source(self) -> str:
        return self._source

    @property
    def path(self) -> Path | None:
        return self._path

    def with_source(self, source: str) -> SweepConfig:
        self._source = source
        return self

    def runs(self, max_runs: int = MAX_RUNS) -> list[RunConfig]:
        """Expanded and validated run configs (see :func:`expand_grid`). A sweep with ``[tune]``
        holds one train/validation/test split for all its runs (``split_seed`` =
        ``TUNED_SPLIT_SEED`` unless the sweep sets it), so no tuning run validates on rows
        that are an evaluation run's test rows. A ``split_seed`` axis of a tuned sweep holding
        None (each seed's own split; only the Python API can say so) is refused for that reason."""
        axis = self.grid.get("split_seed")
        if self.tune is not None and isinstance(axis, list) and any(v is None for v in axis):
            raise ConfigError(
                f"{self._source}: grid.split_seed: None (each seed's own split) cannot be used with [tune]: "
                "tuning runs would validate on evaluation runs' test rows; list integer split seeds"
            )
        return expand_grid(self.resolved_fixed, self.grid, where=self._source, max_runs=max_runs)

    @property
    def resolved_fixed(self) -> dict[str, Any]:
        """The fixed fields every run gets: :attr:`fixed`, plus the tuned sweep's split."""
        if self.tune is not None and self.fixed.get("split_seed") is None and "split_seed" not in self.grid:
            return {**self.fixed, "split_seed": TUNED_SPLIT_SEED}  # None too: per-seed splits would leak
        return self.fixed

    def size(self) -> int:
        """Grid points before de-duplication: the product of the axis lengths."""
        return grid_size(self.grid)

    def literature(self) -> dict[str, Any]:
        """``reference`` and ``deviations`` where the sweep file states them ({} otherwise)."""
        out: dict[str, Any] = {}
        if self.reference:
            out["reference"] = self.reference
        if self.deviations:
            out["deviations"] = list(self.deviations)
        return out

    def to_dict(self) -> dict[str, Any]:
        # reference and deviations describe the runs and change none: they stay out of the id
        # "tune" only when set: the sweep id of a sweep without [tune] is unchanged
        tune = {"tune": self.tune.to_dict()} if self.tune is not None else {}
        # the fixed fields as the runs get them: a tuned sweep's split is part of its id (a tuned sweep
        # stored before split_seed existed split per seed and keeps its own id)
        fixed = self.resolved_fixed
        return {"name": self.name, "description": self.description, "fixed": fixed, "grid": self.grid, **tune}


def check_sweep_name(name: str, where: str = "--name") -> str:
    """A sweep name usable as ``results/<name>/`` (one path part, not ``.``/``..``)."""
    try:
        SweepConfig(name=name)
    except ValidationError as exc:
        err = dict(exc.errors()[0])
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "string_pattern_mismatch":
            msg = "use only letters, digits, '_', '-' and '.' (the name is the folder results/<name>/)"
        raise ConfigError(f"{where} {name!r}: {msg}") from None
    return name


def make_run(values: dict[str, Any], where: str = "config") -> RunConfig:
    """Validate one run's fields; errors become one-line :class:`ConfigError`."""
    _check_keys(list(values), where)
    try:
        return RunConfig(**values)
    except ValidationError as exc:
        raise ConfigError(_describe_validation(exc, where)) from None
    except ActcmpError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def grid_size(grid: dict[str, list[Any]]) -> int:
    """How many points a grid has (product of its axis lengths), computed, not expanded."""
    size = 1
    for options in grid.values():
        size *= len(options) if isinstance(options, list) else 1
    return size


def check_size(grid: dict[str, list[Any]], max_runs: int = MAX_RUNS, where: str = "config") -> int:
    """Refuse a grid of more than ``max_runs`` points before expanding it; return its size."""
    size = grid_size(grid)
    if size > max_runs:
        axes = " x ".join(f"{len(v)} {k}" for k, v in grid.items() if isinstance(v, list) and len(v) > 1)
        raise ConfigError(
            f"{where}: the grid has {size:,} runs ({axes}), more than the limit of {max_runs:,}: "
            "shrink an axis, split the sweep, or raise the limit with --max-runs"
        )
    return size


def check_sweep_size(sweep: SweepConfig, max_runs: int = MAX_RUNS) -> int:
    """:func:`check_size` of the grid and, for a sweep with ``[tune]``, of all the runs it may
    plan, counted from the axis and candidate lengths before anything is expanded: tuning runs
    (the grid's points without the seed axis x candidate combinations x tuning seeds) and up to
    twice the grid's points for evaluation (at the common and at the selected values).
    Returns that count (an upper bound where two spellings name one run)."""
    size = check_size(sweep.grid, max_runs, sweep.source)
    spec = sweep.tune
    if spec is None:
        return size
    seed_axis = sweep.grid.get("seed")
    units = size // (len(seed_axis) if isinstance(seed_axis, list) and seed_axis else 1)
    combinations = 1
    for values in spec.candidates.values():
        combinations *= len(values)
    tuning = units * combinations * len(spec.seeds)
    total = tuning + 2 * size
    if total > max_runs:
        raise ConfigError(
            f"{sweep.source}: the tuned sweep has up to {total:,} runs ({tuning:,} tuning runs: {units:,} grid points "
            f"without the seed axis x {combinations:,} candidate combinations x {len(spec.seeds)} tuning "
            f"seed{'s' if len(spec.seeds) != 1 else ''}; "
            f"up to {2 * size:,} evaluation runs), more than the limit of {max_runs:,}: shrink [tune] or the grid, "
            "split the sweep, or raise the limit with --max-runs"
        )
    return total


def expand_grid(
    fixed: dict[str, Any], grid: dict[str, list[Any]], where: str = "config", max_runs: int = MAX_RUNS
) -> list[RunConfig]:
    """Cartesian product of ``grid`` over ``fixed`` (grid wins), validated, de-duplicated.

    Keys vary in the order given, the last fastest. Duplicates (e.g. two spellings of the
    same activation) collapse to one run, keeping the first. ``where`` names the sweep's
    origin in error messages. A grid of more than ``max_runs`` points is refused before
    anything is expanded (see :func:`check_size`).
    """
    _check_keys(list(fixed), where)
    _check_keys(list(grid), "grid" if where == "config" else f"{where}: grid")
    prefix = "grid" if where == "config" else f"{where}: grid"
    for key, options in grid.items():
        if not isinstance(options, list):
            raise ConfigError(f"{prefix}.{key}: must be a list, got {options!r}")
        if not options:
            raise ConfigError(f"{prefix}.{key}: empty list, the grid would have no runs")
        repeated = repeated_value(options)
        if repeated is not None:
            raise ConfigError(f"{prefix}.{key}: {repeated!r} is listed twice (each value once)")
    check_size(grid, max_runs, where)
    keys = list(grid)
    runs: list[RunConfig] = []
    seen: set[str] = set()
    for combo in itertools.product(*(grid[k] for k in keys)):
        values = {**fixed, **dict(zip(keys, combo, strict=True))}
        point = "grid point " + ", ".join(f"{k}={v}" for k, v in zip(keys, combo, strict=True))
        run = make_run(values, (point if where == "config" else f"{where}: {point}") if keys else where)
        key = json.dumps(run.model_dump(), sort_keys=True)
        if key not in seen:
            seen.add(key)
            runs.append(run)
    return runs


def repeated_value(values: list[Any]) -> Any | None:
    """The first value of ``values`` that appeared before it (the same value: ``1`` and
    ``1.0`` too), or None. An axis listing a value twice is a typo: it would show as two
    values in the plan and count as one (equal runs collapse)."""
    seen: set[str] = set()
    for value in values:
        key = json.dumps(
            float(value) if isinstance(value, int | float) and not isinstance(value, bool) else value,
            sort_keys=True,
            default=str,
        )
        if key in seen:
            return value
        seen.add(key)
    return None


def parse_value(text: str) -> Any:
    """Parse a CLI value the way TOML would (int, float, bool, else string)."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text.strip()


def split_list(text: str, *, keep_empty: bool = False) -> list[str]:
    """Split ``a,b(x=1,y=2),c`` on commas that are not inside parentheses (``keep_empty``:
    with the empty items of ``a,,b`` or ``a,``, else without)."""
    items, depth, current = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            items.append(current.strip())
            current = ""
        else:
            current += ch
    if current.strip() or keep_empty:
        items.append(current.strip())
    return items if keep_empty else [i for i in items if i]


def _experiments_dirs() -> list[Path]:
    """The bundled sweeps: packaged into the wheel (``actcmp/experiments``) or in the checkout."""
    here = Path(__file__).resolve().parent
    return [here / "experiments", here.parent / "experiments"]


def bundled_sweeps() -> list[str]:
    """Names of the bundled sweeps: ``default``, ``smoke``, ``claims/dying``, ..."""
    names: set[str] = set()
    for folder in _experiments_dirs():
        if folder.is_dir():
            names.update(p.relative_to(folder).with_suffix("").as_posix() for p in folder.rglob("*.toml"))
    return sorted(names, key=lambda n: (n.count("/"), n))


def resolve_config_path(config: str) -> Path:
    """A sweep file, or the name of a bundled sweep (``default``, ``smoke``, ``claims/...``).

    An argument is a file path when it names an existing file or ends in ``.toml``;
    anything else is looked up among the bundled sweeps first, so that a folder called
    ``smoke`` in the current directory does not hide the bundled ``smoke``.
    """
    path = Path(config)
    if path.suffix == ".toml" or path.is_file():
        return path  # a missing file is reported by load_sweep
    for folder in _experiments_dirs():
        candidate = folder / f"{config}.toml"
        if candidate.is_file():
            return candidate
    names = bundled_sweeps()
    listing = f"bundled sweeps: {', '.join(names) or 'none'}"
    if path.is_dir():
        raise ConfigError(f"{config}: is a directory, expected a .toml sweep file or a bundled sweep name ({listing})")
    close = difflib.get_close_matches(config, names, n=1, cutoff=0.8)  # strict: the names share "claims/"
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    raise ConfigError(f"no sweep file '{config}'{hint} ({listing})")


def load_sweep(path: str | Path) -> SweepConfig:
    """Read a sweep TOML file, or a bundled sweep by name (``default``, ``smoke``,
    ``claims/dying``), as ``actcmp run`` resolves it (:func:`resolve_config_path`, the one
    rule); any problem becomes a one-line :class:`ConfigError`."""
    p = resolve_config_path(str(path))
    if not p.exists():
        raise ConfigError(f"{p}: config file not found")
    if p.is_dir():
        raise ConfigError(f"{p}: is a directory, expected a .toml sweep file")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: invalid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not a UTF-8 text file") from None
    sweep = sweep_from_dict(data, where=str(p), default_name=p.stem)
    sweep._path = p
    return sweep


def sweep_from_dict(data: dict[str, Any], where: str = "config", default_name: str = "sweep") -> SweepConfig:
    """Build a :class:`SweepConfig` from a TOML-shaped dict (top-level fixed fields + grid)."""
    data = dict(data)
    grid = data.pop("grid", {})
    if not isinstance(grid, dict):
        raise ConfigError(f"{where}: 'grid' must be a table of lists")
    grid = {k: (v if isinstance(v, list) else [v]) for k, v in grid.items()}
    name = data.pop("name", default_name)
    description = data.pop("description", "")
    reference = data.pop("reference", "")
    deviations = data.pop("deviations", [])
    if not isinstance(reference, str):
        raise ConfigError(f"{where}: reference: give the work the sweep reproduces as a string")
    if isinstance(deviations, str):
        deviations = [deviations]
    if not isinstance(deviations, list) or not all(isinstance(d, str) for d in deviations):
        raise ConfigError(f"{where}: deviations: give a list of strings, one per difference from the reference")
    tune_table = data.pop("tune", None)
    _check_keys(list(data), where)
    _refuse_quoted_numbers(data, grid, tune_table, where)
    try:
        sweep = SweepConfig(
            name=name, description=description, fixed=data, grid=grid, reference=reference, deviations=deviations
        )
    except ValidationError as exc:
        raise ConfigError(_describe_validation(exc, where)) from None
    check_record(data, grid, where)
    if tune_table is not None:  # [tune]: see actcmp.tune_spec
        sweep.tune = parse_tune(tune_table, where)
        check_tune(sweep.tune, data, grid, where)
    _check_keys(list(grid), f"{where}: grid")
    for key, value in data.items():
        check_field(key, value, where)
    for key, values in grid.items():
        check_values(key, values, where, label=f"grid.{key}")
    return sweep.with_source(where)


#: run fields whose values are numbers (a TOML string of digits there is a mistake, not a number)
NUMBER_FIELDS = frozenset(
    key for key, spec in RunConfig.model_fields.items() if spec.annotation in (int, float, int | None, float | None)
)


def _refuse_quoted_numbers(fixed: dict[str, Any], grid: dict[str, Any], tune: Any, where: str) -> None:
    """A number written as a string (``epochs = "2"``) is refused with one line naming the key,
    as ``epochs = true`` is: pydantic would otherwise read it as the number, silently."""
    places = [(key, [value], key) for key, value in fixed.items()]
    places += [(key, values, f"grid.{key}") for key, values in grid.items() if isinstance(values, list)]
    if isinstance(tune, dict):
        places += [(key, values, f"tune.{key}") for key, values in tune.items() if isinstance(values, list)]
    for key, values, label in places:
        if key not in NUMBER_FIELDS:
            continue
        for value in values:
            if isinstance(value, str) and _is_number_text(value):
                raise ConfigError(
                    f"{where}: {label}: must be a number, got the string {value!r} (write it without quotes)"
                )


def apply_overrides(
    sweep: SweepConfig,
    *,
    grid: dict[str, list[Any]] | None = None,
    fixed: dict[str, Any] | None = None,
    name: str | None = None,
) -> SweepConfig:
    """Return a copy with CLI overrides: grid lists replace grid entries, fixed values
    replace both the fixed value and any grid list for that key. (The CLI refuses a key
    given twice on the command line and notes a grid axis that ``--set`` replaces.)"""
    new_grid = dict(sweep.grid)
    new_fixed = dict(sweep.fixed)
    for key, values in (grid or {}).items():
        _check_keys([key], "--grid")
        new_grid[key] = values
        new_fixed.pop(key, None)
    for key, value in (fixed or {}).items():
        _check_keys([key], "--set")
        new_fixed[key] = value
        new_grid.pop(key, None)
    new = SweepConfig(
        name=name or sweep.name,
        description=sweep.description,
        fixed=new_fixed,
        grid=new_grid,
        tune=sweep.tune,
        reference=sweep.reference,  # the file's own record of what it reproduces: kept, id-neutral
        deviations=list(sweep.deviations) + _override_deviation(sweep, grid, fixed),
    )
    changed = bool(grid or fixed)
    source = sweep.source
    plain = source in ("config", "command line")
    new._path = sweep.path
    where = f"{source} with the command-line options" if changed and not plain else source
    check_record(new_fixed, new_grid, where)
    if new.tune is not None:  # e.g. --seeds overlapping the tuning seeds, --grid on a tuned field
        check_tune(new.tune, new_fixed, new_grid, where)
    return new.with_source(where)


def _override_deviation(
    sweep: SweepConfig, grid: dict[str, list[Any]] | None, fixed: dict[str, Any] | None
) -> list[str]:
    """For a sweep file that states what it reproduces (``reference``): the command line's
    changes as one more deviation, so that the Setup does not present an edited setup as the
    file's ([] otherwise, or without changes)."""
    if not sweep.reference or not (grid or fixed):
        return []
    changes = [f"{k}={v}" for k, v in sorted((fixed or {}).items())]
    changes += [f"{k}={list(v)}" for k, v in sorted((grid or {}).items())]
    return [f"command line: {', '.join(changes)}"]


def config_hash(payload: dict[str, Any]) -> str:
    """Stable hex digest of a JSON-able dict (sorted keys, no whitespace)."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


#: Keys of a resolved config that describe what other fields resolved to (the hidden
#: layers' init gain, the bias rule ``auto`` stood for): stored, never part of the run id.
DERIVED_FIELDS = ("init_gain", "init_bias")


def stored_config(text: str) -> dict[str, Any]:
    """A run config as stored (JSON), with the ``LATER_FIELDS`` a run written by an older
    version lacks filled in at the meaning it had: old and new runs compare, group and
    tabulate alike."""
    return _completed(json.loads(text))


def _completed(value: dict[str, Any]) -> dict[str, Any]:
    """A stored config with the ``LATER_FIELDS`` it lacks; ``widths`` as a tuple (hashable,
    so that tables can group by it)."""
    loaded = {**LATER_FIELDS, **value}
    if isinstance(loaded.get("widths"), list):
        loaded["widths"] = tuple(loaded["widths"])
    return loaded


def readable_config(text: Any) -> dict[str, Any] | None:
    """:func:`stored_config`, or None when the stored text is not a JSON object (a
    damaged row): readers leave that run out and ``damaged_rows`` names it."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return None
    return _completed(value) if isinstance(value, dict) else None


def run_id(resolved: dict[str, Any]) -> str:
    """A run's identity: 16 hex digits of the hash of its resolved config (fields of
    ``LATER_FIELDS`` at their old meaning left out)."""
    payload = {
        k: v for k, v in resolved.items() if k not in DERIVED_FIELDS and (k not in LATER_FIELDS or v != LATER_FIELDS[k])
    }
    return config_hash({"results_version": RESULTS_VERSION, **payload})[:16]
