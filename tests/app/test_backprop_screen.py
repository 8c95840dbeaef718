"""The backprop stepper screen in a real Textual app: nodes revealed one key press at a
time, the seed numbers on screen (∂f/∂x = −4, never the slide's 3), the network lesson
built from a real torch network's weights, and the point keys changing its numbers.

No trainer runs here: a tiny App pushes the screen on mount. State is still polled with
short sleeps (a key's effect is not assumed to be instant).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np
import pytest
import torch
from textual.app import App
from textual.widget import Widget
from textual.widgets import Static

from nntui.engine import backprop
from nntui.engine.model import build_mlp
from nntui.ui.screens.backprop import NO_RUN_REASON, BackpropScreen, NetworkInput

pytestmark = pytest.mark.timeout(120)

SIZE = (140, 50)
DEADLINE = 30.0


class StepperApp(App[None]):
    """Pushes the stepper on mount, as the dashboard's `b` key will."""

    def __init__(self, network: NetworkInput | None) -> None:
        super().__init__()
        self.network = network
        self.stepper_closed = False

    def on_mount(self) -> None:
        self.push_screen(BackpropScreen(self.network), self._on_stepper_closed)

    def _on_stepper_closed(self, _: None) -> None:
        self.stepper_closed = True


def lecture_network(points: int = 5) -> NetworkInput:
    """The lecture's 1 → 10 → 6 → 1 ReLU network (seeded torch init) as the app hands it over: numpy."""
    model = build_mlp(1, (10, 6), ("relu", "relu"), 1, True, seed=0, device=torch.device("cpu"))
    weights = tuple(
        (layer.weight.detach().numpy().astype(np.float64), layer.bias.detach().numpy().astype(np.float64))
        for layer in model.layers
    )
    xs = np.linspace(-1.5, 1.5, points).reshape(-1, 1)
    ys = 8 * xs**2 + 7 * xs + 3
    return NetworkInput(weights, ("relu", "relu"), "l1", 0.001, xs, ys, epoch=40)


