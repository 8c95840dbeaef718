"""Headless mode: the engine driven without a terminal UI, for scripts, CI and GPU servers.

Progress lines go to stderr; with --json one final JSON line goes to stdout. Signals stop
the run cleanly: metrics are flushed and a checkpoint is written before exiting.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TextIO

from nntui.engine.config import TrainConfig, config_summary
from nntui.engine.control import Control
from nntui.engine.errors import NntuiError
from nntui.engine.events import EpochsEnded, Event, LearningRateChanged, RunFailed, RunFinished, RunStarted, Warned

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_DIVERGED = 3
CHUNK_SECONDS = 0.25
"""Losses are read back (one host sync, an eval pass) about this often: nobody watches a curve
here, and each read-back costs about 1 ms of a lecture-sized run (0.1 s chunks: 2% of it)."""
SIGNAL_EXIT = {"SIGINT": 130, "SIGTERM": 143, "SIGHUP": 129}
"""128 + the signal's number, as shells report it."""


def _fmt_loss(v: float) -> str:
    return "—" if not math.isfinite(v) else f"{v:.6g}"


def _fmt_duration(s: float) -> str:
    if not math.isfinite(s) or s < 0:
        return "—"
    if s < 60:
        return f"{s:.1f}s"
    if s < 3600:
        return f"{int(s // 60)}m{int(s % 60):02d}s"
    return f"{int(s // 3600)}h{int(s % 3600 // 60):02d}m"


