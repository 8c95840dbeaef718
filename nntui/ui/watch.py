"""`nntui watch DIR [DIR ...]`: follow run directories another process writes.

A headless run (`nntui --headless --out runs/x`), a dashboard with `--out` or a sweep's
trials write run directories; this shows them as they grow: every run's loss curve, a run
list with each run's status, and the selected run's fit or decision boundary, redrawn from
its weights when model.safetensors changes. The dashboard's view keys work here (l, m, p,
?, q); the ones that train do not exist.

The flow is the dashboard's read back: each run's `RunFollower` (engine/follow.py) turns the
rows appended to metrics.csv into the trainer's own events, they go through a `Mailbox`
like a live run's, and the drained result feeds the same widgets. Polling runs on the UI
thread (a poll reads only the appended bytes: well under a millisecond for a second of
rows); loading weights and drawing the fit imports torch and runs in a thread worker.
"""

from __future__ import annotations

import argparse
import math
import os
import queue
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, ClassVar, NoReturn

import numpy as np
from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.color import Color
from textual.containers import Container, Horizontal, Vertical
from textual.widgets import Footer, OptionList, Static

from nntui.engine.errors import NntuiError
from nntui.engine.events import LearningRateChanged, RunFailed, RunFinished
from nntui.engine.follow import QUIET_AFTER_S, Polled, RunFollower
from nntui.engine.follow_fit import WeightsFit
from nntui.engine.follow_status import FollowStatus
from nntui.engine.formats import fmt_loss
from nntui.engine.signals import EXIT_BAD_INPUT, SIGNAL_EXIT, add_loop_handlers, remove_loop_handlers
from nntui.ui.mailbox import Drained, Mailbox
from nntui.ui.plot_keys import PlotKeys
from nntui.ui.screens.help import HelpScreen
from nntui.ui.widgets.boundary import BoundaryPlot
from nntui.ui.widgets.fit_plot import FitPlot
from nntui.ui.widgets.multi_loss_plot import MultiLossPlot, run_color
from nntui.ui.widgets.status import RunStatus, StatusLine

if TYPE_CHECKING:
    from textual.driver import Driver

POLL_S = 1.0
"""How often every run directory is polled: a person reads a curve at about this pace, and
a poll that finds nothing new costs a few system calls."""
CATCH_UP_S = 0.05
"""A follower that read its cap (a long file, first seen) polls again this soon."""
UI_TICK_S = 0.25
"""Plots that changed are redrawn at most this often; finished fits are picked up."""
NO_FIT_YET = "the fit appears when the run saves its weights (model.safetensors, at each checkpoint)"

KEYS: tuple[tuple[str, str], ...] = (
    ("up / down", "select a run (its fit, its test curve, its status line)"),
    ("tab / shift+tab", "next / previous run"),
    ("l", "log-scale loss axis on/off"),
    ("m", "smoothing of the loss curves on/off"),
    ("p  or  ctrl+s", "save an SVG screenshot"),
    ("ctrl+p", "command palette (themes)"),
    ("? or f1", "this help"),
    ("q  or  ctrl+q", "quit (the runs go on: watching never touches them)"),
)

HELP_TEXT = (
    "nntui watch follows run directories written by nntui --headless --out DIR, a dashboard with --out, or a "
    "sweep, on this machine or on a shared file system. It polls (inotify misses writes over NFS), reads only the "
    "rows appended since the last poll, and never writes into a run directory.\n\n"
    "The selected run is drawn in full (train and test loss, learning-rate changes); the others as quieter train "
    "curves. Its fit or decision boundary is redrawn from its saved weights whenever they change.\n\n"
    f"Statuses: running, done, stopped, diverged, interrupted, failed (from summary.json); \"no write for N s\" when "
    f"none of a running run's files changed for {QUIET_AFTER_S:g} s; waiting while a directory or its metrics do "
    "not exist yet. Rows that do not parse are skipped and counted."
)


