"""Choose a CSV file to train on, with the loader's own checks before anything changes.

A directory tree (CSV files and folders only) and a path box on the left; inputs, target,
task, delimiter and "drop rows with missing cells" on the right. Load builds the config
exactly as `--data` would (`with_changes(base, {"data": …})`) and reads the file with the
engine's loader in a thread (a big file must not freeze the screen). A bad file or setting
shows the engine's message (file, row, column) under the form and the screen stays open
with everything as typed; a good one dismisses with a `LoadedData`: the config, the
dataset's notes (delimiter detected, rows dropped, task inferred) and its standardization
statistics, for the app to show.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, DirectoryTree, Input, Label, Select, Static

from nntui.engine.config import TrainConfig, with_changes
from nntui.engine.errors import NntuiError
from nntui.engine.names import DELIMITER_NAMES
from nntui.engine.parsing import parse_names

TASKS: tuple[tuple[str, str], ...] = (
    ("auto", "auto"),
    ("regression", "regression"),
    ("classification", "classification"),
)
DELIMITERS: tuple[tuple[str, str], ...] = (
    ("auto", ""),
    *((f"{name} {char}" if char.isprintable() else name, char) for char, name in DELIMITER_NAMES.items()),
)


@dataclass(frozen=True)
class LoadedData:
    """What Load returns: the config to train with and what the user should be told about the data."""

    config: TrainConfig
    notes: tuple[str, ...]
    """The loader's notes, then the standardization statistics (Dataset.stats_text())."""
    summary: str
    """One line: file, rows, inputs → target, task."""


class CsvTree(DirectoryTree):
    """Folders and *.csv files only (hidden entries left out)."""

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        return [p for p in paths if not p.name.startswith(".") and (p.is_dir() or p.suffix.lower() == ".csv")]


