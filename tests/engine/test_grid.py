"""The sweep's grid: --vary parsing, ranges, the [sweep] table, trial names, every refusal."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest

from nntui.engine.config import TrainConfig
from nntui.engine.errors import ConfigError
from nntui.engine.grid import (
    MAX_NAME_BYTES,
    Grid,
    build_grid,
    dumps_sweep_toml,
    expand_range,
    load_sweep_config,
    parse_vary,
    trial_name,
)

BASE = TrainConfig()


def values(spec: str) -> tuple[object, ...]:
    return parse_vary(spec).values


def test_values_are_parsed_by_the_fields_own_parser() -> None:
    assert values("lr=0.1,1e-2") == (0.1, 0.01)
    assert values("activation=relu,tanh,leaky-relu") == (("relu",), ("tanh",), ("leaky_relu",))
    assert values("hidden=10/6,32,none") == ((10, 6), (32,), ())
    assert values("activation=relu/linear,tanh/tanh") == (("relu", "linear"), ("tanh", "tanh"))
    assert values("bias=on,off") == (True, False)
    assert values("batch-size=full,64") == (0, 64)
    assert values("standardize=auto,on") == (None, True)
    assert values("delimiter=comma,tab") == (",", "\t")
    assert parse_vary("batch-size=0").field == "batch_size"


def test_ranges() -> None:
    assert values("seed=0..4") == (0, 1, 2, 3, 4)
    assert values("seed=0..2,10") == (0, 1, 2, 10)
    assert values("lr=1e-4..1e-1:log4") == (0.0001, 0.001, 0.01, 0.1)  # exactly, not 0.00099999…
    assert values("lr=0.1..0.4:lin4") == (0.1, 0.2, 0.3, 0.4)
    assert values("samples=10..1000:log3") == (10, 100, 1000)
    assert values("epochs=100..200:lin3") == (100, 150, 200)
    assert values("lr=0.5..0.5:lin1") == (0.5,)


def test_log_spacing_is_even_in_log() -> None:
    vals = expand_range("lr", "1e-5..1:log11", "--vary lr")
    ratios = [b / a for a, b in itertools.pairwise(vals)]
    assert len(vals) == 11 and vals[0] == 1e-5 and vals[-1] == 1.0
    assert all(math.isclose(r, 10 ** 0.5, rel_tol=1e-9) for r in ratios)


def test_grid_is_the_product_in_axis_order() -> None:
    grid = build_grid(["activation=relu,tanh", "seed=0..2"], BASE)
    assert grid.size == 6 and grid.describe() == "activation 2 × seed 3 = 6 trials"
    trials = grid.trials(BASE)
    assert [t.index for t in trials] == list(range(6))
    assert [(t.config.activation, t.config.seed) for t in trials] == [
        (("relu",), 0), (("relu",), 1), (("relu",), 2), (("tanh",), 0), (("tanh",), 1), (("tanh",), 2)
    ]
    # everything else is the base's
    assert all(t.config.lr == BASE.lr and t.config.hidden == BASE.hidden for t in trials)


def test_trials_are_built_as_a_single_run_would_be() -> None:
    """with_changes' rules apply: a classification data set picks a fitting loss and noise."""
    grid = build_grid(["dataset=quadratic,xor"], BASE)
    quad, xor = grid.trials(BASE)
    assert quad.config.loss == "l1"
    assert xor.config.loss == "auto" and xor.config.noise == 0.05


def test_trial_names_are_sorted_safe_and_unique() -> None:
    grid = build_grid(["seed=3", "lr=0.01", "activation=tanh"], BASE)
    assert grid.trials(BASE)[0].name == "activation=tanh,lr=0.01,seed=3"  # the example
    # flag order does not rename a trial (a rerun with the flags reordered resumes it)
    again = build_grid(["activation=tanh", "lr=0.01", "seed=3"], BASE)
    assert again.trials(BASE)[0].name == grid.trials(BASE)[0].name
    assert trial_name([("hidden", (10, 6)), ("activation", ("relu", "linear"))]) == "activation=relu+linear,hidden=10x6"
    assert trial_name([("hidden", ())]) == "hidden=none"
    assert trial_name([("data", "../some dir/x.csv")]) == "data=.._some_dir_x.csv"
    long = trial_name([("data", "d" * 400)])
    assert len(long.encode()) <= MAX_NAME_BYTES and long != trial_name([("data", "d" * 401)])