class WatchHelp(HelpScreen):
    """The dashboard's help screen with the watch's own keys."""

    def compose(self) -> ComposeResult:
        width = max(len(k) for k, _ in KEYS)
        with Vertical(id="help-body"):
            yield Static("nntui watch: keys", classes="help-title", markup=False)
            yield Static("\n".join(f"  {k.ljust(width)}   {v}" for k, v in KEYS), markup=False)
            yield Static(HELP_TEXT, markup=False, classes="help-text")
            yield Static("esc closes this help", classes="help-hint", markup=False)


@dataclass
class WatchedRun:
    """One followed directory and what the app knows of it."""

    index: int
    path: Path
    name: str
    follower: RunFollower
    mailbox: Mailbox = field(default_factory=Mailbox)
    status: RunStatus = field(default_factory=RunStatus)
    follow: FollowStatus = field(default_factory=lambda: FollowStatus("waiting", "not polled yet"))
    bad_rows: int = 0
    fit: WeightsFit | None = None
    fit_error: str = ""
    weights_dirty: bool = False
    """model.safetensors changed since the fit shown was drawn."""


class WatchApp(PlotKeys, App[int]):
    """Follows run directories; never trains, never writes into them."""

    loss_plot: MultiLossPlot
    CSS_PATH: ClassVar[list[str | PurePath]] = ["nntui.tcss", "watch.tcss"]
    """nntui.tcss (the help screen, the footer), then this app's own layout."""
    TITLE = "nntui watch"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark,f1", "help", "Help"),
        Binding("q", "quit", "Quit"),
        Binding("l", "toggle_log", "Log-y"),
        Binding("m", "toggle_smooth", "Smooth"),
        Binding("p", "save_screenshot", "Screenshot"),
        Binding("ctrl+s", "save_screenshot", "Screenshot", show=False, priority=True),
        Binding("tab", "next_run", "Next run", priority=True),
        Binding("shift+tab", "previous_run", "Previous run", show=False, priority=True),
        Binding("down", "next_run", "Next run", show=False),
        Binding("up", "previous_run", "Previous run", show=False),
        Binding("ctrl+c", "interrupt", "Interrupt", show=False, priority=True),
    ]

    def __init__(self, paths: Sequence[str | Path], *, poll_s: float = POLL_S,
                 quiet_after: float = QUIET_AFTER_S) -> None:
        super().__init__()
        self.poll_s = poll_s
        unique = list(dict.fromkeys(Path(p) for p in paths))
        names = run_names(unique)
        self.runs = [
            WatchedRun(i, path, name, RunFollower(path, quiet_after=quiet_after))
            for i, (path, name) in enumerate(zip(unique, names))
        ]
        self.selected = 0
        self.screenshot_dir = Path.cwd()
        self.ended_by: str | None = None
        self._fit_results: queue.SimpleQueue[tuple[int, WeightsFit | None, str]] = queue.SimpleQueue()
        self._fit_busy = False
        self._catching_up = False
        self._signals: list[int] = []
        self._prompts: list[Text] = []

    # -- layout ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Container(id="watch"):
            with Horizontal(id="main"):
                with Vertical(id="runs-pane"):
                    yield Static(f"runs ({len(self.runs)})", id="runs-title", markup=False)
                    yield OptionList(*(self._prompt(run) for run in self.runs), id="run-list")
                    yield Static("", id="run-detail", markup=False)
                with Vertical(id="plots"):
                    yield MultiLossPlot(id="loss-plot")
                    with Horizontal(id="fit-row"):
                        yield FitPlot(id="fit-plot")
                        yield BoundaryPlot(id="boundary-plot")
            yield StatusLine(id="status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.loss_plot = self.query_one(MultiLossPlot)
        self.fit_plot = self.query_one(FitPlot)
        self.boundary = self.query_one(BoundaryPlot)
        self.run_list = self.query_one(OptionList)
        self.detail = self.query_one("#run-detail", Static)
        self.status_line = self.query_one(StatusLine)
        for run in self.runs:
            self.loss_plot.add_run(run.index, run.name)
        self.boundary.display = False
        self.run_list.highlighted = 0
        self.run_list.focus()
        self._select(0)
        self._poll()
        self._poller = self.set_interval(self.poll_s, self._poll, name="watch-poll")
        self._ticker = self.set_interval(UI_TICK_S, self._tick, name="watch-tick")
        import asyncio

        self._signals = add_loop_handlers(asyncio.get_running_loop(), self._signalled)

    # -- polling -------------------------------------------------------------------------------

    def _poll(self) -> None:
        """Every run's new rows and status into its views; soon again while one is catching up."""
        if not self.is_running:
            return
        behind = False
        for run in self.runs:
            polled = run.follower.poll()
            self._apply(run, polled)
            behind |= polled.behind
        self._refresh_list()
        self._show_status()
        if behind and not self._catching_up:
            self._catching_up = True
            self.set_timer(CATCH_UP_S, self._catch_up, name="watch-catch-up")

    def _catch_up(self) -> None:
        self._catching_up = False
        self._poll()

    def _apply(self, run: WatchedRun, polled: Polled) -> None:
        s = run.status
        if polled.reset:
            run.mailbox.drain()
            self.loss_plot.restart_run(run.index)
            s.epoch, s.loss, s.best, s.test_loss, s.metrics = 0, math.nan, math.nan, math.nan, {}
        for event in polled.events:
            run.mailbox.put(event)
        drained = run.mailbox.drain()
        if drained is not None:
            self._apply_drained(run, drained)
        run.follow = polled.status
        run.bad_rows = polled.bad_rows
        s.state = polled.status.state
        notes = [polled.status.text] if polled.status.text != polled.status.state else []
        if polled.bad_rows:
            notes.append(f"{polled.bad_rows:,} bad rows skipped")
        s.note = " · ".join(notes)
        total = polled.status.summary.get("total_epochs")
        if not s.total and isinstance(total, int):
            s.total = total
        if polled.weights_changed:
            run.weights_dirty = True
            if run.index == self.selected:
                self._load_fit_soon()

    def _apply_drained(self, run: WatchedRun, d: Drained) -> None:
        """As the dashboard applies a drain: the curve, the numbers, lr markers, the end."""
        s = run.status
        self.loss_plot.extend_run(run.index, d.epochs, d.train_loss, d.test_epochs, d.test_loss)
        if len(d.train_loss):
            finite = d.train_loss[np.isfinite(d.train_loss)]
            s.loss = float(d.train_loss[-1])
            if len(finite):
                low = float(finite.min())
                s.best = low if not math.isfinite(s.best) else min(s.best, low)
            s.epoch = int(d.epochs[-1])
        if len(d.test_loss):
            s.test_loss = float(d.test_loss[-1])
        if d.stats is not None:
            st = d.stats
            if st.total_epochs:
                s.total = st.total_epochs
            if math.isfinite(st.steps_per_s):
                s.steps_per_s = st.steps_per_s
            if math.isfinite(st.elapsed_s):
                s.elapsed_s = st.elapsed_s
            s.lr = st.lr
            s.metrics.update(st.metrics)
        for note in d.notes:
            if isinstance(note, LearningRateChanged):
                self.loss_plot.add_run_marker(run.index, note.epoch, f"lr {note.new:g}")
        fin = d.finished
        if isinstance(fin, RunFinished):
            s.epoch = fin.epoch or s.epoch
            if math.isfinite(fin.steps_per_s):
                s.steps_per_s = fin.steps_per_s
            if math.isfinite(fin.best_loss):
                s.best = fin.best_loss
        elif isinstance(fin, RunFailed):
            run.fit_error = run.fit_error or fin.error

    # -- the fit (weights → torch, in a thread) ----------------------------------------------------

    def _load_fit_soon(self) -> None:
        run = self.runs[self.selected]
        if self._fit_busy or not run.weights_dirty:
            return
        self._fit_busy = True
        run.weights_dirty = False
        if run.fit is None:
            self.fit_plot.waiting = "loading the weights…"
            self.fit_plot.invalidate()
        self.run_worker(partial(self._load_fit, run.index, run.follower), name="watch-fit", group="watch-fit",
                        thread=True, exit_on_error=False)

    def _load_fit(self, index: int, follower: RunFollower) -> None:
        """In a worker thread: hand the result over through a queue (never call_from_thread: an
        app that is closing would leave this thread waiting for ever)."""
        try:
            self._fit_results.put((index, follower.load_fit(), ""))
        except NntuiError as exc:
            self._fit_results.put((index, None, str(exc)))
        except Exception as exc:  # a worker must report, never die silently
            self._fit_results.put((index, None, f"{type(exc).__name__}: {exc}"))

    def _take_fits(self) -> None:
        while True:
            try:
                index, fit, error = self._fit_results.get_nowait()
            except queue.Empty:
                break
            self._fit_busy = False
            run = self.runs[index]
            if fit is not None:
                run.fit, run.fit_error = fit, ""
            else:
                run.fit_error = error
            if index == self.selected:
                self._show_fit(run)
        self._load_fit_soon()

    def _show_fit(self, run: WatchedRun) -> None:
        fit = run.fit
        if fit is None:
            waiting = run.fit_error or ("loading the weights…" if self._fit_busy else NO_FIT_YET)
            self.fit_plot.clear(waiting)
            self.boundary.clear(waiting)
            self.boundary.display = False
            self.fit_plot.display = True
            return
        started = fit.started
        boundary = started.task == "classification" and len(started.input_names) == 2
        self.boundary.display = boundary
        self.fit_plot.display = not boundary
        self.fit_plot.set_run(started)
        self.fit_plot.set_fit(fit.fit)
        self.boundary.set_run(started)
        self.boundary.set_fit(fit.fit)

    # -- the UI tick: fits in, plots out ------------------------------------------------------------

    def _tick(self) -> None:
        if not self.is_running:
            return
        self._take_fits()
        for plot in (self.loss_plot, self.fit_plot, self.boundary):
            if plot.display and plot.stale:
                plot.redraw()

    # -- the run list and the status line -------------------------------------------------------------

    def _prompt(self, run: WatchedRun) -> Text:
        s = run.status
        # the colour of the run's curve (before mount: none yet)
        plot = getattr(self, "loss_plot", None)
        color = None
        if plot is not None:
            color = plot.palette.train if run.index == self.selected else run_color(run.index, plot.palette)
        swatch = Style(color=Color(*color).rich_color) if isinstance(color, tuple) else Style()
        text = Text()
        text.append("━━ ", swatch)
        text.append(run.name, Style(bold=True))
        text.append("\n   " + run.follow.text)
        if run.bad_rows:
            text.append(f" · {run.bad_rows:,} bad rows", Style(italic=True))
        numbers = []
        if s.epoch:
            numbers.append(f"epoch {s.epoch:,}" + (f"/{s.total:,}" if s.total else ""))
        if math.isfinite(s.loss):
            numbers.append(f"loss {fmt_loss(s.loss)}")
        if numbers:
            text.append("\n   " + " · ".join(numbers))
        return text

    def _refresh_list(self) -> None:
        for run in self.runs:
            prompt = self._prompt(run)
            if run.index >= len(self._prompts):
                self._prompts.append(prompt)
            elif prompt == self._prompts[run.index]:
                continue
            self._prompts[run.index] = prompt
            self.run_list.replace_option_prompt_at_index(run.index, prompt)

    def _show_status(self) -> None:
        run = self.runs[self.selected]
        self.status_line.show(run.status)
        detail = f"{run.path}\n{run.follow.text}"
        if run.bad_rows:
            detail += f" · {run.bad_rows:,} bad rows skipped"
        if run.fit_error:
            detail += f"\nfit: {run.fit_error}"
        self.detail.update(detail)

    # -- selection -------------------------------------------------------------------------------------

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_index is not None and event.option_index != self.selected:
            self._select(event.option_index)

    def _select(self, index: int) -> None:
        self.selected = index
        run = self.runs[index]
        self.loss_plot.select(index)
        self._show_fit(run)
        self._show_status()
        if self._prompts:
            self._refresh_list()  # the swatches: the selected run is drawn in the train colour
        self._load_fit_soon()

    def _move(self, step: int) -> None:
        if self.runs:
            self.run_list.highlighted = (self.selected + step) % len(self.runs)

    def action_next_run(self) -> None:
        self._move(1)

    def action_previous_run(self) -> None:
        self._move(-1)

    # -- view keys -------------------------------------------------------------------------------------

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(WatchHelp())

    async def action_quit(self) -> None:
        self.exit(0)

    def action_interrupt(self) -> None:
        self.ended_by = "Ctrl-C"
        self.exit(SIGNAL_EXIT["SIGINT"])

    def _signalled(self, name: str) -> None:
        self.ended_by = name
        self.exit(SIGNAL_EXIT[name])

    def on_unmount(self) -> None:
        self._poller.stop()
        self._ticker.stop()
        import asyncio

        remove_loop_handlers(asyncio.get_running_loop(), self._signals)

    def get_driver_class(self) -> type[Driver]:
        """As the dashboard: Textual's Linux driver made safe for a terminal that hangs up."""
        driver = super().get_driver_class()
        if sys.platform == "win32":
            return driver
        from nntui.ui.driver import hang_up_safe

        return hang_up_safe(driver)


def run_names(paths: Sequence[Path]) -> list[str]:
    """Each run's shortest distinct name: its folder's name, or more of its path where two share one."""
    names: list[str] = []
    for path in paths:
        parts = path.parts or (str(path),)
        depth = 1
        while depth < len(parts) and sum(1 for p in paths if p.parts[-depth:] == parts[-depth:]) > 1:
            depth += 1
        names.append(str(Path(*parts[-depth:])) if parts else str(path))
    return names


def create_watch_app(paths: Sequence[str | Path], *, poll_s: float = POLL_S,
                     quiet_after: float = QUIET_AFTER_S) -> WatchApp:
    """The one way to build the watch app (the CLI and the tests both use it)."""
    return WatchApp(paths, poll_s=poll_s, quiet_after=quiet_after)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"nntui watch: error: {message} (see nntui watch --help)\n")


