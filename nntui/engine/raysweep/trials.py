"""What the Ray driver holds for each trial: its current attempt, that attempt's pushes put
back in the order they were sent, and the run directory it writes from them (the driver,
not the worker, writes a trial's files unless --ray-shared-out)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nntui.engine.atomic import atomic_write
from nntui.engine.sweep import CHECKPOINT, Forwarder, TrialJob, read_summary

if TYPE_CHECKING:
    from nntui.engine.rundir import RunDirSink


class InOrder:
    """Numbered items (0, 1, 2, …) that may arrive in any order, handed out in number order:
    an async actor (the hub) runs its calls in no guaranteed order."""

    def __init__(self) -> None:
        self.next = 0
        self._early: dict[int, bytes] = {}

    def add(self, seq: int, item: bytes) -> list[bytes]:
        """Take item `seq`; return every item now ready, in order (none while one is missing)."""
        self._early[seq] = item
        ready = []
        while self.next in self._early:
            ready.append(self._early.pop(self.next))
            self.next += 1
        return ready


@dataclass
class Trial:
    """A trial the pool has taken: its job, its current attempt and what the driver holds."""

    job: TrialJob
    attempt: int = 0
    retries_left: int = 0
    ref: Any = None
    started: bool = False
    """This attempt said hello (it will report, or its death will be seen)."""
    ever_started: bool = False
    sink: RunDirSink | None = None
    forward: Forwarder | None = None
    deaths: list[str] = field(default_factory=list)
    pushes: InOrder = field(default_factory=lambda: InOrder())
    """This attempt's pushes, put back in the order they were sent."""


def preload_writer() -> None:
    with contextlib.suppress(Exception):
        import nntui.engine.rundir  # noqa: F401


def close_sink(sink: RunDirSink) -> None:
    with contextlib.suppress(OSError):
        sink.close()


def mark_status(rundir: Path, status: str, message: str) -> dict[str, Any]:
    """A run directory's summary.json says `status` (its numbers kept; `message` unless it has one)."""
    from nntui.engine.record import dumps_json

    summary = read_summary(rundir)
    summary["status"] = status
    summary.setdefault("message", message)
    with contextlib.suppress(OSError):
        atomic_write(rundir / "summary.json", dumps_json(summary, indent=2) + "\n")
    return summary


def checkpoint_epoch(rundir: Path) -> int | None:
    try:
        from nntui.engine.checkpoint import read_meta

        return int(read_meta(rundir / CHECKPOINT)["epoch"])
    except Exception:
        return None
