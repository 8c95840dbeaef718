"""GpuMonitor and the GPU panel's formatting, without a GPU: the real absence of NVML on this
machine, and a stand-in `pynvml` module (same names and units as nvidia-ml-py: power in mW,
memory in bytes, NVMLError subclasses per error code).

Effects of the sampling thread are waited for by polling with a generous deadline.
"""

from __future__ import annotations

import importlib
import threading
import time
from collections.abc import Callable
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from nntui.engine.gpu import (
    MISSING,
    NOT_INSTALLED,
    UNAVAILABLE_PREFIX,
    GpuMonitor,
    GpuSample,
    format_bytes,
    format_sample,
)

pytestmark = pytest.mark.timeout(60)

DEADLINE = 10.0
GiB = 2**30
MiB = 2**20


def until(predicate: Callable[[], object], what: str, timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


# -- a stand-in for nvidia-ml-py's pynvml ------------------------------------------------------


class NVMLError(Exception):
    """Like pynvml's: carries the NVML return code in `value`."""

    def __init__(self, value: int) -> None:
        super().__init__(value)
        self.value = value

    def __str__(self) -> str:
        return {3: "Not Supported", 9: "Driver Not Loaded", 12: "NVML Shared Library Not Found", 15: "GPU is lost"}.get(
            self.value, f"NVML Error with code {self.value}"
        )


class NVMLError_NotSupported(NVMLError):
    def __init__(self) -> None:
        super().__init__(3)


class NVMLError_GpuIsLost(NVMLError):
    def __init__(self) -> None:
        super().__init__(15)


class NVMLError_LibraryNotFound(NVMLError):
    def __init__(self) -> None:
        super().__init__(12)


class FakeNvml(ModuleType):
    """A module object with pynvml's names. Counts calls; `unsupported` and `failing` name calls that raise."""

    NVML_TEMPERATURE_GPU = 0
    NVMLError = NVMLError
    NVMLError_NotSupported = NVMLError_NotSupported
    NVMLError_GpuIsLost = NVMLError_GpuIsLost
    NVMLError_LibraryNotFound = NVMLError_LibraryNotFound

    def __init__(self, *, init_error: BaseException | None = None, devices: int = 1, with_limit: bool = True) -> None:
        super().__init__("pynvml")
        if with_limit:  # very old bindings have no enforced-limit call
            self.nvmlDeviceGetEnforcedPowerLimit = self._enforced_power_limit
        self.init_error = init_error
        self.devices = devices
        self.calls: dict[str, int] = {}
        self.unsupported: set[str] = set()
        self.failing: set[str] = set()
        self.handles_given: list[object] = []
        self.handles_used: set[int] = set()
        self.initialised = 0
        self.util = 37
        self.used = 812 * MiB
        self.total = 8 * GiB
        self.temp = 54
        self.power_mw = 123_456
        self.limit_mw = 250_000
        self.lock = threading.Lock()

    def _call(self, name: str, handle: object | None = None) -> None:
        with self.lock:
            self.calls[name] = self.calls.get(name, 0) + 1
        if handle is not None:
            assert self.initialised == 1, f"{name} called while NVML is not initialised"
            self.handles_used.add(id(handle))
        if name in self.unsupported:
            raise NVMLError_NotSupported()
        if name in self.failing:
            raise NVMLError_GpuIsLost()

    def count(self, name: str) -> int:
        with self.lock:
            return self.calls.get(name, 0)

    def nvmlInit(self) -> None:
        self._call("nvmlInit")
        if self.init_error is not None:
            raise self.init_error
        self.initialised += 1

    def nvmlShutdown(self) -> None:
        self._call("nvmlShutdown")
        self.initialised -= 1

    def nvmlDeviceGetHandleByIndex(self, index: int) -> object:
        self._call("nvmlDeviceGetHandleByIndex")
        if not 0 <= index < self.devices:
            raise NVMLError(2)  # Invalid Argument
        handle = object()
        self.handles_given.append(handle)
        return handle

    def nvmlDeviceGetName(self, handle: object) -> str:
        self._call("nvmlDeviceGetName", handle)
        return "NVIDIA Stand-in [test] GPU"

    def nvmlDeviceGetUtilizationRates(self, handle: object) -> Any:
        self._call("nvmlDeviceGetUtilizationRates", handle)
        return SimpleNamespace(gpu=self.util, memory=12)

    def nvmlDeviceGetMemoryInfo(self, handle: object) -> Any:
        self._call("nvmlDeviceGetMemoryInfo", handle)
        return SimpleNamespace(total=self.total, free=self.total - self.used, used=self.used)

    def nvmlDeviceGetTemperature(self, handle: object, sensor: int) -> int:
        assert sensor == self.NVML_TEMPERATURE_GPU
        self._call("nvmlDeviceGetTemperature", handle)
        return self.temp

    def nvmlDeviceGetPowerUsage(self, handle: object) -> int:
        self._call("nvmlDeviceGetPowerUsage", handle)
        return self.power_mw

    def _enforced_power_limit(self, handle: object) -> int:
        self._call("nvmlDeviceGetEnforcedPowerLimit", handle)
        return self.limit_mw


def monitor(fake: FakeNvml, **kwargs: Any) -> GpuMonitor:
    kwargs.setdefault("interval", 0.01)
    return GpuMonitor(0, nvml=fake, **kwargs)


def values(rows: list[tuple[str, str]]) -> dict[str, str]:
    return dict(rows)


# -- the real absence --------------------------------------------------------------------------


def test_without_nvml_on_this_machine_the_monitor_says_why_in_one_line_and_leaves_no_thread() -> None:
    try:
        importlib.import_module("pynvml")
    except ImportError:
        expected = NOT_INSTALLED
    else:  # nvidia-ml-py installed but no driver here: nvmlInit fails (LibraryNotFound)
        expected = UNAVAILABLE_PREFIX
    before = set(threading.enumerate())
    m = GpuMonitor(0, interval=0.05)
    m.start()
    assert m.wait_ready(DEADLINE)
    until(lambda: not m.running, "the sampling thread to end")
    m.stop()
    assert m.unavailable is not None and m.unavailable.startswith(expected), m.unavailable
    assert "\n" not in m.unavailable
    if expected == NOT_INSTALLED:
        assert m.unavailable == "GPU panel: nvidia-ml-py is not installed (pip install 'nntui[gpu]')"
    assert m.latest is None
    assert set(threading.enumerate()) <= before
    m.stop()  # idempotent


def test_nvml_init_failing_is_one_line_no_thread_and_no_shutdown() -> None:
    fake = FakeNvml(init_error=NVMLError_LibraryNotFound())
    m = monitor(fake)
    m.start()
    assert m.wait_ready(DEADLINE)
    until(lambda: not m.running, "the sampling thread to end")
    assert m.unavailable == "GPU panel: NVML unavailable: NVML Shared Library Not Found"
    assert fake.count("nvmlInit") == 1 and fake.count("nvmlShutdown") == 0
    assert fake.count("nvmlDeviceGetHandleByIndex") == 0
    m.stop()


def test_a_multi_line_init_error_becomes_one_line() -> None:
    fake = FakeNvml(init_error=OSError("libnvidia-ml.so.1: cannot open shared object file\n  (search path: x)"))
    m = monitor(fake)
    m.start()
    until(lambda: m.unavailable is not None, "unavailable")
    assert m.unavailable == (
        "GPU panel: NVML unavailable: libnvidia-ml.so.1: cannot open shared object file (search path: x)"
    )
    m.stop()


def test_a_gpu_index_that_does_not_exist_is_unavailable_and_nvml_is_shut_down() -> None:
    fake = FakeNvml(devices=1)
    m = GpuMonitor(3, interval=0.01, nvml=fake)
    m.start()
    until(lambda: not m.running and m.unavailable is not None, "unavailable")
    assert m.unavailable is not None and m.unavailable.startswith(UNAVAILABLE_PREFIX + "GPU 3: ")
    assert fake.count("nvmlShutdown") == 1 and fake.initialised == 0


# -- sampling with a stand-in ------------------------------------------------------------------


def test_samples_carry_every_reading_in_human_units() -> None:
    fake = FakeNvml()
    seen: list[GpuSample] = []
    m = monitor(fake, on_sample=seen.append)
    m.start()
    until(lambda: m.latest is not None, "a sample")
    m.stop()
    s = m.latest
    assert s is not None and seen and seen[0] == s
    assert s == GpuSample(
        index=0,
        name="NVIDIA Stand-in [test] GPU",
        util_pct=37.0,
        mem_used=812 * MiB,
        mem_total=8 * GiB,
        temp_c=54.0,
        power_w=123.456,
        power_limit_w=250.0,
        error="",
    )
    assert m.unavailable is None
    assert values(format_sample(s, peak_bytes=3 * GiB // 2)) == {
        "gpu": "0: NVIDIA Stand-in [test] GPU",
        "util": "37 %",
        "memory": "812 MiB / 8.0 GiB",
        "temp": "54 °C",
        "power": "123 W / 250 W",
        "torch peak": "1.5 GiB",
    }


def test_init_once_handle_cached_across_many_samples_and_stop_joins_and_shuts_down() -> None:
    fake = FakeNvml()
    m = monitor(fake, interval=0.001)
    m.start()
    m.start()  # a second start while running is a no-op
    until(lambda: m.samples_taken >= 25, "25 samples")
    thread = m._thread
    m.stop()
    assert thread is not None and not thread.is_alive() and not m.running
    assert fake.count("nvmlInit") == 1
    assert fake.count("nvmlDeviceGetHandleByIndex") == 1 and len(fake.handles_given) == 1
    assert fake.handles_used == {id(fake.handles_given[0])}, "every call used the one cached handle"
    assert fake.count("nvmlDeviceGetName") == 1, "the name is read once"
    assert fake.count("nvmlDeviceGetUtilizationRates") >= 25
    assert fake.count("nvmlShutdown") == 1 and fake.initialised == 0
    taken = m.samples_taken
    m.stop()  # idempotent
    assert m.samples_taken == taken, "no sampling after stop()"
    assert fake.count("nvmlShutdown") == 1


def test_stop_returns_promptly_with_a_long_interval() -> None:
    """The thread waits on an Event: stop() must not sit out the interval (a generous bound, not a timing test)."""
    fake = FakeNvml()
    m = monitor(fake, interval=300.0)
    m.start()
    until(lambda: m.latest is not None, "the first sample")
    m.stop(timeout=30.0)
    assert not m.running
    assert fake.count("nvmlShutdown") == 1


def test_not_supported_fields_show_a_dash_and_are_not_errors() -> None:
    fake = FakeNvml()
    fake.unsupported = {"nvmlDeviceGetUtilizationRates", "nvmlDeviceGetPowerUsage", "nvmlDeviceGetTemperature"}
    m = monitor(fake)
    m.start()
    until(lambda: m.latest is not None, "a sample")
    m.stop()
    s = m.latest
    assert s is not None
    assert s.util_pct is None and s.temp_c is None and s.power_w is None
    assert s.mem_used == 812 * MiB and s.error == ""
    rows = values(format_sample(s))
    assert rows["util"] == MISSING and rows["temp"] == MISSING and rows["power"] == MISSING
    assert rows["memory"] == "812 MiB / 8.0 GiB"
    assert "torch peak" not in rows


def test_not_supported_by_code_alone_and_a_missing_limit() -> None:
    """A binding without the NotSupported subclass (code 3 on NVMLError), and one without any limit call."""
    fake = FakeNvml(with_limit=False)
    fake.NVMLError_NotSupported = None  # type: ignore[assignment]

    def not_supported(handle: object) -> Any:
        raise NVMLError(3)

    fake.nvmlDeviceGetMemoryInfo = not_supported  # type: ignore[method-assign]
    m = monitor(fake)
    m.start()
    until(lambda: m.latest is not None, "a sample")
    m.stop()
    s = m.latest
    assert s is not None and s.error == ""
    assert s.mem_used is None and s.mem_total is None and s.power_limit_w is None
    rows = values(format_sample(s))
    assert rows["memory"] == MISSING and rows["power"] == "123 W"


def test_an_error_mid_run_is_recorded_sampling_goes_on_and_recovers() -> None:
    fake = FakeNvml()
    m = monitor(fake)
    m.start()
    until(lambda: m.latest is not None and m.latest.error == "", "a good sample")
    fake.failing = {"nvmlDeviceGetUtilizationRates", "nvmlDeviceGetMemoryInfo"}
    # a sample taken while the set was replaced may fail only in part: wait for both failures
    until(
        lambda: m.latest is not None and m.latest.util_pct is None and m.latest.mem_used is None,
        "a sample with the error",
    )
    bad = m.latest
    assert bad is not None
    assert bad.error == "NVML error: GPU is lost", "the same error from two calls is named once"
    assert bad.util_pct is None and bad.mem_used is None and bad.temp_c == 54.0
    n = m.samples_taken
    until(lambda: m.samples_taken > n + 3, "sampling to go on")
    assert m.running
    fake.failing = set()
    fake.util = 99
    until(lambda: m.latest is not None and m.latest.error == "" and m.latest.util_pct == 99.0, "recovery")
    m.stop()
    assert fake.count("nvmlInit") == 1 and fake.count("nvmlDeviceGetHandleByIndex") == 1


def test_anything_odd_from_the_binding_or_the_callback_does_not_end_sampling() -> None:
    fake = FakeNvml()
    calls = 0

    def callback(_s: GpuSample) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("a buggy callback")

    m = monitor(fake, on_sample=callback)
    fake.nvmlDeviceGetUtilizationRates = lambda handle: 42  # type: ignore[method-assign]  # no .gpu
    m.start()
    until(lambda: m.latest is not None, "a sample")
    s = m.latest
    assert s is not None and s.error.startswith("NVML error: "), s
    assert "\n" not in s.error
    until(lambda: calls >= 3, "the callback called again")
    assert m.running
    m.stop()


def test_restart_after_stop_initialises_again() -> None:
    fake = FakeNvml()
    m = monitor(fake)
    m.start()
    until(lambda: m.latest is not None, "a sample")
    m.stop()
    m.start()
    until(lambda: fake.count("nvmlInit") == 2 and m.samples_taken >= 3, "samples from the second start")
    m.stop()
    assert fake.count("nvmlShutdown") == 2 and fake.initialised == 0


# -- pure formatting ---------------------------------------------------------------------------


def test_format_bytes() -> None:
    assert format_bytes(None) == MISSING
    assert format_bytes(0) == "0 MiB"
    assert format_bytes(512 * MiB) == "512 MiB"
    assert format_bytes(1023 * MiB) == "1023 MiB"
    assert format_bytes(GiB) == "1.0 GiB"
    assert format_bytes(80 * GiB) == "80.0 GiB"


def test_format_sample_everything_unsupported() -> None:
    rows = format_sample(GpuSample(index=1))
    assert [label for label, _ in rows] == ["gpu", "util", "memory", "temp", "power"]
    assert rows[0] == ("gpu", f"1: {MISSING}")
    assert all(value == MISSING for _, value in rows[1:])


def test_format_sample_power_without_a_limit_and_the_peak_alone() -> None:
    rows = values(format_sample(GpuSample(index=0, power_w=61.7), peak_bytes=200 * MiB))
    assert rows["power"] == "62 W"
    assert rows["torch peak"] == "200 MiB"


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError):
        GpuMonitor(0, interval=0)
