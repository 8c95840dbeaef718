"""Ghosts on the loss plot: what 8 earlier runs cost a redraw, against none.

    python benchmarks/compare_bench.py            # print the table
    python benchmarks/compare_bench.py --write    # also replace its section of benchmarks/RESULTS.md

The dashboard's own LossPlot is built directly at 100×30, as benchmarks/run.py item 5
does: plotext's frame, the numpy raster and the strips, which is what a redraw costs the
UI. The live curve has 10⁵ recorded epochs (a decay plus noise, sent in trainer-sized
chunks); the ghosts are 8 more runs of 10⁵ epochs each, every one with its own decay and
its label at its end, as the runs table leaves them. Goal (issue 12): ≤ 1.5× the build
without ghosts. The machine is shared and noisy: the two variants alternate in rounds, and
the ratio is the median of the rounds' own ratios (a slow spell slows a whole round alike).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import results  # benchmarks/results.py (this script's folder is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nntui.engine.history import SeriesHistory  # noqa: E402
from nntui.ui.widgets.loss_plot import GhostCurve, LossPlot  # noqa: E402

RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SECTION_BEGIN = "<!-- compare_bench.py: begin -->"
SECTION_END = "<!-- compare_bench.py: end -->"
GOAL = 1.5
SIZE = (100, 30)
LABELS = ("tanh", "lr 0.01", "hidden 32,32", "sigmoid", "adam", "lr 0.0001", "seed 3", "momentum lr 0.01")


def curve(n: int, decay: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.arange(1, n + 1)
    return x, 100 * np.exp(-x / (decay * n)) + rng.random(n)


def history(n: int, decay: float, seed: int) -> SeriesHistory:
    """A run's train loss recorded in trainer-sized chunks, as the dashboard records it."""
    hist = SeriesHistory()
    x, y = curve(n, decay, seed)
    for start in range(0, n, 10_000):
        hist.extend(x[start : start + 10_000], y[start : start + 10_000])
    return hist


async def measure(points: int, ghosts: int, rounds: int, builds: int) -> dict[str, list[float]]:
    """Build times (ms) of each variant, `builds` per round, and each round's ratio."""
    from textual.app import App, ComposeResult

    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield LossPlot(id="plot")

    shelf = [GhostCurve(k, LABELS[k % len(LABELS)], history(points, 0.1 + 0.05 * k, k + 1)) for k in range(ghosts)]
    out: dict[str, list[float]] = {"none": [], "ghosts": [], "ratio": [], "cpu_ratio": []}
    app = One()
    async with app.run_test(size=SIZE):
        plot = app.query_one(LossPlot)
        x, y = curve(points, 0.2, 0)
        for start in range(0, points, 10_000):
            plot.extend(x[start : start + 10_000], y[start : start + 10_000], x[:0], np.empty(0))
        for r in range(rounds):
            order = (((), "none"), (shelf, "ghosts"))
            if r % 2:
                order = order[::-1]
            medians: dict[str, tuple[float, float]] = {}
            for ghost_set, name in order:
                plot.set_ghosts(ghost_set)
                plot._build(*SIZE)  # warm: this variant's styles cached, as in the app
                gc.collect()
                wall, cpu = [], []
                for _ in range(builds):
                    c0, t0 = time.thread_time(), time.perf_counter()
                    plot._build(*SIZE)
                    wall.append((time.perf_counter() - t0) * 1000)
                    cpu.append((time.thread_time() - c0) * 1000)
                    if plot.error:
                        raise RuntimeError(plot.error)
                out[name] += wall
                medians[name] = (statistics.median(wall), statistics.median(cpu))
            out["ratio"].append(medians["ghosts"][0] / medians["none"][0])
            out["cpu_ratio"].append(medians["ghosts"][1] / medians["none"][1])
        plot.set_ghosts(shelf)
        text = "\n".join("".join(seg.text for seg in strip) for strip in plot._build(*SIZE))
        missing = [g.label for g in shelf if g.label[:10] not in text]
        if missing:
            raise RuntimeError(f"ghost labels not drawn: {missing}")
    return out




def write_section(text: str, path: Path = RESULTS) -> None:
    """Replace this script's section of RESULTS.md (the rest belongs to the other benchmarks)."""
    results.write_section(text, SECTION_BEGIN, SECTION_END, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--points", type=int, default=100_000, help="epochs per curve (default 10⁵)")
    p.add_argument("--ghosts", type=int, default=8, help="ghosts (default 8)")
    p.add_argument("--rounds", type=int, default=12, help="rounds of both variants (default 12)")
    p.add_argument("--builds", type=int, default=15, help="builds per variant and round (default 15)")
    p.add_argument("--write", action="store_true", help="replace this script's section of benchmarks/RESULTS.md")
    args = p.parse_args(argv)
    got = asyncio.run(measure(args.points, args.ghosts, args.rounds, args.builds))
    none, ghosts = statistics.median(got["none"]), statistics.median(got["ghosts"])
    ratio, cpu_ratio = statistics.median(got["ratio"]), statistics.median(got["cpu_ratio"])
    load = "/".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    width, height = SIZE
    lines = [
        "## Compare: ghosts on the loss plot",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} with `python benchmarks/compare_bench.py` on {results.machine()} "
        f"(load {load}). The dashboard's LossPlot built directly at {width}×{height} (as run.py item 5), a live "
        f"curve of {args.points:,} epochs, then the same with {args.ghosts} ghosts of {args.points:,} epochs each "
        f"(labelled); {args.rounds} rounds of {args.builds} builds per variant, alternating.",
        "",
        "| figure | value | goal | met |",
        "| --- | --- | --- | --- |",
        f"| loss plot with {args.ghosts} ghosts ÷ with none, per redraw (median of the rounds' ratios) | "
        f"{ratio:.2f}× | ≤ {GOAL:g} | {'yes' if ratio <= GOAL else '**no**'} |",
        f"| the same ratio in CPU time | {cpu_ratio:.2f}× | ≤ {GOAL:g} | {'yes' if cpu_ratio <= GOAL else '**no**'} |",
        f"| build with no ghosts, median | {none:.2f} ms |  |  |",
        f"| build with {args.ghosts} ghosts, median | {ghosts:.2f} ms |  |  |",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section(text)
        print(f"wrote its section of {RESULTS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
