"""`nntui sweep`: a grid of trials on the usual flags, a leaderboard at the end.

    nntui sweep --out runs/acts --vary activation=relu,tanh,sigmoid --vary seed=0..2 --headless

The usual flags (or --config) set the base config, as for one run; --vary makes the grid.
Like `nntui` itself, only the config modules load at start (no torch: the trials run in
worker processes), so --help and bad input answer at once. Without --headless the sweep's
dashboard opens (nntui/ui/sweep_app.py); it needs a terminal, as `nntui`'s does.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from nntui.cli import build_parser, config_from_args, join_negative_values
from nntui.engine.config import FIELD_NAMES, TrainConfig
from nntui.engine.errors import ConfigError, NntuiError
from nntui.engine.formats import MISSING, fmt_duration, fmt_loss
from nntui.engine.grid import MAX_TRIALS_UNASKED, Axis, build_grid, load_sweep_config
from nntui.engine.parsing import apply_text
from nntui.engine.presets import preset
from nntui.engine.raysweep import (
    DEFAULT_RETRIES,
    INSTALL_HINT,
    MAX_JOBS,
    ClusterUnreachable,
    leave,
    pool_from_flags,
)
from nntui.engine.session import check_checkpoint_every
from nntui.engine.signals import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, SIGNAL_EXIT, SignalStop
from nntui.engine.sweep import SWEEP_TOML, Sweep, SweepResult, TrialFinished, TrialMessage, default_jobs

SWEEP_OPTIONS = ("help", "version", "headless", "preset", "config", "out", "json", "checkpoint_every", "on_diverge")
"""nntui's own options a sweep takes (besides the training settings); any other one (a
single run's or the dashboard's, including ones added to cli.py later) is hidden from
--help and refused in one line."""
WHY_NOT = {
    "resume": "a sweep resumes when the same command runs again (same --out, same grid)",
    "log_every": "a sweep prints one line per finished trial",
    "worker": "sweep trials always run in worker processes (see --jobs)",
    "list_devices": "run nntui --list-devices",
}

DESCRIPTION = (
    "Train every combination of the --vary values (the grid is their product), each trial in its own "
    "run directory under --out, and rank them in a leaderboard."
)
EPILOG = """\
the grid:
  --vary FIELD=V1,V2,...   one axis; repeat it, the grid is the product. FIELD is any training
                           setting below (batch-size or batch_size). Each value is checked as
                           the setting's own flag checks it.
  --vary seed=0..4         whole numbers 0 to 4, inclusive
  --vary lr=1e-4..1e-1:log4   four log-spaced values (0.0001 0.001 0.01 0.1); :linN for evenly spaced
  --vary hidden=10/6,32/32    list-valued settings (hidden, activation, inputs) use / inside a value
  a [sweep] table in --config does the same (--vary replaces the file's axis of the same field):
      [sweep.vary]
      lr = [0.1, 0.01]
      hidden = [[10, 6], [32, 32]]
      seed = "0..4"              (a string: the --vary syntax)

what --out gets:
  one run directory per trial, named by its varied values (activation=tanh,lr=0.01,seed=3);
  sweep.toml (the base config and the grid; itself a valid --config); leaderboard.csv and
  leaderboard.json (one row per trial: varied values, status, final and best loss, accuracy or
  r2, epochs, steps/s, training time), rewritten as trials finish.
  Run the same command again to resume: finished trials are skipped, the others continue from
  their checkpoints. Another grid or base config in the same --out is refused.

the dashboard (without --headless):
  every trial's loss curve, coloured by its value of the first --vary field; a leaderboard that
  sorts itself by best loss as trials finish; up/down highlights a trial, enter shows its fit or
  decision boundary; s stops the sweep, q stops it and quits (every trial saved either way).

on a Ray cluster (pip install 'nntui[ray]'; nntui never starts one):
  --ray [ADDRESS]          run each trial as a Ray task on the cluster whose head is ADDRESS (HOST:PORT,
                           as `ray start --head` prints it); auto (the default): RAY_ADDRESS, or the head
                           started on this machine. Run nntui sweep on a node of the cluster. Each trial
                           asks for 1 CPU; the run directories come back to --out on this machine
                           (metrics rows live, checkpoints as they are saved); resume and signals as above.
  --ray-gpus G             GPUs per trial (0.25: four trials share a GPU); the trials train on cuda
  --retries N              a trial whose worker process dies is retried from its last checkpoint
                           received, N times (default 2), then marked failed
  --ray-shared-out         the workers write their run directories themselves (--out on a shared
                           file system, at the same path on every node)

examples:
  nntui sweep --out runs/acts --vary activation=relu,tanh,sigmoid,step --vary seed=0..2 --headless
  nntui sweep --out runs/lr --optimizer adam --vary lr=1e-4..1e-1:log4 --jobs 2 --json
  nntui sweep --config sweep.toml --out runs/s --headless

exit codes: 0 every trial ran (done or diverged: both are results), 1 a trial failed,
            2 bad input, 129 SIGHUP, 130 Ctrl-C, 143 SIGTERM (every trial saved first)
"""


def build_sweep_parser() -> argparse.ArgumentParser:
    """nntui's own parser (the same training flags, --config, --preset, --out, --json,
    --headless, --checkpoint-every, --on-diverge) plus the sweep's flags."""
    p = build_parser()
    p.prog = "nntui sweep"
    p.description = DESCRIPTION
    p.epilog = EPILOG
    # argparse cannot remove an option; the single-run ones are hidden and refused after parsing
    for action in p._actions:
        if action.dest not in SWEEP_OPTIONS and action.dest not in FIELD_NAMES:
            action.help = argparse.SUPPRESS
        elif action.dest == "out":
            action.help = "the sweep's folder (required): run directories, sweep.toml, leaderboard.csv/.json"
            action.metavar = "SWEEPDIR"
        elif action.dest == "headless":
            action.help = ("no dashboard: one line per finished trial and the leaderboard at the end (scripts, CI, "
                           "servers); without it the sweep's dashboard opens (a terminal is needed)")
        elif action.dest == "json":
            action.help = "print the leaderboard as one JSON line on stdout at the end"
        elif action.dest == "on_diverge":
            action.help = "when a trial's loss becomes NaN/inf: stop it (default; marked diverged) or lower its lr"
            action.choices = ("stop", "lower")
        elif action.dest == "checkpoint_every":
            action.help = "each trial writes a checkpoint this often (default 30; also at its end and on a signal)"
    g = p.add_argument_group("sweep")
    g.add_argument("--vary", action="append", default=[], metavar="FIELD=V1,V2,...",
                   help="vary one setting over these values (repeat for a grid; ranges: seed=0..4, lr=1e-4..1e-1:log4)")
    g.add_argument("--jobs", type=int, default=None, metavar="N",
                   help=f"trials at once, each in its own process with one torch thread (default: {default_jobs()}, "
                   "the cores)")
    g.add_argument("--yes", action="store_true", help=f"run a grid of more than {MAX_TRIALS_UNASKED:,} trials")
    r = p.add_argument_group("on a Ray cluster (see below)")
    r.add_argument("--ray", nargs="?", const="auto", default=None, metavar="ADDRESS",
                   help=f"run the trials on the Ray cluster at HOST:PORT, or auto (default) ({INSTALL_HINT})")
    r.add_argument("--ray-gpus", default=None, metavar="G", help="GPUs per trial, e.g. 0.25 (default 0: CPU)")
    r.add_argument("--retries", type=int, default=None, metavar="N",
                   help=f"retries of a trial whose worker died, from its last checkpoint (default {DEFAULT_RETRIES})")
    r.add_argument("--ray-shared-out", action="store_true",
                   help="workers write their run directories on a shared --out themselves")
    return p


