"""Where a followed run stands (`FollowStatus`), and the event a final summary.json stands for.

Apart from follow.py's polling: the vocabulary `nntui watch` shows and the summary → RunFinished
or RunFailed mapping, both without any file handling.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from nntui.engine.events import RunFailed, RunFinished

FollowState = Literal[
    "waiting", "running", "quiet", "done", "stopped", "diverged", "interrupted", "failed", "deleted", "error"
]
FINAL_STATES: tuple[FollowState, ...] = ("done", "stopped", "diverged", "interrupted", "failed")
"""summary.json statuses after which a run writes nothing more (unless it is resumed)."""
_REASONS: dict[str, Literal["done", "stopped", "diverged"]] = {"done": "done", "diverged": "diverged"}


@dataclass(frozen=True)
class FollowStatus:
    """Where a followed run stands, as far as its files tell."""

    state: FollowState
    text: str
    """What a person reads: "running", "waiting: no directory yet", "no write for 12s"…"""
    summary: Mapping[str, Any] = field(default_factory=dict)
    """summary.json as last read (empty when there is none)."""
    quiet_s: float = 0.0
    """Seconds since any of the run's files was last seen to change."""


def finish_event(summary: Mapping[str, Any]) -> RunFinished | RunFailed:
    """A final summary.json → the event the trainer sent at that end."""
    status = str(summary.get("status", ""))
    if status == "failed":
        return RunFailed(str(summary.get("error") or "the run failed (see its summary.json)"))

    def num(key: str) -> float:
        value = summary.get(key)
        return float(value) if isinstance(value, (int, float)) else math.nan

    reason = _REASONS.get(status, "stopped")
    message = str(summary.get("message") or ("interrupted" if status == "interrupted" else ""))
    metrics = {k: float(v) for k, v in summary.items()
               if k.startswith(("train_", "test_")) and isinstance(v, (int, float))}
    epoch = summary.get("epochs")
    diverged_at = summary.get("diverged_at")
    suggested = summary.get("suggested_lr")
    return RunFinished(
        reason=reason, epoch=int(epoch) if isinstance(epoch, int) else 0, final_loss=num("final_loss"),
        best_loss=num("best_loss"), steps_per_s=num("steps_per_s"), elapsed_s=num("elapsed_s"), message=message,
        suggested_lr=float(suggested) if isinstance(suggested, (int, float)) else None, metrics=metrics,
        diverged_at=int(diverged_at) if isinstance(diverged_at, int) else None,
    )