class ConsoleSink:
    """One plain line per progress step, as the lecture's script printed every 100 epochs."""

    def __init__(self, stream: TextIO, log_every: int | None = None) -> None:
        self.stream = stream
        self.log_every = log_every
        self.total = 0
        self.last_test = math.nan
        self.started: RunStarted | None = None

    def say(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.started = event
            c = event.config
            self.total = c.epochs
            if self.log_every is None:
                self.log_every = max(1, _nice(c.epochs // 20))
            split = f"{event.n_train} train / {event.n_test} test" if event.n_test else f"{event.n_train} points"
            self.say(f"nntui: {config_summary(c)}")
            self.say(
                f"nntui: {event.parameters:,} parameters on {event.device_label}, {split}, "
                f"{event.engine} engine" + (f", from epoch {event.start_epoch}" if event.start_epoch else "")
            )
            for note in event.data_notes:
                self.say(f"nntui: data: {note}")
            if event.baseline is not None:
                b = event.baseline
                test = f", test {b.test_loss:.6g}" if b.test_loss is not None else ""
                self.say(
                    f"nntui: least squares (normal equation, degree {b.degree}): {b.loss} loss {b.train_loss:.6g}{test}"
                    " — the closed form's reference"
                )
        elif isinstance(event, EpochsEnded):
            self._progress(event)
        elif isinstance(event, Warned):
            self.say(f"nntui: warning: {event.message}")
        elif isinstance(event, LearningRateChanged):
            self.say(f"nntui: epoch {event.epoch}: learning rate {event.old:g} → {event.new:g}")
        elif isinstance(event, RunFinished):
            extra = "".join(f"  {k} {v:.4f}" for k, v in event.metrics.items() if math.isfinite(v))
            at = f"{event.diverged_at}, kept epoch {event.epoch}" if event.diverged_at is not None else event.epoch
            self.say(
                f"nntui: {event.reason} at epoch {at}: loss {_fmt_loss(event.final_loss)}, "
                f"best {_fmt_loss(event.best_loss)}, {event.steps_per_s:,.0f} steps/s{extra}"
            )
            if event.message:
                self.say(f"nntui: {event.message}")
        elif isinstance(event, RunFailed):
            self.say(f"nntui: error: {event.error}")

    def _progress(self, e: EpochsEnded) -> None:
        every = self.log_every or 1
        hits = [i for i, ep in enumerate(e.epochs) if ep % every == 0 or ep == e.total_epochs]
        width = len(str(e.total_epochs))
        # the test loss is measured only on some epochs (NaN between): each line shows the
        # latest one measured at or before its own epoch, never a later one from the chunk
        measured = [i for i, v in enumerate(e.test_loss) if math.isfinite(v)]
        m = 0
        for i in hits:
            while m < len(measured) and measured[m] <= i:
                self.last_test = float(e.test_loss[measured[m]])
                m += 1
            epoch = int(e.epochs[i])
            eta = (e.total_epochs - epoch) / e.steps_per_s if e.steps_per_s > 0 else math.nan
            test = f"  test {_fmt_loss(self.last_test)}" if math.isfinite(self.last_test) else ""
            self.say(
                f"epoch {epoch:>{width}}/{e.total_epochs}  loss {_fmt_loss(float(e.train_loss[i]))}{test}"
                f"  {e.steps_per_s:,.0f} steps/s  ETA {_fmt_duration(eta)}"
            )
        if measured:
            self.last_test = float(e.test_loss[measured[-1]])


def _nice(n: int) -> int:
    """Round a print interval to 1, 2 or 5 × 10^k (5000 epochs → every 250 → 200)."""
    if n <= 1:
        return 1
    mag = 10 ** (len(str(n)) - 1)
    for step in (5, 2, 1):
        if n >= step * mag:
            return step * mag
    return mag


class _SignalStop:
    """SIGINT/SIGTERM/SIGHUP → stop the trainer at the next step (it then saves and returns).

    A signal already ignored when we start (SIGHUP under nohup, SIGINT for a job a
    non-interactive shell put in the background) stays ignored: someone asked for that."""

    def __init__(self, control: Control) -> None:
        self.control = control
        self.received: str | None = None
        self._old: dict[int, object] = {}

    def __enter__(self) -> _SignalStop:
        if threading.current_thread() is not threading.main_thread():
            return self
        for name in SIGNAL_EXIT:
            sig = getattr(signal, name, None)
            if sig is None or signal.getsignal(sig) == signal.SIG_IGN:
                continue
            self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: object) -> None:
        name = signal.Signals(signum).name
        if self.received is not None and name == "SIGINT":
            raise KeyboardInterrupt  # a second Ctrl-C: the user really wants out
        self.received = self.received or name
        self.control.stop(f"interrupted by {name}")

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._old.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]


def run_headless(
    config: TrainConfig,
    *,
    out: str | Path | None = None,
    json_line: bool = False,
    log_every: int | None = None,
    resume: str | Path | None = None,
    checkpoint_every: float = 30.0,
    stderr: TextIO | None = None,
    stdout: TextIO | None = None,
) -> int:
    """Train `config` and return the process exit code.

    With `resume`, continue the run saved there; `config` should then come from
    `runs.resume_config` (the saved settings with the allowed overrides).
    """
    from nntui.engine.runs import (
        RESUME_CHANGEABLE,
        RunDirSink,
        RunRecord,
        dumps_json,
        edited_config_fields,
        load_checkpoint,
    )
    from nntui.engine.trainer import Trainer

    err = stderr or sys.stderr
    std = stdout or sys.stdout
    console = ConsoleSink(err, log_every)
    checkpoint = None
    try:
        if resume is not None:
            saved, checkpoint = load_checkpoint(resume)
            out = out or resume
            edited = edited_config_fields(resume, saved)
            if edited:
                console.say(
                    f"nntui: warning: {Path(resume) / 'config.toml'} was edited ({', '.join(edited)}); resuming "
                    f"with the checkpoint's own settings and writing them back there ({', '.join(RESUME_CHANGEABLE)} "
                    "change with flags; anything else needs a new run)"
                )
            if checkpoint.epoch >= config.epochs:
                console.say(
                    f"nntui: error: {resume} already has {checkpoint.epoch} of {config.epochs} epochs; "
                    "give more with --epochs to go on"
                )
                return EXIT_BAD_INPUT
    except NntuiError as exc:
        console.say(f"nntui: error: {exc}")
        return EXIT_BAD_INPUT
    if out is not None and os.path.isfile(out):  # (isfile: an unreadable path is no error here)
        console.say(f"nntui: error: out: {out} is a file, not a directory; give a new or existing folder")
        return EXIT_BAD_INPUT

    sink = RunDirSink(out, on_error=lambda m: console.say(f"nntui: warning: {m}"), resume=resume is not None) \
        if out else None
    trainer = Trainer(
        config,
        resume=checkpoint,
        on_diverge="stop",
        chunk_seconds=CHUNK_SECONDS,
        checkpoint_every_s=checkpoint_every,
        on_checkpoint=sink.save_checkpoint if sink else None,
    )
    try:
        trainer.prepare()
    except NntuiError as exc:
        console.say(f"nntui: error: {exc}")
        return EXIT_BAD_INPUT

    record = sink.record if sink is not None else RunRecord()

    def emit(event: Event) -> None:
        console(event)
        if sink is not None:
            sink(event)
        else:
            record(event)

    control = Control()
    with _SignalStop(control) as signals:
        try:
            result = trainer.run(emit, control)
        finally:
            if sink is not None:
                sink.close()

    if isinstance(result, RunFailed):
        code = EXIT_FAILED
        status = "failed"
    elif signals.received:
        code = SIGNAL_EXIT[signals.received]
        status = "interrupted"
        if sink is not None:
            sink.finish("interrupted")  # a read-only or full disk only warns (once), as during the run
            where = f"{out} could not be fully written (see the warning)" if sink.failed else f"saved in {out}"
            console.say(f"nntui: {signals.received}: stopped at epoch {result.epoch}; {where}")
    elif result.reason == "diverged":
        code, status = EXIT_DIVERGED, "diverged"
    else:
        code, status = EXIT_OK, result.reason

    if json_line:
        print(dumps_json(record.summary(status)), file=std, flush=True)
    return code
