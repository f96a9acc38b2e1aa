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


class Interrupts:
    """Ctrl-C and SIGTERM become KeyboardInterrupt, except inside :meth:`shield`, where
    they wait until the block is over: a run being committed is committed whole."""

    def __init__(self) -> None:
        self.shielded = False
        self.pending = False

    def handler(self, signum: int, frame: Any) -> None:
        if self.shielded:
            self.pending = True
            return
        raise KeyboardInterrupt

    @contextlib.contextmanager
    def shield(self) -> Iterator[None]:
        self.shielded = True
        try:
            yield
        finally:
            self.shielded = False
        if self.pending:
            self.pending = False
            raise KeyboardInterrupt


@contextlib.contextmanager
def interrupts() -> Iterator[Interrupts]:
    """An :class:`Interrupts` guard handling SIGINT and SIGTERM for the block (the main
    thread's handlers are restored after it; in another thread, signals are left alone)."""
    guard = Interrupts()
    if threading.current_thread() is not threading.main_thread():  # signals only reach the main thread
        yield guard
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, guard.handler)
    try:
        yield guard
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


__all__ = ["Interrupts", "die_with_parent", "forget_caught_interrupts", "interrupts"]
