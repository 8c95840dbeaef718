"""The sweep's dashboard (`nntui sweep` without --headless) on real sweeps.

Pilot tests run `create_sweep_app` on real small grids of the lecture (real worker
processes, real run directories): every trial appears, the leaderboard ends sorted by best
loss with each trial's own summary.json numbers, Enter shows a trial's fit, q stops a
longer sweep with every trial saved and the leaderboard written. The real command in a
pseudo-terminal checks the signals' exit codes and a terminal that hangs up; a subprocess
checks the UI process never imports torch. Every wait polls for an effect with a generous
deadline (the machine is shared and noisy); nothing asserts a duration.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import textwrap
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text

from nntui.engine.checkpoint import checkpoint_info
from nntui.engine.grid import build_grid
from nntui.engine.presets import preset
from nntui.engine.sweep import Sweep
from nntui.sweep_cli import main as sweep_main
from nntui.ui.sweep_app import SweepApp, create_sweep_app
from nntui.ui.sweep_rows import metric_cell, number_cell

SIZE = (120, 40)
DEADLINE = 240.0
"""Seconds: workers spawn and import torch first; far above what an idle machine needs."""
NUMBERS = ("final_loss", "best_loss", "epochs", "steps_per_s", "elapsed_s")
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def make_sweep(out: Path, epochs: int, *vary: str, jobs: int = 2) -> Sweep:
    base = replace(preset("lecture"), epochs=epochs)
    return Sweep(base, build_grid(list(vary), base), out, jobs=jobs)


def describe(app: SweepApp) -> str:
    return "; ".join(f"{v.trial.name}: {v.status} epoch {v.epoch}" for v in app.views) + (
        f"; error {app.error}" if app.error else ""
    )


async def until(app: SweepApp, predicate: Callable[[], object], what: str, timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {describe(app)}")
        assert app.is_running, f"the app stopped while waiting for {what}: {describe(app)}"
        await asyncio.sleep(0.05)


def summary(rundir: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads((rundir / "summary.json").read_text())
    except (OSError, ValueError):
        return {}
    return data


def leaderboard(out: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads((out / "leaderboard.json").read_text())["rows"]
    return rows


def table_rows(app: SweepApp) -> list[dict[str, str]]:
    """The leaderboard as the screen shows it: each row's cells by column, top to bottom."""
    board = app.board
    keys = [str(k.value) for k in board.columns]
    return [{k: cell.plain for k, cell in zip(keys, board.get_row_at(r))} for r in range(board.row_count)]


def assert_matches_summaries(app: SweepApp, out: Path) -> None:
    """The table's order is leaderboard.json's; every number shown is its trial's summary.json's."""
    written = leaderboard(out)
    shown = table_rows(app)
    names = [app.views[int(r["n"]) - 1].trial.name for r in shown]
    assert names == [r["trial"] for r in written], (names, written)
    assert [r["trial"] for r in app.rows()] == names
    bests = [r["best_loss"] for r in written if r["best_loss"] is not None]
    assert bests == sorted(bests), "best loss first"
    for row, cells, board_row in zip(app.rows(), shown, written):
        s = summary(out / row["trial"])
        assert row == board_row, row["trial"]
        assert cells["status"] == row["status"], (row["trial"], cells)
        if row["status"] == "not started":
            assert not s and all(row[k] is None for k in NUMBERS)
            continue
        assert row["status"] == s["status"]
        for key in NUMBERS:
            assert row[key] == s[key], (row["trial"], key)
        assert cells["final"] == number_cell(s["final_loss"]) and cells["best"] == number_cell(s["best_loss"])
        assert cells["epochs"] == f"{s['epochs']:,}"
        if row["metric"]:
            assert row["metric_value"] == s[row["metric"]]
            assert cells["metric"] == metric_cell(row["metric"], s[row["metric"]])


