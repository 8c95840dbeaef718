"""GPU readings (utilization, memory, temperature, power) from NVML, for the dashboard's GPU panel.

NVML comes from nvidia-ml-py (module `pynvml`, the optional extra `nntui[gpu]`). It is imported
lazily and initialised once, inside the sampling thread: `nvmlInit` can take a while on a
machine without persistence mode, and re-initialising per sample stalls tens of ms, so the
thread keeps NVML open and the device handle cached until `stop()`. The UI never calls NVML: it
reads `latest` (one attribute read) on its own timer.

Nothing here raises into the caller: no pynvml, no driver, or an NVML error mid-run become
text (`unavailable`, `GpuSample.error`) and sampling carries on. No textual import here.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

MISSING = "—"
"""What a reading NVML does not support (MIG, older drivers) shows as."""

NOT_INSTALLED = "GPU panel: nvidia-ml-py is not installed (pip install 'nntui[gpu]')"
UNAVAILABLE_PREFIX = "GPU panel: NVML unavailable: "

_NOT_SUPPORTED_CODES = frozenset({3, 13})
"""NVML_ERROR_NOT_SUPPORTED and NVML_ERROR_FUNCTION_NOT_FOUND (an older driver lacks the call)."""

_POWER_LIMIT_CALLS = ("nvmlDeviceGetEnforcedPowerLimit", "nvmlDeviceGetPowerManagementLimit")
"""The enforced limit is what actually caps the card; very old pynvml only has the managed one."""


@dataclass(frozen=True)
class GpuSample:
    """One reading of one GPU. A None field is one NVML does not support (or that failed: see error)."""

    index: int
    name: str | None = None
    util_pct: float | None = None
    mem_used: int | None = None
    """Bytes."""
    mem_total: int | None = None
    """Bytes."""
    temp_c: float | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    error: str = ""
    """Empty, or one line: what went wrong in this sample (the next one tries again)."""


def one_line(text: str, limit: int = 200) -> str:
    """Error texts can carry newlines (chained ctypes/OS messages); the panel has room for one line."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _describe(exc: BaseException) -> str:
    text = one_line(str(exc))
    return text or type(exc).__name__


def format_bytes(n: int | None) -> str:
    """MiB under one GiB, GiB (one decimal) above: the sizes a GPU's memory comes in."""
    if n is None:
        return MISSING
    mib = n / 2**20
    if mib < 1024:
        return f"{mib:.0f} MiB"
    return f"{mib / 1024:.1f} GiB"


def format_sample(sample: GpuSample, peak_bytes: int | None = None) -> list[tuple[str, str]]:
    """(label, value) rows for the panel; "—" for what is not supported. `peak_bytes` adds the torch peak."""
    name = sample.name if sample.name else MISSING
    util = MISSING if sample.util_pct is None else f"{sample.util_pct:.0f} %"
    if sample.mem_used is None and sample.mem_total is None:
        memory = MISSING
    else:
        memory = f"{format_bytes(sample.mem_used)} / {format_bytes(sample.mem_total)}"
    temp = MISSING if sample.temp_c is None else f"{sample.temp_c:.0f} °C"
    if sample.power_w is None:
        power = MISSING
    elif sample.power_limit_w is None:
        power = f"{sample.power_w:.0f} W"
    else:
        power = f"{sample.power_w:.0f} W / {sample.power_limit_w:.0f} W"
    rows = [
        ("gpu", f"{sample.index}: {name}"),
        ("util", util),
        ("memory", memory),
        ("temp", temp),
        ("power", power),
    ]
    if peak_bytes is not None:
        rows.append(("torch peak", format_bytes(peak_bytes)))
    return rows


