"""Textual validators that ask the engine: the dashboard checks fields by the same rules as
the CLI and TOML files (`parse_field`, then the whole `TrainConfig` via `apply_text`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from textual.validation import ValidationResult, Validator

from nntui.engine.config import TrainConfig
from nntui.engine.errors import ConfigError
from nntui.engine.parsing import apply_text, parse_field


def field_problem(field: str, text: str, base: TrainConfig, others: Mapping[str, str]) -> str | None:
    """Why `text` is not a valid value of `field` here, or None.

    First the field alone (`parse_field`); then the whole config with the other fields'
    current texts, so cross-field rules (one activation per layer, a regression loss for a
    regression data set, memory for the layer sizes) are the engine's, and a problem is
    reported on the field it names.
    """
    try:
        parse_field(field, text)
    except ConfigError as exc:
        return str(exc)
    texts = dict(others)
    texts[field] = text
    try:
        apply_text(base, texts)
    except ConfigError as exc:
        if exc.field == field:
            return str(exc)
    return None


class ConfigFieldValidator(Validator):
    """Validates one Input by the engine's rules; `context` supplies the base config and the
    other fields' texts at the moment of validation."""

    def __init__(self, field: str, context: Callable[[], tuple[TrainConfig, Mapping[str, str]]]) -> None:
        super().__init__()
        self.field = field
        self.context = context

    def validate(self, value: str) -> ValidationResult:
        base, others = self.context()
        problem = field_problem(self.field, value, base, others)
        return self.success() if problem is None else self.failure(problem)


class PaceValidator(Validator):
    """The pace field: auto, max, or epochs per second above 0."""

    def validate(self, value: str) -> ValidationResult:
        from nntui.engine.pace import parse_pace

        try:
            parse_pace(value)
        except ConfigError as exc:
            return self.failure(exc.allowed)
        return self.success()
