"""The training loop: lecture numbers, determinism, control from another thread, divergence."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import replace

import numpy as np
import pytest

from nntui.engine.config import TrainConfig
from nntui.engine.control import Control
from nntui.engine.events import (
    EpochsEnded,
    FitUpdated,
    LearningRateChanged,
    RunFailed,
    RunFinished,
    RunStarted,
    StateChanged,
    Warned,
)
from nntui.engine.presets import preset
from nntui.engine.trainer import Trainer


class Recorder:
    """A listener that keeps every event (the tests' sink)."""

    def __init__(self) -> None:
        self.events: list = []

    def __call__(self, event) -> None:
        self.events.append(event)

    def of(self, kind) -> list:
        return [e for e in self.events if isinstance(e, kind)]

    def losses(self) -> np.ndarray:
        return np.concatenate([e.train_loss for e in self.of(EpochsEnded)])

    def epochs(self) -> np.ndarray:
        return np.concatenate([e.epochs for e in self.of(EpochsEnded)])


@pytest.mark.parametrize("engine", ["fast", "autograd"])
def test_lecture_preset_reaches_the_scripts_range(engine: str) -> None:
    rec = Recorder()
    result = Trainer(TrainConfig(engine=engine)).run(rec)
    assert isinstance(result, RunFinished) and result.reason == "done"
    losses = rec.losses()
    assert len(losses) == 5000
    assert rec.epochs().tolist() == list(range(1, 5001))
    assert 550 < losses[0] < 650, "the lecture's loss starts near 600"
    assert 25 < losses[-1] < 55, "and ends around 30–50 after 5000 epochs"
    started = rec.of(RunStarted)[0]
    assert started.parameters == 10 * 1 + 10 + 6 * 10 + 6 + 6 + 1
    assert started.engine == engine


def test_same_seed_same_losses_other_seed_differs() -> None:
    c = TrainConfig(epochs=200)
    a, b, d = Recorder(), Recorder(), Recorder()
    Trainer(c).run(a)
    Trainer(c).run(b)
    Trainer(TrainConfig(epochs=200, seed=1)).run(d)
    assert np.array_equal(a.losses(), b.losses())
    assert not np.array_equal(a.losses(), d.losses())


def test_minibatches_and_test_split() -> None:
    c = TrainConfig(dataset="sine", samples=300, noise=0.05, hidden=(16,), activation=("tanh",), loss="mse",
                    optimizer="adam", lr=0.01, epochs=60, batch_size=64, test_fraction=0.2)
    rec = Recorder()
    result = Trainer(c).run(rec)
    assert result.reason == "done"
    started = rec.of(RunStarted)[0]
    assert (started.n_train, started.n_test) == (240, 60)
    tests = np.concatenate([e.test_loss for e in rec.of(EpochsEnded)])
    assert np.isfinite(tests).sum() >= 1
    assert rec.losses()[-1] < rec.losses()[0]
    assert "test_r2" in result.metrics


def _run_in_thread(trainer: Trainer, rec: Recorder, control: Control) -> threading.Thread:
    t = threading.Thread(target=trainer.run, args=(rec, control), daemon=True)
    t.start()
    return t


def _wait_for(pred, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


def test_stop_takes_effect_within_a_second() -> None:
    rec, control = Recorder(), Control()
    t = _run_in_thread(Trainer(TrainConfig(epochs=10_000_000)), rec, control)
    _wait_for(lambda: rec.of(EpochsEnded))
    asked = time.monotonic()
    control.stop()
    t.join(timeout=5)
    assert not t.is_alive()
    assert time.monotonic() - asked < 1.0
    finished = rec.of(RunFinished)[0]
    assert finished.reason == "stopped" and finished.epoch < 10_000_000


def test_pause_resume_and_single_epoch_steps() -> None:
    rec, control = Recorder(), Control()
    t = _run_in_thread(Trainer(TrainConfig(epochs=10_000_000)), rec, control)
    _wait_for(lambda: rec.of(EpochsEnded))
    asked = time.monotonic()
    control.pause()
    _wait_for(lambda: any(e.state == "paused" for e in rec.of(StateChanged)), timeout=1.0)
    assert time.monotonic() - asked < 1.0
    n = len(rec.epochs())
    time.sleep(0.3)
    assert len(rec.epochs()) == n, "no epochs while paused"
    last = int(rec.epochs()[-1])
    control.step()
    _wait_for(lambda: len(rec.epochs()) == n + 1)
    assert int(rec.epochs()[-1]) == last + 1
    time.sleep(0.2)
    assert len(rec.epochs()) == n + 1, "a step is exactly one epoch"
    control.resume()
    _wait_for(lambda: len(rec.epochs()) > n + 5)
    control.stop()
    t.join(timeout=5)
    assert not t.is_alive()


def test_learning_rate_change_mid_run_is_recorded_and_applied() -> None:
    rec, control = Recorder(), Control()
    trainer = Trainer(TrainConfig(epochs=10_000_000))
    t = _run_in_thread(trainer, rec, control)
    _wait_for(lambda: rec.of(EpochsEnded))
    control.set_lr(0.0005)
    _wait_for(lambda: rec.of(LearningRateChanged))
    _wait_for(lambda: rec.of(EpochsEnded)[-1].lr == 0.0005)
    control.stop()
    t.join(timeout=5)
    change = rec.of(LearningRateChanged)[0]
    assert (change.old, change.new) == (0.001, 0.0005)
    assert trainer.optimizer.param_groups[0]["lr"] == 0.0005


def test_divergence_stops_with_epoch_and_suggestion_and_keeps_good_weights() -> None:
    c = TrainConfig(loss="mse", lr=0.5, epochs=500)
    rec = Recorder()
    trainer = Trainer(c)
    result = trainer.run(rec)
    assert result.reason == "diverged"
    assert "epoch" in result.message and f"--lr {result.suggested_lr:g}" in result.message
    for p in trainer.model.parameters():
        assert p.isfinite().all(), "the last good weights are kept"
    assert all(np.isfinite(e.train_loss).all() for e in rec.of(EpochsEnded))
    # the suggestion was tried before it was made: the same run with it does not diverge
    assert result.suggested_lr < 0.5
    again = Trainer(replace(c, lr=result.suggested_lr)).run(lambda e: None)
    assert again.reason == "done"


def test_divergence_pauses_in_dashboard_mode() -> None:
    rec, control = Recorder(), Control()
    # seed 004's w·x with lr 0.3: |1 − 0.3·2·mean(x²)| = 1.8, w grows 1.8× per epoch until inf
    trainer = Trainer(replace(preset("linreg"), lr=0.3, epochs=3000), on_diverge="pause")
    t = _run_in_thread(trainer, rec, control)
    _wait_for(lambda: any(e.reason for e in rec.of(StateChanged)))
    paused = next(e for e in rec.of(StateChanged) if e.reason)
    assert paused.state == "paused" and "NaN" in paused.reason
    assert paused.suggested_lr is not None and paused.suggested_lr < 0.3
    assert len([e for e in rec.of(StateChanged) if e.state == "paused"]) == 1
    (w,) = trainer.model.parameters()
    assert w.isfinite().all()
    control.set_lr(0.01)  # a stable rate: the run goes on from the kept weights and converges
    control.resume()
    _wait_for(lambda: rec.of(RunFinished), timeout=30)
    t.join(timeout=5)
    assert rec.of(RunFinished)[0].reason == "done"
    assert abs(float(w.detach()) - 1.0) < 1e-3


def test_step_activation_warns_why_the_loss_will_not_move() -> None:
    rec = Recorder()
    Trainer(TrainConfig(activation=("step",), epochs=20)).run(rec)
    warnings = [w.message for w in rec.of(Warned)]
    assert any("step" in w and "gradient is zero" in w for w in warnings)


def test_fit_snapshots_are_small_and_in_data_units() -> None:
    rec = Recorder()
    Trainer(TrainConfig(epochs=50, standardize=True)).run(rec)
    fit = rec.of(FitUpdated)[-1]
    assert fit.kind == "curve" and len(fit.x) <= 400
    assert fit.x.min() == pytest.approx(-15) and fit.x.max() == pytest.approx(15)
    assert fit.true_y is not None and fit.true_y.max() == pytest.approx(8 * 225 + 7 * 15 + 3)


def test_bad_device_is_an_error_before_training() -> None:
    rec = Recorder()
    result = Trainer(TrainConfig(device="cuda:3")).run(rec)
    assert isinstance(result, RunFailed)
    assert "cuda:3" in result.error and "available here: cpu" in result.error
    assert not rec.of(EpochsEnded)


def test_losses_are_read_in_chunks_not_per_step() -> None:
    rec = Recorder()
    Trainer(TrainConfig(epochs=3000)).run(rec)
    chunks = rec.of(EpochsEnded)
    assert sum(len(e.epochs) for e in chunks) == 3000
    assert len(chunks) < 300, "one event (and one device read) per chunk of epochs"
    assert all(math.isfinite(e.steps_per_s) for e in chunks)


@pytest.mark.parametrize(("base", "name"), [("lecture", "r2"), ("xor", "accuracy")])
def test_metric_is_measured_on_both_splits_in_the_one_read_back(base: str, name: str, monkeypatch) -> None:
    """With a test split, train_… and test_… metrics both arrive, in the chunk's single transfer."""
    import torch

    c = replace(preset(base), epochs=300, test_fraction=0.2)
    trainer = Trainer(c)
    inside = {"on": False, "reads": 0, "transfers": 0}
    real_read, real_cpu = trainer._read_back, torch.Tensor.cpu

    def read_back(*args, **kwargs):
        inside["on"] = True
        inside["reads"] += 1
        try:
            return real_read(*args, **kwargs)
        finally:
            inside["on"] = False

    def counting_cpu(self, *args, **kwargs):
        if inside["on"]:
            inside["transfers"] += 1
        return real_cpu(self, *args, **kwargs)

    monkeypatch.setattr(trainer, "_read_back", read_back)
    monkeypatch.setattr(torch.Tensor, "cpu", counting_cpu)
    rec = Recorder()
    result = trainer.run(rec)
    assert result.reason == "done"
    assert inside["reads"] > 0 and inside["transfers"] == inside["reads"], "one host transfer per chunk"
    for e in rec.of(EpochsEnded):
        assert set(e.metrics) == {f"train_{name}", f"test_{name}"}
        assert all(math.isfinite(v) for v in e.metrics.values())
    assert set(result.metrics) == {f"train_{name}", f"test_{name}"}
    if name == "accuracy":
        assert 0 <= result.metrics["train_accuracy"] <= 1 and 0 <= result.metrics["test_accuracy"] <= 1


def test_metric_without_a_test_split_is_the_train_one() -> None:
    result = Trainer(TrainConfig(epochs=50)).run(lambda e: None)
    assert set(result.metrics) == {"train_r2"}


def test_divergence_reports_the_kept_epoch_and_where_it_broke() -> None:
    """RunFinished.epoch is the checkpoint's epoch (weights kept); diverged_at is where NaN/inf appeared."""
    rec = Recorder()
    trainer = Trainer(TrainConfig(loss="mse", lr=0.5, epochs=500))
    result = trainer.run(rec)
    assert result.reason == "diverged"
    kept = rec.of(EpochsEnded)[-1].last_epoch if rec.of(EpochsEnded) else 0
    assert result.epoch == trainer.checkpoint().epoch == kept
    assert result.diverged_at is not None and result.diverged_at > result.epoch
    assert f"epoch {result.diverged_at}" in result.message


def test_the_summary_has_the_cuda_peak_memory_only_where_there_is_one() -> None:
    """On the CPU there is no allocator peak to report; a cuda run's RunFinished carries one
    and summary.json (headless too) records it."""
    from nntui.engine.events import RunFinished
    from nntui.engine.record import RunRecord

    events: list[object] = []
    Trainer(TrainConfig(epochs=5)).run(events.append)
    assert isinstance(events[-1], RunFinished) and events[-1].peak_memory is None
    record = RunRecord()
    for e in events:
        record(e)  # type: ignore[arg-type]
    assert "cuda_peak_memory_bytes" not in record.summary("done")
    record(RunFinished(reason="done", epoch=5, final_loss=1.0, best_loss=1.0, steps_per_s=1.0, elapsed_s=1.0,
                       peak_memory=123_456))
    assert record.summary("done")["cuda_peak_memory_bytes"] == 123_456