class GpuMonitor:
    """Samples one GPU every `interval` seconds in a daemon thread; `latest` holds the newest reading.

    `on_sample` (optional) is called in the sampling thread with each sample: keep it cheap and
    thread-safe (the UI should rather read `latest` on its own timer). `nvml` injects a stand-in
    for the `pynvml` module (tests); by default `pynvml` is imported when the thread starts.
    """

    def __init__(
        self,
        device_index: int,
        interval: float = 1.0,
        on_sample: Callable[[GpuSample], None] | None = None,
        nvml: ModuleType | None = None,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be positive, got {interval}")
        self.device_index = device_index
        self.interval = interval
        self.on_sample = on_sample
        self._nvml: Any = nvml
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self.latest: GpuSample | None = None
        """The newest sample (replaced whole, so reading it from another thread is safe)."""
        self.unavailable: str | None = None
        """Why NVML cannot be used here, as the panel's one line; None while usable (or not yet known)."""
        self.samples_taken = 0

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start sampling (import and nvmlInit happen in the thread, so this never blocks). No-op if running.

        Restartable after stop(); NVML is then initialised again (once per start). If a stop()
        timed out on a hung driver call, that thread still counts as running: use a new monitor.
        """
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._ready.clear()
        self.unavailable = None
        self._thread = threading.Thread(target=self._run, name=f"nntui-gpu-{self.device_index}", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop sampling and join the thread (which calls nvmlShutdown). Idempotent.

        The wait is the current sample at most (≈1 ms of NVML calls); `timeout` (default
        interval + 5 s) bounds it should a wedged driver hang a call: the thread is a daemon.
        """
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(self.interval + 5.0 if timeout is None else timeout)

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until NVML was initialised or found unavailable (headless callers, tests)."""
        return self._ready.wait(timeout)

    @property
    def running(self) -> bool:
        """True while the sampling thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    # -- the thread -----------------------------------------------------------------------------

    def _run(self) -> None:
        nvml, handle = self._open()
        self._ready.set()
        if nvml is None:
            return
        try:
            name = self._read_name(nvml, handle)
            while not self._stop.is_set():
                try:
                    sample = self._sample(nvml, handle, name)
                except Exception as exc:  # a binding returning something odd: report, try again next time
                    sample = GpuSample(self.device_index, name, error=one_line("NVML error: " + _describe(exc)))
                self.latest = sample
                self.samples_taken += 1
                if self.on_sample is not None:
                    try:
                        self.on_sample(sample)
                    except Exception:  # the caller's bug must not end the sampling
                        pass
                if self._stop.wait(self.interval):
                    break
        finally:
            try:
                nvml.nvmlShutdown()
            except Exception:  # nothing left to tell anyone at shutdown
                pass

    def _open(self) -> tuple[Any, Any]:
        """(nvml module, device handle), or (None, None) with `unavailable` set to the reason."""
        nvml = self._nvml
        if nvml is None:
            try:
                nvml = importlib.import_module("pynvml")
            except ImportError:
                self.unavailable = NOT_INSTALLED
                return None, None
        try:
            nvml.nvmlInit()
        except Exception as exc:  # NVMLError_LibraryNotFound / DriverNotLoaded, or anything the binding raises
            self.unavailable = UNAVAILABLE_PREFIX + _describe(exc)
            return None, None
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(self.device_index)
        except Exception as exc:
            self.unavailable = UNAVAILABLE_PREFIX + f"GPU {self.device_index}: {_describe(exc)}"
            try:
                nvml.nvmlShutdown()
            except Exception:
                pass
            return None, None
        return nvml, handle

    def _read_name(self, nvml: Any, handle: Any) -> str | None:
        """The name does not change: read once. Old pynvml returns bytes."""
        try:
            name = nvml.nvmlDeviceGetName(handle)
        except Exception:
            return None
        if isinstance(name, bytes):
            name = name.decode("utf-8", "replace")
        return str(name)

    def _sample(self, nvml: Any, handle: Any, name: str | None) -> GpuSample:
        """Each reading on its own: one unsupported or failing call costs that field only."""
        errors: list[str] = []

        def read(call: Callable[[], Any]) -> Any:
            try:
                return call()
            except Exception as exc:
                if not _not_supported(nvml, exc):
                    errors.append(_describe(exc))
                return None

        util = read(lambda: nvml.nvmlDeviceGetUtilizationRates(handle))
        memory = read(lambda: nvml.nvmlDeviceGetMemoryInfo(handle))
        temp = read(lambda: nvml.nvmlDeviceGetTemperature(handle, getattr(nvml, "NVML_TEMPERATURE_GPU", 0)))
        power_mw = read(lambda: nvml.nvmlDeviceGetPowerUsage(handle))
        limit_mw = None
        limit_call = next((getattr(nvml, n) for n in _POWER_LIMIT_CALLS if hasattr(nvml, n)), None)
        if limit_call is not None:
            limit_mw = read(lambda: limit_call(handle))
        error = ""
        if errors:
            unique = list(dict.fromkeys(errors))
            error = one_line("NVML error: " + "; ".join(unique))
        return GpuSample(
            index=self.device_index,
            name=name,
            util_pct=None if util is None else float(util.gpu),
            mem_used=None if memory is None else int(memory.used),
            mem_total=None if memory is None else int(memory.total),
            temp_c=None if temp is None else float(temp),
            power_w=None if power_mw is None else power_mw / 1000.0,
            power_limit_w=None if limit_mw is None else limit_mw / 1000.0,
            error=error,
        )


def _not_supported(nvml: Any, exc: BaseException) -> bool:
    """NotSupported (MIG, older drivers) or FunctionNotFound: show "—", it is not an error."""
    cls = getattr(nvml, "NVMLError_NotSupported", None)
    if isinstance(cls, type) and isinstance(exc, cls):
        return True
    base = getattr(nvml, "NVMLError", None)
    return isinstance(base, type) and isinstance(exc, base) and getattr(exc, "value", None) in _NOT_SUPPORTED_CODES
