"""One session: the only place a run is wired.

    session = Session(config, out="runs/a", resume=None, listeners=[console])
    session.prepare()                 # raises NntuiError on bad input, before anything trains
    result = session.run(Control())   # trains, fans every event out, writes the run directory

Headless mode, the dashboard's thread host, the trainer child process and sweep trials all
come through here, so resuming, checkpoint timing and the run directory mean the same
thing everywhere. `plan_resume` is the torch-free half: the CLI and the dashboard's UI
process check a `--resume` directory and its flags with it before any trainer exists.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from nntui.engine.config import TrainConfig
from nntui.engine.errors import ConfigError, NntuiError
from nntui.engine.pace import Pace

if TYPE_CHECKING:
    from nntui.engine.checkpoint import Checkpoint
    from nntui.engine.control import Control
    from nntui.engine.events import Event, RunFailed, RunFinished
    from nntui.engine.record import RunRecord
    from nntui.engine.rundir import RunDirSink
    from nntui.engine.trainer import Trainer

Listener = Callable[["Event"], None]
DivergencePolicy = Literal["stop", "pause", "lower"]
"""What a run does when its loss becomes NaN/inf, after going back to its best weights:
stop (headless: exit 3), pause (dashboard: the user picks a new lr), or lower (carry on at
a learning rate the trainer tried and found to lower the loss)."""
DIVERGENCE_POLICIES: tuple[DivergencePolicy, ...] = ("stop", "pause", "lower")
DEFAULT_CHECKPOINT_S = 30.0
"""A checkpoint this often (and at the end, and on a signal): what a SIGKILL can lose."""

RESUME_CHANGEABLE = ("epochs", "lr", "device", "engine", "clip_grad", "health")
"""Config fields a continued run may change; the rest would make it another run (another
model or other data). Session options (intervals, divergence policy) always may."""


@dataclass(frozen=True)
class ResumePlan:
    """A run directory checked for resuming, and the config the run continues with."""

    rundir: Path
    config: TrainConfig
    """The checkpoint's own config with the allowed overrides applied."""
    epoch: int
    """Where the checkpoint stands."""
    edited: tuple[str, ...]
    """Fields a person changed in config.toml by hand: ignored (the checkpoint decides)."""

    @property
    def finished(self) -> bool:
        """The checkpoint has all of the config's epochs: only more `--epochs` goes on."""
        return self.epoch >= self.config.epochs

    def edited_warning(self) -> str:
        return (
            f"{self.rundir / 'config.toml'} was edited ({', '.join(self.edited)}); resuming with the "
            f"checkpoint's own settings and writing them back there ({', '.join(RESUME_CHANGEABLE)} change "
            "with flags; anything else needs a new run)"
        )


def resume_overrides(saved: TrainConfig, overrides: Mapping[str, Any], rundir: str | Path) -> dict[str, Any]:
    """The overrides that change something; ConfigError naming the first field that may not change."""
    changed = {k: v for k, v in overrides.items() if getattr(saved, k) != v}
    for key, value in changed.items():
        if key not in RESUME_CHANGEABLE:
            shown = ",".join(map(str, value)) if isinstance(value, tuple) else value
            raise ConfigError(
                key, shown, f"it cannot change when resuming {rundir} (that would be another model or other data); "
                f"only {', '.join(RESUME_CHANGEABLE)} can"
            )
    return changed


def plan_resume(rundir: str | Path, overrides: Mapping[str, Any] | None = None) -> ResumePlan:
    """Check `rundir` for resuming with `overrides` (parsed field values), without torch.

    Raises CheckpointError (no or a damaged checkpoint) or ConfigError (a field that would
    change the model or the data)."""
    from nntui.engine.checkpoint import checkpoint_info
    from nntui.engine.rundir import edited_config_fields

    info = checkpoint_info(rundir)
    changed = resume_overrides(info.config, overrides or {}, rundir)
    return ResumePlan(Path(rundir), replace(info.config, **changed), info.epoch,
                      edited_config_fields(rundir, info.config))


class RunDirs:
    """Run directories of one dashboard session: the first run writes `out`, later ones
    (after a reset) out-2, out-3…, so no run overwrites an earlier one."""

    def __init__(self, out: str | Path | None) -> None:
        self.out = Path(out) if out else None
        self.count = 0

    def next(self) -> Path | None:
        if self.out is None:
            return None
        self.count += 1
        return self.out if self.count == 1 else self.out.with_name(f"{self.out.name}-{self.count}")


