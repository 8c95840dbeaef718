"""The backprop stepper: one gradient step taken apart, one graph node per key press.

Four lessons: the lecture's f = (x + y)·z, the vectorized ‖W·x‖², seed 004's slope of
E = (wx − y)² three ways, and the current network on one training point. Each starts
with its first forward node; → reveals the next (forward values, then "upstream ×
local = gradient" going backwards, then the update), ← hides it again. Everything shown
comes from `nntui.engine.backprop`, which computes it with a hand-written chain rule:
this screen only lays the text out, so it cannot drift from the numbers.

The screen gets all it needs in its constructor (a `NetworkInput` built from the
trainer's numpy weights, or None before any run): it never talks to the trainer and
never imports torch.
"""

from __future__ import annotations

from typing import ClassVar

from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from nntui.engine.backprop import Lesson, NetworkInput, Node, seed_lessons, unavailable_lesson

__all__ = ["LESSON_NAMES", "NO_RUN_REASON", "BackpropScreen", "NetworkInput"]

LESSON_NAMES = ("chain rule", "vectorized", "slope 3 ways", "this network")
"""The tabs, in key order 1–4."""
NETWORK = 3
"""Index of the network lesson."""
NO_RUN_REASON = "start or step a run first: the stepper needs the network's current weights"
PHASE_LABEL = {"forward": "forward ▶", "backward": "◀ backward", "update": "update ↻"}
BODY_INDENT = 7
"""Columns a node's lines sit under its header."""
HINT = "→/space/n next · ←/p back · home/end · 1–4 lesson · [ ] training point · i intro · esc/b close"


class NodeScroll(VerticalScroll, can_focus=False):
    """The revealed nodes. Not focusable, so the stepper's keys (home, end, arrows) reach
    the screen instead of scrolling a focused container."""


