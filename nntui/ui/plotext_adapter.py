"""Every use of plotext's internals, in one place, behind a small typed API.

Why internals at all: the plot widgets let plotext lay out a figure (frame, ticks, title,
legend) but read its finished character matrix instead of its ANSI text, and turn that
straight into Textual strips (see `widgets/plot_panel.py` for the measured reason). plotext
has no public way to build the matrix without also rendering the text, so this module
reaches into it: `_set_size`, `_set_sizes`, `_build_matrix`, `monitor.matrix` and
`plotext._utility.colors_to_ansi`. Nothing else in nntui does.

If an installed plotext renames or reshapes any of these, the widgets show a one-line
`PlotextChanged` message naming what is missing and the installed version (their build
never raises into Textual), and `tests/app/test_plotext_contract.py` fails saying the same.
Checked against plotext 5.3.2 (textual-plotext 1.0.1 needs plotext < 6).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from textual_plotext import Plot

try:
    from plotext._utility import colors_to_ansi
except ImportError:  # reported when a colour is first needed (see `ansi_codes`), not at import
    colors_to_ansi = None

CellColor = str | int | tuple[int, int, int]
"""A colour as plotext stores it in a cell: a name, a 256-colour index or (r, g, b)."""
MATRIX_ATTRIBUTES = ("rows", "cols", "Rows_canvas", "Cols_canvas", "marker", "fullground", "style", "background")
"""What `build_canvas` reads from plotext's matrix object (the contract test checks each)."""


def plotext_version() -> str:
    """The installed plotext's version, for error messages ("unknown" if not installed as a package)."""
    try:
        return version("plotext")
    except PackageNotFoundError:
        return "unknown"


class PlotextChanged(RuntimeError):
    """The installed plotext no longer has an internal this module relies on."""


@dataclass(frozen=True, slots=True)
class Canvas:
    """plotext's finished character matrix, by reference (no copy): what the widgets read and change.

    Row 0 is the bottom row, as in plotext (the y axis grows upward). Each cell has a
    marker (one character), a foreground colour, a style and a background colour; writing
    into these lists changes what `PlotPanel` turns into strips.
    """

    rows: int
    cols: int
    plot_rows: range
    """Rows of the plot area inside the axes (plotext's "canvas"), bottom first."""
    plot_cols: range
    """Columns of the plot area inside the axes."""
    marker: list[list[str]]
    fullground: list[list[CellColor]]
    style: list[list[str]]
    background: list[list[CellColor]]


def set_size(plt: Plot, width: int, height: int) -> None:
    """Size the figure to the widget before drawing into it.

    `plotsize` is public, but alone it does not always stick: textual-plotext sets the
    private `_set_size` as well (textual-plotext issue 5), and so do we.
    """
    plt.plotsize(width, height)
    try:
        set_private = plt._set_size
    except AttributeError as exc:
        raise _changed("Plot._set_size") from exc
    set_private(width, height)


def build_canvas(plt: Plot) -> Canvas:
    """Lay out the figure (frame, ticks, labels, legend, plotext-drawn data) without rendering text.

    This is what `plt.build()` does minus its last step, `matrix.set_canvas()`, which turns
    every cell into ANSI text: the widgets read the matrix instead.
    """
    fig: Any = plt  # the private names below are not in textual-plotext's type stubs
    try:
        set_sizes, build_matrix = fig._set_sizes, fig._build_matrix
    except AttributeError as exc:
        raise _changed(f"Plot.{exc.name}") from exc
    set_sizes()
    build_matrix()  # an AttributeError from inside plotext's own code is not ours to relabel
    try:
        m = fig.monitor.matrix
    except AttributeError as exc:
        raise _changed("Plot.monitor.matrix") from exc
    try:
        return Canvas(
            rows=m.rows,
            cols=m.cols,
            plot_rows=m.Rows_canvas,
            plot_cols=m.Cols_canvas,
            marker=m.marker,
            fullground=m.fullground,
            style=m.style,
            background=m.background,
        )
    except AttributeError as exc:
        raise _changed(f"monitor.matrix.{exc.name}") from exc


def ansi_codes(fullground: CellColor, style: str, background: CellColor) -> str:
    """The ANSI escape plotext itself writes for a cell's colours (empty for all-"default")."""
    if colors_to_ansi is None:
        raise _changed("plotext._utility.colors_to_ansi")
    return str(colors_to_ansi(fullground, style, background))


def _changed(what: str) -> PlotextChanged:
    return PlotextChanged(f"plotext {plotext_version()} has no {what} (nntui/ui/plotext_adapter.py relies on it)")
