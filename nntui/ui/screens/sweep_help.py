"""The sweep dashboard's help screen: its keys and how to read the plot and the leaderboard."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from nntui.ui.screens.help import HelpScreen

KEYS: tuple[tuple[str, str], ...] = (
    ("up / down", "highlight a trial: its curves (train and test) drawn in full on the loss plot"),
    ("enter (or a click)", "show that trial's fit or decision boundary, live while it trains"),
    ("l", "log-scale loss axis on/off"),
    ("m", "smoothing of the loss curves on/off"),
    ("s", "stop the sweep (every running trial saved, the leaderboard written); the dashboard stays"),
    ("p  or  ctrl+s", "save an SVG screenshot"),
    ("ctrl+p", "command palette (themes)"),
    ("? or f1", "this help"),
    ("q  or  ctrl+q", "quit: the sweep stops first (every trial saved, the leaderboard written)"),
    ("ctrl+c", "the same, exit 130, as in a shell"),
)

HELP_TEXT = (
    "Each trial's train loss is drawn in the colour of its value of the first varied field (the legend under the "
    "plot); the highlighted trial is drawn in full, with its test loss, the others dimmed. Until you move the "
    "cursor the highlight follows the leader (the best loss so far among finished trials).\n\n"
    "The leaderboard sorts itself by best loss as trials finish; running trials show their live numbers below the "
    "finished ones. Its numbers are each trial's summary.json, as leaderboard.csv and leaderboard.json in the "
    "sweep's folder say.\n\n"
    "Statuses: queued, running, done, diverged, failed, interrupted (stopped and saved: run the same command again "
    "to go on from its checkpoint), not started."
)


class SweepHelp(HelpScreen):
    """The dashboard's help screen with the sweep's own keys."""

    def compose(self) -> ComposeResult:
        width = max(len(k) for k, _ in KEYS)
        with Vertical(id="help-body"):
            yield Static("nntui sweep: keys", classes="help-title", markup=False)
            yield Static("\n".join(f"  {k.ljust(width)}   {v}" for k, v in KEYS), markup=False)
            yield Static(HELP_TEXT, markup=False, classes="help-text")
            yield Static("esc closes this help", classes="help-hint", markup=False)
