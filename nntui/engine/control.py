"""Commands from any thread (UI, signal handler, test) to a running trainer.

The trainer reads one plain attribute, `pending`, per step: cheap enough for the hot loop.
Everything else happens under the lock only when a command is pending.
"""

from __future__ import annotations

import threading

from nntui.engine.pace import Pace


class Control:
    """Pause, resume, step, stop and change the learning rate of a run, thread-safely."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.pending = False
        """True when a command waits for the trainer; the only thing read every step."""
        self.paused = False
        self.stop_reason: str | None = None
        self._steps_wanted = 0
        self._new_lr: float | None = None
        self._new_pace: Pace = None
        self._pace_changed = False

    # -- commands (any thread) ------------------------------------------------------

    def pause(self) -> None:
        with self._cond:
            self.paused = True
            self.pending = True

    def resume(self) -> None:
        with self._cond:
            self.paused = False
            self._steps_wanted = 0
            self.pending = True
            self._cond.notify_all()

    def step(self, epochs: int = 1) -> None:
        """Run `epochs` more epochs, then pause again."""
        with self._cond:
            self.paused = True
            self._steps_wanted += epochs
            self.pending = True
            self._cond.notify_all()

    def stop(self, reason: str = "stopped") -> None:
        """Finish at the end of the current step; `reason` ends up in RunFinished."""
        with self._cond:
            if self.stop_reason is None:
                self.stop_reason = reason
            self.pending = True
            self._cond.notify_all()

    def set_lr(self, lr: float) -> None:
        with self._cond:
            self._new_lr = lr
            self.pending = True
            self._cond.notify_all()

    def set_pace(self, pace: Pace) -> None:
        """Epochs per second, "auto", or None for max; takes effect at once (a paced wait ends)."""
        with self._cond:
            self._new_pace, self._pace_changed = pace, True
            self.pending = True
            self._cond.notify_all()

    # -- trainer side -----------------------------------------------------------------

    @property
    def stopped(self) -> bool:
        return self.stop_reason is not None

    def take_lr(self) -> float | None:
        with self._cond:
            lr, self._new_lr = self._new_lr, None
            self._refresh()
            return lr

    def take_pace(self) -> tuple[bool, Pace]:
        """(True, the new pace) once after `set_pace`, else (False, None)."""
        with self._cond:
            changed, pace = self._pace_changed, self._new_pace
            self._pace_changed, self._new_pace = False, None
            self._refresh()
            return changed, pace

    def take_step(self) -> bool:
        """While paused: True if one epoch may run now."""
        with self._cond:
            if self._steps_wanted > 0:
                self._steps_wanted -= 1
                self._refresh()
                return True
            return False

    def wait(self, timeout: float) -> None:
        """Sleep until a command arrives (or `timeout`), e.g. while paused."""
        with self._cond:
            if not (self.stopped or self._new_lr is not None or self._steps_wanted or not self.paused
                    or self._pace_changed):
                self._cond.wait(timeout)

    def sleep(self, seconds: float) -> None:
        """A paced run's wait between chunks: over at `seconds`, or at once on any command."""
        with self._cond:
            if not self.pending:
                self._cond.wait(seconds)

    def _refresh(self) -> None:
        self.pending = (
            self.paused or self.stopped or self._new_lr is not None or self._steps_wanted > 0 or self._pace_changed
        )
