"""Network health: gradient norms and dead/saturated/flat units, live and in metrics.csv."""

from __future__ import annotations

from nntui.engine.config import TrainConfig
from nntui.engine.events import EpochsEnded
from nntui.engine.rundir import RunDirSink, read_metrics
from nntui.engine.trainer import Trainer


def _last_health(config: TrainConfig):
    events: list = []
    Trainer(config).run(events.append)
    return [e for e in events if isinstance(e, EpochsEnded)][-1].health


def test_step_activation_shows_as_flat_with_zero_gradient_before_it() -> None:
    rows = _last_health(TrainConfig(activation=("step",), epochs=20, health=True))
    assert [r.kind for r in rows[:2]] == ["flat", "flat"]
    assert rows[0].grad_norm == 0.0, "nothing reaches the first layer through a step"
    assert rows[-1].layer == "output" and rows[-1].grad_norm > 0


def test_relu_layer_has_a_gradient_and_a_dead_fraction() -> None:
    rows = _last_health(TrainConfig(epochs=20, health=True))
    assert rows[0].kind == "dead" and 0.0 <= rows[0].dead_fraction <= 1.0
    assert rows[0].grad_norm > 0


def test_saturated_sigmoid_is_counted() -> None:
    # inputs up to ±15 unscaled push sigmoid units flat against 0 or 1; standardized inputs do not
    raw = _last_health(TrainConfig(activation=("sigmoid",), hidden=(32,), epochs=5, health=True))
    scaled = _last_health(TrainConfig(activation=("sigmoid",), hidden=(32,), epochs=5, health=True, standardize=True))
    assert raw[0].kind == "saturated" and raw[0].dead_fraction > 0.1
    assert scaled[0].dead_fraction < raw[0].dead_fraction / 2


def test_health_columns_in_metrics_csv(tmp_path) -> None:
    sink = RunDirSink(tmp_path)
    Trainer(TrainConfig(epochs=30, health=True)).run(sink)
    cols = read_metrics(tmp_path / "metrics.csv")
    assert {"grad_norm_1", "grad_norm_2", "grad_norm_3", "dead_1", "dead_2"} <= set(cols)
    assert cols["grad_norm_1"][-1] > 0
