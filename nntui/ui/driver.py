"""Textual's Linux/macOS driver, made safe for a terminal that goes away (SSH dropped).

When the terminal hangs up, every write to it fails with EIO, and the kernel sends the
session leader SIGHUP and then SIGCONT. Two traps in Textual follow (8.2.8):

* its writer thread dies on the first failed write; the app's next 30 writes then block the
  event loop for ever in the writer's full queue (the shape of Textual issue 6692);
* its SIGCONT handler (meant for `fg` after Ctrl-Z) re-enters application mode on the dead
  terminal and starts a second writer thread, which dies the same way.

Measured here: with the driver as shipped, 1 hang-up in 3 left nntui blocked in
`WriterThread.stop`, its run saved but the process never exiting. This driver drops writes
to a terminal that has gone and resumes only on a terminal that is still there.

A third trap shows when SIGHUP is ignored (`trap '' HUP`): no signal ends the app, and
Textual's input thread spins on the dead terminal's endless end-of-file (measured: 85 % of
a core, for as long as the process lives). Here the input thread notices the end-of-file
(or EIO), stops reading, and tells the app (`terminal_gone`), as a failed write does.
"""

from __future__ import annotations

import os
import selectors
from codecs import getincrementaldecoder
from collections.abc import Callable
from typing import IO, Any

from textual._parser import ParseError
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver


class TerminalOutput:
    """The driver's output file: a write to a terminal that has gone away is dropped, not raised.

    Raising would kill Textual's writer thread (and with it every later write); nothing
    written to a hung-up terminal can be seen anyway.
    """

    def __init__(self, file: IO[str], on_gone: Callable[[], None] | None = None) -> None:
        self._file = file
        self.gone = False
        """True after the first failed write or flush: the terminal is not coming back."""
        self.on_gone = on_gone
        """Called once, from the thread whose write failed."""

    def _fail(self) -> None:
        if not self.gone:
            self.gone = True
            if self.on_gone is not None:
                self.on_gone()

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                return self._file.write(text)
            except (OSError, ValueError):  # EIO after a hang-up; ValueError: the file was closed
                self._fail()
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self._file.flush()
            except (OSError, ValueError):
                self._fail()

    def fileno(self) -> int:
        return self._file.fileno()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


class HangUpSafeDriver(LinuxDriver):
    """LinuxDriver with output that survives a hang-up and no resume on a dead terminal."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        assert self._file is not None
        self.output = TerminalOutput(self._file, on_gone=self._terminal_gone)
        self._file = self.output  # type: ignore[assignment]  # the writer thread writes here
        self.hung_up = False
        """The terminal went away (end-of-file or EIO on input, or a failed write)."""

    def _terminal_gone(self) -> None:
        """Once, from whichever thread found out: the app decides (save and exit 129, or train on)."""
        if self.hung_up:
            return
        self.hung_up = True
        self.output.gone = True
        gone = getattr(self._app, "terminal_gone", None)
        if gone is not None:
            try:
                self._app.call_from_thread(gone)
            except RuntimeError:  # the app's loop has already stopped
                pass

    def run_input_thread(self) -> None:
        """Textual's input loop (LinuxDriver.run_input_thread, 8.2), except that an end-of-file
        or EIO on the terminal ends it: it would otherwise come back at once for ever."""
        selector = selectors.SelectSelector()
        selector.register(self.fileno, selectors.EVENT_READ)
        parser = XTermParser(self._debug)
        decode = getincrementaldecoder("utf-8")().decode
        try:
            while not self.exit_event.is_set():
                ready = selector.select(0.1)
                if ready:
                    try:
                        data = os.read(self.fileno, 1024 * 4)
                    except OSError:  # EIO: the terminal hung up
                        data = b""
                    if not data:
                        self._terminal_gone()
                        self.exit_event.wait()  # nothing more will come: wait for the app to end
                        return
                    for event in parser.feed(decode(data)):
                        self.process_message(event)
                for event in parser.tick():
                    self.process_message(event)
        except ParseError:
            pass
        finally:
            selector.close()

    def _sigcont_application(self, *args: Any) -> None:
        """SIGCONT after `fg` resumes the app; SIGCONT after a hang-up must not (no tty to resume)."""
        if self.output.gone or not os.isatty(self.fileno):
            return
        super()._sigcont_application(*args)


def hang_up_safe(driver: type[Any]) -> type[Any]:
    """Textual's choice of driver, with its Linux/macOS driver swapped for HangUpSafeDriver; a
    driver named in TEXTUAL_DRIVER is kept as it is. Every nntui app uses this (not on Windows:
    this module is POSIX-only)."""
    return HangUpSafeDriver if driver is LinuxDriver else driver
