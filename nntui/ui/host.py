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
from nntui.engine.events import RunFailed
from nntui.engine.pace import Pace
from nntui.engine.session import DEFAULT_CHECKPOINT_S, DivergencePolicy, RunDirs, Session
from nntui.ui.mailbox import Mailbox

if TYPE_CHECKING:
    from textual.app import App

    from nntui.engine.trainer import Trainer

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
    run_dirs: RunDirs
    """Where each run of this dashboard writes (none without --out)."""

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

    def start(
        self, config: TrainConfig, *, paused: bool = False, resume: Path | None = None, pace: Pace = None
    ) -> None:
        """Start a new run (stopping any current one) from epoch 0, or from the checkpoint in
        the run directory `resume`, at `pace` (epochs/s, "auto", or None for max)."""

    def pause(self) -> None: ...
    def resume(self) -> None: ...
    def step(self, epochs: int = 1) -> None: ...
    def stop(self) -> None: ...
    def set_lr(self, lr: float) -> None: ...
    def set_pace(self, pace: Pace) -> None: ...

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
        self.trainer_factory: Callable[..., Trainer] | None = None
        """Builds the Trainer (default: the engine's). Tests inject faults through it."""
        self._run: _Run | None = None
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

    def start(
        self, config: TrainConfig, *, paused: bool = False, resume: Path | None = None, pace: Pace = None
    ) -> None:
        previous = self._run
        if previous is not None:
            previous.control.stop("reset")
        control = Control()
        if paused:
            control.pause()
        run = _Run(config, control, Mailbox(), self.run_dirs.next())
        self._run = run
        self.mailbox = run.mailbox
        self.generation += 1
        self.app.run_worker(
            lambda: self._work(run, previous, resume, pace),
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

    def set_pace(self, pace: Pace) -> None:
        if self.active:
            self._run.control.set_pace(pace)  # type: ignore[union-attr]

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

    def _work(self, run: _Run, previous: _Run | None, resume: Path | None, pace: Pace) -> None:
        """The thread's body: wait for the previous run to return, train, always report."""
        try:
            if previous is not None:
                # two trainers at once would halve both; the old one stops within a step
                previous.exited.wait(PREVIOUS_RUN_GRACE_S)
            if run.control.stopped:
                return
            session = Session(
                run.config, out=run.out, resume=resume, checkpoint_every=self.checkpoint_every,
                on_diverge=self.on_diverge, chunk_seconds=CHUNK_SECONDS, fit_interval=FIT_INTERVAL_S, pace=pace,
                listeners=[run.mailbox.put], trainer_factory=self.trainer_factory,
            )
            session.run(run.control)
        except Exception as exc:  # the worker must report, never die silently
            import traceback

            run.mailbox.put(RunFailed(f"{type(exc).__name__}: {exc}", traceback.format_exc()))
        finally:
            run.exited.set()


HOSTS = ("process", "thread")
"""process (default): the trainer in a warm child process (nntui/ui/process_host.py); it
shares no interpreter lock with the UI, so plots redraw at the full rate while training
keeps its headless speed. thread: a Textual thread worker in this process (no child
process to start; the UI rations its redraws to leave the trainer ≥ 0.95 of its speed)."""


def make_host(
    app: App[Any],
    kind: str | None,
    *,
    out: str | Path | None = None,
    checkpoint_every: float = DEFAULT_CHECKPOINT_S,
    on_diverge: DivergencePolicy = "pause",
) -> RunHost:
    """The host named by `kind`, else by the NNTUI_HOST variable, else the process host."""
    import os

    kind = kind or os.environ.get("NNTUI_HOST") or "process"
    if kind == "thread":
        return ThreadHost(app, out=out, checkpoint_every=checkpoint_every, on_diverge=on_diverge)
    if kind == "process":
        from nntui.ui.process_host import ProcessHost

        return ProcessHost(app, out=out, checkpoint_every=checkpoint_every, on_diverge=on_diverge)
    raise ValueError(f"unknown host {kind!r}; choose one of: {', '.join(HOSTS)}")
