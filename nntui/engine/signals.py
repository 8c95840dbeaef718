"""Signals and exit codes, one home for headless mode and the dashboard.

SIGINT, SIGTERM and SIGHUP stop a run cleanly (metrics flushed, a checkpoint written) and
the process exits with 128 + the signal's number, as shells report it. A signal that was
already ignored when nntui started (SIGHUP under nohup, SIGINT for a job a non-interactive
shell put in the background) stays ignored: someone asked for that.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_DIVERGED = 3
SIGNAL_EXIT = {"SIGINT": 130, "SIGTERM": 143, "SIGHUP": 129}
"""128 + the signal's number, as shells report it."""


def catchable() -> list[tuple[str, int]]:
    """(name, number) of the stop signals this platform has and nobody told us to ignore."""
    out = []
    for name in SIGNAL_EXIT:
        sig = getattr(signal, name, None)
        if sig is not None and signal.getsignal(sig) != signal.SIG_IGN:
            out.append((name, int(sig)))
    return out


class SignalStop:
    """Headless: a stop signal calls `on_signal(name)` (which stops the trainer at its next
    step; it then saves and returns). A second Ctrl-C raises KeyboardInterrupt: the user
    really wants out."""

    def __init__(self, on_signal: Callable[[str], None]) -> None:
        self.on_signal = on_signal
        self.received: str | None = None
        self._old: dict[int, object] = {}

    def __enter__(self) -> SignalStop:
        if threading.current_thread() is not threading.main_thread():
            return self  # signals reach the main thread only
        for _, sig in catchable():
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.received is not None and name == "SIGINT":
            raise KeyboardInterrupt
        self.received = self.received or name
        self.on_signal(name)

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        self._old.clear()


def add_loop_handlers(loop: asyncio.AbstractEventLoop, on_signal: Callable[[str], None]) -> list[int]:
    """The dashboard: the same signals, delivered through the event loop (so the handler may
    touch the app). Returns the signals installed, for `remove_loop_handlers`."""
    if threading.current_thread() is not threading.main_thread():
        return []  # an app run from a test's thread: signals reach the main thread only
    installed = []
    for name, sig in catchable():
        try:
            loop.add_signal_handler(sig, on_signal, name)
        except (NotImplementedError, RuntimeError, ValueError):  # not on this platform or loop
            continue
        installed.append(sig)
    return installed


def remove_loop_handlers(loop: asyncio.AbstractEventLoop, installed: list[int]) -> None:
    for sig in installed:
        loop.remove_signal_handler(sig)
    installed.clear()
