"""The real `nntui` binary in a real terminal (tmux at 120×40): start with a key, watch, quit.

Nothing is faked: the console script of this environment runs in a tmux pane; the test
reads the pane like a person would (plot characters, the status line's loss) and quits
with q while training, then checks the process is gone.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (.ci/run installs it)")

DEADLINE = 60.0
LOSS = re.compile(r"RUNNING │ epoch ([\d,]+)/[\d,]+ │ loss ([0-9.eE+-]+)")


def nntui_binary() -> str:
    script = Path(sys.executable).with_name("nntui")
    assert script.exists(), f"no nntui console script next to {sys.executable}"
    return str(script)


class Tmux:
    """A private tmux server (its own socket) so a user's sessions are never touched."""

    def __init__(self) -> None:
        self.socket = f"nntui-test-{uuid.uuid4().hex[:8]}"
        self.session = "nntui"

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=check,
                              timeout=20)

    def start(self, command: str) -> None:
        self.run("new-session", "-d", "-s", self.session, "-x", "120", "-y", "40", command)

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", self.session, *keys)

    def capture(self) -> str:
        return self.run("capture-pane", "-p", "-t", self.session, check=False).stdout

    def alive(self) -> bool:
        return self.run("has-session", "-t", self.session, check=False).returncode == 0

    def kill(self) -> None:
        self.run("kill-server", check=False)


def wait_for(tmux: Tmux, predicate, what: str, timeout: float = DEADLINE) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = tmux.capture()
        if predicate(screen):
            return screen
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; the pane showed:\n{screen}")


def shown_loss(screen: str) -> tuple[int, float] | None:
    match = LOSS.search(screen)
    if not match:
        return None
    return int(match.group(1).replace(",", "")), float(match.group(2))


def test_real_binary_trains_in_tmux_and_quits_on_q(tmp_path: Path) -> None:
    tmux = Tmux()
    env = f"cd {tmp_path} && OMP_NUM_THREADS=1 TERM=xterm-256color"
    # long enough that it is still training when q is pressed
    tmux.start(f"{env} {nntui_binary()} --epochs 2000000; echo EXITED $? > {tmp_path}/exit.txt")
    try:
        wait_for(tmux, lambda s: "press space to train" in s, "the idle dashboard")
        tmux.keys("Space")
        first = shown_loss(wait_for(tmux, lambda s: shown_loss(s) is not None, "the running status line"))
        assert first is not None
        screen = wait_for(
            tmux,
            lambda s: (now := shown_loss(s)) is not None and now[0] > first[0] and now[1] < first[1] * 0.5,
            f"the shown loss to fall below half of {first[1]}",
        )
        assert any(0x2801 <= ord(ch) <= 0x28FF for ch in screen), "braille plot characters on screen"
        assert "loss (log)" in screen and "fit at epoch" in screen
        started = time.monotonic()
        tmux.keys("q")
        wait_for(tmux, lambda s: (tmp_path / "exit.txt").exists(), "nntui to exit", timeout=10)
        took = time.monotonic() - started
        assert (tmp_path / "exit.txt").read_text().split() == ["EXITED", "0"]
        assert took < 3.0, f"quit while training took {took:.1f}s"
    finally:
        tmux.kill()
    assert not tmux.alive()


def test_real_binary_refuses_without_a_tty(tmp_path: Path) -> None:
    """Piped (cron, CI): a message pointing at --headless and exit 2, no escape codes."""
    out = subprocess.run([nntui_binary()], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 2
    assert "--headless" in out.stderr and "\x1b[" not in out.stderr + out.stdout


FIT_TITLE = re.compile(r"fit at epoch (\d+)")


def test_the_default_run_animates_its_fit_in_a_real_terminal(tmp_path: Path) -> None:
    """`nntui`, space: the lecture's run is paced, so the fit plot's title moves through at
    least 4 different epochs within 4 s of the first frame of the fit."""
    tmux = Tmux()
    tmux.start(f"cd {tmp_path} && OMP_NUM_THREADS=1 TERM=xterm-256color {nntui_binary()}")
    try:
        wait_for(tmux, lambda s: "press space to train" in s, "the idle dashboard")
        tmux.keys("Space")
        wait_for(tmux, lambda s: FIT_TITLE.search(s) is not None, "the first fit")
        seen: set[int] = set()
        started = time.monotonic()
        while time.monotonic() - started < 4.0:
            seen.update(int(m) for m in FIT_TITLE.findall(tmux.capture()))
            time.sleep(0.1)
        assert len(seen) >= 4, f"fit titles seen in 4 s: {sorted(seen)}"
        tmux.keys("q")
        wait_for(tmux, lambda s: not tmux.alive(), "nntui to quit (its pane closes)", timeout=15)
    finally:
        tmux.kill()
