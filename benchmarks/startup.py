"""nntui's start-up and time-to-result benchmark: whole processes, timed from spawn.

    python benchmarks/startup.py              # the full table (7 rounds, 2.5-4 minutes with load)
    python benchmarks/startup.py --smoke      # one short round of each figure (the test's size)
    python benchmarks/startup.py --write      # also replace its section of benchmarks/RESULTS.md
    python benchmarks/startup.py --importtime # also the 15 largest cumulative imports

Why whole processes: a lecture run trains in about 0.6 s, but `nntui --headless` takes
seconds from the shell's point of view; what a user waits for is process start to
result, so that is what this times (run.py measures training rates inside one process).

The figures:
  1. `nntui --headless --epochs 1` ÷ `python -c "import torch"`: nntui's own start-up cost.
  2. the lecture's script (benchmarks/seed_script.py) ÷ `nntui --headless`, 5000 epochs each.
  3. the dashboard in a pseudo-terminal: spawn → first full frame (the footer is drawn).
  4. the dashboard: space pressed at that first frame → the loss plot's first curve.
     3+4 is a user's wait from typing `nntui` to a loss curve, pressing space at once.

Method (as run.py's): the machine is shared and noisy, so the variants of a figure run in
rounds, back to back in a rotating order; a time is the median over rounds, a ratio the
median of the rounds' own ratios (a slow spell slows a whole round alike).

The children's environment: this harness may set PYTHONDONTWRITEBYTECODE, which makes
every launch recompile nntui's own modules (compiling all of them takes about 0.2 s here;
installed packages ship their .pyc). A user's Python caches bytecode, so the children run without it and
with PYTHONPYCACHEPREFIX pointing to a private cache (nothing is written into the
checkout); a warm-up fills it. `--env-as-is` measures the inherited environment instead.

run.py is not imported: importing it imports torch (seconds) and sets OMP_NUM_THREADS in
os.environ, which every timed child would then inherit.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import fcntl
import os
import platform
import re
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import results  # benchmarks/results.py (this script's folder is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SEED_SCRIPT = ROOT / "benchmarks" / "seed_script.py"
PYTHON = sys.executable
NNTUI = str(Path(sys.executable).with_name("nntui"))
LECTURE_EPOCHS = 5000
SMOKE_EPOCHS = 200
"""--smoke trains this many epochs in figure 2 (the table says so)."""
PTY_COLS, PTY_ROWS = 100, 32
WAIT_S = 60.0
"""Longest wait for anything a dashboard should show (a loaded machine takes seconds)."""
SECTION_BEGIN = "<!-- startup.py: begin (written by `python benchmarks/startup.py --write`; keep this section) -->"
SECTION_END = "<!-- startup.py: end -->"
GOAL_IMPORT_RATIO = 1.3
GOAL_SEED_RATIO = 1.6

FIRST_FRAME = re.compile(rb"Start/Pause.*?Quit", re.S)
"""The footer's first and its "q Quit" key: Textual paints the footer after the rest of the
first frame (its keys are filled in on mount), so both mean the whole frame is up."""
LOSS_DRAWN = re.compile(rb"loss \(log\)")
"""The loss plot's title: drawn only once the plot has a point (before that the plot area
shows a one-line placeholder: "press space to train", "starting…", "waiting for …")."""
ANSI = re.compile(
    rb"\x1b(?:\[[0-?]*[ -/]*[@-~]"  # CSI: cursor moves, colours, modes
    rb"|\][^\x07\x1b]*(?:\x07|\x1b\\)"  # OSC: title, clipboard
    rb"|[PX^_][^\x1b]*\x1b\\"  # DCS and friends
    rb"|[ -/]*[0-~])"  # two- and three-byte escapes
)


# ----------------------------------------------------------------------------- processes


def child_env(as_is: bool) -> dict[str, str]:
    """The environment every timed process gets (see the module docstring for why)."""
    env = dict(os.environ)
    if as_is:
        return env
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("PYTHONPYCACHEPREFIX", str(Path(tempfile.gettempdir()) / f"nntui-startup-pycache-{os.getuid()}"))
    return env


def wall(cmd: list[str], env: dict[str, str]) -> float:
    """Seconds from spawn to exit; raises with the child's last words if it failed."""
    t0 = time.perf_counter()
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=ROOT, timeout=600)
    took = time.perf_counter() - t0
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace")[-2000:]
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}:\n{tail}")
    return took


