"""A one-to-five-line notice over the plots: divergence, warnings worth reading now.

A toast disappears after a few seconds; a diverged run stays paused until the user acts,
so its message (epoch, suggested learning rate) stays in view until the run goes on.
"""

from __future__ import annotations

from textual.widgets import Static


class Notice(Static):
    """Hidden when empty. `level` is warning or info (a CSS class)."""

    DEFAULT_CSS = """
    Notice {
        height: auto;
        max-height: 6;
        display: none;
    }
    Notice.-shown {
        display: block;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.text = ""

    def show_notice(self, text: str, level: str = "warning") -> None:
        self.text = text
        self.update(text)
        self.set_class(level == "warning", "-warning")
        self.set_class(level == "info", "-info")
        self.add_class("-shown")

    def hide(self) -> None:
        self.text = ""
        self.remove_class("-shown")

    @property
    def shown(self) -> bool:
        return self.has_class("-shown")
