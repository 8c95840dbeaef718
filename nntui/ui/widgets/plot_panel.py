"""A textual-plotext plot that is cheap to redraw and cannot crash the app.

Why not `PlotextPlot.render()` as it is: measured here, one redraw of a 110×30 panel cost
46 ms, of which plotext's figure build was about half; turning plotext's ANSI text back
into Rich text (`Text.from_ansi`) and then into Textual's lines was the rest. This class
keeps plotext (each widget its own figure, through `self.plt`) but reads the character
and colour matrix plotext builds (through `nntui.ui.plotext_adapter`, the one module that
touches plotext's internals) and turns it straight into Textual strips, skipping the
ANSI round trip. The strips are cached: Textual may ask for the lines again (a modal on
top, a resize of something else) without plotext running again.

Data go through `line()` and `points()`: plotext draws the frame, ticks, title and legend
(given one stand-in point per labelled series) and this class rasterises the data into
plotext's canvas cells with numpy: braille dots for lines, one character per point.
plotext's own path is pure Python per point (measured: 15–23 ms per build of an 84×18
panel with two 170-point series; its frame alone about 4 ms).

Subclasses keep their data and re-plot from it on every build (clear + plot): plotext 5
keeps transformed data in the figure (its log-y double-logs on a second build), so the
figure is never trusted across builds. Any exception while building shows a one-line
message in the plot area instead of reaching Textual (which would exit the app).
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

import numpy as np
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from textual_plotext import Plot, PlotextPlot

from nntui.ui.palette import Palette, PlotColor, palette_for
from nntui.ui.plotext_adapter import Canvas, CellColor, ansi_codes, build_canvas, set_size

_PLAIN = Style()
"""Every segment gets a style: Textual's NO_COLOR filter reads `segment.style.color`."""
BRAILLE_BITS = np.array([[0x01, 0x08], [0x02, 0x10], [0x04, 0x20], [0x40, 0x80]], dtype=np.int64)
"""Dot bit of braille sub-cell (row from the top, column) in U+2800 + bits."""
MIN_PLOT_WIDTH = 24
MIN_PLOT_HEIGHT = 6


