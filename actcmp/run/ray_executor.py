"""The Ray backend: sweep tasks run as Ray tasks on a cluster (or a local Ray instance).

Only :func:`execute_task`-style work runs remotely; each task's results come back to the
driver, which stays the one writer of the store. So resume, shards and merge behave
exactly as with the local backend.

* ``address`` (or ``RAY_ADDRESS``): ``HOST:PORT`` of a running head node (its GCS port,
  ``ray start --head --port=PORT``) or ``ray://HOST:PORT`` (Ray Client). Without one, a
  local Ray instance is started for the sweep and shut down after it.
* The actcmp package travels to the workers in the job's runtime environment
  (``py_modules``): nodes need Ray and actcmp's dependencies (torch, ...), not actcmp.
  (Ray also puts the driver's working directory on the workers' ``sys.path``; a node
  that has an ``actcmp`` package at that same path would import that one instead.)
* The local instance listens on 127.0.0.1 only (its node address, every daemon's port,
  no dashboard, no usage statistics) and keeps its files in a temp directory of its own
  that :meth:`RayExecutor.shutdown` removes (nothing is left in ``/tmp/ray``).
* Before Ray is asked, an address is probed: nothing listening, an HTTP port (dashboard,
  agents) or a Ray gRPC port that is not the GCS (raylet, workers) is named in one line
  within ``CONNECT_TIMEOUT_S + HTTP_PROBE_S + CONNECT_TIMEOUT_S`` seconds.
* Ray's own driver-side output (its logger, the messages its raylets and workers send
  to the driver) goes to a file once :meth:`RayExecutor.log_to` names one.
* Each task reserves ``num_cpus`` CPUs (and ``num_gpus`` GPUs when its device is CUDA).
* A task whose worker or node dies is retried by Ray (``max_retries``); when it still
  fails, its Future carries :class:`~actcmp.errors.TaskLost` and its runs stay
  unstored (pending), for the next ``run`` to pick up.

Ray is imported here, lazily, never by ``import actcmp``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, InvalidStateError
from concurrent.futures import wait as wait_all
from pathlib import Path
from typing import Any

import actcmp
from actcmp.errors import ConfigError, TaskLost
from actcmp.run.resources import cpu_count

MIN_RAY = (2, 9)
INSTALL_HINT = "--backend ray needs Ray: pip install 'actcmp[ray]'"
#: Seconds to wait for a TCP connection to the head node before giving up (and, again,
#: for the GCS handshake that follows).
CONNECT_TIMEOUT_S = 5.0
#: Seconds to wait for an answer to the HTTP request that tells an HTTP port from gRPC.
HTTP_PROBE_S = 2.0
#: The local instance's address: it listens on loopback only.
LOCAL_HOST = "127.0.0.1"
#: Seconds Ray keeps retrying the GCS handshake (its own default is about 20).
GCS_WAIT_S = 10
#: Tasks in flight are at least twice this (see ``RayExecutor._max_workers``).
MIN_SLOTS = 16
#: The local instance's temp dir (in the system's temp folder) and the file in it that
#: names the driver's process id, so that a dir left by a killed driver can be told apart
TEMP_PREFIX = "actcmp-ray-"
DRIVER_FILE = "actcmp-driver.pid"
#: gRPC's status code for a service the server does not have (a raylet asked as a GCS)
GRPC_UNIMPLEMENTED = 12
#: Where Ray looks for the token when token authentication is on.
AUTH_HINT = (
    "set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN to the cluster's token "
    "(or RAY_AUTH_TOKEN_PATH to a file holding it; default ~/.ray/auth_token)"
)


def version_tuple(text: str) -> tuple[int, ...]:
    """``"2.60.0rc1"`` -> ``(2, 60, 0)``; unparsable parts count as 0."""
    parts = []
    for piece in text.split(".")[:3]:
        match = re.match(r"\d+", piece)
        parts.append(int(match.group()) if match else 0)
    return tuple(parts)


def import_ray() -> Any:
    """The ``ray`` module, or a one-line :class:`ConfigError` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(INSTALL_HINT) from None
    if version_tuple(ray.__version__) < MIN_RAY:
        minimum = ".".join(map(str, MIN_RAY))
        raise ConfigError(
            f"--backend ray needs Ray >= {minimum}, found {ray.__version__}: pip install -U 'actcmp[ray]'"
        )
    return ray


