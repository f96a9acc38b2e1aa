"""Sweeps: plan, skip what is stored, hand tasks to an executor, store each result.

The parent process is the one writer: workers (see :mod:`actcmp.run.executors`) only train
and return :class:`~actcmp.core.result.RunResult` records (:mod:`actcmp.run.tasks`). The
plan is :mod:`actcmp.run.plan`; Ctrl-C and SIGTERM are :mod:`actcmp.run.signals`. The
names other modules used to import from here (``plan_runs``, ``execute_task``, ``Task``,
...) are re-exported.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, Executor, Future, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from actcmp.config import MAX_RUNS, SweepConfig, check_sweep_size, load_sweep
from actcmp.cost import PRIOR_SECONDS_PER_UNIT, task_units
from actcmp.datasets import dataset_shape
from actcmp.errors import ActcmpError, ConfigError, DatasetError
from actcmp.progress import NullProgress, ProgressSink, varied_fields
from actcmp.provenance import sweep_provenance
from actcmp.run import executors
from actcmp.run.device import resolve_device
from actcmp.run.executors import TaskLost, stop_executor, stopped_on_error
from actcmp.run.plan import describe_plan, plan_runs, resolve_runs, sweep_id
from actcmp.run.tasks import (
    ENGINES,
    GROUP_KEYS,
    Task,
    cached_dataset,
    choose_engine,
    clear_data_cache,
    execute_task,
    group_key,
    make_tasks,
    worker_task,
)
from actcmp.run.tune import (
    PLAN_KEYS,
    ROLE_EVAL,
    ROLE_TUNE,
    TunePlan,
    as_stored,
    evaluation_runs,
    plan_tune,
    runs_content,
    select_from_store,
)
from actcmp.shard import format_shard, parse_shard, select_shard
from actcmp.signals import Interrupts, Terminated, interrupts
from actcmp.store.database import Store, refuse_foreign_directory
from actcmp.store.lock import DirLock
from actcmp.sweep_name import default_results_dir

#: the backend's own output in the results directory (Ray's logger and daemon messages)
BACKEND_LOG = "ray.log"


class SweepError(ActcmpError):
    """The sweep could not go on (a worker process died); what finished is stored."""

    exit_code = 1  # a runtime failure, not a usage error


@dataclass
class SweepSummary:
    """What a sweep did (returned by :func:`run_sweep`)."""

    out_dir: Path
    planned: int
    skipped: int
    ran: int = 0
    done: int = 0
    diverged: int = 0
    failed: int = 0
    wall_time_s: float = 0.0
    interrupted: bool = False
    #: the interruption was SIGTERM (exit 143), not Ctrl-C (130)
    terminated: bool = False
    failures: list[str] = field(default_factory=list)
    shard: str | None = None
    resumed_after_crash: bool = False
    #: names of the other sweeps the results directory already held (the report covers them all)
    other_sweeps: list[str] = field(default_factory=list)
    #: other versions (edited candidates, grid or settings) of this tuned sweep the directory
    #: holds under its name: the report shows each version's selection apart
    other_tuned_versions: int = 0
    #: an untuned sweep: the settings in which other versions stored under its name differ
    #: from it (``epochs 3 stored, 1 now``): their cells stand apart in the status and report
    other_settings: list[str] = field(default_factory=list)
    #: the CPU kernel families the directory's runs ran on, when more than one (a resume or a
    #: second sweep on another machine): their runs compare over seeds, not bit for bit
    kernel_families: list[str] = field(default_factory=list)
    lost_tasks: int = 0
    #: runs of lost tasks (a Ray worker or node died): not stored, pending for a rerun
    lost_runs: int = 0
    #: where the backend's own output went (Ray: ``ray.log`` in the results directory)
    backend_log: str | None = None
    #: the sweep ran with ``fresh`` (--fresh): only the same command finishes it after an
    #: interruption (``progress.resume_hint``)
    fresh: bool = False
    #: a Ctrl-C (or SIGTERM) came after every run was trained and stored: nothing was
    #: interrupted (``interrupted`` stays False); the command skips what it would do next
    late_interrupt: bool = False
    #: a [tune] sweep interrupted in its tuning phase: ``left`` counts the tuning runs left,
    #: the evaluation runs that follow the selection are not planned yet
    stopped_tuning: bool = False

    @property
    def left(self) -> int:
        """Planned runs still not stored (after an interruption)."""
        return self.planned - self.skipped - self.done - self.diverged

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "out_dir": str(self.out_dir)}


def _refuse_while_a_worker_starts() -> None:
    """A script that calls :func:`run_sweep` at module level (no ``if __name__ ==
    "__main__":``) calls it again in every worker process, which imports the script as it
    starts ("spawn"): say so there, in one line, instead of a second sweep meeting the first
    one's lock. (multiprocessing's own check, ``spawn._check_not_importing_main``, reads the
    same flag, but only once a pool is made.)"""
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise ConfigError(
            "run_sweep() was called while a worker process was importing your script: "
            'call it under `if __name__ == "__main__":` (worker processes import the main module)'
        )


def refuse_per_seed_tuned(out_dir: Path) -> None:
    """A tuned sweep does not go into a directory that holds a tuned sweep stored before
    ``split_seed`` (each seed its own split): its runs would sit beside runs of another split
    and another selection protocol. One :class:`ConfigError` line; nothing is written."""
    from actcmp.store.database import db_path

    if not db_path(out_dir).is_file():
        return
    from actcmp.analysis.tune import per_seed_tuned

    with Store(out_dir, create=False) as store:
        old = per_seed_tuned(store)
    if old:
        raise ConfigError(
            f"{out_dir}: holds the [tune] sweep {', '.join(repr(n) for n in old)} stored by an older actcmp, whose "
            "runs drew each seed's own split (its selection saw test rows); run this tuned sweep into a new "
            "directory with --out (the stored results stay as they are)"
        )


def run_sweep(
    config: SweepConfig | str | Path,
    out: str | Path | None = None,
    *,
    fresh: bool = False,
    jobs: int = 1,
    engine: str = "auto",
    device: str = "cpu",
    data_dir: str | Path | None = None,
    backend: str = "local",
    address: str | None = None,
    progress: ProgressSink | None = None,
    shard: str | tuple[int, int] | None = None,
    threads: int | None = None,
    max_runs: int = MAX_RUNS,
    executor_options: dict[str, Any] | None = None,
) -> SweepSummary:
    """Run a sweep into a results directory (default ``results/<name>/``, or
    ``$ACTCMP_OUT/<name>/``), resuming.

    Runs already stored (done or diverged) are skipped unless ``fresh``; failed runs are
    tried again. ``shard="i/n"`` runs only shard i of n (see :mod:`actcmp.shard`).
    ``threads``: torch threads per worker (local backend; default: 1 in-process unless
    ``OMP_NUM_THREADS`` is set, cores / jobs in worker processes; see :mod:`actcmp.run.executors`).
    ``executor_options``: passed to the executor (``--backend ray``: ``max_retries``, ...).
    The executor (a Ray cluster's connection) is made before the results directory.
    Ctrl-C (or SIGTERM) stops after storing the runs that finished; ``summary.interrupted``
    is then True. A second sweep into the same directory is refused while one runs
    (see :mod:`actcmp.store.lock`).
    """
    _refuse_while_a_worker_starts()
    sweep = load_sweep(config) if isinstance(config, str | Path) else config
    shard_spec = _check_options(engine, jobs, shard)
    from actcmp.datasets.cache import check_cache_setting

    check_cache_setting()  # for a Python caller too: every worker would skip a cache set to a file
    progress = progress or NullProgress()
    out_dir = Path(out) if out is not None else default_results_dir(sweep.name)
    clear_data_cache()  # a data file may have changed since an earlier sweep in this process
    if sweep.tune is not None:
        check_sweep_size(sweep, max_runs)  # before as_stored plans it
        refuse_per_seed_tuned(out_dir)
        sweep, adopted = as_stored(sweep, out_dir, data_dir)  # a tuned sweep stored before [tune] record
        message = getattr(progress, "message", None)
        if adopted is not None and message is not None:
            message([adopted])
    planned, tune_plan = _plan(sweep, data_dir, max_runs)
    mine = select_shard(planned, *shard_spec) if shard_spec else planned
    target_device = resolve_device(device)
    refuse_foreign_directory(out_dir)
    started = time.perf_counter()
    # connect first: a cluster that cannot be reached leaves no results directory behind
    # (through the module: the factory is looked up when called, so it can be swapped in tests)
    executor = executors.make_executor(backend, jobs, address=address, threads=threads, **(executor_options or {}))
    with stopped_on_error(executor), Store(out_dir) as store, DirLock(out_dir) as lock:
        # the whole plan is recorded even for a shard, so that a merge of all shards knows
        # every run it should hold; ``mark_shard`` says which of them this directory runs
        sid = sweep_id(sweep)
        stored = [entry for entry in store.sweeps() if entry["sweep_id"] != sid]
        others = sorted({entry["name"] for entry in stored} - {sweep.name})
        versions, summary_versions = other_versions(sweep, stored)
        message = getattr(progress, "message", None)
        note = version_note(out_dir, sweep.name, versions, summary_versions)
        if note is not None and message is not None:
            message([f"note: {note}"])
        data_note = data_versions_note(out_dir, planned, store.expected_configs().values())
        if data_note is not None and message is not None:
            message([f"note: {data_note}"])
        # a shard run into a directory that holds this whole sweep (run whole, or merged) adds
        # its missing runs and leaves the directory whole: marked a shard, its status said the
        # other shards' runs were elsewhere, and a merge with that shard's own directory was refused
        whole = any(entry["sweep_id"] == sid for entry in store.sweeps()) and sid not in store.shards()
        if not (whole and shard_spec):  # marked first: a shard stopped before it is stored is no "whole"
            store.mark_shard(sid, shard_spec)
        store.save_sweep(sid, sweep.name, sweep.to_dict(), planned)
        _write_sweep_file(store, sweep, planned)
        summary = SweepSummary(
            out_dir=out_dir,
            planned=0,
            skipped=0,
            shard=format_shard(*shard_spec) if shard_spec else None,
            resumed_after_crash=lock.stale is not None,
            other_sweeps=others,
            other_tuned_versions=versions,
            other_settings=summary_versions,
            fresh=fresh,
        )
        _log_backend(executor, summary)
        # local workers share this machine's memory; a Ray task's node is not known here
        local_jobs = jobs if backend == "local" else None
        data_dir_text = str(data_dir) if data_dir is not None else None
        options = _TaskOptions(choose_engine(engine), target_device, data_dir_text, jobs, local_jobs)
        _Phases(store, executor, summary, progress, sweep, tune_plan, shard_spec, fresh, options).run(mine)
        families = sorted(store.environment_values("cpu_capability"))
        summary.kernel_families = families if len(families) > 1 else []
        summary.wall_time_s = time.perf_counter() - started
        progress.finish(summary.as_dict())
    return summary


def other_settings(config: dict[str, Any], stored: list[dict[str, Any]]) -> list[str]:
    """The settings in which the stored versions ``stored`` of a sweep (configs under its
    name) differ from ``config``, as ``key a / b stored, c now``. A version that differs only
    in the values of its grid axes (more seeds, another activation), or that fixes an axis the
    other varies at one of its values (``--set depth=1`` of a sweep over depths 1, 2), is the
    same sweep extended or narrowed: nothing. An axis one version varies and the other holds
    at a value outside it (``--grid lr=0.01,0.1`` where the file's lr is 0.001) is named."""
    from actcmp.config import RunConfig

    def value(fixed: dict[str, Any], key: str) -> Any:
        field_info = RunConfig.model_fields.get(key)
        return fixed.get(key, field_info.default if field_info is not None else None)

    def shown(values: list[Any]) -> str:
        return "/".join(str(v) for v in values)

    mine_fixed, mine_grid = config.get("fixed") or {}, config.get("grid") or {}
    found: dict[str, tuple[list[str], str]] = {}
    for other in stored:
        fixed, grid = other.get("fixed") or {}, other.get("grid") or {}
        for key in sorted((set(fixed) | set(mine_fixed)) - set(grid) - set(mine_grid)):
            if value(fixed, key) != value(mine_fixed, key):
                then, _ = found.setdefault(key, ([], str(value(mine_fixed, key))))
                if str(value(fixed, key)) not in then:
                    then.append(str(value(fixed, key)))
        for key in sorted(set(grid) ^ set(mine_grid)):
            varied = list(grid.get(key) or mine_grid.get(key) or [])
            held = value(mine_fixed if key in grid else fixed, key)
            if held in varied:
                continue  # narrowed to one of the values, or extended around it: the same cells
            stored_side = shown(varied) if key in grid else str(held)
            then, _ = found.setdefault(key, ([], str(held) if key in grid else shown(varied)))
            if stored_side not in then:
                then.append(stored_side)
    return [f"{key} {' / '.join(then)} stored, {now} now" for key, (then, now) in found.items()]


def other_versions(sweep: SweepConfig, stored: list[dict[str, Any]]) -> tuple[int, list[str]]:
    """What the stored sweep entries ``stored`` (:meth:`Store.sweeps`, this sweep's own id left
    out) hold under this sweep's name: for a ``[tune]`` sweep, how many other versions (other
    candidates, grid or settings; a new description alone is none); without, the settings
    that differ (:func:`other_settings`). ``(0, [])`` when there is none."""
    mine = [e["config"] for e in stored if e["name"] == sweep.name]
    if sweep.tune is None:
        return 0, other_settings(sweep.to_dict(), mine)
    versions = {runs_content(config) for config in mine if config.get("tune")} - {runs_content(sweep.to_dict())}
    return len(versions), []


def _takes(method: Any, name: str) -> bool:
    """Whether ``method`` accepts the keyword ``name`` (by name or ``**kwargs``)."""
    import inspect

    try:
        parameters = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def data_versions_note(out_dir: Path, planned: list[dict[str, Any]], stored: Iterable[dict[str, Any]]) -> str | None:
    """The note ``run`` and ``--dry-run`` print when a user data file's content changed: the
    directory holds runs of a dataset the plan names with another content fingerprint (a new
    version of the file trains anew: its fingerprint is part of the run id). None otherwise."""
    now: dict[str, str] = {}
    for cfg in planned:
        if cfg.get("data_fingerprint"):
            now.setdefault(str(cfg["dataset"]), str(cfg["data_fingerprint"]))
    before: dict[str, set[str]] = {}
    for cfg in stored:
        name, fingerprint = str(cfg.get("dataset")), cfg.get("data_fingerprint")
        if name in now and fingerprint and fingerprint != now[name]:
            before.setdefault(name, set()).add(str(fingerprint))
    if not before:
        return None
    said = "; ".join(
        f"{name}: {', '.join(sorted(fps))} stored, {now[name]} now" for name, fps in sorted(before.items())
    )
    return (
        f"{out_dir} also holds runs on another version of a data file ({said}: content fingerprints): this "
        "version's runs train anew, and status and report show each version's cells apart"
    )


def version_note(out_dir: Path, name: str, tuned_versions: int, settings: list[str]) -> str | None:
    """The note ``run`` (at its start) and ``--dry-run`` print for :func:`other_versions`."""
    if tuned_versions:
        return (
            f"{out_dir} also holds {tuned_versions} other version(s) of this tuned sweep (other candidates, grid or "
            "settings under its name): its report shows each version's selection apart (--out another directory "
            "keeps them apart)"
        )
    if settings:
        return (
            f"{out_dir} also holds sweep '{name}' with other settings ({'; '.join(settings)}): its status and "
            "report show their cells apart (--out another directory keeps them apart)"
        )
    return None


def _check_options(engine: str, jobs: int, shard: str | tuple[int, int] | None) -> tuple[int, int] | None:
    """Refuse an unknown engine or a jobs count below one; the shard as ``(i, n)`` or None."""
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine '{engine}' (available: {', '.join(ENGINES)})")
    if jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {jobs}")
    shard_spec = parse_shard(shard) if isinstance(shard, str) else shard
    if shard_spec is not None:
        parse_shard(format_shard(*shard_spec))  # validates a tuple given through the API
    return shard_spec


def _plan(
    sweep: SweepConfig, data_dir: str | Path | None, max_runs: int
) -> tuple[list[dict[str, Any]], TunePlan | None]:
    """The runs to record now, and the ``[tune]`` plan (tuning runs, selection from the
    store, evaluation runs: :mod:`actcmp.run.tune`) or None."""
    planned = plan_runs(sweep, data_dir, max_runs=max_runs)
    if sweep.tune is None:
        return planned, None
    tune_plan = plan_tune(sweep, data_dir)
    return tune_plan.static, tune_plan


def _write_sweep_file(store: Store, sweep: SweepConfig, planned: list[dict[str, Any]]) -> None:
    """``DIR/sweep.json`` through the store: the resolved sweep, its runs and where it came
    from (:func:`actcmp.provenance.sweep_provenance`: file, git commit)."""
    provenance = {**sweep_provenance(sweep.path, sweep.source), **sweep.literature()}
    store.write_sweep_file(sweep.to_dict(), planned, provenance)


def _log_backend(executor: Executor, summary: SweepSummary) -> None:
    """Send Ray's own output to ``DIR/ray.log``, kept out of actcmp's."""
    log_to = getattr(executor, "log_to", None)
    if log_to is not None:
        log_to(summary.out_dir / BACKEND_LOG)
        summary.backend_log = str(summary.out_dir / BACKEND_LOG)


@dataclass
class _TaskOptions:
    """How planned runs become tasks (:func:`~actcmp.run.tasks.make_tasks`)."""

    engine: str
    device: str
    data_dir: str | None
    #: workers, for the progress display's ETA
    jobs: int
    #: workers sharing this machine's memory (local backend), for the batched memory budget
    local_jobs: int | None


@dataclass
class _Phases:
    """One sweep's training phases: its runs, or for ``[tune]`` the tuning runs, the
    selection (recorded as the plan's evaluation runs) and the evaluation runs."""

    store: Store
    executor: Executor
    summary: SweepSummary
    progress: ProgressSink
    sweep: SweepConfig
    tune_plan: TunePlan | None
    shard: tuple[int, int] | None
    fresh: bool
    options: _TaskOptions
    #: phases whose runs are counted in the summary (train was called)
    phases: int = 0

    def run(self, mine: list[dict[str, Any]]) -> None:
        """Train this shard's runs; on Ctrl-C, what finished is stored and the plan recorded.
        A Ctrl-C that comes once every run has been trained and stored (while the workers
        stop, say) ends nothing: the sweep is complete (``summary.late_interrupt``)."""
        completed = False
        try:
            with interrupts() as guard:
                selected = False
                try:
                    if self.tune_plan is None:
                        self.train(mine, guard)
                    else:  # tuning phase, selection (from the store), evaluation phase
                        self.train([cfg for cfg in mine if cfg["role"] == ROLE_TUNE], guard)
                        with guard.shield():
                            evaluation, selected = self.plan_evaluation(), True
                            _announce_selection(self.progress, self.store.directory)
                        self.train(evaluation, guard)
                    completed = True
                except KeyboardInterrupt as stop:
                    guard.handled()
                    self.summary.terminated = isinstance(stop, Terminated)
                    if self.all_trained():
                        self.summary.late_interrupt = True
                    else:
                        self.summary.interrupted = True
                        if self.tune_plan is not None and not selected:  # status expects what is selected so far
                            self.summary.stopped_tuning = True
                            with guard.shield():
                                self.plan_evaluation()
                finally:
                    stop_executor(self.executor, graceful=completed)
        except KeyboardInterrupt as stop:  # came as the block ended: the workers stopping, the guard's check
            if not self.all_trained():  # a lost task's runs are still to do: an interruption
                raise
            self.summary.late_interrupt = True
            self.summary.terminated = isinstance(stop, Terminated)

    def all_trained(self) -> bool:
        """Every phase has counted its runs and each run is stored (done, diverged or failed)."""
        phases = 1 if self.tune_plan is None else 2
        summary = self.summary
        return self.phases == phases and summary.left - summary.failed == 0 and not summary.lost_runs

    def train(self, configs: list[dict[str, Any]], guard: Interrupts) -> None:
        """Skip the stored runs of ``configs`` (unless fresh); train and store the others."""
        stored = self.store.finished_ids()
        finished = set() if self.fresh else stored
        # a plan's bookkeeping ([tune]'s role, unit) is not part of a run's stored config
        todo = [
            {k: v for k, v in cfg.items() if k not in PLAN_KEYS} for cfg in configs if cfg["run_id"] not in finished
        ]
        self.summary.planned += len(configs)
        self.summary.skipped += len(configs) - len(todo)
        self.phases += 1
        message = getattr(self.progress, "message", None)
        if self.tune_plan is not None and message is not None:  # the two phases' lines told apart
            message(
                ["tuning phase ([tune]): each candidate on the tuning seeds, selected by validation loss"]
                if self.phases == 1
                else ["evaluation phase ([tune]): the common and the selected values on the evaluation seeds"]
            )
        # --fresh: the line says how many are stored (trained again), as the dry run does
        # (only to a sink whose start() takes it: a sink written to the ProgressSink protocol need not)
        fresh = self.fresh and _takes(self.progress.start, "stored_again")
        again = {"stored_again": sum(cfg["run_id"] in stored for cfg in configs)} if fresh else {}
        self.progress.start(len(configs), len(todo), len(configs) - len(todo), str(self.summary.out_dir), **again)
        options = self.options
        tasks = make_tasks(todo, options.engine, options.device, options.data_dir, jobs=options.local_jobs)
        _announce_plan(self.progress, tasks, options.jobs, options.data_dir)
        labels = varied_fields(todo, skip=LABEL_SKIP)
        _drain(
            self.executor,
            tasks,
            self.store,
            self.summary,
            self.progress,
            replace=self.fresh,
            guard=guard,
            labels=labels,
        )

    def plan_evaluation(self) -> list[dict[str, Any]]:
        """Select from the stored tuning runs; record and return this shard's evaluation runs."""
        assert self.tune_plan is not None
        tune_plan = self.tune_plan
        everything = [*tune_plan.tuning, *evaluation_runs(tune_plan, select_from_store(tune_plan, self.store))]
        self.store.save_sweep(sweep_id(self.sweep), self.sweep.name, self.sweep.to_dict(), everything)
        _write_sweep_file(self.store, self.sweep, everything)
        shard_runs = select_shard(everything, *self.shard) if self.shard else everything
        return [cfg for cfg in shard_runs if cfg["role"] == ROLE_EVAL]


#: config fields a progress line never adds (identifiers, not settings)
LABEL_SKIP = ("run_id",)


def _announce_selection(progress: ProgressSink, directory: Path) -> None:
    """Tell a progress sink that takes messages (``message``) what the tuning phase selected,
    before the evaluation runs start (the lines ``actcmp status`` prints)."""
    message = getattr(progress, "message", None)
    if message is not None:
        from actcmp.analysis.tune import tune_status

        message(tune_status(directory))


def _announce_plan(progress: ProgressSink, tasks: list[Task], workers: int, data_dir: str | None) -> None:
    """Give a progress sink that takes one (``plan``) each task's runs and work units
    (:mod:`actcmp.cost`), for an ETA from the start. Shapes come from the registry."""
    plan = getattr(progress, "plan", None)
    if plan is None or not tasks:
        return
    shapes: dict[tuple[Any, ...], Any] = {}
    entries = []
    for task in tasks:
        cfg = task.configs[0]
        key = (cfg["dataset"], cfg["val_fraction"], cfg["test_fraction"])
        try:
            if key not in shapes:
                shapes[key] = dataset_shape(*key, data_dir=data_dir)
            units = task_units(task.configs, shapes[key], task.engine)
        except Exception:  # the task reports it when it runs; it costs nothing here
            units = 0.0
        entries.append(([c["run_id"] for c in task.configs], units))
    plan(entries, workers, PRIOR_SECONDS_PER_UNIT)


def _drain(
    executor: Any,
    tasks: Iterable[Task],
    store: Any,
    summary: SweepSummary,
    progress: ProgressSink,
    replace: bool,
    guard: Interrupts | None = None,
    labels: Sequence[str] = (),
) -> None:
    """Submit tasks with a bounded number in flight; store each result as it arrives
    (``labels``: the config fields each progress line adds, see :func:`varied_fields`).

    A future leaves ``submitted`` in the same shielded step that commits its runs, so on
    Ctrl-C the results that already came back are committed exactly once, then it stops.
    """
    guard = guard or Interrupts()
    submitted: list[Future[Any]] = []  # submitted and not yet stored, in submission order
    queue = list(tasks)
    limit = max(2, 2 * getattr(executor, "_max_workers", 1))
    try:
        while queue or submitted:
            guard.check()  # an interrupt lost in a __del__ or a weakref callback
            while queue and len(submitted) < limit:
                submitted.append(executor.submit(worker_task, queue.pop(0)))
            wait(submitted, return_when=FIRST_COMPLETED)
            for future in [f for f in submitted if f.done()]:
                with guard.shield():
                    _store_future(future, store, summary, progress, replace, labels)
                    submitted.remove(future)
    except KeyboardInterrupt:
        with guard.shield():
            for future in [f for f in submitted if f.done() and not f.cancelled() and f.exception() is None]:
                _store_future(future, store, summary, progress, replace, labels)
                submitted.remove(future)
        raise
    except BrokenExecutor as exc:
        raise SweepError(
            f"a worker process died ({exc}); the {summary.ran} runs that finished are stored: "
            "run the same command again to resume"
        ) from None


def _store_future(
    future: Future[Any],
    store: Any,
    summary: SweepSummary,
    progress: ProgressSink,
    replace: bool,
    labels: Sequence[str] = (),
) -> None:
    try:
        results = future.result()
    except TaskLost as exc:  # a worker or node died: its runs stay pending, the sweep goes on
        summary.lost_tasks += 1
        summary.lost_runs += int(getattr(exc, "runs", 0))
        summary.failures.append(f"task lost (runs left pending, run again to redo them): {exc}")
        return
    for result in results:
        _store_result(store, result, summary, progress, replace, labels)


def _store_result(
    store: Any, result: Any, summary: SweepSummary, progress: ProgressSink, replace: bool, labels: Sequence[str] = ()
) -> None:
    store.write_run(result, replace=replace)
    summary.ran += 1
    setattr(summary, result.status, getattr(summary, result.status) + 1)
    if result.status == "failed":
        summary.failures.append(f"{result.run_id}: {(result.error or '').splitlines()[0]}")
    cfg = result.config
    progress.run_done(
        {
            "run_id": result.run_id,
            "status": result.status,
            "activation": cfg["activation"],
            "dataset": cfg["dataset"],
            "depth": cfg["depth"],
            "seed": cfg["seed"],
            "varied": {key: cfg.get(key) for key in labels},
            "test_loss": result.final.get("test_loss"),
            "wall_time_s": result.wall_time_s,
        }
    )


__all__ = [
    "BACKEND_LOG",
    "ENGINES",
    "GROUP_KEYS",
    "DatasetError",
    "SweepError",
    "SweepSummary",
    "Task",
    "cached_dataset",
    "choose_engine",
    "clear_data_cache",
    "describe_plan",
    "execute_task",
    "group_key",
    "make_tasks",
    "plan_runs",
    "refuse_per_seed_tuned",
    "resolve_runs",
    "run_sweep",
    "sweep_id",
    "worker_task",
]
