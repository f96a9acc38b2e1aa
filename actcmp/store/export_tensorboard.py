"""``actcmp export DIR --format tensorboard``: stored results as TensorBoard event files.

Layout (``tensorboard --logdir OUT``)::

    OUT/events.out.tfevents.*          the HParams experiment: hyper-parameters and metrics
    OUT/<run label>/events.out.tfevents.*   one directory per stored run

Each run directory holds the run's HParams session (its hyper-parameters and status)
and its scalars: ``loss/train_loss`` and ``loss/val_loss`` per epoch,
``layer{L}/{metric}`` at each measured epoch (histogram bins left out), and the final
metrics as ``final/<name>`` at the last epoch; a stored NULL (a diverged run's NaN or
infinite loss) as NaN, as the Parquet export has it, and a converged run's final metric that
does not apply to it left out (:meth:`~actcmp.store.export_common.StoredRun.final_scalars`). The hyper-parameters are the config
fields that vary across runs (always activation, dataset, depth, seed), ``status`` and, where
a ``[tune]`` sweep is among them, ``role`` (``tuning``, ``evaluation (common value)``,
``evaluation (selected value)``, ``evaluation (common = selected value)`` or ``untuned``);
the HParams table and parallel-coordinates view show the ``final/*`` metrics.

Written with TensorBoard's own protobufs and event-file writer (no TensorFlow needed),
into a temporary directory renamed into place at the end.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from actcmp.store.export_common import StoredRun, as_float, import_extra, read_runs, replacing

ALWAYS = ("activation", "dataset", "depth", "seed")
#: final metrics offered in the HParams table (those a run has; others stay scalars only)
TABLE_METRICS = (
    "test_loss",
    "final_val_loss",
    "best_val_loss",
    "dead_fraction_final",
    "saturated_fraction_final",
    "epochs_to_threshold",
    "probe_accuracy",
    "anomaly_auroc",
)


@dataclass
class TensorboardExport:
    """What :func:`export_tensorboard` wrote."""

    path: Path
    runs: int
    hparams: list[str]
    metrics: list[str]
    #: what the command should say on stderr (an export killed half-way, put back)
    notes: list[str] = field(default_factory=list)


def hparam_keys(runs: list[StoredRun]) -> list[str]:
    """Config fields shown as hyper-parameters: the basic axes and every field that varies."""
    keys = sorted({k for run in runs for k in run.config if k != "run_id"})
    varied = [
        k for k in keys if k not in ALWAYS and len({json.dumps(run.config.get(k), sort_keys=True) for run in runs}) > 1
    ]
    return [*ALWAYS, *varied]


def _kind(values: list[Any]) -> type:
    if values and all(isinstance(v, bool) for v in values):
        return bool
    if values and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return float
    return str


def _as(kind: type, value: Any) -> Any:
    if kind is str:
        return value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return kind(value)


def scalars(run: StoredRun) -> dict[int, list[tuple[str, float]]]:
    """step -> ``[(tag, value)]`` of every scalar stored for ``run`` (a stored NULL, e.g. a
    diverged run's loss, as NaN: :func:`~actcmp.store.export_common.as_float`)."""
    by_step: dict[int, list[tuple[str, float]]] = {}
    for epoch, name, value in run.epochs:
        by_step.setdefault(epoch, []).append((f"loss/{name}", as_float(value)))
    for epoch, tag, value in run.layer_scalars():
        by_step.setdefault(epoch, []).append((tag, value))
    last = run.last_epoch
    for name, value in run.final_scalars():
        by_step.setdefault(last, []).append((f"final/{name}", value))
    return dict(sorted(by_step.items()))


def export_tensorboard(directory: str | Path, out: str | Path | None = None) -> TensorboardExport:
    """Write the runs of results directory ``directory`` as TensorBoard logs at ``out``
    (default ``DIR/export/tensorboard``); an earlier export there is replaced whole."""
    directory = Path(directory)
    runs, _ = read_runs(directory)
    target = Path(out) if out is not None else directory / "export" / "tensorboard"
    import_extra("tensorboard", "tensorboard")
    from tensorboard.plugins.hparams import summary_v2 as hp

    tuned = any(run.role for run in runs)  # a [tune] sweep: which runs tune, which evaluate
    keys = [*hparam_keys(runs), "status", *(["role"] if tuned else [])]
    kinds: dict[str, type] = {}
    hparams = []

    def value_of(run: StoredRun, key: str) -> Any:
        return run.status if key == "status" else (run.role or "untuned") if key == "role" else run.config.get(key)

    for key in keys:
        values = [value_of(run, key) for run in runs]
        kinds[key] = _kind(values)
        domain_values = sorted({_as(kinds[key], v) for v in values})
        hparams.append(hp.HParam(key, hp.Discrete(domain_values) if domain_values else None))
    present = {name for run in runs for name, value in run.final.items() if value is not None}
    metrics = [f"final/{name}" for name in TABLE_METRICS if name in present]
    info = {"format": "tensorboard", "source": str(directory.resolve()), "runs": len(runs)}
    notes: list[str] = []
    with replacing(target, info, notes=notes) as root:
        now = time.time()
        _write(root, [hp.hparams_config_pb(hparams, [hp.Metric(tag) for tag in metrics], time_created_secs=now)], now)
        for run in runs:
            chosen = {key: _as(kinds[key], value_of(run, key)) for key in keys}
            start = run.finished_ms() / 1000 - (run.wall_time_s or 0.0)
            session = hp.hparams_pb(chosen, trial_id=run.run_id, start_time_secs=start)
            _write(root / run.label, [session], start, scalars(run), duration=run.wall_time_s or 0.0)
    return TensorboardExport(path=target, runs=len(runs), hparams=keys, metrics=metrics, notes=notes)


def _write(
    logdir: Path,
    summaries: list[Any],
    wall_time: float,
    steps: dict[int, list[tuple[str, float]]] | None = None,
    *,
    duration: float = 0.0,
) -> None:
    """One event file in ``logdir``: ``summaries`` at step 0, then the scalars per step,
    their wall times spread evenly over the run's ``duration`` (TensorBoard's relative axis)."""
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    writer = EventFileWriter(str(logdir), max_queue_size=1000, flush_secs=3600)
    try:
        for summary in summaries:
            writer.add_event(event_pb2.Event(wall_time=wall_time, step=0, summary=summary))
        last = max(steps or {0: []}) + 1
        for step, values in (steps or {}).items():
            summary = summary_pb2.Summary(
                value=[summary_pb2.Summary.Value(tag=tag, simple_value=value) for tag, value in values]
            )
            at = wall_time + duration * (step + 1) / last
            writer.add_event(event_pb2.Event(wall_time=at, step=step, summary=summary))
    finally:
        writer.close()
