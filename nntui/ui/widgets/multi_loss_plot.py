"""The loss curves of several runs on one plot (`nntui watch`).

A LossPlot whose own train/test pair is the selected run's (drawn as the dashboard draws
it: its colours, its test curve, its lr markers) and whose other runs are extra train
curves in dimmed colours, each labelled by its name. Everything else (decimation, log-y in
loss units, smoothing, ticks, the never-crash build) is LossPlot's: `series` adds the other
runs so the axes span every curve, and `draw` adds their lines after LossPlot drew its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nntui.engine.history import SeriesHistory
from nntui.ui.palette import Palette, PlotColor, blend
from nntui.ui.widgets.loss_plot import SMOOTHING, Y_LABEL_COLUMNS, LossPlot, LrMarker, ema

OTHER_STRENGTH = 0.55
"""How much of its own colour an unselected run keeps (the rest is the background): present
but quieter than the selected run."""
NO_COLOR_MARKERS = ("·", "+", "*", "o", "x", "~")
"""Under NO_COLOR the other runs are told apart by marker shape."""
MAX_LABEL = 18


@dataclass
class RunCurves:
    """One run's loss history (bounded min/max buckets) and its lr markers."""

    label: str
    train: SeriesHistory = field(default_factory=SeriesHistory)
    test: SeriesHistory = field(default_factory=SeriesHistory)
    markers: list[LrMarker] = field(default_factory=list)


class MultiLossPlot(LossPlot):
    """Train/test loss of the selected run plus every other run's train loss."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.runs: dict[int, RunCurves] = {}
        self.selected: int | None = None
        self.waiting = "waiting for the runs' first rows…"
        self._drawn: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        """What `series` gave the last draw (the other runs' lines are drawn from it)."""

    # -- data ------------------------------------------------------------------------------

    def add_run(self, key: int, label: str) -> None:
        self.runs[key] = RunCurves(label)
        if self.selected is None:
            self.select(key)

    def restart_run(self, key: int) -> None:
        """The run's metrics file was replaced: its curve starts again (no stale tail)."""
        curves = self.runs[key]
        curves.train, curves.test, curves.markers = SeriesHistory(), SeriesHistory(), []
        if key == self.selected:
            self._show_selected()
        self.invalidate()

    def extend_run(
        self, key: int, epochs: np.ndarray, train: np.ndarray, test_epochs: np.ndarray, test: np.ndarray
    ) -> None:
        curves = self.runs[key]
        if len(epochs):
            curves.train.extend(epochs, train)
        if len(test_epochs):
            curves.test.extend(test_epochs, test)
        if len(epochs) or len(test_epochs):
            self.invalidate()

    def add_run_marker(self, key: int, epoch: int, label: str) -> None:
        curves = self.runs[key]
        curves.markers.append(LrMarker(epoch, label))
        if key == self.selected:
            self.markers = curves.markers
        self.invalidate()

    def select(self, key: int) -> None:
        """Draw `key` as the dashboard draws its run; the others become the quiet curves."""
        self.selected = key
        self._show_selected()
        self.redraw()

    def _show_selected(self) -> None:
        # LossPlot draws self.train / self.test / self.markers: point them at the selected run's
        curves = self.runs.get(self.selected) if self.selected is not None else None
        if curves is None:
            self.train, self.test, self.markers = SeriesHistory(), SeriesHistory(), []
        else:
            self.train, self.test, self.markers = curves.train, curves.test, curves.markers

    # -- drawing -----------------------------------------------------------------------------

    def placeholder(self) -> str | None:
        if any(len(curves.train) for curves in self.runs.values()):
            return None
        return self.waiting

    def _others(self) -> list[int]:
        return [key for key, curves in self.runs.items() if key != self.selected and len(curves.train)]

    def series(self, width: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """LossPlot's train/test of the selected run, plus `run <key>` for each other run:
        LossPlot's draw takes its axes' span from every series it is given."""
        out = super().series(width)
        columns = max(8, width - Y_LABEL_COLUMNS)
        for key in self._others():
            x, y = self.runs[key].train.columns(columns)
            x, y = self._transform(x, y)
            if self.smooth and len(y) > 2:
                y = ema(y, SMOOTHING)
            if len(x):
                out[f"run {key}"] = (x, y)
        self._drawn = out
        return out

    def draw(self, plt: Any, width: int, height: int, palette: Palette) -> None:
        self._drawn = {}
        super().draw(plt, width, height, palette)  # calls `series`, which keeps what it made
        curves = self.runs.get(self.selected) if self.selected is not None else None
        if curves is not None and len(self.runs) > 1:
            # which run the full-colour train/test pair is (LossPlot's own title, plus the name)
            plt.title("loss" + (" (log)" if self.log_y else "") + (" · smoothed" if self.smooth else "")
                      + f" · {_short(curves.label)} in full")
        if self._limits is None:
            return
        data = self._drawn
        drawn = len(self._layers)
        for key in self._others():
            xy = data.get(f"run {key}")
            if xy is None:
                continue
            label = _short(self.runs[key].label)
            if palette.no_color:
                self.points(plt, *xy, palette.train, NO_COLOR_MARKERS[key % len(NO_COLOR_MARKERS)], label=label)
            else:
                self.line(plt, *xy, run_color(key, palette), label=label)
        # the other runs go under the selected one (PlotPanel rasterises its layers in order)
        self._layers[:] = self._layers[drawn:] + self._layers[:drawn]


def run_color(key: int, palette: Palette) -> PlotColor:
    """An unselected run's colour: the class colours that are not train's or test's first,
    in turn, dimmed toward the background."""
    others = [c for c in palette.classes if c not in (palette.train, palette.test)]
    others += [c for c in palette.classes if c in (palette.train, palette.test)]
    base = others[key % len(others)]
    if isinstance(base, tuple) and palette.background is not None:
        return blend(palette.background, base, OTHER_STRENGTH)
    return base


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL else "…" + label[-(MAX_LABEL - 1) :]