def main(argv: Sequence[str] | None = None) -> int:
    """`nntui watch DIR [DIR ...]`; returns the exit code (2 for bad input)."""
    parser = _Parser(
        prog="nntui watch",
        description="Follow run directories another nntui writes (headless runs, dashboards with --out, sweeps): "
        "their loss curves, statuses and fits, live. Polls; never writes into them.",
    )
    parser.add_argument("dirs", nargs="+", metavar="DIR", help="run directories (they may not exist yet)")
    args = parser.parse_args(sys.argv[1:] if argv is None else list(argv))
    for d in args.dirs:
        if os.path.exists(d) and not os.path.isdir(d):
            print(f"nntui watch: error: {d} is a file, not a run directory", file=sys.stderr)
            return EXIT_BAD_INPUT
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        print("nntui watch: needs a terminal (stdin/stdout are not a TTY); run it in a terminal, "
              "or read the run directory's metrics.csv and summary.json directly", file=sys.stderr)
        return EXIT_BAD_INPUT
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # the fit's torch: one thread (PITFALLS)
    app = create_watch_app(args.dirs)
    try:
        result = app.run()
    except OSError:
        if app.ended_by != "SIGHUP":
            raise
        result = None
    if app.return_code not in (None, 0):
        return int(app.return_code)
    return int(result or 0)


if __name__ == "__main__":
    raise SystemExit(main())
