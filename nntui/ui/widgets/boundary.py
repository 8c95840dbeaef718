"""The decision boundary of a 2-D classifier: a half-block heatmap with the data on top.

Why not plotext: the boundary is redrawn about once a second while a trainer thread waits
for the interpreter lock, and a plotext figure plus a per-cell Python pass to tint the
background costs several times the budget (see the module's numbers in the report /
`frame_ms`). Here the probability grid is resampled with numpy, quantized to a few
colour levels, and each character cell is one upper-half block "▀" whose foreground is
the upper sample and whose background the lower one: twice the vertical resolution of
plain cells. Python only loops over runs of equal cells, not over cells.

It subclasses PlotPanel for the app's redraw protocol (`stale`, `invalidate`, `redraw`,
`frame_ms`, `last_build`), the strip cache, the theme palette and the never-crash build,
and replaces only the plotext step (`_plot_strips`).

Under NO_COLOR there are no fg/bg colours to carry the picture: each cell is one sample
shaded with characters (class 1 ░▒, class 0 blank/·) and the classes of the points are
told apart by hollow/filled markers.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from rich.color import Color as RichColor
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual_plotext import Plot

from nntui.engine.events import FitUpdated, RunStarted
from nntui.ui.palette import RGB, Palette, blend
from nntui.ui.widgets.plot_panel import PlotPanel

HALF = "▀"
LEVELS = 8
"""Confidence levels on each side of p = 0.5: enough for a smooth look, few distinct styles."""
MAX_STRENGTH = 0.55
"""How far a region's colour moves from the background toward its class colour at p = 0 or 1."""
MULTI_STRENGTH = 0.45
TRAIN_MARKER = "●"
TEST_MARKER = "◆"
NO_COLOR_TRAIN = ("○", "●")
"""NO_COLOR: hollow for class 0, filled for class 1 (more classes: their digit)."""
NO_COLOR_TEST = ("◇", "◆")
NO_COLOR_BINARY = (" ", "·", "░", "▒")
"""NO_COLOR shades for p in [0, .25), [.25, .5), [.5, .75), [.75, 1]."""
NO_COLOR_MULTI = (" ", "░", "▒", "▓", "·", ":")
MAX_POINTS = 400
"""Points drawn per set (the trainer already samples at most 400 train and 200 test)."""
FALLBACK_COLORS: tuple[RGB, ...] = ((87, 165, 226), (255, 196, 115), (138, 212, 161), (209, 126, 146))
FALLBACK_BACKGROUND: RGB = (30, 30, 30)
PLAIN = Style()


