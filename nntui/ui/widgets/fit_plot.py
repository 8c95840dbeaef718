"""The model's fit: curve (1 input), decision boundary (2-D classes) or predicted vs actual.

The engine sends a small FitUpdated about once a second (a 200-point curve, a 96×48 grid
or a few hundred points); the data points come once with RunStarted. Nothing here is
decimated further except the boundary grid, which is sampled at the plot's cells.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nntui.engine.events import FitUpdated, RunStarted
from nntui.ui.palette import Palette
from nntui.ui.widgets.plot_panel import PlotPanel, fit_title

MAX_DATA_POINTS = 300
"""Scatter points drawn per set: plotext's cost grows with points, the picture does not."""
HEAT_STRENGTH = 0.45
"""How far a boundary cell's background moves toward its class colour at probability 0 or 1."""


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
        return None

    def draw(self, plt: Any, width: int, height: int, palette: Palette) -> None:
        fit = self.fit
        assert fit is not None
        if fit.kind == "curve":
            self._draw_curve(plt, fit, palette, width)
        elif fit.kind == "boundary":
            self._draw_boundary(plt, fit, palette)
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

    def _draw_curve(self, plt: Any, fit: FitUpdated, palette: Palette, width: int) -> None:
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

    def _draw_scatter(self, plt: Any, fit: FitUpdated, palette: Palette, width: int) -> None:
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

    def _draw_boundary(self, plt: Any, fit: FitUpdated, palette: Palette) -> None:
        plt.title(f"decision boundary at epoch {fit.epoch}")
        gx = np.asarray(fit.x, dtype=np.float64)
        gy = np.asarray(fit.y, dtype=np.float64)
        if not len(gx) or not len(gy):
            return
        self.limits(plt, float(gx[0]), float(gx[-1]), float(gy[0]), float(gy[-1]))
        markers = ("•", "x")
        for test in (False, True):
            x, y = self._points(test)
            if not len(x) or x.shape[1] < 2:
                continue
            classes = np.rint(y[:, 0]).astype(np.int64)
            for k in np.unique(classes):
                sel = classes == k
                color = palette.classes[int(k) % len(palette.classes)]
                self.points(plt, x[sel, 0], x[sel, 1], color, markers[test], label=None if test else f"class {k}")

    def decorate(self, matrix: Any, palette: Palette) -> None:
        """Boundary plots: tint each empty canvas cell by the model's class-1 probability there."""
        fit = self.fit
        if fit is None or fit.kind != "boundary" or fit.grid is None or self._limits is None:
            return
        grid = np.asarray(fit.grid, dtype=np.float64)
        cols = list(matrix.Cols_canvas)
        rows = list(matrix.Rows_canvas)
        if not cols or not rows or grid.ndim != 2:
            return
        multi = bool(np.nanmax(grid) > 1.0) if np.isfinite(grid).any() else False
        # canvas cell → grid cell (rows of the matrix count from the bottom, like the y axis)
        gi = np.clip(np.rint(np.linspace(0, grid.shape[0] - 1, len(rows))).astype(int), 0, grid.shape[0] - 1)
        gj = np.clip(np.rint(np.linspace(0, grid.shape[1] - 1, len(cols))).astype(int), 0, grid.shape[1] - 1)
        values = grid[np.ix_(gi, gj)]
        finite = np.isfinite(values)
        if palette.colored and palette.background is not None:
            bg = np.asarray(palette.background, dtype=np.float64)
            if multi:
                k = np.where(finite, values, 0).astype(np.int64) % len(palette.classes)
                targets = np.asarray([_rgb_or(c, bg) for c in palette.classes], dtype=np.float64)[k]
                strength = np.full(values.shape, HEAT_STRENGTH * 0.6)
            else:
                c0 = _rgb_or(palette.classes[0], bg)
                c1 = _rgb_or(palette.classes[1], bg)
                targets = np.where((values >= 0.5)[..., None], np.asarray(c1, float), np.asarray(c0, float))
                strength = HEAT_STRENGTH * np.clip(np.abs(np.nan_to_num(values, nan=0.5) - 0.5) * 2, 0, 1)
            # a few distinct shades are enough, and keep the per-colour style cache small
            strength = np.round(strength * 8) / 8
            rgb = np.rint(bg + (targets - bg) * strength[..., None]).astype(np.int64)
            for ri, r in enumerate(rows):
                bg_row = matrix.background[r]
                for ci in np.flatnonzero(finite[ri]).tolist():
                    bg_row[cols[ci]] = tuple(rgb[ri, ci].tolist())
        else:
            space = " "
            mark = finite & ((values >= 0.5) if not multi else (np.nan_to_num(values).astype(np.int64) % 2 == 1))
            for ri, r in enumerate(rows):
                marker_row = matrix.marker[r]
                for ci in np.flatnonzero(mark[ri]).tolist():
                    if marker_row[cols[ci]] == space:
                        marker_row[cols[ci]] = "·"  # NO_COLOR: dots mark the class-1 region


def _rgb_or(color: object, fallback: np.ndarray) -> tuple[float, float, float]:
    if isinstance(color, tuple) and len(color) == 3:
        return (float(color[0]), float(color[1]), float(color[2]))
    return (float(fallback[0]), float(fallback[1]), float(fallback[2]))
