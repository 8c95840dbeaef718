"""The live loss curve: train and test loss against epochs, log-y, smoothing, lr markers.

The history is the engine's bounded min/max `SeriesHistory`, and each build plots about two
points per column of it (`columns`): drawing costs the same after 10^6 epochs as after 10^3,
and a one-epoch spike survives decimation.

Log-y is done here, not by plotext: the curve is plotted as log10(loss) on a linear axis
with ticks labelled in loss units. plotext 5's own log axis re-logs its stored data on a
second build (plotext issue 209) and raises on zeros, NaN and inf.

Ghosts (issue 12: comparing runs) are earlier runs' train curves, drawn dimmed under the
live pair and labelled at their end by what differs from the current config. Each is a
`SeriesHistory` decimated to the plot's width like the live curve, so eight of them cost
the same after 10^6 epochs as after 10^3; their labels are written into the finished
canvas (no plotext legend entries, which cost plotext time per entry).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from textual_plotext import Plot

from nntui.engine.formats import fmt_loss
from nntui.engine.history import SeriesHistory
from nntui.ui.palette import Palette, PlotColor, blend
from nntui.ui.plotext_adapter import Canvas
from nntui.ui.widgets.plot_panel import BRAILLE_BITS, PlotPanel, fit_title

Y_LABEL_COLUMNS = 10
"""Roughly what plotext's y tick labels and axis take; the rest of the width is data."""
SMOOTHING = 0.15
"""EMA weight of each new decimated point (about a 6-column window)."""
MAX_MARKERS = 24
GHOST_STRENGTH = 0.5
"""How much of its own colour a ghost keeps (the rest is the background): there, but behind."""
GHOST_MARKER = "·"
"""Under NO_COLOR a ghost is dots, the live train curve braille."""
MAX_GHOST_LABEL = 24
LABEL_REACH = 7
"""Rows a ghost's label may move from its curve's end to find room without text under it."""
_BRAILLE = [chr(0x2800 + bits) for bits in range(256)]
_SUB_BITS = BRAILLE_BITS[::-1].copy()
"""Braille bit of each sub-cell by (row from the bottom, column): the ghosts' image rows grow upward."""
_UNDER_LABEL = frozenset(" " + "".join(_BRAILLE))
"""What a ghost's label may cover: blank cells and curves, not text."""


@dataclass(frozen=True)
class LrMarker:
    epoch: int
    label: str


@dataclass(frozen=True)
class GhostCurve:
    """An earlier run's train loss as the loss plot draws it (the app owns the run itself)."""

    key: int
    """Stable per run: picks its colour."""
    label: str
    """What differs from the current config ("tanh", "lr 0.01")."""
    history: SeriesHistory


