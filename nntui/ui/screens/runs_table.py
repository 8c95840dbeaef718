"""The runs table (c): this session's finished and stopped runs, and run directories, side by side.

One row per run kept for comparison: what differs from the current config, its status,
final and best loss, accuracy or R², epochs and wall time. The highlighted row's last fit
(or decision boundary) is drawn under the table. The screen changes nothing itself: each
key posts a message the app acts on (show or hide the run's ghost on the loss plot, load its
config into the panel, put its boundary in the dashboard's boundary panel, read another run
directory), and the app hands back the new state (`show`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Label, Static

from nntui.engine.compare import RunResult
from nntui.engine.formats import MISSING, fmt_duration, fmt_loss
from nntui.ui.widgets.boundary import BoundaryPlot
from nntui.ui.widgets.fit_plot import FitPlot

COLUMNS = ("", "run", "differs", "status", "final loss", "best loss", "acc / R²", "epochs", "time", "from")
SHOWN, HIDDEN, CURRENT = "●", "○", "▶"
"""First column: ghost drawn, ghost hidden, the run on screen now (its live curve)."""
KEYS = ("space show/hide on the loss plot · l load its config · b its boundary on the dashboard (again: back) · "
        "a add a directory · esc close")


@dataclass(frozen=True)
class TableState:
    """What the table shows, handed over by the app (it owns the runs)."""

    runs: tuple[RunResult, ...]
    labels: dict[int, str]
    """Each run's difference from the current config, by key."""
    current: int | None
    """The key of the run whose live curve is on screen (it is no ghost yet)."""
    boundary_run: int | None
    """The key of the run whose boundary the dashboard shows instead of the current one's."""
    boundary_shown: bool
    """The dashboard shows a boundary panel (2-D classification): `b` can switch it."""
    against: str = ""
    """The current config in one line: what "differs" compares with."""


def metric_text(run: RunResult) -> str:
    found = run.metric
    if found is None:
        return MISSING
    name, value = found
    shown = f"{value:.3f}" if abs(value) < 1e3 else f"{value:.3g}"
    return f"{name.replace('accuracy', 'acc').replace('r2', 'R²')} {shown}"


def row_cells(run: RunResult, label: str, state: TableState) -> tuple[str, ...]:
    """One row of the table, as text (the tests read the same function)."""
    mark = CURRENT if run.key == state.current else (SHOWN if run.visible else HIDDEN)
    where = "this session" if run.from_session and run.rundir is None else str(run.rundir or "")
    if run.key == state.boundary_run:
        where = "◧ boundary · " + where
    return (
        mark,
        run.name,
        "this run" if run.key == state.current else label,
        run.status,
        fmt_loss(run.final_loss),
        fmt_loss(run.best_loss),
        metric_text(run),
        f"{run.epochs:,}",
        fmt_duration(run.elapsed_s) if math.isfinite(run.elapsed_s) else MISSING,
        where,
    )


