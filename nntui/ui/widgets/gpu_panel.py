"""The GPU panel: utilization, memory, temperature, power of the run's GPU, and torch's peak memory.

Mounted by the app next to the health table when the run's device is cuda. The readings come
from a `GpuMonitor` thread (NVML, once a second); this widget only reads the monitor's latest
sample on its own 1 s timer and repaints when the text it would show changed, so an idle
dashboard sends nothing to the terminal. Without pynvml or a driver it says why in one line.
"""

from __future__ import annotations

from types import ModuleType

from rich.text import Text
from textual.timer import Timer
from textual.widgets import Static

from nntui.engine.gpu import GpuMonitor, format_bytes, format_sample, one_line

WAITING = "GPU panel: waiting for the first reading"

_View = tuple[tuple[tuple[str, str], ...], str, str]
"""(rows, a one-line message, an error line): what the panel shows; compared to skip repaints."""


class GpuPanel(Static):
    """Rows of (label, value) from the monitor; one line when NVML is unavailable or a reading failed."""

    can_focus = False

    DEFAULT_CSS = """
    GpuPanel {
        height: auto;
        width: 1fr;
        min-width: 24;
        padding: 0 1;
    }
    """

    def __init__(self, *, refresh_every: float = 1.0, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("", id=id, classes=classes, markup=False)
        self.refresh_every = refresh_every
        self.monitor: GpuMonitor | None = None
        self.peak_memory: int | None = None
        """The torch allocator's peak, in bytes (measured by the trainer, passed in by the app)."""
        self._timer: Timer | None = None
        self._shown: _View | None = None
        self.text = ""
        """The plain text shown (what the tests read)."""
        self.repaints = 0
        """How many times the text changed (an idle panel must not repaint)."""

    def start_monitor(self, device_index: int, *, interval: float = 1.0, nvml: ModuleType | None = None) -> None:
        """Start sampling GPU `device_index` (a running monitor is stopped first). `nvml`: a stand-in (tests)."""
        self.stop_monitor()
        self.monitor = GpuMonitor(device_index, interval=interval, nvml=nvml)
        self.monitor.start()
        self._timer = self.set_interval(self.refresh_every, self._tick)
        self._tick()

    def stop_monitor(self) -> None:
        """Stop the sampling thread (joined) and the timer; the last reading stays in view. Idempotent."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if self.monitor is not None:
            self.monitor.stop()

    def set_peak_memory(self, peak: int | None) -> None:
        """The torch allocator's peak (bytes); shown with the next reading, or now if one is shown."""
        self.peak_memory = peak
        self._tick()

    def on_unmount(self) -> None:
        self.stop_monitor()

    def _tick(self) -> None:
        """Repaint only if the text would change: NVML readings often format the same second to second."""
        monitor = self.monitor
        if monitor is None:
            return
        reason = monitor.unavailable
        sample = monitor.latest
        if reason is not None:
            if self._timer is not None:  # nothing more will come from this monitor
                self._timer.stop()
                self._timer = None
            view: _View = ((), reason, "")
        elif sample is None:
            peak = () if self.peak_memory is None else (("torch peak", format_bytes(self.peak_memory)),)
            view = (peak, WAITING, "")
        else:
            view = (tuple(format_sample(sample, self.peak_memory)), "", one_line(sample.error))
        if view == self._shown:
            return
        self._shown = view
        text = _panel_text(view)
        self.text = text.plain
        self.repaints += 1
        self.update(text)


def _panel_text(view: _View) -> Text:
    """A one-line message (italic), the rows with labels aligned, and a failed reading's error (bold)."""
    rows, message, error = view
    lines: list[Text] = []
    if message:
        lines.append(Text(message, style="italic"))
    width = max((len(label) for label, _ in rows), default=0)
    for label, value in rows:
        lines.append(Text.assemble((label.ljust(width), "dim"), "  ", value))
    if error:
        lines.append(Text(error, style="bold"))
    text = Text("\n").join(lines)
    text.no_wrap = bool(rows)  # rows are short; a lone message may wrap in a narrow panel
    text.overflow = "ellipsis"
    return text
