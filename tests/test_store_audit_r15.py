"""A new-user audit (round 15): ``merge --prefer`` credits the directory whose copy it kept and
lists the set-aside copies as duplicates (and the same merge again is a no-op); ``report --out``
refuses another results directory; ``status`` counts runs of two versions of a data file apart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cli_checks import one_error
from typer.testing import CliRunner

from actcmp.cli import app
from actcmp.core.result import RunResult
from actcmp.store.database import Store, load_results

runner = CliRunner()


def _store(
    directory: Path,
    loss: float,
    engine: str = "batched",
    *,
    statuses: tuple[str, str] = ("done", "done"),
    fingerprints: tuple[str, str] = ("f1", "f1"),
) -> Path:
    """Two runs r1, r2 of one sweep (as the merge and robustness tests build them)."""
    configs = [
        {"run_id": rid, "activation": "relu", "dataset": "digits", "depth": 1, "seed": 0, "data_fingerprint": fp}
        for rid, fp in zip(("r1", "r2"), fingerprints, strict=True)
    ]
    env = {"cpu_capability": "avx2", "torch": "2.13.0", "numpy": "2.3.0", "engine": engine}
    with Store(directory) as store:
        store.save_sweep("sw", "fake", {"grid": {}}, configs)
        for cfg, status in zip(configs, statuses, strict=True):
            final = {"test_loss": loss} if status == "done" else {}
            epochs = [(1, "val_loss", loss)] if status == "done" else []
            error = "boom" if status == "failed" else None
            store.write_run(RunResult(cfg["run_id"], cfg, status, final, epochs, error=error, env=env))
    return directory


def _json(args: list[str], code: int = 0) -> dict[str, Any]:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


def _engines(directory: Path) -> set[str]:
    with Store(directory, create=False) as store:
        return {json.loads(env)["engine"] for (env,) in store.conn.execute("SELECT env_json FROM runs")}


def _files(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


# -- 1. merge --prefer: counts and duplicates follow the copy kept ----------------------------------
def test_prefer_credits_the_directory_whose_copy_was_kept(tmp_path: Path) -> None:
    a = _store(tmp_path / "cmpA", 0.5, "batched")
    c = _store(tmp_path / "cmpC", 0.5000001, "plain")
    out = tmp_path / "m7"
    result = runner.invoke(app, ["merge", str(out), str(a), str(c), "--prefer", str(c)])
    assert result.exit_code == 0, result.output
    assert f"into {out}: 2 runs (0 + 2), 2 duplicates" in result.output, result.output
    assert "identical results" not in result.output  # the copies differed: not identical duplicates
    assert f"kept the copy in {c}" in result.output
    assert _engines(out) == {"plain"}
    assert load_results(out).runs.set_index("run_id").loc["r1", "test_loss"] == 0.5000001


def test_prefer_json_lists_the_set_aside_copies_as_duplicates(tmp_path: Path) -> None:
    a = _store(tmp_path / "cmpA", 0.5, "batched")
    c = _store(tmp_path / "cmpC", 0.5000001, "plain")
    doc = _json(["merge", str(tmp_path / "m"), str(a), str(c), "--prefer", str(c)])
    assert doc["sources"] == [{"path": str(a), "added": 0}, {"path": str(c), "added": 2}]
    assert doc["total_runs"] == 2 and doc["already_in_out"] == 0
    assert sorted(doc["duplicates"], key=lambda d: d["run_id"]) == [
        {"run_id": rid, "kept_from": str(c), "also_in": str(a), "differed": True} for rid in ("r1", "r2")
    ]
    # the earlier directory preferred: credited to it, the later copy set aside
    doc = _json(["merge", str(tmp_path / "m2"), str(a), str(c), "--prefer", str(a)])
    assert [s["added"] for s in doc["sources"]] == [2, 0]
    assert {(d["kept_from"], d["also_in"], d["differed"]) for d in doc["duplicates"]} == {(str(a), str(c), True)}
    assert _engines(tmp_path / "m2") == {"batched"}


def test_identical_copies_stay_identical_duplicates(tmp_path: Path) -> None:
    a = _store(tmp_path / "a", 0.5)
    b = _store(tmp_path / "b", 0.5)
    result = runner.invoke(app, ["merge", str(tmp_path / "m"), str(a), str(b)])
    assert result.exit_code == 0 and "(2 + 0), 2 duplicates" in result.output, result.output
    assert "duplicates: 2 runs stored more than once with identical results" in result.output
    doc = _json(["merge", str(tmp_path / "m2"), str(a), str(b)])
    assert {(d["kept_from"], d["also_in"], d["differed"]) for d in doc["duplicates"]} == {(str(a), str(b), False)}


def test_the_same_merge_with_prefer_again_is_a_no_op(tmp_path: Path) -> None:
    """OUT holds the preferred copies after the first merge; the second met OUT's copy (plain)
    and cmpA's (batched) and refused them, asking for --prefer OUT or cmpA."""
    a = _store(tmp_path / "cmpA", 0.5, "batched")
    c = _store(tmp_path / "cmpC", 0.5000001, "plain")
    out = tmp_path / "m"
    args = ["merge", str(out), str(a), str(c), "--prefer", str(c)]
    assert runner.invoke(app, args).exit_code == 0
    before = _files(out)
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "nothing new" in again.output and "(2 runs;" in again.output
    assert _files(out) == before
    doc = _json(args)
    assert doc["already_in_out"] == 2 and [s["added"] for s in doc["sources"]] == [0, 0]
    differed = {(d["also_in"], d["differed"]) for d in doc["duplicates"]}
    assert differed == {(str(a), True), (str(c), False)}


