"""Planning without data: a run's resolved config, and what a sweep's tasks need to know.

Imports neither torch nor the data: ``--dry-run``, grid validation and task building run
on the registry's dataset shapes (:func:`actcmp.datasets.dataset_shape`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from actcmp.config import LATER_FIELDS, RunConfig, run_id
from actcmp.core.activations import ActivationSpec, check_builds, kaiming_gain, parse_activation, xavier_gain
from actcmp.datasets import dataset_info, dataset_shape, fingerprint_of
from actcmp.errors import ConfigError

#: fields that have no effect where the field they name is 0 (no penalty, no noise): a run
#: then stores them at their default, whatever was written (one run, one id)
WITHOUT_EFFECT = {"activity_l1_on": "activity_l1", "input_noise_kind": "input_noise"}


def resolve_init(rule: str, activation: ActivationSpec) -> str:
    """The concrete init rule ``auto`` stands for with this activation."""
    return activation.info.init if rule == "auto" else rule


def resolve_bias(bias: str | float, rule: str) -> str | float:
    """What ``bias_init`` stands for under the (resolved) weight ``rule``: ``auto`` is
    torch's own uniform under ``torch-default``, else zeros (what older versions did)."""
    if bias == "auto":
        return "torch-default" if rule == "torch-default" else "zeros"
    return bias


def init_gain(rule: str, activation: ActivationSpec) -> float:
    """The gain of ``rule`` for hidden layers followed by ``activation`` (the output layer
    always has gain 1): std = gain / sqrt(fan_in) for kaiming, lecun (gain 1) and
    torch-default (gain 1/sqrt(3)); std = gain * sqrt(2 / (fan_in + fan_out)) for xavier."""
    if rule == "kaiming":
        return float(kaiming_gain(activation))
    if rule == "xavier":
        return float(xavier_gain(activation))
    if rule == "lecun":
        return 1.0
    if rule == "torch-default":
        return 1.0 / math.sqrt(3.0)
    raise ValueError(f"unknown init rule {rule!r}")


#: the output activations each loss needs (bce: outputs in (0, 1); ce: rows that are distributions)
LOSS_OUTPUTS = {"bce": ("sigmoid", "softmax"), "ce": ("softmax",)}


def loss_fits(loss: str, output_activation: str) -> bool:
    """Whether ``loss`` can score outputs of ``output_activation`` (mse fits any output)."""
    return output_activation in LOSS_OUTPUTS.get(loss, (output_activation,))


def _unfitting_loss(cfg: RunConfig, out: str) -> str:
    """The one line that refuses an explicit loss the run's (resolved) output does not fit."""
    needs = " or ".join(LOSS_OUTPUTS[cfg.loss])
    given = f"{cfg.dataset}'s default output is {out}" if cfg.output_activation == "auto" else f"the output is {out}"
    return (
        f"dataset={cfg.dataset}, loss={cfg.loss}: loss '{cfg.loss}' needs output_activation {needs}, and {given}: "
        f"set output_activation={LOSS_OUTPUTS[cfg.loss][0]}, or loss=mse (or auto, the dataset's default)"
    )


def resolve(cfg: RunConfig, output_activation: str, loss: str, fingerprint: str | None = None) -> dict[str, Any]:
    """The fully resolved config of a run: ``auto`` replaced by what it stands for.

    ``output_activation`` / ``loss`` are the dataset's defaults. ``fingerprint`` (for user
    data files) ties the run to the file's content. The dataset's default loss (``loss =
    "auto"``) that does not fit the run's output (ce under a sigmoid output) falls back to
    mse; a loss the run names that does not fit is refused (:class:`ConfigError`), never
    replaced.
    """
    resolved = cfg.model_dump()
    if resolved["output_activation"] == "auto":
        resolved["output_activation"] = output_activation
    if resolved["loss"] == "auto":
        resolved["loss"] = loss
    spec = parse_activation(cfg.activation)
    resolved["init"] = resolve_init(cfg.init, spec)
    if cfg.widths is not None:  # explicit widths set the shape: depth and width follow
        resolved["widths"] = list(cfg.widths)
        resolved["depth"] = len(cfg.widths) + 1
        resolved["width"] = cfg.widths[0]
    for field, controller in WITHOUT_EFFECT.items():  # spellings without effect are one run
        if not resolved[controller]:
            resolved[field] = LATER_FIELDS[field]
    # what the init resolved to (stored for the report's setup; not part of the run id)
    resolved["init_gain"] = init_gain(resolved["init"], spec)
    resolved["init_bias"] = resolve_bias(cfg.bias_init, resolved["init"])
    if fingerprint is not None:
        resolved["data_fingerprint"] = fingerprint
    out = resolved["output_activation"]
    if not loss_fits(resolved["loss"], out):
        if cfg.loss != "auto":  # a loss the user named is never replaced: refused before anything trains
            raise ConfigError(_unfitting_loss(cfg, out))
        resolved["loss"] = "mse"  # the dataset's default loss does not fit the chosen output: fall back
    resolved["run_id"] = run_id(resolved)
    return resolved


def resolve_runs(runs: list[Any], data_dir: str | Path | None = None, *, build: bool = True) -> list[dict[str, Any]]:
    """The resolved config (with ``run_id``) of each :class:`~actcmp.config.RunConfig`, in
    order, duplicates kept; no dataset is loaded (shapes from the registry or headers).
    ``build``: build and apply every activation once (needs torch; a dry run skips it, a
    real run does it before anything is stored)."""
    if build:
        for name in dict.fromkeys(run.activation for run in runs):  # each built once, in grid order
            check_builds(name)
    cache: dict[tuple[str, float, float], Any] = {}
    resolved: list[dict[str, Any]] = []
    for run in runs:
        key = (run.dataset, run.val_fraction, run.test_fraction)
        if key not in cache:
            shape = dataset_shape(run.dataset, run.val_fraction, run.test_fraction, data_dir=data_dir)
            info = dataset_info(run.dataset, data_dir)
            fingerprint = fingerprint_of(run.dataset, data_dir) if info.source == "user file" else None
            cache[key] = (shape, info, fingerprint)
        shape, info, fingerprint = cache[key]
        if run.bottleneck >= shape.n_features and run.widths is None:  # explicit widths: any code width
            raise ConfigError(
                f"bottleneck {run.bottleneck} is not smaller than the {shape.n_features} input features of '{run.dataset}'"
            )
        resolved.append(resolve(run, info.output_activation, info.loss, fingerprint))
    return resolved


__all__ = ["LOSS_OUTPUTS", "init_gain", "loss_fits", "resolve", "resolve_bias", "resolve_init", "resolve_runs"]
