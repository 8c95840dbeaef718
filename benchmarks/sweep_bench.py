"""`nntui sweep` benchmark: what a local process pool buys, and what a trial costs beyond training.

    python benchmarks/sweep_bench.py            # 3 rounds of 16 lecture trials (about 2-3 minutes)
    python benchmarks/sweep_bench.py --quick    # 1 round of 4 trials (the smoke size)
    python benchmarks/sweep_bench.py --write    # also replace its section of benchmarks/RESULTS.md

The figures:
  1. 16 lecture trials (seeds 0-15, 5000 full-batch epochs each) as `nntui sweep --jobs 2`,
     spawn to exit, against the same 16 trained one after another in one process (the same
     Session, one torch thread, run directories written), spawn to exit. Goal ≥ 1.7×: 0.85
     of linear on 2 cores.
  2. Per-trial overhead: wall time beyond the trials' training (training = each trial's own
     elapsed_s). Measured in a sweep driven through the `Sweep` API so each trial's start and
     end are seen: between trials in a warm worker (the goal's figure: ≤ 0.3 s a trial), and
     over the whole sweep, jobs × wall − Σ training, ÷ trials, where the workers' start-up
     (spawn, import torch: once per sweep, not per trial) is counted too.

Method (as run.py's and startup.py's): the machine is shared and noisy, so the variants run
in rounds, back to back in a rotating order; a time is the median over rounds, the ratio the
median of the rounds' own ratios. Children run with bytecode caching on and a private cache
(PYTHONDONTWRITEBYTECODE unset), as a user's Python does.

This module's top level stays light: the sweep's workers are spawned and import it again.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import shutil
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
GOAL_SPEEDUP = 1.7
GOAL_OVERHEAD_S = 0.3
SECTION_BEGIN = "<!-- sweep_bench.py: begin -->"
SECTION_END = "<!-- sweep_bench.py: end -->"


# ----------------------------------------------------------------------------- children


def child_sequential(out: Path, n: int) -> dict[str, Any]:
    """The baseline: the same trials one after another in this one process, as a sweep's
    worker runs each (Session, one torch thread, the sweep's read-back interval, run dirs)."""
    os.environ["OMP_NUM_THREADS"] = "1"
    from nntui.engine.config import TrainConfig
    from nntui.engine.control import Control
    from nntui.engine.session import Session
    from nntui.engine.sweep import CHUNK_SECONDS, FIT_INTERVAL_S

    training, rates = [], []
    for seed in range(n):
        session = Session(TrainConfig(seed=seed), out=out / f"seed={seed}", threads=1, chunk_seconds=CHUNK_SECONDS,
                          fit_interval=FIT_INTERVAL_S)
        result = session.run(Control())
        training.append(result.elapsed_s if hasattr(result, "elapsed_s") else 0.0)
        rates.append(getattr(result, "steps_per_s", 0.0))
    return {"training": training, "rates": rates}


def child_sweep(out: Path, n: int, jobs: int) -> dict[str, Any]:
    """A sweep through the API, each trial's start and end timed on the driver's clock."""
    from nntui.engine.config import TrainConfig
    from nntui.engine.grid import build_grid
    from nntui.engine.sweep import Sweep, TrialFinished, TrialMessage, TrialStarted

    base = TrainConfig()
    sweep = Sweep(base, build_grid([f"seed=0..{n - 1}"], base), out, jobs=jobs)
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

    t0 = time.perf_counter()
    result = sweep.run(listen)
    t1 = time.perf_counter()
    assert result.counts == {"done": n}, result.counts
    workers: dict[str, list[int]] = {}
    for trial, (_, where) in started.items():
        workers.setdefault(where, []).append(trial)
    between = 0.0
    for trials in workers.values():
        window = max(finished[t][0] for t in trials) - min(started[t][0] for t in trials)
        between += window - sum(finished[t][1] for t in trials)
    training = sum(f[1] for f in finished.values())
    return {
        "wall": t1 - t0,
        "training": training,
        "between_per_trial": between / n,
        "inclusive_per_trial": (jobs * (t1 - t0) - training) / n,
        "startup": statistics.mean(min(started[t][0] for t in trials) - t0 for trials in workers.values()),
        "shutdown": t1 - max(f[0] for f in finished.values()),
        "rates": [f[2] for f in finished.values()],
    }


# ----------------------------------------------------------------------------- harness


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("PYTHONPYCACHEPREFIX", str(Path(tempfile.gettempdir()) / f"nntui-bench-pycache-{os.getuid()}"))
    env["OMP_NUM_THREADS"] = "1"
    return env


def sweep_command() -> list[str]:
    """`nntui sweep` once cli.py dispatches to sweep_cli; the same main via python -m until then."""
    cli = (ROOT / "nntui" / "cli.py").read_text()
    script = Path(PYTHON).with_name("nntui")
    return [str(script), "sweep"] if "sweep_cli" in cli and script.exists() else [PYTHON, "-m", "nntui.sweep_cli"]


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, str]:
    """Seconds from spawn to exit, and the child's stdout; raises with its last words if it failed."""
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, timeout=900)
    took = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}:\n{done.stderr[-2000:]}")
    return took, done.stdout


@dataclass
class Round:
    sequential_s: float = 0.0
    sweep_s: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)
    sequential_rates: list[float] = field(default_factory=list)