class BoundaryPlot(PlotPanel):
    """Class regions (colour = class, intensity = confidence), train ● and test ◆ points on top."""

    DEFAULT_CSS = """
    BoundaryPlot {
        width: 1fr;
        height: 1fr;
        min-height: 6;
    }
    """

    def __init__(
        self,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        waiting: str = "the decision boundary appears here (2-D classification)",
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.waiting = waiting
        self.fit: FitUpdated | None = None
        self.input_names: tuple[str, str] = ("x1", "x2")
        self.n_classes = 2
        """From the run's points: above 2 the grid holds predicted classes, not probabilities."""
        self._train: tuple[np.ndarray, np.ndarray] = (np.empty((0, 2)), np.empty(0, np.int64))
        self._test: tuple[np.ndarray, np.ndarray] = (np.empty((0, 2)), np.empty(0, np.int64))
        self._cell_styles: dict[tuple[int, int], Style] = {}
        self._styles_palette: Palette | None = None

    # -- data --------------------------------------------------------------------------------

    def clear(self, waiting: str = "starting…") -> None:
        """A new run: forget its points and the last boundary."""
        self.fit = None
        self.waiting = waiting
        self._train = (np.empty((0, 2)), np.empty(0, np.int64))
        self._test = (np.empty((0, 2)), np.empty(0, np.int64))
        self.n_classes = 2
        self.invalidate()

    def set_run(self, started: RunStarted) -> None:
        """Keep the run's train and test samples (raw units) to draw over the heatmap."""
        self._train = _points(started.x_points, started.y_points)
        self._test = _points(started.x_test_points, started.y_test_points)
        names = tuple(started.input_names[:2])
        self.input_names = (names[0], names[1]) if len(names) == 2 else ("x1", "x2")
        labels = np.concatenate([self._train[1], self._test[1]])
        self.n_classes = int(labels.max()) + 1 if len(labels) else 2
        self.invalidate()

    def set_fit(self, fit: FitUpdated) -> bool:
        """Take a boundary snapshot; other kinds (curve, scatter) are ignored (returns False)."""
        if fit.kind != "boundary" or fit.grid is None:
            return False
        self.fit = fit
        self.invalidate()
        return True

    # -- drawing -----------------------------------------------------------------------------

    def placeholder(self) -> str | None:
        return self.waiting if self.fit is None else None

    def draw(self, plt: Plot, width: int, height: int, palette: Palette) -> None:  # pragma: no cover - unused
        """Not used: `_plot_strips` renders without plotext."""

    def render_line(self, y: int) -> Strip:
        return ensure_styles(super().render_line(y))

    def _plot_strips(self, width: int, height: int) -> list[Strip]:
        """The whole widget area: title, heatmap rows with a y axis, x axis, x labels."""
        fit = self.fit
        assert fit is not None and fit.grid is not None
        palette = self.palette
        if self._styles_palette is not palette:
            self._cell_styles.clear()
            self._styles_palette = palette
        gx = np.asarray(fit.x, dtype=np.float64).reshape(-1)
        gy = np.asarray(fit.y, dtype=np.float64).reshape(-1)
        grid = np.asarray(fit.grid, dtype=np.float64)
        if grid.ndim != 2 or grid.shape != (len(gy), len(gx)) or not len(gx) or not len(gy):
            raise ValueError(f"boundary grid {grid.shape} does not match its axes ({len(gy)}, {len(gx)})")
        x_lo, x_hi, y_lo, y_hi = float(gx[0]), float(gx[-1]), float(gy[0]), float(gy[-1])
        if not x_hi > x_lo:
            x_hi = x_lo + 1.0
        if not y_hi > y_lo:
            y_hi = y_lo + 1.0
        finite = grid[np.isfinite(grid)]
        multi = self.n_classes > 2 or bool(len(finite) and finite.max() > 1.0)

        ph = max(1, height - 3)
        y_ticks = _ticks(y_lo, y_hi, max(2, ph // 4))
        y_labels = [_fmt(t) for t in y_ticks]
        lw = max(len(s) for s in y_labels) if y_labels else 1
        pw = max(1, width - lw - 1)

        colored = palette.colored
        sub = 2 if colored else 1
        ys = y_hi - (np.arange(ph * sub) + 0.5) / (ph * sub) * (y_hi - y_lo)
        xs = x_lo + (np.arange(pw) + 0.5) / pw * (x_hi - x_lo)
        fy = (ys - gy[0]) / (gy[-1] - gy[0]) * (len(gy) - 1) if len(gy) > 1 else np.zeros_like(ys)
        fx = (xs - gx[0]) / (gx[-1] - gx[0]) * (len(gx) - 1) if len(gx) > 1 else np.zeros_like(xs)
        values = _resample(grid, fy, fx, nearest=multi)

        # point markers: cell → (kind, class); test points drawn last so they stay visible
        mark_cls = np.full((ph, pw), -1, dtype=np.int64)
        mark_kind = np.zeros((ph, pw), dtype=np.int64)
        for kind, (pts, cls) in enumerate((self._train, self._test)):
            if not len(pts):
                continue
            c = np.floor((pts[:, 0] - x_lo) / (x_hi - x_lo) * pw).astype(np.int64)
            r = np.floor((y_hi - pts[:, 1]) / (y_hi - y_lo) * ph).astype(np.int64)
            ok = (c >= 0) & (c < pw) & (r >= 0) & (r < ph)
            mark_cls[r[ok], c[ok]] = cls[ok]
            mark_kind[r[ok], c[ok]] = kind

        if colored:
            rows = self._color_rows(values, multi, mark_cls, mark_kind, palette)
        else:
            rows = self._plain_rows(values, multi, mark_cls, mark_kind)

        axis_style = Style.from_color(_rich(palette.data)) if colored else PLAIN
        tick_rows = {min(ph - 1, max(0, int((y_hi - t) / (y_hi - y_lo) * ph))): s for t, s in zip(y_ticks, y_labels)}
        strips = [self._title(fit, multi, width, palette)]
        for row, segments in enumerate(rows):
            label = tick_rows.get(row)
            gutter = (label.rjust(lw) + "┤") if label is not None else (" " * lw + "│")
            strips.append(Strip([Segment(gutter, axis_style), *segments], lw + 1 + pw).adjust_cell_length(width))
        strips.append(Strip([Segment(self._x_axis(x_lo, x_hi, pw, lw), axis_style)]).adjust_cell_length(width))
        strips.append(Strip([Segment(self._x_labels(x_lo, x_hi, pw, lw, width), axis_style)]).adjust_cell_length(width))
        return strips[:height]

    def _color_rows(
        self, values: np.ndarray, multi: bool, mark_cls: np.ndarray, mark_kind: np.ndarray, palette: Palette
    ) -> list[list[Segment]]:
        """Half-block rows: one style per (upper level, lower level), runs of equal cells merged."""
        bg: RGB = palette.background or FALLBACK_BACKGROUND
        class_colors: list[RGB] = [
            c if isinstance(c, tuple) else FALLBACK_COLORS[i % 4] for i, c in enumerate(palette.classes)
        ]
        n_cls = len(class_colors)
        if multi:
            idx = np.where(np.isfinite(values), np.nan_to_num(values), -1).astype(np.int64)
            idx = np.where(idx >= 0, idx % n_cls, n_cls)  # n_cls: no prediction → background
            table = [blend(bg, c, MULTI_STRENGTH) for c in class_colors] + [bg]
        else:
            p = np.where(np.isfinite(values), values, 0.5)
            idx = (np.rint((p - 0.5) * 2 * LEVELS).clip(-LEVELS, LEVELS) + LEVELS).astype(np.int64)
            table = [
                blend(bg, class_colors[1] if i > LEVELS else class_colors[0], MAX_STRENGTH * abs(i - LEVELS) / LEVELS)
                for i in range(2 * LEVELS + 1)
            ]
        t = len(table)
        top, bot = idx[0::2], idx[1::2]
        key = top * t + bot
        marked = mark_cls >= 0
        if marked.any():
            key = np.where(marked, t * t + ((mark_kind * n_cls + mark_cls % n_cls) * t + bot), key)
        # one (character, style) per distinct cell key of this frame, then runs of equal keys per row
        styles = self._cell_styles
        lut: dict[int, tuple[str, Style]] = {}
        for kk in np.unique(key).tolist():
            style = styles.get((t, kk))
            if kk < t * t:
                if style is None:
                    style = styles[(t, kk)] = Style.from_color(_rich(table[kk // t]), _rich(table[kk % t]))
                lut[kk] = (HALF, style)
            else:
                rest = kk - t * t
                lower, code = rest % t, rest // t
                kind, cls = divmod(code, n_cls)
                if style is None:
                    style = Style(color=_rich(class_colors[cls]), bgcolor=_rich(table[lower]), bold=True)
                    styles[(t, kk)] = style
                lut[kk] = (TEST_MARKER if kind else TRAIN_MARKER, style)
        width = key.shape[1]
        rows: list[list[Segment]] = []
        for r in range(key.shape[0]):
            k = key[r]
            cuts = np.flatnonzero(k[1:] != k[:-1]) + 1
            starts = np.concatenate(([0], cuts))
            lengths = np.diff(np.concatenate((starts, [width]))).tolist()
            segs = []
            for kk, n in zip(k[starts].tolist(), lengths):
                ch, style = lut[kk]
                segs.append(Segment(ch * n, style))
            rows.append(segs)
        return rows

    def _plain_rows(
        self, values: np.ndarray, multi: bool, mark_cls: np.ndarray, mark_kind: np.ndarray
    ) -> list[list[Segment]]:
        """NO_COLOR: one sample per cell, shaded by class / confidence, markers by class shape."""
        if multi:
            idx = np.where(np.isfinite(values), np.nan_to_num(values), 0).astype(np.int64) % len(NO_COLOR_MULTI)
            chars = np.array(NO_COLOR_MULTI)[idx]
        else:
            p = np.where(np.isfinite(values), values, 0.5)
            chars = np.array(NO_COLOR_BINARY)[np.clip((p * 4).astype(np.int64), 0, 3)]
        rows: list[list[Segment]] = []
        bold = Style(bold=True)
        for r in range(chars.shape[0]):
            line = chars[r].tolist()
            for c in np.flatnonzero(mark_cls[r] >= 0).tolist():
                cls, kind = int(mark_cls[r, c]), int(mark_kind[r, c])
                if multi or cls > 1:
                    line[c] = chr(ord("a") + cls % 26) if kind else str(cls % 10)
                else:
                    line[c] = (NO_COLOR_TEST if kind else NO_COLOR_TRAIN)[cls]
            text = "".join(line)
            marks = np.flatnonzero(mark_cls[r] >= 0).tolist()
            if not marks:
                rows.append([Segment(text, PLAIN)])
                continue
            segs, start = [], 0
            for c in marks:
                if c > start:
                    segs.append(Segment(text[start:c], PLAIN))
                segs.append(Segment(text[c], bold))
                start = c + 1
            if start < len(text):
                segs.append(Segment(text[start:], PLAIN))
            rows.append(segs)
        return rows

    def _title(self, fit: FitUpdated, multi: bool, width: int, palette: Palette) -> Strip:
        x_name, y_name = self.input_names
        segs = [Segment(f" decision boundary · epoch {fit.epoch} ({x_name} →, {y_name} ↑)  ", Style(bold=True))]
        if palette.colored:
            classes = palette.classes
            segs += [Segment(TRAIN_MARKER + " train  " + TEST_MARKER + " test  ", PLAIN)]
            n = self.n_classes
            if multi and fit.grid is not None and np.isfinite(fit.grid).any():
                n = max(n, int(np.nanmax(fit.grid)) + 1)
            for k in range(min(n, len(classes))):
                color = classes[k]
                style = Style.from_color(_rich(color)) if isinstance(color, tuple) else PLAIN
                segs += [Segment("■", style), Segment(f" class {k}  ", PLAIN)]
        elif multi:
            segs.append(Segment("train 0 1 2… · test a b c… (by class)  shade = predicted class", PLAIN))
        else:
            segs.append(Segment("○● train  ◇◆ test (hollow = class 0)  ░▒ = predicted class 1", PLAIN))
        return Strip(segs).adjust_cell_length(width)

    @staticmethod
    def _x_axis(x_lo: float, x_hi: float, pw: int, lw: int) -> str:
        line = ["─"] * pw
        for t in _ticks(x_lo, x_hi, max(2, pw // 12)):
            c = min(pw - 1, max(0, int((t - x_lo) / (x_hi - x_lo) * pw)))
            line[c] = "┴"
        return " " * lw + "└" + "".join(line)

    @staticmethod
    def _x_labels(x_lo: float, x_hi: float, pw: int, lw: int, width: int) -> str:
        out = [" "] * width
        last_end = -1
        for t in _ticks(x_lo, x_hi, max(2, pw // 12)):
            label = _fmt(t)
            c = lw + 1 + min(pw - 1, max(0, int((t - x_lo) / (x_hi - x_lo) * pw)))
            start = max(0, min(width - len(label), c - len(label) // 2))
            if start <= last_end:
                continue
            out[start : start + len(label)] = label
            last_end = start + len(label)
        return "".join(out)


# -- helpers ---------------------------------------------------------------------------------


def _points(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, 2) float positions and int classes, at most MAX_POINTS, non-finite rows dropped."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    if x.ndim != 2 or x.shape[1] < 2 or len(x) != len(y):
        return np.empty((0, 2)), np.empty(0, np.int64)
    ok = np.isfinite(x[:, :2]).all(axis=1) & np.isfinite(y)
    x, y = x[ok, :2], y[ok]
    if len(x) > MAX_POINTS:
        pick = np.linspace(0, len(x) - 1, MAX_POINTS).astype(np.int64)
        x, y = x[pick], y[pick]
    return x, np.rint(y).astype(np.int64).clip(0, None)


def _resample(grid: np.ndarray, fy: np.ndarray, fx: np.ndarray, nearest: bool) -> np.ndarray:
    """The grid at fractional indices: bilinear for probabilities, nearest for class indices."""
    ny, nx = grid.shape
    if nearest or ny < 2 or nx < 2:
        iy = np.clip(np.rint(fy).astype(np.int64), 0, ny - 1)
        ix = np.clip(np.rint(fx).astype(np.int64), 0, nx - 1)
        return grid[np.ix_(iy, ix)]
    fy = np.clip(fy, 0, ny - 1)
    fx = np.clip(fx, 0, nx - 1)
    y0 = np.minimum(fy.astype(np.int64), ny - 2)
    x0 = np.minimum(fx.astype(np.int64), nx - 2)
    ty = (fy - y0)[:, None]
    tx = (fx - x0)[None, :]
    g00 = grid[np.ix_(y0, x0)]
    g01 = grid[np.ix_(y0, x0 + 1)]
    g10 = grid[np.ix_(y0 + 1, x0)]
    g11 = grid[np.ix_(y0 + 1, x0 + 1)]
    out: np.ndarray = (g00 * (1 - tx) + g01 * tx) * (1 - ty) + (g10 * (1 - tx) + g11 * tx) * ty
    return out


def _ticks(lo: float, hi: float, n: int) -> list[float]:
    """Round tick values (1, 2, 2.5, 5 × 10^k steps) inside [lo, hi], about n of them."""
    span = hi - lo
    if not (math.isfinite(span) and span > 0):
        return [lo]
    raw = span / max(1, n)
    mag = 10 ** math.floor(math.log10(raw))
    step = mag * 10
    for m in (1, 2, 2.5, 5, 10):
        if m * mag >= raw:
            step = m * mag
            break
    first = math.ceil(lo / step - 1e-9) * step
    ticks: list[float] = []
    t = first
    while t <= hi + step * 1e-9 and len(ticks) < 50:
        ticks.append(0.0 if abs(t) < step * 1e-9 else t)
        t += step
    return ticks or [lo]


def _fmt(v: float) -> str:
    text = f"{v:.3g}"
    return "0" if text in ("-0", "0") else text


def ensure_styles(strip: Strip) -> Strip:
    """Give unstyled segments a plain style: Textual's NO_COLOR (Monochrome) filter raises on None.

    PlotPanel's message and blank strips carry no style; under NO_COLOR the app would exit
    on the first paint (measured: AttributeError in textual.filter.monochrome_style).
    """
    if all(seg.style is not None for seg in strip):
        return strip
    return Strip([Segment(t, s if s is not None else PLAIN, c) for t, s, c in strip], strip.cell_length)


def _rich(color: Any) -> RichColor | None:
    """An (r, g, b) plot colour → a Rich colour; "default" → None (the terminal's own)."""
    if isinstance(color, tuple):
        return RichColor.from_rgb(*color)
    return None
