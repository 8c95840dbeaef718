"""A sweep's grid: which config fields vary, over which values, and the trials they make.

    --vary activation=relu,tanh --vary lr=1e-4..1e-1:log4 --vary seed=0..4

The grid is the product of its axes (2 × 4 × 5 = 40 trials here). One axis is written
`FIELD=V1,V2,...`; each value is text the field's own parser reads (`parsing.parse_field`),
and every trial's config is built and validated as a single run's would be
(`config.with_changes`), so a sweep accepts exactly the values a single run accepts.

- Numeric fields take ranges: `seed=0..4` is every whole number from 0 to 4 (whole-number
  fields only), `A..B:logN` N log-spaced values, `A..B:linN` N evenly spaced ones. Items mix:
  `seed=0..2,10`.
- Fields whose value is itself a list (hidden, activation, inputs) separate a value's
  parts with `/`, because the comma separates values: `hidden=10/6,32/32` is two trials,
  (10, 6) and (32, 32); `activation=relu,tanh` is two trials too.
- A `[sweep]` table in a TOML config does the same (the CLI's --vary replaces the file's
  axis for the same field, as flags override a config file):

      [sweep.vary]                     # or: [sweep]  vary = { lr = [...], ... }
      lr = [0.1, 0.01]                 # a list: one value per element (native TOML or text)
      hidden = [[10, 6], [32, 32]]     # ... so a list-valued field takes lists (or "10,6")
      seed = "0..4"                    # a string: the --vary syntax (values, ranges)

Every refusal is a ConfigError whose message is one line naming the flag (or file) and
the value. Nothing here imports torch or numpy.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from dataclasses import field as dc_field
from pathlib import Path
from typing import Any

from nntui.engine.config import FIELD_NAMES, TrainConfig, with_changes
from nntui.engine.errors import ConfigError
from nntui.engine.names import DELIMITER_NAMES
from nntui.engine.parsing import parse_field

MAX_TRIALS_UNASKED = 10_000
"""More trials than this need --yes: a typo in a range should not start a week of training."""
MAX_TRIALS = 100_000
"""Even with --yes: every trial is a directory and a leaderboard row, and each config is
validated up front."""
MAX_AXIS_VALUES = 100_000
"""An axis is listed before the product is counted: `seed=0..10**12` must fail, not fill memory."""
TUPLE_FIELDS = ("hidden", "activation", "inputs")
"""Fields whose one value is a list: `/` separates its parts on the command line."""
NUMERIC: dict[str, str] = {f.name: str(f.type) for f in fields(TrainConfig) if str(f.type) in ("int", "float")}
"""Fields that take ranges, and whether a range of them is whole numbers or not."""
RUN_OPTIONS: dict[str, str] = {
    "out": "it is where the sweep writes (each trial gets its own directory under --out)",
    "resume": "a sweep resumes when the same command runs again",
}
"""Names a user might try to vary that are not training settings, with why not."""
OTHER_OPTIONS = (
    "config", "preset", "jobs", "yes", "vary", "headless", "json", "checkpoint_every", "on_diverge",
    "log_every", "worker", "ui_hz",
)
MAX_NAME_BYTES = 160
"""Trial directory names stay well under the 255 bytes a file-system name may have."""
_UNSAFE = re.compile(r"[^A-Za-z0-9._+=,-]")


@dataclass(frozen=True)
class Axis:
    """One varied field and its values, typed as TrainConfig holds them, in the given order."""

    field: str
    values: tuple[Any, ...]
    given: tuple[str, ...] = dc_field(default=(), compare=False)
    """Each value as the user wrote it (a range's values as text): what a refusal shows."""
    flag: str = dc_field(default="--vary", compare=False)
    """Where the axis came from, for refusals: `--vary lr` or `FILE: sweep.vary.lr`."""

    @property
    def texts(self) -> tuple[str, ...]:
        return tuple(value_text(self.field, v) for v in self.values)

    def shown(self, value: Any) -> str:
        """The value as the user wrote it, for a refusal."""
        i = self.values.index(value)
        return self.given[i] if i < len(self.given) else value_text(self.field, value)


@dataclass(frozen=True)
class Trial:
    """One point of the grid: its run directory's name, its varied values, its config."""

    index: int
    name: str
    values: tuple[tuple[str, Any], ...]
    """(field, typed value) in the grid's axis order."""
    config: TrainConfig

    @property
    def texts(self) -> dict[str, str]:
        """field → the value as text a flag takes (for tables and the leaderboard)."""
        return {name: value_text(name, value) for name, value in self.values}


@dataclass(frozen=True)
class Grid:
    """The axes of a sweep; its trials are their product (the first axis varies slowest)."""

    axes: tuple[Axis, ...]
    _built: dict[TrainConfig, list[Trial]] = dc_field(default_factory=dict, compare=False, repr=False)
    """Trials already built and validated per base (validating is ~50 µs a trial)."""

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(a.field for a in self.axes)

    @property
    def size(self) -> int:
        return math.prod(len(a.values) for a in self.axes)

    def trials(self, base: TrainConfig) -> list[Trial]:
        """Every trial's config, validated as a single run's. A refusal names the one value
        that no run on this base accepts (`--vary lr: '0' is not valid; ...`) or, when each
        value is fine alone, the combination (hidden 10 with activation relu/linear)."""
        if base in self._built:
            return list(self._built[base])
        out: list[Trial] = []
        for index, combo in enumerate(itertools.product(*(a.values for a in self.axes))):
            values = tuple(zip(self.fields, combo))
            try:
                config = with_changes(base, dict(values))
            except ConfigError as exc:
                raise self._refusal(base, combo, exc) from None
            out.append(Trial(index, trial_name(values), values, config))
        self._built[base] = _unique_names(out)
        return list(self._built[base])

    def _refusal(self, base: TrainConfig, combo: tuple[Any, ...], exc: ConfigError) -> ConfigError:
        # Checked only once something failed. A value is refused on its own when it fails on
        # the base and next to every value of every other axis (lr 0 anywhere); otherwise the
        # combination is (activation relu/tanh/sigmoid is fine with hidden 10/10/10, not with 5).
        for axis, value in zip(self.axes, combo):
            try:
                with_changes(base, {axis.field: value})
                continue
            except ConfigError as alone:
                if any(_valid(base, {axis.field: value, other.field: v})
                       for other in self.axes if other is not axis for v in other.values):
                    continue
                why = alone.allowed if alone.field == axis.field else str(alone)
                return ConfigError(axis.flag, axis.shown(value), why)
        shown = ",".join(f"{a.field}={a.shown(v)}" for a, v in zip(self.axes, combo))
        return ConfigError(self.axes[0].flag.split(" ")[0], shown, f"this combination is not a valid run: {exc}")

    def to_toml(self) -> dict[str, Any]:
        """The `[sweep]` table: `vary` with one list of native TOML values per field."""
        return {"vary": {a.field: [_toml_value(v) for v in a.values] for a in self.axes}}

    def same_as(self, other: Grid) -> bool:
        """The same trials: field order and value order do not matter."""
        def key(g: Grid) -> dict[str, frozenset[Any]]:
            return {a.field: frozenset(a.values) for a in g.axes}

        return key(self) == key(other)

    def describe(self) -> str:
        """"activation 2 × lr 4 × seed 5 = 40 trials"."""
        parts = " × ".join(f"{a.field} {len(a.values)}" for a in self.axes)
        return f"{parts} = {self.size:,} trial{'s' if self.size != 1 else ''}"


# ----------------------------------------------------------------------------- values as text


def _valid(base: TrainConfig, changes: Mapping[str, Any]) -> bool:
    try:
        with_changes(base, changes)
    except ConfigError:
        return False
    return True


def value_text(field: str, value: Any) -> str:
    """A typed value as the text its flag takes: 0.001, 10,6, relu,linear, on, auto."""
    if field == "delimiter":
        return DELIMITER_NAMES.get(str(value), "auto")
    if value is None:
        return "auto"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return repr(value)  # the shortest text that reads back as the same float
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)


