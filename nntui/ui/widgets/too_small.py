"""What a too-small terminal shows instead of squashed plots."""

from __future__ import annotations

from textual.widgets import Static

MIN_WIDTH = 80
MIN_HEIGHT = 24
"""The classic terminal: the control panel (36 columns) and a plot of 40+ columns, two plots of 8+ rows."""


class TooSmall(Static):
    """Centred message; the app shows it (and hides the dashboard) below MIN_WIDTH×MIN_HEIGHT."""

    DEFAULT_CSS = """
    TooSmall {
        width: 1fr;
        height: 1fr;
        content-align: center middle;
        text-align: center;
        display: none;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)

    def show_size(self, width: int, height: int) -> None:
        self.update(
            f"nntui needs a bigger terminal: enlarge to at least {MIN_WIDTH}×{MIN_HEIGHT}\n"
            f"(now {width}×{height}; training goes on meanwhile; q quits)"
        )
