"""A sweep's leaderboard: one row per trial from its summary, best loss first, and the
text of leaderboard.csv / .json (which `Sweep.write_leaderboard` writes atomically)."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # (types only: sweep.py imports this module)
    from nntui.engine.grid import Trial
    from nntui.engine.sweep import Sweep, TrialStatus

ROW_COLUMNS = (
    "status", "final_loss", "best_loss", "metric", "metric_value", "epochs", "steps_per_s", "elapsed_s", "error"
)
"""A leaderboard row's columns after the trial's name and varied values."""


def leaderboard_row(
    trial: Trial, status: TrialStatus, summary: dict[str, Any], varied: Iterable[str]
) -> dict[str, Any]:
    """A trial's row: its varied values (as flags take them), status, and its summary's numbers."""
    texts = trial.texts
    metric = "accuracy" if "accuracy" in summary else "r2" if "r2" in summary else ""
    row: dict[str, Any] = {"trial": trial.name}
    row.update((name, texts[name]) for name in varied)
    row.update(
        status=status,
        final_loss=summary.get("final_loss"),
        best_loss=summary.get("best_loss"),
        metric=metric,
        metric_value=summary.get(metric) if metric else None,
        epochs=summary.get("epochs"),
        steps_per_s=summary.get("steps_per_s"),
        elapsed_s=summary.get("elapsed_s"),
        error=summary.get("error", "") if status == "failed" else "",
    )
    return row


def sort_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def key(row: dict[str, Any]) -> tuple[int, float]:
        best = row.get("best_loss")
        if isinstance(best, (int, float)) and math.isfinite(best):
            return (0, float(best))
        return (1, 0.0)

    return sorted(rows, key=key)  # stable: ties and rows without a loss stay in grid order


def leaderboard_csv(rows: list[dict[str, Any]], varied: Sequence[str]) -> str:
    """Numbers as repr (they read back as the same floats); missing ones as empty cells."""
    columns = ["trial", *varied, *ROW_COLUMNS]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else repr(row[c]) if isinstance(row[c], float) else row[c]
                         for c in columns])
    return buf.getvalue()


def leaderboard_json(sweep: Sweep, rows: list[dict[str, Any]]) -> str:
    from nntui.engine.record import dumps_json

    return dumps_json({"sweep": str(sweep.out), "varied": list(sweep.grid.fields), "trials": len(rows),
                       "counts": sweep.counts(), "rows": rows})
