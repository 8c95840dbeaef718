"""`nntui sweep --ray`: real sweeps on a real local Ray cluster (conftest.py), never a mock.

The same grid gives the local pool's leaderboard (the same losses for the same seeds) and
run directories the driver wrote from what the workers streamed; a worker killed mid-trial
is retried from the last checkpoint received (or fails the trial once retries run out);
a SIGKILLed driver resumes; Ctrl-C / SIGTERM save and exit 130 / 143; an unreachable or
vanished cluster is one line and exit 1; bad input and a missing Ray are one line and exit 2.
Everything talks to 127.0.0.1 only (asserted from /proc). Waits poll files and processes,
never a fixed sleep; no timing is asserted.
"""

from __future__ import annotations

import csv
import json
import math
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from nntui.engine.checkpoint import checkpoint_info
from nntui.engine.rundir import read_metrics
from nntui.sweep_cli import main as sweep_main

NUMBERS = ("final_loss", "best_loss", "epochs", "steps_per_s", "elapsed_s")
RUN_FILES = {"checkpoint.safetensors", "config.toml", "film.npz", "metrics.csv", "model.safetensors", "summary.json"}
NNTUI = [str(Path(sys.executable).with_name("nntui")), "sweep"]

if TYPE_CHECKING:  # tests/ray/conftest.py (its fixtures are how the tests get these)
    from conftest import RayCluster


# ----------------------------------------------------------------------------- helpers


def _default_signals() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


def run_sweep(cluster: RayCluster, *args: str, timeout: float = 180,
              env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NNTUI, *args], capture_output=True, text=True, env=env or cluster.env, timeout=timeout)


