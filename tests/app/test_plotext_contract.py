"""The plotext internals nntui relies on are still there and still behave as the adapter expects.

`nntui/ui/plotext_adapter.py` is the only module that reaches into plotext (private methods,
the figure's monitor and matrix, `plotext._utility`). A new plotext may rename or reshape any
of them without notice; these tests then fail naming the attribute and the installed version,
so the fix is made in the adapter and nowhere else.
"""

from __future__ import annotations

import inspect
from typing import Any, cast

import plotext._utility
import pytest
from rich.text import Text
from textual_plotext import Plot

from nntui.ui.plotext_adapter import (
    MATRIX_ATTRIBUTES,
    Canvas,
    PlotextChanged,
    ansi_codes,
    build_canvas,
    plotext_version,
    set_size,
)

VERSION = plotext_version()


def changed(what: str) -> str:
    """The failure message: what changed, in which plotext, and where to fix it."""
    return f"installed plotext {VERSION}: {what}; update nntui/ui/plotext_adapter.py (its only user)"


def callable_with(obj: object, name: str, *args: object) -> None:
    """`obj.name` exists and accepts these positional arguments (checked on its signature, not called)."""
    fn = getattr(obj, name, None)
    assert fn is not None, changed(f"{type(obj).__name__}.{name} is gone")
    assert callable(fn), changed(f"{type(obj).__name__}.{name} is no longer callable")
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # a builtin without a signature: presence is all we can check
        return
    try:
        sig.bind(*args)
    except TypeError as exc:
        raise AssertionError(
            changed(f"{type(obj).__name__}.{name}{sig} no longer takes {len(args)} positional argument(s): {exc}")
        ) from exc


def small_figure(width: int = 40, height: int = 12) -> tuple[Plot, Canvas]:
    """A real figure built through the adapter: title, three labelled points."""
    plt = Plot()
    plt.clear_figure()
    set_size(plt, width, height)
    plt.title("contract")
    plt.scatter([0.0, 1.0, 2.0], [0.0, 1.0, 4.0], marker="x", label="pts")
    return plt, build_canvas(plt)


def test_the_private_methods_the_adapter_calls_exist_with_their_signatures() -> None:
    plt = Plot()
    callable_with(plt, "plotsize", 40, 12)
    callable_with(plt, "_set_size", 40, 12)
    callable_with(plt, "_set_sizes")
    callable_with(plt, "_build_matrix")
    callable_with(plotext._utility, "colors_to_ansi", "default", "default", "default")


def test_the_figure_still_keeps_its_matrix_where_the_adapter_reads_it() -> None:
    plt: Any = Plot()
    monitor = getattr(plt, "monitor", None)
    assert monitor is not None, changed("Plot.monitor is gone")
    matrix = getattr(monitor, "matrix", None)
    assert matrix is not None, changed("Plot.monitor.matrix is gone")
    missing = [name for name in MATRIX_ATTRIBUTES if not hasattr(matrix, name)]
    assert not missing, changed(f"plotext's matrix ({type(matrix).__name__}) has no {', '.join(missing)}")


def test_a_real_build_gives_a_canvas_of_the_asked_size_with_the_data_in_its_plot_area() -> None:
    _, canvas = small_figure(40, 12)
    assert (canvas.rows, canvas.cols) == (12, 40), changed(f"a 40×12 figure built as {canvas.cols}×{canvas.rows}")
    for name in ("marker", "fullground", "style", "background"):
        grid = getattr(canvas, name)
        assert isinstance(grid, list) and len(grid) == 12, changed(f"matrix.{name} is not a list of 12 rows")
        assert all(isinstance(row, list) and len(row) == 40 for row in grid), changed(f"matrix.{name} rows ≠ 40 cells")
    assert all(len(cell) == 1 for row in canvas.marker for cell in row), changed("a marker cell is not one character")
    for name, area, size in (("Rows_canvas", canvas.plot_rows, 12), ("Cols_canvas", canvas.plot_cols, 40)):
        assert isinstance(area, range) and len(area) > 0, changed(f"matrix.{name} is not a non-empty range")
        assert 0 <= area.start and area.stop <= size, changed(f"matrix.{name} {area} lies outside the figure")
    # rows count from the bottom: the title is on the top row, outside the plot area
    top = "".join(canvas.marker[canvas.rows - 1])
    assert "contract" in top, changed(f"the title is not on the last matrix row (bottom-first order?): {top!r}")
    inside = [canvas.marker[r][c] for r in canvas.plot_rows for c in canvas.plot_cols]
    assert inside.count("x") >= 3, changed("the scatter's markers are not inside the plot area")


def test_the_legend_sits_top_left_in_the_plot_area() -> None:
    """PlotPanel keeps its own data off the legend box, assuming it is here (see `_rasterise`)."""
    _, canvas = small_figure()
    row = "".join(canvas.marker[canvas.plot_rows[-1]][c] for c in canvas.plot_cols)
    assert row.find("pts") in range(0, 5), changed(f"the legend is not at the top left of the plot area: {row!r}")


def test_the_canvas_is_what_plotext_itself_prints() -> None:
    """The matrix read by the adapter and plotext's own text output show the same characters."""
    plt, canvas = small_figure()
    ours = ["".join(canvas.marker[r]) for r in range(canvas.rows - 1, -1, -1)]
    theirs = Text.from_ansi(plt.build()).plain.split("\n")[: canvas.rows]
    assert ours == theirs, changed("the matrix the adapter reads differs from plotext's printed figure")


def test_cell_colours_become_plotext_ansi_codes() -> None:
    assert ansi_codes("default", "default", "default") == "", changed("colors_to_ansi of no colour is not empty")
    red = ansi_codes((255, 0, 0), "default", "default")
    assert "38;2;255;0;0" in red, changed(f"colors_to_ansi((255, 0, 0), ...) gave {red!r}")
    style = Text.from_ansi(ansi_codes((255, 0, 0), "bold", (0, 0, 255)) + "x").spans[0].style
    assert "bold" in str(style) and "#ff0000" in str(style) and "#0000ff" in str(style), changed(str(style))


def test_a_missing_internal_is_named_with_the_installed_version() -> None:
    class OldFigure:
        def _set_sizes(self) -> None:
            pass

    with pytest.raises(PlotextChanged, match=r"has no Plot\._set_size\b"):
        set_size(cast(Plot, type("Figure", (), {"plotsize": lambda self, w, h: None})()), 40, 12)
    with pytest.raises(PlotextChanged, match=rf"plotext {VERSION} has no Plot\._build_matrix"):
        build_canvas(cast(Plot, OldFigure()))

    class NoMatrix(OldFigure):
        def _build_matrix(self) -> None:
            pass

        monitor = object()

    with pytest.raises(PlotextChanged, match=r"has no Plot\.monitor\.matrix"):
        build_canvas(cast(Plot, NoMatrix()))
