"""Plot colours taken from the current Textual theme (and none at all under NO_COLOR).

plotext draws with its own colours; feeding it the theme's variables keeps the plots in
step with the rest of the app when the user switches themes. Under NO_COLOR every colour
is "default" and the plots tell series apart by marker shape instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.color import Color

RGB = tuple[int, int, int]
PlotColor = RGB | str
"""What plotext takes: an (r, g, b) tuple, or "default" for the terminal's own colour."""

DEFAULT = "default"


@dataclass(frozen=True)
class Palette:
    train: PlotColor
    test: PlotColor
    prediction: PlotColor
    truth: PlotColor
    data: PlotColor
    marker: PlotColor
    baseline: PlotColor
    """The least-squares reference (fit curve and loss line)."""
    classes: tuple[PlotColor, ...]
    background: RGB | None
    """The plot's own background, to blend heatmaps into; None without colour."""
    no_color: bool

    @property
    def colored(self) -> bool:
        return not self.no_color


def _rgb(variables: dict[str, str], name: str, fallback: str) -> RGB:
    try:
        return Color.parse(variables.get(name) or fallback).rgb
    except Exception:
        return Color.parse(fallback).rgb


def palette_for(app: Any) -> Palette:
    """The palette for the app's current theme; plain "default" colours under NO_COLOR."""
    if getattr(app, "no_color", False):
        return Palette(DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, DEFAULT, (DEFAULT,) * 4, None, True)
    v: dict[str, str] = dict(getattr(app, "theme_variables", {}) or {})
    primary = _rgb(v, "text-primary", "#57A5E2")
    accent = _rgb(v, "text-accent", "#FFC473")
    success = _rgb(v, "text-success", "#8AD4A1")
    error = _rgb(v, "text-error", "#D17E92")
    muted = _rgb(v, "foreground-darken-3", "#A2A2A2")
    secondary = _rgb(v, "text-secondary", "#5684A5")
    surface = _rgb(v, "surface", "#1E1E1E")
    return Palette(
        train=primary,
        test=accent,
        prediction=primary,
        truth=success,
        data=muted,
        marker=error,
        baseline=secondary,
        classes=(primary, accent, success, error, secondary),
        background=surface,
        no_color=False,
    )


def blend(a: RGB, b: RGB, t: float) -> RGB:
    """a → b by t in [0, 1]."""
    t = min(1.0, max(0.0, t))
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )
