"""The control panel: the run's settings, checked by the engine's rules as the user types.

Attributes down (`run_state`, `set_config`), messages up: `ConfigChanged` when a complete,
valid config differs from the last one committed (Enter, leaving a field, or picking from
a list), and `ActionRequested` for the buttons. The panel never starts anything itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.reactive import reactive
from textual.suggester import SuggestFromList
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from nntui.engine.config import TrainConfig
from nntui.engine.errors import ConfigError
from nntui.engine.names import (
    ACTIVATIONS,
    CLASSIFICATION_DATASETS,
    CLASSIFICATION_LOSSES,
    LOSSES,
    OPTIMIZERS,
    REGRESSION_DATASETS,
    REGRESSION_LOSSES,
)
from nntui.engine.pace import Pace, parse_pace
from nntui.engine.parsing import apply_text
from nntui.engine.presets import PRESETS, preset
from nntui.ui.validation import ConfigFieldValidator, PaceValidator, field_problem

INPUT_FIELDS: dict[str, tuple[str, str]] = {
    # field: (label, placeholder)
    "hidden": ("hidden", "10,6 (empty: linear)"),
    "activation": ("activation", "relu  or  relu,linear"),
    "lr": ("lr", "0.001"),
    "epochs": ("epochs", "5000"),
    "batch_size": ("batch", "full or 64"),
    "seed": ("seed", "0"),
    "test_fraction": ("test split", "0 or 0.2"),
    "degree": ("lsq degree", "auto"),
}
SELECT_FIELDS = ("dataset", "optimizer", "loss", "device")
SWITCH_FIELDS = ("health",)
"""On/off settings shown as a checkbox."""
LIVE_FIELDS = frozenset({"lr"})
"""Fields a running trainer takes without a reset."""
CUSTOM = "(custom)"


@dataclass(frozen=True)
class DeviceChoice:
    name: str
    """The config's device value (cpu, cuda:0, mps)."""
    label: str
    """What the list shows, e.g. "cuda:0 (NVIDIA A100)"."""


def pace_text(pace: Pace) -> str:
    """A pace as the field shows it (and parses back)."""
    if pace is None:
        return "max"
    return pace if isinstance(pace, str) else f"{pace:g}"


def _text_of(config: TrainConfig, field: str) -> str:
    return _format(field, getattr(config, field))


def _format(field: str, value: object) -> str:
    """A field's value as the panel shows it (and as the engine parses it back)."""
    if isinstance(value, str):
        return value
    if field == "hidden":
        return ",".join(str(v) for v in value)  # type: ignore[attr-defined]
    if field == "activation":
        return ",".join(value)  # type: ignore[arg-type]
    if field == "batch_size":
        return "full" if value == 0 else str(value)
    if field == "degree":
        return "auto" if value == 0 else str(value)
    if field == "test_fraction":
        return f"{value:g}"
    if field == "lr":
        return f"{value:g}"
    return str(value)


def _dataset_options(config: TrainConfig) -> list[tuple[str, str]]:
    """The built-in data sets, and the CSV file first when the config trains on one."""
    options = [(d, d) for d in (*REGRESSION_DATASETS, *CLASSIFICATION_DATASETS)]
    if config.dataset == "csv":
        options.insert(0, (f"csv: {Path(config.data).name or config.data}", "csv"))
    return options


def _losses_for(dataset: str) -> tuple[str, ...]:
    if dataset in REGRESSION_DATASETS:
        return REGRESSION_LOSSES
    if dataset in CLASSIFICATION_DATASETS:
        return CLASSIFICATION_LOSSES
    return LOSSES


def _preset_of(config: TrainConfig) -> str | None:
    """The preset this config is (whatever its device), if any."""
    for name in PRESETS:
        try:
            if replace(preset(name), device=config.device) == config:
                return name
        except ConfigError:
            continue
    return None


