"""`nntui sweep --ray` benchmark: a local 2-CPU Ray cluster against the local process pool.

    python benchmarks/ray_bench.py                 # 5 rounds of 16 lecture trials (about 4-6 minutes)
    python benchmarks/ray_bench.py --quick         # 1 round of 4 trials (the smoke size)
    python benchmarks/ray_bench.py --write         # also replace its section of benchmarks/RESULTS.md
    python benchmarks/ray_bench.py --address H:P   # an existing cluster instead of a private one

The figures:
  1. 16 lecture trials (seeds 0-15, 5000 full-batch epochs each), spawn to exit: `nntui sweep
     --jobs 2` ÷ `nntui sweep --ray` on a 2-CPU head on this machine, as a throughput ratio
     (local wall ÷ Ray wall; 1.0 = as fast). Goal ≥ 0.8. The Ray side pays what a user pays:
     importing Ray, joining the cluster, the hub actor, the workers' first torch import.
  2. Ray's per-trial overhead: wall time beyond each trial's training (its own elapsed_s),
     between trials in a warm worker (goal ≤ 0.5 s), and over the whole sweep with start-up
     counted (for the record). Seen from the `Sweep` API: each TrialStarted (the task's hello)
     and TrialFinished on the driver's clock.
  3. Bytes each trial sends to the driver (pickled pushes: every metrics row, the film's fits,
     the checkpoints, the summary's events), and the driver's CPU time per trial: what decides
     how far one driver scales (the "on paper" paragraph).

Without --address the benchmark starts its own head (`ray start --head --num-cpus 2` on a free
loopback port, its own temp dir, usage stats and cloud lookups off) and stops exactly that one
at the end. Method as sweep_bench.py: a time is the median over rounds, a ratio the median of the rounds'
own ratios; within a round the local and the Ray sweep run back to back, in alternating order.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import results  # benchmarks/results.py (this script's folder is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
PYTHON = sys.executable
TRIALS, QUICK_TRIALS = 16, 4
JOBS = 2
GOAL_RATIO = 0.8
GOAL_OVERHEAD_S = 0.5
SECTION_BEGIN = "<!-- ray_bench.py: begin -->"
SECTION_END = "<!-- ray_bench.py: end -->"
LOOPBACK_ENV = {
    # as tests/ray/conftest.py: the node on 127.0.0.1, no usage report or cloud lookup leaves the machine
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_USAGE_STATS_REPORT_URL": "http://127.0.0.1:9/",
}


# ----------------------------------------------------------------------------- the child


def child_ray(out: Path, n: int, address: str) -> dict[str, Any]:
    """A Ray sweep through the API: each trial's start and end on the driver's clock, the bytes
    it sent, and this driver's CPU time."""
    from nntui.engine.config import TrainConfig
    from nntui.engine.grid import build_grid
    from nntui.engine.raysweep import MAX_JOBS, RayPool
    from nntui.engine.sweep import Sweep, TrialFinished, TrialMessage, TrialStarted

    t0 = time.perf_counter()
    cpu0 = time.process_time()
    pool = RayPool(address)
    pool.connect()
    base = TrainConfig()
    sweep = Sweep(base, build_grid([f"seed=0..{n - 1}"], base), out, jobs=MAX_JOBS, backend=pool)
    sweep.prepare()
    started: dict[int, tuple[float, str]] = {}
    finished: dict[int, tuple[float, float, float]] = {}

    def listen(m: TrialMessage) -> None:
        now = time.perf_counter()
        if isinstance(m, TrialStarted):
            started[m.trial] = (now, m.where)
        elif isinstance(m, TrialFinished) and not m.earlier:
            s = m.summary
            finished[m.trial] = (now, float(s.get("elapsed_s") or 0.0), float(s.get("steps_per_s") or 0.0))

    t_run = time.perf_counter()
    cpu_run, own_run = time.process_time(), time.thread_time()
    result = sweep.run(listen)
    t1 = time.perf_counter()
    cpu1, own1 = time.process_time(), time.thread_time()
    assert result.counts == {"done": n}, result.counts
    workers: dict[str, list[int]] = {}
    for trial, (_, where) in started.items():
        workers.setdefault(where, []).append(trial)
    between = 0.0
    for trials in workers.values():
        window = max(finished[t][0] for t in trials) - min(started[t][0] for t in trials)
        between += window - sum(finished[t][1] for t in trials)
    training = sum(f[1] for f in finished.values())
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "wall": t1 - t_run,
        "connect": t_run - t0,
        "training": training,
        "workers": len(workers),
        "between_per_trial": between / n,
        "inclusive_per_trial": (JOBS * (t1 - t_run) - training) / n,
        "bytes": sorted(pool.bytes_received.values()),
        "driver_cpu_per_trial": (cpu1 - cpu_run) / n,
        "driver_thread_cpu_per_trial": (own1 - own_run) / n,
        "driver_busy_per_trial": pool.busy_s / n,
        "driver_cpu_total": cpu1 - cpu0,
        "driver_rss_mb": usage.ru_maxrss / 1024,
        "rates": [f[2] for f in finished.values()],
    }


