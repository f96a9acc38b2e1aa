"""Nothing a user does, and no fault, damages a results directory or misleads.

Each class of fault goes through the CLI: a read-only results directory, a grid too big to
expand, numbers that would only fail during training, a full disk or a directory in the
way, symlinks planted in a results directory, a damaged row, user code that exits on
import, names that carry Markdown/HTML or terminal escapes, a merge run twice. Mounts and
kills run as real subprocesses (and are skipped, with the reason, where not root).
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_checks import one_error
from typer.testing import CliRunner

from actcmp.cli import app

REPO = Path(__file__).resolve().parent.parent
runner = CliRunner()
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def files_of(root: Path) -> dict[str, bytes]:
    """Every file's bytes (SQLite's -wal/-shm aside: a reader may create them where it can)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.endswith(("-wal", "-shm"))
    }


@pytest.fixture
def results(smoke_results: Path, tmp_path: Path) -> Path:
    """A private copy of the smoke sweep's results."""
    copy = tmp_path / "results"
    shutil.copytree(smoke_results, copy)
    return copy


# -- read-only results directories -------------------------------------------------------
def _read_only_commands(directory: Path, elsewhere: Path, report: bool) -> list[list[str]]:
    commands = [
        ["status", str(directory)],
        ["export", str(directory), "--format", "csv", "--out", str(elsewhere / "export")],
        ["compare", str(directory), str(directory)],
        ["merge", str(elsewhere / "merged"), str(directory)],
    ]
    if report:  # the slowest: tables and every figure
        commands.append(["report", str(directory), "--formats", "svg", "--out", str(elsewhere / "report")])
    return commands


def _check_read_only_commands(directory: Path, elsewhere: Path, run: object, report: bool = True) -> None:
    before = files_of(directory)
    for args in _read_only_commands(directory, elsewhere, report):
        code, output = run(args)  # type: ignore[operator]
        assert code == 0, (args, output)
        assert "Traceback" not in output
    assert files_of(directory) == before
    assert (elsewhere / "report" / "report.html").is_file() == report
    assert (elsewhere / "merged" / "actcmp.sqlite").is_file()
    assert (elsewhere / "export" / "runs.csv").is_file()
    assert len((elsewhere / "export" / "runs.csv").read_text().splitlines()) == 9  # 8 runs + header


@pytest.mark.parametrize("report", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_read_only_directory_chmod(results: Path, tmp_path: Path, report: bool) -> None:
    """chmod a-w: as root SQLite could still write, elsewhere the -shm file cannot be made."""
    elsewhere = tmp_path / "elsewhere"
    for path in [results, *results.rglob("*")]:
        path.chmod(path.stat().st_mode & ~0o222)
    try:

        def run(args: list[str]) -> tuple[int, str]:
            result = runner.invoke(app, args)
            return result.exit_code, result.output

        _check_read_only_commands(results, elsewhere, run, report)
        assert not (results / "actcmp.sqlite-shm").exists() or IS_ROOT
    finally:
        for path in [results, *results.rglob("*")]:
            path.chmod(path.stat().st_mode | 0o200)


@pytest.fixture
def read_only_mount(results: Path, tmp_path: Path) -> Iterator[Path]:
    if not IS_ROOT or shutil.which("mount") is None:
        pytest.skip("a read-only bind mount needs root (mount --bind, then remount,ro)")
    point = tmp_path / "mounted"
    point.mkdir()
    bind = subprocess.run(["mount", "--bind", str(results), str(point)], capture_output=True, text=True)
    if bind.returncode != 0:
        pytest.skip(f"mount --bind is not allowed here: {bind.stderr.strip()}")
    try:
        remount = subprocess.run(
            ["mount", "-o", "remount,ro,bind", str(point)], capture_output=True, text=True, check=False
        )
        if remount.returncode != 0:
            pytest.skip(f"remount,ro is not allowed here: {remount.stderr.strip()}")
        yield point
    finally:
        subprocess.run(["umount", str(point)], check=False)


@pytest.mark.slow
def test_read_only_bind_mount_in_subprocesses(read_only_mount: Path, tmp_path: Path) -> None:
    with pytest.raises(OSError) as caught:
        (read_only_mount / "probe").write_text("x")
    assert caught.value.errno == errno.EROFS
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}

    def run(args: list[str]) -> tuple[int, str]:
        proc = subprocess.run(
            [sys.executable, "-m", "actcmp", *args], capture_output=True, text=True, env=env, cwd=REPO, timeout=300
        )
        return proc.returncode, proc.stdout + proc.stderr

    _check_read_only_commands(read_only_mount, tmp_path / "elsewhere", run)
    # writing into it is refused in one line naming the path, exit 2 (a usage error: use --out)
    code, output = run(["report", str(read_only_mount), "--formats", "svg"])
    assert code == 2 and output.count("actcmp: error:") == 1 and str(read_only_mount) in output, output
    assert "Traceback" not in output


