"""The dashboard's views and tools: plot toggles, screenshot, help, the activation gallery,
the CSV picker, and the command palette that lists every action. A mixin of the app."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import App

from nntui.engine.errors import ConfigError
from nntui.ui.plot_keys import PlotKeys
from nntui.ui.screens.file_picker import FilePickerScreen, LoadedData
from nntui.ui.screens.help import HelpScreen

if TYPE_CHECKING:
    from nntui.ui.widgets.controls import ControlPanel
    from nntui.ui.widgets.error_panel import ErrorPanel
    from nntui.ui.widgets.loss_plot import LossPlot
    from nntui.ui.widgets.notice import Notice

    _Base = App[int]
else:
    _Base = object


class Views(PlotKeys):
    """Actions that look at or load things; none of them trains."""

    loss_plot: LossPlot
    panel: ControlPanel
    notice: Notice
    error_panel: ErrorPanel
    screenshot_dir: Path
    data_dir: Path | None
    _opening_gallery: bool

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_gallery(self) -> None:
        """a: the activation gallery; choosing one sets it for every hidden layer in the panel.

        The gallery draws the engine's own torch activations, and the dashboard otherwise
        never imports torch in this process (the process host trains in a child): the first
        opening imports it in a thread (about 2 s here) while the UI stays live.
        """
        if len(self.screen_stack) > 1 or self._opening_gallery:
            return  # a dialog is open: its own keys only
        if "nntui.ui.screens.gallery" in sys.modules:
            self._open_gallery()
            return
        self._opening_gallery = True
        self.notify("Opening the activation gallery…", timeout=2)

        def load() -> None:
            try:
                import nntui.ui.screens.gallery  # noqa: F401  (torch: seconds, off the UI thread)
            except Exception as exc:
                self.call_from_thread(self._gallery_failed, f"{type(exc).__name__}: {exc}")
                return
            self.call_from_thread(self._open_gallery)

        self.run_worker(load, name="gallery-import", group="gallery-import", thread=True, exit_on_error=False)

    def _gallery_failed(self, error: str) -> None:
        self._opening_gallery = False
        self.notify(f"The activation gallery could not open: {error}", severity="error", timeout=8)

    def _open_gallery(self) -> None:
        from nntui.ui.screens.gallery import GalleryScreen

        self._opening_gallery = False
        if len(self.screen_stack) > 1:
            return
        text = self.panel.texts().get("activation", "")
        current = text.split(",")[0].strip().lower().replace("-", "_")
        self.push_screen(GalleryScreen(current), self._activation_chosen)

    def _activation_chosen(self, name: str | None) -> None:
        if not name:
            return
        if self.panel.set_field("activation", name):
            self.notify(f"Activation {name} for every hidden layer.", timeout=4)
        else:
            problem = self.panel.problems()
            field, reason = next(iter(problem.items()), ("activation", "not valid here"))
            self.notify(f"Activation {name} set, but {field}: {reason}", severity="warning", timeout=8)

    def action_open_csv(self) -> None:
        """o: choose a CSV file; the loader checks it before anything changes."""
        if len(self.screen_stack) > 1:
            return  # a dialog is open: its own keys only
        try:
            base = self.panel.build_config()
        except ConfigError:
            base = self.panel.committed
        start = self.data_dir
        if start is None:
            start = Path(base.data).expanduser().parent if base.dataset == "csv" and base.data else Path.cwd()
        self.push_screen(FilePickerScreen(base, start), self._data_chosen)

    def _data_chosen(self, loaded: LoadedData | None) -> None:
        """A CSV file that loaded: into the panel (a running run asks to reset), what the
        loader found (delimiter, dropped rows, standardization) into the notice."""
        if loaded is None:
            return
        self.data_dir = Path(loaded.config.data).expanduser().parent
        if not self.panel.use_data(loaded.config):
            self.notify("The CSV file loaded, but the settings do not fit it: see the marked fields.",
                        severity="warning", timeout=8)
        self.notice.show_notice("\n".join((loaded.summary, *loaded.notes)), "info")

    def action_leave_field(self) -> None:
        """Esc: leave the field being edited (so keys work again), else close the error panel."""
        if self.focused is not None:
            self.screen.set_focus(None)
        elif self.error_panel.shown:
            self.error_panel.hide()
