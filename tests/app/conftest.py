"""App tests run the process host, the one users get, unless a test asks for another.

`dashboard_helpers.both_hosts` runs a test on the process host and on the thread host (the design's "worker
thread" mode, `--worker thread`): the core flows (start, pause, step, reset, lr change,
resume, quit) must hold on both.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def host(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    kind = getattr(request, "param", "process")
    monkeypatch.setenv("NNTUI_HOST", kind)
    return kind