# ----------------------------------------------------------------------------- a private head


@dataclass
class Head:
    address: str
    temp_dir: Path | None
    env: dict[str, str]

    def stop(self) -> None:
        """Stop exactly this head's processes (its temp dir is in their command lines; the raylet's
        children, the workers, go with it): `ray stop` would stop every Ray cluster here."""
        if self.temp_dir is None:
            return
        marker = str(self.temp_dir)
        pids = {int(p) for p in os.listdir("/proc") if p.isdigit() and marker in _cmdline(int(p))} - {os.getpid()}
        pids |= _descendants(pids)  # the raylet's agents and workers: their titles do not name the temp dir
        for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 0.0)):
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in pids):
                time.sleep(0.1)
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def _descendants(roots: set[int]) -> set[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                parents[int(entry)] = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
    found = set(roots)
    grew = True
    while grew:
        grew = False
        for pid, ppid in parents.items():
            if pid not in found and ppid in found:
                found.add(pid)
                grew = True
    return found - roots


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def start_head(env: dict[str, str]) -> Head:
    temp = Path(tempfile.mkdtemp(prefix="nntui-raybench-", dir="/tmp"))
    home = temp / "home"
    home.mkdir()
    (home / "ray_bootstrap_config.yaml").write_text("{}\n")  # no cloud-metadata lookups (see tests/ray/conftest.py)
    env = {**env, **LOOPBACK_ENV, "HOME": str(home)}
    env.pop("RAY_ADDRESS", None)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    head = Head(f"127.0.0.1:{port}", temp, env)
    cmd = [str(Path(PYTHON).with_name("ray")), "start", "--head", "--num-cpus", str(JOBS), "--node-ip-address",
           "127.0.0.1", "--port", str(port), "--include-dashboard=false", "--disable-usage-stats",
           "--dashboard-host", "127.0.0.1", "--temp-dir", str(temp / "r")]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    if done.returncode != 0:
        head.stop()
        raise RuntimeError(f"ray start failed:\n{done.stderr[-2000:]}")
    return head


# ----------------------------------------------------------------------------- harness


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("PYTHONPYCACHEPREFIX", str(Path(tempfile.gettempdir()) / f"nntui-bench-pycache-{os.getuid()}"))
    env["OMP_NUM_THREADS"] = "1"
    return env


def sweep_command() -> list[str]:
    script = Path(PYTHON).with_name("nntui")
    return [str(script), "sweep"] if script.exists() else [PYTHON, "-m", "nntui.sweep_cli"]


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=900)
    took = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return took, done.stdout


@dataclass
class Round:
    local_s: float = 0.0
    ray_s: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)


def one_round(index: int, n: int, head: Head) -> Round:
    r = Round()
    work = Path(tempfile.mkdtemp(prefix="nntui-ray-bench-"))
    grid = ["--vary", f"seed=0..{n - 1}", "--headless"]
    try:
        def local() -> None:
            r.local_s, _ = timed([*sweep_command(), "--out", str(work / "local"), "--jobs", str(JOBS), *grid],
                                 head.env)

        def on_ray() -> None:
            r.ray_s, _ = timed([*sweep_command(), "--out", str(work / "ray"), "--ray", head.address, *grid], head.env)

        def api() -> None:
            _, out = timed([PYTHON, __file__, "--child-ray", str(work / "api"), str(n), head.address], head.env)
            r.detail = json.loads(out.strip().splitlines()[-1])

        # the two timed processes back to back (a foreign load changes slower than that), their order
        # alternating; the API run (overheads, bytes) after them
        for fn in ([local, on_ray] if index % 2 == 0 else [on_ray, local]) + [api]:
            fn()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    d = r.detail
    print(f"  round {index + 1}: local {r.local_s:.2f} s, ray {r.ray_s:.2f} s ({r.local_s / r.ray_s:.2f}); "
          f"between trials {d['between_per_trial']:.3f} s a trial, with start-up {d['inclusive_per_trial']:.3f} s; "
          f"{statistics.median(d['bytes']) / 1024:.0f} KiB and {d['driver_cpu_per_trial'] * 1000:.0f} ms of driver "
          f"CPU a trial", file=sys.stderr, flush=True)
    return r


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = []
    for package in ("torch", "ray"):
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{package} ?")
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {', '.join(versions)}, "
            f"{platform.system()} {platform.release()}")


