"""TOML files: a config read from `--config FILE`, and the config.toml a run directory holds."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nntui.engine.config import FIELD_NAMES, TrainConfig, with_changes
from nntui.engine.errors import ConfigError


def _coerce_toml(name: str, value: Any) -> Any:
    """TOML gives lists; the dataclass holds tuples. Types are checked by `validate`."""
    if name in ("hidden", "activation", "inputs"):
        if isinstance(value, str):
            from nntui.engine.parsing import parse_field

            return parse_field(name, value)
        if isinstance(value, list):
            return tuple(value)
    return value


def from_mapping(values: Mapping[str, Any], base: TrainConfig | None = None, where: str = "config") -> TrainConfig:
    """Build a config from TOML/JSON values; unknown keys are refused by name."""
    base = base or TrainConfig()
    for key in values:
        if key not in FIELD_NAMES:
            raise ConfigError(f"{where}: {key}", values[key], f"unknown key; known keys: {', '.join(FIELD_NAMES)}")
    changes = {k: _coerce_toml(k, v) for k, v in values.items()}
    return with_changes(base, changes)


def load_toml(path: str | Path, base: TrainConfig | None = None) -> TrainConfig:
    """Read a config file; a malformed file is a ConfigError naming the line."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        import tomli as tomllib

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError("config", str(path), f"cannot read the file ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ConfigError("config", str(path), "the file is not UTF-8 text") from None
    try:
        values = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("config", str(path), f"malformed TOML: {exc}") from None
    try:
        return from_mapping(values, base, where=str(path))
    except ConfigError as exc:
        if exc.field.startswith(str(path)):
            raise
        raise ConfigError(f"{path}: {exc.field}", exc.value, exc.allowed) from None  # which file said so


def dumps_toml(values: Mapping[str, Any]) -> str:
    """Flat TOML, one key per field (tomli-w does the quoting and escaping TOML wants)."""
    import tomli_w

    return tomli_w.dumps(dict(values))
