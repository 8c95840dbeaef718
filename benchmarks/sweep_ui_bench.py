"""The sweep's dashboard on a 16-trial sweep: key press → visible change, in a real terminal.

    python benchmarks/sweep_ui_bench.py            # 16 lecture trials, 40 presses (about 2 minutes)
    python benchmarks/sweep_ui_bench.py --quick    # fewer presses, shorter trials
    python benchmarks/sweep_ui_bench.py --write    # also replace its section of benchmarks/RESULTS.md

The real `nntui sweep` (activation=relu,tanh,sigmoid,step × seed=0..3, --jobs 2) runs in a
pseudo-terminal of 120×40, as benchmarks/run.py item 7 runs the dashboard: its two worker
processes train on the machine's two cores while the dashboard draws. Once the first
trials have finished (their curves and leaderboard rows on screen) keys are pressed while
the rest train, and the time from writing a key to the terminal until its effect reaches
the terminal is what a user waits:

  m     smoothing on: the loss plot's title gains "smoothed" (the plot of every trial's curve
        is rebuilt); pressed again, unmeasured, to turn it off;
  down  (and up, in turn) the leaderboard highlights another trial: the loss plot's title
        names it ("#7 activation=… in full"), the plot rebuilt around it.

Goal (issue 12): p95 ≤ 100 ms over all presses. Then q: the time until the process has
exited with every trial saved (each started trial's summary.json, leaderboard.json written).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import platform
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
from dataclasses import dataclass, field
from pathlib import Path

import results  # benchmarks/results.py (this script's folder is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
NNTUI = str(Path(sys.executable).with_name("nntui"))
SECTION_BEGIN = "<!-- sweep_ui_bench.py: begin -->"
SECTION_END = "<!-- sweep_ui_bench.py: end -->"
GOAL_MS = 100.0
COLS, ROWS = 120, 40
GRID = ("activation=relu,tanh,sigmoid,step", "seed=0..3")
TITLE = re.compile(rb"#(\d+) [^\x1b\r\n]{0,90}? in full")
DONE = re.compile(rb"(\d+) done")


@dataclass
class Terminal:
    """The app in a pseudo-terminal: what it wrote so far, and ways to wait for it."""

    master: int
    proc: subprocess.Popen[bytes]
    seen: bytearray = field(default_factory=bytearray)

    def read_for(self, seconds: float) -> bytes:
        out = bytearray()
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                out += chunk
        self.seen += out
        return bytes(out)

    def read_until(self, found: re.Pattern[bytes] | bytes, timeout: float, after: int = 0) -> bytes | None:
        """Read until `found` appears in what came after offset `after` of `seen`; its match, or None."""
        end = time.monotonic() + timeout
        while True:
            tail = bytes(self.seen[after:])
            if isinstance(found, bytes):
                if found in tail:
                    return found
            else:
                hits = list(found.finditer(tail))
                if hits:
                    return hits[-1].group(0)
            left = end - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    return None
                if not chunk:
                    return None
                self.seen += chunk

    def write(self, data: bytes) -> None:
        os.write(self.master, data)


def spawn(out: Path, epochs: int, jobs: int) -> Terminal:
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLORTERM": "truecolor"}
    env.pop("SSH_CONNECTION", None)
    cmd = [NNTUI if Path(NNTUI).exists() else sys.executable, *([] if Path(NNTUI).exists() else ["-m", "nntui"]),
           "sweep", "--out", str(out), *(a for spec in GRID for a in ("--vary", spec)), "--epochs", str(epochs),
           "--jobs", str(jobs)]
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True,
                            close_fds=True)
    os.close(slave)
    return Terminal(master, proc)


def last_done(term: Terminal) -> int:
    hits = DONE.findall(bytes(term.seen[-200_000:]))
    return int(hits[-1]) if hits else 0


def last_title(term: Terminal, after: int = 0) -> int | None:
    hits = TITLE.findall(bytes(term.seen[after:]))
    return int(hits[-1]) if hits else None


@dataclass
class Measured:
    smooth_ms: list[float] = field(default_factory=list)
    highlight_ms: list[float] = field(default_factory=list)
    missed: int = 0
    done_before: int = 0
    done_after: int = 0
    quit_s: float = float("nan")
    exit_code: int | None = None
    saved: str = ""
    tracebacks: int = 0


def measure(out: Path, epochs: int, jobs: int, presses: int, warm_done: int) -> Measured:
    m = Measured()
    term = spawn(out, epochs, jobs)
    try:
        if term.read_until(b"Quit", 60.0) is None:
            raise RuntimeError("the dashboard did not draw its footer within 60 s")
        if term.read_until(b" in full", 180.0) is None:
            raise RuntimeError("no trial's curve within 180 s (the workers import torch first)")
        deadline = time.monotonic() + 300
        while last_done(term) < warm_done and time.monotonic() < deadline:
            term.read_for(0.5)
        m.done_before = last_done(term)
        down = True
        for i in range(presses):
            term.read_for(0.3)
            if i % 2 == 0:
                mark = len(term.seen)
                t0 = time.perf_counter()
                term.write(b"m")
                if term.read_until(b"smoothed", 3.0, after=mark) is not None:
                    m.smooth_ms.append((time.perf_counter() - t0) * 1000)
                else:
                    m.missed += 1
                term.read_for(0.2)
                term.write(b"m")  # off again, unmeasured
            else:
                before = last_title(term)
                mark = len(term.seen)
                t0 = time.perf_counter()
                term.write(b"\x1b[B" if down else b"\x1b[A")
                end = time.monotonic() + 2.0
                changed = False
                while time.monotonic() < end:
                    if term.read_until(TITLE, end - time.monotonic(), after=mark) is None:
                        break
                    now = last_title(term, mark)
                    if now is not None and now != before:
                        changed = True
                        break
                    term.read_for(0.005)
                if changed:
                    m.highlight_ms.append((time.perf_counter() - t0) * 1000)
                else:
                    m.missed += 1  # at the table's end (a sort moved it there): the other way next
                down = not down
        m.done_after = last_done(term)
        term.read_for(0.3)
        t0 = time.perf_counter()
        term.write(b"q")
        end = time.monotonic() + 60
        while term.proc.poll() is None and time.monotonic() < end:
            term.read_for(0.02)  # keep reading: a full terminal buffer would block its last writes
        m.exit_code = term.proc.poll()
        if m.exit_code is not None:
            m.quit_s = time.perf_counter() - t0
        term.read_for(0.2)
        m.tracebacks = bytes(term.seen).count(b"Traceback")
    finally:
        if term.proc.poll() is None:
            os.killpg(term.proc.pid, signal.SIGKILL)
            term.proc.wait()
        os.close(term.master)
    m.saved = check_saved(out)
    return m


def check_saved(out: Path) -> str:
    """Every trial that started has its summary.json; the leaderboard lists every trial."""
    try:
        board = json.loads((out / "leaderboard.json").read_text())
    except (OSError, ValueError) as exc:
        return f"no leaderboard.json ({exc})"
    rows = board["rows"]
    statuses = [r["status"] for r in rows]
    missing = [r["trial"] for r in rows
               if r["status"] != "not started" and not (out / r["trial"] / "summary.json").is_file()]
    counts = ", ".join(f"{statuses.count(s)} {s}" for s in sorted(set(statuses)))
    saved = f"; **no summary for {missing}**" if missing else "; every started trial saved"
    return f"{len(rows)} rows ({counts}){saved}"


def pct(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    k = (len(ordered) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    system = f"{platform.system()} {platform.release()}"
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {system}"


def write_section(text: str, path: Path = RESULTS) -> None:
    """Replace this script's section of RESULTS.md (the rest belongs to the other benchmarks)."""
    results.write_section(text, SECTION_BEGIN, SECTION_END, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="10 presses, shorter trials")
    p.add_argument("--presses", type=int, default=None, help="key presses, alternating m and down/up (default 40)")
    p.add_argument("--epochs", type=int, default=None, help="epochs per trial (default 30000)")
    p.add_argument("--jobs", type=int, default=2, help="worker processes (default 2: the machine's cores)")
    p.add_argument("--warm-done", type=int, default=None, help="trials finished before the first press (default 4)")
    p.add_argument("--write", action="store_true", help="replace this script's section of benchmarks/RESULTS.md")
    args = p.parse_args(argv)
    presses = args.presses or (10 if args.quick else 40)
    epochs = args.epochs or (8000 if args.quick else 30000)
    warm = args.warm_done if args.warm_done is not None else (2 if args.quick else 4)
    tmp = Path(tempfile.mkdtemp(prefix="nntui-sweep-ui-"))
    started = time.perf_counter()
    try:
        m = measure(tmp / "sweep", epochs, args.jobs, presses, warm)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    took = time.perf_counter() - started
    every = m.smooth_ms + m.highlight_ms
    p95 = pct(every, 95)
    load = "/".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    trials = 16

    def row(what: str, samples: list[float]) -> str:
        if not samples:
            return f"| {what} | not measured (no change seen) |  |  |"
        return (f"| {what} ({len(samples)} presses) | p50 {pct(samples, 50):.0f} ms, p95 {pct(samples, 95):.0f} ms, "
                f"max {max(samples):.0f} ms |  |  |")

    lines = [
        "## Sweep dashboard: key press → visible change",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} with `python benchmarks/sweep_ui_bench.py"
        f"{' --quick' if args.quick else ''}` on {machine()} (load {load}; {took:.0f} s). The real `nntui sweep` "
        f"({' × '.join(GRID)} = {trials} lecture trials of {epochs:,} epochs, --jobs {args.jobs}) in a {COLS}×{ROWS} "
        f"pseudo-terminal; keys pressed while trials train ({m.done_before} → {m.done_after} of {trials} done during "
        "the presses): `m` (smoothing: \"smoothed\" in the loss plot's title) and down/up (another trial "
        "highlighted: its name in the loss plot's title), from the key written to its effect read back.",
        "",
        "| figure | value | goal | met |",
        "| --- | --- | --- | --- |",
        f"| dashboard on a {trials}-trial sweep: key press → visible change, p95 ({len(every)} presses) | "
        f"{p95:.0f} ms | ≤ {GOAL_MS:.0f} ms | {'yes' if every and p95 <= GOAL_MS else '**no**'} |",
        row("m: smoothing on, every curve redrawn", m.smooth_ms),
        row("down/up: another trial highlighted", m.highlight_ms),
        f"| q → process exited, every trial saved | {m.quit_s:.2f} s (exit {m.exit_code}; {m.saved}) |  |  |",
    ]
    if m.missed:
        lines.append(f"| presses with no change seen (highlight at the table's end after a sort) | {m.missed} |  |  |")
    if m.tracebacks:
        lines.append(f"| tracebacks in the terminal | **{m.tracebacks}** |  |  |")
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section(text)
        print(f"wrote its section of {RESULTS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