def package_dir() -> Path:
    """The actcmp package directory, shipped to workers as a ``py_modules`` entry."""
    return Path(actcmp.__file__).resolve().parent


def split_address(address: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``ray://HOST:PORT`` -> (host, port); a ConfigError otherwise."""
    rest = address.removeprefix("ray://")
    host, sep, port_text = rest.rpartition(":")
    host = host.strip("[]")  # [::1]:6379
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigError(
            f"Ray address '{address}' is not HOST:PORT or ray://HOST:PORT (e.g. 10.0.0.5:6379, the head node's --port)"
        )
    return host, int(port_text)


def port_kind(host: str, port: int, timeout: float = HTTP_PROBE_S) -> str:
    """What answers at an open port, from its reply to a plain HTTP/1.0 request:
    ``"http"`` (an HTTP/1 server: Ray's dashboard, runtime-env or metrics agents),
    ``"grpc"`` (an HTTP/2 server opening with its SETTINGS frame: every Ray daemon's
    gRPC port, the GCS among them), ``"closed"`` (hung up without a word), ``"silent"``
    (no answer within ``timeout``) or ``"other"``."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(b"GET / HTTP/1.0\r\nHost: actcmp-probe\r\n\r\n")
            first = sock.recv(16)
    except TimeoutError:
        return "silent"
    except OSError:
        return "closed"
    if first.startswith(b"HTTP/"):
        return "http"
    if len(first) >= 4 and first[3] == 0x04:  # an HTTP/2 frame header of type SETTINGS
        return "grpc"
    return "closed" if not first else "other"


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Fail fast, in one line, when nothing answers at ``address`` (Ray itself would
    retry for minutes), or when what answers is plainly not a GCS port: an HTTP port
    (Ray would hang for minutes on it) or a non-Ray service."""
    host, port = split_address(address)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        if isinstance(exc, TimeoutError | socket.timeout):
            reason = f"no answer within {timeout:g} s"
        raise ConfigError(
            f"cannot reach a Ray cluster at {address} ({reason}): start the head node there "
            f"('ray start --head --port={port}') or fix --address / RAY_ADDRESS"
        ) from None
    if address.startswith("ray://"):
        return  # Ray Client's server: its own protocol, checked by ray.init
    kind = port_kind(host, port)
    what = {
        "http": "an HTTP server (a Ray dashboard, agent or metrics port?)",
        "closed": "a service that closed the connection without answering",
        "silent": f"a service that did not answer within {HTTP_PROBE_S:g} s",
        "other": "a service that does not speak gRPC",
    }.get(kind)
    if what is not None:
        raise ConfigError(
            f"{address} is {what}, not the GCS port of a Ray head node: give the port of "
            "'ray start --head --port=PORT' (6379 unless set)"
        )


def token_available() -> bool:
    """Whether Ray finds an auth token here: ``RAY_AUTH_TOKEN``, the file named by
    ``RAY_AUTH_TOKEN_PATH``, or ``~/.ray/auth_token``."""
    if os.environ.get("RAY_AUTH_TOKEN", "").strip():
        return True
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or str(Path.home() / ".ray" / "auth_token")
    try:
        return bool(Path(path).expanduser().read_text().strip())
    except OSError:
        return False


def check_authentication(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """A quick handshake with the head node's GCS, only to name a missing or wrong auth
    token (``ray.init`` would retry for ~20 s and then say only 'failed to connect').
    Uses Ray's internal GCS client; on any other outcome it says nothing."""
    if os.environ.get("RAY_AUTH_MODE", "").lower() == "token" and not token_available():
        # checked here: Ray's GCS client aborts the whole process in this state
        raise ConfigError(
            f"RAY_AUTH_MODE=token but no authentication token is set to connect to {address}: set RAY_AUTH_TOKEN "
            "to the cluster's token (or RAY_AUTH_TOKEN_PATH to a file holding it; default ~/.ray/auth_token)"
        )
    try:
        from ray._raylet import GcsClient  # type: ignore[attr-defined]
        from ray.exceptions import AuthenticationError
    except ImportError:  # pragma: no cover - internal API moved
        return
    outcome: list[BaseException] = []

    def probe() -> None:
        try:
            GcsClient(address=address).internal_kv_get(b"actcmp-probe", None, timeout=timeout)
        except BaseException as exc:  # reported to the caller below
            outcome.append(exc)

    thread = threading.Thread(target=probe, name="actcmp-ray-probe", daemon=True)
    thread.start()
    thread.join(timeout + 1)
    if not outcome:
        return
    if isinstance(outcome[0], AuthenticationError):
        if token_available() and os.environ.get("RAY_AUTH_MODE", "").lower() == "token":
            raise ConfigError(
                f"the Ray cluster at {address} refused this machine's authentication token: {AUTH_HINT}"
            ) from None
        raise ConfigError(
            f"the Ray cluster at {address} uses token authentication and this machine sent no token: {AUTH_HINT}"
        ) from None
    if getattr(outcome[0], "rpc_code", None) == GRPC_UNIMPLEMENTED:
        raise ConfigError(
            f"{address} is a Ray gRPC port that is not the GCS (a raylet, worker or object manager port?): "
            "give the port of 'ray start --head --port=PORT' (6379 unless set)"
        ) from None


def _call(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """What each Ray task runs (this module is importable on workers via py_modules)."""
    return fn(*args, **kwargs)


def _wants_gpu(args: tuple[Any, ...]) -> bool:
    """A sweep task (first argument) on a CUDA device reserves a GPU."""
    device = getattr(args[0], "device", "cpu") if args else "cpu"
    return isinstance(device, str) and device.startswith("cuda")


@contextlib.contextmanager
def _keep_sigterm_handler() -> Iterator[None]:
    """``ray.init`` replaces the SIGTERM handler with ``sys.exit``; the sweep has its own
    (commit what finished, then stop), which must stay in charge."""
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if in_main else None
    try:
        yield
    finally:
        if in_main and previous is not None:
            signal.signal(signal.SIGTERM, previous)


_AUTH_LOGGER = "ray._private.authentication.authentication_token_setup"


@contextlib.contextmanager
def _quiet_logger(name: str) -> Iterator[None]:
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


@contextlib.contextmanager
def _env(force: bool = False, **values: str) -> Iterator[None]:
    """Set environment variables that are unset (``force``: all of them), for the
    duration of the block; the previous values come back after it."""
    saved = {key: os.environ.get(key) for key in values if force or key not in os.environ}
    for key in saved:
        os.environ[key] = values[key]
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _ray_constants() -> Any:
    try:
        from ray._private import ray_constants
    except ImportError:  # pragma: no cover - internal module moved
        return None
    return ray_constants


class _RayOutput:
    """Where Ray's driver-side output goes: the ``ray`` logger's records and what Ray
    prints for its raylets and workers (``ray._private.worker.print_to_stdstream``,
    e.g. the raylet's state dump when a worker dies). Until :meth:`to_file` names a
    file, Ray's own handling stands; :meth:`restore` puts it back."""

    def __init__(self) -> None:
        self.path: Path | None = None
        self._file: Any = None
        self._logger = logging.getLogger("ray")
        self._saved: tuple[list[logging.Handler], bool] | None = None
        self._worker_module: Any = None
        self._printer: Any = None
        self._lock = threading.Lock()

    def to_file(self, path: Path) -> None:
        with self._lock:
            if self._file is not None:
                return
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115 - closed in restore
            self.path = path
        handler = logging.StreamHandler(self._file)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self._saved = (list(self._logger.handlers), self._logger.propagate)
        self._logger.handlers = [handler]
        self._logger.propagate = False
        try:
            from ray._private import worker as worker_module
        except ImportError:  # pragma: no cover - internal module moved
            return
        printer = getattr(worker_module, "print_worker_logs", None)
        original = getattr(worker_module, "print_to_stdstream", None)
        if printer is None or original is None:  # pragma: no cover - internal API changed
            return
        self._worker_module, self._printer = worker_module, original
        sink = self._file

        def to_log(data: dict[str, Any], ignore_prefix: bool) -> None:
            with contextlib.suppress(Exception):
                printer(data, sink, ignore_prefix)

        worker_module.print_to_stdstream = to_log

    def written(self) -> bool:
        """Whether anything reached the file."""
        return self.path is not None and self.path.exists() and self.path.stat().st_size > 0

    def restore(self) -> None:
        if self._worker_module is not None:
            self._worker_module.print_to_stdstream = self._printer
            self._worker_module = None
        if self._saved is not None:
            self._logger.handlers, self._logger.propagate = self._saved
            self._saved = None
        with self._lock:
            if self._file is not None:
                with contextlib.suppress(OSError):
                    self._file.close()
                self._file = None
                if self.path is not None and not self.written():  # nothing said: no file
                    with contextlib.suppress(OSError):
                        self.path.unlink()


def _version_mismatch(exc: BaseException, address: str) -> ConfigError | None:
    text = str(exc)
    if "Version mismatch" not in text:
        return None
    versions = re.findall(r"Ray: (\S+)\s+Python: (\S+)", text)
    if len(versions) == 2:
        (cluster_ray, cluster_py), (own_ray, own_py) = versions
        what = f"the cluster runs Ray {cluster_ray} / Python {cluster_py}, this machine Ray {own_ray} / Python {own_py}"
        fix = f"pip install 'ray=={cluster_ray}'" if cluster_ray != own_ray else f"use Python {cluster_py} here"
    else:
        what, fix = text.splitlines()[0], "install the cluster's Ray and Python versions here"
    return ConfigError(f"Ray version mismatch with the cluster at {address}: {what}: {fix}")


class RayExecutor(Executor):
    """``concurrent.futures.Executor`` over Ray tasks.

    ``address``: ``HOST:PORT`` / ``ray://HOST:PORT`` of a running cluster; ``None``
    uses ``RAY_ADDRESS`` if set, else starts a local instance with ``local_cpus`` CPUs
    (default: all cores) that :meth:`shutdown` stops. If Ray is already initialised in
    this process (a notebook), that connection is used and left open.

    ``num_cpus`` / ``num_gpus``: what each task reserves (GPUs only for CUDA tasks).
    ``max_retries``: Ray's retries of a task whose worker or node died (``None``: Ray's
    default, 3). ``temp_dir``: the local instance's Ray temp directory (default: a new
    one under the system's temp directory, removed at :meth:`shutdown`; never /tmp/ray).
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        num_cpus: float = 1,
        num_gpus: float = 1,
        local_cpus: int | None = None,
        max_retries: int | None = None,
        runtime_env: dict[str, Any] | None = None,
        temp_dir: str | None = None,
    ) -> None:
        if num_cpus <= 0:
            raise ConfigError(f"Ray tasks need num_cpus > 0, got {num_cpus}")
        self._ray = ray = import_ray()
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.max_retries = max_retries
        self._lock = threading.Lock()
        self._pending: dict[Future[Any], Any] = {}  # our future -> its ObjectRef
        self._closed = False
        self._own_temp_dir: str | None = None
        self._driver_lock: Any = None  # the open, locked driver file of the local instance's temp dir
        self.output = _RayOutput()
        address = address or os.environ.get("RAY_ADDRESS") or None
        if address in ("local", None):
            address = None
        self.address = address
        env = {"py_modules": [str(package_dir())], **(runtime_env or {})}
        self.owns_connection = not ray.is_initialized()
        if self.owns_connection:
            self._connect(address, env, local_cpus, temp_dir)
            self._task_env: dict[str, Any] | None = None  # the job's runtime_env applies
        else:
            self._task_env = env
        self.started_local = self.owns_connection and address is None
        self._remote = ray.remote(_call)
        #: tasks the cluster can run at once, now; ``sweep._drain`` keeps twice this many
        #: in flight. At least ``MIN_SLOTS``, so that an autoscaling cluster, which grows
        #: for tasks that wait, sees a queue.
        self.slots = max(1, int(ray.cluster_resources().get("CPU", 1) // num_cpus))
        self._max_workers = max(MIN_SLOTS, self.slots)

    # -- connection -------------------------------------------------------------------

    def _connect(self, address: str | None, env: dict[str, Any], local_cpus: int | None, temp_dir: str | None) -> None:
        ray = self._ray
        if address is None:
            # loopback only: Ray swaps 127.0.0.1 for the machine's outward address unless
            # its "cluster" mode is off (as on macOS/Windows); the daemons read the same
            # variable. Usage statistics off (they would be sent out). Token
            # authentication, Ray's default, is kept; only its notice is muted.
            if temp_dir is None:
                # short (Ray's socket paths are limited to ~100 bytes), removed at shutdown;
                # one a killed driver left (kill -9) is removed by the next local start
                remove_stale_temp_dirs()
                temp_dir = self._own_temp_dir = tempfile.mkdtemp(prefix=TEMP_PREFIX)
                self._driver_lock = hold_driver_file(Path(temp_dir))
            constants = _ray_constants()
            cluster_mode = getattr(constants, "ENABLE_RAY_CLUSTER", None)
            try:
                if constants is not None:
                    constants.ENABLE_RAY_CLUSTER = False
                with (
                    _keep_sigterm_handler(),
                    _quiet_logger(_AUTH_LOGGER),
                    _env(RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_USAGE_STATS_ENABLED="0", force=True),
                ):
                    ray.init(
                        address="local",
                        num_cpus=local_cpus or cpu_count(),
                        runtime_env=env,
                        include_dashboard=False,
                        dashboard_host=LOCAL_HOST,
                        logging_level=logging.WARNING,
                        _node_ip_address=LOCAL_HOST,
                        _temp_dir=temp_dir,
                    )
            except BaseException:
                self._remove_temp_dir()
                raise
            finally:
                if constants is not None and cluster_mode is not None:
                    constants.ENABLE_RAY_CLUSTER = cluster_mode
            return
        if address != "auto":
            check_reachable(address)
            if not address.startswith("ray://"):
                check_authentication(address)
        options: dict[str, Any] = {"runtime_env": env}
        if not address.startswith("ray://"):  # Ray Client forwards other options to the server's ray.init
            options["logging_level"] = logging.WARNING
        try:
            with _keep_sigterm_handler(), _env(RAY_gcs_server_port_wait_time_s=str(GCS_WAIT_S)):
                ray.init(address=address, **options)
        except ConfigError:
            raise
        except Exception as exc:  # Ray raises plain ConnectionError/RuntimeError
            raise self._connect_error(exc, address) from None

    def _connect_error(self, exc: Exception, address: str) -> ConfigError:
        from ray.exceptions import AuthenticationError

        with contextlib.suppress(Exception):
            self._ray.shutdown()
        if "ray[client]" in str(exc):
            host, port = split_address(address)
            return ConfigError(
                f"ray:// addresses need Ray Client on this machine and the head node: pip install 'ray[client]' "
                f"(its server listens on {host}:{port}, 'ray start --head --ray-client-server-port={port}'; "
                "or connect to the head node's GCS port directly: --address HOST:PORT of 'ray start --head --port')"
            )
        if isinstance(exc, AuthenticationError):
            return ConfigError(f"the Ray cluster at {address} needs an authentication token: {AUTH_HINT}")
        mismatch = _version_mismatch(exc, address)
        if mismatch is not None:
            return mismatch
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        return ConfigError(
            f"could not connect to the Ray cluster at {address} ({type(exc).__name__}: {first}): check that it is "
            "the head node's GCS port ('ray start --head --port=PORT'), that this machine's Ray and Python versions "
            f"match the cluster's, and, if it uses token authentication, {AUTH_HINT}"
        )

    # -- Executor ---------------------------------------------------------------------

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            options: dict[str, Any] = {"num_cpus": self.num_cpus}
            if self.num_gpus and _wants_gpu(args):
                options["num_gpus"] = self.num_gpus
            if self.max_retries is not None:
                options["max_retries"] = self.max_retries
            if self._task_env is not None:
                options["runtime_env"] = self._task_env
            ref = self._remote.options(**options).remote(fn, args, kwargs)
            future: Future[Any] = Future()
            self._pending[future] = ref
        future.add_done_callback(self._cancel_if_cancelled)
        ref.future().add_done_callback(lambda done: self._settle(future, done, args))
        return future

    def _settle(self, future: Future[Any], done: Future[Any], args: tuple[Any, ...]) -> None:
        """Copy the Ray future's outcome into ours (runs in a Ray callback thread)."""
        with self._lock:
            self._pending.pop(future, None)
        if future.cancelled():
            return
        try:
            exc = done.exception()
            if exc is None:
                future.set_result(done.result())
            else:
                future.set_exception(self._lost(exc, args))
        except InvalidStateError:  # cancelled meanwhile
            pass
        except BaseException as error:  # e.g. the result could not be deserialised
            with contextlib.suppress(InvalidStateError):
                future.set_exception(self._lost(error, args))

    @staticmethod
    def _lost(exc: BaseException, args: tuple[Any, ...]) -> TaskLost:
        configs = getattr(args[0], "configs", None) if args else None
        runs = f"{len(configs)} runs" if isinstance(configs, list) else "a task"
        first = (str(exc).strip().splitlines() or [""])[0]
        lost = TaskLost(f"{runs} lost on the Ray cluster: {type(exc).__name__}: {first}".rstrip(": "))
        lost.runs = len(configs) if isinstance(configs, list) else 0  # type: ignore[attr-defined]
        lost.__cause__ = exc
        return lost

    def _cancel_if_cancelled(self, future: Future[Any]) -> None:
        if not future.cancelled():
            return
        with self._lock:
            ref = self._pending.pop(future, None)
        if ref is not None:
            with contextlib.suppress(Exception):
                self._ray.cancel(ref, force=True)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Cancel the remote tasks (``cancel_futures``, e.g. after Ctrl-C) or wait for them
        (``wait``), then disconnect; a local instance started here is stopped."""
        with self._lock:
            already = self._closed
            self._closed = True
            pending = dict(self._pending)
        if already:
            return
        if cancel_futures:
            for future, ref in pending.items():
                with contextlib.suppress(Exception):
                    self._ray.cancel(ref, force=True)
                future.cancel()
        elif wait:
            wait_all(list(pending))
        if self.owns_connection:
            with contextlib.suppress(Exception):
                self._ray.shutdown()
        self.output.restore()
        self._remove_temp_dir()

    def log_to(self, path: Path) -> None:
        """Send Ray's own driver-side output (its logger, what it relays from raylets
        and workers) to ``path`` (appended) until :meth:`shutdown`."""
        self.output.to_file(path)

    def _remove_temp_dir(self) -> None:
        """Remove the local instance's own temp dir (its daemons may still be writing
        their last log lines for a moment after ``ray.shutdown``)."""
        if self._driver_lock is not None:
            with contextlib.suppress(OSError):
                self._driver_lock.close()  # releases the lock
            self._driver_lock = None
        if self._own_temp_dir is None:
            return
        for _ in range(20):
            shutil.rmtree(self._own_temp_dir, ignore_errors=True)
            if not os.path.exists(self._own_temp_dir):
                break
            time.sleep(0.25)
        self._own_temp_dir = None


def hold_driver_file(folder: Path) -> Any:
    """Write this process's id into ``folder``'s :data:`DRIVER_FILE` and hold an exclusive
    ``flock`` on it for as long as the returned file is open (the kernel releases it when the
    process dies, however it dies). None where ``fcntl`` is missing (not POSIX)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no stale dir is ever removed
        return None
    handle = open(folder / DRIVER_FILE, "w+")  # noqa: SIM115 - held open for the executor's life
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def remove_stale_temp_dirs(parent: str | None = None) -> list[str]:
    """Remove the local Ray instances' temp dirs whose driver is gone (a sweep killed
    with SIGKILL cannot remove its own; about 2 MB of logs and sockets each). Only a dir
    named ``actcmp-ray-*`` holding :data:`DRIVER_FILE` whose lock can be taken is removed:
    the driver holds an exclusive ``flock`` on that file while it runs (:func:`hold_driver_file`),
    and the kernel releases it when the driver dies, whatever the process-id namespace of the
    one who looks (a process id alone is not: two containers sharing /tmp see other ids). A
    dir of a running sweep, of another user, or without the file (made before the file was
    written, or by something else) is kept. Returns the dirs removed.

    Ray's own daemons (raylet, GCS, agents) of a killed driver are not ours to stop: the
    raylet and GCS end with the driver's session, and its agents exit on their own when
    they find their raylet gone (within about two minutes, measured with Ray 2.60)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: nothing is removed
        return []
    removed = []
    for entry in Path(parent or tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*"):
        marker = entry / DRIVER_FILE
        if marker.is_symlink() or not marker.is_file():
            continue
        try:
            with open(marker) as handle:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # held: its driver runs
                shutil.rmtree(entry, ignore_errors=True)
        except OSError:  # locked by a running driver, another user's, or unreadable: kept
            continue
        if not entry.exists():
            removed.append(str(entry))
    return removed
