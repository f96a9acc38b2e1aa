"""The claims documents state their setup (a reviewer: claims.md, claims.html and claims.json
named no software version, no optimizer, since Adam is a default no sweep file writes, no
device or engine, no git commit or dirty flag, no run dates). Each claim sweep's row in the
Setup is read from what its runs stored: the environments (several values where the runs
differ), the git commit and dirty flag of sweep.json, the first and last finished_at, and the
settings the sweep file leaves to defaults as the runs resolved them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from actcmp.engine.plain import RunResult
from actcmp.store.database import Store

LINEAR_TOML = (
    'name = "claim-linear"\ndataset = "breast-cancer"\nactivation = "identity"\noutput_activation = "identity"\n'
    'loss = "mse"\nepochs = 2\nwidth = 8\nbatch_size = 32\nlr = 0.01\nprobe_size = 16\n'
    "[grid]\nbottleneck = [2]\ndepth = [1, 2]\nseed = [0, 1, 2]\n"
)
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _env(cfg: dict[str, Any]) -> dict[str, Any]:
    """depth 2 ran on a later actcmp (a resumed store): the Setup must list both versions."""
    return {
        "actcmp": "0.2.0" if cfg["depth"] == 2 else "0.1.0",
        "torch": "2.13.0+cpu",
        "python": "3.11.7",
        "numpy": "2.4.6",
        "device": "cpu",
        "engine": "batched",
        "cpu_capability": "avx2",
        "platform": "Linux-test",
    }


def _store_linear(sweeps: Path, out: Path, *, dirty: bool = True) -> list[dict[str, Any]]:
    """experiments/claims/linear.toml (tiny) under ``sweeps`` and its runs stored under
    ``out/linear`` without training, with sweep.json's provenance (commit, ``dirty``)."""
    from actcmp.config import load_sweep
    from actcmp.run.plan import plan_runs, sweep_id

    sweeps.mkdir(parents=True, exist_ok=True)
    (sweeps / "linear.toml").write_text(LINEAR_TOML, encoding="utf-8")
    sweep = load_sweep(sweeps / "linear.toml")
    planned = plan_runs(sweep)
    with Store(out / "linear") as store:
        store.save_sweep(sweep_id(sweep), sweep.name, sweep.to_dict(), planned)
        for i, cfg in enumerate(planned):
            final: dict[str, float | None] = {
                "final_train_loss": 0.5,
                "test_loss": 0.5,
                "final_val_loss": 0.5,
                "baseline_loss": 1.0,
            }
            result = RunResult(cfg["run_id"], cfg, "done", final, [(0, "train_loss", 0.6)], [], 0.1, env=_env(cfg))
            store.write_run(result)
            store.conn.execute(  # distinct dates: the first and last must be stated
                "UPDATE runs SET finished_at = ? WHERE run_id = ?", (f"2026-12-0{1 + i}T10:00:00+0000", cfg["run_id"])
            )
        store.conn.commit()
        provenance = {
            "source": str(sweeps / "linear.toml"),
            "sweep_file": str(sweeps / "linear.toml"),
            "git_commit": COMMIT,
            "git_dirty": dirty,
            "recorded_at": "2026-12-01T09:00:00+0000",
        }
        store.write_sweep_file(sweep.to_dict(), planned, provenance)
    return planned


@pytest.fixture
def linear_claims(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Path, list[dict[str, Any]]]:
    from actcmp.claims import runner

    sweeps, out = tmp_path / "sweeps", tmp_path / "out"
    planned = _store_linear(sweeps, out)
    monkeypatch.setattr(runner, "claims_dir", lambda: sweeps)
    run = runner.run_claims(out, only=["linear"], train=False, formats=("png",))
    return run, out, planned


def _section(md: str, title: str) -> str:
    start = md.index(f"## {title}")
    end = md.find("\n## ", start + 1)
    return md[start : end if end >= 0 else len(md)]


def test_claims_md_states_versions_optimizer_commit_and_dates(linear_claims: tuple[Any, Path, Any]) -> None:
    run, out, planned = linear_claims
    md = (out / "claims.md").read_text(encoding="utf-8")
    setup = _section(md, "Setup")
    assert md.index("## Setup") < md.index("## Run time and how to regenerate")
    row = next(line for line in setup.splitlines() if line.startswith("| `linear`"))
    # both versions of the mixed store, each with its runs
    assert "0.1.0 (3 runs)" in row and "0.2.0 (3 runs)" in row, row
    for value in ("2.13.0+cpu", "3.11.7", "2.4.6", "cpu", "batched", "avx2"):
        assert value in row, (value, row)
    assert f"`{COMMIT[:12]}` **(uncommitted changes)**" in row, row
    assert "2026-12-01 10:00:00+0000" in row and f"2026-12-0{len(planned)} 10:00:00+0000" in row, row
    assert "**Mixed runs:**" in setup and "`linear` (actcmp)" in setup
    # the optimizer is a default no sweep file writes: read from the runs' resolved configs
    assert "| `optimizer` | adam |" in setup, setup
    assert "| `momentum` | 0.9 (not used by adam) |" in setup
    assert "| `batch_size`" not in setup  # the sweep file writes it: it is in the claim's Fixed list
    # the claim's Fixed list points at the defaults; the Summary flags the uncommitted changes
    claim = _section(md, "1. Without a nonlinearity, depth adds nothing")
    assert "not written in the sweep file: optimizer = adam" in claim and "[Setup](#setup)" in claim
    summary = _section(md, "Summary")
    assert "**Uncommitted changes:** 1 of 1 claim sweeps (`linear`)" in summary
    assert "Platform (every sweep): Linux-test." in setup
    html = (out / "claims.html").read_text(encoding="utf-8")
    assert 'id="setup"' in html and "<strong>(uncommitted changes)</strong>" in html
    assert run.sweeps[0].setup["runs"] == len(planned)


