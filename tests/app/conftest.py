"""App tests run the thread host unless a test asks for the process host by name: no child
process to start per test, and the Trainer can be given injected faults."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _thread_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NNTUI_HOST", "thread")
