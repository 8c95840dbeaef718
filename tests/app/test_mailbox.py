"""The mailbox between the trainer thread and the UI: bounded, lossless where it matters."""

from __future__ import annotations

import threading

import numpy as np

from nntui.engine.config import TrainConfig
from nntui.engine.events import EpochsEnded, FitUpdated, LearningRateChanged, RunFinished, StateChanged, Warned
from nntui.ui.mailbox import MAX_NOTES, Mailbox, fold_min_max


def chunk(first: int, n: int, loss: np.ndarray | None = None, test: float = np.nan) -> EpochsEnded:
    epochs = np.arange(first, first + n, dtype=np.int64)
    train = np.linspace(1.0, 0.5, n) if loss is None else loss
    tests = np.full(n, np.nan)
    tests[-1] = test
    return EpochsEnded(epochs=epochs, train_loss=train, test_loss=tests, elapsed_s=1.0, steps_per_s=100.0,
                       total_epochs=10_000, lr=0.01)


def fit(epoch: int) -> FitUpdated:
    return FitUpdated(epoch=epoch, kind="curve", x=np.zeros(3), y=np.zeros(3))


def test_drain_returns_everything_since_the_last_drain_once() -> None:
    box = Mailbox()
    assert box.drain() is None
    box.put(chunk(1, 10, test=0.7))
    box.put(chunk(11, 5, test=0.6))
    box.put(fit(5))
    box.put(fit(15))
    box.put(LearningRateChanged(epoch=12, old=0.01, new=0.001))
    d = box.drain()
    assert d is not None
    assert d.epochs.tolist() == list(range(1, 16))
    assert d.test_epochs.tolist() == [10, 15] and d.test_loss.tolist() == [0.7, 0.6]
    assert d.fit is not None and d.fit.epoch == 15, "only the newest fit snapshot is kept"
    assert d.stats is not None and d.stats.last_epoch == 15
    assert [type(n) for n in d.notes] == [LearningRateChanged]
    assert box.drain() is None


def test_notes_are_bounded_and_count_what_was_dropped() -> None:
    box = Mailbox()
    for i in range(MAX_NOTES + 10):
        box.put(Warned(f"w{i}"))
    box.put(StateChanged(state="paused", epoch=3))
    d = box.drain()
    assert d is not None
    assert len(d.notes) == MAX_NOTES and d.dropped_notes == 11
    assert isinstance(d.notes[-1], StateChanged)


def test_points_are_compacted_keeping_spikes_when_the_ui_falls_behind() -> None:
    box = Mailbox(max_points=1000)
    rng = np.random.default_rng(0)
    total = 0
    spike_epoch = 0
    for c in range(50):
        loss = rng.uniform(0.9, 1.0, 100)
        if c == 33:
            loss[17] = 50.0
            spike_epoch = total + 18
        box.put(chunk(total + 1, 100, loss))
        total += 100
    d = box.drain()
    assert d is not None
    assert len(d.epochs) <= 1000 + 100, "bounded"
    assert d.train_loss.max() == 50.0 and spike_epoch in d.epochs.tolist(), "the spike survives"
    assert np.all(np.diff(d.epochs) > 0), "still in epoch order"
    assert d.epochs[-1] == total


def test_fold_min_max_keeps_each_groups_extremes_in_order() -> None:
    x = np.arange(1, 11)
    y = np.array([3, 1, 4, 1.5, 9, 2, 6, 5, 3, 5.0])
    fx, fy = fold_min_max(x, y)
    assert fx.tolist() == [2, 3, 5, 6, 9, 10]
    assert fy.tolist() == [1, 4, 9, 2, 3, 5]


def test_concurrent_puts_and_drains_lose_no_epoch() -> None:
    box = Mailbox()
    seen: list[int] = []
    done = threading.Event()

    def producer() -> None:
        for i in range(2000):
            box.put(chunk(i * 5 + 1, 5))
        box.put(RunFinished(reason="done", epoch=10_000, final_loss=0.5, best_loss=0.5, steps_per_s=1.0, elapsed_s=1.0))
        done.set()

    thread = threading.Thread(target=producer)
    thread.start()
    finished = None
    while finished is None:
        d = box.drain()
        if d is not None:
            seen.extend(d.epochs.tolist())
            finished = d.finished
    thread.join()
    assert seen == list(range(1, 10_001))
    assert isinstance(finished, RunFinished)


def test_run_started_is_passed_through() -> None:
    from nntui.engine.events import RunStarted

    started = RunStarted(
        config=TrainConfig(), parameters=10, device="cpu", device_label="cpu", engine="fast", task="regression",
        n_train=10, n_test=0, start_epoch=0, x_points=np.zeros((2, 1)), y_points=np.zeros((2, 1)),
        x_test_points=np.zeros((0, 1)), y_test_points=np.zeros((0, 1)), input_names=("x",), target_name="y",
        x_range=((0.0, 1.0),),
    )
    box = Mailbox()
    box.put(started)
    d = box.drain()
    assert d is not None and d.started is started