# --------------------------------------------------------------------------- Pilot, real sweeps


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_a_small_sweep_fills_the_dashboard_and_its_leaderboard_is_the_summaries(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    app = create_sweep_app(make_sweep(out, 1500, "activation=relu,tanh", "seed=0,1"))
    async with app.run_test(size=SIZE) as pilot:
        names = {v.trial.name for v in app.views}
        assert names == {"activation=relu,seed=0", "activation=relu,seed=1", "activation=tanh,seed=0",
                         "activation=tanh,seed=1"}
        assert app.board.row_count == 4 and {r["status"] for r in table_rows(app)} == {"queued"}
        # two at a time (--jobs 2), each in a worker process: their curves on the loss plot
        await until(app, lambda: not app.running, "the sweep to finish")
        await until(app, lambda: all(r["status"] == "done" for r in table_rows(app)), "every row done")
        for view in app.views:
            assert view.where.startswith("pid ") and int(view.where[4:]) != os.getpid()
            assert app.loss_plot.runs[view.trial.index].train.count > 0, f"{view.trial.name} has no curve"
            assert view.epoch == 1500
        assert "4 done" in str(app.status_line.content) and "sweep finished" in str(app.status_line.content)
        assert_matches_summaries(app, out)
        # the legend names the first varied field's values (the curves' colours)
        legend = app.legend.content
        assert isinstance(legend, Text) and "activation:" in legend.plain and "relu" in legend.plain

        # Enter on the highlighted row (the best trial, on top): its fit, drawn in the fit pane
        best = app.views[int(table_rows(app)[0]["n"]) - 1]
        await pilot.press("enter")
        await until(app, lambda: app.chosen == best.trial.index, "the best trial chosen")
        await until(app, lambda: "fit at epoch 1500" in app.fit_plot.rendered_text(), "its fit drawn")
        assert best.trial.name in str(app.fit_title.content)
        # down highlights the next trial (its curve drawn in full), Enter shows its fit instead
        await pilot.press("down")
        second = app.views[int(table_rows(app)[1]["n"]) - 1]
        await until(app, lambda: app.highlighted == second.trial.index, "the second row highlighted")
        await until(app, lambda: f"#{second.trial.index + 1} " in app.loss_plot.rendered_text(),
                    "the loss plot drawn around it")
        await pilot.press("enter")
        await until(app, lambda: app.chosen == second.trial.index and second.trial.name in str(app.fit_title.content),
                    "the second trial's fit chosen")
        await until(app, lambda: "fit at epoch 1500" in app.fit_plot.rendered_text(), "its fit drawn")
        assert app.fit_plot.fit is second.fit
        await pilot.press("q")
    assert app.return_value == 0
    assert_matches_summaries(app, out)


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_q_stops_a_longer_sweep_with_every_trial_saved_and_the_leaderboard_written(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    app = create_sweep_app(make_sweep(out, 1_000_000, "seed=0..2"))
    running = [out / "seed=0", out / "seed=1"]
    async with app.run_test(size=SIZE) as pilot:
        await until(app, lambda: sum(v.status == "running" and v.epoch > 200 for v in app.views) == 2,
                    "both workers training")
        await pilot.press("q")
        deadline = time.monotonic() + 90
        while app.is_running and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert not app.is_running, f"the app did not exit after q: {describe(app)}"
    assert app.return_value == 0
    statuses = {r["trial"]: r["status"] for r in leaderboard(out)}
    assert statuses == {"seed=0": "interrupted", "seed=1": "interrupted", "seed=2": "not started"}
    for rundir in running:
        s = summary(rundir)
        assert s["status"] == "interrupted" and "quit" in s["message"]
        assert checkpoint_info(rundir).epoch == s["epochs"] > 0
    assert not (out / "seed=2").exists()
    assert_matches_summaries(app, out)


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_a_rerun_shows_the_earlier_trials_curves_and_fits_from_their_run_directories(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    assert make_sweep(out, 800, "seed=0,1").run().counts == {"done": 2}
    app = create_sweep_app(make_sweep(out, 800, "seed=0,1"))
    async with app.run_test(size=SIZE) as pilot:
        await until(app, lambda: not app.running and all(not v.loading for v in app.views), "the earlier trials read")
        await until(app, lambda: all(app.loss_plot.runs[i].train.count == 800 for i in (0, 1)),
                    "their curves from metrics.csv")
        assert_matches_summaries(app, out)
        await pilot.press("enter")  # no fit event came this time: the film's last frame
        await until(app, lambda: "fit at epoch 800" in app.fit_plot.rendered_text(), "the fit from film.npz")
        await pilot.press("q")
    assert app.return_value == 0


# --------------------------------------------------------------------------- the command


def test_without_a_terminal_it_says_to_use_headless_and_leaves_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "never"
    code = sweep_main(["--epochs", "100", "--vary", "seed=0,1", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "needs a terminal" in err and "--headless" in err, err
    assert not out.exists()


class Reader(threading.Thread):
    """Reads the terminal's output away (a full terminal would block the app's writes) until told to stop."""

    def __init__(self, master: int) -> None:
        super().__init__(daemon=True)
        self.master = master
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            try:
                ready, _, _ = select.select([self.master], [], [], 0.1)
                if ready and not os.read(self.master, 65536):
                    return
            except OSError:
                return

    def stop(self) -> None:
        self.halt.set()
        self.join(5)


def _pty_sweep(out: Path, *args: str) -> tuple[subprocess.Popen[bytes], int, Reader]:
    """`nntui sweep` (dashboard) in a pseudo-terminal, its output read away in a thread."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", SIZE[1], SIZE[0], 0, 0))
    script = Path(sys.executable).with_name("nntui")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "nntui"]
    proc = subprocess.Popen(
        [*cmd, "sweep", "--out", str(out), *args], stdin=slave, stdout=slave, stderr=slave,
        env={**ENV, "TERM": "xterm-256color"}, start_new_session=True, close_fds=True,
    )
    os.close(slave)
    reader = Reader(master)
    reader.start()
    return proc, master, reader


def _metrics_rows(rundir: Path) -> int:
    try:
        return (rundir / "metrics.csv").read_text().count("\n") - 1
    except OSError:
        return 0


HOW = {"SIGTERM": ("SIGTERM", 143), "SIGINT": ("SIGINT", 130), "the terminal hanging up": ("hangup", 129)}


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("how", list(HOW), ids=list(HOW))
def test_a_signal_or_a_hang_up_stops_every_trial_saved_with_the_sweeps_exit_code(tmp_path: Path, how: str) -> None:
    what, code = HOW[how]
    out = tmp_path / "sweep"
    proc, master, reader = _pty_sweep(out, "--samples", "50", "--epochs", "1000000", "--vary", "seed=0..2",
                                      "--jobs", "2")
    running = [out / "seed=0", out / "seed=1"]
    try:
        deadline = time.monotonic() + DEADLINE
        while not all(_metrics_rows(d) > 2 for d in running):
            assert proc.poll() is None, f"the sweep exited ({proc.returncode}) before training"
            assert time.monotonic() < deadline, "timed out waiting for both workers to train"
            time.sleep(0.05)
        if what == "hangup":
            reader.stop()
            os.close(master)  # the terminal goes away: reads end, writes fail
            master = -1
        else:
            proc.send_signal(getattr(signal, what))
        assert proc.wait(timeout=90) == code
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        reader.stop()
        if master >= 0:
            os.close(master)
    statuses = {r["trial"]: r["status"] for r in leaderboard(out)}
    assert statuses == {"seed=0": "interrupted", "seed=1": "interrupted", "seed=2": "not started"}
    for rundir in running:
        s = summary(rundir)
        assert s["status"] == "interrupted"
        assert checkpoint_info(rundir).epoch == s["epochs"] > 0


def test_the_dashboard_process_never_imports_torch(tmp_path: Path) -> None:
    """The trials import torch in their worker processes; the UI process draws their curves,
    leaderboard and fits without it."""
    script = textwrap.dedent(
        f"""
        import asyncio, sys, time
        from dataclasses import replace
        from nntui.engine.grid import build_grid
        from nntui.engine.presets import preset
        from nntui.engine.sweep import Sweep
        from nntui.ui.sweep_app import create_sweep_app

        async def main():
            base = replace(preset("lecture"), epochs=600)
            app = create_sweep_app(Sweep(base, build_grid(["seed=0,1"], base), {str(tmp_path / "s")!r}, jobs=2))
            async with app.run_test(size=(120, 40)) as pilot:
                deadline = time.monotonic() + 240
                while app.running and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                await pilot.press("enter")
                while "fit at epoch 600" not in app.fit_plot.rendered_text() and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                print("statuses", sorted(v.status for v in app.views))
                print("fit", "fit at epoch 600" in app.fit_plot.rendered_text())
                print("torch", "torch" in sys.modules)
                await pilot.press("q")

        if __name__ == "__main__":
            asyncio.run(main())
        """
    )
    path = tmp_path / "ui.py"
    path.write_text(script)
    proc = subprocess.run([sys.executable, str(path)], capture_output=True, text=True, timeout=400, env=ENV)
    assert proc.returncode == 0, proc.stderr
    assert "statuses ['done', 'done']" in proc.stdout and "fit True" in proc.stdout, proc.stdout
    assert "torch False" in proc.stdout, proc.stdout
