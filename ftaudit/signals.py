"""Ctrl-C and SIGTERM: the first interrupts the run (KeyboardInterrupt), the ones that follow it closely are held
while the interrupt is handled, and once the command has finished any signal exits 130 at once (until the
interpreter's last moments, when signals are ignored rather than left to kill the process).

Without this, a second SIGTERM a moment after the first, or one during interpreter shutdown, met Python's
default handler and killed the process with 143, after the staging folder was gone but before the exit code said so.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import sys
import threading
import time
from typing import Any, Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)
HOLD_SECONDS = 5.0  # signals this soon after the one that interrupted are held: its clean-up is running
INTERRUPTED = 130


class Guard:
    """The handler for SIGINT and SIGTERM (see the module docstring)."""

    def __init__(self) -> None:
        self.raised_at: float | None = None
        self.held = 0
        self.finished = False

    def __call__(self, signum: int, frame: Any) -> None:
        if self.finished:  # the command is done (shutdown): no exception may surface now, only the exit code
            for stream in (sys.stdout, sys.stderr):
                with contextlib.suppress(Exception):
                    stream.flush()
            os._exit(INTERRUPTED)
        now = time.monotonic()
        if self.raised_at is not None and now - self.raised_at < HOLD_SECONDS:
            self.held += 1
            return
        self.raised_at = now
        raise KeyboardInterrupt

    def exiting(self, code: int) -> int:
        """Called with the exit code once the command returned; the code to exit with (130 when a signal was held).
        From now on a signal exits 130 at once."""
        self.finished = True
        return INTERRUPTED if self.held else code


def _install(guard: Guard) -> dict[int, Any]:
    previous = {}
    for sig in SIGNALS:
        current = signal.getsignal(sig)
        if current is signal.SIG_IGN:  # a background job started with SIGINT ignored keeps it ignored
            continue
        previous[sig] = signal.signal(sig, guard)
    return previous


def guard_process() -> Guard:
    """Install a Guard for the rest of the process (the `ftaudit` command's entry point).

    Python restores the default handlers (death by the signal: 143) when it finalizes its signal module, after
    the last atexit callback. So the first callback registered, which runs last, ignores the signals from then on:
    up to that point a signal exits 130 through the Guard, after it the process ends with its own exit code.
    """
    guard = Guard()
    if threading.current_thread() is threading.main_thread():
        atexit.register(_ignore_signals)
        _install(guard)
    return guard


def _ignore_signals() -> None:
    for sig in SIGNALS:
        with contextlib.suppress(ValueError, OSError):
            signal.signal(sig, signal.SIG_IGN)


@contextlib.contextmanager
def interrupt_guard() -> Iterator[Guard | None]:
    """A Guard for the block (the process's own one when `guard_process` installed it); restored afterwards.

    Only the main thread may set handlers; elsewhere the block runs with the handlers it has.
    """
    if threading.current_thread() is not threading.main_thread():
        yield None
        return
    current = signal.getsignal(signal.SIGTERM)
    if isinstance(current, Guard):
        yield current
        return
    guard = Guard()
    previous = _install(guard)
    try:
        yield guard
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
