"""The model's fit: a curve (1 input) or predicted against actual (any other regression or classification).

The engine sends a small FitUpdated about once a second (a 200-point curve or a few hundred
points); the data points come once with RunStarted, thinned here to MAX_DATA_POINTS per set.
A 2-D classifier's decision boundary is not drawn here: the app shows `BoundaryPlot`
instead of this widget for those runs (see `nntui/ui/app.py`).
"""

from __future__ import annotations

import numpy as np
from textual_plotext import Plot

from nntui.engine.events import FitUpdated, RunStarted
from nntui.ui.palette import Palette
from nntui.ui.widgets.plot_panel import PlotPanel, fit_title

MAX_DATA_POINTS = 300
"""Scatter points drawn per set: plotext's cost grows with points, the picture does not."""
BOUNDARY_ELSEWHERE = "the decision boundary panel shows this model's fit"
"""Said (if ever seen) for a boundary snapshot: the app hides this widget for such runs."""


class FitPlot(PlotPanel):
    """Draws the latest FitUpdated over the run's data points."""

    DEFAULT_CSS = """
    FitPlot {
        width: 1fr;
        height: 1fr;
        min-height: 6;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.started: RunStarted | None = None
        self.fit: FitUpdated | None = None
        self.waiting = "the model's fit appears here"

    # -- data ------------------------------------------------------------------------------

    def clear(self, waiting: str = "starting…") -> None:
        self.started = None
        self.fit = None
        self.waiting = waiting
        self.invalidate()

    def set_run(self, started: RunStarted) -> None:
        self.started = started
        self.invalidate()

    def set_fit(self, fit: FitUpdated) -> None:
        self.fit = fit
        self.invalidate()

    # -- drawing -----------------------------------------------------------------------------

    def placeholder(self) -> str | None:
        if self.fit is None:
            return self.waiting
        if self.fit.kind == "boundary":
            return BOUNDARY_ELSEWHERE
        return None

    def draw(self, plt: Plot, width: int, height: int, palette: Palette) -> None:
        fit = self.fit
        assert fit is not None
        if fit.kind == "curve":
            self._draw_curve(plt, fit, palette, width)
        else:
            self._draw_scatter(plt, fit, palette, width)

    def _points(self, test: bool = False) -> tuple[np.ndarray, np.ndarray]:
        s = self.started
        if s is None:
            return np.empty((0, 1)), np.empty((0, 1))
        x, y = (s.x_test_points, s.y_test_points) if test else (s.x_points, s.y_points)
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        if len(x) == 0:
            return np.empty((0, 1)), np.empty((0, 1))
        if len(x) > MAX_DATA_POINTS:
            idx = np.linspace(0, len(x) - 1, MAX_DATA_POINTS).astype(np.int64)
            x, y = x[idx], y[idx]
        return x.reshape(len(x), -1), y.reshape(len(y), -1)

    def _names(self) -> tuple[str, str]:
        s = self.started
        if s is None:
            return "x", "y"
        return (s.input_names[0] if s.input_names else "x"), s.target_name or "y"

    def _draw_curve(self, plt: Plot, fit: FitUpdated, palette: Palette, width: int) -> None:
        x_name, y_name = self._names()
        plt.title(fit_title([f"fit at epoch {fit.epoch}: {y_name} against {x_name}"], width))
        for test in (False, True):
            x, y = self._points(test)
            if len(x):
                self.points(plt, x[:, 0], y[:, 0], palette.test if test else palette.data, "x" if test else "•",
                            label="test data" if test else "data")
        gx = np.asarray(fit.x, dtype=np.float64)
        if fit.true_y is not None:
            self.line(plt, gx, np.asarray(fit.true_y, dtype=np.float64).reshape(-1), palette.truth, label="true")
        base = self.started.baseline if self.started is not None else None
        if base is not None and len(base.x_grid):
            # the normal equation's fit: the best a degree-d polynomial does, for comparison
            label = f"least squares, degree {base.degree}"
            if palette.no_color:
                self.points(plt, base.x_grid, base.y_grid, palette.baseline, "·", label=label)
            else:
                self.line(plt, base.x_grid, base.y_grid, palette.baseline, label=label)
        py = np.asarray(fit.y, dtype=np.float64).reshape(-1)
        if palette.no_color:
            self.points(plt, gx, py, palette.prediction, "▪", label="model")  # not braille like "true"
        else:
            self.line(plt, gx, py, palette.prediction, label="model")

    def _draw_scatter(self, plt: Plot, fit: FitUpdated, palette: Palette, width: int) -> None:
        _, y_name = self._names()
        plt.title(fit_title([f"fit at epoch {fit.epoch}: predicted against actual {y_name}"], width))
        actual = np.asarray(fit.x, dtype=np.float64).reshape(-1)
        pred = np.asarray(fit.y, dtype=np.float64).reshape(-1)
        ok = np.isfinite(actual) & np.isfinite(pred)
        if not ok.any():
            return
        actual, pred = actual[ok], pred[ok]
        lo = float(min(actual.min(), pred.min()))
        hi = float(max(actual.max(), pred.max()))
        if hi <= lo:
            hi = lo + 1
        self.limits(plt, lo, hi, lo, hi)
        self.line(plt, np.array([lo, hi]), np.array([lo, hi]), palette.truth, label="y = x")
        self.points(plt, actual, pred, palette.prediction, "•", label="points")
        plt.xlabel("actual")
        plt.ylabel("predicted")
