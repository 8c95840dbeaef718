"""The training loop. It fires events and knows no listener.

    trainer = Trainer(config)
    result = trainer.run(emit=print, control=Control())

The loop never synchronizes with the device per step: step losses stay on the device and
are read back once per chunk of epochs (about every `chunk_seconds`), together with the
test loss, the metrics and a finiteness check, in a single transfer.
"""

from __future__ import annotations

import copy
import math
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from nntui.engine import activations
from nntui.engine.analysis import least_squares_baseline
from nntui.engine.config import TrainConfig, resolve_loss
from nntui.engine.control import Control
from nntui.engine.data import Dataset, make_dataset
from nntui.engine.devices import device_label, resolve_device
from nntui.engine.errors import ConfigError, NntuiError
from nntui.engine.events import (
    EpochsEnded,
    Event,
    FitUpdated,
    LayerHealth,
    LearningRateChanged,
    RunFailed,
    RunFinished,
    RunStarted,
    StateChanged,
    Warned,
)
from nntui.engine.model import MLP, build_mlp, parameter_count

Emit = Callable[[Event], None]

CURVE_POINTS = 200
"""Fit curve resolution: a wide terminal has about this many columns."""
BOUNDARY_GRID = (96, 48)
"""Decision-boundary heatmap resolution (x1 × x2)."""
SAMPLE_POINTS = 400
"""At most this many data points go to the fit plot."""
EVAL_INTERVAL_S = 0.5
"""The test loss and accuracy/R² are measured at most this often (and at a run's end, a
pause or a stop): each is a forward pass over the data, as costly as a third of a step."""


def loss_function(name: str) -> Callable[[Tensor, Tensor], Tensor]:
    return {
        "l1": F.l1_loss,
        "mse": F.mse_loss,
        "huber": F.huber_loss,
        "bce": F.binary_cross_entropy_with_logits,
        "ce": F.cross_entropy,
    }[name]


def make_optimizer(name: str, params: Any, lr: float) -> torch.optim.Optimizer:
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=0.9)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    raise ConfigError("optimizer", name, "choose sgd, momentum, adam or rmsprop")


def autograd_step(
    model: MLP, loss_fn: Callable[[Tensor, Tensor], Tensor], optimizer: torch.optim.Optimizer, clip_grad: float
) -> Callable[[Tensor, Tensor], Tensor]:
    """The reference path: exactly the loop a user writes, with its names bound once."""
    zero_grad, step = optimizer.zero_grad, optimizer.step
    params = list(model.parameters())
    clip = torch.nn.utils.clip_grad_norm_

    def autograd(x: Tensor, y: Tensor) -> Tensor:
        zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        if clip_grad > 0:
            clip(params, clip_grad)
        step()
        return loss.detach()

    return autograd


def default_threads(params: int, rows: int) -> int:
    """1 torch thread for small models: measured here, 2 threads ran 0.72× and next to a busy
    UI thread cores-many threads fell to 6 steps/s. Big models get all but one core."""
    if params * rows < 20_000_000:
        return 1
    return max(1, (os.cpu_count() or 2) - 1)


@dataclass
class Checkpoint:
    """Everything needed to continue a run: CPU tensors and plain values."""

    epoch: int
    model_state: dict[str, Tensor]
    optimizer_state: dict[str, Any]
    batch_rng_state: Tensor | None
    lr: float
    elapsed_s: float = 0.0
    """Training time before this checkpoint: a resumed run's clock goes on from here."""
    best_loss: float = math.inf


