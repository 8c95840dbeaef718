"""The replay film's figures (issue 11): its size after 10⁶ epochs, the cost of adding a
frame early and late in a run, and a scrub key's cost in the real app.

    python benchmarks/film_bench.py            # print the table
    python benchmarks/film_bench.py --write    # also replace its section of benchmarks/RESULTS.md

The frames are real: the last fit (lecture, a curve) and boundary (xor, a heatmap) snapshot
of a short real run, re-stamped every 100 epochs up to 10⁶ (10⁴ frames offered to the film,
far more than a run sends: about one a second at full speed). Scrubbing: the real app at
120×40 under Textual's Pilot, with that 256-frame film loaded as a finished run's; ←'s handler
runs 100 times, each timed from the call to the new frame rendered into the plots (the screen
then updates at its next refresh; Pilot's press-and-wait has a ~100 ms floor of its own).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import results  # benchmarks/results.py (this script's folder is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SECTION_BEGIN = "<!-- film_bench.py: begin -->"
SECTION_END = "<!-- film_bench.py: end -->"
EPOCHS = 1_000_000
EVERY = 100
PRESSES = 100


def real_frame(preset_name: str):  # -> FitUpdated
    """The last fit snapshot of a short real run of the preset."""
    from nntui.engine.control import Control
    from nntui.engine.events import FitUpdated
    from nntui.engine.presets import preset
    from nntui.engine.session import Session

    fits: list[FitUpdated] = []
    session = Session(replace(preset(preset_name), epochs=300),
                      listeners=[lambda e: fits.append(e) if isinstance(e, FitUpdated) else None])
    session.prepare()
    session.run(Control())
    return fits[-1]


def film_figures(preset_name: str) -> dict[str, float]:
    from nntui.engine.film import FILM, Film

    template = real_frame(preset_name)
    film = Film()
    costs: list[float] = []
    for epoch in range(EVERY, EPOCHS + 1, EVERY):
        frame = replace(template, epoch=epoch)
        t = time.perf_counter()
        film.add(frame)
        costs.append(time.perf_counter() - t)
    first, last = costs[:1000], costs[-1000:]
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        film.save(Path(tmp))
        save_s = time.perf_counter() - t
        size = (Path(tmp) / FILM).stat().st_size
        t = time.perf_counter()
        Film.load(Path(tmp))
        load_s = time.perf_counter() - t
    gaps = [b - a for a, b in zip(film.epochs[:-2], film.epochs[1:-1])]
    return {
        "frames": len(film), "nbytes": film.nbytes, "file": size, "save_s": save_s, "load_s": load_s,
        "add_first_us": statistics.median(first) * 1e6, "add_last_us": statistics.median(last) * 1e6,
        "gap_min": min(gaps), "gap_max": max(gaps),
    }


async def scrub_figures(preset_name: str) -> tuple[float, float, int]:
    """p50 and p95 of ←'s handler in the real app, on a finished run's 256-frame film (the plots'
    redraw included; Pilot's own press-and-wait adds a ~100 ms floor that is not the app's)."""
    from nntui.engine.film import Film
    from nntui.engine.presets import preset
    from nntui.ui.factory import create_app
    from nntui.ui.replay import Replay

    template = real_frame(preset_name)
    film = Film()
    for epoch in range(EVERY, EPOCHS + 1, EVERY):
        film.add(replace(template, epoch=epoch))
    app = create_app(replace(preset(preset_name), epochs=300), pace=None)
    times: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("space")  # a real short run first: the views a finished run shows
        while app.status.state != "done":
            await asyncio.sleep(0.05)
        app.replay = Replay(film)  # then the long run's film in its place
        await pilot.press("end")
        for _ in range(PRESSES):
            t = time.perf_counter()
            app.action_scrub(-1)  # what ← runs: picks the frame, marks the plots, moves the cursor
            for plot in (*app.plots, app.boundary):
                if plot.display:
                    plot.render_line(0)  # the plots rebuild at the paint: build them here, inside the timing
            times.append(time.perf_counter() - t)
            await pilot.pause()  # the screen updates between presses, as it would between keys
        moved = len(film) - 1 - (app.replay.cursor or 0)
        await app.host.shutdown(timeout=1.0)
    times.sort()
    return statistics.median(times) * 1e3, times[int(0.95 * len(times)) - 1] * 1e3, moved


def pty_figures(presses: int = 40) -> dict[str, float]:
    """The real `nntui` in a 120×40 pseudo-terminal: space on the default (lecture) run, auto
    pace. Counts the distinct "fit at epoch N" titles that reach the terminal and the run's
    wall time (space → DONE); then ← `presses` times, each timed from the key to its
    "frame K/" reaching the terminal (what a user waits for)."""
    import re

    from run import _read_for, _read_until, _spawn_pty, _stop  # benchmarks/run.py's pty harness

    env = {**os.environ, "TERM": "xterm-256color", "OMP_NUM_THREADS": "1"}
    env.pop("SSH_CONNECTION", None)
    master, proc = _spawn_pty(env, args=[])
    try:
        _read_until(master, b"Quit", 60.0)
        _read_for(master, 1.0)
        t0 = time.perf_counter()
        os.write(master, b" ")
        seen = bytearray()
        while b"DONE" not in seen and time.perf_counter() - t0 < 120:
            seen += _read_for(master, 0.1)
        wall = time.perf_counter() - t0
        frames = len(set(re.findall(rb"fit at epoch ([0-9,]+)", bytes(seen))))
        _read_for(master, 1.0)
        os.write(master, b"\x1b[D")  # ←: enters replay at the newest frame
        first = _read_until(master, b"REPLAY", 5.0)
        match = re.findall(rb"frame (\d+)/(\d+)", first)
        k = int(match[-1][0]) if match else 0
        samples: list[float] = []
        for _ in range(presses):
            if k <= 1:
                break
            _read_for(master, 0.2)
            t = time.perf_counter()
            os.write(master, b"\x1b[D")
            k -= 1
            if f"frame {k}/".encode() in _read_until(master, f"frame {k}/".encode(), 3.0):
                samples.append((time.perf_counter() - t) * 1e3)
    finally:
        _stop(master, proc)
    samples.sort()
    p95 = samples[max(0, round(0.95 * len(samples)) - 1)] if samples else float("nan")
    return {"frames": frames, "wall": wall, "n": len(samples),
            "p50": statistics.median(samples) if samples else float("nan"), "p95": p95}




def write_section(text: str, path: Path = RESULTS) -> None:
    """Replace this script's section of RESULTS.md (the rest belongs to the other benchmarks)."""
    results.write_section(text, SECTION_BEGIN, SECTION_END, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--write", action="store_true", help="replace this script's section of benchmarks/RESULTS.md")
    args = p.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    started = time.perf_counter()
    load_before = os.getloadavg()
    rows = []
    for name, what in (("lecture", "fit curves (lecture)"), ("xor", "boundary heatmaps (xor)")):
        f = film_figures(name)
        rows.append(f"| film of {what} after 10⁶ epochs: frames kept, memory, film.npz | {f['frames']:.0f} frames, "
                    f"{f['nbytes'] / 1024:,.0f} KiB, {f['file'] / 1024:,.0f} KiB on disk | ≤ 256 frames, ≤ 20 MB | "
                    f"{'yes' if f['frames'] <= 256 and f['file'] <= 20e6 else 'no'} |")
        even = "yes" if f["gap_max"] <= 2 * f["gap_min"] else "no"
        rows.append(f"| the same: spacing between kept frames, min / max epochs | {f['gap_min']:,.0f} / "
                    f"{f['gap_max']:,.0f} | even (max ≤ 2 × min) | {even} |")
        rows.append(f"| the same: adding a frame, median of the first 1,000 / the last 1,000 | "
                    f"{f['add_first_us']:.1f} µs / {f['add_last_us']:.1f} µs | flat | |")
        rows.append(f"| the same: saving film.npz (atomic, fsync) / loading it | {f['save_s'] * 1e3:.0f} ms / "
                    f"{f['load_s'] * 1e3:.0f} ms | for the record | |")
    for name, what in (("lecture", "fit"), ("xor", "boundary")):
        p50, p95, moved = asyncio.run(scrub_figures(name))
        rows.append(f"| ← in the real app on a 256-frame film ({what}): handler with the plots redrawn, p50 / p95 "
                    f"({PRESSES} presses, {moved} frames moved) | {p50:.1f} ms / {p95:.1f} ms | ≤ 50 ms p95 | "
                    f"{'yes' if p95 <= 50 else 'no'} |")
    pty = pty_figures()
    rows.insert(0, f"| auto pace on the default (lecture) run in the real `nntui` (pty): distinct fit frames "
                   f"reaching the terminal; wall time space → DONE | {pty['frames']:.0f} frames; {pty['wall']:.1f} s "
                   f"| ≥ 40 frames, ~10 s | {'yes' if pty['frames'] >= 40 else 'no'} |")
    rows.append(f"| ← in the real `nntui` (pty) on the finished lecture run: key → its \"frame K/\" on the terminal, "
                f"p50 / p95 ({pty['n']:.0f} presses) | {pty['p50']:.0f} ms / {pty['p95']:.0f} ms | ≤ 100 ms p95 | "
                f"{'yes' if pty['p95'] <= 100 else 'no'} |")
    took = time.perf_counter() - started
    stamp = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    load_after = os.getloadavg()
    text = (
        "## Replay film\n\n"
        f"Measured {stamp} with `python benchmarks/film_bench.py` ({took:.0f} s; load average "
        f"{'/'.join(f'{v:.1f}' for v in load_before)} before, {'/'.join(f'{v:.1f}' for v in load_after)} after) "
        f"on: {results.machine(with_torch=True)}.\n\n"
        f"Real snapshots of short real runs, re-stamped every {EVERY} epochs up to 10⁶ ({EPOCHS // EVERY:,} frames "
        "offered to the film; a run sends about one a second at full speed, every redraw while paced).\n\n"
        "| figure | value | goal | met |\n| --- | --- | --- | --- |\n" + "\n".join(rows) + "\n"
    )
    print(text)
    if args.write:
        write_section(text)
        print(f"wrote its section of {RESULTS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
