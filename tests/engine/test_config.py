"""TrainConfig validation, parsing and TOML round trips."""

from __future__ import annotations

import math

import pytest

from nntui.engine.config import TrainConfig, field_docs
from nntui.engine.errors import ConfigError, NntuiError
from nntui.engine.parsing import apply_text, parse_hidden
from nntui.engine.presets import PRESETS, preset
from nntui.engine.tomlio import from_mapping, load_toml


def test_defaults_are_the_lecture_experiment() -> None:
    c = TrainConfig()
    assert c == preset("lecture")
    assert (c.dataset, c.samples, c.noise) == ("quadratic", 1000, 1.0)
    assert c.hidden == (10, 6) and c.activations() == ("relu", "linear")
    assert (c.loss, c.optimizer, c.lr, c.epochs, c.batch_size) == ("l1", "sgd", 0.001, 5000, 0)
    assert not c.standardize


def test_every_field_has_a_docstring() -> None:
    docs = field_docs()
    from dataclasses import fields

    for f in fields(TrainConfig):
        assert docs.get(f.name), f"field {f.name} has no docstring"


GOOD = [
    ("hidden", "10,6", (10, 6)),
    ("hidden", "", ()),
    ("hidden", " 32 , 32 ", (32, 32)),
    ("activation", "relu", ("relu",)),
    ("activation", "ReLU,Leaky-ReLU", ("relu", "leaky_relu")),
    ("lr", "1e-3", 0.001),
    ("epochs", "1_000", 1000),
    ("batch_size", "full", 0),
    ("batch_size", "64", 64),
    ("device", "cuda:1", "cuda:1"),
    ("standardize", "on", True),
    ("standardize", "auto", None),
    ("test_fraction", "0.2", 0.2),
    ("optimizer", "Adam", "adam"),
]


@pytest.mark.parametrize(("field", "text", "value"), GOOD)
def test_good_values_parse(field: str, text: str, value: object) -> None:
    base = TrainConfig(hidden=(10, 6), activation=("relu",))
    c = apply_text(base, {field: text})
    assert getattr(c, field) == value


BAD = [
    ("hidden", "0", "0"),
    ("hidden", "-3", "-3"),
    ("hidden", "abc", "abc"),
    ("hidden", "10,,6", "10,,6"),
    ("hidden", "1e9", "1e9"),
    ("hidden", "2000000", "2000000"),
    ("hidden", "900000,900000", "parameters"),
    ("lr", "nan", "nan"),
    ("lr", "inf", "inf"),
    ("lr", "0", "0"),
    ("lr", "-0.1", "-0.1"),
    ("lr", "abc", "abc"),
    ("epochs", "0", "0"),
    ("epochs", "2.5", "2.5"),
    ("epochs", "-1", "-1"),
    ("activation", "swish", "relu"),
    ("activation", "relu,tanh,relu", "one per layer"),
    ("loss", "hinge", "l1"),
    ("loss", "bce", "regression"),
    ("optimizer", "lbfgs", "adam"),
    ("dataset", "moons", "quadratic"),
    ("device", "tpu", "cuda:N"),
    ("device", "cuda:x", "cuda:N"),
    ("batch_size", "-5", "-5"),
    ("test_fraction", "1", "below 1"),
    ("test_fraction", "-0.1", "-0.1"),
    ("samples", "0", "0"),
    ("noise", "-1", "-1"),
    ("seed", "x", "x"),
    ("engine", "jit", "fast"),
    ("clip_grad", "-1", "-1"),
]


@pytest.mark.parametrize(("field", "text", "shown"), BAD)
def test_bad_values_name_field_value_and_what_is_allowed(field: str, text: str, shown: str) -> None:
    with pytest.raises(ConfigError) as info:
        apply_text(TrainConfig(), {field: text})
    message = str(info.value)
    assert info.value.field == field
    assert message.startswith(f"{field}:")
    assert shown in message
    assert "\n" not in message


def test_unknown_names_list_the_allowed_ones() -> None:
    with pytest.raises(ConfigError, match="relu, leaky_relu, elu, maxout, gelu, silu"):
        apply_text(TrainConfig(), {"activation": "swish"})
    with pytest.raises(ConfigError, match="lecture, linreg"):
        preset("nope")


def test_parse_hidden_refuses_garbage() -> None:
    assert parse_hidden("none") == ()
    for bad in ("a", "1,", ",", "1.5", "10;6"):
        with pytest.raises(ConfigError):
            parse_hidden(bad)


def test_construction_validates_too() -> None:
    with pytest.raises(ConfigError, match="lr"):
        TrainConfig(lr=math.nan)
    with pytest.raises(ConfigError, match="epochs"):
        TrainConfig(epochs=True)  # bool is an int to Python, not to us


def test_toml_round_trip(tmp_path) -> None:
    for name in PRESETS:
        c = preset(name)
        path = tmp_path / f"{name}.toml"
        path.write_text(c.to_toml())
        assert load_toml(path) == c


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("lr = 0.1\nepochs = \n", "line 2"),
        ("learning_rate = 0.1\n", "learning_rate"),
        ('epochs = "many"\n', "epochs"),
        ("hidden = [10, 0]\n", "hidden"),
        ("lr = true\n", "lr"),
        ("device = 3\n", "device"),
    ],
)
def test_bad_toml_files(tmp_path, text: str, shown: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(NntuiError) as info:
        load_toml(path)
    assert shown in str(info.value)


def test_missing_toml_file(tmp_path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_toml(tmp_path / "nope.toml")


def test_from_mapping_accepts_strings_for_lists() -> None:
    c = from_mapping({"hidden": "4,4", "activation": "tanh"})
    assert c.hidden == (4, 4) and c.activation == ("tanh",)


def test_new_hidden_sizes_keep_the_first_activation_when_the_per_layer_list_no_longer_fits() -> None:
    c = apply_text(TrainConfig(), {"hidden": "32,32,32"})
    assert c.activation == ("relu",) and c.activations() == ("relu", "relu", "relu")
    same = apply_text(TrainConfig(), {"hidden": "8,4"})
    assert same.activation == ("relu", "linear"), "a list that still fits is kept"


def test_switching_to_class_data_picks_a_loss_that_fits() -> None:
    c = apply_text(TrainConfig(), {"dataset": "xor"})
    assert c.loss == "auto"
    assert apply_text(c, {"dataset": "sine"}).loss == "auto"
    assert apply_text(TrainConfig(), {"dataset": "sine"}).loss == "l1", "a fitting loss is kept"
    import pytest as _pytest

    with _pytest.raises(ConfigError, match="classification"):
        apply_text(TrainConfig(), {"dataset": "xor", "loss": "mse"})


def test_switching_data_sets_takes_that_data_sets_noise_unless_given() -> None:
    assert apply_text(TrainConfig(), {"dataset": "ring"}).noise == 0.05
    assert apply_text(TrainConfig(), {"dataset": "ring", "noise": "0.2"}).noise == 0.2
    assert apply_text(TrainConfig(noise=3.0), {"epochs": "5"}).noise == 3.0
