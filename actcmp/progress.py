"""Progress output: the only module that imports rich.

The sweep reports through three calls (``start``, ``run_done``, ``finish``); this module
turns them into a rich progress bar on a terminal, or plain one-line-per-run logs when
output is not a terminal or ``CI`` is set. The console and the clock are injectable so
that tests get deterministic output.
"""

from __future__ import annotations

import bisect
import os
import sys
import time
from collections.abc import Callable, Collection
from typing import Any, Protocol

from actcmp.text import plural, terminal_safe


class ProgressSink(Protocol):
    # a --fresh sweep also passes stored_again=N (the runs already stored that it trains again),
    # only to a start() that takes it: a sink without the parameter keeps working
    def start(self, total: int, to_run: int, skipped: int, out_dir: str) -> None: ...
    def run_done(self, record: dict[str, Any]) -> None: ...
    def finish(self, summary: dict[str, Any]) -> None: ...


def start_line(total: int, to_run: int, skipped: int, out_dir: str, stored_again: int = 0) -> str:
    """``sweep: 72 runs planned, 0 already stored, 72 to run -> DIR``. Under ``--fresh``
    (``stored_again``: the planned runs already stored, which it trains again) the stored
    count is the store's, as the dry run's ``already stored: 72 of 72 (--fresh trains them
    again)``: ``72 already stored (--fresh: trained again)``."""
    stored = f"{stored_again} already stored (--fresh: trained again)" if stored_again else f"{skipped} already stored"
    return f"sweep: {plural(total, 'run')} planned, {stored}, {to_run} to run -> {out_dir}"


