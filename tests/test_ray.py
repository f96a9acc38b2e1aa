"""The Ray backend (``--backend ray``) against a real Ray head node on loopback.

The head node is bound to 127.0.0.1 only: ``--node-ip-address=127.0.0.1`` plus
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` (without it Ray 2.60 swaps 127.0.0.1 for the
machine's outward address), dashboard and usage statistics off, token authentication
with a token made for the test, a temp dir of its own, and ``PYTHONPATH`` set to a decoy
``actcmp`` that fails to import: the workers only have actcmp through the job's runtime
environment. It runs in a session of its own (its daemons in one process group, the
workers in groups of their own), killed at the end; the test checks that nothing of it
is left.

Ray reads its settings when it is imported, so the environment is set before the first
``import ray`` (the ``ray`` fixture) and these tests import Ray nowhere else.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from frames import assert_same_results

from actcmp.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent
SMOKE = REPO / "experiments" / "smoke.toml"
TOKEN = secrets.token_hex(16)
#: what both the head node and this test's driver need (set before Ray is imported)
RAY_ENV = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # keep 127.0.0.1 as the node address
    "RAY_AUTH_MODE": "token",
    "RAY_AUTH_TOKEN": TOKEN,
}


def ray_test(test: Any) -> Any:
    """A test against a real Ray instance: marked ``ray`` and ``slow`` (seconds to start)."""
    return pytest.mark.slow(pytest.mark.ray(test))


# Ray 2.60 emits no warning here, so the suite's filterwarnings=error stands unchanged
pytestmark = [pytest.mark.timeout(300)]


# -- without Ray --------------------------------------------------------------------------


def test_importing_actcmp_never_imports_ray() -> None:
    code = (
        "import sys, actcmp, actcmp.run.executors, actcmp.run.sweep, actcmp.cli\n"
        "from actcmp.run.executors import make_executor\n"
        "make_executor('local', 1).shutdown()\n"
        "assert 'ray' not in sys.modules, 'ray was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=120)


def test_without_ray_the_backend_fails_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from actcmp.run.executors import make_executor

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(ConfigError) as info:
        make_executor("ray", 1)
    assert str(info.value) == "--backend ray needs Ray: pip install 'actcmp[ray]'"


def test_a_too_old_ray_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from actcmp.run.ray_executor import import_ray, version_tuple

    monkeypatch.setitem(sys.modules, "ray", types.SimpleNamespace(__version__="2.8.1"))
    with pytest.raises(ConfigError, match=r"needs Ray >= 2\.9, found 2\.8\.1: pip install -U 'actcmp\[ray\]'"):
        import_ray()
    assert version_tuple("2.60.0") > version_tuple("2.9") > version_tuple("2.8.1rc1")


def test_local_backend_rejects_an_address() -> None:
    from actcmp.run.executors import make_executor

    with pytest.raises(ConfigError, match="--address is for --backend ray"):
        make_executor("local", 1, address="127.0.0.1:6379")
    with pytest.raises(ConfigError, match=r"unknown backend 'dask' \(available: local, ray\)"):
        make_executor("dask", 1)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        pytest.param("127.0.0.1:6379", ("127.0.0.1", 6379), id="host-port"),
        pytest.param("ray://head.example:10001", ("head.example", 10001), id="ray-client"),
        pytest.param("[::1]:6379", ("::1", 6379), id="ipv6"),
    ],
)
def test_split_address(address: str, expected: tuple[str, int]) -> None:
    from actcmp.run.ray_executor import split_address

    assert split_address(address) == expected


@pytest.mark.parametrize("address", ["head-node", "127.0.0.1:", "127.0.0.1:port", ":6379", "127.0.0.1:70000"])
def test_a_malformed_address_is_named(address: str) -> None:
    from actcmp.run.ray_executor import split_address

    with pytest.raises(ConfigError, match=r"is not HOST:PORT or ray://HOST:PORT"):
        split_address(address)


def test_an_unreachable_address_fails_fast_and_names_it() -> None:
    from actcmp.run.ray_executor import check_reachable

    port = free_port()  # nothing listens there
    started = time.monotonic()
    with pytest.raises(ConfigError) as info:
        check_reachable(f"127.0.0.1:{port}", timeout=2)
    assert time.monotonic() - started < 5
    message = str(info.value)
    assert f"127.0.0.1:{port}" in message and "ray start --head" in message and "RAY_ADDRESS" in message
    assert "\n" not in message


@contextlib.contextmanager
def loopback_server(reply: bytes | None) -> Iterator[int]:
    """A TCP server on 127.0.0.1 that answers each connection with ``reply`` (None:
    reads and never answers); yields its port."""
    import threading

    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except (TimeoutError, OSError):
                continue
            held.append(conn)
            if reply is not None:
                with contextlib.suppress(OSError):
                    conn.recv(1024)
                    conn.sendall(reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(server.getsockname()[1])
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        server.close()


@pytest.mark.parametrize(
    ("reply", "fragment"),
    [
        pytest.param(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", "is an HTTP server", id="http"),
        pytest.param(None, "did not answer within 2 s", id="silent"),
        pytest.param(b"SSH-2.0-OpenSSH_9.6\r\n", "does not speak gRPC", id="other"),
    ],
)
def test_an_address_that_is_not_a_gcs_port_is_named_fast(reply: bytes | None, fragment: str) -> None:
    """Ray hangs for minutes on an HTTP port (a dashboard or agent): the probe names
    what answers there before Ray is asked."""
    from actcmp.run.ray_executor import CONNECT_TIMEOUT_S, HTTP_PROBE_S, check_reachable

    with loopback_server(reply) as port:
        started = time.monotonic()
        with pytest.raises(ConfigError) as info:
            check_reachable(f"127.0.0.1:{port}")
        assert time.monotonic() - started < CONNECT_TIMEOUT_S + HTTP_PROBE_S
    message = str(info.value)
    assert message.startswith(f"127.0.0.1:{port} is ") and fragment in message
    assert "not the GCS port of a Ray head node" in message and "\n" not in message


def test_a_grpc_port_passes_the_probe() -> None:
    from actcmp.run.ray_executor import check_reachable, port_kind

    settings = b"\x00\x00\x18\x04\x00\x00\x00\x00\x00"  # an HTTP/2 SETTINGS frame, as gRPC servers open
    with loopback_server(settings) as port:
        assert port_kind("127.0.0.1", port) == "grpc"
        check_reachable(f"127.0.0.1:{port}")  # passes on to the GCS handshake


def test_lost_runs_are_one_count_in_the_summary() -> None:
    from actcmp.progress import summary_line

    line = summary_line(
        {"ran": 4, "done": 4, "diverged": 0, "failed": 0, "skipped": 0, "wall_time_s": 40.0, "lost_runs": 4}
    )
    assert line == (
        "8 runs in 40s wall time: 4 done, 0 diverged, 0 failed, 4 pending (lost with a Ray worker or node: run again to "
        "redo them); 0 skipped (already stored)"
    )


def test_max_retries_is_for_the_ray_backend(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from actcmp.cli import app

    result = CliRunner().invoke(app, ["run", str(SMOKE), "--max-retries", "1", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2 and "--max-retries is for --backend ray" in result.output
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_a_failed_connect_creates_no_results_directory(tmp_path: Path) -> None:
    """Connect first: a cluster that cannot be reached leaves nothing behind."""
    if importlib.util.find_spec("ray") is None:
        pytest.skip("Ray is not installed (optional extra): pip install 'actcmp[ray]'")
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "actcmp", "run", str(SMOKE), "--backend", "ray", "--address",
         f"127.0.0.1:{free_port()}", "--out", str(out), "-q"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("actcmp: error: cannot reach a Ray cluster at 127.0.0.1:")
    assert not out.exists()


def test_token_mode_without_a_token_is_named_before_ray_is_asked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from actcmp.run.ray_executor import check_authentication, token_available

    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "no-token"))
    assert not token_available()
    with pytest.raises(ConfigError, match=r"RAY_AUTH_MODE=token but no authentication token .* set RAY_AUTH_TOKEN"):
        check_authentication("127.0.0.1:6379")  # Ray's own client would abort the process here
    (tmp_path / "no-token").write_text("secret\n")
    assert token_available()


# -- a real head node ---------------------------------------------------------------------


@dataclass
class Head:
    address: str
    temp_dir: Path
    sid: int  # the session of ``ray start``: every process of the head node
    env: dict[str, str]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def processes() -> Iterator[tuple[int, str, str, int]]:
    """(pid, name, state, session id) of every process."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name, _, rest = stat.partition("(")[2].rpartition(")")
        fields = rest.split()  # state, ppid, pgrp, session, ...
        yield int(entry.name), name, fields[0], int(fields[3])