class FilePickerScreen(ModalScreen[LoadedData | None]):
    """Dismisses with LoadedData after a successful Load, or None (Escape / Cancel)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+l", "load", "Load", show=False),
    ]

    DEFAULT_CSS = """
    FilePickerScreen {
        align: center middle;
    }
    FilePickerScreen > #picker-body {
        width: 95%;
        max-width: 130;
        height: 95%;
        max-height: 40;
        padding: 0 1;
    }
    FilePickerScreen #picker-main {
        height: 1fr;
    }
    FilePickerScreen CsvTree {
        width: 1fr;
        height: 1fr;
        min-width: 20;
    }
    FilePickerScreen #picker-form {
        width: 1fr;
        max-width: 56;
        height: 1fr;
        padding: 0 0 0 1;
    }
    FilePickerScreen .picker-row {
        height: 1;
        margin-bottom: 1;
    }
    FilePickerScreen .picker-label {
        width: 11;
    }
    FilePickerScreen .picker-row Input, FilePickerScreen .picker-row Select {
        width: 1fr;
    }
    FilePickerScreen #picker-message {
        height: auto;
    }
    FilePickerScreen #picker-buttons {
        height: 1;
    }
    FilePickerScreen #picker-buttons Button {
        margin-right: 2;
    }
    """

    def __init__(self, base: TrainConfig, start: str | Path = ".") -> None:
        """`base`: the panel's current config (model, optimizer… are kept); `start`: the tree's root."""
        super().__init__()
        self.base = base
        start = Path(start).expanduser()
        self.start = start if start.is_dir() else Path.cwd()
        self.error: str | None = None
        """The last Load's error message, shown inline (None after a success or before any Load)."""
        self.loading = False

    def compose(self) -> ComposeResult:
        base = self.base
        with Vertical(id="picker-body"):
            with Horizontal(id="picker-main"):
                yield CsvTree(self.start, id="picker-tree")
                with VerticalScroll(id="picker-form"):
                    yield from self._row(
                        "path", Input(base.data, placeholder="data.csv", id="picker-path", compact=True)
                    )
                    yield from self._row(
                        "inputs",
                        Input(
                            ",".join(base.inputs), placeholder="all but the target", id="picker-inputs", compact=True
                        ),
                    )
                    yield from self._row(
                        "target", Input(base.target, placeholder="last column", id="picker-target", compact=True)
                    )
                    yield from self._row(
                        "task", Select(TASKS, value=base.task, allow_blank=False, compact=True, id="picker-task")
                    )
                    delimiter = base.delimiter if base.delimiter in [v for _, v in DELIMITERS] else ""
                    yield from self._row(
                        "delimiter",
                        Select(DELIMITERS, value=delimiter, allow_blank=False, compact=True, id="picker-delimiter"),
                    )
                    with Horizontal(classes="picker-row"):
                        yield Checkbox(
                            "drop rows with missing cells", base.drop_missing, compact=True, id="picker-drop"
                        )
                    yield Static("", id="picker-message", markup=False)
            with Horizontal(id="picker-buttons"):
                yield Button("Load", id="picker-load", variant="primary", compact=True)
                yield Button("Cancel", id="picker-cancel", compact=True)

    @staticmethod
    def _row(label: str, widget: Input | Select[str]) -> ComposeResult:
        with Horizontal(classes="picker-row"):
            yield Label(label, classes="picker-label")
            yield widget

    def on_mount(self) -> None:
        self.query_one("#picker-body").border_title = "train on a CSV file"
        self.query_one("#picker-path", Input).focus()
        self._message(
            "Pick a .csv file (or type its path), then Load. Inputs and target: column names or "
            "0-based indices, comma-separated.",
            "",
        )

    # -- reading the form ----------------------------------------------------------------------

    def changes(self) -> dict[str, object]:
        """The form as config changes (ConfigError for a malformed field)."""
        path = self.query_one("#picker-path", Input).value.strip()
        task = self.query_one("#picker-task", Select).value
        delimiter = self.query_one("#picker-delimiter", Select).value
        return {
            "data": path,
            "inputs": parse_names("inputs", self.query_one("#picker-inputs", Input).value),
            "target": self.query_one("#picker-target", Input).value.strip(),
            "task": task if isinstance(task, str) else "auto",
            "delimiter": delimiter if isinstance(delimiter, str) else "",
            "drop_missing": self.query_one("#picker-drop", Checkbox).value,
        }

    # -- events ----------------------------------------------------------------------------------

    @on(DirectoryTree.FileSelected)
    def _file_selected(self, event: DirectoryTree.FileSelected) -> None:
        event.stop()
        self.query_one("#picker-path", Input).value = str(event.path)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_load()

    @on(Button.Pressed, "#picker-load")
    def _load_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_load()

    @on(Button.Pressed, "#picker-cancel")
    def _cancel_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_cancel()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_load(self) -> None:
        """Validate the form and read the file (in a thread); the result comes back to `_loaded`."""
        if self.loading:
            return
        try:
            changes = self.changes()
            if not changes["data"]:
                self._fail("choose a CSV file first (in the tree, or type its path)")
                return
            config = with_changes(self.base, changes)
        except NntuiError as exc:
            self._fail(str(exc))
            return
        self.loading = True
        self.query_one("#picker-load", Button).disabled = True
        self._message(f"reading {config.data} …", "")
        self._read(config)

    @work(thread=True, exclusive=True, exit_on_error=False, group="picker-load")
    def _read(self, config: TrainConfig) -> None:
        """The engine's loader, exactly as --data uses it; never raises into the app."""
        from nntui.engine.data import make_dataset

        try:
            ds = make_dataset(config)
        except NntuiError as exc:
            self.app.call_from_thread(self._failed_load, str(exc))
            return
        except Exception as exc:  # a loader bug must not close the screen or the app
            self.app.call_from_thread(self._failed_load, f"{type(exc).__name__}: {exc}")
            return
        notes = (*ds.notes, ds.stats_text())
        names = ", ".join(ds.input_names)
        classes = f", {ds.n_classes} classes" if ds.task == "classification" else ""
        rows = len(ds.x_train) + len(ds.x_test)
        summary = f"{Path(config.data).name}: {rows:,} rows, {names} → {ds.target_name} ({ds.task}{classes})"
        self.app.call_from_thread(self._loaded, LoadedData(config, notes, summary))

    def _failed_load(self, message: str) -> None:
        self.loading = False
        self.query_one("#picker-load", Button).disabled = False
        self._fail(message)

    def _loaded(self, loaded: LoadedData) -> None:
        self.loading = False
        self.error = None
        self.dismiss(loaded)

    def _fail(self, message: str) -> None:
        self.error = message
        self._message(message, "-error")

    def _message(self, text: str, cls: str) -> None:
        label = self.query_one("#picker-message", Static)
        label.update(text)
        label.set_class(cls == "-error", "-error")
