"""Run directories: config.toml, metrics.csv, summary.json and the checkpoint files.

metrics.csv is appended one chunk of rows per `os.write` call: a write syscall to a regular
file is not cut short by a signal, so a kill cannot leave a torn last line, and an append
that fails part-way (disk full) is cut back to the last complete row. An existing
metrics.csv's header is authoritative: resumed rows are written in its column order. Every
other file is replaced atomically (`atomic`).

On resume the checkpoint's own copy of the config is authoritative; config.toml is written
for people to read and is not read back (an edit to it does not change a resumed run; see
`edited_config_fields`).
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from nntui.engine.atomic import atomic_write
from nntui.engine.checkpoint import Checkpoint, save_checkpoint
from nntui.engine.config import TrainConfig
from nntui.engine.errors import ConfigError
from nntui.engine.events import EpochsEnded, Event, FitUpdated, RunFailed, RunFinished, RunStarted
from nntui.engine.film import Film, FilmError
from nntui.engine.record import RunRecord, dumps_json
from nntui.engine.tomlio import load_toml

CONFIG = "config.toml"
METRICS = "metrics.csv"
SUMMARY = "summary.json"
BASE_COLUMNS = ("epoch", "train_loss", "test_loss", "elapsed_s", "lr")


def _fmt(v: float) -> str:
    return "" if not math.isfinite(v) else repr(float(v))


def edited_config_fields(rundir: str | Path, config: TrainConfig) -> tuple[str, ...]:
    """Fields where the run directory's config.toml differs from `config` (the checkpoint's):
    someone edited it by hand. Resuming ignores those edits; a caller can say so. An unreadable
    or missing config.toml differs in nothing."""
    toml = Path(rundir) / CONFIG
    try:
        edited = load_toml(toml).to_dict() if toml.is_file() else {}
    except (ConfigError, OSError):
        return ()
    if not edited:
        return ()
    own = config.to_dict()
    return tuple(k for k in sorted(own.keys() | edited.keys()) if own.get(k) != edited.get(k))


class RunDirSink:
    """Listens to trainer events and keeps a run directory current.

    A disk error (read-only directory, full disk) is reported once through `on_error` and
    training goes on; files already written are never touched by a failing write.
    """

    def __init__(self, rundir: str | Path, on_error: Callable[[str], None] | None = None, resume: bool = False) -> None:
        self.rundir = Path(rundir)
        self.on_error = on_error or (lambda message: None)
        self.resume = resume
        self.failed = False
        self.columns: tuple[str, ...] = BASE_COLUMNS
        self.record = RunRecord(self.rundir)
        self._fd: int | None = None
        self._size = 0
        """Bytes of metrics.csv up to its last complete row: a failed append is cut back to it."""
        self._dropped_warned = False
        self.film = Film()
        """The run's replay frames, saved as film.npz with every checkpoint."""

    @property
    def config(self) -> TrainConfig | None:
        return self.record.config

    # -- events ----------------------------------------------------------------------

    def __call__(self, event: Event) -> None:
        self.record(event)
        if isinstance(event, RunStarted):
            self._guard(self._start, event)
        elif isinstance(event, EpochsEnded):
            self._guard(self._append, event)
        elif isinstance(event, FitUpdated):
            self.film.add(event)
        elif isinstance(event, RunFinished):
            self._guard(self.write_summary, event.reason)
        elif isinstance(event, RunFailed):
            self._guard(self.write_summary, "failed", event.error)

    def _guard(self, fn: Callable[..., None], *args: Any) -> None:
        # after a disk error only summaries are still tried (the disk may have room again);
        # a bound method is a new object at each access: compare the functions
        if self.failed and getattr(fn, "__func__", fn) is not type(self).write_summary:
            return
        try:
            fn(*args)
        except OSError as exc:
            if not self.failed:
                self.failed = True
                self.on_error(
                    f"cannot write to the run directory {self.rundir}: {exc.strerror or exc}. "
                    "Training goes on; files saved before are intact."
                )

    def _start(self, event: RunStarted) -> None:
        self.rundir.mkdir(parents=True, exist_ok=True)
        self.columns = metrics_columns(event.task, event.config)
        atomic_write(self.rundir / CONFIG, event.config.to_toml())
        path = self.rundir / METRICS
        header = _truncate_metrics(path, event.start_epoch) if self.resume and path.exists() else None
        if header:
            self.columns = header  # the file's own header decides what each cell means
        else:
            atomic_write(path, ",".join(self.columns) + "\n")
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        self._size = os.fstat(self._fd).st_size
        if self.resume and event.start_epoch > 0:
            self._resume_film(event.start_epoch)
        self.write_summary("running")

    def _resume_film(self, epoch: int) -> None:
        """The film saved so far, up to the checkpoint; a missing or damaged one only warns
        (the run resumes without its earlier replay frames, nothing else is lost)."""
        try:
            film = Film.load(self.rundir, up_to_epoch=epoch)
        except FilmError as exc:
            self.on_error(str(exc))
            return
        for frame in self.film.frames:  # anything already recorded comes after the saved frames
            film.add(frame)
        self.film = film

    def _append(self, event: EpochsEnded) -> None:
        if self._fd is None:
            return
        n = len(event.epochs)
        lr = repr(event.lr)
        index = {name: j for j, name in enumerate(self.columns)}
        width = len(self.columns)
        last_cells: dict[str, str] = {"elapsed_s": f"{event.elapsed_s:.4f}"}
        last_cells.update((name, _fmt(value)) for name, value in event.metrics.items())
        for j, h in enumerate(event.health):
            last_cells[f"grad_norm_{j + 1}"] = _fmt(h.grad_norm)
            if j < len(event.health) - 1:
                last_cells[f"dead_{j + 1}"] = _fmt(h.dead_fraction)
        dropped = sorted(k for k in last_cells if k not in index)
        rows = []
        for i in range(n):
            row = [""] * width
            for name, value in (("epoch", str(int(event.epochs[i]))), ("train_loss", _fmt(event.train_loss[i])),
                                ("test_loss", _fmt(event.test_loss[i])), ("lr", lr)):
                if name in index:
                    row[index[name]] = value
            if i == n - 1:
                for name, value in last_cells.items():
                    if name in index:
                        row[index[name]] = value
            rows.append(",".join(row))
        data = raw = ("\n".join(rows) + "\n").encode()
        try:
            while data:  # one syscall in practice; loop only on a short write (disk nearly full)
                written = os.write(self._fd, data)
                data = data[written:]
        except OSError:
            # cut a part-written chunk back to the last complete row: a later append (or a
            # resume) must never continue a torn line
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)
            raise
        self._size += len(raw)
        if dropped and not self._dropped_warned:
            self._dropped_warned = True
            self.on_error(
                f"{self.rundir / METRICS} has no column for {', '.join(dropped)} (its header is from an earlier "
                "run with other settings); those values are not written there"
            )

    # -- files -----------------------------------------------------------------------

    def write_summary(self, status: str, error: str = "") -> None:
        if not self.rundir.is_dir():
            return
        summary = self.record.summary(status, error)
        atomic_write(self.rundir / SUMMARY, dumps_json(summary, indent=2) + "\n")

    def finish(self, status: str, error: str = "") -> None:
        """The last summary, under the disk-error guard (a read-only directory only warns, once)."""
        self._guard(self.write_summary, status, error)

    def save_checkpoint(self, ck: Checkpoint) -> None:
        """Called by the trainer (on_checkpoint): weights, optimizer and metrics made durable."""
        if self.config is None:
            return
        self._guard(self._save, ck)

    def _save(self, ck: Checkpoint) -> None:
        assert self.config is not None
        if self._fd is not None:
            os.fsync(self._fd)
        save_checkpoint(self.rundir, ck, self.config)
        if len(self.film):
            self.film.save(self.rundir)

    def close(self) -> None:
        if self._fd is not None:
            try:
                os.fsync(self._fd)
            except OSError:
                pass
            os.close(self._fd)
            self._fd = None


