"""The CSV loader: every bad-file kind is one clear DataError; good files load as the user meant."""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nntui.engine import config as engine_config
from nntui.engine import csvdata
from nntui.engine.config import TrainConfig
from nntui.engine.csvdata import load_csv_dataset
from nntui.engine.data import make_dataset
from nntui.engine.errors import ConfigError, DataError, NntuiError


def write(path: Path, content: str | bytes) -> Path:
    """Write exactly these characters (no newline translation) or bytes."""
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        with path.open("w", encoding="utf-8", newline="") as f:
            f.write(content)
    return path


def config(path: Path, **changes: Any) -> TrainConfig:
    return TrainConfig(dataset="csv", data=str(path), **changes)


def load(tmp_path: Path, content: str | bytes, **changes: Any):
    return load_csv_dataset(config(write(tmp_path / "data.csv", content), **changes))


def rows(n: int, fn, header: str = "x,y") -> str:
    """A header and n rows of fn(i) (a tuple of cells)."""
    return header + "\n" + "".join(",".join(map(str, fn(i))) + "\n" for i in range(n))


# ----------------------------------------------------------------------------- the error table

# id, file content (None: no file; "DIR": a directory), config changes, row, column, words the message must hold
BAD_FILES: list[tuple[str, str | bytes | None, dict[str, Any], int | None, str | None, tuple[str, ...]]] = [
    ("missing file", None, {}, None, None, ("not found",)),
    ("directory", "DIR", {}, None, None, ("directory",)),
    ("empty file", "", {}, None, None, ("empty",)),
    ("blank lines only", "\n\n  \n", {}, None, None, ("empty",)),
    ("BOM only", "\ufeff", {}, None, None, ("empty",)),
    ("header only", "a,b,y\n", {}, None, None, ("no data rows",)),
    ("one data row", "a,y\n1,2\n", {}, None, None, ("one data row", "at least 2")),
    ("one column", "y\n1\n2\n3\n", {}, 1, None, ("one column",)),
    ("ragged short row", "a,b,y\n1,2,3\n4,5\n", {}, 3, None, ("2 cells", "header has 3")),
    ("ragged long row", "a,y\n1,2\n3,4\n5,6,7\n", {}, 4, None, ("3 cells", "header has 2")),
    ("ragged headerless", "1,2,3\n4,5\n", {}, 2, None, ("2 cells", "first row has 3")),
    ("non-numeric input", "a,b,y\n1,2,3\n4,foo,6\n", {}, 3, "b", ("not a number", "'foo'", "inputs")),
    ("decimal comma", "a;b;y\n1;2;3\n1,5;2;3\n", {}, 3, "a", ("decimal point", "'1,5'", "1.5")),
    ("decimal comma quoted", 'a,y\n"2,25",1\n3,2\n', {}, 2, "a", ("decimal point", "2.25")),
    ("python underscore", "a,y\n1_000,1\n2,2\n", {}, 2, "a", ("not a number", "'1_000'")),
    ("empty input cell", "a,b,y\n1,2,3\n4,,6\n", {}, 3, "b", ("empty cell", "drop_missing")),
    ("empty target cell", "a,y\n1,2\n3,\n", {}, 3, "y", ("empty cell", "drop_missing")),
    ("NA", "a,y\n1,2\nNA,3\n", {}, 3, "a", ("missing value 'NA'", "drop_missing")),
    ("N/A", "a,y\n1,2\n2,N/A\n", {}, 3, "y", ("missing value 'N/A'",)),
    ("NaN", "a,y\n1,2\nNaN,3\n", {}, 3, "a", ("missing value 'NaN'",)),
    ("null", "a,y\n1,2\nnull,3\n", {}, 3, "a", ("missing value 'null'",)),
    ("inf", "a,y\n1,2\ninf,3\n", {}, 3, "a", ("non-finite value 'inf'",)),
    ("-inf", "a,y\n1,2\n2,-inf\n", {}, 3, "y", ("non-finite value '-inf'",)),
    ("all rows dropped", "a,y\nNA,1\n2,\n", {"drop_missing": True}, None, None, ("drop_missing dropped all 2",)),
    ("not UTF-8", b"a,y\n1,2\n3,\xe9\n", {}, 3, None, ("not UTF-8", "0xe9")),
    ("not UTF-8 after sample", b"a,y\n" + b"1,2\n" * 20_000 + b"\xff,1\n", {}, 20_002, None, ("not UTF-8",)),
    ("constant input", rows(10, lambda i: (i, 5, i * 2), "a,b,y"), {}, None, "b", ("same value (5)", "inputs")),
    ("constant target", rows(10, lambda i: (i, 1.5)), {}, None, "y", ("same value (1.5)",)),
    (
        "single class",
        rows(10, lambda i: (i, 1)),
        {"task": "classification", "loss": "bce"},
        None,
        "y",
        ("only one class",),
    ),
    ("single text class", rows(10, lambda i: (i, "cat")), {"loss": "ce"}, None, "y", ("only one class", "'cat'")),
    (
        "text target, too many values",
        rows(10, lambda i: (i, f"name{i}")),
        {"loss": "ce"},
        None,
        "y",
        ("10 distinct values", "task classification"),
    ),
    (
        "text in numeric target",
        rows(10, lambda i: (i, "oops" if i == 4 else i * 0.5)),
        {},
        6,
        "y",
        ("'oops'", "not a number"),
    ),
    (
        "text target for regression",
        rows(10, lambda i: (i, "ab"[i % 2])),
        {"task": "regression"},
        2,
        "y",
        ("'a'", "regression"),
    ),
    ("too large for float32", "a,y\n1e39,1\n2,2\n3,3\n", {}, 2, "a", ("too large", "32-bit")),
    ("too large to standardize", rows(10, lambda i: (i * 1e30, i)), {}, None, "x", ("standardize",)),
    ("duplicate column name", "a,b,a,y\n1,2,3,4\n", {}, 1, "a", ("two columns 'a'", "columns 0 and 2")),
    ("empty column name", "a,,y\n1,2,3\n4,5,6\n", {}, 1, None, ("column 1", "no name")),
    ("unknown input", "a,b,y\n1,2,3\n", {"inputs": ("nope",)}, None, "nope", ("no such column", "a, b, y")),
    ("unknown target", "a,b,y\n1,2,3\n", {"target": "price"}, None, "price", ("no such column", "a, b, y")),
    ("index out of range", "a,b,y\n1,2,3\n", {"target": "7"}, None, None, ("out of range", "a, b, y")),
    (
        "input is the target",
        "a,b,y\n1,2,3\n4,5,6\n",
        {"inputs": ("a", "y"), "target": "y"},
        None,
        "y",
        ("both an input and the target",),
    ),
    ("input listed twice", "a,b,y\n1,2,3\n4,5,6\n", {"inputs": ("a", "0")}, None, "a", ("twice",)),
    ("unclosed quote", 'a,b,y\n1,2,3\n4,"5,6\n7,8,9\n', {}, 3, None, ("closing quote",)),
    ("huge quoted field", 'a,y\n1,2\n3,"' + "x" * 200_000 + '"\n', {}, 3, None, ("cannot parse", "quote")),
    ("wrong delimiter given", "a;b;y\n1;2;3\n", {"delimiter": ","}, 1, None, ("one column", "';'")),
]


