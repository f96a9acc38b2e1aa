"""The default sweep's groups train in the batched engine: no group falls back to training
its runs alone (which would show only as slowness) and no run is sent to the plain engine."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path

import pytest

from actcmp.config import apply_overrides, load_sweep
from actcmp.overrides import resolve_config_path
from actcmp.run.sweep import run_sweep


@pytest.mark.slow
def test_the_default_sweeps_groups_train_batched_without_a_fallback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sweep = load_sweep(resolve_config_path("default"))
    # every group of the default sweep (each dataset x depth with all its activations),
    # one seed and one epoch: the shapes the engine must stack, at a tenth of the cost
    sweep = apply_overrides(sweep, fixed={"epochs": 1, "seed": 0})
    with caplog.at_level(logging.WARNING, logger="actcmp"):
        summary = run_sweep(sweep, tmp_path, engine="auto")
    assert summary.failed == 0
    assert not [r.getMessage() for r in caplog.records if "alone" in r.getMessage() or "plain engine" in r.getMessage()]
    with sqlite3.connect(tmp_path / "actcmp.sqlite") as conn:
        envs = [json.loads(text) for (text,) in conn.execute("SELECT env_json FROM runs")]
    assert len(envs) == summary.planned == 8 * 3 * 4  # activations x datasets x depths
    assert {env.get("engine") for env in envs} == {"batched"}
    assert not [env["engine_fallback"] for env in envs if "engine_fallback" in env]
