"""`nntui --serve` in a real headless Chromium: a tab draws the dashboard, a key press in the
page trains, closing the page saves the run and leaves no process, Ctrl-C saves every tab.

Nothing is faked: the real `nntui --serve` on a free loopback port, Debian's Chromium driven
over its DevTools protocol (aiohttp's websocket client, which textual-serve brings). What the
page shows is read two ways: xterm.js's own screen buffer (the text it draws), caught by a
script the page runs before textual-serve's own; and a screenshot, decoded by the browser,
whose pixels must not be a blank page. The screenshot is kept as dashboard.png.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
needs_chromium = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                    reason="chromium is not installed (.ci/run installs it)")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(120),
]

DEADLINE = 45.0
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "--window-size=1280,900",
)
CATCH_TERMINAL = """
// textual-serve's page does `this.terminal = new Terminal(...)` on an object of its own; a
// setter on Object.prototype sees that assignment first and keeps the xterm.js instance
window.__nntuiTerminals = [];
Object.defineProperty(Object.prototype, "terminal", {
  configurable: true,
  get() { return undefined; },
  set(value) {
    Object.defineProperty(this, "terminal", {value, writable: true, configurable: true, enumerable: true});
    if (value && value.buffer) window.__nntuiTerminals.push(value);
  },
});
"""
READ_SCREEN = """(() => {
  const t = window.__nntuiTerminals[0];
  if (!t) return null;
  const b = t.buffer.active, rows = [];
  for (let i = 0; i < t.rows; i++) {
    const line = b.getLine(b.viewportY + i);
    rows.push(line ? line.translateToString(true) : "");
  }
  return rows.join("\\n");
})()"""
PIXEL_STATS = """(async (data) => {
  const bitmap = await createImageBitmap(await (await fetch("data:image/png;base64," + data)).blob());
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext("2d");
  ctx.drawImage(bitmap, 0, 0);
  const px = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
  const counts = new Map();
  for (let i = 0; i < px.length; i += 4) {
    const c = (px[i] << 16) | (px[i + 1] << 8) | px[i + 2];
    counts.set(c, (counts.get(c) || 0) + 1);
  }
  const commonest = Math.max(...counts.values());
  return {width: bitmap.width, height: bitmap.height, colours: counts.size, other: 1 - commonest / (px.length / 4)};
})"""
"""Size, number of colours, and the share of pixels that are not the commonest colour (the
background): a blank or half-loaded page has few colours and next to no "other"."""


# -- processes ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name: [state, ppid, …]; None if gone or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None if fields[0] == "Z" else fields


def descendants(root: int) -> dict[int, str]:
    """Live descendants of `root`: pid → start time (so a reused pid is not mistaken for one)."""
    children: dict[int, list[int]] = {}
    starts: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry))
            starts[int(entry)] = fields[19]
    out: dict[int, str] = {}
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out[child] = starts[child]
            todo.append(child)
    return out


def still_alive(procs: dict[int, str]) -> dict[int, str]:
    return {pid: start for pid, start in procs.items() if (f := _stat(pid)) is not None and f[19] == start}


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "?"


class Served:
    """`nntui --serve` on a free loopback port, in its own session (so the test can clean up all of it)."""

    def __init__(self, tmp_path: Path, *flags: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = tmp_path / "server.log"
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        env.pop("SSH_CONNECTION", None)
        self._log = self.log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "nntui", "--serve", "--host", "127.0.0.1", "--port", str(self.port), *flags],
            cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.seen: dict[int, str] = {}
        """Every descendant process seen while it served: all must be gone at the end."""

    def wait_listening(self) -> None:
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"the server exited ({self.proc.returncode}):\n{self.output()}"
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"the server did not listen within {DEADLINE}s:\n{self.output()}")

    def note_children(self) -> dict[int, str]:
        now = descendants(self.proc.pid)
        self.seen.update(now)
        return now

    def output(self) -> str:
        self._log.flush()
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        """Whatever the test did: nothing of this server outlives it."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        for pid in still_alive(self.seen):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._log.close()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    started: list[Served] = []

    def start(*flags: str) -> Served:
        server = Served(tmp_path, *flags)
        started.append(server)
        server.wait_listening()
        return server

    yield start
    for server in started:
        server.stop()


# -- the browser ----------------------------------------------------------------------------------


