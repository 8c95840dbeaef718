"""The training loop. It fires events and knows no listener.

    trainer = Trainer(config)
    result = trainer.run(emit=print, control=Control())

The loop never synchronizes with the device per step: step losses stay on the device and
are read back once per chunk of epochs (about every `chunk_seconds`), together with the
test loss, the metrics and a finiteness check, in a single transfer (`ReadBack`).
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from nntui.engine import activations
from nntui.engine.analysis import least_squares_baseline
from nntui.engine.checkpoint import Checkpoint, restore, to_cpu
from nntui.engine.config import TrainConfig, resolve_loss
from nntui.engine.control import Control
from nntui.engine.data import Dataset, make_dataset
from nntui.engine.devices import device_label, peak_memory, resolve_device
from nntui.engine.divergence import WeightsSnapshot, diverged_message, probe_lr
from nntui.engine.errors import ConfigError, NntuiError
from nntui.engine.events import (
    EpochsEnded,
    Event,
    FitUpdated,
    LandscapeChanged,
    LearningRateChanged,
    NetworkShown,
    PaceChanged,
    RunFailed,
    RunFinished,
    RunStarted,
    StateChanged,
    Warned,
)
from nntui.engine.landscape import LandscapeTracker, landscape_supported
from nntui.engine.model import MLP, build_mlp, parameter_count
from nntui.engine.optim import Optimizer, make_optimizer
from nntui.engine.pace import FRAMES_PER_S, Pace, resolve
from nntui.engine.session import DivergencePolicy
from nntui.engine.snapshots import SAMPLE_POINTS, Snapshots, sample
from nntui.engine.steps import Step, autograd_step, default_threads, loss_function

Emit = Callable[[Event], None]

EVAL_INTERVAL_S = 0.5
"""The test loss and accuracy/R² are measured at most this often (and at a run's end, a
pause or a stop): each is a forward pass over the data, as costly as a third of a step."""
MAX_CHUNK = 100_000
MAX_STEPPER_PARAMS = 2_000_000
"""Larger networks are not sent whole to the backprop stepper (a few MB a pause is plenty)."""
STEPPER_POINTS = 32
"""Training points the stepper can pick from."""
MAX_LOWERINGS = 8
"""With on_diverge="lower", a run that still diverges after this many lowered rates stops."""


@dataclass(frozen=True)
class ReadBack:
    """One chunk's numbers, brought to the host in one transfer."""

    train: np.ndarray
    """Mean training loss of each epoch of the chunk."""
    test_loss: float
    """NaN when not evaluated this chunk (or there is no test split)."""
    metrics: dict[str, float] = field(default_factory=dict)
    """train_/test_ accuracy or r2, when evaluated."""
    bad_epoch: int | None = None
    """Index (in the chunk) of the first epoch whose loss or weights are not finite."""


