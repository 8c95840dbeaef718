"""The real `nntui watch` in a real terminal (tmux at 120×40) following a real headless run.

Nothing is faked: a headless run writes its directory from another process, the console
script watches it in a tmux pane, and the test reads the pane like a person would: the
wait for the directory, the run list's status going from running to done, the fit drawn
from the run's weights, then q.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

# the project's tmux driver (a private server per test) lives beside this file
from test_tmux import Tmux, nntui_binary, wait_for

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (.ci/run installs it)")

DEADLINE = 180.0
EPOCHS = 20_000
BRAILLE = re.compile("[\u2801-\u28ff]")


def watch_command() -> str:
    """The real `nntui watch` command (the console script)."""
    return f"{nntui_binary()} watch"


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_real_watch_follows_a_headless_run_to_done(tmp_path: Path) -> None:
    run = tmp_path / "runs" / "lecture"
    tmux = Tmux()
    env = f"cd {tmp_path} && OMP_NUM_THREADS=1 TERM=xterm-256color"
    tmux.start(f"{env} {watch_command()} {run}; echo EXITED $? > {tmp_path}/exit.txt")
    proc = None
    try:
        wait_for(tmux, lambda s: "waiting: no directory yet" in s, "the wait for the directory", DEADLINE)
        proc = subprocess.Popen(
            [nntui_binary(), "--headless", "--out", str(run), "--epochs", str(EPOCHS), "--checkpoint-every", "0.5"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
        wait_for(tmux, lambda s: "RUNNING │ epoch" in s and BRAILLE.search(s) is not None,
                 "the running status and a curve", DEADLINE)
        screen = wait_for(tmux, lambda s: f"DONE │ epoch {EPOCHS:,}/{EPOCHS:,}" in s, "the status to reach done",
                          DEADLINE)
        assert "loss (log)" in screen and "lecture" in screen
        wait_for(tmux, lambda s: f"fit at epoch {EPOCHS}" in s, "the fit of the final weights", DEADLINE)
        assert proc.wait(timeout=DEADLINE) == 0
        tmux.keys("q")
        wait_for(tmux, lambda s: (tmp_path / "exit.txt").exists(), "nntui watch to exit", 30)
        assert (tmp_path / "exit.txt").read_text().split() == ["EXITED", "0"]
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        tmux.kill()
    assert not tmux.alive()
