"""Comparing runs in the dashboard: ghosts on the loss plot and the runs table (c).

Every run of the session that finishes, is stopped, or is replaced by a reset while it had
epochs is kept (the last MAX_SESSION_RUNS of them) with its numbers, its loss history and
its last fit; run directories from `--compare DIR` or the table's path box join them, read
from their files in a thread. The kept runs are drawn dimmed under the live curves, each
labelled by what differs from the current config. The dashboard app mixes these actions
in; they talk to the loss plot, the boundary panel, the control panel and the notice, never
to a trainer.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from nntui.engine.compare import CompareError, RunResult, read_run_dir
from nntui.engine.config import config_summary
from nntui.engine.events import RunFinished
from nntui.ui.screens.runs_table import RunsTable, TableState
from nntui.ui.widgets.ghost_boundary import SwitchableBoundary
from nntui.ui.widgets.loss_plot import GhostCurve

if TYPE_CHECKING:
    from textual.app import App

    from nntui.engine.config import TrainConfig
    from nntui.ui.host import RunHost
    from nntui.ui.replay import Replay
    from nntui.ui.widgets.boundary import BoundaryPlot
    from nntui.ui.widgets.controls import ControlPanel
    from nntui.ui.widgets.fit_plot import FitPlot
    from nntui.ui.widgets.loss_plot import LossPlot
    from nntui.ui.widgets.notice import Notice
    from nntui.ui.widgets.status import RunStatus

MAX_SESSION_RUNS = 16
"""This session's runs kept for comparison (the oldest goes first); directories are not counted."""


