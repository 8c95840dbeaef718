"""Sweeps: every trial of a grid trained through the one Session, a leaderboard kept current.

    sweep = Sweep(base, grid, "runs/sweep", jobs=2)
    sweep.prepare()              # ConfigError (exit 2) before anything is written or trained
    result = sweep.run(listener) # listener gets TrialStarted / TrialEvent / TrialFinished
    sweep.stop("interrupted by SIGINT")   # from a signal handler or another thread

The driver (this process) never imports torch: trials run elsewhere, behind one seam,
`TrialBackend` (submit trials, poll their messages, stop them). `sweep_local.LocalPool` is
the default backend: N warm processes (spawn; torch imported once per process), one torch
thread each, one trial at a time each. `raysweep.RayPool` is the other: the same five
methods, each trial a Ray task (`run_trial` itself when workers share --out, else the driver
writes the run directory from the events and checkpoints the task streams back).

SWEEPDIR holds one run directory per trial (named by its varied values), sweep.toml (the
base config and the grid; itself a valid --config) and leaderboard.csv / .json (their rows:
sweep_leaderboard.py), rewritten atomically as trials finish. Running the same sweep again
skips trials whose summary says done or diverged and resumes the others from their checkpoints.
"""

from __future__ import annotations

import collections
import contextlib
import json
import math
import os
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from nntui.engine.atomic import atomic_write
from nntui.engine.config import TrainConfig
from nntui.engine.errors import ConfigError
from nntui.engine.grid import Grid, Trial, dumps_sweep_toml, load_sweep_config
from nntui.engine.session import DEFAULT_CHECKPOINT_S, DivergencePolicy
from nntui.engine.sweep_leaderboard import leaderboard_csv, leaderboard_json, leaderboard_row, sort_rows

if TYPE_CHECKING:
    from nntui.engine.control import Control
    from nntui.engine.events import EpochsEnded, Event, RunFailed, RunFinished

SWEEP_TOML = "sweep.toml"
LEADERBOARD_CSV = "leaderboard.csv"
LEADERBOARD_JSON = "leaderboard.json"
SUMMARY = "summary.json"  # rundir.SUMMARY; not imported: rundir imports numpy and torch's checkpoint module
CHECKPOINT = "checkpoint.safetensors"  # checkpoint.CHECKPOINT, for the same reason

TrialStatus = Literal["done", "diverged", "failed", "interrupted", "running", "not started"]
FINISHED: tuple[str, ...] = ("done", "diverged")
"""A trial whose summary says one of these is skipped when the sweep runs again."""
CHUNK_SECONDS = 0.25
"""As headless: losses read back about 4 times a second (each read-back costs ~1 ms)."""
FORWARD_INTERVAL_S = 0.25
"""A trial's progress reaches the driver at most this often (epochs coalesced in between)."""
FIT_INTERVAL_S = 1.0
MAX_POINTS = 256
"""Epoch rows per forwarded EpochsEnded: min/max-decimated beyond (metrics.csv has them all)."""
POLL_S = 0.1
"""The driver's longest wait: a stop (signal, another thread) is acted on within it."""


# ----------------------------------------------------------------------------- messages


@dataclass(frozen=True, kw_only=True)
class TrialJob:
    """One trial as a backend receives it: plain, picklable, runnable in any process."""

    index: int
    name: str
    config: TrainConfig
    rundir: str
    resume: bool
    """Continue from the checkpoint in `rundir`."""
    checkpoint_every: float = DEFAULT_CHECKPOINT_S
    on_diverge: DivergencePolicy = "stop"


@dataclass(frozen=True)
class TrialStarted:
    trial: int
    """Index into `Sweep.trials`."""
    resumed: bool
    where: str = ""
    """Who runs it, for people: "pid 1234" (a Ray backend: the node)."""


@dataclass(frozen=True)
class TrialEvent:
    """One of the engine's own events from a running trial, thinned: EpochsEnded coalesced to
    at most one per FORWARD_INTERVAL_S (min/max-decimated to MAX_POINTS rows), FitUpdated at
    most once a second, everything else as it happens."""

    trial: int
    event: Event