def _name_text(field: str, value: Any) -> str:
    """A value as it appears in a trial's directory name: 10x6, relu+linear, none, empty."""
    if isinstance(value, tuple):
        if not value:
            return "none"
        return ("x" if field == "hidden" else "+").join(map(str, value))
    text = value_text(field, value)
    return text if text else "empty"


def trial_name(values: Iterable[tuple[str, Any]]) -> str:
    """`activation=tanh,lr=0.01,seed=3`: fields sorted (flag order does not rename a trial),
    only letters, digits and . _ + = , - (anything else becomes _), at most MAX_NAME_BYTES
    (a longer name keeps its start and gets a hash of the whole)."""
    name = ",".join(f"{f}={_UNSAFE.sub('_', _name_text(f, v))}" for f, v in sorted(values, key=lambda fv: fv[0]))
    if not name:
        return "trial"
    if len(name) > MAX_NAME_BYTES:
        digest = hashlib.sha1(name.encode()).hexdigest()[:10]
        name = f"{name[: MAX_NAME_BYTES - 11]}-{digest}"
    return name


def _unique_names(trials: list[Trial]) -> list[Trial]:
    """Two values that read alike once made file-system-safe (data=a/b.csv, data=a_b.csv) would
    share a directory: each such name gets its trial number."""
    seen: dict[str, int] = {}
    for t in trials:
        seen[t.name] = seen.get(t.name, 0) + 1
    return [
        Trial(t.index, f"{t.name}-{t.index}", t.values, t.config) if seen[t.name] > 1 else t for t in trials
    ]


