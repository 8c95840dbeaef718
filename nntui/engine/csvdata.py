"""A user's own CSV file as a Dataset (``--data FILE.csv``).

Only the stdlib csv module and numpy: the file is streamed record by record into flat
float buffers, so memory stays near 8 bytes a used cell. Every problem with the file is
one DataError naming the file, the row (as an editor numbers lines: the header is row 1)
and the column; nothing is coerced silently, because a model trained on quietly mangled
data fails in ways nobody can trace back to the file.
"""

from __future__ import annotations

import csv
import io
import itertools
import math
import re
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nntui.engine.config import TrainConfig, available_memory_bytes
from nntui.engine.data import Dataset, split
from nntui.engine.errors import ConfigError, DataError
from nntui.engine.names import CLASSIFICATION_LOSSES, DELIMITER_NAMES, REGRESSION_LOSSES

DELIMITERS = tuple(DELIMITER_NAMES)
"""Detection candidates; on a tie the earlier one wins (comma is the common case)."""
MISSING_TEXT = frozenset({"", "na", "n/a", "#n/a", "nan", "null"})
"""Cells (stripped, lower-cased) that mean "no value"; inf and -inf are refused alongside them."""
MEMORY_FACTOR = 10
"""Generous bytes of memory per byte of file: Python strings and lists cost far more than the text."""
SAMPLE_CHARS = 64 * 1024
SAMPLE_ROWS = 50
MAX_AUTO_CLASSES = 20
"""A whole-number or text target with at most this many values (and at most half the rows) is classification."""
FLOAT32_MAX = float(np.finfo(np.float32).max)
DECIMAL_COMMA = re.compile(r"[+-]?(\d{1,3}(\.\d{3})+|\d+),\d+([eE][+-]?\d+)?")


@dataclass
class _Table:
    """What was read: the chosen columns' cells, before the target is interpreted."""

    names: list[str]
    inputs: list[int]
    target: int
    x: np.ndarray
    """(n, len(inputs)) float64."""
    target_cells: list[str]
    lines: np.ndarray
    """(n,) the line each kept row starts on, for messages about rows found after reading."""
    dropped: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass
class _Target:
    task: str
    y: np.ndarray
    """(n, 1) float64: the value, or the class index."""
    n_classes: int = 0
    class_names: tuple[str, ...] = ()
    notes: list[str] = field(default_factory=list)


def load_csv_dataset(c: TrainConfig) -> Dataset:
    """Read, check and split `c.data`; standardized unless `c.standardize` is False."""
    shown = c.data
    path = Path(c.data).expanduser()
    _check_file(path, shown)
    notes: list[str] = []
    delimiter = c.delimiter
    if not delimiter:
        delimiter = _sniff(*_sample(path, shown))
        if delimiter != ",":
            notes.append(f"delimiter: {DELIMITER_NAMES[delimiter]} ({delimiter!r}), detected")
    table = _read_table(path, shown, delimiter, c)
    notes += table.notes

    x = _as_float32(table.x, table, shown, [table.names[j] for j in table.inputs])
    input_names = tuple(table.names[j] for j in table.inputs)
    target_name = table.names[table.target]
    lo, hi = x.min(axis=0).astype(np.float64), x.max(axis=0).astype(np.float64)
    for j, name in enumerate(input_names):
        if lo[j] == hi[j]:
            after = " left after drop_missing" if table.dropped else ""
            raise DataError(
                f"has the same value ({lo[j]:g}) in every row{after}: it cannot help the model; leave it out of inputs",
                shown,
                column=name,
            )

    target = _interpret_target(table, c, shown)
    notes += target.notes
    y = _as_float32(target.y, table, shown, [target_name])
    _check_loss(c, target, target_name)

    xtr, ytr, xte, yte = split(x, y, c.test_fraction, np.random.default_rng(c.seed))
    pad = 0.05 * (hi - lo)
    ds = Dataset(
        path.name,
        target.task,
        xtr,
        ytr,
        xte,
        yte,
        n_classes=target.n_classes,
        input_names=input_names,
        target_name=target_name,
        class_names=target.class_names,
        true_fn=None,
        x_range=tuple((float(a - p), float(b + p)) for a, b, p in zip(lo, hi, pad, strict=True)),
        notes=notes,
    )
    if c.standardize is not False:
        _standardize(ds, shown)
    return ds


