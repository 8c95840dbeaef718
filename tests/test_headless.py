"""The real `nntui` command, headless, through a subprocess: exit codes, JSON, run files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tomllib

from nntui.engine.checkpoint import load_checkpoint
from nntui.engine.config import FIELD_NAMES
from nntui.engine.rundir import read_metrics


def run(cmd: list[str], *args: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=timeout, **kw)


def test_version_and_help(nntui_cmd) -> None:
    out = run(nntui_cmd, "--version")
    assert out.returncode == 0 and out.stdout.startswith("nntui ")
    helped = run(nntui_cmd, "--help")
    assert helped.returncode == 0
    # the issue's flags, every one, and one flag per config field (the TOML keys)
    issue_flags = ("--preset", "--dataset", "--samples", "--noise", "--hidden", "--activation", "--loss", "--optimizer",
                   "--lr", "--epochs", "--batch-size", "--device", "--seed", "--test-fraction", "--standardize",
                   "--config", "--out", "--json", "--headless")
    field_flags = tuple("--" + name.replace("_", "-") for name in FIELD_NAMES)
    for flag in (*issue_flags, *field_flags):
        assert f"{flag} " in helped.stdout or f"{flag}\n" in helped.stdout, flag


def test_python_dash_m_works() -> None:
    out = run([sys.executable, "-m", "nntui"], "--version")
    assert out.returncode == 0 and "nntui" in out.stdout


def test_headless_json_and_run_directory(nntui_cmd, tmp_path: Path) -> None:
    out_dir = tmp_path / "run"
    out = run(nntui_cmd, "--headless", "--epochs", "300", "--json", "--out", str(out_dir), "--log-every", "100")
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    for key in ("status", "epochs", "final_loss", "best_loss", "steps_per_s", "device", "run_dir", "r2"):
        assert key in summary
    assert summary["status"] == "done" and summary["epochs"] == 300 and summary["device"] == "cpu"
    assert summary["final_loss"] < 600
    lines = [line for line in out.stderr.splitlines() if line.startswith("epoch")]
    assert [line.split()[1] for line in lines] == ["100/300", "200/300", "300/300"]
    assert "steps/s" in lines[0] and "ETA" in lines[0]
    assert "Traceback" not in out.stderr

    assert sorted(p.name for p in out_dir.iterdir()) == [
        "checkpoint.safetensors", "config.toml", "film.npz", "metrics.csv", "model.safetensors", "summary.json",
    ]
    metrics = read_metrics(out_dir / "metrics.csv")
    assert list(metrics)[:4] == ["epoch", "train_loss", "test_loss", "elapsed_s"]
    assert metrics["epoch"].tolist() == list(range(1, 301))
    assert metrics["train_loss"][-1] == pytest.approx(summary["final_loss"])
    assert json.loads((out_dir / "summary.json").read_text())["status"] == "done"
    assert tomllib.loads((out_dir / "config.toml").read_text())["hidden"] == [10, 6]


def test_toml_config_and_flag_override(nntui_cmd, tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('epochs = 40\nhidden = [4]\nactivation = ["tanh"]\nloss = "mse"\n')
    out = run(nntui_cmd, "--headless", "--config", str(cfg), "--epochs", "20", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["epochs"] == 20
    assert "hidden 4 (tanh) | mse" in out.stderr


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (["--hidden", "10,,6"], "hidden"),
        (["--hidden", "abc"], "'abc'"),
        (["--lr", "abc"], "lr: 'abc'"),
        (["--lr", "nan"], "lr"),
        (["--epochs", "2.5"], "epochs: '2.5'"),
        (["--activation", "swish"], "activation: 'swish'"),
        (["--optimizer", "lbfgs"], "optimizer"),
        (["--dataset", "moons"], "dataset"),
        (["--device", "cuda"], "device: 'cuda'"),
        (["--device", "mps"], "device: 'mps'"),
        (["--preset", "nope"], "nope"),
        (["--config", "/nonexistent.toml"], "nonexistent.toml"),
    ],
)
def test_bad_input_exits_2_with_one_line(nntui_cmd, args: list[str], shown: str) -> None:
    out = run(nntui_cmd, "--headless", *args)
    assert out.returncode == 2
    assert shown in out.stderr
    assert "Traceback" not in out.stderr
    assert out.stdout == ""


def test_diverged_run_exits_3(nntui_cmd, tmp_path: Path) -> None:
    out = run(nntui_cmd, "--headless", "--loss", "mse", "--lr", "0.5", "--epochs", "500", "--json",
              "--out", str(tmp_path / "d"))
    assert out.returncode == 3, out.stderr
    summary = json.loads(out.stdout, parse_constant=lambda c: pytest.fail(f"JSON literal {c}"))
    assert summary["status"] == "diverged" and 0 < summary["suggested_lr"] < 0.5
    assert f"--lr {summary['suggested_lr']:g}" in out.stderr
    # the summary, the checkpoint and metrics.csv agree on the epochs kept; where it broke is diverged_at
    _, ck = load_checkpoint(tmp_path / "d")
    metrics = read_metrics(tmp_path / "d" / "metrics.csv")
    saved = json.loads((tmp_path / "d" / "summary.json").read_text())
    assert summary["epochs"] == saved["epochs"] == ck.epoch == metrics["epoch"][-1]
    assert summary["diverged_at"] > summary["epochs"]
    assert f"NaN/inf at epoch {summary['diverged_at']}" in summary["message"]


def test_summary_has_the_metric_of_both_splits(nntui_cmd, tmp_path: Path) -> None:
    """With a test split: train_accuracy and test_accuracy; the plain `accuracy` is the test split's."""
    out_dir = tmp_path / "c"
    out = run(nntui_cmd, "--headless", "--preset", "xor", "--epochs", "200", "--json", "--out", str(out_dir))
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert 0 <= summary["train_accuracy"] <= 1 and 0 <= summary["test_accuracy"] <= 1
    assert summary["accuracy"] == summary["test_accuracy"] and summary["accuracy_split"] == "test"
    metrics = read_metrics(out_dir / "metrics.csv")
    assert np.isfinite(metrics["train_accuracy"][-1]) and np.isfinite(metrics["test_accuracy"][-1])