def _toml_value(value: Any) -> Any:
    if value is None:
        return "auto"
    if isinstance(value, tuple):
        return list(value)
    return value


def _toml_text(value: Any) -> str:
    """One element of a TOML list → the text its field parser reads."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, list):
        return ",".join(_toml_text(v) for v in value)
    return str(value)  # str of a float is its shortest round-trip text


# ----------------------------------------------------------------------------- parsing


def field_name(name: str, flag: str, spec: str) -> str:
    """A name to vary → the TrainConfig field (batch-size reads as batch_size), or ConfigError."""
    field = name.strip().lower().replace("-", "_")
    if field in FIELD_NAMES:
        return field
    if field in RUN_OPTIONS:
        raise ConfigError(flag, spec, f"{field} cannot vary: {RUN_OPTIONS[field]}")
    if field in OTHER_OPTIONS:
        raise ConfigError(
            flag, spec, f"{field} cannot vary: it is a run option, not a training setting; "
            f"fields that can: {', '.join(FIELD_NAMES)}"
        )
    raise ConfigError(flag, spec, f"unknown field {name.strip()!r}; fields that can vary: {', '.join(FIELD_NAMES)}")


def parse_vary(spec: str, flag: str = "--vary") -> Axis:
    """`FIELD=V1,V2,...` (items may be ranges) → an Axis whose every value a run accepts."""
    name, sep, text = spec.partition("=")
    if not sep or not name.strip():
        raise ConfigError(flag, spec, "write FIELD=V1,V2,... e.g. lr=0.1,0.01 or seed=0..4")
    field = field_name(name, flag, spec)
    return _axis(field, [item.strip() for item in text.split(",")], f"{flag} {field}", ranges=True)


def _axis(field: str, items: Sequence[str], flag: str, ranges: bool) -> Axis:
    """Parse each item with the field's parser (expanding ranges when allowed); refuse repeats and
    emptiness. The config's own checks run on whole trials (`Grid.trials`)."""
    if not any(items):
        raise ConfigError(flag, ",".join(items), "give at least one value")
    values: list[Any] = []
    given: list[str] = []
    seen: set[Any] = set()  # (a list's `in` made seed=0..99999 quadratic)
    for item in items:
        if ranges and field in NUMERIC and ".." in item:
            produced = expand_range(field, item, flag)
            texts = [value_text(field, v) for v in produced]
        else:
            # `hidden=10/6,32` → "10,6" and "32" (on the command line and in a TOML string;
            # a TOML list's element is one whole value and may hold commas: ranges=False)
            text = item.replace("/", ",") if ranges and field in TUPLE_FIELDS else item
            produced, texts = [_parse_value(field, text, flag)], [item]
        for value, text in zip(produced, texts):
            if value in seen:
                raise ConfigError(flag, text, "this value is given twice")
            seen.add(value)
            values.append(value)
            given.append(text)
        if len(values) > MAX_AXIS_VALUES:
            raise ConfigError(flag, item, f"more than {MAX_AXIS_VALUES:,} values on one axis")
    return Axis(field, tuple(values), tuple(given), flag)