# ----------------------------------------------------------------------------- the file


def _size_text(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _check_file(path: Path, shown: str) -> None:
    """Refuse what cannot be read, or cannot fit in memory, before reading a byte of it."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise DataError("file not found", shown) from None
    except OSError as exc:
        raise DataError(f"cannot read the file ({exc.strerror or exc})", shown) from None
    if path.is_dir():
        raise DataError("is a directory, not a CSV file", shown)
    if st.st_size == 0:
        raise DataError("the file is empty", shown)
    need, free = st.st_size * MEMORY_FACTOR, available_memory_bytes()
    if need > free:
        raise DataError(
            f"the file is {_size_text(st.st_size)}; loading it needs about {_size_text(need)} of memory "
            f"and this machine has {_size_text(free)} free",
            shown,
        )


def _not_utf8(path: Path, shown: str) -> DataError:
    """Find the line with the first byte that is not UTF-8 (UTF-8 never uses a newline byte inside a character)."""
    hint = "save it as UTF-8 (e.g. 'CSV UTF-8' in a spreadsheet's Save As)"
    try:
        with path.open("rb") as f:
            for line, raw in enumerate(f, 1):
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    byte = raw[exc.start : exc.start + 1].hex()
                    return DataError(
                        f"is not UTF-8 text (byte 0x{byte} at byte {exc.start + 1} of the line); {hint}",
                        shown,
                        row=line,
                    )
    except OSError:
        pass
    return DataError(f"is not UTF-8 text; {hint}", shown)


def _sample(path: Path, shown: str) -> tuple[str, bool]:
    """The first SAMPLE_CHARS characters, and whether the file goes on after them."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            return f.read(SAMPLE_CHARS), bool(f.read(1))
    except UnicodeDecodeError:
        raise _not_utf8(path, shown) from None
    except OSError as exc:
        raise DataError(f"cannot read the file ({exc.strerror or exc})", shown) from None


def _blank(record: list[str]) -> bool:
    return not record or (len(record) == 1 and not record[0].strip())


def _sniff(sample: str, truncated: bool) -> str:
    """The candidate that splits the first rows into the most consistent, widest table.

    csv.Sniffer guesses from character frequencies and is easily fooled by decimal commas;
    parsing with each candidate and comparing row widths is slower but dependable.
    """
    best, best_key = ",", None
    for delimiter in DELIMITERS:
        reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter)
        try:
            records = list(itertools.islice((r for r in reader if not _blank(r)), SAMPLE_ROWS))
        except csv.Error:
            continue
        if truncated and 1 < len(records) < SAMPLE_ROWS:
            records.pop()  # probably cut in the middle
        if not records:
            return ","
        width = len(records[0])
        consistent = sum(len(r) == width for r in records)
        key = (width > 1, consistent == len(records), consistent, width)
        if best_key is None or key > best_key:
            best, best_key = delimiter, key
    return best


def _records(reader: Iterator[list[str]], shown: str) -> Iterator[tuple[int, int, list[str]]]:
    """Non-blank records with the lines they start and end on (a quoted cell may span lines)."""
    line = 0
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            hint = "is this a binary file?" if "NUL" in str(exc) else "is a closing quote missing?"
            raise DataError(f"cannot parse the row ({exc}); {hint}", shown, row=line + 1) from None
        start, line = line + 1, reader.line_num  # type: ignore[attr-defined]
        if not _blank(record):
            yield start, line, record


def _read_table(path: Path, shown: str, delimiter: str, c: TrainConfig) -> _Table:
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            return _parse(_records(csv.reader(f, delimiter=delimiter), shown), shown, delimiter, c)
    except UnicodeDecodeError:
        raise _not_utf8(path, shown) from None
    except OSError as exc:
        raise DataError(f"cannot read the file ({exc.strerror or exc})", shown) from None


# ----------------------------------------------------------------------------- cells


def _float(cell: str) -> float:
    """float() without Python-only spellings ('1_000') that no spreadsheet writes."""
    if "_" in cell:
        raise ValueError(cell)
    return float(cell)


