"""The start-up benchmark runs (--smoke): every figure prints its row, so the script cannot rot unnoticed.

No timing asserts: the machine is shared and noisy; goals live in benchmarks/startup.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_startup_benchmark_smoke_prints_every_figure() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "startup.py"), "--smoke"],
        capture_output=True, text=True, timeout=220, cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    table = [line for line in out.stdout.splitlines() if line.startswith("| ")]
    assert table[0] == "| figure | median | ratio | goal | met |", table
    figures = {line.split("|")[1].strip().split(" ", 1)[0] for line in table[2:]}
    assert figures == {"1.", "2.", "3.", "4.", "3+4."}, figures
    rows = {line.split("|")[1].strip().split(" ", 1)[0]: [c.strip() for c in line.split("|")[1:-1]]
            for line in table[2:]}
    for figure in ("1.", "2."):  # a time on each side and a ratio
        assert " s ÷ " in rows[figure][1] and float(rows[figure][2]) > 0, rows[figure]
    for figure in ("3.", "4.", "3+4."):  # each marker was seen in the terminal
        assert rows[figure][1].endswith(" s"), rows[figure]
    assert "left a process behind" not in out.stdout
    assert "← nntui." in out.stdout  # the importtime list names who imported what
