"""A cost model of a sweep's tasks, for the progress display's ETA (pure: no data, no I/O).

A task's cost is in *work units*, roughly floating-point operations, from its shape alone
(see :func:`task_cost`): what the progress display turns into seconds with a rate that the
first finished task calibrates (:class:`actcmp.progress.CostEta`). Only the relative costs
of tasks matter once calibrated; the prior rate only serves the ETA shown before any task
has finished.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from actcmp.config import DEFAULT_PROBE_EVERY, RunConfig
from actcmp.core.shapes import cfg_dims

#: The constants below were fitted (least squares, CPU seconds) to 12 batched groups of 24
#: models (digits, mnist1d, manifold x depths 1, 2, 4, 8, width 64, 4 epochs): the model is
#: within -30%..+29% of each, where FLOPs alone are off by 2x between depth 1 and 8.
#:
#: Work units one linear layer costs per minibatch step beyond its arithmetic (kernel calls,
#: the per-activation split, the optimizer's passes): at width 64 the step loop is bound by
#: them, not by FLOPs. Per group of stacked models (batched) or per run (plain) ...
STEP_OVERHEAD = 1.0e7
#: ... plus this much per model of a group.
STEP_OVERHEAD_PER_MODEL = 5.0e5
#: A run's fixed cost (building it, the end-of-run metrics' set-up, storing it).
RUN_OVERHEAD = 3.0e8
#: Newton iterations and classes assumed for the linear probe at the end of a run.
PROBE_ITERATIONS, PROBE_CLASSES = 8, 10
#: Seconds per work unit (per worker) before any task has finished: the default sweep
#: (2.6e12 units) took 35.9 s with 2 workers on a quiet 2-core Xeon; the first finished
#: task replaces it.
PRIOR_SECONDS_PER_UNIT = 3.0e-11


def _macs(cfg: dict[str, Any], n_features: int) -> tuple[int, int]:
    """(multiply-adds of one sample's forward pass, linear layers)."""
    dims = cfg_dims(cfg, n_features)
    return sum(i * o for i, o in dims), len(dims)


def run_units(cfg: dict[str, Any], n_train: int, n_val: int, n_test: int, n_features: int) -> float:
    """Work units of one run's arithmetic: training steps (forward + backward, 6 FLOPs per
    multiply-add), the full-pass train/val losses of every epoch, layer metrics on the probe
    set every ``probe_every`` epochs, and the end-of-run metrics (test pass, codes, the
    linear probe's Newton iterations); a ``record = "val_loss"`` run: the training steps and
    its validation losses alone."""
    macs, _ = _macs(cfg, n_features)
    epochs = int(cfg["epochs"])
    probe = min(int(cfg.get("probe_size", RunConfig.model_fields["probe_size"].default)), n_train)
    probe_points = epochs // max(1, int(cfg.get("probe_every", DEFAULT_PROBE_EVERY))) + 2
    train = 6.0 * macs * n_train * epochs
    if cfg.get("record", "full") != "full":  # record = "val_loss": the validation loss alone
        return train + 2.0 * macs * n_val * (epochs + 1) + RUN_OVERHEAD
    losses = 2.0 * macs * (n_train + n_val) * (epochs + 1)
    layer_metrics = 8.0 * macs * probe * probe_points
    params = PROBE_CLASSES * (int(cfg["bottleneck"]) + 1)
    finish = 2.0 * macs * (n_train + 2 * n_test + 2 * probe) + PROBE_ITERATIONS * n_train * params * params
    return train + losses + layer_metrics + finish + RUN_OVERHEAD


def task_units(configs: Sequence[dict[str, Any]], shape: Any, engine: str) -> float:
    """Work units of one task: its runs' arithmetic plus the per-step overhead, counted once
    per layer and step for a batched group (with a share per model), per run for the plain
    engine. ``shape``: the dataset's :class:`~actcmp.datasets.DataShape`."""
    if not configs:
        return 0.0
    total = sum(run_units(cfg, shape.n_train, shape.n_val, shape.n_test, shape.n_features) for cfg in configs)
    cfg = configs[0]
    _, layers = _macs(cfg, shape.n_features)
    steps = -(-shape.n_train // int(cfg["batch_size"])) * int(cfg["epochs"])
    if engine == "batched" and len(configs) > 1:
        overhead = steps * layers * (STEP_OVERHEAD + STEP_OVERHEAD_PER_MODEL * len(configs))
    else:
        overhead = steps * layers * (STEP_OVERHEAD + STEP_OVERHEAD_PER_MODEL) * len(configs)
    return total + overhead


__all__ = ["PRIOR_SECONDS_PER_UNIT", "run_units", "task_units"]
