"""Planning without data: a run's resolved config, and what a sweep's tasks need to know.

Imports neither torch nor the data: ``--dry-run``, grid validation and task building run
on the registry's dataset shapes (:func:`actcmp.datasets.dataset_shape`).
"""

from __future__ import annotations

from typing import Any

from actcmp.config import RunConfig, run_id
from actcmp.core.activations import ActivationSpec, parse_activation


def resolve_init(rule: str, activation: ActivationSpec) -> str:
    """The concrete init rule ``auto`` stands for with this activation."""
    return activation.info.init if rule == "auto" else rule


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
    resolved["init"] = resolve_init(cfg.init, parse_activation(cfg.activation))
    if fingerprint is not None:
        resolved["data_fingerprint"] = fingerprint
    out = resolved["output_activation"]
    if resolved["loss"] == "bce" and out not in ("sigmoid", "softmax"):
        resolved["loss"] = "mse"  # dataset default does not fit the chosen output: fall back
    if resolved["loss"] == "ce" and out != "softmax":
        resolved["loss"] = "mse"
    resolved["run_id"] = run_id(resolved)
    return resolved


__all__ = ["resolve", "resolve_init"]
