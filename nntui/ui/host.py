"""Where training runs, seen from the dashboard: one run at a time, behind a small interface.

The app talks only to a `RunHost` and reads its `mailbox`; it never touches a Trainer.
`ThreadHost` runs the engine's Trainer in a Textual thread worker. The interface is small
on purpose, so a process-based host (no interpreter-lock contention with the UI) can
replace it without the app changing.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from nntui.engine.config import TrainConfig
from nntui.engine.control import Control
from nntui.engine.events import Event, RunFailed, Warned
from nntui.ui.mailbox import Mailbox

if TYPE_CHECKING:
    from textual.app import App

    from nntui.engine.trainer import Checkpoint, Trainer

FIT_INTERVAL_S = 1.0
"""Fit snapshots about once a second: the fit plot is not redrawn faster than that anyway."""
CHUNK_SECONDS = 0.1
"""The trainer reads losses back about every 0.1 s: smooth curves, one host sync per chunk."""
PREVIOUS_RUN_GRACE_S = 5.0
"""A new run waits at most this long for the previous trainer thread to return."""


class RunHost(Protocol):
    """What the dashboard needs from whatever trains (a thread now, maybe a process later)."""

    mailbox: Mailbox
    """The current run's inbox; a new one for every run, so a dying run cannot pollute the next."""
    generation: int
    """Counts runs started; the app notices a new run by a changed number."""

    @property
    def devices(self) -> list[tuple[str, str]] | None:
        """(name, label) of what the trainer can use (GPU names included), or None while not known yet."""

    @property
    def active(self) -> bool:
        """A run exists that has not finished (running or paused)."""

    @property
    def alive(self) -> bool:
        """A trainer thread (or process) has not returned yet."""

    @property
    def paused(self) -> bool:
        """The current run was asked to pause (or started paused)."""

    def start(self, config: TrainConfig, *, paused: bool = False, resume: Checkpoint | None = None) -> None:
        """Start a new run (stopping any current one) from epoch 0 or a checkpoint."""

    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def step(self, epochs: int = 1) -> None: ...
    def stop(self) -> None: ...
    def set_lr(self, lr: float) -> None: ...

    def mark_finished(self) -> None:
        """The app saw the run's RunFinished/RunFailed: it no longer counts as active."""

    async def shutdown(self, timeout: float = 1.0, reason: str = "quit") -> bool:
        """Stop the run and wait (without blocking the UI) until it returned; True if it did.
        `reason` ends up in the run's RunFinished message (quit, interrupted by SIGTERM…)."""

    def join(self, timeout: float) -> bool:
        """Blocking wait for the trainer after the app has exited; True if it is gone."""


@dataclass
class _Run:
    """One run's private state: its own control, mailbox and exit flag."""

    config: TrainConfig
    control: Control
    mailbox: Mailbox
    out: Path | None
    exited: threading.Event = field(default_factory=threading.Event)
    finished: bool = False


