"""Starting, pausing, stepping, resetting and stopping runs: the run keys and the Start/
Step/Reset/Stop buttons. A mixin of the app: it talks to the host, never to a trainer."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from textual.app import App

from nntui.engine.config import TrainConfig, config_summary
from nntui.engine.errors import ConfigError
from nntui.ui.replay import Replay
from nntui.ui.widgets.status import RunStatus

if TYPE_CHECKING:
    from nntui.engine.backprop.network import NetworkInput
    from nntui.engine.pace import Pace
    from nntui.ui.host import RunHost
    from nntui.ui.widgets.boundary import BoundaryPlot
    from nntui.ui.widgets.controls import ControlPanel
    from nntui.ui.widgets.error_panel import ErrorPanel
    from nntui.ui.widgets.fit_plot import FitPlot
    from nntui.ui.widgets.health import HealthTable
    from nntui.ui.widgets.landscape import LandscapePlot
    from nntui.ui.widgets.loss_plot import LossPlot
    from nntui.ui.widgets.notice import Notice
    from nntui.ui.widgets.plot_panel import PlotPanel
    from nntui.ui.widgets.status import StatusLine

    _Base = App[int]
else:
    _Base = object


class Running(_Base):
    """The run keys; what they do depends on whether a run is going."""

    host: RunHost
    status: RunStatus
    status_line: StatusLine
    panel: ControlPanel
    notice: Notice
    error_panel: ErrorPanel
    loss_plot: LossPlot
    fit_plot: FitPlot
    boundary: BoundaryPlot
    landscape: LandscapePlot
    health: HealthTable
    run_config: TrainConfig | None
    replay: Replay
    _pending_changes: bool
    _pending_health: tuple[object, ...]

    if TYPE_CHECKING:  # the app and its other mixins provide these
        pace: Pace
        network: NetworkInput | None

        @property
        def plots(self) -> tuple[PlotPanel, ...]: ...

        def _device_label(self, name: str) -> str: ...

        def leave_replay(self) -> None: ...

        def load_film(self, rundir: Path, epoch: int) -> None: ...

        def retire_run(self, config: TrainConfig) -> None: ...

    def _config_or_refuse(self, verb: str) -> TrainConfig | None:
        """The panel's config, or None after telling the user what to fix."""
        try:
            return self.panel.build_config()
        except ConfigError as exc:
            problems = self.panel.problems() or {exc.field: str(exc)}
            field, reason = next(iter(problems.items()))
            self.notify(f"Cannot {verb}: fix {field}: {reason}", severity="error", timeout=8)
            self.status.note = f"fix {', '.join(problems)} to {verb}"
            self.status_line.show(self.status)
            self.panel.focus_field(field)
            return None

    def _start_run(
        self, config: TrainConfig, *, paused: bool, resume: Path | None = None, start_epoch: int = 0
    ) -> None:
        self.retire_run(config)  # the run on screen stays as a ghost
        self.error_panel.hide()
        if not (resume is not None and self.notice.has_class("-info")):
            self.notice.hide()
        self.run_config = config
        self._pending_changes = False
        self.status = RunStatus(
            state="starting", total=config.epochs, device=self._device_label(config.device),
            start_epoch=start_epoch, epoch=start_epoch,
        )
        self.leave_replay()
        self.network = None
        if resume is not None:
            self.load_film(resume, start_epoch)
        else:
            self.replay = Replay()
        self.loss_plot.clear("starting…")
        self.fit_plot.clear("starting…")
        self.boundary.clear("starting…")
        self.landscape.reset()
        self.health.reset()
        self._pending_health = ()
        self.host.start(config, paused=paused, resume=resume, pace=self.pace)
        self.panel.run_state = "paused" if paused else "running"
        for plot in self.plots:
            plot.redraw()
        self.status_line.show(self.status)
        self.log.info(f"run {self.host.generation}: {config_summary(config)}")

    def action_toggle_run(self) -> None:
        """Space: start a new run, or pause / resume the current one."""
        self.leave_replay()
        if self.host.active:
            if self.status.state == "running":
                self.host.pause()
                self.status.state = "paused"
            else:
                self.host.resume()
                self.status.state = "running"
                if self.notice.shown and self.notice.has_class("-warning"):
                    self.notice.hide()
            self.panel.run_state = self.status.state
            self.status_line.show(self.status)
            return
        config = self._config_or_refuse("start")
        if config is not None:
            self._start_run(config, paused=False)

    def action_step(self) -> None:
        """One epoch, then paused (pauses a running run after its next epoch)."""
        self.leave_replay()
        if not self.host.active:
            config = self._config_or_refuse("step")
            if config is None:
                return
            self._start_run(config, paused=True)
        self.host.step(1)
        self.status.state = "paused"
        self.panel.run_state = "paused"
        self.status_line.show(self.status)

    def action_reset(self) -> None:
        """A new run from epoch 0, paused: same seed, same initial weights."""
        self.leave_replay()
        config = self._config_or_refuse("reset")
        if config is not None:
            self._start_run(config, paused=True)
            self.notify("Reset: a new run from epoch 0, paused. Space trains, n steps one epoch.", timeout=4)

    def action_stop(self) -> None:
        if self.host.active:
            self.host.stop()
            self.status.state = "stopping"
            self.status_line.show(self.status)

    def _reset_answered(self, reset: bool | None) -> None:
        self._asking_reset = False
        if reset:
            self.action_reset()
        else:
            self._pending_changes = True
            self.status.note = "changes apply on reset (r)"
            self.status_line.show(self.status)
