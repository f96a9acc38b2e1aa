"""Planning without data: a run's resolved config, and what a sweep's tasks need to know.

Imports neither torch nor the data: ``--dry-run``, grid validation and task building run
on the registry's dataset shapes (:func:`actcmp.datasets.dataset_shape`).
"""

from __future__ import annotations

import math
from typing import Any

from actcmp.config import RunConfig, run_id
from actcmp.core.activations import ActivationSpec, kaiming_gain, parse_activation, xavier_gain


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


def resolve(cfg: RunConfig, output_activation: str, loss: str, fingerprint: str | None = None) -> dict[str, Any]:
    """The fully resolved config of a run: ``auto`` replaced by what it stands for.

    ``output_activation`` / ``loss`` are the dataset's defaults. ``fingerprint`` (for user
    data files) ties the run to the file's content.
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
    if not cfg.activity_l1:  # spellings without effect are one run
        resolved["activity_l1_on"] = "code"
    if not cfg.input_noise:
        resolved["input_noise_kind"] = "gaussian"
    # what the init resolved to (stored for the report's setup; not part of the run id)
    resolved["init_gain"] = init_gain(resolved["init"], spec)
    resolved["init_bias"] = resolve_bias(cfg.bias_init, resolved["init"])
    if fingerprint is not None:
        resolved["data_fingerprint"] = fingerprint
    out = resolved["output_activation"]
    if resolved["loss"] == "bce" and out not in ("sigmoid", "softmax"):
        resolved["loss"] = "mse"  # dataset default does not fit the chosen output: fall back
    if resolved["loss"] == "ce" and out != "softmax":
        resolved["loss"] = "mse"
    resolved["run_id"] = run_id(resolved)
    return resolved


__all__ = ["init_gain", "resolve", "resolve_bias", "resolve_init"]
