"""nntui's benchmark: ratios against a plain PyTorch loop measured in the same run.

    python benchmarks/run.py            # the full table (several minutes)
    python benchmarks/run.py --quick    # under about a minute
    python benchmarks/run.py --write    # also rewrite benchmarks/RESULTS.md

The machine is shared and noisy: variants alternate, each is repeated, and the table
quotes medians and ratios from this one run, never absolute times from another.
Goals live here, not in timed unit tests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import fcntl
import io
import os
import platform
import re
import select
import signal
import statistics
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch
import torch.nn as nn

from nntui.engine.config import TrainConfig
from nntui.engine.trainer import Trainer
from nntui.headless import CHUNK_SECONDS as HEADLESS_CHUNK_S

ROOT = Path(__file__).resolve().parents[1]
NNTUI = str(Path(sys.executable).with_name("nntui"))


@dataclass
class Mode:
    """How much to measure: --tiny (smoke test), --quick (< ~1 min), full."""

    name: str
    steps: int
    """Training steps per measurement of a throughput variant."""
    repeats: int
    app_seconds: float
    """How long the dashboard trains per measurement."""
    app_repeats: int
    pty_seconds: float
    key_presses: int
    sizes: tuple[int, ...]
    widths: tuple[int, ...]
    history_points: tuple[int, ...] = (10**3, 10**4, 10**5, 10**6)


MODES = {
    "tiny": Mode("tiny", 200, 1, 2.0, 1, 3.0, 3, (1000,), (10,), (10**3, 10**4)),
    "quick": Mode("quick", 1000, 5, 4.0, 1, 4.0, 12, (10**3, 10**5), (10, 256)),
    "full": Mode("full", 2000, 15, 15.0, 3, 15.0, 40, (10**3, 10**4, 10**5, 10**6), (10, 64, 256, 1024)),
}


@dataclass
class Row:
    item: str
    what: str
    value: str
    ratio: str = ""
    goal: str = ""
    met: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)

    def add(self, item: str, what: str, value: str, ratio: str = "", goal: str = "", met: bool | None = None) -> None:
        mark = "" if met is None else ("yes" if met else "**no**")
        self.rows.append(Row(item, what, value, ratio, goal, mark))
        print(f"  [{item}] {what}: {value} {ratio} {goal} {mark}", file=sys.stderr, flush=True)

    def markdown(self) -> str:
        out = ["| # | measurement | median | ratio | goal | met |", "| --- | --- | --- | --- | --- | --- |"]
        out += [f"| {r.item} | {r.what} | {r.value} | {r.ratio} | {r.goal} | {r.met} |" for r in self.rows]
        return "\n".join(out)


# ----------------------------------------------------------------------------- the workload


def lecture_data(n: int = 1000, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.empty(n, 1).uniform_(-15, 15, generator=g)
    y = 8 * x**2 + 7 * x + 3 + torch.randn(n, 1, generator=g)
    return x, y


def lecture_model(width: int = 10) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(1, width), nn.ReLU(), nn.Linear(width, 6), nn.Linear(6, 1))


def plain_loop(steps: int, n: int = 1000, width: int = 10, batch: int = 0) -> float:
    """(1) The loop a user writes: eager autograd, 1 thread, losses kept on the device."""
    torch.set_num_threads(1)
    x, y = lecture_data(n)
    model = lecture_model(width)
    opt = torch.optim.SGD(model.parameters(), lr=0.001)
    loss_fn = nn.L1Loss()
    losses = []
    t0 = time.perf_counter()
    if batch:
        done = 0
        while done < steps:
            perm = torch.randperm(n)
            for i in range(0, n, batch):
                idx = perm[i : i + batch]
                opt.zero_grad()
                loss = loss_fn(model(x[idx]), y[idx])
                loss.backward()
                opt.step()
                losses.append(loss.detach())
                done += 1
                if done >= steps:
                    break
    else:
        for _ in range(steps):
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            losses.append(loss.detach())
    torch.stack(losses).sum().item()
    return steps / (time.perf_counter() - t0)


def seed_script_loop(steps: int) -> float:
    """(4) The seed script's style: every loss copied to the host, a print every 100 epochs."""
    torch.set_num_threads(1)
    x, y = lecture_data()
    model = lecture_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.001)
    loss_fn = nn.L1Loss()
    loss_arr = []
    sink = io.StringIO()
    t0 = time.perf_counter()
    for i in range(steps):
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        if i % 100 == 0:
            print(loss, file=sink)
        loss_arr.append(loss.cpu().data.numpy())
    return steps / (time.perf_counter() - t0)