class BackpropScreen(ModalScreen[None]):
    """Step through a lesson node by node; escape or b closes."""

    AUTO_FOCUS = None
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("right,space,n", "next", "Next node"),
        Binding("left,p", "previous", "Previous node"),
        Binding("home", "first", "First node", show=False),
        Binding("end", "last", "All nodes", show=False),
        Binding("1", "lesson(0)", "Chain rule", show=False),
        Binding("2", "lesson(1)", "Vectorized", show=False),
        Binding("3", "lesson(2)", "Slope", show=False),
        Binding("4", "lesson(3)", "This network", show=False),
        Binding("left_square_bracket", "point(-1)", "Previous point", show=False),
        Binding("right_square_bracket", "point(1)", "Next point", show=False),
        Binding("up", "scroll(-1)", "Scroll up", show=False),
        Binding("down", "scroll(1)", "Scroll down", show=False),
        Binding("pageup", "scroll(-10)", "Page up", show=False),
        Binding("pagedown", "scroll(10)", "Page down", show=False),
        Binding("i", "toggle_intro", "Intro on/off", show=False),
        Binding("escape,b", "close", "Close"),
    ]

    DEFAULT_CSS = """
    BackpropScreen {
        align: center middle;
    }
    BackpropScreen > #bp-body {
        width: 95%;
        max-width: 130;
        height: 95%;
        padding: 0 1;
    }
    BackpropScreen #bp-tabs, BackpropScreen #bp-intro, BackpropScreen #bp-graph, BackpropScreen #bp-status {
        height: auto;
    }
    BackpropScreen #bp-graph {
        margin: 1 0;
    }
    BackpropScreen #bp-scroll {
        height: 1fr;
    }
    BackpropScreen #bp-nodes {
        height: auto;
    }
    """

    def __init__(self, network: NetworkInput | None, lesson: int = 0, max_units: int = 4) -> None:
        super().__init__()
        self.network = network
        self.max_units = max_units
        self.lesson_index = lesson if 0 <= lesson < len(LESSON_NAMES) else 0
        self.point = 0
        """Which of the network's candidate points the network lesson steps through."""
        self._seeds: tuple[Lesson, ...] = seed_lessons()
        self._network_lessons: dict[int, Lesson] = {}
        """Built on first view of each point: the numbers never change while the screen is open."""
        self.show_intro = True
        self._shown_plain = ""
        self._revealed = [1] * len(LESSON_NAMES)
        """How many nodes of each lesson are shown: coming back to a lesson keeps its place."""

    def compose(self) -> ComposeResult:
        with Vertical(id="bp-body"):
            yield Static(id="bp-tabs", markup=False)
            yield Static(id="bp-intro", markup=False)
            yield Static(id="bp-graph", markup=False)
            with NodeScroll(id="bp-scroll"):
                yield Static(id="bp-nodes", markup=False)
            yield Static(id="bp-status", markup=False)

    def on_mount(self) -> None:
        self.query_one("#bp-body").border_title = "backprop stepper"
        self._show()

    # ------------------------------------------------------------------ state

    @property
    def lesson(self) -> Lesson:
        """The lesson on screen (the network one for the chosen point)."""
        if self.lesson_index < NETWORK:
            return self._seeds[self.lesson_index]
        return self._network_lesson()

    @property
    def revealed(self) -> int:
        """Nodes shown of the current lesson, clamped to what it has."""
        return max(0, min(self._revealed[self.lesson_index], len(self.lesson.nodes)))

    @property
    def shown_text(self) -> str:
        """Plain text of the revealed nodes (header, then body, per node) as last drawn."""
        return self._shown_plain

    def _network_lesson(self) -> Lesson:
        net = self.network
        if net is None:
            return unavailable_lesson(NO_RUN_REASON)
        if net.n_points == 0:
            return unavailable_lesson("the run has no training points to step through")
        point = self.point % net.n_points
        if point not in self._network_lessons:
            try:
                lesson = net.lesson(point, self.max_units)
            except ValueError as exc:  # weights that do not fit the stated shapes: say so, stay open
                lesson = unavailable_lesson(str(exc))
            self._network_lessons[point] = lesson
        return self._network_lessons[point]

    # ------------------------------------------------------------------ actions

    def _set_revealed(self, count: int) -> None:
        self._revealed[self.lesson_index] = max(1, min(count, len(self.lesson.nodes)))
        self._show()

    def action_next(self) -> None:
        self._set_revealed(self.revealed + 1)

    def action_previous(self) -> None:
        self._set_revealed(self.revealed - 1)

    def action_first(self) -> None:
        self._set_revealed(1)

    def action_last(self) -> None:
        self._set_revealed(len(self.lesson.nodes))

    def action_lesson(self, index: int) -> None:
        if 0 <= index < len(LESSON_NAMES):
            self.lesson_index = index
            self._show()

    def action_point(self, step: int) -> None:
        """Another training point for the network lesson (wraps around)."""
        net = self.network
        if net is None or net.n_points == 0:
            return
        self.point = (self.point + step) % net.n_points
        self._show()

    def action_scroll(self, lines: int) -> None:
        self.query_one(NodeScroll).scroll_relative(y=lines, animate=False)

    def action_toggle_intro(self) -> None:
        """Hide the intro and the graph: on a 24-line terminal they leave few lines for the nodes."""
        self.show_intro = not self.show_intro
        self._show()

    def action_close(self) -> None:
        self.dismiss(None)

    # ------------------------------------------------------------------ drawing

    def _show(self) -> None:
        lesson = self.lesson
        shown = self.revealed
        self.query_one("#bp-tabs", Static).update(self._tabs(lesson))
        intro = Text(lesson.intro)
        if not lesson.available:
            intro.stylize("bold")
        intro_widget = self.query_one("#bp-intro", Static)
        intro_widget.update(intro)
        # an unavailable lesson's intro is its only content: it stays whatever the toggle
        intro_widget.display = self.show_intro or not lesson.available
        graph = self.query_one("#bp-graph", Static)
        graph.update(Text(lesson.graph))
        graph.display = self.show_intro and bool(lesson.graph)
        parts: list[RenderableType] = []
        plain: list[str] = []
        for i, node in enumerate(lesson.nodes[:shown]):
            header, body = self._node_text(node, i, len(lesson.nodes), current=i == shown - 1)
            if i:
                parts.append(Text(""))
            # the body under its header with a hanging indent, also where a long line wraps
            parts.extend((header, Padding(body, (0, 0, 0, BODY_INDENT))))
            plain.append(f"{header.plain}\n{body.plain}")
        self._shown_plain = "\n\n".join(plain)
        self.query_one("#bp-nodes", Static).update(Group(*parts))
        self.query_one("#bp-status", Static).update(self._status(lesson, shown))
        # the newest node is the last one: keep it in view
        self.query_one(NodeScroll).scroll_end(animate=False)

    def _tabs(self, lesson: Lesson) -> Text:
        tabs = Text()
        for i, name in enumerate(LESSON_NAMES):
            if i:
                tabs.append("  ")
            tabs.append(f" {i + 1} {name} ", style="reverse bold" if i == self.lesson_index else "")
        tabs.append(f"\n{lesson.title}", style="bold")
        return tabs

    def _status(self, lesson: Lesson, shown: int) -> Text:
        status = Text()
        if lesson.nodes:
            phase = lesson.nodes[shown - 1].phase
            status.append(f"node {shown} of {len(lesson.nodes)} · {phase}", style="bold")
            if shown == len(lesson.nodes):
                status.append(" · the end: one whole step")
        if self.lesson_index == NETWORK and self.network is not None and self.network.n_points:
            status.append(f" · point {self.point % self.network.n_points + 1} of {self.network.n_points}")
        status.append(f"\n{HINT}", style="dim")
        return status

    @staticmethod
    def _node_text(node: Node, index: int, total: int, current: bool) -> tuple[Text, Text]:
        """One node as (header, body): position, phase and name; then its lines.

        Earlier nodes are dimmed so the one just revealed stands out.
        """
        body_style = "" if current else "dim"
        header = Text()
        header.append(f"{index + 1:>2}/{total}  ", style=body_style)
        header.append(PHASE_LABEL[node.phase], style="bold" if current else "dim")
        header.append(f"  {node.name}", style="bold" if current else "dim bold")
        product = set(node.product.splitlines()) if node.product is not None else set()
        body = Text()
        for j, line in enumerate(node.lines()):
            if j:
                body.append("\n")
            # the product (upstream × local) is the point of a backward node
            body.append(line, style="bold" if current and line in product else body_style)
        return header, body