class Trainer:
    """Trains one config. `prepare()` builds data and model (raising NntuiError on bad input);
    `run()` trains, emitting events, until done, stopped, diverged or failed."""

    def __init__(
        self,
        config: TrainConfig,
        *,
        dataset: Dataset | None = None,
        on_diverge: DivergencePolicy = "stop",
        chunk_seconds: float = 0.1,
        fit_interval: float = 1.0,
        threads: int | None = None,
        resume: Checkpoint | None = None,
        checkpoint_every_s: float = 0.0,
        on_checkpoint: Callable[[Checkpoint], None] | None = None,
        pace: Pace = None,
    ) -> None:
        self.config = config
        self.dataset = dataset
        self.on_diverge: DivergencePolicy = on_diverge
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
        self.last_loss = math.nan
        """The latest epoch's training loss (the fit snapshots carry it)."""
        self.prepared = False
        self.model: MLP | None = None
        self.optimizer: Optimizer | None = None
        self.step_fn: Step | None = None
        self.engine = config.engine
        self.pace: Pace = pace
        """What was asked: epochs per second, "auto", or None (max). Changed through Control."""
        self.cap: float | None = None
        """The pace in force (auto resolved), epochs per second; None: full speed."""
        self._lowerings = 0

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
        n_out = ds.n_classes if self.loss == "ce" else 1
        model = self.model = build_mlp(ds.n_inputs, c.hidden, c.activations(), n_out, c.bias, c.seed, self.device)
        self.params = parameter_count(model)
        self.snapshots = Snapshots(ds, model, self.loss, self.device)
        self.track_params = self.snapshots.small
        """Tiny models (w, or w and b) record their weights every epoch for the cost landscape."""
        self.landscape_tracker = LandscapeTracker(ds, c) if self.track_params and landscape_supported(c, ds) else None
        self._trace: list[Tensor] = []
        torch.set_num_threads(self.threads or default_threads(self.params, len(ds.x_train)))
        self.optimizer = make_optimizer(c.optimizer, model.parameters(), c.lr)
        if self.resume is not None:
            restore(model, self.optimizer, self.resume)

        dev = self.device
        self.x = torch.from_numpy(ds.scale_x(ds.x_train)).to(dev)
        self.y = self._targets(ds.y_train)
        self.has_test = len(ds.x_test) > 0
        self.x_eval = torch.from_numpy(ds.scale_x(ds.x_test if self.has_test else ds.x_train)).to(dev)
        self.y_eval = self._targets(ds.y_test if self.has_test else ds.y_train)
        self.loss_fn = loss_function(self.loss)

        if c.engine == "fast":
            from nntui.engine import fastpath

            self.step_fn = fastpath.build_step(model, self.loss, self.optimizer, c.clip_grad)
        self.engine = "fast" if self.step_fn is not None else "autograd"
        if self.step_fn is None:
            self.step_fn = autograd_step(model, self.loss_fn, self.optimizer, c.clip_grad)

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
        c = self.config
        assert self.model is not None and self.optimizer is not None
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
        self._good = self._best_snap = WeightsSnapshot.take(self.epoch, self.model, self.optimizer)
        self._best_snap_loss = math.nan
        if self.on_checkpoint and self.resume is None:
            self.on_checkpoint(self.checkpoint())  # a run directory always holds a loadable checkpoint
        self._pause_reason = ""
        self._pause_suggestion: float | None = None
        start_epoch = self.epoch
        n_batches = 1 if self.batch_gen is None else math.ceil(len(self.x) / c.batch_size)
        if self.pace is not None:
            self._set_pace(self.pace, emit)

        while self.epoch < total:
            stepping = False
            if control.pending:
                self._take_commands(control, emit)
                if control.stopped:
                    break
                if control.paused:
                    if not control.take_step():
                        emit(StateChanged(state="paused", epoch=self.epoch, reason=self._pause_reason,
                                          suggested_lr=self._pause_suggestion))
                        self._pause_reason, self._pause_suggestion = "", None
                        emit(self.fit_snapshot())
                        self._show_network(emit)
                        while control.paused and not control.stopped and not control.take_step():
                            control.wait(0.25)
                            self._take_commands(control, emit)
                        if control.stopped:
                            break
                        if not control.paused:
                            emit(StateChanged(state="running", epoch=self.epoch))
                            continue
                    stepping = True

            cap = self.cap
            if stepping:
                n = 1
            elif cap is not None:
                # a frame's worth at the cap, but never more than a chunk of real time: auto's cap
                # for a long run is above its speed (it never binds), and a frame's worth of it
                # could be minutes of training between two reports
                n = min(max(1, round(cap / FRAMES_PER_S)), chunk, total - self.epoch)
            else:
                n = min(chunk, total - self.epoch)
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
            # paced: the rest of this chunk's share of time is slept after its events go out
            spare = done / cap - dt if cap is not None and not stepping else 0.0
            self.active_s += dt + max(spare, 0.0)
            steps_per_s = done * n_batches / (dt + max(spare, 0.0)) if dt > 0 else 0.0
            epochs = np.arange(self.epoch + 1, self.epoch + done + 1, dtype=np.int64)

            if read.bad_epoch is not None:
                self._trace.clear()
                bad = self.epoch + read.bad_epoch + 1
                finished = self._diverged(bad, emit, control, steps_per_s, last_loss)
                if finished is not None:
                    return finished
                chunk = 1
                continue

            self.epoch += done
            train = read.train
            last_loss = self.last_loss = float(train[-1])
            if train[0] <= self.best:
                # train[0] is the loss of the weights this chunk started from (a loss is measured
                # before its step): those weights are the best seen, what a divergence goes back to
                self._best_snap, self._best_snap_loss = self._good, float(train[0])
            self.best = min(self.best, float(train.min()))
            test = np.full(done, math.nan)
            test[-1] = read.test_loss
            path = self._take_trace(done)
            metrics = read.metrics or metrics
            emit(
                EpochsEnded(
                    epochs=epochs, train_loss=train, test_loss=test, elapsed_s=self.active_s,
                    steps_per_s=steps_per_s, total_epochs=total, lr=self.optimizer.param_groups[0]["lr"],
                    metrics=metrics, health=self.snapshots.health(self.x) if c.health else (),
                    params=path, peak_memory=peak_memory(self.device),
                )
            )
            tracker = self.landscape_tracker
            if path is not None and tracker is not None and (wider := tracker.follow(path)):
                emit(LandscapeChanged(landscape=wider))
            self._good = WeightsSnapshot.take(self.epoch, self.model, self.optimizer)
            now = time.perf_counter()
            if stepping or spare > 0 or now - last_fit >= self.fit_interval:
                emit(self.fit_snapshot())  # paced: every chunk, so the dashboard animates
                last_fit = now
            if stepping:
                self._show_network(emit)
            if self.on_checkpoint and self.checkpoint_every_s > 0 and now - last_ckpt >= self.checkpoint_every_s:
                self.on_checkpoint(self.checkpoint())
                last_ckpt = now
            if spare > 0:
                control.sleep(spare)
            if not stepping:
                # size the next chunk to about chunk_seconds: one read-back (host sync) per chunk
                rate = done / dt if dt > 0 else chunk * 2
                chunk = int(min(max(1, rate * self.chunk_seconds), MAX_CHUNK, chunk * 4 + 1))

        # reason is one of done/stopped/diverged; who stopped it (reset, quit, a signal) is the message
        why = control.stop_reason if control.stopped and self.epoch < total else None
        emit(self.fit_snapshot())
        self._show_network(emit)
        run_s = self.active_s - (self.resume.elapsed_s if self.resume else 0.0)
        overall = (self.epoch - start_epoch) * n_batches / run_s if run_s > 0 else 0.0
        finished = RunFinished(
            reason="done" if why is None else "stopped", epoch=self.epoch, final_loss=last_loss,
            best_loss=self.best, steps_per_s=overall, elapsed_s=self.active_s,
            message="" if why in (None, "", "stopped") else why, metrics=metrics,
            peak_memory=peak_memory(self.device),
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
        path: np.ndarray = torch.stack(self._trace[:epochs]).cpu().numpy().astype(np.float64)
        self._trace.clear()
        return path

    @torch.no_grad()
    def _read_back(self, losses: list[Tensor], epochs: int, n_batches: int, evaluate: bool = True) -> ReadBack:
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
            metrics[f"train_{name}"] = float(values[epochs + 1])
            if self.has_test:
                metrics[f"test_{name}"] = float(values[epochs + 2])
        return ReadBack(train=train, test_loss=float(values[epochs]), metrics=metrics, bad_epoch=bad_epoch)

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
        xs, ys = sample(ds.x_train, ds.y_train, SAMPLE_POINTS, rng)
        xt, yt = sample(ds.x_test, ds.y_test, SAMPLE_POINTS // 2, rng)
        emit(
            RunStarted(
                config=self.config, parameters=self.params, device=str(self.device),
                device_label=device_label(self.device), engine=self.engine, task=ds.task,
                n_train=len(ds.x_train), n_test=len(ds.x_test), start_epoch=self.epoch,
                x_points=xs, y_points=ys, x_test_points=xt, y_test_points=yt,
                input_names=ds.input_names, target_name=ds.target_name, x_range=ds.x_range,
                data_notes=tuple(ds.notes) + ((ds.stats_text(),) if ds.standardized else ()),
                baseline=least_squares_baseline(ds, self.config),
                landscape=(
                    self.landscape_tracker.start(tuple(self._flat_params().tolist()))
                    if self.landscape_tracker else None
                ),
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

    def fit_snapshot(self) -> FitUpdated:
        """The model's current fit on a grid (1 input), a heatmap (2-D classes) or a scatter."""
        return self.snapshots.fit(self.epoch, self.last_loss)

    # ------------------------------------------------------------------ control helpers

    def _take_commands(self, control: Control, emit: Emit) -> None:
        """A new learning rate or pace, as soon as the UI sends it."""
        new_lr = control.take_lr()
        if new_lr is not None:
            self._set_lr(new_lr, emit)
        changed, pace = control.take_pace()
        if changed:
            self._set_pace(pace, emit)

    def _set_pace(self, pace: Pace, emit: Emit) -> None:
        self.pace = pace
        self.cap = resolve(pace, self.config.epochs - self.epoch)
        emit(PaceChanged(epoch=self.epoch, pace=pace, cap=self.cap))

    def _show_network(self, emit: Emit) -> None:
        """The whole network at rest, for the backprop stepper (small enough networks only)."""
        if self.params > MAX_STEPPER_PARAMS:
            return
        from nntui.engine.backprop.network import NetworkInput

        ds, model, optimizer = self.dataset, self.model, self.optimizer
        assert ds is not None and model is not None and optimizer is not None
        weights = tuple(
            (
                layer.weight.detach().cpu().double().numpy(),
                None if layer.bias is None else layer.bias.detach().cpu().double().numpy(),
            )
            for layer in model.linears
        )
        rows = min(STEPPER_POINTS, len(ds.x_train))
        x = ds.scale_x(ds.x_train[:rows]).astype(np.float64)
        y = ds.y_train[:rows, 0].astype(np.float64)
        if ds.task == "regression":
            y = ds.scale_y(ds.y_train[:rows])[:, 0].astype(np.float64)
        note = "inputs and targets are standardized (as the network sees them)" if ds.standardized else ""
        emit(NetworkShown(network=NetworkInput(
            weights=weights, acts=model.acts, loss=self.loss, lr=float(optimizer.param_groups[0]["lr"]),
            points_x=x, points_y=y, epoch=self.epoch, note=note,
        )))

    def _set_lr(self, lr: float, emit: Emit) -> None:
        assert self.optimizer is not None
        old = self.optimizer.param_groups[0]["lr"]
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        emit(LearningRateChanged(epoch=self.epoch, old=old, new=lr))

    def _diverged(self, bad: int, emit: Emit, control: Control, steps_per_s: float, last: float) -> RunFinished | None:
        """Go back to the best weights seen; then stop (headless), pause (dashboard) or carry
        on at a learning rate that was tried (on_diverge="lower")."""
        assert self.model is not None and self.optimizer is not None
        best_epoch = self._best_snap.epoch
        epoch = self.epoch  # the counter goes on from the last good epoch, never backwards
        self._best_snap.restore(self.model, self.optimizer)
        self._good = WeightsSnapshot.take(epoch, self.model, self.optimizer)
        lr = self.optimizer.param_groups[0]["lr"]
        suggestion = probe_lr(self.model, self.config.optimizer, self.loss_fn, self.x, self.y, lr)
        message = diverged_message(bad, lr, best_epoch, self._best_snap_loss)
        if self.on_diverge == "pause":
            emit(Warned(message))
            # the loop emits StateChanged("paused", reason, suggested_lr) next
            self._pause_reason = message  # the suggestion rides in StateChanged.suggested_lr
            self._pause_suggestion = suggestion
            control.pause()
            return None
        if self.on_diverge == "lower" and self._lowerings < MAX_LOWERINGS:
            self._lowerings += 1
            emit(Warned(f"{message} Going on at learning rate {suggestion:g} (it lowered the loss in a trial)."))
            self._set_lr(suggestion, emit)
            return None
        message += f" Try --lr {suggestion:g}" + (" or --clip-grad 1." if self.config.clip_grad == 0 else ".")
        # epoch: what was kept (the checkpoint's epoch, the last metrics row); diverged_at: where it broke
        finished = RunFinished(
            reason="diverged", epoch=self.epoch, final_loss=last, best_loss=self.best, steps_per_s=steps_per_s,
            elapsed_s=self.active_s, message=message, suggested_lr=suggestion, diverged_at=bad,
            peak_memory=peak_memory(self.device),
        )
        if self.on_checkpoint:
            self.on_checkpoint(self.checkpoint())
        emit(finished)
        return finished

    def checkpoint(self) -> Checkpoint:
        """The last verified-good state, copied to the CPU (a GPU checkpoint loads anywhere)."""
        assert self.model is not None and self.optimizer is not None
        good = self._good
        names = [n for n, _ in self.model.named_parameters()]
        return Checkpoint(
            good.epoch,
            {n: w.detach().cpu() for n, w in zip(names, good.weights)},
            to_cpu(good.optimizer_state),
            self.batch_gen.get_state() if self.batch_gen is not None else None,
            self.optimizer.param_groups[0]["lr"],
            self.active_s,
            self.best,
        )


def _generator_for(device: torch.device, seed: int) -> torch.Generator:
    """Batch order drawn on the device itself: a CPU permutation copied over would sync each epoch."""
    try:
        gen = torch.Generator(device=device)
    except RuntimeError:
        gen = torch.Generator()
    gen.manual_seed(seed)
    return gen