def test_ctrl_c_exits_130_after_flushing(nntui_cmd, tmp_path: Path) -> None:
    out_dir = tmp_path / "i"
    proc = subprocess.Popen([*nntui_cmd, "--headless", "--epochs", "100000000", "--out", str(out_dir), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not (out_dir / "metrics.csv").exists() or (out_dir / "metrics.csv").stat().st_size < 2000:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    summary = json.loads(stdout)
    assert summary["status"] == "interrupted"
    metrics = read_metrics(out_dir / "metrics.csv")
    assert metrics["epoch"][-1] == summary["epochs"] > 0
    assert (out_dir / "checkpoint.safetensors").exists()


def test_no_tty_dashboard_points_at_headless(nntui_cmd) -> None:
    out = run(nntui_cmd, stdin=subprocess.DEVNULL)
    assert out.returncode == 2
    assert "--headless" in out.stderr
    assert "\x1b[" not in out.stdout + out.stderr


def test_engine_imports_no_ui(tmp_path: Path) -> None:
    """The core (every module of nntui.engine) loads, and runs a whole headless training,
    without textual or plotext ever loading (nor Ray, an optional extra)."""
    code = (
        "import importlib, pkgutil, sys\n"
        "import nntui.engine\n"
        "for m in pkgutil.walk_packages(nntui.engine.__path__, 'nntui.engine.'):\n"
        "    importlib.import_module(m.name)  # every engine module (and subpackage module), not only a run's\n"
        "from nntui.engine.config import TrainConfig\n"
        "from nntui.engine.trainer import Trainer\n"
        "from nntui.headless import run_headless\n"
        "r = Trainer(TrainConfig(epochs=30)).run(lambda e: None)\n"
        "assert r.reason == 'done', r\n"
        f"assert run_headless(TrainConfig(epochs=10), out={str(tmp_path / 'r')!r}) == 0\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'plotext', 'textual_plotext', 'rich')]\n"
        "assert not bad, bad\n"
        "assert 'ray' not in sys.modules  # the optional extra: imported on connect only\n"
        "print('clean')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "clean"


def test_help_does_not_import_torch() -> None:
    code = "import sys\nfrom nntui.cli import build_parser\nbuild_parser().format_help()\nprint('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ})
    assert out.stdout.strip() == "False"
