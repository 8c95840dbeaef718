"""Pace: how fast a dashboard run goes, so a person can watch it learn.

The lecture's run trains in well under a second; at full speed its fit plot would show the
first and the last curve and nothing between. A pace caps the run at so many epochs per
second. `auto` (the default) gives a short run about AUTO_SECONDS of animation and leaves
a long one at full speed; `max` is no cap at all. Headless runs are never paced.
"""

from __future__ import annotations

from typing import Literal

from nntui.engine.errors import ConfigError

Pace = float | Literal["auto"] | None
"""Epochs per second, "auto", or None for max (no cap)."""
LEVELS = (5000.0, 1000.0, 200.0, 50.0, 10.0)
"""The steps of the +/- keys, fastest first (epochs per second)."""
AUTO_SECONDS = 12.0
"""auto: a run that would finish sooner than this at full speed is spread over this long
(about 10 s of animation: at the dashboard's 4 redraws a second, ~48 distinct fit frames)."""
FRAMES_PER_S = 10.0
"""A paced run takes a fit snapshot this often (the dashboard draws one every redraw)."""
MAX_PACE = 1e9


def parse_pace(text: str, field: str = "pace") -> Pace:
    """auto, max, or a number of epochs per second above 0."""
    t = text.strip().lower().removesuffix("/s")
    if t == "auto":
        return "auto"
    if t in ("max", "full", "off", "none"):
        return None
    try:
        value = float(t)
    except ValueError:
        raise ConfigError(field, text, "expected auto, max or epochs per second (e.g. 200)") from None
    if not 0 < value <= MAX_PACE:  # NaN fails this too
        raise ConfigError(field, text, "expected epochs per second above 0 (or auto, or max)")
    return value


def resolve(pace: Pace, epochs_to_go: int) -> float | None:
    """The cap in epochs per second for a run with `epochs_to_go` left (None: none).

    auto spreads the run over AUTO_SECONDS: for a run that needs longer than that at full
    speed the cap is above its speed, so it never binds and the run goes at full speed."""
    if pace == "auto":
        return max(epochs_to_go, 1) / AUTO_SECONDS
    return pace


def slower(pace: Pace, current: float | None) -> float:
    """The next level below `current` (the rate the run has now; None: unknown or max)."""
    if current is None:
        return LEVELS[0]
    for level in LEVELS:
        if level < current * 0.999:
            return level
    return LEVELS[-1]


def faster(pace: Pace, current: float | None) -> float | None:
    """The next level above `current`; past the fastest level, max (None)."""
    if current is None:
        return None
    for level in reversed(LEVELS):
        if level > current * 1.001:
            return level
    return None


def describe(pace: Pace, resolved: float | None = None) -> str:
    """What the status line says: "max", "auto 500/s", "200/s"."""
    if pace is None:
        return "max"
    if pace == "auto":
        return f"auto {resolved:,.0f}/s" if resolved is not None else "auto"
    return f"{pace:,.0f}/s" if pace >= 1 else f"{pace:g}/s"
