"""The lecture's hard cases for a linear classifier, and training on them."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest

from nntui.engine.config import TrainConfig
from nntui.engine.data import THREE_MODE_CENTERS, THREE_MODE_RADIUS, make_dataset
from nntui.engine.parsing import apply_text
from nntui.engine.presets import preset
from nntui.engine.trainer import Trainer


def _all(ds) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([ds.x_train, ds.x_test]), np.concatenate([ds.y_train, ds.y_test])[:, 0]


def test_ring_class_one_lies_between_radius_one_and_two() -> None:
    x, y = _all(make_dataset(TrainConfig(dataset="ring", loss="bce", noise=0.0, samples=2000)))
    r = np.hypot(x[:, 0], x[:, 1])
    assert np.all((r[y == 1] >= 1) & (r[y == 1] <= 2))
    assert np.all((r[y == 0] < 1) | (r[y == 0] > 2))
    assert 0.2 < y.mean() < 0.5


def test_xor_labels_are_the_parity_of_the_signs() -> None:
    x, y = _all(make_dataset(TrainConfig(dataset="xor", loss="bce", noise=0.0, samples=1000)))
    assert np.array_equal(y == 1, np.sign(x[:, 0]) != np.sign(x[:, 1]))
    for quadrant in ((1, 1), (-1, 1), (-1, -1), (1, -1)):
        inside = (np.sign(x[:, 0]) == quadrant[0]) & (np.sign(x[:, 1]) == quadrant[1])
        assert inside.sum() > 150, "all four quadrants are populated"


def test_three_modes_has_three_separate_clusters_of_class_one() -> None:
    x, y = _all(make_dataset(TrainConfig(dataset="three-modes", loss="bce", noise=0.0, samples=1500)))
    ones = x[y == 1]
    dist = np.linalg.norm(ones[:, None, :] - THREE_MODE_CENTERS[None], axis=2)
    nearest = dist.argmin(1)
    assert np.all(dist.min(1) <= THREE_MODE_RADIUS)
    counts = np.bincount(nearest, minlength=3)
    assert len(counts) == 3 and counts.min() > 150
    gaps = np.linalg.norm(THREE_MODE_CENTERS[:, None] - THREE_MODE_CENTERS[None], axis=2)
    assert gaps[np.triu_indices(3, 1)].min() > 2 * THREE_MODE_RADIUS, "the clusters do not touch"


def test_gaussians_and_spiral_are_balanced_two_class_sets() -> None:
    for name in ("gaussians", "spiral"):
        _, y = _all(make_dataset(apply_text(TrainConfig(), {"dataset": name})))
        assert set(np.unique(y)) == {0.0, 1.0} and abs(y.mean() - 0.5) < 0.05


def _accuracy(config: TrainConfig) -> float:
    result = Trainer(config).run(lambda e: None)
    assert result.reason == "done"
    return result.metrics["test_accuracy"]


@pytest.mark.parametrize("name", ["ring", "xor"])
def test_an_mlp_separates_what_a_linear_model_cannot(name: str) -> None:
    c = preset(name)
    mlp = _accuracy(c)
    linear = _accuracy(apply_text(c, {"hidden": ""}))
    _, y = _all(make_dataset(c))
    chance = max(y.mean(), 1 - y.mean())
    assert mlp >= 0.9, f"{name}: the MLP reaches {mlp:.2f}"
    assert linear <= chance + 0.1, f"{name}: the linear model stays near chance ({linear:.2f} vs {chance:.2f})"


def test_a_real_world_shaped_csv_trains_through_the_cli(tmp_path, nntui_cmd) -> None:
    rng = np.random.default_rng(7)
    n = 400
    area = rng.uniform(30, 200, n)
    rooms = rng.integers(1, 7, n)
    age = rng.uniform(0, 80, n)
    dist = rng.uniform(0.5, 30, n)
    price = 2.5 * area + 12 * rooms - 0.8 * age - 3 * dist + rng.normal(0, 10, n) + 100
    path = tmp_path / "houses.csv"
    lines = ["area_m2,rooms,age_years,distance_km,price_k"]
    lines += [f"{a:.1f},{r},{g:.1f},{d:.2f},{p:.2f}" for a, r, g, d, p in zip(area, rooms, age, dist, price)]
    path.write_text("\n".join(lines) + "\n")
    out = subprocess.run(
        [*nntui_cmd, "--headless", "--data", str(path), "--target", "price_k", "--hidden", "16",
         "--activation", "relu", "--optimizer", "adam", "--lr", "0.01", "--epochs", "400",
         "--test-fraction", "0.2", "--json"],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["r2_split"] == "test" and summary["r2"] > 0.9
    assert "standardized" in out.stderr and "price_k" in out.stderr
