"""Nothing lost: signals, SIGKILL at random moments, resume, and a disk that refuses writes."""

from __future__ import annotations

import errno
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from nntui.engine import runs
from nntui.engine.config import TrainConfig
from nntui.engine.errors import CheckpointError
from nntui.engine.events import EpochsEnded
from nntui.engine.runs import RunDirSink, load_checkpoint, read_metrics
from nntui.engine.trainer import Trainer
from nntui.headless import run_headless


def _wait_for_rows(path: Path, proc: subprocess.Popen, rows: int = 50, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert proc.poll() is None, proc.communicate()[1]
        if path.exists() and path.read_text().count("\n") > rows:
            return
        assert time.monotonic() < deadline, "no metrics written in time"
        time.sleep(0.05)


def _assert_metrics_parse(path: Path) -> np.ndarray:
    """Every line complete: the header's number of cells, numbers where there are numbers."""
    text = path.read_text()
    assert text.endswith("\n"), "a torn last line"
    lines = text.splitlines()
    width = len(lines[0].split(","))
    for line in lines[1:]:
        assert len(line.split(",")) == width, line
    epochs = read_metrics(path)["epoch"]
    assert np.all(np.diff(epochs) == 1), "epochs in order, none missing or repeated"
    return epochs


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130)])
def test_signals_stop_flush_checkpoint_and_exit_with_the_documented_code(nntui_cmd, tmp_path, sig, code) -> None:
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [*nntui_cmd, "--headless", "--epochs", "100000000", "--out", str(out), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    _wait_for_rows(out / "metrics.csv", proc)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr
    assert signal.Signals(sig).name in stderr
    summary = json.loads(stdout)
    assert summary["status"] == "interrupted"
    epochs = _assert_metrics_parse(out / "metrics.csv")
    _, ck = load_checkpoint(out)
    assert ck.epoch == summary["epochs"] == epochs[-1], "the checkpoint is the last epoch recorded"
    assert json.loads((out / "summary.json").read_text())["status"] == "interrupted"


def test_sigkill_fifteen_times_checkpoint_loads_and_metrics_parse(nntui_cmd, tmp_path) -> None:
    out = tmp_path / "run"
    rng = random.Random(1234)
    last_epoch = 0
    for i in range(15):
        args = ["--resume", str(out)] if i else ["--out", str(out)]
        proc = subprocess.Popen(
            [*nntui_cmd, "--headless", *args, "--epochs", "100000000", "--checkpoint-every", "0.02"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        try:
            _wait_for_rows(out / "metrics.csv", proc, rows=last_epoch + 1)
            time.sleep(rng.uniform(0.0, 0.6))
        finally:
            proc.kill()
            proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        _, ck = load_checkpoint(out)  # always loads
        epochs = _assert_metrics_parse(out / "metrics.csv")  # always parses
        assert ck.epoch <= epochs[-1]
        assert ck.epoch >= last_epoch, "checkpoints never go backwards"
        last_epoch = ck.epoch
    assert last_epoch > 0


def test_resume_continues_exactly_where_an_uninterrupted_run_goes(tmp_path) -> None:
    whole = tmp_path / "whole"
    part = tmp_path / "part"
    c = TrainConfig(epochs=600, batch_size=100, optimizer="adam", lr=0.01, test_fraction=0.2)
    assert run_headless(c, out=whole, stderr=open(os.devnull, "w")) == 0
    first = TrainConfig(**{**c.__dict__, "epochs": 250})
    assert run_headless(first, out=part, stderr=open(os.devnull, "w")) == 0
    config, _ = runs.resume_config(part, {"epochs": 600})
    assert run_headless(config, resume=part, stderr=open(os.devnull, "w")) == 0
    a = read_metrics(whole / "metrics.csv")
    b = read_metrics(part / "metrics.csv")
    assert b["epoch"].tolist() == list(range(1, 601))
    np.testing.assert_allclose(a["train_loss"], b["train_loss"], rtol=1e-5)


def test_checkpoint_saved_as_gpu_tensors_loads_on_cpu(tmp_path) -> None:
    """safetensors keeps no device: a GPU run's checkpoint loads on a CPU-only machine."""
    trainer = Trainer(TrainConfig(epochs=20))
    sink = RunDirSink(tmp_path)
    trainer.on_checkpoint = sink.save_checkpoint
    trainer.run(sink)
    _, ck = load_checkpoint(tmp_path)
    assert all(t.device.type == "cpu" for t in ck.model_state.values())
    assert ck.epoch == 20


def test_shape_mismatch_names_expected_and_found_shapes(tmp_path) -> None:
    sink = RunDirSink(tmp_path)
    Trainer(TrainConfig(epochs=5), on_checkpoint=sink.save_checkpoint).run(sink)
    _, ck = load_checkpoint(tmp_path)
    other = Trainer(TrainConfig(epochs=10, hidden=(12, 6)), resume=ck)
    with pytest.raises(CheckpointError, match=r"layers\.0\.\w+: expected shape \(12,( 1)?\), found \(10,( 1)?\)"):
        other.prepare()


def test_not_a_checkpoint_is_refused_without_unpickling(tmp_path) -> None:
    (tmp_path / "checkpoint.safetensors").write_bytes(b"\x80\x04K\x01." * 10)  # a pickle, not safetensors
    with pytest.raises(CheckpointError, match="cannot read the checkpoint"):
        load_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match=r"no checkpoint\.safetensors"):
        load_checkpoint(tmp_path / "..")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing")


def test_failing_writes_keep_training_and_earlier_files(tmp_path, monkeypatch) -> None:
    """The disk fills mid-run: one clear message, training goes on, what was saved stays intact."""
    messages: list[str] = []
    sink = RunDirSink(tmp_path, on_error=messages.append)
    trainer = Trainer(TrainConfig(epochs=3000), chunk_seconds=0.01, on_checkpoint=sink.save_checkpoint,
                      checkpoint_every_s=0.01)
    calls = {"n": 0}
    real_write = os.write

    def failing_write(fd: int, data: bytes) -> int:
        calls["n"] += 1
        if calls["n"] > 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    before_config = None

    def emit(event) -> None:
        nonlocal before_config
        sink(event)
        # the disk fills after the first epochs: config, the first rows and a checkpoint are on disk
        if before_config is None and isinstance(event, EpochsEnded):
            before_config = (tmp_path / "config.toml").read_text()
            monkeypatch.setattr(runs.os, "write", failing_write)
            monkeypatch.setattr(runs, "atomic_save_tensors", _raise_enospc)

    result = trainer.run(emit)
    assert result.reason == "done" and result.epoch == 3000, "training went on"
    assert len(messages) == 1 and "No space left" in messages[0] and str(tmp_path) in messages[0]
    assert (tmp_path / "config.toml").read_text() == before_config
    _assert_metrics_parse(tmp_path / "metrics.csv")
    load_checkpoint(tmp_path)  # the checkpoint written before the disk filled still loads


def _raise_enospc(*args, **kwargs) -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


def _as_unprivileged(cmd: list[str]) -> list[str] | None:
    """Root ignores file modes; run the child as nobody so a read-only directory is read-only."""
    if os.geteuid() != 0:
        return cmd
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    return [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]


def test_read_only_run_directory_warns_and_trains_on(nntui_cmd, tmp_path) -> None:
    out = tmp_path / "ro"
    out.mkdir()
    (out / "keep.txt").write_text("saved before")
    os.chmod(tmp_path, 0o755)
    os.chmod(out, 0o555)
    cmd = _as_unprivileged([*nntui_cmd, "--headless", "--epochs", "300", "--out", str(out), "--json"])
    if cmd is None:
        pytest.skip("running as root without setpriv: cannot make a directory read-only")
    env = {**os.environ, "HOME": str(tmp_path)}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    os.chmod(out, 0o755)
    assert proc.returncode == 0, proc.stderr
    assert "cannot write to the run directory" in proc.stderr and str(out) in proc.stderr
    assert proc.stderr.count("cannot write to the run directory") == 1
    assert "Traceback" not in proc.stderr
    assert json.loads(proc.stdout)["epochs"] == 300
    assert (out / "keep.txt").read_text() == "saved before"


def test_unwritable_out_path_is_a_warning_not_a_crash(nntui_cmd, tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    proc = subprocess.run([*nntui_cmd, "--headless", "--epochs", "50", "--out", str(blocker / "run")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0
    assert "cannot write to the run directory" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_json_exports_never_hold_nan_literals(tmp_path) -> None:
    text = runs.dumps_json({"a": float("nan"), "b": [float("inf"), 1.0], "c": np.float32("nan")})
    assert json.loads(text) == {"a": None, "b": [None, 1.0], "c": None}


def test_metrics_header_is_stable(tmp_path) -> None:
    sink = RunDirSink(tmp_path)
    Trainer(TrainConfig(epochs=3)).run(sink)
    header = (tmp_path / "metrics.csv").read_text().splitlines()[0]
    assert header == "epoch,train_loss,test_loss,elapsed_s,lr,train_r2,test_r2"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
