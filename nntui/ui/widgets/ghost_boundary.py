"""The dashboard's boundary panel, which the runs table can switch to an earlier run's.

On 2-D classification data the panel shows the current run's decision boundary. From the
runs table (c) a user can put an earlier run's last boundary there instead, to set the two
side by side with the live one a key press apart, and back. The live run's points and fits
keep arriving meanwhile (live frames, replay frames): they are kept, not shown, and come
back with the switch back, so nothing that feeds the panel needs to know about the switch.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from nntui.engine.compare import RunResult
from nntui.engine.events import FitUpdated, RunStarted
from nntui.ui.palette import Palette
from nntui.ui.widgets.boundary import BoundaryPlot


class SwitchableBoundary(BoundaryPlot):
    """BoundaryPlot that shows the live run's boundary, or an earlier run's (`show_run`)."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.shown_run: RunResult | None = None
        """The earlier run on show, None for the live run."""
        self.shown_label = ""
        self._live_started: RunStarted | None = None
        self._live_fit: FitUpdated | None = None

    def clear(self, waiting: str = "starting…") -> None:
        """A new run: its boundary, not an earlier one's."""
        self.shown_run = None
        self._live_started = None
        self._live_fit = None
        super().clear(waiting)

    def set_run(self, started: RunStarted) -> None:
        self._live_started = started
        if self.shown_run is None:
            super().set_run(started)

    def set_fit(self, fit: FitUpdated) -> bool:
        if fit.kind != "boundary" or fit.grid is None:
            return False
        self._live_fit = fit
        if self.shown_run is None:
            return super().set_fit(fit)
        return True

    def show_run(self, run: RunResult | None, label: str = "") -> bool:
        """`run`'s last boundary (with its points when the session kept them), or the live
        run's again for None. False (nothing changes) if `run` has no boundary frame."""
        if run is not None and (run.fit is None or run.fit.kind != "boundary" or run.fit.grid is None):
            return False
        self.shown_run, self.shown_label = run, label
        fit, started = (run.fit, run.started) if run is not None else (self._live_fit, self._live_started)
        waiting = self.waiting
        BoundaryPlot.clear(self, waiting)
        if started is not None:
            super().set_run(started)
        if fit is not None:
            super().set_fit(fit)
        self.redraw()
        return True

    def _title(self, fit: FitUpdated, multi: bool, width: int, palette: Palette) -> Strip:
        """An earlier run's boundary says whose it is, first (a narrow panel cuts the end)."""
        title = super()._title(fit, multi, width, palette)
        if self.shown_run is None:
            return title
        whose = f" {self.shown_run.name}" + (f" ({self.shown_label})" if self.shown_label else "") + " ·"
        return Strip([Segment(whose, Style(bold=True, reverse=True)), *title]).adjust_cell_length(width)