class Trainer:
    """Trains one config. `prepare()` builds data and model (raising NntuiError on bad input);
    `run()` trains, emitting events, until done, stopped, diverged or failed."""

    def __init__(
        self,
        config: TrainConfig,
        *,
        dataset: Dataset | None = None,
        on_diverge: str = "stop",
        chunk_seconds: float = 0.1,
        fit_interval: float = 1.0,
        threads: int | None = None,
        resume: Checkpoint | None = None,
        checkpoint_every_s: float = 0.0,
        on_checkpoint: Callable[[Checkpoint], None] | None = None,
    ) -> None:
        self.config = config
        self.dataset = dataset
        self.on_diverge = on_diverge
        """stop (headless: exit 3) or pause (dashboard: the user changes the lr and goes on)."""
        self.chunk_seconds = chunk_seconds
        self.fit_interval = fit_interval
        self.threads = threads
        self.resume = resume
        self.checkpoint_every_s = checkpoint_every_s
        self.on_checkpoint = on_checkpoint
        self.epoch = resume.epoch if resume else 0
        self.active_s = 0.0
        """Training time so far (paused time excluded)."""
        self.best = math.inf
        self.prepared = False
        self.model: MLP | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self.engine = config.engine

    # ------------------------------------------------------------------ setup

    def prepare(self) -> None:
        """Data to the device once, model, optimizer and step function. Raises NntuiError."""
        if self.prepared:
            return
        c = self.config
        self.device = resolve_device(c.device)
        ds = self.dataset = self.dataset or make_dataset(c)
        self.loss = resolve_loss(c.loss, ds.task, ds.n_classes)
        """The loss in use (`auto` resolved against the data)."""
        if ds.task == "classification" and self.loss == "bce" and ds.n_classes > 2:
            raise ConfigError("loss", "bce", f"the target has {ds.n_classes} classes: use ce")
        self.n_out = ds.n_classes if self.loss == "ce" else 1
        self.model = build_mlp(ds.n_inputs, c.hidden, c.activations(), self.n_out, c.bias, c.seed, self.device)
        self.params = parameter_count(self.model)
        self.track_params = self.params <= 2
        """Tiny models (w, or w and b) record their weights every epoch for the cost landscape."""
        self._trace: list[Tensor] = []
        torch.set_num_threads(self.threads or default_threads(self.params, len(ds.x_train)))
        self.optimizer = make_optimizer(c.optimizer, self.model.parameters(), c.lr)
        if self.resume is not None:
            self._load_checkpoint(self.resume)

        dev = self.device
        self.x = torch.from_numpy(ds.scale_x(ds.x_train)).to(dev)
        self.y = self._targets(ds.y_train)
        self.has_test = len(ds.x_test) > 0
        self.x_eval = torch.from_numpy(ds.scale_x(ds.x_test if self.has_test else ds.x_train)).to(dev)
        self.y_eval = self._targets(ds.y_test if self.has_test else ds.y_train)
        self.loss_fn = loss_function(self.loss)

        self.step_fn: Callable[[Tensor, Tensor], Tensor] | None = None
        if c.engine == "fast":
            from nntui.engine import fastpath

            self.step_fn = fastpath.build_step(self.model, self.loss, self.optimizer, c.clip_grad)
        self.engine = "fast" if self.step_fn is not None else "autograd"
        if self.step_fn is None:
            self.step_fn = autograd_step(self.model, self.loss_fn, self.optimizer, c.clip_grad)

        self.batch_gen: torch.Generator | None = None
        if not c.full_batch and c.batch_size < len(self.x):
            self.batch_gen = _generator_for(dev, c.seed)
            if self.resume is not None and self.resume.batch_rng_state is not None:
                self.batch_gen.set_state(self.resume.batch_rng_state)
        self.prepared = True

    def _targets(self, y: np.ndarray) -> Tensor:
        ds = self.dataset
        assert ds is not None
        if self.loss == "ce":
            return torch.from_numpy(y[:, 0].astype(np.int64)).to(self.device)
        if ds.task == "regression":
            y = ds.scale_y(y)
        return torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32)).to(self.device)

    # ------------------------------------------------------------------ run

    def run(self, emit: Emit, control: Control | None = None) -> RunFinished | RunFailed:
        """Train to the end (or stop); the last event emitted is also returned."""
        control = control or Control()
        try:
            self.prepare()
            return self._loop(emit, control)
        except NntuiError as exc:
            failed = RunFailed(str(exc))
        except Exception as exc:  # a worker must report, never die silently
            failed = RunFailed(f"{type(exc).__name__}: {exc}", traceback.format_exc())
        emit(failed)
        return failed

    def _loop(self, emit: Emit, control: Control) -> RunFinished:
        c, ds = self.config, self.dataset
        assert ds is not None and self.model is not None and self.optimizer is not None
        if self.threads is None:
            # the worker thread needs its own call: set_num_threads in the main thread alone
            # left a hidden OpenMP helper spinning a core (measured here)
            torch.set_num_threads(torch.get_num_threads())
        self._emit_started(emit)
        self._warn_activations(emit)

        total = c.epochs
        self.best = self.resume.best_loss if self.resume else math.inf
        last_loss = math.nan
        self.active_s = self.resume.elapsed_s if self.resume else 0.0
        last_fit = last_eval = -math.inf
        last_ckpt = time.perf_counter()
        chunk = 1
        steps_per_s = 0.0
        metrics: dict[str, float] = {}
        self._good = self._best_snap = self._snapshot()
        self._best_snap_loss = math.nan
        if self.on_checkpoint and self.resume is None:
            self.on_checkpoint(self.checkpoint())  # a run directory always holds a loadable checkpoint
        self._pause_reason = ""
        self._pause_suggestion: float | None = None
        start_epoch = self.epoch
        n_batches = 1 if self.batch_gen is None else math.ceil(len(self.x) / c.batch_size)

        while self.epoch < total:
            stepping = False
            if control.pending:
                new_lr = control.take_lr()
                if new_lr is not None:
                    self._set_lr(new_lr, emit)
                if control.stopped:
                    break
                if control.paused:
                    if not control.take_step():
                        emit(StateChanged("paused", self.epoch, self._pause_reason, self._pause_suggestion))
                        self._pause_reason, self._pause_suggestion = "", None
                        self._emit_fit(emit)
                        while control.paused and not control.stopped and not control.take_step():
                            control.wait(0.25)
                            new_lr = control.take_lr()
                            if new_lr is not None:
                                self._set_lr(new_lr, emit)
                        if control.stopped:
                            break
                        if not control.paused:
                            emit(StateChanged("running", self.epoch))
                            continue
                    stepping = True

            n = 1 if stepping else min(chunk, total - self.epoch)
            t0 = time.perf_counter()
            losses = self._train_epochs(n, control, stepping)
            done = len(losses) // n_batches
            if done == 0:
                continue
            # the eval passes (test loss, accuracy/R²) at most every EVAL_INTERVAL_S: on big
            # full-batch data a chunk is a single step, and an eval pass per step costs a third more
            evaluate = (
                stepping or control.pending or self.epoch + done >= total
                or time.perf_counter() - last_eval >= EVAL_INTERVAL_S
            )
            read = self._read_back(losses[: done * n_batches], done, n_batches, evaluate)
            if evaluate:
                last_eval = time.perf_counter()
            dt = time.perf_counter() - t0
            self.active_s += dt
            steps_per_s = done * n_batches / dt if dt > 0 else 0.0
            epochs = np.arange(self.epoch + 1, self.epoch + done + 1, dtype=np.int64)

            if read["bad_epoch"] is not None:
                self._trace.clear()
                bad = self.epoch + read["bad_epoch"] + 1
                finished = self._diverged(bad, emit, control, steps_per_s, last_loss)
                if finished is not None:
                    return finished
                chunk = 1
                continue

            self.epoch += done
            train = read["train"]
            last_loss = float(train[-1])
            if train[0] <= self.best:
                # train[0] is the loss of the weights this chunk started from (a loss is measured
                # before its step): those weights are the best seen, what a divergence goes back to
                self._best_snap, self._best_snap_loss = self._good, float(train[0])
            self.best = min(self.best, float(train.min()))
            test = np.full(done, math.nan)
            test[-1] = read["test_loss"]
            metrics = read["metrics"] or metrics
            emit(
                EpochsEnded(
                    epochs, train, test, self.active_s, steps_per_s, total, self.optimizer.param_groups[0]["lr"],
                    metrics, self._health() if c.health else (), self._take_trace(done),
                )
            )
            self._good = self._snapshot()
            now = time.perf_counter()
            if stepping or now - last_fit >= self.fit_interval:
                self._emit_fit(emit)
                last_fit = now
            if self.on_checkpoint and self.checkpoint_every_s > 0 and now - last_ckpt >= self.checkpoint_every_s:
                self.on_checkpoint(self.checkpoint())
                last_ckpt = now
            if not stepping:
                # size the next chunk to about chunk_seconds: one read-back (host sync) per chunk
                rate = done / dt if dt > 0 else chunk * 2
                chunk = int(min(max(1, rate * self.chunk_seconds), 100_000, chunk * 4 + 1))

        # reason is one of done/stopped/diverged; who stopped it (reset, quit, a signal) is the message
        why = control.stop_reason if control.stopped and self.epoch < total else None
        reason = "done" if why is None else "stopped"
        self._emit_fit(emit)
        run_s = self.active_s - (self.resume.elapsed_s if self.resume else 0.0)
        overall = (self.epoch - start_epoch) * n_batches / run_s if run_s > 0 else 0.0
        finished = RunFinished(
            reason, self.epoch, last_loss, self.best, overall, self.active_s,
            message="" if why in (None, "", "stopped") else why, metrics=metrics,
        )
        if self.on_checkpoint:
            self.on_checkpoint(self.checkpoint())
        emit(finished)
        return finished

    def _train_epochs(self, n: int, control: Control, stepping: bool) -> list[Tensor]:
        """n epochs; returns step losses as device tensors (no sync). Stops early on a command."""
        step, x, y = self.step_fn, self.x, self.y
        assert step is not None
        losses: list[Tensor] = []
        append = losses.append
        trace = self._trace if self.track_params else None
        if self.batch_gen is None:
            for _ in range(n):
                append(step(x, y))
                if trace is not None:
                    trace.append(self._flat_params())
                if control.pending and not stepping:
                    break
            return losses
        bs, rows = self.config.batch_size, len(x)
        for _ in range(n):
            order = torch.randperm(rows, generator=self.batch_gen, device=self.batch_gen.device).to(x.device)
            for start in range(0, rows, bs):
                idx = order[start : start + bs]
                append(step(x[idx], y[idx]))
            if trace is not None:
                trace.append(self._flat_params())
            if control.pending and not stepping:
                break
        return losses

    def _flat_params(self) -> Tensor:
        assert self.model is not None
        return torch.cat([p.detach().reshape(-1) for p in self.model.parameters()])

    def _take_trace(self, epochs: int) -> np.ndarray | None:
        """Per-epoch weights of a one- or two-parameter model: the cost landscape's path."""
        if not self.track_params or not self._trace:
            return None
        path = torch.stack(self._trace[:epochs]).cpu().numpy().astype(np.float64)
        self._trace.clear()
        return path

    @torch.no_grad()
    def _read_back(self, losses: list[Tensor], epochs: int, n_batches: int, evaluate: bool = True) -> dict[str, Any]:
        """One host transfer for the whole chunk: epoch losses, test loss, metrics, finiteness.

        With `evaluate`, the metric (accuracy or R²) is measured on the training split, and on
        the test split too when there is one, with the test loss; all of it rides in the same
        transfer. Without, only the losses and the finiteness check (test loss NaN, no metrics)."""
        assert self.model is not None
        step_losses = torch.stack(losses)
        if n_batches > 1:
            rows, bs = len(self.x), self.config.batch_size
            sizes = torch.full((n_batches,), float(bs), device=self.x.device)
            sizes[-1] = rows - bs * (n_batches - 1)
            epoch_losses = (step_losses.view(epochs, n_batches) * sizes).sum(1) / rows
        else:
            epoch_losses = step_losses
        finite = torch.stack([p.detach().sum() for p in self.model.parameters()]).sum().isfinite()
        if evaluate:
            out = self.model(self.x_eval)
            nan = torch.full((), math.nan, device=out.device)
            test_loss = self.loss_fn(out, self.y_eval) if self.has_test else nan
            metric = self._metric(out, self.y_eval)  # x_eval is the test split, or the train split when none
            train_metric = self._metric(self.model(self.x), self.y) if self.has_test else metric
        else:
            test_loss = metric = train_metric = torch.full((), math.nan, device=finite.device)
        packed = torch.cat([epoch_losses.float(), test_loss.float().view(1), train_metric.float().view(1),
                            metric.float().view(1), finite.float().view(1)])
        values = packed.cpu().numpy().astype(np.float64)  # the one sync point of the chunk
        train = values[:epochs]
        ok = np.isfinite(train)
        bad_epoch = None
        if not ok.all():
            bad_epoch = int(np.argmin(ok))
        elif values[-1] != 1.0:
            bad_epoch = epochs - 1
        name = "accuracy" if self.dataset is not None and self.dataset.task == "classification" else "r2"
        metrics: dict[str, float] = {}
        if evaluate:
            metrics[f"train_{name}"] = values[epochs + 1]
            if self.has_test:
                metrics[f"test_{name}"] = values[epochs + 2]
        return {"train": train, "test_loss": values[epochs], "metrics": metrics, "bad_epoch": bad_epoch}

    def _metric(self, out: Tensor, y: Tensor) -> Tensor:
        """Accuracy (classification) or R² (regression), on the device."""
        if self.loss == "ce":
            return (out.argmax(1) == y).float().mean()
        if self.loss == "bce":
            return ((out > 0).float() == y).float().mean()
        ss_res = ((y - out) ** 2).sum()
        ss_tot = ((y - y.mean()) ** 2).sum()
        return 1 - ss_res / ss_tot.clamp_min(1e-12)

    # ------------------------------------------------------------------ events

    def _emit_started(self, emit: Emit) -> None:
        ds = self.dataset
        assert ds is not None
        rng = np.random.default_rng(0)
        xs, ys = _sample(ds.x_train, ds.y_train, SAMPLE_POINTS, rng)
        xt, yt = _sample(ds.x_test, ds.y_test, SAMPLE_POINTS // 2, rng)
        emit(
            RunStarted(
                self.config, self.params, str(self.device), device_label(self.device), self.engine, ds.task,
                len(ds.x_train), len(ds.x_test), self.epoch, xs, ys, xt, yt, ds.input_names, ds.target_name,
                ds.x_range, tuple(ds.notes) + ((ds.stats_text(),) if ds.standardized else ()),
                least_squares_baseline(ds, self.config),
            )
        )

    def _warn_activations(self, emit: Emit) -> None:
        flat = sorted({a for a in self.config.activations() if activations.get(a).zero_grad})
        if flat:
            emit(
                Warned(
                    f"{' and '.join(flat)} activation: its gradient is zero almost everywhere, so backprop "
                    "passes nothing to the layers before it and the loss will barely move. That is the "
                    "lesson; try relu to compare."
                )
            )
        if self.config.engine == "fast" and self.engine == "autograd":
            emit(Warned("no fast path for this model: training with autograd"))

    @torch.no_grad()
    def fit_snapshot(self) -> FitUpdated:
        """The model's current fit on a grid (1 input), a heatmap (2-D classes) or a scatter."""
        ds, model = self.dataset, self.model
        assert ds is not None and model is not None
        params = tuple(float(v) for p in model.parameters() for v in p.detach().flatten().tolist()) \
            if self.params <= 2 else ()
        if ds.n_inputs == 1:
            lo, hi = ds.x_range[0]
            grid = np.linspace(lo, hi, CURVE_POINTS).reshape(-1, 1)
            pred = self._predict(grid)
            true_y = ds.true_fn(grid) if ds.true_fn is not None else None
            if ds.task == "classification":
                pred = _to_probability(pred)
            return FitUpdated(self.epoch, "curve", grid[:, 0], pred, true_y, params=params)
        if ds.n_inputs == 2 and ds.task == "classification":
            (x0, x1), (y0, y1) = ds.x_range
            gx, gy = np.linspace(x0, x1, BOUNDARY_GRID[0]), np.linspace(y0, y1, BOUNDARY_GRID[1])
            xx, yy = np.meshgrid(gx, gy)
            raw = self._predict_raw(np.stack([xx.ravel(), yy.ravel()], axis=1))
            grid = _class_map(raw, self.loss).reshape(len(gy), len(gx))
            return FitUpdated(self.epoch, "boundary", gx, gy, grid=grid, params=params)
        x_eval = ds.x_test if len(ds.x_test) else ds.x_train
        y_eval = ds.y_test if len(ds.y_test) else ds.y_train
        xs, ys = _sample(x_eval, y_eval, SAMPLE_POINTS, np.random.default_rng(1))
        pred = self._predict(xs)
        if ds.task == "classification":
            pred = _class_map(self._predict_raw(xs), self.loss, hard=True)
        return FitUpdated(self.epoch, "scatter", ys[:, 0], pred, params=params)

    def _predict_raw(self, x: np.ndarray) -> np.ndarray:
        assert self.dataset is not None and self.model is not None
        xt = torch.from_numpy(self.dataset.scale_x(x.astype(np.float32))).to(self.device)
        return self.model(xt).cpu().numpy().astype(np.float64)

    def _predict(self, x: np.ndarray) -> np.ndarray:
        """Predictions in the data's own units (standardization undone)."""
        assert self.dataset is not None
        raw = self._predict_raw(x)
        if self.dataset.task == "regression":
            return self.dataset.unscale_y(raw[:, 0])
        return raw[:, 0] if raw.shape[1] == 1 else raw.argmax(1).astype(np.float64)

    def _emit_fit(self, emit: Emit) -> None:
        emit(self.fit_snapshot())

    @torch.no_grad()
    def _health(self) -> tuple[LayerHealth, ...]:
        """Per hidden layer: weight-gradient norm and the share of dead/saturated/flat units."""
        model = self.model
        assert model is not None
        rows: list[LayerHealth] = []
        outputs = model.hidden_outputs(self.x[:2048])
        for i, (layer, act, (z, a)) in enumerate(zip(model.layers, model.acts, outputs)):
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
        last = model.layers[-1].weight.grad
        rows.append(LayerHealth("output", float(last.norm()) if last is not None else 0.0, 0.0, "—"))
        return tuple(rows)

    # ------------------------------------------------------------------ control helpers

    def _set_lr(self, lr: float, emit: Emit) -> None:
        assert self.optimizer is not None
        old = self.optimizer.param_groups[0]["lr"]
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        emit(LearningRateChanged(self.epoch, old, lr))

    def _diverged(self, bad: int, emit: Emit, control: Control, steps_per_s: float, last: float) -> RunFinished | None:
        """Go back to the best weights seen; stop (headless) or pause (dashboard).

        The best, not merely the last finite ones: a run on its way to inf has finite but
        useless weights for a while, and resuming from those diverges again at any rate.
        """
        assert self.optimizer is not None
        best_epoch = self._best_snap[0]
        epoch = self.epoch  # the counter goes on from the last good epoch, never backwards
        self._restore(self._best_snap)
        self.epoch = epoch
        self._good = self._snapshot()
        lr = self.optimizer.param_groups[0]["lr"]
        suggestion = self._probe_lr(lr)
        kept = f"the weights after epoch {best_epoch}" if best_epoch else "the initial weights"
        loss = f" (loss {self._best_snap_loss:.4g})" if math.isfinite(self._best_snap_loss) else ""
        message = f"loss became NaN/inf at epoch {bad} (learning rate {lr:g} too high?). Went back to {kept}{loss}."
        if self.on_diverge == "pause":
            emit(Warned(message))
            # the loop emits StateChanged("paused", reason, suggested_lr) next
            self._pause_reason = message  # the suggestion rides in StateChanged.suggested_lr
            self._pause_suggestion = suggestion
            control.pause()
            return None
        message += f" Try --lr {suggestion:g}" + (" or --clip-grad 1." if self.config.clip_grad == 0 else ".")
        # epoch: what was kept (the checkpoint's epoch, the last metrics row); diverged_at: where it broke
        finished = RunFinished(
            "diverged", self.epoch, last, self.best, steps_per_s, self.active_s, message, suggestion, diverged_at=bad
        )
        if self.on_checkpoint:
            self.on_checkpoint(self.checkpoint())
        emit(finished)
        return finished

    def _probe_lr(self, lr: float, steps: int = 25) -> float:
        """The largest of lr/10, lr/100, … that, from the current weights, lowers the loss over
        a few full-batch steps without blowing up: a suggestion that was tried, not guessed.

        Runs on copies (autograd, the first batch of at most 4096 rows); the model is untouched.
        """
        assert self.model is not None and self.optimizer is not None
        x, y = self.x[:4096], self.y[:4096]
        for factor in (10, 100, 1_000, 10_000, 100_000, 1_000_000):
            model = copy.deepcopy(self.model)
            opt = make_optimizer(self.config.optimizer, model.parameters(), lr / factor)
            losses = []
            for _ in range(steps):
                opt.zero_grad()
                loss = self.loss_fn(model(x), y)
                loss.backward()
                opt.step()
                losses.append(loss.detach())
            values = torch.stack(losses).cpu().numpy()  # one sync for the whole probe
            if np.isfinite(values).all() and values[-1] < values[0]:
                return lr / factor
        return lr / 1_000_000

    def _snapshot(self) -> tuple[int, list[Tensor], dict[str, Any]]:
        assert self.model is not None and self.optimizer is not None
        return (
            self.epoch,
            [p.detach().clone() for p in self.model.parameters()],
            copy.deepcopy(self.optimizer.state_dict()),
        )

    @torch.no_grad()
    def _restore(self, snap: tuple[int, list[Tensor], dict[str, Any]]) -> None:
        assert self.model is not None and self.optimizer is not None
        epoch, weights, opt_state = snap
        for p, w in zip(self.model.parameters(), weights):
            p.copy_(w)
        self.optimizer.load_state_dict(copy.deepcopy(opt_state))
        self.epoch = epoch

    def checkpoint(self) -> Checkpoint:
        """The last verified-good state, copied to the CPU (a GPU checkpoint loads anywhere)."""
        assert self.optimizer is not None
        epoch, weights, opt_state = self._good
        assert self.model is not None
        names = [n for n, _ in self.model.named_parameters()]
        return Checkpoint(
            epoch,
            {n: w.detach().cpu() for n, w in zip(names, weights)},
            _to_cpu(opt_state),
            self.batch_gen.get_state() if self.batch_gen is not None else None,
            self.optimizer.param_groups[0]["lr"],
            self.active_s,
            self.best,
        )

    def _load_checkpoint(self, ck: Checkpoint) -> None:
        assert self.model is not None and self.optimizer is not None
        from nntui.engine.errors import CheckpointError

        own = dict(self.model.named_parameters())
        for name, tensor in ck.model_state.items():
            if name not in own:
                raise CheckpointError(f"checkpoint has a parameter {name!r} this model does not have")
            if tuple(own[name].shape) != tuple(tensor.shape):
                raise CheckpointError(
                    f"parameter {name}: expected shape {tuple(own[name].shape)}, found {tuple(tensor.shape)} "
                    "in the checkpoint (was it saved with other hidden sizes or data?)"
                )
        missing = set(own) - set(ck.model_state)
        if missing:
            raise CheckpointError(f"checkpoint lacks parameters: {', '.join(sorted(missing))}")
        with torch.no_grad():
            for name, tensor in ck.model_state.items():
                own[name].copy_(tensor.to(own[name].device))
        if ck.optimizer_state:
            self.optimizer.load_state_dict(ck.optimizer_state)
        for group in self.optimizer.param_groups:
            group["lr"] = ck.lr


def _generator_for(device: torch.device, seed: int) -> torch.Generator:
    """Batch order drawn on the device itself: a CPU permutation copied over would sync each epoch."""
    try:
        gen = torch.Generator(device=device)
    except RuntimeError:
        gen = torch.Generator()
    gen.manual_seed(seed)
    return gen


def _sample(x: np.ndarray, y: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    if len(x) <= n:
        return x, y
    idx = np.sort(rng.choice(len(x), n, replace=False))
    return x[idx], y[idx]


def _to_probability(logit: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(logit, -60, 60)))


def _class_map(raw: np.ndarray, loss: str, hard: bool = False) -> np.ndarray:
    """bce: probability of class 1 (or the class); ce: the predicted class."""
    if loss == "ce" or raw.shape[1] > 1:
        return raw.argmax(1).astype(np.float64)
    p = _to_probability(raw[:, 0])
    return (p > 0.5).astype(np.float64) if hard else p


def _to_cpu(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_cpu(v) for v in value]
    return value
