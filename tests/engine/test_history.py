"""Bounded min/max history."""

from __future__ import annotations

import numpy as np

from nntui.engine.history import SeriesHistory


def test_million_points_stay_bounded_and_keep_the_spike() -> None:
    h = SeriesHistory(capacity=4096)
    rng = np.random.default_rng(0)
    for i in range(1000):
        x = np.arange(i * 1000 + 1, (i + 1) * 1000 + 1)
        y = rng.random(1000)
        if i == 617:
            y[123] = 1e6  # one spike, in one epoch of a million
        h.extend(x, y)
    assert h.count == 1_000_000
    assert len(h) <= 4096
    assert h.nbytes < 1_000_000
    xs, ys = h.columns(100)
    assert len(xs) <= 200
    assert ys.max() == 1e6, "min/max buckets keep the spike"
    column = 1_000_000 / 100
    assert abs(xs[np.argmax(ys)] - 617_124) <= column + h.width, "and its place, to a column"


def test_small_series_is_exact() -> None:
    h = SeriesHistory()
    h.extend(np.arange(1, 6), np.array([5.0, 4.0, 3.0, 3.0, 1.0]))
    xs, ys = h.columns(80)
    assert xs.tolist() == [1, 2, 3, 4, 5]
    assert ys.tolist() == [5, 4, 3, 3, 1]
    assert h.last == 1.0 and h.minimum() == 1.0


def test_nan_points_are_skipped() -> None:
    h = SeriesHistory()
    h.extend(np.arange(1, 5), np.array([np.nan, 2.0, np.nan, 1.0]))
    assert h.count == 2
    assert SeriesHistory().count == 0


def test_columns_cost_does_not_grow_with_length() -> None:
    small, big = SeriesHistory(), SeriesHistory()
    small.extend(np.arange(1, 1001), np.ones(1000))
    for i in range(100):
        big.extend(np.arange(i * 10_000 + 1, (i + 1) * 10_000 + 1), np.ones(10_000))
    assert len(big) <= big.capacity
    assert len(big.columns(120)[0]) <= 240