def _fmt_seconds(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _fmt_estimate(seconds: float) -> str:
    """An estimate before anything ran: as :func:`_fmt_seconds`, but ``under 1s`` where that
    would say ``0s`` (a small sweep's estimate is not nothing)."""
    return "under 1s" if round(seconds) < 1 else _fmt_seconds(seconds)


def _fmt_duration(seconds: float) -> str:
    """A measured time: tenths under 10 s (a small sweep's "0s" said nothing), else as
    :func:`_fmt_seconds`."""
    return f"{max(0.0, seconds):.1f}s" if seconds < 9.95 else _fmt_seconds(seconds)


def describe(record: dict[str, Any]) -> str:
    """``relu · digits · depth 4 · seed 1``, plus the record's ``varied`` fields (``lr=0.01``:
    what tells apart runs of the same activation, dataset, depth and seed)."""
    parts = [str(record.get("activation")), str(record.get("dataset")), f"depth {record.get('depth')}"]
    parts.append(f"seed {record.get('seed')}")
    parts += [f"{key}={value}" for key, value in (record.get("varied") or {}).items()]
    return terminal_safe(" · ".join(parts))  # names come from users: no escape sequences


#: the fields every progress line names
NAMED = ("activation", "dataset", "depth", "seed")


def varied_fields(configs: list[dict[str, Any]], skip: Collection[str] = ()) -> list[str]:
    """The config fields (less ``skip``) whose values differ among runs of the same
    activation, dataset, depth and seed: what a progress line must add to tell them apart
    (``lr`` on an lr grid or under ``[tune]``; not ``init``, which follows the activation)."""
    seen: dict[tuple[Any, ...], dict[str, str]] = {}
    varied: dict[str, None] = {}
    for cfg in configs:
        first = seen.setdefault(tuple(cfg.get(k) for k in NAMED), {})
        for key, value in cfg.items():
            if key in NAMED or key in skip or key in varied:
                continue
            text = repr(value)
            if first.setdefault(key, text) != text:
                varied[key] = None
    return list(varied)


class NullProgress:
    """Prints nothing (``--quiet``)."""

    def start(self, total: int, to_run: int, skipped: int, out_dir: str, stored_again: int = 0) -> None:
        pass

    def run_done(self, record: dict[str, Any]) -> None:
        pass

    def finish(self, summary: dict[str, Any]) -> None:
        pass


class Eta:
    """Time left, from the wall clock: elapsed / runs finished x runs left.

    Results can come in bursts (the batched engine returns a group of runs at once; a
    worker returns a task's runs together), so the estimate is taken at the latest result
    that arrived at least ``gap`` seconds ago (``gap``: 1 s, or 5% of the time so far),
    never from a burst still arriving: the first result of a burst of 24 says nothing
    about how long the other 23 took. Until such a result exists there is no estimate.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.started = 0.0
        self.to_run = 0
        self.arrivals: list[float] = []

    def start(self, to_run: int, now: float | None = None) -> None:
        self.started = self.clock() if now is None else now
        self.to_run = to_run
        self.arrivals = []

    def add(self, now: float | None = None) -> None:
        """One result arrived (at ``now``)."""
        self.arrivals.append(self.clock() if now is None else now)

    @property
    def done(self) -> int:
        return len(self.arrivals)

    def remaining(self, now: float | None = None) -> float | None:
        """Seconds left, or None while there is nothing to estimate from."""
        if self.done >= self.to_run:
            return 0.0
        now = self.clock() if now is None else now
        gap = max(1.0, 0.05 * (now - self.started))
        settled = bisect.bisect_right(self.arrivals, now - gap)  # results that arrived before now - gap
        if settled == 0:
            return None
        at = self.arrivals[settled - 1]
        finish = self.started + (at - self.started) / settled * self.to_run
        return max(0.0, finish - now)


class CostEta:
    """Time left from a cost model of the tasks (:mod:`actcmp.cost`), shown from the start.

    :meth:`plan` gives each task's runs and work units; before any task has finished, the
    prior rate (seconds per unit) turns them into seconds; from then on the rate is the
    finished tasks' measured seconds (their runs' ``wall_time_s`` summed: a batched group's
    runs share its time) over their units, so the estimate is recomputed each time a task
    finishes: units left x rate / the workers that can still be busy, counting down in
    between. When the countdown outlives the model (no task finished although the first
    running one should have, at the current rate: the machine is slower than the rate
    says), the estimate is stretched by the factor that task is late by, plus as long
    again as it is late, instead of counting down to zero and staying there. Without a
    plan, the wall-clock :class:`Eta` answers.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.fallback = Eta(clock)
        self.task_of: dict[str, int] = {}
        self.units: list[float] = []
        self.runs_left: list[int] = []
        self.seconds: list[float] = []
        self.workers = 1
        self.rate = 0.0
        self.calibrated = False
        self.anchor: tuple[float, float] | None = None  # (when, seconds left then)
        #: seconds from the anchor by which the first of the running tasks should finish
        self.next_finish = 0.0

    @property
    def done(self) -> int:
        return self.fallback.done

    @property
    def to_run(self) -> int:
        return self.fallback.to_run

    def start(self, to_run: int, now: float | None = None) -> None:
        self.fallback.start(to_run, now)
        self.task_of, self.units, self.runs_left, self.seconds = {}, [], [], []
        self.anchor, self.calibrated = None, False

    def plan(
        self, tasks: list[tuple[list[str], float]], workers: int, prior_rate: float, now: float | None = None
    ) -> float:
        """Tasks as (run ids, work units); returns the first estimate (seconds)."""
        self.task_of = {rid: index for index, (rids, _) in enumerate(tasks) for rid in rids}
        self.units = [float(units) for _, units in tasks]
        self.runs_left = [len(rids) for rids, _ in tasks]
        self.seconds = [0.0] * len(tasks)
        self.workers, self.rate, self.calibrated = max(1, workers), prior_rate, False
        return self._update(self.clock() if now is None else now)

    def add(self, record: dict[str, Any] | None = None, now: float | None = None) -> None:
        """One result arrived (at ``now``)."""
        now = self.clock() if now is None else now
        self.fallback.add(now)
        index = self.task_of.get(str((record or {}).get("run_id")))
        if index is None or self.runs_left[index] == 0:
            return
        self.seconds[index] += float((record or {}).get("wall_time_s") or 0.0)
        self.runs_left[index] -= 1
        if self.runs_left[index] == 0:
            self._update(now)

    def _update(self, now: float) -> float:
        finished = [i for i, left in enumerate(self.runs_left) if left == 0]
        units = sum(self.units[i] for i in finished)
        seconds = sum(self.seconds[i] for i in finished)
        if units > 0 and seconds > 0:
            self.rate, self.calibrated = seconds / units, True
        open_tasks = [i for i, left in enumerate(self.runs_left) if left > 0]
        busy = min(self.workers, len(open_tasks)) or 1
        # shared out between the workers, but never less than the largest task alone
        left = max(sum(self.units[i] for i in open_tasks) / busy, max((self.units[i] for i in open_tasks), default=0.0))
        left *= self.rate
        self.anchor = (now, left)
        # tasks start in plan order: the first `busy` open ones are running (or about to);
        # a task the cost model could not cost (0 units) says nothing about the rate
        running = [self.units[i] * self.rate for i in open_tasks[:busy] if self.units[i] > 0]
        self.next_finish = min(running, default=0.0)
        return left

    def remaining(self, now: float | None = None) -> float | None:
        """Seconds left, or None while there is nothing to estimate from."""
        if self.anchor is None:
            return self.fallback.remaining(now)
        if self.done >= self.to_run:
            return 0.0
        now = self.clock() if now is None else now
        when, left = self.anchor
        waited = now - when
        if self.next_finish > 0 and waited > self.next_finish:  # late: the rate is too low
            # the work left at the rate it really runs (at least waited / expected times the
            # model's), less the time waited; plus, for the running task itself, as long again
            # as it is late (never "eta 0s" while the last task runs late)
            late = waited - self.next_finish
            return max(0.0, left * waited / self.next_finish - waited) + late
        return max(0.0, left - waited)


