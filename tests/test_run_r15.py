"""A user data file edited between two runs into one directory: the new version's runs train
anew (its content fingerprint is part of the run id), and ``run`` and ``--dry-run`` say so in a
note instead of nothing (a new user's audit, 2026-12-08)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from actcmp.cli import app
from actcmp.run.sweep import data_versions_note

runner = CliRunner()


def test_the_note_names_each_dataset_whose_content_changed() -> None:
    planned = [{"dataset": "csv:d.csv", "data_fingerprint": "new"}, {"dataset": "digits"}]
    stored = [
        {"dataset": "csv:d.csv", "data_fingerprint": "old"},
        {"dataset": "csv:d.csv", "data_fingerprint": "new"},
        {"dataset": "csv:other.csv", "data_fingerprint": "x"},  # not planned now: not named
        {"dataset": "digits"},
    ]
    note = data_versions_note(Path("r"), planned, stored)
    assert note is not None and "csv:d.csv: old stored, new now" in note and "other.csv" not in note
    assert data_versions_note(Path("r"), planned, stored[1:]) is None  # the same content: nothing


def test_run_and_dry_run_say_a_data_file_changed(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    rows = np.random.default_rng(0).normal(size=(200, 6))
    np.savetxt("d.csv", rows, delimiter=",", header=",".join(f"c{i}" for i in range(6)), comments="")
    args = ["run", "--activations", "relu", "--datasets", "csv:d.csv", "--set", "bottleneck=2", "--epochs", "1"]
    args += ["--out", "r"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "another version of a data file" not in first.output
    rows[0, 0] += 1.0
    np.savetxt("d.csv", rows, delimiter=",", header=",".join(f"c{i}" for i in range(6)), comments="")
    dry = runner.invoke(app, [*args, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "also holds runs on another version of a data file (csv:d.csv:" in dry.output
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "also holds runs on another version of a data file (csv:d.csv:" in again.output


def test_a_progress_sink_written_to_the_protocol_survives_fresh(tmp_path: Path) -> None:
    """`--fresh` tells its own sinks how many stored runs it trains again (`stored_again`); a
    user's sink whose start() has only the protocol's parameters must not get it (a review
    found it crashed with a TypeError)."""
    from actcmp.config import SweepConfig
    from actcmp.run.sweep import run_sweep

    class Sink:
        def __init__(self) -> None:
            self.started: list[tuple[int, int, int]] = []

        def start(self, total: int, to_run: int, skipped: int, out_dir: str) -> None:
            self.started.append((total, to_run, skipped))

        def run_done(self, record: dict) -> None:
            pass

        def finish(self, summary: dict) -> None:
            pass

    sweep = SweepConfig(
        name="s", fixed={"dataset": "manifold", "epochs": 1, "depth": 1}, grid={"activation": ["relu"], "seed": [0]}
    )
    run_sweep(sweep, tmp_path / "r", progress=Sink())
    sink = Sink()
    run_sweep(sweep, tmp_path / "r", progress=sink, fresh=True)
    assert sink.started == [(1, 1, 0)]
