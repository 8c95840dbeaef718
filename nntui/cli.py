"""The `nntui` command: flags → TrainConfig → headless run or dashboard.

Only the config module (no torch, no textual) is imported at the top: `nntui --help` and
bad flags answer at once; torch and the UI load when they are needed.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from nntui import __version__
from nntui.engine.config import FIELD_NAMES, TrainConfig, field_docs
from nntui.engine.errors import NntuiError
from nntui.engine.pace import Pace, parse_pace
from nntui.engine.parsing import apply_text, parse_field
from nntui.engine.presets import PRESETS, preset
from nntui.engine.session import DEFAULT_CHECKPOINT_S, DIVERGENCE_POLICIES, ResumePlan, check_checkpoint_every
from nntui.engine.signals import EXIT_BAD_INPUT
from nntui.engine.tomlio import load_toml

# flag → field, one to one; the TOML keys are the field names
FIELD_FLAGS = {name: "--" + name.replace("_", "-") for name in FIELD_NAMES}
SWITCHES = {"standardize": "on", "drop_missing": "on", "health": "on"}
"""Fields that may be given as a bare switch (`--standardize` means on)."""
METAVARS = {
    "hidden": "10,6",
    "activation": "relu[,linear]",
    "lr": "LR",
    "inputs": "COLS",
    "target": "COL",
    "data": "FILE.csv",
    "standardize": "on|off|auto",
    "delimiter": "auto|comma|semicolon|tab|bar",
}

EPILOG = """\
examples:
  nntui                                   open the dashboard (the lecture's experiment)
  nntui --headless                        train the lecture's experiment, print progress
  nntui --headless --hidden 32,32 --activation tanh --optimizer adam --lr 0.01 --dataset sine
  nntui --headless --data houses.csv --target price --out runs/houses --json
  nntui --headless --resume runs/houses   continue a saved run
  nntui watch runs/houses                 follow a run another process writes (from any terminal)
  nntui sweep --vary activation=relu,tanh --vary lr=1e-3..1e-1:log3 --out sweeps/a   train a grid
  nntui --serve                           the dashboard in a browser tab (http://localhost:8000)

exit codes: 0 done, 1 internal error, 2 bad input, 3 diverged (NaN/inf),
            129 SIGHUP, 130 Ctrl-C, 143 SIGTERM (metrics flushed and a checkpoint written first)
"""


class _Parser(argparse.ArgumentParser):
    """argparse, but a refusal is one line (as every other bad input), not a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"nntui: error: {message} (see nntui --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="nntui",
        allow_abbrev=False,  # `--ep 5` must not quietly mean --epochs
        description="Watch a small neural network learn: a terminal dashboard, or headless.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"nntui {__version__}")
    run = p.add_argument_group("mode")
    run.add_argument("--headless", action="store_true", help="train without a terminal UI (scripts, CI, servers)")
    run.add_argument("--preset", choices=list(PRESETS), default=None, help="starting configuration (default: lecture)")
    run.add_argument("--config", metavar="FILE.toml", help="read settings from a TOML file (flags override it)")
    run.add_argument("--out", metavar="DIR", help="write a run directory: config, metrics.csv, summary, weights")
    run.add_argument("--json", action="store_true", help="headless: print one final JSON line on stdout")
    run.add_argument("--resume", metavar="RUNDIR", help="continue the run saved in RUNDIR")
    run.add_argument("--log-every", type=int, metavar="N", help="headless: a progress line every N epochs")
    run.add_argument(
        "--checkpoint-every", type=float, default=DEFAULT_CHECKPOINT_S, metavar="SECONDS",
        help="with --out: write a checkpoint this often (default 30; also at the end and on a signal)",
    )
    run.add_argument(
        "--on-diverge", choices=DIVERGENCE_POLICIES, default=None,
        help="when the loss becomes NaN/inf, after going back to the best weights: stop (headless default), "
        "pause (dashboard default) or lower (go on at a learning rate that was tried)",
    )
    run.add_argument(
        "--pace", metavar="auto|max|EPOCHS/S", default=None,
        help="dashboard: how fast a run goes so you can watch it (default auto: a short run takes ~10 s; "
        "max: full speed); +/- and f change it while training",
    )
    run.add_argument(
        "--compare", nargs="+", metavar="DIR", default=None,
        help="dashboard: show these run directories as ghosts beside your runs (c opens the runs table)",
    )
    run.add_argument(
        "--on-hangup", choices=("save", "train"), default="save",
        help="dashboard, when the terminal hangs up with SIGHUP ignored (trap '' HUP): save the run and exit 129 "
        "(default), or train on without a screen and save at the end",
    )
    run.add_argument(
        "--worker", choices=("process", "thread"), default=None,
        help="dashboard: train in a child process (default) or in a thread of the UI process",
    )
    run.add_argument("--ui-hz", type=float, metavar="HZ", help="dashboard redraw rate (default 4, 2 over SSH)")
    run.add_argument("--list-devices", action="store_true", help="print the devices this machine can train on")
    from nntui.serve import add_serve_arguments

    add_serve_arguments(p.add_argument_group("browser (nntui --serve; needs nntui[serve])"))

    docs = field_docs()
    fields = p.add_argument_group("training settings (the TOML keys are the same names with _)")
    for name, flag in FIELD_FLAGS.items():
        kwargs: dict[str, Any] = {"dest": name, "default": None, "help": docs.get(name, "")}
        if name in SWITCHES:
            kwargs.update(nargs="?", const=SWITCHES[name])
        fields.add_argument(flag, metavar=METAVARS.get(name, name.upper().replace("_", "-")), **kwargs)
    return p


def config_from_args(args: argparse.Namespace) -> tuple[TrainConfig, ResumePlan | None]:
    """preset (lecture by default) ← TOML file ← flags; each later one overrides.

    With --resume the saved run's config is the base and only the fields a continued run may
    change can be given (one refused field is a ConfigError naming it)."""
    given = {name: getattr(args, name) for name in FIELD_NAMES if getattr(args, name) is not None}
    if args.resume:
        from nntui.engine.session import plan_resume

        parsed = {name: parse_field(name, text) for name, text in given.items()}
        plan = plan_resume(args.resume, parsed)
        return plan.config, plan
    base = preset(args.preset or "lecture")
    if args.config:
        base = load_toml(args.config, base)
    return apply_text(base, given), None


def join_negative_values(argv: Sequence[str]) -> list[str]:
    """`--lr -1e-3` → `--lr=-1e-3`: argparse takes a value starting with "-" for a flag
    (unless it looks like a plain negative number), so the field check would never see it
    and say what is wrong with it."""
    flags = set(FIELD_FLAGS.values()) - {FIELD_FLAGS[name] for name in SWITCHES}
    out: list[str] = []
    it = iter(argv)
    for arg in it:
        if arg in flags:
            value = next(it, None)
            if value is None:
                out.append(arg)
            elif value.startswith("-") and not value.startswith("--"):
                out.append(f"{arg}={value}")
            else:
                out += [arg, value]
        else:
            out.append(arg)
    return out


SUBCOMMANDS = ("watch", "sweep")
"""`nntui watch DIR...` follows run directories; `nntui sweep --vary ...` trains a grid."""


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["watch"]:
        from nntui.ui.watch import main as watch_main

        return watch_main(words[1:])
    if words[:1] == ["sweep"]:
        from nntui.sweep_cli import main as sweep_main

        return sweep_main(words[1:])
    parser = build_parser()
    args = parser.parse_args(join_negative_values(words))
    if args.list_devices:
        from nntui.engine.devices import available_devices

        for d in available_devices():
            print(d.label)
        return 0
    from nntui.serve import check_serve_args

    if (problem := check_serve_args(args)) is not None:
        return _refuse(problem)
    try:
        config, plan = config_from_args(args)
        check_checkpoint_every(args.checkpoint_every)
    except NntuiError as exc:
        print(f"nntui: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.log_every is not None and args.log_every < 1:
        return _refuse(f"log-every: {args.log_every} is not valid; expected 1 or more")
    if args.ui_hz is not None and not 0.2 <= args.ui_hz <= 30:
        return _refuse(f"ui-hz: {args.ui_hz} is not valid; expected 0.2 to 30")

    pace: Pace = "auto"
    if args.pace is not None:
        if args.headless:
            return _refuse("pace: headless runs are never paced (they go at full speed); drop --pace")
        try:
            pace = parse_pace(args.pace)
        except NntuiError as exc:
            return _refuse(str(exc))
    if args.serve:
        from nntui.serve import DEFAULT_HOST, DEFAULT_PORT, run_serve, tab_argv

        return run_serve(args.host or DEFAULT_HOST, args.port or DEFAULT_PORT,
                         tab_argv(sys.argv[1:] if argv is None else argv), args.out)

    if args.headless:
        if args.on_diverge == "pause":
            return _refuse("on-diverge: 'pause' needs the dashboard (nobody can resume a headless run); "
                           "choose stop or lower")
        from nntui.headless import run_headless

        return run_headless(
            config, out=args.out, json_line=args.json, log_every=args.log_every, resume=args.resume,
            checkpoint_every=args.checkpoint_every, on_diverge=args.on_diverge or "stop",
        )

    # a tab of nntui --serve has pipes, not a terminal: Textual's web driver talks to the browser
    web_tab = os.environ.get("TEXTUAL_DRIVER", "").endswith("web_driver:WebDriver")
    if not web_tab and not (sys.stdin.isatty() and sys.stdout.isatty()):
        print(
            "nntui: the dashboard needs a terminal (stdin/stdout are not a TTY).\n"
            "For scripts, cron and CI run:  nntui --headless [flags]   (see nntui --help)",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    from nntui.ui.factory import run_app

    return run_app(
        config, out=args.out, ui_hz=args.ui_hz, resume=plan, checkpoint_every=args.checkpoint_every,
        on_diverge=args.on_diverge or "pause", host=args.worker, pace=pace, compare=args.compare or (),
        on_hangup=args.on_hangup,
    )


def _refuse(message: str) -> int:
    """Bad input: one line naming the setting and the value, exit 2."""
    print(f"nntui: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT
