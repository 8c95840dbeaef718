"""`nntui watch` (Pilot) against real headless runs in other processes.

Every wait polls for an effect with a generous deadline (the machine is shared and noisy);
nothing asserts a duration.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from nntui.ui.screens.help import HelpScreen
from nntui.ui.watch import WatchApp, create_watch_app, main

DEADLINE = 180.0
POLL_S = 0.2
HEADER = "epoch,train_loss,test_loss,elapsed_s,lr,train_r2,test_r2\n"


def headless(cmd: list[str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*cmd, "--headless", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


def describe(app: WatchApp) -> str:
    return "; ".join(
        f"{r.name}: {r.follow.text}, epoch {r.status.epoch}, {app.loss_plot.runs[r.index].train.count} points, "
        f"fit {r.fit.epoch if r.fit else r.fit_error or None}"
        for r in app.runs
    )


async def until(app: WatchApp, predicate: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}: {describe(app)}")
        assert app.is_running, f"the app stopped while waiting for {what}"
        await asyncio.sleep(0.05)


def finished(proc: subprocess.Popen[bytes], timeout: float = DEADLINE) -> int:
    try:
        return proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def write_run(d: Path, metrics: str, status: str = "done") -> None:
    d.mkdir(parents=True)
    (d / "metrics.csv").write_text(metrics)
    (d / "summary.json").write_text(f'{{"status": "{status}", "epochs": 3}}')


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_watch_follows_a_live_run_through_its_resume(tmp_path: Path, nntui_cmd: list[str]) -> None:
    d = tmp_path / "runs" / "live"
    first, more = 30_000, 60_000
    proc = headless(nntui_cmd, "--out", str(d), "--epochs", str(first), "--checkpoint-every", "0.5")
    app = create_watch_app([d], poll_s=POLL_S)
    try:
        async with app.run_test(size=(120, 40)):
            run, curves = app.runs[0], app.loss_plot.runs[0]
            await until(app, lambda: run.follow.state in ("waiting", "running"), "the first status")
            # the curve grows while the status says running
            seen: list[int] = []

            def growing() -> bool:
                if run.follow.state == "running" and curves.train.count and curves.train.count not in seen:
                    seen.append(curves.train.count)
                return len(seen) >= 3 or run.follow.state == "done"

            await until(app, growing, "the curve to grow while running")
            await until(app, lambda: run.follow.state == "done", "done")
            assert len(seen) >= 3 and seen == sorted(seen), seen
            assert finished(proc) == 0, proc.stderr.read().decode() if proc.stderr else ""
            await until(app, lambda: curves.train.count == first and run.status.epoch == first, "every row read")
            assert "done" in app._prompts[0].plain and "DONE" in app.status_line.text
            await until(app, lambda: run.fit is not None and run.fit.epoch == first, "the fit of the last weights")

            # resumed while watched: metrics.csv is rewritten (kept epochs) and the rows continue
            proc = headless(nntui_cmd, "--resume", str(d), "--epochs", str(more), "--checkpoint-every", "0.5")
            continued: list[int] = []

            def resumed() -> bool:
                if run.follow.state == "running" and first < curves.train.count < more:
                    continued.append(curves.train.count)
                return run.follow.state == "done" and run.status.epoch == more

            await until(app, resumed, f"the resumed run to reach epoch {more}")
            assert continued, "rows seen continuing past the first run's end while it ran"
            assert finished(proc) == 0, proc.stderr.read().decode() if proc.stderr else ""
            await until(app, lambda: curves.train.count == more, "every row of the resumed run")
            # the replaced file was read again from the start: each epoch once, none twice
            assert curves.train.count == more
            await until(app, lambda: run.fit is not None and run.fit.epoch == more, "the resumed run's fit")
            await until(app, lambda: f"fit at epoch {more:,}" in app.fit_plot.rendered_text()
                        or f"fit at epoch {more}" in app.fit_plot.rendered_text(), "the fit redrawn")
            assert app.is_running
    finally:
        finished(proc, timeout=5)


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_watch_survives_the_directory_deleted_and_made_again(tmp_path: Path, nntui_cmd: list[str]) -> None:
    d = tmp_path / "doomed"
    app = create_watch_app([d], poll_s=POLL_S)
    proc = None
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            run, plot = app.runs[0], app.loss_plot
            await until(app, lambda: run.follow.text == "waiting: no directory yet", "the wait for the directory")
            assert "waiting: no directory yet" in app._prompts[0].plain
            proc = headless(nntui_cmd, "--out", str(d), "--epochs", "2000000", "--checkpoint-every", "0.5")
            await until(app, lambda: run.follow.state == "running" and plot.runs[0].train.count > 100, "rows")
            for _ in range(50):  # the writer may be mid-rename: try again until it is gone
                shutil.rmtree(d, ignore_errors=True)
                if not d.exists():
                    break
                await asyncio.sleep(0.1)
            await until(app, lambda: run.follow.text == "directory deleted", "the deletion noticed")
            assert "directory deleted" in app._prompts[0].plain
            proc.send_signal(signal.SIGTERM)
            finished(proc)
            for key in ("l", "m", "tab", "down", "up"):
                await pilot.press(key)
            assert app.is_running and "directory deleted" in app.status_line.text

            # a new run in the same place: a new file, read from its start
            proc = headless(nntui_cmd, "--out", str(d), "--epochs", "3000")
            await until(app, lambda: run.follow.state == "done" and plot.runs[0].train.count == 3000,
                        "the new run read from its start")
            assert finished(proc) == 0
            assert run.status.epoch == 3000
    finally:
        if proc is not None:
            finished(proc, timeout=5)


async def test_garbage_rows_are_counted_on_screen(tmp_path: Path) -> None:
    d = tmp_path / "messy"
    write_run(d, HEADER + "1,0.5,,,0.1,,\nnot,a,row\n2,0.4,,,0.1,,\n\x00\x01garbage\n3,0.3,,,0.1,,\n")
    app = create_watch_app([d], poll_s=POLL_S)
    async with app.run_test(size=(120, 40)):
        run = app.runs[0]
        await until(app, lambda: run.status.epoch == 3, "the good rows")
        assert run.bad_rows == 2
        assert "2 bad rows" in app._prompts[0].plain
        assert "2 bad rows skipped" in app.status_line.text
        assert app.loss_plot.runs[0].train.count == 3


async def test_view_keys_select_and_quit(tmp_path: Path) -> None:
    a, b = tmp_path / "sweep" / "lr=0.1", tmp_path / "sweep" / "lr=0.01"
    write_run(a, HEADER + "1,0.5,,,0.1,,\n2,0.4,,0.1,0.1,,\n3,0.3,,0.2,0.1,,\n")
    write_run(b, HEADER + "1,0.9,,,0.01,,\n2,0.8,,0.1,0.01,,\n", status="stopped")
    app = create_watch_app([a, b, tmp_path / "later"], poll_s=POLL_S)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(app, lambda: app.runs[1].follow.state == "stopped", "both runs read")
        assert [r.name for r in app.runs] == ["lr=0.1", "lr=0.01", "later"]
        assert app.runs[2].follow.text == "waiting: no directory yet"
        await pilot.press("l")
        assert app.loss_plot.log_y is False
        await pilot.press("m")
        assert app.loss_plot.smooth is True
        await pilot.press("tab")
        assert app.selected == 1 and app.loss_plot.selected == 1
        assert "STOPPED" in app.status_line.text
        await pilot.press("down")
        assert app.selected == 2
        await pilot.press("shift+tab")
        assert app.selected == 1
        await pilot.press("up")
        assert app.selected == 0
        await asyncio.sleep(0.5)
        text = app.loss_plot.rendered_text()
        assert "lr=0.1 in full" in text and "lr=0.01" in text, text
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("q")
    assert app.return_code == 0


def test_a_file_is_refused_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "metrics.csv"
    path.write_text(HEADER)
    assert main([str(tmp_path), str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"nntui watch: error: {path} is a file, not a run directory"]


def test_no_terminal_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "x")]) == 2  # pytest's stdin is not a TTY
    err = capsys.readouterr().err
    assert "terminal" in err and "\x1b[" not in err


def test_no_directory_given(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([])
    assert exc.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
