"""A textual-plotext plot that is cheap to redraw and cannot crash the app.

Why not `PlotextPlot.render()` as it is: measured here, one redraw of a 110×30 panel cost
46 ms, of which plotext's figure build was about half; turning plotext's ANSI text back
into Rich text (`Text.from_ansi`) and then into Textual's lines was the rest. This class
keeps plotext (each widget its own figure, through `self.plt`) but reads the character
and colour matrix plotext builds and turns it straight into Textual strips, skipping the
ANSI round trip. The strips are cached: Textual may ask for the lines again (a modal on
top, a resize of something else) without plotext running again.

Subclasses keep their data and re-plot from it on every build (clear + plot): plotext 5
keeps transformed data in the figure (its log-y double-logs on a second build), so the
figure is never trusted across builds. Any exception while building shows a one-line
message in the plot area instead of reaching Textual (which would exit the app).
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from textual_plotext import PlotextPlot

from nntui.ui.palette import Palette, palette_for

_PLAIN = Style()
"""Every segment gets a style: Textual's NO_COLOR filter reads `segment.style.color`."""
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
        self._styles: dict[tuple[Any, Any, Any], Style] = {}
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

    # -- what subclasses provide ---------------------------------------------------------

    def placeholder(self) -> str | None:
        """A message to show instead of a plot (e.g. no data yet), or None to plot."""
        return None

    def draw(self, plt: Any, width: int, height: int, palette: Palette) -> None:
        """Plot the widget's data into a cleared plotext figure of this size."""
        raise NotImplementedError

    def decorate(self, matrix: Any, palette: Palette) -> None:
        """Change plotext's finished character matrix before it becomes strips (optional)."""

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
        plt.plotsize(width, height)
        plt._set_size(width, height)  # as textual-plotext does: plotsize alone does not always stick
        palette = self.palette
        # "default" colours: Textual paints its own background and foreground underneath
        plt.canvas_color("default")
        plt.axes_color("default")
        plt.ticks_color("default")
        self.draw(plt, width, height, palette)
        plt._set_sizes()
        plt._build_matrix()
        matrix = plt.monitor.matrix
        self.decorate(matrix, palette)
        return self._matrix_strips(matrix, width, height)

    def _matrix_strips(self, matrix: Any, width: int, height: int) -> list[Strip]:
        """plotext's rows (bottom first) of markers and colours → Textual strips (top first)."""
        style_for = self._style_for
        strips: list[Strip] = []
        cols = matrix.cols
        for r in range(matrix.rows - 1, -1, -1):
            markers, fgs, sts, bgs = matrix.marker[r], matrix.fullground[r], matrix.style[r], matrix.background[r]
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

    def _style_for(self, key: tuple[Any, Any, Any] | None) -> Style:
        """A plotext (colour, style, background) → a Rich style, via plotext's own ANSI codes, once."""
        style = self._styles.get(key)  # type: ignore[arg-type]
        if style is None:
            from plotext._utility import colors_to_ansi

            style = Style()
            if key is not None:
                fg, st, bg = key
                text = Text.from_ansi(colors_to_ansi(fg, st, bg) + "x")
                if text.spans:
                    style = Style.chain(*(span.style for span in text.spans if isinstance(span.style, Style)))
            self._styles[key] = style  # type: ignore[index]
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
