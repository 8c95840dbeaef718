"""The cost landscape of a one- or two-parameter model, with the gradient-descent path on it.

Seed 004 draws E(w) for the hypothesis w·x and walks down it; with a bias the cost is a
bowl E(w, b). This widget draws the curve (one parameter) or a contour-like heatmap of
log-spaced cost bands (two parameters), the least-squares minimum (✚), and the weights
after each epoch as a path (•) from the start (○) to now (◉).

Built on PlotPanel (plotext for axes, curve and path; the heatmap is a background tint of
the plot area's cells, added in `decorate`). Only tiny models get here, so the path is
short; it is still bounded (stride doubling keeps at most MAX_PATH points of any run).
The surface comes from the engine with the run's events (RunStarted, and LandscapeChanged
when the path walked off its edge): the UI never re-reads the data.
"""

from __future__ import annotations

import numpy as np
from textual.strip import Strip
from textual_plotext import Plot

from nntui.engine.events import RunStarted
from nntui.engine.landscape import Landscape
from nntui.ui.palette import Palette, blend
from nntui.ui.plotext_adapter import Canvas
from nntui.ui.widgets.boundary import ensure_styles
from nntui.ui.widgets.plot_panel import PlotPanel, fit_title

PATH_MARKER = "•"
START_MARKER = "○"
CURRENT_MARKER = "◉"
MIN_MARKER = "✚"
CONTOUR_MARKER = "·"
"""NO_COLOR: drawn where the cost band changes (contour lines) instead of coloured bands."""
MAX_PATH = 300
LEVELS = 9
UNSUPPORTED = "cost landscape: for a model with one or two parameters (no hidden layers, one input, regression)"