def metrics_columns(task: str, config: TrainConfig) -> tuple[str, ...]:
    """The header a new metrics.csv gets for this task and config."""
    metric = "accuracy" if task == "classification" else "r2"
    cols = [*BASE_COLUMNS, f"train_{metric}", f"test_{metric}"]
    if config.health:
        n_hidden = len(config.hidden)
        cols += [f"grad_norm_{i + 1}" for i in range(n_hidden + 1)]
        cols += [f"dead_{i + 1}" for i in range(n_hidden)]
    return tuple(cols)


def _truncate_metrics(path: Path, epoch: int) -> tuple[str, ...] | None:
    """Resuming from `epoch`: drop rows past it (they will be trained again) and any torn tail.

    Returns the file's header (None when it has none: the caller writes a new file)."""
    lines = path.read_text().splitlines(keepends=True)
    if not lines or not lines[0].endswith("\n"):
        return None
    kept = lines[:1]
    for line in lines[1:]:
        if not line.endswith("\n"):
            break
        first = line.split(",", 1)[0]
        if first.isdigit() and int(first) <= epoch:
            kept.append(line)
    atomic_write(path, "".join(kept))
    return tuple(lines[0].rstrip("\r\n").split(","))


def read_metrics(path: str | Path) -> dict[str, np.ndarray]:
    """metrics.csv → columns (empty cells are NaN)."""
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, [])
        rows = [row for row in reader if row]
    cols: dict[str, np.ndarray] = {}
    for j, name in enumerate(header):
        cols[name] = np.array([float(r[j]) if j < len(r) and r[j] else math.nan for r in rows])
    return cols
