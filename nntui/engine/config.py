"""TrainConfig: every knob of a run in one frozen, validated dataclass.

This module imports neither torch nor numpy: the CLI parses and validates flags (and
prints ``--help``) without paying for them. Presets live in `presets`, text parsing in
`parsing`, TOML files in `tomlio`, the names themselves in `names`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from nntui.engine.errors import ConfigError
from nntui.engine.names import (
    ACTIVATIONS,
    CLASSIFICATION_DATASETS,
    CLASSIFICATION_LOSSES,
    DATASETS,
    DELIMITERS,
    ENGINES,
    LOSSES,
    OPTIMIZERS,
    REGRESSION_DATASETS,
    REGRESSION_LOSSES,
    TASKS,
)

DATASET_NOISE = {
    "quadratic": 1.0,
    "linreg": 0.0,
    "linear": 0.5,
    "sine": 0.1,
    "abs": 0.1,
    "step": 0.05,
    "xor": 0.05,
    "ring": 0.05,
    "three-modes": 0.1,
    "gaussians": 0.0,
    "spiral": 0.05,
}
"""Noise that shows each data set's shape: choosing a data set without --noise uses it."""

MAX_LAYER_WIDTH = 1_000_000
MAX_SAMPLES = 10_000_000
MAX_EPOCHS = 1_000_000_000


def setting(default: Any, help: str) -> Any:
    """A config field with its help text in the field's metadata: `--help` and the docs
    read it from there, wherever the package is installed (no source parsing)."""
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class TrainConfig:
    """One training run. Defaults are the lecture's experiment (seed 003)."""

    dataset: str = setting(
        "quadratic", "Built-in data set (quadratic is the lecture's y = 8x² + 7x + 3), or csv with `data`."
    )
    samples: int = setting(1000, "Number of generated points (built-in data sets only).")
    noise: float = setting(1.0, "Standard deviation of the Gaussian noise added to generated targets (or points).")
    hidden: tuple[int, ...] = setting((10, 6), "Hidden layer widths, input to output; empty for a linear model.")
    activation: tuple[str, ...] = setting(
        ("relu", "linear"), "Activation after each hidden layer: one name for all, or one per layer."
    )
    bias: bool = setting(True, "Give every layer a bias term (seed 004's hypothesis w·x has none).")
    loss: str = setting("l1", "Loss: l1, mse, huber (regression); bce, ce (classification); auto picks mse, bce or ce.")
    optimizer: str = setting("sgd", "Optimizer: sgd, momentum (SGD with momentum 0.9), adam, rmsprop.")
    lr: float = setting(0.001, "Learning rate; can be changed while the run goes on.")
    epochs: int = setting(5000, "Passes over the training data.")
    batch_size: int = setting(0, "Samples per optimizer step; 0 means the full batch, as in the lecture.")
    device: str = setting("auto", "auto (cuda, then mps, then cpu), cpu, cuda, cuda:N or mps.")
    seed: int = setting(0, "Seeds the data, the split, the initial weights and the batch order.")
    test_fraction: float = setting(
        0.0, "Share of the data held out for the test loss; 0 keeps every point for training."
    )
    standardize: bool | None = setting(
        None, "Scale inputs and targets to mean 0, std 1; unset means on for CSV data, off otherwise."
    )
    engine: str = setting(
        "fast", "fast: hand-written forward/backward where it exists (else autograd); autograd: always."
    )
    clip_grad: float = setting(0.0, "Clip the total gradient norm to this value; 0 turns clipping off.")
    data: str = setting("", "Path of a CSV file to train on (sets dataset to csv).")
    inputs: tuple[str, ...] = setting(
        (), "CSV input columns by name or 0-based index; empty means every column but the target."
    )
    target: str = setting("", "CSV target column by name or 0-based index; empty means the last column.")
    task: str = setting("auto", "regression or classification; auto infers it from the target column.")
    delimiter: str = setting("", "CSV delimiter; empty means detect it (comma, semicolon, tab or bar).")
    drop_missing: bool = setting(False, "Drop CSV rows with empty, NA, NaN or inf cells instead of refusing the file.")
    degree: int = setting(0, "Polynomial degree of the least-squares baseline; 0 picks the true degree (or 1).")
    health: bool = setting(False, "Record per-layer gradient norms and dead/saturated units (costs a little speed).")

    def __post_init__(self) -> None:
        validate(self)

    @property
    def full_batch(self) -> bool:
        return self.batch_size == 0

    def activations(self) -> tuple[str, ...]:
        """One activation per hidden layer (a single name is repeated)."""
        if len(self.activation) == 1:
            return self.activation * len(self.hidden)
        return self.activation

    def to_dict(self) -> dict[str, Any]:
        """Plain values only (tuples become lists), unset fields left out: TOML/JSON-ready."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def to_toml(self) -> str:
        from nntui.engine.tomlio import dumps_toml

        return dumps_toml(self.to_dict())


FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in fields(TrainConfig))


def field_docs() -> dict[str, str]:
    """Each field's help text (its metadata): the one source for `--help` and the docs."""
    return {f.name: str(f.metadata.get("help", "")) for f in fields(TrainConfig)}