def _parse_value(field: str, text: str, flag: str) -> Any:
    try:
        return parse_field(field, text)
    except ConfigError as exc:
        raise ConfigError(flag, text, exc.allowed) from None


_RANGE_HELP = "a range is A..B (whole numbers, inclusive), A..B:logN or A..B:linN, e.g. 1e-4..1e-1:log4"


def expand_range(field: str, text: str, flag: str) -> list[Any]:
    """`0..4` → 0,1,2,3,4 (whole-number fields); `A..B:logN` / `A..B:linN` → N values from A to B.

    Log and linear values are rounded to 12 significant digits (1e-4..1e-1:log4 gives exactly
    0.0001, 0.001, 0.01, 0.1) and, for a whole-number field, to whole numbers."""
    lo_text, _, rest = text.partition("..")
    hi_text, _, spacing = rest.partition(":")
    whole = NUMERIC[field] == "int"
    try:
        lo = float(lo_text) if not whole else int(lo_text.strip().replace("_", ""))
        hi = float(hi_text) if not whole else int(hi_text.strip().replace("_", ""))
    except ValueError:
        raise ConfigError(flag, text, _RANGE_HELP + (" (whole numbers for this field)" if whole else "")) from None
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ConfigError(flag, text, "a range needs finite ends")
    if not spacing:
        if not whole:
            raise ConfigError(flag, text, f"{field} is not a whole number: give the spacing, A..B:logN or A..B:linN")
        if lo > hi:
            raise ConfigError(flag, text, "the range is empty (A must be at most B)")
        if hi - lo + 1 > MAX_AXIS_VALUES:
            raise ConfigError(flag, text, f"more than {MAX_AXIS_VALUES:,} values on one axis")
        return list(range(int(lo), int(hi) + 1))
    m = re.fullmatch(r"\s*(log|lin)\s*(\d+)\s*", spacing)
    if m is None:
        raise ConfigError(flag, text, _RANGE_HELP)
    kind, n = m.group(1), int(m.group(2))
    if not 1 <= n <= MAX_AXIS_VALUES:
        raise ConfigError(flag, text, f"the number of values must be 1 to {MAX_AXIS_VALUES:,}")
    if kind == "log":
        if lo <= 0 or hi <= 0:
            raise ConfigError(flag, text, "a log range needs both ends above 0")
        a, b = math.log10(lo), math.log10(hi)
        raw = [10 ** (a + (b - a) * i / (n - 1)) if n > 1 else float(lo) for i in range(n)]
    else:
        raw = [lo + (hi - lo) * i / (n - 1) if n > 1 else float(lo) for i in range(n)]
    if whole:
        values: list[Any] = [round(v) for v in raw]
        if len(set(values)) != len(values):
            raise ConfigError(flag, text, "rounded to whole numbers, some values repeat: ask for fewer")
        return values
    return [float(f"{v:.12g}") for v in raw]


