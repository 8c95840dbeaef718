"""How the dashboard ends: q, Ctrl-C, SIGTERM/SIGHUP/SIGINT, an exit from outside (a served
tab closed), and a terminal that hung up with SIGHUP ignored. Every way out stops the run
and saves it first. A mixin of the app.

With SIGHUP ignored (`trap '' HUP`) no signal comes when the terminal goes; the driver
notices the dead terminal instead (`driver.HangUpSafeDriver`) and calls `terminal_gone`.
By default the run is saved and the app exits 129, as a hang-up would have ended it; with
`--on-hangup train` it trains on with nothing drawn and saves and exits when the run ends.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Literal

from textual.app import App

from nntui.engine.events import RunFinished
from nntui.engine.signals import SIGNAL_EXIT, add_loop_handlers, remove_loop_handlers

if TYPE_CHECKING:
    from textual.driver import Driver
    from textual.timer import Timer

    from nntui.ui.host import RunHost
    from nntui.ui.widgets.status import RunStatus

    _Base = App[int]
else:
    _Base = object

HangupPolicy = Literal["save", "train"]
HANGUP_POLICIES: tuple[HangupPolicy, ...] = ("save", "train")


class Lifecycle(_Base):
    """Leaving, signals, the driver, and the app's start-up and tear-down chores."""

    host: RunHost
    status: RunStatus
    ended_by: str | None
    on_hangup: HangupPolicy
    headless_since_hangup: bool
    _leaving: bool
    _signals: list[int]
    _ticker: Timer

    async def action_quit(self) -> None:
        """Stop the trainer (it checks for commands every step), wait up to a second, exit."""
        await self._leave(0, "quit")

    async def action_interrupt(self) -> None:
        """ctrl+c: as a shell's Ctrl-C would (the run saved, then exit 130)."""
        self.ended_by = "Ctrl-C"
        await self._leave(SIGNAL_EXIT["SIGINT"], "interrupted by Ctrl-C")

    async def _leave(self, code: int, reason: str) -> None:
        if self._leaving:
            return
        self._leaving = True
        self._ticker.stop()  # nothing to draw any more; and no tick while the widgets go away
        stopped = await self.host.shutdown(timeout=1.0, reason=reason)
        if not stopped:
            self.log.warning("the trainer did not return within 1 s; exiting anyway")
        last = self.host.mailbox.drain()  # the run's last word (None: nothing new): where it stopped
        if last is not None and isinstance(last.finished, RunFinished):
            self.status.epoch = last.finished.epoch
        self.exit(code)

    async def _on_exit_app(self) -> None:
        """An exit from outside the app's own keys (textual-serve closing a tab sends "quit",
        which Textual turns into ExitApp) still stops and saves the run first. The exit's own
        return value and code stand (a test harness returns its screenshot through them)."""
        if not self._leaving:
            self._leaving = True
            self._ticker.stop()
            await self.host.shutdown(timeout=1.0, reason="quit")
        await super()._on_exit_app()

    def _tick_without_terminal(self) -> None:
        """--on-hangup train: the terminal is gone; drain the run, draw nothing, leave at its end."""
        drained = self.host.mailbox.drain()
        if drained is not None and drained.finished is not None:
            self.host.mark_finished()
        if not self.host.active and not self._leaving:
            self.call_later(self._leave, 0, "the run ended after the terminal hung up")

    def get_driver_class(self) -> type[Driver]:
        """Textual's choice, with its Linux/macOS driver made safe for a terminal that hangs up
        (`nntui.ui.driver`); a driver named in TEXTUAL_DRIVER, or Windows', is kept as it is."""
        driver = super().get_driver_class()
        if sys.platform == "win32":
            return driver
        from nntui.ui.driver import hang_up_safe

        return hang_up_safe(driver)

    def _freeze_startup_objects(self) -> None:
        """Move everything alive after the first frame (Textual, the widgets, numpy…) out of
        the collector's reach: a full collection then scans only what came later. Measured
        here: a gen-2 collection paused the UI 62 ms while training, long enough to delay a key."""
        import gc

        gc.collect()
        gc.freeze()

    def _install_signal_handlers(self) -> None:
        """SIGTERM, SIGHUP (the SSH connection dropped) and SIGINT end the app as q does:
        the run stops, its files and a checkpoint are written, the terminal is restored,
        and the exit code says which signal (143, 129, 130). A signal that was ignored when
        nntui started (nohup) stays ignored."""
        import asyncio

        self._signals = add_loop_handlers(asyncio.get_running_loop(), self._signalled)

    def _signalled(self, name: str) -> None:
        self.ended_by = name
        self.call_later(self._leave, SIGNAL_EXIT[name], f"interrupted by {name}")

    def _remove_signal_handlers(self) -> None:
        import asyncio

        remove_loop_handlers(asyncio.get_running_loop(), self._signals)

    async def on_unmount(self) -> None:
        """Whatever ended the app (q, ctrl+c, an error, a test leaving run_test): stop the trainer.

        The thread pool behind thread workers is joined when the event loop closes, so a
        trainer left paused would keep the process alive (Textual issue 3966).
        """
        self._ticker.stop()
        self._remove_signal_handlers()
        import gc

        gc.unfreeze()  # what the app leaves behind is collectable again (an app in a test's process)
        await self.host.shutdown(timeout=1.0)

    def terminal_gone(self) -> None:
        """Called once by the driver when the terminal hung up (end-of-file, EIO)."""
        if self.ended_by is not None:
            return  # already leaving (a SIGHUP got here first)
        if self.on_hangup == "train" and self.host.active:
            self.headless_since_hangup = True  # the app's tick stops drawing; the run ends the app
            return
        self.ended_by = "SIGHUP"
        self.call_later(self._leave, SIGNAL_EXIT["SIGHUP"], "interrupted by the terminal hanging up")
