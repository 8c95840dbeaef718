"""`nntui sweep` without --headless: the dashboard of a sweep.

Every trial's loss curve on one plot, live and decimated, coloured by the value it takes of
the first varied field (a legend says which colour is which value); a leaderboard that
sorts itself by best loss as trials finish; Enter (or a click) on a trial shows its fit or
decision boundary.

The flow: `Sweep.run` runs in a thread of this process (the trials run in its worker
processes: this process never imports torch). Its listener only files each message in a
`SweepMailbox` (one engine `Mailbox` per trial, plus the trials' starts and ends), under a
lock; the UI drains it on a timer (PITFALLS "Handing data to the UI": neither one Textual
message nor one `call_from_thread` per event). The leaderboard's rows are the engine's own
`leaderboard_row` of each trial's summary, sorted by `sort_rows`: what leaderboard.json
says, number for number.

Leaving (q, ctrl+c, SIGINT/SIGTERM/SIGHUP, the terminal hanging up) stops the sweep: every
running trial saves its checkpoint and the leaderboard is written with each trial's status,
then the app exits (0, or 1 if a trial failed; 130/143/129 for the signals).
"""

from __future__ import annotations

import contextlib
import math
import queue
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.color import Color
from textual.containers import Container, Horizontal, Vertical
from textual.widgets import DataTable, Footer, Static

from nntui.engine.errors import NntuiError
from nntui.engine.events import FitUpdated, LearningRateChanged, RunFailed, RunFinished, RunStarted
from nntui.engine.formats import MISSING, fmt_duration, fmt_loss
from nntui.engine.signals import EXIT_FAILED, EXIT_OK, SIGNAL_EXIT, add_loop_handlers, remove_loop_handlers
from nntui.engine.sweep import (
    FINISHED,
    Sweep,
    SweepResult,
    TrialEvent,
    TrialFinished,
    TrialMessage,
    TrialStarted,
)
from nntui.engine.sweep_leaderboard import leaderboard_row, sort_rows
from nntui.ui.mailbox import Drained, Mailbox
from nntui.ui.screens.help import HelpScreen
from nntui.ui.widgets.boundary import BoundaryPlot
from nntui.ui.widgets.fit_plot import FitPlot
from nntui.ui.widgets.sweep_loss_plot import MAX_OTHER_CURVES, GroupLegend, SweepLossPlot

if TYPE_CHECKING:
    from textual.driver import Driver

    from nntui.engine.grid import Trial

UI_TICK_S = 0.25
"""The mailbox is drained and changed plots redrawn at most this often: trials forward their
epochs about 4 times a second, and a redraw of sixteen curves is the UI's largest cost."""
LOSS_REDRAW_S = 0.45
"""New epochs redraw the loss plot about twice a second (a key redraws it at once): every
trial's curve is rebuilt each time, the UI's largest cost after the table."""
LIVE_ROWS_S = 1.0
"""Running trials' numbers in the leaderboard are updated this often (a finished trial's row
at once): every cell update re-renders the whole DataTable."""
STOP_JOIN_S = 30.0
"""How long closing the app waits for the sweep's thread (its trials saving) when it was not
stopped through q or a signal (a test leaving `run_test`)."""
CHOOSE_HINT = "Enter on a trial shows its fit or decision boundary"

KEYS: tuple[tuple[str, str], ...] = (
    ("up / down", "highlight a trial: its curves (train and test) drawn in full on the loss plot"),
    ("enter (or a click)", "show that trial's fit or decision boundary, live while it trains"),
    ("l", "log-scale loss axis on/off"),
    ("m", "smoothing of the loss curves on/off"),
    ("s", "stop the sweep (every running trial saved, the leaderboard written); the dashboard stays"),
    ("p  or  ctrl+s", "save an SVG screenshot"),
    ("ctrl+p", "command palette (themes)"),
    ("? or f1", "this help"),
    ("q  or  ctrl+q", "quit: the sweep stops first (every trial saved, the leaderboard written)"),
    ("ctrl+c", "the same, exit 130, as in a shell"),
)

