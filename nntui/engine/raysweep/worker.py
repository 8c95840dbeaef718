"""The worker side of a Ray sweep: the `Hub` actor (the mailbox on the driver's node) and
`ray_trial`, the body of every trial's task. Ray pickles both by reference, so the workers
import this module by its path: it stays light (no torch, no Ray at its top level)."""

from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import os
import pickle
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nntui.engine.raysweep.checks import _ray
from nntui.engine.sweep import (
    CHECKPOINT,
    CHUNK_SECONDS,
    FIT_INTERVAL_S,
    TrialFinished,
    TrialJob,
    TrialMessage,
    TrialStarted,
    run_trial,
    trial_outcome,
)

if TYPE_CHECKING:
    from nntui.engine.checkpoint import Checkpoint
    from nntui.engine.control import Control
    from nntui.engine.events import Event

SEND_INTERVAL_S = 0.4
"""A worker pushes at most this often: with the trainer's 0.25 s chunks, every metrics row
reaches the driver within about half a second."""
MAX_UNACKED = 8
"""Pushes a worker has in flight before it waits for the oldest (a slow driver slows the
trials rather than filling the workers' memory)."""
PUSH_TIMEOUT_S = 60.0


# ----------------------------------------------------------------------------- the hub actor


class Hub:
    """The mailbox between the trials and the driver, on the driver's node (an async actor:
    a waiting `drain` never blocks a push). Holds each push as the worker pickled it."""

    def __init__(self) -> None:
        import asyncio

        self._items: list[tuple[int, int, Any]] = []
        self._stop: str | None = None
        self._news = asyncio.Event()

    async def hello(self, trial: int, attempt: int, where: str) -> str | None:
        """A task starting: the stop reason if the sweep is stopping (it then does nothing)."""
        if self._stop is not None:
            return self._stop
        self._items.append((trial, attempt, where))
        self._news.set()
        return None

    async def push(self, trial: int, attempt: int, seq: int, payload: bytes) -> str | None:
        # an async actor runs its calls in no guaranteed order: `seq` lets the driver put a
        # task's pushes back in the order they were sent (a final checkpoint overtaken by the
        # trial's "end" was lost)
        self._items.append((trial, attempt, (seq, payload)))
        self._news.set()
        return self._stop

    async def drain(self, wait_s: float) -> list[tuple[int, int, Any]]:
        """Everything pushed since the last drain, waiting up to `wait_s` for something."""
        import asyncio

        if not self._items and wait_s > 0:
            self._news.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._news.wait(), wait_s)
        out, self._items = self._items, []
        return out

    async def stop(self, reason: str) -> list[tuple[int, int, Any]]:
        """Raise the stop flag and hand over what is left, in one step: a trial is either in
        this list (it said hello: it will stop and report) or will never start."""
        self._stop = reason
        out, self._items = self._items, []
        return out


# ----------------------------------------------------------------------------- the worker side


class _Outbox:
    """A task's channel to the hub: items batched every SEND_INTERVAL_S, pickled once, pushed
    without waiting (at most MAX_UNACKED unanswered, each answer read from its future, see
    `await_ref`); each answer may carry the stop flag."""

    def __init__(self, hub: Any, trial: int, attempt: int, on_stop: Callable[[str], None]) -> None:
        self.hub, self.trial, self.attempt, self.on_stop = hub, trial, attempt, on_stop
        self._items: list[Any] = []
        self._last = time.monotonic()
        self._unacked: collections.deque[Any] = collections.deque()
        self._seq = 0
        """The next push's number (the hub may deliver pushes out of order)."""
        self._lock = threading.Lock()
        self.gone = False
        """The driver (its hub) no longer answers: the trial stops, nothing more is sent."""

    def add(self, item: Any, urgent: bool = False) -> None:
        with self._lock:
            self._items.append(item)
            if urgent or time.monotonic() - self._last >= SEND_INTERVAL_S:
                self._flush()

    def close(self) -> None:
        """Send what is left and wait until the hub has it all (the task returns after this)."""
        with self._lock:
            self._flush()
            while self._unacked and not self.gone:
                self._answer(self._unacked.popleft())

    def _flush(self) -> None:
        self._last = time.monotonic()
        if not self._items or self.gone:
            self._items = []
            return
        payload = pickle.dumps(self._items, protocol=pickle.HIGHEST_PROTOCOL)
        self._items = []
        self._unacked.append(self.hub.push.remote(self.trial, self.attempt, self._seq, payload).future())
        self._seq += 1
        while len(self._unacked) > MAX_UNACKED and not self.gone:
            self._answer(self._unacked.popleft())
        while self._unacked and self._unacked[0].done() and not self.gone:
            self._answer(self._unacked.popleft())

    def _answer(self, answer: concurrent.futures.Future[Any]) -> None:
        try:
            stop = answer.result(timeout=PUSH_TIMEOUT_S)
        except Exception:  # the hub (and so the driver) is gone: nobody to train for
            self.gone = True
            self.on_stop("the sweep's driver is gone")
            return
        if stop is not None:
            self.on_stop(str(stop))