class Page:
    """One tab, driven over the DevTools protocol."""

    def __init__(self, browser: Browser, target: dict[str, Any], ws: Any) -> None:
        self.browser = browser
        self.id = target["id"]
        self.ws = ws
        self._next = 0

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._next += 1
        ident = self._next
        await self.ws.send_json({"id": ident, "method": method, "params": params})
        while True:
            message = await asyncio.wait_for(self.ws.receive_json(), 30)
            if message.get("id") == ident:
                assert "error" not in message, f"{method}: {message['error']}"
                return dict(message["result"])

    async def evaluate(self, expression: str, *, wait: bool = False) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=wait)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    async def screen(self) -> str:
        """The terminal's visible rows as xterm.js holds them ("" before it exists)."""
        return await self.evaluate(READ_SCREEN) or ""

    async def wait_screen(self, predicate: Callable[[str], bool], what: str, timeout: float = DEADLINE) -> str:
        deadline = time.monotonic() + timeout
        shown = ""
        while time.monotonic() < deadline:
            shown = await self.screen()
            if predicate(shown):
                return shown
            await asyncio.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}; the page's terminal showed:\n{shown}")

    async def press(self, key: str, code: str, key_code: int, text: str = "") -> None:
        """A real key event on the page (focused on xterm's input, as a click on the terminal would)."""
        await self.evaluate("document.querySelector('.xterm-helper-textarea').focus()")
        await self.call("Input.dispatchKeyEvent", type="keyDown", key=key, code=code, text=text,
                        windowsVirtualKeyCode=key_code)
        await self.call("Input.dispatchKeyEvent", type="keyUp", key=key, code=code, windowsVirtualKeyCode=key_code)

    async def screenshot(self) -> bytes:
        return base64.b64decode((await self.call("Page.captureScreenshot", format="png"))["data"])

    async def pixel_stats(self, png: bytes) -> dict[str, float]:
        """Decoded by the browser itself (no image library here)."""
        data = base64.b64encode(png).decode()
        return dict(await self.evaluate(f"({PIXEL_STATS})({json.dumps(data)})", wait=True))

    async def close(self) -> None:
        await self.ws.close()
        await self.browser.http("get", f"/json/close/{self.id}")