HELP_TEXT = (
    "Each trial's train loss is drawn in the colour of its value of the first varied field (the legend under the "
    "plot); the highlighted trial is drawn in full, with its test loss, the others dimmed. Until you move the "
    "cursor the highlight follows the leader (the best loss so far among finished trials).\n\n"
    "The leaderboard sorts itself by best loss as trials finish; running trials show their live numbers below the "
    "finished ones. Its numbers are each trial's summary.json, as leaderboard.csv and leaderboard.json in the "
    "sweep's folder say.\n\n"
    "Statuses: queued, running, done, diverged, failed, interrupted (stopped and saved: run the same command again "
    "to go on from its checkpoint), not started."
)


class SweepHelp(HelpScreen):
    """The dashboard's help screen with the sweep's own keys."""

    def compose(self) -> ComposeResult:
        width = max(len(k) for k, _ in KEYS)
        with Vertical(id="help-body"):
            yield Static("nntui sweep: keys", classes="help-title", markup=False)
            yield Static("\n".join(f"  {k.ljust(width)}   {v}" for k, v in KEYS), markup=False)
            yield Static(HELP_TEXT, markup=False, classes="help-text")
            yield Static("esc closes this help", classes="help-hint", markup=False)


# ----------------------------------------------------------------------------- the hand-over


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


@dataclass
class TrialView:
    """What the dashboard knows of one trial."""

    trial: Trial
    group: int
    status: str = "queued"
    """queued, running, done, diverged, failed, interrupted, not started."""
    row: dict[str, Any] | None = None
    """Its leaderboard row (from its summary.json) once finished."""
    started: RunStarted | None = None
    fit: FitUpdated | None = None
    epoch: int = 0
    total: int = 0
    loss: float = math.nan
    best: float = math.nan
    elapsed_s: float = math.nan
    metrics: dict[str, float] = field(default_factory=dict)
    where: str = ""
    resumed: bool = False
    error: str = ""
    fit_error: str = ""
    loading: bool = False
    """Its run directory is being read (an earlier run's curve, or its film)."""

    @property
    def finished(self) -> bool:
        return self.row is not None


def metric_cell(name: str, value: Any) -> str:
    """accuracy 0.953 → "acc 0.953", r2 → "R² …"; nothing → —."""
    if not name or not isinstance(value, (int, float)) or not math.isfinite(value):
        return MISSING
    shown = f"{value:.3f}" if abs(value) < 1e3 else f"{value:.3g}"
    return f"{name.replace('accuracy', 'acc').replace('r2', 'R²')} {shown}"


def number_cell(value: Any) -> str:
    """A leaderboard loss as the headless table prints it (6 significant figures)."""
    return fmt_loss(float(value), 6) if isinstance(value, (int, float)) else MISSING


def live_metric(metrics: dict[str, float]) -> tuple[str, float]:
    """The number a running trial's summary will carry: the test split's when there is one."""
    for name in ("accuracy", "r2"):
        for split in ("test", "train"):
            value = metrics.get(f"{split}_{name}")
            if value is not None and math.isfinite(value):
                return name, value
    return "", math.nan


# ----------------------------------------------------------------------------- the leaderboard