def test_names_that_collide_once_made_safe_get_their_index(tmp_path: Path) -> None:
    a, b = tmp_path / "a b.csv", tmp_path / "a_b.csv"
    for p in (a, b):
        p.write_text("x,y\n1,2\n2,4\n3,6\n")
    base = TrainConfig(dataset="csv", data=str(a), loss="auto")
    trials = Grid((parse_vary(f"data={a},{b}"),)).trials(base)
    names = [t.name for t in trials]
    assert len(set(names)) == 2 and names[0].endswith("-0") and names[1].endswith("-1")


def test_sweep_table_in_toml(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(
        'epochs = 300\noptimizer = "adam"\n'
        "[sweep.vary]\n"
        'lr = [0.1, 0.01]\nhidden = [[10, 6], "32,32"]\nseed = "0..2"\nactivation = ["relu", "tanh"]\nbias = [true]\n'
    )
    base, axes = load_sweep_config(path, TrainConfig())
    assert base.epochs == 300 and base.optimizer == "adam"
    by_field = {a.field: a.values for a in axes}
    assert by_field == {
        "lr": (0.1, 0.01), "hidden": ((10, 6), (32, 32)), "seed": (0, 1, 2),
        "activation": (("relu",), ("tanh",)), "bias": (True,),
    }
    # the inline-table spelling is the same TOML
    path.write_text('[sweep]\nvary = {lr = "1e-3..1e-1:log3"}\n')
    assert [a.values for a in load_sweep_config(path, TrainConfig())[1]] == [(0.001, 0.01, 0.1)]


def test_vary_replaces_the_files_axis_for_the_same_field(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text("[sweep.vary]\nlr = [0.1, 0.01]\nseed = [1, 2]\n")
    base, axes = load_sweep_config(path, TrainConfig())
    grid = build_grid(["lr=0.5"], base, axes)
    assert {a.field: a.values for a in grid.axes} == {"seed": (1, 2), "lr": (0.5,)}


def test_sweep_toml_round_trips(tmp_path: Path) -> None:
    """sweep.toml is the base config and the grid, and itself a valid --config."""
    base = TrainConfig(epochs=123, hidden=(8,), activation=("tanh",))
    grid = build_grid(
        ["lr=1e-4..1e-1:log4", "hidden=10/6,32/32", "activation=relu/linear,tanh/tanh", "standardize=auto,on",
         "delimiter=auto,tab", "bias=on,off", "seed=0..1"], base,
    )
    path = tmp_path / "sweep.toml"
    path.write_text(dumps_sweep_toml(base, grid))
    again_base, axes = load_sweep_config(path, TrainConfig())
    assert again_base == base
    again = Grid(tuple(axes))
    assert again == grid and again.same_as(grid)
    assert [t.name for t in again.trials(base)] == [t.name for t in grid.trials(base)]


def test_same_as_ignores_order_only() -> None:
    a = build_grid(["lr=0.1,0.01", "seed=0..1"], BASE)
    assert a.same_as(build_grid(["seed=1,0", "lr=0.01,0.1"], BASE))
    assert not a.same_as(build_grid(["lr=0.1,0.01", "seed=0..2"], BASE))
    assert not a.same_as(build_grid(["lr=0.1,0.01"], BASE))


def test_a_value_fine_only_next_to_another_axis_is_accepted() -> None:
    grid = build_grid(["hidden=10/10/10", "activation=relu/tanh/sigmoid,relu"], BASE)
    assert grid.size == 2


def test_ten_thousand_trials_need_yes() -> None:
    with pytest.raises(ConfigError) as exc:
        build_grid(["seed=0..10000"], BASE)
    assert "10,001 trials" in str(exc.value) and "--yes" in str(exc.value)
    assert build_grid(["seed=0..10000"], BASE, yes=True).size == 10_001
    assert build_grid(["seed=0..9999"], BASE).size == 10_000


# --------------------------------------------------------------------------- refusals


BAD: dict[str, tuple[list[str], str]] = {
    "unknown field": (["colour=red"], "--vary: 'colour=red' is not valid; unknown field 'colour'"),
    "no =": (["lr"], "--vary: 'lr' is not valid; write FIELD=V1,V2,..."),
    "a value its field refuses": (["lr=0.1,0"], "--vary lr: '0' is not valid; expected a learning rate above 0"),
    "a value that does not parse": (["lr=0.1,fast"], "--vary lr: 'fast' is not valid; expected a number"),
    "an unknown activation": (["activation=relu,foo"], "--vary activation: 'foo' is not valid; choose one of"),
    "an activation per layer that fits no hidden": (
        ["activation=relu/tanh/sigmoid"], "--vary activation: 'relu/tanh/sigmoid' is not valid; give one activation"
    ),
    "a combination no run accepts": (
        ["hidden=10/10/10,5", "activation=relu/tanh/sigmoid"],
        "--vary: 'hidden=5,activation=relu/tanh/sigmoid' is not valid; this combination is not a valid run",
    ),
    "a range that does not parse": (["seed=0..x"], "--vary seed: '0..x' is not valid; a range is A..B"),
    "a float range without spacing": (["lr=0.1..1"], "--vary lr: '0.1..1' is not valid; lr is not a whole number"),
    "a bad spacing": (["lr=1e-4..1:log"], "--vary lr: '1e-4..1:log' is not valid; a range is A..B"),
    "a log range through 0": (["lr=0..1:log3"], "--vary lr: '0..1:log3' is not valid; a log range needs both ends"),
    "zero values": (["lr=1e-4..1:log0"], "--vary lr: '1e-4..1:log0' is not valid; the number of values must be"),
    "an empty range": (["seed=4..0"], "--vary seed: '4..0' is not valid; the range is empty"),
    "a huge range": (["seed=0..1000000000000"], "--vary seed: '0..1000000000000' is not valid; more than 100,000"),
    "rounding repeats": (["samples=10..12:lin5"], "--vary samples: '10..12:lin5' is not valid; rounded to whole"),
    "an empty value list": (["lr="], "--vary lr: '' is not valid; give at least one value"),
    "an empty grid": ([], "--vary: '' is not valid; a sweep needs a grid"),
    "out cannot vary": (["out=a,b"], "--vary: 'out=a,b' is not valid; out cannot vary"),
    "resume cannot vary": (["resume=a"], "--vary: 'resume=a' is not valid; resume cannot vary"),
    "a run option cannot vary": (["jobs=1,2"], "--vary: 'jobs=1,2' is not valid; jobs cannot vary: it is a run option"),
    "the same field twice": (["lr=0.1", "lr=0.2"], "--vary: 'lr=0.2' is not valid; lr is varied twice"),
    "one field by two spellings": (
        ["batch-size=1", "batch_size=2"], "--vary: 'batch_size=2' is not valid; batch_size is varied twice"
    ),
    "the same value twice": (["lr=0.1,1e-1"], "--vary lr: '1e-1' is not valid; this value is given twice"),
    "more than 10,000 trials": (
        ["seed=0..200", "lr=1e-5..1:log50"], "--vary: 'seed 201 × lr 50 = 10,050 trials' is not valid; more than 10,000"
    ),
    "more than 100,000 trials even with --yes": (["seed=0..99999", "lr=0.1,0.2"], "even with --yes"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_input_is_one_line_naming_the_flag_and_the_value(case: str) -> None:
    specs, expected = BAD[case]
    with pytest.raises(ConfigError) as exc:
        build_grid(specs, BASE, yes="even" in expected)
    message = str(exc.value)
    assert "\n" not in message
    assert message.startswith(expected) or expected in message, message


TOML_BAD = {
    "a key other than vary": ('[sweep]\nruns = 3\n', "sweep.runs: 3 is not valid; unknown key"),
    "vary not a table": ('[sweep]\nvary = 3\n', "sweep.vary: 3 is not valid; expected a table"),
    "unknown field": ('[sweep.vary]\ncolour = ["red"]\n', "unknown field 'colour'"),
    "out cannot vary": ('[sweep.vary]\nout = ["a"]\n', "out cannot vary"),
    "a refused value": ('[sweep.vary]\nlr = [0.1, -1]\n', "sweep.vary.lr: '-1' is not valid; expected a learning rate"),
    "an empty list": ("[sweep.vary]\nlr = []\n", "sweep.vary.lr: '' is not valid; give at least one value"),
    "a bad range string": ('[sweep.vary]\nseed = "0..z"\n', "sweep.vary.seed: '0..z' is not valid; a range is"),
    "a table as values": ("[sweep.vary]\nlr = {a = 1}\n", "expected a list of values"),
    "the same field twice": ('[sweep.vary]\nbatch_size = [1]\nbatch-size = [2]\n', "batch_size is varied twice"),
    "malformed TOML": ("[sweep.vary\n", "malformed TOML"),
}


@pytest.mark.parametrize("case", list(TOML_BAD), ids=list(TOML_BAD))
def test_bad_sweep_tables_are_one_line_naming_the_file(tmp_path: Path, case: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(TOML_BAD[case][0])
    with pytest.raises(ConfigError) as exc:
        base, axes = load_sweep_config(path, TrainConfig())
        build_grid([], base, axes)
    message = str(exc.value)
    assert "\n" not in message and str(path) in message and TOML_BAD[case][1] in message, message