class Browser:
    """Headless Chromium with an empty profile; its DevTools port is the one it chose itself."""

    def __init__(self) -> None:
        import aiohttp

        self.profile = tempfile.mkdtemp(prefix="nntui-chromium-")
        self.proc = subprocess.Popen(
            [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        self.session = aiohttp.ClientSession()
        self.port = 0

    async def start(self) -> None:
        active = Path(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + DEADLINE
        while not active.exists() or not active.read_text().strip():
            assert self.proc.poll() is None, f"chromium exited ({self.proc.returncode})"
            assert time.monotonic() < deadline, "chromium did not open its DevTools port"
            await asyncio.sleep(0.05)
        self.port = int(active.read_text().split()[0])

    async def http(self, method: str, path: str) -> Any:
        async with self.session.request(method, f"http://127.0.0.1:{self.port}{path}") as response:
            text = await response.text()
            return json.loads(text) if text.startswith("{") else text

    async def open(self, url: str) -> tuple[Page, float]:
        """A new tab at `url`; also returns when the navigation started (time.monotonic)."""
        target = await self.http("put", "/json/new?about:blank")
        ws = await self.session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0)
        page = Page(self, target, ws)
        await page.call("Page.enable")
        await page.call("Page.addScriptToEvaluateOnNewDocument", source=CATCH_TERMINAL)
        started = time.monotonic()
        await page.call("Page.navigate", url=url)
        return page, started

    async def close(self) -> None:
        await self.session.close()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        pytest.fail("textual-serve (and its aiohttp) is not installed: pip install -e '.[serve]'")
    chromium = Browser()
    try:
        await chromium.start()
        yield chromium
    finally:
        await chromium.close()


# -- helpers ------------------------------------------------------------------------------------------


def dashboard_drawn(screen: str) -> bool:
    """The idle dashboard, drawn: the controls, the plots' hint, the status line. (Not the footer:
    Textual shows its key bindings only once the page has focus, see `focused`.)"""
    return all(part in screen for part in ("hidden", "activation", "Start", "press space to train", "IDLE │ epoch 0"))


def focused(screen: str) -> bool:
    """The footer's key bindings: the app has heard that the page has focus."""
    return all(part in screen for part in ("Start/Pause", "Quit"))


def metric_rows(run: Path) -> list[dict[str, str]]:
    try:
        with (run / "metrics.csv").open() as f:
            return list(csv.DictReader(f))
    except FileNotFoundError:
        return []


def has_rows(run: Path) -> bool:
    return len(metric_rows(run)) > 0


async def wait_until(predicate: Callable[[], bool], what: str, timeout: float = DEADLINE) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def start_training(page: Page, run: Path) -> None:
    """Space in the page; then metrics.csv must fill and keep growing."""
    await page.press(" ", "Space", 32, text=" ")
    await wait_until(functools.partial(has_rows, run), f"{run}/metrics.csv to get rows")
    first = len(metric_rows(run))
    await wait_until(lambda: len(metric_rows(run)) > first, f"{run}/metrics.csv to grow")


def check_saved(run: Path, message: str) -> int:
    """summary.json, metrics.csv and the checkpoint agree on where the run stopped."""
    from nntui.engine.checkpoint import load_checkpoint

    summary = json.loads((run / "summary.json").read_text())
    assert summary["message"] == message, summary
    _, checkpoint = load_checkpoint(run)
    rows = metric_rows(run)
    assert rows and int(rows[-1]["epoch"]) == checkpoint.epoch == summary["epochs"] > 0
    return int(summary["epochs"])


async def wait_gone(server: Served, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    left = still_alive(server.seen)
    while left and time.monotonic() < deadline:
        server.note_children()
        await asyncio.sleep(0.1)
        left = still_alive(server.seen)
    if left:
        listing = "\n".join(f"  {pid}: {cmdline(pid)}" for pid in left)
        raise AssertionError(f"{what}: processes left behind:\n{listing}\nserver log:\n{server.output()}")


# -- the tests ------------------------------------------------------------------------------------


@needs_chromium
async def test_a_tab_draws_trains_on_space_and_closing_it_saves_and_leaves_nothing(
    tmp_path: Path, serve: Callable[..., Served], browser: Browser
) -> None:
    server = serve("--epochs", "2000000", "--out", "runs")
    page, started = await browser.open(server.url)
    await page.wait_screen(dashboard_drawn, "the dashboard")
    first_frame = time.monotonic() - started
    # (1) the pixels: a drawn terminal, not a blank page
    png = await page.screenshot()
    (tmp_path / "dashboard.png").write_bytes(png)
    stats = await page.pixel_stats(png)
    assert stats["width"] >= 1000 and stats["colours"] >= 16 and stats["other"] > 0.05, stats
    tabs = server.note_children()
    assert tabs, "no process started for the tab"

    # (2) space through the page starts training; the tab's own run directory fills
    run = tmp_path / "runs" / "tab-1"
    await start_training(page, run)
    await page.wait_screen(focused, "the footer (the page has focus)")
    await page.wait_screen(lambda s: "RUNNING" in s, "the RUNNING status")
    server.note_children()

    # (3) closing the page: the run is saved as q saves it, and nothing of the tab is left
    await page.close()
    closed = time.monotonic()
    await wait_gone(server, "after closing the page")
    gone = time.monotonic() - closed
    assert server.proc.poll() is None, "the server itself stopped"
    epochs = check_saved(run, "interrupted by SIGHUP")
    print(f"\nfirst frame {first_frame:.2f}s after navigation; trained {epochs} epochs; tab gone {gone:.2f}s "
          f"after the page closed; screenshot {stats}")

    server.proc.send_signal(signal.SIGINT)
    assert server.proc.wait(15) == 130, server.output()


@needs_chromium
async def test_ctrl_c_on_the_server_saves_every_tab_and_exits_130(
    tmp_path: Path, serve: Callable[..., Served], browser: Browser
) -> None:
    server = serve("--epochs", "2000000", "--out", "runs")
    pages = []
    for _ in range(2):
        page, _ = await browser.open(server.url)
        await page.wait_screen(dashboard_drawn, "the dashboard")
        pages.append(page)
    runs = sorted((tmp_path / "runs").iterdir())
    assert [r.name for r in runs] == ["tab-1", "tab-2"], runs
    for page in pages:
        await page.press(" ", "Space", 32, text=" ")
    for run in runs:
        await wait_until(functools.partial(has_rows, run), f"{run}/metrics.csv to get rows")
    server.note_children()

    server.proc.send_signal(signal.SIGINT)  # as Ctrl-C in its terminal (the tabs are in groups of their own)
    code = await asyncio.to_thread(server.proc.wait, 30)
    assert code == 130, server.output()
    for run in runs:
        check_saved(run, "interrupted by SIGINT")
    await wait_gone(server, "after Ctrl-C", timeout=10)
    for page in pages:
        await page.close()


async def test_only_pages_of_this_server_on_this_machine_get_a_dashboard(serve: Callable[..., Served]) -> None:
    """Browsers let any site open a websocket to 127.0.0.1; a DNS-rebinding site can even be
    127.0.0.1. Neither may start a dashboard. And the page's URLs follow the address the
    browser used, so an SSH forward onto another local port works."""
    import aiohttp

    server = serve()
    port = server.port
    async with aiohttp.ClientSession() as http:
        async with http.get(server.url, headers={"Host": "localhost:9000"}) as response:
            assert response.status == 200
            assert 'data-session-websocket-url="ws://localhost:9000/ws"' in await response.text()
        async with http.get(server.url, headers={"Host": f"rebound.example:{port}"}) as response:
            assert response.status == 403
            assert "http://localhost:" in await response.text()
        for headers in ({"Origin": "https://elsewhere.example"}, {"Host": f"rebound.example:{port}"}):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(f"{server.url}ws", headers=headers)
            assert refused.value.status == 403
        assert not server.note_children(), "a refused connection started an app"

        # the page's own origin (as a browser sends it): a tab starts, and goes when the socket closes
        ws = await http.ws_connect(f"{server.url}ws?width=100&height=30", headers={"Origin": server.url.rstrip("/")})
        await wait_until(lambda: bool(server.note_children()), "the tab's app process")
        await ws.receive(timeout=DEADLINE)  # its first output: the app is up
        await ws.close()
    await wait_gone(server, "after the socket closed")