class ControlPanel(VerticalScroll):
    """Settings of the next (or current) run, plus Start/Step/Reset/Stop buttons."""

    DEFAULT_CSS = """
    ControlPanel {
        width: 36;
        height: 1fr;
    }
    """

    run_state: reactive[str] = reactive("idle")
    """idle, running, paused, done, stopped, failed: sets the Start button's label."""

    class ConfigChanged(Message):
        """A valid config, different from the last committed one."""

        def __init__(self, panel: ControlPanel, config: TrainConfig, changed: frozenset[str]) -> None:
            super().__init__()
            self.panel = panel
            self.config = config
            self.changed = changed
            """Names of the fields that differ from the previous committed config."""

        @property
        def control(self) -> ControlPanel:
            return self.panel

    class PaceChanged(Message):
        """The pace field holds a new valid pace (epochs/s, "auto", or None for max)."""

        def __init__(self, pace: Pace) -> None:
            super().__init__()
            self.pace = pace

    class ActionRequested(Message):
        """A button asked for an app action: toggle_run, step, reset or stop."""

        def __init__(self, action: str) -> None:
            super().__init__()
            self.action = action

    def __init__(
        self, config: TrainConfig, devices: list[DeviceChoice] | None, *, pace: Pace = "auto", id: str | None = None
    ) -> None:
        super().__init__(id=id)
        self.pace: Pace = pace
        """The committed pace (not a config field: how fast to train, not what)."""
        self.devices_known = devices is not None
        """False until the trainer has listed its devices (the process host's child imports
        torch for that; the panel shows "auto" and cpu meanwhile)."""
        self.devices = devices or [DeviceChoice("auto", "auto (probing…)"), DeviceChoice("cpu", "cpu")]
        self.base = config
        """Fields the panel does not show (samples, noise, CSV options…) come from here."""
        self.committed = self._with_device(config)

    def _with_device(self, config: TrainConfig) -> TrainConfig:
        """`auto` and unknown devices shown as the first available one (only those are listed)."""
        names = [d.name for d in self.devices]
        if config.device in names:
            return config
        try:
            return apply_text(config, {"device": names[0]})
        except ConfigError:
            return config

    # -- layout ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        c = self.committed
        with Horizontal(classes="field-row"):
            yield Label("preset", classes="field-label")
            yield Select(
                [(name, name) for name in PRESETS],
                value=_preset_of(c) or Select.NULL,
                prompt=CUSTOM,
                allow_blank=True,
                compact=True,
                id="preset",
            )
        yield from self._select_row("dataset", _dataset_options(c), c.dataset)
        yield from self._input_row("hidden", c)
        yield from self._input_row("activation", c)
        yield from self._input_row("lr", c)
        yield from self._select_row("optimizer", [(o, o) for o in OPTIMIZERS], c.optimizer)
        yield from self._select_row("loss", [(x, x) for x in _losses_for(c.dataset)], c.loss)
        yield from self._input_row("epochs", c)
        with Horizontal(classes="field-row"):
            yield Label("pace", classes="field-label")
            yield Input(
                pace_text(self.pace), placeholder="auto, max or 200 (epochs/s)", validators=[PaceValidator()],
                compact=True, select_on_focus=False, id="pace",
            )
        yield Label("", id="err-pace", classes="field-error", markup=False)
        yield from self._input_row("batch_size", c)
        yield from self._input_row("seed", c)
        yield from self._input_row("test_fraction", c)
        yield from self._input_row("degree", c)
        yield from self._select_row("device", [(d.label, d.name) for d in self.devices], c.device)
        with Horizontal(classes="field-row"):
            yield Label("health", classes="field-label")
            yield Checkbox("per-layer gradients", c.health, compact=True, id="health")
        yield Static("", id="config-problems", markup=False)
        with Horizontal(id="buttons"):
            yield Button("Start", id="btn-toggle_run", compact=True, variant="primary")
            yield Button("Step", id="btn-step", compact=True)
            yield Button("Reset", id="btn-reset", compact=True)
            yield Button("Stop", id="btn-stop", compact=True)

    def _select_row(self, field: str, options: list[tuple[str, str]], value: str) -> ComposeResult:
        with Horizontal(classes="field-row"):
            yield Label(field, classes="field-label")
            values = [v for _, v in options]
            yield Select(options, value=value if value in values else values[0], allow_blank=False, compact=True,
                         id=field)

    def _input_row(self, field: str, config: TrainConfig) -> ComposeResult:
        label, placeholder = INPUT_FIELDS[field]
        with Horizontal(classes="field-row"):
            yield Label(label, classes="field-label")
            yield Input(
                _text_of(config, field),
                placeholder=placeholder,
                validators=[ConfigFieldValidator(field, partial(self._validation_context, field))],
                suggester=SuggestFromList(ACTIVATIONS, case_sensitive=False) if field == "activation" else None,
                compact=True,
                select_on_focus=False,
                id=field,
            )
        yield Label("", id=f"err-{field}", classes="field-error", markup=False)

    def on_mount(self) -> None:
        self.border_title = "settings"

    # -- reading the fields --------------------------------------------------------------------

    def texts(self) -> dict[str, str]:
        """Every shown field's current text (Select values as their names)."""
        out = {field: self.query_one(f"#{field}", Input).value for field in INPUT_FIELDS}
        for field in SELECT_FIELDS:
            value = self.query_one(f"#{field}", Select).value
            if isinstance(value, str):
                out[field] = value
        for field in SWITCH_FIELDS:
            out[field] = "on" if self.query_one(f"#{field}", Checkbox).value else "off"
        if out.get("dataset") == "csv":
            out.pop("dataset")  # keep the CLI's csv file settings from the base config
        return out

    def _validation_context(self, field: str) -> tuple[TrainConfig, Mapping[str, str]]:
        texts = self.texts() if self.is_mounted else {}
        texts.pop(field, None)
        return self.base, texts

    def build_config(self) -> TrainConfig:
        """The config the fields describe; ConfigError names the first bad field."""
        return apply_text(self.base, self.texts())

    def problems(self) -> dict[str, str]:
        """Field → reason, for every field that is invalid right now."""
        texts = self.texts()
        found: dict[str, str] = {}
        for field in INPUT_FIELDS:
            others = {k: v for k, v in texts.items() if k != field}
            problem = field_problem(field, texts[field], self.base, others)
            if problem:
                found[field] = problem
        if not found:
            try:
                apply_text(self.base, texts)
            except ConfigError as exc:
                found[exc.field] = str(exc)
        return found

    def focus_field(self, field: str) -> None:
        try:
            self.query_one(f"#{field}").focus()
        except Exception:
            pass

    # -- writing the fields ----------------------------------------------------------------------

    def set_config(self, config: TrainConfig, *, base: bool = True) -> None:
        """Fill every field from `config` (a preset, a resumed run)."""
        config = self._with_device(config)
        if base:
            self.base = config
        # programmatic changes must not look like the user's (no ConfigChanged per field)
        with self.prevent(Select.Changed, Input.Changed, Checkbox.Changed):
            for field in INPUT_FIELDS:
                self.query_one(f"#{field}", Input).value = _text_of(config, field)
            dataset = self.query_one("#dataset", Select)
            dataset.set_options(_dataset_options(config))
            dataset.value = config.dataset
            self._set_loss_options(config.dataset, config.loss)
            self.query_one("#optimizer", Select).value = config.optimizer
            self.query_one("#device", Select).value = config.device
            for field in SWITCH_FIELDS:
                self.query_one(f"#{field}", Checkbox).value = bool(getattr(config, field))
        self._show_problems()

    def set_field(self, name: str, value: object) -> bool:
        """Set one shown field and commit it as Enter would: the app gets the same
        ConfigChanged as from typing (so a running run takes a new lr at once, and other
        changes ask to reset). Returns False if the panel's fields do not make a valid
        config afterwards (the field is then marked invalid with the reason, as when typed).
        """
        with self.prevent(Select.Changed, Input.Changed, Checkbox.Changed):
            if name in INPUT_FIELDS:
                self.query_one(f"#{name}", Input).value = _format(name, value)
            elif name in SWITCH_FIELDS:
                self.query_one(f"#{name}", Checkbox).value = bool(value)
            elif name in SELECT_FIELDS:
                self.query_one(f"#{name}", Select).value = value
                if name == "dataset" and isinstance(value, str):
                    loss = self.query_one("#loss", Select).value
                    self._set_loss_options(value, loss if isinstance(loss, str) else "")
            else:
                raise ValueError(f"the panel has no field {name!r}")
        return self._commit_if_valid()

    def use_data(self, config: TrainConfig) -> bool:
        """Train on the data of `config` (a CSV file from the file picker): its file settings
        become the panel's base, the dataset list gains a "csv: <file>" entry, and the change
        is committed like any other (a running run asks to reset)."""
        self.set_config(config)
        return self._commit_if_valid()

    def _commit_if_valid(self) -> bool:
        """Mark what is invalid; commit (as Enter would) only if nothing is."""
        self._show_problems()
        if self.problems():
            return False
        self._commit()
        return True

    def set_devices(self, devices: list[DeviceChoice]) -> None:
        """The trainer's devices are known: list them; a device still on "auto" becomes the
        best one, as if it had been listed from the start (no change the user made)."""
        self.devices_known = True
        self.devices = devices or [DeviceChoice("cpu", "cpu")]
        select = self.query_one("#device", Select)
        current = select.value
        names = [d.name for d in self.devices]
        with self.prevent(Select.Changed):
            select.set_options([(d.label, d.name) for d in self.devices])
            select.value = current if current in names else names[0]
        self.committed = self._with_device(self.committed)
        self._show_problems()

    def _set_loss_options(self, dataset: str, loss: str) -> None:
        select = self.query_one("#loss", Select)
        losses = _losses_for(dataset)
        select.set_options([(x, x) for x in losses])
        select.value = loss if loss in losses else losses[0]

    def watch_run_state(self, state: str) -> None:
        label = {"running": "Pause", "paused": "Resume", "diverged": "Resume"}.get(state, "Start")
        try:
            self.query_one("#btn-toggle_run", Button).label = label
        except Exception:
            pass

    # -- events ---------------------------------------------------------------------------------

    @on(Input.Changed)
    def _input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if event.input.id == "pace":
            self._pace_problem()
            return
        self._show_problems()

    @on(Input.Submitted)
    def _input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "pace":
            if self._commit_pace():
                self.screen.set_focus(None)
            return
        self._commit()
        if not self.problems().get(event.input.id or ""):
            self.screen.set_focus(None)  # Enter applies and leaves the field: keys work again

    @on(Input.Blurred)
    def _input_blurred(self, event: Input.Blurred) -> None:
        event.stop()
        if event.input.id == "pace":
            self._commit_pace()
            return
        self._commit()

    # -- the pace field -----------------------------------------------------------------------------

    def set_pace(self, pace: Pace) -> None:
        """Show `pace` (the app's +/- keys changed it); no message: the app already knows."""
        self.pace = pace
        with self.prevent(Input.Changed):
            self.query_one("#pace", Input).value = pace_text(pace)
        self._pace_problem()

    def _pace_problem(self) -> str | None:
        text = self.query_one("#pace", Input).value
        try:
            parse_pace(text)
            problem = None
        except ConfigError as exc:
            problem = exc.allowed
        self.query_one("#pace", Input).set_class(problem is not None, "-invalid")
        label = self.query_one("#err-pace", Label)
        label.update(problem or "")
        label.display = problem is not None
        return problem

    def _commit_pace(self) -> bool:
        """A valid pace that differs from the committed one goes up as PaceChanged."""
        if self._pace_problem() is not None:
            return False
        pace = parse_pace(self.query_one("#pace", Input).value)
        if pace != self.pace:
            self.pace = pace
            self.post_message(self.PaceChanged(pace))
        return True

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        event.stop()
        field = event.select.id
        if field == "preset":
            if isinstance(event.value, str):
                self.set_config(replace(preset(event.value), device=self.committed.device))
                self._commit()
            return
        if field == "dataset" and isinstance(event.value, str):
            loss = self.query_one("#loss", Select).value
            with self.prevent(Select.Changed):
                self._set_loss_options(event.value, loss if isinstance(loss, str) else "")
        self._show_problems()
        self._commit()

    @on(Checkbox.Changed)
    def _switch_changed(self, event: Checkbox.Changed) -> None:
        event.stop()
        self._show_problems()
        self._commit()

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id and event.button.id.startswith("btn-"):
            self.post_message(self.ActionRequested(event.button.id[4:]))

    def _show_problems(self) -> None:
        """Mark every invalid input (cross-field rules included) and say why under it."""
        if not self.is_mounted:
            return
        problems = self.problems()
        for field in INPUT_FIELDS:
            widget = self.query_one(f"#{field}", Input)
            label = self.query_one(f"#err-{field}", Label)
            problem = problems.get(field)
            widget.set_class(problem is not None, "-invalid")
            label.update(problem or "")
            label.display = problem is not None
        other = [p for f, p in problems.items() if f not in INPUT_FIELDS]
        summary = self.query_one("#config-problems", Static)
        summary.update("\n".join(other))
        summary.display = bool(other)

    def _commit(self) -> None:
        """Post ConfigChanged if the fields make a valid config that differs from the last one."""
        try:
            config = self.build_config()
        except ConfigError:
            return
        old = self.committed
        changed = frozenset(f for f in config.__dataclass_fields__ if getattr(config, f) != getattr(old, f))
        if not changed:
            return
        self.committed = config
        preset_select = self.query_one("#preset", Select)
        name = _preset_of(config)
        if (name or Select.NULL) != preset_select.value:
            with self.prevent(Select.Changed):
                preset_select.value = name or Select.NULL
        self.post_message(self.ConfigChanged(self, config, changed))
