"""The sweep dashboard's data flow: the sweep's thread, the worker threads that read back
earlier runs and films, and the UI tick that drains the `SweepMailbox` into the trials'
views, the table and the plots. A mixin of `SweepApp`.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
from textual.app import App

from nntui.engine.errors import NntuiError
from nntui.engine.events import FitUpdated, LearningRateChanged, RunFailed, RunFinished
from nntui.engine.sweep import FINISHED, Sweep, SweepResult, TrialFinished, TrialStarted
from nntui.engine.sweep_leaderboard import leaderboard_row
from nntui.ui.mailbox import Drained
from nntui.ui.sweep_mailbox import SweepMailbox
from nntui.ui.sweep_rows import TrialView

if TYPE_CHECKING:
    from nntui.ui.widgets.boundary import BoundaryPlot
    from nntui.ui.widgets.fit_plot import FitPlot
    from nntui.ui.widgets.sweep_loss_plot import SweepLossPlot

    _Base = App[int]
else:
    _Base = object

LOSS_REDRAW_S = 0.45
"""New epochs redraw the loss plot about twice a second (a key redraws it at once): every
trial's curve is rebuilt each time, the UI's largest cost after the table."""
LIVE_ROWS_S = 1.0
"""Running trials' numbers in the leaderboard are updated this often (a finished trial's row
at once): every cell update re-renders the whole DataTable."""


class SweepFeed(_Base):
    """The sweep's thread and the UI tick (a mixin: the app supplies the widgets, the trials'
    views and the state named below)."""

    sweep: Sweep
    views: list[TrialView]
    fields: tuple[str, ...]
    mailbox: SweepMailbox
    active: set[int]
    chosen: int | None
    result: SweepResult | None
    error: str
    running: bool
    loss_plot: SweepLossPlot
    fit_plot: FitPlot
    boundary: BoundaryPlot
    _leaving: bool
    _thread: threading.Thread | None
    _loaded: queue.SimpleQueue[int]
    _films: queue.SimpleQueue[tuple[int, FitUpdated | None, str]]
    _live: set[int]
    _live_at: float

    if TYPE_CHECKING:  # the app and its other mixin provide these

        def _update_row(self, view: TrialView) -> None: ...

        def _sort(self) -> None: ...

        def _show_status(self) -> None: ...

        def _show_fit_title(self) -> None: ...

        def _show_fit(self) -> None: ...

        def exit_code(self) -> int: ...

    # -- the sweep's thread ------------------------------------------------------------------

    def _start(self) -> None:
        """Start the sweep (a plain daemon thread: the process may end even if a trial never
        answers a stop) and read back the curves of trials an earlier run finished."""
        self.running = True
        self._thread = threading.Thread(target=self._run_sweep, name="nntui-sweep", daemon=True)
        self._thread.start()
        earlier = [v.trial.index for v in self.views if v.status in FINISHED]
        if earlier:
            for i in earlier:
                self.views[i].loading = True
            self.run_worker(partial(self._read_earlier, earlier), name="sweep-earlier", group="sweep-earlier",
                            thread=True, exit_on_error=False)

    def _run_sweep(self) -> None:
        """In the sweep's thread: run it; whatever happens, the UI hears how it ended."""
        try:
            result = self.sweep.run(self.mailbox.put)
        except NntuiError as exc:
            self.mailbox.end(None, str(exc))
        except Exception as exc:  # reported on screen; the leaderboard was written by run's finally
            self.mailbox.end(None, f"{type(exc).__name__}: {exc}")
        else:
            self.mailbox.end(result)

    def _read_earlier(self, indices: list[int]) -> None:
        """In a worker thread: each earlier-finished trial's metrics.csv, read as `nntui watch`
        reads a run directory (no torch), into its mailbox."""
        from nntui.engine.follow import RunFollower

        for i in indices:
            if self._leaving:
                break
            follower = RunFollower(self.sweep.out / self.views[i].trial.name)
            box = self.mailbox.trials[i]
            try:
                for _ in range(10_000):
                    polled = follower.poll()
                    for event in polled.events:
                        if not isinstance(event, (RunFinished, RunFailed)):  # its summary says how it ended
                            box.put(event)
                    if not polled.behind or self._leaving:
                        break
            finally:
                self._loaded.put(i)

    def _load_film(self, index: int) -> None:
        """In a worker thread: the last frame of a finished trial's film.npz (numpy only)."""
        from nntui.engine.film import Film, FilmError

        try:
            film = Film.load(self.sweep.out / self.views[index].trial.name)
        except FilmError as exc:
            self._films.put((index, None, exc.reason))
            return
        except Exception as exc:  # a worker must report, never die silently
            self._films.put((index, None, f"{type(exc).__name__}: {exc}"))
            return
        frame = film.frames[-1] if film.frames else None
        self._films.put((index, frame, "" if frame else "its film holds no frames"))

    # -- the UI tick: messages in, table and plots out ---------------------------------------

    def _tick(self) -> None:
        if not self.is_running:
            return
        changed: set[int] = set()
        resort = False
        lifecycle, end = self.mailbox.take()
        for message in lifecycle:
            view = self.views[message.trial]
            changed.add(message.trial)
            self.active.add(message.trial)
            if isinstance(message, TrialStarted):
                view.status, view.where, view.resumed = "running", message.where, message.resumed
            else:
                self._finish(view, message)
                resort = True
        while not self._loaded.empty():
            i = self._loaded.get()
            self.views[i].loading = False
            self.active.add(i)
        for i in sorted(self.active):
            view = self.views[i]
            drained = self.mailbox.trials[i].drain()
            if drained is not None:
                self._apply(view, drained)
                changed.add(i)
            if view.finished and not view.loading:
                self.active.discard(i)
        self._take_films()
        if end is not None:
            self._ended(*end)
            changed.update(range(len(self.views)))
            resort = True
        # a finished trial's row at once; live numbers at most every LIVE_ROWS_S (any cell
        # updated re-renders the whole table: ~20 ms for 16 rows)
        self._live |= changed
        now = time.monotonic()
        if now - self._live_at >= LIVE_ROWS_S or resort:
            self._live_at = now
            for i in sorted(self._live):
                self._update_row(self.views[i])
            self._live.clear()
        if resort:
            self._sort()
        if changed or end is not None:
            self._show_status()
            if self.chosen is not None and self.chosen in changed:
                self._show_fit_title()
        for plot in (self.fit_plot, self.boundary):
            if plot.display and plot.stale:
                plot.redraw()
        if self.loss_plot.stale and time.monotonic() - self.loss_plot.last_build >= LOSS_REDRAW_S:
            self.loss_plot.redraw()
        if self._leaving and not self.running:
            self.exit(self.exit_code())

    def _finish(self, view: TrialView, message: TrialFinished) -> None:
        view.status = message.status
        view.row = leaderboard_row(view.trial, message.status, message.summary, self.fields)
        if message.status == "failed":
            view.error = str(message.summary.get("error", ""))

    def _apply(self, view: TrialView, d: Drained) -> None:
        """A trial's drained events into its curve, its numbers and (if shown) its fit."""
        i = view.trial.index
        if d.started is not None:
            view.started = d.started
            view.total = d.started.config.epochs
            if self.chosen == i:
                self._show_fit()
        self.loss_plot.extend_run(i, d.epochs, d.train_loss, d.test_epochs, d.test_loss)
        if len(d.train_loss):
            view.loss = float(d.train_loss[-1])
            view.epoch = int(d.epochs[-1])
            finite = d.train_loss[np.isfinite(d.train_loss)]
            if len(finite):
                low = float(finite.min())
                view.best = low if not math.isfinite(view.best) else min(view.best, low)
        if d.stats is not None:
            view.total = d.stats.total_epochs or view.total
            view.elapsed_s = d.stats.elapsed_s
            view.metrics.update(d.stats.metrics)
        for note in d.notes:
            if isinstance(note, LearningRateChanged):
                self.loss_plot.add_run_marker(i, note.epoch, f"lr {note.new:g}")
        if d.fit is not None:
            view.fit = d.fit
            if self.chosen == i:
                self._show_fit()
        if isinstance(d.finished, RunFinished):
            view.epoch = d.finished.epoch or view.epoch
            if math.isfinite(d.finished.best_loss):
                view.best = d.finished.best_loss
        elif isinstance(d.finished, RunFailed):
            view.error = view.error or d.finished.error

    def _ended(self, result: SweepResult | None, error: str) -> None:
        """The sweep's thread is done: its rows are the leaderboard as written."""
        self.running = False
        self.result, self.error = result, error
        if self._thread is not None:
            self._thread.join(timeout=1.0)
        rows = {row["trial"]: row for row in (result.rows if result is not None else self.sweep.rows())}
        for view in self.views:
            row = rows.get(view.trial.name)
            if row is None:
                continue
            if view.row is None and row["status"] in ("not started", "running"):
                view.status = "not started"
                continue
            view.status, view.row = row["status"], row

    def _take_films(self) -> None:
        while not self._films.empty():
            i, fit, error = self._films.get()
            view = self.views[i]
            view.loading = False
            if fit is not None:
                view.fit = fit
            else:
                view.fit_error = error
            if self.chosen == i:
                self._show_fit()
