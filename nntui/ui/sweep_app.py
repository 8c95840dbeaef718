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

Here: the app, its layout, keys, fit pane and leaving. Beside it: `sweep_mailbox` (the
hand-over), the mixins `sweep_feed` (the sweep's thread and the UI tick) and `sweep_rows`
(the leaderboard's rows), `widgets/leaderboard`, `screens/sweep_help`, and sweep.tcss (the
layout).
"""

from __future__ import annotations

import contextlib
import math
import queue
import sys
import threading
from collections import Counter
from functools import partial
from pathlib import PurePath
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Container, Horizontal, Vertical
from textual.widgets import DataTable, Footer, Static

from nntui.engine.events import FitUpdated, RunStarted
from nntui.engine.signals import EXIT_FAILED, EXIT_OK, SIGNAL_EXIT, add_loop_handlers, remove_loop_handlers
from nntui.engine.sweep import Sweep, SweepResult
from nntui.ui.plot_keys import PlotKeys
from nntui.ui.screens.help import HelpScreen
from nntui.ui.screens.sweep_help import SweepHelp
from nntui.ui.sweep_feed import SweepFeed
from nntui.ui.sweep_mailbox import SweepMailbox
from nntui.ui.sweep_rows import SweepRows, TrialView
from nntui.ui.widgets.boundary import BoundaryPlot
from nntui.ui.widgets.fit_plot import FitPlot
from nntui.ui.widgets.leaderboard import Leaderboard
from nntui.ui.widgets.sweep_loss_plot import GroupLegend, SweepLossPlot

if TYPE_CHECKING:
    from textual.driver import Driver

UI_TICK_S = 0.25
"""The mailbox is drained and changed plots redrawn at most this often: trials forward their
epochs about 4 times a second, and a redraw of sixteen curves is the UI's largest cost."""
STOP_JOIN_S = 30.0
"""How long closing the app waits for the sweep's thread (its trials saving) when it was not
stopped through q or a signal (a test leaving `run_test`)."""
CHOOSE_HINT = "Enter on a trial shows its fit or decision boundary"


class SweepApp(SweepFeed, SweepRows, PlotKeys, App[int]):
    """The sweep's dashboard; the sweep runs in a thread, its trials in worker processes."""

    CSS_PATH: ClassVar[list[str | PurePath]] = ["nntui.tcss", "sweep.tcss"]
    """nntui.tcss (the help screen, the footer), then this dashboard's own layout."""
    TITLE = "nntui sweep"

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

    def action_stop_sweep(self) -> None:
        """s: stop every trial (each saves), start no more; the dashboard stays open."""
        if self.running and not self._stopping:
            self._stopping = True
            self.sweep.stop("stopped from the sweep dashboard (s)")
            self._show_status()

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
        if sys.platform == "win32":
            return driver
        from nntui.ui.driver import hang_up_safe

        return hang_up_safe(driver)


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