def build_grid(
    specs: Sequence[str], base: TrainConfig, toml_axes: Sequence[Axis] = (), yes: bool = False
) -> Grid:
    """`--vary` specs (plus a config file's axes, which a --vary of the same field replaces)
    → the Grid, checked: no field twice, not empty, at most MAX_TRIALS_UNASKED without --yes."""
    axes: list[Axis] = []
    for spec in specs:
        axis = parse_vary(spec)
        if any(a.field == axis.field for a in axes):
            raise ConfigError(
                "--vary", spec, f"{axis.field} is varied twice; give all its values in one --vary {axis.field}=..."
            )
        axes.append(axis)
    given = {a.field for a in axes}
    axes = [a for a in toml_axes if a.field not in given] + axes
    if not axes:
        raise ConfigError("--vary", "", "a sweep needs a grid: --vary FIELD=V1,V2,... (or a [sweep] table in --config)")
    grid = Grid(tuple(axes))
    check_size(grid, yes)
    grid.trials(base)  # every trial's config validated now: bad input fails before anything runs
    return grid


def check_size(grid: Grid, yes: bool) -> None:
    size = grid.size
    if size > MAX_TRIALS:
        raise ConfigError("--vary", grid.describe(), f"more than {MAX_TRIALS:,} trials, even with --yes")
    if size > MAX_TRIALS_UNASKED and not yes:
        raise ConfigError("--vary", grid.describe(), f"more than {MAX_TRIALS_UNASKED:,} trials: add --yes to run them")


# ----------------------------------------------------------------------------- TOML


def parse_sweep_table(table: Any, where: str) -> list[Axis]:
    """A config file's `[sweep]` table → its axes (see the module's docstring for the format)."""
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: sweep", table, "expected a table: [sweep] with vary = {FIELD = [values]}")
    for key in table:
        if key != "vary":
            raise ConfigError(f"{where}: sweep.{key}", table[key], "unknown key; [sweep] has one key, vary")
    vary = table.get("vary", {})
    if not isinstance(vary, Mapping):
        raise ConfigError(f"{where}: sweep.vary", vary, "expected a table, e.g. vary = {lr = [0.1, 0.01]}")
    axes: list[Axis] = []
    for name, spec in vary.items():
        flag = f"{where}: sweep.vary.{name}"
        field = field_name(name, flag, f"{name} = {spec!r}")
        if any(a.field == field for a in axes):  # batch-size and batch_size: one field
            raise ConfigError(flag, spec, f"{field} is varied twice")
        flag = f"{where}: sweep.vary.{field}"
        if isinstance(spec, str):
            axes.append(_axis(field, [item.strip() for item in spec.split(",")], flag, ranges=True))
        elif isinstance(spec, list):
            axes.append(_axis(field, [_toml_text(v) for v in spec], flag, ranges=False))
        elif isinstance(spec, (int, float)):
            axes.append(_axis(field, [_toml_text(spec)], flag, ranges=False))
        else:
            raise ConfigError(flag, spec, "expected a list of values or a string like \"0..4\"")
    return axes


def read_toml_file(path: str | Path) -> dict[str, Any]:
    """A TOML file's tables, with the same one-line refusals as `tomlio.load_toml`."""
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
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("config", str(path), f"malformed TOML: {exc}") from None


def load_sweep_config(path: str | Path, base: TrainConfig) -> tuple[TrainConfig, list[Axis]]:
    """A config file that may hold a `[sweep]` table → (base config, the table's axes)."""
    from nntui.engine.tomlio import from_mapping

    values = read_toml_file(path)
    table = values.pop("sweep", None)
    try:
        config = from_mapping(values, base, where=str(path))
    except ConfigError as exc:
        if exc.field.startswith(str(path)):
            raise
        raise ConfigError(f"{path}: {exc.field}", exc.value, exc.allowed) from None
    axes = parse_sweep_table(table, str(path)) if table is not None else []
    return config, axes


def dumps_sweep_toml(base: TrainConfig, grid: Grid) -> str:
    """sweep.toml: the base config's fields, then `[sweep.vary]`; itself a valid --config."""
    from nntui.engine.tomlio import dumps_toml

    return dumps_toml({**base.to_dict(), "sweep": grid.to_toml()})