def _number(cell: str) -> float | None:
    """The cell's value; None if it is missing or not finite; ValueError if it is text."""
    try:
        value = _float(cell)
    except ValueError:
        if cell.strip().lower() in MISSING_TEXT:
            return None
        raise
    return value if math.isfinite(value) else None


def _is_missing(cell: str) -> bool:
    try:
        return _number(cell) is None
    except ValueError:
        return False


def _show(cell: str) -> str:
    text = repr(cell)
    return text if len(text) <= 40 else text[:36] + "...'"


def _missing_message(cell: str) -> str:
    s = cell.strip()
    if not s:
        what = "empty cell"
    elif s.lower() in MISSING_TEXT:
        what = f"missing value {_show(cell)}"
    else:
        what = f"non-finite value {_show(cell)}"
    return f"{what}; fill it in, or set drop_missing to drop every row with a missing value"


def _not_number_message(cell: str) -> str:
    s = cell.strip()
    if DECIMAL_COMMA.fullmatch(s):
        fixed = s.replace(".", "").replace(",", ".")
        return (
            f"{_show(cell)} has a decimal comma: write numbers with a decimal point ({fixed}), no thousands separator"
        )
    return f"not a number: {_show(cell)}; input columns must hold numbers (leave this column out of inputs)"


# ----------------------------------------------------------------------------- header and columns


def _header_names(record: list[str], shown: str, line: int) -> list[str]:
    names = [cell.strip() for cell in record]
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if not name:
            raise DataError(
                f"column {i} (counting from 0) has no name in the header; name or remove it", shown, row=line
            )
        if name in seen:
            raise DataError(
                f"the header names two columns {name!r} (columns {seen[name]} and {i}, counting from 0); rename one",
                shown,
                row=line,
                column=name,
            )
        seen[name] = i
    return names


def _column(spec: str, names: list[str], shown: str, what: str) -> int:
    """A header name (exact, else the only case-insensitive match: the CLI lower-cases inputs) or a 0-based index."""
    spec = spec.strip()
    if spec in names:
        return names.index(spec)
    folded = [i for i, name in enumerate(names) if name.lower() == spec.lower()]
    if len(folded) == 1:
        return folded[0]
    listing = ", ".join(names)
    if len(folded) > 1:
        both = " and ".join(repr(names[i]) for i in folded)
        raise DataError(f"{what} matches {both}: write the name with its exact capitals", shown, column=spec)
    if spec.isdigit():
        if int(spec) < len(names):
            return int(spec)
        raise DataError(
            f"{what} index {spec} is out of range: there are {len(names)} columns (0 to {len(names) - 1}): {listing}",
            shown,
        )
    raise DataError(f"no such column for {what}; the columns are: {listing}", shown, column=spec)


def _select(names: list[str], c: TrainConfig, shown: str) -> tuple[list[int], int]:
    """Column indices of the inputs and the target; default: every column but the last → the last."""
    target = _column(c.target, names, shown, "target") if c.target.strip() else len(names) - 1
    if not c.inputs:
        return [i for i in range(len(names)) if i != target], target
    inputs: list[int] = []
    for spec in c.inputs:
        i = _column(spec, names, shown, "inputs")
        if i == target:
            raise DataError("is both an input and the target; leave it out of inputs", shown, column=names[i])
        if i in inputs:
            raise DataError("is listed twice in inputs", shown, column=names[i])
        inputs.append(i)
    return inputs, target


def _looks_headerless(record: list[str]) -> bool:
    """A first row of numbers (and missing cells) is data, not column names."""
    found = False
    for cell in record:
        try:
            found |= _number(cell) is not None
        except ValueError:
            return False
    return found


# ----------------------------------------------------------------------------- reading


