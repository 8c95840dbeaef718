"""The GPU panel in a tiny App: the real absence of NVML here (one line saying why), readings from
a stand-in `pynvml`, errors from it mid-run (shown, the app lives on, then recovers), and no
repaint while the readings do not change.

The monitor samples in a thread: effects are waited for by polling with short sleeps.
"""

from __future__ import annotations

import asyncio
import importlib
import time
from collections.abc import Callable
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.widget import Widget

from nntui.engine.gpu import MISSING, NOT_INSTALLED, UNAVAILABLE_PREFIX
from nntui.ui.widgets.gpu_panel import WAITING, GpuPanel

pytestmark = pytest.mark.timeout(60)

DEADLINE = 15.0
GiB = 2**30


async def wait_for(predicate: Callable[[], object], what: str, timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for: {what}")
        await asyncio.sleep(0.02)


def painted(widget: Widget) -> str:
    """What the widget paints, line by line (its own render_line output)."""
    return "\n".join("".join(seg.text for seg in widget.render_line(y)) for y in range(widget.size.height))


class NVMLError(Exception):
    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.value = value

    def __str__(self) -> str:
        return {3: "Not Supported", 15: "GPU is lost"}.get(self.value, f"NVML Error with code {self.value}")


class NVMLError_NotSupported(NVMLError):
    def __init__(self) -> None:
        super().__init__(3)


def stand_in() -> Any:
    """A `pynvml` stand-in: one GPU whose readings are in `state`; `state.failing` makes every reading raise."""
    state = SimpleNamespace(util=37, failing=False, no_temp=False, inits=0)
    nvml: Any = ModuleType("pynvml")

    def reading(value: Callable[[], Any]) -> Callable[[object], Any]:
        def call(handle: object) -> Any:
            if state.failing:
                raise NVMLError(15)
            return value()

        return call

    def temperature(handle: object, sensor: int) -> int:
        if state.failing:
            raise NVMLError(15)
        if state.no_temp:
            raise NVMLError_NotSupported()
        return 61

    def init() -> None:
        state.inits += 1

    nvml.state = state
    nvml.NVMLError = NVMLError
    nvml.NVMLError_NotSupported = NVMLError_NotSupported
    nvml.NVML_TEMPERATURE_GPU = 0
    nvml.nvmlInit = init
    nvml.nvmlShutdown = lambda: None
    nvml.nvmlDeviceGetHandleByIndex = lambda index: ("handle", index)
    nvml.nvmlDeviceGetName = lambda handle: b"NVIDIA [fake] H100"  # old bindings return bytes
    nvml.nvmlDeviceGetUtilizationRates = reading(lambda: SimpleNamespace(gpu=state.util, memory=5))
    nvml.nvmlDeviceGetMemoryInfo = reading(lambda: SimpleNamespace(total=80 * GiB, used=3 * GiB, free=77 * GiB))
    nvml.nvmlDeviceGetTemperature = temperature
    nvml.nvmlDeviceGetPowerUsage = reading(lambda: 312_400)
    nvml.nvmlDeviceGetEnforcedPowerLimit = reading(lambda: 700_000)
    return nvml


class Harness(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.panel = GpuPanel(refresh_every=0.05)

    def compose(self) -> ComposeResult:
        yield self.panel


async def test_without_nvml_the_panel_says_why_in_one_line() -> None:
    try:
        importlib.import_module("pynvml")
    except ImportError:
        expected = NOT_INSTALLED
    else:  # installed but no driver on this machine
        expected = UNAVAILABLE_PREFIX
    app = Harness()
    async with app.run_test(size=(100, 12)) as pilot:
        panel = app.panel
        panel.start_monitor(0)
        await wait_for(lambda: panel.text.startswith("GPU panel: ") and panel.text != WAITING, "the reason")
        assert panel.text.startswith(expected) and "\n" not in panel.text
        monitor = panel.monitor
        assert monitor is not None
        await wait_for(lambda: not monitor.running, "no sampling thread")
        await pilot.pause()
        assert " ".join(painted(panel).split()) == panel.text, "shown as typed (no markup eaten: 'nntui[gpu]')"
        assert panel._timer is None, "nothing more to come: the timer stopped"
        assert app.is_running


async def test_readings_from_a_stand_in_nvml_then_an_error_then_recovery() -> None:
    nvml = stand_in()
    app = Harness()
    async with app.run_test(size=(100, 12)) as pilot:
        panel = app.panel
        panel.start_monitor(0, interval=0.02, nvml=nvml)
        await wait_for(lambda: "util" in panel.text, "the first reading")
        panel.set_peak_memory(3 * GiB // 2)
        await wait_for(lambda: "torch peak" in panel.text, "the torch peak")
        await pilot.pause()
        shown = painted(panel)
        for expected in (
            "0: NVIDIA [fake] H100",
            "37 %",
            "3.0 GiB / 80.0 GiB",
            "61 °C",
            "312 W / 700 W",
            "torch peak  1.5 GiB",
        ):
            assert expected in shown, f"{expected!r} not in\n{shown}"

        nvml.state.failing = True
        # a sample taken while the flag flipped may fail only in part: wait for a wholly failed one
        await wait_for(lambda: "NVML error: GPU is lost" in panel.text and "37 %" not in panel.text, "the error line")
        await pilot.pause()
        shown = painted(panel)
        assert "NVML error: GPU is lost" in shown
        assert "37 %" not in shown and MISSING in shown
        assert app.is_running and panel.monitor is not None and panel.monitor.running

        nvml.state.no_temp = True
        nvml.state.util = 88
        nvml.state.failing = False  # last: the first good sample sees both changes
        await wait_for(lambda: "88 %" in panel.text and "error" not in panel.text, "recovery")
        temp_row = next(line for line in panel.text.splitlines() if line.startswith("temp"))
        assert temp_row.split()[-1] == MISSING, "NotSupported shows a dash, not an error"
        assert nvml.state.inits == 1

        monitor = panel.monitor
        panel.stop_monitor()
        assert not monitor.running
        panel.stop_monitor()  # idempotent
    assert app.return_value is None


async def test_unchanged_readings_do_not_repaint_and_unmount_stops_the_thread() -> None:
    nvml = stand_in()
    app = Harness()
    async with app.run_test(size=(100, 12)):
        panel = app.panel
        panel.start_monitor(0, interval=0.01, nvml=nvml)
        await wait_for(lambda: "util" in panel.text, "the first reading")
        monitor = panel.monitor
        assert monitor is not None
        repaints = panel.repaints
        taken = monitor.samples_taken
        await wait_for(lambda: monitor.samples_taken >= taken + 10, "more (identical) samples")
        for _ in range(5):
            panel._tick()  # what the timer does
        assert panel.repaints == repaints, "identical readings: nothing sent to the terminal"
        panel.set_peak_memory(None)
        assert panel.repaints == repaints
        nvml.state.util = 12
        await wait_for(lambda: "12 %" in panel.text, "the changed reading")
        assert panel.repaints == repaints + 1
    assert not monitor.running, "unmounting the panel stopped and joined the sampling thread"


async def test_start_monitor_again_replaces_the_running_one() -> None:
    first, second = stand_in(), stand_in()
    second.state.util = 5
    app = Harness()
    async with app.run_test(size=(100, 12)):
        panel = app.panel
        panel.start_monitor(0, interval=0.02, nvml=first)
        await wait_for(lambda: "37 %" in panel.text, "the first monitor's reading")
        old = panel.monitor
        assert old is not None
        panel.start_monitor(0, interval=0.02, nvml=second)
        assert not old.running
        await wait_for(lambda: "5 %" in panel.text, "the second monitor's reading")
