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
from collections.abc import Callable
from typing import Any, Protocol

from actcmp.text import terminal_safe


class ProgressSink(Protocol):
    def start(self, total: int, to_run: int, skipped: int, out_dir: str) -> None: ...
    def run_done(self, record: dict[str, Any]) -> None: ...
    def finish(self, summary: dict[str, Any]) -> None: ...


def _fmt_seconds(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def describe(record: dict[str, Any]) -> str:
    """``relu · digits · depth 4 · seed 1`` (plus other varied fields if given)."""
    parts = [str(record.get("activation")), str(record.get("dataset")), f"depth {record.get('depth')}"]
    parts.append(f"seed {record.get('seed')}")
    return terminal_safe(" · ".join(parts))  # names come from users: no escape sequences


class NullProgress:
    """Prints nothing (``--quiet``)."""

    def start(self, total: int, to_run: int, skipped: int, out_dir: str) -> None:
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


def format_eta(seconds: float | None) -> str:
    """``eta 1m35s``, or ``""`` when there is no estimate yet."""
    return "" if seconds is None else f"eta {_fmt_seconds(seconds)}"


class PlainProgress:
    """One line per finished run, for logs and CI."""

    def __init__(self, write: Callable[[str], Any] | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.write = write or (lambda line: print(line, file=sys.stderr, flush=True))
        self.clock = clock
        self.eta = Eta(clock)

    @property
    def done(self) -> int:
        return self.eta.done

    def start(self, total: int, to_run: int, skipped: int, out_dir: str) -> None:
        self.eta.start(to_run, self.clock())
        self.write(
            terminal_safe(f"sweep: {total} runs planned, {skipped} already stored, {to_run} to run -> {out_dir}")
        )

    def run_done(self, record: dict[str, Any]) -> None:
        now = self.clock()
        self.eta.add(now)
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
        self.write(summary_line(summary))


def summary_line(summary: dict[str, Any]) -> str:
    text = (
        f"{summary['ran']} runs in {_fmt_seconds(summary['wall_time_s'])}: {summary['done']} done, "
        f"{summary['diverged']} diverged, {summary['failed']} failed; {summary['skipped']} skipped (already stored)"
    )
    if summary.get("interrupted"):  # the one message about it (the CLI adds none unless --quiet)
        left = summary.get("planned", 0) - summary.get("skipped", 0) - summary["done"] - summary["diverged"]
        text += (
            f"\ninterrupted: {summary['ran']} runs stored now, {left} left in {summary['out_dir']}; "
            "run the same command again to resume"
        )
    return text


class RichProgress:
    """A live progress bar: runs done / total, elapsed, ETA, the cell just finished."""

    def __init__(self, console: Any = None, clock: Callable[[], float] = time.monotonic) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn, TimeElapsedColumn
        from rich.text import Text

        eta = self.eta = Eta(clock)

        class EtaColumn(ProgressColumn):
            """rich's own estimate follows the recent rate, which a burst of results
            (one batched group) throws far off; this one is :class:`Eta`'s."""

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

    def start(self, total: int, to_run: int, skipped: int, out_dir: str) -> None:
        self.console.print(f"sweep: {total} runs planned, {skipped} already stored, {to_run} to run -> {out_dir}")
        self.eta.start(to_run)
        self.progress.start()
        self.task = self.progress.add_task("starting", total=to_run)

    def run_done(self, record: dict[str, Any]) -> None:
        self.eta.add()
        self.counts[record["status"]] = self.counts.get(record["status"], 0) + 1
        from rich.markup import escape

        extra = "" if record["status"] == "done" else f" [{record['status']}]"
        # escaped: "[diverged]" (or a file name with brackets) is text, not a rich style tag
        self.progress.update(self.task, advance=1, description=escape(describe(record) + extra))

    def finish(self, summary: dict[str, Any]) -> None:
        self.progress.stop()
        self.console.print(summary_line(summary))


def make_progress(quiet: bool = False, console: Any = None) -> ProgressSink:
    """Rich on an interactive terminal (and not under CI), plain lines otherwise."""
    if quiet:
        return NullProgress()
    if os.environ.get("CI") or not sys.stderr.isatty() or os.environ.get("TERM") == "dumb":
        return PlainProgress()
    return RichProgress(console)
