"""One browser tab's dashboard (`nntui --serve` starts this once per websocket connection).

    python -m nntui.serve_tab [--out-root DIR] -- <nntui flags>

textual-serve runs the same command for every tab, so the tab makes its own run directory
unique: it claims DIR/tab-1, tab-2, … with `os.mkdir`, which fails if the name exists, so
two tabs opened at the same moment never share one. It then runs `nntui` with the tab's
flags and `--out DIR/tab-N`; Textual talks to the browser through the web driver that
textual-serve chose for it.
"""

from __future__ import annotations

import itertools
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

TAB_PREFIX = "tab-"


def claim_tab_dir(root: str | Path) -> Path:
    """The first DIR/tab-N that did not exist, now created (atomically: one tab per name)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for n in itertools.count(1):
        path = root / f"{TAB_PREFIX}{n}"
        try:
            os.mkdir(path)
        except FileExistsError:
            continue
        return path
    raise AssertionError("unreachable")


def _detach() -> None:
    """Make the server the only source of this tab's stop signals.

    Own process group: a Ctrl-C typed at the server's terminal reaches the server only, which
    passes it on to each tab once. Default dispositions: a server started under nohup, or in
    the background by a script, hands its tabs SIGHUP or SIGINT ignored, and the app keeps an
    ignored signal ignored; but the server closes a tab with SIGHUP and stops it on Ctrl-C with
    SIGINT. And if the server dies without a word (SIGKILL), Linux sends the tab SIGHUP: it
    saves its run and exits instead of training on as an orphan."""
    try:
        os.setpgid(0, 0)
    except OSError:
        pass
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if (sig := getattr(signal, name, None)) is not None:
            signal.signal(sig, signal.default_int_handler if name == "SIGINT" else signal.SIG_DFL)
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            pr_set_pdeathsig = 1
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGHUP), 0, 0, 0)
        except (OSError, AttributeError):
            pass
        if os.getppid() == 1:  # the server died before the line above
            sys.exit(129)


def main(argv: Sequence[str] | None = None) -> int:
    _detach()
    args = list(sys.argv[1:] if argv is None else argv)
    root: str | None = None
    if args[:1] == ["--out-root"] and len(args) >= 2:
        root, args = args[1], args[2:]
    if args[:1] == ["--"]:
        args = args[1:]
    out = claim_tab_dir(root) if root is not None else None

    # the one way flags become a dashboard: `nntui` itself (it knows the browser is this tab's
    # terminal from TEXTUAL_DRIVER, which textual-serve sets)
    from nntui.cli import main as nntui

    try:
        return nntui([*args, "--out", str(out)] if out is not None else args)
    finally:
        if out is not None:
            try:
                os.rmdir(out)  # only if empty: a tab closed before any run leaves nothing behind
            except OSError:
                pass


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the server's Ctrl-C before the app had its own handlers: no run yet
        sys.exit(130)
