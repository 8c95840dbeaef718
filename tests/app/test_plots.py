"""The plot widgets on their own: every fit kind, hostile values, repeated builds, failures."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from dashboard_helpers import has_braille
from textual.app import App, ComposeResult

from nntui.engine.config import TrainConfig
from nntui.engine.events import Event, FitUpdated, RunStarted
from nntui.engine.presets import preset
from nntui.engine.trainer import Trainer
from nntui.ui.widgets.fit_plot import FitPlot
from nntui.ui.widgets.loss_plot import LossPlot, format_loss, log_ticks


class PlotApp(App[None]):
    """One plot at a fixed size, nothing else."""

    CSS = "#plot { width: 84; height: 18; }"

    def __init__(self, plot: LossPlot | FitPlot) -> None:
        super().__init__()
        self.plot = plot

    def compose(self) -> ComposeResult:
        yield self.plot


async def build(app: PlotApp, pilot: Any) -> str:
    app.plot.redraw()
    await pilot.pause()
    return app.plot.rendered_text()


def run_events(config: TrainConfig) -> tuple[RunStarted, FitUpdated]:
    """A short real run; its RunStarted and last FitUpdated."""
    events: list[Event] = []
    Trainer(config, fit_interval=0.0).run(events.append)
    started = next(e for e in events if isinstance(e, RunStarted))
    fit = [e for e in events if isinstance(e, FitUpdated)][-1]
    return started, fit


async def test_log_axis_survives_zero_negative_nan_inf_and_repeated_builds() -> None:
    plot = LossPlot(id="plot")
    app = PlotApp(plot)
    async with app.run_test(size=(100, 24)) as pilot:
        epochs = np.arange(1, 401)
        loss = np.exp(-epochs / 80.0) * 100
        loss[[10, 20, 30, 40]] = [0.0, -1.0, np.nan, np.inf]
        plot.extend(epochs, loss, epochs[99::100], loss[99::100] * 1.1)
        texts = [await build(app, pilot) for _ in range(3)]
        assert plot.error is None
        assert texts[0] == texts[1] == texts[2], "a second build must not re-log (plotext issue 209)"
        assert "loss (log)" in texts[0] and "train" in texts[0] and has_braille(texts[0])
        plot.set_options(log_y=False)
        linear = await build(app, pilot)
        assert plot.error is None and "(log)" not in linear
        plot.set_options(log_y=True, smooth=True)
        assert "smoothed" in await build(app, pilot) and plot.error is None


async def test_all_non_positive_values_on_a_log_axis_show_a_note_not_a_crash() -> None:
    plot = LossPlot(id="plot")
    app = PlotApp(plot)
    async with app.run_test(size=(100, 24)) as pilot:
        plot.extend(np.arange(1, 11), np.zeros(10), np.empty(0), np.empty(0))
        text = await build(app, pilot)
        assert plot.error is None and "no positive finite values" in text


async def test_loss_plot_input_stays_small_after_a_million_epochs() -> None:
    plot = LossPlot(id="plot")
    for start in range(0, 1_000_000, 50_000):
        epochs = np.arange(start + 1, start + 50_001)
        plot.extend(epochs, 1.0 / np.sqrt(epochs), np.empty(0), np.empty(0))
    series = plot.series(84)
    x, _ = series["train"]
    assert plot.point_count == 1_000_000
    assert len(x) <= 2 * 84, "about two points per column, whatever the history"
    assert plot.train.nbytes < 1_000_000


async def test_lr_marker_is_drawn_with_its_label() -> None:
    plot = LossPlot(id="plot")
    app = PlotApp(plot)
    async with app.run_test(size=(100, 24)) as pilot:
        epochs = np.arange(1, 1001)
        plot.extend(epochs, 10 / epochs, np.empty(0), np.empty(0))
        plot.add_marker(500, "lr 0.0005")
        text = await build(app, pilot)
        assert "lr 0.0005" in text and plot.error is None


async def test_an_exception_while_drawing_shows_a_message_and_the_app_lives() -> None:
    class Broken(LossPlot):
        def draw(self, *args: Any) -> None:
            raise RuntimeError("boom")

    plot = Broken(id="plot")
    app = PlotApp(plot)
    async with app.run_test(size=(100, 24)) as pilot:
        plot.extend(np.arange(1, 5), np.ones(4), np.empty(0), np.empty(0))
        text = await build(app, pilot)
        assert "plot error: RuntimeError: boom" in text
        assert plot.error == "RuntimeError: boom" and app.is_running


@pytest.mark.parametrize(
    ("name", "config", "expected"),
    [
        ("curve", replace(preset("lecture"), epochs=20), "fit at epoch 20"),
        ("curve with test points", replace(preset("sine"), epochs=20), "test data"),
    ],
)
async def test_every_fit_kind_draws(name: str, config: TrainConfig, expected: str) -> None:
    started, fit = run_events(config)
    plot = FitPlot(id="plot")
    app = PlotApp(plot)
    async with app.run_test(size=(100, 24)) as pilot:
        plot.set_run(started)
        plot.set_fit(fit)
        text = await build(app, pilot)
        assert plot.error is None, plot.error
        assert expected in text


async def test_fit_plot_leaves_a_2d_boundary_to_the_boundary_plot() -> None:
    """The app shows BoundaryPlot instead of FitPlot for 2-D classes; FitPlot draws no boundary of its own."""
    started, fit = run_events(replace(preset("xor"), epochs=20))
    assert fit.kind == "boundary"
    plot = FitPlot(id="plot")
    app = PlotApp(plot)
    async with app.run_test(size=(100, 24)) as pilot:
        plot.set_run(started)
        plot.set_fit(fit)
        text = await build(app, pilot)
        assert plot.error is None and "decision boundary panel" in text


async def test_scatter_fit_for_several_inputs(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (200, 2))
    y = 3 * x[:, 0] - 2 * x[:, 1] + rng.normal(0, 0.1, 200)
    csv = tmp_path / "plane.csv"
    csv.write_text("a,b,y\n" + "\n".join(f"{a:.4f},{b:.4f},{t:.4f}" for (a, b), t in zip(x, y)))
    config = TrainConfig(dataset="csv", data=str(csv), hidden=(8,), activation=("relu",), loss="mse",
                         optimizer="adam", lr=0.01, epochs=20)
    started, fit = run_events(config)
    assert fit.kind == "scatter"
    plot = FitPlot(id="plot")
    app = PlotApp(plot)
    async with app.run_test(size=(100, 24)) as pilot:
        plot.set_run(started)
        plot.set_fit(fit)
        text = await build(app, pilot)
        assert plot.error is None and "predicted against actual" in text


async def test_a_plot_too_small_to_draw_says_so() -> None:
    plot = LossPlot(id="plot")
    app = PlotApp(plot)
    app.CSS = "#plot { width: 12; height: 4; }"
    async with app.run_test(size=(40, 10)) as pilot:
        plot.extend(np.arange(1, 11), np.ones(10), np.empty(0), np.empty(0))
        text = await build(app, pilot)
        assert "too small" in text and plot.error is None


def test_log_ticks_are_labelled_in_loss_units() -> None:
    ticks, labels = log_ticks(-3.2, 2.1, 6)
    assert labels[0] == "1e-3" and "1" in labels and labels[-1] == "100"
    assert all(-3.2 <= t <= 2.1 for t in ticks)
    _, narrow_labels = log_ticks(0.0, 1.0, 8)
    assert narrow_labels == ["1", "2", "5", "10"]
    assert format_loss(0.5) == "0.5" and format_loss(12000) == "1.2e4"


async def test_no_color_plots_tell_series_apart_by_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    started, fit = run_events(replace(preset("sine"), epochs=20))
    plot = FitPlot(id="plot")
    app = PlotApp(plot)
    async with app.run_test(size=(100, 24)) as pilot:
        assert app.no_color and plot.palette.no_color
        plot.set_run(started)
        plot.set_fit(fit)
        text = await build(app, pilot)
        assert plot.error is None
        assert "•" in text and "x" in text, "train and test points in different shapes"
        styles = {seg.style for strip in plot._strips or [] for seg in strip if seg.style and seg.style.color}
        assert not styles, "no colours under NO_COLOR"


def test_epoch_ticks_are_round_numbers() -> None:
    from nntui.ui.widgets.loss_plot import epoch_ticks, format_epoch

    assert epoch_ticks(52, 23_000, 5) == [5000.0, 10000.0, 15000.0, 20000.0]
    assert epoch_ticks(1, 9, 8) == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]
    assert [format_epoch(v) for v in (300, 5000, 12000, 1_500_000)] == ["300", "5000", "12k", "1.5M"]
