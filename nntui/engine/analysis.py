"""The lecture's closed form: the least-squares baseline (the cost landscape is in `landscape`).

numpy only: these are references drawn next to the network, not training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nntui.engine.config import TrainConfig, resolve_loss
from nntui.engine.data import Dataset


def _loss(name: str, pred: np.ndarray, y: np.ndarray, axis: int | None = None) -> np.ndarray:
    """The regression losses of the trainer, in numpy (mean over `axis`)."""
    d = pred - y
    if name == "l1":
        return np.asarray(np.abs(d).mean(axis=axis))
    if name == "huber":
        a = np.abs(d)
        return np.asarray(np.where(a <= 1.0, 0.5 * d * d, a - 0.5).mean(axis=axis))
    return np.asarray((d * d).mean(axis=axis))


# ----------------------------------------------------------------------------- baseline


@dataclass(frozen=True)
class Baseline:
    """Least squares on polynomial features: the best a closed form does with this degree."""

    degree: int
    coefficients: np.ndarray
    """On the features [1, x, x², …] of each input (raw units), intercept first."""
    x_grid: np.ndarray
    """1-input data: a grid over the input range, and the fit on it (for the fit plot)."""
    y_grid: np.ndarray
    train_loss: float
    """In the units the network's loss is reported in (standardized where the run is)."""
    test_loss: float | None
    loss: str


def polynomial_features(x: np.ndarray, degree: int) -> np.ndarray:
    """[1, x₁, x₁², …, x₂, x₂², …]: powers of each input, no cross terms."""
    cols = [np.ones(len(x))]
    for j in range(x.shape[1]):
        for p in range(1, degree + 1):
            cols.append(x[:, j].astype(np.float64) ** p)
    return np.stack(cols, axis=1)


def normal_equation(features: np.ndarray, y: np.ndarray) -> np.ndarray:
    """w = (XᵀX)⁻¹Xᵀy, solved (not inverted) on column-scaled features for conditioning.

    Where XᵀX is singular (fewer distinct points than coefficients) the minimum-norm
    least-squares solution is used instead, as lstsq would give.
    """
    scale = np.abs(features).max(axis=0)
    scale[scale == 0] = 1.0
    f = features / scale
    gram = f.T @ f
    try:
        if np.linalg.cond(gram) > 1e12:
            raise np.linalg.LinAlgError
        w = np.linalg.solve(gram, f.T @ y)
    except np.linalg.LinAlgError:
        w = np.linalg.lstsq(f, y, rcond=None)[0]
    return np.asarray(w / scale)


def least_squares_baseline(ds: Dataset, config: TrainConfig, degree: int | None = None) -> Baseline | None:
    """The analytic fit for regression data (None for classification)."""
    if ds.task != "regression":
        return None
    degree = degree or config.degree or ds.true_degree or 1
    y = ds.y_train[:, 0].astype(np.float64)
    coef = normal_equation(polynomial_features(ds.x_train, degree), y)
    loss = resolve_loss(config.loss, ds.task, ds.n_classes)

    def scaled_loss(x: np.ndarray, target: np.ndarray) -> float:
        pred = polynomial_features(x, degree) @ coef
        p, t = pred, target[:, 0].astype(np.float64)
        if ds.standardized:
            p, t = (p - ds.y_mean) / ds.y_std, (t - ds.y_mean) / ds.y_std
        return float(_loss(loss, p, t))

    if ds.n_inputs == 1:
        lo, hi = ds.x_range[0]
        grid = np.linspace(lo, hi, 200)
        fit = polynomial_features(grid[:, None], degree) @ coef
    else:
        grid = fit = np.empty(0)
    test = scaled_loss(ds.x_test, ds.y_test) if len(ds.x_test) else None
    return Baseline(degree, coef, grid, fit, scaled_loss(ds.x_train, ds.y_train), test, loss)