class RunsTable(ModalScreen[None]):
    """Esc, q or c closes it; the keys act on the highlighted row."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("q,c", "close", "Close", show=False),
        Binding("space", "toggle_ghost", "Show/hide"),
        Binding("l", "load", "Load config"),
        Binding("b", "boundary", "Boundary"),
        Binding("a", "add", "Add directory"),
    ]

    DEFAULT_CSS = """
    RunsTable {
        align: center middle;
    }
    RunsTable > #runs-body {
        width: 95%;
        max-width: 150;
        height: 95%;
        max-height: 48;
        padding: 0 1;
    }
    RunsTable #runs-table {
        height: auto;
        max-height: 12;
    }
    RunsTable #runs-preview {
        height: 1fr;
        min-height: 8;
    }
    RunsTable #runs-add {
        height: 1;
    }
    RunsTable #runs-add Label {
        width: 22;
    }
    RunsTable #runs-add Input {
        width: 1fr;
    }
    RunsTable #runs-message {
        height: auto;
    }
    """

    class GhostToggled(Message):
        """Space on a row: show or hide that run's ghost on the loss plot."""

        def __init__(self, key: int) -> None:
            super().__init__()
            self.key = key

    class ConfigChosen(Message):
        """l on a row: put that run's config in the control panel (nothing starts)."""

        def __init__(self, key: int) -> None:
            super().__init__()
            self.key = key

    class BoundarySwitched(Message):
        """b on a row: the dashboard's boundary panel shows that run's (None: the current run's again)."""

        def __init__(self, key: int | None) -> None:
            super().__init__()
            self.key = key

    class DirectoryGiven(Message):
        """A run directory typed in the path box: read it and add it as a ghost."""

        def __init__(self, path: Path) -> None:
            super().__init__()
            self.path = path

    def __init__(self, state: TableState) -> None:
        super().__init__()
        self.state = state
        self.keys: list[int] = []
        """Row order: the run key of each row."""

    def compose(self) -> ComposeResult:
        with Vertical(id="runs-body"):
            yield Static("", id="runs-current", markup=False)
            table: DataTable[str] = DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
            yield table
            yield Static("", id="runs-fit-title", markup=False)
            with Horizontal(id="runs-preview"):
                yield FitPlot(id="runs-fit")
                yield BoundaryPlot(id="runs-boundary", waiting="no boundary saved for this run")
            with Horizontal(id="runs-add"):
                yield Label("add a run directory:", markup=False)
                yield Input(placeholder="runs/tanh (a directory written with --out), Enter adds it",
                            id="runs-path", compact=True)
            yield Static(KEYS, id="runs-keys", markup=False)
            yield Static("", id="runs-message", markup=False)

    def on_mount(self) -> None:
        self.query_one("#runs-body").border_title = "runs"
        table = self.query_one(DataTable)
        table.add_columns(*COLUMNS)
        self.query_one("#runs-boundary", BoundaryPlot).display = False
        self.show(self.state)
        table.focus()

    # -- what the app hands over ------------------------------------------------------------------

    def show(self, state: TableState) -> None:
        """Rows for `state`, the cursor kept on the same run where it still exists."""
        self.state = state
        table: DataTable[str] = self.query_one(DataTable)
        keep = self.highlighted
        table.clear()
        self.keys = [run.key for run in state.runs]
        for run in state.runs:
            table.add_row(*row_cells(run, state.labels.get(run.key, run.name), state), key=str(run.key))
        if keep is not None and keep.key in self.keys:
            table.move_cursor(row=self.keys.index(keep.key))
        heading = f"{len(state.runs)} run{'s' if len(state.runs) != 1 else ''} kept for comparison"
        if state.against:
            heading += f"; differs from the current config: {state.against}"
        if not state.runs:
            heading = ("No runs yet: a run that finishes or is stopped (or reset) stays here, and so does a run "
                       "directory added below or with nntui --compare DIR.")
        self.query_one("#runs-current", Static).update(heading)
        self._preview()

    def say(self, text: str, error: bool = False) -> None:
        """A line under the table: what the last key did, or why it could not."""
        message = self.query_one("#runs-message", Static)
        message.update(text)
        message.set_class(error, "-error")

    @property
    def highlighted(self) -> RunResult | None:
        table: DataTable[str] = self.query_one(DataTable)
        row = table.cursor_row
        if not self.keys or not 0 <= row < len(self.keys):
            return None
        key = self.keys[row]
        return next((run for run in self.state.runs if run.key == key), None)

    # -- the fit preview -------------------------------------------------------------------------

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self._preview()

    def _preview(self) -> None:
        """The highlighted run's last fit: its curve over its data, or its boundary."""
        run = self.highlighted
        fit_plot = self.query_one("#runs-fit", FitPlot)
        boundary = self.query_one("#runs-boundary", BoundaryPlot)
        title = self.query_one("#runs-fit-title", Static)
        fit = run.fit if run is not None else None
        is_boundary = fit is not None and fit.kind == "boundary"
        boundary.display, fit_plot.display = is_boundary, not is_boundary
        if run is None:
            fit_plot.clear("the highlighted run's fit appears here")
            title.update("")
        elif fit is None:
            why = "its directory has no film.npz" if not run.from_session else "it stopped before its first fit"
            fit_plot.clear(f"no fit to show: {why}")
            title.update(f"{run.name}: no fit")
        else:
            plot: FitPlot | BoundaryPlot = boundary if is_boundary else fit_plot
            plot.clear("")
            if run.started is not None:
                plot.set_run(run.started)
            plot.set_fit(fit)
            label = self.state.labels.get(run.key, "")
            title.update(f"{run.name}'s last fit, epoch {fit.epoch:,}" + (f" ({label})" if label else "")
                         + ("" if run.started is not None else " · its data points are not saved in the directory"))
        fit_plot.redraw()
        boundary.redraw()

    # -- keys -------------------------------------------------------------------------------------

    def action_close(self) -> None:
        if isinstance(self.focused, Input):
            self.query_one(DataTable).focus()  # esc leaves the path box first
            return
        self.dismiss(None)

    def action_toggle_ghost(self) -> None:
        run = self.highlighted
        if run is None:
            return
        if run.key == self.state.current:
            self.say(f"{run.name} is the run on screen: its live curve is always drawn.")
            return
        self.post_message(self.GhostToggled(run.key))

    def action_load(self) -> None:
        run = self.highlighted
        if run is None:
            return
        if run.config is None:
            self.say(f"{run.name}: no readable config.toml, nothing to load.", error=True)
            return
        self.post_message(self.ConfigChosen(run.key))

    def action_boundary(self) -> None:
        run = self.highlighted
        if run is None:
            return
        if not self.state.boundary_shown:
            self.say("The boundary panel shows only for 2-D classification runs; the fit of the highlighted run "
                     "is drawn above.", error=True)
            return
        if run.key == self.state.boundary_run or run.key == self.state.current:
            self.post_message(self.BoundarySwitched(None))
            return
        if run.fit is None or run.fit.kind != "boundary":
            self.say(f"{run.name} has no decision boundary to show.", error=True)
            return
        self.post_message(self.BoundarySwitched(run.key))

    def action_add(self) -> None:
        self.query_one("#runs-path", Input).focus()

    @on(Input.Submitted, "#runs-path")
    def _path_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if not text:
            self.say("Type a run directory's path first.", error=True)
            return
        self.say(f"reading {text} …")
        self.post_message(self.DirectoryGiven(Path(text).expanduser()))

    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on a row: as space."""
        event.stop()
        self.action_toggle_ghost()

    def rows_text(self) -> list[Sequence[str]]:
        """The table's cells as shown (for tests and checks)."""
        table: DataTable[str] = self.query_one(DataTable)
        return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]