@pytest.mark.parametrize(
    ("content", "changes", "row", "column", "words"),
    [pytest.param(*case[1:], id=case[0]) for case in BAD_FILES],
)
def test_bad_file_is_one_clear_data_error(
    tmp_path: Path,
    content: str | bytes | None,
    changes: dict[str, Any],
    row: int | None,
    column: str | None,
    words: tuple[str, ...],
) -> None:
    path = tmp_path / "data.csv"
    if content == "DIR":
        path.mkdir()
    elif content is not None:
        write(path, content)
    with pytest.raises(DataError) as info:
        load_csv_dataset(config(path, **changes))
    err, message = info.value, str(info.value)
    assert err.path == str(path) and message.startswith(str(path))
    assert err.row == row, message
    assert err.column == column, message
    if row is not None:
        assert f"row {row}" in message
    if column is not None:
        assert f"column {column!r}" in message
    for word in words:
        assert word in message, message


def test_file_too_large_for_memory_is_refused_before_reading(tmp_path: Path, monkeypatch) -> None:
    path = write(tmp_path / "big.csv", rows(100, lambda i: (i, i)))
    monkeypatch.setattr(csvdata, "available_memory_bytes", lambda: 1000)

    def no_reading(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the file was read")

    monkeypatch.setattr(csvdata, "_read_table", no_reading)
    monkeypatch.setattr(csvdata, "_sample", no_reading)
    with pytest.raises(DataError, match="memory") as info:
        load_csv_dataset(config(path))
    assert str(path) in str(info.value) and "1000 bytes free" in str(info.value)


def test_memory_check_counts_mem_available_not_mem_free(tmp_path: Path, monkeypatch) -> None:
    """MemFree leaves out the page cache the kernel gives back at once; MemAvailable counts it."""
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       16000000 kB\nMemFree:          100000 kB\nMemAvailable:   12000000 kB\n")
    monkeypatch.setattr(engine_config, "MEMINFO", meminfo)
    assert engine_config.available_memory_bytes() == 12000000 * 1024


@pytest.mark.parametrize("text", [None, "MemTotal: 16000000 kB\nMemFree: 100000 kB\n", "MemAvailable: lots\n"])
def test_memory_check_falls_back_without_mem_available(tmp_path: Path, monkeypatch, text: str | None) -> None:
    meminfo = tmp_path / "meminfo"
    if text is not None:
        meminfo.write_text(text)
    monkeypatch.setattr(engine_config, "MEMINFO", meminfo)
    monkeypatch.setattr(engine_config.os, "sysconf", lambda name: 4 if name == "SC_PAGE_SIZE" else 1000)
    assert engine_config.available_memory_bytes() == 4000


def test_too_few_rows_for_the_test_split_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="test_fraction"):
        load(tmp_path, rows(3, lambda i: (i, i * i)), test_fraction=0.1)


