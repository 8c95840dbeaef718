"""The one hand-over point between the trainer thread and the UI.

The trainer's `emit` writes here under a lock and returns at once; the UI drains it on a
timer. Measured on this machine: posting one Textual message per event let the message
queue grow without bound (key-press latency 6.6 s), `call_from_thread` blocks the trainer
until the UI ran the callback; a mailbox drained at a few Hz kept key latency at 0.06 s.

Everything held is bounded: loss points are compacted (min/max pairs keep spikes) when
the UI falls behind, only the latest fit snapshot and stats are kept, and the short list
of notes (state changes, warnings, learning-rate changes) drops its oldest entries.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from nntui.engine.events import (
    EpochsEnded,
    Event,
    FitUpdated,
    LandscapeChanged,
    LayerHealth,
    LearningRateChanged,
    NetworkShown,
    PaceChanged,
    RunFailed,
    RunFinished,
    RunStarted,
    StateChanged,
    Warned,
)

Note = StateChanged | Warned | LearningRateChanged | PaceChanged

MAX_PENDING_POINTS = 200_000
"""Above this many undrained loss points (the UI stalled), pairs of points are folded."""
MAX_NOTES = 64
MAX_PENDING_FITS = 256
"""Fit snapshots kept for the replay film between drains (every other one goes beyond this)."""
MAX_PENDING_PARAMS = 200_000
"""Above this many undrained per-epoch weights (the UI stalled), every other one is dropped:
the landscape widget thins its path to a few hundred points anyway, and keeps the latest."""


@dataclass
class Drained:
    """What arrived since the last drain, in one piece the UI can apply."""

    started: RunStarted | None = None
    epochs: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    train_loss: np.ndarray = field(default_factory=lambda: np.empty(0))
    test_epochs: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    test_loss: np.ndarray = field(default_factory=lambda: np.empty(0))
    stats: EpochsEnded | None = None
    """The latest EpochsEnded: steps/s, lr, metrics, elapsed time."""
    fit: FitUpdated | None = None
    """The newest snapshot: the one to draw."""
    fits: list[tuple[FitUpdated, tuple[LayerHealth, ...]]] = field(default_factory=list)
    """Every snapshot since the last drain, for the replay film, each with the network's
    health at its epoch when that was recorded (else empty)."""
    network: NetworkShown | None = None
    """The newest whole network at rest (the backprop stepper's input)."""
    landscape: LandscapeChanged | None = None
    """Only the newest (widest) cost surface."""
    params: np.ndarray | None = None
    """(epochs, 1 or 2): the weights after each epoch since the last drain, for the cost
    landscape's path (one- and two-parameter models only). `stats` keeps only the latest
    EpochsEnded, so these are gathered from every one."""
    notes: list[Note] = field(default_factory=list)
    dropped_notes: int = 0
    finished: RunFinished | RunFailed | None = None


class Mailbox:
    """Bounded, lock-protected inbox for one run's events (any thread in, the UI out)."""

    def __init__(self, max_points: int = MAX_PENDING_POINTS) -> None:
        self._lock = threading.Lock()
        self._max_points = max_points
        self._health_at: tuple[int, tuple[LayerHealth, ...]] = (-1, ())
        """The newest chunk's last epoch and its health rows (kept across drains: a fit may come later)."""
        self._reset()

    def _reset(self) -> None:
        self._started: RunStarted | None = None
        self._x: list[np.ndarray] = []
        self._y: list[np.ndarray] = []
        self._n_points = 0
        self._tx: list[np.ndarray] = []
        self._ty: list[np.ndarray] = []
        self._stats: EpochsEnded | None = None
        self._params: list[np.ndarray] = []
        self._n_params = 0
        self._fit: FitUpdated | None = None
        self._fits: list[tuple[FitUpdated, tuple[LayerHealth, ...]]] = []
        self._network: NetworkShown | None = None
        self._landscape: LandscapeChanged | None = None
        self._notes: deque[Note] = deque(maxlen=MAX_NOTES)
        self._dropped = 0
        self._finished: RunFinished | RunFailed | None = None
        self._dirty = False

    # -- trainer side: cheap, never blocks for long ------------------------------------

    def put(self, event: Event) -> None:
        """Take one event; the emit callable of a run."""
        with self._lock:
            self._dirty = True
            if isinstance(event, EpochsEnded):
                self._x.append(event.epochs)
                self._y.append(event.train_loss)
                self._n_points += len(event.epochs)
                keep = np.isfinite(event.test_loss)
                if keep.any():
                    self._tx.append(event.epochs[keep])
                    self._ty.append(event.test_loss[keep])
                self._stats = event
                self._health_at = (event.last_epoch, event.health)
                if self._n_points > self._max_points:
                    self._compact()
                if event.params is not None and len(event.params):
                    self._params.append(event.params)
                    self._n_params += len(event.params)
                    if self._n_params > MAX_PENDING_PARAMS:
                        self._thin_params()
            elif isinstance(event, LandscapeChanged):
                self._landscape = event
            elif isinstance(event, FitUpdated):
                self._fit = event
                at, rows = self._health_at
                health = rows if at == event.epoch else ()
                self._fits.append((event, health))
                if len(self._fits) > MAX_PENDING_FITS:
                    self._fits = self._fits[:-1:2] + self._fits[-1:]
            elif isinstance(event, NetworkShown):
                self._network = event
            elif isinstance(event, (StateChanged, Warned, LearningRateChanged, PaceChanged)):
                if len(self._notes) == self._notes.maxlen:
                    self._dropped += 1
                self._notes.append(event)
            elif isinstance(event, RunStarted):
                self._started = event
            elif isinstance(event, (RunFinished, RunFailed)):
                self._finished = event

    def _compact(self) -> None:
        """Halve the pending points, keeping each pair's min and max (spikes survive)."""
        x = np.concatenate(self._x)
        y = np.concatenate(self._y)
        x, y = fold_min_max(x, y)
        self._x, self._y = [x], [y]
        self._n_points = len(x)

    def _thin_params(self) -> None:
        """Keep every other pending weight vector, and always the latest."""
        p = np.concatenate(self._params)
        idx = np.arange(0, len(p), 2)
        if idx[-1] != len(p) - 1:
            idx = np.append(idx, len(p) - 1)
        kept = p[idx]
        self._params = [kept]
        self._n_params = len(kept)

    # -- UI side -------------------------------------------------------------------------

    def drain(self) -> Drained | None:
        """Everything since the last call, or None when nothing came."""
        with self._lock:
            if not self._dirty:
                return None
            out = Drained(
                started=self._started,
                stats=self._stats,
                fit=self._fit,
                fits=self._fits,
                network=self._network,
                landscape=self._landscape,
                notes=list(self._notes),
                dropped_notes=self._dropped,
                finished=self._finished,
            )
            if self._x:
                out.epochs = np.concatenate(self._x)
                out.train_loss = np.concatenate(self._y)
            if self._params:
                out.params = np.concatenate(self._params)
            if self._tx:
                out.test_epochs = np.concatenate(self._tx)
                out.test_loss = np.concatenate(self._ty)
            self._reset()
        return out


def fold_min_max(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of points → (min, max) of each group of four: half the points, extremes kept."""
    n = len(x) // 4 * 4
    if n == 0:
        return x, y
    head_x, head_y = x[:n].reshape(-1, 4), y[:n].reshape(-1, 4)
    lo = np.nanargmin(np.where(np.isfinite(head_y), head_y, np.inf), axis=1)
    hi = np.nanargmax(np.where(np.isfinite(head_y), head_y, -np.inf), axis=1)
    first, second = np.minimum(lo, hi), np.maximum(lo, hi)
    rows = np.arange(len(head_x))
    fx = np.column_stack([head_x[rows, first], head_x[rows, second]]).ravel()
    fy = np.column_stack([head_y[rows, first], head_y[rows, second]]).ravel()
    return np.concatenate([fx, x[n:]]), np.concatenate([fy, y[n:]])
