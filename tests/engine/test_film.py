"""The replay film: bounded, evenly thinned, saved atomically, and a damaged file is survivable."""

from __future__ import annotations

import numpy as np
import pytest

from nntui.engine.events import FitUpdated
from nntui.engine.film import FILM, MAX_BYTES, MAX_FRAMES, Film, FilmError


def curve(epoch: int, points: int = 200) -> FitUpdated:
    x = np.linspace(-1, 1, points)
    return FitUpdated(epoch=epoch, kind="curve", x=x, y=x * epoch, true_y=x**2)


def test_a_long_run_keeps_at_most_256_frames_spread_evenly_and_the_newest() -> None:
    film = Film()
    for epoch in range(1, 1_000_001, 97):
        film.add(curve(epoch, points=4))
    assert len(film) <= MAX_FRAMES
    epochs = np.array(film.epochs)
    assert epochs[0] == 1 and epochs[-1] == 1 + 97 * (len(range(1, 1_000_001, 97)) - 1)
    gaps = np.diff(epochs[:-1])
    assert gaps.max() <= 2 * gaps.min() + 97, "evenly spread (within one spacing step)"
    assert len(film) >= MAX_FRAMES // 2


def test_at_picks_the_newest_frame_at_or_before_the_cursor() -> None:
    film = Film()
    for epoch in (10, 20, 30):
        film.add(curve(epoch))
    assert film.at(25).epoch == 20  # type: ignore[union-attr]
    assert film.at(30).epoch == 30  # type: ignore[union-attr]
    assert film.at(1).epoch == 10, "before the first frame: the first"  # type: ignore[union-attr]
    assert Film().at(5) is None


def test_going_back_drops_the_later_frames() -> None:
    film = Film()
    for epoch in (10, 20, 30, 40):
        film.add(curve(epoch))
    film.add(curve(25))
    assert film.epochs == [10, 20, 25]


def test_the_byte_bound_holds_for_big_frames() -> None:
    film = Film()
    grid = np.zeros((480, 960))  # a far bigger heatmap than the boundary's 96×48
    for epoch in range(1, 400):
        film.add(FitUpdated(epoch=epoch, kind="boundary", x=np.zeros(960), y=np.zeros(480), grid=grid))
    assert film.nbytes <= MAX_BYTES
    assert film.epochs[-1] == 399


def test_saved_and_loaded_frames_are_the_same(tmp_path) -> None:
    film = Film()
    for epoch in range(1, 500, 7):
        film.add(curve(epoch))
    film.add(FitUpdated(epoch=600, kind="curve", x=np.zeros(3), y=np.ones(3), params=(0.5, 2.0)))
    film.save(tmp_path)
    back = Film.load(tmp_path)
    assert back.epochs == film.epochs
    for a, b in zip(film.frames, back.frames):
        np.testing.assert_array_equal(a.x, b.x)
        np.testing.assert_array_equal(a.y, b.y)
        assert a.params == b.params and a.kind == b.kind
    assert Film.load(tmp_path, up_to_epoch=300).epochs[-1] <= 300, "a resume goes on from the checkpoint"
    assert not list(tmp_path.glob(".*.tmp")), "no temporary file left behind"


@pytest.mark.parametrize("damage", ["missing", "garbage", "truncated"])
def test_a_missing_or_damaged_film_is_a_film_error(tmp_path, damage: str) -> None:
    film = Film()
    for epoch in range(1, 50):
        film.add(curve(epoch))
    film.save(tmp_path)
    path = tmp_path / FILM
    if damage == "missing":
        path.unlink()
    elif damage == "garbage":
        path.write_bytes(b"not a zip file at all")
    else:
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(FilmError, match=r"film\.npz"):
        Film.load(tmp_path)
