"""The view keys every nntui app has (the dashboard, `nntui watch`, the sweep's dashboard):
log-y, smoothing and an SVG screenshot, on the app's loss plot."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import App

if TYPE_CHECKING:
    from nntui.ui.widgets.loss_plot import LossPlot

    _Base = App[int]
else:
    _Base = object


class PlotKeys(_Base):
    """l, m and p (ctrl+s): the bindings live with each app, the actions here."""

    screenshot_dir: Path | str

    if TYPE_CHECKING:  # each app has its own kind of loss plot (read-only here: covariant)

        @property
        def loss_plot(self) -> LossPlot: ...

    def action_toggle_log(self) -> None:
        self.loss_plot.set_options(log_y=not self.loss_plot.log_y)

    def action_toggle_smooth(self) -> None:
        self.loss_plot.set_options(smooth=not self.loss_plot.smooth)

    def action_save_screenshot(self) -> None:
        try:
            path = self.save_screenshot(path=str(self.screenshot_dir))
        except OSError as exc:
            self.notify(f"Could not save the screenshot: {exc}", severity="error")
            return
        self.notify(f"Screenshot saved: {path}", timeout=6)