@pytest.mark.parametrize(
    ("target", "changes", "words"),
    [
        (lambda i: "abc"[i % 3], {"loss": "l1"}, ("3 classes", "use ce")),
        (lambda i: "abc"[i % 3], {"loss": "bce"}, ("3 classes", "use ce")),
        (lambda i: "ab"[i % 2], {"loss": "mse"}, ("2 classes", "bce or ce")),
        (lambda i: i * 0.37, {"loss": "ce"}, ("regression", "l1, mse, huber")),
    ],
)
def test_loss_must_fit_the_inferred_task(tmp_path: Path, target, changes: dict[str, Any], words) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, rows(30, lambda i: (i, target(i)), "x,label"), **changes)
    assert info.value.field == "loss"
    for word in words:
        assert word in str(info.value)
    assert "'label'" in str(info.value)


# ----------------------------------------------------------------------------- good files


def test_bom_is_ignored(tmp_path: Path) -> None:
    ds = load(tmp_path, "\ufeff" + rows(10, lambda i: (i, 2 * i + 1), "size,price"), target="size", inputs=("price",))
    assert ds.input_names == ("price",) and ds.target_name == "size"


@pytest.mark.parametrize(("delimiter", "word"), [(";", "semicolon"), ("\t", "tab"), ("|", "bar")])
def test_delimiter_is_detected_and_noted(tmp_path: Path, delimiter: str, word: str) -> None:
    text = rows(12, lambda i: (i, i % 3, 0.5 * i), "a,b,y").replace(",", delimiter)
    ds = load(tmp_path, text)
    assert ds.input_names == ("a", "b") and ds.target_name == "y"
    assert any(word in note and "detected" in note for note in ds.notes)
    assert ds.x_train.shape == (12, 2)


