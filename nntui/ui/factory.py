"""The one way to build the dashboard (the CLI and the tests both use it), and to run it."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from nntui.engine.config import TrainConfig
from nntui.engine.errors import NntuiError
from nntui.engine.pace import Pace
from nntui.engine.session import DEFAULT_CHECKPOINT_S, DivergencePolicy, ResumePlan, plan_resume
from nntui.engine.signals import EXIT_BAD_INPUT
from nntui.ui.app import NntuiApp
from nntui.ui.lifecycle import HangupPolicy


def create_app(
    config: TrainConfig,
    *,
    out: str | Path | None = None,
    ui_hz: float | None = None,
    resume: ResumePlan | str | Path | None = None,
    host: str | None = None,
    checkpoint_every: float = DEFAULT_CHECKPOINT_S,
    on_diverge: DivergencePolicy = "pause",
    pace: Pace = "auto",
    compare: Sequence[str | Path] = (),
    on_hangup: HangupPolicy = "save",
) -> NntuiApp:
    """The dashboard for `config`.

    `resume`: a run directory (its own config is used as saved) or a `ResumePlan` from
    `session.plan_resume` (the saved config with the flags' allowed overrides). The first run
    starts paused at the checkpoint and writes to that directory again unless `out` says
    otherwise. Raises NntuiError for a directory that cannot be resumed, before any UI.
    `host`: see `host.HOSTS`.
    """
    if resume is not None:
        plan = resume if isinstance(resume, ResumePlan) else plan_resume(resume)
        config, resume = plan.config, plan
        out = out or plan.rundir
    # the devices come from the host: the process host's child lists them, so this process
    # need not import torch (2 s here) before the first frame
    return NntuiApp(
        config, out=out, ui_hz=ui_hz, resume=resume, host=host, checkpoint_every=checkpoint_every,
        on_diverge=on_diverge, pace=pace, compare=tuple(Path(p) for p in compare), on_hangup=on_hangup,
    )


def run_app(
    config: TrainConfig,
    *,
    out: str | Path | None = None,
    ui_hz: float | None = None,
    resume: ResumePlan | str | Path | None = None,
    checkpoint_every: float = DEFAULT_CHECKPOINT_S,
    on_diverge: DivergencePolicy = "pause",
    host: str | None = None,
    pace: Pace = "auto",
    compare: Sequence[str | Path] = (),
    on_hangup: HangupPolicy = "save",
) -> int:
    """Run the dashboard in this terminal; returns the process exit code."""
    try:
        app = create_app(
            config, out=out, ui_hz=ui_hz, resume=resume, checkpoint_every=checkpoint_every, on_diverge=on_diverge,
            host=host, pace=pace, compare=compare, on_hangup=on_hangup,
        )
    except NntuiError as exc:
        print(f"nntui: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        result = app.run()
    except OSError:
        if app.ended_by != "SIGHUP":
            raise
        result = None  # the terminal hung up: restoring it can only fail, the run is saved
    if not app.host.join(timeout=2.0):
        _say("nntui: waiting for the trainer to finish its current step…")
    if app.ended_by:
        where = f"; saved in {app.host.run_dirs.out}" if app.host.run_dirs.out else ""
        _say(f"nntui: {app.ended_by}: stopped at epoch {app.status.epoch}{where}")
    if app.return_code not in (None, 0):
        return int(app.return_code)
    return int(result or 0)


def _say(text: str) -> None:
    """A line on stderr, unless the terminal is gone (SIGHUP)."""
    try:
        print(text, file=sys.stderr, flush=True)
    except OSError:
        pass