def test_a_preferred_copy_replacing_outs_is_credited_to_its_directory(tmp_path: Path) -> None:
    a = _store(tmp_path / "cmpA", 0.5, "batched")
    c = _store(tmp_path / "cmpC", 0.5000001, "plain")
    out = tmp_path / "m"
    assert runner.invoke(app, ["merge", str(out), str(a)]).exit_code == 0
    doc = _json(["merge", str(out), str(c), "--prefer", str(c)])
    assert doc["already_in_out"] == 0 and doc["sources"] == [{"path": str(c), "added": 2}]
    assert {(d["kept_from"], d["also_in"], d["differed"]) for d in doc["duplicates"]} == {(str(c), str(out), True)}
    assert _engines(out) == {"plain"}


def test_a_finished_copy_replacing_a_failed_one_is_credited_to_its_directory(tmp_path: Path) -> None:
    a = _store(tmp_path / "a", 0.5, statuses=("failed", "done"))
    b = _store(tmp_path / "b", 0.5, statuses=("done", "done"))
    doc = _json(["merge", str(tmp_path / "m"), str(a), str(b)])
    assert [s["added"] for s in doc["sources"]] == [1, 1] and doc["total_runs"] == 2
    assert doc["replaced_failed"] == [{"run_id": "r1", "failed_in": str(a), "finished_in": str(b)}]


# -- 2. report --out another results directory -----------------------------------------------------
def test_report_out_refuses_another_results_directory(tmp_path: Path) -> None:
    a = _store(tmp_path / "a", 0.5)
    b = _store(tmp_path / "b", 0.7)
    (b / "report.md").write_text("# actcmp report\n\nB's own report\n", encoding="utf-8")
    before = _files(b)
    line = one_error(runner.invoke(app, ["report", str(a), "--out", str(b)]), 2, f"--out {b}")
    assert "actcmp.sqlite" in line
    assert _files(b) == before
    assert not (a / "report.md").exists()


def test_report_out_naming_the_results_directory_itself_is_not_refused(tmp_path: Path) -> None:
    from actcmp.cli.results import _refuse_other_results

    a = _store(tmp_path / "a", 0.5)
    _refuse_other_results(a, a)
    _refuse_other_results(tmp_path / "a" / ".." / "a", a)  # another path to it
    _refuse_other_results(tmp_path / "new", a)  # a new directory
    _refuse_other_results(None, a)


# -- 3. status: two versions of a data file are two cells ------------------------------------------
def test_status_counts_two_data_versions_apart(tmp_path: Path) -> None:
    d = _store(tmp_path / "d", 0.5, fingerprints=("f1", "f2"))  # the same cell, the file edited between runs
    doc = _json(["status", str(d)])
    assert doc["keys"] == ["dataset", "data_fingerprint"]
    assert sorted((c["cell"]["data_fingerprint"], c["done"]) for c in doc["cells"]) == [("f1", 1), ("f2", 1)]
    text = runner.invoke(app, ["status", str(d)])
    assert text.exit_code == 0 and "data_fingerprint" in text.output, text.output


def test_status_keeps_one_cell_for_one_data_version(tmp_path: Path) -> None:
    d = _store(tmp_path / "d", 0.5)
    assert _json(["status", str(d)])["keys"] == ["dataset"]


def test_status_does_not_split_datasets_by_their_own_fingerprints(tmp_path: Path) -> None:
    """Two datasets have two fingerprints: no data file changed, no extra key."""
    configs = [
        {"run_id": f"r{i}", "activation": "relu", "dataset": ds, "depth": 1, "seed": 0, "data_fingerprint": fp}
        for i, (ds, fp) in enumerate((("digits", "f1"), ("manifold", "f2")))
    ]
    with Store(tmp_path / "d") as store:
        store.save_sweep("sw", "fake", {"grid": {}}, configs)
    assert _json(["status", str(tmp_path / "d")], code=1)["keys"] == ["dataset"]  # planned, pending


def test_status_with_a_changed_data_file_matches_the_report_cells(tmp_path: Path) -> None:
    """Trained runs: a sweep on a CSV file, one row edited, run again (1 epoch, tiny)."""
    import numpy as np

    data = tmp_path / "d.csv"
    rows = np.random.default_rng(0).normal(size=(120, 6))
    header = ",".join(f"c{i}" for i in range(6))
    np.savetxt(data, rows, delimiter=",", header=header, comments="")
    out = tmp_path / "r"
    args = ["run", "--activations", "relu", "--datasets", f"csv:{data}", "--seeds", "2", "--epochs", "1"]
    args += ["--depths", "1", "--set", "bottleneck=2", "--engine", "plain", "--quiet", "--out", str(out)]
    assert runner.invoke(app, args).exit_code == 0
    rows[3] = 0.5
    np.savetxt(data, rows, delimiter=",", header=header, comments="")
    assert runner.invoke(app, args).exit_code == 0
    doc = _json(["status", str(out)])
    assert "data_fingerprint" in doc["keys"] and len(doc["cells"]) == 2
    assert all(c["done"] == 2 for c in doc["cells"])
    from actcmp.analysis.cells import cell_keys

    assert "data_fingerprint" in cell_keys(load_results(out).runs)
