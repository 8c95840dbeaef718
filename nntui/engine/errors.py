"""The project's own error types: every bad input ends in one of these, never a traceback."""

from __future__ import annotations


class NntuiError(Exception):
    """Base of every error nntui reports to a user; its message is the whole story."""


class ConfigError(NntuiError, ValueError):
    """A configuration value is wrong: names the field, the bad value and what is allowed."""

    def __init__(self, field: str, value: object, allowed: str) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        super().__init__(f"{field}: {value!r} is not valid; {allowed}")


class DataError(NntuiError, ValueError):
    """A data file cannot be used: names the file, and the row and column where known."""

    def __init__(
        self,
        message: str,
        path: str | None = None,
        row: int | None = None,
        column: str | None = None,
    ) -> None:
        self.path = path
        self.row = row
        self.column = column
        where = []
        if path is not None:
            where.append(str(path))
        if row is not None:
            where.append(f"row {row}")
        if column is not None:
            where.append(f"column {column!r}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class CheckpointError(NntuiError):
    """A run directory or checkpoint cannot be loaded or written."""