def format_eta(seconds: float | None) -> str:
    """``eta 1m35s``, or ``""`` when there is no estimate yet."""
    return "" if seconds is None else f"eta {_fmt_seconds(seconds)}"


class PlainProgress:
    """One line per finished run, for logs and CI."""

    def __init__(self, write: Callable[[str], Any] | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.write = write or (lambda line: print(line, file=sys.stderr, flush=True))
        self.clock = clock
        self.eta = CostEta(clock)
        self.run_seconds = 0.0

    @property
    def done(self) -> int:
        return self.eta.done

    def start(self, total: int, to_run: int, skipped: int, out_dir: str, stored_again: int = 0) -> None:
        self.eta.start(to_run, self.clock())
        self.write(terminal_safe(start_line(total, to_run, skipped, out_dir, stored_again)))

    def plan(self, tasks: list[tuple[list[str], float]], workers: int, prior_rate: float) -> None:
        """The tasks' run ids and work units (:mod:`actcmp.cost`), for the ETA."""
        left = self.eta.plan(tasks, workers, prior_rate, self.clock())
        if tasks:
            self.write(
                f"{plural(len(tasks), 'task')} on {plural(workers, 'worker')}: first estimate {_fmt_estimate(left)} "
                "(cost model)"
            )

    def run_done(self, record: dict[str, Any]) -> None:
        now = self.clock()
        self.eta.add(record, now)
        self.run_seconds += float(record.get("wall_time_s") or 0.0)
        eta = format_eta(self.eta.remaining(now))
        to_run = self.eta.to_run
        width = len(str(to_run))
        loss = record.get("test_loss")
        loss_text = f"test_loss={loss:.5g}" if isinstance(loss, float) else "test_loss=-"
        self.write(
            f"[{self.done:>{width}}/{to_run}] {record['status']:<8} {describe(record)}  {loss_text}"
            f"  {record.get('wall_time_s', 0.0):.1f}s" + (f"  {eta}" if eta else "")
        )

    def finish(self, summary: dict[str, Any]) -> None:
        self.write(summary_line(summary, self.run_seconds))

    def message(self, lines: list[str]) -> None:
        """Lines between phases (a tuned sweep's selections)."""
        for line in lines:
            self.write(terminal_safe(line))


def resume_hint(fresh: bool) -> str:
    """How to go on after an interruption. After ``--fresh`` the runs it had not redone yet
    still hold their earlier results (nothing is deleted before a run is stored again): a
    run without ``--fresh`` would keep them, so only the same command finishes the job."""
    if fresh:
        return (
            "run the same command again to finish (it redoes every run; without --fresh, the runs not "
            "redone yet would keep their earlier results)"
        )
    return "run the same command again to resume"


def summary_line(summary: dict[str, Any], run_seconds: float | None = None) -> str:
    """The sweep's last line: ``wall time`` is the sweep's own (start to end);
    ``sum of run times`` adds up each run's time (the runs of a batched group share its
    time; parallel workers overlap), so it may exceed the wall time."""
    summed = f", sum of run times {_fmt_duration(run_seconds)}" if run_seconds is not None else ""
    text = (
        f"{plural(summary['ran'] + summary.get('lost_runs', 0), 'run')} in {_fmt_duration(summary['wall_time_s'])} wall time"
        f"{summed}: {summary['done']} done, {summary['diverged']} diverged, {summary['failed']} failed"
    )
    if summary.get("lost_runs"):  # the same runs in one count: ran = done + diverged + failed + pending
        text += f", {summary['lost_runs']} pending (lost with a Ray worker or node: run again to redo them)"
    text += f"; {summary['skipped']} skipped (already stored)"
    if summary.get("interrupted"):  # the one message about it (the CLI adds none unless --quiet)
        left = summary.get("planned", 0) - summary.get("skipped", 0) - summary["done"] - summary["diverged"]
        what = (
            "tuning runs left, then the selection and the evaluation runs," if summary.get("stopped_tuning") else "left"
        )
        text += (
            f"\ninterrupted: {summary['ran']} runs stored now, {left} {what} in {summary['out_dir']}; "
            f"{resume_hint(bool(summary.get('fresh')))}"
        )
    return text


class RichProgress:
    """A live progress bar: runs done / total, elapsed, ETA, the cell just finished."""

    def __init__(self, console: Any = None, clock: Callable[[], float] = time.monotonic) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
        from rich.text import Text

        eta = self.eta = CostEta(clock)
        self.run_seconds = 0.0

        class EtaColumn(ProgressColumn):
            """rich's own estimate follows the recent rate, which a burst of results
            (one batched group) throws far off; this one is :class:`CostEta`'s."""

            def render(self, task: Any) -> Text:
                return Text(format_eta(eta.remaining()), style="progress.remaining")

        self.console = console or Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            EtaColumn(),
            console=self.console,
            transient=False,
        )
        self.task: Any = None
        self.counts = {"done": 0, "diverged": 0, "failed": 0}

    def start(self, total: int, to_run: int, skipped: int, out_dir: str, stored_again: int = 0) -> None:
        self.console.print(start_line(total, to_run, skipped, out_dir, stored_again))
        self.eta.start(to_run)
        self.progress.start()
        self.task = self.progress.add_task("starting", total=to_run)

    def plan(self, tasks: list[tuple[list[str], float]], workers: int, prior_rate: float) -> None:
        """The tasks' run ids and work units (:mod:`actcmp.cost`), for the ETA."""
        self.eta.plan(tasks, workers, prior_rate)

    def run_done(self, record: dict[str, Any]) -> None:
        self.eta.add(record)
        self.run_seconds += float(record.get("wall_time_s") or 0.0)
        self.counts[record["status"]] = self.counts.get(record["status"], 0) + 1
        from rich.markup import escape

        extra = "" if record["status"] == "done" else f" [{record['status']}]"
        # escaped: "[diverged]" (or a file name with brackets) is text, not a rich style tag
        self.progress.update(self.task, advance=1, description=escape(describe(record) + extra))

    def finish(self, summary: dict[str, Any]) -> None:
        self.progress.stop()
        self.console.print(summary_line(summary, self.run_seconds))

    def message(self, lines: list[str]) -> None:
        """Lines between phases (a tuned sweep's selections), above the bar."""
        from rich.markup import escape

        for line in lines:
            self.progress.console.print(escape(terminal_safe(line)))


def make_progress(quiet: bool = False, console: Any = None) -> ProgressSink:
    """Rich on an interactive terminal (and not under CI), plain lines otherwise."""
    if quiet:
        return NullProgress()
    if os.environ.get("CI") or not sys.stderr.isatty() or os.environ.get("TERM") == "dumb":
        return PlainProgress()
    return RichProgress(console)
