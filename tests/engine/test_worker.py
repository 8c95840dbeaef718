"""The trainer in a child process: same events, same commands, survives nothing it should not."""

from __future__ import annotations

import time

import pytest

from nntui.engine.checkpoint import load_checkpoint
from nntui.engine.config import TrainConfig
from nntui.engine.events import EpochsEnded, LearningRateChanged, RunFailed, RunFinished, RunStarted, StateChanged
from nntui.engine.worker import EXITED, StartRun, TrainerProcess


@pytest.fixture(scope="module")
def proc():
    p = TrainerProcess()
    yield p
    p.close()


def _collect(proc: TrainerProcess, until, got: list | None = None, timeout: float = 60.0) -> list:
    """Receive into `got` (a new list if None) until `until(got)` holds."""
    got = [] if got is None else got
    end = time.monotonic() + timeout
    while not until(got):
        assert time.monotonic() < end, f"timed out; got {[type(e).__name__ for _, e in got][-5:]}"
        got += proc.receive(0.05)
    return got


def _events(got: list, run_id: int, kind=None) -> list:
    return [e for r, e in got if r == run_id and e != EXITED and (kind is None or isinstance(e, kind))]


def test_a_run_in_the_child_gives_the_same_losses_as_in_process(proc: TrainerProcess) -> None:
    from nntui.engine.trainer import Trainer

    c = TrainConfig(epochs=300)
    assert proc.start(StartRun(run_id=1, config=c))
    got = _collect(proc, lambda g: (1, EXITED) in g)
    started = _events(got, 1, RunStarted)[0]
    assert started.parameters == 93
    remote = [x for e in _events(got, 1, EpochsEnded) for x in e.train_loss]
    local: list = []
    Trainer(c).run(lambda e: local.extend(e.train_loss) if isinstance(e, EpochsEnded) else None)
    assert remote == local
    assert _events(got, 1, RunFinished)[0].reason == "done"


def test_commands_reach_the_child(proc: TrainerProcess, tmp_path) -> None:
    proc.start(StartRun(run_id=2, config=TrainConfig(epochs=10**8), out=str(tmp_path / "run")))
    got = _collect(proc, lambda g: _events(g, 2, EpochsEnded))
    proc.pause(2)
    _collect(proc, lambda g: any(e.state == "paused" for e in _events(g, 2, StateChanged)), got)
    time.sleep(0.2)
    got += proc.receive(0.05)
    n = sum(len(e.epochs) for e in _events(got, 2, EpochsEnded))
    proc.step(2, 1)
    _collect(proc, lambda g: sum(len(e.epochs) for e in _events(g, 2, EpochsEnded)) == n + 1, got)
    proc.set_lr(2, 0.002)
    _collect(proc, lambda g: _events(g, 2, LearningRateChanged), got)
    proc.resume(2)
    proc.stop(2, "stopped")
    _collect(proc, lambda g: (2, EXITED) in g, got)
    finished = _events(got, 2, RunFinished)[0]
    assert finished.reason == "stopped"
    _, ck = load_checkpoint(tmp_path / "run")
    assert ck.epoch == finished.epoch and ck.lr == 0.002


def test_a_failing_run_is_reported_and_the_child_serves_the_next(proc: TrainerProcess, tmp_path) -> None:
    proc.start(StartRun(run_id=3, config=TrainConfig(epochs=5), resume=str(tmp_path / "missing")))
    got = _collect(proc, lambda g: (3, EXITED) in g)
    assert "does not exist" in _events(got, 3, RunFailed)[0].error
    proc.start(StartRun(run_id=4, config=TrainConfig(epochs=5)))
    got = _collect(proc, lambda g: (4, EXITED) in g)
    assert _events(got, 4, RunFinished)[0].reason == "done"


def test_a_dead_child_is_noticed() -> None:
    p = TrainerProcess()
    try:
        _collect(p, lambda g: p.ready)
        p.process.kill()
        p.process.join(5)
        with pytest.raises(EOFError, match="trainer process ended"):
            for _ in range(50):
                p.receive(0.05)
    finally:
        p.close()


def test_a_command_for_a_queued_run_waits_for_it(proc: TrainerProcess) -> None:
    """"step" right after "start paused", while the previous run still winds down."""
    proc.start(StartRun(run_id=5, config=TrainConfig(epochs=10**8)))
    got = _collect(proc, lambda g: _events(g, 5, EpochsEnded))
    proc.stop(5, "reset")
    proc.start(StartRun(run_id=6, config=TrainConfig(epochs=10**8), paused=True))
    proc.step(6, 3)  # reaches run 6's control even if run 5 has not returned yet
    _collect(proc, lambda g: sum(len(e.epochs) for e in _events(g, 6, EpochsEnded)) == 3, got)
    proc.stop(6)
    _collect(proc, lambda g: (6, EXITED) in g, got)
    finished = _events(got, 5, RunFinished)[0]
    assert (finished.reason, finished.message) == ("stopped", "reset")