# ----------------------------------------------------------------------------- validation


def one_of(name: str, value: object, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        shown = ", ".join(a if a else "(empty)" for a in allowed)
        raise ConfigError(name, value, f"choose one of: {shown}")


def _expect_type(name: str, value: object, kind: type | tuple[type, ...], what: str) -> None:
    # bool is an int in Python; a TOML `epochs = true` must still be refused.
    if isinstance(value, bool) and kind is not bool:
        raise ConfigError(name, value, f"expected {what}")
    if not isinstance(value, kind):
        raise ConfigError(name, value, f"expected {what}")


MEMINFO = Path("/proc/meminfo")


def available_memory_bytes() -> int:
    """Memory a new allocation can get: Linux's MemAvailable (free plus reclaimable page cache).

    MemFree alone (what SC_AVPHYS_PAGES counts) leaves out the page cache, which on a busy
    server is most of the memory, and would refuse what fits easily. Without /proc/meminfo
    (or its MemAvailable line, before Linux 3.14): free pages; 8 GiB where nothing can say.
    """
    try:
        with MEMINFO.open("rb") as f:
            for line in f:
                if line.startswith(b"MemAvailable:"):
                    value, unit = line.split()[1:3]
                    return int(value) * (1024 if unit.lower() == b"kb" else 1)
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 8 * 1024**3


def parameter_count(n_in: int, hidden: tuple[int, ...], n_out: int, acts: tuple[str, ...], bias: bool) -> int:
    """Parameters of the MLP that `model.build_mlp` makes (maxout layers are twice as wide)."""
    total, width = 0, n_in
    for size, act in zip(hidden, acts):
        out = size * 2 if act == "maxout" else size
        total += width * out + (out if bias else 0)
        width = size
    return total + width * n_out + (n_out if bias else 0)


def validate(c: TrainConfig) -> None:
    """Check every field before anything is allocated; raise ConfigError on the first bad one."""
    for name in ("dataset", "loss", "optimizer", "device", "engine", "data", "target", "task", "delimiter"):
        _expect_type(name, getattr(c, name), str, "text")
    for name in ("samples", "epochs", "batch_size", "seed", "degree"):
        _expect_type(name, getattr(c, name), int, "a whole number")
    for name in ("noise", "lr", "test_fraction", "clip_grad"):
        _expect_type(name, getattr(c, name), (int, float), "a number")
        if not math.isfinite(getattr(c, name)):
            raise ConfigError(name, getattr(c, name), "expected a finite number")
    for name in ("bias", "drop_missing", "health"):
        _expect_type(name, getattr(c, name), bool, "true or false")
    if c.standardize is not None:
        _expect_type("standardize", c.standardize, bool, "true, false or unset (auto)")
    for name in ("hidden", "activation", "inputs"):
        _expect_type(name, getattr(c, name), tuple, "a list")

    one_of("dataset", c.dataset, DATASETS)
    if c.dataset == "csv" and not c.data:
        raise ConfigError("data", c.data, "dataset csv needs a CSV file path (--data FILE)")
    if c.data and c.dataset != "csv":
        raise ConfigError("dataset", c.dataset, "a --data file needs dataset csv")
    if not 1 <= c.samples <= MAX_SAMPLES:
        raise ConfigError("samples", c.samples, f"expected 1 to {MAX_SAMPLES:,}")
    if c.noise < 0:
        raise ConfigError("noise", c.noise, "expected 0 or more")

    for size in c.hidden:
        _expect_type("hidden", size, int, "whole numbers, e.g. 10,6")
        if not 1 <= size <= MAX_LAYER_WIDTH:
            raise ConfigError("hidden", size, f"each layer needs 1 to {MAX_LAYER_WIDTH:,} units")
    for act in c.activation:
        _expect_type("activation", act, str, "activation names")
        one_of("activation", act, ACTIVATIONS)
    if not c.activation:
        raise ConfigError("activation", "", f"name at least one of: {', '.join(ACTIVATIONS)}")
    if len(c.activation) not in (1, len(c.hidden)):
        raise ConfigError(
            "activation",
            ",".join(c.activation),
            f"give one activation for every hidden layer or one per layer ({len(c.hidden)} layers)",
        )

    one_of("loss", c.loss, LOSSES)
    if c.dataset in REGRESSION_DATASETS and c.loss in CLASSIFICATION_LOSSES:
        raise ConfigError("loss", c.loss, f"dataset {c.dataset} is regression: use l1, mse or huber")
    if c.dataset in CLASSIFICATION_DATASETS and c.loss in REGRESSION_LOSSES:
        raise ConfigError("loss", c.loss, f"dataset {c.dataset} is classification: use bce or ce")
    if c.dataset == "csv" and c.task != "auto" and c.loss != "auto":
        wanted = REGRESSION_LOSSES if c.task == "regression" else CLASSIFICATION_LOSSES
        if c.loss not in wanted:
            raise ConfigError("loss", c.loss, f"task {c.task} needs one of: {', '.join(wanted)}")
    one_of("optimizer", c.optimizer, OPTIMIZERS)
    if not 0 < c.lr <= 1e3:
        raise ConfigError("lr", c.lr, "expected a learning rate above 0 and at most 1000, e.g. 0.001")
    if not 1 <= c.epochs <= MAX_EPOCHS:
        raise ConfigError("epochs", c.epochs, f"expected a whole number from 1 to {MAX_EPOCHS:,}")
    if c.batch_size < 0:
        raise ConfigError("batch_size", c.batch_size, "expected 0 (full batch) or a positive size")
    validate_device_name(c.device)
    if not 0 <= c.seed < 2**63:  # numpy's generators refuse negative seeds
        raise ConfigError("seed", c.seed, "expected a whole number from 0 to 2^63-1")
    if not 0 <= c.test_fraction < 1:
        raise ConfigError("test_fraction", c.test_fraction, "expected at least 0 and below 1, e.g. 0.2")
    one_of("engine", c.engine, ENGINES)
    if c.clip_grad < 0:
        raise ConfigError("clip_grad", c.clip_grad, "expected 0 (off) or a positive norm")
    for col in c.inputs:
        _expect_type("inputs", col, str, "column names or indices")
    one_of("task", c.task, TASKS)
    one_of("delimiter", c.delimiter, DELIMITERS)
    if not 0 <= c.degree <= 12:
        raise ConfigError("degree", c.degree, "expected 0 (auto) to 12")

    # Parameter count against memory: weights, gradients and two optimizer moments.
    n_in = 2 if c.dataset in CLASSIFICATION_DATASETS else max(1, len(c.inputs))
    params = parameter_count(n_in, c.hidden, 1, c.activations(), c.bias)
    activations_bytes = 4 * 3 * min(c.samples, c.batch_size or c.samples) * sum(c.hidden)
    need = params * 4 * 4 + activations_bytes
    if need > available_memory_bytes():
        raise ConfigError(
            "hidden",
            ",".join(map(str, c.hidden)),
            f"{params:,} parameters need about {need / 1024**3:.1f} GiB, more than this machine has free",
        )


def validate_device_name(device: str) -> None:
    """The spelling only; whether the device exists is `devices.resolve_device`'s job."""
    ok = device in ("auto", "cpu", "cuda", "mps")
    if device.startswith("cuda:"):
        ok = device[5:].isdigit()
    if not ok:
        raise ConfigError("device", device, "choose auto, cpu, cuda, cuda:N (e.g. cuda:0) or mps")


def resolve_loss(loss: str, task: str, n_classes: int) -> str:
    """`auto` once the data is known: mse for numbers, bce for two classes, ce for more."""
    if loss != "auto":
        return loss
    if task == "regression":
        return "mse"
    return "bce" if n_classes <= 2 else "ce"


def with_changes(base: TrainConfig, changes: Mapping[str, Any]) -> TrainConfig:
    """`dataclasses.replace` that also keeps `dataset` and `data` consistent."""
    changes = dict(changes)
    if changes.get("data"):
        changes.setdefault("dataset", "csv")
        changes.setdefault("loss", "auto")  # regression or classes: known once the file is read
    elif "dataset" in changes and changes["dataset"] != "csv" and "data" not in changes:
        changes["data"] = ""
    dataset = changes.get("dataset")
    if dataset in DATASET_NOISE and dataset != base.dataset and "noise" not in changes:
        changes["noise"] = DATASET_NOISE[dataset]  # the lecture's noise of 1 would bury a ring of radius 1
    if "loss" not in changes and (
        (dataset in CLASSIFICATION_DATASETS and base.loss in REGRESSION_LOSSES)
        or (dataset in REGRESSION_DATASETS and base.loss in CLASSIFICATION_LOSSES)
    ):
        changes["loss"] = "auto"  # another kind of data, the old loss cannot fit: pick one that does
    hidden = changes.get("hidden")
    if isinstance(hidden, tuple) and "activation" not in changes and len(base.activation) not in (1, len(hidden)):
        # new layer sizes, per-layer activations left over from the base (the lecture's relu,linear):
        # the first one for every layer, as a user typing only --hidden 32,32,32 expects
        changes["activation"] = base.activation[:1]
    return replace(base, **changes)


def config_summary(c: TrainConfig) -> str:
    """One line a person can read: what is being trained."""
    arch = "-".join(map(str, c.hidden)) or "linear"
    acts = ",".join(c.activation)
    batch = "full" if c.full_batch else str(c.batch_size)
    data = c.data if c.dataset == "csv" else c.dataset
    return f"{data} | hidden {arch} ({acts}) | {c.loss} | {c.optimizer} lr {c.lr:g} | {c.epochs} epochs | batch {batch}"
