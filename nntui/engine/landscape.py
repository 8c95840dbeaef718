"""Seed 004's "drawing the cost function": E(w), or E(w, b), for one- and two-parameter models.

Computed in the engine, beside the trainer, and sent with the run's events: the dashboard
draws it and never re-reads the data. The surface is centred on the least-squares minimum
and widened (a bounded number of times) when the descent path walks off it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from nntui.engine.analysis import _loss, normal_equation
from nntui.engine.config import TrainConfig, resolve_loss
from nntui.engine.data import Dataset

LANDSCAPE_ROWS = 2000
"""Rows of data the surface is computed from (a random sample above this)."""
POINTS_1D = 201
POINTS_2D = 81
MAX_REFITS = 6
"""How often the surface may be recomputed to keep a wandering path on it, per run."""
DIVERGED = 1e6
"""A path this far out is diverging: a surface that wide would show nothing."""


@dataclass(frozen=True)
class Landscape:
    """E(w) over a range of w, or E(w, b) over a grid: seed 004's "drawing the cost function"."""

    names: tuple[str, ...]
    """("w",) or ("w", "b")."""
    w: np.ndarray
    b: np.ndarray | None
    cost: np.ndarray
    """len(w) values, or (len(b), len(w)) for two parameters."""
    minimum: tuple[float, ...]
    loss: str
    sampled_rows: int = 0
    """Non-zero when the surface was computed from a sample of this many rows."""


def landscape_supported(config: TrainConfig, ds: Dataset) -> bool:
    """A model with one or two parameters: no hidden layer, one input, one output."""
    return not config.hidden and ds.n_inputs == 1 and ds.task == "regression"


def cost_landscape(
    ds: Dataset,
    config: TrainConfig,
    around: tuple[float, ...] = (),
    points: int = 121,
    span: float | None = None,
    sampled: int = 0,
) -> Landscape | None:
    """The cost surface in the units training sees (standardized data if the run is).

    The range is centred on the least-squares minimum and widened to include `around`
    (e.g. the initial weights) so the whole descent path is on the picture.
    """
    if not landscape_supported(config, ds):
        return None
    loss = resolve_loss(config.loss, ds.task, ds.n_classes)
    x = ds.scale_x(ds.x_train)[:, 0].astype(np.float64)
    y = ds.scale_y(ds.y_train)[:, 0].astype(np.float64) if ds.standardized else ds.y_train[:, 0].astype(np.float64)
    centre: tuple[float, ...]
    if config.bias:
        w0, b0 = normal_equation(np.stack([x, np.ones_like(x)], axis=1), y)
        centre = (float(w0), float(b0))
    else:
        centre = (float(x @ y) / max(float(x @ x), 1e-12),)
    reach = [span or max(1.0, 2 * abs(c)) for c in centre]
    for i, value in enumerate(around[: len(centre)]):
        reach[i] = max(reach[i], 1.2 * abs(value - centre[i]))
    w = np.linspace(centre[0] - reach[0], centre[0] + reach[0], points)
    if not config.bias:
        cost = _loss(loss, w[:, None] * x[None, :], y[None, :], axis=1)
        return Landscape(("w",), w, None, cost, centre, loss, sampled)
    b = np.linspace(centre[-1] - reach[-1], centre[-1] + reach[-1], points)  # with a bias: (w, b)
    # (len(b), len(w)) grid, chunked over b to bound memory for big data sets
    cost = np.empty((len(b), len(w)))
    for i, bi in enumerate(b):
        cost[i] = _loss(loss, w[:, None] * x[None, :] + bi, y[None, :], axis=1)
    return Landscape(("w", "b"), w, b, cost, centre, loss, sampled)


class LandscapeTracker:
    """Keeps one run's surface under its descent path: `start` gives the first surface,
    `follow` a wider one when the path leaves it (None when the old one still fits)."""

    def __init__(self, dataset: Dataset, config: TrainConfig) -> None:
        self.config = config
        self.sampled_rows = 0
        if len(dataset.x_train) > LANDSCAPE_ROWS:
            pick = np.sort(np.random.default_rng(0).choice(len(dataset.x_train), LANDSCAPE_ROWS, replace=False))
            dataset = dataclasses.replace(dataset, x_train=dataset.x_train[pick], y_train=dataset.y_train[pick])
            self.sampled_rows = LANDSCAPE_ROWS
        self.dataset = dataset
        self.landscape: Landscape | None = None
        self.refits = 0
        self._far: np.ndarray | None = None
        """Per parameter, the point of the path farthest from the minimum so far."""

    def start(self, initial: tuple[float, ...]) -> Landscape | None:
        """The surface around the minimum, wide enough to hold the initial weights."""
        self.landscape = self._compute(initial)
        return self.landscape

    def follow(self, path: np.ndarray) -> Landscape | None:
        """A wider surface if `path` ((epochs, 1|2) weights) left the current one, else None."""
        ls = self.landscape
        if ls is None or self.refits >= MAX_REFITS:
            return None
        finite = path[np.isfinite(path).all(axis=1)]
        if not len(finite):
            return None
        centre = np.asarray(ls.minimum[: finite.shape[1]])
        far = finite[np.abs(finite - centre).argmax(axis=0), np.arange(finite.shape[1])]
        if self._far is not None:
            far = np.where(np.abs(far - centre) > np.abs(self._far - centre), far, self._far)
        self._far = far
        ranges = [(ls.w[0], ls.w[-1])] + ([(ls.b[0], ls.b[-1])] if ls.b is not None else [])
        outside = any(
            finite[:, i].min() < lo or finite[:, i].max() > hi for i, (lo, hi) in enumerate(ranges[: finite.shape[1]])
        )
        if not outside or np.abs(far).max() > DIVERGED:
            return None
        self.refits += 1
        wider = self._compute(tuple(float(v) for v in far))
        if wider is not None:
            self.landscape = wider
        return wider

    def _compute(self, around: tuple[float, ...]) -> Landscape | None:
        points = POINTS_2D if self.config.bias else POINTS_1D
        try:
            return cost_landscape(self.dataset, self.config, around=around, points=points, sampled=self.sampled_rows)
        except (ValueError, FloatingPointError):
            return None
