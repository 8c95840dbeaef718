"""Pictures of a model while it trains: its fit, its decision boundary, its health.

Each snapshot is a small event of numpy arrays (a curve of 200 points, a 96×48 heatmap,
a few hundred scattered points, one row per layer), cheap enough to take every redraw of
a paced run and to keep a few hundred of in a replay film.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from nntui.engine.data import Dataset
from nntui.engine.events import FitUpdated, LayerHealth
from nntui.engine.model import MLP

CURVE_POINTS = 200
"""Fit curve resolution: a wide terminal has about this many columns."""
BOUNDARY_GRID = (96, 48)
"""Decision-boundary heatmap resolution (x1 × x2)."""
SAMPLE_POINTS = 400
"""At most this many data points go to the fit plot."""
HEALTH_ROWS = 2048
"""Health statistics look at this many training rows: enough for a share, cheap per chunk."""


class Snapshots:
    """Takes a model's pictures in the data's own units (standardization undone)."""

    def __init__(self, dataset: Dataset, model: MLP, loss: str, device: torch.device) -> None:
        self.dataset = dataset
        self.model = model
        self.loss = loss
        """The loss in use (`auto` already resolved): bce and ce read the output differently."""
        self.device = device
        self.small = sum(p.numel() for p in model.parameters()) <= 2
        """One- or two-parameter models: their weights ride along for the cost landscape."""

    @torch.no_grad()
    def fit(self, epoch: int, loss: float = math.nan) -> FitUpdated:
        """The current fit on a grid (1 input), a heatmap (2-D classes) or a scatter (else)."""
        ds = self.dataset
        params = tuple(float(v) for p in self.model.parameters() for v in p.detach().flatten().tolist()) \
            if self.small else ()
        if ds.n_inputs == 1:
            lo, hi = ds.x_range[0]
            grid = np.linspace(lo, hi, CURVE_POINTS).reshape(-1, 1)
            pred = self.predict(grid)
            true_y = ds.true_fn(grid) if ds.true_fn is not None else None
            if ds.task == "classification":
                pred = to_probability(pred)
            return FitUpdated(epoch=epoch, kind="curve", x=grid[:, 0], y=pred, true_y=true_y, params=params, loss=loss)
        if ds.n_inputs == 2 and ds.task == "classification":
            (x0, x1), (y0, y1) = ds.x_range
            gx, gy = np.linspace(x0, x1, BOUNDARY_GRID[0]), np.linspace(y0, y1, BOUNDARY_GRID[1])
            xx, yy = np.meshgrid(gx, gy)
            raw = self.predict_raw(np.stack([xx.ravel(), yy.ravel()], axis=1))
            grid = class_map(raw, self.loss).reshape(len(gy), len(gx))
            return FitUpdated(epoch=epoch, kind="boundary", x=gx, y=gy, grid=grid, params=params, loss=loss)
        x_eval = ds.x_test if len(ds.x_test) else ds.x_train
        y_eval = ds.y_test if len(ds.y_test) else ds.y_train
        xs, ys = sample(x_eval, y_eval, SAMPLE_POINTS, np.random.default_rng(1))
        if ds.task == "classification":
            pred = class_map(self.predict_raw(xs), self.loss, hard=True)
        else:
            pred = self.predict(xs)
        return FitUpdated(epoch=epoch, kind="scatter", x=ys[:, 0], y=pred, params=params, loss=loss)

    def predict_raw(self, x: np.ndarray) -> np.ndarray:
        """The network's raw output for inputs in data units."""
        xt = torch.from_numpy(self.dataset.scale_x(x.astype(np.float32))).to(self.device)
        out: np.ndarray = self.model(xt).cpu().numpy().astype(np.float64)
        return out

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predictions in the data's own units (standardization undone)."""
        raw = self.predict_raw(x)
        if self.dataset.task == "regression":
            return self.dataset.unscale_y(raw[:, 0])
        return raw[:, 0] if raw.shape[1] == 1 else raw.argmax(1).astype(np.float64)

    @torch.no_grad()
    def health(self, x: Tensor) -> tuple[LayerHealth, ...]:
        """Per hidden layer: weight-gradient norm and the share of dead/saturated/flat units."""
        model = self.model
        rows: list[LayerHealth] = []
        outputs = model.hidden_outputs(x[:HEALTH_ROWS])
        for i, (layer, act, (z, a)) in enumerate(zip(model.linears, model.acts, outputs)):
            g = layer.weight.grad
            norm = float(g.norm()) if g is not None else 0.0
            if act == "relu":
                kind, frac = "dead", float((z <= 0).all(0).float().mean())
            elif act in ("sigmoid", "tanh"):
                lim = 0.99 if act == "tanh" else 0.995
                sat = (a.abs() > lim) if act == "tanh" else ((a > lim) | (a < 1 - lim))
                kind, frac = "saturated", float(sat.float().mean())
            elif act in ("step", "sign"):
                kind, frac = "flat", 1.0
            else:
                kind, frac = "—", 0.0
            rows.append(LayerHealth(f"hidden {i + 1} ({act})", norm, frac, kind))
        last = model.linears[-1].weight.grad
        rows.append(LayerHealth("output", float(last.norm()) if last is not None else 0.0, 0.0, "—"))
        return tuple(rows)


def sample(x: np.ndarray, y: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """At most n rows, in their original order (a plot needs no more)."""
    if len(x) <= n:
        return x, y
    idx = np.sort(rng.choice(len(x), n, replace=False))
    return x[idx], y[idx]


def to_probability(logit: np.ndarray) -> np.ndarray:
    out: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(logit, -60, 60)))
    return out


def class_map(raw: np.ndarray, loss: str, hard: bool = False) -> np.ndarray:
    """bce: probability of class 1 (or the class); ce: the predicted class."""
    if loss == "ce" or raw.shape[1] > 1:
        classes: np.ndarray = raw.argmax(1).astype(np.float64)
        return classes
    p = to_probability(raw[:, 0])
    return (p > 0.5).astype(np.float64) if hard else p