def await_ref(ref: Any, timeout: float) -> Any:
    """A task's wait for an answer, through the ref's future, never ray.get or ray.wait: Ray lends
    the CPU of a task blocked in those to another task (measured: a third trial then started on
    the two cores, now and then even with ray.wait(timeout=0)); a future's wait is only a lock."""
    return ref.future().result(timeout=timeout)


_warm = False


def _warm_worker() -> None:
    """Once per Ray worker process, as the local pool warms its workers: torch imported and a
    tiny run trained, so a trial's own clock (elapsed_s, steps/s) counts training only."""
    global _warm
    if _warm:
        return
    _warm = True
    import torch

    from nntui.engine.sweep_local import _warm_up

    torch.set_num_threads(1)
    _warm_up()


def ray_trial(job: TrialJob, attempt: int, resume: bytes | None, hub: Any, shared_out: bool) -> str:
    """One trial as a Ray task (the body of every attempt). Returns "skipped" when the sweep
    was stopped before it began, else the trial's status (also sent through the hub)."""
    ray = _ray()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"  # before torch loads in a fresh worker (PITFALLS: a hidden OpenMP helper)
    _warm_worker()  # (on the sweep's first tasks the hub actor starts meanwhile)
    where = f"pid {os.getpid()} on {ray.util.get_node_ip_address()}"
    if await_ref(hub.hello.remote(job.index, attempt, where), PUSH_TIMEOUT_S) is not None:
        return "skipped"
    from nntui.engine.control import Control

    control = Control()
    outbox = _Outbox(hub, job.index, attempt, control.stop)
    try:
        if shared_out:
            def send(message: TrialMessage) -> None:
                if not isinstance(message, TrialStarted):  # the driver said it when the hello came
                    outbox.add(message, urgent=isinstance(message, TrialFinished))

            status: str = run_trial(job, send, control).status
        else:
            status = _stream_trial(job, resume, outbox, control)
    finally:
        outbox.close()
    return status


def _stream_trial(job: TrialJob, resume: bytes | None, outbox: _Outbox, control: Control) -> str:
    """Train through a Session with no run directory here: its events and checkpoints go to
    the driver, which writes them as a local trial's RunDirSink would."""
    from nntui.engine.events import RunFailed
    from nntui.engine.session import Session

    def send_event(event: Event) -> None:
        outbox.add(("event", event))

    def send_checkpoint(ck: Checkpoint) -> None:
        outbox.add(("checkpoint", ck), urgent=True)  # pickled now: its tensors may be the live ones

    try:
        session = Session(
            job.config, checkpoint_every=job.checkpoint_every, on_diverge=job.on_diverge,
            chunk_seconds=CHUNK_SECONDS, fit_interval=FIT_INTERVAL_S, threads=1, listeners=[send_event],
            resume_checkpoint=_load_resume(job, resume), on_checkpoint=send_checkpoint,
        )
        result = session.run(control)
    except Exception as exc:  # the trial's failure, reported; never a dead task
        import traceback

        result = RunFailed(f"{type(exc).__name__}: {exc}", traceback.format_exc())
        send_event(result)
    status, error = trial_outcome(result, control)
    outbox.add(("end", status, error), urgent=True)
    return status


def _load_resume(job: TrialJob, blob: bytes | None) -> Checkpoint | None:
    """The driver's last checkpoint of this trial (the file's bytes) → a Checkpoint, checked as
    `Session` checks a resume directory."""
    if blob is None:
        return None
    from nntui.engine.checkpoint import load_checkpoint
    from nntui.engine.session import resume_overrides

    with tempfile.TemporaryDirectory(prefix="nntui-resume-") as tmp:
        (Path(tmp) / CHECKPOINT).write_bytes(blob)
        saved, ck = load_checkpoint(tmp)
    fields = {name: getattr(job.config, name) for name in job.config.__dataclass_fields__}
    if "lr" in resume_overrides(saved, fields, job.name):
        ck.lr = job.config.lr
    return ck

