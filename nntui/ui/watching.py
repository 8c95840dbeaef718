"""Watching a run learn: its pace (+/-, f), replay of its film (←/→, Home/End) and the
backprop stepper (b). The dashboard app mixes these actions in; they only talk to the
host, the replay state and the widgets, never to a trainer.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nntui.engine.events import FitUpdated
from nntui.engine.film import Film, FilmError
from nntui.engine.formats import fmt_loss
from nntui.engine.pace import Pace, describe, faster, slower
from nntui.ui.replay import Replay

if TYPE_CHECKING:
    from nntui.engine.backprop.network import NetworkInput
    from nntui.ui.host import RunHost
    from nntui.ui.widgets.boundary import BoundaryPlot
    from nntui.ui.widgets.controls import ControlPanel
    from nntui.ui.widgets.fit_plot import FitPlot
    from nntui.ui.widgets.health import HealthTable
    from nntui.ui.widgets.loss_plot import LossPlot
    from nntui.ui.widgets.notice import Notice
    from nntui.ui.widgets.status import RunStatus, StatusLine


class Watching:
    """Pace, replay and stepper actions for the dashboard app (a mixin: the app supplies
    the widgets and the host named below)."""

    host: RunHost
    status: RunStatus
    status_line: StatusLine
    panel: ControlPanel
    loss_plot: LossPlot
    fit_plot: FitPlot
    boundary: BoundaryPlot
    health: HealthTable
    notice: Notice
    pace: Pace
    replay: Replay
    network: NetworkInput | None
    _stepper_wanted: bool

    if TYPE_CHECKING:  # provided by App (stubs here would shadow App's methods at run time)

        def notify(self, message: str, **kwargs: Any) -> None: ...

        def push_screen(self, screen: Any, *args: Any, **kwargs: Any) -> Any: ...

    # -- pace ---------------------------------------------------------------------------------------

    def action_slower(self) -> None:
        """-: the next slower pace (from the rate the run has now)."""
        self._change_pace(slower(self.pace, self._current_rate()))

    def action_faster(self) -> None:
        """+: the next faster pace; past the fastest level, max."""
        self._change_pace(faster(self.pace, self._current_rate()))

    def action_full_speed(self) -> None:
        """f: max speed at once."""
        self._change_pace(None)

    def _current_rate(self) -> float | None:
        """The cap the run has now (auto resolved), else None (full speed)."""
        return self.status.pace_cap if self.pace is not None else None

    def _change_pace(self, pace: Pace) -> None:
        self.pace = pace
        self.panel.set_pace(pace)
        self.set_pace(pace)

    def set_pace(self, pace: Pace) -> None:
        """A pace from the keys or the panel: to the running trainer at once, else the next run."""
        self.pace = pace
        if self.host.active:
            self.host.set_pace(pace)
        else:
            self.status.pace = describe(pace) if pace is not None else ""
            self.status_line.show(self.status)
        self.notify(f"Pace: {describe(pace)}" + ("" if self.host.active else " (for the next run)"), timeout=3)

    # -- replay ---------------------------------------------------------------------------------------

    def load_film(self, rundir: Path, epoch: int) -> None:
        """A resumed run's film, up to its checkpoint; a missing or damaged one is said once."""
        try:
            self.replay = Replay(Film.load(rundir, up_to_epoch=epoch))
        except FilmError as exc:
            self.replay = Replay()
            if (rundir / "film.npz").exists():
                self.notify(str(exc), severity="warning", timeout=8)

    def action_scrub(self, step: int) -> None:
        """←/→: one frame back or on. Training pauses first (replay shows a still run)."""
        if not self._ready_for_replay():
            return
        self._show_frame(self.replay.move(step) if self.replay.active else self.replay.enter())

    def action_scrub_home(self) -> None:
        if self._ready_for_replay():
            self._show_frame(self.replay.home())

    def action_scrub_end(self) -> None:
        if self._ready_for_replay():
            self._show_frame(self.replay.end())

    def _ready_for_replay(self) -> bool:
        if not self.replay.film.frames:
            self.notify("Nothing to replay yet: start or step a run first.", timeout=3)
            return False
        if self.status.state == "running":
            self.host.pause()
            self.status.state = "paused"
            self.panel.run_state = "paused"
            self.notify("Paused for replay: ←/→ and Home/End scrub; space, n or r goes on.", timeout=4)
        return True

    def _show_frame(self, frame: FitUpdated | None) -> None:
        if frame is None:
            return
        self.fit_plot.set_fit(frame)
        self.boundary.set_fit(frame)
        for plot in (self.fit_plot, self.boundary):
            if plot.display:
                plot.redraw()  # a key press: show it now, not at the next tick
        self.loss_plot.set_cursor(frame.epoch)
        n, i = len(self.replay.film), (self.replay.cursor or 0) + 1
        loss = f"loss {fmt_loss(frame.loss)}" if math.isfinite(frame.loss) else "loss —"
        self.status.replay = f"epoch {frame.epoch:,} │ {loss} │ frame {i}/{n}"
        if self.health.display:
            rows = self.replay.health_at(frame.epoch)
            if rows:
                self.health.update_health(rows)
            else:
                self.health.reset(f"health was not recorded at epoch {frame.epoch:,}")
        self.status_line.show(self.status)

    def leave_replay(self) -> None:
        """Any run key (space, step, reset) goes back to the live view."""
        if not self.replay.active:
            return
        latest = self.replay.leave()
        self.loss_plot.set_cursor(None)
        self.status.replay = ""
        if latest is not None:
            self.fit_plot.set_fit(latest)
            self.boundary.set_fit(latest)
        if self.health.display:
            self.health.reset()
        self.status_line.show(self.status)

    # -- the backprop stepper ----------------------------------------------------------------------------

    def action_backprop(self) -> None:
        """b: take one gradient step apart. A running run pauses first (the stepper shows the
        network at rest); it opens when the trainer has sent that network."""
        if self.status.state == "running" and self.host.active:
            self.host.pause()
            self.status.state = "paused"
            self.panel.run_state = "paused"
            self._stepper_wanted = True
            self.notify("Paused: opening the backprop stepper…", timeout=3)
            return
        self.open_stepper()

    def open_stepper(self) -> None:
        from nntui.ui.screens.backprop import BackpropScreen

        self._stepper_wanted = False
        self.push_screen(BackpropScreen(self.network, lesson=3 if self.network is not None else 0))