class Leaderboard(DataTable[Text]):
    """The DataTable of the trials, re-rendering only the cells whose text changed.

    DataTable keys its cell cache on a counter that every `update_cell` bumps, so one running
    trial's new epoch re-renders every cell of the table through Rich (measured: ~20 ms for
    16 rows, more under load, during which a key press waits). Here a cell's rendering is
    also kept under its own text, style, place and cursor state; anything else that changes
    its look (the theme, the cursor shown or not) clears this cache as it clears DataTable's."""

    MAX_CACHED = 20_000

    def __init__(self, *, id: str | None = None) -> None:
        self._own_cells: dict[tuple[Any, ...], Any] = {}  # (first: DataTable's __init__ clears caches)
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)

    def _render_cell(
        self, row_index: int, column_index: int, base_style: Style, width: int, cursor: bool = False,
        hover: bool = False,
    ) -> Any:
        if row_index < 0 or column_index < 0:  # the header and row labels: as DataTable does
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        try:
            row_key = self._row_locations.get_key(row_index)
            column_key = self._column_locations.get_key(column_index)
            value = self._data[row_key][column_key] if row_key is not None and column_key is not None else None
        except (AttributeError, KeyError, LookupError):
            value = None
        if value is None:  # not a cell this knows (another Textual): DataTable's own way
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        shown = (value.plain, value.style, value.justify) if isinstance(value, Text) else repr(value)
        key = (row_key, column_key, row_index, column_index, shown, base_style, width, cursor, hover,
               self._show_hover_cursor, self.show_cursor, self._pseudo_class_state)
        lines = self._own_cells.get(key)
        if lines is None:
            if len(self._own_cells) >= self.MAX_CACHED:
                self._own_cells.clear()
            lines = self._own_cells[key] = super()._render_cell(
                row_index, column_index, base_style, width, cursor, hover
            )
        return lines

    def notify_style_update(self) -> None:
        self._own_cells.clear()
        super().notify_style_update()

    def _clear_caches(self) -> None:
        self._own_cells.clear()
        super()._clear_caches()


# ----------------------------------------------------------------------------- the app


