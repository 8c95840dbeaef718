"""The sweep dashboard's leaderboard rows: what the dashboard knows of each trial (`TrialView`),
how a row's cells read, and the columns, row updates and sort order of the table. A mixin
of `SweepApp`.

The rows are the engine's own `leaderboard_row` of each trial's summary, sorted by
`sort_rows`: what leaderboard.json says, number for number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.style import Style
from rich.text import Text
from textual.app import App
from textual.color import Color

from nntui.engine.events import FitUpdated, RunStarted
from nntui.engine.formats import MISSING, fmt_duration, fmt_loss
from nntui.engine.sweep import FINISHED, Sweep
from nntui.engine.sweep_leaderboard import leaderboard_row, sort_rows
from nntui.ui.widgets.sweep_loss_plot import MAX_OTHER_CURVES

if TYPE_CHECKING:
    from nntui.engine.grid import Trial
    from nntui.ui.widgets.leaderboard import Leaderboard
    from nntui.ui.widgets.sweep_loss_plot import SweepLossPlot

    _Base = App[int]
else:
    _Base = object


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


class SweepRows(_Base):
    """The leaderboard's columns and rows (a mixin: the app supplies the table, the plot and
    the trials' views named below)."""

    sweep: Sweep
    views: list[TrialView]
    fields: tuple[str, ...]
    group_field: str
    board: Leaderboard
    loss_plot: SweepLossPlot
    highlighted: int
    _following: bool
    _cells: dict[int, tuple[Text, ...]]
    _order: list[int]
    _by_name: dict[str, int]

    if TYPE_CHECKING:  # the app provides these

        def _highlight(self, index: int) -> None: ...

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
