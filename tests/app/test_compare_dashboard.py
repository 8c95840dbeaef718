"""Compare in the dashboard: earlier runs as ghosts on the loss plot, the runs table (c), run
directories from --compare or the table. Through the real dashboard (the process host, as
users get it); every wait polls for its effect."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

from dashboard_helpers import SIZE, lecture, press, wait_for
from textual.widgets import DataTable

from nntui import cli
from nntui.engine.formats import fmt_duration, fmt_loss
from nntui.engine.presets import preset
from nntui.ui.app import NntuiApp
from nntui.ui.factory import create_app
from nntui.ui.screens.runs_table import CURRENT, HIDDEN, SHOWN, RunsTable, metric_text
from nntui.ui.widgets.boundary import BoundaryPlot
from nntui.ui.widgets.fit_plot import FitPlot


async def train_to_the_end(app: NntuiApp, runs: int) -> None:
    """Space, then wait until the `runs`-th run of the session is done and kept."""
    await press(app, "space")
    await wait_for(lambda: app.host.generation == runs and app.status.state == "done", f"run {runs} done",
                   timeout=90)
    await wait_for(lambda: len([r for r in app.kept_runs if r.from_session]) == runs, f"run {runs} kept")


async def open_table(app: NntuiApp) -> RunsTable:
    await press(app, "c")
    await wait_for(lambda: isinstance(app.screen, RunsTable), "the runs table")
    screen = app.screen
    assert isinstance(screen, RunsTable)
    await wait_for(lambda: screen.is_mounted and screen.query(DataTable), "the table mounted")
    await wait_for(lambda: len(screen.rows_text()) == len(app.kept_runs), "its rows")
    return screen


async def close_table(app: NntuiApp) -> None:
    await press(app, "escape")
    await wait_for(lambda: not isinstance(app.screen, RunsTable), "the table closed")


def headless_run(out: Path, *flags: str) -> dict[str, Any]:
    """A real headless run written to `out`; its summary.json."""
    assert cli.main(["--headless", "--out", str(out), *flags]) == 0
    return json.loads((out / "summary.json").read_text())


def assert_row_is_the_summary(row: list[str], summary: dict[str, Any]) -> None:
    assert row[4] == fmt_loss(summary["final_loss"]) and row[5] == fmt_loss(summary["best_loss"])
    assert row[7] == f"{summary['epochs']:,}" and row[8] == fmt_duration(summary["elapsed_s"])


def assert_run_is_the_summary(run: Any, summary: dict[str, Any]) -> None:
    """The numbers the app kept are the ones the run wrote, exactly."""
    assert run.status == summary["status"] and run.epochs == summary["epochs"]
    assert run.final_loss == summary["final_loss"] and run.best_loss == summary["best_loss"]
    assert run.elapsed_s == summary["elapsed_s"]
    metrics = {k: v for k, v in summary.items() if k.startswith(("train_", "test_"))}
    assert metrics and run.metrics == metrics


async def test_two_runs_leave_a_ghost_labelled_lr_and_the_table_has_the_runs_own_numbers(tmp_path: Path) -> None:
    out = tmp_path / "run"
    app = create_app(lecture(epochs=400, lr=0.01), out=out, pace=None)
    async with app.run_test(size=SIZE):
        await train_to_the_end(app, 1)
        assert app.loss_plot.ghosts == (), "the run on screen is no ghost of itself"
        assert app.panel.set_field("lr", 0.001)
        await train_to_the_end(app, 2)
        first = app.kept_runs[0]
        assert app.ghost_labels()[first.key] == "lr 0.01"
        assert [(g.key, g.label) for g in app.loss_plot.ghosts] == [(first.key, "lr 0.01")]
        await wait_for(lambda: "lr 0.01" in app.loss_plot.rendered_text(), "the ghost's label on the loss plot")
        assert "1 earlier run dimmed" in app.loss_plot.rendered_text()
        screen = await open_table(app)
        rows = screen.rows_text()
        assert [row[:4] for row in rows] == [
            [SHOWN, "run 1", "lr 0.01", "done"], [CURRENT, "run 2", "this run", "done"]]
        for run, row, rundir in zip(app.kept_runs, rows, (out, out.with_name("run-2"))):
            summary = json.loads((rundir / "summary.json").read_text())
            assert_run_is_the_summary(run, summary)
            assert_row_is_the_summary(row, summary)
            assert row[6] == metric_text(run) and f"{summary['r2']:.3f}" in row[6]
            assert row[9] == str(rundir)


async def test_the_table_hides_and_shows_a_ghost_and_loads_a_runs_config_without_starting_it() -> None:
    app = create_app(lecture(epochs=300, activation=("tanh",)), pace=None)
    async with app.run_test(size=SIZE):
        await train_to_the_end(app, 1)
        app.panel.set_config(lecture(epochs=300))
        assert app.panel.set_field("activation", "relu,linear")
        await train_to_the_end(app, 2)
        await wait_for(lambda: "tanh" in app.loss_plot.rendered_text(), "the tanh ghost drawn")
        screen = await open_table(app)
        assert screen.highlighted is app.kept_runs[0]
        await press(app, "space")
        await wait_for(lambda: app.loss_plot.ghosts == () and screen.rows_text()[0][0] == HIDDEN, "hidden")
        await close_table(app)
        await wait_for(lambda: "tanh" not in app.loss_plot.rendered_text() and "dimmed" not in
                       app.loss_plot.rendered_text(), "the loss plot without the ghost")
        screen = await open_table(app)
        await press(app, "space")
        await wait_for(lambda: len(app.loss_plot.ghosts) == 1 and screen.rows_text()[0][0] == SHOWN, "shown")
        await close_table(app)
        await wait_for(lambda: "tanh" in app.loss_plot.rendered_text(), "the ghost drawn again")
        # load the tanh run's config: the panel shows it, nothing starts
        screen = await open_table(app)
        generation = app.host.generation
        await press(app, "l")
        await wait_for(lambda: not isinstance(app.screen, RunsTable), "the table closes on load")
        await wait_for(lambda: app.panel.committed.activation == ("tanh",), "the panel holds the tanh config")
        assert app.panel.texts()["activation"] == "tanh"
        assert app.panel.build_config() == replace(app.kept_runs[0].config, device=app.panel.committed.device)
        assert app.host.generation == generation and app.status.state == "done" and not app.host.active
        assert app.ghost_labels()[app.kept_runs[0].key] == "tanh", "labels are against the run on screen"


async def test_compare_dirs_show_a_headless_runs_ghost_and_fit_and_a_bad_one_is_a_notice(tmp_path: Path) -> None:
    summary = headless_run(tmp_path / "tanh", "--epochs", "300", "--activation", "tanh")
    (tmp_path / "a-file").write_text("not a run")
    app = create_app(lecture(epochs=300), compare=[tmp_path / "tanh", tmp_path / "missing", tmp_path / "a-file"])
    async with app.run_test(size=SIZE):
        await wait_for(lambda: len(app.kept_runs) == 1, "the directory read")
        await wait_for(lambda: app.notice.text.count("\n") == 1, "two problems in the notice")
        assert f"{tmp_path / 'missing'}: no such directory" in app.notice.text
        assert f"{tmp_path / 'a-file'}: not a directory" in app.notice.text
        run = app.kept_runs[0]
        assert app.ghost_labels()[run.key] == "tanh" and run.name == "tanh"
        assert_run_is_the_summary(run, summary)
        await wait_for(lambda: "tanh" in app.loss_plot.rendered_text(), "its ghost before any run of ours")
        screen = await open_table(app)
        assert_row_is_the_summary(screen.rows_text()[0], summary)
        fit = screen.query_one("#runs-fit", FitPlot)
        assert fit.display and fit.fit is run.fit and run.fit is not None and run.fit.epoch == 300
        await wait_for(lambda: "fit at epoch 300" in fit.rendered_text(), "its fit drawn in the table")
        assert app.is_running


async def test_a_directory_added_in_the_table_becomes_a_ghost_and_a_bad_path_is_said(tmp_path: Path) -> None:
    headless_run(tmp_path / "lr", "--epochs", "200", "--lr", "0.003")
    app = create_app(lecture(epochs=200))
    async with app.run_test(size=SIZE):
        screen = await open_table(app)
        path_box = screen.query_one("#runs-path")
        await press(app, "a")
        await wait_for(lambda: path_box.has_focus, "the path box")
        path_box.value = str(tmp_path / "nowhere")  # type: ignore[attr-defined]
        await press(app, "enter")
        message = screen.query_one("#runs-message")
        await wait_for(lambda: "no such directory" in str(message.render()), "the error under the table")
        assert message.has_class("-error") and app.is_running and not app.kept_runs
        path_box.value = str(tmp_path / "lr")  # type: ignore[attr-defined]
        await press(app, "enter")
        await wait_for(lambda: len(screen.rows_text()) == 1, "the directory's row")
        assert screen.rows_text()[0][2] == "lr 0.003"
        assert "Added lr" in str(message.render())
        await press(app, "escape", "escape")  # the path box, then the table
        await wait_for(lambda: not isinstance(app.screen, RunsTable), "closed")
        await wait_for(lambda: "lr 0.003" in app.loss_plot.rendered_text(), "its ghost")


async def test_xor_the_boundary_panel_switches_to_a_ghosts_and_back_while_the_run_goes_on() -> None:
    app = create_app(replace(preset("xor"), epochs=300), pace=None)
    async with app.run_test(size=SIZE):
        await train_to_the_end(app, 1)
        first = app.kept_runs[0]
        assert first.fit is not None and first.fit.kind == "boundary" and first.fit.epoch == 300
        app.panel.set_config(replace(preset("xor"), epochs=1_000_000, activation=("tanh",)))
        await press(app, "space")
        await wait_for(lambda: app.boundary.fit is not None and app.boundary.fit is not first.fit
                       and app.status.state == "running", "the second run's own boundary")
        screen = await open_table(app)
        assert [row[2] for row in screen.rows_text()] == ["relu epochs 300"]
        await press(app, "b")
        await wait_for(lambda: app.boundary.shown_run is first, "the boundary switched to run 1's")  # type: ignore[attr-defined]
        assert app.boundary.fit is first.fit
        assert "◧ boundary" in screen.rows_text()[0][9]
        epoch = app.status.epoch
        await wait_for(lambda: app.status.epoch > epoch + 500, "the live run goes on")
        assert app.boundary.fit is first.fit, "live frames do not replace the ghost's boundary"
        await close_table(app)
        await wait_for(lambda: "run 1 (relu epochs 300)" in app.boundary.rendered_text(), "its title says whose")
        screen = await open_table(app)
        await press(app, "b")
        await wait_for(lambda: app.boundary.shown_run is None, "back to the current run's")  # type: ignore[attr-defined]
        await wait_for(lambda: app.boundary.fit is not None and app.boundary.fit.epoch > first.fit.epoch + 500,
                       "the live boundary again")
        await press(app, "s")  # the table's keys only: s does not stop the run behind it
        assert app.status.state == "running"


async def test_a_boundary_cannot_be_switched_on_regression_data(tmp_path: Path) -> None:
    app = create_app(lecture(epochs=200), pace=None)
    async with app.run_test(size=SIZE):
        await train_to_the_end(app, 1)
        await press(app, "space")
        await wait_for(lambda: app.host.generation == 2, "a second run")
        screen = await open_table(app)
        await press(app, "b")
        message = screen.query_one("#runs-message")
        await wait_for(lambda: "only for 2-D classification" in str(message.render()), "why not")
        assert screen.query_one("#runs-boundary", BoundaryPlot).display is False
        assert app.boundary.shown_run is None  # type: ignore[attr-defined]


def test_reading_run_directories_imports_no_torch(tmp_path: Path) -> None:
    """The UI process never imports torch (the trainer's child does): neither does comparing."""
    headless_run(tmp_path / "r", "--epochs", "50")
    script = textwrap.dedent(
        f"""
        import sys
        import nntui.ui.factory
        from nntui.engine.compare import read_run_dir
        run = read_run_dir({str(tmp_path / 'r')!r}, 0)
        print("fit", run.fit is not None, "torch", "torch" in sys.modules)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "fit True torch False" in proc.stdout, proc.stdout


def test_metric_text_reads_as_the_status_line_does() -> None:
    from nntui.engine.compare import RunResult

    run = RunResult(key=0, name="r", config=None, status="done", epochs=1, final_loss=math.nan, best_loss=1.0,
                    elapsed_s=1.0, metrics={"train_accuracy": 0.5, "test_accuracy": 0.975})
    assert metric_text(run) == "test acc 0.975"
    run.metrics = {}
    assert metric_text(run) == "—"
