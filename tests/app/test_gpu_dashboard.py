"""The GPU panel in the dashboard: only for cuda runs; on this CPU-only machine it says why
NVML cannot be read, in one line, and the dashboard carries on."""

from __future__ import annotations

from dashboard_helpers import SIZE, lecture, press, wait_for

from nntui.ui.factory import create_app


async def test_a_cpu_run_shows_no_gpu_panel() -> None:
    app = create_app(lecture(epochs=2000), pace=None)
    async with app.run_test(size=SIZE):
        await press(app, "space")
        await wait_for(lambda: app.status.state in ("running", "done") and app.status.epoch > 0, "training")
        assert not app.gpu.display and app.gpu.monitor is None


async def test_a_cuda_run_shows_the_panel_and_without_nvml_it_says_why() -> None:
    app = create_app(lecture())
    async with app.run_test(size=SIZE):
        app._show_gpu("cuda:0")  # what a run on cuda:0 does when it starts
        assert app.gpu.display
        await wait_for(lambda: "GPU panel:" in app.gpu.text and "waiting" not in app.gpu.text, "the one-line reason")
        text = app.gpu.text
        assert "nvidia-ml-py is not installed" in text or "NVML unavailable" in text, text
        assert len(text.strip().splitlines()) == 1
        app.gpu.set_peak_memory(256 * 2**20)  # the trainer's allocator peak arrives with its chunks
        await press(app, "space")
        await wait_for(lambda: app.status.epoch > 100, "the dashboard carries on and trains")
