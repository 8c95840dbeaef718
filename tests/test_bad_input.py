"""Bad input, all together: every case exits 2 with one clear line naming the place and the value.

Runs the real CLI entry point in-process (the same code `nntui` runs) so the table stays
fast; tests/test_headless.py runs a sample of it through the real binary.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nntui import cli
from nntui.engine.config import MAX_LAYER_WIDTH, TrainConfig
from nntui.engine.errors import NntuiError
from nntui.engine.parsing import parse_hidden
from nntui.engine.tomlio import load_toml

CSV_FILES = {
    "empty.csv": "",
    "header.csv": "x,y\n",
    "ragged.csv": "x,y\n1,2\n3\n",
    "text.csv": "x,y\n1,2\nabc,4\n5,6\n",
    "comma.csv": "x;y\n1,5;2\n2,5;3\n3,5;4\n",
    "na.csv": "x,y\n1,2\nNA,3\n4,5\n",
    "const.csv": "a,b,y\n1,5,1\n2,5,2\n3,5,3\n",
    "oneclass.csv": "x,y\n1,cat\n2,cat\n3,cat\n",
    "good.csv": "x,y\n1,2\n2,4\n3,6\n4,8\n",
    "latin1.csv": b"x,y\n1,2\ncaf\xe9,3\n",
}
TOML_FILES = {
    "malformed.toml": "lr = 0.1\nepochs = \n",
    "unknown.toml": "learning_rate = 0.1\n",
    "type.toml": 'epochs = "many"\n',
    "hidden.toml": "hidden = [10, 0]\n",
    "bool.toml": "lr = true\n",
    "latin1.toml": b"dataset = 'caf\xe9'\n",
    "seed.toml": "seed = -5\n",
}

# (arguments, what the one line must name: the field or place, and the value)
CASES = [
    # config fields
    (["--hidden", "0"], ["hidden", "'0'"]),
    (["--hidden", "-3"], ["hidden", "'-3'"]),
    (["--hidden", "abc"], ["hidden", "'abc'"]),
    (["--hidden", "10,,6"], ["hidden", "10,,6"]),
    (["--hidden", "1e9"], ["hidden", "1e9"]),
    (["--hidden", "900000,900000,900000"], ["hidden", "parameters"]),
    (["--lr", "nan"], ["lr", "nan"]),
    (["--lr", "inf"], ["lr", "inf"]),
    (["--lr", "0"], ["lr", "0"]),
    (["--lr", "-0.01"], ["lr", "-0.01"]),
    (["--lr", "abc"], ["lr", "'abc'"]),
    (["--epochs", "0"], ["epochs", "0"]),
    (["--epochs", "2.5"], ["epochs", "2.5"]),
    (["--activation", "swish"], ["activation", "swish", "relu"]),
    (["--activation", "relu,relu,relu"], ["activation", "one per layer"]),
    (["--loss", "hinge"], ["loss", "hinge", "mse"]),
    (["--optimizer", "lbfgs"], ["optimizer", "lbfgs", "adam"]),
    (["--dataset", "moons"], ["dataset", "moons", "spiral"]),
    (["--preset", "nope"], ["nope"]),
    (["--batch-size", "-1"], ["batch_size", "-1"]),
    (["--test-fraction", "1"], ["test_fraction", "1"]),
    (["--samples", "0"], ["samples", "0"]),
    (["--noise", "-1"], ["noise", "-1"]),
    (["--seed", "abc"], ["seed", "abc"]),
    (["--seed", "-1"], ["seed", "-1"]),
    (["--lr", "-1e-3"], ["lr", "-0.001"]),
    (["--hidden", "-3,4"], ["hidden", "'-3'"]),
    # argparse's own refusals: one line too, not a usage dump
    (["--bogus"], ["unrecognized", "--bogus"]),
    (["--ep", "5"], ["unrecognized", "--ep"]),
    (["--lr"], ["--lr", "expected one argument"]),
    (["--engine", "jit"], ["engine", "jit"]),
    (["--clip-grad", "-1"], ["clip_grad", "-1"]),
    (["--degree", "99"], ["degree", "99"]),
    (["--task", "guess"], ["task", "guess"]),
    (["--standardize", "maybe"], ["standardize", "maybe"]),
    (["--log-every", "0"], ["log-every", "0"]),
    (["--checkpoint-every", "0"], ["checkpoint-every", "0"]),
    (["--checkpoint-every", "-5"], ["checkpoint-every", "-5"]),
    (["--checkpoint-every", "abc"], ["checkpoint-every", "abc"]),
    (["--checkpoint-every", "nan"], ["checkpoint-every", "nan"]),
    (["--on-diverge", "pause"], ["on-diverge", "pause", "dashboard"]),
    (["--on-diverge", "explode"], ["on-diverge", "explode"]),
    # devices
    (["--device", "tpu"], ["device", "tpu"]),
    (["--device", "cuda"], ["device", "'cuda'", "available here: cpu"]),
    (["--device", "cuda:7"], ["device", "cuda:7"]),
    (["--device", "mps"], ["device", "'mps'", "available here"]),
    # TOML files
    (["--config", "{tmp}/malformed.toml"], ["malformed.toml", "line 2"]),
    (["--config", "{tmp}/unknown.toml"], ["unknown.toml", "learning_rate"]),
    (["--config", "{tmp}/type.toml"], ["type.toml", "epochs", "many"]),
    (["--config", "{tmp}/hidden.toml"], ["hidden.toml", "hidden", "0"]),
    (["--config", "{tmp}/bool.toml"], ["bool.toml", "lr", "True"]),
    (["--config", "{tmp}/latin1.toml"], ["latin1.toml", "UTF-8"]),
    (["--config", "{tmp}/missing.toml"], ["missing.toml", "cannot read"]),
    (["--config", "{tmp}/seed.toml"], ["seed.toml", "seed", "-5"]),
    # CSV files
    (["--data", "{tmp}/nothere.csv"], ["nothere.csv", "not found"]),
    (["--data", "{tmp}/empty.csv"], ["empty.csv", "empty"]),
    (["--data", "{tmp}/header.csv"], ["header.csv", "no data rows"]),
    (["--data", "{tmp}/ragged.csv"], ["ragged.csv", "row 3"]),
    (["--data", "{tmp}/text.csv"], ["text.csv", "row 3", "column 'x'", "abc"]),
    (["--data", "{tmp}/comma.csv"], ["comma.csv", "row 2", "1,5", "decimal"]),
    (["--data", "{tmp}/na.csv"], ["na.csv", "row 3", "column 'x'", "NA"]),
    (["--data", "{tmp}/const.csv"], ["const.csv", "column 'b'"]),
    (["--data", "{tmp}/oneclass.csv", "--task", "classification"], ["oneclass.csv", "one class", "cat"]),
    (["--data", "{tmp}/good.csv", "--target", "price"], ["good.csv", "price"]),
    (["--data", "{tmp}/good.csv", "--loss", "bce"], ["loss", "bce"]),
    (["--data", "{tmp}/latin1.csv"], ["latin1.csv", "UTF-8"]),
    (["--data", "{tmp}/good.csv", "--test-fraction", "0.99"], ["test_fraction", "0.99"]),
    (["--out", "{tmp}/good.csv"], ["out", "good.csv", "not a directory"]),
    # checkpoints
    (["--resume", "{tmp}/norun"], ["norun", "does not exist"]),
    (["--resume", "{tmp}"], ["checkpoint.safetensors"]),
    (["--resume", "{tmp}/garbage"], ["garbage", "cannot read the checkpoint"]),
    (["--resume", "{tmp}/run", "--hidden", "4"], ["hidden", "cannot change when resuming"]),
    (["--resume", "{tmp}/run", "--epochs", "9", "--activation", "tanh"], ["activation", "tanh", "cannot change"]),
    (["--resume", "{tmp}/run", "--epochs", "9", "--dataset", "sine"], ["dataset", "sine", "cannot change"]),
    (["--resume", "{tmp}/run", "--epochs", "9", "--samples", "50"], ["samples", "50", "cannot change"]),
    (["--resume", "{tmp}/run", "--epochs", "9", "--loss", "mse"], ["loss", "mse", "cannot change"]),
    (["--resume", "{tmp}/run", "--epochs", "9", "--seed", "3"], ["seed", "3", "cannot change"]),
    (["--resume", "{tmp}/run"], ["already has 3 of 3 epochs", "--epochs"]),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> str:
    tmp = tmp_path_factory.mktemp("bad")
    for name, content in {**CSV_FILES, **TOML_FILES}.items():
        path = tmp / name
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    (tmp / "garbage").mkdir()
    (tmp / "garbage" / "checkpoint.safetensors").write_bytes(b"not a checkpoint at all" * 4)
    assert cli.main(["--headless", "--epochs", "3", "--out", str(tmp / "run")]) == 0
    return str(tmp)


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize(("args", "shown"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_bad_input_exits_2_naming_place_and_value(files: str, capsys, args: list[str], shown: list[str]) -> None:
    argv = ["--headless", *(a.replace("{tmp}", files) for a in args)]
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse's own refusals (e.g. --preset choices) exit 2 too
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1 and "error" in lines[0], err
    for part in shown:
        assert part in lines[0], f"{part!r} not in {lines[0]!r}"


def test_a_refused_resume_flag_writes_nothing(files: str, capsys) -> None:
    """The run directory is exactly as it was: no file touched, none added."""
    run = Path(files) / "run"
    before = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in run.iterdir()}
    for argv in (["--hidden", "4"], ["--epochs", "50", "--activation", "tanh"]):
        assert cli.main(["--headless", "--resume", str(run), *argv]) == 2
    after = {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in run.iterdir()}
    assert after == before
    assert capsys.readouterr().err.count("\n") == 2, "one line each"


# ----------------------------------------------------------------------------- properties


@given(st.text(alphabet="0123456789,- abc.e", max_size=20))
def test_layer_size_parser_either_parses_or_raises_our_error(text: str) -> None:
    try:
        sizes = parse_hidden(text)
    except NntuiError:
        return
    assert all(isinstance(s, int) and 1 <= s <= MAX_LAYER_WIDTH for s in sizes)


CONFIGS = st.builds(
    TrainConfig,
    dataset=st.sampled_from(["quadratic", "linear", "sine", "abs", "step"]),
    samples=st.integers(1, 5000),
    noise=st.floats(0, 10),
    hidden=st.lists(st.integers(1, 64), max_size=3).map(tuple),
    activation=st.sampled_from([("relu",), ("tanh",), ("gelu",)]),
    loss=st.sampled_from(["l1", "mse", "huber"]),
    lr=st.floats(1e-6, 1.0),
    epochs=st.integers(1, 10**6),
    batch_size=st.integers(0, 512),
    seed=st.integers(0, 2**63 - 1),
    test_fraction=st.floats(0, 0.9),
    standardize=st.sampled_from([None, True, False]),
    clip_grad=st.floats(0, 100),
    target=st.text(max_size=10),
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(CONFIGS)
def test_toml_round_trip(tmp_path, config: TrainConfig) -> None:
    path = tmp_path / "c.toml"
    path.write_text(config.to_toml(), encoding="utf-8")
    assert load_toml(path) == config


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=200))
def test_any_toml_text_loads_or_raises_our_error(tmp_path, text: str) -> None:
    path = tmp_path / "any.toml"
    path.write_text(text, encoding="utf-8")
    try:
        load_toml(path)
    except NntuiError:
        pass


@pytest.mark.parametrize("value", ["0", "-1", "abc", "nan", "inf"])
def test_a_bad_pace_is_one_line_naming_the_flag(capsys, value: str) -> None:
    """The dashboard's --pace is checked before any terminal is needed."""
    assert cli.main(["--pace", value]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and "pace" in lines[0] and value in lines[0], lines


def test_pace_with_headless_is_refused(capsys) -> None:
    assert cli.main(["--headless", "--pace", "200"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and "pace" in lines[0] and "headless" in lines[0], lines