@dataclass(frozen=True)
class TrialFinished:
    trial: int
    status: TrialStatus
    summary: dict[str, Any]
    """The trial's summary.json as written (empty for a trial never started)."""
    earlier: bool = False
    """Finished by an earlier run of the sweep (reported once, at the start, not run again)."""


TrialMessage = TrialStarted | TrialEvent | TrialFinished
Listener = Callable[[TrialMessage], None]


# ----------------------------------------------------------------------------- one trial


class Forwarder:
    """A Session listener that thins a trial's events before they cross a process boundary:
    the driver sees every trial move a few times a second and is never flooded."""

    def __init__(self, trial: int, send: Callable[[TrialMessage], None]) -> None:
        from nntui.engine.events import EpochsEnded, FitUpdated

        self._epochs_type, self._fit_type = EpochsEnded, FitUpdated  # (imported once, not per event)
        self.trial = trial
        self.send = send
        self._pending: list[EpochsEnded] = []
        self._fit: FitUpdated | None = None
        """The latest fit held back by the rate limit: sent before whatever ends the run."""
        self._last_sent = 0.0
        self._last_fit = -math.inf

    def __call__(self, event: Event) -> None:
        now = time.monotonic()
        if isinstance(event, self._epochs_type):
            self._pending.append(event)
            if now - self._last_sent >= FORWARD_INTERVAL_S:
                self.flush()
        elif isinstance(event, self._fit_type):
            self._fit = event
            if now - self._last_fit >= FIT_INTERVAL_S:
                self._send_fit(now)
        else:
            self.flush()  # epochs (and the latest fit) before the event that follows them
            self.send(TrialEvent(self.trial, event))

    def flush(self) -> None:
        """Send what is held back: coalesced epochs, then the latest fit."""
        if self._pending:
            merged = merge_epochs(self._pending, MAX_POINTS)
            self._pending = []
            self._last_sent = time.monotonic()
            self.send(TrialEvent(self.trial, merged))
        if self._fit is not None:
            self._send_fit(time.monotonic())

    def _send_fit(self, now: float) -> None:
        if self._fit is not None:
            self._last_fit = now
            self.send(TrialEvent(self.trial, self._fit))
            self._fit = None


