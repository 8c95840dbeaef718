"""The dashboard on the host users get by default: the trainer in a warm child process.

The other app tests pin the thread host (fault injection, no child per test); these run
the real default end to end under `run_test`.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

from dashboard_helpers import SIZE, lecture, press, wait_for

from nntui.ui.factory import create_app
from nntui.ui.process_host import ProcessHost

CHILD_START_S = 90.0
"""A spawned child imports torch: seconds here, more on a loaded CI box."""


async def test_process_host_trains_the_lecture_and_the_loss_falls() -> None:
    app = create_app(lecture(), host="process")
    assert isinstance(app.host, ProcessHost)
    async with app.run_test(size=SIZE):
        await wait_for(lambda: app.panel.devices_known, "the child to list its devices", CHILD_START_S)
        assert "cpu" in [d.name for d in app.devices or ()]
        await press(app, "space")
        await wait_for(lambda: app.status.epoch > 50 and app.loss_plot.point_count > 0, "training", CHILD_START_S)
        first = float(app.loss_plot.train.means()[1][0])
        assert 400 < first < 800, f"the lecture's loss starts near 600, not {first}"
        await wait_for(lambda: app.status.epoch > 1500 and app.status.loss < 0.3 * first, "the shown loss to fall")
        assert app.status.device == "cpu"
        started = time.monotonic()
        await press(app, "q")
        await wait_for(lambda: not app.is_running, "the app to exit", timeout=5)
        took = time.monotonic() - started
        assert took < 1.5, f"quit took {took:.2f}s"
    assert app.host.join(timeout=2.0)


def test_the_dashboard_process_lists_devices_without_importing_torch() -> None:
    """torch costs seconds to import: the UI process leaves it to the child, and the first
    frame does not wait for it."""
    script = textwrap.dedent(
        """
        import asyncio, sys, time
        from nntui.engine.presets import preset
        from nntui.ui.factory import create_app

        async def main():
            app = create_app(preset("lecture"), host="process")
            async with app.run_test(size=(120, 40)) as pilot:
                deadline = time.monotonic() + 90
                while not app.panel.devices_known and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                print("known", app.panel.devices_known, [d.name for d in app.devices or ()])
                print("torch", "torch" in sys.modules)
                await app.host.shutdown(1.0)

        asyncio.run(main())
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert "known True" in proc.stdout and "'cpu'" in proc.stdout, proc.stdout
    assert "torch False" in proc.stdout, proc.stdout
