"""Bounded metric history: min/max buckets that keep spikes, whatever the run's length.

Uniform sampling of a long loss curve drops the one epoch where it spiked; a bucket that
keeps its minimum and maximum cannot. When the buckets fill up, neighbours merge and each
bucket covers twice as many epochs, so memory and drawing cost stay O(capacity) after a
million points. The full-resolution log streams to disk (runs.py), not to memory.
"""

from __future__ import annotations

import numpy as np


class SeriesHistory:
    """One series (e.g. train loss) over increasing x (epochs), in at most `capacity` buckets."""

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self.width = 1
        """Epochs per bucket; doubles when the buckets fill."""
        self.count = 0
        """Points appended in all (NaN and inf excluded)."""
        self._key = np.empty(0, np.int64)
        self._x_last = np.empty(0, np.float64)
        self._min = np.empty(0, np.float64)
        self._max = np.empty(0, np.float64)
        self._last = np.empty(0, np.float64)
        self._sum = np.empty(0, np.float64)
        self._n = np.empty(0, np.int64)

    def __len__(self) -> int:
        return len(self._key)

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self._key, self._x_last, self._min, self._max, self._last, self._sum, self._n))

    @property
    def last(self) -> float | None:
        return float(self._last[-1]) if len(self._last) else None

    def minimum(self) -> float | None:
        return float(self._min.min()) if len(self._min) else None

    def extend(self, x: np.ndarray, y: np.ndarray) -> None:
        """Append points (x increasing); non-finite y are skipped (e.g. epochs without a test loss)."""
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        keep = np.isfinite(y)
        if not keep.all():
            x, y = x[keep], y[keep]
        if len(x) == 0:
            return
        self.count += len(x)
        keys = np.floor_divide(x.astype(np.int64) - 1, self.width)
        self._merge(keys, x, y, y, y, y, np.ones(len(x), np.int64))
        while len(self._key) > self.capacity:
            self._coarsen()

    def _merge(
        self,
        keys: np.ndarray,
        x_last: np.ndarray,
        mins: np.ndarray,
        maxs: np.ndarray,
        lasts: np.ndarray,
        sums: np.ndarray,
        ns: np.ndarray,
    ) -> None:
        """Group sorted rows by key and append them, folding into the last bucket if it shares a key."""
        if len(self._key) and keys[0] == self._key[-1]:
            keys = np.concatenate([self._key[-1:], keys])
            x_last = np.concatenate([self._x_last[-1:], x_last])
            mins = np.concatenate([self._min[-1:], mins])
            maxs = np.concatenate([self._max[-1:], maxs])
            lasts = np.concatenate([self._last[-1:], lasts])
            sums = np.concatenate([self._sum[-1:], sums])
            ns = np.concatenate([self._n[-1:], ns])
            self._drop_last()
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
        ends = np.r_[starts[1:], len(keys)] - 1
        self._key = np.concatenate([self._key, keys[starts]])
        self._x_last = np.concatenate([self._x_last, x_last[ends]])
        self._min = np.concatenate([self._min, np.minimum.reduceat(mins, starts)])
        self._max = np.concatenate([self._max, np.maximum.reduceat(maxs, starts)])
        self._last = np.concatenate([self._last, lasts[ends]])
        self._sum = np.concatenate([self._sum, np.add.reduceat(sums, starts)])
        self._n = np.concatenate([self._n, np.add.reduceat(ns, starts)])

    def _drop_last(self) -> None:
        for name in ("_key", "_x_last", "_min", "_max", "_last", "_sum", "_n"):
            setattr(self, name, getattr(self, name)[:-1])

    def _coarsen(self) -> None:
        """Twice as many epochs per bucket: neighbours merge, min/max survive."""
        self.width *= 2
        old = (self._key // 2, self._x_last, self._min, self._max, self._last, self._sum, self._n)
        for name in ("_key", "_x_last", "_min", "_max", "_last", "_sum", "_n"):
            setattr(self, name, getattr(self, name)[:0])
        self._merge(*old)

    def means(self) -> tuple[np.ndarray, np.ndarray]:
        """(x, mean y) per bucket: what smoothing starts from."""
        return self._x_last.copy(), self._sum / self._n

    def columns(
        self, n_columns: int, x_lo: float | None = None, x_hi: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """About two points per column (its min and max, in x order): a plot's whole input.

        Drawing cost is then linear in the plot's width, not in the run's length.
        """
        if not len(self._key):
            return np.empty(0), np.empty(0)
        x = self._x_last
        lo = x[0] if x_lo is None else x_lo
        hi = x[-1] if x_hi is None else x_hi
        sel = (x >= lo) & (x <= hi)
        x, mn, mx = x[sel], self._min[sel], self._max[sel]
        if len(x) <= 2 * n_columns:
            # few buckets: keep each bucket's min and max (a single point when they agree)
            same = mn == mx
            xs = np.repeat(x, np.where(same, 1, 2))
            ys = np.empty(len(xs))
            pos = np.cumsum(np.where(same, 1, 2)) - 1
            ys[pos] = mx
            ys[pos[~same] - 1] = mn[~same]
            return xs, ys
        span = max(hi - lo, 1e-12)
        col = np.minimum(((x - lo) / span * n_columns).astype(np.int64), n_columns - 1)
        starts = np.flatnonzero(np.r_[True, col[1:] != col[:-1]])
        cmin = np.minimum.reduceat(mn, starts)
        cmax = np.maximum.reduceat(mx, starts)
        ends = np.r_[starts[1:], len(x)] - 1
        cx = x[ends]
        # Alternate (min, max) and (max, min): the line joins neighbouring columns at the
        # same end, so it travels each column's spread once, not twice (plotext's cost
        # grows with the length of the lines it draws).
        flip = (np.arange(len(cx)) % 2).astype(bool)
        first = np.where(flip, cmax, cmin)
        second = np.where(flip, cmin, cmax)
        return np.repeat(cx, 2), np.column_stack([first, second]).ravel()
