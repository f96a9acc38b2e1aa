"""Command-line words -> a sweep config: the override rules of ``actcmp run``, shared with
the Python API (:func:`sweep_from_command_line`).

A sweep is a file, a bundled sweep's name (``default``, ``smoke``, ``claims/dying``), or
nothing (a sweep given only by options). ``--activations``, ``--datasets``, ``--depths``,
``--seeds`` and ``--grid KEY=V1,V2`` replace grid axes; ``--epochs`` and ``--set KEY=VALUE``
fix a field. A key given twice on the command line is an error; a fixed field that replaces
a grid axis of the file is said in a note. Each value is checked where it was written.
Imports neither torch nor the data.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from actcmp.config import (  # the bundled sweeps' rule lives with load_sweep (kept importable from here)
    MAX_RUNS,
    SweepConfig,
    apply_overrides,
    check_field,
    check_sweep_name,
    check_values,
    load_sweep,
    parse_value,
    repeated_value,
    resolve_config_path,
    split_list,
)
from actcmp.config import bundled_sweeps as bundled_sweeps
from actcmp.errors import ConfigError
from actcmp.sweep_name import name_from_overrides

#: the grid options that take a comma-separated list: (option, run field)
LIST_OPTIONS = (("--activations", "activation"), ("--datasets", "dataset"), ("--depths", "depth"))


def parse_assignments(items: Sequence[str], option: str) -> dict[str, str]:
    """``KEY=VALUE`` items as a dict (a later item for a key wins); see :func:`parse_pairs`."""
    return dict(parse_pairs(items, option))


def parse_pairs(items: Sequence[str], option: str) -> list[tuple[str, str]]:
    """``KEY=VALUE`` items as (key, value) pairs, in order, repeats kept."""
    out: list[tuple[str, str]] = []
    for item in items:
        if "=" not in item:
            raise ConfigError(f"{option} {item!r}: expected KEY=VALUE")
        key, value = item.split("=", 1)
        out.append((key.strip(), value.strip()))
    return out


def list_items(text: str, shown: str) -> list[str]:
    """The comma-separated items of a list option (``shown``: the option as given, for the
    message), refusing an empty one (``relu,,gelu``, ``relu,``): a typo, not a request for
    fewer values."""
    items = split_list(text, keep_empty=True)
    if not any(items):  # nothing at all: the caller's "empty list"
        return []
    if not all(items):
        raise ConfigError(f"{shown}: an empty item (two commas in a row, or one at an end)")
    return items


def seed_list(text: str, max_runs: int = MAX_RUNS) -> list[int]:
    """``--seeds``: a count (``3`` = 0, 1, 2) or a list (``0,5,7``)."""
    try:
        if "," not in text:
            count = int(text)
            if count < 1:
                raise ConfigError(f"--seeds {text}: need at least one seed")
            if count > max_runs:  # refused before a list of that length exists
                raise ConfigError(
                    f"--seeds {text}: more seeds than the limit of {max_runs:,} runs (raise it with --max-runs)"
                )
            return list(range(count))
        return [int(s) for s in list_items(text, f"--seeds {text}")]
    except ValueError:
        raise ConfigError(f"--seeds {text!r}: give a count (3) or a list of seeds (0,1,2)") from None


class Overrides:
    """Command-line values per key, refusing a key set twice on the command line."""

    def __init__(self) -> None:
        self.grid: dict[str, list[Any]] = {}
        self.fixed: dict[str, Any] = {}
        self.given: dict[str, str] = {}  # key -> how it was given, for messages

    def claim(self, key: str, shown: str) -> None:
        if key in self.given:
            raise ConfigError(f"{self.given[key]} and {shown} both set {key}: give it once")
        self.given[key] = shown

    def add_grid(self, key: str, values: list[Any], shown: str, option: str) -> None:
        self.claim(key, shown)
        if not values:
            raise ConfigError(f"{option}: empty list")
        repeated = repeated_value(values)
        if repeated is not None:
            raise ConfigError(f"{option}: {repeated} is given twice (each value once)")
        check_values(key, values, option)
        self.grid[key] = values

    def add_fixed(self, key: str, value: Any, shown: str, option: str) -> None:
        self.claim(key, shown)
        check_field(key, value, option)
        self.fixed[key] = value


def collect_overrides(
    *,
    activations: str | None = None,
    datasets: str | None = None,
    depths: str | None = None,
    seeds: str | None = None,
    epochs: int | None = None,
    grid: Sequence[str] = (),
    fixed: Sequence[str] = (),
    max_runs: int = MAX_RUNS,
) -> Overrides:
    """The command line's grid axes and fixed fields, each value checked where it was given.
    ``grid``: ``KEY=V1,V2`` words (``--grid``); ``fixed``: ``KEY=VALUE`` words (``--set``)."""
    over = Overrides()
    for (option, key), text in zip(LIST_OPTIONS, (activations, datasets, depths), strict=True):
        if text is not None:
            items = list_items(text, f"{option} {text}")
            values = items if key != "depth" else [parse_value(v) for v in items]
            over.add_grid(key, values, f"{option} {text}", option)
    if seeds is not None:
        over.add_grid("seed", seed_list(seeds, max_runs), f"--seeds {seeds}", "--seeds")
    for key, value in parse_pairs(grid, "--grid"):
        over.add_grid(
            key, [parse_value(v) for v in list_items(value, f"--grid {key}={value}")], f"--grid {key}={value}", "--grid"
        )
    if epochs is not None:
        over.add_fixed("epochs", epochs, f"--epochs {epochs}", "--epochs")
    for key, value in parse_pairs(fixed, "--set"):
        over.add_fixed(key, parse_value(value), f"--set {key}={value}", "--set")
    return over


def _toml_list(values: list[Any]) -> str:
    return "[" + ", ".join(f'"{v}"' if isinstance(v, str) else str(v) for v in values) + "]"


def sweep_from_command_line(
    config: str | None = None,
    *,
    activations: str | None = None,
    datasets: str | None = None,
    depths: str | None = None,
    seeds: str | None = None,
    epochs: int | None = None,
    grid: Sequence[str] = (),
    fixed: Sequence[str] = (),
    name: str | None = None,
    max_runs: int = MAX_RUNS,
    note: Callable[[str], Any] = lambda line: None,
) -> SweepConfig:
    """The sweep ``actcmp run`` would run for these words (the grid's size is not checked).

    ``config``: a sweep file or a bundled sweep's name; None: a sweep given only by the
    options, named from what it varies unless ``name`` is given. ``note`` receives each
    ``note: ...`` line the CLI prints on stderr.

    Example: ``sweep_from_command_line("default", depths="1,2", fixed=["epochs=3"])``
    """
    if name is not None:
        check_sweep_name(name)
    auto_name = False
    if config is not None:
        sweep = load_sweep(resolve_config_path(config))
    else:
        sweep = SweepConfig(name=name or "cli").with_source("command line")
        auto_name = name is None
    over = collect_overrides(
        activations=activations,
        datasets=datasets,
        depths=depths,
        seeds=seeds,
        epochs=epochs,
        grid=grid,
        fixed=fixed,
        max_runs=max_runs,
    )
    for key in over.fixed:
        if key in sweep.grid:
            note(f"note: {over.given[key]} replaces the grid axis {key} = {_toml_list(sweep.grid[key])}")
    if auto_name:
        name = name_from_overrides(over.grid, over.fixed)
    return apply_overrides(sweep, grid=over.grid, fixed=over.fixed, name=name)