def _parse(records: Iterator[tuple[int, int, list[str]]], shown: str, delimiter: str, c: TrainConfig) -> _Table:
    first = next(records, None)
    if first is None:
        raise DataError("the file is empty (no rows)", shown)
    first_line, _, head = first
    notes: list[str] = []
    if len(head) < 2:
        others = [d for d in DELIMITERS if d != delimiter and d in delimiter.join(head)]
        hint = (
            f"; the first row contains {others[0]!r}: set delimiter to it, or leave it empty to detect"
            if others
            else ""
        )
        raise DataError(
            f"found only one column (delimiter {delimiter!r}); the file needs input columns and a target column{hint}",
            shown,
            row=first_line,
        )
    headerless = _looks_headerless(head)
    pending: Iterable[tuple[int, int, list[str]]]
    if headerless:
        names = [f"c{i}" for i in range(len(head))]
        notes.append(f"no header row (the first row is all numbers): the columns are named c0 to c{len(head) - 1}")
        pending, width_of = [first], "the first row"
    else:
        names = _header_names(head, shown, first_line)
        pending, width_of = [], "the header"
    inputs, target = _select(names, c, shown)
    used = [*inputs, target]
    width = len(names)

    xs, lines, target_cells = array("d"), array("q"), []
    dropped, first_drop = 0, ""
    for start, end, record in itertools.chain(pending, records):
        if len(record) != width:
            spans = f" (it runs over lines {start}-{end}: is a closing quote missing?)" if end > start else ""
            raise DataError(f"the row has {len(record)} cells, {width_of} has {width}{spans}", shown, row=start)
        missing_at = -1
        values: list[float] = []
        for j in used:
            cell = record[j]
            if "\n" in cell or "\r" in cell:
                raise DataError(
                    f"a quoted cell runs over lines {start}-{end}: is a closing quote missing?",
                    shown,
                    row=start,
                    column=names[j],
                )
            if j == target:
                if missing_at < 0 and _is_missing(cell):
                    missing_at = j
                continue
            try:
                value = _number(cell)
            except ValueError:
                raise DataError(_not_number_message(cell), shown, row=start, column=names[j]) from None
            if value is None:
                missing_at = j if missing_at < 0 else missing_at
            else:
                values.append(value)
        if missing_at >= 0:
            if not c.drop_missing:
                raise DataError(_missing_message(record[missing_at]), shown, row=start, column=names[missing_at])
            dropped += 1
            first_drop = first_drop or f"row {start}, column {names[missing_at]!r}"
            continue
        xs.extend(values)
        target_cells.append(record[target])
        lines.append(start)

    n = len(lines)
    if n == 0 and dropped:
        raise DataError(f"drop_missing dropped all {dropped} data rows (each has a missing or non-finite cell)", shown)
    if n == 0:
        raise DataError("the file has a header row but no data rows", shown)
    if n == 1:
        after = f" after drop_missing dropped {dropped}" if dropped else ""
        raise DataError(f"only one data row is left{after}: training needs at least 2", shown)
    if dropped:
        notes.append(
            f"drop_missing: dropped {dropped} of {n + dropped} data rows with an empty, NA, NaN or inf cell "
            f"in the chosen columns (the first at {first_drop})"
        )
    x = np.frombuffer(xs, dtype=np.float64).reshape(n, len(inputs))
    return _Table(names, inputs, target, x, target_cells, np.frombuffer(lines, dtype=np.int64), dropped, notes)


def _as_float32(values: np.ndarray, table: _Table, shown: str, names: list[str]) -> np.ndarray:
    """float32 for the device; a value beyond float32's range would silently become inf."""
    big = np.abs(values) > FLOAT32_MAX
    if big.any():
        i, j = np.argwhere(big)[0]
        raise DataError(
            f"{values[i, j]:g} is too large for 32-bit floats (at most about 3.4e38); rescale the column",
            shown,
            row=int(table.lines[i]),
            column=names[j],
        )
    return values.astype(np.float32)


# ----------------------------------------------------------------------------- the target


