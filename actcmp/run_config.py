"""A run's fields: :class:`RunConfig` (pydantic, ``extra="forbid"``), their defaults and vocabularies,
and the checks that report a bad value where it was written (``check_field``). Imported by
:mod:`actcmp.config` (which re-exports every name) and by :mod:`actcmp.tune_spec`, which validates
a ``[tune]`` table's candidates as run fields, so neither imports the other lazily.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from actcmp.core.activations import OUTPUT_ACTIVATIONS, canonical_name
from actcmp.datasets import canonical_dataset
from actcmp.errors import ActcmpError, ConfigError, did_you_mean

SWEEP_KEYS = ("name", "description", "reference", "deviations", "grid", "tune")
#: where each sweep-level key is set instead of as a run field
_SWEEP_KEY_HINTS = {
    "name": "use --name, or name = ... at the top of the sweep TOML",
    "description": "set description = ... at the top of the sweep TOML",
    "reference": "set reference = ... at the top of the sweep TOML",
    "deviations": "set deviations = [...] at the top of the sweep TOML",
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
    "split_seed": None,
    "record": "full",
}

#: What a run records (``record``): ``full``, everything (losses every epoch, layer metrics,
#: end-of-run metrics, samples); ``val_loss``, the validation loss every epoch and the final
#: metrics that follow from it alone (what a ``[tune]`` tuning run needs for selection).
Record = Literal["full", "val_loss"]


def split_seed_of(cfg: dict[str, Any]) -> int:
    """The seed of a run's train/validation/test split: ``split_seed``, or the run's ``seed``
    where that is unset (each seed its own split, what runs without the field did)."""
    value = cfg.get("split_seed")
    return int(cfg["seed"] if value is None else value)


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
    seed: int = Field(
        0, ge=0, description="seed for the batch order and initial weights, and for the split unless split_seed is set"
    )
    split_seed: int | None = Field(
        LATER_FIELDS["split_seed"],
        ge=0,
        description="seed of the train/validation/test split; unset: the run's seed (each seed its own split). "
        "A sweep with [tune] uses 0 for every run unless it sets one",
    )
    val_fraction: float = Field(
        0.15, gt=0, lt=0.5, description="share for validation (drawn by split_seed, else by each seed)"
    )
    test_fraction: float = Field(
        0.15, gt=0, lt=0.5, description="share for test (drawn by split_seed, else by each seed)"
    )
    probe_size: int = Field(512, ge=8, description="training samples in the fixed probe set for layer metrics")
    probe_every: int = Field(
        DEFAULT_PROBE_EVERY,
        ge=1,
        le=100000,
        description="layer metrics every this many epochs (always at epoch 0, the last epoch and a divergence)",
    )
    record: Record = Field(
        LATER_FIELDS["record"],
        description="what the run records: full (losses, layer metrics, end-of-run metrics, samples) or val_loss "
        "(the validation loss every epoch and what follows from it; [tune]'s tuning runs by default)",
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
        "depth", "width", "bottleneck", "lr", "momentum", "weight_decay", "batch_size", "epochs", "seed", "split_seed",
        "val_fraction", "test_fraction", "probe_size", "probe_every", "saturation_threshold", "saturation_share",
        "threshold_fraction", "activity_l1", "input_noise",
        mode="before",
    )  # fmt: skip
    @classmethod
    def _no_bool_numbers(cls, value: Any) -> Any:
        if isinstance(value, bool):  # TOML/CLI true would otherwise count as 1
            raise ValueError(f"must be a number, got {str(value).lower()}")
        if isinstance(value, str) and _is_number_text(value):  # "2" would otherwise count as 2 (Python, JSON)
            raise ValueError(f"must be a number, got the string {value!r} (write it without quotes)")
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


def _is_number_text(text: str) -> bool:
    """Whether ``text`` reads as a number (pydantic would take it for one); other text gets
    pydantic's own message."""
    try:
        float(text)
    except ValueError:
        return False
    return True
