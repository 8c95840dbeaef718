"""The lecture's views inside the real dashboard (thread host, real Trainer, keys through the driver):
decision boundary, cost landscape, health table, activation gallery and the CSV file picker."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from dashboard_helpers import SIZE, press, screen_text, wait_for
from textual.widgets import Checkbox, Input, OptionList, Select, Static

from nntui.engine.names import ACTIVATIONS
from nntui.engine.presets import preset
from nntui.ui.app import NntuiApp
from nntui.ui.factory import create_app
from nntui.ui.screens.confirm_reset import ConfirmReset
from nntui.ui.screens.file_picker import FilePickerScreen
from nntui.ui.widgets.boundary import TRAIN_MARKER
from nntui.ui.widgets.landscape import CURRENT_MARKER


def _preset(name: str, **changes: object) -> object:
    changes.setdefault("epochs", 1_000_000)
    return replace(preset(name), **changes)


async def test_xor_shows_the_decision_boundary_live_and_hides_the_fit_plot() -> None:
    app = create_app(_preset("xor"))
    async with app.run_test(size=SIZE):
        await press(app, "space")
        await wait_for(lambda: app.boundary.display and app.boundary.fit is not None, "the first boundary")
        assert not app.fit_plot.display, "2-D classes: the boundary takes the fit plot's place"
        assert not app.landscape.display, "a hidden-layer model has no cost landscape"
        first = app.boundary.fit.epoch  # type: ignore[union-attr]
        await wait_for(lambda: f"epoch {first}" in app.boundary.rendered_text(), "the boundary drawn")
        await wait_for(
            lambda: app.boundary.fit is not None and app.boundary.fit.epoch > first + 100
            and f"epoch {app.boundary.fit.epoch}" in app.boundary.rendered_text(),
            "a later boundary drawn while training",
        )
        text = screen_text(app)
        assert "decision boundary" in text and TRAIN_MARKER in text
        assert app.boundary.error is None
        assert "boundary" in app.frame_report()


async def test_line_preset_shows_the_cost_landscape_with_a_growing_path() -> None:
    app = create_app(_preset("line"))
    async with app.run_test(size=SIZE):
        await press(app, "space")
        await wait_for(lambda: app.landscape.display and app.landscape.epochs_seen > 0, "the first path points")
        assert app.fit_plot.display and not app.boundary.display
        seen = app.landscape.epochs_seen
        await wait_for(lambda: app.landscape.epochs_seen > seen + 1000, "the path to grow")
        # every epoch's weights arrive (the mailbox keeps them all, not just the latest chunk's)
        await wait_for(lambda: abs(app.landscape.epochs_seen - app.status.epoch) < 5_000, "path and epochs in step")
        await wait_for(lambda: CURRENT_MARKER in app.landscape.rendered_text(), "the landscape drawn")
        text = app.landscape.rendered_text()
        assert "E(w, b)" in text and f"{CURRENT_MARKER} w " in text, "the title says where the descent is"
        assert app.landscape.error is None
        ls = app.landscape.landscape
        assert ls is not None and ls.b is not None
        # the path heads for the least-squares minimum (seed 000's line: w 0.5, b 4 in raw units)
        await wait_for(lambda: np.abs(app.landscape.path[-1] - np.asarray(ls.minimum)).max() < 0.1,
                       "the descent near the minimum")
        await press(app, "r")
        await wait_for(lambda: app.host.generation == 2 and app.landscape.epochs_seen == 0, "a reset clears the path")


async def test_health_switch_fills_the_table_while_training() -> None:
    app = create_app(_preset("xor"))
    async with app.run_test(size=SIZE):
        assert not app.health.display
        app.panel.query_one("#health", Checkbox).value = True
        await wait_for(lambda: app.panel.committed.health, "the switch committed to the config")
        await press(app, "space")
        await wait_for(lambda: app.health.display and app.health.rows_shown, "health rows")
        assert app.health.rows_shown == ("hidden 1 (relu)", "hidden 2 (relu)", "output")
        grad = str(app.health.get_row_at(0)[1])
        assert float(grad) > 0
        await wait_for(lambda: "grad norm" in screen_text(app), "the table on screen")
        updates = app.health.cell_updates
        await wait_for(lambda: app.health.cell_updates > updates, "the table updating while training")


async def test_a_opens_the_gallery_and_choosing_tanh_sets_the_activation() -> None:
    app = create_app(_preset("sine", activation=("relu",)))
    async with app.run_test(size=SIZE):
        from nntui.ui.screens.gallery import GalleryScreen

        handlers = list(app._signals)
        assert handlers, "run_test runs in the main thread: the signal handlers are installed"
        await press(app, "a")
        await wait_for(lambda: isinstance(app.screen, GalleryScreen) and app.screen.is_mounted, "the gallery")
        gallery = app.screen
        await wait_for(lambda: gallery.shown == "relu", "the gallery open at the panel's activation")
        gallery.query_one(OptionList).highlighted = ACTIVATIONS.index("tanh")
        await wait_for(lambda: gallery.shown == "tanh", "tanh highlighted")
        await press(app, "enter")
        await wait_for(lambda: app.panel.committed.activation == ("tanh",), "tanh committed like a typed value")
        assert not isinstance(app.screen, GalleryScreen)
        assert app.panel.query_one("#activation", Input).value == "tanh"
        assert app._signals == handlers, "opening a view leaves the app's signal handling alone"
        await press(app, "space")
        await wait_for(lambda: app.run_config is not None and app.status.epoch > 10, "training")
        assert app.run_config is not None and app.run_config.activation == ("tanh",)

        # mid-run, a new activation asks to reset, like a typed one
        await press(app, "a")
        await wait_for(
            lambda: isinstance(app.screen, GalleryScreen) and app.screen.shown == "tanh", "the gallery again"
        )
        app.screen.query_one(OptionList).highlighted = ACTIVATIONS.index("sigmoid")
        await press(app, "enter")
        await wait_for(lambda: isinstance(app.screen, ConfirmReset), "the reset question")


def _picker_ready(app: NntuiApp) -> bool:
    screen = app.screen
    return isinstance(screen, FilePickerScreen) and screen.is_mounted and bool(screen.query("#picker-path"))


def _write_houses(path: Path, rows: int = 80) -> None:
    rng = np.random.default_rng(0)
    lines = ["rooms;age;price"]
    for _ in range(rows):
        rooms, age = rng.integers(1, 7), rng.uniform(0, 60)
        price = 50 * rooms - 0.8 * age + rng.normal(0, 5) + 100
        lines.append(f"{rooms};{age:.1f};{price:.2f}")
    path.write_text("\n".join(lines) + "\n")


async def test_o_loads_a_good_csv_refuses_a_bad_one_inline_and_the_app_stays_usable(tmp_path: Path) -> None:
    good, bad = tmp_path / "houses.csv", tmp_path / "bad.csv"
    _write_houses(good)
    bad.write_text("x,y\n1,2\n3,4\n5,abc\n")
    app = create_app(_preset("lecture", epochs=400))
    async with app.run_test(size=SIZE):
        app.data_dir = tmp_path

        # a bad file: the loader's message inline, the dialog stays, nothing changes
        await press(app, "o")
        await wait_for(lambda: _picker_ready(app), "the file picker")
        picker = app.screen
        picker.query_one("#picker-path", Input).value = str(bad)
        await press(app, "ctrl+l")
        await wait_for(lambda: picker.error is not None and not picker.loading, "the loader's error")
        message = str(picker.query_one("#picker-message", Static).render())
        assert "row 4" in message and "abc" in message
        assert app.screen is picker and app.panel.committed.dataset == "quadratic"
        await press(app, "escape")
        await wait_for(lambda: not isinstance(app.screen, FilePickerScreen), "the picker closed")

        # a good one: into the panel as "csv: houses.csv", the loader's notes in the notice
        await press(app, "o")
        await wait_for(lambda: _picker_ready(app), "the file picker again")
        picker = app.screen
        picker.query_one("#picker-path", Input).value = str(good)
        await press(app, "ctrl+l")
        await wait_for(lambda: app.panel.committed.dataset == "csv", "the file loaded into the panel")
        assert not isinstance(app.screen, FilePickerScreen)
        assert app.panel.committed.data == str(good)
        dataset = app.panel.query_one("#dataset", Select)
        assert dataset.value == "csv"
        await wait_for(lambda: "csv: houses.csv" in screen_text(app), "the file in the dataset list")
        notice = app.notice.text
        assert "houses.csv" in notice and "80 rows" in notice
        assert "';'" in notice or "semicolon" in notice, f"the delimiter found is shown: {notice}"
        assert "standardized" in notice, f"the standardization statistics are shown: {notice}"
        print(screen_text(app))

        # and it trains: two inputs, so the fit panel is predicted against actual with y = x
        await press(app, "space")
        await wait_for(lambda: app.status.state == "done", "the CSV run to finish")
        await wait_for(lambda: "predicted against actual" in app.fit_plot.rendered_text(), "the scatter fit")
        assert "y = x" in app.fit_plot.rendered_text()
        assert app.run_config is not None and app.run_config.data == str(good)


async def test_least_squares_baseline_on_the_fit_and_loss_plots_with_the_chosen_degree() -> None:
    app = create_app(_preset("lecture"))
    async with app.run_test(size=SIZE):
        await press(app, "space")
        await wait_for(lambda: "least squares, degree 2" in app.fit_plot.rendered_text(), "the baseline on the fit")
        base = app.fit_plot.started.baseline  # type: ignore[union-attr]
        assert base is not None and base.degree == 2, "the quadratic's true degree by default"
        assert app.loss_plot.baseline == base.train_loss
        await wait_for(lambda: f"least squares {base.train_loss:.3g}" in app.loss_plot.rendered_text(),
                       "the reference line's label on the loss plot")
        await press(app, "s")
        await wait_for(lambda: not app.host.active, "stopped")
        assert app.panel.set_field("degree", "1")
        assert app.panel.query_one("#degree", Input).value == "1"
        await press(app, "space")
        await wait_for(lambda: "least squares, degree 1" in app.fit_plot.rendered_text(), "the degree-1 baseline")
        line = app.fit_plot.started.baseline  # type: ignore[union-attr]
        assert line is not None and line.train_loss > 10 * base.train_loss, "a line fits a parabola worse"
        # a bad degree is marked like any field, with the engine's reason
        assert not app.panel.set_field("degree", "99")
        assert "degree" in app.panel.problems()
