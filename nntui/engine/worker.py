"""A trainer in a child process: no interpreter lock shared with whoever watches it.

A thread trainer and a busy UI take turns holding one interpreter lock: every plot redraw
is time the training loop waits (measured here: redraws every 250 ms left the trainer
0.65–0.8 of its speed). In its own process the loop runs on its own core and the UI can
take as long as it likes. The price is start-up (a new interpreter imports torch), so
`TrainerProcess` starts its child at once and keeps it warm between runs.

Parent side:
    proc = TrainerProcess()                   # spawns and warms up the child
    proc.start(StartRun(run_id, config, …))   # events arrive through proc.receive()
    proc.pause(run_id) / resume / step / stop / set_lr
Events are the engine's own dataclasses (pickled); each is wrapped as (run_id, event).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Literal

from nntui.engine.config import TrainConfig
from nntui.engine.events import Event, RunFailed
from nntui.engine.pace import Pace
from nntui.engine.session import DEFAULT_CHECKPOINT_S, DivergencePolicy

READY = "ready"
DEVICES = "devices"
"""Sent with the child's devices as soon as it has imported torch (before READY)."""
EXITED = "exited"
"""Sent after a run's last event: its trainer returned and its files are written."""


CommandKind = Literal["pause", "resume", "step", "stop", "set_lr", "set_pace", "quit"]


@dataclass(frozen=True)
class Command:
    """Parent → child: what to do to which run (a command for a run that ended is dropped)."""

    kind: CommandKind
    run_id: int = 0
    value: Any = None
    """step: epochs; stop: the reason; set_lr: the rate; set_pace: epochs/s, "auto" or None."""


@dataclass(frozen=True, kw_only=True)
class StartRun:
    """Parent → child: a run's whole description; the child's Session wires it."""

    run_id: int
    config: TrainConfig
    out: str | None = None
    resume: str | None = None
    """A run directory holding a checkpoint to continue from."""
    paused: bool = False
    fit_interval: float = 1.0
    chunk_seconds: float = 0.1
    on_diverge: DivergencePolicy = "pause"
    checkpoint_every: float = DEFAULT_CHECKPOINT_S
    pace: Pace = None
    trainer_factory: Callable[..., Any] | None = None
    """Builds the Trainer (default: the engine's); must be importable in the child."""


# ----------------------------------------------------------------------------- child


def _child_main(conn: Connection) -> None:
    """The child: warm up, then train one run after another until told to quit. A parent
    gone before the child is ready (the app closed during start-up) ends it quietly."""
    try:
        _serve(conn)
    except (BrokenPipeError, ConnectionResetError, EOFError):
        pass


def _serve(conn: Connection) -> None:
    # The parent owns the terminal and decides what a signal means; the child only obeys
    # its commands (a Ctrl-C in the terminal reaches the whole process group).
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        sig = getattr(signal, name, None)
        if sig is not None:
            signal.signal(sig, signal.SIG_IGN)
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    from nntui.engine.devices import available_devices

    # the devices first (the dashboard lists them, and need not import torch itself for it)
    # as plain (name, label) pairs: unpickling DeviceInfo would import torch in the parent
    conn.send((DEVICES, [(d.name, d.label) for d in available_devices()]))

    from nntui.engine.control import Control
    from nntui.engine.session import Session
    from nntui.engine.trainer import Trainer  # noqa: F401  (the warm-up: imported before the user presses start)

    send_lock = threading.Lock()

    def send(item: Any) -> None:
        with send_lock:
            conn.send(item)

    starts: queue.Queue[StartRun | None] = queue.Queue()
    lock = threading.Lock()
    controls: dict[int, Control] = {}
    """A control per started-or-queued run: a command for a run still in the queue (e.g.
    "step" right after "start paused", while the previous run winds down) waits in its
    control instead of reaching the wrong run."""

    def listen() -> None:
        """Commands arrive while the main thread trains; EOF means the parent is gone."""
        while True:
            try:
                cmd = conn.recv()
            except (EOFError, OSError):
                cmd = Command("quit")
            if isinstance(cmd, StartRun):
                control = Control()
                if cmd.paused:
                    control.pause()
                with lock:
                    controls[cmd.run_id] = control
                starts.put(cmd)
                continue
            if cmd.kind == "quit":
                with lock:
                    for control in controls.values():
                        control.stop("quit")
                starts.put(None)
                return
            with lock:
                target = controls.get(cmd.run_id)
            if target is None:
                continue  # a run that has already ended
            control = target
            if cmd.kind == "pause":
                control.pause()
            elif cmd.kind == "resume":
                control.resume()
            elif cmd.kind == "step":
                control.step(cmd.value)
            elif cmd.kind == "stop":
                control.stop(cmd.value)
            elif cmd.kind == "set_lr":
                control.set_lr(cmd.value)
            elif cmd.kind == "set_pace":
                control.set_pace(cmd.value)

    threading.Thread(target=listen, name="nntui-commands", daemon=True).start()
    send(READY)
    while (job := starts.get()) is not None:
        run_id = job.run_id
        with lock:
            control = controls[run_id]

        def emit(event: Event, run_id: int = run_id) -> None:
            send((run_id, event))

        session = Session(
            job.config, out=job.out, resume=job.resume, checkpoint_every=job.checkpoint_every,
            on_diverge=job.on_diverge, chunk_seconds=job.chunk_seconds, fit_interval=job.fit_interval, pace=job.pace,
            listeners=[emit], trainer_factory=job.trainer_factory,
        )
        try:
            session.run(control)
        except BaseException as exc:  # a run's failure is reported; the child serves the next run
            emit(RunFailed(f"{type(exc).__name__}: {exc}", traceback.format_exc()))
        finally:
            with lock:
                controls.pop(run_id, None)
            send((run_id, EXITED))


