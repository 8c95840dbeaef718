"""The dashboard app: bindings, the mailbox timer, and the wiring between widgets and the host.

One-way flow: the control panel describes a config; the app asks the host to run it; the
trainer's events land in the host's mailbox; a timer at `ui_hz` drains the mailbox and
redraws only what changed. The app never touches a Trainer.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from textual import events, on
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Container, Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer

from nntui.engine.config import TrainConfig
from nntui.engine.events import (
    LayerHealth,
    LearningRateChanged,
    PaceChanged,
    RunFailed,
    RunFinished,
    StateChanged,
    Warned,
)
from nntui.engine.pace import Pace, describe
from nntui.engine.session import DEFAULT_CHECKPOINT_S, DivergencePolicy, ResumePlan
from nntui.ui.comparing import Comparing
from nntui.ui.host import RunHost, make_host
from nntui.ui.lifecycle import HangupPolicy, Lifecycle
from nntui.ui.mailbox import Drained
from nntui.ui.redraw import RedrawScheduler, default_ui_hz
from nntui.ui.replay import Replay
from nntui.ui.running import Running
from nntui.ui.screens.confirm_reset import ConfirmReset
from nntui.ui.views import Views
from nntui.ui.watching import Watching
from nntui.ui.widgets.controls import LIVE_FIELDS, ControlPanel, DeviceChoice
from nntui.ui.widgets.error_panel import ErrorPanel
from nntui.ui.widgets.fit_plot import FitPlot
from nntui.ui.widgets.ghost_boundary import SwitchableBoundary
from nntui.ui.widgets.gpu_panel import GpuPanel
from nntui.ui.widgets.health import HealthTable
from nntui.ui.widgets.landscape import LandscapePlot
from nntui.ui.widgets.loss_plot import LossPlot
from nntui.ui.widgets.notice import Notice
from nntui.ui.widgets.plot_panel import PlotPanel
from nntui.ui.widgets.status import RunStatus, StatusLine
from nntui.ui.widgets.too_small import MIN_HEIGHT, MIN_WIDTH, TooSmall

if TYPE_CHECKING:

    from nntui.engine.backprop.network import NetworkInput

class NntuiApp(Running, Comparing, Watching, Views, Lifecycle, App[int]):
    """Set up a network, press space, watch it learn; the keyboard stays live throughout."""

    CSS_PATH = "nntui.tcss"
    TITLE = "nntui"
    AUTO_FOCUS = None
    """No field focused at start: space and the letter keys work at once."""

    # the footer shows these in order and cuts the rest on a narrow terminal: the run keys,
    # then help and quit (80 columns still show them), then the views
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_run", "Start/Pause"),
        Binding("n", "step", "Step"),
        Binding("full_stop", "step", "Step", show=False),
        Binding("r", "reset", "Reset"),
        Binding("s", "stop", "Stop"),
        Binding("question_mark,f1", "help", "Help"),
        Binding("q", "quit", "Quit"),
        Binding("b", "backprop", "Backprop"),
        Binding("plus,equals_sign", "faster", "Faster", show=False),
        Binding("minus", "slower", "Slower", show=False),
        Binding("f", "full_speed", "Full speed", show=False),
        Binding("left", "scrub(-1)", "Replay back", show=False),
        Binding("right", "scrub(1)", "Replay on", show=False),
        Binding("home", "scrub_home", "First frame", show=False),
        Binding("end", "scrub_end", "Last frame", show=False),
        Binding("l", "toggle_log", "Log-y"),
        Binding("m", "toggle_smooth", "Smooth"),
        Binding("a", "gallery", "Activations"),
        Binding("o", "open_csv", "Open CSV"),
        Binding("p", "save_screenshot", "Screenshot"),
        Binding("c", "runs_table", "Runs"),
        Binding("ctrl+s", "save_screenshot", "Screenshot", show=False, priority=True),
        Binding("escape", "leave_field", "Leave field", show=False),
        # Textual's own ctrl+c only says "press ctrl+q"; here it means what it means in a shell
        Binding("ctrl+c", "interrupt", "Interrupt", show=False, priority=True),
    ]

    def __init__(
        self,
        config: TrainConfig,
        *,
        devices: list[DeviceChoice] | None = None,
        out: str | Path | None = None,
        ui_hz: float | None = None,
        resume: ResumePlan | None = None,
        host: str | None = None,
        checkpoint_every: float = DEFAULT_CHECKPOINT_S,
        on_diverge: DivergencePolicy = "pause",
        pace: Pace = "auto",
        compare: tuple[Path, ...] = (),
        on_hangup: HangupPolicy = "save",
    ) -> None:
        super().__init__()
        self.on_hangup: HangupPolicy = on_hangup
        """What a terminal hang-up with SIGHUP ignored does: save and exit 129, or train on."""
        self.headless_since_hangup = False
        self.compare_dirs = compare
        """Run directories to show as ghosts beside this session's runs (--compare)."""
        self.init_comparing()
        self.pace = pace
        """How fast runs go (epochs/s, "auto" or None for max): see engine/pace.py."""
        self.replay = Replay()
        self.network: NetworkInput | None = None
        """The newest whole network at rest (the backprop stepper's input)."""
        self._stepper_wanted = False
        self.config = config
        self.ui_hz = float(ui_hz) if ui_hz else default_ui_hz()
        self.host: RunHost = make_host(self, host, out=out, checkpoint_every=checkpoint_every, on_diverge=on_diverge)
        if devices is None and (found := self.host.devices) is not None:
            devices = [DeviceChoice(name, label) for name, label in found]
        self.devices = devices
        """None until the host has listed them (the process host's child does, after it imported torch)."""
        self.resume_plan = resume
        """A run to continue (from --resume); used by the first run only."""
        self.status = RunStatus(total=config.epochs, device=self._device_label(config.device))
        self.screenshot_dir = Path.cwd()
        self.run_config: TrainConfig | None = None
        self._pending_changes = False
        self._asking_reset = False
        self._too_small = False
        self.redraws = RedrawScheduler(self.ui_hz, lambda delay, draw: self.set_timer(delay, draw, name="redraw"))
        self._opening_gallery = False
        self._leaving = False
        self._signals: list[int] = []
        self.ended_by: str | None = None
        """SIGTERM, SIGHUP, SIGINT or Ctrl-C if one ended the app (the exit code says which)."""
        self.data_dir: Path | None = None
        """Where the file picker opens (default: the current CSV file's folder, else the working directory)."""
        self._pending_health: tuple[LayerHealth, ...] = ()
        self._health_shown_at = 0.0
        self.health_ms: deque[float] = deque(maxlen=512)
        """Wall time of recent health-table updates (the frame report)."""

    # -- layout ----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Container(id="dashboard"):
            with Horizontal(id="main"):
                yield ControlPanel(self.config, self.devices, pace=self.pace, id="controls")
                with Vertical(id="plots"):
                    yield ErrorPanel(id="error-panel")
                    yield Notice(id="notice")
                    yield LossPlot(id="loss-plot")
                    with Horizontal(id="fit-row"):
                        # the fit curve (or predicted vs actual); for 2-D classes the boundary instead
                        yield FitPlot(id="fit-plot")
                        yield SwitchableBoundary(id="boundary-plot")
                        # beside the fit, for one- and two-parameter models only
                        yield LandscapePlot(id="landscape-plot")
                    with Horizontal(id="health-row"):
                        yield HealthTable(id="health-table")
                        yield GpuPanel(id="gpu-panel")  # cuda runs only
            yield StatusLine(id="status")
        yield TooSmall(id="too-small")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.loss_plot = self.query_one(LossPlot)
        self.fit_plot = self.query_one(FitPlot)
        self.boundary = self.query_one(SwitchableBoundary)
        self.landscape = self.query_one(LandscapePlot)
        self.health = self.query_one(HealthTable)
        self.boundary.display = False
        self.landscape.display = False
        self.health.display = self.config.health
        self.gpu = self.query_one(GpuPanel)
        self.gpu.display = False
        self.query_one("#health-row").display = self.config.health
        self.panel = self.query_one(ControlPanel)
        self.status_line = self.query_one(StatusLine)
        self.error_panel = self.query_one(ErrorPanel)
        self.notice = self.query_one(Notice)
        self._check_size()
        self.status_line.show(self.status)
        self._ticker = self.set_interval(1 / self.ui_hz, self._tick, name="ui-tick")
        self._install_signal_handlers()
        self.call_after_refresh(self._freeze_startup_objects)
        self.read_compare_dirs()
        if self.resume_plan is not None:
            plan = self.resume_plan
            self._start_run(self.config, paused=True, resume=plan.rundir, start_epoch=plan.epoch)
            if plan.finished:
                self.notice.show_notice(
                    f"Resumed at epoch {plan.epoch}: this run has all its {self.config.epochs} epochs. To go on, "
                    f"quit and run nntui --resume {plan.rundir} --epochs N with N above {plan.epoch}.",
                    "info",
                )
            else:
                self.notice.show_notice(
                    f"Resumed at epoch {plan.epoch} of {self.config.epochs}: press space to continue training.", "info"
                )

    def _device_label(self, name: str) -> str:
        for d in self.devices or ():
            if d.name == name:
                return d.label
        return self.devices[0].label if name == "auto" and self.devices else name

    def _take_devices(self) -> None:
        """The host listed its devices (after start-up): into the panel and the status line."""
        found = self.host.devices
        if found is None:
            return
        self.devices = [DeviceChoice(name, label) for name, label in found]
        self.panel.set_devices(self.devices)
        if self.run_config is None:
            self.status.device = self._device_label(self.panel.committed.device)

    # -- the timer: drain, apply, redraw what changed ----------------------------------------------

    def _tick(self) -> None:
        if not self.is_running:
            return
        if self.headless_since_hangup:
            self._tick_without_terminal()
            return
        if not self.panel.devices_known:
            self._take_devices()
        drained = self.host.mailbox.drain()
        if drained is not None:
            self._apply(drained)
        self._redraw()

    def _apply(self, d: Drained) -> None:
        s = self.status
        if d.started is not None:
            started = d.started
            self.fit_plot.set_run(started)
            self.boundary.set_run(started)
            self.landscape.display = self.landscape.start_run(started)
            self.boundary.display = started.task == "classification" and len(started.input_names) == 2
            self.fit_plot.display = not self.boundary.display
            self.health.display = started.config.health
            self._show_gpu(started.device)
            s.device = started.device_label
            s.total = started.config.epochs
            s.start_epoch = s.epoch = started.start_epoch
            if s.state == "starting":
                s.state = "paused" if self.host.paused else "running"
            self.loss_plot.set_baseline(started.baseline.train_loss if started.baseline is not None else None)
            if started.data_notes:
                # what the loader found and did (delimiter, dropped rows, standardization statistics)
                self.notice.show_notice("\n".join(started.data_notes), "info")
            self.loss_plot.waiting = "waiting for the first epochs…"
            self.fit_plot.waiting = "waiting for the first fit…"
        self.loss_plot.extend(d.epochs, d.train_loss, d.test_epochs, d.test_loss)
        finite = d.train_loss[np.isfinite(d.train_loss)]
        if len(finite):
            s.loss = float(d.train_loss[-1])
            low = float(finite.min())
            s.best = low if not math.isfinite(s.best) else min(s.best, low)
        if len(d.test_loss):
            s.test_loss = float(d.test_loss[-1])
        if d.stats is not None:
            st = d.stats
            s.epoch = st.last_epoch
            s.total = st.total_epochs
            s.steps_per_s = st.steps_per_s
            s.elapsed_s = st.elapsed_s
            s.lr = st.lr
            s.metrics = dict(st.metrics)
            if st.peak_memory is not None:
                self.gpu.set_peak_memory(st.peak_memory)
        if d.landscape is not None:
            self.landscape.set_landscape(d.landscape.landscape)
        if d.params is not None:
            self.landscape.add_path(d.params)
        if d.stats is not None and d.stats.health:
            self._pending_health = d.stats.health
        if self.replay.record(d.fits):
            self._show_frame(self.replay.frame)
        if d.fit is not None and not self.replay.active:
            self.fit_plot.set_fit(d.fit)
            self.boundary.set_fit(d.fit)
        if d.network is not None:
            self.network = d.network.network
            if self._stepper_wanted and len(self.screen_stack) == 1:
                self.open_stepper()
        for note in d.notes:
            if isinstance(note, StateChanged):
                if note.reason:
                    s.state = "diverged"
                    try_lr = f" to {note.suggested_lr:g} (it lowered the loss in a trial)" if note.suggested_lr else ""
                    self.notice.show_notice(
                        f"Diverged: {note.reason}\nLower the learning rate{try_lr}: type it in the lr field, "
                        "Enter, then space to go on from those weights, or r to reset.",
                        "warning",
                    )
                    self.notify("Diverged: paused (see the note above the plots).", severity="warning", timeout=6)
                elif s.state not in ("done", "stopped", "failed"):
                    s.state = note.state if note.state in ("running", "paused") else s.state
                    if note.state == "running" and self.notice.shown and self.notice.has_class("-warning"):
                        self.notice.hide()
            elif isinstance(note, Warned):
                diverged = any(isinstance(n, StateChanged) and n.reason == note.message for n in d.notes)
                if not diverged:
                    self.notice.show_notice(note.message, "info")
            elif isinstance(note, PaceChanged):
                s.pace = describe(note.pace) if note.cap is not None or note.pace is None else ""
                s.pace_cap = note.cap
                if note.epoch > s.start_epoch:
                    self.loss_plot.add_marker(note.epoch, f"pace {describe(note.pace, note.cap)}")
            elif isinstance(note, LearningRateChanged):
                self.loss_plot.add_marker(note.epoch, f"lr {note.new:g}")
                s.lr = note.new
                self.notify(f"Learning rate {note.old:g} → {note.new:g} from epoch {note.epoch}.", timeout=4)
        if d.finished is not None:
            self.host.mark_finished()
            fin = d.finished
            if isinstance(fin, RunFailed):
                s.state = "failed"
                self.error_panel.show_error(fin.error, fin.detail)
                self.notify(f"Training failed: {fin.error}", severity="error", timeout=8)
            elif isinstance(fin, RunFinished):
                s.state = fin.reason if fin.reason in ("done", "stopped", "diverged") else "stopped"
                s.epoch = fin.epoch
                s.steps_per_s = fin.steps_per_s  # the run's overall rate, not the last chunk's
                if math.isfinite(fin.final_loss):
                    s.loss = fin.final_loss
                if math.isfinite(fin.best_loss):
                    s.best = fin.best_loss
                if fin.reason == "done":
                    self.notify(
                        f"Done: {fin.epoch:,} epochs, loss {fin.final_loss:.4g}, {fin.steps_per_s:,.0f} steps/s."
                    )
                self.keep_run(fin)
        self.panel.run_state = s.state

    @property
    def plots(self) -> tuple[PlotPanel, ...]:
        """The plots on screen now (hidden ones are not drawn)."""
        shown = (self.loss_plot, self.fit_plot, self.boundary, self.landscape)
        return tuple(plot for plot in shown if plot.display)

    def _redraw(self) -> None:
        """Plots only when stale, at most at ui_hz, and within their CPU budget while training."""
        if not self._too_small:
            training = self.status.state == "running"
            rationed = getattr(self.host, "shares_interpreter", False)
            fast = (self.loss_plot, self.fit_plot, self.boundary) if self.status.pace_cap else (self.loss_plot,)
            drawn = self.redraws.redraw(self.plots, fast, training=training, rationed=rationed)
            now = time.monotonic()
            if drawn and self._pending_health and (
                not training or now - self._health_shown_at >= self.redraws.slow_period * 0.9
            ):
                self._show_health(now)
        self.status_line.show(self.status)

    def _show_health(self, now: float) -> None:
        """The latest per-layer health into the table (only the cells whose text changed)."""
        rows, self._pending_health = self._pending_health, ()
        self._health_shown_at = now
        if self.health.display:
            started = time.perf_counter()
            self.health.update_health(rows)
            self.health_ms.append((time.perf_counter() - started) * 1000)

    # -- starting and stopping runs -------------------------------------------------------------


    def _show_gpu(self, device: str) -> None:
        """The GPU panel beside the health table for a cuda run (NVML sampled in a thread)."""
        cuda = device.startswith("cuda")
        self.gpu.display = cuda
        self.query_one("#health-row").display = cuda or self.health.display
        if cuda:
            self.gpu.start_monitor(int(device.partition(":")[2] or 0))
        else:
            self.gpu.stop_monitor()


    # -- messages from the widgets ------------------------------------------------------------------

    @on(ControlPanel.ActionRequested)
    async def _panel_action(self, event: ControlPanel.ActionRequested) -> None:
        await self.run_action(event.action)

    @on(ControlPanel.ConfigChanged)
    def _config_changed(self, event: ControlPanel.ConfigChanged) -> None:
        self.status.note = ""
        if not self.host.active:
            self.status.total = event.config.epochs
            self.status.device = self._device_label(event.config.device)
            self.status_line.show(self.status)
            return
        if "lr" in event.changed:
            self.host.set_lr(event.config.lr)
        needs_reset = event.changed - LIVE_FIELDS
        if not needs_reset:
            return
        if self._pending_changes or self._asking_reset:
            return
        old = self.run_config
        shown = ", ".join(
            f"{name}: {_show(getattr(old, name)) if old else '?'} → {_show(getattr(event.config, name))}"
            for name in sorted(needs_reset)
        )
        self._asking_reset = True
        self.push_screen(ConfirmReset(f"Changed {shown}."), self._reset_answered)


    @on(ControlPanel.PaceChanged)
    def _pace_changed(self, event: ControlPanel.PaceChanged) -> None:
        self.set_pace(event.pace)

    @on(ErrorPanel.Dismissed)
    def _error_dismissed(self) -> None:
        self.screen.set_focus(None)

    # -- terminal size -------------------------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        self._check_size(event.size.width, event.size.height)

    def _check_size(self, width: int | None = None, height: int | None = None) -> None:
        if width is None or height is None:
            width, height = self.size
        small = width < MIN_WIDTH or height < MIN_HEIGHT
        try:
            dashboard = self.query_one("#dashboard")
            note = self.query_one(TooSmall)
        except Exception:
            return
        if small:
            note.show_size(width, height)
        if small != self._too_small or dashboard.display == small:
            self._too_small = self.redraws.blocked = small
            dashboard.display = not small
            note.display = small
            if not small:
                for plot in self.plots:
                    plot.redraw()

    # -- command palette -------------------------------------------------------------------------------

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Start / pause / resume", "Start a run, or pause or resume it (space)",
                            self.action_toggle_run)
        yield SystemCommand("Step one epoch", "Train one epoch, then pause (n)", self.action_step)
        yield SystemCommand("Reset", "A new run from epoch 0, paused; same seed, same weights (r)", self.action_reset)
        yield SystemCommand("Stop", "Stop the current run (s)", self.action_stop)
        yield SystemCommand("Log-scale loss", "Toggle the loss plot's log y axis (l)", self.action_toggle_log)
        yield SystemCommand("Smoothing", "Toggle smoothing of the loss curve (m)", self.action_toggle_smooth)
        yield SystemCommand("Save screenshot (SVG)", "Save an SVG screenshot of the dashboard (p)",
                            self.action_save_screenshot)
        yield SystemCommand("Activation gallery", "Every activation's curve and derivative; pick one (a)",
                            self.action_gallery)
        yield SystemCommand("Open CSV…", "Train on your own data: choose a CSV file (o)", self.action_open_csv)
        yield SystemCommand("Backprop stepper", "Take one gradient step apart, node by node (b)",
                            self.action_backprop)
        yield SystemCommand("Runs table", "Earlier runs and run directories: ghosts, numbers, fits (c)",
                            self.action_runs_table)
        yield SystemCommand("Slower", "Pace: the next slower speed (-)", self.action_slower)
        yield SystemCommand("Faster", "Pace: the next faster speed (+)", self.action_faster)
        yield SystemCommand("Full speed", "Pace: max, no cap (f)", self.action_full_speed)
        yield SystemCommand("Help", "Keys and how the dashboard works (?)", self.action_help)


    # -- measurements -----------------------------------------------------------------------------------

    def frame_report(self) -> dict[str, dict[str, float]]:
        """Build cost of each plot's recent redraws (ms): for the benchmark and the closing note."""
        out: dict[str, dict[str, float]] = {}
        timed: tuple[tuple[str, Iterable[float], Iterable[float]], ...] = (
            ("loss", self.loss_plot.frame_ms, self.loss_plot.frame_cpu_ms),
            ("fit", self.fit_plot.frame_ms, self.fit_plot.frame_cpu_ms),
            ("boundary", self.boundary.frame_ms, self.boundary.frame_cpu_ms),
            ("landscape", self.landscape.frame_ms, self.landscape.frame_cpu_ms),
            ("health", self.health_ms, self.health_ms),
        )
        for name, wall, cpu_time in timed:
            ms = sorted(wall)
            cpu = sorted(cpu_time)
            if ms:
                out[name] = {
                    "n": float(len(ms)),
                    "median_ms": ms[len(ms) // 2],
                    "p95_ms": ms[min(len(ms) - 1, int(len(ms) * 0.95))],
                    "median_cpu_ms": cpu[len(cpu) // 2],
                }
        return out


def _show(value: object) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value)) or "(none)"
    return str(value)