def merge_epochs(events: Sequence[EpochsEnded], max_points: int) -> EpochsEnded:
    """Consecutive EpochsEnded → one: rows concatenated (at most `max_points`, keeping each
    bucket's lowest and highest train loss, every measured test loss and the last row), the
    latest of everything else."""
    import numpy as np

    from nntui.engine.events import EpochsEnded

    last = events[-1]
    if len(events) == 1 and len(last.epochs) <= max_points:
        return last
    epochs = np.concatenate([e.epochs for e in events])
    train = np.concatenate([e.train_loss for e in events])
    test = np.concatenate([e.test_loss for e in events])
    params = None
    if all(e.params is not None for e in events):
        params = np.concatenate([e.params for e in events if e.params is not None])
    n = len(epochs)
    if n > max_points:
        keep = {n - 1, *np.flatnonzero(np.isfinite(test)).tolist()}
        buckets = max(1, (max_points - len(keep)) // 2)
        safe = np.where(np.isfinite(train), train, np.inf)
        for chunk in np.array_split(np.arange(n), buckets):
            if len(chunk):
                keep.add(int(chunk[np.argmin(safe[chunk])]))
                keep.add(int(chunk[np.argmax(np.where(np.isfinite(train[chunk]), train[chunk], -np.inf))]))
        idx = np.array(sorted(keep))
        epochs, train, test = epochs[idx], train[idx], test[idx]
        params = params[idx] if params is not None else None
    return EpochsEnded(
        epochs=epochs, train_loss=train, test_loss=test, elapsed_s=last.elapsed_s, steps_per_s=last.steps_per_s,
        total_epochs=last.total_epochs, lr=last.lr, metrics=last.metrics, health=last.health, params=params,
    )


def run_trial(job: TrialJob, send: Callable[[TrialMessage], None], control: Control) -> TrialFinished:
    """Train one trial through the engine's Session (the fast path, one torch thread) and
    report it. The unit every backend runs: a local worker process, or a Ray task."""
    from nntui.engine.events import RunFailed
    from nntui.engine.session import Session

    forward = Forwarder(job.index, send)
    session = Session(
        job.config, out=job.rundir, resume=job.rundir if job.resume else None,
        checkpoint_every=job.checkpoint_every, on_diverge=job.on_diverge, chunk_seconds=CHUNK_SECONDS,
        fit_interval=FIT_INTERVAL_S, threads=1, listeners=[forward],
    )
    send(TrialStarted(job.index, job.resume, f"pid {os.getpid()}"))
    try:
        result = session.run(control)
    except Exception as exc:  # reported as the trial's failure; the worker serves the next trial
        result = RunFailed(f"{type(exc).__name__}: {exc}", traceback.format_exc())
        forward(result)
    status, error = trial_outcome(result, control)
    forward.flush()
    rundir = Path(job.rundir)
    if status in ("failed", "interrupted"):
        # a trial that failed before its first event has no directory yet: it gets one,
        # with the summary saying why (every trial of a sweep has its run directory)
        with contextlib.suppress(OSError):
            rundir.mkdir(parents=True, exist_ok=True)
        session.finish(status, error)
    summary = read_summary(rundir) or session.record.summary(status, error)
    finished = TrialFinished(job.index, status, summary)
    send(finished)
    return finished


def trial_outcome(result: RunFinished | RunFailed, control: Control) -> tuple[TrialStatus, str]:
    """A trial's status and error from how its Session ended: one rule for every backend (a
    stop that the sweep asked for is "interrupted", to be resumed; a run's own stop is not)."""
    from nntui.engine.events import RunFailed

    if isinstance(result, RunFailed):
        return "failed", result.error
    if control.stopped and result.reason == "stopped":
        return "interrupted", ""
    return ("diverged" if result.reason == "diverged" else "done"), ""


def read_summary(rundir: Path) -> dict[str, Any]:
    """A run directory's summary.json ({} when missing or unreadable)."""
    try:
        data = json.loads((rundir / SUMMARY).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def mark_failed(rundir: Path, error: str) -> dict[str, Any]:
    """The driver's word on a trial whose worker died: its summary.json says failed, with why
    (and keeps the numbers it had), so the leaderboard and the run directory agree."""
    from nntui.engine.record import dumps_json

    summary = read_summary(rundir)
    summary.update(status="failed", error=error)
    with contextlib.suppress(OSError):
        rundir.mkdir(parents=True, exist_ok=True)
        atomic_write(rundir / SUMMARY, dumps_json(summary, indent=2) + "\n")
    return summary


# ----------------------------------------------------------------------------- the seam


class TrialBackend(Protocol):
    """Where trials run. The driver submits jobs, polls messages, and on a stop asks every
    running trial to stop and save; each submitted job ends in exactly one TrialFinished,
    except the ones `stop` returns (never started)."""

    def start(self, workers: int) -> None:
        """Get ready to run `workers` trials at once (spawn processes, connect to a cluster)."""

    def submit(self, job: TrialJob) -> None:
        """Queue a trial; it starts when a slot is free."""

    def poll(self, timeout: float) -> list[TrialMessage]:
        """Messages that arrived within `timeout` (an empty list if none)."""

    def stop(self, reason: str) -> list[TrialJob]:
        """Stop running trials (each saves and reports "interrupted"); return the queued jobs
        that will now never start."""

    def close(self) -> None:
        """Release the workers (after the last TrialFinished); kill what does not go."""


# ----------------------------------------------------------------------------- the driver


@dataclass
class SweepResult:
    rows: list[dict[str, Any]]
    """The leaderboard, best first."""
    counts: dict[str, int]
    """How many trials ended in each status."""
    stopped: str | None = None
    """Why the sweep stopped early (e.g. "interrupted by SIGINT"), None if it ran to the end."""


@dataclass
class _TrialState:
    status: TrialStatus = "not started"
    summary: dict[str, Any] = field(default_factory=dict)


class Sweep:
    """The driver: the grid's trials → a backend → run directories and a leaderboard."""

    def __init__(
        self,
        base: TrainConfig,
        grid: Grid,
        out: str | Path,
        *,
        jobs: int | None = None,
        checkpoint_every: float = DEFAULT_CHECKPOINT_S,
        on_diverge: DivergencePolicy = "stop",
        backend: TrialBackend | None = None,
    ) -> None:
        self.base = base
        self.grid = grid
        self.out = Path(out)
        self.jobs = jobs or default_jobs()
        self.checkpoint_every = checkpoint_every
        self.on_diverge = on_diverge
        if backend is None:
            from nntui.engine.sweep_local import LocalPool  # (it imports this module)

            backend = LocalPool()
        self.backend: TrialBackend = backend
        self.trials: list[Trial] = grid.trials(base)
        self.state = [_TrialState() for _ in self.trials]
        self._stop_reason: str | None = None
        self._prepared = False
        self._last_write = -math.inf
        self._write_cost = 0.0
        self._dirty = False

    # -- checks and files ------------------------------------------------------------------

    def prepare(self) -> None:
        """Check --out (a file, someone else's non-empty folder, another sweep's folder are
        refused with one line), write sweep.toml, and read what an earlier run left."""
        if self._prepared:
            return
        if self.on_diverge == "pause":
            raise ConfigError(
                "on-diverge", "pause", "a sweep has nobody to resume a paused trial: choose stop or lower"
            )
        if not 1 <= self.jobs <= 1024:
            raise ConfigError("jobs", self.jobs, "expected 1 to 1024 processes")
        toml = self.out / SWEEP_TOML
        if self.out.exists() and not self.out.is_dir():
            raise ConfigError("out", str(self.out), "it is a file; a sweep needs a new or empty folder (or its own)")
        if toml.is_file():
            self._check_same_sweep(toml)
        elif self.out.is_dir() and any(self.out.iterdir()):
            raise ConfigError(
                "out", str(self.out), f"the folder is not empty and holds no {SWEEP_TOML}; give a new or empty folder"
            )
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            if not toml.is_file():
                atomic_write(toml, dumps_sweep_toml(self.base, self.grid))
        except OSError as exc:
            raise ConfigError("out", str(self.out), f"cannot write there ({exc.strerror or exc})") from None
        for trial, state in zip(self.trials, self.state):
            summary = read_summary(self.out / trial.name)
            if summary:
                state.summary = summary
                status = summary.get("status")
                state.status = status if status in ("done", "diverged", "failed", "interrupted") else "interrupted"
        self._prepared = True

    def _check_same_sweep(self, toml: Path) -> None:
        from nntui.engine.config import TrainConfig

        try:
            base, axes = load_sweep_config(toml, TrainConfig())
        except ConfigError as exc:
            raise ConfigError("out", str(self.out), f"its {SWEEP_TOML} cannot be read ({exc})") from None
        if base != self.base:
            own, theirs = self.base.to_dict(), base.to_dict()
            diff = ", ".join(k for k in sorted(own.keys() | theirs.keys()) if own.get(k) != theirs.get(k))
            raise ConfigError(
                "out", str(self.out), f"it holds another sweep (its base config differs in {diff}); "
                "give another --out or the same settings"
            )
        if not self.grid.same_as(Grid(tuple(axes))):
            raise ConfigError(
                "out", str(self.out), f"it holds another sweep (its grid is {Grid(tuple(axes)).describe()}); "
                "give another --out or the same --vary"
            )

    def job(self, trial: Trial) -> TrialJob:
        rundir = self.out / trial.name
        return TrialJob(
            index=trial.index, name=trial.name, config=trial.config, rundir=str(rundir),
            resume=(rundir / CHECKPOINT).is_file(), checkpoint_every=self.checkpoint_every,
            on_diverge=self.on_diverge,
        )

    # -- running ----------------------------------------------------------------------------

    @property
    def pending(self) -> list[Trial]:
        """Trials this run will train: every one not finished (done or diverged) earlier."""
        return [t for t, s in zip(self.trials, self.state) if s.status not in FINISHED]

    def stop(self, reason: str = "stopped") -> None:
        """Stop every trial (each saves its checkpoint) and start no more; from any thread or
        a signal handler (it only sets a flag: the run loop acts within POLL_S)."""
        if self._stop_reason is None:
            self._stop_reason = reason

    def run(self, listener: Listener | None = None) -> SweepResult:
        """Train every pending trial; returns the leaderboard. The listener runs on this thread
        (keep it quick: hand messages to a mailbox)."""
        self.prepare()
        tell = listener or (lambda message: None)
        for trial, state in zip(self.trials, self.state):
            if state.status in FINISHED:
                tell(TrialFinished(trial.index, state.status, state.summary, earlier=True))
        todo = self.pending
        self.write_leaderboard()
        outstanding = {t.index for t in todo}
        backend = self.backend
        try:
            if self._stop_reason is not None:
                outstanding.clear()  # stopped before anything started: nothing to wait for
            elif todo:
                backend.start(min(self.jobs, len(todo)))
                for trial in todo:
                    backend.submit(self.job(trial))
            stopping = False
            while outstanding:
                if self._stop_reason is not None and not stopping:
                    stopping = True
                    for job in backend.stop(self._stop_reason):
                        outstanding.discard(job.index)
                    if not outstanding:
                        break
                for message in backend.poll(POLL_S):
                    self._handle(message, outstanding)
                    tell(message)
                if self._dirty:
                    self.write_leaderboard(force=False)
        finally:
            backend.close()
            self._settle()
            self.write_leaderboard()
        return SweepResult(self.rows(), self.counts(), self._stop_reason)

    def _settle(self) -> None:
        """Trials still "running" when the loop ended early (a second Ctrl-C, a backend error):
        what their run directories say, and "interrupted" where they say nothing final."""
        for trial, state in zip(self.trials, self.state):
            if state.status == "running":
                state.summary = read_summary(self.out / trial.name) or state.summary
                status = state.summary.get("status")
                state.status = status if status in ("done", "diverged", "failed", "interrupted") else "interrupted"

    def _handle(self, message: TrialMessage, outstanding: set[int]) -> None:
        state = self.state[message.trial]
        if isinstance(message, TrialStarted):
            state.status = "running"
        elif isinstance(message, TrialFinished):
            state.status, state.summary = message.status, message.summary
            outstanding.discard(message.trial)
            self._dirty = True

    # -- the leaderboard -----------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        return dict(collections.Counter(s.status for s in self.state))

    def rows(self) -> list[dict[str, Any]]:
        """One row per trial, best loss first (trials without one last, in grid order). A row's
        numbers are its trial's summary.json's, as written."""
        rows = [leaderboard_row(t, s.status, s.summary, self.grid.fields) for t, s in zip(self.trials, self.state)]
        return sort_rows(rows)

    def write_leaderboard(self, force: bool = True) -> None:
        """leaderboard.csv and .json, each replaced atomically. After every finished trial,
        unless writing costs more than 5% of the time since the last write (thousands of short
        trials): then it waits, and the last write always happens."""
        now = time.monotonic()
        if not force and now - self._last_write < 20 * self._write_cost:
            self._dirty = True
            return
        rows = self.rows()
        try:
            atomic_write(self.out / LEADERBOARD_CSV, leaderboard_csv(rows, self.grid.fields))
            atomic_write(self.out / LEADERBOARD_JSON, leaderboard_json(self, rows) + "\n")
        except OSError:
            return  # a full disk: the run directories are what matters; the next write tries again
        self._last_write = time.monotonic()
        self._write_cost = self._last_write - now
        self._dirty = False


def default_jobs() -> int:
    """The cores this process may use: trials are one-thread processes."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
