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

import hashlib
import itertools
import json
import math
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator

from actcmp.core.activations import OUTPUT_ACTIVATIONS, canonical_name
from actcmp.datasets import canonical_dataset
from actcmp.errors import ActcmpError, ConfigError, did_you_mean
from actcmp.tune_spec import TuneSpec, check_tune, parse_tune

#: Bumped whenever training or metric semantics change, so that old stored runs are not
#: silently reused as if they were produced by the new code.
RESULTS_VERSION = 1

#: Fields that set a run's tensor shapes and cost: runs equal in all of them train together
#: as one stacked model (``run.tasks.GROUP_KEYS``), and shards deal runs by them (``shard.COST_KEYS``).
# fmt: off
SHAPE_KEYS = (
    "dataset", "depth", "width", "bottleneck", "batch_size", "epochs", "output_activation", "loss",
    "val_fraction", "test_fraction", "probe_size", "probe_every", "data_fingerprint",
    "widths", "activity_l1", "activity_l1_on", "input_noise", "input_noise_kind",
)
# fmt: on

#: The most runs one sweep may plan unless raised (``--max-runs``, ``max_runs=``): the grid's
#: size is the product of its axis lengths, checked before any point is expanded.
MAX_RUNS = 100_000

SWEEP_KEYS = ("name", "description", "grid", "tune")
#: where each sweep-level key is set instead of as a run field
_SWEEP_KEY_HINTS = {
    "name": "use --name, or name = ... at the top of the sweep TOML",
    "description": "set description = ... at the top of the sweep TOML",
    "grid": "use --grid KEY=V1,V2, or a [grid] table in the sweep TOML",
    "tune": "use a [tune] table in the sweep TOML (see actcmp.run.tune)",
}


#: Layer metrics every this many epochs unless a run says otherwise (the one definition:
#: the field's default, its old meaning in ``LATER_FIELDS``, and readers of configs without it).
DEFAULT_PROBE_EVERY = 1
#: the bias_init rules (or a number); core.model applies them
BIAS_INITS = ("auto", "zeros", "torch-default")

#: Fields added after RESULTS_VERSION 1, with the value that means what older versions
#: did: at that value a field is left out of the run id, so adding it kept every stored id.
#: Each is also the field's default in :class:`RunConfig` (defined here, once).
LATER_FIELDS: dict[str, Any] = {
    "probe_every": DEFAULT_PROBE_EVERY,
    "widths": None,
    "init_distribution": "uniform",
    "bias_init": "auto",
    "activity_l1": 0.0,
    "activity_l1_on": "code",
    "input_noise": 0.0,
    "input_noise_kind": "gaussian",
}


