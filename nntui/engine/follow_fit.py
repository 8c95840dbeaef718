"""A followed run's saved weights → its fit: `RunFollower.load_fit`'s torch side.

Apart from follow.py so polling's module stays torch-free at import: everything torch (and
what imports it) is imported inside `FitLoader`'s methods, on the first load.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nntui.engine.config import TrainConfig, parameter_count, resolve_loss
from nntui.engine.errors import NntuiError
from nntui.engine.events import FitUpdated, RunStarted

if TYPE_CHECKING:
    from nntui.engine.data import Dataset


class FollowError(NntuiError):
    """The weights of a followed run cannot be shown (one line saying why)."""


@dataclass(frozen=True)
class WeightsFit:
    """A followed run's fit, drawn from its saved weights."""

    epoch: int
    config: TrainConfig
    started: RunStarted
    """The run's data points (regenerated from the config's seed, or the CSV read again)."""
    fit: FitUpdated


class FitLoader:
    """Draws the fit from one model.safetensors; `load()` from any thread, one at a time (a lock).
    Shares nothing with polling but `summary`, which returns the summary.json last read."""

    def __init__(self, path: Path, summary: Callable[[], Mapping[str, Any]]) -> None:
        self.path = path
        self._summary = summary
        self._lock = threading.Lock()
        self._cache: tuple[TrainConfig, Dataset, RunStarted] | None = None

    def load(self) -> WeightsFit:
        """model.safetensors → the model rebuilt from the config in its metadata → its fit
        (curve, boundary or scatter), as the trainer's own `Snapshots` draws it. Raises
        FollowError with one line. Imports torch on first use: call it from a worker thread."""
        with self._lock:
            return self._load()

    def _load(self) -> WeightsFit:
        import torch
        from safetensors.torch import load_file

        from nntui.engine.checkpoint import read_meta
        from nntui.engine.model import build_mlp
        from nntui.engine.snapshots import Snapshots
        from nntui.engine.tomlio import from_mapping

        path = self.path
        try:
            for _ in range(3):
                meta = read_meta(path)
                tensors = load_file(str(path), device="cpu")
                if read_meta(path) == meta:
                    break  # (else it was replaced between the two reads: read the new one)
            config = from_mapping(json.loads(meta["config"]), where=str(path))
            epoch = int(meta.get("epoch", "0"))
        except FileNotFoundError:
            raise FollowError(f"no {path.name} yet (written at each checkpoint)") from None
        except (OSError, ValueError, KeyError) as exc:
            raise FollowError(f"{path}: cannot read the weights ({type(exc).__name__}: {exc})") from None
        except Exception as exc:  # safetensors' own error type, a damaged header
            raise FollowError(f"{path}: cannot read the weights ({type(exc).__name__}: {exc})") from None
        ds, started = self._data(config)
        loss = resolve_loss(config.loss, ds.task, ds.n_classes)
        n_out = ds.n_classes if loss == "ce" else 1
        cpu = torch.device("cpu")
        torch.set_num_threads(1)  # in this thread too: a hidden OpenMP helper spins otherwise (PITFALLS)
        model = build_mlp(ds.n_inputs, config.hidden, config.activations(), n_out, config.bias, config.seed, cpu)
        try:
            model.load_state_dict(tensors)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()
            raise FollowError(f"{path}: the weights do not fit the model of its config ({first[-1].strip()})") from None
        model.eval()
        fit = Snapshots(ds, model, loss, cpu).fit(epoch)
        return WeightsFit(epoch, config, started, fit)

    def _data(self, config: TrainConfig) -> tuple[Dataset, RunStarted]:
        """The run's data, regenerated from its seed (or its CSV read again); kept while the
        config stays the same (a resume that changes only `epochs` makes it again: cheap)."""
        cached = self._cache
        if cached is not None and cached[0] == config:
            return cached[1], cached[2]
        from nntui.engine.analysis import least_squares_baseline
        from nntui.engine.data import make_dataset
        from nntui.engine.snapshots import SAMPLE_POINTS, sample

        try:
            ds = make_dataset(config)
        except NntuiError as exc:
            raise FollowError(f"cannot make the run's data again: {exc}") from None
        except OSError as exc:
            raise FollowError(f"cannot read the run's data again: {exc}") from None
        loss = resolve_loss(config.loss, ds.task, ds.n_classes)
        n_out = ds.n_classes if loss == "ce" else 1
        # the same sample of points the trainer shows (its RunStarted draws them this way)
        rng = np.random.default_rng(0)
        xs, ys = sample(ds.x_train, ds.y_train, SAMPLE_POINTS, rng)
        xt, yt = sample(ds.x_test, ds.y_test, SAMPLE_POINTS // 2, rng)
        summary = self._summary()
        device = str(summary.get("device") or "")
        started = RunStarted(
            config=config, parameters=parameter_count(ds.n_inputs, config.hidden, n_out, config.activations(),
                                                      config.bias),
            device=device, device_label=device, engine=str(summary.get("engine") or ""), task=ds.task,
            n_train=len(ds.x_train), n_test=len(ds.x_test), start_epoch=0,
            x_points=xs, y_points=ys, x_test_points=xt, y_test_points=yt,
            input_names=ds.input_names, target_name=ds.target_name, x_range=ds.x_range,
            data_notes=tuple(ds.notes), baseline=least_squares_baseline(ds, config),
        )
        self._cache = (config, ds, started)
        return ds, started
