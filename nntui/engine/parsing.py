"""Text → typed field values: one parser for flags, TOML strings and the dashboard's inputs.

Every refusal is a ConfigError naming the field, the text and what is allowed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from nntui.engine.config import FIELD_NAMES, MAX_LAYER_WIDTH, TrainConfig, one_of, with_changes
from nntui.engine.errors import ConfigError
from nntui.engine.names import ACTIVATIONS, DELIMITER_ALIASES


def parse_hidden(text: str) -> tuple[int, ...]:
    """'10,6' → (10, 6); '' → () for a linear model. Shared by the CLI and the dashboard."""
    text = text.strip()
    if text in ("", "none", "-"):
        return ()
    sizes = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise ConfigError("hidden", text, "empty layer size: write sizes like 10,6")
        try:
            size = int(part)
        except ValueError:
            raise ConfigError("hidden", part, "layer sizes are whole numbers, e.g. 10,6") from None
        if not 1 <= size <= MAX_LAYER_WIDTH:
            raise ConfigError("hidden", part, f"each layer needs 1 to {MAX_LAYER_WIDTH:,} units")
        sizes.append(size)
    return tuple(sizes)


def parse_names(field: str, text: str) -> tuple[str, ...]:
    """'relu,linear' → ('relu', 'linear'); names are lower-cased, '-' reads as '_'."""
    parts = tuple(p.strip().lower() for p in text.split(","))
    if field == "activation":
        parts = tuple(p.replace("-", "_") for p in parts)
        for p in parts:
            one_of("activation", p, ACTIVATIONS)
    if field == "inputs" and parts == ("",):
        return ()
    return parts


def _parse_int(field: str, text: str) -> int:
    try:
        return int(text.strip().replace("_", ""))
    except ValueError:
        raise ConfigError(field, text, "expected a whole number") from None


def _parse_float(field: str, text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise ConfigError(field, text, "expected a number, e.g. 0.001") from None
    if not math.isfinite(value):
        raise ConfigError(field, text, "expected a finite number")
    return value


def _parse_bool(field: str, text: str) -> bool:
    t = text.strip().lower()
    if t in ("1", "true", "yes", "on"):
        return True
    if t in ("0", "false", "no", "off"):
        return False
    raise ConfigError(field, text, "expected on or off")


def _parse_batch(field: str, text: str) -> int:
    return 0 if text.strip().lower() in ("full", "") else _parse_int(field, text)


def _parse_degree(field: str, text: str) -> int:
    return 0 if text.strip().lower() in ("auto", "") else _parse_int(field, text)


def _parse_standardize(field: str, text: str) -> bool | None:
    return None if text.strip().lower() == "auto" else _parse_bool(field, text)


def _parse_delimiter(field: str, text: str) -> str:
    return DELIMITER_ALIASES.get(text.strip().lower(), text)


PARSERS: dict[str, Callable[[str, str], Any]] = {
    "samples": _parse_int,
    "epochs": _parse_int,
    "seed": _parse_int,
    "degree": _parse_degree,
    "batch_size": _parse_batch,
    "noise": _parse_float,
    "lr": _parse_float,
    "test_fraction": _parse_float,
    "clip_grad": _parse_float,
    "bias": _parse_bool,
    "drop_missing": _parse_bool,
    "health": _parse_bool,
    "standardize": _parse_standardize,
    "delimiter": _parse_delimiter,
    "hidden": lambda field, text: parse_hidden(text),
    "activation": parse_names,
    "inputs": parse_names,
}


def parse_field(field: str, text: str) -> Any:
    """Text from a flag or an input box → the field's typed value, or ConfigError."""
    if field not in FIELD_NAMES:
        raise ConfigError(field, text, "unknown setting")
    parser = PARSERS.get(field)
    if parser is None:
        return text.strip().lower() if field not in ("data", "target") else text
    return parser(field, text)


def apply_text(base: TrainConfig, values: Mapping[str, str]) -> TrainConfig:
    """Override fields of `base` from text values (CLI flags, dashboard inputs)."""
    parsed = {name: parse_field(name, text) for name, text in values.items()}
    return with_changes(base, parsed)
