"""The terminal went away with SIGHUP ignored (`trap '' HUP`): what the dashboard does then.

A plain hang-up ends the app through its SIGHUP handler. With SIGHUP ignored no signal
comes; the driver notices the dead terminal instead (`driver.HangUpSafeDriver`) and calls
`terminal_gone`. By default the run is saved and the app exits 129, as a hang-up would
have ended it. With `--on-hangup train` it trains on headless-style (nothing drawn, since
nobody can see it) and saves and exits when the run ends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from nntui.engine.signals import SIGNAL_EXIT

if TYPE_CHECKING:
    from nntui.ui.host import RunHost

HangupPolicy = Literal["save", "train"]
HANGUP_POLICIES: tuple[HangupPolicy, ...] = ("save", "train")


class HangUp:
    """`terminal_gone` for the dashboard app (a mixin: the app supplies what is named below)."""

    on_hangup: HangupPolicy
    ended_by: str | None
    host: RunHost
    headless_since_hangup: bool

    if TYPE_CHECKING:  # provided by the app

        async def _leave(self, code: int, reason: str) -> None: ...

        def call_later(self, callback: Any, *args: Any, **kwargs: Any) -> bool: ...

    def terminal_gone(self) -> None:
        """Called once by the driver when the terminal hung up (end-of-file, EIO)."""
        if self.ended_by is not None:
            return  # already leaving (a SIGHUP got here first)
        if self.on_hangup == "train" and self.host.active:
            self.headless_since_hangup = True  # the app's tick stops drawing; the run ends the app
            return
        self.ended_by = "SIGHUP"
        self.call_later(self._leave, SIGNAL_EXIT["SIGHUP"], "interrupted by the terminal hanging up")
