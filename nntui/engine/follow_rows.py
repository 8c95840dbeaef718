"""metrics.csv's rows as `RunFollower` reads them: complete CSV lines → float64 columns.

Apart from the follower's file handling so the parser can be read (and tested) on its own;
numpy only, no torch.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass

import numpy as np

BASE_COLUMNS = ("epoch", "train_loss", "test_loss", "elapsed_s", "lr")
"""The columns rundir.py writes first (not imported from there: polling must not pull in
what it imports; a test checks they agree)."""
FAST_PARSE_ROWS = 256
"""From this many rows numpy's C parser reads them (about 3× Python's per-row split)."""


@dataclass(frozen=True)
class Rows:
    """New rows of metrics.csv, one float64 array per column (int64 epochs)."""

    epochs: np.ndarray
    columns: dict[str, np.ndarray]
    """Every column of the file's header, plus BASE_COLUMNS (NaN where the file has none)."""

    def __len__(self) -> int:
        return len(self.epochs)

    @property
    def train_loss(self) -> np.ndarray:
        return self.columns["train_loss"]

    @property
    def test_loss(self) -> np.ndarray:
        return self.columns["test_loss"]

    @property
    def lr(self) -> np.ndarray:
        return self.columns["lr"]

    @property
    def elapsed_s(self) -> np.ndarray:
        return self.columns["elapsed_s"]


def no_rows() -> Rows:
    return Rows(np.empty(0, np.int64), {name: np.empty(0) for name in BASE_COLUMNS})


def parse_rows(lines: list[bytes], width: int) -> tuple[np.ndarray, int]:
    """Complete CSV lines → an (n, width) float64 table (empty cells NaN) and the number of
    garbage lines skipped (wrong cell count, a cell that is not a number). Blank lines are
    not rows. Many lines go through numpy's C parser in blocks; a block it refuses is read
    line by line, so one bad row costs its block's speed, never the rows around it."""
    lines = [line.rstrip(b"\r") for line in lines]
    lines = [line for line in lines if line]
    if width < 1:
        return np.empty((0, 0)), len(lines)
    if len(lines) < FAST_PARSE_ROWS:
        return _parse_slow(lines, width)
    tables: list[np.ndarray] = []
    bad = 0
    block = 8192
    for start in range(0, len(lines), block):
        part = lines[start : start + block]
        table = _parse_fast(part, width)
        if table is None:
            table, n_bad = _parse_slow(part, width)
            bad += n_bad
        tables.append(table)
    return np.concatenate(tables) if tables else np.empty((0, width)), bad


def _parse_slow(lines: list[bytes], width: int) -> tuple[np.ndarray, int]:
    out: list[list[float]] = []
    bad = 0
    nan = math.nan
    for line in lines:
        cells = line.split(b",")
        if len(cells) != width:
            bad += 1
            continue
        try:
            out.append([float(c) if c else nan for c in cells])
        except ValueError:
            bad += 1
    return (np.array(out, dtype=np.float64) if out else np.empty((0, width))), bad


def _parse_fast(lines: list[bytes], width: int) -> np.ndarray | None:
    """numpy's loadtxt over the block with empty cells spelled "nan"; None if it refuses any line."""
    if any(line.count(b",") != width - 1 for line in lines):
        return None
    blob = b"\n" + b"\n".join(lines) + b"\n"
    blob = blob.replace(b",,", b",nan,").replace(b",,", b",nan,").replace(b"\n,", b"\nnan,").replace(b",\n", b",nan\n")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            table = np.loadtxt(io.BytesIO(blob), delimiter=",", dtype=np.float64, comments=None, ndmin=2)
    except ValueError:
        return None
    if table.shape != (len(lines), width):
        return None
    return table