class ThreadHost:
    """Runs the engine's Trainer in a Textual thread worker, one run at a time.

    Reset, restart and quit are all "stop the control, start anew": a thread cannot be
    killed, but the trainer checks `control.pending` every step, so stop returns quickly.
    """

    shares_interpreter = True
    """The trainer runs in this interpreter: UI work slows it (the app rations its redraws)."""

    def __init__(self, app: App[Any], *, out: str | Path | None = None) -> None:
        self.app = app
        self.out = Path(out) if out else None
        self.mailbox = Mailbox()
        self.generation = 0
        self.trainer_factory: Callable[..., Trainer] | None = None
        """Builds the Trainer (default: the engine's). Tests inject faults through it."""
        self._run: _Run | None = None
        self._out_count = 0
        self._devices: list[tuple[str, str]] | None = None

    # -- state ---------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        run = self._run
        return run is not None and not run.finished and not run.control.stopped

    @property
    def alive(self) -> bool:
        run = self._run
        return run is not None and not run.exited.is_set()

    @property
    def paused(self) -> bool:
        run = self._run
        return run is not None and run.control.paused

    @property
    def devices(self) -> list[tuple[str, str]]:
        """The trainer is in this process, which imports torch to train anyway: ask it now."""
        if self._devices is None:
            from nntui.engine.devices import available_devices

            self._devices = [(d.name, d.label) for d in available_devices()]
        return self._devices

    def mark_finished(self) -> None:
        """The app saw RunFinished/RunFailed in the mailbox: the run no longer counts as active."""
        if self._run is not None:
            self._run.finished = True

    # -- commands ------------------------------------------------------------------------

    def start(self, config: TrainConfig, *, paused: bool = False, resume: Checkpoint | None = None) -> None:
        previous = self._run
        if previous is not None:
            previous.control.stop("reset")
        control = Control()
        if paused:
            control.pause()
        run = _Run(config, control, Mailbox(), self._next_out(resume is not None))
        self._run = run
        self.mailbox = run.mailbox
        self.generation += 1
        self.app.run_worker(
            lambda: self._work(run, previous, resume),
            name=f"trainer-{self.generation}",
            group="trainer",
            thread=True,
            exclusive=True,
            exit_on_error=False,
        )

    def pause(self) -> None:
        if self.active:
            self._run.control.pause()  # type: ignore[union-attr]

    def resume(self) -> None:
        if self.active:
            self._run.control.resume()  # type: ignore[union-attr]

    def step(self, epochs: int = 1) -> None:
        if self.active:
            self._run.control.step(epochs)  # type: ignore[union-attr]

    def stop(self) -> None:
        if self._run is not None:
            self._run.control.stop("stopped")

    def set_lr(self, lr: float) -> None:
        if self.active:
            self._run.control.set_lr(lr)  # type: ignore[union-attr]

    async def shutdown(self, timeout: float = 1.0, reason: str = "quit") -> bool:
        run = self._run
        if run is None:
            return True
        run.control.stop(reason)
        deadline = time.monotonic() + timeout
        while not run.exited.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return run.exited.is_set()

    def join(self, timeout: float) -> bool:
        """Blocking wait for the trainer thread (used after the app has exited)."""
        run = self._run
        return True if run is None else run.exited.wait(timeout)

    # -- the worker ----------------------------------------------------------------------

    def _next_out(self, resuming: bool) -> Path | None:
        """Run directories never overwrite an earlier run of this session: out, out-2, out-3…"""
        if self.out is None:
            return None
        self._out_count += 1
        if self._out_count == 1:
            return self.out
        return self.out.with_name(f"{self.out.name}-{self._out_count}")

    def _work(self, run: _Run, previous: _Run | None, resume: Checkpoint | None) -> None:
        """The thread's body: wait for the previous run to return, train, always report."""
        sink = None
        try:
            if previous is not None:
                # two trainers at once would halve both; the old one stops within a step
                previous.exited.wait(PREVIOUS_RUN_GRACE_S)
            if run.control.stopped:
                return
            emit: Callable[[Event], None] = run.mailbox.put
            checkpoint_cb = None
            if run.out is not None:
                from nntui.engine.runs import RunDirSink

                def disk_error(message: str) -> None:
                    run.mailbox.put(Warned(message))  # shown like any warning; training goes on

                sink = RunDirSink(run.out, on_error=disk_error, resume=resume is not None)
                checkpoint_cb = sink.save_checkpoint
                put, write = run.mailbox.put, sink

                def emit(event: Event) -> None:
                    put(event)
                    write(event)

            factory = self.trainer_factory
            if factory is None:
                from nntui.engine.trainer import Trainer as factory
            trainer = factory(
                run.config,
                on_diverge="pause",
                fit_interval=FIT_INTERVAL_S,
                chunk_seconds=CHUNK_SECONDS,
                resume=resume,
                checkpoint_every_s=30.0 if checkpoint_cb else 0.0,
                on_checkpoint=checkpoint_cb,
            )
            trainer.run(emit, run.control)
        except Exception as exc:  # the worker must report, never die silently
            import traceback

            run.mailbox.put(RunFailed(f"{type(exc).__name__}: {exc}", traceback.format_exc()))
        finally:
            if sink is not None:
                try:
                    sink.close()
                except OSError as exc:
                    run.mailbox.put(Warned(f"closing the run directory failed: {exc}"))
            run.exited.set()
