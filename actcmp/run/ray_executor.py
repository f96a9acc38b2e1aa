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
* Each task reserves ``num_cpus`` CPUs (and ``num_gpus`` GPUs when its device is CUDA).
* A task whose worker or node dies is retried by Ray (``max_retries``); when it still
  fails, its Future carries :class:`~actcmp.run.executors.TaskLost` and its runs stay
  unstored (pending), for the next ``run`` to pick up.

Ray is imported here, lazily, never by ``import actcmp``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, InvalidStateError
from pathlib import Path
from typing import Any

from actcmp.errors import ConfigError
from actcmp.run.executors import TaskLost, cpu_count

MIN_RAY = (2, 9)
INSTALL_HINT = "--backend ray needs Ray: pip install 'actcmp[ray]'"
#: Seconds to wait for a TCP connection to the head node before giving up.
CONNECT_TIMEOUT_S = 5.0
#: Seconds Ray keeps retrying the GCS handshake (its own default is about 20).
GCS_WAIT_S = 10
#: Tasks in flight are at least twice this (see ``RayExecutor._max_workers``).
MIN_SLOTS = 16
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
    import actcmp

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


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Fail fast, in one line, when nothing answers at ``address`` (Ray itself would
    retry for minutes)."""
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
    if outcome and isinstance(outcome[0], AuthenticationError):
        raise ConfigError(
            f"the Ray cluster at {address} refused this machine's authentication token: {AUTH_HINT}"
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
def _env(**values: str) -> Iterator[None]:
    """Set environment variables that are unset, for the duration of the block."""
    added = [key for key in values if key not in os.environ]
    for key in added:
        os.environ[key] = values[key]
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


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
    default, 3). ``temp_dir``: the local instance's Ray temp directory (default /tmp/ray).
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
            # Ray's default for a new local instance (token authentication, its ports
            # listen on every interface) is kept; only its notice about it is muted
            with _keep_sigterm_handler(), _quiet_logger(_AUTH_LOGGER):
                ray.init(
                    address="local",
                    num_cpus=local_cpus or cpu_count(),
                    runtime_env=env,
                    include_dashboard=False,
                    logging_level=logging.WARNING,
                    _temp_dir=temp_dir,
                )
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
            host = split_address(address)[0]
            return ConfigError(
                f"ray:// addresses need Ray Client on this machine and the head node: pip install 'ray[client]' "
                f"(or connect to the head node's GCS port directly: --address {host}:6379)"
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
            from concurrent.futures import wait as wait_all

            wait_all(list(pending))
        if self.owns_connection:
            with contextlib.suppress(Exception):
                self._ray.shutdown()
