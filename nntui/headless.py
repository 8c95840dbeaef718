"""Headless mode: the engine driven without a terminal UI, for scripts, CI and GPU servers.

Progress lines go to stderr; with --json one final JSON line goes to stdout. Signals stop
the run cleanly: metrics are flushed and a checkpoint is written before exiting.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from nntui.engine.config import TrainConfig
from nntui.engine.console import ConsoleSink
from nntui.engine.control import Control
from nntui.engine.errors import NntuiError
from nntui.engine.events import RunFailed
from nntui.engine.session import DEFAULT_CHECKPOINT_S, DivergencePolicy, Session
from nntui.engine.signals import EXIT_BAD_INPUT, EXIT_DIVERGED, EXIT_FAILED, EXIT_OK, SIGNAL_EXIT, SignalStop

CHUNK_SECONDS = 0.25
"""Losses are read back (one host sync, an eval pass) about this often: nobody watches a curve
here, and each read-back costs about 1 ms of a lecture-sized run (0.1 s chunks: 2% of it)."""


def run_headless(
    config: TrainConfig,
    *,
    out: str | Path | None = None,
    json_line: bool = False,
    log_every: int | None = None,
    resume: str | Path | None = None,
    checkpoint_every: float = DEFAULT_CHECKPOINT_S,
    on_diverge: DivergencePolicy = "stop",
    stderr: TextIO | None = None,
    stdout: TextIO | None = None,
) -> int:
    """Train `config` and return the process exit code.

    With `resume`, continue the run saved there; `config` should then come from
    `session.plan_resume` (the saved settings with the allowed overrides).
    """
    from nntui.engine.record import dumps_json

    err = stderr or sys.stderr
    std = stdout or sys.stdout
    console = ConsoleSink(err, log_every)
    control = Control()
    session = Session(
        config, out=out, resume=resume, checkpoint_every=checkpoint_every, on_diverge=on_diverge,
        chunk_seconds=CHUNK_SECONDS, listeners=[console],
    )
    try:
        session.prepare()
    except NntuiError as exc:
        console.say(f"nntui: error: {exc}")
        return EXIT_BAD_INPUT
    if session.checkpoint is not None and session.checkpoint.epoch >= config.epochs:
        console.say(
            f"nntui: error: {resume} already has {session.checkpoint.epoch} of {config.epochs} epochs; "
            "give more with --epochs to go on"
        )
        return EXIT_BAD_INPUT

    with SignalStop(lambda name: control.stop(f"interrupted by {name}")) as signals:
        result = session.run(control)

    if isinstance(result, RunFailed):
        code, status = EXIT_FAILED, "failed"
    elif signals.received:
        code, status = SIGNAL_EXIT[signals.received], "interrupted"
        if session.out is not None:
            session.finish("interrupted")  # a read-only or full disk only warns (once), as during the run
            where = (
                f"{session.out} could not be fully written (see the warning)"
                if session.write_failed else f"saved in {session.out}"
            )
            console.say(f"nntui: {signals.received}: stopped at epoch {result.epoch}; {where}")
    elif result.reason == "diverged":
        code, status = EXIT_DIVERGED, "diverged"
    else:
        code, status = EXIT_OK, result.reason

    if json_line:
        print(dumps_json(session.record.summary(status)), file=std, flush=True)
    return code