class Session:
    """Config + optional resume directory + out directory + checkpoint interval → a trainer
    wired to its sinks. Listeners get every event; the run directory (with `out`, or the
    resumed directory) gets them too, and its disk errors reach the listeners as warnings."""

    def __init__(
        self,
        config: TrainConfig,
        *,
        out: str | Path | None = None,
        resume: str | Path | None = None,
        checkpoint_every: float = DEFAULT_CHECKPOINT_S,
        on_diverge: DivergencePolicy = "stop",
        chunk_seconds: float = 0.1,
        fit_interval: float = 1.0,
        threads: int | None = None,
        pace: Pace = None,
        listeners: Iterable[Listener] = (),
        trainer_factory: Callable[..., Trainer] | None = None,
        resume_checkpoint: Checkpoint | None = None,
        on_checkpoint: Callable[[Checkpoint], None] | None = None,
    ) -> None:
        self.config = config
        self.resume = Path(resume) if resume is not None else None
        self.out = Path(out) if out else self.resume
        """Where the run directory is written: `out`, else the resumed directory itself."""
        self.checkpoint_every = checkpoint_every
        self.on_diverge = on_diverge
        self.chunk_seconds = chunk_seconds
        self.fit_interval = fit_interval
        self.threads = threads
        self.pace: Pace = pace
        """Dashboard runs only: epochs per second, "auto", or None (max); headless is never paced."""
        self.listeners = list(listeners)
        self.trainer_factory = trainer_factory
        """Tests only: a Trainer stand-in (a trainer that fails on purpose)."""
        self.resume_checkpoint = resume_checkpoint
        """A checkpoint to continue from that is not in a run directory (a Ray trial's, sent by the driver)."""
        self.on_checkpoint = on_checkpoint
        """Where checkpoints go besides the run directory (a Ray trial sends them to the driver)."""
        self.sink: RunDirSink | None = None
        self.trainer: Trainer | None = None
        self.checkpoint: Checkpoint | None = None
        self._warnings: list[str] = []
        self._record: RunRecord | None = None

    # -- wiring ------------------------------------------------------------------------

    def prepare(self) -> None:
        """Load the checkpoint, open the run directory, build the trainer and its data.

        Raises NntuiError for anything a user can fix (bad checkpoint, a field that may not
        change on resume, an unusable --out, bad data); nothing is written before that."""
        if self.trainer is not None:
            return
        if self.resume is None:
            self.checkpoint = self.resume_checkpoint
        else:
            from nntui.engine.checkpoint import load_checkpoint
            from nntui.engine.rundir import edited_config_fields

            saved, ck = load_checkpoint(self.resume)
            changed = resume_overrides(saved, _fields(self.config), self.resume)
            if "lr" in changed:
                ck.lr = self.config.lr  # a --lr given on resume wins over the checkpoint's own
            self.checkpoint = ck
            edited = edited_config_fields(self.resume, saved)
            if edited:
                self._warnings.append(ResumePlan(self.resume, self.config, ck.epoch, edited).edited_warning())
        if self.out is not None and os.path.isfile(self.out):  # (isfile: an unreadable path is no error here)
            raise NntuiError(f"out: {self.out} is a file, not a directory; give a new or existing folder")
        check_checkpoint_every(self.checkpoint_every)
        if self.out is not None:
            from nntui.engine.rundir import RunDirSink

            self.sink = RunDirSink(self.out, on_error=self._disk_error, resume=self.resume is not None)
        from nntui.engine.trainer import Trainer

        saves = [f for f in (self.sink.save_checkpoint if self.sink else None, self.on_checkpoint) if f is not None]

        def save_checkpoint(ck: Checkpoint) -> None:
            for save in saves:
                save(ck)

        factory = self.trainer_factory or Trainer
        self.trainer = factory(
            self.config,
            on_diverge=self.on_diverge,
            fit_interval=self.fit_interval,
            chunk_seconds=self.chunk_seconds,
            threads=self.threads,
            resume=self.checkpoint,
            checkpoint_every_s=self.checkpoint_every if saves else 0.0,
            on_checkpoint=save_checkpoint if saves else None,
            pace=self.pace,
        )
        self.trainer.prepare()

    @property
    def record(self) -> RunRecord:
        """What the summary says (the run directory's own record when there is one)."""
        if self.sink is not None:
            return self.sink.record
        if self._record is None:
            from nntui.engine.record import RunRecord

            self._record = RunRecord()
        return self._record

    def emit(self, event: Event) -> None:
        """Every event to every listener, then to the run directory (or the record)."""
        for listen in self.listeners:
            listen(event)
        if self.sink is not None:
            self.sink(event)
        else:
            self.record(event)

    def _disk_error(self, message: str) -> None:
        from nntui.engine.events import Warned

        for listen in self.listeners:
            listen(Warned(message))

    # -- running -----------------------------------------------------------------------

    def run(self, control: Control) -> RunFinished | RunFailed:
        """Train to the end (or a stop); the run directory is closed whatever happens."""
        from nntui.engine.events import RunFailed, Warned

        try:
            try:
                self.prepare()
            except NntuiError as exc:
                failed = RunFailed(str(exc))
                self.emit(failed)
                return failed
            assert self.trainer is not None
            for message in self._warnings:
                self.emit(Warned(message))
            self._warnings.clear()
            return self.trainer.run(self.emit, control)
        finally:
            self.close()

    def finish(self, status: str, error: str = "") -> None:
        """The last summary (e.g. "interrupted" after a signal); a full disk only warns."""
        if self.sink is not None:
            self.sink.finish(status, error)

    @property
    def write_failed(self) -> bool:
        """The run directory refused a write at some point (one warning was sent)."""
        return self.sink is not None and self.sink.failed

    def close(self) -> None:
        if self.sink is not None:
            try:
                self.sink.close()
            except OSError as exc:
                self._disk_error(f"closing the run directory failed: {exc}")


def check_checkpoint_every(seconds: float) -> None:
    """0.01 s to a day: 0 or less would never (or always) write, a NaN never compares."""
    if not 0.01 <= seconds <= 86400:
        raise ConfigError("checkpoint-every", seconds, "expected 0.01 to 86400 s")


def _fields(config: TrainConfig) -> dict[str, Any]:
    return {name: getattr(config, name) for name in config.__dataclass_fields__}