def load() -> str:
    with contextlib.suppress(OSError):
        return "/".join(f"{x:.1f}" for x in os.getloadavg())
    return "?"


@dataclass
class Figures:
    local_s: float
    ray_s: float
    ratio: float
    between: float
    inclusive: float
    connect: float
    bytes_per_trial: float
    driver_cpu: float
    driver_thread_cpu: float
    driver_busy: float
    training: float
    rate: float


def figures(rounds: list[Round], n: int) -> Figures:
    med = statistics.median
    return Figures(
        local_s=med(r.local_s for r in rounds), ray_s=med(r.ray_s for r in rounds),
        ratio=med(r.local_s / r.ray_s for r in rounds),
        between=med(r.detail["between_per_trial"] for r in rounds),
        inclusive=med(r.detail["inclusive_per_trial"] for r in rounds),
        connect=med(r.detail["connect"] for r in rounds),
        bytes_per_trial=med(b for r in rounds for b in r.detail["bytes"]),
        driver_cpu=med(r.detail["driver_cpu_per_trial"] for r in rounds),
        driver_thread_cpu=med(r.detail["driver_thread_cpu_per_trial"] for r in rounds),
        driver_busy=med(r.detail["driver_busy_per_trial"] for r in rounds),
        training=med(r.detail["training"] / n for r in rounds),
        rate=med(x for r in rounds for x in r.detail["rates"]),
    )


def table(f: Figures, n: int) -> str:
    def yes(ok: bool) -> str:
        return "yes" if ok else "no"

    rows = [
        "| figure | value | goal | met |",
        "| --- | --- | --- | --- |",
        f"| {n} lecture trials on the local {JOBS}-CPU Ray cluster ÷ the local pool (`--jobs {JOBS}`), total wall "
        f"time, as throughput (local wall ÷ Ray wall; spawn to exit) | {f.local_s:.1f} s ÷ {f.ray_s:.1f} s = "
        f"{f.ratio:.2f} | ≥ {GOAL_RATIO} | {yes(f.ratio >= GOAL_RATIO)} |",
        f"| Ray per-trial overhead: wall time beyond the trial's training, between trials in a warm worker "
        f"| {f.between:.3f} s | ≤ {GOAL_OVERHEAD_S} s | {yes(f.between <= GOAL_OVERHEAD_S)} |",
        f"| the same over the whole sweep ({JOBS} × wall − Σ training, ÷ {n}; the hub's and workers' start-up "
        f"counted) | {f.inclusive:.3f} s | for the record |  |",
        f"| bytes sent to the driver per trial of the lecture (pickled pushes: {f.training:.2f} s of training, "
        f"5000 metrics rows, the film's fits, the checkpoints) | {f.bytes_per_trial / 1024:.0f} KiB "
        f"({f.bytes_per_trial:,.0f} B) | – |  |",
        f"| the driver's time per trial handling what arrived (unpickling; writing metrics.csv, checkpoints, "
        f"film, summaries, with their fsyncs) | {f.driver_busy * 1000:.0f} ms | for the record |  |",
        f"| the driver's main thread, CPU time per trial over the whole sweep (handling and polling) "
        f"| {f.driver_thread_cpu * 1000:.0f} ms | for the record |  |",
        f"| the driver process's CPU time per trial (all threads: Ray's client, torch's import for the checkpoint "
        f"writer, spread over {n} trials) | {f.driver_cpu * 1000:.0f} ms | for the record |  |",
        f"| joining the cluster (import Ray, ray.init) | {f.connect:.2f} s | for the record |  |",
        f"| a trial's speed on the Ray workers | {f.rate:,.0f} steps/s | for the record |  |",
    ]
    return "\n".join(rows)


