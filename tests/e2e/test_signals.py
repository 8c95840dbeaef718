"""Signals reach the real dashboard in a real terminal (tmux): the run is saved, the terminal
restored, and the exit code says which signal — as in headless mode (tests/test_faults.py).

SIGTERM and SIGINT from `kill`, Ctrl-C typed in the pane, SIGHUP from `kill`, and a real
hang-up: the terminal itself goes away (the tmux server is killed, as when SSH drops).
"""

from __future__ import annotations

import csv
import fcntl
import json
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from test_tmux import Tmux, nntui_binary, shown_loss, wait_for

from nntui.engine.checkpoint import load_checkpoint

CASES = {"SIGTERM": 143, "SIGHUP": 129, "SIGINT": 130, "ctrl-c": 130}


def _start_training(tmux: Tmux, tmp_path: Path) -> int:
    """nntui in the pane (its pid written by the shell that execs it), trained a little."""
    env = f"cd {tmp_path} && OMP_NUM_THREADS=1 TERM=xterm-256color"
    inner = f"echo $$ > {tmp_path}/pid; exec {nntui_binary()} --epochs 2000000 --out {tmp_path}/run"
    tmux.start(f"{env} sh -c '{inner}'; echo EXITED $? > {tmp_path}/exit.txt; sleep 60")
    wait_for(tmux, lambda s: "press space to train" in s, "the idle dashboard")
    tmux.keys("Space")
    wait_for(tmux, lambda s: (now := shown_loss(s)) is not None and now[0] > 200, "a few hundred epochs")
    return int((tmp_path / "pid").read_text())


HUNG_UP = ("SIGHUP", "the terminal hanging up")
"""A hang-up is seen either way first: the kernel's SIGHUP, or the input's end-of-file."""


def _check_saved(run: Path, *why: str) -> None:
    summary = json.loads((run / "summary.json").read_text())
    assert summary["message"] in [f"interrupted by {w}" for w in why], summary
    _, checkpoint = load_checkpoint(run)
    with (run / "metrics.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert rows and int(rows[-1]["epoch"]) == checkpoint.epoch == summary["epochs"] > 200


@pytest.mark.parametrize(("how", "code"), CASES.items(), ids=list(CASES))
def test_signal_saves_the_run_restores_the_terminal_and_exits_with_its_code(
    tmp_path: Path, how: str, code: int
) -> None:
    tmux = Tmux()
    try:
        pid = _start_training(tmux, tmp_path)
        if how == "ctrl-c":
            tmux.keys("C-c")
        else:
            os.kill(pid, getattr(signal, how))
        started = time.monotonic()
        wait_for(tmux, lambda s: (tmp_path / "exit.txt").exists(), "nntui to exit", timeout=15)
        took = time.monotonic() - started
        assert (tmp_path / "exit.txt").read_text().split() == ["EXITED", str(code)]
        assert took < 5, f"exit after {how} took {took:.1f}s"
        # the terminal is back: main screen, no mouse reporting, the prompt's line readable
        state = tmux.run("display-message", "-p", "-t", tmux.session, "#{alternate_on} #{mouse_any_flag}").stdout
        assert state.split() == ["0", "0"], f"alternate screen / mouse mode left on: {state!r}"
        label = "Ctrl-C" if how == "ctrl-c" else how
        assert f"nntui: {label}: stopped at epoch" in tmux.capture()
        _check_saved(tmp_path / "run", label)
    finally:
        tmux.kill()


def test_terminal_hang_up_saves_the_run(tmp_path: Path) -> None:
    """The terminal disappears under the app (SSH dropped): SIGHUP, nothing left to restore,
    the run directory is complete all the same."""
    tmux = Tmux()
    try:
        pid = _start_training(tmux, tmp_path)
    finally:
        tmux.kill()
    deadline = time.monotonic() + 15
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid), "nntui outlived its terminal"
    _check_saved(tmp_path / "run", *HUNG_UP)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its dead parent) counts as gone
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[-1].split()[0] != "Z"


CONTROLLING_TTY_SHIM = """
import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)  # a session leader's first tty becomes its controlling terminal
for std in (0, 1, 2):
    os.dup2(fd, std)
os.execv(sys.argv[2], sys.argv[2:])
"""


