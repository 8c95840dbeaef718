"""The status line and progress bar: state, epoch of total, loss, best, device; steps/s and ETA by the bar.

Updated on the app's timer; the text widget is only touched when its text changed, so an
idle or paused dashboard costs nothing to keep on screen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import ProgressBar, Static

from nntui.engine.formats import fmt_duration, fmt_loss


@dataclass
class RunStatus:
    """What the status line shows; the app keeps one and updates it from the mailbox."""

    state: str = "idle"
    """idle, starting, running, paused, diverged, done, stopped, failed."""
    epoch: int = 0
    total: int = 0
    start_epoch: int = 0
    loss: float = math.nan
    best: float = math.nan
    test_loss: float = math.nan
    steps_per_s: float = 0.0
    elapsed_s: float = 0.0
    device: str = ""
    lr: float = math.nan
    metrics: dict[str, float] = field(default_factory=dict)
    note: str = ""
    """A short extra, e.g. "changes apply on reset"."""
    pace: str = ""
    """The pace asked for ("auto", "200/s", "max"); empty when the run is not paced."""
    pace_cap: float | None = None
    """The cap in force, epochs/s (auto resolved); None: full speed."""
    replay: str = ""
    """While scrubbing: the cursor's epoch and loss (replaces the live numbers)."""

    @property
    def epochs_per_s(self) -> float:
        done = self.epoch - self.start_epoch
        return done / self.elapsed_s if self.elapsed_s > 0 and done > 0 else 0.0

    @property
    def eta_s(self) -> float:
        rate = self.epochs_per_s
        return (self.total - self.epoch) / rate if rate > 0 else math.nan


def status_text(s: RunStatus) -> str:
    """The first line, most important first (a narrow terminal cuts the end); the rate and
    the ETA sit beside the progress bar (`rate_text`), so 80 columns show everything that matters."""
    if s.replay:
        return " │ ".join(("REPLAY", s.replay, "←/→ Home/End scrub, space/n/r to go on"))
    parts = [s.state.upper()]
    if s.total:
        parts.append(f"epoch {s.epoch:,}/{s.total:,}")
    parts.append(f"loss {fmt_loss(s.loss)}")
    parts.append(f"best {fmt_loss(s.best)}")
    if s.pace and s.state in ("running", "paused", "starting"):
        parts.append(f"pace {pace_label(s)}")
    if s.device:
        parts.append(s.device)
    if math.isfinite(s.test_loss):
        parts.append(f"test {fmt_loss(s.test_loss)}")
    if s.note:
        parts.append(s.note)
    if math.isfinite(s.lr):
        parts.append(f"lr {s.lr:g}")
    for key, value in s.metrics.items():
        if math.isfinite(value):
            shown = f"{value:.3f}" if abs(value) < 1e3 else f"{value:.3g}"  # r2 of a diverged run: -1.7e+11
            parts.append(f"{key.replace('_', ' ')} {shown}")
    return " │ ".join(parts)


def pace_label(s: RunStatus) -> str:
    """auto with the rate it resolved to, or "auto (max)" when that cap is above what the run
    can do anyway (a long run: auto never slows it)."""
    if s.pace != "auto" or s.pace_cap is None:
        return s.pace
    if s.state == "running" and s.epochs_per_s > 0 and s.pace_cap > 1.5 * s.epochs_per_s:
        return "auto (max)"
    return f"auto {s.pace_cap:,.0f}/s"


def rate_text(s: RunStatus) -> str:
    """Steps/s and the ETA, beside the progress bar (as tqdm puts them)."""
    parts = []
    # paused or stepping, the last chunk's rate means nothing (one epoch, then a wait)
    if s.state == "running" or (s.state in ("done", "stopped") and s.steps_per_s):
        parts.append(f"{s.steps_per_s:,.0f} steps/s")
    if s.state == "running":
        parts.append(f"ETA {fmt_duration(s.eta_s)}")
    return "  ".join(parts)


PROGRESS_STEPS = 1000
"""The bar moves in tenths of a percent: finer would redraw it for changes nobody can see."""


class QuietProgressBar(ProgressBar):
    """Textual's ProgressBar without its once-a-second ETA timer: that timer re-renders the
    bar even with the ETA hidden (measured: 352 bytes a second to a paused dashboard's
    terminal). The status line shows its own ETA and updates the bar when it moved."""

    def on_mount(self, event: events.Mount) -> None:  # type: ignore[override]
        event.prevent_default()  # ProgressBar.on_mount would start the 1 Hz timer
        self.update()


class StatusLine(Vertical):
    """A text line (plain, never markup: "[paused]" must not vanish) over a progress bar."""

    DEFAULT_CSS = """
    StatusLine {
        height: 2;
        width: 1fr;
    }
    StatusLine > #status-text {
        height: 1;
        width: 1fr;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    StatusLine > Horizontal {
        height: 1;
    }
    StatusLine ProgressBar {
        width: 1fr;
    }
    StatusLine #status-rate {
        width: 30;  /* "12,345 steps/s  ETA 1h02m" */
        height: 1;
        text-align: right;
        text-wrap: nowrap;
    }
    StatusLine Bar {
        width: 1fr;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.text = ""
        self.rate = ""
        self._progress = -1
        """The bar's position, in PROGRESS_STEPS."""

    def compose(self) -> ComposeResult:
        # kept as attributes: no query per tick (and none that fails while the app shuts down)
        self._text_widget = Static("", id="status-text", markup=False)
        self._bar = QuietProgressBar(total=PROGRESS_STEPS, show_eta=False, id="progress")
        yield self._text_widget
        with Horizontal():
            # a total from the start: an indeterminate bar animates at 15 Hz (CPU and SSH bytes)
            yield self._bar
            self._rate_widget = Static("", id="status-rate", markup=False)
            yield self._rate_widget

    def show(self, status: RunStatus) -> bool:
        """Update what changed; True if anything did."""
        changed = False
        text = status_text(status)
        if text != self.text:
            self.text = text
            # the line never changes size: skip the layout pass (measured: a reflow of the whole
            # screen on every tick, 8 ms each, and every widget repainted)
            self._text_widget.update(text, layout=False)
            changed = True
        rate = rate_text(status)
        if rate != self.rate:
            self.rate = rate
            self._rate_widget.update(rate, layout=False)  # a fixed width: no reflow either
            changed = True
        done = status.epoch / status.total if status.total > 0 else 0.0
        progress = round(min(1.0, max(0.0, done)) * PROGRESS_STEPS)
        if progress != self._progress:
            self._progress = progress
            self._bar.update(progress=progress)
            changed = True
        return changed