class SweepApp(App[int]):
    """The sweep's dashboard; the sweep runs in a thread, its trials in worker processes."""

    CSS_PATH = "nntui.tcss"
    TITLE = "nntui sweep"
    CSS = """
    #sweep { height: 1fr; width: 1fr; }
    #top { height: 1fr; min-height: 12; }
    #curves { width: 3fr; height: 1fr; }
    #fit-pane { width: 2fr; height: 1fr; border-left: vkey $foreground 20%; }
    #fit-title { height: 1; color: $text-muted; }
    #board { height: auto; max-height: 45%; min-height: 4; border-top: hkey $foreground 20%; }
    #sweep-status { height: 1; color: $text-muted; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark,f1", "help", "Help"),
        Binding("q", "quit", "Quit"),
        Binding("enter", "show_fit", "Fit", priority=True),  # (the table's own enter is not in the footer)
        Binding("l", "toggle_log", "Log-y"),
        Binding("m", "toggle_smooth", "Smooth"),
        Binding("s", "stop_sweep", "Stop sweep"),
        Binding("p", "save_screenshot", "Screenshot"),
        Binding("ctrl+s", "save_screenshot", "Screenshot", show=False, priority=True),
        Binding("ctrl+c", "interrupt", "Interrupt", show=False, priority=True),
        # the table's own up/down, done here: the cursor and the loss plot change in one frame
        # (through the table's RowHighlighted message the plot waited a frame more)
        Binding("down", "move(1)", "Next trial", show=False, priority=True),
        Binding("up", "move(-1)", "Previous trial", show=False, priority=True),
    ]

    def __init__(self, sweep: Sweep, *, tick_s: float = UI_TICK_S) -> None:
        super().__init__()
        sweep.prepare()  # idempotent (the CLI did it, to refuse bad input before any screen)
        _start_resource_tracker()
        self.sweep = sweep
        self.tick_s = tick_s
        self.fields = sweep.grid.fields
        self.group_field = self.fields[0] if self.fields else ""
        self.group_values: tuple[str, ...] = sweep.grid.axes[0].texts if sweep.grid.axes else ("",)
        self.views: list[TrialView] = []
        for trial in sweep.trials:
            value = trial.texts.get(self.group_field, "")
            group = self.group_values.index(value) if value in self.group_values else 0
            self.views.append(TrialView(trial, group, total=trial.config.epochs))
        self.mailbox = SweepMailbox(len(self.views))
        self.active: set[int] = set()
        """Trials whose mailbox the tick drains (started, or being read back from disk)."""
        self.highlighted = 0
        self._following = True
        """The highlight follows the leaderboard's leader until the user moves it."""
        self.chosen: int | None = None
        """The trial whose fit the fit pane shows (Enter)."""
        self.result: SweepResult | None = None
        self.error = ""
        self.running = False
        """The sweep's thread is going."""
        self.ended_by: str | None = None
        self.screenshot_dir = "."
        self._leaving = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._loaded: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._films: queue.SimpleQueue[tuple[int, FitUpdated | None, str]] = queue.SimpleQueue()
        self._cells: dict[int, tuple[Text, ...]] = {}
        self._order: list[int] = list(range(len(self.views)))
        self._by_name = {v.trial.name: v.trial.index for v in self.views}
        self._plot_run: dict[str, tuple[int, RunStarted | None]] = {}
        """Which trial's data points each fit panel holds (another trial's are cleared first)."""
        self._signal_code: int | None = None
        self._live: set[int] = set()
        """Trials whose rows changed since the table was last updated."""
        self._live_at = -math.inf
        self._signals: list[int] = []

    # -- layout --------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Container(id="sweep"):
            with Horizontal(id="top"):
                with Vertical(id="curves"):
                    yield SweepLossPlot(id="loss-plot")
                    yield GroupLegend(self.group_field, self.group_values, id="legend")
                with Vertical(id="fit-pane"):
                    yield Static(CHOOSE_HINT, id="fit-title", markup=False)
                    yield FitPlot(id="fit-plot")
                    yield BoundaryPlot(id="boundary-plot")
            yield Leaderboard(id="board")
            yield Static("", id="sweep-status", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.loss_plot = self.query_one(SweepLossPlot)
        self.legend = self.query_one(GroupLegend)
        self.fit_plot = self.query_one(FitPlot)
        self.boundary = self.query_one(BoundaryPlot)
        self.fit_title = self.query_one("#fit-title", Static)
        self.board = self.query_one(Leaderboard)
        self.status_line = self.query_one("#sweep-status", Static)
        self.fit_plot.waiting = self.boundary.waiting = CHOOSE_HINT
        self.boundary.display = False
        for view in self.views:
            self.loss_plot.add_trial(view.trial.index, view.trial.name, view.group)
        self._add_columns()
        for view in self.views:
            view.status = self._initial_status(view)
            cells = self._row_cells(view)
            self._cells[view.trial.index] = cells
            self.board.add_row(*cells, key=str(view.trial.index))
        self.legend.show_for(self.loss_plot)
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self.board.focus()
        self._ticker = self.set_interval(self.tick_s, self._tick, name="sweep-tick")
        import asyncio

        self._signals = add_loop_handlers(asyncio.get_running_loop(), self._signalled)
        self._start()
        self._show_status()

    def _add_columns(self) -> None:
        n = len(self.views)
        self.board.add_column("#", key="n", width=max(2, len(str(n))))
        for name in self.fields:
            width = max([len(name), *(len(v.trial.texts.get(name, "")) for v in self.views)])
            self.board.add_column(name, key=f"field:{name}", width=min(width, 32))
        most = max((v.total for v in self.views), default=0)
        self.board.add_column("status", key="status", width=11)
        self.board.add_column("final loss", key="final", width=10)
        self.board.add_column("best loss", key="best", width=10)
        self.board.add_column("metric", key="metric", width=10)
        self.board.add_column("epochs", key="epochs", width=max(6, 2 * len(f"{most:,}") + 1))
        self.board.add_column("time", key="time", width=7)

    def _initial_status(self, view: TrialView) -> str:
        state = self.sweep.state[view.trial.index]
        return state.status if state.status in FINISHED else "queued"

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

    # -- the leaderboard ---------------------------------------------------------------------

    def rows(self) -> list[dict[str, Any]]:
        """Every trial's row, in the order the table shows them (finished ones by best loss)."""
        return sort_rows([self._row(v) for v in self.views])

    def _row(self, view: TrialView) -> dict[str, Any]:
        if view.row is not None:
            return view.row
        return leaderboard_row(view.trial, "not started", {}, self.fields) | {"status": view.status}

    def _row_cells(self, view: TrialView) -> tuple[Text, ...]:
        """The table's cells of a trial: its summary's numbers once finished, live ones while it runs."""
        row = view.row
        trial = view.trial
        if row is not None:
            final, best = number_cell(row.get("final_loss")), number_cell(row.get("best_loss"))
            metric = metric_cell(row.get("metric", ""), row.get("metric_value"))
            epochs = row.get("epochs")
            epochs_text = f"{epochs:,}" if isinstance(epochs, int) else MISSING
            took = row.get("elapsed_s")
            time_text = fmt_duration(took) if isinstance(took, (int, float)) else MISSING
        elif view.status == "running":
            final, best = fmt_loss(view.loss, 6), fmt_loss(view.best, 6)
            metric = metric_cell(*live_metric(view.metrics))
            epochs_text = f"{view.epoch:,}/{view.total:,}"
            time_text = fmt_duration(view.elapsed_s)
        else:
            final = best = metric = epochs_text = time_text = MISSING
        cells = [Text(str(trial.index + 1), justify="right")]
        for name in self.fields:
            style = Style()
            if name == self.group_field and not self.loss_plot.palette.no_color:
                color = self.loss_plot.group_color(view.group, self.loss_plot.palette)
                if isinstance(color, tuple):
                    style = Style(color=Color(*color).rich_color)
            cells.append(Text(trial.texts.get(name, ""), style=style))
        status_style = Style(bold=True) if view.status in ("failed", "diverged") else Style()
        cells.append(Text(view.status, style=status_style))
        cells += [Text(final, justify="right"), Text(best, justify="right"), Text(metric),
                  Text(epochs_text, justify="right"), Text(time_text, justify="right")]
        return tuple(cells)

    def _update_row(self, view: TrialView) -> None:
        i = view.trial.index
        cells = self._row_cells(view)
        old = self._cells.get(i)
        if old == cells:
            return
        keys = list(self.board.columns)
        for j, cell in enumerate(cells):
            if old is None or old[j] != cell:
                self.board.update_cell(str(i), keys[j], cell)
        self._cells[i] = cells

    def _sort(self) -> None:
        """Best loss first (as leaderboard.json). Until the user moves the cursor the leader is
        highlighted (drawn in full); after, the trial they highlighted stays under the cursor."""
        order = [self._by_name[row["trial"]] for row in self.rows()]
        if order == self._order:
            return
        self._order = order
        rank = {i: r for r, i in enumerate(order)}
        self.board.sort("n", key=lambda cell: rank[int(cell.plain) - 1])
        if self._following:
            self._highlight(order[0])
            self.board.move_cursor(row=0)
        else:
            self.board.move_cursor(row=self.board.get_row_index(str(self.highlighted)), scroll=False)
        self._limit_curves()

    def _limit_curves(self) -> None:
        """Past MAX_OTHER_CURVES other trials, the plot draws the running ones and the best."""
        if len(self.views) <= MAX_OTHER_CURVES + 1:
            return
        running = [v.trial.index for v in self.views if v.status == "running"]
        keep = running + [i for i in self._order if i not in running]
        self.loss_plot.set_limit(frozenset(keep[:MAX_OTHER_CURVES]))

    # -- the status line ---------------------------------------------------------------------

    def _show_status(self) -> None:
        counts = Counter(v.status for v in self.views)
        order = ("running", "queued", "done", "diverged", "failed", "interrupted", "not started")
        parts = [f"{counts[s]} {s}" for s in order if counts.get(s)]
        if self.error:
            state = f"sweep failed: {self.error}"
        elif self._stopping and self.running:
            state = "stopping: every running trial saves its checkpoint…"
        elif self.running:
            state = "sweep running"
        elif self.result is not None and self.result.stopped:
            state = f"sweep stopped ({self.result.stopped}): run the same command again to go on"
        else:
            state = "sweep finished"
        _set_text(self.status_line, f"{state} · {' · '.join(parts)} · {self.sweep.grid.describe()} · {self.sweep.out}")

    # -- the fit pane ---------------------------------------------------------------------------

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is None:
            return
        i = int(event.row_key.value)
        if i != self.highlighted:  # the user's (a click, page keys): the app's own moves match
            self._following = False
            self._highlight(i)

    def _highlight(self, index: int) -> None:
        if index != self.highlighted:
            self.highlighted = index
            self.loss_plot.select(index)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """up/down and enter act on the leaderboard only on the dashboard itself (not under a
        help screen)."""
        if action in ("move", "show_fit"):
            return self.screen is self.screen_stack[0]
        return True

    def action_show_fit(self) -> None:
        """enter: the highlighted trial's fit or decision boundary in the fit pane."""
        self.choose(self.highlighted)

    def action_move(self, step: int) -> None:
        """up/down: the next or previous trial in the leaderboard, its curves drawn in full."""
        board = self.board
        if not board.row_count:
            return
        self._following = False
        row = min(max(board.cursor_row + step, 0), board.row_count - 1)
        board.move_cursor(row=row)
        key = board.coordinate_to_cell_key(board.cursor_coordinate).row_key.value
        if key is not None:
            self._highlight(int(key))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.choose(int(event.row_key.value))

    def choose(self, index: int) -> None:
        """Show trial `index`'s fit (Enter on its row): live while it trains, else its film's last frame."""
        self.chosen = index
        self._following = False
        view = self.views[index]
        if view.fit is None and not view.loading and view.finished:
            view.loading = True
            self.run_worker(partial(self._load_film, index), name="sweep-film", group="sweep-film", thread=True,
                            exit_on_error=False)
        self._show_fit_title()
        self._show_fit()

    def _show_fit_title(self) -> None:
        if self.chosen is None:
            return
        view = self.views[self.chosen]
        _set_text(self.fit_title, f"#{view.trial.index + 1} {view.trial.name} · {view.status}")

    def _show_fit(self) -> None:
        if self.chosen is None:
            return
        view = self.views[self.chosen]
        fit = view.fit
        if fit is None:
            if view.loading:
                waiting = "reading its film.npz…"
            elif view.status == "queued":
                waiting = "queued: its fit appears once it trains"
            elif view.status == "running":
                waiting = "its first fit comes about a second after it starts"
            else:
                waiting = view.error or view.fit_error or "no fit was saved for this trial"
            self.fit_plot.clear(waiting)
            self.boundary.clear(waiting)
            self.boundary.display = False
            self.fit_plot.display = True
            self.fit_plot.redraw()
            return
        boundary = fit.kind == "boundary"
        plot: FitPlot | BoundaryPlot = self.boundary if boundary else self.fit_plot
        source = (self.chosen, view.started)
        held = self._plot_run.get(plot.id or "")
        if held is None or held[0] != source[0] or held[1] is not source[1]:
            plot.clear("")  # another trial (or its data came): its own data points, nobody else's
            if view.started is not None:
                plot.set_run(view.started)
            self._plot_run[plot.id or ""] = source
        plot.set_fit(fit)
        self.boundary.display = boundary
        self.fit_plot.display = not boundary
        plot.redraw()

    # -- keys ------------------------------------------------------------------------------------

    def action_toggle_log(self) -> None:
        self.loss_plot.set_options(log_y=not self.loss_plot.log_y)

    def action_toggle_smooth(self) -> None:
        self.loss_plot.set_options(smooth=not self.loss_plot.smooth)

    def action_stop_sweep(self) -> None:
        """s: stop every trial (each saves), start no more; the dashboard stays open."""
        if self.running and not self._stopping:
            self._stopping = True
            self.sweep.stop("stopped from the sweep dashboard (s)")
            self._show_status()

    def action_save_screenshot(self) -> None:
        try:
            path = self.save_screenshot(path=self.screenshot_dir)
        except OSError as exc:
            self.notify(f"Could not save the screenshot: {exc}", severity="error")
            return
        self.notify(f"Screenshot saved: {path}", timeout=6)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(SweepHelp())

    async def action_quit(self) -> None:
        """q: stop the sweep (every trial saved, the leaderboard written), then exit."""
        self._leave(None, "stopped: the sweep dashboard quit")

    def action_interrupt(self) -> None:
        """ctrl+c: as a shell's Ctrl-C (every trial saved, then exit 130)."""
        self.ended_by = "Ctrl-C"
        self._leave(SIGNAL_EXIT["SIGINT"], "interrupted by Ctrl-C")

    def _signalled(self, name: str) -> None:
        self.ended_by = self.ended_by or name
        self._leave(SIGNAL_EXIT[name], f"interrupted by {name}")

    def terminal_gone(self) -> None:
        """The terminal hung up with SIGHUP ignored (HangUpSafeDriver): as a SIGHUP."""
        self._signalled("SIGHUP")

    def _leave(self, code: int | None, reason: str) -> None:
        """Stop the sweep and exit once its thread is done (the tick watches it): every trial
        saves and the leaderboard is written first. `code`: a signal's, or None (q)."""
        if code is not None and self._signal_code is None:
            self._signal_code = code
        if self._leaving:
            return
        self._leaving = True
        if self.running:
            self._stopping = True
            self.sweep.stop(reason)
            self._show_status()
        else:
            self.exit(self.exit_code())

    def exit_code(self) -> int:
        """A signal's code (130, 143, 129); else 1 if a trial failed or the sweep did, else 0 (as headless)."""
        if self._signal_code is not None:
            return self._signal_code
        failed = any(v.status == "failed" for v in self.views) or bool(self.error)
        return EXIT_FAILED if failed else EXIT_OK

    def _theme_changed(self, _theme: object) -> None:
        """The legend's and the table's colours follow the plot's (after it took the new palette)."""
        def recolour() -> None:
            self.legend.show_for(self.loss_plot)
            self._cells.clear()
            for view in self.views:
                self._update_row(view)

        self.call_after_refresh(recolour)

    def on_unmount(self) -> None:
        """Whatever ended the app (q, a signal, a test leaving run_test): no trial trains on
        without anyone to see it; each saves and the leaderboard is written."""
        ticker = getattr(self, "_ticker", None)  # (none if mounting failed)
        if ticker is not None:
            ticker.stop()
        import asyncio

        remove_loop_handlers(asyncio.get_running_loop(), self._signals)
        thread = self._thread
        if thread is not None and thread.is_alive():
            self.sweep.stop("stopped: the sweep dashboard closed")
            thread.join(STOP_JOIN_S)

    def get_driver_class(self) -> type[Driver]:
        """As the dashboard: Textual's Linux driver made safe for a terminal that hangs up."""
        driver = super().get_driver_class()
        if sys.platform != "win32":
            from textual.drivers.linux_driver import LinuxDriver

            from nntui.ui.driver import HangUpSafeDriver

            if driver is LinuxDriver:
                return HangUpSafeDriver
        return driver


def _set_text(widget: Static, text: str) -> None:
    """A one-line Static's new text, only when it changed and without a layout pass: a
    layout re-renders every widget (the leaderboard's table costs ~20 ms), and these lines
    change size never."""
    if str(widget.content) != text:
        widget.update(text, layout=False)


def _start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker now, while sys.stderr is the real one: the
    sweep spawns its workers from inside the running app, whose captured stderr has no file
    descriptor (fileno() -1), and launching the tracker then fails ("bad value(s) in
    fds_to_keep"). Once running, every later spawn reuses it."""
    import multiprocessing.resource_tracker

    with contextlib.suppress(Exception):  # not on this platform: spawning reports its own error
        multiprocessing.resource_tracker.ensure_running()


def create_sweep_app(sweep: Sweep, *, tick_s: float = UI_TICK_S) -> SweepApp:
    """The one way to build the sweep dashboard (the CLI and the tests both use it)."""
    return SweepApp(sweep, tick_s=tick_s)