# ----------------------------------------------------------------------------- parent


class TrainerProcess:
    """The parent's handle on one warm child process that trains runs one at a time."""

    def __init__(self) -> None:
        ctx = mp.get_context("spawn")  # fork is unsafe next to the UI's threads
        self._conn, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=_child_main, args=(child,), name="nntui-trainer", daemon=True)
        self.process.start()
        child.close()
        self.ready = False
        self.devices: list[tuple[str, str]] | None = None
        """(name, label) of what the child can train on, once it has imported torch (the parent need not)."""
        self._send_lock = threading.Lock()

    # -- commands --------------------------------------------------------------------------

    def _send(self, item: Any) -> bool:
        try:
            with self._send_lock:
                self._conn.send(item)
            return True
        except (OSError, ValueError, BrokenPipeError):
            return False

    def start(self, job: StartRun) -> bool:
        return self._send(job)

    def pause(self, run_id: int) -> None:
        self._send(Command("pause", run_id))

    def resume(self, run_id: int) -> None:
        self._send(Command("resume", run_id))

    def step(self, run_id: int, epochs: int = 1) -> None:
        self._send(Command("step", run_id, epochs))

    def stop(self, run_id: int, reason: str = "stopped") -> None:
        self._send(Command("stop", run_id, reason))

    def set_lr(self, run_id: int, lr: float) -> None:
        self._send(Command("set_lr", run_id, lr))

    def set_pace(self, run_id: int, pace: Pace) -> None:
        self._send(Command("set_pace", run_id, pace))

    # -- events ----------------------------------------------------------------------------

    def receive(self, timeout: float) -> list[Any]:
        """What the child sent within `timeout` (an empty list if nothing). Raises EOFError
        when the child is gone."""
        items: list[Any] = []
        try:
            if not self._conn.poll(timeout):
                if not self.process.is_alive():
                    raise EOFError
                return items
            while self._conn.poll(0):
                item = self._conn.recv()
                if item == READY:
                    self.ready = True
                    continue
                if isinstance(item, tuple) and item[0] == DEVICES:
                    self.devices = [(str(name), str(label)) for name, label in item[1]]
                    continue
                items.append(item)
        except (EOFError, OSError):
            if items:
                return items  # deliver what arrived; the next call reports the end
            self.process.join(1.0)
            raise EOFError(f"the trainer process ended (exit code {self.process.exitcode})") from None
        return items

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def close(self, timeout: float = 1.0) -> None:
        """Ask the child to stop and quit; kill it if it does not within `timeout`.

        Call it once the run reported EXITED (its files are written): then nothing is lost
        by not waiting for the child's interpreter to tear torch down.
        """
        if self._conn.closed:
            return
        self._send(Command("quit"))
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(1.0)
        self._conn.close()
