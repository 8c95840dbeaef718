"""Network health: per layer, the weight-gradient norm and the share of dead/saturated/flat units.

The lecture's point made visible: a step or sign layer passes no gradient (its norm is 0
and every unit is "flat"), ReLUs can die, sigmoid/tanh units saturate. The trainer measures
it (config.health) and sends a tuple of LayerHealth with each batch of epochs; this table
shows the latest one. `update_health` is called at the app's refresh rate, so it compares
each cell's text with what is shown and touches only the cells that changed.
"""

from __future__ import annotations

import math

from rich.color import Color as RichColor
from rich.style import Style
from rich.text import Text
from textual.color import Color
from textual.widgets import DataTable

from nntui.engine.events import LayerHealth

COLUMNS: tuple[tuple[str, str], ...] = (
    ("layer", "layer"),
    ("grad", "grad norm"),
    ("units", "units"),
    ("status", "status"),
)
DEAD_LIMIT = 0.5
"""More than this share of dead ReLUs or saturated units is flagged."""
ZERO_GRAD = 1e-12

OK, WARNING, ERROR = "ok", "warning", "error"
ERROR_VAR, WARNING_VAR = "text-error", "text-warning"


def assess(h: LayerHealth) -> tuple[str, str]:
    """(status text, severity) for one layer: what a person should notice about it."""
    if not math.isfinite(h.grad_norm):
        return "gradient is not finite", ERROR
    if h.kind == "flat":
        return "flat: no gradient passes", ERROR
    if h.grad_norm <= ZERO_GRAD:
        return "zero gradient", ERROR
    if h.kind == "dead" and h.dead_fraction > DEAD_LIMIT:
        return f"{h.dead_fraction:.0%} of ReLUs dead", ERROR
    if h.kind == "saturated" and h.dead_fraction > DEAD_LIMIT:
        return "saturated: gradients vanish", WARNING
    return "ok", OK


def cells_of(h: LayerHealth) -> tuple[str, str, str, str, str]:
    """The row's texts (layer, grad norm, units, status) and its severity."""
    status, severity = assess(h)
    grad = f"{h.grad_norm:.3g}" if math.isfinite(h.grad_norm) else str(h.grad_norm)
    units = "—" if h.kind in ("—", "", "-") else f"{h.dead_fraction:.0%} {h.kind}"
    return h.layer, grad, units, status, severity


class HealthTable(DataTable[Text]):
    """A small live table, one row per layer; problems highlighted (and spelled out, for NO_COLOR)."""

    can_focus = False
    """Display only: focus would take the dashboard's keys (space, arrows) away."""

    DEFAULT_CSS = """
    HealthTable {
        height: auto;
        max-height: 12;
        width: 1fr;
    }
    """

    def __init__(
        self,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        empty: str = "turn health on to see per-layer gradients",
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, cursor_type="none", zebra_stripes=False)
        self.empty = empty
        self.rows_shown: tuple[str, ...] = ()
        """Row keys (layer names) in the order shown."""
        self._shown: dict[tuple[str, str], tuple[str, str]] = {}
        self._last: tuple[LayerHealth, ...] = ()
        self.cell_updates = 0
        """Cells written so far (the cheapness check in the tests)."""

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(label, key=key)
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)
        self.reset()

    def reset(self, message: str | None = None) -> None:
        """No data (a new run, or health off): one row saying so."""
        self.clear()
        self._shown.clear()
        self._last = ()
        self.rows_shown = ()
        self.add_row(Text(message or self.empty, style="italic"), Text(""), Text(""), Text(""), key="__empty__")

    def update_health(self, rows: tuple[LayerHealth, ...]) -> int:
        """Show the latest per-layer health; returns how many cells changed."""
        if not rows:
            if self.rows_shown:
                self.reset()
            return 0
        self._last = tuple(rows)
        keys = tuple(h.layer for h in rows)
        if keys != self.rows_shown:
            self.clear()
            self._shown.clear()
            for h in rows:
                texts = cells_of(h)
                severity = texts[-1]
                self.add_row(*(self._cell(t, severity, col) for t, col in zip(texts[:-1], range(4))), key=h.layer)
                for (col, _), t in zip(COLUMNS, texts[:-1]):
                    self._shown[(h.layer, col)] = (t, severity)
            self.rows_shown = keys
            self.cell_updates += 4 * len(rows)
            return 4 * len(rows)
        changed = 0
        for h in rows:
            texts = cells_of(h)
            severity = texts[-1]
            for i, ((col, _), t) in enumerate(zip(COLUMNS, texts[:-1])):
                if self._shown.get((h.layer, col)) != (t, severity):
                    self.update_cell(h.layer, col, self._cell(t, severity, i))
                    self._shown[(h.layer, col)] = (t, severity)
                    changed += 1
        self.cell_updates += changed
        return changed

    def _cell(self, text: str, severity: str, column: int) -> Text:
        """Numbers right-aligned; problem rows in the theme's warning/error colours."""
        style = Style()
        if severity != OK and column in (1, 2, 3):
            style = Style(color=self._color(ERROR_VAR if severity == ERROR else WARNING_VAR), bold=column == 3)
        if severity != OK and column == 3:
            text = f"! {text}"  # spelled out: the highlight must survive NO_COLOR
        return Text(text, style=style, justify="right" if column == 1 else "left")

    def _color(self, variable: str) -> RichColor | None:
        try:
            return Color.parse(self.app.theme_variables[variable]).rich_color
        except Exception:  # a theme without it: the bold "!" still marks the problem
            return None

    def _theme_changed(self, _theme: object) -> None:
        """Re-colour problem cells in the new theme (everything else carries no colour)."""
        rows, self._last = self._last, ()
        if rows:
            self.rows_shown = ()
            self.update_health(rows)
