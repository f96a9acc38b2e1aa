"""Shared fixtures: small, fast, deterministic."""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

os.environ.setdefault("CI", "1")  # plain progress lines, never a live display, in tests
# the generated datasets' disk cache (datasets/cache.py): one per test session, shared by its
# subprocesses, never the user's own
if "ACTCMP_DATASET_CACHE" not in os.environ:
    _CACHE = tempfile.mkdtemp(prefix="actcmp-dataset-cache-")
    os.environ["ACTCMP_DATASET_CACHE"] = _CACHE
    atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
# a suite started as a shell's background job (`make test &` in a script) inherits an ignored
# SIGINT, which actcmp leaves ignored, as it should: the Ctrl-C tests here (in process, and in
# the subprocesses they start, which inherit the disposition) need it back
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _torch_threads() -> None:
    import torch

    torch.set_num_threads(1)


@pytest.fixture
def smoke_config() -> Path:
    return REPO / "experiments" / "smoke.toml"


@pytest.fixture(scope="session")
def smoke_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The smoke sweep, trained once per test session (read-only for tests)."""
    from actcmp.run.sweep import run_sweep

    out = tmp_path_factory.mktemp("smoke") / "results"
    run_sweep(REPO / "experiments" / "smoke.toml", out)
    return out
