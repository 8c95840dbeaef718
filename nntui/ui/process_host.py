"""A RunHost whose trainer lives in a child process: the UI never slows training down.

With the trainer in a thread, every redraw holds the interpreter lock the training loop
needs; the app then has to ration its redraws to keep training fast. Here the trainer has
its own interpreter on its own core (`nntui.engine.worker.TrainerProcess`), so plots can
redraw at the full rate. A Textual thread worker pumps the child's events into the
current run's mailbox; commands go the other way through the pipe.

The child is started (and warmed up: torch imported, first optimizer built) when the
host is created, so pressing start does not wait for an interpreter to boot.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from threading import Event as ThreadEvent
from typing import TYPE_CHECKING, Any

from nntui.engine.config import TrainConfig
from nntui.engine.events import RunFailed, StateChanged
from nntui.engine.pace import Pace
from nntui.engine.session import DEFAULT_CHECKPOINT_S, DivergencePolicy, RunDirs
from nntui.engine.worker import EXITED, StartRun, TrainerProcess
from nntui.ui.host import CHUNK_SECONDS, FIT_INTERVAL_S
from nntui.ui.mailbox import Mailbox

if TYPE_CHECKING:
    from textual.app import App

PUMP_POLL_S = 0.05
"""How long the pump waits on the pipe before checking whether it should stop."""


@dataclass
class _Run:
    run_id: int
    config: TrainConfig
    mailbox: Mailbox
    exited: ThreadEvent = field(default_factory=ThreadEvent)
    finished: bool = False
    stopped: bool = False
    paused: bool = False


class ProcessHost:
    """Same interface as ThreadHost; the Trainer runs in a warm child process."""

    def __init__(
        self,
        app: App[Any],
        *,
        out: str | Path | None = None,
        checkpoint_every: float = DEFAULT_CHECKPOINT_S,
        on_diverge: DivergencePolicy = "pause",
    ) -> None:
        self.app = app
        self.run_dirs = RunDirs(out)
        self.checkpoint_every = checkpoint_every
        self.on_diverge: DivergencePolicy = on_diverge
        self.mailbox = Mailbox()
        self.generation = 0
        self.trainer_factory: Callable[..., Any] | None = None
        """Builds the Trainer in the child (must be importable there). Tests inject faults with it."""
        self._run: _Run | None = None
        self._closing = False
        self._proc = TrainerProcess()
        self._pumping = False

    # -- state -------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        run = self._run
        return run is not None and not run.finished and not run.stopped

    @property
    def alive(self) -> bool:
        run = self._run
        return run is not None and not run.exited.is_set()

    @property
    def paused(self) -> bool:
        run = self._run
        return run is not None and run.paused

    @property
    def devices(self) -> list[tuple[str, str]] | None:
        """Listed by the child once it is ready: this process never imports torch for it."""
        if self._proc.devices is None and self.app.is_running:
            self._ensure_pump()  # the pump is what hears them
        return self._proc.devices

    def mark_finished(self) -> None:
        if self._run is not None:
            self._run.finished = True

    # -- commands ----------------------------------------------------------------------

    def start(
        self, config: TrainConfig, *, paused: bool = False, resume: Path | None = None, pace: Pace = None
    ) -> None:
        previous = self._run
        if previous is not None and not previous.exited.is_set():
            previous.stopped = True
            self._proc.stop(previous.run_id, "reset")  # the child ends it before it takes the next
        self.generation += 1
        run = _Run(self.generation, config, Mailbox(), paused=paused)
        self._run = run
        self.mailbox = run.mailbox
        out = self.run_dirs.next()
        job = StartRun(
            run_id=run.run_id, config=config, out=str(out) if out else None,
            resume=str(resume) if resume is not None else None, paused=paused, fit_interval=FIT_INTERVAL_S,
            chunk_seconds=CHUNK_SECONDS, on_diverge=self.on_diverge, checkpoint_every=self.checkpoint_every, pace=pace,
            trainer_factory=self.trainer_factory,
        )
        self._ensure_pump()
        if not self._proc.start(job):
            self._child_died(f"the trainer process is gone (exit code {self._proc.process.exitcode})")

    def pause(self) -> None:
        if self.active:
            self._run.paused = True  # type: ignore[union-attr]
            self._proc.pause(self._run.run_id)  # type: ignore[union-attr]

    def resume(self) -> None:
        if self.active:
            self._run.paused = False  # type: ignore[union-attr]
            self._proc.resume(self._run.run_id)  # type: ignore[union-attr]

    def step(self, epochs: int = 1) -> None:
        if self.active:
            self._run.paused = True  # type: ignore[union-attr]
            self._proc.step(self._run.run_id, epochs)  # type: ignore[union-attr]

    def stop(self) -> None:
        if self._run is not None and not self._run.exited.is_set():
            self._run.stopped = True
            self._proc.stop(self._run.run_id, "stopped")

    def set_lr(self, lr: float) -> None:
        if self.active:
            self._proc.set_lr(self._run.run_id, lr)  # type: ignore[union-attr]

    def set_pace(self, pace: Pace) -> None:
        if self.active:
            self._proc.set_pace(self._run.run_id, pace)  # type: ignore[union-attr]

    async def shutdown(self, timeout: float = 1.0, reason: str = "quit") -> bool:
        """Stop the run, wait for the child to save and report it, then let the child go."""
        run = self._run
        if run is not None and not run.exited.is_set():
            run.stopped = True
            self._proc.stop(run.run_id, reason)
            deadline = time.monotonic() + timeout
            while not run.exited.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
        done = run is None or run.exited.is_set()
        self._closing = True  # only now: the pump had to stay to hear the run's end
        # the run has reported its end (files written): the child need not tear torch down
        await asyncio.to_thread(self._proc.close, 0.05 if done else 0.5)
        return done

    def join(self, timeout: float) -> bool:
        """Blocking wait for the current run to end (after the app has exited)."""
        run = self._run
        done = True if run is None else run.exited.wait(timeout)
        if self._proc.alive:
            self._proc.close(0.5)
        return done

    # -- the pump ----------------------------------------------------------------------

    def _ensure_pump(self) -> None:
        if self._pumping:
            return
        self._pumping = True
        self.app.run_worker(self._pump, name="trainer-pump", group="trainer-pump", thread=True,
                            exclusive=True, exit_on_error=False)

    def _pump(self) -> None:
        """Child events → the mailbox of the run they belong to; stale runs' events are dropped."""
        from textual.worker import get_current_worker

        worker = get_current_worker()
        try:
            while not self._closing:
                try:
                    items = self._proc.receive(PUMP_POLL_S)
                except EOFError as exc:
                    if not self._closing:
                        self._child_died(str(exc))
                    return
                if worker.is_cancelled:
                    return

                for run_id, event in items:
                    run = self._run
                    if run is None or run_id != run.run_id:
                        continue  # a reset run's last words: its successor has its own mailbox
                    if event == EXITED:
                        run.exited.set()
                        continue
                    if isinstance(event, StateChanged):
                        run.paused = event.state == "paused"  # the trainer pauses itself on a divergence
                    run.mailbox.put(event)
        finally:
            self._pumping = False

    def _child_died(self, why: str) -> None:
        """Report to the current run, then start a fresh child so the user can train again."""
        run = self._run
        if run is not None and not run.exited.is_set():
            run.mailbox.put(RunFailed(f"{why}; press space to start a new run", ""))
            run.exited.set()
        if not self._closing:
            self._proc = TrainerProcess()

