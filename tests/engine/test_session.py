"""Session without a run directory: checkpoints to a callback, resume from one in memory (the
Ray trial's path: its run directory is written by the driver)."""

from __future__ import annotations

from dataclasses import replace

from nntui.engine.checkpoint import Checkpoint
from nntui.engine.control import Control
from nntui.engine.events import RunFinished, RunStarted
from nntui.engine.presets import preset
from nntui.engine.session import Session


def test_checkpoints_reach_on_checkpoint_and_a_run_resumes_from_one_in_memory() -> None:
    saved: list[Checkpoint] = []
    first = Session(replace(preset("lecture"), epochs=300), on_checkpoint=saved.append)
    result = first.run(Control())
    assert isinstance(result, RunFinished) and saved, "the end-of-run checkpoint at least"
    assert saved[-1].epoch == 300

    events: list[object] = []
    second = Session(replace(preset("lecture"), epochs=500), resume_checkpoint=saved[-1], listeners=[events.append])
    result = second.run(Control())
    started = next(e for e in events if isinstance(e, RunStarted))
    assert started.start_epoch == 300 and isinstance(result, RunFinished) and result.epoch == 500
