"""Headless progress: one plain line per progress step, as the lecture's script printed.

Lines go to a stream (stderr in headless mode): the run's settings, the data, the
least-squares reference, a line every `log_every` epochs, warnings, and how it ended.
"""

from __future__ import annotations

import math
from functools import partial
from typing import TextIO

from nntui.engine.config import config_summary
from nntui.engine.events import EpochsEnded, Event, LearningRateChanged, RunFailed, RunFinished, RunStarted, Warned
from nntui.engine.formats import fmt_duration, fmt_loss, nice_interval

fmt_loss6 = partial(fmt_loss, digits=6)
"""The console has room for six significant figures."""


class ConsoleSink:
    """One plain line per progress step, as the lecture's script printed every 100 epochs."""

    def __init__(self, stream: TextIO, log_every: int | None = None) -> None:
        self.stream = stream
        self.log_every = log_every
        self.total = 0
        self.last_test = math.nan
        self.started: RunStarted | None = None

    def say(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.started = event
            c = event.config
            self.total = c.epochs
            if self.log_every is None:
                self.log_every = max(1, nice_interval(c.epochs // 20))
            split = f"{event.n_train} train / {event.n_test} test" if event.n_test else f"{event.n_train} points"
            self.say(f"nntui: {config_summary(c)}")
            self.say(
                f"nntui: {event.parameters:,} parameters on {event.device_label}, {split}, "
                f"{event.engine} engine" + (f", from epoch {event.start_epoch}" if event.start_epoch else "")
            )
            for note in event.data_notes:
                self.say(f"nntui: data: {note}")
            if event.baseline is not None:
                b = event.baseline
                test = f", test {b.test_loss:.6g}" if b.test_loss is not None else ""
                self.say(
                    f"nntui: least squares (normal equation, degree {b.degree}): {b.loss} loss {b.train_loss:.6g}{test}"
                    " — the closed form's reference"
                )
        elif isinstance(event, EpochsEnded):
            self._progress(event)
        elif isinstance(event, Warned):
            self.say(f"nntui: warning: {event.message}")
        elif isinstance(event, LearningRateChanged):
            self.say(f"nntui: epoch {event.epoch}: learning rate {event.old:g} → {event.new:g}")
        elif isinstance(event, RunFinished):
            extra = "".join(f"  {k} {v:.4f}" for k, v in event.metrics.items() if math.isfinite(v))
            at = f"{event.diverged_at}, kept epoch {event.epoch}" if event.diverged_at is not None else event.epoch
            self.say(
                f"nntui: {event.reason} at epoch {at}: loss {fmt_loss6(event.final_loss)}, "
                f"best {fmt_loss6(event.best_loss)}, {event.steps_per_s:,.0f} steps/s{extra}"
                + (f", peak GPU memory {event.peak_memory / 2**20:,.1f} MiB" if event.peak_memory is not None else "")
            )
            if event.message:
                self.say(f"nntui: {event.message}")
        elif isinstance(event, RunFailed):
            self.say(f"nntui: error: {event.error}")

    def _progress(self, e: EpochsEnded) -> None:
        every = self.log_every or 1
        hits = [i for i, ep in enumerate(e.epochs) if ep % every == 0 or ep == e.total_epochs]
        width = len(str(e.total_epochs))
        # the test loss is measured only on some epochs (NaN between): each line shows the
        # latest one measured at or before its own epoch, never a later one from the chunk
        measured = [i for i, v in enumerate(e.test_loss) if math.isfinite(v)]
        m = 0
        for i in hits:
            while m < len(measured) and measured[m] <= i:
                self.last_test = float(e.test_loss[measured[m]])
                m += 1
            epoch = int(e.epochs[i])
            eta = (e.total_epochs - epoch) / e.steps_per_s if e.steps_per_s > 0 else math.nan
            test = f"  test {fmt_loss6(self.last_test)}" if math.isfinite(self.last_test) else ""
            self.say(
                f"epoch {epoch:>{width}}/{e.total_epochs}  loss {fmt_loss6(float(e.train_loss[i]))}{test}"
                f"  {e.steps_per_s:,.0f} steps/s  ETA {fmt_duration(eta)}"
            )
        if measured:
            self.last_test = float(e.test_loss[measured[-1]])