async def wait_for(predicate: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for: {what}")
        await asyncio.sleep(0.02)


def stepper(app: App[None]) -> BackpropScreen:
    screen = app.screen
    assert isinstance(screen, BackpropScreen)
    return screen


def painted(widget: Widget) -> str:
    """What the widget paints (its own render_line output), so vanished markup would show."""
    return "\n".join("".join(seg.text for seg in widget.render_line(y)) for y in range(widget.size.height))


async def open_stepper(app: StepperApp) -> BackpropScreen:
    await wait_for(lambda: isinstance(app.screen, BackpropScreen) and app.screen.shown_text, "the stepper open")
    return stepper(app)


async def test_scalar_lesson_reveals_nodes_in_order_and_gets_df_dx_right() -> None:
    app = StepperApp(lecture_network())
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_stepper(app)
        lesson = backprop.scalar_lesson()
        assert screen.lesson_index == 0 and screen.revealed == 1
        assert "x = −2, y = 5, z = −4" in screen.shown_text and "q = −2 + 5" not in screen.shown_text
        keys = ["right", "space", "n"]
        for count in range(2, len(lesson.nodes) + 1):
            await pilot.press(keys[count % len(keys)])
            await wait_for(lambda c=count: screen.revealed == c, f"node {count} revealed")
            text = screen.shown_text
            # every node revealed so far is there, in order; the next one is not yet
            positions = [text.index(node.formula) for node in lesson.nodes[:count]]
            assert positions == sorted(positions)
            if count < len(lesson.nodes):
                assert lesson.nodes[count].formula not in text
            assert "∂f/∂x = 3" not in text
        text = screen.shown_text
        assert "q = −2 + 5 = 3" in text and "f = 3 · (−4) = −12" in text
        assert "∂f/∂z = ∂f/∂f · q = 1 · 3 = 3" in text
        assert "∂f/∂x = ∂f/∂q · ∂q/∂x = −4 · 1 = −4" in text
        assert "∂f/∂y = ∂f/∂q · ∂q/∂y = −4 · 1 = −4" in text
        status = painted(screen.query_one("#bp-status", Static))
        assert f"node {len(lesson.nodes)} of {len(lesson.nodes)}" in status

        # one more press stays at the end; back, home and end move as they say
        await pilot.press("right")
        await pilot.press("left")
        await wait_for(lambda: screen.revealed == len(lesson.nodes) - 1, "one node hidden again")
        assert "∂f/∂y = ∂f/∂q" not in screen.shown_text
        await pilot.press("home")
        await wait_for(lambda: screen.revealed == 1, "back to the first node")
        assert "q = x + y" not in screen.shown_text
        await pilot.press("end")
        await wait_for(lambda: screen.revealed == len(lesson.nodes), "every node shown")
        await pilot.press("p")
        await wait_for(lambda: screen.revealed == len(lesson.nodes) - 1, "p goes back")


async def test_vector_and_slope_lessons_show_the_seed_numbers_with_their_brackets() -> None:
    app = StepperApp(None)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_stepper(app)
        await pilot.press("2", "end")
        await wait_for(lambda: screen.lesson_index == 1 and screen.revealed == len(screen.lesson.nodes), "lesson 2")
        await pilot.pause()
        shown = painted(screen.query_one("#bp-nodes", Static))
        # square brackets are plain text here, not markup that would silently vanish
        assert "q = [0.22, 0.26]" in shown and "∇q f = 1 · [0.44, 0.52] = [0.44, 0.52]" in shown
        assert "∇W f = [[0.088, 0.176], [0.104, 0.208]]" in shown and "∇x f = [−0.112, 0.636]" in shown
        assert "0.116" in shown

        await pilot.press("3", "end")
        await wait_for(lambda: screen.lesson_index == 2 and screen.revealed == len(screen.lesson.nodes), "lesson 3")
        text = screen.shown_text
        assert "E = 2² = 4" in text and "∂E/∂w = 4 · 1 = 4" in text and "w = 3 − 0.1 · 4 = 2.6" in text
        for way in ("1. numeric", "2. chain rule", "3. calculus"):
            assert way in text

        # i hides the intro and the graph (room for the nodes on a short terminal), and brings them back
        intro, graph = screen.query_one("#bp-intro", Static), screen.query_one("#bp-graph", Static)
        assert intro.display and graph.display
        await pilot.press("i")
        await wait_for(lambda: not intro.display and not graph.display, "the intro hidden")
        await pilot.press("i")
        await wait_for(lambda: intro.display and graph.display, "the intro back")

        # each lesson keeps its place: lesson 1 is still at its first node
        await pilot.press("1")
        await wait_for(lambda: screen.lesson_index == 0, "lesson 1")
        assert screen.revealed == 1


async def test_network_lesson_steps_the_real_network_and_the_point_keys_change_its_numbers() -> None:
    net = lecture_network()
    app = StepperApp(net)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_stepper(app)
        await pilot.press("4")
        await wait_for(lambda: screen.lesson_index == 3, "the network lesson")
        first = net.lesson(0)
        assert first.grads is not None
        assert screen.revealed == 1 and "x = [−1.5]" in screen.shown_text
        await pilot.press("end")
        await wait_for(lambda: screen.revealed == len(first.nodes), "all of the network lesson")
        text0 = screen.shown_text
        assert text0 == "\n\n".join(
            "\n".join(part.plain for part in BackpropScreen._node_text(n, i, len(first.nodes), False))
            for i, n in enumerate(first.nodes)
        ), "the engine's nodes, in order"
        assert "showing 4 of 10 units" in text0 and "relu′" in text0 and "W¹ ← W¹ − lr · ∂L/∂W¹" in text0
        assert backprop.num(first.grads.loss) in text0
        status = painted(screen.query_one("#bp-status", Static))
        assert "point 1 of 5" in status
        intro = painted(screen.query_one("#bp-intro", Static))
        assert "point 1 of 5 · weights from epoch 40" in intro

        await pilot.press("right_square_bracket")
        await wait_for(lambda: screen.point == 1 and screen.shown_text != text0, "the next point's numbers")
        second = net.lesson(1)
        assert second.grads is not None and second.grads.loss != first.grads.loss
        text1 = screen.shown_text
        assert "x = [−0.75]" in text1 and backprop.num(second.grads.loss) in text1
        assert screen.revealed == len(second.nodes), "a new point keeps the place in the lesson"
        await wait_for(lambda: "point 2 of 5" in painted(screen.query_one("#bp-status", Static)), "the status")

        await pilot.press("left_square_bracket", "left_square_bracket")
        await wait_for(lambda: screen.point == 4, "wrapped round to the last point")
        assert "x = [1.5]" in screen.shown_text
        await pilot.press("right_square_bracket")
        await wait_for(lambda: screen.point == 0 and screen.shown_text == text0, "back to the first point")


async def test_without_a_run_the_network_lesson_says_why_and_the_seeds_still_work() -> None:
    app = StepperApp(None)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_stepper(app)
        await pilot.press("4")
        await wait_for(lambda: screen.lesson_index == 3, "the network lesson")
        await pilot.pause()
        assert "start or step a run first" in painted(screen.query_one("#bp-intro", Static))
        assert NO_RUN_REASON in screen.lesson.intro and not screen.lesson.nodes
        await pilot.press("right", "right_square_bracket", "end")  # nothing to step: nothing breaks
        assert screen.shown_text == "" and screen.revealed == 0
        await pilot.press("1", "right")
        await wait_for(lambda: screen.lesson_index == 0 and screen.revealed == 2, "lesson 1 steps")


@pytest.mark.parametrize("key", ["escape", "b"])
async def test_escape_or_b_closes(key: str) -> None:
    app = StepperApp(None)
    async with app.run_test(size=SIZE) as pilot:
        await open_stepper(app)
        await pilot.press(key)
        await wait_for(lambda: app.stepper_closed and not isinstance(app.screen, BackpropScreen), "the stepper closed")


def test_the_screen_module_never_imports_torch() -> None:
    """The dashboard's UI process never loads torch; opening the stepper must not either."""
    code = (
        "import sys, nntui.ui.screens.backprop; "
        "assert 'torch' not in sys.modules, 'torch imported by the stepper screen'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
