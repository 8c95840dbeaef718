"""Watch it learn: the pace animates a short run, replay scrubs its film, the stepper takes a
step apart. Through the real dashboard (the process host, as users get it)."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
from dashboard_helpers import SIZE, lecture, press, wait_for

from nntui.engine.checkpoint import checkpoint_info
from nntui.engine.film import FILM, Film
from nntui.engine.presets import preset
from nntui.engine.session import plan_resume
from nntui.ui.factory import create_app
from nntui.ui.screens.backprop import BackpropScreen


def count_drawn_fits(plot: Any) -> list[int]:
    """The epoch of the fit each time `plot` actually builds a frame."""
    drawn: list[int] = []
    build = plot._build

    def counted(*args: Any, **kwargs: Any) -> Any:
        if plot.fit is not None:
            drawn.append(plot.fit.epoch)
        return build(*args, **kwargs)

    plot._build = counted
    return drawn


async def test_auto_pace_animates_the_lecture_run_in_at_least_40_distinct_frames() -> None:
    app = create_app(preset("lecture"))
    async with app.run_test(size=SIZE):
        drawn = count_drawn_fits(app.fit_plot)
        await press(app, "space")
        await wait_for(lambda: app.status.state == "done", "the lecture run to finish", timeout=90)
        await asyncio.sleep(0.5)  # the last frame drawn
        assert len(set(drawn)) >= 40, f"only {len(set(drawn))} distinct fit frames were drawn"
        assert sorted(drawn) == drawn, "frames in epoch order"
        assert len(app.replay.film) >= 40


async def test_f_switches_to_max_at_once_and_marks_the_loss_plot() -> None:
    app = create_app(lecture(epochs=20_000), pace=50.0)
    async with app.run_test(size=SIZE):
        await press(app, "space")
        await wait_for(lambda: app.status.pace_cap == 50.0 and app.status.epoch >= 20, "paced at 50 epochs/s")
        assert "pace 50/s" in app.status_line.text  # type: ignore[attr-defined]
        await press(app, "f")
        await wait_for(lambda: app.status.pace_cap is None and app.status.pace == "max", "max pace")
        await wait_for(lambda: any(m.label == "pace max" for m in app.loss_plot.markers), "the pace marker")
        await wait_for(lambda: app.status.state == "done", "the rest of the run at full speed")


async def test_minus_and_plus_step_through_the_levels() -> None:
    app = create_app(lecture(), pace=1000.0)
    async with app.run_test(size=SIZE):
        await press(app, "space")
        await wait_for(lambda: app.status.pace_cap == 1000.0, "paced at 1000/s")
        await press(app, "minus")
        await wait_for(lambda: app.status.pace_cap == 200.0, "200/s")
        assert app.panel.query_one("#pace").value == "200"  # type: ignore[attr-defined]
        await press(app, "plus")
        await wait_for(lambda: app.status.pace_cap == 1000.0, "1000/s again")


async def test_replay_scrubs_the_film_and_any_run_key_leaves_it() -> None:
    app = create_app(lecture(epochs=2000), pace=400.0)
    async with app.run_test(size=SIZE):
        await press(app, "space")
        await wait_for(lambda: app.status.state == "running" and len(app.replay.film) > 5, "some frames")
        await press(app, "left")  # while training: pauses first
        await wait_for(lambda: app.status.state == "paused" and app.replay.active, "paused in replay")
        await press(app, "home")
        await wait_for(lambda: app.replay.cursor == 0, "the first frame")
        film = app.replay.film
        first = film.frames[0]
        assert app.fit_plot.fit is first and app.loss_plot.cursor == first.epoch
        assert f"epoch {first.epoch:,}" in app.status.replay and "frame 1/" in app.status.replay
        await press(app, "right", "right")
        await wait_for(lambda: app.replay.cursor == 2, "two frames on")
        assert app.fit_plot.fit is film.frames[2] and app.loss_plot.cursor == film.frames[2].epoch
        await press(app, "end")
        await wait_for(lambda: app.replay.cursor == len(film) - 1, "the newest frame")
        await press(app, "space")
        await wait_for(lambda: not app.replay.active and app.status.state == "running", "live and training again")
        assert app.loss_plot.cursor is None and app.status.replay == ""


async def test_the_film_is_saved_with_out_and_comes_back_on_resume(tmp_path) -> None:
    run = tmp_path / "run"
    app = create_app(lecture(epochs=1500), out=run, pace=500.0)
    async with app.run_test(size=SIZE):
        await press(app, "space")
        await wait_for(lambda: app.status.state == "done", "the run to finish", timeout=60)
        shown = app.replay.film.epochs
    await wait_for(lambda: (run / FILM).exists(), "film.npz")
    saved = Film.load(run)
    assert saved.epochs[-1] == 1500 and len(saved) >= 10
    assert set(saved.epochs) <= set(shown) | {1500}
    resumed = create_app(lecture(), resume=plan_resume(run, {"epochs": 3000}))
    async with resumed.run_test(size=SIZE):
        await wait_for(lambda: resumed.status.state == "paused", "paused at the checkpoint")
        assert resumed.replay.film.epochs == saved.epochs
        await press(resumed, "left")
        await wait_for(lambda: resumed.replay.active, "replay of the saved film")
        assert resumed.fit_plot.fit is not None and resumed.fit_plot.fit.epoch == 1500


async def test_a_damaged_film_warns_and_the_run_resumes_without_replay(tmp_path) -> None:
    run = tmp_path / "run"
    from nntui import cli

    assert cli.main(["--headless", "--out", str(run), "--epochs", "300"]) == 0
    (run / FILM).write_bytes(b"garbage" * 10)
    app = create_app(lecture(), resume=plan_resume(run, {"epochs": 600}))
    said: list[str] = []
    notify = app.notify

    def record(message: str, **kwargs: Any) -> None:
        said.append(message)
        notify(message, **kwargs)

    app.notify = record  # type: ignore[method-assign]
    async with app.run_test(size=SIZE):
        await wait_for(lambda: app.status.state == "paused", "paused at the checkpoint")
        await wait_for(lambda: any("film.npz" in m and "without" in m for m in said), "the warning")
        assert all(e >= 300 for e in app.replay.film.epochs), "no frame from the damaged film"
        await press(app, "space")
        await wait_for(lambda: app.status.state == "done", "the resumed run to finish", timeout=60)
    assert checkpoint_info(run).epoch == 600
    assert Film.load(run).epochs[-1] == 600, "a fresh film replaced the damaged one"


async def test_health_follows_the_cursor() -> None:
    app = create_app(lecture(epochs=600, health=True), pace=300.0)
    async with app.run_test(size=SIZE):
        await press(app, "space")
        await wait_for(lambda: app.status.state == "done", "the run", timeout=60)
        await press(app, "home")
        await wait_for(lambda: app.replay.active, "replay")
        epoch = app.replay.frame.epoch  # type: ignore[union-attr]
        rows = app.replay.health_at(epoch)
        if rows:
            await wait_for(lambda: app.health.rows_shown == tuple(h.layer for h in rows), "that epoch's health")
        else:
            await wait_for(lambda: "not recorded" in str(app.health.get_row_at(0)[0]), "says it was not recorded")
        await press(app, "end")
        last = app.replay.frame.epoch  # type: ignore[union-attr]
        assert app.replay.health_at(last), "the last frame has its health"


async def test_b_opens_the_stepper_on_the_paused_network_and_steps_node_by_node() -> None:
    app = create_app(lecture(epochs=1_000_000))
    async with app.run_test(size=SIZE):
        await press(app, "space")
        await wait_for(lambda: app.status.epoch > 100, "training")
        await press(app, "b")
        await wait_for(lambda: isinstance(app.screen, BackpropScreen), "the stepper")
        assert app.status.state == "paused"
        screen = app.screen
        assert isinstance(screen, BackpropScreen) and screen.network is not None
        assert screen.network.epoch == app.status.epoch or screen.network.epoch > 100
        weights = screen.network.weights
        assert [w.shape for w, _ in weights] == [(10, 1), (6, 10), (1, 6)]
        before = screen.revealed
        await press(app, "right")
        await wait_for(lambda: screen.revealed == before + 1, "one more node")
        await press(app, "escape")
        await wait_for(lambda: not isinstance(app.screen, BackpropScreen), "the stepper closed")


def test_film_frames_are_the_fits_the_run_sent() -> None:
    """The replay keeps the trainer's own snapshots (not copies of something else)."""
    from nntui.engine.events import FitUpdated
    from nntui.ui.replay import Replay

    replay = Replay()
    x = np.linspace(0, 1, 5)
    fits = [(FitUpdated(epoch=e, kind="curve", x=x, y=x * e, loss=1.0 / e), ()) for e in range(1, 30)]
    replay.record(fits)
    assert replay.enter() is fits[-1][0]
    assert replay.move(-3) is fits[-4][0]
    assert replay.home() is fits[0][0]
    assert replay.leave() is fits[-1][0] and not replay.active


def test_the_cursor_on_the_newest_frame_follows_frames_that_land_later() -> None:
    """The chunk in flight when ← paused the run lands after the key: End still means the newest
    frame; a cursor elsewhere stays on its own frame."""
    from nntui.engine.events import FitUpdated
    from nntui.ui.replay import Replay

    x = np.linspace(0, 1, 5)

    def fit(e: int) -> tuple[FitUpdated, tuple[()]]:
        return FitUpdated(epoch=e, kind="curve", x=x, y=x * e, loss=1.0 / e), ()

    replay = Replay()
    replay.record([fit(e) for e in range(1, 10)])
    replay.end()
    late = fit(10)
    assert replay.record([late]) and replay.frame is late[0] and replay.cursor == 9
    replay.move(-2)
    on = replay.frame
    assert not replay.record([fit(11)]) and replay.frame is on
    assert not Replay().record([fit(1)])  # live: no cursor to move
