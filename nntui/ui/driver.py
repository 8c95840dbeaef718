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
"""

from __future__ import annotations

import os
from typing import IO, Any

from textual.drivers.linux_driver import LinuxDriver


class TerminalOutput:
    """The driver's output file: a write to a terminal that has gone away is dropped, not raised.

    Raising would kill Textual's writer thread (and with it every later write); nothing
    written to a hung-up terminal can be seen anyway.
    """

    def __init__(self, file: IO[str]) -> None:
        self._file = file
        self.gone = False
        """True after the first failed write or flush: the terminal is not coming back."""

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                return self._file.write(text)
            except (OSError, ValueError):  # EIO after a hang-up; ValueError: the file was closed
                self.gone = True
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self._file.flush()
            except (OSError, ValueError):
                self.gone = True

    def fileno(self) -> int:
        return self._file.fileno()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


class HangUpSafeDriver(LinuxDriver):
    """LinuxDriver with output that survives a hang-up and no resume on a dead terminal."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        assert self._file is not None
        self.output = TerminalOutput(self._file)
        self._file = self.output  # type: ignore[assignment]  # the writer thread writes here

    def _sigcont_application(self, *args: Any) -> None:
        """SIGCONT after `fg` resumes the app; SIGCONT after a hang-up must not (no tty to resume)."""
        if self.output.gone or not os.isatty(self.fileno):
            return
        super()._sigcont_application(*args)
