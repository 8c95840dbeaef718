"""Comparing runs: what tells one run's config from another's, and what a finished run leaves.

The dashboard keeps its session's finished and stopped runs (and run directories named with
`--compare`) as "ghosts": dimmed curves labelled by what differs from the current config
("tanh", "lr 0.01", "hidden 32,32"), listed in a runs table. This module is that comparison
without a UI: the label (`diff_label`), the numbers a run is judged by (`RunResult`), and a
run directory read back from its files (`read_run_dir`). It imports neither torch nor
textual: the dashboard's UI process reads run directories with it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from nntui.engine.config import DATASET_NOISE, TrainConfig
from nntui.engine.errors import NntuiError
from nntui.engine.events import FitUpdated, RunStarted
from nntui.engine.film import Film, FilmError
from nntui.engine.follow import METRICS, RunFollower
from nntui.engine.history import SeriesHistory

SAME = "same config"
"""The label of a run whose config is the current one."""
NAMED_BY_VALUE = frozenset({"dataset", "activation", "optimizer", "loss", "engine"})
"""Fields whose values name themselves: "tanh", not "activation tanh"."""
SHORT_NAMES = {"test_fraction": "test", "batch_size": "batch", "clip_grad": "clip", "drop_missing": "drop missing"}
NOT_COMPARED = frozenset({"health"})
"""Fields that do not change what a run learns or how fast: never a difference worth a label."""
MAX_READS = 100_000
"""Polls of one directory before it counts as growing without end (10⁵ MiB of metrics)."""


class CompareError(NntuiError):
    """A run directory cannot be compared (one line naming it and why)."""


# -- labels ----------------------------------------------------------------------------------


def differing_fields(run: TrainConfig, current: TrainConfig) -> tuple[str, ...]:
    """The fields where `run` differs from `current`, in the config's own order.

    Left out: fields that do not change the run (`NOT_COMPARED`); a device where either side
    says "auto" (it resolves to whatever the machine has); and the noise or loss a change of
    data set brought with it (each data set's own default noise, a loss picked by "auto"),
    which the data set's name already says.
    """
    out = []
    for f in fields(TrainConfig):
        name = f.name
        mine, theirs = getattr(run, name), getattr(current, name)
        if mine == theirs or name in NOT_COMPARED:
            continue
        if name == "device" and "auto" in (mine, theirs):
            continue
        if run.dataset != current.dataset:
            if name == "noise" and DATASET_NOISE.get(run.dataset) == mine:
                continue
            if name == "loss" and mine == "auto":
                continue
        if name == "data" and run.dataset == "csv" and current.dataset != "csv":
            continue  # the data set's label names the file already
        out.append(name)
    return tuple(out)


def field_text(config: TrainConfig, name: str) -> str:
    """One field of `config` as a label shows it: "tanh", "lr 0.01", "hidden 32,32"."""
    value = getattr(config, name)
    if name == "dataset" and value == "csv":
        return Path(config.data).name or "csv"
    if name == "data":
        return Path(value).name or "built-in data"
    if name == "hidden":
        return "hidden " + ",".join(map(str, value)) if value else "no hidden layer"
    if name == "activation":
        return ",".join(value)
    if name in NAMED_BY_VALUE:
        return str(value)
    label = SHORT_NAMES.get(name, name.replace("_", " "))
    if isinstance(value, bool):
        return f"{label} {'on' if value else 'off'}"
    if value is None:
        return f"{label} auto"
    if name == "batch_size" and value == 0:
        return "batch full"
    if isinstance(value, tuple):
        return f"{label} {','.join(map(str, value)) or '(all)'}"
    if isinstance(value, float):
        return f"{label} {value:g}"
    return f"{label} {value}" if value != "" else f"{label} (auto)"


def diff_label(run: TrainConfig, current: TrainConfig) -> str:
    """What sets `run` apart from `current`, in `run`'s values ("tanh lr 0.01"); `SAME` if nothing."""
    names = differing_fields(run, current)
    return " ".join(field_text(run, name) for name in names) if names else SAME


# -- a run's result --------------------------------------------------------------------------


def metric_of(metrics: Mapping[str, float]) -> tuple[str, float] | None:
    """The run's accuracy or R² (`train_accuracy`, `test_r2`…): from the test split where
    there is one, as summary.json's plain `accuracy` / `r2` are. None without one."""
    for split in ("test", "train"):
        for name in ("accuracy", "r2"):
            value = metrics.get(f"{split}_{name}")
            if value is not None:
                return f"{split} {name}", float(value)
    return None


@dataclass
class RunResult:
    """A finished or stopped run as the runs table and the loss plot keep it.

    Its curve is the same bounded min/max history the live curve uses, so keeping and drawing
    it costs the same whatever its length."""

    key: int
    """Unique in a dashboard session (the order runs were kept in)."""
    name: str
    """"run 3" for a run of this session, the directory's name for one read from disk."""
    config: TrainConfig | None
    """None for a directory whose config.toml is missing or unreadable."""
    status: str
    """done, stopped, diverged, interrupted, failed… as summary.json says it."""
    epochs: int
    final_loss: float
    best_loss: float
    elapsed_s: float
    metrics: dict[str, float] = field(default_factory=dict)
    """train_… and test_… accuracy or R², as the run reported them."""
    train: SeriesHistory = field(default_factory=SeriesHistory)
    fit: FitUpdated | None = None
    """Its last fit (or boundary) frame: the session's last snapshot, or film.npz's last."""
    started: RunStarted | None = None
    """Its data points (a session run only: a directory's would need torch to rebuild)."""
    rundir: Path | None = None
    from_session: bool = True
    visible: bool = True
    """Drawn on the loss plot (the runs table shows and hides it)."""
    notes: tuple[str, ...] = ()
    """What reading it found (skipped rows, no film…), for the notice."""

    @property
    def metric(self) -> tuple[str, float] | None:
        return metric_of(self.metrics)

    def label(self, current: TrainConfig | None) -> str:
        """What differs from `current`; the run's name when either config is unknown."""
        if self.config is None or current is None:
            return self.name
        return diff_label(self.config, current)


def _number(summary: Mapping[str, Any], key: str) -> float:
    value = summary.get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def read_run_dir(path: str | Path, key: int) -> RunResult:
    """A run directory (headless, a dashboard's --out, a sweep's trial) as a RunResult, from
    its metrics.csv, summary.json, config.toml and film.npz; never writes there.

    Raises CompareError for what cannot be compared: no such directory, a file, no
    metrics.csv, no rows. Garbage rows are skipped (and said in `notes`), a missing
    summary.json is made up from the rows, a missing config or film leaves those out.
    """
    path = Path(path)
    if not path.exists():
        raise CompareError(f"{path}: no such directory")
    if not path.is_dir():
        raise CompareError(f"{path}: not a directory (give a run directory, e.g. one written with --out)")
    if not (path / METRICS).is_file():
        raise CompareError(f"{path}: no {METRICS} here (not a run directory written with --out?)")
    follower = RunFollower(path)
    epochs: list[np.ndarray] = []
    losses: list[np.ndarray] = []
    elapsed = math.nan
    for _ in range(MAX_READS):
        polled = follower.poll()
        if polled.status.state == "error":
            raise CompareError(f"{path}: {polled.status.text}")
        if polled.reset:
            epochs, losses = [], []
        if len(polled.rows):
            epochs.append(polled.rows.epochs)
            losses.append(polled.rows.train_loss)
            clock = polled.rows.elapsed_s[np.isfinite(polled.rows.elapsed_s)]
            if len(clock):
                elapsed = float(clock[-1])
        if not polled.behind:
            break
    summary = polled.status.summary
    x = np.concatenate(epochs) if epochs else np.empty(0, np.int64)
    y = np.concatenate(losses) if losses else np.empty(0)
    finite = np.isfinite(y)
    if not finite.any():
        raise CompareError(f"{path}: {METRICS} has no loss rows yet")
    train = SeriesHistory()
    train.extend(x, y)
    notes = []
    if polled.bad_rows:
        notes.append(f"{path}: {polled.bad_rows} damaged row(s) of {METRICS} skipped")
    fit = None
    try:
        film = Film.load(path)
        fit = film.frames[-1] if film.frames else None
    except FilmError:
        pass  # no film saved: the table says there is no fit to show
    metrics = {k: float(v) for k, v in summary.items()
               if k.startswith(("train_", "test_")) and isinstance(v, (int, float)) and not isinstance(v, bool)}
    epochs_done = summary.get("epochs")
    final, best = _number(summary, "final_loss"), _number(summary, "best_loss")
    return RunResult(
        key=key,
        name=path.name or str(path),
        config=follower.config,
        status=str(summary.get("status") or "no summary"),
        epochs=int(epochs_done) if isinstance(epochs_done, int) else int(x[-1]),
        final_loss=final if math.isfinite(final) or "final_loss" in summary else float(y[finite][-1]),
        best_loss=best if math.isfinite(best) or "best_loss" in summary else float(y[finite].min()),
        elapsed_s=_number(summary, "elapsed_s") if "elapsed_s" in summary else elapsed,
        metrics=metrics,
        train=train,
        fit=fit,
        rundir=path,
        from_session=False,
        notes=tuple(notes),
    )