def test_store_opened_read_only_never_writes(results: Path) -> None:
    import sqlite3

    from actcmp.store.database import Store

    with Store(results, create=False) as store, pytest.raises(sqlite3.OperationalError, match="readonly"):
        store.conn.execute("INSERT INTO meta VALUES ('x', 'y')")


# -- filesystem: atomic writes, one line per OS error ------------------------------------
@pytest.mark.slow
def test_every_report_file_is_renamed_into_place(results: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No report file is opened for writing at its final path: each is a temp file renamed."""
    import actcmp.atomic as atomic

    renamed: list[str] = []
    real_replace = os.replace

    def spy(src: str, dst: str | Path) -> None:
        renamed.append(str(dst))
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", spy)
    result = runner.invoke(app, ["report", str(results), "--formats", "png,pdf,svg"])
    assert result.exit_code == 0, result.output
    written = {str(p) for p in results.rglob("*") if p.is_file() and p.parent.name in ("tables", "figures")}
    written |= {str(results / "report.md"), str(results / "report.html"), str(results / "setup.json")}
    assert written <= set(renamed)
    assert not [p for p in results.rglob("*.tmp")]


def _fill_disk_after(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    """Every atomic write after the first ``count`` fails as on a full disk."""
    import actcmp.atomic as atomic

    real = atomic.os.fdopen
    calls = {"n": 0}

    class Full:
        def __init__(self, handle: object) -> None:
            self.handle = handle

        def __enter__(self) -> Full:
            return self

        def __exit__(self, *exc: object) -> None:
            self.handle.close()  # type: ignore[attr-defined]

        def write(self, data: bytes) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name: str) -> object:
            return getattr(self.handle, name)

    def fdopen(fd: int, mode: str = "r", *args: object) -> object:
        calls["n"] += 1
        handle = real(fd, mode, *args)
        return handle if calls["n"] <= count else Full(handle)

    monkeypatch.setattr(atomic.os, "fdopen", fdopen)


@pytest.mark.parametrize("command", ["report", "export"])
def test_disk_full_is_one_line_and_leaves_no_partial_file(
    results: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    out = tmp_path / "out"
    _fill_disk_after(monkeypatch, 3)
    args = [command, str(results), "--out", str(out)] + (["--format", "csv"] if command == "export" else [])
    result = runner.invoke(app, [*args, "--formats", "svg"] if command == "report" else args)
    one_error(result, 1, "disk full")
    assert str(out) in result.output
    leftovers = [p for p in out.rglob("*") if p.is_file() and (p.name.endswith(".tmp") or p.stat().st_size == 0)]
    assert leftovers == []


def test_disk_full_during_a_run_says_disk_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3

    from actcmp.store.database import Store

    def full(self: Store, result: object, *, replace: bool = False) -> bool:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(Store, "write_run", full)
    args = ["run", "--datasets", "clusters", "--depths", "1", "--seeds", "1", "--epochs", "1", "-q"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "r")])
    line = one_error(result, 1, "disk full")
    assert "damaged" not in line


@pytest.mark.slow
@pytest.mark.skipif(not IS_ROOT, reason="a tiny tmpfs needs root (mount -t tmpfs)")
def test_disk_full_on_a_real_tiny_tmpfs(results: Path, tmp_path: Path) -> None:
    point = tmp_path / "tiny"
    point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(point)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"mount -t tmpfs is not allowed here: {mounted.stderr.decode().strip()}")
    try:
        env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
        proc = subprocess.run(
            [sys.executable, "-m", "actcmp", "report", str(results), "--formats", "png", "--out", str(point / "r")],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert proc.returncode == 1, proc.stderr
        assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("actcmp: error: disk full"), proc.stderr
        assert not [p for p in point.rglob("*") if p.is_file() and p.stat().st_size == 0]
        assert not list(point.rglob("*.tmp"))
    finally:
        subprocess.run(["umount", str(point)], check=False)


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        pytest.param(lambda out: (out / "report.html").mkdir(parents=True), "report.html: is a directory", id="dir"),
        pytest.param(lambda out: (out.mkdir(), (out / "tables").write_text("x")), "in the way", id="file-tables"),
        pytest.param(lambda out: (out.parent.mkdir(exist_ok=True), out.write_text("x")), "in the way", id="file-out"),
    ],
)
def test_something_in_the_way_is_a_usage_error(results: Path, tmp_path: Path, make: object, fragment: str) -> None:
    out = tmp_path / "rep"
    make(out)  # type: ignore[operator]
    result = runner.invoke(app, ["report", str(results), "--formats", "svg", "--out", str(out)])
    one_error(result, 2, fragment)


def test_export_onto_a_directory_is_a_usage_error(results: Path, tmp_path: Path) -> None:
    (tmp_path / "e" / "runs.csv").mkdir(parents=True)
    result = runner.invoke(app, ["export", str(results), "--format", "csv", "--out", str(tmp_path / "e")])
    one_error(result, 2, "runs.csv: is a directory")


# -- hostile directories -----------------------------------------------------------------
@pytest.mark.parametrize("name", ["actcmp.lock", "actcmp.sqlite-wal", ".sweep.json.tmp"])
def test_symlinks_in_a_results_directory_are_never_followed(tmp_path: Path, name: str) -> None:
    out = tmp_path / "r"
    out.mkdir()
    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    (out / name).symlink_to(target)
    args = ["run", "--datasets", "clusters", "--depths", "1", "--seeds", "1", "--epochs", "1", "-q", "--out", str(out)]
    result = runner.invoke(app, args)
    assert "Traceback" not in result.output
    assert target.read_text() == "keep me\n"
    if name != ".sweep.json.tmp":  # that name is no longer used: the sweep simply runs
        one_error(result, 2, "symbolic link")


def test_export_temp_symlink_is_not_followed(results: Path, tmp_path: Path) -> None:
    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    (results / "export").mkdir()
    (results / "export" / ".runs.csv.tmp").symlink_to(target)
    result = runner.invoke(app, ["export", str(results), "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert target.read_text() == "keep me\n"
    assert (results / "export" / "runs.csv").read_text().startswith("run_id")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--name", ".."], "would leave results/"),
        (["--name", "."], "would leave results/"),
        (["--name", "a/b"], "--name 'a/b'"),
        (["--out", ""], "--out is empty"),
    ],
)
def test_names_that_leave_results_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], fragment: str
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["run", "--datasets", "clusters", "--epochs", "0", *args])
    one_error(result, 2, fragment)
    assert list(tmp_path.iterdir()) == []


def test_toml_name_dot_dot_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.toml").write_text('name = ".."\nepochs = 0\n')
    result = runner.invoke(app, ["run", "s.toml"])
    one_error(result, 2, "would leave results/")
    assert [p.name for p in tmp_path.iterdir()] == ["s.toml"]


@pytest.mark.parametrize("command", [["merge", ""], ["export", "{r}", "--out", ""], ["report", "{r}", "--out", ""]])
def test_empty_out_is_refused(results: Path, command: list[str]) -> None:
    args = [a.format(r=results) for a in command] + ([str(results)] if command[0] == "merge" else [])
    one_error(runner.invoke(app, args), 2, "is empty")


# -- size before expansion ---------------------------------------------------------------
def test_a_huge_grid_is_refused_fast_without_expanding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    import actcmp.config as config

    def no_expansion(*args: object, **kwargs: object) -> None:
        raise AssertionError("a refused grid must not be expanded")

    monkeypatch.setattr(config, "make_run", no_expansion)
    monkeypatch.chdir(tmp_path)
    axes = ["--grid", "width=8,16,32,64,128,256,512,1024,2048,4096", "--grid", "lr=0.1,0.01,0.001,0.0001,0.00001"]
    started = time.perf_counter()
    result = runner.invoke(app, ["run", "--seeds", "4000", "--depths", ",".join(map(str, range(1, 51))), *axes])
    elapsed = time.perf_counter() - started
    one_error(result, 2, "the grid has 10,000,000 runs")
    assert "--max-runs" in result.output
    assert elapsed < 2.0
    assert list(tmp_path.iterdir()) == []


def test_too_many_seeds_are_refused_before_listing_them() -> None:
    one_error(runner.invoke(app, ["run", "--seeds", "1000000000000", "--dry-run"]), 2, "more seeds than the limit")


def test_max_runs_lowers_and_raises_the_limit() -> None:
    args = ["run", "--datasets", "clusters", "--depths", "1,2", "--seeds", "3", "--dry-run"]
    one_error(runner.invoke(app, [*args, "--max-runs", "5"]), 2, "6 runs")
    assert runner.invoke(app, [*args, "--max-runs", "6"]).exit_code == 0
    one_error(runner.invoke(app, [*args, "--max-runs", "0"]), 2, "--max-runs must be at least 1")


def test_a_toml_grid_over_the_limit_is_refused(tmp_path: Path) -> None:
    text = "[grid]\nseed = [" + ", ".join(map(str, range(400))) + "]\nlr = [" + ", ".join(["0.001"] * 300) + "]\n"
    (tmp_path / "big.toml").write_text(text)
    one_error(runner.invoke(app, ["run", str(tmp_path / "big.toml"), "--dry-run"]), 2, "120,000 runs")


def test_dry_run_of_the_limit_counts_without_expanding() -> None:
    """10^5 points: counted from the axes; the interacting axes (here none varied) are planned."""
    import time

    from actcmp.config import SweepConfig
    from actcmp.run.sweep import describe_plan

    grid = {"seed": list(range(1000)), "depth": [1, 2, 3, 4, 5], "lr": [0.1, 0.01, 0.001, 0.0001], "width": [8, 16]}
    grid["width"] += [32, 64, 128]
    sweep = SweepConfig(name="big", fixed={"dataset": "clusters"}, grid=grid)
    describe_plan(SweepConfig(name="warm", fixed={"dataset": "clusters"}))  # imports and data, once
    started = time.perf_counter()
    plan = describe_plan(sweep)
    assert time.perf_counter() - started < 2.0
    assert plan["runs"] == 100_000 and plan["per_dataset"] == {"clusters": 100_000}


def test_dry_run_by_axes_counts_like_a_full_plan() -> None:
    """Spellings that resolve alike (swish and silu; init auto and kaiming where auto means
    kaiming) collapse exactly as in plan_runs. (A value listed twice is refused:
    tests/test_bad_inputs.py.)"""
    import actcmp.run.plan as plan_module
    from actcmp.config import SweepConfig
    from actcmp.run.sweep import describe_plan, plan_runs

    grid = {
        "activation": ["relu", "swish", "silu", "tanh"],
        "init": ["auto", "kaiming", "xavier"],
        "seed": [0, 1, 2],
        "lr": [0.001, 0.01],
        "dataset": ["clusters", "breast-cancer"],
    }
    sweep = SweepConfig(name="mix", fixed={"epochs": 1}, grid=grid)
    full = plan_runs(sweep)
    old = plan_module.PLAN_IN_FULL
    try:
        plan_module.PLAN_IN_FULL = 1  # read where describe_plan is defined
        plan = describe_plan(sweep)
    finally:
        plan_module.PLAN_IN_FULL = old
    assert plan["runs"] == len(full)
    expected: dict[str, int] = {}
    for cfg in full:
        expected[cfg["dataset"]] = expected.get(cfg["dataset"], 0) + 1
    assert plan["per_dataset"] == expected


# -- values and parameters checked before training ----------------------------------------
def _data_file(tmp_path: Path, kind: str, bad: float) -> str:
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6))
    x[7, 2] = bad
    if kind == "npy":
        path = tmp_path / "d.npy"
        np.save(path, x)
    elif kind == "csv":
        path = tmp_path / "d.csv"
        np.savetxt(path, x, delimiter=",", header="a,b,c,d,e,f", comments="")
    else:
        import pandas as pd

        path = tmp_path / "d.parquet"
        pd.DataFrame(x, columns=list("abcdef")).to_parquet(path)
    return f"{kind}:{path}"


@pytest.mark.parametrize("kind", ["csv", "parquet", "npy"])
@pytest.mark.parametrize(
    ("bad", "fragment"),
    [(1e308, "too large for float32"), (-1e39, "too large for float32"), (float("nan"), "NaN or inf")],
)
def test_data_that_float32_cannot_hold_is_refused(tmp_path: Path, kind: str, bad: float, fragment: str) -> None:
    dataset = _data_file(tmp_path, kind, bad)
    out = tmp_path / "r"
    args = ["run", "--datasets", dataset, "--depths", "1", "--seeds", "1", "--epochs", "1", "--set", "bottleneck=2"]
    one_error(runner.invoke(app, [*args, "--out", str(out)]), 2, fragment)
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--activations", "hardtanh(min_val=1,max_val=-1)"], "min_val (1) must be less than max_val (-1)"),
        (["--activations", "softplus(beta=0)"], "beta must be greater than 0"),
        (["--activations", "celu(alpha=0)"], "alpha must not be 0"),
        (["--activations", "leaky_relu(negative_slope=1e999)"], "negative_slope must be a finite number, got 1e999"),
        (["--activations", "elu(alpha=0.5,alpha=2)"], "parameter 'alpha' is given twice"),
        (["--set", "weight_decay=inf"], "weight_decay: Input should be a finite number"),
        (["--set", "lr=nan"], "lr: Input should be a finite number"),
        (["--set", "depth=true"], "depth: must be a number, got true"),
        (["--grid", "seed=0,false"], "seed: must be a number, got false"),
        (["--threads", "100000"], "at most 256 torch threads"),
    ],
)
def test_bad_numbers_are_refused_before_anything_is_stored(tmp_path: Path, args: list[str], fragment: str) -> None:
    out = tmp_path / "r"
    base = ["run", "--datasets", "clusters", "--epochs", "1", "-q"]
    line = one_error(runner.invoke(app, [*base, *args, "--out", str(out)]), 2, fragment)
    assert "less than or equal to 100, got nan" not in line
    assert not out.exists()


def test_bool_in_a_toml_is_not_a_number(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text("depth = true\n")
    one_error(runner.invoke(app, ["run", str(tmp_path / "s.toml"), "--dry-run"]), 2, "depth: must be a number")


USER_MODULES = {
    "needs_args": "import torch\nclass Act(torch.nn.Module):\n    def __init__(self, k):\n        super().__init__()\n"
    "    def forward(self, x):\n        return x\n",
    "reduces": "def act(x):\n    return x.sum()\n",
    "exits": "import sys\nsys.exit(0)\n",
    "interrupts": "raise KeyboardInterrupt\n",
    "exits_in_forward": "import sys\ndef act(x):\n    sys.exit(3)\n",
}


@pytest.mark.parametrize(
    ("module", "attr", "fragment"),
    [
        ("needs_args", "Act", "cannot be built and applied (TypeError"),
        ("reduces", "act", "must map a tensor to one of the same shape"),
        ("exits", "act", "importing module 'robust_exits' called sys.exit(0)"),
        ("interrupts", "act", "importing module 'robust_interrupts' raised KeyboardInterrupt"),
        ("exits_in_forward", "act", "building or applying it called sys.exit(3)"),
    ],
)
def test_user_activation_problems_are_the_users_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: str, attr: str, fragment: str
) -> None:
    name = f"robust_{module}"
    (tmp_path / f"{name}.py").write_text(USER_MODULES[module])
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    out = tmp_path / "r"
    args = ["run", "--activations", f"{name}:{attr}", "--datasets", "clusters", "--depths", "1", "--seeds", "1"]
    # the dry run refuses what the run refuses (it once imported the callable but never applied it)
    one_error(runner.invoke(app, [*args, "--epochs", "1", "--dry-run"]), 2, fragment)
    monkeypatch.delitem(sys.modules, name, raising=False)
    one_error(runner.invoke(app, [*args, "--epochs", "1", "--out", str(out)]), 2, fragment)
    assert not out.exists()


def test_user_module_exiting_on_import_in_a_subprocess(tmp_path: Path) -> None:
    """The real program: exit 2 with one line, not exit 0 having done nothing, nor 130.

    ``stop_in_exec``: a KeyboardInterrupt that ends inside a string ``exec`` (CPython then
    flags it as unhandled even though actcmp catches it, and ``python -m`` died of SIGINT,
    status -2, instead of exiting 2: :func:`actcmp.signals.forget_caught_interrupts`)."""
    (tmp_path / "bye.py").write_text("import sys\nsys.exit(0)\n")
    (tmp_path / "stop.py").write_text("raise KeyboardInterrupt\n")
    (tmp_path / "stop_in_exec.py").write_text('exec("raise KeyboardInterrupt")\n')
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    for module in ("bye", "stop", "stop_in_exec"):
        proc = subprocess.run(
            [sys.executable, "-m", "actcmp", "run", "--activations", f"{module}:f", "--epochs", "0", "--dry-run"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=300,
        )
        assert proc.returncode == 2, (module, proc.stderr)
        assert proc.stderr.count("actcmp: error:") == 1 and f"module '{module}'" in proc.stderr


# -- damaged rows ------------------------------------------------------------------------
def _damage(directory: Path, column: str = "config_json") -> str:
    import sqlite3

    conn = sqlite3.connect(directory / "actcmp.sqlite")
    rid = conn.execute("SELECT run_id FROM runs ORDER BY run_id LIMIT 1").fetchone()[0]
    conn.execute(f"UPDATE runs SET {column} = '{{not json' WHERE run_id = ?", (rid,))
    conn.commit()
    conn.close()
    return str(rid)


@pytest.mark.parametrize("column", ["config_json", "env_json"])
def test_a_damaged_row_is_named_and_the_rest_is_read(results: Path, tmp_path: Path, column: str) -> None:
    rid = _damage(results, column)
    status = runner.invoke(app, ["status", str(results)])
    assert "Traceback" not in status.output
    if column == "config_json":
        assert status.exit_code == 1 and "1 pending" in status.output  # left out: shown as not stored
    warnings = [line for line in status.output.splitlines() if line.startswith("actcmp: warning:")]
    assert len(warnings) == 1 and rid in warnings[0], status.output
    export = runner.invoke(app, ["export", str(results), "--format", "csv", "--out", str(tmp_path / "e")])
    assert export.exit_code == 0 and rid in export.output, export.output
    rows = (tmp_path / "e" / "runs.csv").read_text().splitlines()
    assert len(rows) == (8 if column == "config_json" else 9)
    compare = runner.invoke(app, ["compare", str(results), str(results)])
    assert "Traceback" not in compare.output and rid in compare.output


@pytest.mark.slow
def test_report_goes_on_past_a_damaged_row(results: Path) -> None:
    rid = _damage(results)
    result = runner.invoke(app, ["report", str(results), "--formats", "svg"])
    assert result.exit_code == 0, result.output
    assert rid in result.output and (results / "report.html").is_file()


# -- escaping ----------------------------------------------------------------------------
def _named_csv(tmp_path: Path, name: str) -> Path:
    import numpy as np

    rng = np.random.default_rng(1)
    lines = ["a,b,c,d,e,f,<b>label</b>"]
    for i in range(40):
        lines.append(",".join(f"{v:.4f}" for v in rng.normal(size=6)) + f",{i % 2}")
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.slow
def test_user_names_reach_markdown_escaped(tmp_path: Path) -> None:
    data = _named_csv(tmp_path, "<script>alert(1)<script>|*x*.csv")
    out = tmp_path / "r"
    args = ["run", "--datasets", f"csv:{data}#label=<b>label</b>", "--activations", "relu,tanh", "--depths", "1"]
    result = runner.invoke(app, [*args, "--seeds", "2", "--epochs", "1", "--set", "bottleneck=2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert runner.invoke(app, ["report", str(out), "--formats", "svg"]).exit_code == 0
    for path in [out / "report.md", *sorted((out / "tables").glob("*.md"))]:
        text = path.read_text()
        assert "<script>" not in text and "<b>" not in text, path
    assert "&lt;script&gt;" in (out / "tables" / "main.md").read_text()
    assert "<script>" not in (out / "report.html").read_text()


def test_markdown_helpers() -> None:
    from actcmp.text import markdown_cell, markdown_text, terminal_safe

    assert markdown_cell("<script>a|b*c`d[e]") == "&lt;script&gt;a\\|b\\*c\\`d\\[e\\]"
    assert markdown_text("see `a<b>` and <i>x</i> **bold**") == "see `a<b>` and &lt;i&gt;x&lt;/i&gt; **bold**"
    assert terminal_safe("a\x1b[2Jb\rc\x9bd\n") == "a?[2Jb?c?d\n"


def test_control_characters_never_reach_the_terminal(tmp_path: Path) -> None:
    data = _named_csv(tmp_path, "clear\x1b[2J\rscreen.csv")
    out = tmp_path / "r"
    args = ["run", "--datasets", f"csv:{data}", "--activations", "relu", "--depths", "1", "--seeds", "1"]
    result = runner.invoke(app, [*args, "--epochs", "1", "--set", "bottleneck=2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\r" not in result.output
    assert "clear?[2J?screen" in result.output
    status = runner.invoke(app, ["status", str(out)])
    assert "\x1b" not in status.output
    bad = runner.invoke(app, ["run", "--activations", "re\x1b[2Jlu", "--dry-run"])
    assert bad.exit_code == 2 and "\x1b" not in bad.output


# -- merge: a rerun is a no-op; runs from different kernel families ------------------------
def _fake_store(
    directory: Path, loss: float, capability: str, shard: tuple[int, int] | None = None, engine: str | None = None
) -> Path:
    from actcmp.engine.plain import RunResult
    from actcmp.store.database import Store

    configs = [{"run_id": rid, "activation": "relu", "dataset": "digits", "depth": 1, "seed": s} for s, rid in
               enumerate(["r1", "r2"])]  # fmt: skip
    env = {"cpu_capability": capability, "torch": "2.13.0", "numpy": "2.3.0", **({"engine": engine} if engine else {})}
    with Store(directory) as store:
        store.save_sweep("sw", "fake", {"grid": {}}, configs)
        if shard:
            store.mark_shard("sw", shard)
        for cfg in configs if shard is None else configs[shard[0] - 1 : shard[0]]:
            final = {"test_loss": loss if cfg["run_id"] == "r1" else 0.25}
            store.write_run(RunResult(cfg["run_id"], cfg, "done", final, [(1, "val_loss", loss)], env=env))
    return directory


def test_the_same_merge_twice_is_a_no_op(tmp_path: Path) -> None:
    s1 = _fake_store(tmp_path / "s1", 0.5, "AVX2", (1, 2))
    s2 = _fake_store(tmp_path / "s2", 0.5, "AVX2", (2, 2))
    out = tmp_path / "merged"
    first = runner.invoke(app, ["merge", str(out), str(s1), str(s2)])
    assert first.exit_code == 0, first.output
    before = files_of(out)
    again = runner.invoke(app, ["merge", str(out), str(s1), str(s2)])
    assert again.exit_code == 0, again.output
    assert "nothing new" in again.output and "(2 runs;" in again.output
    from actcmp.store.database import Store

    with Store(out, create=False) as store:
        assert store.conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 2
    assert set(files_of(out)) == set(before)
    # two different jobs that ran the same shard are still refused
    copy = _fake_store(tmp_path / "s1again", 0.5, "AVX2", (1, 2))
    one_error(runner.invoke(app, ["merge", str(tmp_path / "m2"), str(s1), str(copy)]), 2, "merged twice")


def test_a_shard_rerun_with_other_numbers_is_still_refused(tmp_path: Path) -> None:
    s1 = _fake_store(tmp_path / "s1", 0.5, "AVX2", (1, 2))
    out = tmp_path / "merged"
    assert runner.invoke(app, ["merge", str(out), str(s1)]).exit_code == 0
    shutil.rmtree(s1)  # the shard's job ran again, in the same place, and got other numbers
    _fake_store(s1, 0.75, "AVX2", (1, 2))
    one_error(runner.invoke(app, ["merge", str(out), str(s1)]), 2, "run r1 has different results")
    other = _fake_store(tmp_path / "s1b", 0.5, "AVX2", (1, 2))  # the same shard from another job
    one_error(runner.invoke(app, ["merge", str(out), str(other)]), 2, "merged twice")


def test_runs_from_different_kernel_families_name_them_and_prefer_picks_one(tmp_path: Path) -> None:
    a = _fake_store(tmp_path / "a", 0.5, "avx512")
    b = _fake_store(tmp_path / "b", 0.5000001, "avx2")
    out = tmp_path / "merged"
    line = one_error(runner.invoke(app, ["merge", str(out), str(a), str(b)]), 2, "trained with avx512 kernels in")
    assert f"in {a} and avx2 in {b}" in line and "--prefer" in line
    assert not out.exists()
    for side, loss in ((b, 0.5000001), (a, 0.5)):
        target = tmp_path / f"m-{side.name}"
        result = runner.invoke(app, ["merge", str(target), str(a), str(b), "--prefer", str(side)])
        assert result.exit_code == 0, result.output
        assert "preferred: 2 runs" in result.output  # r1 and r2 (their val_loss curves differ)
        from actcmp.store.database import load_results

        runs = load_results(target).runs.set_index("run_id")
        assert runs.loc["r1", "test_loss"] == loss
    one_error(runner.invoke(app, ["merge", str(out), str(a), str(b), "--prefer", str(tmp_path)]), 2, "--prefer")


@pytest.mark.parametrize("plain", ["plain", None], ids=["recorded", "stored-before-plain-recorded-itself"])
def test_runs_from_the_two_engines_name_them_and_prefer_picks_one(tmp_path: Path, plain: str | None) -> None:
    """``--engine plain`` and the batched engine agree to float tolerance, not bit for bit: a
    merge of the two copies of a run names the engines and ``--prefer`` keeps one (a review
    found a bare "refusing to merge" that --prefer could not resolve). A plain run stored
    before it recorded its engine has no ``engine``: it is read as plain."""
    a = _fake_store(tmp_path / "a", 0.5, "avx2", engine=plain)
    b = _fake_store(tmp_path / "b", 0.5000001, "avx2", engine="batched")
    line = one_error(runner.invoke(app, ["merge", str(tmp_path / "m"), str(a), str(b)]), 2, "engine plain in")
    assert f"engine plain in {a} and engine batched in {b}" in line and "--prefer" in line
    result = runner.invoke(app, ["merge", str(tmp_path / "m"), str(a), str(b), "--prefer", str(b)])
    assert result.exit_code == 0 and "preferred: 2 runs" in result.output, result.output


def test_the_plain_engine_records_itself() -> None:
    from actcmp.config import make_run
    from actcmp.datasets import load_dataset
    from actcmp.engine.plain import resolve, train_run

    cfg = make_run({"dataset": "digits", "depth": 1, "width": 8, "bottleneck": 4, "epochs": 1, "probe_size": 16})
    data = load_dataset(cfg.dataset, cfg.seed, cfg.val_fraction, cfg.test_fraction)
    result = train_run(resolve(cfg, data.info.output_activation, data.info.loss), data)
    assert result.env["engine"] == "plain"


def test_prefer_does_not_hide_a_difference_on_the_same_kernels(tmp_path: Path) -> None:
    a = _fake_store(tmp_path / "a", 0.5, "AVX2")
    b = _fake_store(tmp_path / "b", 0.6, "AVX2")
    result = runner.invoke(app, ["merge", str(tmp_path / "m"), str(a), str(b), "--prefer", str(a)])
    one_error(result, 2, "run r1 has different results")


def test_compare_across_kernel_families_uses_a_tolerance(tmp_path: Path) -> None:
    a = _fake_store(tmp_path / "a", 0.5, "avx512")
    b = _fake_store(tmp_path / "b", 0.5001, "avx2")  # 2e-4 relative: float32 noise, not a regression
    c = _fake_store(tmp_path / "c", 0.5001, "avx512")
    strict = ["--rtol", "0", "--atol", "0", "--k", "0"]
    across = runner.invoke(app, ["compare", str(b), str(a), *strict])
    assert across.exit_code == 0, across.output
    assert "rtol at least 0.001: NEW ran on avx2 kernels, BASELINE on avx512" in across.output
    same = runner.invoke(app, ["compare", str(c), str(a), *strict])
    assert same.exit_code == 1 and "1 regressed" in same.output


def _complete(path: Path) -> bool:
    data = path.read_bytes()
    if path.suffix == ".pdf":
        return data.rstrip().endswith(b"%%EOF")
    if path.suffix == ".png":
        return data[-8:-4] == b"IEND"
    if path.suffix in (".svg", ".html"):
        return data.rstrip().endswith((b"</svg>", b"</html>"))
    return len(data) > 0


@pytest.mark.slow
def test_a_report_killed_at_any_point_leaves_no_partial_file(results: Path) -> None:
    """SIGKILL a real ``actcmp report`` at several points: every file under its final name
    is complete (a PDF ends in %%EOF, a PNG in IEND, ...); the next report succeeds."""
    import signal
    import time

    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    command = [sys.executable, "-m", "actcmp", "report", str(results), "--formats", "png,pdf,svg"]
    killed = 0
    for delay in (2.0, 3.0, 4.5, 6.0):
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        killed += proc.wait(timeout=60) == -signal.SIGKILL
        finals = [
            p
            for p in [*results.glob("report.*"), *results.glob("tables/*"), *results.glob("figures/*")]
            if not p.name.startswith(".")  # temp files: never under a final name
        ]
        assert all(_complete(p) for p in finals), [p.name for p in finals if not _complete(p)]
    assert killed >= 2  # the kills landed while the report was writing, not after it
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr


def test_run_sweep_at_a_scripts_top_level_is_refused_in_the_workers(tmp_path: Path) -> None:
    """The Python API in a script without ``if __name__ == "__main__":``: every spawned worker
    imports the script and would start a second sweep into the locked directory (three
    tracebacks about a lock); each now refuses with the advice, and nothing is stored."""
    script = tmp_path / "unguarded.py"
    script.write_text(
        f"import actcmp\nactcmp.run_sweep({str(REPO / 'experiments' / 'smoke.toml')!r}, out='r', jobs=2)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300
    )
    assert proc.returncode != 0
    assert 'call it under `if __name__ == "__main__":`' in proc.stderr, proc.stderr
    assert "in use by another sweep" not in proc.stderr
    import sqlite3

    with sqlite3.connect(tmp_path / "r" / "actcmp.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0
