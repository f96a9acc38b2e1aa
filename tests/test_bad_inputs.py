"""A catalogue of malformed inputs, each through the CLI.

Every case must give exit code 2, exactly one ``actcmp: error:`` line that names what is
wrong and where, no traceback, and leave every file in the workspace (results stores
included) byte for byte and mtime for mtime as it was. A handful run again as real
subprocesses.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from actcmp.cli import app
from actcmp.engine.plain import RunResult
from actcmp.store.database import DB_NAME, Store

REPO = Path(__file__).resolve().parent.parent
runner = CliRunner()


def fake(rid: str, loss: float = 0.5) -> RunResult:
    cfg = {"run_id": rid, "activation": "relu", "dataset": "digits", "depth": 1, "seed": 0, "lr": 0.001}
    return RunResult(
        run_id=rid,
        config=cfg,
        status="done",
        final={"test_loss": loss},
        epochs=[(0, "val_loss", 1.0), (1, "val_loss", loss)],
        layers=[(1, 0, "dead_fraction", 0.0)],
    )


def make_store(directory: Path, shard: tuple[int, int] | None = None, loss: float = 0.5) -> Path:
    with Store(directory) as store:
        store.save_sweep("sw", "fake", {"grid": {}}, [fake("r1").config, fake("r2").config])
        if shard:
            store.mark_shard("sw", shard)
        store.write_run(fake("r1", loss))
        store.write_run(fake("r2"))
    return directory


def write_idx(path: Path, dims: tuple[int, ...], code: int = 0x08, cut: int = 0) -> None:
    header = bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)
    data = bytes(int(np.prod(dims)))
    path.write_bytes((header + data)[: len(header) + len(data) - cut])


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A workspace of good stores, damaged stores and malformed data files."""
    root = tmp_path_factory.mktemp("bad")
    paths: dict[str, Path] = {"root": root}
    paths["store"] = make_store(root / "store")
    paths["shard1"] = make_store(root / "shard1", shard=(1, 2))
    paths["shard1copy"] = root / "shard1copy"
    shutil.copytree(paths["shard1"], paths["shard1copy"])
    paths["conflict"] = make_store(root / "conflict", loss=0.75)
    paths["out"] = make_store(root / "out")  # an existing merge output that must stay as it is
    paths["file"] = root / "a-file.txt"
    paths["file"].write_text("not a directory\n")
    paths["nothing"] = root / "no-results"
    paths["nothing"].mkdir()
    paths["mine"] = root / "my-project"  # a user's folder: files named as actcmp's, no store
    paths["mine"].mkdir()
    (paths["mine"] / "report.md").write_text("MY NOTES\n")
    (paths["mine"] / "sweep.json").write_text('{"mine": 1}\n')

    def damaged(name: str, content: bytes | None = None) -> Path:
        directory = root / name
        directory.mkdir()
        if content is not None:
            (directory / DB_NAME).write_bytes(content)
        return directory

    paths["corrupt"] = damaged("corrupt", b"this is not a database, " * 200)
    paths["empty_db"] = damaged("empty-db", b"")
    paths["foreign"] = damaged("foreign")
    conn = sqlite3.connect(paths["foreign"] / DB_NAME)
    conn.execute("CREATE TABLE recipes (name TEXT)")
    conn.commit()
    conn.close()
    paths["truncated_db"] = damaged("truncated-db")
    good = (paths["store"] / DB_NAME).read_bytes()
    (paths["truncated_db"] / DB_NAME).write_bytes(good[: len(good) // 3])
    paths["bad_pages"] = root / "bad-pages"  # a sound header and schema, damaged data pages
    with Store(paths["bad_pages"]) as store:
        for i in range(60):
            result = fake(f"run{i:03d}")
            result.layers = [(e, layer, "dead_fraction", 0.1) for e in range(5) for layer in range(10)]
            store.write_run(result)
    conn = sqlite3.connect(paths["bad_pages"] / DB_NAME)
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.close()
    pages = bytearray((paths["bad_pages"] / DB_NAME).read_bytes())
    for offset in range(4096 * 12, len(pages) - 4096, 4096):
        pages[offset : offset + 200] = b"\xff" * 200
    (paths["bad_pages"] / DB_NAME).write_bytes(bytes(pages))
    paths["db_dir"] = damaged("db-is-dir")
    (paths["db_dir"] / DB_NAME).mkdir()
    for name, key, value in (("newer", "schema_version", "99"), ("old_results", "results_version", "0")):
        paths[name] = root / name
        shutil.copytree(paths["store"], paths[name])
        conn = sqlite3.connect(paths[name] / DB_NAME)
        conn.execute("UPDATE meta SET value = ? WHERE key = ?", (value, key))
        conn.commit()
        conn.close()

    data = root / "data"
    data.mkdir()
    rows = "\n".join(f"{i},{i * 2},{i % 3}" for i in range(40))
    files = {
        "empty.csv": "",
        "header_only.csv": "a,b,c\n",
        "text.csv": "a,b\n" + "\n".join(f"{i},x{i}" for i in range(40)) + "\n",
        "nan.csv": "a,b\n" + "\n".join(f"{i},nan" for i in range(40)) + "\n",
        "few.csv": "a,b\n1,2\n3,4\n",
        "good.csv": "a,b,c\n" + rows + "\n",
        "not.npy": "hello\n",
        "not.parquet": "hello\n",
    }
    for name, text in files.items():
        (data / name).write_text(text)
    np.save(data / "cube.npy", np.zeros((4, 4, 4)))
    for name, cut, code in (("idx_truncated", 100, 0x08), ("idx_magic", 0, 0x42)):
        folder = data / name / "mnist"
        folder.mkdir(parents=True)
        write_idx(folder / "train-images-idx3-ubyte", (10, 28, 28), code=code, cut=cut)
        write_idx(folder / "train-labels-idx1-ubyte", (10,))
        write_idx(folder / "t10k-images-idx3-ubyte", (5, 28, 28))
        write_idx(folder / "t10k-labels-idx1-ubyte", (5,))
    (data / "idx_missing").mkdir()
    paths["data"] = data

    toml = root / "toml"
    toml.mkdir()
    paths["toml"] = toml
    (toml / "latin1.toml").write_bytes(b'name = "caf\xe9"\n')
    (root / "no_such_mod_actcmp.py").write_text("")  # on purpose not on sys.path
    return {k: str(v) for k, v in paths.items()}


def toml_case(name: str, text: str, fragment: str) -> pytest.param:
    return pytest.param(
        ("toml", name, text), ["run", "{toml}/" + name + ".toml", "--out", "{store}"], fragment, id=f"toml-{name}"
    )


def case(case_id: str, args: list[str], fragment: str) -> pytest.param:
    return pytest.param(None, args, fragment, id=case_id)


RUN = ["run", "--out", "{store}", "--epochs", "0"]
#: a sweep of one run given by options (something to vary: --epochs alone is refused), into a given --out
RUN_INTO = [*RUN, "--seeds", "1"]
NEW = ["run", "smoke", "--out", "{root}/new-out", "--epochs", "0"]

CASES = [
    # ---- sweep files: syntax, keys, types, values, cross-field rules
    toml_case("unclosed-table", "[grid\nactivation = ['relu']\n", "invalid TOML"),
    toml_case("missing-value", "epochs =\n", "invalid TOML"),
    toml_case("duplicate-key", "epochs = 1\nepochs = 2\n", "invalid TOML"),
    toml_case("unknown-key", "epoch = 3\n", "unknown key 'epoch' (did you mean 'epochs'"),
    toml_case("unknown-grid-key", "[grid]\nactivations = ['relu']\n", "unknown key 'activations'"),
    toml_case(
        "string-for-int",
        'epochs = "ten"\n[grid]\nactivation = ["relu"]\n',
        "{toml}/string-for-int.toml: epochs: Input should be a valid integer, unable to parse string as an integer, got 'ten'",
    ),
    toml_case("float-for-int", "depth = 1.5\n", "depth: Input should be a valid integer"),
    toml_case("grid-not-a-table", "grid = 3\n", "'grid' must be a table"),
    toml_case("empty-grid", "[grid]\ndepth = []\n", "{toml}/empty-grid.toml: grid.depth: empty list"),
    toml_case("repeated-grid-value", "[grid]\nseed = [0, 1, 0]\n", "grid.seed: 0 is listed twice"),
    toml_case("zero-depth", "depth = 0\n", "depth: Input should be greater than or equal to 1"),
    toml_case(
        "negative-depth-in-grid",
        "[grid]\ndepth = [1, -2]\n",
        "{toml}/negative-depth-in-grid.toml: grid.depth: Input should be greater than or equal to 1, got -2",
    ),
    toml_case(
        "bad-output-activation",
        'output_activation = "relu"\n',
        "output_activation: output activation must be one of auto, identity, sigmoid, tanh, softmax; got 'relu'",
    ),
    toml_case("sweep-key-in-grid", "[grid]\nname = ['a', 'b']\n", "'name' belongs to the sweep, not to a run"),
    toml_case("zero-width", "width = 0\n", "width: Input should be greater than or equal to 1"),
    toml_case("zero-lr", "lr = 0\n", "lr: Input should be greater than 0"),
    toml_case("negative-lr", "lr = -0.1\n", "lr: Input should be greater than 0"),
    toml_case("negative-seed", "seed = -1\n", "seed: Input should be greater than or equal to 0"),
    toml_case("bottleneck-wider-than-width", "width = 4\nbottleneck = 8\n", "bottleneck (8) is wider than width (4)"),
    toml_case(
        "bottleneck-wider-than-input",
        'dataset = "clusters"\nwidth = 64\nbottleneck = 40\n',
        "bottleneck 40 is not smaller than the 32 input features of 'clusters'",
    ),
    toml_case("unknown-activation", 'activation = "reluu"\n', "unknown activation 'reluu'"),
    toml_case(
        "activation-bad-parameter",
        'activation = "leaky_relu(negative_slope=abc)"\n',
        "negative_slope must be a number, got 'abc'",
    ),
    toml_case(
        "activation-module-missing", 'activation = "no_such_mod_xyz:f"\n', "cannot import module 'no_such_mod_xyz'"
    ),
    toml_case("activation-attribute-missing", 'activation = "json:nope"\n', "module 'json' has no attribute 'nope'"),
    toml_case("activation-not-callable", 'activation = "math:pi"\n', "'math:pi' is not callable"),
    toml_case("activation-no-colon-path", 'activation = "no.such.thing"\n', "'no.such.thing' is not of the form name"),
    toml_case("unknown-dataset", 'dataset = "digts"\n', "did you mean 'digits'"),
    toml_case("bad-sweep-name", 'name = "a b"\n', "name: String should match pattern"),
    toml_case("fractions-too-big", "val_fraction = 0.45\ntest_fraction = 0.45\n", "at least 10% for training"),
    toml_case("loss-output-mismatch", 'loss = "bce"\noutput_activation = "tanh"\n', "needs outputs in (0, 1)"),
    toml_case("unknown-optimizer", 'optimizer = "rmsprop"\n', "optimizer: Input should be 'adam'"),
    toml_case("unknown-init", 'init = "orthogonal"\n', "init: Input should be"),
    case("toml-not-utf8", ["run", "{toml}/latin1.toml", "--out", "{store}"], "not a UTF-8 text file"),
    case("config-is-a-directory", ["run", "{toml}", "--out", "{store}"], "is a directory"),
    case("config-missing", ["run", "{toml}/nope.toml", "--out", "{store}"], "config file not found"),
    case("unknown-bundled-sweep", ["run", "nosuchsweep", "--out", "{store}"], "bundled sweeps"),
    case("unknown-claim-sweep", ["run", "claims/nosuch", "--out", "{store}"], "claims/dying"),
    # ---- data files
    case("csv-missing", [*RUN, "--datasets", "csv:{data}/none.csv"], "dataset file '{data}/none.csv' not found"),
    case("csv-empty", [*RUN, "--datasets", "csv:{data}/empty.csv"], "empty.csv' is empty"),
    case("csv-header-only", [*RUN, "--datasets", "csv:{data}/header_only.csv"], "header_only.csv' has no rows"),
    case("csv-non-numeric", [*RUN, "--datasets", "csv:{data}/text.csv"], "text.csv' has a non-numeric"),
    case("csv-nan-filled", [*RUN, "--datasets", "csv:{data}/nan.csv"], "nan.csv' has NaN or inf values"),
    case("csv-too-few-rows", [*RUN, "--datasets", "csv:{data}/few.csv"], "few.csv' has only 2 rows"),
    case("csv-is-a-directory", [*RUN, "--datasets", "csv:{data}"], "is not a file"),
    case("csv-label-missing", [*RUN, "--datasets", "csv:{data}/good.csv#label=nope"], "has no label column 'nope'"),
    case("csv-no-path", [*RUN, "--datasets", "csv:"], "names no file"),
    case("npy-not-npy", [*RUN, "--datasets", "npy:{data}/not.npy"], "is not a .npy file"),
    case("npy-3d", [*RUN, "--datasets", "npy:{data}/cube.npy"], "holds a 3-D array"),
    case("parquet-garbage", [*RUN, "--datasets", "parquet:{data}/not.parquet"], "cannot be read as parquet"),
    case("idx-truncated", [*RUN, "--datasets", "mnist", "--data-dir", "{data}/idx_truncated"], "is truncated"),
    case("idx-bad-magic", [*RUN, "--datasets", "mnist", "--data-dir", "{data}/idx_magic"], "bad magic number"),
    case("idx-missing", [*RUN, "--datasets", "mnist", "--data-dir", "{data}/idx_missing"], "missing IDX files"),
    case(
        "idx-missing-says-how-to-download",
        [*RUN, "--datasets", "mnist", "--data-dir", "{data}/idx_missing"],
        "or set ACTCMP_ALLOW_DOWNLOAD=1 to let actcmp fetch them",
    ),
    # ---- command-line options
    case("set-without-equals", [*RUN, "--set", "lr"], "--set 'lr': expected KEY=VALUE"),
    case("set-unknown-key", [*RUN, "--set", "nope=1"], "--set: unknown key 'nope'"),
    case("set-sweep-key", [*RUN, "--set", "name=x"], "--set: 'name' belongs to the sweep, not to a run: use --name"),
    case("set-bad-value", [*RUN, "--set", "lr=-1"], "--set: lr: Input should be greater than 0, got -1"),
    case("grid-and-shortcut", [*RUN, "--grid", "depth=1,2", "--depths", "4"], "both set depth: give it once"),
    case("grid-and-set", [*RUN, "--grid", "depth=1,2", "--set", "depth=4"], "both set depth: give it once"),
    case("epochs-and-set", [*RUN, "--set", "epochs=4"], "--epochs 0 and --set epochs=4 both set epochs"),
    case("grid-empty-list", [*RUN, "--grid", "depth="], "empty list"),
    case("seeds-zero", [*RUN, "--seeds", "0"], "need at least one seed"),
    case("seeds-garbage", [*RUN, "--seeds", "x"], "--seeds 'x'"),
    case("depths-not-numbers", [*RUN, "--depths", "1,x"], "depth: Input should be a valid integer"),
    case("epochs-negative", ["run", "--out", "{store}", "--epochs", "-1"], "epochs: Input should be greater"),
    case("jobs-zero", [*RUN, "--jobs", "0"], "--jobs must be at least 1"),
    case("jobs-not-a-number", [*RUN, "--jobs", "many"], "Invalid value for '--jobs'"),
    case("engine-unknown", [*RUN, "--engine", "turbo"], "unknown engine 'turbo'"),
    case("device-unknown", [*RUN, "--device", "tpu"], "unknown device"),
    # ---- option values checked before anything is written: {root}/new-out must not appear
    case("backend-unknown", [*NEW, "--backend", "slurm"], "--backend: unknown backend 'slurm'"),
    case("engine-unknown-dry-run", [*NEW, "--engine", "fast", "--dry-run"], "--engine: unknown engine 'fast'"),
    case("device-unknown-dry-run", [*NEW, "--device", "tpu", "--dry-run"], "--device: unknown device 'tpu'"),
    case("backend-unknown-dry-run", [*NEW, "--backend", "x", "--dry-run"], "--backend: unknown backend 'x'"),
    case("jobs-zero-dry-run", [*NEW, "--jobs", "0", "--dry-run"], "--jobs must be at least 1"),
    case("address-without-ray", [*NEW, "--address", "h:1"], "--address is for --backend ray"),
    case("unknown-option", ["run", "--nope"], "No such option: --nope"),
    case("unknown-command", ["frobnicate"], "No such command 'frobnicate'"),
    # ---- shards
    case("shard-zero", [*RUN, "--shard", "0/4"], "--shard '0/4': shard I must be between 1 and 4"),
    case("shard-beyond-count", [*RUN, "--shard", "5/4"], "--shard '5/4': shard I must be between 1 and 4"),
    case("shard-zero-count", [*RUN, "--shard", "1/0"], "--shard '1/0': the number of shards N must be at least 1"),
    case("shard-not-numbers", [*RUN, "--shard", "a/b"], "--shard 'a/b': expected I/N"),
    case("shard-no-slash", [*RUN, "--shard", "2"], "--shard '2': expected I/N"),
    # ---- results directories and their databases
    case("out-is-a-file", [*RUN_INTO, "--out", "{file}"], "results directory {file} is a file"),
    case("out-under-a-file", [*RUN_INTO, "--out", "{file}/sub"], "cannot create results directory {file}/sub"),
    case("out-is-a-file-dry-run", [*RUN_INTO, "--out", "{file}", "--dry-run"], "results directory {file} is a file"),
    case(
        "out-under-a-file-dry-run",
        [*RUN_INTO, "--out", "{file}/sub", "--dry-run"],
        "cannot create results directory {file}/sub: {file} is a file",
    ),
    case("run-into-corrupt-db", [*RUN_INTO, "--out", "{corrupt}"], "{corrupt}/actcmp.sqlite: not an actcmp database"),
    case(
        "dry-run-into-corrupt-db",
        [*RUN_INTO, "--out", "{corrupt}", "--dry-run"],
        "{corrupt}/actcmp.sqlite: not an actcmp database",
    ),
    case(
        "dry-run-into-foreign-db",
        [*RUN_INTO, "--out", "{foreign}", "--dry-run"],
        "{foreign}/actcmp.sqlite: not an actcmp results database",
    ),
    case(
        "run-into-foreign-db",
        [*RUN_INTO, "--out", "{foreign}"],
        "{foreign}/actcmp.sqlite: not an actcmp results database",
    ),
    case("run-into-newer-schema", [*RUN_INTO, "--out", "{newer}"], "results schema version 99"),
    case("run-into-other-results-version", [*RUN_INTO, "--out", "{old_results}"], "holds results version 0"),
    case(
        "dry-run-into-other-results-version",
        [*RUN_INTO, "--out", "{old_results}", "--dry-run"],
        "{old_results}: holds results version 0",
    ),
    case("status-no-results", ["status", "{nothing}"], "{nothing}: no results here"),
    case("status-of-a-file", ["status", "{file}"], "is a file"),
    case("status-corrupt-db", ["status", "{corrupt}"], "not an actcmp database"),
    case(
        "status-truncated-db", ["status", "{truncated_db}"], "actcmp.sqlite: damaged (database disk image is malformed)"
    ),
    case("status-truncated-db", ["status", "{truncated_db}"], "{truncated_db}/actcmp.sqlite"),
    case("status-empty-db", ["status", "{empty_db}"], "empty file, not an actcmp results database"),
    case("status-db-is-a-directory", ["status", "{db_dir}"], "is a directory"),
    case("status-foreign-db", ["status", "{foreign}"], "foreign SQLite file"),
    case("status-newer-schema", ["status", "{newer}"], "results schema version 99, this actcmp reads version 1"),
    case("status-damaged-pages", ["status", "{bad_pages}"], "{bad_pages}/actcmp.sqlite: cannot read the results"),
    case("report-damaged-pages", ["report", "{bad_pages}"], "database disk image is malformed"),
    case("export-damaged-pages", ["export", "{bad_pages}", "--format", "csv"], "is the file damaged?"),
    case("compare-damaged-pages", ["compare", "{bad_pages}", "{store}"], "{bad_pages}/actcmp.sqlite"),
    case("merge-damaged-pages", ["merge", "{root}/m", "{bad_pages}"], "the results database is damaged"),
    case("run-into-damaged-pages", [*RUN_INTO, "--out", "{bad_pages}"], "damaged (*** in database main"),
    case("report-no-results", ["report", "{nothing}"], "{nothing}: no results here"),
    case("report-missing-dir", ["report", "{root}/nope"], "no results here"),
    case("report-corrupt-db", ["report", "{corrupt}"], "not an actcmp database"),
    case("report-bad-format", ["report", "{store}", "--formats", "gif"], "--formats: unknown format 'gif'"),
    case("report-jobs-zero", ["report", "{store}", "--jobs", "0"], "--jobs must be at least 1, got 0"),
    case("repeated-seed", [*NEW, "--seeds", "1,1"], "--seeds: 1 is given twice"),
    case("empty-activation-item", [*NEW, "--activations", "relu,,gelu"], "--activations relu,,gelu: an empty item"),
    case("trailing-comma-depths", [*NEW, "--depths", "1,2,"], "--depths 1,2,: an empty item"),
    case("empty-grid-item", [*NEW, "--grid", "lr=0.1,,0.2"], "--grid lr=0.1,,0.2: an empty item"),
    case("repeated-activation", [*NEW, "--activations", "relu,tanh,relu"], "--activations: relu is given twice"),
    case("repeated-grid-value", [*NEW, "--grid", "lr=0.01,0.01"], "--grid: 0.01 is given twice"),
    case("export-no-results", ["export", "{nothing}"], "{nothing}: no results here"),
    case("export-foreign-db", ["export", "{foreign}"], "foreign SQLite file"),
    case(
        "export-bad-format",
        ["export", "{store}", "--format", "xml"],
        "--format 'xml': choose parquet, csv, mlflow or tensorboard",
    ),
    # ---- a user's folder holding files named as actcmp's but no store: never overwritten
    case("run-into-a-user-folder", [*NEW[:3], "{mine}", "--epochs", "0"], "--out {mine}: holds sweep.json, report.md"),
    case("dry-run-into-a-user-folder", [*NEW[:3], "{mine}", "--dry-run"], "no results store (actcmp.sqlite)"),
    case("merge-into-a-user-folder", ["merge", "{mine}", "{store}"], "merge OUT {mine}: holds sweep.json, report.md"),
    case(
        "report-into-a-user-folder", ["report", "{store}", "--out", "{mine}"], "holds report.md that no actcmp report"
    ),
    # ---- merge
    case(
        "merge-same-shard-twice",
        ["merge", "{root}/m", "{shard1}", "{shard1copy}"],
        "shard 1/2 of sweep 'fake' is in both {shard1} and {shard1copy}",
    ),
    case(
        "merge-conflict",
        ["merge", "{out}", "{store}", "{conflict}"],
        "run r1 has different results in {out} and {conflict} (test_loss 0.5 vs 0.75): refusing to merge, {out} is unchanged",
    ),
    case("merge-same-dir-twice", ["merge", "{root}/m", "{store}", "{store}"], "{store} is given twice"),
    case("merge-input-missing", ["merge", "{root}/m", "{store}", "{nothing}"], "{nothing}: no results here"),
    case("merge-input-corrupt", ["merge", "{root}/m", "{store}", "{corrupt}"], "not an actcmp database"),
    case("merge-out-is-a-file", ["merge", "{file}", "{store}"], "merge output {file} is a file"),
    case("merge-newer-schema", ["merge", "{root}/m", "{store}", "{newer}"], "results schema version 99"),
    case("merge-other-results-version", ["merge", "{root}/m", "{old_results}"], "results version 0"),
    case("merge-into-an-input", ["merge", "{store}", "{store}"], "is the output directory"),
    case("merge-no-inputs", ["merge", "{root}/m"], "Missing argument"),
    # ---- compare
    case("compare-no-results", ["compare", "{nothing}", "{store}"], "{nothing}: no results here"),
    case(
        "compare-unknown-metric",
        ["compare", "{store}", "{store}", "--metric", "accuracy"],
        "--metric 'accuracy': not a stored metric",
    ),
    case("compare-negative-k", ["compare", "{store}", "{store}", "--k", "-3"], "--k -3.0: must be a finite number"),
    # ---- numbers and parameters that used to fail only in training (issue 12)
    toml_case("lr-nan", "lr = nan\n", "lr: Input should be a finite number"),
    toml_case("weight-decay-inf", "weight_decay = inf\n", "weight_decay: Input should be a finite number"),
    toml_case("depth-bool", "depth = true\n", "depth: must be a number, got true"),
    toml_case("name-dot-dot", 'name = ".."\n', "would leave results/"),
    toml_case("softplus-beta-0", '[grid]\nactivation = ["softplus(beta=0)"]\n', "beta must be greater than 0"),
    case("hardtanh-inverted", [*RUN, "--activations", "hardtanh(min_val=1,max_val=-1)"], "must be less than max_val"),
    case("param-twice", [*RUN, "--activations", "elu(alpha=1,alpha=2)"], "parameter 'alpha' is given twice"),
    case("slope-overflow", [*RUN, "--activations", "leaky_relu(negative_slope=1e999)"], "got 1e999"),
    case("threads-huge", [*RUN, "--threads", "100000"], "at most 256 torch threads"),
    case("name-dot-dot", ["run", "--name", "..", "--epochs", "0"], "would leave results/"),
    case("out-empty", ["run", "--out", "", "--epochs", "0"], "--out is empty"),
    case("grid-too-big", [*RUN, "--seeds", "50000", "--depths", "1,2,3"], "the grid has 150,000 runs"),
    case("max-runs-zero", [*RUN, "--max-runs", "0"], "--max-runs must be at least 1"),
    case("merge-prefer-other", ["merge", "{root}/m", "{shard1}", "--prefer", "{store}"], "--prefer"),
]


def snapshot(root: Path) -> dict[str, object]:
    """Every directory, and every file's bytes and mtime (SQLite's -wal/-shm aside)."""
    state: dict[str, object] = {}
    for path in sorted(root.rglob("*")):
        if path.name.endswith(("-wal", "-shm")):
            continue
        if path.is_dir():
            state[str(path)] = "dir"
        else:
            state[str(path)] = (path.read_bytes(), path.stat().st_mtime_ns)
    return state


def check_one_line(output: str, exit_code: int, fragment: str) -> str:
    assert exit_code == 2, output
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("actcmp: error:")]
    assert len(errors) == 1, output
    assert fragment in errors[0], f"{fragment!r} not in {errors[0]!r}"
    return errors[0]


@pytest.mark.parametrize(("toml", "args", "fragment"), CASES)
def test_bad_input_is_refused_cleanly(
    ws: dict[str, str], toml: tuple[str, str, str] | None, args: list[str], fragment: str
) -> None:
    if toml is not None:
        _, name, text = toml
        (Path(ws["toml"]) / f"{name}.toml").write_text(text, encoding="utf-8")
    root = Path(ws["root"])
    before = snapshot(root)
    result = runner.invoke(app, [a.format(**ws) for a in args])
    check_one_line(result.output, result.exit_code, fragment.format(**ws))
    assert snapshot(root) == before, "a file changed"


def test_catalogue_size() -> None:
    assert len(CASES) >= 40


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere; covered by out-under-a-file")
def test_results_dir_not_writable(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        result = runner.invoke(app, ["run", "--seeds", "1", "--epochs", "0", "--out", str(locked / "r")])
        check_one_line(result.output, result.exit_code, "cannot create results directory")
    finally:
        locked.chmod(0o755)


def test_lock_held_by_another_sweep(ws: dict[str, str]) -> None:
    from actcmp.store.lock import DirLock

    root = Path(ws["root"])
    with DirLock(ws["store"]):
        before = snapshot(root)
        result = runner.invoke(app, [*[a.format(**ws) for a in RUN], "--datasets", "clusters"])
        check_one_line(result.output, result.exit_code, f"results directory {ws['store']} is in use by another sweep")
        assert snapshot(root) == before


SUBPROCESS_CASES = [
    (["run", "{toml}/unclosed-table.toml"], "invalid TOML"),
    (["run", "--out", "{store}", "--shard", "9/4"], "--shard '9/4'"),
    (["merge", "{root}/m", "{shard1}", "{shard1copy}"], "merged twice"),
    (["status", "{corrupt}"], "not an actcmp database"),
    (["export", "{foreign}"], "foreign SQLite file"),
]


def test_real_subprocesses(ws: dict[str, str]) -> None:
    (Path(ws["toml"]) / "unclosed-table.toml").write_text("[grid\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    root = Path(ws["root"])
    for args, fragment in SUBPROCESS_CASES:
        before = snapshot(root)
        proc = subprocess.run(
            [sys.executable, "-m", "actcmp", *[a.format(**ws) for a in args]],
            capture_output=True,
            text=True,
            cwd=REPO,
            env=env,
            timeout=120,
        )
        assert proc.stdout == ""
        assert proc.stderr.count("\n") == 1, proc.stderr
        check_one_line(proc.stderr, proc.returncode, fragment)
        assert snapshot(root) == before


def test_dry_run_refuses_a_database_that_is_a_directory(tmp_path: Path) -> None:
    """What the run refuses in the results directory, the dry run refuses too (read-only)."""
    (tmp_path / "out" / "actcmp.sqlite").mkdir(parents=True)
    result = runner.invoke(app, ["run", "smoke", "--epochs", "0", "--out", str(tmp_path / "out"), "--dry-run"])
    check_one_line(result.output, result.exit_code, "actcmp.sqlite: is a directory")


def test_status_refuses_a_store_whose_metrics_pages_are_damaged(tmp_path: Path) -> None:
    """``status`` reads the runs table alone: with only the metrics' pages damaged it said
    "complete" (exit 0, the CI gate passed) while report, export and compare refused the store."""
    directory = tmp_path / "metrics-damaged"
    with Store(directory) as store:
        for i in range(40):
            result = fake(f"run{i:03d}")
            result.layers = [(e, layer, "dead_fraction", 0.1) for e in range(5) for layer in range(10)]
            store.write_run(result)
    conn = sqlite3.connect(directory / DB_NAME)
    conn.execute("PRAGMA journal_mode = DELETE")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    query = "SELECT pageno FROM dbstat WHERE name = 'layer_metrics' AND pagetype = 'leaf'"
    try:
        leaves = [row[0] for row in conn.execute(query)]
    except sqlite3.OperationalError:  # an SQLite built without the dbstat table
        pytest.skip("SQLite without dbstat: cannot find the metrics' pages")
    finally:
        conn.close()
    assert len(leaves) > 2
    pages = bytearray((directory / DB_NAME).read_bytes())
    for page in leaves[1:-1]:  # the runs' pages stay readable
        start = (page - 1) * page_size
        pages[start : start + page_size] = b"\xff" * page_size
    (directory / DB_NAME).write_bytes(bytes(pages))
    result = runner.invoke(app, ["status", str(directory)])
    assert result.exit_code == 2, result.output
    assert "the results database is damaged" in result.output and "Traceback" not in result.output
