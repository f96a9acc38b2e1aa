"""Progress output is deterministic with an injected clock and console."""

from __future__ import annotations

import io

from actcmp.progress import NullProgress, PlainProgress, RichProgress, make_progress

RECORD = {
    "run_id": "x",
    "status": "done",
    "activation": "relu",
    "dataset": "digits",
    "depth": 2,
    "seed": 0,
    "test_loss": 0.012345678,
    "wall_time_s": 1.25,
}
SUMMARY = {
    "ran": 2,
    "done": 1,
    "diverged": 1,
    "failed": 0,
    "skipped": 3,
    "wall_time_s": 75.0,
    "interrupted": False,
    "out_dir": "results/x",
}


def test_plain_lines_with_fake_clock() -> None:
    lines: list[str] = []
    ticks = iter([0.0, 10.0, 20.0])
    progress = PlainProgress(write=lines.append, clock=lambda: next(ticks))
    progress.start(total=5, to_run=2, skipped=3, out_dir="results/x")
    progress.run_done(RECORD)
    progress.run_done({**RECORD, "status": "diverged", "test_loss": None, "activation": "tanh"})
    progress.finish(SUMMARY)
    assert lines == [
        "sweep: 5 runs planned, 3 already stored, 2 to run -> results/x",
        "[1/2] done     relu · digits · depth 2 · seed 0  test_loss=0.012346  1.2s  eta 10s",
        "[2/2] diverged tanh · digits · depth 2 · seed 0  test_loss=-  1.2s  eta 0s",
        "2 runs in 1m15s: 1 done, 1 diverged, 0 failed; 3 skipped (already stored)",
    ]


def test_interrupted_summary_says_how_to_resume() -> None:
    lines: list[str] = []
    PlainProgress(write=lines.append, clock=lambda: 0.0).finish({**SUMMARY, "interrupted": True})
    assert "run the same command again to resume" in lines[-1]


def test_rich_progress_renders_to_injected_console() -> None:
    from rich.console import Console

    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=False, width=100)
    progress = RichProgress(console)
    progress.start(total=2, to_run=2, skipped=0, out_dir="results/x")
    progress.run_done(RECORD)
    progress.finish(SUMMARY)
    text = buffer.getvalue()
    assert "2 runs planned" in text and "1 diverged" in text


def test_make_progress_plain_under_ci(monkeypatch) -> None:
    monkeypatch.setenv("CI", "true")
    assert isinstance(make_progress(), PlainProgress)
    assert isinstance(make_progress(quiet=True), NullProgress)
