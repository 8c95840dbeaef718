"""Plain events the trainer emits. No tensors: numbers, lists and numpy arrays only.

Listeners (console, run directory, dashboard mailbox, tests) receive them through one
`emit(event)` callable; the trainer never knows who listens. Events are built with
keywords: a field added later cannot shift another's meaning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np

from nntui.engine.analysis import Baseline
from nntui.engine.config import TrainConfig
from nntui.engine.landscape import Landscape
from nntui.engine.pace import Pace

if TYPE_CHECKING:
    from nntui.engine.backprop.network import NetworkInput

FitKind = Literal["curve", "boundary", "scatter"]
"""curve: one input, the prediction on a grid; boundary: 2-D classes, a heatmap;
scatter: anything else, predicted against actual."""
RunState = Literal["running", "paused"]
"""What StateChanged reports; the dashboard adds its own (starting, done, stopped…)."""
FinishReason = Literal["done", "stopped", "diverged"]


@dataclass(frozen=True, kw_only=True)
class RunStarted:
    config: TrainConfig
    parameters: int
    device: str
    """torch device name, e.g. cpu or cuda:0."""
    device_label: str
    """What a person reads, e.g. "cuda:0 (NVIDIA A100)"."""
    engine: str
    """The path actually used: fast or autograd."""
    task: str
    n_train: int
    n_test: int
    start_epoch: int
    """0 for a new run, more for a resumed one."""
    x_points: np.ndarray
    """A sample (at most a few hundred) of the training inputs, raw units, for the fit plot."""
    y_points: np.ndarray
    x_test_points: np.ndarray
    y_test_points: np.ndarray
    input_names: tuple[str, ...]
    target_name: str
    x_range: tuple[tuple[float, float], ...]
    data_notes: tuple[str, ...] = ()
    baseline: Baseline | None = None
    """Regression: the least-squares fit (normal equation) to draw beside the network's, with
    its loss in the units of the loss plot."""
    landscape: Landscape | None = None
    """One- and two-parameter models: the cost surface E(w) or E(w, b) around the minimum."""


@dataclass(frozen=True, kw_only=True)
class EpochsEnded:
    """A batch of finished epochs, read from the device once (never one event per step)."""

    epochs: np.ndarray
    """int64 epoch numbers (1-based: epoch 1 is the first finished pass)."""
    train_loss: np.ndarray
    """float64 mean training loss of each epoch."""
    test_loss: np.ndarray
    """float64, NaN where the test loss was not evaluated (it is, once per batch of epochs)."""
    elapsed_s: float
    """Wall time of the run so far (paused time excluded)."""
    steps_per_s: float
    """Optimizer steps per second over the recent batch."""
    total_epochs: int
    lr: float
    metrics: dict[str, float] = field(default_factory=dict)
    """Latest accuracy / r2 of the chunk's last epoch: train_… always, test_… too when there is a test split."""
    health: tuple[LayerHealth, ...] = ()
    params: np.ndarray | None = None
    """(epochs, 1 or 2): the weights after each epoch, for models with at most two parameters."""
    peak_memory: int | None = None
    """cuda: the torch allocator's peak memory so far, bytes (None elsewhere)."""

    @property
    def last_epoch(self) -> int:
        return int(self.epochs[-1])


@dataclass(frozen=True)
class LayerHealth:
    layer: str
    grad_norm: float
    """L2 norm of this layer's weight gradient."""
    dead_fraction: float
    """Share of units never active (ReLU family) or saturated (sigmoid/tanh) or flat (step/sign)."""
    kind: str
    """What `dead_fraction` counts: dead, saturated, flat or — ."""


@dataclass(frozen=True, kw_only=True)
class FitUpdated:
    """The model's current fit, about once a second; small enough to draw at once."""

    epoch: int
    kind: FitKind
    x: np.ndarray
    """curve: x grid; scatter: actual targets; boundary: x1 grid."""
    y: np.ndarray
    """curve: predicted y; scatter: predicted targets; boundary: x2 grid."""
    true_y: np.ndarray | None = None
    """curve: the noiseless function on the grid, where known."""
    grid: np.ndarray | None = None
    """boundary: (len(y), len(x)) probability of class 1 (or the predicted class for >2)."""
    params: tuple[float, ...] = ()
    """The weights of a one- or two-parameter model (cost landscape)."""
    loss: float = math.nan
    """The training loss at this epoch (NaN before the first one): what replay shows beside it."""


@dataclass(frozen=True, kw_only=True)
class PaceChanged:
    """The run's pace was set (at its start, when paced) or changed (the dashboard's +/-)."""

    epoch: int
    pace: Pace
    """What was asked: epochs per second, "auto", or None for max."""
    cap: float | None
    """The cap in force, epochs per second ("auto" resolved); None: full speed."""


@dataclass(frozen=True, kw_only=True)
class NetworkShown:
    """The whole network at rest (paused, stepped or finished), for the backprop stepper:
    weights, activations, loss, lr and a few training points in the trainer's own units."""

    network: NetworkInput


@dataclass(frozen=True, kw_only=True)
class LandscapeChanged:
    """The descent path left the cost surface: a wider one (a bounded number of times a run)."""

    landscape: Landscape


@dataclass(frozen=True)
class Warned:
    message: str


@dataclass(frozen=True, kw_only=True)
class LearningRateChanged:
    epoch: int
    old: float
    new: float


@dataclass(frozen=True, kw_only=True)
class StateChanged:
    """running, paused (and why), stepping."""

    state: RunState
    epoch: int
    reason: str = ""
    suggested_lr: float | None = None
    """After a divergence: a learning rate to try (the dashboard can offer it)."""


@dataclass(frozen=True, kw_only=True)
class RunFinished:
    reason: FinishReason
    epoch: int
    """The epochs trained and kept: the checkpoint's epoch (for diverged, the last good one)."""
    final_loss: float
    best_loss: float
    steps_per_s: float
    elapsed_s: float
    message: str = ""
    """For diverged: the epoch and a suggested learning rate; for stopped: who stopped it
    when not the user's stop (reset, quit, interrupted by SIGINT)."""
    suggested_lr: float | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    diverged_at: int | None = None
    """For diverged: the epoch whose loss or weights were NaN/inf (its chunk was not kept)."""
    peak_memory: int | None = None
    """cuda: the torch allocator's peak memory over the run, bytes (None elsewhere)."""


@dataclass(frozen=True)
class RunFailed:
    error: str
    """One line a person can act on."""
    detail: str = ""
    """The traceback, for an error panel's details or a log, never for the console by default."""


Event = (
    RunStarted
    | EpochsEnded
    | FitUpdated
    | LandscapeChanged
    | PaceChanged
    | NetworkShown
    | Warned
    | LearningRateChanged
    | StateChanged
    | RunFinished
    | RunFailed
)
