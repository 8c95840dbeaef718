"""`nntui --serve`: the dashboard in a browser tab, through textual-serve.

textual-serve starts one process per websocket connection (one per tab) from a shell
command. That command is `python -m nntui.serve_tab`, which claims the next free
`--out` subdirectory (tab-1, tab-2, …) before it builds the app, so no two tabs write one
run. Each tab runs in its own process group, so the server alone decides what a Ctrl-C
means for it: the server passes its stop signal to every tab (each saves its run and exits
128 + the signal), waits for them, then exits with the same code.

Closing a tab hangs its app up (SIGHUP: the app saves its run and exits 129, as when an SSH
connection drops); a tab that has not gone after `QUIT_GRACE_S` gets SIGTERM (which also
saves), then SIGKILL.

Only the flags and checks are importable without textual-serve (the CLI needs them for
--help and bad input); the server itself imports it when it starts.
"""

from __future__ import annotations

import argparse
import errno
import os
import re
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from nntui.engine.signals import EXIT_BAD_INPUT, SIGNAL_EXIT, catchable

if TYPE_CHECKING:
    import asyncio
    from asyncio.subprocess import Process

    from aiohttp import web

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
INSTALL_HINT = "nntui: error: --serve needs textual-serve: pip install 'nntui[serve]' (or pip install textual-serve)"
QUIT_GRACE_S = 10.0
"""A closed tab's app saves and exits in about a second (0.5–1.2 s measured under load);
one still there after this gets SIGTERM."""
TERM_GRACE_S = 5.0
"""After SIGTERM (which also saves), SIGKILL."""
STOP_ALL_S = 20.0
"""Ctrl-C on the server: how long every tab gets to save before it is killed."""
SERVE_FLAGS = {"--serve": False, "--host": True, "--port": True, "--out": True}
"""Flags the server keeps to itself (True: takes a value); every other flag goes to each tab."""


# -- flags and bad input -----------------------------------------------------------------------


def add_serve_arguments(group: argparse._ArgumentGroup | argparse.ArgumentParser) -> None:
    """--serve, --host, --port. Host and port default to None so that a --port without
    --serve can be refused instead of silently opening the terminal dashboard."""
    group.add_argument("--serve", action="store_true",
                       help="serve the dashboard to browser tabs (each tab its own run); needs nntui[serve]")
    group.add_argument("--host", default=None, metavar="HOST",
                       help=f"--serve: the address to listen on (default {DEFAULT_HOST}; "
                       "anything else is reachable without a password)")
    group.add_argument("--port", type=int, default=None, metavar="PORT",
                       help=f"--serve: the port to listen on (default {DEFAULT_PORT})")


def check_serve_args(args: argparse.Namespace) -> str | None:
    """The one-line refusal for bad --serve input, or None. Binds the port once to see that it
    is free: a port in use would otherwise surface as a traceback after the banner."""
    serve = bool(getattr(args, "serve", False))
    host = getattr(args, "host", None)
    port = getattr(args, "port", None)
    if not serve:
        if host is not None or port is not None:
            flag = "--host" if host is not None else "--port"
            return f"{flag} only applies to --serve"
        return None
    if getattr(args, "headless", False):
        return "--serve and --headless: choose one (--serve runs the dashboard in browser tabs)"
    if getattr(args, "resume", None) and not getattr(args, "out", None):
        return ("--serve with --resume needs --out DIR: every tab continues the run into its own "
                "DIR/tab-N (writing back into one directory from several tabs would mix runs)")
    port = DEFAULT_PORT if port is None else port
    if not 1 <= port <= 65535:
        return f"port: {port} is not valid; expected 1 to 65535"
    return check_address(DEFAULT_HOST if host is None else host, port)


def check_address(host: str, port: int) -> str | None:
    """None if `host` resolves and every address it resolves to can be bound at `port`."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, socket.gaierror) and exc.strerror else str(exc)
        return f"host: {host!r} does not resolve ({reason})"
    for family, kind, proto, _, address in infos:
        with socket.socket(family, kind, proto) as sock:
            if os.name != "nt":  # as aiohttp binds: a port in TIME_WAIT is free, one with a listener is not
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    return f"port: {port} is already in use on {address[0]}; choose another with --port"
                if exc.errno == errno.EADDRNOTAVAIL:
                    return f"host: {host!r} ({address[0]}) is not an address of this machine"
                return f"cannot listen on {address[0]} port {port}: {exc.strerror or exc}"
    return None


def is_loopback(host: str) -> bool:
    """True if every address `host` resolves to is a loopback one (127.0.0.0/8, ::1)."""
    import ipaddress
    import socket

    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return False
    return bool(infos) and all(ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in infos)


def tab_argv(argv: Sequence[str]) -> list[str]:
    """The command line minus the flags the server keeps (--serve, --host, --port, --out):
    what every tab's app is started with."""
    out: list[str] = []
    it = iter(argv)
    for arg in it:
        name, eq, _ = arg.partition("=")
        if name in SERVE_FLAGS:
            if SERVE_FLAGS[name] and not eq:
                next(it, None)
            continue
        out.append(arg)
    return out