class RunConfig(BaseModel):
    """Everything that determines the numbers of one training run."""

    # allow_inf_nan=False: "lr = nan" is "not a finite number", not "should be <= 100, got nan"
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    activation: str = Field("relu", description="hidden-layer activation, e.g. relu or leaky_relu(negative_slope=0.2)")
    dataset: str = Field("digits", description="dataset name, or csv:PATH / parquet:PATH / npy:PATH")
    depth: int = Field(
        2,
        ge=1,
        le=64,
        description="encoder layers, the code layer included (2*depth-1 hidden layers in all; the decoder mirrors it)",
    )
    width: int = Field(64, ge=1, le=65536, description="units in the first encoder layer")
    bottleneck: int = Field(8, ge=1, description="units in the code layer")
    widths: tuple[int, ...] | None = Field(
        LATER_FIELDS["widths"],
        description="explicit encoder hidden widths, outermost first, e.g. [1000, 500, 250] (then depth = len + 1, "
        "width = the first; the code layer, bottleneck, may be as wide as you like)",
    )
    output_activation: str = Field("auto", description="identity, sigmoid, tanh, softmax, or auto (dataset default)")
    loss: Literal["auto", "mse", "bce", "ce"] = Field("auto", description="reconstruction loss; auto = dataset default")
    init: Literal["auto", "kaiming", "xavier", "lecun", "torch-default"] = Field(
        "auto", description="weight init rule; auto = He for ReLU family, Xavier for tanh/sigmoid, LeCun for SELU"
    )
    init_distribution: str = Field(
        LATER_FIELDS["init_distribution"],
        description="shape of the initial weights: uniform, normal or truncated_normal (at 2 std)",
    )
    bias_init: str | float = Field(
        LATER_FIELDS["bias_init"],
        description="initial biases: zeros, torch-default, a number, or auto (zeros; torch's under torch-default)",
    )
    activity_l1: float = Field(
        LATER_FIELDS["activity_l1"],
        ge=0,
        le=1e6,
        description="L1 activity penalty: coefficient * mean over the batch of sum over units |h|",
    )
    activity_l1_on: str = Field(
        LATER_FIELDS["activity_l1_on"], description="where the L1 activity penalty applies: code or hidden (all)"
    )
    input_noise: float = Field(
        LATER_FIELDS["input_noise"],
        ge=0,
        le=1e6,
        description="input corruption while training: Gaussian std, or masking probability",
    )
    input_noise_kind: str = Field(
        LATER_FIELDS["input_noise_kind"], description="gaussian (add noise) or mask (zero inputs)"
    )
    optimizer: Literal["adam", "adamw", "sgd"] = Field("adam", description="optimizer")
    lr: float = Field(1e-3, gt=0, le=100, description="learning rate")
    momentum: float = Field(0.9, ge=0, lt=1, description="SGD momentum")
    weight_decay: float = Field(0.0, ge=0, description="weight decay (decoupled for adamw)")
    batch_size: int = Field(64, ge=1, description="minibatch size")
    epochs: int = Field(20, ge=0, le=100000, description="training epochs (0 = measure at init only)")
    seed: int = Field(0, ge=0, description="seed for the split, batch order and initial weights")
    val_fraction: float = Field(0.15, gt=0, lt=0.5, description="share of samples for validation")
    test_fraction: float = Field(0.15, gt=0, lt=0.5, description="share of samples for test")
    probe_size: int = Field(512, ge=8, description="training samples in the fixed probe set for layer metrics")
    probe_every: int = Field(
        DEFAULT_PROBE_EVERY,
        ge=1,
        le=100000,
        description="layer metrics every this many epochs (always at epoch 0, the last epoch and a divergence)",
    )
    saturation_threshold: float = Field(
        0.05, gt=0, lt=1, description="|f'(z)| below this share of the activation's peak derivative counts as saturated"
    )
    saturation_share: float = Field(
        0.95, gt=0, le=1, description="a unit is saturated when this share of probe inputs is below the threshold"
    )
    threshold_fraction: float = Field(
        0.5, gt=0, lt=10, description="loss threshold for epochs-to-threshold, as a fraction of the mean-predictor loss"
    )

    @field_validator(
        "depth", "width", "bottleneck", "lr", "momentum", "weight_decay", "batch_size", "epochs", "seed",
        "val_fraction", "test_fraction", "probe_size", "probe_every", "saturation_threshold", "saturation_share",
        "threshold_fraction", "activity_l1", "input_noise",
        mode="before",
    )  # fmt: skip
    @classmethod
    def _no_bool_numbers(cls, value: Any) -> Any:
        if isinstance(value, bool):  # TOML/CLI true would otherwise count as 1
            raise ValueError(f"must be a number, got {str(value).lower()}")
        return value

    @field_validator("activation")
    @classmethod
    def _canonical_activation(cls, value: str) -> str:
        return canonical_name(value)

    @field_validator("output_activation")
    @classmethod
    def _canonical_output(cls, value: str) -> str:
        if value == "auto":
            return value
        name = canonical_name(value, hidden=False)
        if name not in OUTPUT_ACTIVATIONS:
            raise ValueError(f"output activation must be one of auto, {', '.join(OUTPUT_ACTIVATIONS)}; got '{value}'")
        return name

    @field_validator("init_distribution", "activity_l1_on", "input_noise_kind")
    @classmethod
    def _known_choice(cls, value: str, info: Any) -> str:
        choices = _CHOICES[info.field_name]
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}; got '{value}'{did_you_mean(value, list(choices))}")
        return value

    @field_validator("bias_init", mode="before")
    @classmethod
    def _known_bias(cls, value: Any) -> Any:

        if isinstance(value, bool):
            raise ValueError(f"bias_init must be one of {', '.join(BIAS_INITS)} or a number, got {value!r}")
        if isinstance(value, int | float):
            if not math.isfinite(value):
                raise ValueError(f"bias_init must be a finite number, got {value!r}")
            return float(value)
        if isinstance(value, str) and value not in BIAS_INITS:
            try:
                number = float(value)
            except ValueError:
                raise ValueError(
                    f"must be one of {', '.join(BIAS_INITS)} or a number; got '{value}'"
                    f"{did_you_mean(value, list(BIAS_INITS))}"
                ) from None
            return cls._known_bias(number)
        return value

    @field_validator("widths", mode="before")
    @classmethod
    def _widths(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):  # --grid widths=64,128-64: one layer
            value = [value]
        if isinstance(value, str):  # --set widths=1000-500-250 (commas would split a --grid)
            try:
                value = [int(v) for v in value.replace("x", "-").split("-") if v.strip()]
            except ValueError:
                raise ValueError(
                    f"widths must be a list of whole numbers, e.g. [1000, 500, 250]; got '{value}'"
                ) from None
        if isinstance(value, list | tuple):
            if not value:
                raise ValueError("give at least one hidden width (or use depth = 1 for the code layer alone)")
            if len(value) > 63:
                raise ValueError(f"at most 63 hidden widths, got {len(value)}")
            if any(isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 65536 for v in value):
                raise ValueError(f"widths must be whole numbers from 1 to 65536, got {list(value)}")
        return value

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, value: str) -> str:
        return canonical_dataset(value)

    @model_validator(mode="after")
    def _cross_field(self) -> RunConfig:
        if self.widths is not None:
            given = self.model_fields_set
            if "depth" in given and self.depth != len(self.widths) + 1:
                raise ValueError(
                    f"widths {list(self.widths)} gives depth {len(self.widths) + 1}, not {self.depth}: drop depth"
                )
            if "width" in given and self.width != self.widths[0]:
                raise ValueError(
                    f"widths {list(self.widths)} gives width {self.widths[0]}, not {self.width}: drop width"
                )
        elif self.bottleneck > self.width:
            raise ValueError(f"bottleneck ({self.bottleneck}) is wider than width ({self.width})")
        if self.input_noise_kind == "mask" and self.input_noise >= 1:
            raise ValueError(
                f"input_noise is a masking probability under input_noise_kind mask: below 1, got {self.input_noise}"
            )
        if self.val_fraction + self.test_fraction >= 0.9:
            raise ValueError("val_fraction + test_fraction must leave at least 10% for training")
        out = self.output_activation
        if self.loss == "bce" and out not in ("auto", "sigmoid", "softmax"):
            raise ValueError(f"loss 'bce' needs outputs in (0, 1): use output_activation sigmoid, not '{out}'")
        if self.loss == "ce" and out not in ("auto", "softmax"):
            raise ValueError(
                f"loss 'ce' (cross-entropy between distributions) needs output_activation softmax, not '{out}'"
            )
        return self


