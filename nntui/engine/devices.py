"""Which devices this machine has, and turning a device name into a working torch.device.

On a CPU-only torch build `torch.device("cuda")` constructs fine and only the first
allocation fails; so availability is asked of torch first, and only `auto` falls back.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from nntui.engine.config import validate_device_name
from nntui.engine.errors import ConfigError


@dataclass(frozen=True)
class DeviceInfo:
    name: str
    """What the config's `device` field takes: cpu, cuda:0, mps."""
    label: str
    """What a person reads: the GPU's own name where there is one."""


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    try:
        return bool(mps and mps.is_available())
    except Exception:  # any failure means: no usable MPS
        return False


def cuda_count() -> int:
    try:
        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # broken drivers report as "no GPU"
        return 0


def available_devices() -> list[DeviceInfo]:
    """What this machine can train on, best first; cpu is always last."""
    found = []
    for i in range(cuda_count()):
        try:
            label = torch.cuda.get_device_name(i)
        except Exception:
            label = "CUDA GPU"
        found.append(DeviceInfo(f"cuda:{i}", f"cuda:{i} ({label})"))
    if _mps_available():
        found.append(DeviceInfo("mps", "mps (Apple GPU)"))
    found.append(DeviceInfo("cpu", "cpu"))
    return found


def _available_text() -> str:
    return "available here: " + ", ".join(d.name for d in available_devices())


def resolve_device(name: str) -> torch.device:
    """`auto` → cuda, then mps, then cpu. Anything else must exist, or ConfigError (no fallback)."""
    validate_device_name(name)
    if name == "auto":
        return torch.device(available_devices()[0].name)
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        count = cuda_count()
        index = int(name[5:]) if ":" in name else 0
        if count == 0:
            raise ConfigError("device", name, f"no CUDA GPU is usable on this machine; {_available_text()}")
        if index >= count:
            raise ConfigError("device", name, f"this machine has {count} CUDA GPU(s); {_available_text()}")
        return torch.device("cuda", index)
    if not _mps_available():
        raise ConfigError("device", name, f"MPS (Apple GPU) is not available; {_available_text()}")
    return torch.device("mps")


def device_label(device: torch.device) -> str:
    if device.type == "cuda":
        try:
            return f"cuda:{device.index or 0} ({torch.cuda.get_device_name(device)})"
        except Exception:
            return str(device)
    return str(device)


def peak_memory(device: torch.device) -> int | None:
    """The torch allocator's peak memory on a cuda device so far (bytes), else None.

    A host-side counter of the caching allocator: reading it does not synchronize with the
    device, so it can ride along with every chunk's read-back."""
    if device.type != "cuda":
        return None
    try:
        return int(torch.cuda.max_memory_allocated(device))
    except (RuntimeError, AssertionError):  # a CPU-only build, or no driver
        return None