def tab_command(app_argv: Sequence[str], out: str | Path | None) -> str:
    """The shell command textual-serve runs per tab. `exec`: the tab's app is then the
    server's own child (its pid is the one textual-serve holds), not a shell's."""
    import shlex

    argv = [sys.executable, "-m", "nntui.serve_tab"]
    if out is not None:
        argv += ["--out-root", str(out)]
    return "exec " + shlex.join([*argv, "--", *app_argv])


# -- the server ------------------------------------------------------------------------------------


def run_serve(host: str, port: int, app_argv: list[str], out: str | None) -> int:
    """Serve the dashboard until a stop signal; returns the exit code (130 after Ctrl-C).

    `app_argv`: the flags every tab's app gets (see `tab_argv`); `out`: the directory that
    holds one run directory per tab, or None (tabs write no run)."""
    try:
        import textual_serve.server  # noqa: F401
    except ImportError:
        print(INSTALL_HINT, file=sys.stderr)
        return EXIT_BAD_INPUT
    root: Path | None = None
    if out is not None:
        root = Path(out).absolute()
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            print(f"nntui: error: out: cannot create {root}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
    if not is_loopback(host):
        print(f"nntui: warning: serving on {host} with no authentication: anyone who can reach port {port} "
              "can train here and browse files as you", file=sys.stderr)
    server = _make_server(host, port, tab_command(app_argv, root), root)
    try:
        server.serve()
    except OSError as exc:  # lost the port between the check and the bind
        print(f"nntui: error: cannot listen on {host} port {port}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return SIGNAL_EXIT[server.stopped_by] if server.stopped_by else 0


class _Serving(Protocol):
    stopped_by: str | None

    def serve(self, debug: bool = False) -> None: ...


def _make_server(host: str, port: int, command: str, root: Path | None) -> _Serving:
    """The textual-serve Server, with per-tab process tracking and nntui's own signal handling.

    Defined here, not at module level, so that importing this module (every `nntui` start
    does, for the flags) needs neither textual-serve nor asyncio."""
    import asyncio
    import logging

    import textual_serve.server as ts_server
    from textual_serve.app_service import AppService
    from textual_serve.server import Server

    class TabService(AppService):
        """One tab's app process: tracked (so Ctrl-C can reach it) and never left behind."""

        live: ClassVar[set[TabService]] = set()

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._reaper: asyncio.Task[None] | None = None

        @property
        def process(self) -> Process | None:
            return self._process

        async def _open_app_process(self, width: int = 80, height: int = 24) -> Process:
            process = await super()._open_app_process(width, height)
            TabService.live.add(self)
            return process

        async def run(self) -> None:
            try:
                await super().run()
            finally:
                # the app has gone (quit, crash, killed): the browser tab says "Session ended"
                TabService.live.discard(self)
                try:
                    await self.remote_close()
                except Exception:  # the socket is gone already
                    pass

        async def send_meta(self, data: dict[str, str | int | bool | None]) -> bool:
            """textual-serve says "quit" when the tab closes; nntui hangs the app up instead.

            "quit" is Textual's ExitApp, which ends the app around nntui's own leaving path:
            Textual cancels the trainer pump first, so the app waits out its timeouts (the tab
            took ≈4 s to go) and kills the trainer child if it has not saved within 1.5 s. A
            closed tab is a hang-up; SIGHUP takes the app's tested save-and-exit path (129)."""
            if data.get("type") != "quit":
                return await super().send_meta(data)
            process = self._process
            if process is not None and process.returncode is None:
                send(process.pid, signal.SIGHUP)
                if self._reaper is None:  # never wait for ever, as textual-serve's stop() would
                    self._reaper = asyncio.create_task(reap(process, QUIT_GRACE_S))
            return True


    loopback = is_loopback(host)

    class NntuiServer(Server):
        stopped_by: str | None = None

        async def handle_index(self, request: web.Request) -> web.StreamResponse:
            """The page, its URLs made from the address the browser used.

            textual-serve writes absolute URLs from --host and --port into the page: behind
            `ssh -L 9000:127.0.0.1:8000`, or with --host 0.0.0.0, they point where the browser
            cannot go (textual-serve issue 42). No await between setting and use: one request's
            address never reaches another's page."""
            refuse_foreign(request, loopback, websocket=False)
            self.public_url = f"{request.scheme}://{request.host}"
            return await super().handle_index(request)

        async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
            """A new tab's app, for a page that this server served (see `refuse_foreign`)."""
            refuse_foreign(request, loopback, websocket=True)
            return await super().handle_websocket(request)

        def initialize_logging(self) -> None:
            """textual-serve's logging, minus a line per HTTP request."""
            super().initialize_logging()
            logging.getLogger("aiohttp.access").setLevel(logging.WARNING)

        async def on_startup(self, app: web.Application) -> None:
            """nntui's own banner, and its stop signals in place of textual-serve's."""
            loop = asyncio.get_running_loop()
            for name, sig in catchable():
                loop.add_signal_handler(sig, self._signalled, name)
            where = f"; each tab's run goes to {root}/tab-N" if root is not None else ""
            print(f"nntui: serving the dashboard on http://{_url_host(self.host)}:{self.port}/ "
                  f"(every tab its own run{where}). Ctrl-C stops them all.", file=sys.stderr, flush=True)

        def _signalled(self, name: str) -> None:
            if self.stopped_by is not None:
                if name == "SIGINT":  # a second Ctrl-C: the user really wants out
                    for tab in list(TabService.live):
                        if tab.process is not None:
                            kill_group(tab.process.pid, signal.SIGKILL)
                return
            self.stopped_by = name
            asyncio.get_running_loop().create_task(self._stop_all(name))

        async def _stop_all(self, name: str) -> None:
            tabs = [t.process for t in TabService.live if t.process is not None and t.process.returncode is None]
            if tabs:
                print(f"nntui: {name}: stopping {len(tabs)} tab(s), saving each run…", file=sys.stderr, flush=True)
            sig = signal.Signals[name]
            for process in tabs:
                send(process.pid, sig)
            await asyncio.gather(*(reap(p, STOP_ALL_S) for p in tabs))
            asyncio.get_running_loop().call_soon(self.request_exit)

    # textual-serve builds its AppService by this module-level name in handle_websocket;
    # one server per process, so pointing it at the subclass for good is safe
    ts_server.AppService = TabService  # type: ignore[attr-defined]
    return NntuiServer(command, host=host, port=port, title="nntui")


HOST_HEADER = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?$")


def refuse_foreign(request: web.Request, loopback: bool, *, websocket: bool) -> None:
    """Any web page the user visits may open a websocket to 127.0.0.1 (browsers do not apply
    the same-origin rule to websockets) and would get a dashboard to drive, file picker
    included. So a websocket must come from a page of this server (Origin = Host), and on
    loopback the Host must be a loopback name, which a DNS-rebinding page cannot give."""
    from urllib.parse import urlsplit

    from aiohttp import web

    host = request.headers.get("Host", "")
    if not HOST_HEADER.match(host):
        raise web.HTTPBadRequest(text="nntui: bad Host header\n")
    if loopback and not _loopback_name(urlsplit("//" + host).hostname or ""):
        port = urlsplit("//" + host).port or DEFAULT_PORT
        raise web.HTTPForbidden(text=f"nntui serves this machine's own browser only: open http://localhost:{port}/ "
                                "(from another machine, through an SSH port forward)\n")
    origin = request.headers.get("Origin")
    if websocket and origin is not None and urlsplit(origin).netloc.lower() != host.lower():
        raise web.HTTPForbidden(text="nntui: a page of another site may not open a dashboard here\n")


def _loopback_name(name: str) -> bool:
    import ipaddress

    if name == "localhost" or name.endswith(".localhost"):  # browsers resolve these to loopback themselves
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


async def reap(process: Process, grace: float) -> None:
    """Wait `grace` s for the app to exit; then SIGTERM its group (the app saves on it), then SIGKILL."""
    import asyncio

    for sig, wait in ((signal.SIGTERM, TERM_GRACE_S), (signal.SIGKILL, 5.0)):
        try:
            await asyncio.wait_for(process.wait(), grace)
            return
        except asyncio.TimeoutError:
            print(f"nntui: tab process {process.pid} did not exit; sending {sig.name}", file=sys.stderr, flush=True)
            kill_group(process.pid, sig)
            grace = wait
    try:
        await asyncio.wait_for(process.wait(), grace)
    except asyncio.TimeoutError:
        pass


def send(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def kill_group(pid: int, sig: int) -> None:
    """The tab's app leads its own process group (serve_tab): the trainer child goes with it."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        send(pid, sig)


def _url_host(host: str) -> str:
    """How a browser would write `host`; for "every address", this machine's name."""
    if host in ("0.0.0.0", "::", ""):
        import socket

        return socket.gethostname()
    return f"[{host}]" if ":" in host else host