def paired_rounds(
    variants: dict[str, Callable[[], float]], rounds: int
) -> tuple[dict[str, list[float]], list[dict[str, float]]]:
    """Every variant once per round, in an order rotated each round (run.py's method).

    Returns each variant's samples and each round's times, so a figure can take the
    median of per-round ratios: a slow spell of the shared machine then hits both sides
    of a ratio alike.
    """
    names = list(variants)
    samples: dict[str, list[float]] = {k: [] for k in names}
    per_round: list[dict[str, float]] = []
    for round_ in range(rounds):
        shift = round_ % len(names)
        got = {name: variants[name]() for name in names[shift:] + names[:shift]}
        for name, seconds in got.items():
            samples[name].append(seconds)
        per_round.append(got)
        shown = "  ".join(f"{k} {v:.2f} s" for k, v in got.items())
        print(f"    round {round_ + 1}/{rounds}: {shown}", file=sys.stderr, flush=True)
    return samples, per_round


# ----------------------------------------------------------------------------- the dashboard in a pty


class PtyScreen:
    """The text a program writes to a pseudo-terminal, escape sequences stripped.

    No terminal emulator (pyte is not a dependency): Textual writes each changed line's
    text contiguously, so a marker phrase survives stripping. A sequence split across two
    reads is carried over to the next one.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.text = bytearray()
        self._carry = b""
        self.closed = False

    def _feed(self, data: bytes) -> None:
        buf = self._carry + data
        self._carry = b""
        esc = buf.rfind(b"\x1b")
        if esc >= 0 and ANSI.match(buf, esc) is None and len(buf) - esc < 256:
            buf, self._carry = buf[:esc], buf[esc:]  # an escape sequence not finished yet
        self.text += ANSI.sub(b"", buf)

    def read(self, timeout: float) -> bool:
        """Read what is there within `timeout` s; False once the terminal is closed."""
        if self.closed:
            return False
        ready, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if ready:
            try:
                data = os.read(self.fd, 65536)
            except OSError:  # EIO: every process on the other side has gone
                data = b""
            if not data:
                self.closed = True
                return False
            self._feed(data)
        return True

    def wait_for(self, pattern: re.Pattern[bytes], timeout: float, start: int = 0) -> float | None:
        """perf_counter() when `pattern` is first seen in the text from `start`, None on timeout."""
        end = time.monotonic() + timeout
        while True:
            if pattern.search(self.text, start):
                return time.perf_counter()
            left = end - time.monotonic()
            if left <= 0 or not self.read(left):
                return None


@dataclass
class DashboardRun:
    first_frame_s: float | None
    loss_after_space_s: float | None
    left_behind: int = 0
    """Processes of the app's process group still alive after it exited (then killed)."""


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def dashboard_run(env: dict[str, str]) -> DashboardRun:
    """Start the real `nntui` in a 100×32 pty; time the first frame and space → first loss point; quit with q.

    The app gets its own session (and process group), so its trainer child is found and,
    if anything outlives the app, ended with the group.
    """
    env = {**env, "TERM": "xterm-256color"}
    env.pop("SSH_CONNECTION", None)  # over SSH the dashboard redraws at 2 Hz, not 4
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", PTY_ROWS, PTY_COLS, 0, 0))
    t0 = time.perf_counter()
    proc = subprocess.Popen([NNTUI], stdin=slave, stdout=slave, stderr=slave, env=env, cwd=ROOT,
                            start_new_session=True, close_fds=True)
    os.close(slave)
    screen = PtyScreen(master)
    first = loss = None
    left = 0
    try:
        seen = screen.wait_for(FIRST_FRAME, WAIT_S)
        if seen is not None:
            first = seen - t0
            mark = len(screen.text)
            pressed = time.perf_counter()
            os.write(master, b" ")
            drawn = screen.wait_for(LOSS_DRAWN, WAIT_S, start=mark)
            if drawn is not None:
                loss = drawn - pressed
    finally:
        left = quit_app(master, screen, proc)
    return DashboardRun(first, loss, left)