def test_claims_json_has_each_sweeps_setup(linear_claims: tuple[Any, Path, Any]) -> None:
    _, out, planned = linear_claims
    payload = json.loads((out / "claims.json").read_text(encoding="utf-8"))
    (sweep,) = payload["sweeps"]
    setup = sweep["setup"]
    assert setup["runs"] == len(planned)
    assert setup["environment"]["actcmp"] == ["0.1.0", "0.2.0"]
    assert setup["environment_counts"]["actcmp"] == {"0.1.0": 3, "0.2.0": 3}
    assert setup["environment"]["torch"] == "2.13.0+cpu" and setup["environment"]["numpy"] == "2.4.6"
    assert setup["environment"]["engine"] == "batched" and setup["environment"]["cpu_capability"] == "avx2"
    assert setup["provenance"]["git_commit"] == COMMIT and setup["provenance"]["git_dirty"] is True
    assert setup["provenance"]["when"] == "run time"
    assert setup["dates"] == {"first": "2026-12-01T10:00:00+0000", "last": f"2026-12-0{len(planned)}T10:00:00+0000"}
    assert setup["defaults"]["optimizer"] == "adam" and "batch_size" not in setup["defaults"]
    assert payload["setup"]["defaults_shared"]["optimizer"] == "adam"
    assert payload["setup"]["uncommitted_changes"] == ["linear"]


def test_a_clean_tree_is_not_flagged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from actcmp.claims import runner

    sweeps, out = tmp_path / "sweeps", tmp_path / "out"
    _store_linear(sweeps, out, dirty=False)
    monkeypatch.setattr(runner, "claims_dir", lambda: sweeps)
    runner.run_claims(out, only=["linear"], train=False, formats=("png",))
    md = (out / "claims.md").read_text(encoding="utf-8")
    assert "uncommitted changes" not in md.lower()
    assert f"`{COMMIT[:12]}` |" in _section(md, "Setup")
    assert json.loads((out / "claims.json").read_text(encoding="utf-8"))["setup"]["uncommitted_changes"] == []


def test_sweeps_that_differ_in_a_default_list_each_and_a_sweep_without_runs_is_named() -> None:
    """Built from SweepDocs alone: a default that differs between sweeps lists each sweep's
    value; a sweep whose file writes the field says so; a sweep with nothing stored has a row."""
    from actcmp.claims.document import SweepDoc, build_sections, claims_json, render_markdown

    def setup(defaults: dict[str, Any], torch: Any = "2.13.0+cpu") -> dict[str, Any]:
        env = {"actcmp": "0.1.0", "torch": torch, "python": "3.11.7", "numpy": "not recorded", "device": "cpu"}
        env |= {"engine": "plain", "cpu_capability": "avx512", "platform": "Linux-test"}
        return {
            "runs": 4,
            "environment": env,
            "provenance": {"git_commit": COMMIT, "git_dirty": False, "when": "run time"},
            "dates": {"first": "2026-01-01T00:00:00+0000", "last": "2026-01-02T00:00:00+0000"},
            "defaults": defaults,
        }

    docs = [
        SweepDoc("a", "a.toml", "out/a", {"lr": 0.01}, {}, 4, {"done": 4}, setup=setup({"optimizer": "adam"})),
        SweepDoc("b", "b.toml", "out/b", {}, {}, 4, {"done": 4}, setup=setup({"optimizer": "sgd", "lr": 0.001})),
        SweepDoc("c", "c.toml", "out/c", {}, {}, 4, {"pending": 4}),
    ]
    md = render_markdown(build_sections([], [], None, docs, "actcmp claims"), "t")
    setup_md = _section(md, "Setup")
    assert "| `optimizer` | adam (a); sgd (b) |" in setup_md, setup_md
    assert "| `lr` | 0.001 (b); written in the sweep file: a |" in setup_md, setup_md
    assert "| `c` | none stored |" in setup_md
    assert "not recorded" in setup_md and "avx512" in setup_md  # numpy not recorded: said so
    payload = json.loads(claims_json([], docs))
    assert payload["setup"]["defaults_per_sweep"]["optimizer"] == {"a": "adam", "b": "sgd"}
    assert "setup" not in payload["sweeps"][2]
