"""``actcmp export DIR --format mlflow``: stored results as a local MLflow tracking store.

Layout: one MLflow experiment per sweep name recorded in DIR (runs that no sweep planned go
to an experiment named after DIR) and no other (MLflow's empty "Default" experiment 0 is not
created), one MLflow run per stored actcmp run in each experiment it belongs to (a run that
sweeps of two names planned is in both; :attr:`MlflowExport.shared` counts those):

* params: the resolved run config (every field, JSON-encoded when not a string);
* metrics: ``train_loss`` / ``val_loss`` per epoch and ``layer{L}/{metric}`` at each
  measured epoch (step = epoch; histogram bins left out), the final metrics
  (``test_loss``, ``dead_fraction_final``, ...) and ``wall_time_s`` at the last epoch;
  every stored value, a NULL (NaN or infinite when measured: a diverged run's loss) as NaN,
  as the Parquet export has it; a converged run's final metric that does not apply to it
  (no anomaly set, ``diverged_epoch``) left out;
* tags: ``actcmp.run_id``, ``actcmp.status`` (done / diverged / failed), ``actcmp.sweeps``,
  ``actcmp.role`` for a run of a ``[tune]`` sweep (``tuning``, ``evaluation (common value)``,
  ``evaluation (selected value)``, ``evaluation (common = selected value)``: which runs the
  report's tuned comparison reads), ``actcmp.error`` for a failed run, ``actcmp.env.<key>`` (versions, kernel family, ...);
  MLflow's run status is FINISHED, or FAILED for a failed run.

When DIR has a report (``figures/``, ``tables/``, ``report.html``), a run named
``summary`` (tag ``actcmp.summary = true``) in each experiment carries them as artifacts,
tagged ``actcmp.report_stale`` ``false``, ``true`` (the report does not cover the stored
runs, as its ``setup.json`` records them: :func:`~actcmp.store.export_common.report_coverage`;
why in ``actcmp.report_note`` and :attr:`MlflowExport.notes`) or ``unknown``.

MLflow is written through its own client (``MlflowClient`` on a ``file:`` URI, one
``log_batch`` per run). MLflow 3 keeps the file store in maintenance mode and asks for
``MLFLOW_ALLOW_FILE_STORE=true`` to open one: set it for ``mlflow ui`` too
(``MLFLOW_ALLOW_FILE_STORE=true mlflow ui --backend-store-uri OUT``), or convert the
store with ``mlflow migrate-filestore``. MLflow's telemetry is switched off here.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from actcmp.store.export_common import (
    StoredRun,
    as_float,
    flat_env,
    import_extra,
    read_runs,
    replacing,
    report_coverage,
)

#: process environment while MLflow runs: the file store allowed, no telemetry, no network
_ENV = {"MLFLOW_ALLOW_FILE_STORE": "true", "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
_REPORT_PARTS = ("figures", "tables", "report.html", "report.md")
TAG_LIMIT = 5000


@dataclass
class MlflowExport:
    """What :func:`export_mlflow` wrote."""

    path: Path
    experiments: dict[str, int]  # experiment name -> MLflow runs (the summary run not counted)
    summary_runs: int
    #: actcmp runs exported (each once, however many experiments hold it)
    runs: int = 0
    #: of those, the runs in more than one experiment (planned by sweeps of different names)
    shared: int = 0
    #: what the command should say on stderr: a killed export put back, a report older than the store
    notes: list[str] = field(default_factory=list)

    @property
    def uri(self) -> str:
        return self.path.resolve().as_uri()


@contextmanager
def _mlflow_environment() -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in _ENV}
    os.environ.update(_ENV)
    logger = logging.getLogger("mlflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            # MLflow's own dependencies (SQLAlchemy, pydantic) warn on import and use
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _forget_cached_stores() -> None:
    """MLflow caches one store object per URI, and a file store sets up its directory
    (``.trash``) only when built: after a replaced export, a cached store would write into
    a directory it never set up."""
    try:
        from mlflow.tracking._tracking_service.utils import _tracking_store_registry

        _tracking_store_registry._get_store_with_resolved_uri.cache_clear()
    except (ImportError, AttributeError):  # pragma: no cover - another MLflow layout
        pass


def _param_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def group_by_experiment(runs: list[StoredRun], fallback: str) -> dict[str, list[StoredRun]]:
    """Experiment name -> its runs: each sweep that planned a run (a run planned by two
    sweeps is in both), ``fallback`` for runs no sweep planned."""
    groups: dict[str, list[StoredRun]] = {}
    for run in runs:
        for name in run.sweeps or [fallback]:
            if name == "Default":  # MLflow's own experiment 0 (in a SQLite store, e.g. after migrate-filestore)
                name = "Default (actcmp)"
            groups.setdefault(name, []).append(run)
    return dict(sorted(groups.items()))


def export_mlflow(directory: str | Path, out: str | Path | None = None) -> MlflowExport:
    """Write the runs of results directory ``directory`` as an MLflow file store at ``out``
    (default ``DIR/export/mlflow``); an earlier export there is replaced whole.

    The store has only the experiments of ``directory``: MLflow's file store adds its empty
    experiment 0 ("Default") only when it creates the root directory, which
    :func:`~actcmp.store.export_common.replacing` creates first."""
    directory = Path(directory)
    runs, sweeps = read_runs(directory)
    target = (Path(out) if out is not None else directory / "export" / "mlflow").resolve()
    fallback = directory.resolve().name or "actcmp"
    groups = group_by_experiment(runs, fallback)
    report_parts = [directory / part for part in _REPORT_PARTS if (directory / part).exists()]
    notes: list[str] = []
    report_tags: dict[str, str] = {}
    if report_parts:  # a report older than the store is attached as it is, and said to be
        state, why = report_coverage(directory, runs)
        report_tags["actcmp.report_stale"] = {"current": "false", "stale": "true"}.get(state, "unknown")
        if why is not None:
            report_tags["actcmp.report_note"] = why[:TAG_LIMIT]
            notes.append(
                f"{why}; the summary runs carry it tagged actcmp.report_stale={report_tags['actcmp.report_stale']}"
            )
    info = {"format": "mlflow", "source": str(directory.resolve()), "runs": len(runs)}
    with _mlflow_environment():
        import_extra("mlflow", "mlflow")
        from mlflow.tracking import MlflowClient

        with replacing(target, info, in_place=True, notes=notes) as root:
            _forget_cached_stores()
            client = MlflowClient(tracking_uri=root.as_uri())
            descriptions = {s["name"]: s["config"].get("description") or "" for s in sweeps}
            for name, members in groups.items():
                tags = {"actcmp.source": str(directory.resolve())}
                if descriptions.get(name):
                    tags["mlflow.note.content"] = descriptions[name]
                experiment = client.create_experiment(name, tags=tags)
                for run in members:
                    _log_run(client, experiment, run)
                if report_parts:
                    _log_summary(client, experiment, report_parts, report_tags)
    return MlflowExport(
        path=target,
        experiments={name: len(members) for name, members in groups.items()},
        summary_runs=len(groups) if report_parts else 0,
        runs=len(runs),
        shared=sum(1 for n in Counter(run.run_id for members in groups.values() for run in members).values() if n > 1),
        notes=notes,
    )


def run_metrics(run: StoredRun) -> list[tuple[str, float, int]]:
    """``(key, value, step)`` of every stored metric of ``run``, as exported (a stored NULL,
    e.g. a diverged run's loss, as NaN: :func:`~actcmp.store.export_common.as_float`)."""
    rows: list[tuple[str, float, int]] = [(name, as_float(value), epoch) for epoch, name, value in run.epochs]
    rows += [(key, value, epoch) for epoch, key, value in run.layer_scalars()]
    last = run.last_epoch
    rows += [(name, value, last) for name, value in run.final_scalars()]
    if run.wall_time_s is not None:
        rows.append(("wall_time_s", float(run.wall_time_s), last))
    return rows


def run_tags(run: StoredRun) -> dict[str, str]:
    tags = {
        "actcmp.run_id": run.run_id,
        "actcmp.status": run.status,
        "actcmp.sweeps": ",".join(run.sweeps),
        **{f"actcmp.{key}": value[:TAG_LIMIT] for key, value in flat_env(run.env).items()},
    }
    if run.role:
        tags["actcmp.role"] = run.role
    if run.error:
        tags["actcmp.error"] = run.error[:TAG_LIMIT]
    return tags


def _log_run(client: Any, experiment: str, run: StoredRun) -> None:
    from mlflow.entities import Metric, Param

    end = run.finished_ms()
    start = end - int((run.wall_time_s or 0.0) * 1000)
    created = client.create_run(experiment, start_time=start, tags=run_tags(run), run_name=run.label)
    rid = created.info.run_id
    params = [Param(key, _param_value(value)) for key, value in sorted(run.config.items())]
    metrics = [Metric(key, value, end, step) for key, value, step in run_metrics(run)]
    client.log_batch(rid, metrics=metrics, params=params)
    client.set_terminated(rid, status="FAILED" if run.status == "failed" else "FINISHED", end_time=end)


def _log_summary(client: Any, experiment: str, parts: list[Path], tags: dict[str, str]) -> None:
    created = client.create_run(experiment, run_name="summary", tags={"actcmp.summary": "true", **tags})
    rid = created.info.run_id
    for part in parts:
        if part.is_dir():
            client.log_artifacts(rid, str(part), artifact_path=part.name)
        else:
            client.log_artifact(rid, str(part))
    client.set_terminated(rid, status="FINISHED")
