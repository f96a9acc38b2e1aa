"""Planning without data: dataset shapes from the registry and file headers, no torch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from actcmp.datasets import DATASETS, dataset_shape, load_dataset, split_sizes
from actcmp.errors import DatasetError
from tests.test_datasets import write_mnist

FAST = [name for name in DATASETS if name not in ("mnist", "fashion-mnist", "mnist1d")]


def loaded_shape(name: str, val: float, test: float, seed: int = 0, data_dir: Path | None = None) -> tuple:
    data = load_dataset(name, seed, val, test, data_dir=data_dir)
    return (len(data.x_train), len(data.x_val), len(data.x_test), data.n_features)


def shape_tuple(name: str, val: float, test: float, data_dir: Path | None = None) -> tuple:
    shape = dataset_shape(name, val, test, data_dir=data_dir)
    return (shape.n_train, shape.n_val, shape.n_test, shape.n_features)


@pytest.mark.parametrize("name", FAST)
@pytest.mark.parametrize(("val", "test"), [(0.15, 0.15), (0.1, 0.3), (0.0, 0.25), (0.33, 0.0)])
def test_registry_shapes_are_what_loading_gives(name: str, val: float, test: float) -> None:
    assert shape_tuple(name, val, test) == loaded_shape(name, val, test, seed=3)


@pytest.mark.slow
def test_mnist1d_shape_is_what_loading_gives() -> None:
    assert shape_tuple("mnist1d", 0.15, 0.15) == loaded_shape("mnist1d", 0.15, 0.15)


def test_idx_shapes_come_from_the_headers(tmp_path: Path) -> None:
    write_mnist(tmp_path / "mnist", n_train=30, n_test=17)
    assert shape_tuple("mnist", 0.2, 0.1, tmp_path) == loaded_shape("mnist", 0.2, 0.1, data_dir=tmp_path)
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetError, match="missing IDX files"):
        dataset_shape("mnist", data_dir=tmp_path)


def test_user_file_shape(tmp_path: Path) -> None:
    path = tmp_path / "x.npy"
    np.save(path, np.random.default_rng(0).normal(size=(41, 5)))
    assert shape_tuple(f"npy:{path}", 0.15, 0.15) == loaded_shape(f"npy:{path}", 0.15, 0.15)


def test_split_sizes_with_anomalies() -> None:
    # anomalies: stratified, then dropped from train and val (they test only)
    assert split_sizes(100, 0, 0.1, 0.2) == (70, 10, 20)
    assert split_sizes(110, 10, 0.1, 0.2) == (70, 10, 22)


def test_dry_run_loads_no_data_and_no_torch(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from actcmp.cli import app\n"
        "result = CliRunner().invoke(app, ['run', 'default', '--dry-run'])\n"
        "assert result.exit_code == 0, result.output\n"
        "assert '288 runs' in result.output, result.output\n"
        "# a registry name with parameters is checked, not built (building imported torch)\n"
        "args = ['run', '--activations', 'leaky_relu(negative_slope=0.2)', '--datasets', 'digits', '--dry-run']\n"
        "result = CliRunner().invoke(app, args)\n"
        "assert result.exit_code == 0, result.output\n"
        "import actcmp.datasets.builtin as d\n"
        "assert d.builtin_raw.cache_info().currsize == 0, 'a dataset was loaded'\n"
        "heavy = sorted(m for m in ('torch', 'sklearn', 'pandas') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr


def test_a_sweep_with_workers_never_imports_torch_in_its_main_process(tmp_path: Path) -> None:
    """Planning, task building (memory estimate, cost model) and storing the workers'
    results run in the main process without torch: its import (1.5-2 s) would delay every
    worker's start and take CPU from them."""
    code = (
        "import sys\n"
        "from actcmp.run.sweep import run_sweep\n"
        "if __name__ == '__main__':\n"
        f"    summary = run_sweep({str(Path(__file__).resolve().parent.parent / 'experiments' / 'smoke.toml')!r}, "
        f"{str(tmp_path / 'out')!r}, jobs=2)\n"
        "    assert summary.done == 8, summary\n"
        "    assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('actcmp'))\n"
    )
    script = tmp_path / "main.py"
    script.write_text(code)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]


def test_plan_refuses_a_bottleneck_as_wide_as_the_input() -> None:
    from actcmp.config import SweepConfig
    from actcmp.errors import ConfigError
    from actcmp.run.sweep import plan_runs

    sweep = SweepConfig(name="x", fixed={"bottleneck": 30, "width": 64}, grid={"dataset": ["breast-cancer"]})
    with pytest.raises(ConfigError, match="30 input features"):
        plan_runs(sweep)


def test_idx_headers_are_checked_against_the_file_sizes(tmp_path: Path) -> None:
    import gzip
    import struct

    write_mnist(tmp_path / "mnist", n_train=30, n_test=17)
    folder = tmp_path / "mnist"
    for base in ("train-images-idx3-ubyte", "train-images-idx3-ubyte.gz"):
        for stale in folder.glob("train-images-idx3-ubyte*"):
            stale.unlink()
        payload = bytes([0, 0, 8, 3]) + struct.pack(">3I", 30, 28, 28) + bytes(30 * 28 * 28 - 5)
        target = folder / base
        target.write_bytes(gzip.compress(payload) if base.endswith(".gz") else payload)
        with pytest.raises(DatasetError, match="is truncated: shape"):
            dataset_shape("mnist", data_dir=tmp_path)