def quit_app(master: int, screen: PtyScreen, proc: subprocess.Popen[bytes]) -> int:
    """q, reading the terminal meanwhile (a full pty would block the app's last writes);
    then make sure nothing of the app's process group is left. Returns how many groups had
    to be killed (0 or 1)."""
    with contextlib.suppress(OSError):
        os.write(master, b"q")
    end = time.monotonic() + 15
    while proc.poll() is None and time.monotonic() < end:
        screen.read(0.1)
    left = 0
    if proc.poll() is None:
        print("    the dashboard did not quit on q within 15 s: killed", file=sys.stderr)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        left = 1
    end = time.monotonic() + 5  # the trainer child ends after its parent (it is told to, or sees EOF)
    while group_alive(proc.pid) and time.monotonic() < end:
        screen.read(0.05)
    if group_alive(proc.pid):
        print("    a process of the dashboard outlived it: killed", file=sys.stderr)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        left = 1
    os.close(master)
    return left


# ----------------------------------------------------------------------------- figures


@dataclass
class Row:
    figure: str
    median: str
    ratio: str = ""
    goal: str = ""
    met: str = ""

    def markdown(self) -> str:
        return f"| {self.figure} | {self.median} | {self.ratio} | {self.goal} | {self.met} |"


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        print(f"  {row.markdown()}", file=sys.stderr, flush=True)

    def markdown(self) -> str:
        head = ["| figure | median | ratio | goal | met |", "| --- | --- | --- | --- | --- |"]
        return "\n".join(head + [r.markdown() for r in self.rows])


def met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def figure_import(rounds: int, env: dict[str, str], report: Report) -> None:
    """1: what nntui adds to torch's own import, for the smallest possible run."""
    samples, per_round = paired_rounds(
        {
            "import torch": lambda: wall([PYTHON, "-c", "import torch"], env),
            "nntui --epochs 1": lambda: wall([NNTUI, "--headless", "--epochs", "1"], env),
        },
        rounds,
    )
    ratio = statistics.median(r["nntui --epochs 1"] / r["import torch"] for r in per_round)
    nntui, torch_ = statistics.median(samples["nntui --epochs 1"]), statistics.median(samples["import torch"])
    report.add(Row('1. `nntui --headless --epochs 1` ÷ `python -c "import torch"`',
                   f"{nntui:.2f} s ÷ {torch_:.2f} s", f"{ratio:.2f}", f"≤ {GOAL_IMPORT_RATIO}",
                   met(ratio <= GOAL_IMPORT_RATIO)))


def figure_lecture(rounds: int, epochs: int, env: dict[str, str], report: Report) -> None:
    """2: the lecture's own script against nntui doing the same run, spawn to exit."""
    samples, per_round = paired_rounds(
        {
            "nntui --headless": lambda: wall([NNTUI, "--headless", "--epochs", str(epochs)], env),
            "seed script": lambda: wall([PYTHON, str(SEED_SCRIPT), str(epochs)], env),
        },
        rounds,
    )
    ratio = statistics.median(r["seed script"] / r["nntui --headless"] for r in per_round)
    seed, nntui = statistics.median(samples["seed script"]), statistics.median(samples["nntui --headless"])
    report.add(Row(f"2. seed script ÷ `nntui --headless`, lecture run ({epochs:,} epochs), whole process",
                   f"{seed:.2f} s ÷ {nntui:.2f} s", f"{ratio:.2f}", f"≥ {GOAL_SEED_RATIO}",
                   met(ratio >= GOAL_SEED_RATIO)))


def figure_dashboard(rounds: int, env: dict[str, str], report: Report) -> None:
    """3 and 4 (and their sum): the real dashboard in a pseudo-terminal, one process per round."""
    runs = []
    for round_ in range(rounds):
        run = dashboard_run(env)
        runs.append(run)
        first = "—" if run.first_frame_s is None else f"{run.first_frame_s:.2f} s"
        loss = "—" if run.loss_after_space_s is None else f"{run.loss_after_space_s:.2f} s"
        print(f"    round {round_ + 1}/{rounds}: first frame {first}  space → loss point {loss}", file=sys.stderr,
              flush=True)
    left = sum(r.left_behind for r in runs)
    if left:
        report.notes.append(f"{left} of {len(runs)} dashboard runs left a process behind (killed).")
    size = f"pty {PTY_COLS}×{PTY_ROWS}"
    firsts = [r.first_frame_s for r in runs if r.first_frame_s is not None]
    losses = [r.loss_after_space_s for r in runs if r.loss_after_space_s is not None]
    totals = [r.first_frame_s + r.loss_after_space_s for r in runs
              if r.first_frame_s is not None and r.loss_after_space_s is not None]

    def shown(values: list[float]) -> str:
        if not values:
            return "not measured (marker not seen)"
        extra = "" if len(values) == len(runs) else f" ({len(runs) - len(values)} of {len(runs)} not seen)"
        return f"{statistics.median(values):.2f} s{extra}"

    report.add(Row(f"3. dashboard: spawn → first full frame ({size})", shown(firsts), "", "none yet"))
    report.add(Row("4. dashboard: space (pressed at the first frame) → first loss point drawn", shown(losses), "",
                   "none yet"))
    report.add(Row("3+4. dashboard: spawn → first loss point", shown(totals), "", "none yet"))


