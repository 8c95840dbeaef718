"""The one hand-over point between the sweep's thread and its dashboard.

`Sweep.run`'s listener only files each message here, under a lock: a trial's events in that
trial's engine `Mailbox`, the trials' starts and ends in a list. The UI drains it on a timer
(PITFALLS "Handing data to the UI": neither one Textual message nor one `call_from_thread`
per event).
"""

from __future__ import annotations

import threading

from nntui.engine.sweep import SweepResult, TrialEvent, TrialFinished, TrialMessage, TrialStarted
from nntui.ui.mailbox import Mailbox


class SweepMailbox:
    """Where the sweep's thread leaves its messages for the UI: one engine `Mailbox` per
    trial for its events (bounded: points compacted, only the latest fit kept), and the
    trials' starts and ends in order (at most two per trial). Every call is quick."""

    def __init__(self, trials: int) -> None:
        self.trials = [Mailbox() for _ in range(trials)]
        self._lock = threading.Lock()
        self._lifecycle: list[TrialStarted | TrialFinished] = []
        self._end: tuple[SweepResult | None, str] | None = None

    def put(self, message: TrialMessage) -> None:
        """The sweep's listener (its thread)."""
        if isinstance(message, TrialEvent):
            self.trials[message.trial].put(message.event)
        else:
            with self._lock:
                self._lifecycle.append(message)

    def end(self, result: SweepResult | None, error: str = "") -> None:
        """The sweep's thread is done: its result, or why it failed."""
        with self._lock:
            self._end = (result, error)

    def take(self) -> tuple[list[TrialStarted | TrialFinished], tuple[SweepResult | None, str] | None]:
        """The starts and ends since the last call, and the sweep's end once it came (each once)."""
        with self._lock:
            out, self._lifecycle = self._lifecycle, []
            end, self._end = self._end, None
        return out, end
