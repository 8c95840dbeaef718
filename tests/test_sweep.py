"""`nntui sweep`: real sweeps of tiny grids in real processes.

The leaderboard's numbers are each trial's own summary.json; a SIGKILL of the whole sweep
loses nothing a rerun cannot pick up (finished trials untouched, unfinished ones continue
from their checkpoints); signals stop every worker with every trial saved; a diverging,
failing or killed trial is marked and the others finish. Waits poll files, never sleep a
fixed time; no timing is asserted.
"""

from __future__ import annotations

import csv
import inspect
import io
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nntui.cli
from nntui.engine.checkpoint import checkpoint_info
from nntui.engine.config import TrainConfig
from nntui.engine.events import EpochsEnded, RunFinished, RunStarted
from nntui.engine.grid import build_grid, load_sweep_config
from nntui.engine.rundir import read_metrics
from nntui.engine.sweep import (
    MAX_POINTS,
    Forwarder,
    Sweep,
    TrialEvent,
    TrialFinished,
    TrialMessage,
    TrialStarted,
    merge_epochs,
)
from nntui.sweep_cli import main as sweep_main

TINY = ["--epochs", "300", "--samples", "100"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
NUMBERS = ("final_loss", "best_loss", "epochs", "steps_per_s", "elapsed_s")


def sweep_cmd() -> list[str]:
    """`nntui sweep` once cli.py dispatches there; until then the same main via python -m."""
    script = Path(sys.executable).with_name("nntui")
    if script.exists() and "sweep_cli" in inspect.getsource(nntui.cli):
        return [str(script), "sweep"]
    return [sys.executable, "-m", "nntui.sweep_cli"]


def run_sweep(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*sweep_cmd(), *args], capture_output=True, text=True, env=ENV, timeout=timeout)