_CHOICES: dict[str, tuple[str, ...]] = {
    "init_distribution": ("uniform", "normal", "truncated_normal"),
    "activity_l1_on": ("code", "hidden"),
    "input_noise_kind": ("gaussian", "mask"),
}

RUN_FIELDS: tuple[str, ...] = tuple(RunConfig.model_fields)


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
        """Expanded and validated run configs (see :func:`expand_grid`)."""
        return expand_grid(self.fixed, self.grid, where=self._source, max_runs=max_runs)

    def size(self) -> int:
        """Grid points before de-duplication: the product of the axis lengths."""
        return grid_size(self.grid)

    def to_dict(self) -> dict[str, Any]:
        # "tune" only when set: the sweep id of a sweep without [tune] is unchanged
        tune = {"tune": self.tune.to_dict()} if self.tune is not None else {}
        return {"name": self.name, "description": self.description, "fixed": self.fixed, "grid": self.grid, **tune}


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


def _check_keys(keys: list[str], where: str) -> None:
    for key in keys:
        if key in SWEEP_KEYS:
            raise ConfigError(f"{where}: '{key}' belongs to the sweep, not to a run: {_SWEEP_KEY_HINTS[key]}")
        if key not in RUN_FIELDS:
            others = [k for k in RUN_FIELDS + SWEEP_KEYS if k != key]
            raise ConfigError(f"{where}: unknown key '{key}'{did_you_mean(key, others)}")


