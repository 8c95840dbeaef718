"""Asked when a change needs a new run: reset now, or keep the current run going."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ConfirmReset(ModalScreen[bool]):
    """Dismisses with True (reset) or False (keep training; the change waits for the next run)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r,enter", "choose(True)", "Reset"),
        Binding("k,escape", "choose(False)", "Keep"),
    ]

    DEFAULT_CSS = """
    ConfirmReset {
        align: center middle;
    }
    ConfirmReset > Vertical {
        width: 64;
        max-width: 95%;
        height: auto;
        padding: 1 2;
    }
    ConfirmReset #confirm-buttons {
        height: auto;
        margin-top: 1;
    }
    ConfirmReset Button {
        margin-right: 2;
    }
    """

    def __init__(self, changes: str) -> None:
        super().__init__()
        self.changes = changes

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-body"):
            yield Static(
                f"{self.changes}\n\nThis needs a new run from epoch 0. Reset now, or keep this run going "
                "(the change then applies at the next reset)?",
                markup=False,
            )
            with Horizontal(id="confirm-buttons"):
                yield Button("Reset (r)", id="confirm-reset", variant="warning", compact=True)
                yield Button("Keep training (k)", id="confirm-keep", compact=True)

    def on_mount(self) -> None:
        self.query_one("#confirm-body").border_title = "reset?"

    def action_choose(self, reset: bool) -> None:
        self.dismiss(reset)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm-reset")
