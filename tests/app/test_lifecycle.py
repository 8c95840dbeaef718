"""Lifecycle: many start/stop/reset cycles in the real dashboard leave no thread behind and memory flat.

Each cycle presses the real keys: space (start a run, or resume the paused run a reset left),
waits until it has trained a few epochs, then r (reset: a new paused run) or s (stop),
alternating, so the last cycle is a stop and nothing should train afterwards.

Threads: Textual runs thread workers in the event loop's default ThreadPoolExecutor, whose
idle threads ("asyncio_N") live as long as the loop, by design. So the checks are: once the
last run stopped, no thread is inside nntui code (a trainer that never returned would be);
every thread added since before the loop is such an idle pool thread, at most two (a
stopping trainer and its successor); and no OS thread outside Python appeared (torch pools).

Memory: compared between an early cycle (after the warm-up: torch's first-run imports and
caches, the thread pool) and the last one. tracemalloc starts only after the warm-up (it
makes torch's first-run imports several times slower) and is the tight bound; RSS, read
from /proc before any snapshot is taken (a snapshot itself costs tens of MiB), the loose one.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import re
import sys
import threading
import time
import tracemalloc
from collections import Counter
from pathlib import Path

import pytest
from dashboard_helpers import SIZE, lecture, press, wait_for

import nntui
from nntui.ui.app import NntuiApp
from nntui.ui.factory import create_app
from nntui.ui.redraw import DEFAULT_UI_HZ

pytestmark = pytest.mark.slow

CHILD_START_S = 90.0
"""A spawned child imports torch: seconds here, more on a loaded CI box."""
EPOCHS_PER_CYCLE = 3
"""Epochs shown as trained before each reset or stop."""
MAX_POOL_THREADS = 2
"""Trainer threads that may ever run at once: the one stopping and its successor."""
TRACED_GROWTH_MAX = 5 * 2**20
RSS_GROWTH_MAX = 50 * 2**20
"""Generous: torch and glibc keep freed memory for reuse."""
PAGE = os.sysconf("SC_PAGE_SIZE")
NNTUI_DIR = str(Path(nntui.__file__).resolve().parent)
POOL_THREAD = re.compile(r"asyncio_\d+")
MiB = 2**20
THREAD_CYCLES, TRACE_FROM, THREAD_WARM = 100, 10, 20
"""Cycles on the thread host; tracemalloc from cycle TRACE_FROM; memory compared from THREAD_WARM on."""
PROCESS_CYCLES, PROCESS_WARM = 30, 10


# -- what the process holds, from the interpreter and /proc ------------------------------------


def rss(pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE


def thread_names() -> Counter[str]:
    return Counter(t.name for t in threading.enumerate())


def os_threads_outside_python() -> int:
    """OS threads of this process that are not Python threads (torch's pools, for one)."""
    return len(os.listdir("/proc/self/task")) - threading.active_count()


def threads_in_nntui() -> list[str]:
    """Threads (other than this one) whose stack is inside the nntui package right now."""
    frames = sys._current_frames()
    busy = []
    for thread in threading.enumerate():
        frame = frames.get(thread.ident) if thread is not threading.current_thread() else None
        while frame is not None:
            if frame.f_code.co_filename.startswith(NNTUI_DIR):
                busy.append(thread.name)
                break
            frame = frame.f_back
    return busy


def child_pids() -> list[int]:
    """Live children of this process, from /proc (multiprocessing's resource tracker left out)."""
    me, found = os.getpid(), []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue  # gone meanwhile
        state, ppid = fields[0], int(fields[1])
        if ppid == me and state != "Z" and b"resource_tracker" not in cmdline:
            found.append(int(entry))
    return sorted(found)


def trainer_children() -> list[multiprocessing.process.BaseProcess]:
    return [p for p in multiprocessing.active_children() if p.name == "nntui-trainer"]


def line_sizes() -> dict[tuple[str, int], int]:
    """Traced bytes per source line, kept as a small dict (the snapshot itself is large)."""
    stats = tracemalloc.take_snapshot().statistics("lineno")
    return {(s.traceback[0].filename, s.traceback[0].lineno): s.size for s in stats}


def top_growth(before: dict[tuple[str, int], int], after: dict[tuple[str, int], int], n: int = 6) -> str:
    grown = sorted(((size - before.get(key, 0), key) for key, size in after.items()), reverse=True)[:n]
    return "; ".join(f"{os.path.basename(f)}:{line} +{d / 1024:.0f} KiB" for d, (f, line) in grown)


# -- the cycle -------------------------------------------------------------------------------


async def one_cycle(app: NntuiApp, cycle: int, timeout: float | None = None) -> None:
    """space → a few epochs → r (even cycles) or s (odd cycles), each awaited on the app's state."""
    host = app.host
    generation = host.generation if host.active else host.generation + 1  # a reset's paused run resumes
    deadline = {} if timeout is None else {"timeout": timeout}
    await press(app, "space")
    await wait_for(lambda: host.generation == generation and app.status.state == "running"
                   and app.status.epoch >= EPOCHS_PER_CYCLE,
                   f"cycle {cycle}: {EPOCHS_PER_CYCLE} epochs of run {generation} trained", **deadline)
    if cycle % 2 == 0:
        await press(app, "r")
        await wait_for(lambda: host.generation == generation + 1 and app.status.state == "paused"
                       and app.status.epoch == 0 and host.active and host.paused,
                       f"cycle {cycle}: the reset's paused run {generation + 1}")
    else:
        await press(app, "s")
        await wait_for(lambda: app.status.state == "stopped" and not host.active and not host.alive,
                       f"cycle {cycle}: run {generation} stopped and its trainer returned")


async def until_trainers_returned(app: NntuiApp, busy: int) -> None:
    """Wait until at most `busy` threads are in nntui code and `busy` workers are left; fail naming them."""
    try:
        await wait_for(lambda: len(threads_in_nntui()) <= busy and len(app.workers) <= busy,
                       "every trainer thread to return")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; in nntui code: {threads_in_nntui()}, workers: {list(app.workers)}") from None


# -- the tests -------------------------------------------------------------------------------


async def test_a_hundred_start_reset_stop_cycles_leave_no_thread_and_memory_flat() -> None:
    cycles, trace_from, warm = THREAD_CYCLES, TRACE_FROM, THREAD_WARM
    began = time.monotonic()
    app = create_app(lecture(), host="thread", ui_hz=DEFAULT_UI_HZ)
    try:
        async with app.run_test(size=SIZE):
            names_before, outside_before = thread_names(), os_threads_outside_python()
            for cycle in range(1, cycles + 1):
                await one_cycle(app, cycle - 1)
                if cycle == trace_from:
                    tracemalloc.start()
                elif cycle == warm:
                    gc.collect()
                    warm_rss, warm_traced = rss(), tracemalloc.get_traced_memory()[0]
                    warm_lines = line_sizes()
                    warm_names = thread_names()
            # the last cycle stopped: nothing may train, nothing may be left in nntui code
            await until_trainers_returned(app, busy=0)
            gc.collect()
            end_rss, end_traced = rss(), tracemalloc.get_traced_memory()[0]
            growth = top_growth(warm_lines, line_sizes())
            tracemalloc.stop()
            end_names, outside_end = thread_names(), os_threads_outside_python()
            await press(app, "q")
            await wait_for(lambda: not app.is_running, "q to end the app after the last stop", timeout=10)
        assert app.return_code == 0
    finally:
        tracemalloc.stop()
    assert app.host.join(timeout=5.0) and not threads_in_nntui()
    took = time.monotonic() - began
    added = end_names - names_before
    print(f"\nthread host, {cycles} cycles in {took:.1f}s; threads {dict(names_before)} → {dict(end_names)} "
          f"(after cycle {warm}: {dict(warm_names)}), OS threads outside Python {outside_before} → {outside_end}; "
          f"cycle {warm} → {cycles}: RSS {warm_rss / MiB:.1f} → {end_rss / MiB:.1f} MiB, "
          f"traced {warm_traced / MiB:.2f} → {end_traced / MiB:.2f} MiB; most grown: {growth}")

    strays = sorted(name for name in added if not POOL_THREAD.fullmatch(name))
    assert not strays, f"threads left behind: {strays} (all added: {dict(added)})"
    assert sum(added.values()) <= MAX_POOL_THREADS, f"more trainer threads than one run and its successor: {added}"
    assert outside_end <= outside_before, f"OS threads outside Python grew: {outside_before} → {outside_end}"
    assert end_traced - warm_traced < TRACED_GROWTH_MAX, (
        f"Python allocations grew {(end_traced - warm_traced) / MiB:.2f} MiB over cycles {warm}–{cycles}: {growth}")
    assert end_rss - warm_rss < RSS_GROWTH_MAX, f"RSS grew {(end_rss - warm_rss) / MiB:.1f} MiB"


async def test_thirty_cycles_on_the_process_host_keep_one_child_and_flat_memory() -> None:
    cycles, warm = PROCESS_CYCLES, PROCESS_WARM
    began = time.monotonic()
    children_before = child_pids()
    app = create_app(lecture(), host="process", ui_hz=DEFAULT_UI_HZ)
    async with app.run_test(size=SIZE):
        await wait_for(lambda: app.panel.devices_known, "the child to list its devices", CHILD_START_S)
        (child,) = trainer_children()
        assert child_pids() == sorted([*children_before, child.pid]), "one trainer child, nothing else"
        names_before = thread_names()
        for cycle in range(1, cycles + 1):
            await one_cycle(app, cycle - 1, timeout=CHILD_START_S if cycle == 1 else None)
            if cycle == warm:
                warm_rss, warm_child_rss = rss(), rss(child.pid)
        assert trainer_children() == [child] and child_pids() == sorted([*children_before, child.pid]), (
            "still the one warm child: none added, none restarted")
        # only the pump (it forwards the child's events for the app's lifetime) stays in nntui code
        await until_trainers_returned(app, busy=1)
        end_rss, end_child_rss, end_names = rss(), rss(child.pid), thread_names()
        await press(app, "q")
        await wait_for(lambda: not app.is_running, "q to end the app after the last stop", timeout=10)
    assert app.return_code == 0
    assert app.host.join(timeout=5.0)
    await wait_for(lambda: not trainer_children() and child_pids() == children_before, "the child to exit")
    took = time.monotonic() - began
    added = end_names - names_before
    print(f"\nprocess host, {cycles} cycles in {took:.1f}s; threads {dict(names_before)} → {dict(end_names)}; "
          f"cycle {warm} → {cycles}: RSS {warm_rss / MiB:.1f} → {end_rss / MiB:.1f} MiB, "
          f"child {warm_child_rss / MiB:.1f} → {end_child_rss / MiB:.1f} MiB")

    strays = sorted(name for name in added if not POOL_THREAD.fullmatch(name))
    assert not strays, f"threads left behind: {strays} (all added: {dict(added)})"
    assert end_rss - warm_rss < RSS_GROWTH_MAX, f"the app's RSS grew {(end_rss - warm_rss) / MiB:.1f} MiB"
    assert end_child_rss - warm_child_rss < RSS_GROWTH_MAX, (
        f"the child's RSS grew {(end_child_rss - warm_child_rss) / MiB:.1f} MiB")
