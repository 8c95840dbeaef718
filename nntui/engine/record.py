"""What a run's summary says: the record of its start, latest epochs and end, as JSON.

The same summary is summary.json in a run directory, the headless `--json` line and, for a
sweep, a leaderboard row: one place decides its fields.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from nntui.engine.config import TrainConfig
from nntui.engine.events import EpochsEnded, Event, RunFailed, RunFinished, RunStarted


def json_safe(value: Any) -> Any:
    """NaN and ±inf become null: JSON has no literal for them (and strict parsers refuse them)."""
    if isinstance(value, float) or isinstance(value, np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def dumps_json(value: Any, **kwargs: Any) -> str:
    return json.dumps(json_safe(value), allow_nan=False, **kwargs)


class RunRecord:
    """Remembers what a summary needs: the start, the latest epochs, the end."""

    def __init__(self, run_dir: Path | None = None) -> None:
        self.run_dir = run_dir
        self.config: TrainConfig | None = None
        self.started: RunStarted | None = None
        self.last: EpochsEnded | None = None
        self.finished: RunFinished | None = None
        self.failed: RunFailed | None = None
        self.best = math.inf

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.started, self.config = event, event.config
        elif isinstance(event, EpochsEnded):
            self.last = event
            self.best = min(self.best, float(np.nanmin(event.train_loss)))
        elif isinstance(event, RunFinished):
            self.finished = event
        elif isinstance(event, RunFailed):
            self.failed = event

    def summary(self, status: str, error: str = "") -> dict[str, Any]:
        fin, last, started = self.finished, self.last, self.started
        out: dict[str, Any] = {
            "status": status,
            "epochs": fin.epoch if fin else (last.last_epoch if last else 0),
            "total_epochs": self.config.epochs if self.config else None,
            "final_loss": fin.final_loss if fin else (float(last.train_loss[-1]) if last else None),
            "best_loss": fin.best_loss if fin else self.best,
            "steps_per_s": fin.steps_per_s if fin else (last.steps_per_s if last else None),
            "elapsed_s": fin.elapsed_s if fin else (last.elapsed_s if last else None),
            "device": started.device if started else None,
            "engine": started.engine if started else None,
            "parameters": started.parameters if started else None,
            "run_dir": str(self.run_dir) if self.run_dir else None,
        }
        if started is not None and started.baseline is not None:
            out["baseline_loss"] = started.baseline.train_loss
            out["baseline_degree"] = started.baseline.degree
        if fin is not None and fin.diverged_at is not None:
            out["diverged_at"] = fin.diverged_at
        peak = fin.peak_memory if fin is not None else (last.peak_memory if last is not None else None)
        if peak is not None:
            out["cuda_peak_memory_bytes"] = peak  # the torch allocator's peak (cuda runs only)
        metrics = (fin.metrics if fin else None) or (last.metrics if last else {})
        for key, value in metrics.items():
            out[key] = value
            # train_r2 / test_accuracy: also under the plain name, from the test split where there is one
            split, name = key.split("_", 1)
            if split == "test" or f"test_{name}" not in metrics:
                out[name] = value
                out[f"{name}_split"] = split
        if fin and fin.message:
            out["message"] = fin.message
        if fin and fin.suggested_lr is not None:
            out["suggested_lr"] = fin.suggested_lr
        error = error or (self.failed.error if self.failed else "")
        if error:
            out["error"] = error
        return out