class LossPlot(PlotPanel):
    """Train/test loss over epochs; data arrives as arrays from the app's mailbox drain."""

    DEFAULT_CSS = """
    LossPlot {
        width: 1fr;
        height: 1fr;
        min-height: 6;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.train = SeriesHistory()
        self.test = SeriesHistory()
        self.markers: list[LrMarker] = []
        self.cursor: int | None = None
        """Replay: the epoch whose fit is shown (a vertical line), None when live."""
        self.baseline: float | None = None
        """The least-squares fit's training loss: a reference line (how far the network is
        from the best a closed form does)."""
        self.log_y = True
        self.smooth = False
        self.waiting = "press space to train"
        """What the empty plot says."""
        self.ghosts: tuple[GhostCurve, ...] = ()
        """Earlier runs shown dimmed under the live curves (only the shown ones)."""
        self._ghost_draw: list[tuple[GhostCurve, np.ndarray, np.ndarray, PlotColor]] = []
        """This build's ghosts (decimated) and colours: rasterised and labelled by `decorate`."""
        self._ghost_cache: dict[int, tuple[tuple[int, int, int, bool, bool], np.ndarray, np.ndarray]] = {}
        """Each ghost's decimated curve by its key: a finished run's history does not change,
        so only the axes (the raster) are redone while the live run grows."""

    # -- data (called by the app on its timer) -----------------------------------------

    def clear(self, waiting: str = "starting…") -> None:
        self.train = SeriesHistory()
        self.test = SeriesHistory()
        self.markers = []
        self.cursor = None
        self.baseline = None
        self.waiting = waiting
        self.invalidate()

    def set_baseline(self, loss: float | None) -> None:
        self.baseline = loss if loss is not None and np.isfinite(loss) else None
        self.invalidate()

    def extend(self, epochs: np.ndarray, train: np.ndarray, test_epochs: np.ndarray, test: np.ndarray) -> None:
        if len(epochs):
            self.train.extend(epochs, train)
        if len(test_epochs):
            self.test.extend(test_epochs, test)
        if len(epochs) or len(test_epochs):
            self.invalidate()

    def set_ghosts(self, ghosts: Sequence[GhostCurve]) -> None:
        """The earlier runs to draw (hidden ones left out by the caller); drawn at once (a key
        press in the runs table, or a run that just ended)."""
        self.ghosts = tuple(ghosts)
        self.redraw()

    def set_cursor(self, epoch: int | None) -> None:
        """Replay's cursor at `epoch` (None: live again); drawn at once (a key press)."""
        if epoch != self.cursor:
            self.cursor = epoch
            self.redraw()

    def add_marker(self, epoch: int, label: str) -> None:
        """A vertical line where the learning rate (or the pace) changed."""
        self.markers.append(LrMarker(epoch, label))
        del self.markers[:-MAX_MARKERS]
        self.invalidate()

    def set_options(self, *, log_y: bool | None = None, smooth: bool | None = None) -> None:
        if log_y is not None:
            self.log_y = log_y
        if smooth is not None:
            self.smooth = smooth
        self.redraw()  # a key press: show it now, not at the next tick

    @property
    def point_count(self) -> int:
        """Points recorded (train), whatever was decimated away."""
        return self.train.count

    # -- drawing -----------------------------------------------------------------------

    def placeholder(self) -> str | None:
        if len(self.train) == 0 and not any(len(g.history) for g in self.ghosts):
            return self.waiting
        return None

    def series(self, width: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """What would be plotted at this width: decimated, log10'd if log-y, smoothed if on."""
        columns = max(8, width - Y_LABEL_COLUMNS)
        out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for name, hist in (("train", self.train), ("test", self.test)):
            x, y = hist.columns(columns)
            x, y = self._transform(x, y)
            if self.smooth and len(y) > 2:
                y = ema(y, SMOOTHING)
            if len(x):
                out[name] = (x, y)
        return out

    def ghost_series(self, width: int) -> list[tuple[GhostCurve, np.ndarray, np.ndarray]]:
        """Each ghost as `series` makes the live curve: decimated to the width, log10'd, smoothed."""
        columns = max(8, width - Y_LABEL_COLUMNS)
        out = []
        cache: dict[int, tuple[tuple[int, int, int, bool, bool], np.ndarray, np.ndarray]] = {}
        for ghost in self.ghosts:
            sig = (id(ghost.history), ghost.history.count, columns, self.log_y, self.smooth)
            hit = self._ghost_cache.get(ghost.key)
            if hit is not None and hit[0] == sig:
                x, y = hit[1], hit[2]
            else:
                x, y = self._transform(*ghost.history.columns(columns))
                if self.smooth and len(y) > 2:
                    y = ema(y, SMOOTHING)
            cache[ghost.key] = (sig, x, y)
            if len(x):
                out.append((ghost, x, y))
        self._ghost_cache = cache
        return out

    def _transform(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        keep = np.isfinite(y)
        if self.log_y:
            keep &= y > 0
        x, y = x[keep], y[keep]
        if self.log_y:
            y = np.log10(y)
        return x, y

    def draw(self, plt: Plot, width: int, height: int, palette: Palette) -> None:
        data = self.series(width)
        ghosts = self.ghost_series(width) if self.ghosts else []
        self._ghost_draw = []
        title = "loss" + (" (log)" if self.log_y else "") + (" · smoothed" if self.smooth else "")
        if self.ghosts:
            n = len(self.ghosts)
            title = fit_title([title, f"{n} earlier run{'s' if n > 1 else ''} dimmed"], width)
        plt.title(title)
        if not data and not ghosts:
            plt.title(title + ": no positive finite values to show" if self.log_y else title)
            return
        spans = [*data.values(), *((x, y) for _, x, y in ghosts)]
        lo = min(float(y.min()) for _, y in spans)
        hi = max(float(y.max()) for _, y in spans)
        base = self.baseline
        if base is not None and self.log_y:
            base = math.log10(base) if base > 0 else None  # an exact fit (loss 0) has no place on a log axis
        if base is not None:
            lo, hi = min(lo, base), max(hi, base)
        if hi - lo < 1e-9:
            lo, hi = lo - 0.5, hi + 0.5
        x_lo = min(float(x.min()) for x, _ in spans)
        x_hi = max(float(x.max()) for x, _ in spans)
        self.limits(plt, x_lo, max(x_hi, x_lo + 1), lo, hi)
        # drawn by `decorate`, into the cells the live curves, legend and labels leave blank
        self._ghost_draw = [(ghost, x, y, ghost_color(ghost.key, palette)) for ghost, x, y in ghosts]
        if "train" in data:
            self.line(plt, *data["train"], palette.train, label="train")
        if "test" in data:
            # under NO_COLOR the shapes tell the series apart: dots for test
            x, y = data["test"]
            if palette.no_color:
                self.points(plt, x, y, palette.test, "•", label="test")
            else:
                self.line(plt, x, y, palette.test, label="test")
        columns = max(8, width - Y_LABEL_COLUMNS)
        span = max(x_hi, x_lo + 1) - x_lo
        if base is not None and self.baseline is not None:
            self.line(plt, np.array([x_lo, max(x_hi, x_lo + 1)]), np.array([base, base]), palette.baseline,
                      label=f"least squares {fmt_loss(self.baseline, 3)}")
        for m in self.markers:
            if x_lo <= m.epoch <= x_hi:
                plt.vertical_line(m.epoch, color=palette.marker)
                # right of the line, unless the label would run off the plot's right edge
                room = (1 - (m.epoch - x_lo) / span) * columns
                side: Literal["left", "right"] = "left" if room > len(m.label) + 1 else "right"
                plt.text(m.label, m.epoch, hi, color=palette.marker, alignment=side)
        if self.cursor is not None and x_lo <= self.cursor <= max(x_hi, x_lo + 1):
            plt.vertical_line(self.cursor, color=palette.test)
            room = (1 - (self.cursor - x_lo) / span) * columns
            label = f"▶ {format_epoch(self.cursor)}"
            side = "left" if room > len(label) + 1 else "right"
            plt.text(label, self.cursor, lo, color=palette.test, alignment=side)
        if self.log_y:
            ticks, labels = log_ticks(lo, hi, max(2, (height - 4) // 2))
            plt.yticks(ticks, labels)
        xt = epoch_ticks(x_lo, max(x_hi, x_lo + 1), max(2, (width - Y_LABEL_COLUMNS) // 12))
        plt.xticks(xt, [format_epoch(t) for t in xt])
        plt.xlabel("epoch")

    def decorate(self, canvas: Canvas, palette: Palette) -> None:
        """The ghosts, under everything plotext and the live layers drew, then their labels."""
        if not self._ghost_draw or self._limits is None:
            return
        cols, rows = canvas.plot_cols, canvas.plot_rows
        if not len(cols) or not len(rows):
            return
        self._draw_ghosts(canvas, palette.no_color)
        self._label_ghosts(canvas)

    def _draw_ghosts(self, canvas: Canvas, no_color: bool) -> None:
        """All ghosts in one pass: each one's braille dots with numpy (as PlotPanel draws a
        line), merged (a cell shared by ghosts shows all their dots, in the colour of the one
        listed last), and written only where the cell is blank: the live curves, the legend
        and the axes' labels stay on top. One Python loop over the merged cells, not one per ghost."""
        assert self._limits is not None
        cols, rows = canvas.plot_cols, canvas.plot_rows
        x_lo, x_hi, y_lo, y_hi = self._limits
        width, height = len(cols), len(rows)
        sub_w, sub_h = (width, height) if no_color else (2 * width, 4 * height)
        # every ghost's dots in one image of sub-cells (braille: 2×4 per cell), all ghosts in
        # the same few numpy calls (small arrays: the calls' overhead is most of their cost);
        # a cell takes the colour of the last ghost that reached it
        fx = np.concatenate([x for _, x, _, _ in self._ghost_draw])
        fy = np.concatenate([y for _, _, y, _ in self._ghost_draw])
        which = np.repeat(np.arange(len(self._ghost_draw)), [len(x) for _, x, _, _ in self._ghost_draw])
        fx = (fx - x_lo) / (x_hi - x_lo) * (sub_w - 1)
        fy = (fy - y_lo) / (y_hi - y_lo) * (sub_h - 1)
        if not no_color and len(fx) > 1:
            fx, fy, which = _densify(fx, fy, which)
        sx, sy = np.rint(fx).astype(np.int64), np.rint(fy).astype(np.int64)
        keep = (sx >= 0) & (sx < sub_w) & (sy >= 0) & (sy < sub_h)
        sx, sy, which = sx[keep], sy[keep], which[keep]
        image = np.zeros((sub_h, sub_w), dtype=bool)
        image[sy, sx] = True
        owner = np.zeros((height, width), dtype=np.int64)
        if no_color:
            owner[sy, sx] = which
        else:
            owner[sy // 4, sx // 2] = which
        if no_color:
            bits = image.astype(np.int64)
        else:
            cells = image.reshape(height, 4, width, 2)
            bits = np.zeros((height, width), dtype=np.int64)
            for k in range(4):
                for j in range(2):
                    bits |= cells[:, k, :, j] * int(_SUB_BITS[k, j])
        if self._legend:
            # plotext's legend box (top left, one row per entry) stays clear, as PlotPanel keeps it
            n = min(len(self._legend), height)
            bits[height - n :, : min(width, 4 + max(len(label) for label in self._legend))] = 0
        rr, cc = np.nonzero(bits)
        colors = [color for _, _, _, color in self._ghost_draw]
        markers, fgs = canvas.marker, canvas.fullground
        r0, c0 = rows[0], cols[0]
        chars = [GHOST_MARKER] * len(rr) if no_color else [_BRAILLE[v] for v in bits[rr, cc].tolist()]
        for r, c, ch, k in zip((rr + r0).tolist(), (cc + c0).tolist(), chars, owner[rr, cc].tolist()):
            row = markers[r]
            if row[c] == " ":
                row[c] = ch
                fgs[r][c] = colors[k]

    def _label_ghosts(self, canvas: Canvas) -> None:
        """Each ghost's label at the end of its curve, on the nearest row with room for it."""
        assert self._limits is not None
        cols, rows = canvas.plot_cols, canvas.plot_rows
        x_lo, x_hi, y_lo, y_hi = self._limits
        width, height = len(cols), len(rows)
        used: dict[int, list[range]] = {}
        for ghost, xs, ys, color in self._ghost_draw:
            label = ghost.label
            text = label if len(label) <= MAX_GHOST_LABEL else label[: MAX_GHOST_LABEL - 1] + "…"
            n = min(len(text), width)
            text = text[:n]
            col = round((float(xs[-1]) - x_lo) / (x_hi - x_lo) * (width - 1))
            row = round((float(ys[-1]) - y_lo) / (y_hi - y_lo) * (height - 1))
            # right of the curve's end if it fits, else ending just left of it
            start = col + 1 if col + 1 + n <= width else max(0, col - n)
            span = range(start, start + n)
            best: int | None = None
            tried = 0
            for offset in sorted(range(-height, height + 1), key=abs):
                r = row + offset
                if not 0 <= r < height or any(o.start < span.stop and span.start < o.stop for o in used.get(r, ())):
                    continue
                if best is None:
                    best = r  # crowded: the nearest row no other label took
                if all(canvas.marker[rows[r]][cols[c]] in _UNDER_LABEL for c in span):
                    best = r  # nothing but blank cells and curves (no text) under it
                    break
                tried += 1
                if tried >= LABEL_REACH:
                    break
            if best is None:
                continue
            used.setdefault(best, []).append(span)
            line_m, line_c = canvas.marker[rows[best]], canvas.fullground[rows[best]]
            for i, c in enumerate(span):
                line_m[cols[c]] = text[i]
                line_c[cols[c]] = color


def _densify(fx: np.ndarray, fy: np.ndarray, which: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Enough samples per segment that neighbouring braille dots touch (as PlotPanel draws its
    lines), for several curves at once: `which` says whose each point is, and no segment joins
    the end of one curve to the start of the next."""
    steps = np.ceil(np.maximum(np.abs(np.diff(fx)), np.abs(np.diff(fy)))).astype(np.int64)
    steps[which[1:] != which[:-1]] = 1  # one sample (its start) for the gap between two curves
    steps = np.maximum(steps, 1)
    seg = np.repeat(np.arange(len(steps)), steps)
    starts = np.repeat(np.cumsum(steps) - steps, steps)
    t = (np.arange(len(seg)) - starts) / steps[seg]
    dense_x = np.append(fx[seg] + (fx[seg + 1] - fx[seg]) * t, fx[-1])
    dense_y = np.append(fy[seg] + (fy[seg + 1] - fy[seg]) * t, fy[-1])
    return dense_x, dense_y, np.append(which[seg], which[-1])


def ghost_color(key: int, palette: Palette) -> PlotColor:
    """A ghost's colour: the theme's class colours other than train's and test's first, in
    turn, dimmed toward the background (the live curves keep their full colours)."""
    others = [c for c in palette.classes if c not in (palette.train, palette.test)]
    others += [c for c in palette.classes if c in (palette.train, palette.test)]
    base = others[key % len(others)]
    if isinstance(base, tuple) and palette.background is not None:
        return blend(palette.background, base, GHOST_STRENGTH)
    return base


def ema(y: np.ndarray, alpha: float) -> np.ndarray:
    """Exponential moving average (over the decimated points; cheap at plot size)."""
    out = np.empty_like(y)
    acc = float(y[0])
    for i, v in enumerate(y):
        acc += alpha * (float(v) - acc)
        out[i] = acc
    return out


def log_ticks(lo: float, hi: float, max_ticks: int) -> tuple[list[float], list[str]]:
    """Tick positions in log10 units and labels in loss units (1e-3, 0.01, 0.1, 1, 10 …)."""
    eps = 1e-9
    inside = list(range(math.ceil(lo - eps), math.floor(hi + eps) + 1))
    if len(inside) <= 2:
        # a narrow range: 1, 2 and 5 in each decade
        ticks = [
            d + math.log10(m)
            for d in range(math.floor(lo), math.ceil(hi) + 1)
            for m in (1, 2, 5)
            if lo - eps <= d + math.log10(m) <= hi + eps
        ]
        if len(ticks) > max_ticks:
            ticks = [t for t in ticks if abs(t - round(t)) < eps] or ticks[:: math.ceil(len(ticks) / max_ticks)]
    else:
        step = max(1, math.ceil(len(inside) / max(1, max_ticks)))
        ticks = [float(d) for d in inside[::step]]
    if len(ticks) < 2:
        ticks = [lo, hi]
    return ticks, [format_loss(10**t) for t in ticks]


def epoch_ticks(lo: float, hi: float, max_ticks: int) -> list[float]:
    """Round epoch numbers (1, 2 or 5 × 10^k apart) inside [lo, hi]: 0, 2000, 4000 …"""
    span = max(hi - lo, 1.0)
    raw = span / max(1, max_ticks)
    mag = 10 ** math.floor(math.log10(raw))
    step = next((m * mag for m in (1, 2, 5, 10) if m * mag >= raw), 10 * mag)
    step = max(step, 1.0)
    first = math.ceil(lo / step) * step
    ticks = []
    t = first
    while t <= hi + 1e-9:
        ticks.append(t)
        t += step
    return ticks or [lo, hi]


def format_epoch(v: float) -> str:
    """12000 → 12k, 1500000 → 1.5M, 300 → 300."""
    if abs(v) >= 1e6:
        return f"{v / 1e6:g}M"
    if abs(v) >= 1e4:
        return f"{v / 1e3:g}k"
    return f"{v:.0f}"


def format_loss(v: float) -> str:
    """Short tick text: 0.001 → 1e-3, 2.5 → 2.5, 12000 → 1.2e4."""
    if v == 0 or not math.isfinite(v):
        return str(v)
    if 1e-2 <= abs(v) < 1e4:
        return f"{v:.3g}"
    mantissa, exp = f"{v:.1e}".split("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exp)}"