def _label(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def _listing(names: tuple[str, ...] | list[str], limit: int = 10) -> str:
    shown = ", ".join(f"{n}={i}" for i, n in enumerate(names[:limit]))
    return shown + (", ..." if len(names) > limit else "")


def _interpret_target(table: _Table, c: TrainConfig, shown: str) -> _Target:
    """Regression or classification (c.task, or inferred), with class labels mapped to 0..k-1."""
    name = table.names[table.target]
    cells = table.target_cells
    n = len(cells)
    numbers = np.empty(n)
    n_text, first_text = 0, -1
    for i, cell in enumerate(cells):
        try:
            numbers[i] = _float(cell)
        except ValueError:
            n_text += 1
            first_text = i if first_text < 0 else first_text
    if n_text and (c.task == "classification" or (c.task == "auto" and 2 * n_text > n)):
        return _text_target(name, [cell.strip() for cell in cells], c, shown)
    if n_text:
        why = (
            "task regression needs numbers"
            if c.task == "regression"
            else "most of the column holds numbers; fix the cell, or set task classification to use values as labels"
        )
        raise DataError(
            f"target value {_show(cells[first_text])} is not a number: {why}",
            shown,
            row=int(table.lines[first_text]),
            column=name,
        )

    values, inverse = np.unique(numbers, return_inverse=True)
    k = len(values)
    whole = bool(np.all(values == np.round(values)))
    if c.task == "auto":
        classify = whole and 2 <= k <= MAX_AUTO_CLASSES and 2 * k <= n
    else:
        classify = c.task == "classification"
    if not classify:
        if k == 1:
            raise DataError(
                f"the target has the same value ({values[0]:g}) in every row: nothing to learn", shown, column=name
            )
        notes = []
        if c.task == "auto":
            notes.append(f"task: regression, inferred from target {name!r} ({k} distinct values); set task to override")
        return _Target("regression", numbers[:, None], notes=notes)

    labels = tuple(_label(float(v)) for v in values)
    if k == 1:
        raise DataError(
            f"the target has only one class ({labels[0]}): classification needs at least two", shown, column=name
        )
    notes = []
    if c.task == "auto":
        notes.append(
            f"task: classification, inferred from target {name!r} ({k} whole-number values); set task to override"
        )
    if not np.array_equal(values, np.arange(k)):
        notes.append(f"target {name!r}: values mapped to classes 0-{k - 1}: {_listing(labels)}")
    return _Target("classification", inverse.astype(np.float64).reshape(n, 1), k, labels, notes)


def _text_target(name: str, labels: list[str], c: TrainConfig, shown: str) -> _Target:
    """Text labels, sorted, become classes 0..k-1; the names stay for the UI."""
    classes = tuple(sorted(set(labels)))
    k, n = len(classes), len(labels)
    if k == 1:
        raise DataError(
            f"the target has only one class ({classes[0]!r}): classification needs at least two", shown, column=name
        )
    if c.task == "auto" and not (k <= MAX_AUTO_CLASSES and 2 * k <= n):
        raise DataError(
            f"the target holds text with {k} distinct values in {n} rows, too many for class labels; "
            "choose another target, or set task classification to use them as labels anyway",
            shown,
            column=name,
        )
    index = {label: i for i, label in enumerate(classes)}
    y = np.fromiter((index[label] for label in labels), dtype=np.float64, count=n).reshape(n, 1)
    notes = [f"target {name!r}: text labels mapped to classes 0-{k - 1} (sorted): {_listing(classes)}"]
    return _Target("classification", y, k, classes, notes)


def _check_loss(c: TrainConfig, target: _Target, name: str) -> None:
    """The loss must fit the task the data turned out to be (config.validate cannot know it)."""
    if c.loss == "auto":
        return
    if target.task == "classification":
        fits = CLASSIFICATION_LOSSES if target.n_classes == 2 else ("ce",)
        if c.loss not in fits:
            raise ConfigError(
                "loss", c.loss, f"target {name!r} has {target.n_classes} classes: use {' or '.join(fits)}"
            )
    elif c.loss not in REGRESSION_LOSSES:
        raise ConfigError(
            "loss",
            c.loss,
            f"target {name!r} holds numbers, a regression target: use {', '.join(REGRESSION_LOSSES)} "
            "(or set task classification if the numbers are classes)",
        )


def _standardize(ds: Dataset, shown: str) -> None:
    """Dataset.standardize, refusing statistics that overflowed float32 (they would scale everything to 0)."""
    with np.errstate(over="ignore", invalid="ignore"):
        ds.standardize()
    assert ds.x_mean is not None and ds.x_std is not None
    for name, mean, std in zip(ds.input_names, ds.x_mean, ds.x_std, strict=True):
        if not (np.isfinite(mean) and np.isfinite(std)):
            raise DataError(
                "values are too large to standardize; rescale the column or set standardize off", shown, column=name
            )
    if not (math.isfinite(ds.y_mean) and math.isfinite(ds.y_std)):
        raise DataError(
            "values are too large to standardize; rescale the column or set standardize off",
            shown,
            column=ds.target_name,
        )
