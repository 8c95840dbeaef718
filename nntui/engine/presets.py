"""Named starting points: the lecture's experiment and the data sets it discusses."""

from __future__ import annotations

from typing import Any

from nntui.engine.config import TrainConfig
from nntui.engine.errors import ConfigError

PRESETS: dict[str, dict[str, Any]] = {
    # seed 003 exactly: no activation between the 10→6 and 6→1 layers, as in the script.
    "lecture": {},
    # seed 004: X = Y = [1, 2, 3], hypothesis w·x, cost mean((w·x − y)²), gradient descent.
    "linreg": {
        "dataset": "linreg",
        "hidden": (),
        "activation": ("linear",),
        "bias": False,
        "loss": "mse",
        "lr": 0.1,
        "epochs": 50,
        "noise": 0.0,
    },
    # seed 000's line y = 0.5x + 4, fitted by w·x + b (two parameters: the cost landscape).
    "line": {
        "dataset": "linear",
        "samples": 200,
        "hidden": (),
        "activation": ("linear",),
        "loss": "mse",
        "lr": 0.01,
        "epochs": 300,
        "noise": 0.5,
    },
    "sine": {
        "dataset": "sine",
        "samples": 500,
        "noise": 0.1,
        "hidden": (32, 32),
        "activation": ("tanh",),
        "loss": "mse",
        "optimizer": "adam",
        "lr": 0.01,
        "epochs": 2000,
        "test_fraction": 0.2,
    },
    "xor": {
        "dataset": "xor",
        "samples": 400,
        "noise": 0.1,
        "hidden": (8, 8),
        "activation": ("relu",),
        "loss": "bce",
        "optimizer": "adam",
        "lr": 0.02,
        "epochs": 1000,
        "test_fraction": 0.2,
    },
    "ring": {
        "dataset": "ring",
        "samples": 600,
        "noise": 0.05,
        "hidden": (16, 16),
        "activation": ("relu",),
        "loss": "bce",
        "optimizer": "adam",
        "lr": 0.02,
        "epochs": 1500,
        "test_fraction": 0.2,
    },
    "spiral": {
        "dataset": "spiral",
        "samples": 600,
        "noise": 0.05,
        "hidden": (32, 32),
        "activation": ("tanh",),
        "loss": "bce",
        "optimizer": "adam",
        "lr": 0.01,
        "epochs": 3000,
        "test_fraction": 0.2,
    },
}


def preset(name: str) -> TrainConfig:
    if name not in PRESETS:
        raise ConfigError("preset", name, f"choose one of: {', '.join(PRESETS)}")
    return TrainConfig(**PRESETS[name])