def session_members(sid: int) -> list[tuple[int, str]]:
    """Live (not zombie) processes of session ``sid``: (pid, name). The head node's
    daemons share its process group; Ray's workers get groups of their own but stay in
    its session."""
    return [(pid, name) for pid, name, state, session in processes() if session == sid and state != "Z"]


def stop_session(sid: int) -> list[tuple[int, str]]:
    """SIGTERM then SIGKILL every process of the session; what is still alive after that."""
    for sig, grace in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 10.0)):
        for pid, _ in session_members(sid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and session_members(sid):
            time.sleep(0.2)
    return session_members(sid)


@pytest.fixture(scope="module")
def ray() -> Iterator[Any]:
    """The ``ray`` module, imported with the test's environment (skips without Ray)."""
    if importlib.util.find_spec("ray") is None:
        pytest.skip("Ray is not installed (optional extra): pip install 'actcmp[ray]'")
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("RAY_ADDRESS", raising=False)
        for key, value in RAY_ENV.items():
            patch.setenv(key, value)
        if "ray" in sys.modules and not sys.modules["ray"].__dict__.get("_actcmp_test_env"):
            pytest.skip("Ray was imported before this module set its environment")
        module = pytest.importorskip("ray", reason="Ray is not installed (optional extra): pip install 'actcmp[ray]'")
        module._actcmp_test_env = True
        yield module
        if module.is_initialized():
            module.shutdown()


@pytest.fixture(scope="module")
def head(ray: Any) -> Iterator[Head]:
    """A Ray head node on 127.0.0.1 with 2 CPUs, in a session of its own."""
    temp_dir = Path(tempfile.mkdtemp(prefix="actcmp-ray-", dir="/tmp"))  # short: Ray's socket paths
    decoy = temp_dir / "decoy" / "actcmp"
    decoy.mkdir(parents=True)
    (decoy / "__init__.py").write_text("raise ImportError('actcmp is not installed on this node')\n")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "PYTEST_"))}
    env.update(RAY_ENV, PYTHONPATH=str(decoy.parent))
    ray_cli = Path(sys.executable).with_name("ray")
    command = [str(ray_cli)] if ray_cli.exists() else [sys.executable, "-m", "ray.scripts.scripts"]
    command += [
        "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--include-dashboard=false",
        "--disable-usage-stats", "--num-cpus=2", f"--temp-dir={temp_dir / 'ray'}",
    ]  # fmt: skip
    proc = subprocess.Popen(
        command,
        cwd=temp_dir,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        output, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, output
        yield Head(f"127.0.0.1:{port}", temp_dir, proc.pid, env)
    finally:
        left = stop_session(proc.pid)
        shutil.rmtree(temp_dir, ignore_errors=True)
    assert not left, f"Ray processes left behind: {left}"


def stored_ids(directory: Path) -> list[str]:
    import sqlite3

    from actcmp.store.database import DB_NAME

    conn = sqlite3.connect(directory / DB_NAME)
    try:
        return [row[0] for row in conn.execute("SELECT run_id FROM runs")]
    finally:
        conn.close()


@pytest.fixture
def elsewhere(head: Head, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run the driver from a directory without actcmp: Ray puts the driver's working
    directory on the workers' ``sys.path``, which here would hand them the repository."""
    monkeypatch.chdir(head.temp_dir)


@ray_test
def test_workers_get_actcmp_from_the_runtime_env(head: Head, elsewhere: None) -> None:
    from actcmp.run.ray_executor import RayExecutor, package_dir

    no_actcmp = subprocess.run(
        [sys.executable, "-c", "import actcmp"], env=head.env, cwd=head.temp_dir, capture_output=True
    )
    assert b"not installed on this node" in no_actcmp.stderr  # the node's own Python has no actcmp
    executor = RayExecutor(head.address)
    try:
        assert executor.slots == 2 and executor._max_workers == 16
        shipped = executor.submit(package_dir).result(timeout=120)
    finally:
        executor.shutdown()
    assert shipped != package_dir() and str(head.temp_dir) in str(shipped)


@ray_test
def test_sweep_on_the_cluster_stores_what_the_local_backend_stores(
    head: Head, elsewhere: None, smoke_results: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from actcmp.run.sweep import run_sweep

    monkeypatch.setenv("RAY_ADDRESS", head.address)
    summary = run_sweep(SMOKE, tmp_path / "ray", backend="ray")
    assert (summary.ran, summary.done, summary.failed) == (8, 8, 0)
    assert_same_results(smoke_results, tmp_path / "ray")
    again = run_sweep(SMOKE, tmp_path / "ray", backend="ray")
    assert (again.skipped, again.ran) == (8, 0)


def _die_once(marker: str, task: Any) -> Any:
    """The first task to claim ``marker`` SIGKILLs its own worker process; others train.
    (Shipped to the workers by value: see ``by_value``.)"""
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        from actcmp.run.sweep import execute_task

        return execute_task(task)
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    os.kill(os.getpid(), signal.SIGKILL)
    return None  # pragma: no cover - never reached


@pytest.fixture
def by_value(ray: Any) -> Iterator[None]:
    """Let cloudpickle send this module's functions to the workers by value."""
    module = sys.modules[__name__]
    ray.cloudpickle.register_pickle_by_value(module)
    try:
        yield
    finally:
        ray.cloudpickle.unregister_pickle_by_value(module)


def kill_one_worker(monkeypatch: pytest.MonkeyPatch, marker: Path) -> None:
    import functools

    import actcmp.run.sweep

    # what the sweep submits (read in actcmp.run.sweep._drain)
    monkeypatch.setattr(actcmp.run.sweep, "worker_task", functools.partial(_die_once, str(marker)))


@ray_test
def test_a_killed_worker_is_retried_by_ray(
    head: Head, elsewhere: None, by_value: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from actcmp.run.sweep import run_sweep

    monkeypatch.setenv("RAY_ADDRESS", head.address)
    kill_one_worker(monkeypatch, tmp_path / "killed.pid")
    summary = run_sweep(SMOKE, tmp_path / "out", backend="ray")
    assert (tmp_path / "killed.pid").exists()  # a worker did die
    assert (summary.ran, summary.done) == (8, 8)
    ids = stored_ids(tmp_path / "out")
    assert len(ids) == len(set(ids)) == 8


@ray_test
def test_a_killed_worker_without_retries_leaves_its_runs_pending(
    head: Head, elsewhere: None, by_value: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import actcmp.run.executors
    from actcmp.run.executors import TaskLost
    from actcmp.run.ray_executor import RayExecutor
    from actcmp.run.sweep import run_sweep

    made: list[RayExecutor] = []

    def make(backend: str, jobs: int, address: str | None = None, threads: int | None = None, **options: Any) -> Any:
        made.append(RayExecutor(head.address, **options))
        return made[-1]

    monkeypatch.setattr(actcmp.run.executors, "make_executor", make)
    kill_one_worker(monkeypatch, tmp_path / "killed.pid")
    out = tmp_path / "out"
    try:
        first = run_sweep(SMOKE, out, backend="ray", executor_options={"max_retries": 0})  # --max-retries 0
        assert made[0].max_retries == 0
        lost = first.left
        assert lost == 4  # the killed task's group of 4 runs; the other task's runs are stored
        assert first.lost_runs == 4 and first.ran + first.lost_runs == 8  # one consistent count
        assert first.backend_log == str(out / "ray.log")
        assert not (out / "ray.log").exists() or (out / "ray.log").stat().st_size > 0  # kept only if written
    except TaskLost as exc:  # a sweep whose _drain stops at the first lost task
        assert "lost on the Ray cluster" in str(exc) and "WorkerCrashedError" in str(exc)
        lost = 8 - len(stored_ids(out))
        assert lost >= 4
    assert (tmp_path / "killed.pid").exists()
    assert len(stored_ids(out)) == 8 - lost  # nothing half-stored
    monkeypatch.undo()  # no more killing, Ray's default retries
    monkeypatch.setenv("RAY_ADDRESS", head.address)
    monkeypatch.chdir(head.temp_dir)
    second = run_sweep(SMOKE, out, backend="ray")
    assert (second.skipped, second.ran, second.done) == (8 - lost, lost, lost)
    ids = stored_ids(out)
    assert len(ids) == len(set(ids)) == 8


def _sleep_in_worker(marker: str) -> None:
    """Write this worker's PID to ``marker``, then sleep far longer than any test."""
    Path(marker).write_text(str(os.getpid()))
    time.sleep(600)


def pid_alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


@ray_test
def test_shutdown_after_ctrl_c_cancels_the_remote_tasks(head: Head, elsewhere: None, by_value: None) -> None:
    from actcmp.run.ray_executor import RayExecutor

    marker = head.temp_dir / "sleeping.pid"
    executor = RayExecutor(head.address)
    future = executor.submit(_sleep_in_worker, str(marker))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (marker.exists() and marker.read_text()):
        time.sleep(0.1)
    worker = int(marker.read_text())
    assert pid_alive(worker)
    executor.shutdown(wait=False, cancel_futures=True)  # what the sweep does on Ctrl-C
    assert future.cancelled()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and pid_alive(worker):
        time.sleep(0.1)
    assert not pid_alive(worker)


@ray_test
def test_a_version_mismatch_is_named(head: Head, ray: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import ray._private.utils as ray_utils

    from actcmp.run.ray_executor import RayExecutor

    real = ray_utils.compute_version_info()
    monkeypatch.setattr(ray_utils, "compute_version_info", lambda: ("2.9.0", real[1]))
    with pytest.raises(ConfigError) as info:
        RayExecutor(head.address)
    message = str(info.value)
    assert f"Ray version mismatch with the cluster at {head.address}" in message
    assert f"pip install 'ray=={ray.__version__}'" in message and "\n" not in message
    assert not ray.is_initialized()


@ray_test
def test_the_head_nodes_other_ports_are_named(head: Head) -> None:
    """A raylet (gRPC, not the GCS) and an agent's HTTP port of the head node: each
    refused in one line, fast, with what it is."""
    from actcmp.run.ray_executor import RayExecutor, port_kind

    gcs_port = int(head.address.rpartition(":")[2])
    pids = [pid for pid, _ in session_members(head.sid)]
    ports = sorted({int(addr.rpartition(":")[2]) for _, addr in listening_addresses(pids)} - {gcs_port})
    kinds = {port: port_kind("127.0.0.1", port) for port in ports}
    grpc = [port for port, kind in kinds.items() if kind == "grpc"]
    http = [port for port, kind in kinds.items() if kind == "http"]
    assert grpc and http, kinds
    for port, fragment in ((grpc[0], "is a Ray gRPC port that is not the GCS"), (http[0], "is an HTTP server")):
        started = time.monotonic()
        with pytest.raises(ConfigError) as info:
            RayExecutor(f"127.0.0.1:{port}")
        assert time.monotonic() - started < 15
        assert str(info.value).startswith(f"127.0.0.1:{port} {fragment}"), str(info.value)


@ray_test
def test_rays_own_output_goes_to_the_log_file(ray: Any, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """What Ray prints for its raylets (a worker's death, its state dump) and its logger's
    records land in the file, not on stdout/stderr; restore() puts Ray's handling back
    and removes a file nothing was written to."""
    import logging

    import ray._private.worker as worker_module

    from actcmp.run.ray_executor import _RayOutput

    original = worker_module.print_to_stdstream
    output = _RayOutput()
    output.to_file(tmp_path / "ray.log")
    worker_module.print_to_stdstream(
        {"lines": ["A worker died or was killed while executing a task"], "pid": "raylet", "is_err": False},
        ignore_prefix=False,
    )
    logging.getLogger("ray.some.module").warning("a warning of Ray's")
    output.restore()
    assert worker_module.print_to_stdstream is original
    text = (tmp_path / "ray.log").read_text()
    assert "A worker died or was killed" in text and "a warning of Ray's" in text
    captured = capfd.readouterr()
    assert "worker died" not in captured.out + captured.err and "a warning" not in captured.out + captured.err
    quiet = _RayOutput()
    quiet.to_file(tmp_path / "quiet.log")
    quiet.restore()
    assert not (tmp_path / "quiet.log").exists()


@ray_test
def test_ray_client_without_its_extra_is_named(ray: Any) -> None:
    from actcmp.run.ray_executor import RayExecutor

    missing = ValueError("Ray Client requires pip package `ray[client]`. If you installed the minimal Ray ...")
    error = RayExecutor._connect_error(types.SimpleNamespace(_ray=ray), missing, "ray://head:10001")  # type: ignore[arg-type]
    assert str(error).startswith("ray:// addresses need Ray Client on this machine and the head node")
    assert "pip install 'ray[client]'" in str(error) and "head:10001" in str(error) and "6379" not in str(error)


@ray_test
def test_missing_authentication_is_named(head: Head) -> None:
    code = (
        "import sys\n"
        "from actcmp.errors import ConfigError\n"
        "from actcmp.run.executors import make_executor\n"
        "try:\n"
        f"    make_executor('ray', 1, address={head.address!r})\n"
        "except ConfigError as exc:\n"
        "    print(exc)\n"
        "else:\n"
        "    sys.exit('connected without a token')\n"
    )
    env = {k: v for k, v in head.env.items() if k not in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}
    env.update(PYTHONPATH=str(REPO), HOME=str(head.temp_dir))  # no ~/.ray/auth_token either
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - started < 30
    message = done.stdout.strip()
    assert message.startswith(
        f"the Ray cluster at {head.address} uses token authentication and this machine sent no token"
    )
    assert "RAY_AUTH_MODE=token" in message and "RAY_AUTH_TOKEN" in message


@ray_test
def test_a_killed_drivers_temp_dir_is_removed_and_no_other(tmp_path: Path) -> None:
    """``kill -9`` of a local-Ray sweep leaves its temp dir (about 2 MB); the next local
    start removes it, and only it: not a running driver's (it holds a lock on its driver file,
    which the kernel drops when the driver dies, whatever process-id namespace the cleaner is
    in: a process id alone was not enough, a review found), not one without the driver file
    (the test head node's, or one made before the file was written), not another name's.
    Needs no Ray."""
    from actcmp.run.ray_executor import DRIVER_FILE, TEMP_PREFIX, hold_driver_file, remove_stale_temp_dirs

    def made(name: str, marker: bool) -> Path:
        folder = tmp_path / name
        (folder / "session_latest" / "logs").mkdir(parents=True)
        (folder / "session_latest" / "logs" / "raylet.out").write_text("log")
        if marker:
            (folder / DRIVER_FILE).write_text("12345")  # a driver that died: nobody holds the lock
        return folder

    stale = made(f"{TEMP_PREFIX}killed", True)
    mine = made(f"{TEMP_PREFIX}running-here", False)
    held = hold_driver_file(mine)  # this process, as a running sweep's driver
    other = made(f"{TEMP_PREFIX}running-elsewhere", False)
    script = (
        "import sys, time; from pathlib import Path; from actcmp.run.ray_executor import hold_driver_file; "
        "h = hold_driver_file(Path(sys.argv[1])); print('held', flush=True); time.sleep(60)"
    )
    child = subprocess.Popen([sys.executable, "-c", script, str(other)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        unmarked = made(f"{TEMP_PREFIX}unmarked", False)
        elsewhere = made("ray-killed", True)
        assert remove_stale_temp_dirs(str(tmp_path)) == [str(stale)]
        assert not stale.exists()
        assert mine.exists() and other.exists() and unmarked.exists() and elsewhere.exists()
        assert remove_stale_temp_dirs(str(tmp_path)) == []
    finally:
        child.kill()
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
    # the other driver died (SIGKILL): its lock went with it, and its dir is removed next time
    assert remove_stale_temp_dirs(str(tmp_path)) == [str(other)]
    held.close()
    assert remove_stale_temp_dirs(str(tmp_path)) == [str(mine)]


def test_a_local_instance_starts_and_stops_with_the_sweep(ray: Any) -> None:
    from actcmp.run.executors import make_executor
    from actcmp.run.ray_executor import RayExecutor

    # processes of earlier tests (multiprocessing's resource tracker lives as long as pytest)
    before = set(descendants(os.getpid()))
    default_ray_dir = Path(tempfile.gettempdir()) / "ray"
    had_default_dir = default_ray_dir.exists()
    temp_before = set(Path(tempfile.gettempdir()).glob("actcmp-ray-*"))
    executor = make_executor("ray", 2)  # no temp_dir given: one of its own, removed at shutdown
    try:
        assert isinstance(executor, RayExecutor) and executor.started_local
        assert ray.is_initialized() and ray.cluster_resources()["CPU"] == 2
        assert executor.submit(pow, 2, 10).result(timeout=120) == 1024
        started = [p for p in descendants(os.getpid()) if p not in before]  # gcs_server, raylet, agents, worker
        assert {"gcs_server", "raylet"} <= {name for _, name in started}
        # every port of the instance (and of this driver) listens on loopback only
        listening = listening_addresses([os.getpid(), *(pid for pid, _ in started)])
        assert len(listening) >= 3, listening  # the GCS, the raylet's ports, the driver's
        outside = [(pid, addr) for pid, addr in listening if not addr.startswith(("127.0.0.1:", "::1:"))]
        assert not outside, outside
        own = set(Path(tempfile.gettempdir()).glob("actcmp-ray-*")) - temp_before
        assert len(own) == 1
        mine = own.pop()
        assert (mine / "actcmp-driver.pid").read_text() == str(os.getpid())  # what tells a stale dir
        assert any(p.name.startswith("session_") for p in mine.iterdir())  # Ray's session files live there
    finally:
        executor.shutdown()
    assert not ray.is_initialized()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and still_alive(started):
        time.sleep(0.2)
    assert not still_alive(started)
    assert set(Path(tempfile.gettempdir()).glob("actcmp-ray-*")) <= temp_before  # removed
    assert default_ray_dir.exists() == had_default_dir  # nothing in /tmp/ray


def descendants(root: int) -> list[tuple[int, str]]:
    """Every live process below ``root``: (pid, name)."""
    children: dict[int, list[tuple[int, str]]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                name, _, rest = (entry / "stat").read_text().partition("(")[2].rpartition(")")
            except OSError:
                continue
            state, ppid = rest.split()[:2]
            if state != "Z":
                children.setdefault(int(ppid), []).append((int(entry.name), name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child[0])
    return found


def still_alive(started: list[tuple[int, str]]) -> list[tuple[int, str]]:
    alive = []
    for pid, name in started:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if f"({name})" in stat and stat.rpartition(")")[2].split()[0] != "Z":
            alive.append((pid, name))
    return alive


def listening_addresses(pids: list[int]) -> list[tuple[int, str]]:
    """(pid, local address) of every listening TCP socket of ``pids``, from /proc."""
    by_inode: dict[str, str] = {}
    import ipaddress

    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state != "0A":  # LISTEN
                    continue
                hex_ip, hex_port = local.split(":")
                raw = bytes.fromhex(hex_ip)
                # /proc prints the address as 32-bit words in host (little-endian) order
                ip_bytes = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
                ip = ipaddress.ip_address(ip_bytes)
                mapped = getattr(ip, "ipv4_mapped", None)
                by_inode[inode] = f"{mapped or ip}:{int(hex_port, 16)}"
    found = []
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inode = target[len("socket:[") : -1]
                        if inode in by_inode:
                            found.append((pid, by_inode[inode]))
    return found
