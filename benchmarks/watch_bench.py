"""nntui watch: the cost of one poll of a 10⁶-row metrics.csv that grew by 100 rows.

    python benchmarks/watch_bench.py            # print the table
    python benchmarks/watch_bench.py --write    # also replace its section of benchmarks/RESULTS.md

A metrics.csv of 10⁶ rows is written the way RunDirSink writes one (seven columns, the
elapsed time and metrics on the last row of each chunk), a RunFollower catches up with it,
then, many times over, 100 rows are appended with one os.write (as the sink appends a
chunk) and one poll is timed. The same is done on a file of 10 rows: a poll should cost
the same after 10⁶ rows as after 10 (it reads only the appended bytes, which is checked
too). Goal (issue 12): ≤ 2 ms a poll.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import results  # benchmarks/results.py (this script's folder is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nntui.engine.follow import RunFollower  # noqa: E402

RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SECTION_BEGIN = "<!-- watch_bench.py: begin -->"
SECTION_END = "<!-- watch_bench.py: end -->"
HEADER = "epoch,train_loss,test_loss,elapsed_s,lr,train_r2,test_r2\n"
GOAL_MS = 2.0
CHUNK = 500
"""Rows per chunk in the generated file: the sink writes elapsed_s and metrics on a chunk's last row."""


def rows(first: int, last: int) -> bytes:
    out = []
    for e in range(first, last + 1):
        if e % CHUNK == 0:
            out.append(f"{e},{100.0 / e!r},{110.0 / e!r},{e * 0.0002:.4f},0.001,{1 - 1.0 / e!r},{1 - 2.0 / e!r}")
        else:
            out.append(f"{e},{100.0 / e!r},,,0.001,,")
    return ("\n".join(out) + "\n").encode()


def make_run(directory: Path, n: int) -> Path:
    directory.mkdir(parents=True)
    with open(directory / "metrics.csv", "wb") as f:
        f.write(HEADER.encode())
        step = 100_000
        for first in range(1, n + 1, step):
            f.write(rows(first, min(n, first + step - 1)))
    (directory / "summary.json").write_text('{"status": "running"}')
    return directory


def measure(directory: Path, start_rows: int, polls: int, new_rows: int) -> tuple[list[float], list[float], float]:
    """(poll wall times in ms, poll CPU times in ms, catch-up time in s) for `polls` polls of
    `new_rows` appended rows each. CPU time (this thread's) is what a poll costs; wall time
    also counts being preempted on a shared machine."""
    follower = RunFollower(directory)
    started = time.perf_counter()
    seen = 0
    while True:
        polled = follower.poll()
        seen += len(polled.rows)
        if not polled.behind:
            break
    catch_up = time.perf_counter() - started
    assert seen == start_rows, (seen, start_rows)
    fd = os.open(directory / "metrics.csv", os.O_WRONLY | os.O_APPEND)
    times: list[float] = []
    cpu: list[float] = []
    epoch = start_rows
    try:
        gc.collect()
        for _ in range(polls):
            chunk = rows(epoch + 1, epoch + new_rows)
            os.write(fd, chunk)  # one write, as RunDirSink appends a chunk
            before = follower.bytes_read
            c0, t0 = time.thread_time(), time.perf_counter()
            polled = follower.poll()
            times.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.thread_time() - c0) * 1000)
            assert len(polled.rows) == new_rows and int(polled.rows.epochs[0]) == epoch + 1
            assert follower.bytes_read - before == len(chunk), "a poll reads only the appended bytes"
            epoch += new_rows
    finally:
        os.close(fd)
    return times, cpu, catch_up


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def met(median: float, p95: float) -> str:
    if p95 <= GOAL_MS:
        return "yes"
    return "median only" if median <= GOAL_MS else "no"




def write_section(text: str, path: Path = RESULTS) -> None:
    """Replace this script's section of RESULTS.md (the rest belongs to the other benchmarks)."""
    results.write_section(text, SECTION_BEGIN, SECTION_END, path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=1_000_000, help="rows in the big file (default 10⁶)")
    p.add_argument("--polls", type=int, default=500, help="timed polls per file (default 500)")
    p.add_argument("--new", type=int, default=100, help="rows appended before each poll (default 100)")
    p.add_argument("--write", action="store_true", help="replace this script's section of benchmarks/RESULTS.md")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="nntui-watch-bench-") as tmp:
        small_times, small_cpu, _ = measure(make_run(Path(tmp) / "small", 10), 10, args.polls, args.new)
        big_times, big_cpu, catch_up = measure(make_run(Path(tmp) / "big", args.rows), args.rows, args.polls,
                                               args.new)
    med, p95 = statistics.median(big_times), pct(big_times, 0.95)
    cpu_med, cpu_p95 = statistics.median(big_cpu), pct(big_cpu, 0.95)
    small_med = statistics.median(small_times)
    load = "/".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    lines = [
        "## nntui watch: one poll",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} with `python benchmarks/watch_bench.py` on {results.machine()} "
        f"(load {load}). Each poll follows one `os.write` of {args.new} rows; {args.polls} polls per file. "
        "Every poll read exactly the appended bytes (checked).",
        "",
        "| figure | median | p95 | goal | met |",
        "| --- | --- | --- | --- | --- |",
        f"| one poll of a {args.rows:,}-row metrics.csv with {args.new} new rows, wall time | {med:.3f} ms | "
        f"{p95:.3f} ms | ≤ {GOAL_MS:g} ms | {met(med, p95)} |",
        f"| the same, CPU time of the polling thread | {cpu_med:.3f} ms | {cpu_p95:.3f} ms | ≤ {GOAL_MS:g} ms | "
        f"{met(cpu_med, cpu_p95)} |",
        f"| the same poll of a 10-row metrics.csv, wall time (for comparison) | {small_med:.3f} ms | "
        f"{pct(small_times, 0.95):.3f} ms |  |  |",
        f"| the same, CPU time | {statistics.median(small_cpu):.3f} ms | {pct(small_cpu, 0.95):.3f} ms |  |  |",
        f"| {args.rows:,}-row poll ÷ 10-row poll (medians) | {med / small_med:.2f}× |  | about 1 |  |",
        f"| first sight of the {args.rows:,}-row file (read over several polls, for the record) | "
        f"{catch_up:.2f} s |  |  |  |",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_section(text)
        print(f"wrote its section of {RESULTS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