class PlotPanel(PlotextPlot):
    """Base of the loss and fit plots: data in the widget, plotext figure rebuilt on demand."""

    DEFAULT_CSS = """
    PlotPanel {
        width: 1fr;
        height: 1fr;
        min-height: 6;
    }
    """

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._strips: list[Strip] | None = None
        self._strips_size: tuple[int, int] = (0, 0)
        self._styles: dict[tuple[CellColor, str, CellColor] | None, Style] = {}
        self._palette: Palette | None = None
        self.stale = False
        """Data changed since the last build: the app redraws stale plots on its timer."""
        self.frame_ms: deque[float] = deque(maxlen=512)
        """Wall time of recent builds (plotext + strips), for the benchmark and the report."""
        self.frame_cpu_ms: deque[float] = deque(maxlen=512)
        """CPU time of the same builds: wall time also counts waiting for the trainer's lock."""
        self.last_build = 0.0
        """time.monotonic() of the last build."""
        self.error: str | None = None
        """The last build's error, if it failed (shown in the plot area)."""
        self._layers: list[tuple[str, np.ndarray, np.ndarray, PlotColor, str]] = []
        self._limits: tuple[float, float, float, float] | None = None
        self._legend: list[str] = []

    # -- what subclasses provide ---------------------------------------------------------

    def placeholder(self) -> str | None:
        """A message to show instead of a plot (e.g. no data yet), or None to plot."""
        return None

    def draw(self, plt: Plot, width: int, height: int, palette: Palette) -> None:
        """Plot the widget's data into a cleared plotext figure of this size."""
        raise NotImplementedError

    def decorate(self, canvas: Canvas, palette: Palette) -> None:
        """Change plotext's finished character matrix before it becomes strips (optional)."""

    # -- data layers (used from `draw`) ------------------------------------------------------

    def limits(self, plt: Plot, x_lo: float, x_hi: float, y_lo: float, y_hi: float) -> None:
        """Fix the axes (otherwise they span every layer's data)."""
        if x_hi <= x_lo:
            x_hi = x_lo + 1.0
        if y_hi <= y_lo:
            y_lo, y_hi = y_lo - 0.5, y_hi + 0.5
        self._limits = (x_lo, x_hi, y_lo, y_hi)
        plt.xlim(x_lo, x_hi)
        plt.ylim(y_lo, y_hi)

    def line(self, plt: Plot, x: np.ndarray, y: np.ndarray, color: PlotColor, label: str | None = None) -> None:
        """A polyline in braille dots (drawn by this class, not plotext)."""
        self._layer(plt, "line", x, y, color, "braille", label)

    def points(
        self, plt: Plot, x: np.ndarray, y: np.ndarray, color: PlotColor, marker: str, label: str | None = None
    ) -> None:
        """One `marker` character per point's cell."""
        self._layer(plt, "points", x, y, color, marker, label)

    def _layer(self, plt: Plot, kind: str, x: Any, y: Any, color: PlotColor, marker: str, label: str | None) -> None:
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        ok = np.isfinite(x) & np.isfinite(y)
        x, y = x[ok], y[ok]
        if not len(x):
            return
        self._layers.append((kind, x, y, color, marker))
        if label:
            # plotext draws the legend entry; its one point sits on the data anyway
            self._legend.append(label)
            plt.scatter([float(x[0])], [float(y[0])], marker=marker, color=color, label=label)

    def _rasterise(self, canvas: Canvas) -> None:
        """Draw the layers into plotext's canvas cells; legend, labels and lines stay on top."""
        cols, rows = list(canvas.plot_cols), list(canvas.plot_rows)
        if not self._layers or not cols or not rows or self._limits is None:
            return
        x_lo, x_hi, y_lo, y_hi = self._limits
        width, height = len(cols), len(rows)
        c0, r0 = cols[0], rows[0]
        taken = np.array([[canvas.marker[r][c] != " " for c in cols] for r in rows], dtype=bool)
        if self._legend:
            # plotext's legend box: top-left of the canvas, one row per entry ("⢕⢕ label")
            n = min(len(self._legend), height)
            taken[height - n :, : min(width, 4 + max(len(label) for label in self._legend))] = True
        for kind, x, y, color, marker in self._layers:
            if kind == "line":
                sub_w, sub_h = 2 * width, 4 * height
                fx = (x - x_lo) / (x_hi - x_lo) * (sub_w - 1)
                fy = (y - y_lo) / (y_hi - y_lo) * (sub_h - 1)
                if len(fx) > 1:
                    # enough samples per segment that neighbouring dots touch (no gaps in steep parts)
                    steps = np.maximum(1, np.ceil(np.maximum(np.abs(np.diff(fx)), np.abs(np.diff(fy))))).astype(int)
                    seg = np.repeat(np.arange(len(steps)), steps)
                    starts = np.repeat(np.cumsum(steps) - steps, steps)
                    t = (np.arange(int(steps.sum())) - starts) / np.repeat(steps, steps)
                    fx = np.append(fx[seg] + (fx[seg + 1] - fx[seg]) * t, fx[-1])
                    fy = np.append(fy[seg] + (fy[seg + 1] - fy[seg]) * t, fy[-1])
                sx, sy = np.rint(fx).astype(np.int64), np.rint(fy).astype(np.int64)
                keep = (sx >= 0) & (sx < sub_w) & (sy >= 0) & (sy < sub_h)
                sx, sy = sx[keep], sy[keep]
                cell_c, cell_r = sx // 2, sy // 4
                bits = BRAILLE_BITS[3 - sy % 4, sx % 2]
                grid = np.zeros((height, width), dtype=np.int64)
                np.bitwise_or.at(grid, (cell_r, cell_c), bits)
                rr, cc = np.nonzero((grid != 0) & ~taken)
                chars = [chr(0x2800 + int(v)) for v in grid[rr, cc]]
            else:
                cc = np.rint((x - x_lo) / (x_hi - x_lo) * (width - 1)).astype(np.int64)
                rr = np.rint((y - y_lo) / (y_hi - y_lo) * (height - 1)).astype(np.int64)
                keep = (cc >= 0) & (cc < width) & (rr >= 0) & (rr < height)
                rr, cc = rr[keep], cc[keep]
                free = ~taken[rr, cc]
                rr, cc = rr[free], cc[free]
                chars = [marker] * len(rr)
            for r, c, ch in zip(rr.tolist(), cc.tolist(), chars):
                canvas.marker[r0 + r][c0 + c] = ch
                canvas.fullground[r0 + r][c0 + c] = color

    # -- redraw control ------------------------------------------------------------------

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)

    def _theme_changed(self, _theme: object) -> None:
        self._palette = None
        self._styles.clear()
        self.redraw()

    @property
    def palette(self) -> Palette:
        if self._palette is None:
            self._palette = palette_for(self.app)
        return self._palette

    def invalidate(self) -> None:
        """The data changed; the next `redraw` (at the app's pace) rebuilds the figure."""
        self.stale = True

    def redraw(self) -> None:
        """Rebuild on the next paint (now, from the app's timer, or when the theme changed)."""
        self.stale = False
        self._strips = None
        self.refresh()

    def rendered_text(self) -> str:
        """The text of the last build (what the plot area shows), for tests and checks."""
        if not self._strips:
            return ""
        return "\n".join("".join(segment.text for segment in strip) for strip in self._strips)

    # -- rendering -----------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        if self._strips is None or self._strips_size != (width, height):
            self._strips = self._build(width, height)
            self._strips_size = (width, height)
        if 0 <= y < len(self._strips):
            return self._strips[y]
        return Strip.blank(width, _PLAIN)

    def _build(self, width: int, height: int) -> list[Strip]:
        started = time.perf_counter()
        cpu_started = time.thread_time()
        self.last_build = time.monotonic()
        try:
            message = self.placeholder()
            if message is None and (width < MIN_PLOT_WIDTH or height < MIN_PLOT_HEIGHT):
                message = "(too small to plot)"
            if message is not None:
                strips = self._message_strips(message, width, height)
                self.error = None
            else:
                strips = self._plot_strips(width, height)
                self.error = None
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            self.log.error(f"{type(self).__name__} failed to draw: {self.error}")
            strips = self._message_strips(f"plot error: {self.error}", width, height)
        self.frame_ms.append((time.perf_counter() - started) * 1000)
        self.frame_cpu_ms.append((time.thread_time() - cpu_started) * 1000)
        return strips

    def _plot_strips(self, width: int, height: int) -> list[Strip]:
        plt = self.plt
        plt.clear_figure()  # never reuse plotext's stored data (see the module note)
        set_size(plt, width, height)
        palette = self.palette
        # "default" colours: Textual paints its own background and foreground underneath
        plt.canvas_color("default")
        plt.axes_color("default")
        plt.ticks_color("default")
        self._layers = []
        self._limits = None
        self._legend = []
        self.draw(plt, width, height, palette)
        if self._limits is None and self._layers:
            xs = np.concatenate([layer[1] for layer in self._layers])
            ys = np.concatenate([layer[2] for layer in self._layers])
            self.limits(plt, float(xs.min()), float(xs.max()), float(ys.min()), float(ys.max()))
        canvas = build_canvas(plt)
        self._rasterise(canvas)
        self.decorate(canvas, palette)
        return self._canvas_strips(canvas, width, height)

    def _canvas_strips(self, canvas: Canvas, width: int, height: int) -> list[Strip]:
        """plotext's rows (bottom first) of markers and colours → Textual strips (top first)."""
        style_for = self._style_for
        strips: list[Strip] = []
        cols = canvas.cols
        for r in range(canvas.rows - 1, -1, -1):
            markers, fgs, sts, bgs = canvas.marker[r], canvas.fullground[r], canvas.style[r], canvas.background[r]
            segments: list[Segment] = []
            start = 0
            key = (fgs[0], sts[0], bgs[0]) if cols else None
            for c in range(1, cols):
                k = (fgs[c], sts[c], bgs[c])
                if k != key:
                    segments.append(Segment("".join(markers[start:c]), style_for(key)))
                    start, key = c, k
            if cols:
                segments.append(Segment("".join(markers[start:cols]), style_for(key)))
            strips.append(Strip(segments).adjust_cell_length(width, _PLAIN))
        strips = strips[:height]
        while len(strips) < height:
            strips.append(Strip.blank(width, _PLAIN))
        return strips

    def _style_for(self, key: tuple[CellColor, str, CellColor] | None) -> Style:
        """A plotext (colour, style, background) → a Rich style, via plotext's own ANSI codes, once."""
        style = self._styles.get(key)
        if style is None:
            style = Style()
            if key is not None:
                fg, st, bg = key
                text = Text.from_ansi(ansi_codes(fg, st, bg) + "x")
                if text.spans:
                    style = Style.chain(*(span.style for span in text.spans if isinstance(span.style, Style)))
            self._styles[key] = style
        return style

    def _message_strips(self, message: str, width: int, height: int) -> list[Strip]:
        """A message centred in the plot area (no plotext involved)."""
        strips = [Strip.blank(width, _PLAIN) for _ in range(height)]
        if height and width:
            lines = _wrap(message, max(1, width - 2))[:height]
            top = max(0, (height - len(lines)) // 2)
            for i, line in enumerate(lines):
                pad = max(0, (width - len(line)) // 2)
                strips[top + i] = Strip([Segment(" " * pad + line, _PLAIN)]).adjust_cell_length(width, _PLAIN)
        return strips


def fit_title(parts: list[str], width: int, sep: str = " · ") -> str:
    """As many of `parts` as fit in `width` columns (the first one always, cut with "…").

    plotext drops a title wider than its plot altogether, and a plot beside another one
    (fit and cost landscape) may be only about 40 columns wide.
    """
    room = max(1, width - 2)
    title = parts[0] if len(parts[0]) <= room else parts[0][: room - 1] + "…"
    for part in parts[1:]:
        if len(title) + len(sep) + len(part) > room:
            break
        title += sep + part
    return title


def _wrap(text: str, width: int) -> list[str]:
    """Word-wrap without Rich (messages are short, plain text)."""
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for word in paragraph.split(" "):
            while len(word) > width:
                if line:
                    lines.append(line)
                    line = ""
                lines.append(word[:width])
                word = word[width:]
            if not line:
                line = word
            elif len(line) + 1 + len(word) <= width:
                line += " " + word
            else:
                lines.append(line)
                line = word
        lines.append(line)
    return lines
