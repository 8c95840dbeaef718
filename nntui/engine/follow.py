"""Follow a run directory that another process writes: `nntui watch`'s reading side.

    follower = RunFollower("runs/a")
    polled = follower.poll()        # new rows, the run's status, and the same events a trainer sends
    if polled.weights_changed:
        shown = follower.load_fit()  # torch, in a worker thread: the fit or boundary from model.safetensors

Why polling, never inotify: inotify misses writes made over NFS or from another host, and
the runs this follows are often on a shared file system. Each poll re-opens metrics.csv
(an NFS client revalidates a file's attributes at open: close-to-open consistency), reads
only the bytes appended since the last poll (`os.pread` from the kept offset), and keeps a
torn last line for the next one, so a poll costs the same after 10⁶ rows as after 10.

It never writes into a run directory and takes no lock there: the writer (`RunDirSink`)
appends whole rows with one `os.write` each and replaces every other file atomically, so a
reader needs no coordination. What it survives:
- a half-written last row (kept until its newline comes);
- a directory or metrics file that does not exist yet (it waits, and says so);
- a resume while watched: rows continue; resume also rewrites metrics.csv atomically (a
  new inode), which is read again from the start behind a `reset`;
- files deleted or replaced underneath it (inode change, a shrink, a disappearance seen,
  or new rows that do not continue the epochs read: all read again from the start);
- metrics.csv from an older version with other columns (mapped by header name; a column
  it lacks is NaN);
- garbage rows (skipped and counted).

Polling imports no torch; `load_fit` imports it when first called. The pieces apart from
the polling: follow_rows.py (metrics.csv's rows parsed), follow_status.py (the status and
the finish event), follow_fit.py (the fit from the weights: torch).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nntui.engine.config import TrainConfig
from nntui.engine.errors import NntuiError
from nntui.engine.events import EpochsEnded, Event, LearningRateChanged
from nntui.engine.follow_fit import FitLoader, WeightsFit
from nntui.engine.follow_rows import BASE_COLUMNS, Rows, no_rows, parse_rows
from nntui.engine.follow_status import FINAL_STATES, FollowState, FollowStatus, finish_event
from nntui.engine.formats import fmt_duration

# The names rundir.py and checkpoint.py write. Imported from there they would pull in torch
# (checkpoint.py imports it at the top), and polling must not; a test checks they agree.
METRICS = "metrics.csv"
SUMMARY = "summary.json"
CONFIG = "config.toml"
MODEL = "model.safetensors"

QUIET_AFTER_S = 10.0
"""A running run that changed none of its files for this long is shown as "no write for N s".
A live trainer appends a chunk of rows about every 0.1 s (a chunk is at least one epoch, so
only an epoch longer than this goes quiet while healthy), and 10 s is well above NFS's usual
attribute-cache delay (3 s) yet short enough that a killed run is noticed before anyone
wonders. A paused dashboard run also goes quiet: it is, and the text says only what is seen."""
MAX_READ = 1 << 20
"""At most this many bytes per poll (about 25,000 rows): catching up on a long file is spread
over several polls (`Polled.behind`) so a poll on the UI thread never blocks it for long."""
MAX_PARTIAL = 1 << 20
"""A "line" longer than this without a newline is not a row being written: dropped, counted."""
_FINAL: dict[str, FollowState] = {state: state for state in FINAL_STATES}


@dataclass(frozen=True)
class Polled:
    """What one poll found."""

    status: FollowStatus
    rows: Rows = field(default_factory=no_rows)
    reset: bool = False
    """metrics.csv was replaced, truncated or re-created: forget the rows had so far; `rows`
    start again from the file's beginning (a resumed run's kept epochs, or a new run)."""
    events: tuple[Event, ...] = ()
    """The rows and the run's end as the trainer's own events (EpochsEnded, LearningRateChanged,
    RunFinished or RunFailed): what a dashboard already knows how to show."""
    weights_changed: bool = False
    """model.safetensors is new or changed since the last poll: `load_fit` shows it."""
    bad_rows: int = 0
    """Rows of the current metrics.csv skipped as garbage, in all."""
    behind: bool = False
    """More bytes are waiting than one poll reads (MAX_READ): poll again soon."""


FileKey = tuple[int, int, int, int]
"""(device, inode, size, mtime in ns): any change means a new version of a file."""


def _key(st: os.stat_result) -> FileKey:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


class RunFollower:
    """Polls one run directory; never writes there. `poll()` from one thread at a time;
    `load_fit()` may run in another thread meanwhile (it shares nothing with polling)."""

    def __init__(
        self,
        path: str | Path,
        *,
        quiet_after: float = QUIET_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
        max_read: int = MAX_READ,
    ) -> None:
        self.path = Path(path)
        self.quiet_after = quiet_after
        self.clock = clock
        self.max_read = max_read
        self.bytes_read = 0
        """Bytes read from metrics.csv in all (a poll's cost: the benchmark and the tests read it)."""
        self.header: tuple[str, ...] | None = None
        self.config: TrainConfig | None = None
        """From config.toml (for the total epochs); None until one is read."""
        self._ident: tuple[int, int] | None = None
        self._offset = 0
        self._partial = b""
        self._skipping = False
        """Inside an over-long line: drop bytes up to its newline."""
        self._bad = 0
        self._last_epoch: int | None = None
        self._last_lr = math.nan
        self._last_clock: tuple[int, float] | None = None
        """(epoch, elapsed_s) of the last row that carried the run's clock."""
        self._rows_seen = 0
        self._gone = False
        """metrics.csv (or the directory) was seen missing: whatever comes next is a new file."""
        self._missing = False
        """metrics.csv is not there (now)."""
        self._rewound: tuple[int, int] | None = None
        """The file identity once read again from the start because its new rows did not continue."""
        self._seen_dir = False
        self._seen_metrics = False
        self._summary: dict[str, Any] = {}
        self._summary_key: FileKey | None = None
        self._config_key: FileKey | None = None
        self._model_key: FileKey | None = None
        self._finished_status = ""
        """The final status a finish event was sent for ("" while running)."""
        self._changed_at: float | None = None
        self._fit = FitLoader(self.path / MODEL, lambda: self._summary)

    # -- polling ---------------------------------------------------------------------

    def poll(self) -> Polled:
        """Read what changed since the last poll. Never raises for anything on disk."""
        now = self.clock()
        try:
            dir_st = os.stat(self.path)
        except FileNotFoundError:
            self._gone = self._gone or self._seen_metrics
            self._seen_metrics = False  # a directory made again is a new run: it waits for metrics
            if self._seen_dir:
                return Polled(self._status("deleted", "directory deleted", now), bad_rows=self._bad)
            return Polled(self._status("waiting", "waiting: no directory yet", now))
        except OSError as exc:
            return Polled(self._status("error", f"cannot read: {exc.strerror or exc}", now), bad_rows=self._bad)
        if not stat.S_ISDIR(dir_st.st_mode):
            return Polled(self._status("error", "not a directory", now), bad_rows=self._bad)
        self._seen_dir = True
        weights_changed = self._refresh_model()
        changed = weights_changed | self._refresh_summary()
        self._refresh_config()
        reset, rows, behind, error, metrics_changed = self._read_metrics()
        if self._changed_at is None:
            # first sight: the files' own age (a run killed an hour ago is quiet already)
            newest = max([dir_st.st_mtime] + [k[3] / 1e9 for k in map(_stat_key, self._files()) if k is not None])
            self._changed_at = now - max(0.0, time.time() - newest)
        elif changed or metrics_changed:
            self._changed_at = now
        status = self._run_status(now, error)
        events = self._events(rows, status, behind)
        return Polled(status, rows, reset, events, weights_changed, self._bad, behind)

    def _read_metrics(self) -> tuple[bool, Rows, bool, str, bool]:
        """(reset, new rows, behind, error text, anything changed): the appended bytes only."""
        path = self.path / METRICS
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            self._gone = self._gone or self._seen_metrics
            changed = not self._missing
            self._missing = True
            return False, no_rows(), False, "", changed
        except OSError as exc:
            return False, no_rows(), False, f"cannot read {METRICS}: {exc.strerror or exc}", False
        self._missing = False
        try:
            st = os.fstat(fd)
            ident = (st.st_dev, st.st_ino)
            reset = False
            if ident != self._ident or st.st_size < self._offset or self._gone:
                reset = self._start_over()
                self._ident = ident
            self._seen_metrics = True
            if st.st_size <= self._offset:
                return reset, no_rows(), False, "", reset
            chunk = os.pread(fd, min(st.st_size - self._offset, self.max_read), self._offset)
        except OSError as exc:
            return False, no_rows(), False, f"cannot read {METRICS}: {exc.strerror or exc}", False
        finally:
            os.close(fd)
        self.bytes_read += len(chunk)
        self._offset += len(chunk)
        rows = self._take(chunk)
        if rows is None:
            # rows that should continue went back in epochs: the file was re-created in place
            # (an inode number reused, a rewrite already longer than what was read): from the start
            self._start_over()
            _, rows, behind, error, _ = self._read_metrics()
            return True, rows, behind, error, True
        return reset, rows, self._offset < st.st_size, "", True

    def _start_over(self) -> bool:
        """Forget the current file; True if anything had been read from it (a reset to report)."""
        had = self._offset > 0
        self._offset = 0
        self._partial = b""
        self._skipping = False
        self.header = None
        self._bad = 0
        self._last_epoch = None
        self._last_lr = math.nan
        self._last_clock = None
        self._rows_seen = 0
        self._gone = False
        self._finished_status = ""  # the re-read run's end is reported again
        return had

    def _take(self, chunk: bytes) -> Rows | None:
        """Complete lines of partial + chunk → rows; the torn tail waits for its newline.

        None when rows that should continue the ones read do not: the first new row's epoch
        is not the next one (the writer appends every epoch, in order). The file was then
        rewritten in place (a reused inode number, a rewrite already longer than what was
        read: its torn first line is skipped as garbage) and is read again from the start,
        once per file (a file whose epochs do jump costs one extra read)."""
        data = self._partial + chunk
        if self._skipping:
            end = data.find(b"\n")
            if end < 0:
                self._partial = b""
                return no_rows()
            data, self._skipping = data[end + 1 :], False  # the end of an over-long line
        cut = data.rfind(b"\n")
        complete, self._partial = (data[: cut + 1], data[cut + 1 :]) if cut >= 0 else (b"", data)
        if len(self._partial) > MAX_PARTIAL:
            self._partial, self._skipping = b"", True
            self._bad += 1
        lines = complete.split(b"\n")[:-1]
        if self.header is None:
            if not lines:
                return no_rows()
            first = lines.pop(0).decode("utf-8", "replace").rstrip("\r")
            self.header = tuple(cell.strip() for cell in first.split(","))
        table, bad = parse_rows(lines, len(self.header))
        rows = self._rows(table)
        last = self._last_epoch
        if last is not None and len(rows) and int(rows.epochs[0]) != last + 1 and self._rewound != self._ident:
            self._rewound = self._ident
            return None
        self._bad += bad + (len(table) - len(rows))
        if len(rows):
            self._last_epoch = int(rows.epochs[-1])
            self._rows_seen += len(rows)
        return rows

    def _rows(self, table: np.ndarray) -> Rows:
        """A parsed table → columns by header name; rows without a usable epoch are dropped."""
        assert self.header is not None
        columns = {name: table[:, j] for j, name in enumerate(self.header) if name}
        n = len(table)
        if "epoch" in columns:
            raw = columns["epoch"]
            good = np.isfinite(raw) & (raw >= 0) & (raw == np.round(raw))
            if not good.all():
                columns = {k: v[good] for k, v in columns.items()}
            epochs = columns["epoch"].astype(np.int64)
        else:
            # a file without an epoch column: rows count epochs
            epochs = np.arange(self._rows_seen + 1, self._rows_seen + n + 1, dtype=np.int64)
        for name in BASE_COLUMNS:
            if name not in columns:
                columns[name] = np.full(len(epochs), math.nan)
        return Rows(epochs, columns)

    def _files(self) -> tuple[Path, ...]:
        return (self.path / METRICS, self.path / SUMMARY, self.path / MODEL)

    def _refresh_summary(self) -> bool:
        key = _stat_key(self.path / SUMMARY)
        if key == self._summary_key:
            return False
        self._summary_key = key
        if key is None:
            self._summary = {}
            return True
        try:
            value = json.loads((self.path / SUMMARY).read_text())
        except (OSError, ValueError):
            return True  # replaced between stat and read, or damaged: the last good one stays
        if isinstance(value, dict):
            self._summary = value
        return True

    def _refresh_config(self) -> None:
        key = _stat_key(self.path / CONFIG)
        if key == self._config_key:
            return
        self._config_key = key
        if key is None:
            return
        from nntui.engine.tomlio import load_toml

        try:
            self.config = load_toml(self.path / CONFIG)
        except (NntuiError, OSError, ValueError):
            pass  # damaged or from another version: no total epochs, nothing else lost

    def _refresh_model(self) -> bool:
        key = _stat_key(self.path / MODEL)
        if key == self._model_key:
            return False
        self._model_key = key
        return key is not None

    # -- status ----------------------------------------------------------------------

    def _status(self, state: FollowState, text: str, now: float) -> FollowStatus:
        quiet = now - self._changed_at if self._changed_at is not None else 0.0
        return FollowStatus(state, text, dict(self._summary), max(0.0, quiet))

    def _run_status(self, now: float, error: str) -> FollowStatus:
        if error:
            return self._status("error", error, now)
        if self._missing and self._seen_metrics:
            return self._status("deleted", f"{METRICS} deleted", now)
        if self._missing or self.header is None:
            return self._status("waiting", "waiting for metrics", now)
        reported = str(self._summary.get("status", "running"))
        quiet = now - self._changed_at if self._changed_at is not None else 0.0
        final = _FINAL.get(reported)
        if final is not None:
            return self._status(final, reported, now)
        if quiet >= self.quiet_after:
            return self._status("quiet", f"no write for {fmt_duration(quiet)}", now)
        return self._status("running", "running", now)

    # -- events ----------------------------------------------------------------------

    def _events(self, rows: Rows, status: FollowStatus, behind: bool) -> tuple[Event, ...]:
        events: list[Event] = []
        if len(rows):
            events += self._epoch_events(rows)
        if behind:
            return tuple(events)  # the end is news once its rows are all read
        if status.state in FINAL_STATES and status.state != self._finished_status and self.header is not None:
            self._finished_status = status.state
            events.append(finish_event(status.summary))
        elif status.state not in FINAL_STATES and status.state != "deleted":
            self._finished_status = ""  # resumed: its next end is news again
        return tuple(events)

    def _epoch_events(self, rows: Rows) -> list[Event]:
        """One EpochsEnded per stretch of one learning rate, a LearningRateChanged between."""
        lr = rows.lr.copy()
        # lr is in every row the sink writes; a gap (older file) keeps the last one
        if not math.isfinite(lr[0]):
            lr[0] = self._last_lr
        known = np.where(np.isfinite(lr), np.arange(len(lr)), 0)
        lr = lr[np.maximum.accumulate(known)]
        cuts = [0, *(np.flatnonzero(lr[1:] != lr[:-1]) + 1).tolist(), len(lr)]
        total = self.config.epochs if self.config is not None else 0
        metric_names = [k for k in rows.columns if k.startswith(("train_", "test_")) and not k.endswith("_loss")]
        events: list[Event] = []
        for a, b in itertools.pairwise(cuts):
            if a == b:
                continue
            seg_lr = float(lr[a])
            if math.isfinite(self._last_lr) and math.isfinite(seg_lr) and seg_lr != self._last_lr:
                events.append(LearningRateChanged(epoch=int(rows.epochs[a]), old=self._last_lr, new=seg_lr))
            self._last_lr = seg_lr if math.isfinite(seg_lr) else self._last_lr
            elapsed = rows.elapsed_s[a:b]
            done = np.flatnonzero(np.isfinite(elapsed))
            metrics = {}
            for name in metric_names:
                values = rows.columns[name][a:b]
                finite = np.flatnonzero(np.isfinite(values))
                if len(finite):
                    metrics[name] = float(values[finite[-1]])
            events.append(
                EpochsEnded(
                    epochs=rows.epochs[a:b],
                    train_loss=rows.train_loss[a:b],
                    test_loss=rows.test_loss[a:b],
                    elapsed_s=float(elapsed[done[-1]]) if len(done) else math.nan,
                    steps_per_s=self._rate(rows.epochs[a:b], elapsed),
                    total_epochs=total,
                    lr=seg_lr,
                    metrics=metrics,
                )
            )
        return events

    def _rate(self, epochs: np.ndarray, elapsed: np.ndarray) -> float:
        """Steps per second from the rows' own clock (epochs per second × steps per epoch),
        between the last two rows that carry one (the sink stamps a chunk's last row)."""
        done = np.flatnonzero(np.isfinite(elapsed))
        clocks = [] if self._last_clock is None else [self._last_clock]
        clocks += [(int(epochs[i]), float(elapsed[i])) for i in done[-2:]]
        if done.size:
            self._last_clock = clocks[-1]
        if len(clocks) < 2:
            return math.nan
        (e0, t0), (e1, t1) = clocks[-2], clocks[-1]
        if t1 <= t0 or e1 <= e0:
            return math.nan
        return (e1 - e0) / (t1 - t0) * self._steps_per_epoch()

    def _steps_per_epoch(self) -> int:
        c = self.config
        if c is None or c.full_batch or c.dataset == "csv":
            return 1  # a CSV's row count is not in the run directory: epochs per second then
        n_train = c.samples - round(c.samples * c.test_fraction)
        return max(1, math.ceil(n_train / c.batch_size)) if c.batch_size < n_train else 1

    # -- the weights (torch) -------------------------------------------------------------

    def load_fit(self) -> WeightsFit:
        """model.safetensors → its fit (`FitLoader.load`). Raises FollowError with one line.
        Imports torch on first use: call it from a worker thread."""
        return self._fit.load()


def _stat_key(path: Path) -> FileKey | None:
    try:
        return _key(os.stat(path))
    except OSError:
        return None