def test_semicolon_file_with_decimal_points_and_commas_in_text(tmp_path: Path) -> None:
    text = 'name;x;y\n"Smith, J";1.5;2\n"Doe, A";2.5;3\nLee;3.5;4.5\n'
    ds = load(tmp_path, text, inputs=("x",))
    assert ds.notes[0].startswith("delimiter: semicolon")
    np.testing.assert_allclose(ds.y_train[:, 0], [2, 3, 4.5])


def test_comma_is_not_noted_and_delimiter_override_is_used_as_given(tmp_path: Path) -> None:
    assert not any("delimiter" in n for n in load(tmp_path, rows(5, lambda i: (i, i * i))).notes)
    ds = load(tmp_path, "a;b\n1;2\n2;4\n3;7\n", delimiter=";")
    assert ds.input_names == ("a",) and not any("delimiter" in n for n in ds.notes)


def test_columns_by_name_index_and_any_case(tmp_path: Path) -> None:
    text = rows(20, lambda i: (i, i % 4, i * i, 3 * i + 1), "Alpha,beta,gamma,delta")
    by_name = load(tmp_path, text, inputs=("gamma", "Alpha"), target="beta", loss="ce")
    by_index = load(tmp_path, text, inputs=("2", "0"), target="1", loss="ce")
    lower = load(tmp_path, text, inputs=("gamma", "alpha"), target="BETA", loss="ce")  # the CLI lower-cases inputs
    for ds in (by_name, by_index, lower):
        assert ds.input_names == ("gamma", "Alpha") and ds.target_name == "beta"
        np.testing.assert_array_equal(ds.x_train[:3], [[0, 0], [1, 1], [4, 2]])
    default = load(tmp_path, text)
    assert default.input_names == ("Alpha", "beta", "gamma") and default.target_name == "delta"
    assert load(tmp_path, text, target="0").input_names == ("beta", "gamma", "delta")


def test_headerless_file(tmp_path: Path) -> None:
    ds = load(tmp_path, rows(8, lambda i: (i, i * 0.5, i * i + 0.25), "0,1.5,2.25"))
    assert ds.input_names == ("c0", "c1") and ds.target_name == "c2"
    assert len(ds.x_train) == 9  # the first row is data
    assert any("no header" in note for note in ds.notes)


def test_integer_target_with_few_values_is_classification(tmp_path: Path) -> None:
    ds = load(tmp_path, rows(60, lambda i: (i, -i, i % 3), "a,b,y"), loss="ce")
    assert ds.task == "classification" and ds.n_classes == 3 and ds.class_names == ("0", "1", "2")
    assert ds.y_train.dtype == np.float32 and ds.y_train.shape == (60, 1)
    np.testing.assert_array_equal(ds.y_train[:4, 0], [0, 1, 2, 0])
    assert any("classification, inferred" in note for note in ds.notes)
    assert ds.y_mean == 0.0 and ds.y_std == 1.0  # class indices are never scaled


def test_integer_labels_are_mapped_to_class_indices(tmp_path: Path) -> None:
    ds = load(tmp_path, rows(40, lambda i: (i, (-1, 1)[i % 2])), loss="bce")
    assert ds.n_classes == 2 and ds.class_names == ("-1", "1")
    np.testing.assert_array_equal(ds.y_train[:4, 0], [0, 1, 0, 1])
    assert any("-1=0, 1=1" in note for note in ds.notes)


def test_text_target_is_classification_with_sorted_labels(tmp_path: Path) -> None:
    species = ("virginica", "setosa", "versicolor")
    ds = load(tmp_path, rows(30, lambda i: (i, i % 5, species[i % 3]), "a,b,species"), loss="ce")
    assert ds.task == "classification" and ds.n_classes == 3
    assert ds.class_names == ("setosa", "versicolor", "virginica")
    np.testing.assert_array_equal(ds.y_train[:3, 0], [2, 0, 1])
    assert any("setosa=0, versicolor=1, virginica=2" in note for note in ds.notes)


