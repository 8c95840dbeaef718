"""Pace: parsing, auto, levels, and a paced trainer (frames every chunk, changes at once)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from nntui.engine.control import Control
from nntui.engine.errors import ConfigError
from nntui.engine.events import EpochsEnded, FitUpdated, PaceChanged
from nntui.engine.pace import AUTO_SECONDS, FRAMES_PER_S, LEVELS, describe, faster, parse_pace, resolve, slower
from nntui.engine.presets import preset
from nntui.engine.trainer import Trainer


def test_parse_pace() -> None:
    assert parse_pace("auto") == "auto" and parse_pace(" MAX ") is None and parse_pace("200/s") == 200.0
    for bad in ("0", "-3", "abc", "nan", "inf", ""):
        with pytest.raises(ConfigError, match="pace"):
            parse_pace(bad)


def test_auto_spreads_a_short_run_and_never_binds_a_long_one() -> None:
    assert resolve("auto", 5000) == pytest.approx(5000 / AUTO_SECONDS)
    assert resolve(None, 5000) is None and resolve(300.0, 5000) == 300.0
    # a million epochs: the cap is far above any small model's speed here, so it never binds
    assert resolve("auto", 1_000_000) > 50_000  # type: ignore[operator]


def test_levels_step_down_and_up_and_past_the_top_is_max() -> None:
    assert slower("auto", None) == LEVELS[0]
    assert slower("auto", 500.0) == 200.0 and slower(200.0, 200.0) == 50.0 and slower(10.0, 10.0) == 10.0
    assert faster(200.0, 200.0) == 1000.0 and faster(5000.0, 5000.0) is None and faster(None, None) is None
    assert describe(None) == "max" and describe("auto", 416.7) == "auto 417/s" and describe(50.0) == "50/s"


def test_a_paced_run_sends_a_frame_every_chunk_and_a_pace_change_acts_at_once() -> None:
    control = Control()
    events: list[object] = []

    def listen(event: object) -> None:
        events.append(event)
        if isinstance(event, EpochsEnded) and event.last_epoch >= 60 and not any(
            isinstance(e, PaceChanged) and e.pace is None for e in events
        ):
            control.set_pace(None)  # f: max, mid-run

    Trainer(preset("lecture"), pace=300.0).run(listen, control)
    changes = [e for e in events if isinstance(e, PaceChanged)]
    assert changes[0].epoch == 0 and changes[0].cap == 300.0
    assert changes[1].pace is None and changes[1].cap is None
    switch = changes[1].epoch
    paced = [e for e in events if isinstance(e, EpochsEnded) and e.last_epoch <= switch]
    assert all(len(e.epochs) <= round(300.0 / FRAMES_PER_S) for e in paced), "frame-sized chunks while paced"
    frames = {e.epoch for e in events if isinstance(e, FitUpdated) and e.epoch <= switch}
    assert frames >= {e.last_epoch for e in paced}, "a fit snapshot with every paced chunk"
    after = [e for e in events if isinstance(e, EpochsEnded) and e.last_epoch > switch]
    assert max(len(e.epochs) for e in after) > 30, "full-speed chunks after the change"
    assert switch < 200, "the change took effect at once (not after a long sleep)"


def test_auto_on_a_long_run_reports_as_often_as_an_unpaced_one() -> None:
    """auto's cap on a long run is above its speed; a frame's worth of it (10⁷ epochs ÷ 12 s
    ÷ 10 frames) must not become one chunk of minutes between two reports (it did: the
    dashboard sat at epoch 0)."""
    control = Control()
    chunks: list[int] = []

    def listen(event: object) -> None:
        if isinstance(event, EpochsEnded):
            chunks.append(len(event.epochs))
            if len(chunks) == 6:
                control.stop()

    trainer = Trainer(replace(preset("lecture"), epochs=10_000_000), pace="auto")
    trainer.run(listen, control)
    assert trainer.cap is not None and trainer.cap / FRAMES_PER_S > 50_000, "a frame at the cap: far over these"
    assert len(chunks) == 6 and chunks[:4] == [1, 5, 21, 85], "chunks grow from one epoch as unpaced ones do"


def test_headless_sessions_are_never_paced(tmp_path) -> None:
    from nntui.engine.session import Session

    events: list[object] = []
    Session(preset("lecture"), listeners=[events.append]).run(Control())
    assert not any(isinstance(e, PaceChanged) for e in events)
