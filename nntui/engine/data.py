"""Data sets: the lecture's built-in ones, generated from the seed, and the train/test split.

Everything here is numpy on the host; the trainer moves it to the device once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from nntui.engine.config import TrainConfig
from nntui.engine.errors import ConfigError
from nntui.engine.names import CLASSIFICATION_DATASETS


@dataclass
class Dataset:
    """Raw (unstandardized) data, split, plus what the plots need to know about it."""

    name: str
    task: str
    """regression or classification."""
    x_train: np.ndarray
    """(n, d) float32."""
    y_train: np.ndarray
    """(n, 1) float32; class indices (as floats) for classification."""
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int = 0
    """0 for regression."""
    input_names: tuple[str, ...] = ("x",)
    target_name: str = "y"
    class_names: tuple[str, ...] = ()
    """Classification: the label each class index stands for (e.g. the CSV's own values)."""
    true_fn: Callable[[np.ndarray], np.ndarray] | None = None
    """The noiseless function (regression) or labelling rule (classification), on raw (n, d) x."""
    true_degree: int | None = None
    """Polynomial degree of `true_fn` where it is one (the analytic baseline's default)."""
    x_range: tuple[tuple[float, float], ...] = ((-1.0, 1.0),)
    """Per input, the range the fit plot spans."""
    notes: list[str] = field(default_factory=list)
    """Things a user should be told about the data (delimiter found, rows dropped, ...)."""
    x_mean: np.ndarray | None = None
    x_std: np.ndarray | None = None
    y_mean: float = 0.0
    y_std: float = 1.0

    @property
    def n_inputs(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def standardized(self) -> bool:
        return self.x_mean is not None

    def standardize(self) -> None:
        """Set statistics from the training split; x and y are scaled when moved to the device."""
        self.x_mean = self.x_train.mean(axis=0)
        std = self.x_train.std(axis=0)
        self.x_std = np.where(std > 0, std, 1.0).astype(np.float32)
        if self.task == "regression":
            self.y_mean = float(self.y_train.mean())
            self.y_std = float(self.y_train.std()) or 1.0

    def scale_x(self, x: np.ndarray) -> np.ndarray:
        if self.x_mean is None or self.x_std is None:
            return x.astype(np.float32, copy=False)
        return np.asarray((x - self.x_mean) / self.x_std, dtype=np.float32)

    def scale_y(self, y: np.ndarray) -> np.ndarray:
        return ((y - self.y_mean) / self.y_std).astype(np.float32)

    def unscale_y(self, y: np.ndarray) -> np.ndarray:
        return y * self.y_std + self.y_mean

    def stats_text(self) -> str:
        if self.x_mean is None or self.x_std is None:
            return "not standardized"
        parts = [f"{n}: mean {m:.4g} std {s:.4g}" for n, m, s in zip(self.input_names, self.x_mean, self.x_std)]
        if self.task == "regression":
            parts.append(f"{self.target_name}: mean {self.y_mean:.4g} std {self.y_std:.4g}")
        return "standardized — " + "; ".join(parts)


# ----------------------------------------------------------------------------- regression


def _quadratic(x: np.ndarray) -> np.ndarray:
    return np.asarray(8 * x[:, 0] ** 2 + 7 * x[:, 0] + 3, dtype=np.float64)


REGRESSION: dict[str, tuple[Callable[[np.ndarray], np.ndarray], tuple[float, float], int | None]] = {
    # name: (true function, x range, polynomial degree or None)
    "quadratic": (_quadratic, (-15.0, 15.0), 2),
    "linear": (lambda x: 0.5 * x[:, 0] + 4, (-10.0, 10.0), 1),
    "sine": (lambda x: np.sin(x[:, 0]), (-2 * math.pi, 2 * math.pi), None),
    "abs": (lambda x: np.abs(x[:, 0]), (-3.0, 3.0), None),
    "step": (lambda x: (x[:, 0] > 0).astype(np.float64), (-3.0, 3.0), None),
    "linreg": (lambda x: x[:, 0], (0.0, 4.0), 1),
}


def _regression(c: TrainConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    fn, (lo, hi), _ = REGRESSION[c.dataset]
    if c.dataset == "linreg":
        # seed 004's three points, exactly: X = [1, 2, 3], Y = [1, 2, 3]
        x = np.array([[1.0], [2.0], [3.0]])
        return x, fn(x)[:, None] + c.noise * rng.standard_normal((3, 1))
    x = rng.uniform(lo, hi, size=(c.samples, 1))
    y = fn(x)[:, None] + c.noise * rng.standard_normal((c.samples, 1))
    return x, y


# ----------------------------------------------------------------------------- classification


def xor_label(x: np.ndarray) -> np.ndarray:
    """Parity of the sign pattern: class 1 where the two coordinates have different signs."""
    return np.asarray(x[:, 0] * x[:, 1] < 0, dtype=np.float64)


def ring_label(x: np.ndarray) -> np.ndarray:
    """Class 1 where 1 ≤ ‖x‖₂ ≤ 2."""
    r = np.hypot(x[:, 0], x[:, 1])
    return np.asarray((r >= 1) & (r <= 2), dtype=np.float64)


THREE_MODE_CENTERS = np.array([[0.0, 2.2], [-1.9, -1.1], [1.9, -1.1]])
THREE_MODE_RADIUS = 0.9
"""Class 1 lies within this distance of one of the three centres."""


def three_modes_label(x: np.ndarray) -> np.ndarray:
    d = np.linalg.norm(x[:, None, :] - THREE_MODE_CENTERS[None], axis=2)
    return np.asarray(d.min(axis=1) <= THREE_MODE_RADIUS, dtype=np.float64)


def _xor(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x = rng.uniform(-1, 1, size=(n, 2))
    return x, xor_label(x)


def _ring(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    # radius uniform in [0, 3]: about a third of the points fall in the ring
    r = rng.uniform(0, 3, size=n)
    t = rng.uniform(0, 2 * math.pi, size=n)
    x = np.stack([r * np.cos(t), r * np.sin(t)], axis=1)
    return x, ring_label(x)


def _three_modes(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    n1 = n // 2
    which = rng.integers(0, 3, size=n1)
    r = THREE_MODE_RADIUS * np.sqrt(rng.uniform(0, 1, size=n1))
    t = rng.uniform(0, 2 * math.pi, size=n1)
    ones = THREE_MODE_CENTERS[which] + np.stack([r * np.cos(t), r * np.sin(t)], axis=1)
    zeros = np.empty((0, 2))
    while len(zeros) < n - n1:  # background points outside every cluster
        cand = rng.uniform(-3.5, 3.5, size=(2 * (n - n1), 2))
        zeros = np.concatenate([zeros, cand[three_modes_label(cand) == 0]])
    x = np.concatenate([ones, zeros[: n - n1]])
    return x, three_modes_label(x)


def _gaussians(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    y = (np.arange(n) % 2).astype(np.float64)
    centers = np.where(y[:, None] == 1, 1.0, -1.0)
    return centers + 0.7 * rng.standard_normal((n, 2)), y


def _spiral(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    y = (np.arange(n) % 2).astype(np.float64)
    t = np.sqrt(rng.uniform(0.02, 1, size=n))
    r, theta = 3 * t, 3 * math.pi * t + math.pi * y
    return np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1), y


Generator = Callable[[int, np.random.Generator], tuple[np.ndarray, np.ndarray]]

CLASSIFICATION: dict[str, tuple[Generator, float, Callable[[np.ndarray], np.ndarray] | None]] = {
    # name: (generator, half-width of the plotted square, labelling rule if geometric)
    "xor": (_xor, 1.3, xor_label),
    "ring": (_ring, 3.3, ring_label),
    "three-modes": (_three_modes, 3.8, three_modes_label),
    "gaussians": (_gaussians, 3.5, None),
    "spiral": (_spiral, 3.6, None),
}
assert tuple(CLASSIFICATION) == CLASSIFICATION_DATASETS


# ----------------------------------------------------------------------------- building


def split(
    x: np.ndarray, y: np.ndarray, test_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shuffle and hold out `test_fraction` of the rows (none when it is 0)."""
    n = len(x)
    n_test = round(n * test_fraction)
    if test_fraction > 0 and not 1 <= n_test < n:
        raise ConfigError("test_fraction", test_fraction, f"leaves no train or no test rows out of {n}")
    if n_test == 0:
        return x, y, x[:0], y[:0]
    order = rng.permutation(n)
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def make_dataset(c: TrainConfig) -> Dataset:
    """The data a config describes: same seed, same points, same split."""
    if c.dataset == "csv":
        from nntui.engine.csvdata import load_csv_dataset

        return load_csv_dataset(c)
    rng = np.random.default_rng(c.seed)
    if c.dataset in CLASSIFICATION:
        gen, half, rule = CLASSIFICATION[c.dataset]
        x, labels = gen(c.samples, rng)
        x = x + c.noise * rng.standard_normal(x.shape)  # noise moves points, labels stay
        xtr, ytr, xte, yte = split(x, labels[:, None], c.test_fraction, rng)
        ds = Dataset(
            c.dataset, "classification", xtr.astype(np.float32), ytr.astype(np.float32),
            xte.astype(np.float32), yte.astype(np.float32), n_classes=2, input_names=("x1", "x2"),
            target_name="class", true_fn=rule, x_range=((-half, half), (-half, half)),
        )
    else:
        fn, (lo, hi), degree = REGRESSION[c.dataset]
        x, y = _regression(c, rng)
        xtr, ytr, xte, yte = split(x, y, c.test_fraction, rng)
        ds = Dataset(
            c.dataset, "regression", xtr.astype(np.float32), ytr.astype(np.float32),
            xte.astype(np.float32), yte.astype(np.float32), true_fn=fn, true_degree=degree,
            x_range=((lo, hi),),
        )
    if c.standardize:
        ds.standardize()
    return ds
