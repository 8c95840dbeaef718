"""The error panel: a failed run's message, its details on demand, and the way back.

A worker exception must not end the app (Textual's default for workers); the host turns
it into RunFailed, and this panel shows it until dismissed or the next run starts.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Collapsible, Static


class ErrorPanel(Vertical):
    """Hidden until `show_error`; `Dismissed` when the user closes it."""

    DEFAULT_CSS = """
    ErrorPanel {
        height: auto;
        max-height: 60%;
        display: none;
    }
    ErrorPanel.-shown {
        display: block;
    }
    ErrorPanel #error-detail-scroll {
        height: auto;
        max-height: 12;
    }
    """

    class Dismissed(Message):
        """The user closed the panel."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.message = ""
        self.detail = ""

    def compose(self) -> ComposeResult:
        yield Static("", id="error-message", markup=False)
        with Collapsible(title="details", collapsed=True, id="error-details"):
            with VerticalScroll(id="error-detail-scroll"):
                yield Static("", id="error-detail", markup=False)
        with Horizontal(id="error-buttons"):
            yield Button("Dismiss (esc)", id="error-dismiss", compact=True)

    def show_error(self, message: str, detail: str = "") -> None:
        self.message, self.detail = message, detail
        self.query_one("#error-message", Static).update(
            f"Training failed: {message}\nThe dashboard is still here: fix the settings and press space to train again."
        )
        self.query_one("#error-detail", Static).update(detail or "(no traceback: the error above says it all)")
        self.query_one("#error-details", Collapsible).display = bool(detail)
        self.border_title = "error"
        self.add_class("-shown")

    def hide(self) -> None:
        self.remove_class("-shown")

    @property
    def shown(self) -> bool:
        return self.has_class("-shown")

    @on(Button.Pressed, "#error-dismiss")
    def _dismiss(self, event: Button.Pressed) -> None:
        event.stop()
        self.hide()
        self.post_message(self.Dismissed())