def _describe_validation(exc: ValidationError, where: str) -> str:
    return _describe_error(dict(exc.errors()[0]), where)


def _describe_error(err: dict[str, Any], where: str, label: str | None = None) -> str:
    loc = label or ".".join(str(p) for p in err["loc"])
    msg = err["msg"].removeprefix("Value error, ")
    value = err.get("input")
    # messages of our own validators already quote the value ("...; got 'relu'")
    shown = f", got {value!r}" if loc and not isinstance(value, dict) and "got " not in msg else ""
    return f"{where}: {loc + ': ' if loc else ''}{msg}{shown}"


def check_field(key: str, value: Any, where: str, label: str | None = None) -> None:
    """Validate one run field on its own, so that a bad value is reported where it was
    written (``experiments/x.toml: epochs: ...``, ``--set: lr: ...``), not at the first
    grid point that uses it. Rules between fields are left to :func:`make_run`."""
    _check_keys([key], where)
    label = label or key
    try:
        RunConfig(**{key: value})
    except ValidationError as exc:
        errors = [e for e in exc.errors() if e["loc"][:1] == (key,)]
        if errors:  # other errors are rules between fields, with defaults standing in for the rest
            raise ConfigError(_describe_error(dict(errors[0]), where, label)) from None
    except ActcmpError as exc:  # "unknown activation 'x'": names the field already
        raise ConfigError(f"{where}: {'' if label == key else label + ': '}{exc}") from None


def check_values(key: str, values: list[Any], where: str, label: str | None = None) -> None:
    """:func:`check_field` for each value of a grid axis. An axis of plain finite numbers
    (10^5 seeds) is checked by its smallest and largest value: every numeric rule of a
    run field is a bound, so they stand for the rest, and a long axis costs no time."""
    numbers = [v for v in values if type(v) in (int, float) and math.isfinite(v)]
    if len(values) > 2 and len(numbers) == len(values) and len({type(v) for v in values}) == 1:
        for value in dict.fromkeys((min(numbers), max(numbers))):
            check_field(key, value, where, label)
        return
    for value in values:
        check_field(key, value, where, label)


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
    for key, options in grid.items():
        if not isinstance(options, list):
            raise ConfigError(f"grid.{key}: must be a list, got {options!r}")
        if not options:
            raise ConfigError(f"grid.{key}: empty list, the grid would have no runs")
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


def split_list(text: str) -> list[str]:
    """Split ``a,b(x=1,y=2),c`` on commas that are not inside parentheses."""
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
    if current.strip():
        items.append(current.strip())
    return [i for i in items if i]


def load_sweep(path: str | Path) -> SweepConfig:
    """Read a sweep TOML file; any problem becomes a one-line :class:`ConfigError`."""
    p = Path(path)
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
    tune_table = data.pop("tune", None)
    _check_keys(list(data), where)
    try:
        sweep = SweepConfig(name=name, description=description, fixed=data, grid=grid)
    except ValidationError as exc:
        raise ConfigError(_describe_validation(exc, where)) from None
    if tune_table is not None:  # [tune]: see actcmp.tune_spec
        sweep.tune = parse_tune(tune_table, where)
        check_tune(sweep.tune, data, grid, where)
    _check_keys(list(grid), f"{where}: grid")
    for key, value in data.items():
        check_field(key, value, where)
    for key, values in grid.items():
        check_values(key, values, where, label=f"grid.{key}")
    return sweep.with_source(where)


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
        name=name or sweep.name, description=sweep.description, fixed=new_fixed, grid=new_grid, tune=sweep.tune
    )
    changed = bool(grid or fixed)
    source = sweep.source
    plain = source in ("config", "command line")
    new._path = sweep.path
    where = f"{source} with the command-line options" if changed and not plain else source
    if new.tune is not None:  # e.g. --seeds overlapping the tuning seeds, --grid on a tuned field
        check_tune(new.tune, new_fixed, new_grid, where)
    return new.with_source(where)


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