class Comparing:
    """Ghosts and the runs table for the dashboard app (a mixin: the app supplies the
    widgets and the host named below, and calls `keep_run` and `retire_run`)."""

    host: RunHost
    status: RunStatus
    panel: ControlPanel
    loss_plot: LossPlot
    fit_plot: FitPlot
    boundary: BoundaryPlot
    """The app's is a SwitchableBoundary (`switchable`)."""
    notice: Notice
    replay: Replay
    run_config: TrainConfig | None
    compare_dirs: tuple[Path, ...]

    if TYPE_CHECKING:  # provided by App (stubs here would shadow App's methods at run time)
        screen: Any
        screen_stack: list[Any]

        def notify(self, message: str, **kwargs: Any) -> None: ...

        def push_screen(self, screen: Any, *args: Any, **kwargs: Any) -> Any: ...

        def call_from_thread(self, callback: Any, *args: Any, **kwargs: Any) -> Any: ...

    def init_comparing(self) -> None:
        """State the app's __init__ sets up (a mixin has no __init__ of its own in App's MRO)."""
        self.kept_runs: list[RunResult] = []
        """Runs kept for comparison, oldest first."""
        self.current_run_key: int | None = None
        """The kept run that is still the one on screen (its live curve is drawn; no ghost)."""
        self._run_number = 0
        self._next_key = 0
        self._current_kept = False
        self._run_dir: Path | None = None
        self._compare_problems: list[str] = []

    # -- keeping runs ---------------------------------------------------------------------------

    def keep_run(self, finished: RunFinished | None = None) -> None:
        """The run on screen ended (`finished`) or is being replaced (None): keep it for
        comparison, once, if it trained at least one epoch."""
        if self._current_kept or self.run_config is None or not len(self.loss_plot.train):
            return
        s = self.status
        frames = self.replay.film.frames
        status: str
        if finished is not None:
            status, epochs, final, best = finished.reason, finished.epoch, finished.final_loss, finished.best_loss
            elapsed, metrics = finished.elapsed_s, dict(finished.metrics or s.metrics)
        else:
            status = s.state if s.state in ("diverged", "stopped", "done") else "stopped"
            epochs, final, best, elapsed, metrics = s.epoch, s.loss, s.best, s.elapsed_s, dict(s.metrics)
        run = RunResult(
            key=self._next_key, name=f"run {self._run_number}", config=self.run_config, status=status,
            epochs=epochs, final_loss=final, best_loss=best, elapsed_s=elapsed, metrics=metrics,
            train=self.loss_plot.train,  # the live history itself: clear() gives the plot a new one
            fit=frames[-1] if frames else None, started=self.fit_plot.started, rundir=self._run_dir,
        )
        self._next_key += 1
        self._current_kept = True
        self.current_run_key = run.key if finished is not None else None
        self.kept_runs.append(run)
        session = [r for r in self.kept_runs if r.from_session]
        for old in session[:-MAX_SESSION_RUNS]:
            self.kept_runs.remove(old)
        self.ghosts_changed()

    def retire_run(self, config: TrainConfig) -> None:
        """A new run of `config` replaces the one on screen (first thing `_start_run` does):
        the old one is kept if it was not yet, and every kept run becomes a ghost labelled
        against the new config."""
        self.keep_run(None)
        self._current_kept = False
        self.current_run_key = None
        self._run_number += 1
        dirs = self.host.run_dirs
        # the directory RunDirs.next() gives this run when the host starts it
        self._run_dir = None if dirs.out is None else (
            dirs.out if dirs.count == 0 else dirs.out.with_name(f"{dirs.out.name}-{dirs.count + 1}"))
        self.ghosts_changed(config)

    def current_config(self) -> TrainConfig:
        """What ghosts are labelled against: the run on screen's config, else the panel's."""
        return self.run_config or self.panel.committed

    def ghost_labels(self, current: TrainConfig | None = None) -> dict[int, str]:
        base = current or self.current_config()
        return {run.key: run.label(base) for run in self.kept_runs}

    def ghosts_changed(self, current: TrainConfig | None = None) -> None:
        """Labels, the loss plot's ghosts and an open runs table, after any change."""
        labels = self.ghost_labels(current)
        self.loss_plot.set_ghosts([
            GhostCurve(run.key, labels[run.key], run.train)
            for run in self.kept_runs if run.visible and run.key != self.current_run_key
        ])
        if isinstance(self.screen, RunsTable):
            self.screen.show(self._table_state(labels))

    @property
    def switchable(self) -> SwitchableBoundary:
        assert isinstance(self.boundary, SwitchableBoundary)
        return self.boundary

    def _table_state(self, labels: dict[int, str] | None = None) -> TableState:
        shown = self.switchable.shown_run
        return TableState(
            runs=tuple(self.kept_runs), labels=labels if labels is not None else self.ghost_labels(),
            current=self.current_run_key, boundary_run=shown.key if shown is not None else None,
            boundary_shown=bool(self.boundary.display), against=config_summary(self.current_config()),
        )

    def _run(self, key: int) -> RunResult | None:
        return next((run for run in self.kept_runs if run.key == key), None)

    # -- run directories ----------------------------------------------------------------------------

    def read_compare_dirs(self) -> None:
        """--compare DIR…: each directory read in a thread (a big metrics.csv must not hold up
        the first frame); each becomes a ghost, or one line in the notice saying why not."""
        for path in self.compare_dirs:
            self.add_run_dir(path, from_table=False)

    def add_run_dir(self, path: Path, *, from_table: bool) -> None:
        key = self._next_key
        self._next_key += 1

        def read() -> None:
            try:
                run: RunResult | str = read_run_dir(path, key)
            except CompareError as exc:
                run = str(exc)
            except Exception as exc:  # a reader bug must not close the app
                run = f"{path}: {type(exc).__name__}: {exc}"
            self.call_from_thread(self._dir_read, path, run, from_table)

        app = cast("App[Any]", self)
        app.run_worker(read, name=f"compare-{key}", group="compare", thread=True, exit_on_error=False)

    def _dir_read(self, path: Path, run: RunResult | str, from_table: bool) -> None:
        table = self.screen if isinstance(self.screen, RunsTable) else None
        if isinstance(run, str):
            if from_table and table is not None:
                table.say(run, error=True)
            else:
                self._compare_problems.append(run)
                self.notice.show_notice("\n".join(self._compare_problems[-5:]), "warning")
            return
        if any(r.rundir is not None and r.rundir.resolve() == path.resolve() for r in self.kept_runs):
            if table is not None:
                table.say(f"{path} is in the table already.", error=True)
            return
        self.kept_runs.append(run)
        self.ghosts_changed()
        said = f"Added {run.name}: {self.ghost_labels()[run.key]}"
        if run.notes:
            said += " (" + "; ".join(run.notes) + ")"
        if table is not None:
            table.say(said)

    # -- the table's messages ----------------------------------------------------------------------

    def action_runs_table(self) -> None:
        """c: the runs kept for comparison, their numbers and fits."""
        if len(self.screen_stack) > 1:
            return  # a dialog is open: its own keys only
        self.push_screen(RunsTable(self._table_state()))

    def on_runs_table_ghost_toggled(self, message: RunsTable.GhostToggled) -> None:
        run = self._run(message.key)
        if run is None:
            return
        run.visible = not run.visible
        self.ghosts_changed()
        if isinstance(self.screen, RunsTable):
            self.screen.say(f"{run.name}: {'shown' if run.visible else 'hidden'} on the loss plot.")

    def on_runs_table_config_chosen(self, message: RunsTable.ConfigChosen) -> None:
        """Its config into the panel, as if typed: nothing starts (space does); a run still
        going asks whether to reset, as for any change."""
        run = self._run(message.key)
        if run is None or run.config is None:
            return
        if isinstance(self.screen, RunsTable):
            self.screen.dismiss(None)
        if self.panel.use_data(run.config):
            self.notify(f"{run.name}'s config is in the panel: space trains it (nothing has started).", timeout=6)
        else:
            self.notify(f"{run.name}'s config is in the panel, but some fields do not fit: see the marked ones.",
                        severity="warning", timeout=8)

    def on_runs_table_boundary_switched(self, message: RunsTable.BoundarySwitched) -> None:
        run = self._run(message.key) if message.key is not None else None
        label = self.ghost_labels()[run.key] if run is not None else ""
        self.switchable.show_run(run, label)
        if isinstance(self.screen, RunsTable):
            self.screen.show(self._table_state())
            self.screen.say(f"The dashboard's boundary panel shows {run.name}'s boundary (b again: back)."
                            if run is not None else "The dashboard's boundary panel shows the current run's again.")

    def on_runs_table_directory_given(self, message: RunsTable.DirectoryGiven) -> None:
        self.add_run_dir(message.path, from_table=True)

