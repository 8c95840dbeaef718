"""A sweep's loss curves: every trial on one plot, coloured by the first varied field's value.

`MultiLossPlot` (nntui watch) gives each run its own colour, which tells sixteen trials
apart badly and answers no question. A sweep asks "does relu train faster than tanh?", so
here a trial's colour is its group's: the value it takes of the sweep's first varied field.
The highlighted trial is drawn as the dashboard draws its run (train and test, in its
group's colour at full strength); the others are quieter train curves in their group's
colour, unlabelled (a `GroupLegend` beside the plot says which colour is which value: a
label per curve would bury the plot). Decimation, log-y, smoothing and the never-crash build
are LossPlot's and MultiLossPlot's, unchanged.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from dataclasses import replace

from rich.style import Style
from rich.text import Text
from textual.color import Color
from textual.widgets import Static
from textual_plotext import Plot

from nntui.engine.history import SeriesHistory
from nntui.ui.palette import Palette, PlotColor, blend
from nntui.ui.widgets.loss_plot import LossPlot
from nntui.ui.widgets.multi_loss_plot import NO_COLOR_MARKERS, OTHER_STRENGTH, MultiLossPlot, RunCurves

TRIAL_BUCKETS = 1024
"""Min/max buckets per trial's curve: a plot draws about two points per column, and a sweep
may hold thousands of trials (the dashboard's one run keeps 4096)."""
MAX_OTHER_CURVES = 64
"""Curves drawn besides the highlighted trial's: the plot's cost grows with each, and past
a few dozen they are a smear. Which ones: the app's choice (`limit_to`)."""


def group_colors(n: int, palette: Palette) -> list[PlotColor]:
    """`n` distinct colours: the theme's class colours first, then hues spread by the golden
    ratio (a grid axis may have more values than a theme has colours)."""
    out: list[PlotColor] = list(palette.classes[:n])
    k = 0
    while len(out) < n:
        k += 1
        r, g, b = colorsys.hls_to_rgb((0.08 + k * 0.618034) % 1.0, 0.66, 0.55)
        out.append((round(r * 255), round(g * 255), round(b * 255)))
    return out


class SweepLossPlot(MultiLossPlot):
    """Every trial's train loss in its group's colour; the highlighted one in full."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.groups: dict[int, int] = {}
        """Trial → index of its value of the first varied field."""
        self.group_count = 1
        self.limit_to: frozenset[int] | None = None
        """The trials to draw besides the highlighted one (None: all, up to MAX_OTHER_CURVES)."""
        self.waiting = "waiting for the first trial's epochs…"

    def add_trial(self, key: int, label: str, group: int) -> None:
        self.groups[key] = group
        self.group_count = max(self.group_count, group + 1)
        self.runs[key] = RunCurves(label, SeriesHistory(TRIAL_BUCKETS), SeriesHistory(TRIAL_BUCKETS))
        if self.selected is None:
            self.select(key)

    def group_color(self, group: int, palette: Palette, strength: float = 1.0) -> PlotColor:
        base = group_colors(max(self.group_count, group + 1), palette)[group]
        if strength < 1.0 and isinstance(base, tuple) and palette.background is not None:
            return blend(palette.background, base, strength)
        return base

    def set_limit(self, keys: frozenset[int] | None) -> None:
        if keys != self.limit_to:
            self.limit_to = keys
            self.invalidate()

    def _others(self) -> list[int]:
        keys = [k for k in super()._others() if self.limit_to is None or k in self.limit_to]
        return keys[:MAX_OTHER_CURVES]

    def draw(self, plt: Plot, width: int, height: int, palette: Palette) -> None:
        own = palette
        if palette.colored and self.selected is not None:
            color = self.group_color(self.groups.get(self.selected, 0), palette)
            test = palette.test if palette.test != color else palette.train
            own = replace(palette, train=color, test=test)
        self._drawn = {}
        LossPlot.draw(self, plt, width, height, own)  # the highlighted pair; `series` keeps the others
        curves = self.runs.get(self.selected) if self.selected is not None else None
        if curves is not None and self.selected is not None:
            head = "loss" + (" (log)" if self.log_y else "") + (" · smoothed" if self.smooth else "")
            plt.title(head + " · " + _cut(f"#{self.selected + 1} {curves.label}", width - len(head) - 14) + " in full")
        if self._limits is None:
            return
        drawn = len(self._layers)
        for key in self._others():
            xy = self._drawn.get(f"run {key}")
            if xy is None:
                continue
            group = self.groups.get(key, 0)
            if palette.no_color:
                self.points(plt, *xy, palette.train, NO_COLOR_MARKERS[group % len(NO_COLOR_MARKERS)])
            else:
                self.line(plt, *xy, self.group_color(group, palette, OTHER_STRENGTH))
        # the others under the highlighted trial (PlotPanel rasterises its layers in order)
        self._layers[:] = self._layers[drawn:] + self._layers[:drawn]


class GroupLegend(Static):
    """One line: which colour (or, under NO_COLOR, which marker) is which value."""

    DEFAULT_CSS = """
    GroupLegend {
        height: 1;
        width: 1fr;
    }
    """

    def __init__(self, field: str, values: Sequence[str], *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.field = field
        self.values = tuple(values)

    def show_for(self, plot: SweepLossPlot) -> None:
        """Draw the legend in the plot's own colours (called again when the theme changes)."""
        palette = plot.palette
        text = Text(f"{self.field}: ", style=Style(dim=True))
        for i, value in enumerate(self.values):
            if palette.no_color:
                text.append(NO_COLOR_MARKERS[i % len(NO_COLOR_MARKERS)] * 2 + " ")
            else:
                color = plot.group_color(i, palette)
                style = Style(color=Color(*color).rich_color) if isinstance(color, tuple) else Style()
                text.append("━━ ", style)
            text.append(value + "   ")
        self.update(text)


def _cut(text: str, room: int) -> str:
    """`text` in `room` columns, its end cut with "…" (the title must fit: plotext drops a
    title wider than its plot)."""
    room = max(room, 8)
    return text if len(text) <= room else text[: room - 1] + "…"
