"""One run path: what the command line says reaches the dashboard's trainer process as it
reaches headless mode (resume overrides, the checkpoint interval)."""

from __future__ import annotations

import math

import pytest
from dashboard_helpers import SIZE, lecture, press, wait_for
from textual.widgets import Input

from nntui import cli
from nntui.engine.checkpoint import checkpoint_info
from nntui.engine.errors import ConfigError
from nntui.engine.rundir import read_metrics
from nntui.ui.factory import create_app


def _dashboard_args(*argv: str):
    return cli.config_from_args(cli.build_parser().parse_args(list(argv)))


async def test_resume_flags_reach_the_dashboard_and_a_finished_run_goes_on(tmp_path) -> None:
    """`nntui --resume DIR --epochs 400 --lr 0.002` after a finished 200-epoch headless run:
    the dashboard opens at epoch 200 of 400 with lr 0.002 and trains on (it used to open
    with the saved 200 epochs and lr 0.001 and say the run had finished)."""
    run = tmp_path / "a"
    assert cli.main(["--headless", "--out", str(run), "--epochs", "200"]) == 0
    config, plan = _dashboard_args("--resume", str(run), "--epochs", "400", "--lr", "0.002")
    app = create_app(config, resume=plan, host="process")
    async with app.run_test(size=SIZE):
        await wait_for(lambda: app.status.state == "paused" and app.status.epoch == 200, "paused at the checkpoint")
        assert app.panel.query_one("#epochs", Input).value == "400"
        assert app.panel.query_one("#lr", Input).value == "0.002"
        assert "Resumed at epoch 200 of 400" in app.notice.text
        await press(app, "space")
        await wait_for(lambda: app.status.state == "done", "the run to finish its 400 epochs")
        assert app.status.epoch == 400
    metrics = read_metrics(run / "metrics.csv")
    assert metrics["epoch"].tolist() == list(range(1, 401))
    assert set(metrics["lr"][:200]) == {0.001} and set(metrics["lr"][200:]) == {0.002}
    assert checkpoint_info(run).epoch == 400


async def test_the_dashboard_honours_checkpoint_every(tmp_path) -> None:
    """--checkpoint-every reaches the trainer process (it was 30 s whatever the flag said)."""
    out = tmp_path / "run"
    app = create_app(lecture(), out=out, checkpoint_every=0.2, host="process")
    async with app.run_test(size=SIZE):
        await press(app, "space")
        await wait_for(lambda: app.status.epoch > 0, "training")
        # well inside 30 s: only the flag's interval can have written these
        await wait_for(lambda: checkpoint_info(out).epoch > 0, "a checkpoint while training", timeout=20)
        first = checkpoint_info(out).epoch
        await wait_for(lambda: checkpoint_info(out).epoch > first, "another one", timeout=20)
        assert app.status.state == "running", "written while training, not at a stop"
        assert math.isfinite(checkpoint_info(out).best_loss)


def test_the_cli_refuses_a_resume_flag_that_changes_the_model(tmp_path, capsys) -> None:
    run = tmp_path / "a"
    assert cli.main(["--headless", "--out", str(run), "--epochs", "20"]) == 0
    capsys.readouterr()
    # the dashboard path refuses before it opens (no terminal needed to see it)
    with pytest.raises(ConfigError, match=r"hidden.*cannot change"):
        _dashboard_args("--resume", str(run), "--hidden", "3,3")
