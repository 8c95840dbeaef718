"""The sweep dashboard's leaderboard: a DataTable of the trials that re-renders only the cells
whose text changed (the app fills and sorts it)."""

from __future__ import annotations

from typing import Any

from rich.style import Style
from rich.text import Text
from textual.widgets import DataTable


class Leaderboard(DataTable[Text]):
    """The DataTable of the trials, re-rendering only the cells whose text changed.

    DataTable keys its cell cache on a counter that every `update_cell` bumps, so one running
    trial's new epoch re-renders every cell of the table through Rich (measured: ~20 ms for
    16 rows, more under load, during which a key press waits). Here a cell's rendering is
    also kept under its own text, style, place and cursor state; anything else that changes
    its look (the theme, the cursor shown or not) clears this cache as it clears DataTable's."""

    MAX_CACHED = 20_000

    def __init__(self, *, id: str | None = None) -> None:
        self._own_cells: dict[tuple[Any, ...], Any] = {}  # (first: DataTable's __init__ clears caches)
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)

    def _render_cell(
        self, row_index: int, column_index: int, base_style: Style, width: int, cursor: bool = False,
        hover: bool = False,
    ) -> Any:
        if row_index < 0 or column_index < 0:  # the header and row labels: as DataTable does
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        try:
            row_key = self._row_locations.get_key(row_index)
            column_key = self._column_locations.get_key(column_index)
            value = self._data[row_key][column_key] if row_key is not None and column_key is not None else None
        except (AttributeError, KeyError, LookupError):
            value = None
        if value is None:  # not a cell this knows (another Textual): DataTable's own way
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        shown = (value.plain, value.style, value.justify) if isinstance(value, Text) else repr(value)
        key = (row_key, column_key, row_index, column_index, shown, base_style, width, cursor, hover,
               self._show_hover_cursor, self.show_cursor, self._pseudo_class_state)
        lines = self._own_cells.get(key)
        if lines is None:
            if len(self._own_cells) >= self.MAX_CACHED:
                self._own_cells.clear()
            lines = self._own_cells[key] = super()._render_cell(
                row_index, column_index, base_style, width, cursor, hover
            )
        return lines

    def notify_style_update(self) -> None:
        self._own_cells.clear()
        super().notify_style_update()

    def _clear_caches(self) -> None:
        self._own_cells.clear()
        super()._clear_caches()