# ----------------------------------------------------------------------------- import times


@dataclass
class Imported:
    name: str
    self_us: int
    cumulative_us: int
    depth: int
    parent: str = ""
    """The module whose import triggered this one ("" at the top level)."""
    at_run_time: bool = False
    """A top-level import after nntui's own: made inside a function while nntui ran (e.g. torch.optim
    importing torch._dynamo on first use), so nntui triggered it too."""


def parse_importtime(stderr: str) -> list[Imported]:
    """`-X importtime` lines (children first, nesting by indentation) with each one's parent."""
    rows: list[Imported] = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        # "import time:       151 |        151 |   _io": the name is " " + two spaces per level + name
        parts = line[len("import time:"):].split("|", 2)
        if len(parts) != 3 or not parts[0].strip().isdigit() or not parts[1].strip().isdigit():
            continue
        name = parts[2]
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        rows.append(Imported(name.strip(), int(parts[0]), int(parts[1]), depth))
    # post-order: a module's line follows its children's, which are one level deeper
    pending: list[Imported] = []
    for row in rows:
        while pending and pending[-1].depth > row.depth:
            child = pending.pop()
            if child.depth == row.depth + 1:
                child.parent = row.name
        pending.append(row)
    # the console script's one import is nntui.cli; a top-level import after it happened while main() ran
    names = [r.name for r in rows]
    first = names.index("nntui.cli") if "nntui.cli" in names else len(rows)
    for r in rows[first + 1:]:
        r.at_run_time = r.depth == 0
    return rows


def importtime(env: dict[str, str]) -> list[Imported]:
    """`python -X importtime` of `nntui --headless --epochs 1` (the console script run by python)."""
    cmd = [PYTHON, "-X", "importtime", NNTUI, "--headless", "--epochs", "1"]
    done = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
                          timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return parse_importtime(done.stderr)


def import_lines(rows: list[Imported], limit: int, nntui_only: bool) -> list[str]:
    """The `limit` largest cumulative imports: all, or nntui's (under nntui., imported directly by an
    nntui module, or imported at run time)."""
    def ours(r: Imported) -> bool:
        return r.name.split(".")[0] == "nntui" or r.parent.split(".")[0] == "nntui" or r.at_run_time

    chosen = sorted((r for r in rows if ours(r) or not nntui_only), key=lambda r: -r.cumulative_us)[:limit]
    width = max((len(r.name) for r in chosen), default=10)
    return [(f"{r.cumulative_us / 1000:8.1f} ms cumulative {r.self_us / 1000:7.1f} ms self  {r.name:<{width}}"
             + (f"  ← {r.parent}" if r.parent else "  ← (at run time)" if r.at_run_time else "")).rstrip()
            for r in chosen]


# ----------------------------------------------------------------------------- main


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    try:
        torch_version = metadata.version("torch")  # not `import torch`: this process stays light
    except metadata.PackageNotFoundError:
        torch_version = "?"
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, torch {torch_version}, "
            f"{platform.system()} {platform.release()}")


def load() -> str:
    with contextlib.suppress(OSError):
        return "/".join(f"{x:.1f}" for x in os.getloadavg())
    return "?"


