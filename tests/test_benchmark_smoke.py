"""The benchmark runs (tiny): every item prints a row, so the script cannot rot unnoticed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_runs_tiny_and_prints_its_table() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run.py"), "--tiny"],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    table = [line for line in out.stdout.splitlines() if line.startswith("| ")]
    items = {line.split("|")[1].strip() for line in table[2:]}
    assert items >= {"1", "2", "3", "4", "5", "6", "7", "8", "9"}, items
    assert "not measured" not in out.stdout
    assert "steps/s" in out.stdout and "KiB/s" in out.stdout and " ms" in out.stdout