def test_real_valued_target_is_regression(tmp_path: Path) -> None:
    ds = load(tmp_path, rows(50, lambda i: (i, math.sin(i))), loss="mse")
    assert ds.task == "regression" and ds.n_classes == 0 and ds.class_names == ()
    assert any("regression, inferred" in note for note in ds.notes)


def test_task_override(tmp_path: Path) -> None:
    ints = rows(60, lambda i: (i, i % 3))
    assert load(tmp_path, ints, task="regression", loss="mse").task == "regression"
    halves = rows(40, lambda i: (i, (0.5, 1.5)[i % 2]))
    ds = load(tmp_path, halves, task="classification", loss="bce")
    assert ds.task == "classification" and ds.class_names == ("0.5", "1.5")
    assert not any("inferred" in note for note in ds.notes)
    many = rows(10, lambda i: (i, f"name{i}"))
    assert load(tmp_path, many, task="classification", loss="ce").n_classes == 10


def test_drop_missing_drops_rows_and_says_how_many(tmp_path: Path) -> None:
    text = "a,b,note,y\n1,2,,3\nNA,2,x,4\n3,,x,5\n4,5,x,-inf\n5,6,,7\n6,8,x,9\n"
    ds = load(tmp_path, text, inputs=("a", "b"), drop_missing=True)
    assert len(ds.x_train) == 3  # the empty 'note' cells are in a column nobody uses
    note = next(n for n in ds.notes if "drop_missing" in n)
    assert "dropped 3 of 6" in note and "row 3" in note