def base_config(args: argparse.Namespace) -> tuple[TrainConfig, list[Axis]]:
    """preset ← --config (whose [sweep] table gives axes) ← flags, as `nntui` builds one run's."""
    if not args.config:
        config, _ = config_from_args(args)
        return config, []
    # cli.config_from_args reads --config with tomlio.load_toml, which refuses a [sweep] key
    base, axes = load_sweep_config(args.config, preset(args.preset or "lecture"))
    given = {name: getattr(args, name) for name in FIELD_NAMES if getattr(args, name) is not None}
    return apply_text(base, given), axes


def main(argv: Sequence[str] | None = None) -> int:
    """`nntui sweep ...` (argv without the word sweep) → exit code."""
    parser = build_sweep_parser()
    args = parser.parse_args(join_negative_values(sys.argv[2:] if argv is None else argv))
    for action in parser._actions:
        value = getattr(args, action.dest, None)
        if action.help == argparse.SUPPRESS and action.option_strings and value != action.default:
            shown = "" if value is True else f" {value}"
            why = WHY_NOT.get(action.dest, "it is for a single run or the dashboard")
            return _refuse(f"{action.option_strings[0]}{shown}: not for a sweep; {why}")
    try:
        pool = pool_from_flags(args.ray, args.ray_gpus, args.retries, args.ray_shared_out, args.out)
        base, toml_axes = base_config(args)
        check_checkpoint_every(args.checkpoint_every)
        if not args.out:
            raise ConfigError("--out", "", "a sweep needs a folder for its trials: --out SWEEPDIR")
        if args.jobs is not None and not 1 <= args.jobs <= 1024:
            raise ConfigError("--jobs", args.jobs, "expected 1 to 1024 processes")
        grid = build_grid(args.vary, base, toml_axes, yes=args.yes)
        sweep = Sweep(base, grid, args.out, jobs=args.jobs or (MAX_JOBS if pool else None),
                      checkpoint_every=args.checkpoint_every, on_diverge=args.on_diverge or "stop", backend=pool)
        toml = Path(args.out) / SWEEP_TOML
        fresh, had_toml = not Path(args.out).exists(), toml.exists()
        if pool is not None:
            pool.connect()  # before sweep.prepare writes anything: a cluster that is not there leaves no trace
        sweep.prepare()
    except ClusterUnreachable as exc:
        print(f"nntui: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except NntuiError as exc:
        return _refuse(str(exc))

    if not args.headless:
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            # as `nntui` refuses its dashboard without a terminal; nothing is left behind
            if not had_toml:
                with contextlib.suppress(OSError):
                    toml.unlink()
                    if fresh:
                        Path(args.out).rmdir()
            print("nntui: the sweep's dashboard needs a terminal (stdin/stdout are not a TTY).\n"
                  "For scripts, cron and CI add --headless:  nntui sweep --headless [flags]   "
                  "(see nntui sweep --help)", file=sys.stderr)
            return EXIT_BAD_INPUT
        return leave(pool, dashboard(sweep, args))

    err = sys.stderr
    report = Report(sweep, err, where=pool.describe() if pool else None)
    report.start()
    interrupted = False
    with SignalStop(lambda name: sweep.stop(f"interrupted by {name}")) as signals:
        try:
            result = sweep.run(report)
        except NntuiError as exc:
            report.say(f"nntui: error: {exc}")
            return leave(pool, EXIT_FAILED)
        except KeyboardInterrupt:  # a second Ctrl-C: workers were killed, the leaderboard written
            interrupted = True
            result = SweepResult(sweep.rows(), sweep.counts(), "interrupted by SIGINT")
    report.end(result, table=sys.stdout if not args.json else err)
    if args.json:
        from nntui.engine.sweep_leaderboard import leaderboard_json

        print(leaderboard_json(sweep, result.rows), flush=True)
    if interrupted:
        code = SIGNAL_EXIT["SIGINT"]
    elif signals.received:
        code = SIGNAL_EXIT[signals.received]
    else:
        code = EXIT_FAILED if result.counts.get("failed") else EXIT_OK
    return leave(pool, code)  # a Ray driver exits here, at once


def dashboard(sweep: Sweep, args: argparse.Namespace) -> int:
    """The sweep's dashboard in this terminal; once it closes (the sweep stopped or done, every
    trial saved), the leaderboard printed as --headless prints it. Exit codes as headless."""
    from nntui.ui.sweep_app import create_sweep_app

    app = create_sweep_app(sweep)
    try:
        code = app.run()
    except OSError:
        if app.ended_by != "SIGHUP":  # a terminal that hung up may fail the last write
            raise
        code = None
    if app.return_code not in (None, 0):  # Textual's own: the app failed
        return int(app.return_code or EXIT_FAILED)
    code = app.exit_code() if code is None else int(code)
    result = app.result or SweepResult(sweep.rows(), sweep.counts(), "stopped")
    with contextlib.suppress(OSError):  # nobody to read it after a hang-up
        report = Report(sweep, sys.stderr)
        if app.error:
            report.say(f"nntui: error: {app.error}")
        report.end(result, table=sys.stdout if not args.json else sys.stderr)
        if args.json:
            from nntui.engine.sweep_leaderboard import leaderboard_json

            print(leaderboard_json(sweep, result.rows), flush=True)
    return code


class Report:
    """The headless view: a line per finished trial, the leaderboard at the end."""

    def __init__(self, sweep: Sweep, stream: TextIO, where: str | None = None) -> None:
        self.sweep = sweep
        self.stream = stream
        self.where = where
        """Where the trials run when not in local processes (a Ray cluster)."""
        self.done = 0
        self.earlier = 0

    def say(self, text: str, stream: TextIO | None = None) -> None:
        print(text, file=stream or self.stream, flush=True)

    def start(self) -> None:
        s = self.sweep
        pending = s.pending
        resumed = sum(1 for t in pending if s.job(t).resume)
        self.say(
            f"nntui: sweep of {s.grid.describe()} in {s.out}: {len(s.trials) - len(pending)} finished earlier, "
            f"{resumed} resume from checkpoints, {len(pending) - resumed} new; "
            + (f"on {self.where}" if self.where else f"{min(s.jobs, len(pending)) if pending else 0} processes")
        )

    def __call__(self, message: TrialMessage) -> None:
        if not isinstance(message, TrialFinished):
            return
        if message.earlier:
            self.earlier += 1
            return
        self.done += 1
        trial = self.sweep.trials[message.trial]
        total = len(self.sweep.trials)
        position = self.done + self.earlier
        self.say(f"nntui: [{position:>{len(str(total))}}/{total}] {message.status:<11} {trial.name}  "
                 + _numbers(message.summary, message.status))

    def end(self, result: SweepResult, table: TextIO) -> None:
        counts = ", ".join(f"{n} {status}" for status, n in sorted(result.counts.items()))
        if result.stopped:
            self.say(f"nntui: {result.stopped}: every running trial saved; {counts}. "
                     "Run the same command again to go on.")
        self.say(f"nntui: leaderboard ({counts}), best loss first; also in {self.sweep.out}/leaderboard.csv")
        for line in leaderboard_table(result.rows, self.sweep.grid.fields):
            self.say(line, table)


def _numbers(summary: dict[str, Any], status: str) -> str:
    if status == "failed":
        return f"error: {summary.get('error', '')}"
    parts = [f"best {_loss(summary.get('best_loss'))}", f"final {_loss(summary.get('final_loss'))}"]
    for metric in ("accuracy", "r2"):
        if isinstance(summary.get(metric), (int, float)):
            parts.append(f"{metric} {summary[metric]:.4g}")
            break
    parts.append(f"epoch {summary.get('epochs', 0)}")
    if isinstance(summary.get("steps_per_s"), (int, float)):
        parts.append(f"{summary['steps_per_s']:,.0f} steps/s")
    if isinstance(summary.get("elapsed_s"), (int, float)):
        parts.append(fmt_duration(summary["elapsed_s"]))
    return "  ".join(parts)


def _loss(value: Any) -> str:
    return fmt_loss(float(value), 6) if isinstance(value, (int, float)) else MISSING


def leaderboard_table(rows: list[dict[str, Any]], varied: Sequence[str]) -> list[str]:
    """The leaderboard as aligned text columns."""
    head = ["#", *varied, "status", "best loss", "final loss", "metric", "epochs", "steps/s", "time"]
    body = []
    for i, row in enumerate(rows, 1):
        metric = row.get("metric_value")
        shown = f"{row['metric']} {metric:.4g}" if isinstance(metric, float) and math.isfinite(metric) else MISSING
        rate = row.get("steps_per_s")
        took = row.get("elapsed_s")
        body.append([
            str(i), *(str(row[f]) for f in varied), row["status"], _loss(row.get("best_loss")),
            _loss(row.get("final_loss")), shown, str(row.get("epochs") if row.get("epochs") is not None else MISSING),
            f"{rate:,.0f}" if isinstance(rate, (int, float)) else MISSING,
            fmt_duration(took) if isinstance(took, (int, float)) else MISSING,
        ])
    widths = [max(len(r[j]) for r in [head, *body]) for j in range(len(head))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in [head, *body]]


def _refuse(message: str) -> int:
    """Bad input: one line naming the flag and the value, exit 2."""
    print(f"nntui: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


if __name__ == "__main__":  # `python -m nntui.sweep_cli ...`, until `nntui sweep` dispatches here
    sys.exit(main(sys.argv[1:]))