def one_round(index: int, n: int, env: dict[str, str]) -> Round:
    r = Round()
    work = Path(tempfile.mkdtemp(prefix="nntui-sweep-bench-"))
    try:
        def sequential() -> None:
            r.sequential_s, out = timed([PYTHON, __file__, "--child-sequential", str(work / "seq"), str(n)], env)
            r.sequential_rates = json.loads(out.strip().splitlines()[-1])["rates"]

        def cli_sweep() -> None:
            r.sweep_s, _ = timed([*sweep_command(), "--out", str(work / "cli"), "--vary", f"seed=0..{n - 1}",
                                  "--jobs", str(JOBS), "--headless"], env)

        def api_sweep() -> None:
            _, out = timed([PYTHON, __file__, "--child-sweep", str(work / "api"), str(n)], env)
            r.detail = json.loads(out.strip().splitlines()[-1])

        order = [sequential, cli_sweep, api_sweep]
        shift = index % len(order)
        for fn in order[shift:] + order[:shift]:  # rotating: a slow spell does not always hit the same one
            fn()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"  round {index + 1}: sequential {r.sequential_s:.2f} s, sweep {r.sweep_s:.2f} s "
          f"({r.sequential_s / r.sweep_s:.2f}×); between trials {r.detail['between_per_trial']:.3f} s a trial, "
          f"with start-up {r.detail['inclusive_per_trial']:.3f} s", file=sys.stderr, flush=True)
    return r


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


def table(rounds: list[Round], n: int) -> str:
    med = statistics.median
    seq, par = med(r.sequential_s for r in rounds), med(r.sweep_s for r in rounds)
    speedup = med(r.sequential_s / r.sweep_s for r in rounds)
    between = med(r.detail["between_per_trial"] for r in rounds)
    inclusive = med(r.detail["inclusive_per_trial"] for r in rounds)
    startup = med(r.detail["startup"] for r in rounds)
    shutdown = med(r.detail["shutdown"] for r in rounds)
    rate_seq = med(x for r in rounds for x in r.sequential_rates)
    rate_par = med(x for r in rounds for x in r.detail["rates"])

    def yes(ok: bool) -> str:
        return "yes" if ok else "no"

    rows = [
        ("| figure | value | goal | met |", None),
        ("| --- | --- | --- | --- |", None),
        (f"| {n} lecture trials, `nntui sweep --jobs {JOBS}` vs one after another in one process (spawn to exit) "
         f"| {seq:.1f} s ÷ {par:.1f} s = {speedup:.2f}× | ≥ {GOAL_SPEEDUP}× | {yes(speedup >= GOAL_SPEEDUP)} |", None),
        (f"| per-trial overhead between trials in a warm worker (wall − training, per trial) | {between:.3f} s "
         f"| ≤ {GOAL_OVERHEAD_S} s | {yes(between <= GOAL_OVERHEAD_S)} |", None),
        (f"| per-trial overhead over the whole sweep ({JOBS} × wall − Σ training, ÷ {n}; start-up included) "
         f"| {inclusive:.3f} s | for the record |  |", None),
        (f"| worker start-up, once per sweep (spawn, import torch, warm-up) | {startup:.2f} s | for the record |  |",
         None),
        (f"| last trial's end → sweep returns (workers quit) | {shutdown:.3f} s | for the record |  |", None),
        (f"| a trial's speed: in the sweep ({JOBS} side by side) ÷ alone in one process "
         f"| {rate_par:,.0f} ÷ {rate_seq:,.0f} steps/s = {rate_par / rate_seq:.2f} | for the record |  |", None),
    ]
    return "\n".join(text for text, _ in rows)


def write_section(text: str, path: Path = RESULTS) -> None:
    """Replace this script's section of RESULTS.md (the rest belongs to the other benchmarks)."""
    results.write_section(text, SECTION_BEGIN, SECTION_END, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    p.add_argument("--quick", action="store_true", help=f"one round of {QUICK_TRIALS} trials (the smoke size)")
    p.add_argument("--write", action="store_true", help="replace this script's section of benchmarks/RESULTS.md")
    p.add_argument("--child-sequential", nargs=2, metavar=("OUT", "N"), help=argparse.SUPPRESS)
    p.add_argument("--child-sweep", nargs=2, metavar=("OUT", "N"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child_sequential:
        print(json.dumps(child_sequential(Path(args.child_sequential[0]), int(args.child_sequential[1]))))
        return 0
    if args.child_sweep:
        print(json.dumps(child_sweep(Path(args.child_sweep[0]), int(args.child_sweep[1]), JOBS)))
        return 0
    if args.rounds < 1:
        p.error("--rounds must be 1 or more")
    rounds_n, n = (1, QUICK_TRIALS) if args.quick else (args.rounds, TRIALS)
    env = child_env()
    began, load_before = time.perf_counter(), load()
    print(f"nntui sweep benchmark: {rounds_n} round(s) of {n} trials on {machine()}; load {load_before}",
          file=sys.stderr, flush=True)
    if not args.quick:  # untimed: page cache and bytecode cache
        timed([PYTHON, "-c", "import torch, nntui.engine.trainer, nntui.sweep_cli"], env)
    rounds = [one_round(i, n, env) for i in range(rounds_n)]
    text = table(rounds, n)
    took, load_after = time.perf_counter() - began, load()
    print(text)
    if args.write:
        stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
        flags = " --quick" if args.quick else (f" --rounds {rounds_n}" if rounds_n != 3 else "")
        write_section(
            "## Sweeps (local process pool)\n\n"
            f"Measured {stamp} with `python benchmarks/sweep_bench.py{flags}` ({took:.0f} s; load average "
            f"{load_before} before, {load_after} after) on: {machine()}.\n\n"
            f"Medians of {rounds_n} rotating rounds. Lecture trials: seeds 0-{n - 1}, 5000 full-batch epochs each. "
            "Training is each trial's own elapsed_s (summary.json); the sweep's side is whole processes, "
            "spawn to exit, for the speed-up, and the `Sweep` API's view of each trial's start and end for "
            "the overheads.\n\n" + text + "\n"
        )
        print(f"wrote {RESULTS.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