def test_hang_up_as_session_leader_sigcont_included(tmp_path: Path) -> None:
    """nntui owns its terminal (a session leader, as under sshd) and the terminal hangs up.

    The kernel then sends SIGHUP *and* SIGCONT, and every write fails (EIO). Textual's SIGCONT
    handler re-enters application mode and its writer thread dies on the first failed write,
    after which the event loop blocked for ever in a full write queue (1 in 10 tmux hang-ups
    under load; 1 in 3 here). nntui must still save the run and exit 129."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", CONTROLLING_TTY_SHIM, os.ttyname(slave), nntui_binary(),
         "--epochs", "2000000", "--out", str(tmp_path / "run")],
        cwd=tmp_path, env=env, start_new_session=True, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        _read_pty_until(master, lambda out: b"Quit" in out, "the first frame")
        os.close(slave)  # held until now: a pty nobody has opened yet reads as EIO
        slave = -1
        os.write(master, b" ")
        metrics = tmp_path / "run" / "metrics.csv"
        _read_pty_until(master, lambda _: _last_epoch(metrics) > 200, "a few hundred epochs")
        os.close(master)  # the terminal hangs up
        master = -1
        code = proc.wait(timeout=15)
    finally:
        for fd in (master, slave):
            if fd >= 0:
                os.close(fd)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert code == 129
    _check_saved(tmp_path / "run", *HUNG_UP)


def _read_pty_until(fd: int, done, what: str, timeout: float = 60.0) -> None:
    """Keep draining the terminal (a full pty would block the app) until `done(output)`."""
    out = bytearray()
    deadline = time.monotonic() + timeout
    while not done(out):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                out += os.read(fd, 65536)
            except OSError as exc:  # EIO: nothing holds the terminal any more
                raise AssertionError(f"the app left before {what}: {bytes(out[-2000:])!r}") from exc


def _last_epoch(metrics: Path) -> int:
    try:
        lines = metrics.read_text().splitlines()
    except FileNotFoundError:
        return 0
    return int(lines[-1].split(",")[0]) if len(lines) > 1 and lines[-1][:1].isdigit() else 0


def _cpu_seconds(pid: int) -> float:
    """utime + stime of one process (not its children: the trainer child trains on its own core)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _hang_up_with_sighup_ignored(tmp_path: Path, *flags: str) -> tuple[int, float, float]:
    """nntui as its terminal's session leader with SIGHUP ignored (`trap '' HUP`, so the hang-up
    sends no signal that counts); the terminal hangs up after some training. Returns the exit
    code, the seconds it lived after the hang-up, and the largest share of a core it used in any
    second of that time (a spinning thread shows as ~1.0; leaving takes ~0.1 s of CPU)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "OMP_NUM_THREADS": "1"}
    command = f"trap '' HUP; exec {nntui_binary()} --out {tmp_path / 'run'} " + " ".join(flags)
    proc = subprocess.Popen(
        [sys.executable, "-c", CONTROLLING_TTY_SHIM, os.ttyname(slave), "/bin/bash", "-c", command],
        cwd=tmp_path, env=env, start_new_session=True, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        _read_pty_until(master, lambda out: b"Quit" in out, "the first frame")
        os.close(slave)
        slave = -1
        os.write(master, b" ")
        metrics = tmp_path / "run" / "metrics.csv"
        _read_pty_until(master, lambda _: _last_epoch(metrics) > 200, "a few hundred epochs")
        os.close(master)  # the terminal hangs up
        master = -1
        hung_up = time.monotonic()
        peak, last_t, last_cpu = 0.0, hung_up, _cpu_seconds(proc.pid)
        while proc.poll() is None and time.monotonic() - hung_up < 60:
            time.sleep(1.0)
            try:
                cpu = _cpu_seconds(proc.pid)
            except (FileNotFoundError, ProcessLookupError, IndexError):
                break  # exited between the poll and the read
            now = time.monotonic()
            peak = max(peak, (cpu - last_cpu) / (now - last_t))
            last_t, last_cpu = now, cpu
        code = proc.wait(timeout=30)
        return code, time.monotonic() - hung_up, peak
    finally:
        for fd in (master, slave):
            if fd >= 0:
                os.close(fd)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_hang_up_with_sighup_ignored_saves_and_exits_129_without_spinning(tmp_path: Path) -> None:
    """`trap '' HUP`: no signal ends the app, so it must notice the dead terminal itself (it used
    to spin on its end-of-file at 85 % of a core for as long as it lived)."""
    code, lived, peak = _hang_up_with_sighup_ignored(tmp_path, "--epochs", "2000000")
    assert code == 129
    assert lived < 5.0, f"lived {lived:.1f} s after the hang-up"
    assert peak <= 0.2, f"used {peak:.0%} of a core after the hang-up"
    _check_saved(tmp_path / "run", "the terminal hanging up")


def test_on_hangup_train_trains_on_without_a_screen_and_saves_at_the_end(tmp_path: Path) -> None:
    code, _, peak = _hang_up_with_sighup_ignored(tmp_path, "--epochs", "20000", "--pace", "max",
                                                  "--on-hangup", "train")
    assert code == 0
    assert peak <= 0.2, f"the UI process used {peak:.0%} of a core with no terminal to draw on"
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["status"] == "done" and summary["epochs"] == 20000
