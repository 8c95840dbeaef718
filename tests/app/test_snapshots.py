"""Snapshots of screens that hold no timing-dependent numbers (update: pytest --snapshot-update)."""

from __future__ import annotations

from dashboard_helpers import lecture

from nntui.ui.factory import create_app


def _idle():
    """The thread host: its device list is known at once (the process host's child lists the
    devices a moment later, which a snapshot would catch half the time)."""
    return create_app(lecture(epochs=5000), host="thread")


def test_idle_dashboard(snap_compare) -> None:
    assert snap_compare(_idle(), terminal_size=(120, 40))


def test_help_screen(snap_compare) -> None:
    assert snap_compare(_idle(), terminal_size=(120, 40), press=["question_mark"])


def test_too_small_terminal(snap_compare) -> None:
    assert snap_compare(_idle(), terminal_size=(70, 20))


def test_invalid_field(snap_compare) -> None:
    async def type_bad_size(pilot) -> None:
        app = pilot.app
        hidden = app.query_one("#hidden")
        hidden.value = "10,0"
        await pilot.pause()

    assert snap_compare(_idle(), terminal_size=(120, 40), run_before=type_bad_size)
