"""The lecture's views in a real Textual app: activation gallery, cost landscape, network health,
decision boundary and the CSV file picker, fed with real engine data (short real trainings).

Each test mounts the one widget or screen under test in a minimal App (with the dashboard's
stylesheet) and drives it with `run_test`; no trainer runs inside the apps, so
`pilot.pause()` is cheap here.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from rich.color import Color as RichColor
from textual.app import App, ComposeResult
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input, OptionList, Static

import nntui.ui
from nntui.engine import activations
from nntui.engine.config import with_changes
from nntui.engine.events import EpochsEnded, Event, FitUpdated, LayerHealth, RunStarted
from nntui.engine.names import ACTIVATIONS
from nntui.engine.presets import preset
from nntui.engine.trainer import Trainer
from nntui.ui.palette import blend
from nntui.ui.screens.file_picker import CsvTree, FilePickerScreen, LoadedData
from nntui.ui.screens.gallery import ActivationPlot, GalleryScreen
from nntui.ui.widgets.boundary import MAX_STRENGTH, TEST_MARKER, TRAIN_MARKER, BoundaryPlot
from nntui.ui.widgets.health import HealthTable
from nntui.ui.widgets.landscape import CURRENT_MARKER, MAX_PATH, MIN_MARKER, PATH_MARKER, LandscapePlot

pytestmark = pytest.mark.timeout(120)

TCSS = Path(nntui.ui.__file__).parent / "nntui.tcss"
SIZE = (100, 35)


class Harness(App[None]):
    """Mounts one widget, or pushes one screen, with the dashboard's stylesheet (the views' rules live there)."""

    CSS_PATH = str(TCSS)

    def __init__(self, widget: Widget | None = None) -> None:
        super().__init__()
        self.widget = widget
        self.results: list[Any] = []

    def compose(self) -> ComposeResult:
        if self.widget is not None:
            yield self.widget

    def open(self, screen: Screen[Any]) -> None:
        self.push_screen(screen, self.results.append)


@cache
def _events(name: str, **changes: Any) -> tuple[Event, ...]:
    """A real, short training of a preset (cached: several tests read the same run)."""
    config = with_changes(preset(name), changes) if changes else preset(name)
    out: list[Event] = []
    Trainer(config).run(out.append)
    return tuple(out)


def _started(events: tuple[Event, ...]) -> RunStarted:
    return next(e for e in events if isinstance(e, RunStarted))


def _text(widget: Widget) -> str:
    """What the widget paints, line by line (its own render_line output)."""
    return "\n".join("".join(seg.text for seg in widget.render_line(y)) for y in range(widget.size.height))


async def _until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll (a thread worker is involved): short sleeps, not pilot.pause()."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.02)


# -- activation gallery -----------------------------------------------------------------------


async def test_gallery_lists_every_activation() -> None:
    app = Harness()
    async with app.run_test(size=(120, 40)) as pilot:
        app.open(GalleryScreen("relu"))
        await pilot.pause()
        options = app.screen.query_one(OptionList)
        ids = [options.get_option_at_index(i).id for i in range(options.option_count)]
        assert ids == list(ACTIVATIONS)
        assert len(ids) == 12
        screen = app.screen
        assert isinstance(screen, GalleryScreen)
        assert screen.shown == "relu"
        note = str(screen.query_one("#gallery-note", Static).render())
        assert "gradients pass well" in note


async def test_gallery_draws_the_engine_derivative_which_equals_autograd() -> None:
    app = Harness()
    async with app.run_test(size=(120, 40)) as pilot:
        app.open(GalleryScreen("step"))
        await pilot.pause()
        options = app.screen.query_one(OptionList)
        plot = app.screen.query_one(ActivationPlot)
        for index, name in enumerate(ACTIVATIONS):
            options.highlighted = index
            await pilot.pause()
            assert plot.activation == name
            assert plot.data is not None
            x, y, dy = plot.data
            assert x[0] == -5.0 and x[-1] == 5.0 and 0.0 in x
            xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
            activations.curve(name, xt).sum().backward()
            assert xt.grad is not None
            np.testing.assert_allclose(dy, xt.grad.numpy(), rtol=1e-10, atol=1e-12, err_msg=name)
            np.testing.assert_allclose(y, activations.curve(name, torch.tensor(x)).numpy(), err_msg=name)
            plot.redraw()
            await pilot.pause()
            assert plot.error is None, plot.error
            assert activations.get(name).label in _text(plot)


async def test_gallery_enter_returns_the_name_and_escape_returns_none() -> None:
    app = Harness()
    async with app.run_test(size=(80, 24)) as pilot:
        app.open(GalleryScreen("relu"))
        await pilot.pause()
        await pilot.press("down", "enter")
        await pilot.pause()
        assert app.results == ["leaky_relu"]
        app.open(GalleryScreen("tanh"))
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert app.results == ["leaky_relu", None]
        assert not isinstance(app.screen, GalleryScreen)


async def test_gallery_click_returns_the_name() -> None:
    app = Harness()
    async with app.run_test(size=(120, 40)) as pilot:
        app.open(GalleryScreen("relu"))
        await pilot.pause()
        options = app.screen.query_one(OptionList)
        # the option's line: options are one line each, below the list's top border
        top = options.content_region.y - options.region.y
        left = options.content_region.x - options.region.x
        await pilot.click(options, offset=(left + 2, top + ACTIVATIONS.index("sigmoid")))
        await pilot.pause()
        assert app.results == ["sigmoid"]


# -- cost landscape ---------------------------------------------------------------------------


async def _landscape(name: str) -> tuple[LandscapePlot, str, set[tuple[int, int, int]]]:
    """Train `name`, feed the landscape its run and path; what it painted (text, colours)."""
    events = _events(name)
    params = [e.params for e in events if isinstance(e, EpochsEnded) and e.params is not None]
    assert params, "a one/two-parameter run records its weights"
    widget = LandscapePlot()
    app = Harness(widget)
    async with app.run_test(size=SIZE) as pilot:
        assert widget.start_run(_started(events))
        for p in params:
            widget.add_path(p)
        widget.redraw()
        await pilot.pause()
        assert widget.error is None, widget.error
        return widget, _text(widget), _triplets(widget, background=True)


async def test_landscape_one_parameter_curve_with_the_descent_path() -> None:
    widget, text, _ = await _landscape("linreg")
    ls = widget.landscape
    assert ls is not None and ls.names == ("w",) and ls.b is None
    assert widget.epochs_seen == preset("linreg").epochs
    assert widget.path.shape == (preset("linreg").epochs, 1)
    assert "E(w)" in text
    assert PATH_MARKER in text and CURRENT_MARKER in text
    # seed 004: X = Y = [1, 2, 3], the minimum is w = 1 and gradient descent gets there
    assert ls.minimum[0] == pytest.approx(1.0)
    assert widget.path[-1, 0] == pytest.approx(1.0, abs=1e-3)


async def test_landscape_two_parameters_heatmap_with_the_descent_path() -> None:
    widget, text, backgrounds = await _landscape("line")
    ls = widget.landscape
    assert ls is not None and ls.names == ("w", "b") and ls.cost.shape == (len(ls.b), len(ls.w))  # type: ignore[arg-type]
    assert PATH_MARKER in text and CURRENT_MARKER in text and MIN_MARKER in text
    assert len(backgrounds) >= 4, "cost bands: several background shades"


async def test_landscape_path_stays_bounded_and_keeps_the_latest_point() -> None:
    widget = LandscapePlot()
    app = Harness(widget)
    async with app.run_test(size=SIZE) as pilot:
        widget.start_run(_started(_events("line")))
        rng = np.random.default_rng(0)
        for _ in range(40):
            widget.add_path(rng.normal(size=(250, 2)) * 0.1 + np.array([0.5, 4.0]))
        last = np.array([[0.49, 3.9]])
        widget.add_path(last)
        assert widget.epochs_seen == 40 * 250 + 1
        assert len(widget.path) <= MAX_PATH + 1
        np.testing.assert_array_equal(widget.path[-1], last[0])
        widget.redraw()
        await pilot.pause()
        assert widget.error is None


async def test_landscape_says_why_not_for_a_hidden_layer_model() -> None:
    widget = LandscapePlot()
    app = Harness(widget)
    async with app.run_test(size=SIZE) as pilot:
        assert not widget.start_run(_started(_events("xor", epochs=5)))
        widget.redraw()
        await pilot.pause()
        assert "one or two parameters" in _text(widget).replace("\n", " ")


# -- decision boundary --------------------------------------------------------------------------


def _xor_fit() -> tuple[RunStarted, FitUpdated]:
    events = _events("xor", epochs=300)
    fits = [e for e in events if isinstance(e, FitUpdated) and e.kind == "boundary"]
    assert fits
    return _started(events), fits[-1]


def _triplets(widget: Widget, background: bool = False) -> set[tuple[int, int, int]]:
    """Every RGB colour the widget paints (only backgrounds if asked)."""
    out = set()
    for y in range(widget.size.height):
        for seg in widget.render_line(y):
            if seg.style is None:
                continue
            for color in (seg.style.bgcolor,) if background else (seg.style.color, seg.style.bgcolor):
                if isinstance(color, RichColor) and color.triplet is not None:
                    out.add(tuple(color.triplet))
    return out  # type: ignore[return-value]


async def test_boundary_renders_both_class_regions_and_the_points() -> None:
    started, fit = _xor_fit()
    widget = BoundaryPlot()
    app = Harness(widget)
    async with app.run_test(size=SIZE) as pilot:
        widget.set_run(started)
        assert widget.set_fit(fit)
        widget.redraw()
        await pilot.pause()
        assert widget.error is None, widget.error
        text = _text(widget)
        assert "decision boundary" in text and TRAIN_MARKER in text and TEST_MARKER in text
        palette = widget.palette
        assert palette.background is not None
        class0, class1 = palette.classes[0], palette.classes[1]
        colors = _triplets(widget)
        # confident regions of both classes: the fully blended class colours are on screen
        assert blend(palette.background, class0, MAX_STRENGTH) in colors  # type: ignore[arg-type]
        assert blend(palette.background, class1, MAX_STRENGTH) in colors  # type: ignore[arg-type]
        # points in their class colours
        assert class0 in colors and class1 in colors
        # axes carry the data range (x_range of xor is ±1.3)
        assert re.search(r"-1\b", text) and re.search(r"\b1\b", text)

        # cheap enough to redraw while a trainer waits for the interpreter lock
        widget.frame_ms.clear()
        for _ in range(10):
            widget.redraw()
            await pilot.pause()
        median = sorted(widget.frame_ms)[len(widget.frame_ms) // 2]
        print(f"boundary redraw at {SIZE[0]}x{SIZE[1]}: median {median:.1f} ms")
        assert median < 60


async def test_boundary_without_color_uses_shades_and_marker_shapes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    started, fit = _xor_fit()
    widget = BoundaryPlot()
    app = Harness(widget)
    async with app.run_test(size=SIZE) as pilot:
        assert app.no_color
        widget.set_run(started)
        widget.set_fit(fit)
        widget.redraw()
        await pilot.pause()
        text = _text(widget)
        assert widget.error is None, widget.error
        assert "▒" in text  # confident class-1 region
        assert "○" in text and "●" in text  # train points of class 0 and class 1


async def test_boundary_ignores_other_fit_kinds() -> None:
    events = _events("line")
    curve = next(e for e in events if isinstance(e, FitUpdated))
    widget = BoundaryPlot()
    app = Harness(widget)
    async with app.run_test(size=SIZE):
        assert not widget.set_fit(curve)
        assert widget.fit is None


# -- network health -----------------------------------------------------------------------------


def _health(**changes: Any) -> tuple[LayerHealth, ...]:
    events = _events("xor", epochs=30, health=True, **changes)
    rows = [e.health for e in events if isinstance(e, EpochsEnded) and e.health]
    assert rows, "health=True sends per-layer health"
    return rows[-1]


def _cells(table: HealthTable) -> list[list[str]]:
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


async def test_health_table_shows_flat_step_layers_and_live_relu_gradients() -> None:
    table = HealthTable()
    app = Harness(table)
    async with app.run_test(size=SIZE) as pilot:
        step = _health(activation=("step",))
        assert table.update_health(step) == 4 * len(step)
        await pilot.pause()
        rows = _cells(table)
        assert [r[0] for r in rows] == [h.layer for h in step]
        assert "flat" in rows[0][2] and rows[0][3].startswith("!")
        assert float(rows[0][1]) == 0.0

        relu = _health()
        table.update_health(relu)
        await pilot.pause()
        rows = _cells(table)
        assert "relu" in rows[0][0]
        assert float(rows[0][1]) > 0.0
        assert "dead" in rows[0][2]
        assert table.update_health(relu) == 0, "an unchanged row touches no cell"

        table.update_health(())
        await pilot.pause()
        assert table.row_count == 1 and "health" in str(table.get_row_at(0)[0])


# -- file picker --------------------------------------------------------------------------------


async def test_file_picker_loads_a_good_csv(tmp_path: Path) -> None:
    good = tmp_path / "houses.csv"
    rows = [f"{i},{(i * 7) % 11},{2.5 * i - 0.3 * ((i * 7) % 11) + 1}" for i in range(60)]
    good.write_text("rooms,age,price\n" + "\n".join(rows) + "\n")
    (tmp_path / "notes.txt").write_text("not a csv")
    (tmp_path / "more").mkdir()
    app = Harness()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = FilePickerScreen(preset("line"), tmp_path)
        app.open(screen)
        await pilot.pause()
        tree = screen.query_one(CsvTree)
        shown = {p.name for p in tree.filter_paths(tmp_path.iterdir())}
        assert shown == {"houses.csv", "more"}
        screen.query_one("#picker-path", Input).value = str(good)
        screen.query_one("#picker-target", Input).value = "price"
        await pilot.click("#picker-load")
        await _until(lambda: bool(app.results))
        loaded = app.results[0]
        assert isinstance(loaded, LoadedData)
        assert loaded.config.data == str(good) and loaded.config.dataset == "csv"
        assert loaded.config.target == "price"
        assert loaded.config.hidden == preset("line").hidden, "the rest of the config is kept"
        assert any(note.startswith("standardized") for note in loaded.notes)
        assert "60 rows" in loaded.summary and "regression" in loaded.summary


async def test_file_picker_shows_the_loader_error_inline_and_stays_open(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\n1,2\n3,4\n5,abc\n7,8\n")
    app = Harness()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = FilePickerScreen(preset("line"), tmp_path)
        app.open(screen)
        await pilot.pause()
        screen.query_one("#picker-path", Input).value = str(bad)
        screen.query_one("#picker-inputs", Input).value = "x"
        await pilot.press("ctrl+l")
        await _until(lambda: screen.error is not None and not screen.loading)
        await pilot.pause()
        assert app.screen is screen and app.results == []
        message = str(screen.query_one("#picker-message", Static).render())
        assert "row 4" in message and "column 'y'" in message and "abc" in message
        assert screen.query_one("#picker-message").has_class("-error")
        assert screen.query_one("#picker-inputs", Input).value == "x", "nothing the user typed is lost"

        # a bad setting is refused before reading, also inline
        screen.query_one("#picker-path", Input).value = ""
        await pilot.press("ctrl+l")
        await pilot.pause()
        assert "choose a CSV file" in str(screen.query_one("#picker-message", Static).render())

        await pilot.press("escape")
        await pilot.pause()
        assert app.results == [None]


# -- more than two classes, and NO_COLOR everywhere -------------------------------------------------


async def test_boundary_colours_more_than_two_classes_by_class(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    lines = ["u,v,label"]
    for k, centre in enumerate(([-2.0, -1.0], [2.0, -1.0], [0.0, 2.0])):
        for a, b in np.asarray(centre) + 0.6 * rng.standard_normal((60, 2)):
            lines.append(f"{a:.3f},{b:.3f},{'abc'[k]}")
    data = tmp_path / "three.csv"
    data.write_text("\n".join(lines) + "\n")
    config = with_changes(preset("xor"), {"data": str(data), "hidden": (8,), "epochs": 200, "loss": "ce"})
    events: list[Event] = []
    Trainer(config).run(events.append)
    fit = [e for e in events if isinstance(e, FitUpdated)][-1]
    assert fit.kind == "boundary" and fit.grid is not None and fit.grid.max() == 2
    widget = BoundaryPlot()
    app = Harness(widget)
    async with app.run_test(size=SIZE) as pilot:
        widget.set_run(_started(tuple(events)))
        widget.set_fit(fit)
        widget.redraw()
        await pilot.pause()
        assert widget.error is None, widget.error
        palette = widget.palette
        assert palette.background is not None
        colors = _triplets(widget)
        for k in range(3):
            assert blend(palette.background, palette.classes[k], 0.45) in colors, k  # type: ignore[arg-type]
        assert "class 2" in _text(widget)


async def test_every_view_paints_without_colour(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Textual's NO_COLOR filter raises on unstyled segments: none of these may produce one."""
    monkeypatch.setenv("NO_COLOR", "1")
    landscape, boundary, health = LandscapePlot(), BoundaryPlot(), HealthTable()

    class Views(Harness):
        def compose(self) -> ComposeResult:
            yield landscape
            yield boundary
            yield health

    app = Views()
    async with app.run_test(size=(100, 60)) as pilot:
        assert app.no_color
        await pilot.pause()  # placeholders
        events = _events("line")
        landscape.start_run(_started(events))
        for e in events:
            if isinstance(e, EpochsEnded):
                landscape.add_path(e.params)
        landscape.redraw()
        health.update_health(_health(activation=("step",)))
        await pilot.pause()
        assert landscape.error is None and CURRENT_MARKER in _text(landscape)
        app.open(GalleryScreen("sigmoid"))
        await pilot.pause()
        await pilot.press("escape")
        app.open(FilePickerScreen(preset("line"), tmp_path))
        await pilot.pause()
        await pilot.press("escape")
        await pilot.pause()
        assert app.results == [None, None]
