"""The help screen: keys, what the fields mean, how to use it over SSH."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS: tuple[tuple[str, str], ...] = (
    ("space", "start a run / pause / resume"),
    ("n  or  .", "one epoch (pauses first if running)"),
    ("r", "reset: a new run from epoch 0, paused (same seed, same initial weights)"),
    ("s", "stop the run"),
    ("-  +  f", "pace: slower, faster, full speed (auto: a short run takes ~10 s so you can watch it)"),
    ("←  →  home  end", "replay: scrub the fit through the run (pauses first; space, n or r go on)"),
    ("b", "backprop stepper: one gradient step taken apart, node by node (the network at rest)"),
    ("c", "runs table: earlier runs (dimmed on the loss plot), their numbers and fits; load a config"),
    ("l", "log-scale loss axis on/off"),
    ("m", "smoothing of the loss curve on/off"),
    ("p  or  ctrl+s", "save an SVG screenshot"),
    ("a", "activation gallery: every activation's curve and derivative; enter picks one"),
    ("o", "open a CSV file to train on (inputs, target, delimiter; checked before use)"),
    ("ctrl+p", "command palette (every action, themes)"),
    ("? or f1", "this help"),
    ("esc", "leave a field (then the keys above work again)"),
    ("q  or  ctrl+q", "quit (stops the run first)"),
    ("ctrl+c", "stop, save (with --out) and exit 130, as in a shell"),
)

HELP_TEXT = (
    "Settings: edit a field and press Enter (or leave it). Invalid values are marked in red with the reason "
    "underneath; a run will not start until they are fixed. While a run is going, a new learning rate applies at "
    "once (marked on the loss plot); other changes ask whether to reset.\n\n"
    "Keys go to the field you are typing in: press esc (or Enter) first.\n\n"
    "Pace: the pace field (auto, max, or epochs per second) or -/+/f; a change shows on the loss plot. "
    "Replay keeps about 256 frames of every run (saved with --out, back on --resume).\n\n"
    "Compare: a run that finishes or is stopped stays on the loss plot, dimmed and labelled by what differs "
    "from the current settings; c lists these runs. nntui --compare DIR adds run directories (or add them in c).\n\n"
    "Over SSH the plots redraw at 2 Hz (--ui-hz changes it). A diverging run pauses and says which epoch went bad "
    "and what learning rate to try."
)


def keys_table() -> str:
    width = max(len(k) for k, _ in KEYS)
    return "\n".join(f"  {k.ljust(width)}   {v}" for k, v in KEYS)


class HelpScreen(ModalScreen[None]):
    """Any of esc, q, ? or f1 closes it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark,f1", "dismiss_help", "Close"),
    ]

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > Vertical {
        width: 90;
        max-width: 95%;
        height: auto;
        max-height: 90%;
        overflow-y: auto;
        padding: 1 2;
    }
    """

    def compose(self) -> ComposeResult:
        with Vertical(id="help-body"):
            yield Static("nntui: keys", classes="help-title", markup=False)
            yield Static(keys_table(), markup=False)
            yield Static(HELP_TEXT, markup=False, classes="help-text")
            yield Static("esc closes this help", classes="help-hint", markup=False)

    def on_mount(self) -> None:
        self.query_one("#help-body").border_title = "help"

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
