"""The local process pool: trials in warm worker processes on this machine, the
`TrialBackend` a sweep uses unless given another (sweep.py). Holds both sides: `LocalPool`
on the driver, `_worker_main` in each spawned worker process."""

from __future__ import annotations

import collections
import contextlib
import multiprocessing as mp
import os
import queue
import signal
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as wait_any
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nntui.engine.errors import NntuiError
from nntui.engine.sweep import TrialFinished, TrialJob, TrialMessage, mark_failed, run_trial

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from nntui.engine.control import Control

MAX_EARLY_DEATHS = 3
"""Worker processes that die before they are ready: after this many the sweep gives up."""


def _worker_main(conn: Connection) -> None:
    """A warm worker process: import torch once, then run trials one at a time until told
    to quit (or the driver is gone)."""
    # The driver decides what a signal means (a Ctrl-C reaches the whole process group): a
    # worker only obeys "stop", so every trial ends saved, whatever signal the driver got.
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None:
            signal.signal(sig, signal.SIG_IGN)
    # before torch (and its OpenMP) load: one thread per trial, the sweep's processes are the
    # parallelism (a hidden OpenMP helper spun a core otherwise, PITFALLS "Training speed")
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    import torch

    torch.set_num_threads(1)
    from nntui.engine.control import Control

    _warm_up()

    send_lock = threading.Lock()
    alive = True

    def send(item: Any) -> None:
        nonlocal alive
        if not alive:
            return
        try:
            with send_lock:
                conn.send(item)
        except (OSError, ValueError):
            alive = False  # the driver is gone: the trial still finishes and saves

    jobs: queue.Queue[TrialJob | None] = queue.Queue()
    lock = threading.Lock()
    current: list[Control] = []

    def listen() -> None:
        while True:
            try:
                cmd = conn.recv()
            except (EOFError, OSError):
                cmd = ("quit", "the sweep's driver is gone")
            kind = cmd[0]
            if kind == "run":
                with lock:
                    current.append(Control())
                jobs.put(cmd[1])
            elif kind in ("stop", "quit"):
                with lock:
                    for control in current:
                        control.stop(cmd[1])
                if kind == "quit":
                    jobs.put(None)
                    return

    threading.Thread(target=listen, name="nntui-sweep-commands", daemon=True).start()
    send(("ready", os.getpid()))
    while (job := jobs.get()) is not None:
        with lock:
            control = current[0]
        try:
            run_trial(job, lambda m: send(("msg", m)), control)
        finally:
            with lock:
                current.pop(0)
        send(("idle", job.index))
    # Every file a trial writes is complete (atomic, fsynced) before its TrialFinished: skip
    # the interpreter's teardown of torch (about a second here) that the driver would wait for.
    conn.close()
    os._exit(0)


def _warm_up() -> None:
    """Train a 2-epoch, 8-point run in memory: the first trial of a worker then costs what
    every later one does (imports, first-call paths of the data, model, fast path, events)."""
    from safetensors import torch as _safetensors_torch  # noqa: F401  (checkpoints import it on first save)

    from nntui.engine.config import TrainConfig
    from nntui.engine.control import Control
    from nntui.engine.session import Session

    with contextlib.suppress(Exception):  # a warm-up only: a real trial reports its own errors
        Session(TrainConfig(samples=8, epochs=2), threads=1).run(Control())


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    ready: bool = False
    job: TrialJob | None = None
    pid: int = 0


class LocalPool:
    """Trials in warm local processes: spawned once (torch imported once each), reused from
    trial to trial, one torch thread each. Each talks to the driver over its own pipe, so a
    worker killed mid-message can break only its own channel (a shared queue's lock could
    be left held and stall every worker)."""

    def __init__(self) -> None:
        self._ctx = mp.get_context("spawn")  # fork next to the driver's threads is unsafe; see worker.py
        self._workers: list[_Worker] = []
        self._queue: collections.deque[TrialJob] = collections.deque()
        self._out: list[TrialMessage] = []
        self._stopping = False
        self._early_deaths = 0

    def start(self, workers: int) -> None:
        for _ in range(workers):
            self._spawn()

    def _spawn(self) -> None:
        ours, theirs = self._ctx.Pipe(duplex=True)
        proc = self._ctx.Process(target=_worker_main, args=(theirs,), name="nntui-sweep-worker", daemon=True)
        proc.start()
        theirs.close()
        self._workers.append(_Worker(proc, ours))

    def submit(self, job: TrialJob) -> None:
        self._queue.append(job)
        self._dispatch()

    def _dispatch(self) -> None:
        for w in self._workers:
            if not self._queue or self._stopping:
                return
            if w.ready and w.job is None:
                job = self._queue.popleft()
                try:
                    w.conn.send(("run", job))
                    w.job = job
                except (OSError, ValueError):
                    self._queue.appendleft(job)  # its death is noticed by poll

    def poll(self, timeout: float) -> list[TrialMessage]:
        if not self._out:
            ready = wait_any([w.conn for w in self._workers] + [w.process.sentinel for w in self._workers], timeout)
            for w in list(self._workers):
                if w.conn in ready:
                    self._drain(w)
                if w.process.sentinel in ready and not w.process.is_alive():
                    self._drain(w)
                    self._died(w)
        out, self._out = self._out, []
        return out

    def _drain(self, w: _Worker) -> None:
        try:
            while w.conn.poll(0):
                item = w.conn.recv()
                kind = item[0]
                if kind == "msg":
                    message = item[1]
                    if isinstance(message, TrialFinished) and w.job is not None and w.job.index == message.trial:
                        w.job = None  # finished: a death from now on is not this trial's
                    self._out.append(message)
                elif kind == "idle":
                    self._dispatch()
                elif kind == "ready":
                    w.ready, w.pid = True, int(item[1])
                    self._dispatch()
        except (EOFError, OSError):
            pass  # the process sentinel tells the rest

    def _died(self, w: _Worker) -> None:
        """A worker process ended on its own (killed, out of memory, a crash in torch): its
        trial is failed (the others go on) and, while trials wait, a new worker takes its place."""
        self._workers.remove(w)
        w.conn.close()
        code = w.process.exitcode
        how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        if not w.ready and not self._stopping:  # (a Ctrl-C to the group can end one mid-start-up)
            self._early_deaths += 1
            if self._early_deaths >= MAX_EARLY_DEATHS:
                raise NntuiError(f"sweep worker processes exit while starting ({how}); nothing was trained")
        if w.job is not None:
            summary = mark_failed(Path(w.job.rundir), f"the worker process running this trial died ({how})")
            self._out.append(TrialFinished(w.job.index, "failed", summary))
            w.job = None
        if self._queue and not self._stopping:
            self._spawn()

    def stop(self, reason: str) -> list[TrialJob]:
        self._stopping = True
        dropped = list(self._queue)
        self._queue.clear()
        for w in self._workers:
            with contextlib.suppress(OSError, ValueError):
                w.conn.send(("stop", reason))
        return dropped

    def close(self, timeout: float = 2.0) -> None:
        for w in self._workers:
            with contextlib.suppress(OSError, ValueError):
                w.conn.send(("quit", "the sweep ended"))
        deadline = time.monotonic() + timeout
        for w in self._workers:
            # a worker still importing torch has nothing to save: no need to wait for it
            w.process.join(max(0.0, deadline - time.monotonic()) if w.ready else 0.0)
            if w.process.is_alive():
                w.process.kill()
                w.process.join(1.0)
            w.conn.close()
        self._workers.clear()

