"""engine/compare.py: the label that tells runs apart, the metric a run is judged by, and a
run directory read back as a RunResult (no torch, never a write)."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from nntui.engine.compare import SAME, CompareError, diff_label, differing_fields, metric_of, read_run_dir
from nntui.engine.config import TrainConfig, with_changes
from nntui.engine.events import FitUpdated
from nntui.engine.film import Film
from nntui.engine.presets import preset

LECTURE = preset("lecture")


# -- labels -----------------------------------------------------------------------------------


def test_the_same_config_says_so() -> None:
    assert diff_label(LECTURE, LECTURE) == SAME
    assert differing_fields(LECTURE, LECTURE) == ()


@pytest.mark.parametrize(
    ("changes", "label"),
    [
        ({"activation": ("tanh",)}, "tanh"),
        ({"lr": 0.01}, "lr 0.01"),
        ({"hidden": (32, 32), "activation": ("relu",)}, "hidden 32,32 relu"),
        ({"optimizer": "adam"}, "adam"),
        ({"loss": "mse"}, "mse"),
        ({"seed": 3}, "seed 3"),
        ({"epochs": 800}, "epochs 800"),
        ({"batch_size": 64}, "batch 64"),
        ({"test_fraction": 0.2}, "test 0.2"),
        ({"bias": False}, "bias off"),
        ({"standardize": True}, "standardize on"),
        ({"clip_grad": 1.5}, "clip 1.5"),
        ({"hidden": (), "activation": ("relu",)}, "no hidden layer relu"),
    ],
)
def test_the_label_names_what_differs_in_the_runs_own_values(changes: dict[str, object], label: str) -> None:
    assert diff_label(replace(LECTURE, **changes), LECTURE) == label


def test_several_differences_come_in_the_configs_field_order() -> None:
    run = replace(LECTURE, lr=0.01, activation=("tanh",), hidden=(32, 32))
    assert differing_fields(run, LECTURE) == ("hidden", "activation", "lr")
    assert diff_label(run, LECTURE) == "hidden 32,32 tanh lr 0.01"


def test_the_label_is_the_runs_side_not_the_current_ones() -> None:
    """An earlier run at lr 0.01 beside a current run at 0.001 says "lr 0.01"."""
    assert diff_label(replace(LECTURE, lr=0.01), replace(LECTURE, lr=0.001)) == "lr 0.01"
    assert diff_label(replace(LECTURE, lr=0.001), replace(LECTURE, lr=0.01)) == "lr 0.001"


def test_a_data_set_change_does_not_also_list_the_noise_and_loss_it_brought() -> None:
    run = with_changes(LECTURE, {"dataset": "xor"})  # noise 0.05 and loss auto come with it
    assert (run.noise, run.loss) == (0.05, "auto")
    assert diff_label(run, LECTURE) == "xor"
    noisy = replace(run, noise=0.3)
    assert diff_label(noisy, LECTURE) == "xor noise 0.3", "a noise of its own is a difference"


def test_an_auto_device_and_health_recording_are_no_difference() -> None:
    assert diff_label(replace(LECTURE, device="cpu"), replace(LECTURE, device="auto")) == SAME
    assert diff_label(replace(LECTURE, health=True), LECTURE) == SAME
    assert diff_label(replace(LECTURE, device="cpu"), replace(LECTURE, device="cuda")) == "device cpu"


def test_a_csv_run_is_named_by_its_file(tmp_path: Path) -> None:
    data = tmp_path / "houses.csv"
    run = with_changes(LECTURE, {"data": str(data)})
    assert diff_label(run, LECTURE) == "houses.csv"
    other = with_changes(LECTURE, {"data": str(tmp_path / "flats.csv")})
    assert diff_label(run, other) == "houses.csv"


# -- metrics ----------------------------------------------------------------------------------


def test_the_metric_is_the_test_splits_where_there_is_one() -> None:
    assert metric_of({"train_accuracy": 0.9, "test_accuracy": 0.8}) == ("test accuracy", 0.8)
    assert metric_of({"train_r2": 0.5}) == ("train r2", 0.5)
    assert metric_of({}) is None


# -- run directories --------------------------------------------------------------------------


def write_run(path: Path, config: TrainConfig, *, rows: int = 50, summary: bool = True, film: bool = True,
              garbage: bool = False) -> dict[str, object]:
    """A run directory as RunDirSink leaves one (config.toml, metrics.csv, summary.json, film.npz)."""
    path.mkdir(parents=True)
    (path / "config.toml").write_text(config.to_toml())
    lines = ["epoch,train_loss,test_loss,elapsed_s,lr,train_r2,test_r2"]
    for e in range(1, rows + 1):
        last = e == rows
        lines.append(f"{e},{10.0 / e!r},,{0.01 * e if last else ''},0.001,{0.9 if last else ''},")
        if garbage and e == rows // 2:
            lines.append("this is not a row")
    (path / "metrics.csv").write_text("\n".join(lines) + "\n")
    record: dict[str, object] = {
        "status": "done", "epochs": rows, "final_loss": 10.0 / rows, "best_loss": 10.0 / rows,
        "elapsed_s": 0.01 * rows, "train_r2": 0.9, "r2": 0.9, "r2_split": "train",
    }
    if summary:
        (path / "summary.json").write_text(json.dumps(record))
    if film:
        reel = Film()
        x = np.linspace(-1, 1, 5)
        for epoch in (10, rows):
            reel.add(FitUpdated(epoch=epoch, kind="curve", x=x, y=x * epoch, loss=10.0 / epoch))
        reel.save(path)
    return record


def test_a_run_directory_reads_back_with_its_numbers_curve_config_and_last_fit(tmp_path: Path) -> None:
    config = replace(LECTURE, activation=("tanh",), epochs=50)
    record = write_run(tmp_path / "tanh", config)
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "tanh").iterdir()}
    run = read_run_dir(tmp_path / "tanh", key=7)
    assert (run.key, run.name, run.status, run.epochs) == (7, "tanh", "done", 50)
    assert run.final_loss == record["final_loss"] and run.best_loss == record["best_loss"]
    assert run.elapsed_s == record["elapsed_s"]
    assert run.metrics == {"train_r2": 0.9} and run.metric == ("train r2", 0.9)
    assert run.config == config and run.label(replace(LECTURE, epochs=50)) == "tanh"
    assert run.train.count == 50 and run.train.minimum() == pytest.approx(10.0 / 50)
    assert run.fit is not None and run.fit.epoch == 50
    assert not run.from_session and run.rundir == tmp_path / "tanh" and run.notes == ()
    after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "tanh").iterdir()}
    assert after == before, "reading never writes into a run directory"


def test_without_a_summary_the_numbers_come_from_the_rows(tmp_path: Path) -> None:
    write_run(tmp_path / "r", LECTURE, rows=40, summary=False, film=False, garbage=True)
    run = read_run_dir(tmp_path / "r", key=0)
    assert run.status == "no summary" and run.epochs == 40
    assert run.final_loss == 10.0 / 40 and run.best_loss == 10.0 / 40
    assert math.isclose(run.elapsed_s, 0.4)
    assert run.fit is None
    assert run.train.count == 40
    assert any("1 damaged row" in note for note in run.notes)


def test_a_directory_without_a_readable_config_is_named_by_its_directory(tmp_path: Path) -> None:
    write_run(tmp_path / "old-run", LECTURE)
    (tmp_path / "old-run" / "config.toml").write_text("this is = = not toml")
    run = read_run_dir(tmp_path / "old-run", key=0)
    assert run.config is None and run.label(LECTURE) == "old-run"


def test_what_cannot_be_compared_is_one_line_naming_it(tmp_path: Path) -> None:
    with pytest.raises(CompareError, match="no such directory"):
        read_run_dir(tmp_path / "missing", key=0)
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(CompareError, match="not a directory"):
        read_run_dir(tmp_path / "file.txt", key=0)
    (tmp_path / "empty").mkdir()
    with pytest.raises(CompareError, match=r"no metrics\.csv"):
        read_run_dir(tmp_path / "empty", key=0)
    (tmp_path / "header").mkdir()
    (tmp_path / "header" / "metrics.csv").write_text("epoch,train_loss,test_loss,elapsed_s,lr\n")
    with pytest.raises(CompareError, match="no loss rows"):
        read_run_dir(tmp_path / "header", key=0)
    for error in ("missing", "file.txt", "empty", "header"):
        try:
            read_run_dir(tmp_path / error, key=0)
        except CompareError as exc:
            assert "\n" not in str(exc) and str(tmp_path / error) in str(exc)


def test_a_long_run_reads_whole_and_keeps_a_bounded_history(tmp_path: Path) -> None:
    """More than one follower read (1 MiB) of rows; the history stays bounded."""
    write_run(tmp_path / "long", LECTURE, rows=60_000, film=False)
    run = read_run_dir(tmp_path / "long", key=0)
    assert run.train.count == 60_000 and len(run.train) <= run.train.capacity
