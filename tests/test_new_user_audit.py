"""A new user's audit: exports that replaced a user's files, a compare gate that compared
nothing, a forgotten sweep file that trained the defaults, the Python API without bundled
sweep names, and smaller things (help text, "0s" estimates, quoted numbers in TOML, a dataset
cache setting that names a file, which compare argument is a file)."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from cli_checks import one_error
from fake_results import make_results
from typer.testing import CliRunner

from actcmp.cli import app
from actcmp.errors import ConfigError, StoreError
from actcmp.store.database import DB_NAME

runner = CliRunner()


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 relu/tanh runs (one diverged), a failed one; no probe accuracy, no anomaly AUROC."""
    return make_results(tmp_path_factory.mktemp("fake") / "results", figures=False)


def listing(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


# ---------------------------------------------------------------- 1. Parquet and CSV exports


@pytest.mark.parametrize(("fmt", "mine"), [("csv", "runs.csv"), ("parquet", "layers.parquet")])
def test_an_export_never_replaces_a_users_file_of_a_frames_name(
    fmt: str, mine: str, results_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "p"
    out.mkdir()
    (out / mine).write_text("my data\n")
    (out / "notes.txt").write_text("mine too\n")
    before = listing(out)
    result = runner.invoke(app, ["export", str(results_dir), "--format", fmt, "--out", str(out)])
    one_error(result, 2, f"export target {out} holds {mine}, which no actcmp export wrote there")
    assert "move it away or choose another --out" in result.output
    assert listing(out) == before  # nothing replaced, nothing written beside them
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p"]  # no lock file left


def test_an_earlier_export_is_replaced_and_a_changed_file_is_not(results_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "e"
    for fmt in ("csv", "parquet", "csv", "parquet"):  # again and again, both formats in one folder
        result = runner.invoke(app, ["export", str(results_dir), "--format", fmt, "--out", str(out)])
        assert result.exit_code == 0, result.output
    manifest = json.loads((out / "actcmp-frames.json").read_text())
    names = {
        f"{frame}.{fmt}"
        for frame in ("runs", "epochs", "layers", "planned", "environments")
        for fmt in ("csv", "parquet")
    }
    assert set(manifest["files"]) == names
    for name, digests in manifest["files"].items():  # one digest each, the file's own
        assert digests == [hashlib.sha256((out / name).read_bytes()).hexdigest()]
    (out / "epochs.csv").write_text("edited by hand\n")
    result = runner.invoke(app, ["export", str(results_dir), "--format", "csv", "--out", str(out)])
    one_error(result, 2, "holds epochs.csv, changed since actcmp exported it")
    assert (out / "epochs.csv").read_text() == "edited by hand\n"
    # a Parquet export there replaces only its own files: the edited CSV file stays out of it
    assert runner.invoke(app, ["export", str(results_dir), "--format", "parquet", "--out", str(out)]).exit_code == 0
    assert (out / "epochs.csv").read_text() == "edited by hand\n"


def test_an_export_from_before_the_record_in_the_default_folder_is_replaced(results_dir: Path, tmp_path: Path) -> None:
    """``DIR/export`` is the results directory's own: the frames an actcmp from before the record
    wrote there (no ``actcmp-frames.json``) are replaced, and recorded from then on; the same files
    in a folder of the user's choosing are refused."""
    import shutil

    copy = tmp_path / "results"
    shutil.copytree(results_dir, copy)
    (copy / "export").mkdir(exist_ok=True)
    (copy / "export" / "runs.csv").write_text("an export from before the record\n")
    result = runner.invoke(app, ["export", str(copy), "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert (copy / "export" / "runs.csv").read_text() != "an export from before the record\n"
    assert "runs.csv" in json.loads((copy / "export" / "actcmp-frames.json").read_text())["files"]
    (copy / "export" / "runs.csv").write_text("edited by hand\n")  # recorded now: a change is refused
    one_error(runner.invoke(app, ["export", str(copy), "--format", "csv"]), 2, "changed since actcmp exported it")
    elsewhere = tmp_path / "mine"
    elsewhere.mkdir()
    (elsewhere / "runs.csv").write_text("an export from before the record\n")
    one_error(
        runner.invoke(app, ["export", str(copy), "--format", "csv", "--out", str(elsewhere)]),
        2,
        "which no actcmp export wrote there",
    )


def test_a_manifest_no_actcmp_export_wrote_is_refused(results_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "e"
    out.mkdir()
    (out / "actcmp-frames.json").write_text("my own notes\n")
    result = runner.invoke(app, ["export", str(results_dir), "--format", "csv", "--out", str(out)])
    one_error(result, 2, "holds an actcmp-frames.json that no actcmp export wrote")
    assert (out / "actcmp-frames.json").read_text() == "my own notes\n"


def test_a_file_is_recorded_before_it_is_replaced(
    results_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed between replacing a file and recording it, an export would leave a file the
    next export refuses as changed: the new digest is recorded first, beside the old one."""
    from actcmp.store import export

    out = tmp_path / "e"
    assert runner.invoke(app, ["export", str(results_dir), "--format", "csv", "--out", str(out)]).exit_code == 0
    old = hashlib.sha256((out / "runs.csv").read_bytes()).hexdigest()
    real = export.write_bytes

    def killed_after_runs(path: Path, data: bytes) -> Path:
        if Path(path).name == "runs.csv":
            recorded = json.loads((out / "actcmp-frames.json").read_text())["files"]["runs.csv"]
            assert recorded == [old, hashlib.sha256(b"changed\n").hexdigest()]
            real(path, b"changed\n")
            raise KeyboardInterrupt  # killed: the manifest keeps both digests
        return real(path, data)

    monkeypatch.setattr(export, "write_bytes", killed_after_runs)
    monkeypatch.setattr(export, "_json_lists", lambda frame: _CsvStub(frame))
    with pytest.raises(KeyboardInterrupt):
        export.export_results(results_dir, "csv", out)
    monkeypatch.undo()
    assert (out / "runs.csv").read_bytes() == b"changed\n"
    result = runner.invoke(app, ["export", str(results_dir), "--format", "csv", "--out", str(out)])
    assert result.exit_code == 0, result.output  # the half-done export's file is known, and replaced
    assert hashlib.sha256((out / "runs.csv").read_bytes()).hexdigest() == old


class _CsvStub:
    """A frame whose CSV text is ``changed``: what the export of a store changed since writes."""

    def __init__(self, frame: object) -> None:
        self.frame = frame

    def to_csv(self, index: bool = False) -> str:
        return "changed\n"


# ---------------------------------------------------------------- 2. compare compares something


def _set_metric(directory: Path, name: str, value: float) -> None:
    conn = sqlite3.connect(directory / DB_NAME)
    ids = [r[0] for r in conn.execute("SELECT run_id FROM runs WHERE status = 'done'")]
    conn.executemany("INSERT OR REPLACE INTO run_metrics VALUES (?, ?, ?)", [(rid, name, value) for rid in ids])
    conn.commit()
    conn.close()


def test_a_metric_no_run_holds_is_refused_not_passed(results_dir: Path) -> None:
    result = runner.invoke(app, ["compare", str(results_dir), str(results_dir), "--metric", "probe_accuracy"])
    line = one_error(result, 2, f"no converged run of NEW ({results_dir}) or BASELINE ({results_dir}) holds")
    assert "probe_accuracy: nothing to compare (results: dead_fraction_final, test_loss)" in line
    assert "same" not in result.output


def test_a_metric_one_side_lacks_is_refused_naming_that_side(results_dir: Path, tmp_path: Path) -> None:
    base = tmp_path / "base"
    shutil.copytree(results_dir, base)
    _set_metric(base, "anomaly_auroc", 0.75)  # a baseline with an anomaly set, NEW without
    result = runner.invoke(app, ["compare", str(results_dir), str(base), "--metric", "anomaly_auroc"])
    one_error(result, 2, f"no converged run of NEW ({results_dir}) holds anomaly_auroc: nothing to compare")
    result = runner.invoke(app, ["compare", str(base), str(results_dir), "--metric", "anomaly_auroc"])
    one_error(result, 2, f"no converged run of BASELINE ({results_dir}) holds anomaly_auroc")
    assert runner.invoke(app, ["compare", str(base), str(base), "--metric", "anomaly_auroc"]).exit_code == 0


def test_never_reaching_the_threshold_is_a_regression_not_a_usage_error(results_dir: Path, tmp_path: Path) -> None:
    base = tmp_path / "base"
    shutil.copytree(results_dir, base)
    _set_metric(base, "epochs_to_threshold", 2.0)  # NEW's runs never reached it
    result = runner.invoke(app, ["compare", str(results_dir), str(base), "--metric", "epochs_to_threshold"])
    assert result.exit_code == 1 and "regressed" in result.output, result.output
    # they converged: the note says what they are (it said "diverged/failed", a review found)
    assert "never reached the threshold" in result.output, result.output
    # neither side reached it: the same result, not a usage error (a review: exit 2 broke such a gate)
    result = runner.invoke(app, ["compare", str(results_dir), str(results_dir), "--metric", "epochs_to_threshold"])
    assert result.exit_code == 0 and "0 regressed" in result.output, result.output


@pytest.mark.parametrize(
    ("metric", "fragment"),
    [
        ("init_gain", "--metric 'init_gain': a config field, not a result (results: dead_fraction_final, test_loss)"),
        ("lr", "--metric 'lr': a config field, not a result"),
        ("n_params", "--metric 'n_params': not a result: the model's size"),
        ("probe_version", "--metric 'probe_version': not a result: bookkeeping"),
        ("diverged_epoch", "--metric 'diverged_epoch': not a result: every comparison judges divergence"),
        ("test_los", "--metric 'test_los': not a stored metric (did you mean 'test_loss'?)"),
    ],
)
def test_only_a_result_is_a_metric(metric: str, fragment: str, results_dir: Path) -> None:
    result = runner.invoke(app, ["compare", str(results_dir), str(results_dir), "--metric", metric])
    one_error(result, 2, fragment)


def test_compare_names_the_argument_that_is_a_file(results_dir: Path, tmp_path: Path) -> None:
    file = tmp_path / "a-file"
    file.write_text("")
    result = runner.invoke(app, ["compare", str(results_dir), str(file)])
    one_error(result, 2, f"BASELINE: results directory {file} is a file")
    result = runner.invoke(app, ["compare", str(file), str(results_dir)])
    one_error(result, 2, f"NEW: results directory {file} is a file")
    from actcmp import compare_results

    with pytest.raises(StoreError, match=r"BASELINE: .*: no results here"):
        compare_results(results_dir, tmp_path / "nothing")


# ---------------------------------------------------------------- 3. run with nothing to vary


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--epochs", "3"], "--epochs 3 fixes a field and varies nothing: give a sweep file"),
        (["--set", "lr=0.01", "--dry-run"], "--set lr=0.01 fixes a field and varies nothing"),
        (["--epochs", "2", "--set", "lr=0.01", "-q"], "--epochs 2 and --set lr=0.01 fix fields and vary nothing"),
    ],
)
def test_fixed_settings_without_a_sweep_print_usage_and_train_nothing(
    args: list[str], fragment: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ACTCMP_OUT", raising=False)
    result = runner.invoke(app, ["run", *args])
    one_error(result, 2, fragment)
    assert "Usage:" in result.output and "nothing was trained" in result.output
    assert list(tmp_path.iterdir()) == []  # no results directory


def test_a_bad_fixed_value_is_still_named_and_an_axis_is_enough(tmp_path: Path) -> None:
    one_error(runner.invoke(app, ["run", "--set", "lr", "--dry-run"]), 2, "KEY=VALUE")
    one_error(runner.invoke(app, ["run", "--epochs", "-1"]), 2, "epochs: Input should be greater")
    result = runner.invoke(app, ["run", "--seeds", "1", "--epochs", "0", "--dry-run", "--out", str(tmp_path / "r")])
    assert result.exit_code == 0 and "1 run" in result.output, result.output


# ---------------------------------------------------------------- 4. the Python API


def test_the_api_reads_bundled_sweeps_by_name_as_the_cli_does() -> None:
    import actcmp
    from actcmp.overrides import resolve_config_path

    assert actcmp.load_sweep("smoke").to_dict() == actcmp.load_sweep(resolve_config_path("smoke")).to_dict()
    assert actcmp.load_sweep("claims/dying").path == resolve_config_path("claims/dying")
    assert actcmp.load_sweep("smoke").to_dict() == actcmp.sweep_from_command_line("smoke").to_dict()
    with pytest.raises(ConfigError, match=r"no sweep file 'smok' \(did you mean 'smoke'\?\)"):
        actcmp.run_sweep("smok")


def test_dir_lists_the_public_api() -> None:
    import actcmp

    names = dir(actcmp)
    assert names == sorted(actcmp.__all__)
    assert {"run_sweep", "load_results", "make_report", "load_sweep", "__version__"} <= set(names)
    assert not {"os", "Any", "annotations"} & set(names)


# ---------------------------------------------------------------- 5. smaller things


def test_export_help_names_every_frame() -> None:
    result = runner.invoke(app, ["export", "--help"], env={"COLUMNS": "200", "TERMINAL_WIDTH": "200"})
    assert result.exit_code == 0
    assert "runs, epochs, layers, planned and environments" in " ".join(result.output.split())


def test_a_small_sweeps_first_estimate_is_not_zero_seconds() -> None:
    from actcmp.progress import PlainProgress

    lines: list[str] = []
    progress = PlainProgress(write=lines.append, clock=lambda: 0.0)
    progress.start(total=2, to_run=2, skipped=0, out_dir="r")
    progress.plan([(["a", "b"], 1e9)], 2, prior_rate=3e-11)
    assert lines[-1] == "1 task on 2 workers: first estimate under 1s (cost model)"


@pytest.mark.parametrize(
    ("toml", "fragment"),
    [
        ('epochs = "2"\n', "epochs: must be a number, got the string '2' (write it without quotes)"),
        ('lr = "0.01"\n', "lr: must be a number, got the string '0.01'"),
        ('[grid]\ndepth = ["1", "2"]\n', "grid.depth: must be a number, got the string '1'"),
        ('[tune]\nlr = ["0.1", 0.01]\nseeds = [100]\n', "tune.lr: must be a number, got the string '0.1'"),
    ],
)
def test_a_quoted_number_in_toml_is_refused(toml: str, fragment: str, tmp_path: Path) -> None:
    path = tmp_path / "q.toml"
    path.write_text(toml)
    result = runner.invoke(app, ["run", str(path), "--dry-run", "--out", str(tmp_path / "r")])
    one_error(result, 2, f"{path}: {fragment}")


def test_a_dataset_cache_setting_that_names_a_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from actcmp.datasets.cache import CACHE_ENV, check_cache_setting

    file = tmp_path / "a-file"
    file.write_text("")
    args = ["run", "smoke", "--dry-run", "--out", str(tmp_path / "r")]
    monkeypatch.setenv(CACHE_ENV, str(file))
    one_error(runner.invoke(app, args), 2, f"ACTCMP_DATASET_CACHE={file} names a file, not a folder")
    monkeypatch.setenv(CACHE_ENV, str(file / "cache"))
    one_error(runner.invoke(app, args), 2, f"ACTCMP_DATASET_CACHE={file / 'cache'}: {file} is a file")
    for fine in (str(tmp_path / "new" / "cache"), "off"):
        monkeypatch.setenv(CACHE_ENV, fine)
        check_cache_setting()
    assert not (tmp_path / "r").exists()


def test_the_api_refuses_a_dataset_cache_setting_that_names_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``run_sweep`` from Python checks the setting as the CLI does (its workers skipped the cache)."""
    import actcmp
    from actcmp.datasets.cache import CACHE_ENV
    from actcmp.errors import DatasetError

    file = tmp_path / "a-file"
    file.write_text("")
    monkeypatch.setenv(CACHE_ENV, str(file))
    with pytest.raises(DatasetError, match="names a file, not a folder"):
        actcmp.run_sweep("smoke", tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_a_quoted_number_is_refused_in_a_config_built_in_python_too() -> None:
    """``RunConfig(epochs="2")`` read the string as 2 (the sweep TOML's check did not reach a
    config built in Python or read from JSON); other text keeps pydantic's own message."""
    from pydantic import ValidationError

    from actcmp.run_config import RunConfig

    with pytest.raises(ValidationError, match="must be a number, got the string '2'"):
        RunConfig(epochs="2")
    with pytest.raises(ValidationError) as caught:
        RunConfig(epochs="two")
    assert "got the string" not in str(caught.value)
    assert RunConfig(epochs=2).epochs == 2
