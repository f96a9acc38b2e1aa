"""Progress output: the only module that imports rich.

The sweep reports through three calls (``start``, ``run_done``, ``finish``); this module
turns them into a rich progress bar on a terminal, or plain one-line-per-run logs when
output is not a terminal or ``CI`` is set. The console and the clock are injectable so
that tests get deterministic output.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any, Protocol


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
    return " · ".join(parts)


class NullProgress:
    """Prints nothing (``--quiet``)."""

    def start(self, total: int, to_run: int, skipped: int, out_dir: str) -> None:
        pass

    def run_done(self, record: dict[str, Any]) -> None:
        pass

    def finish(self, summary: dict[str, Any]) -> None:
        pass


class PlainProgress:
    """One line per finished run, for logs and CI."""

    def __init__(self, write: Callable[[str], Any] | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.write = write or (lambda line: print(line, file=sys.stderr, flush=True))
        self.clock = clock
        self.done = 0
        self.to_run = 0
        self.started = 0.0

    def start(self, total: int, to_run: int, skipped: int, out_dir: str) -> None:
        self.to_run, self.done, self.started = to_run, 0, self.clock()
        self.write(f"sweep: {total} runs planned, {skipped} already stored, {to_run} to run -> {out_dir}")

    def run_done(self, record: dict[str, Any]) -> None:
        self.done += 1
        elapsed = self.clock() - self.started
        eta = elapsed / self.done * (self.to_run - self.done) if self.done else 0.0
        width = len(str(self.to_run))
        loss = record.get("test_loss")
        loss_text = f"test_loss={loss:.5g}" if isinstance(loss, float) else "test_loss=-"
        self.write(
            f"[{self.done:>{width}}/{self.to_run}] {record['status']:<8} {describe(record)}  {loss_text}"
            f"  {record.get('wall_time_s', 0.0):.1f}s  eta {_fmt_seconds(eta)}"
        )

    def finish(self, summary: dict[str, Any]) -> None:
        self.write(summary_line(summary))


def summary_line(summary: dict[str, Any]) -> str:
    text = (
        f"{summary['ran']} runs in {_fmt_seconds(summary['wall_time_s'])}: {summary['done']} done, "
        f"{summary['diverged']} diverged, {summary['failed']} failed; {summary['skipped']} skipped (already stored)"
    )
    if summary.get("interrupted"):
        text += f"\ninterrupted: finished runs are stored; run the same command again to resume ({summary['out_dir']})"
    return text


class RichProgress:
    """A live progress bar: runs done / total, elapsed, ETA, the cell just finished."""

    def __init__(self, console: Any = None) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = console or Console(stderr=True)
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self.task: Any = None
        self.counts = {"done": 0, "diverged": 0, "failed": 0}

    def start(self, total: int, to_run: int, skipped: int, out_dir: str) -> None:
        self.console.print(f"sweep: {total} runs planned, {skipped} already stored, {to_run} to run -> {out_dir}")
        self.progress.start()
        self.task = self.progress.add_task("starting", total=to_run)

    def run_done(self, record: dict[str, Any]) -> None:
        self.counts[record["status"]] = self.counts.get(record["status"], 0) + 1
        extra = "" if record["status"] == "done" else f" [{record['status']}]"
        self.progress.update(self.task, advance=1, description=describe(record) + extra)

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
