"""benchmarks/RESULTS.md's sections: run.py writes the main table, every other script its own
section between `<!-- NAME: begin -->` and `<!-- NAME: end -->`, and none touches the others'."""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def write_section(text: str, begin: str, end: str, path: Path = RESULTS) -> None:
    """Replace the section between the markers `begin` and `end` (or append it at the end)."""
    section = f"{begin}\n{text.rstrip()}\n{end}\n"
    old = path.read_text() if path.exists() else "# Benchmark results\n"
    at, to = old.find(begin), old.find(end)
    if at >= 0 and to > at:
        rest = old[to + len(end):].lstrip("\n")
        new = old[:at] + section + ("\n" + rest if rest else "")
    else:
        new = old.rstrip("\n") + "\n\n" + section
    path.write_text(new)


def machine(with_torch: bool = False) -> str:
    """The CPU, cores, Python (and torch) a figure was measured on, for its section's header."""
    import os
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    parts = [cpu, f"{os.cpu_count()} cores", f"Python {platform.python_version()}"]
    if with_torch:
        import torch

        parts.append(f"torch {torch.__version__}")
    return ", ".join([*parts, f"{platform.system()} {platform.release()}"])