def engine_headless(steps: int, engine: str = "fast", n: int = 1000, width: int = 10, batch: int = 0) -> float:
    """(2) The engine as `nntui --headless` drives it (events to a listener, chunked reads),
    timed on the wall clock around the whole run as the plain loop is (data and model built first)."""
    steps_per_epoch = -(-n // batch) if batch else 1
    epochs = max(1, steps // steps_per_epoch)
    c = TrainConfig(epochs=epochs, engine=engine, samples=n, hidden=(width, 6), batch_size=batch)
    trainer = Trainer(c, threads=1, chunk_seconds=HEADLESS_CHUNK_S)
    trainer.prepare()
    t0 = time.perf_counter()
    trainer.run(lambda e: None)
    return epochs * steps_per_epoch / (time.perf_counter() - t0)


def median_rates(variants: dict[str, Callable[[], float]], repeats: int) -> dict[str, float]:
    """Alternate the variants (A B C A B C …) so slow spells of a shared machine hit all of them."""
    return median_rates_and_ratios(variants, repeats)[0]


def median_rates_and_ratios(
    variants: dict[str, Callable[[], float]], repeats: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Medians of each variant's rate, and of each round's ratio to the first variant.

    A round runs every variant once, back to back (in a rotated order, so no variant always
    follows the same one): a slow spell of the shared machine then slows a round's variants
    alike, and the median of per-round ratios shrugs it off where a ratio of medians taken
    minutes apart does not (measured here: the same code read 0.88 and 1.03 of the plain loop).
    """
    names = list(variants)
    samples: dict[str, list[float]] = {k: [] for k in names}
    ratios: dict[str, list[float]] = {k: [] for k in names}
    for round_ in range(repeats):
        shift = round_ % len(names)
        got = {name: variants[name]() for name in names[shift:] + names[:shift]}
        for name, rate in got.items():
            samples[name].append(rate)
            ratios[name].append(rate / got[names[0]] if got[names[0]] > 0 else 0.0)
    return ({k: statistics.median(v) for k, v in samples.items()}, {k: statistics.median(v) for k, v in ratios.items()})


# ----------------------------------------------------------------------------- items


def bench_throughput(mode: Mode, report: Report) -> dict[str, float]:
    s = mode.steps
    for fn in (lambda: plain_loop(100), lambda: engine_headless(100), lambda: engine_headless(100, "autograd")):
        fn()  # warm up: imports, allocator, first optimizer
    rates, ratio = median_rates_and_ratios(
        {
            "plain": lambda: plain_loop(s),
            "fast": lambda: engine_headless(s, "fast"),
            "autograd": lambda: engine_headless(s, "autograd"),
            "seed": lambda: seed_script_loop(s),
        },
        mode.repeats,
    )
    base = rates["plain"]
    report.add("1", "plain PyTorch loop (eager, 1 thread, losses on device)", f"{base:,.0f} steps/s", "1.00",
               "reference")
    r = ratio["fast"]
    report.add("2", "engine headless, fast path (default)", f"{rates['fast']:,.0f} steps/s", f"{r:.2f}", "≥ 2", r >= 2)
    r = ratio["autograd"]
    report.add("2", "engine headless, --engine autograd", f"{rates['autograd']:,.0f} steps/s", f"{r:.2f}", "≥ 0.98",
               r >= 0.98)
    r = ratio["seed"]
    report.add("4", "seed script style (every loss to host, print /100)", f"{rates['seed']:,.0f} steps/s", f"{r:.2f}",
               "for the record")
    return rates


def bench_history(mode: Mode, report: Report) -> None:
    """(5) Loss-plot redraw cost after n recorded steps, with the dashboard's own loss plot."""
    times = asyncio.run(_loss_plot_redraw_ms(mode.history_points))
    first, last = mode.history_points[0], mode.history_points[-1]
    for n, (ms, _) in times.items():
        report.add("5", f"loss-plot redraw after {n:,} steps (100×30)", f"{ms:.2f} ms", f"{ms / times[first][0]:.2f}")
    r = times[last][0] / times[first][0]
    report.add("5", f"redraw after {last:,} vs {first:,} steps", f"{r:.2f}×", "", "≤ 1.2×", r <= 1.2)
    size = times[last][1]
    report.add("5", f"history size after {last:,} steps", f"{size / 1024:.0f} KiB", "", "≤ 5 MB", size <= 5 * 1024**2)


async def _loss_plot_redraw_ms(counts: tuple[int, ...], repeats: int = 15) -> dict[int, tuple[float, int]]:
    """Median build time of the real LossPlot widget at 100×30, and its history's bytes.

    The same noisy curve (a decay plus uniform noise) is recorded at each length, in
    chunks as the trainer sends them; the plot decimates to its width before drawing.
    """
    from textual.app import App, ComposeResult

    from nntui.ui.widgets.loss_plot import LossPlot

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield LossPlot(id="plot")

    out: dict[int, tuple[float, int]] = {}
    app = One()
    async with app.run_test(size=(100, 30)):
        plot = app.query_one(LossPlot)
        for n in counts:
            plot.clear()
            rng = np.random.default_rng(0)
            for start in range(0, n, 10_000):
                m = min(10_000, n - start)
                x = np.arange(start + 1, start + m + 1)
                plot.extend(x, 100 * np.exp(-x / n) + rng.random(m), x[:0], np.empty(0))
            samples = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                plot._build(100, 30)  # what a redraw costs the UI: plotext frame + numpy raster + strips
                samples.append((time.perf_counter() - t0) * 1000)
            out[n] = (statistics.median(samples), plot.train.nbytes + plot.test.nbytes)
    return out


def bench_scaling(mode: Mode, report: Report) -> None:
    """(8) Where cost grows: data size and hidden width, full batch and mini-batch 64."""
    cases = [(n, 10) for n in mode.sizes] + [(1000, w) for w in mode.widths if w != 10]
    for batch in (0, 64):
        label = "full batch" if not batch else "batch 64"
        for n, w in cases:
            # fewer steps where each one is big (a full batch of 10⁶ rows runs ~5 steps/s here)
            rows = batch or n
            steps = max(20, min(mode.steps // 10, int(2e8 / (rows * w))))
            rates, ratio = median_rates_and_ratios(
                {"plain": lambda n=n, w=w, b=batch, s=steps: plain_loop(s, n=n, width=w, batch=b),
                 "fast": lambda n=n, w=w, b=batch, s=steps: engine_headless(s, n=n, width=w, batch=b)},
                max(1, mode.repeats // 3),
            )
            report.add("8", f"{label}, {n:,} points, width {w}", f"{rates['fast']:,.0f} steps/s",
                       f"{ratio['fast']:.2f}", "vs plain")


def bench_help(mode: Mode, report: Report) -> None:
    """(9) `nntui --help` against `python -c pass`: printing help must not import torch."""

    def wall(cmd: list[str]) -> float:
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        return time.perf_counter() - t0

    n = max(3, mode.repeats * 2)
    help_cmd = [NNTUI, "--help"] if Path(NNTUI).exists() else [sys.executable, "-m", "nntui", "--help"]
    rates = median_rates({"pass": lambda: wall([sys.executable, "-c", "pass"]), "help": lambda: wall(help_cmd)}, n)
    r = rates["help"] / rates["pass"]
    report.add("9", "`nntui --help` wall time", f"{rates['help'] * 1000:.0f} ms", f"{r:.2f}",
               f"≤ 3× python -c pass ({rates['pass'] * 1000:.0f} ms)", r <= 3)


# ----------------------------------------------------------------------------- the dashboard


def bench_dashboard(mode: Mode, report: Report, headless_fast: float) -> None:
    """(3) The real app training with plots live at the default refresh, against headless.

    Both hosts: the trainer in a thread of the app (shares the interpreter lock with the
    UI) and in a child process (does not).
    """
    try:
        from nntui.ui.factory import create_app
    except ImportError as exc:  # the dashboard is not there (yet)
        report.add("3", "dashboard training with plots live", f"not measured ({exc})")
        return

    async def one_run(host: str, seconds: float) -> tuple[float, float]:
        """Train in the real app (headless Textual, 120×40); (epochs/s, loss-plot redraws/s)."""
        app = create_app(replace(TrainConfig(), epochs=100_000_000), host=host)
        async with app.run_test(size=(120, 40)) as pilot:
            deadline = time.monotonic() + 60
            while not getattr(app.host, "ready", True) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)  # the process host's child imports torch first
            await pilot.pause(0.3)
            app.action_toggle_run()
            while app.status.epoch < 100 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.5)  # first full redraw
            start_epoch, start_s = app.status.epoch, app.status.elapsed_s
            frames0, t0 = len(app.loss_plot.frame_ms), time.monotonic()
            await asyncio.sleep(seconds)
            epochs, active = app.status.epoch - start_epoch, app.status.elapsed_s - start_s
            fps = (len(app.loss_plot.frame_ms) - frames0) / (time.monotonic() - t0)
            app.action_stop()
            await pilot.pause(0.3)
        return (epochs / active if active > 0 else 0.0), fps

    samples: dict[str, list[tuple[float, float]]] = {"thread": [], "process": []}
    heads = []
    for _ in range(mode.app_repeats):
        heads.append(engine_headless(max(mode.steps, int(headless_fast * 2))))
        for host in samples:
            samples[host].append(asyncio.run(one_run(host, mode.app_seconds)))
    head = statistics.median(heads)
    for host, runs in samples.items():
        rate = statistics.median(r for r, _ in runs)
        fps = statistics.median(f for _, f in runs)
        r = rate / head
        report.add("3", f"dashboard training, plots live, trainer in a {host} ({fps:.1f} loss redraws/s)",
                   f"{rate:,.0f} steps/s", f"{r:.2f}", "≥ 0.95 of headless", r >= 0.95)


def _spawn_pty(
    env: dict[str, str], cols: int = 120, rows: int = 40, args: list[str] | None = None
) -> tuple[int, subprocess.Popen]:
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    argv = [NNTUI, *(["--epochs", "100000000"] if args is None else args)]
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                            start_new_session=True, close_fds=True)
    os.close(slave)
    return master, proc


def _read_until(fd: int, marker: bytes, timeout: float) -> bytes:
    """Read until `marker` appears (e.g. the footer, once the first paint is done)."""
    out = bytearray()
    end = time.monotonic() + timeout
    while marker not in out and (left := end - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                out += os.read(fd, 65536)
            except OSError:
                break
    return bytes(out)


def _read_for(fd: int, seconds: float) -> bytes:
    out = bytearray()
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                out += os.read(fd, 65536)
            except OSError:
                break
    return bytes(out)


def _stop(master: int, proc: subprocess.Popen) -> None:
    with contextlib.suppress(OSError):
        os.write(master, b"q")
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    os.close(master)


def bench_pty_bytes(mode: Mode, report: Report) -> None:
    """(6) Bytes per second the real app writes to a 120×40 terminal while training."""
    base_env = {**os.environ, "TERM": "xterm-256color", "COLORTERM": "truecolor"}
    base_env.pop("SSH_CONNECTION", None)
    for label, env, goal in (
        ("default", base_env, ""),
        ("SSH_CONNECTION set", {**base_env, "SSH_CONNECTION": "10.0.0.1 5000 10.0.0.2 22"}, 40.0),
    ):
        master, proc = _spawn_pty(env)
        try:
            _read_until(master, b"Quit", 60.0)  # start-up: the footer is painted last
            _read_for(master, 1.0)
            os.write(master, b" ")
            _read_until(master, b"loss (log)", 60.0)  # training started, first plots drawn
            _read_for(master, 1.0)
            data = _read_for(master, mode.pty_seconds)
        finally:
            _stop(master, proc)
        kib = len(data) / 1024 / mode.pty_seconds
        if goal:
            report.add("6", f"terminal output while training, {label}", f"{kib:.1f} KiB/s", "", f"≤ {goal:.0f} KiB/s",
                       kib <= goal)
        else:
            report.add("6", f"terminal output while training, {label}", f"{kib:.1f} KiB/s")


def bench_key_latency(mode: Mode, report: Report) -> None:
    """(7) Key press to visible change while training, in a real pseudo-terminal.

    The key is `m` (smoothing): turning it on adds "smoothed" to the loss plot's title, and
    the time until that text reaches the terminal is what a user waits. (Every second press
    turns it off again, unmeasured.)
    """
    env = {**os.environ, "TERM": "xterm-256color"}
    env.pop("SSH_CONNECTION", None)
    master, proc = _spawn_pty(env)
    samples = []
    try:
        _read_until(master, b"Quit", 60.0)
        _read_for(master, 1.0)
        os.write(master, b" ")
        _read_until(master, b"loss (log)", 60.0)  # the first points drawn (the child may still be starting)
        _read_for(master, 1.0)
        for _ in range(mode.key_presses):
            _read_for(master, 0.3)
            t0 = time.perf_counter()
            os.write(master, b"m")
            if b"smoothed" in _read_until(master, b"smoothed", 3.0):
                samples.append((time.perf_counter() - t0) * 1000)
            _read_for(master, 0.2)
            os.write(master, b"m")  # off again
    finally:
        _stop(master, proc)
    if not samples:
        report.add("7", "key press → visible change", "not measured (no change seen)")
        return
    p50 = float(np.percentile(samples, 50))
    p95 = float(np.percentile(samples, 95))
    report.add("7", f"key press → visible change, p50 ({len(samples)} presses)", f"{p50:.0f} ms")
    report.add("7", "key press → visible change, p95", f"{p95:.0f} ms", "", "≤ 100 ms", p95 <= 100)


# ----------------------------------------------------------------------------- main


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, torch {torch.__version__}, "
            f"{platform.system()} {platform.release()}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="under about a minute")
    p.add_argument("--tiny", action="store_true", help="seconds: the smoke test's size")
    p.add_argument("--write", action="store_true", help="rewrite benchmarks/RESULTS.md with this table")
    p.add_argument("--only", default="", help="comma list of items to run, e.g. 1,2,5")
    p.add_argument("--no-app", action="store_true", help="skip the items that start the dashboard (3, 6, 7)")
    args = p.parse_args(argv)
    mode = MODES["tiny" if args.tiny else "quick" if args.quick else "full"]
    only = set(args.only.split(",")) if args.only else None

    def want(*items: str) -> bool:
        return only is None or bool(only & set(items))

    report = Report()
    started = time.perf_counter()
    print(f"nntui benchmark ({mode.name}) on {machine()}", file=sys.stderr)
    def timed(name: str, fn: Callable[..., object], *args: object) -> object:
        t0 = time.perf_counter()
        out = fn(*args)
        print(f"  ({name}: {time.perf_counter() - t0:.0f} s)", file=sys.stderr)
        return out

    rates: dict[str, float] = {"fast": 0.0}
    if want("1", "2", "4", "3"):
        rates = timed("throughput", bench_throughput, mode, report)  # type: ignore[assignment]
    if want("3") and not args.no_app:
        timed("dashboard", bench_dashboard, mode, report, rates["fast"])
    if want("5"):
        timed("history", bench_history, mode, report)
    if want("6") and not args.no_app:
        timed("terminal bytes", bench_pty_bytes, mode, report)
    if want("7") and not args.no_app:
        timed("key latency", bench_key_latency, mode, report)
    if want("8"):
        timed("scaling", bench_scaling, mode, report)
    if want("9"):
        timed("help", bench_help, mode, report)
    took = time.perf_counter() - started
    table = report.markdown()
    print(table)
    print(f"\n({mode.name} mode, {took:.0f} s)")
    if args.write:
        stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
        text = (
            "# Benchmark results\n\n"
            f"Measured {stamp} with `python benchmarks/run.py{' --quick' if args.quick else ''}` "
            f"({mode.name} mode, {took:.0f} s) on: {machine()}.\n\n"
            "Ratios are to the plain PyTorch loop (item 1) measured in the same run, except item 3 "
            "(to the engine headless) and item 5 (to the 10³-step redraw). Variants run in rounds, "
            "back to back in a rotating order; a rate is the median over rounds, a ratio the median "
            "of the rounds' own ratios (a slow spell slows a whole round alike).\n\n" + table + "\n"
        )
        write_results(text)
    return 0


def write_results(table: str, path: Path = ROOT / "benchmarks" / "RESULTS.md") -> None:
    """Replace the main table of RESULTS.md; keep the sections the other benchmarks write
    (between their `<!-- NAME: begin -->` and `<!-- NAME: end -->` markers), in their order."""
    old = path.read_text() if path.exists() else ""
    kept = re.findall(r"<!-- [\w.]+: begin.*?-->.*?<!-- [\w.]+: end -->", old, flags=re.S)
    path.write_text(table + "".join("\n" + section + "\n" for section in kept))


if __name__ == "__main__":
    sys.exit(main())
