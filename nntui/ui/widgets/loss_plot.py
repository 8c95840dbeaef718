"""The live loss curve: train and test loss against epochs, log-y, smoothing, lr markers.

The history is the engine's bounded min/max `SeriesHistory`, and each build plots about two
points per column of it (`columns`): drawing costs the same after 10^6 epochs as after 10^3,
and a one-epoch spike survives decimation.

Log-y is done here, not by plotext: the curve is plotted as log10(loss) on a linear axis
with ticks labelled in loss units. plotext 5's own log axis re-logs its stored data on a
second build (plotext issue 209) and raises on zeros, NaN and inf.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from textual_plotext import Plot

from nntui.engine.formats import fmt_loss
from nntui.engine.history import SeriesHistory
from nntui.ui.palette import Palette
from nntui.ui.widgets.plot_panel import PlotPanel

Y_LABEL_COLUMNS = 10
"""Roughly what plotext's y tick labels and axis take; the rest of the width is data."""
SMOOTHING = 0.15
"""EMA weight of each new decimated point (about a 6-column window)."""
MAX_MARKERS = 24


@dataclass(frozen=True)
class LrMarker:
    epoch: int
    label: str


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
        if len(self.train) == 0:
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
        title = "loss" + (" (log)" if self.log_y else "") + (" · smoothed" if self.smooth else "")
        plt.title(title)
        if not data:
            plt.title(title + ": no positive finite values to show" if self.log_y else title)
            return
        lo = min(float(y.min()) for _, y in data.values())
        hi = max(float(y.max()) for _, y in data.values())
        base = self.baseline
        if base is not None and self.log_y:
            base = math.log10(base) if base > 0 else None  # an exact fit (loss 0) has no place on a log axis
        if base is not None:
            lo, hi = min(lo, base), max(hi, base)
        if hi - lo < 1e-9:
            lo, hi = lo - 0.5, hi + 0.5
        x_lo = min(float(x.min()) for x, _ in data.values())
        x_hi = max(float(x.max()) for x, _ in data.values())
        self.limits(plt, x_lo, max(x_hi, x_lo + 1), lo, hi)
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