class LandscapePlot(PlotPanel):
    """E(w) as a curve or E(w, b) as log-spaced cost bands, with the descent path drawn live."""

    DEFAULT_CSS = """
    LandscapePlot {
        width: 1fr;
        height: 1fr;
        min-height: 6;
    }
    """

    # the descent path, (re)set by `_clear_path`
    _kept: np.ndarray
    """Every `_stride`-th epoch's weights since the run started (at most MAX_PATH rows)."""
    _last: np.ndarray | None
    """The latest epoch's weights, kept or not."""
    _seen: int
    _stride: int

    def __init__(
        self,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        waiting: str = UNSUPPORTED,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.waiting = waiting
        self.landscape: Landscape | None = None
        self.supported = False
        """The current run has a landscape (set by `start_run` / `set_landscape`)."""
        self.start_epoch = 0
        """Epoch the run started from (a resumed run): the path's first point is the epoch after it."""
        self._clear_path()

    # -- data ------------------------------------------------------------------------------------

    def reset(self, waiting: str | None = None) -> None:
        """A new run (or none): no surface, no path."""
        self.landscape = None
        self.supported = False
        self.start_epoch = 0
        self._clear_path()
        if waiting is not None:
            self.waiting = waiting
        self.invalidate()

    def start_run(self, started: RunStarted) -> bool:
        """The run's surface (computed by the engine) and where its path starts; whether
        this run has a landscape (one or two parameters, one input, regression)."""
        self.reset(UNSUPPORTED)
        self.start_epoch = started.start_epoch
        self.set_landscape(started.landscape)
        return self.landscape is not None

    def set_landscape(self, landscape: Landscape | None) -> None:
        """Draw this surface (a new run's, or a wider one the engine sent); keeps the path."""
        self.landscape = landscape
        self.supported = landscape is not None
        if landscape is None:
            self.waiting = UNSUPPORTED
        self.invalidate()

    def add_path(self, params: np.ndarray | None) -> None:
        """Append per-epoch weights ((epochs, 1) or (epochs, 2), as in EpochsEnded.params)."""
        if params is None:
            return
        p = np.asarray(params, dtype=np.float64)
        if p.ndim == 1:
            p = p.reshape(1, -1)
        if not len(p):
            return
        index = np.arange(self._seen, self._seen + len(p))
        kept = p[index % self._stride == 0]
        if len(kept):
            self._kept = np.concatenate([self._kept, kept]) if len(self._kept) else kept
        self._seen += len(p)
        self._last = p[-1].copy()
        while len(self._kept) > MAX_PATH:
            self._kept = self._kept[::2]
            self._stride *= 2
        self.invalidate()

    @property
    def path(self) -> np.ndarray:
        """The (decimated) path drawn: (n, 1|2), the latest point always last."""
        if self._last is None:
            return np.empty((0, 0))
        if len(self._kept) and np.array_equal(self._kept[-1], self._last):
            return self._kept
        return np.concatenate([self._kept, self._last[None, :]]) if len(self._kept) else self._last[None, :]

    @property
    def epochs_seen(self) -> int:
        return self._seen

    def _clear_path(self) -> None:
        self._kept = np.empty((0, 0))
        self._last = None
        self._seen = 0
        self._stride = 1

    # -- drawing ---------------------------------------------------------------------------------

    def placeholder(self) -> str | None:
        return self.waiting if self.landscape is None else None

    def render_line(self, y: int) -> Strip:
        return ensure_styles(super().render_line(y))

    def _path_in(self, ranges: list[tuple[float, float]]) -> tuple[np.ndarray, bool]:
        """The path points inside the plotted range, and whether some were left out."""
        path = self.path
        if not path.size:
            return path, False
        path = path[:, : len(ranges)]
        ok = np.isfinite(path).all(axis=1)
        for i, (lo, hi) in enumerate(ranges):
            ok &= (path[:, i] >= lo) & (path[:, i] <= hi)
        return path[ok], not ok.all()

    def draw(self, plt: Plot, width: int, height: int, palette: Palette) -> None:
        ls = self.landscape
        assert ls is not None
        sample = f", {ls.sampled_rows:,}-row sample" if ls.sampled_rows else ""
        if ls.b is None:
            self._draw_curve(plt, ls, palette, sample, width)
        else:
            self._draw_bowl(plt, ls, palette, sample, width)

    def _now_text(self) -> str:
        """Where the descent is now; short, so it still fits a plot beside the fit (≈40 columns)."""
        if self._last is None:
            return "no steps yet"
        values = ", ".join(f"{n} {v:.3g}" for n, v in zip(("w", "b"), self._last))
        return f"{CURRENT_MARKER} {values}"

    def _epoch_text(self) -> str:
        return f"epoch {self.start_epoch + self._seen:,}" if self._last is not None else ""

    def _draw_curve(self, plt: Plot, ls: Landscape, palette: Palette, sample: str, width: int) -> None:
        w = np.asarray(ls.w, dtype=np.float64)
        cost = np.asarray(ls.cost, dtype=np.float64)
        plt.title(fit_title(
            [f"cost E(w), {ls.loss}{sample}", self._now_text(), f"{MIN_MARKER} min w {ls.minimum[0]:.3g}",
             self._epoch_text()], width
        ))
        plt.xlabel("w")
        ok = np.isfinite(cost)
        plt.plot(
            w[ok].tolist(), cost[ok].tolist(), marker="braille" if palette.colored else "hd", color=palette.prediction
        )
        plt.xlim(float(w[0]), float(w[-1]))
        m = float(ls.minimum[0])
        plt.scatter([m], [float(np.interp(m, w, cost))], marker=MIN_MARKER, color=palette.test)
        path, left = self._path_in([(float(w[0]), float(w[-1]))])
        if len(path):
            pw = path[:, 0]
            pe = np.interp(pw, w, cost)
            plt.scatter(pw.tolist(), pe.tolist(), marker=PATH_MARKER, color=palette.marker)
            plt.scatter([float(pw[0])], [float(pe[0])], marker=START_MARKER, color=palette.marker)
            plt.scatter([float(pw[-1])], [float(pe[-1])], marker=CURRENT_MARKER, color=palette.marker)
        if left:
            plt.xlabel("w (the path left the plotted range)")

    def _draw_bowl(self, plt: Plot, ls: Landscape, palette: Palette, sample: str, width: int) -> None:
        assert ls.b is not None
        w0, w1, b0, b1 = float(ls.w[0]), float(ls.w[-1]), float(ls.b[0]), float(ls.b[-1])
        mw, mb = float(ls.minimum[0]), float(ls.minimum[1])
        plt.title(fit_title(
            [f"E(w, b), {ls.loss}{sample}", self._now_text(), f"{MIN_MARKER} ({mw:.3g}, {mb:.3g})",
             self._epoch_text()], width
        ))
        plt.xlabel("w" if not self._path_in([(w0, w1), (b0, b1)])[1] else "w (the path left the plotted range)")
        plt.ylabel("b")
        plt.xlim(w0, w1)
        plt.ylim(b0, b1)
        plt.scatter([mw], [mb], marker=MIN_MARKER, color=palette.test)
        path, _ = self._path_in([(w0, w1), (b0, b1)])
        if len(path):
            pw, pb = path[:, 0].tolist(), path[:, 1].tolist()
            if len(path) > 1:
                plt.plot(pw, pb, marker=PATH_MARKER, color=palette.marker)
            plt.scatter(pw[:1], pb[:1], marker=START_MARKER, color=palette.marker)
            plt.scatter(pw[-1:], pb[-1:], marker=CURRENT_MARKER, color=palette.marker)

    def decorate(self, canvas: Canvas, palette: Palette) -> None:
        """Two parameters: tint the canvas by log-spaced cost bands (NO_COLOR: contour dots)."""
        ls = self.landscape
        if ls is None or ls.b is None:
            return
        cost = np.asarray(ls.cost, dtype=np.float64)
        cols, rows = list(canvas.plot_cols), list(canvas.plot_rows)
        if not cols or not rows or cost.ndim != 2:
            return
        bands = cost_bands(cost)
        gi = np.clip(np.rint(np.linspace(0, cost.shape[0] - 1, len(rows))).astype(int), 0, cost.shape[0] - 1)
        gj = np.clip(np.rint(np.linspace(0, cost.shape[1] - 1, len(cols))).astype(int), 0, cost.shape[1] - 1)
        cells = bands[np.ix_(gi, gj)]
        if palette.colored and palette.background is not None:
            low = palette.classes[0] if isinstance(palette.classes[0], tuple) else (87, 165, 226)
            table = [
                blend(palette.background, low, 0.06 + 0.6 * (1 - k / (LEVELS - 1)) + 0.05 * (k % 2))
                for k in range(LEVELS)
            ]
            for ri, r in enumerate(rows):
                bg_row = canvas.background[r]
                band_row = cells[ri].tolist()
                for ci, c in enumerate(cols):
                    bg_row[c] = table[band_row[ci]]
            return
        edge = np.zeros_like(cells, dtype=bool)
        edge[:, 1:] |= cells[:, 1:] != cells[:, :-1]
        edge[1:, :] |= cells[1:, :] != cells[:-1, :]
        for ri, ci in zip(*np.nonzero(edge)):
            r, c = rows[ri], cols[ci]
            if canvas.marker[r][c] == " ":
                canvas.marker[r][c] = CONTOUR_MARKER


def cost_bands(cost: np.ndarray, levels: int = LEVELS) -> np.ndarray:
    """Band index 0 (lowest cost) .. levels-1, log-spaced above the minimum: a bowl's rings."""
    finite = np.isfinite(cost)
    if not finite.any():
        return np.zeros(cost.shape, dtype=np.int64)
    lo, hi = float(cost[finite].min()), float(cost[finite].max())
    span = hi - lo
    if span <= 0:
        return np.zeros(cost.shape, dtype=np.int64)
    eps = span * 1e-4
    lv: np.ndarray = np.log(np.where(finite, cost, hi) - lo + eps)
    t: np.ndarray = (lv - np.log(eps)) / (np.log(span + eps) - np.log(eps))
    return np.clip((t * levels).astype(np.int64), 0, levels - 1)