def on_paper(f: Figures) -> str:
    """How one driver scales to N machines, from this run's own figures."""
    per_trial = f.training + f.between
    driver = max(f.driver_busy, f.driver_thread_cpu)  # its one thread: handling, or all its CPU, whichever is more
    limit = 1 / driver if driver > 0 else float("inf")
    cores_at_limit = limit * per_trial
    kib_s = limit * f.bytes_per_trial / 1024
    sweep_s = 480 / limit
    return (
        "**On paper: N machines.** Trials are independent, so N machines of c cores (a trial per core) "
        f"finish N·c ÷ (t + o) trials a second, t a trial's training ({f.training:.2f} s for the lecture here) "
        f"and o its overhead ({f.between:.2f} s): {1 / per_trial:.2f} trials/s per core, linear in N while the "
        "driver keeps up. The driver is the one part that does not grow with N: every trial's rows, fits and "
        f"checkpoints come back to it ({f.bytes_per_trial / 1024:.0f} KiB a lecture trial, "
        f"{f.bytes_per_trial / 1024 / per_trial:.0f} KiB/s per busy core) and it writes every run directory on "
        f"one thread: {f.driver_busy * 1000:.0f} ms a trial handling what arrives (unpickling, metrics rows, "
        f"checkpoints and the fsyncs that make each file durable), {f.driver_thread_cpu * 1000:.0f} ms of that "
        "thread's CPU a trial over the whole sweep, polling included. So it saturates near "
        f"{limit:.0f} trials/s, about {cores_at_limit:.0f} busy cores of lecture trials, whatever N is: the "
        f"issue's 480-trial sweep cannot take less than about {sweep_s:.0f} s with one driver (against "
        f"{480 * per_trial / JOBS / 60:.0f} min on this machine's {JOBS} cores). The network is not the limit: at "
        f"saturation {kib_s:.0f} KiB/s reach the driver, a small part of a 1 Gbit/s link. Trials that train "
        f"longer push the limit out in proportion (a 60 s trial: about {60 / per_trial:.0f}× the cores); "
        "lecture-sized trials "
        "on more cores than that need the writing moved off the driver: `--ray-shared-out` (workers write their "
        "own run directories on a shared file system; the driver then handles a few KiB of thinned progress "
        "per trial), or run directories written by several driver threads (not built). The hub actor beside the "
        "driver takes 2–3 small pushes a second per running trial, and the head schedules one task per trial: "
        "neither is near its limits at these rates."
    )


def write_section(text: str, path: Path = RESULTS) -> None:
    """Replace this script's section of RESULTS.md (the rest belongs to the other benchmarks)."""
    results.write_section(text, SECTION_BEGIN, SECTION_END, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=5, help="rounds (default 5)")
    p.add_argument("--quick", action="store_true", help=f"one round of {QUICK_TRIALS} trials (the smoke size)")
    p.add_argument("--write", action="store_true", help="replace this script's section of benchmarks/RESULTS.md")
    p.add_argument("--address", default=None, metavar="HOST:PORT",
                   help=f"an existing Ray cluster ({JOBS} CPUs for a fair comparison); default: a private head")
    p.add_argument("--child-ray", nargs=3, metavar=("OUT", "N", "ADDRESS"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child_ray:
        out, n, address = args.child_ray
        print(json.dumps(child_ray(Path(out), int(n), address)))
        return 0
    if args.rounds < 1:
        p.error("--rounds must be 1 or more")
    try:
        import ray  # noqa: F401
    except ImportError:
        print("ray_bench.py needs Ray: pip install 'nntui[ray]'", file=sys.stderr)
        return 2
    rounds_n, n = (1, QUICK_TRIALS) if args.quick else (args.rounds, TRIALS)
    env = child_env()
    head = Head(args.address, None, {**env, **LOOPBACK_ENV}) if args.address else start_head(env)
    began, load_before = time.perf_counter(), load()
    print(f"nntui ray benchmark: {rounds_n} round(s) of {n} trials on {head.address}, {machine()}; load "
          f"{load_before}", file=sys.stderr, flush=True)
    try:
        if not args.quick:  # untimed: page cache, bytecode cache, the cluster's first workers
            timed([PYTHON, "-c", "import torch, ray, nntui.engine.trainer, nntui.sweep_cli"], head.env)
        rounds = [one_round(i, n, head) for i in range(rounds_n)]
    finally:
        head.stop()
    f = figures(rounds, n)
    text = table(f, n)
    paper = on_paper(f)
    took, load_after = time.perf_counter() - began, load()
    print(text)
    print()
    print(paper)
    if args.write:
        stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
        flags = " --quick" if args.quick else (f" --rounds {rounds_n}" if rounds_n != 5 else "")
        where = "an existing cluster" if args.address else f"a private {JOBS}-CPU head on 127.0.0.1"
        write_section(
            "## Sweeps on a Ray cluster\n\n"
            f"Measured {stamp} with `python benchmarks/ray_bench.py{flags}` ({took:.0f} s; load average "
            f"{load_before} before, {load_after} after) on {where}: {machine()}.\n\n"
            f"Medians of {rounds_n} rounds (local and Ray back to back, alternating). Lecture trials: "
            f"seeds 0-{n - 1}, 5000 full-batch epochs each. "
            "The ratio compares whole `nntui sweep` processes, spawn to exit (the Ray side imports Ray, joins the "
            "cluster and starts its hub); the overheads, bytes and driver CPU come from the `Sweep` API's view of "
            "each trial's hello and end.\n\n" + text + "\n\n" + paper + "\n"
        )
        print(f"wrote {RESULTS.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
