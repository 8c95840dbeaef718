"""When the dashboard redraws what: rates, the UI's CPU budget, one plot per tick.

Every plot redraw costs the UI thread milliseconds of pure Python. With the trainer in a
child process that only costs frame rate; with the trainer in a thread it costs training
speed too (they share one interpreter lock), so there the redraws are rationed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from typing import Protocol

DEFAULT_UI_HZ = 4.0
SSH_UI_HZ = 2.0
FIT_MIN_INTERVAL_S = 1.0
"""While training, the fit plot, the decision boundary, the cost landscape and the health
table are redrawn at most once a second (fit snapshots come that often; a faster landscape
or table would only cost the trainer time)."""
UI_CPU_BUDGET = 0.04
"""Every redraw holds the interpreter lock a thread-hosted trainer needs (measured: two panels
redrawn every 100/250/500 ms let training run at 0.39/0.65/0.84 of the bare loop).
While a thread-hosted run trains, the whole UI thread (builds, Textual's compositing and
terminal output) may use at most this share of a core, measured over UI_CPU_WINDOW_S; above
it, plot redraws wait (the status line still updates). Measured here: at 4 Hz the UI thread
took 8–9 % of a core and the trainer got about 0.91 of it; the budget trades frame rate
for ≥ 0.95 of headless speed on whatever machine and terminal this runs on."""
UI_CPU_WINDOW_S = 2.0
MAX_PLOT_STALENESS_S = 3.0
"""Whatever the budget says, a stale plot is redrawn after this long: the picture stays live."""


def default_ui_hz(environ: dict[str, str] | None = None) -> float:
    """4 Hz locally, 2 Hz over SSH (each plot redraw resends the widget's area)."""
    env = os.environ if environ is None else environ
    return SSH_UI_HZ if env.get("SSH_CONNECTION") else DEFAULT_UI_HZ


class Plot(Protocol):
    """What the scheduler needs of a plot panel."""

    stale: bool
    last_build: float

    @property
    def display(self) -> bool: ...

    def redraw(self) -> None: ...


class RedrawScheduler:
    """Decides, once per UI tick, which stale plots to redraw now, later, or not yet."""

    def __init__(self, ui_hz: float, set_timer: Callable[[float, Callable[[], None]], object]) -> None:
        self.ui_hz = ui_hz
        self._set_timer = set_timer
        self._cpu_samples: list[tuple[float, float]] = []
        self._deferred: set[Plot] = set()
        """Plots whose redraw waits for half a tick (never two plots rendered in one tick)."""
        self.blocked = False
        """The plots may not be drawn at all (the terminal is too small)."""

    @property
    def period(self) -> float:
        return 1 / self.ui_hz

    @property
    def slow_period(self) -> float:
        """Fit, boundary, landscape and health: at most once a second while training."""
        return max(self.period, FIT_MIN_INTERVAL_S)

    def ui_cpu_share(self, now: float) -> float:
        """Share of a core this (UI) thread used over the last UI_CPU_WINDOW_S seconds."""
        cpu = time.thread_time()
        samples = self._cpu_samples
        samples.append((now, cpu))
        while len(samples) > 2 and now - samples[1][0] >= UI_CPU_WINDOW_S:
            samples.pop(0)
        then, cpu_then = samples[0]
        return (cpu - cpu_then) / (now - then) if now - then > 0.2 else 0.0

    def redraw(self, plots: Iterable[Plot], fast: tuple[Plot, ...], *, training: bool, rationed: bool) -> bool:
        """Redraw what is due: the `fast` plots (the loss plot; the fit too while paced) at
        ui_hz, the others at `slow_period`. While paced the trainer mostly sleeps, and the fit
        must animate: every fast plot is drawn each tick (else one plot per tick).
        `rationed`: the trainer shares this interpreter, so the CPU budget applies.
        Returns False when the budget held every plot back this tick."""
        plots = tuple(plots)
        now = time.monotonic()
        share = self.ui_cpu_share(now)
        overdue = any(plot.stale and now - plot.last_build > MAX_PLOT_STALENESS_S for plot in plots)
        if training and rationed and share > UI_CPU_BUDGET and not overdue:
            return False
        drawn = False
        for plot in plots:
            period = self.period if plot in fast else self.slow_period
            due = plot.stale and plot not in self._deferred and (not training or now - plot.last_build >= period * 0.9)
            if due and drawn and training and len(fast) == 1:
                # one plot per tick while training: a key pressed during a redraw waits for
                # one plot's render, not two; the other is drawn half a tick later
                self._defer(plot, self.period / 2)
            elif due:
                plot.redraw()
                drawn = True
        return True

    def _defer(self, plot: Plot, delay: float) -> None:
        self._deferred.add(plot)

        def draw() -> None:
            self._deferred.discard(plot)
            if plot.stale and plot.display and not self.blocked:
                plot.redraw()

        self._set_timer(delay, draw)