def write_section(text: str, path: Path = RESULTS) -> None:
    """Replace this script's section of RESULTS.md (the rest belongs to the other benchmarks)."""
    results.write_section(text, SECTION_BEGIN, SECTION_END, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=7, help="rounds per figure (default 7)")
    p.add_argument("--smoke", action="store_true",
                   help=f"one round each, figure 2 at {SMOKE_EPOCHS} epochs, no warm-up (the test)")
    p.add_argument("--write", action="store_true", help="replace this script's section of benchmarks/RESULTS.md")
    p.add_argument("--importtime", action="store_true", help="also print the 15 largest cumulative imports")
    p.add_argument("--only", default="", help="comma list of figures to run: 1,2,3 (3 is also 4)")
    p.add_argument("--env-as-is", action="store_true",
                   help="time the children in this environment (default: bytecode caching on, see above)")
    args = p.parse_args(argv)
    if args.rounds < 1:
        p.error("--rounds must be 1 or more")
    rounds = 1 if args.smoke else args.rounds
    epochs = SMOKE_EPOCHS if args.smoke else LECTURE_EPOCHS
    only = set(args.only.split(",")) if args.only else {"1", "2", "3"}
    env = child_env(args.env_as_is)
    report = Report()
    started = time.perf_counter()
    load_before = load()
    print(f"nntui start-up benchmark ({'smoke' if args.smoke else f'{rounds} rounds'}) on {machine()}; "
          f"load {load_before}", file=sys.stderr, flush=True)

    if not args.smoke:
        # untimed: fill the page cache and the bytecode cache (the first run compiles it)
        print("  warm-up…", file=sys.stderr, flush=True)
        wall([PYTHON, "-c", "import torch"], env)
        wall([NNTUI, "--headless", "--epochs", "1"], env)
        if "3" in only:
            wall([PYTHON, "-c", "import nntui.ui.app"], env)

    def timed(name: str, fn: Callable[..., None], *fn_args: object) -> None:
        t0 = time.perf_counter()
        fn(*fn_args)
        print(f"  ({name}: {time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)

    if "1" in only:
        timed("figure 1", figure_import, rounds, env, report)
    if "2" in only:
        timed("figure 2", figure_lecture, rounds, epochs, env, report)
    if "3" in only or "4" in only:
        timed("figures 3, 4", figure_dashboard, rounds, env, report)
    imports = importtime(env)
    ours = import_lines(imports, 12, nntui_only=True)
    took = time.perf_counter() - started
    load_after = load()

    table = report.markdown()
    print(table)
    for note in report.notes:
        print(f"\n{note}")
    print("\n`python -X importtime` of `nntui --headless --epochs 1`: the largest imports under nntui. "
          "imported by an nntui module or at run time (← who imported it):\n")
    print("\n".join(ours))
    if args.importtime:
        print("\nthe 15 largest cumulative imports:\n")
        print("\n".join(import_lines(imports, 15, nntui_only=False)))
    mode = "smoke" if args.smoke else f"{rounds} rounds"
    print(f"\n({mode}, {took:.0f} s; load average {load_before} before, {load_after} after)")

    if args.write:
        stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
        flags = " --smoke" if args.smoke else (f" --rounds {rounds}" if rounds != 7 else "")
        env_note = ("in the inherited environment (--env-as-is)" if args.env_as_is else
                    "with bytecode caching on (PYTHONDONTWRITEBYTECODE unset, a private PYTHONPYCACHEPREFIX)")
        text = (
            "## Start-up and time to result\n\n"
            f"Measured {stamp} with `python benchmarks/startup.py{flags}` ({took:.0f} s; load average "
            f"{load_before} before, {load_after} after) on: {machine()}.\n\n"
            "Whole processes, timed from spawn: to exit (1, 2), or to what the terminal shows (3, 4: the real "
            f"`nntui` in a {PTY_COLS}×{PTY_ROWS} pseudo-terminal; the first frame is the footer drawn, the first "
            "loss point the loss plot's title, drawn only with data). The children run "
            f"{env_note}. Variants alternate in rounds, in a rotating order; a time is the median over rounds, "
            "a ratio the median of the rounds' own ratios. Figure 2's seed script is benchmarks/seed_script.py "
            "(the lecture's code on the CPU without Visdom, every loss copied to the host as it did).\n\n"
            + table + "\n\n"
            + "".join(f"{note}\n\n" for note in report.notes)
            + "`python -X importtime` of `nntui --headless --epochs 1`, the largest imports under nntui. or made "
            "by an nntui module or at run time (one run):\n\n```\n" + "\n".join(ours) + "\n```\n"
        )
        write_section(text)
        print(f"wrote its section of {RESULTS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