def test_standardization_on_by_default_from_the_train_split(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    text = rows(200, lambda i: (100 + 5 * rng.standard_normal(), rng.uniform(-1, 1), 1000 * rng.random()), "a,b,y")
    ds = load(tmp_path, text, test_fraction=0.25)
    assert ds.standardized and len(ds.x_train) == 150 and len(ds.x_test) == 50
    scaled = ds.scale_x(ds.x_train)
    np.testing.assert_allclose(scaled.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(scaled.std(axis=0), 1, atol=1e-4)
    y = ds.scale_y(ds.y_train)
    assert abs(float(y.mean())) < 1e-4 and abs(float(y.std()) - 1) < 1e-4
    raw = load(tmp_path, text, test_fraction=0.25, standardize=False)
    assert not raw.standardized
    np.testing.assert_array_equal(raw.x_train, ds.x_train)  # same seed, same split


def test_realistic_file_with_four_features(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    lines = ["area_m2,rooms,age_years,distance_km,price_k"]
    for _ in range(250):
        area, rooms, age, dist = rng.uniform(30, 200), rng.integers(1, 7), rng.uniform(0, 80), rng.uniform(0.5, 40)
        price = 3.1 * area + 12 * rooms - 0.8 * age - 2.5 * dist + rng.normal(0, 10)
        lines.append(f"{area:.1f},{rooms},{age:.0f},{dist:.2f},{price:.1f}")
    path = write(tmp_path / "houses.csv", "\r\n".join(lines) + "\r\n\r\n")
    ds = make_dataset(config(path, test_fraction=0.2, seed=3, loss="mse"))
    assert ds.name == "houses.csv" and ds.task == "regression" and ds.true_fn is None
    assert ds.input_names == ("area_m2", "rooms", "age_years", "distance_km") and ds.target_name == "price_k"
    assert ds.x_train.shape == (200, 4) and ds.x_test.shape == (50, 4) and ds.y_test.shape == (50, 1)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.float32
    x = np.concatenate([ds.x_train, ds.x_test])
    for (lo, hi), col in zip(ds.x_range, x.T, strict=True):
        assert lo < col.min() and col.max() < hi
        assert hi - lo < 1.2 * (col.max() - col.min())
    assert ds.standardized and "area_m2: mean" in ds.stats_text()
    again = make_dataset(config(path, test_fraction=0.2, seed=3, loss="mse"))
    np.testing.assert_array_equal(again.x_test, ds.x_test)


def test_whitespace_and_blank_lines_are_tolerated(tmp_path: Path) -> None:
    ds = load(tmp_path, "\n a , y \n\n 1 , 2\n2,  4.5 \n\n3,7\n\n")
    assert ds.input_names == ("a",) and ds.target_name == "y"
    np.testing.assert_allclose(ds.y_train[:, 0], [2, 4.5, 7])


def test_row_numbers_count_blank_lines_like_an_editor(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        load(tmp_path, "a,y\n\n1,2\n\nx,3\n")
    assert info.value.row == 5


# ----------------------------------------------------------------------------- any text at all

CELLS = st.one_of(
    st.sampled_from(["", " ", "nan", "NA", "N/A", "null", "inf", "-inf", "1,5", '"', '"a,b"', ";", "\n", "\t", "|"]),
    st.sampled_from(["x", "label", "cat", "1e400", "3e38", "-0", "1_0", "\ufeff", "\r", "\x00", "0x1"]),
    st.integers(-3, 3).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=4),
)


@st.composite
def csv_texts(draw: st.DrawFn) -> str:
    width = draw(st.integers(1, 4))
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    n_rows = draw(st.integers(0, 8))
    lines = []
    for _ in range(n_rows):
        n = width if draw(st.booleans()) else draw(st.integers(0, 5))
        lines.append(delimiter.join(draw(st.lists(CELLS, min_size=n, max_size=n))))
    return draw(st.sampled_from(["\n", "\r\n"])).join(lines) + draw(st.sampled_from(["", "\n"]))


@st.composite
def numeric_tables(draw: st.DrawFn) -> str:
    """Mostly well-formed numeric tables, so the property also covers files that load."""
    width = draw(st.integers(2, 4))
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    number = st.one_of(st.integers(-2, 2).map(str), st.floats(-1e6, 1e6).map(lambda v: f"{v:.3g}"))
    cell = st.integers(0, 39).flatmap(lambda k: CELLS if k == 0 else number)  # 1 junk cell in 40
    header = (
        [f"c{i}" for i in range(width)] if draw(st.booleans()) else draw(st.lists(cell, min_size=width, max_size=width))
    )
    lines = [delimiter.join(header)]
    for _ in range(draw(st.integers(0, 30))):
        lines.append(delimiter.join(draw(st.lists(cell, min_size=width, max_size=width))))
    return "\n".join(lines) + "\n"


CONFIGS = st.fixed_dictionaries(
    {
        "task": st.sampled_from(["auto", "regression", "classification"]),
        "drop_missing": st.booleans(),
        "test_fraction": st.sampled_from([0.0, 0.3]),
        "standardize": st.sampled_from([None, False]),
        "delimiter": st.sampled_from(["", "", "", ",", ";"]),
        "target": st.sampled_from(["", "", "0", "c1", "x"]),
    }
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(csv_texts(), numeric_tables(), st.text(max_size=80)), changes=CONFIGS)
def test_any_text_loads_or_raises_an_nntui_error(tmp_path: Path, text: str, changes: dict[str, Any]) -> None:
    path = write(tmp_path / "fuzz.csv", text)
    task = changes["task"]
    loss = {"auto": "l1", "regression": "mse", "classification": "ce"}[task]
    c = config(path, loss=loss, **changes)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a numpy overflow warning means garbage got through
        try:
            ds = load_csv_dataset(c)
        except NntuiError:
            return
    n = len(ds.x_train) + len(ds.x_test)
    assert n >= 2 and ds.y_train.shape == (len(ds.x_train), 1)
    assert np.isfinite(ds.x_train).all() and np.isfinite(ds.y_train).all()
    assert len(ds.input_names) == ds.n_inputs and len(ds.x_range) == ds.n_inputs
    if ds.task == "classification":
        assert ds.n_classes == len(ds.class_names) >= 2
        assert set(np.unique(np.concatenate([ds.y_train, ds.y_test]))) <= set(range(ds.n_classes))
