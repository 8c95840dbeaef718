"""How numbers read to a person: one set of formatters for the console and the dashboard."""

from __future__ import annotations

import math

MISSING = "—"
"""Shown for a value that does not exist (yet): NaN, inf, an unknown ETA."""


def fmt_loss(v: float, digits: int = 4) -> str:
    """A loss to `digits` significant figures (the console shows 6, the status line 4)."""
    return MISSING if not math.isfinite(v) else f"{v:.{digits}g}"


def fmt_duration(s: float) -> str:
    """1.8s, 42s, 3m05s, 2h07m: short enough for a status line."""
    if not math.isfinite(s) or s < 0:
        return MISSING
    if s < 60:
        return f"{s:.1f}s" if s < 10 else f"{s:.0f}s"
    if s < 3600:
        return f"{int(s // 60)}m{int(s % 60):02d}s"
    return f"{int(s // 3600)}h{int(s % 3600 // 60):02d}m"


def nice_interval(n: int) -> int:
    """Round a print interval down to 1, 2 or 5 × 10^k (5000 epochs → every 250 → 200)."""
    if n <= 1:
        return 1
    mag = int(10 ** (len(str(n)) - 1))
    for step in (5, 2, 1):
        if n >= step * mag:
            return int(step * mag)
    return mag
