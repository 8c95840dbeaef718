"""The activation gallery: every activation's curve and derivative, and why it matters.

A list on the left (each entry with a tiny sparkline of its curve, and ∇=0 where the
gradient is zero almost everywhere), a big plot of the highlighted one on the right with
f(x) and f′(x) over [-5, 5], its formula and the lecture's one line underneath. The
derivative drawn is the engine's hand-written one (`activations.derivative`), written out
from the formula rather than a numeric difference, and tested equal to what autograd
computes: the slope backprop actually sees, kinks and flat parts included.

Enter or a click dismisses with the activation's name (the app puts it in the control
panel); Escape dismisses with None.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.strip import Strip
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from nntui.engine import activations
from nntui.engine.names import ACTIVATIONS
from nntui.ui.palette import Palette
from nntui.ui.widgets.boundary import ensure_styles
from nntui.ui.widgets.plot_panel import PlotPanel

X_RANGE = (-5.0, 5.0)
POINTS = 201
"""Grid of the curves: odd, so x = 0 is on it (where step, sign and ReLU change)."""
SPARK = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 8
ZERO_GRAD_BADGE = "∇=0"


def activation_curves(name: str, points: int = POINTS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x over [-5, 5], the curve f(x) and the engine's hand-written derivative f′(x), float64."""
    x = torch.linspace(X_RANGE[0], X_RANGE[1], points, dtype=torch.float64)
    if points % 2:
        x[points // 2] = 0.0  # linspace lands a rounding error away from 0; the kinks are at exactly 0
    with torch.no_grad():
        y = activations.curve(name, x)
        dy = activations.derivative(name, x)
    return x.numpy(), y.numpy(), dy.numpy()


def sparkline(values: np.ndarray, width: int = SPARK_WIDTH) -> str:
    """A curve's shape in `width` block characters, scaled to its own range."""
    idx = np.linspace(0, len(values) - 1, width).astype(np.int64)
    v = np.asarray(values, dtype=np.float64)[idx]
    lo, hi = float(v.min()), float(v.max())
    if hi - lo < 1e-12:
        return SPARK[len(SPARK) // 2] * width
    levels = np.rint((v - lo) / (hi - lo) * (len(SPARK) - 1)).astype(np.int64)
    return "".join(SPARK[i] for i in levels)


class ActivationPlot(PlotPanel):
    """f(x) and f′(x) of one activation on the same axes."""

    DEFAULT_CSS = """
    ActivationPlot {
        width: 1fr;
        height: 1fr;
        min-height: 6;
    }
    """

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.activation: str | None = None
        self.data: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        """(x, f(x), f′(x)) as drawn."""

    def show(self, name: str) -> None:
        """Draw this activation (at once: the gallery has no trainer to share the CPU with)."""
        self.activation = name
        self.data = activation_curves(name)
        self.redraw()

    def placeholder(self) -> str | None:
        return None if self.data is not None else "choose an activation"

    def render_line(self, y: int) -> Strip:
        return ensure_styles(super().render_line(y))

    def draw(self, plt: Any, width: int, height: int, palette: Palette) -> None:
        assert self.data is not None and self.activation is not None
        x, y, dy = self.data
        act = activations.get(self.activation)
        plt.title(f"{act.label}: f(x) and its derivative f′(x)")
        plt.xlim(*X_RANGE)
        lo = float(min(y.min(), dy.min(), 0.0))
        hi = float(max(y.max(), dy.max(), 1.0))
        pad = 0.08 * (hi - lo)
        plt.ylim(lo - pad, hi + pad)
        plt.hline(0.0, color=palette.data)
        plt.vline(0.0, color=palette.data)
        colored = palette.colored
        plt.plot(x.tolist(), y.tolist(), marker="braille" if colored else "hd", color=palette.prediction, label="f(x)")
        plt.plot(
            x.tolist(),
            dy.tolist(),
            marker="braille" if colored else "dot",
            color=palette.test,
            label="f′(x)  (hand-written; equals autograd's)",
        )


class GalleryScreen(ModalScreen[str | None]):
    """Browse the activations; Enter (or a click) picks one, Escape closes without a choice."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
    ]

    DEFAULT_CSS = """
    GalleryScreen {
        align: center middle;
    }
    GalleryScreen > #gallery-body {
        width: 95%;
        max-width: 140;
        height: 95%;
        max-height: 44;
        padding: 0 1;
    }
    GalleryScreen #gallery-main {
        height: 1fr;
    }
    GalleryScreen #gallery-list {
        width: 34;
        height: 1fr;
    }
    GalleryScreen #gallery-detail {
        width: 1fr;
        height: 1fr;
        padding: 0 0 0 1;
    }
    GalleryScreen #gallery-formula, GalleryScreen #gallery-note {
        height: auto;
    }
    GalleryScreen #gallery-hint {
        height: 1;
    }
    """

    def __init__(self, current: str | None = None) -> None:
        super().__init__()
        self.current = current if current in ACTIVATIONS else "relu"

    def compose(self) -> ComposeResult:
        with Vertical(id="gallery-body"):
            with Horizontal(id="gallery-main"):
                yield OptionList(*self._options(), id="gallery-list")
                with Vertical(id="gallery-detail"):
                    yield ActivationPlot(id="gallery-plot")
                    yield Static(id="gallery-formula", markup=False)
                    yield Static(id="gallery-note", markup=False)
            yield Static("↑↓ browse · enter: use this activation · esc: close", id="gallery-hint", markup=False)

    def _options(self) -> list[Option]:
        options = []
        for name in ACTIVATIONS:
            act = activations.get(name)
            _, y, _ = activation_curves(name, 101)
            prompt = Text.assemble(
                (f"{act.label:<17}", ""),
                (sparkline(y), "dim" if not act.zero_grad else ""),
                (f" {ZERO_GRAD_BADGE}" if act.zero_grad else "", "bold"),
            )
            options.append(Option(prompt, id=name))
        return options

    def on_mount(self) -> None:
        self.query_one("#gallery-body").border_title = "activation functions"
        option_list = self.query_one("#gallery-list", OptionList)
        option_list.highlighted = ACTIVATIONS.index(self.current)
        option_list.focus()
        self._show(self.current)

    @property
    def shown(self) -> str | None:
        """The activation on the plot."""
        return self.query_one(ActivationPlot).activation

    def _show(self, name: str) -> None:
        act = activations.get(name)
        self.query_one(ActivationPlot).show(name)
        flat = "  (zero gradient almost everywhere: training stalls)" if act.zero_grad else ""
        self.query_one("#gallery-formula", Static).update(f"f(x) = {act.formula}{flat}")
        self.query_one("#gallery-note", Static).update(act.note)

    @on(OptionList.OptionHighlighted, "#gallery-list")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if event.option.id:
            self._show(event.option.id)

    @on(OptionList.OptionSelected, "#gallery-list")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_close(self) -> None:
        self.dismiss(None)
