"""The real dashboard with the real trainer, driven by keys under `App.run_test()`."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from dashboard_helpers import SIZE, both_hosts, has_braille, lecture, press, screen_text, settle, wait_for
from textual.widgets import Input, Select

from nntui.engine.trainer import ReadBack, Trainer
from nntui.ui.factory import create_app
from nntui.ui.screens.confirm_reset import ConfirmReset
from nntui.ui.screens.help import HelpScreen
from nntui.ui.widgets.too_small import TooSmall


@both_hosts
async def test_lecture_trains_loss_plot_fills_and_shown_loss_falls() -> None:
    app = create_app(lecture())
    async with app.run_test(size=SIZE):
        assert app.host.generation == 0, "nothing trains before the user asks"
        await press(app, "space")
        await wait_for(lambda: app.loss_plot.point_count > 0 and app.status.loss == app.status.loss, "first points")
        first = app.status.loss
        await wait_for(lambda: app.status.loss < first * 0.5, f"the shown loss to fall below half of {first:.4g}")
        await wait_for(lambda: has_braille(app.loss_plot.rendered_text()), "the loss curve drawn")
        await wait_for(lambda: app.fit_plot.fit is not None and "fit at epoch" in app.fit_plot.rendered_text(),
                       "the fit plot drawn")
        text = screen_text(app)
        assert "RUNNING" in text and "steps/s" in text
        assert app.loss_plot.error is None and app.fit_plot.error is None
        await press(app, "q")
        await wait_for(lambda: not app.is_running, "the app to exit")


@both_hosts
async def test_pause_resume_and_one_epoch_step() -> None:
    app = create_app(lecture())
    async with app.run_test(size=SIZE):
        await press(app, "space")
        await wait_for(lambda: app.status.epoch > 50, "training to get going")
        await press(app, "space")
        await wait_for(lambda: app.status.state == "paused", "the pause")
        paused_at = await settle(app)
        assert app.host.paused
        await press(app, "n")
        await wait_for(lambda: app.status.epoch == paused_at + 1, f"one epoch after {paused_at}")
        assert await settle(app) == paused_at + 1, "a step is exactly one epoch"
        await press(app, "full_stop")
        await wait_for(lambda: app.status.epoch == paused_at + 2, "'.' steps one epoch too")
        await press(app, "space")
        await wait_for(lambda: app.status.epoch > paused_at + 100, "training to resume")
        assert app.status.state == "running"


@both_hosts
async def test_reset_restarts_from_epoch_zero_with_the_same_initial_weights() -> None:
    app = create_app(lecture())
    async with app.run_test(size=SIZE):
        await press(app, "n")  # idle: starts a paused run and steps one epoch
        await wait_for(lambda: app.status.epoch == 1 and app.loss_plot.point_count == 1, "epoch 1")
        first_loss = app.status.loss
        await press(app, "space")
        await wait_for(lambda: app.status.epoch > 100, "more training")
        await press(app, "r")
        await wait_for(lambda: app.host.generation == 2 and app.status.state == "paused", "a reset, paused run")
        assert app.status.epoch == 0 and app.loss_plot.point_count == 0
        await press(app, "n")
        await wait_for(lambda: app.status.epoch == 1 and app.loss_plot.point_count == 1, "epoch 1 again")
        assert app.status.loss == first_loss, "same seed, same initial weights, same first loss"


@both_hosts
async def test_new_learning_rate_applies_mid_run_and_is_marked_on_the_loss_plot() -> None:
    app = create_app(lecture())
    async with app.run_test(size=SIZE):
        await press(app, "space")
        await wait_for(lambda: app.status.epoch > 200, "training")
        lr_input = app.panel.query_one("#lr", Input)
        lr_input.focus()
        lr_input.value = "0.0005"
        await press(app, "enter")
        await wait_for(lambda: app.loss_plot.markers, "a learning-rate marker")
        marker = app.loss_plot.markers[0]
        assert marker.label == "lr 0.0005" and marker.epoch > 200
        await wait_for(lambda: app.status.lr == 0.0005, "the new lr in the status line")
        await wait_for(lambda: "lr 0.0005" in app.loss_plot.rendered_text(), "the marker's label drawn")
        assert not isinstance(app.screen, ConfirmReset), "a learning rate is live: no reset question"
        assert app.host.generation == 1 and app.status.state == "running"


async def test_invalid_layer_size_is_marked_and_start_refused() -> None:
    app = create_app(lecture())
    async with app.run_test(size=SIZE) as pilot:
        hidden = app.panel.query_one("#hidden", Input)
        hidden.focus()
        hidden.value = "10,x"
        await pilot.pause()
        assert hidden.has_class("-invalid")
        error = app.panel.query_one("#err-hidden")
        assert error.display and "hidden" in str(error.render()) and "whole numbers" in str(error.render())
        await press(app, "escape")
        await wait_for(lambda: app.focused is None, "esc to leave the field")
        await press(app, "space")
        await pilot.pause()
        assert app.host.generation == 0, "no run may start with an invalid field"
        assert "fix hidden" in app.status.note
        # a cross-field rule, by the engine: two activations for one layer
        hidden.value = "10"
        await pilot.pause()
        activation = app.panel.query_one("#activation", Input)
        assert not hidden.has_class("-invalid") and activation.has_class("-invalid")
        activation.value = "relu"
        await pilot.pause()
        assert not activation.has_class("-invalid")
        app.screen.set_focus(None)
        await press(app, "space")
        await wait_for(lambda: app.host.generation == 1 and app.status.epoch > 0, "a run once it is fixed")


BAD_FIELDS = [
    ("hidden", "0", "1 to"),
    ("hidden", "10,,6", "hidden"),
    ("hidden", "1e9", "hidden"),
    ("activation", "swish", "relu"),
    ("lr", "abc", "number"),
    ("lr", "nan", "finite"),
    ("lr", "-0.1", "above 0"),
    ("epochs", "2.5", "whole number"),
    ("epochs", "0", "1 to"),
    ("batch_size", "-1", "positive"),
    ("seed", "-1", "0 to"),
    ("test_fraction", "1", "below 1"),
    ("degree", "99", "12"),
]


@pytest.mark.parametrize(("field", "text", "reason"), BAD_FIELDS, ids=[f"{f}={t}" for f, t, _ in BAD_FIELDS])
async def test_a_bad_value_is_marked_with_the_reason_and_nothing_starts(field: str, text: str, reason: str) -> None:
    """The dashboard's half of the bad-input table: the field says why, Start says what to
    fix, and the app stays up and trains once the value is fixed."""
    app = create_app(lecture())
    async with app.run_test(size=SIZE) as pilot:
        box = app.panel.query_one(f"#{field}", Input)
        good = box.value
        box.value = text
        await pilot.pause()
        assert box.has_class("-invalid")
        shown = str(app.panel.query_one(f"#err-{field}").render())
        assert reason in shown, shown
        await press(app, "space")
        await wait_for(lambda: f"fix {field}" in app.status.note, "Start refused, naming the field")
        assert app.host.generation == 0 and app.is_running
        box.value = good
        await pilot.pause()
        assert not box.has_class("-invalid")
        app.screen.set_focus(None)  # the refusal put the cursor in the field to fix
        await press(app, "space")
        await wait_for(lambda: app.host.generation == 1 and app.status.epoch > 0, "a run once it is fixed")


async def test_typing_in_a_field_is_not_taken_by_the_keys() -> None:
    app = create_app(lecture())
    async with app.run_test(size=SIZE) as pilot:
        seed = app.panel.query_one("#seed", Input)
        seed.focus()
        seed.value = ""
        await pilot.press("1", "2", "space", "r", "q")
        assert seed.value == "12 rq"
        assert app.host.generation == 0 and app.is_running
        seed.value = "12"
        await pilot.press("escape", "space")
        await wait_for(lambda: app.host.generation == 1, "space starts once the field is left")


async def test_architecture_change_mid_run_asks_to_reset() -> None:
    app = create_app(lecture())
    async with app.run_test(size=SIZE):
        await press(app, "space")
        await wait_for(lambda: app.status.epoch > 50, "training")
        hidden = app.panel.query_one("#hidden", Input)
        hidden.focus()
        hidden.value = "16,16"
        await press(app, "enter")
        await wait_for(lambda: isinstance(app.screen, ConfirmReset), "the reset question")
        await press(app, "k")
        await wait_for(lambda: "reset" in app.status.note, "the question answered: Keep")
        assert not isinstance(app.screen, ConfirmReset)
        assert app.host.generation == 1 and app.status.state == "running", "Keep: the run goes on"
        await press(app, "r")
        await wait_for(lambda: app.host.generation == 2 and app.status.state == "paused", "reset to the new config")
        assert app.run_config is not None and app.run_config.hidden == (16, 16)


async def test_choosing_a_preset_fills_the_fields() -> None:
    app = create_app(lecture())
    async with app.run_test(size=SIZE) as pilot:
        app.panel.query_one("#preset", Select).value = "sine"
        await pilot.pause()
        values = {f: app.panel.query_one(f"#{f}", Input).value for f in ("hidden", "activation", "lr", "epochs")}
        assert values == {"hidden": "32,32", "activation": "tanh", "lr": "0.01", "epochs": "2000"}
        assert app.panel.query_one("#optimizer", Select).value == "adam"
        assert app.panel.query_one("#loss", Select).value == "mse"
        assert app.panel.build_config().dataset == "sine"


@both_hosts
async def test_quit_during_training_exits_within_a_second() -> None:
    app = create_app(lecture())
    async with app.run_test(size=SIZE):
        await press(app, "space")
        await wait_for(lambda: app.status.epoch > 100, "training")
        assert app.host.alive
        started = time.monotonic()
        await press(app, "q")
        await wait_for(lambda: not app.is_running, "the app to exit", timeout=5)
        took = time.monotonic() - started
        assert took < 1.5, f"quit took {took:.2f}s"
        assert app.host.join(timeout=1.0) and not app.host.alive, "the trainer thread returned"


@pytest.mark.parametrize("train_first", [False, True], ids=["idle", "after-a-stopped-run"])
async def test_quit_with_nothing_running_exits_0(train_first: bool) -> None:
    app = create_app(lecture())
    async with app.run_test(size=SIZE):
        if train_first:
            await press(app, "space")
            await wait_for(lambda: app.status.epoch > 10, "training")
            await press(app, "s")
            await wait_for(lambda: app.status.state == "stopped" and not app.host.alive, "stopped")
            await asyncio.sleep(0.5)  # the mailbox drained: nothing left for quit to read
        await press(app, "q")
        await wait_for(lambda: not app.is_running, "the app to exit", timeout=5)
    assert app.return_code == 0


class _FailingTrainer(Trainer):
    """A real Trainer with a fault injected after a few chunks: the worker raises mid-run."""

    def _read_back(self, *args: Any, **kwargs: Any) -> ReadBack:
        if self.epoch > 20:
            raise RuntimeError("injected fault in the training loop")
        return super()._read_back(*args, **kwargs)


@both_hosts
async def test_worker_exception_shows_error_panel_and_the_app_can_train_again() -> None:
    app = create_app(lecture())
    async with app.run_test(size=SIZE):
        app.host.trainer_factory = _FailingTrainer
        await press(app, "space")
        await wait_for(lambda: app.error_panel.shown, "the error panel")
        assert "injected fault" in app.error_panel.message
        assert "RuntimeError" in app.error_panel.detail and "Traceback" in app.error_panel.detail
        assert app.status.state == "failed" and app.is_running
        await wait_for(lambda: "Training failed" in screen_text(app), "the error on screen")
        app.host.trainer_factory = None  # the engine's own Trainer again
        await press(app, "escape")
        await wait_for(lambda: not app.error_panel.shown, "esc to close the error panel")
        await press(app, "space")
        await wait_for(lambda: app.status.epoch > 100 and app.status.state == "running", "training again")
        assert not app.error_panel.shown


@both_hosts
async def test_diverging_run_pauses_with_the_epoch_and_a_suggestion() -> None:
    app = create_app(lecture(loss="mse", lr=0.5))
    async with app.run_test(size=SIZE):
        await press(app, "space")
        await wait_for(lambda: app.status.state == "diverged", "the divergence pause")
        assert app.host.paused and app.host.active
        text = app.notice.text
        assert "epoch" in text and "learning rate" in text
        await wait_for(lambda: "Diverged" in screen_text(app), "the divergence notice on screen")
        # the user lowers the learning rate and resets (one step at lr 0.5 already blew the weights up)
        lr_input = app.panel.query_one("#lr", Input)
        lr_input.focus()
        lr_input.value = "1e-05"  # mse on the raw quadratic (targets up to ~1900) needs a small step
        await press(app, "enter")
        await wait_for(lambda: app.focused is None, "Enter to apply and leave the field")
        await press(app, "r")
        await wait_for(lambda: app.host.generation == 2 and app.status.state == "paused", "a reset run")
        assert not app.notice.shown
        await press(app, "space")
        await wait_for(lambda: app.status.epoch > 300, "training on")
        assert app.status.state == "running" and app.status.lr == 1e-05


async def test_too_small_terminal_says_how_big_and_recovers_on_resize() -> None:
    app = create_app(lecture())
    async with app.run_test(size=(60, 20)) as pilot:
        note = app.query_one(TooSmall)
        assert note.display and not app.query_one("#dashboard").display
        await wait_for(lambda: "enlarge to at least 80×24" in screen_text(app), "the size message")
        await pilot.resize_terminal(*SIZE)
        await wait_for(lambda: app.query_one("#dashboard").display and not note.display, "the dashboard back")
        await wait_for(lambda: "press space to train" in screen_text(app), "the plots redrawn")


async def test_help_screen_and_command_palette_list_every_action() -> None:
    app = create_app(lecture())
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        shown = screen_text(app)
        assert "one epoch" in shown and "replay" in shown and "backprop stepper" in shown and "pace" in shown
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        for title in ("Start / pause / resume", "Step one epoch", "Reset", "Stop", "Log-scale loss", "Smoothing",
                      "Save screenshot (SVG)", "Help", "Quit", "Theme", "Backprop stepper", "Slower", "Faster",
                      "Full speed"):
            assert title in titles


async def test_log_and_smoothing_toggles_and_screenshot(tmp_path) -> None:
    app = create_app(lecture())
    async with app.run_test(size=SIZE):
        app.screenshot_dir = tmp_path
        await press(app, "space")
        await wait_for(lambda: app.loss_plot.point_count > 500 and "(log)" in app.loss_plot.rendered_text(), "points")
        await press(app, "l")
        await wait_for(lambda: "(log)" not in app.loss_plot.rendered_text(), "a linear axis")
        await press(app, "m")
        await wait_for(lambda: "smoothed" in app.loss_plot.rendered_text(), "smoothing on")
        await press(app, "l")
        await wait_for(lambda: "(log) · smoothed" in app.loss_plot.rendered_text(), "log again, still smoothed")
        assert app.loss_plot.error is None
        await press(app, "p")
        await wait_for(lambda: list(tmp_path.glob("*.svg")), "the screenshot file")
        svg = next(tmp_path.glob("*.svg")).read_text()
        assert svg.startswith("<svg") and "epoch" in svg


async def test_out_writes_the_run_directory(tmp_path) -> None:
    out = tmp_path / "run"
    app = create_app(lecture(epochs=300), out=out)
    async with app.run_test(size=SIZE):
        await press(app, "space")
        await wait_for(lambda: app.status.state == "done", "the run to finish")
        await wait_for(lambda: not app.host.alive, "the worker to return")
    for name in ("config.toml", "metrics.csv", "summary.json"):
        assert (out / name).exists(), name
    rows = (out / "metrics.csv").read_text().splitlines()
    assert len(rows) == 301 and rows[-1].startswith("300,")


async def test_no_color_dashboard_trains_and_draws(monkeypatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    app = create_app(lecture())
    async with app.run_test(size=SIZE):
        assert app.no_color
        await press(app, "space")
        await wait_for(lambda: has_braille(app.loss_plot.rendered_text()) and app.fit_plot.fit is not None,
                       "plots drawn without colour")
        # (the plot's own text: rendering the whole screen in a polling loop would itself eat the
        # UI's CPU budget and hold the plots back)
        await wait_for(lambda: "fit at epoch" in app.fit_plot.rendered_text(), "the fit drawn")
        assert app.loss_plot.error is None and app.fit_plot.error is None


@both_hosts
async def test_resume_starts_paused_at_the_checkpoint_and_trains_on(tmp_path) -> None:
    run_dir = tmp_path / "run"
    first = create_app(lecture(epochs=100_000), out=run_dir)
    async with first.run_test(size=SIZE):
        await press(first, "space")
        await wait_for(lambda: first.status.epoch > 300, "some training to save")
        await press(first, "q")  # stopping writes the checkpoint
        await wait_for(lambda: not first.is_running, "the first app to exit")
    app = create_app(lecture(), resume=run_dir)
    saved = app.resume_plan.epoch if app.resume_plan else 0
    assert saved > 300
    async with app.run_test(size=SIZE):
        await wait_for(lambda: app.status.state == "paused" and app.status.epoch == saved, "the resumed run, paused")
        assert f"Resumed at epoch {saved}" in app.notice.text
        assert app.panel.query_one("#epochs", Input).value == "100000", "the checkpoint's config, not the one given"
        await press(app, "n")
        await wait_for(lambda: app.status.epoch == saved + 1, "one more epoch from the checkpoint")


async def test_plots_follow_the_theme() -> None:
    app = create_app(lecture())
    async with app.run_test(size=SIZE):
        await press(app, "space")
        await wait_for(lambda: has_braille(app.loss_plot.rendered_text()), "a curve")
        dark = app.loss_plot.palette.train
        app.theme = "textual-light"
        await wait_for(lambda: app.loss_plot.palette.train != dark, "the light theme's colours")
        await wait_for(lambda: has_braille(app.loss_plot.rendered_text()), "the curve redrawn")


def test_ui_rate_defaults_to_4_hz_and_2_over_ssh() -> None:
    from nntui.ui.redraw import default_ui_hz

    assert default_ui_hz({}) == 4.0
    assert default_ui_hz({"SSH_CONNECTION": "10.0.0.1 5000 10.0.0.2 22"}) == 2.0
    assert create_app(lecture(), ui_hz=10).ui_hz == 10.0


async def test_a_paused_dashboard_repaints_nothing() -> None:
    """Paused, nothing changes: no widget may repaint (Textual's ProgressBar re-rendered itself
    every second for its hidden ETA: 352 bytes/s to the terminal, forever)."""
    app = create_app(lecture())
    async with app.run_test(size=SIZE):
        await press(app, "space")
        await wait_for(lambda: app.status.epoch > 100, "training")
        await press(app, "space")
        await wait_for(lambda: app.status.state == "paused", "paused")
        await asyncio.sleep(1.0)  # the last points and the pause itself drawn
        repaints: list[str] = []
        for widget in app.screen.walk_children():
            original = widget.refresh

            def counted(*args: Any, _w: Any = widget, _orig: Any = original, **kwargs: Any) -> Any:
                repaints.append(type(_w).__name__)
                return _orig(*args, **kwargs)

            widget.refresh = counted  # type: ignore[method-assign]
        await asyncio.sleep(2.5)
        assert repaints == [], f"repainted while paused: {sorted(set(repaints))}"
