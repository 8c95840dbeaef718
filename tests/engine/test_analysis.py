"""The least-squares baseline and the cost landscape."""

from __future__ import annotations

import numpy as np
import pytest

from nntui.engine.analysis import least_squares_baseline, polynomial_features
from nntui.engine.config import TrainConfig
from nntui.engine.data import make_dataset
from nntui.engine.events import EpochsEnded
from nntui.engine.landscape import LandscapeTracker, cost_landscape
from nntui.engine.presets import preset
from nntui.engine.trainer import Trainer


@pytest.mark.parametrize(("dataset", "degree"), [("quadratic", 2), ("linear", 1), ("sine", 5), ("abs", 4)])
def test_baseline_equals_numpy_lstsq(dataset: str, degree: int) -> None:
    c = TrainConfig(dataset=dataset, loss="mse", noise=0.3, samples=400, degree=degree)
    ds = make_dataset(c)
    base = least_squares_baseline(ds, c)
    assert base is not None and base.degree == degree
    feats = polynomial_features(ds.x_train, degree)
    want = np.linalg.lstsq(feats, ds.y_train[:, 0].astype(np.float64), rcond=None)[0]
    np.testing.assert_allclose(base.coefficients, want, rtol=1e-6, atol=1e-8)
    pred = feats @ want
    assert base.train_loss == pytest.approx(np.mean((pred - ds.y_train[:, 0]) ** 2), rel=1e-6)


def test_baseline_defaults_to_the_true_degree_and_recovers_the_lecture_polynomial() -> None:
    c = TrainConfig()  # y = 8x² + 7x + 3 + N(0, 1)
    base = least_squares_baseline(make_dataset(c), c)
    assert base.degree == 2
    np.testing.assert_allclose(base.coefficients, [3, 7, 8], atol=0.2)
    assert base.loss == "l1" and 0.6 < base.train_loss < 1.0  # E|N(0,1)| ≈ 0.80
    assert len(base.x_grid) == len(base.y_grid) == 200


def test_no_baseline_for_classes() -> None:
    c = preset("xor")
    assert least_squares_baseline(make_dataset(c), c) is None


def test_landscape_of_seed004_is_the_parabola_with_minimum_at_1() -> None:
    c = preset("linreg")
    land = cost_landscape(make_dataset(c), c, around=(3.0,))
    assert land is not None and land.names == ("w",) and land.b is None
    assert land.minimum[0] == pytest.approx(1.0)
    # E(w) = mean((w·x − x)²) = (w − 1)² · 14/3
    np.testing.assert_allclose(land.cost, (land.w - 1) ** 2 * 14 / 3, rtol=1e-9, atol=1e-12)
    assert land.w.min() <= 3.0 <= land.w.max(), "the start w = 3 is on the picture"


def test_two_parameter_landscape_and_the_descent_path() -> None:
    c = preset("line")
    ds = make_dataset(c)
    land = cost_landscape(ds, c)
    assert land.names == ("w", "b") and land.cost.shape == (len(land.b), len(land.w))
    _, j = np.unravel_index(np.argmin(land.cost), land.cost.shape)
    assert land.w[j] == pytest.approx(land.minimum[0], abs=2 * (land.w[1] - land.w[0]))
    events = []
    Trainer(c).run(events.append)
    path = np.concatenate([e.params for e in events if isinstance(e, EpochsEnded)])
    assert path.shape == (c.epochs, 2)
    assert abs(path[-1, 0] - 0.5) < 0.05, "w heads for the true slope 0.5"


def test_no_landscape_with_hidden_layers() -> None:
    c = TrainConfig()
    assert cost_landscape(make_dataset(c), c) is None


def test_the_surface_widens_when_the_path_walks_off_it() -> None:
    """The engine keeps the descent path on the surface (a bounded number of recomputations)."""
    c = preset("line")
    tracker = LandscapeTracker(make_dataset(c), c)
    first = tracker.start((0.0, 0.0))
    assert first is not None and first.b is not None
    assert tracker.follow(np.array([[first.w[0] + 0.01, first.b[-1] - 0.01]])) is None, "still on it"
    wider = tracker.follow(np.array([[3.0, 25.0]]))
    assert wider is not None and wider.b is not None
    assert wider.w[0] <= 3.0 <= wider.w[-1] and wider.b[0] <= 25.0 <= wider.b[-1]
    assert tracker.follow(np.array([[1e9, 1e9]])) is None, "a diverging path gets no surface that wide"
    for k in range(20):
        tracker.follow(np.array([[50.0 + 100 * k, 0.0]]))
    assert tracker.refits <= 6


def test_the_run_sends_its_surface_and_only_one_and_two_parameter_models_have_one() -> None:
    from nntui.engine.events import RunStarted
    from nntui.engine.trainer import Trainer

    events: list[object] = []
    Trainer(preset("linreg")).run(events.append)
    started = next(e for e in events if isinstance(e, RunStarted))
    assert started.landscape is not None and started.landscape.names == ("w",)
    events.clear()
    Trainer(TrainConfig(epochs=3)).run(events.append)
    assert next(e for e in events if isinstance(e, RunStarted)).landscape is None
