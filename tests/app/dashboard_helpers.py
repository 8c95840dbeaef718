"""Helpers for driving the real dashboard under `App.run_test()`.

`pilot.press()` and `pilot.pause()` wait for the whole app to go idle, which takes up to
about a second per call while the trainer thread is busy (measured); so state is polled
with short sleeps and generous deadlines instead, which also holds on a loaded 2-core box.
"""

from __future__ import annotations

import asyncio
import io
import math
import time
from collections.abc import Callable
from dataclasses import replace

import pytest
from rich.console import Console

from nntui.engine.config import TrainConfig
from nntui.engine.presets import preset
from nntui.ui.app import NntuiApp

both_hosts = pytest.mark.parametrize("host", ["process", "thread"], indirect=True)
"""Run a test on both trainer hosts (the `host` fixture in conftest.py sets NNTUI_HOST)."""

SIZE = (120, 40)
DEADLINE = 45.0
"""Seconds; far above what any wait takes on an idle machine, for a loaded CI box."""


def lecture(**changes: object) -> TrainConfig:
    """The lecture preset, long enough by default that it is still training when a test looks."""
    changes.setdefault("epochs", 1_000_000)
    return replace(preset("lecture"), **changes)


async def wait_for(predicate: Callable[[], object], what: str, timeout: float = DEADLINE) -> None:
    """Poll `predicate` every 50 ms until true; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for: {what}")
        await asyncio.sleep(0.05)


async def settle(app: NntuiApp, seconds: float = 0.6) -> int:
    """Wait until the shown epoch stops moving for `seconds`; returns it."""
    last, since = app.status.epoch, time.monotonic()
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() - since < seconds:
        await asyncio.sleep(0.05)
        if app.status.epoch != last:
            last, since = app.status.epoch, time.monotonic()
        assert time.monotonic() < deadline, "the epoch never stopped moving"
    return last


async def press(app: NntuiApp, *keys: str) -> None:
    """Press keys like `pilot.press` does, without its wait for idle (slow while training)."""
    import unicodedata

    from textual import events
    from textual.keys import REPLACED_KEYS, _character_to_key, _get_unicode_name_from_key

    driver = app._driver
    assert driver is not None
    for key in keys:
        if len(key) == 1 and not key.isalnum():
            key = _character_to_key(key)
        original = REPLACED_KEYS.get(key, key)
        try:
            char: str | None = unicodedata.lookup(_get_unicode_name_from_key(original))
        except KeyError:
            char = key if len(key) == 1 else None
        event = events.Key(key, char)
        event.set_sender(app)
        driver.send_message(event)
        await asyncio.sleep(0.05)


def screen_text(app: NntuiApp) -> str:
    """What the terminal shows right now, as plain text (no colours)."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), record=True, color_system=None,
                      legacy_windows=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()


def has_braille(text: str) -> bool:
    return any(0x2801 <= ord(ch) <= 0x28FF for ch in text)


def finite(value: float) -> bool:
    return math.isfinite(value)