def _default_signals() -> None:
    # A test runner started in the background by a non-interactive shell (nohup cmd &) has
    # SIGINT ignored, and nntui keeps an ignored signal ignored (someone asked for that): the
    # sweep under test gets the dispositions of a program started from a terminal.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def start_sweep(*args: str) -> subprocess.Popen[str]:
    """In its own process group, as a shell job is: a group signal reaches driver and workers."""
    return subprocess.Popen(
        [*sweep_cmd(), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
        start_new_session=True, preexec_fn=_default_signals,
    )


def wait_until(condition: Callable[[], bool], what: str, proc: subprocess.Popen[str] | None = None,
               timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            _, err = proc.communicate()
            raise AssertionError(f"the sweep exited ({proc.returncode}) before {what}:\n{err}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def summary(rundir: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads((rundir / "summary.json").read_text())
    except (OSError, ValueError):
        return {}
    return data


def checkpoint_epoch(rundir: Path) -> int:
    try:
        return checkpoint_info(rundir).epoch
    except Exception:
        return -1


def metrics_rows(rundir: Path) -> int:
    try:
        return (rundir / "metrics.csv").read_text().count("\n") - 1
    except OSError:
        return 0


def leaderboard(out: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads((out / "leaderboard.json").read_text())["rows"]
    return rows


def assert_rows_equal_summaries(out: Path) -> None:
    """Every leaderboard row (JSON and CSV) carries its trial's summary.json numbers exactly."""
    rows = leaderboard(out)
    with (out / "leaderboard.csv").open(newline="") as f:
        csv_rows = {r["trial"]: r for r in csv.DictReader(f)}
    assert len(csv_rows) == len(rows)
    for row in rows:
        s = summary(out / row["trial"])
        if row["status"] == "not started":
            assert not s and all(row[k] is None for k in NUMBERS)
            continue
        assert row["status"] == s["status"], row
        for key in NUMBERS:
            assert row[key] == s[key], (row["trial"], key)
            cell = csv_rows[row["trial"]][key]
            assert (cell == "" and s[key] is None) or float(cell) == s[key], (row["trial"], key, cell)
        if row["metric"]:
            assert row["metric_value"] == s[row["metric"]]
    bests = [r["best_loss"] for r in rows if r["best_loss"] is not None]
    assert bests == sorted(bests), "best loss first"


# --------------------------------------------------------------------------- whole sweeps


def test_headless_sweep_leaderboard_is_each_trials_summary(tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    x = np.linspace(-1, 1, 80)
    good.write_text("x,y\n" + "".join(f"{a},{2 * a + 1 + 0.1 * np.sin(9 * a)}\n" for a in x))
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\n1,2\nb,3\n")  # loads only when its trial starts: fails there, not at the flags
    out = tmp_path / "sweep"
    proc = run_sweep(
        "--epochs", "200", "--out", str(out), "--vary", "lr=0.01,1000", "--vary", f"data={good},{bad}",
        "--headless", "--json", "--jobs", "2",
    )
    assert proc.returncode == 1, proc.stderr  # a trial failed
    by_name = {r["trial"]: r for r in leaderboard(out)}
    statuses = {(r["lr"], Path(r["data"]).name): r["status"] for r in by_name.values()}
    assert statuses == {
        ("0.01", "good.csv"): "done", ("1000.0", "good.csv"): "diverged",
        ("0.01", "bad.csv"): "failed", ("1000.0", "bad.csv"): "failed",
    }
    assert_rows_equal_summaries(out)
    for name, row in by_name.items():
        assert (out / name / "summary.json").is_file()
        if row["status"] == "failed":
            assert "not a number" in row["error"] and "not a number" in summary(out / name)["error"]
        else:
            assert (out / name / "checkpoint.safetensors").is_file() and (out / name / "metrics.csv").is_file()
    diverged = next(r for r in by_name.values() if r["status"] == "diverged")
    assert summary(out / diverged["trial"])["diverged_at"] >= 1
    done = next(r for r in by_name.values() if r["status"] == "done")
    assert done["epochs"] == 200 and done["metric"] == "r2"
    # --json: the leaderboard, one line on stdout
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1 and json.loads(lines[0]) == json.loads((out / "leaderboard.json").read_text())
    # --headless: a line per finished trial, then the table sorted by best loss
    finished = [line for line in proc.stderr.splitlines() if line.startswith("nntui: [")]
    assert len(finished) == 4 and all(name in proc.stderr for name in by_name)
    # sweep.toml: the base config and the grid, readable as a --config
    base, axes = load_sweep_config(out / "sweep.toml", TrainConfig())
    assert base.epochs == 200 and {a.field for a in axes} == {"lr", "data"}


def test_sweep_api_reports_live_thinned_events_and_skips_finished_trials(tmp_path: Path) -> None:
    base = TrainConfig(epochs=2000, samples=50)
    grid = build_grid(["seed=0..1"], base)
    out = tmp_path / "api"
    messages: list[TrialMessage] = []
    result = Sweep(base, grid, out, jobs=1).run(messages.append)
    assert result.counts == {"done": 2} and result.stopped is None
    for trial in (0, 1):
        mine = [m for m in messages if m.trial == trial]
        assert isinstance(mine[0], TrialStarted) and isinstance(mine[-1], TrialFinished)
        events = [m.event for m in mine if isinstance(m, TrialEvent)]
        assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)
        chunks = [e for e in events if isinstance(e, EpochsEnded)]
        assert chunks and all(len(e.epochs) <= MAX_POINTS for e in chunks)
        assert chunks[-1].last_epoch == 2000  # the last row always arrives
        assert mine[-1].summary == summary(out / f"seed={trial}")
    # the same sweep again: nothing runs, each finished trial is reported once as earlier
    again: list[TrialMessage] = []
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file() and "leaderboard" not in p.name}
    Sweep(base, grid, out, jobs=1).run(again.append)
    assert [type(m) for m in again] == [TrialFinished, TrialFinished] and all(
        isinstance(m, TrialFinished) and m.earlier for m in again
    )
    assert before == {p: p.stat().st_mtime_ns for p in before}


def test_sigkill_then_rerun_skips_finished_trials_and_resumes_unfinished_ones(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    args = ["--samples", "100", "--out", str(out), "--vary", "epochs=300,10000", "--jobs", "2",
            "--checkpoint-every", "0.1", "--headless"]
    short, long = out / "epochs=300", out / "epochs=10000"
    proc = start_sweep(*args)
    try:
        wait_until(lambda: summary(short).get("status") == "done" and checkpoint_epoch(long) > 0,
                   "one trial done and the other checkpointed mid-way", proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the driver and its workers, mid-sweep
        proc.communicate()
    assert summary(long).get("status") == "running"
    kept = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in short.iterdir()}
    ck = checkpoint_info(long)
    metrics_before = (long / "metrics.csv").read_text()
    head = [line for line in metrics_before.splitlines()
            if not line[:1].isdigit() or int(line.split(",")[0]) <= ck.epoch]

    again = run_sweep(*args)
    assert again.returncode == 0, again.stderr
    assert "1 finished earlier, 1 resume from checkpoints, 0 new" in again.stderr
    # the finished trial: not run again, not one byte or timestamp changed
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in short.iterdir()} == kept
    # the unfinished one: continued from its checkpoint (its rows up to there are the first
    # run's own, byte for byte; a restart would have rewritten them), to the end
    s = summary(long)
    assert s["status"] == "done" and s["epochs"] == 10000 and s["elapsed_s"] >= ck.elapsed_s
    assert (long / "metrics.csv").read_text().splitlines()[: len(head)] == head
    epochs = read_metrics(long / "metrics.csv")["epoch"]
    assert np.array_equal(epochs, np.arange(1, 10001))
    assert_rows_equal_summaries(out)


SIGNALS = {"SIGINT to the group (Ctrl-C), 2 workers": ("SIGINT", True, 2, 130),
           "SIGTERM, 1 worker": ("SIGTERM", False, 1, 143), "SIGHUP, 1 worker": ("SIGHUP", False, 1, 129)}


@pytest.mark.parametrize("case", list(SIGNALS), ids=list(SIGNALS))
def test_signal_stops_every_worker_saves_every_trial_and_writes_the_leaderboard(tmp_path: Path, case: str) -> None:
    name, group, jobs, code = SIGNALS[case]
    out = tmp_path / "sweep"
    proc = start_sweep("--samples", "50", "--epochs", "1000000", "--out", str(out), "--vary", f"seed=0..{jobs}",
                       "--jobs", str(jobs), "--headless")
    running = [out / f"seed={i}" for i in range(jobs)]
    try:
        wait_until(lambda: all(metrics_rows(d) > 2 for d in running), "both workers training", proc)
        sig = getattr(signal, name)
        if group:
            os.killpg(proc.pid, sig)  # as a terminal's Ctrl-C: the driver and every worker get it
        else:
            proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == code, err
    assert f"interrupted by {name}" in err
    statuses = {r["trial"]: r["status"] for r in leaderboard(out)}
    assert statuses == {**{d.name: "interrupted" for d in running}, f"seed={jobs}": "not started"}
    for rundir in running:
        s = summary(rundir)
        assert s["status"] == "interrupted" and s["message"] == f"interrupted by {name}"
        last_row = int(read_metrics(rundir / "metrics.csv")["epoch"][-1])
        assert checkpoint_info(rundir).epoch == s["epochs"] == last_row > 0
    assert not (out / f"seed={jobs}").exists()
    assert_rows_equal_summaries(out)


def test_a_killed_worker_fails_its_trial_and_the_others_finish(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    doomed = out / "epochs=1000000"
    proc = start_sweep("--samples", "100", "--out", str(out), "--vary", "epochs=1000000,300,400", "--jobs", "2",
                       "--headless")
    try:
        wait_until(lambda: metrics_rows(doomed) > 2, "the long trial training", proc)
        os.kill(_worker_writing(proc.pid, doomed / "metrics.csv"), signal.SIGKILL)
        _, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 1, err
    statuses = {r["trial"]: r["status"] for r in leaderboard(out)}
    assert statuses == {"epochs=1000000": "failed", "epochs=300": "done", "epochs=400": "done"}
    assert "worker process running this trial died (signal 9)" in summary(doomed)["error"]
    assert_rows_equal_summaries(out)


def _worker_writing(driver: int, path: Path) -> int:
    """The driver's child process that holds `path` open (its trial's metrics.csv)."""
    children = Path(f"/proc/{driver}/task/{driver}/children").read_text().split()
    for pid in map(int, children):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) == str(path):
                    return pid
            except OSError:
                continue
    raise AssertionError(f"no worker of {driver} has {path} open")


# --------------------------------------------------------------------------- bad input


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    try:
        code = sweep_main(list(args))
    except SystemExit as exc:  # argparse's own refusals
        code = int(exc.code or 0)
    err = capsys.readouterr().err
    return code, err


CLI_BAD = {
    "no --out": ([], "--out: '' is not valid; a sweep needs a folder"),
    "--jobs 0": (["--jobs", "0"], "--jobs: 0 is not valid; expected 1 to 1024"),
    "--jobs x": (["--jobs", "x"], "argument --jobs: invalid int value: 'x'"),
    "--resume": (["--resume", "runs/a"], "--resume runs/a: not for a sweep"),
    "--on-diverge pause": (["--on-diverge", "pause"], "argument --on-diverge: invalid choice: 'pause'"),
    "unknown field": (["--vary", "colour=red"], "--vary: 'colour=red' is not valid; unknown field"),
    "a bad base flag": (["--lr", "-1"], "lr: -1.0 is not valid"),
    "a bad range": (["--vary", "seed=1..x"], "--vary seed: '1..x' is not valid"),
    "too many trials": (["--vary", "seed=0..10000"], "more than 10,000 trials: add --yes"),
}


@pytest.mark.parametrize("case", list(CLI_BAD), ids=list(CLI_BAD))
def test_bad_input_one_line_exit_2_nothing_written(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   case: str) -> None:
    args, expected = CLI_BAD[case]
    out = tmp_path / "never"
    given = [*args] if "--vary" in args else [*args, "--vary", "seed=0,1"]
    if case != "no --out":
        given += ["--out", str(out)]
    code, err = _cli(capsys, *given)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nntui: error: ") and expected in lines[0], err
    assert not out.exists()


def test_out_must_be_a_new_empty_or_own_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a_file = tmp_path / "f"
    a_file.write_text("x")
    code, err = _cli(capsys, "--vary", "seed=0,1", "--out", str(a_file))
    assert code == 2 and "it is a file" in err and a_file.read_text() == "x"
    other = tmp_path / "home"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    code, err = _cli(capsys, "--vary", "seed=0,1", "--out", str(other))
    assert code == 2 and "not empty and holds no sweep.toml" in err
    assert [p.name for p in other.iterdir()] == ["notes.txt"]


def test_rerun_with_another_grid_or_base_config_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sweep"
    base = TrainConfig(epochs=300, samples=100)
    Sweep(base, build_grid(["seed=0,1"], base), out).prepare()  # writes sweep.toml, trains nothing
    toml = (out / "sweep.toml").read_text()
    code, err = _cli(capsys, *TINY, "--vary", "seed=0,1,2", "--out", str(out))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "its grid is seed 2 = 2 trials" in err, err
    code, err = _cli(capsys, "--epochs", "400", "--samples", "100", "--vary", "seed=0,1", "--out", str(out))
    assert code == 2 and "base config differs in epochs" in err, err
    assert (out / "sweep.toml").read_text() == toml and [p.name for p in out.iterdir()] == ["sweep.toml"]


# --------------------------------------------------------------------------- thinning


def _chunk(start: int, n: int, test_at: int | None = None) -> EpochsEnded:
    epochs = np.arange(start, start + n, dtype=np.int64)
    loss = 1.0 / epochs + 0.01 * np.sin(epochs)
    test = np.full(n, math.nan)
    if test_at is not None:
        test[test_at] = 0.5
    return EpochsEnded(epochs=epochs, train_loss=loss, test_loss=test, elapsed_s=float(start), steps_per_s=100.0,
                       total_epochs=10_000, lr=0.1, metrics={"train_r2": 0.5 + start / 1e5})


def test_merge_keeps_extremes_measured_tests_and_the_last_row() -> None:
    chunks = [_chunk(1, 1000, test_at=500), _chunk(1001, 1000, test_at=999)]
    merged = merge_epochs(chunks, 64)
    assert len(merged.epochs) <= 64 + 2
    assert merged.last_epoch == 2000 and np.all(np.diff(merged.epochs) > 0)
    assert {501, 2000} <= set(merged.epochs.tolist())  # the measured test losses
    every = np.concatenate([c.train_loss for c in chunks])
    assert merged.train_loss.min() == every.min() and merged.train_loss.max() == every.max()
    assert merged.metrics == chunks[-1].metrics and merged.elapsed_s == chunks[-1].elapsed_s
    small = _chunk(1, 10)
    assert merge_epochs([small], 64) is small


def test_forwarder_coalesces_epochs_and_flushes_before_the_end() -> None:
    sent: list[TrialMessage] = []
    forward = Forwarder(7, sent.append)
    for i in range(50):  # faster than FORWARD_INTERVAL_S: coalesced
        forward(_chunk(1 + 10 * i, 10))
    forward(RunFinished(reason="done", epoch=500, final_loss=0.1, best_loss=0.1, steps_per_s=1.0, elapsed_s=1.0))
    kinds = [type(m.event).__name__ for m in sent if isinstance(m, TrialEvent)]
    assert kinds[-1] == "RunFinished" and kinds[-2] == "EpochsEnded" and len(kinds) <= 4
    rows = np.concatenate([m.event.epochs for m in sent if isinstance(m, TrialEvent)
                           and isinstance(m.event, EpochsEnded)])
    assert rows[-1] == 500 and all(m.trial == 7 for m in sent)


def test_csv_leaderboard_reads_back_exactly(tmp_path: Path) -> None:
    from nntui.engine.sweep_leaderboard import leaderboard_csv

    rows = [{"trial": "lr=0.1", "lr": "0.1", "status": "done", "final_loss": 0.1 + 0.2, "best_loss": 1 / 3,
             "metric": "r2", "metric_value": None, "epochs": 3, "steps_per_s": 1e-7, "elapsed_s": 2.5, "error": ""}]
    back = next(csv.DictReader(io.StringIO(leaderboard_csv(rows, ["lr"]))))
    assert float(back["final_loss"]) == 0.1 + 0.2 and float(back["best_loss"]) == 1 / 3
    assert back["metric_value"] == "" and float(back["steps_per_s"]) == 1e-7