def start_sweep(cluster: RayCluster, *args: str) -> subprocess.Popen[str]:
    """In its own process group, as a shell job: a Ctrl-C to the group reaches the driver (Ray's
    workers are the raylet's children, never in it)."""
    return subprocess.Popen([*NNTUI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=cluster.env, start_new_session=True, preexec_fn=_default_signals)


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> tuple[str, str]:
    try:
        return proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()


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


def metrics_epochs(rundir: Path) -> np.ndarray:
    return read_metrics(rundir / "metrics.csv")["epoch"]


def rows_upto(rundir: Path, epoch: int) -> list[str]:
    lines = (rundir / "metrics.csv").read_text().splitlines()
    return [line for line in lines if not line[:1].isdigit() or int(line.split(",")[0]) <= epoch]


def all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def task_pids(trial: str) -> list[int]:
    """Ray titles a worker process `ray::<task name>` while it runs the task: nntui names each
    trial's task `nntui <trial>`."""
    found = []
    for pid in all_pids():
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if title == f"ray::nntui {trial}":
            found.append(pid)
    return found


def one_task_pid(trial: str) -> int:
    pids = task_pids(trial)
    return pids[0] if len(pids) == 1 else -1


def no_trial_tasks() -> bool:
    return not any(t.startswith("ray::nntui ") for t in map(_title, all_pids()))


def _title(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def assert_clean_output(err: str) -> None:
    assert "Traceback" not in err and "(raylet)" not in err and "WARNING" not in err, err


# ----------------------------------------------------------------------------- the same results


def test_a_grid_on_ray_gives_the_local_pools_leaderboard_and_run_files(ray_cluster: RayCluster,
                                                                        tmp_path: Path) -> None:
    grid = ["--epochs", "400", "--samples", "100", "--vary", "seed=0..2", "--vary", "activation=tanh,relu",
            "--headless", "--json"]
    on_ray, local = tmp_path / "ray", tmp_path / "local"
    ray_run = run_sweep(ray_cluster, "--ray", ray_cluster.address, "--out", str(on_ray), *grid)
    assert ray_run.returncode == 0, ray_run.stderr
    local_run = run_sweep(ray_cluster, "--jobs", "2", "--out", str(local), *grid)
    assert local_run.returncode == 0, local_run.stderr

    ray_rows = {r["trial"]: r for r in leaderboard(on_ray)}
    local_rows = {r["trial"]: r for r in leaderboard(local)}
    assert ray_rows.keys() == local_rows.keys() and len(ray_rows) == 6
    for name, row in ray_rows.items():
        mine = local_rows[name]
        assert row["status"] == mine["status"] == "done" and row["epochs"] == mine["epochs"] == 400
        for key in ("final_loss", "best_loss", "metric_value"):
            assert math.isclose(row[key], mine[key], rel_tol=1e-9, abs_tol=1e-12), (name, key, row[key], mine[key])
        # the driver wrote what a local trial writes: the same files, the same rows
        rundir, theirs = on_ray / name, local / name
        assert {p.name for p in rundir.iterdir()} == RUN_FILES
        assert (rundir / "config.toml").read_text() == (theirs / "config.toml").read_text()
        ours_m, theirs_m = read_metrics(rundir / "metrics.csv"), read_metrics(theirs / "metrics.csv")
        assert list(ours_m) == list(theirs_m)
        assert np.array_equal(ours_m["epoch"], np.arange(1, 401))
        assert np.array_equal(ours_m["train_loss"], theirs_m["train_loss"])
        assert checkpoint_info(rundir).epoch == 400
    assert_rows_equal_summaries(on_ray)
    lines = ray_run.stdout.strip().splitlines()
    assert len(lines) == 1 and json.loads(lines[0]) == json.loads((on_ray / "leaderboard.json").read_text())
    assert f"on the Ray cluster at {ray_cluster.address}" in ray_run.stderr
    assert sum(line.startswith("nntui: [") for line in ray_run.stderr.splitlines()) == 6
    assert_clean_output(ray_run.stderr)
    ray_cluster.net.sample()
    assert not ray_cluster.net.problems, ray_cluster.net.problems


LIVE = """
import json, sys, time
from nntui.engine.config import TrainConfig
from nntui.engine.events import EpochsEnded, RunStarted
from nntui.engine.grid import build_grid
from nntui.engine.sweep import MAX_POINTS, Sweep, TrialEvent, TrialFinished, TrialStarted
from nntui.engine.raysweep import MAX_JOBS, RayPool

pool = RayPool(sys.argv[1])
pool.connect()
base = TrainConfig(samples=100, epochs=8000)
sweep = Sweep(base, build_grid(["seed=0,1"], base), sys.argv[2], jobs=MAX_JOBS, backend=pool)
seen = {0: [], 1: []}
def listen(m):
    now = time.monotonic()
    if isinstance(m, TrialStarted):
        seen[m.trial].append(["started", now, m.where])
    elif isinstance(m, TrialEvent):
        e = m.event
        rows = [int(e.epochs[0]), int(e.epochs[-1]), len(e.epochs)] if isinstance(e, EpochsEnded) else []
        seen[m.trial].append([type(e).__name__, now, rows])
    elif isinstance(m, TrialFinished):
        seen[m.trial].append(["finished", now, m.status, m.summary])
result = sweep.run(listen)
print(json.dumps({"seen": seen, "bytes": dict(pool.bytes_received), "counts": result.counts,
                  "max_points": MAX_POINTS}))
"""


def test_progress_reaches_the_driver_live_through_the_sweep_api(ray_cluster: RayCluster, tmp_path: Path) -> None:
    out = tmp_path / "live"
    done = subprocess.run([sys.executable, "-c", LIVE, ray_cluster.address, str(out)], capture_output=True, text=True,
                          env=ray_cluster.env, timeout=180)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["counts"] == {"done": 2}
    for trial in ("0", "1"):
        seen = report["seen"][trial]
        assert seen[0][0] == "started" and "on 127.0.0.1" in seen[0][2]
        assert seen[1][0] == "RunStarted" and seen[-1][0] == "finished" and seen[-1][2] == "done"
        chunks = [s for s in seen if s[0] == "EpochsEnded"]
        assert len(chunks) >= 2, seen  # more than one arrival: the curve moved while the trial trained
        assert all(rows[2] <= report["max_points"] for _, _, rows in chunks)
        assert chunks[-1][2][1] == 8000  # the last row always arrives
        assert seen[-1][1] - chunks[0][1] > 0.2, "the first rows arrived only at the end"
        assert seen[-1][3] == summary(out / f"seed={trial[-1]}")
        assert report["bytes"][trial] > 0


# ----------------------------------------------------------------------------- faults


def test_a_killed_worker_is_retried_from_its_last_checkpoint_then_fails_when_retries_run_out(
        ray_cluster: RayCluster, tmp_path: Path) -> None:
    out = tmp_path / "kill"
    seed0, seed1 = out / "seed=0", out / "seed=1"
    proc = start_sweep(ray_cluster, "--samples", "100", "--epochs", "15000", "--vary", "seed=0,1", "--retries", "1",
                       "--checkpoint-every", "0.2", "--ray", ray_cluster.address, "--out", str(out), "--headless")
    try:
        wait_until(lambda: checkpoint_epoch(seed0) > 0 and checkpoint_epoch(seed1) > 0 and one_task_pid("seed=0") > 0
                   and one_task_pid("seed=1") > 0, "both trials training and checkpointed", proc)
        first0, first1 = one_task_pid("seed=0"), one_task_pid("seed=1")
        os.kill(first0, signal.SIGKILL)
        os.kill(first1, signal.SIGKILL)
        kept_epoch = checkpoint_epoch(seed0)  # the driver's last checkpoint: the retry starts there
        kept_rows = rows_upto(seed0, kept_epoch)
        # seed=1 gets one retry (--retries 1): kill that too, and it has none left
        wait_until(lambda: one_task_pid("seed=1") not in (-1, first1), "seed=1's retry running", proc)
        os.kill(one_task_pid("seed=1"), signal.SIGKILL)
        _, err = finish(proc)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 1, err  # a trial failed
    statuses = {r["trial"]: r["status"] for r in leaderboard(out)}
    assert statuses == {"seed=0": "done", "seed=1": "failed"}, err
    # the retried trial: the rows up to its checkpoint are the first attempt's, byte for byte
    # (a restart from scratch would have rewritten them), every epoch once, to the end
    s0 = summary(seed0)
    assert s0["status"] == "done" and s0["epochs"] == 15000 and checkpoint_info(seed0).epoch == 15000
    assert rows_upto(seed0, kept_epoch) == kept_rows
    assert np.array_equal(metrics_epochs(seed0), np.arange(1, 15001))
    # the failed one: says why, and its files still agree with each other
    s1 = summary(seed1)
    assert "worker running this trial died" in s1["error"] and "2 attempts" in s1["error"], s1
    epochs1 = metrics_epochs(seed1)
    assert np.all(np.diff(epochs1) == 1) and epochs1[0] == 1
    assert 0 < checkpoint_info(seed1).epoch <= epochs1[-1]
    assert_rows_equal_summaries(out)
    assert_clean_output(err)


def test_sigkill_of_the_driver_then_the_same_command_resumes(ray_cluster: RayCluster, tmp_path: Path) -> None:
    out = tmp_path / "resume"
    args = ["--samples", "100", "--vary", "epochs=300,15000", "--checkpoint-every", "0.1", "--ray", ray_cluster.address,
            "--out", str(out), "--headless"]
    short, long = out / "epochs=300", out / "epochs=15000"
    proc = start_sweep(ray_cluster, *args)
    try:
        wait_until(lambda: summary(short).get("status") == "done" and checkpoint_epoch(long) > 0,
                   "one trial done and the other checkpointed mid-way", proc)
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # the driver alone: Ray ends the tasks of a driver that is gone
        proc.communicate()
    assert summary(long).get("status") == "running"
    wait_until(no_trial_tasks, "Ray ending the dead driver's tasks", timeout=60)
    kept = {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in short.iterdir()}
    ck = checkpoint_info(long)
    head = rows_upto(long, ck.epoch)

    again = run_sweep(ray_cluster, *args)
    assert again.returncode == 0, again.stderr
    assert "1 finished earlier, 1 resume from checkpoints, 0 new" in again.stderr
    assert {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in short.iterdir()} == kept
    s = summary(long)
    assert s["status"] == "done" and s["epochs"] == 15000 and s["elapsed_s"] >= ck.elapsed_s
    assert rows_upto(long, ck.epoch) == head
    assert np.array_equal(metrics_epochs(long), np.arange(1, 15001))
    assert_rows_equal_summaries(out)
    assert_clean_output(again.stderr)


SIGNALS = {"SIGINT to the group (Ctrl-C)": ("SIGINT", True, 130), "SIGTERM": ("SIGTERM", False, 143)}


@pytest.mark.parametrize("case", list(SIGNALS), ids=list(SIGNALS))
def test_a_signal_stops_the_ray_tasks_saves_every_trial_and_writes_the_leaderboard(
        ray_cluster: RayCluster, tmp_path: Path, case: str) -> None:
    name, group, code = SIGNALS[case]
    out = tmp_path / "sig"
    proc = start_sweep(ray_cluster, "--samples", "50", "--epochs", "1000000", "--vary", "seed=0..2",
                       "--ray", ray_cluster.address, "--out", str(out), "--headless")
    dirs = [out / f"seed={i}" for i in range(3)]
    try:
        wait_until(lambda: sum(metrics_rows(d) > 2 for d in dirs) == 2, "two trials training (2 CPUs)", proc)
        if group:
            os.killpg(proc.pid, getattr(signal, name))
        else:
            proc.send_signal(getattr(signal, name))
        _, err = finish(proc, timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == code, err
    assert f"interrupted by {name}" in err
    statuses = {r["trial"]: r["status"] for r in leaderboard(out)}
    assert sorted(statuses.values()) == ["interrupted", "interrupted", "not started"], statuses
    for rundir in dirs:
        if statuses[rundir.name] == "not started":
            assert not rundir.exists()
            continue
        s = summary(rundir)
        assert s["status"] == "interrupted" and s["message"] == f"interrupted by {name}"
        last_row = int(metrics_epochs(rundir)[-1])
        assert checkpoint_info(rundir).epoch == s["epochs"] == last_row > 0
    assert_rows_equal_summaries(out)
    wait_until(no_trial_tasks, "no trial task left running on the cluster", timeout=30)
    assert_clean_output(err)


def test_a_cluster_that_goes_away_mid_sweep_is_one_line_exit_1_and_the_sweep_resumes(
        ray_cluster: RayCluster, spare_cluster: RayCluster, tmp_path: Path) -> None:
    doomed = spare_cluster
    out = tmp_path / "gone"
    rundir = out / "seed=0"
    args = ["--samples", "100", "--epochs", "15000", "--vary", "seed=0", "--checkpoint-every", "0.1", "--out", str(out),
            "--headless"]
    proc = start_sweep(doomed, "--ray", doomed.address, *args)
    try:
        wait_until(lambda: checkpoint_epoch(rundir) > 0, "the trial checkpointed", proc)
        doomed.stop(grace=0.0)  # the whole cluster, at once
        _, err = finish(proc, timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 1, err
    errors = [line for line in err.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and f"lost the Ray cluster at {doomed.address}" in errors[0], err
    assert_clean_output(err)
    assert summary(rundir)["status"] == "interrupted"
    assert {r["status"] for r in leaderboard(out)} == {"interrupted"}
    ck = checkpoint_info(rundir)
    head = rows_upto(rundir, ck.epoch)
    # resumed on another cluster: the grid and base config are the sweep's, not the cluster's
    again = run_sweep(ray_cluster, "--ray", ray_cluster.address, *args)
    assert again.returncode == 0, again.stderr
    assert "0 finished earlier, 1 resume from checkpoints, 0 new" in again.stderr
    assert rows_upto(rundir, ck.epoch) == head
    assert np.array_equal(metrics_epochs(rundir), np.arange(1, 15001))
    assert_rows_equal_summaries(out)


def test_workers_write_their_own_run_directories_with_ray_shared_out(ray_cluster: RayCluster,
                                                                      tmp_path: Path) -> None:
    out = tmp_path / "shared"
    done = run_sweep(ray_cluster, "--ray", ray_cluster.address, "--ray-shared-out", "--out", str(out), "--epochs",
                     "300", "--samples", "100", "--vary", "seed=0,1", "--headless")
    assert done.returncode == 0, done.stderr
    for name in ("seed=0", "seed=1"):
        assert {p.name for p in (out / name).iterdir()} == RUN_FILES
        assert np.array_equal(metrics_epochs(out / name), np.arange(1, 301))
        assert summary(out / name)["status"] == "done"
    assert_rows_equal_summaries(out)
    assert_clean_output(done.stderr)


# ----------------------------------------------------------------------------- refusals


def test_an_unreachable_address_is_one_line_exit_1_and_nothing_written(ray_cluster: RayCluster,
                                                                       tmp_path: Path) -> None:
    closed = f"127.0.0.1:{free_port()}"
    out = tmp_path / "never"
    for flags, env in ((["--ray", closed], ray_cluster.env), (["--ray"], {**ray_cluster.env, "RAY_ADDRESS": closed})):
        done = run_sweep(ray_cluster, *flags, "--out", str(out), "--vary", "seed=0,1", "--headless", env=env)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 1 and len(lines) == 1, done.stderr
        assert lines[0].startswith("nntui: error: cannot reach the Ray cluster at " + closed), lines
        assert not out.exists()


NOT_A_HEAD = textwrap.dedent("""
    import sys
    import nntui.engine.raysweep.pool
    nntui.engine.raysweep.pool.CONNECT_TIMEOUT_S = 4.0  # (60 s in use)
    from nntui.sweep_cli import main
    sys.exit(main(sys.argv[1:]))
""")


def test_a_port_that_answers_but_is_no_ray_head_gives_up_in_one_line(ray_cluster: RayCluster,
                                                                      tmp_path: Path) -> None:
    """ray.init retries such an address for minutes; nntui stops at its deadline."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        address = f"127.0.0.1:{listener.getsockname()[1]}"
        out = tmp_path / "never"
        done = subprocess.run([sys.executable, "-c", NOT_A_HEAD, "--ray", address, "--out", str(out), "--vary",
                               "seed=0,1", "--headless"], capture_output=True, text=True, env=ray_cluster.env,
                              timeout=60)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert lines[0].startswith(f"nntui: error: no answer from the Ray cluster at {address} within 4 s"), lines
    assert not out.exists()


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    try:
        code = sweep_main(list(args))
    except SystemExit as exc:  # argparse's own refusals
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


BAD = {
    "no port": (["--ray", "headnode"], "--ray: 'headnode' is not valid; expected HOST:PORT"),
    "port out of range": (["--ray", "10.0.0.1:99999"], "--ray: '10.0.0.1:99999' is not valid"),
    "not a host": (["--ray", "no host:6379"], "--ray: 'no host:6379' is not valid"),
    "a bad IPv4": (["--ray", "10.0.0.300:6379"], "--ray: '10.0.0.300:6379' is not valid"),
    "a Ray Client address": (["--ray", "ray://10.0.0.1:10001"], "Ray Client (ray://)"),
    "negative GPUs": (["--ray", "10.0.0.1:6379", "--ray-gpus", "-1"], "--ray-gpus: '-1' is not valid"),
    "GPUs not a number": (["--ray", "10.0.0.1:6379", "--ray-gpus", "x"], "--ray-gpus: 'x' is not valid"),
    "GPUs nan": (["--ray", "10.0.0.1:6379", "--ray-gpus", "nan"], "--ray-gpus: 'nan' is not valid"),
    "GPUs 1.5": (["--ray", "10.0.0.1:6379", "--ray-gpus", "1.5"], "must be a whole number"),
    "--retries -1": (["--ray", "10.0.0.1:6379", "--retries", "-1"], "--retries: -1 is not valid"),
    "--retries x": (["--ray", "--retries", "x"], "argument --retries: invalid int value: 'x'"),
    "--ray-shared-out without --out": (["--ray", "10.0.0.1:6379", "--ray-shared-out"],
                                       "--ray-shared-out: True is not valid; the workers need the sweep's folder"),
    "--retries without --ray": (["--retries", "1"], "--retries: 1 is not valid; it is for a sweep on a Ray cluster"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_ray_input_one_line_exit_2_before_anything_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                            case: str) -> None:
    args, expected = BAD[case]
    out = tmp_path / "never"
    given = [*args, "--vary", "seed=0,1", "--headless"]
    if "--ray-shared-out" not in args:
        given += ["--out", str(out)]
    code, err = _cli(capsys, *given)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("nntui: error: ") and expected in lines[0], err
    assert not out.exists()


def test_gpus_on_a_cluster_without_gpus_is_one_line_exit_2(ray_cluster: RayCluster, tmp_path: Path) -> None:
    out = tmp_path / "never"
    done = run_sweep(ray_cluster, "--ray", ray_cluster.address, "--ray-gpus", "0.25", "--out", str(out),
                     "--vary", "seed=0,1", "--headless")
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert "has no GPUs" in lines[0] and ray_cluster.address in lines[0]
    assert not out.exists()


BLOCKED = textwrap.dedent("""
    import sys
    sys.modules["ray"] = None  # as if Ray were not installed
    from nntui.sweep_cli import main
    sys.exit(main(sys.argv[1:]))
""")


def test_without_ray_installed_ray_says_how_to_install_it(tmp_path: Path) -> None:
    out = tmp_path / "never"
    done = subprocess.run([sys.executable, "-c", BLOCKED, "--ray", "--out", str(out), "--vary", "seed=0,1",
                           "--headless"], capture_output=True, text=True, timeout=60)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert "pip install 'nntui[ray]'" in lines[0] and not out.exists()
    helped = subprocess.run([sys.executable, "-c", BLOCKED, "--help"], capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and "--ray" in helped.stdout


# ----------------------------------------------------------------------------- the network


def test_every_socket_of_the_ray_tests_stayed_on_loopback(ray_cluster: RayCluster) -> None:
    """Runs last: the sampler watched the cluster and every sweep of this session."""
    ray_cluster.net.sample()
    assert ray_cluster.net.samples > 5 and ray_cluster.net.sockets_seen > 0
    assert not ray_cluster.net.problems, "\n".join(ray_cluster.net.problems[:20])
