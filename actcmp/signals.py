"""Signals of a sweep (and of a report drawn by workers): Ctrl-C and SIGTERM in the parent, and a
worker's death with it.

* :func:`interrupts` turns SIGINT and SIGTERM into ``KeyboardInterrupt`` in the sweep
  process, except inside :meth:`Interrupts.shield`, where a run being committed is
  committed whole first;
* :func:`die_with_parent` asks Linux (``prctl``) to kill a pool worker when the sweep
  process dies, so that a SIGKILLed sweep leaves no idle workers behind;
* :func:`forget_caught_interrupts` keeps ``python -m actcmp`` from dying of a Ctrl-C it
  already handled (CPython's flag, see there).
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Iterator
from typing import Any

#: ``prctl`` option: the signal this process gets when its parent dies (linux/prctl.h)
PR_SET_PDEATHSIG = 1


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C but told apart by the exit code (143, not 130)."""


class Interrupts:
    """Ctrl-C and SIGTERM become KeyboardInterrupt (:class:`Terminated` for SIGTERM),
    except inside :meth:`shield`, where they wait until the block is over: a run being
    committed is committed whole.

    ``interrupted`` stays set once a signal came: a KeyboardInterrupt raised while Python
    runs a ``__del__`` or a weakref callback is printed as "Exception ignored" and lost, so
    :meth:`check` (and :func:`interrupts` at the end of its block) raise it again unless
    the code that caught it said so (:meth:`handled`)."""

    def __init__(self) -> None:
        self.shielded = False
        self.pending = False
        self.interrupted: int | None = None  # the signal, until handled
        self.terminated = False

    def _exception(self) -> KeyboardInterrupt:
        return Terminated() if self.terminated else KeyboardInterrupt()

    def handler(self, signum: int, frame: Any) -> None:
        self.interrupted = signum
        self.terminated = self.terminated or signum == signal.SIGTERM
        if self.shielded:
            self.pending = True
            return
        raise self._exception()

    def check(self) -> None:
        """Raise the interrupt again if one came and was neither raised nor handled
        (lost in a ``__del__`` or a weakref callback)."""
        if self.interrupted is not None and not self.shielded:
            raise self._exception()

    def handled(self) -> None:
        """The code that caught the KeyboardInterrupt dealt with it."""
        self.interrupted = None

    @contextlib.contextmanager
    def shield(self) -> Iterator[None]:
        self.shielded = True
        try:
            yield
        finally:
            self.shielded = False
        if self.pending:
            self.pending = False
            raise self._exception()


@contextlib.contextmanager
def interrupts() -> Iterator[Interrupts]:
    """An :class:`Interrupts` guard handling SIGINT and SIGTERM for the block (the main
    thread's handlers are restored after it; in another thread, signals are left alone).

    A signal the process ignores stays ignored (a shell's background job ignores SIGINT:
    Ctrl-C at the terminal is not for it). An interrupt that came during the block and was
    lost (see :class:`Interrupts`) is raised when the block ends."""
    guard = Interrupts()
    if threading.current_thread() is not threading.main_thread():  # signals only reach the main thread
        yield guard
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    previous = {sig: handler for sig, handler in previous.items() if handler is not signal.SIG_IGN}
    for sig in previous:
        signal.signal(sig, guard.handler)
    try:
        yield guard
        guard.check()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


_death_signal_set = False


def die_with_parent() -> None:
    """In a pool worker on Linux, ask the kernel to kill this process when the sweep
    process dies: a SIGKILLed sweep must not leave idle workers behind (they hold each
    other's queue ends open, so they never see the parent go). Once per process."""
    global _death_signal_set
    parent = multiprocessing.parent_process()
    if _death_signal_set or parent is None or not sys.platform.startswith("linux"):
        return
    _death_signal_set = True
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent.pid:  # the sweep died before the request took effect
            os._exit(1)


def forget_caught_interrupts() -> None:
    """Clear CPython's record of a KeyboardInterrupt that ended inside a string ``exec`` or
    ``eval`` (``PyRun_String``: some libraries build code that way), which the program then
    caught.

    CPython (3.11, 3.12) sets ``_PyRuntime.signals.unhandled_keyboard_interrupt`` whenever
    string-evaluated code ends with a KeyboardInterrupt, caught later or not; under
    ``python -m``, ``Py_RunMain`` reads it at exit and kills the process with SIGINT: status
    -2 instead of the code the command chose (130 after "interrupted", 2 after a user
    module that raised it). Every string evaluation resets the flag when it starts, so a
    trivial one, run once the command has decided how to exit, clears it. A KeyboardInterrupt
    that really escapes still kills the process with SIGINT: ``runpy``'s caller sets the flag
    again after this."""
    exec("None", {})  # a constant, evaluated for the reset it makes


__all__ = ["Interrupts", "Terminated", "die_with_parent", "forget_caught_interrupts", "interrupts"]
