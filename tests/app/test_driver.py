"""The terminal driver survives a terminal that goes away (end to end: tests/e2e/test_signals.py)."""

from __future__ import annotations

import io
import os
import sys

import pytest

from nntui.engine.presets import preset
from nntui.ui.factory import create_app

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the Linux/macOS driver")


def test_writes_to_a_hung_up_terminal_are_dropped_not_raised() -> None:
    from nntui.ui.driver import TerminalOutput

    read_end, write_end = os.pipe()
    out = TerminalOutput(io.TextIOWrapper(io.FileIO(write_end, "w"), write_through=True))
    assert out.write("frame 1") == 7 and not out.gone
    os.close(read_end)  # nobody reads any more: the next write fails (EPIPE, as EIO after a hang-up)
    assert out.write("frame 2") == 7
    assert out.gone
    out.write("frame 3")
    out.flush()  # neither raises: Textual's writer thread would die, and the app block in its queue


def test_the_app_runs_on_the_hang_up_safe_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    from textual import constants
    from textual.drivers.linux_driver import LinuxDriver

    from nntui.ui.driver import HangUpSafeDriver

    monkeypatch.setattr(constants, "DRIVER", None)  # TEXTUAL_DRIVER unset
    app = create_app(preset("lecture"), host="thread")
    assert app.driver_class is HangUpSafeDriver and issubclass(HangUpSafeDriver, LinuxDriver)
    # a driver the user named in TEXTUAL_DRIVER is theirs to keep
    monkeypatch.setattr(constants, "DRIVER", "textual.drivers.linux_inline_driver:LinuxInlineDriver")
    assert create_app(preset("lecture"), host="thread").driver_class.__name__ == "LinuxInlineDriver"
