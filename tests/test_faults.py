"""Nothing lost: signals, SIGKILL at random moments, resume, and a disk that refuses writes."""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import tomli_w
import tomllib

from nntui.engine import checkpoint, record, rundir
from nntui.engine.checkpoint import load_checkpoint
from nntui.engine.config import TrainConfig
from nntui.engine.errors import CheckpointError
from nntui.engine.events import EpochsEnded
from nntui.engine.rundir import RunDirSink, read_metrics
from nntui.engine.session import plan_resume
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
    config = plan_resume(part, {"epochs": 600}).config
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
            monkeypatch.setattr(rundir.os, "write", failing_write)
            monkeypatch.setattr(checkpoint, "atomic_save_tensors", _raise_enospc)

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


@pytest.fixture
def open_tmp():
    """A directory the unprivileged child can reach: pytest's tmp_path sits under a 0700 root
    directory, where the child could not even look, let alone meet a read-only directory."""
    base = Path(tempfile.mkdtemp(prefix="nntui-faults-", dir="/tmp"))
    os.chmod(base, 0o755)
    yield base
    for path in [base, *base.rglob("*")]:
        if path.is_dir() and not path.is_symlink():
            os.chmod(path, 0o755)
    shutil.rmtree(base, ignore_errors=True)


def test_read_only_run_directory_warns_and_trains_on(nntui_cmd, open_tmp) -> None:
    tmp_path = open_tmp
    out = tmp_path / "ro"
    out.mkdir()
    (out / "keep.txt").write_text("saved before")
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


def test_signal_with_a_read_only_run_directory_exits_143_with_json_and_one_warning(nntui_cmd, open_tmp) -> None:
    """The final "interrupted" summary meets the read-only directory too: a warning (the same one), no traceback."""
    out = open_tmp / "ro"
    out.mkdir()
    os.chmod(out, 0o555)
    cmd = _as_unprivileged([*nntui_cmd, "--headless", "--epochs", "100000000", "--out", str(out), "--json"])
    if cmd is None:
        pytest.skip("running as root without setpriv: cannot make a directory read-only")
    env = {**os.environ, "HOME": str(open_tmp)}
    err_path, out_path = open_tmp / "stderr.txt", open_tmp / "stdout.txt"
    with open(err_path, "w") as err, open(out_path, "w") as std:
        proc = subprocess.Popen(cmd, stdout=std, stderr=err, text=True, env=env, cwd=open_tmp)
        try:
            deadline = time.monotonic() + 60
            while "cannot write to the run directory" not in err_path.read_text():
                assert proc.poll() is None, err_path.read_text()
                assert time.monotonic() < deadline, "no disk warning in time"
                time.sleep(0.05)
            time.sleep(0.3)  # a few chunks of training
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    stderr = err_path.read_text()
    assert proc.returncode == 143, stderr
    assert "Traceback" not in stderr
    assert stderr.count("cannot write to the run directory") == 1, stderr
    assert "SIGTERM" in stderr
    summary = json.loads(out_path.read_text())
    assert summary["status"] == "interrupted" and summary["epochs"] > 0
    assert list(out.iterdir()) == []


def test_transient_write_failure_still_writes_the_final_summary(tmp_path, monkeypatch) -> None:
    """One failed checkpoint (the disk was full for a moment): one warning, and summary.json still says done."""
    messages: list[str] = []
    sink = RunDirSink(tmp_path, on_error=messages.append)
    trainer = Trainer(TrainConfig(epochs=300), on_checkpoint=sink.save_checkpoint, checkpoint_every_s=0.0)
    real_save = checkpoint.atomic_save_tensors
    calls = {"n": 0}

    def save_once_failing(*args, **kwargs) -> None:
        calls["n"] += 1
        if calls["n"] == 3:  # the first checkpoint is saved (two files); the next one fails
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(*args, **kwargs)

    monkeypatch.setattr(checkpoint, "atomic_save_tensors", save_once_failing)
    result = trainer.run(sink)
    sink.close()
    assert result.reason == "done" and calls["n"] >= 3
    assert len(messages) == 1 and "No space left" in messages[0]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "done" and summary["epochs"] == 300


def test_failed_append_is_cut_back_to_the_last_complete_row(tmp_path, monkeypatch) -> None:
    """A short write and then ENOSPC mid-chunk: the half-written rows go, so the next append starts a new line."""
    messages: list[str] = []
    sink = RunDirSink(tmp_path, on_error=messages.append)
    real_write = os.write
    phase = {"n": 0}

    def tearing_write(fd: int, data: bytes) -> int:
        if fd == sink._fd and phase["n"] == 1:  # the disk fills: half the chunk goes out...
            phase["n"] = 2
            return real_write(fd, data[: len(data) // 2 + 3])
        if fd == sink._fd and phase["n"] == 2:  # ...and the rest fails
            phase["n"] = 3
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(rundir.os, "write", tearing_write)
    path = tmp_path / "metrics.csv"
    seen = {"chunks": 0, "before": "", "after": "", "phase": 0}

    def emit(event) -> None:
        sink(event)
        if isinstance(event, EpochsEnded):
            seen["chunks"] += 1
            if seen["chunks"] == 1:
                seen["before"] = path.read_text()
                phase["n"] = 1
            elif seen["chunks"] == 2:
                seen["after"], seen["phase"] = path.read_text(), phase["n"]
                sink.failed = False  # the disk has room again: later chunks are appended

    result = Trainer(TrainConfig(epochs=2000), chunk_seconds=0.01).run(emit)
    sink.close()
    assert seen["phase"] == 3, "the second chunk's append failed part-way"
    assert seen["after"] == seen["before"], "cut back to the last complete row"
    assert result.reason == "done" and seen["chunks"] > 3
    assert len(messages) == 1 and "No space left" in messages[0]
    text = path.read_text()
    assert text.endswith("\n")
    rows = list(csv.reader(io.StringIO(text)))
    assert all(len(row) == len(rows[0]) for row in rows), "no torn line"
    epochs = [int(row[0]) for row in rows[1:]]
    assert epochs == sorted(set(epochs)) and epochs[-1] == 2000


@pytest.mark.parametrize(("first", "then"), [(False, True), (True, False)])
def test_resume_with_other_health_setting_keeps_the_metrics_header(tmp_path, first: bool, then: bool) -> None:
    """The header of an existing metrics.csv decides the columns: every row has as many cells as it."""
    out = tmp_path / "run"
    c = TrainConfig(epochs=40, test_fraction=0.2, health=first)
    assert run_headless(c, out=out, stderr=io.StringIO()) == 0
    header = (out / "metrics.csv").read_text().splitlines()[0]
    config = plan_resume(out, {"epochs": 80, "health": then}).config
    err = io.StringIO()
    assert run_headless(config, resume=out, stderr=err) == 0
    with open(out / "metrics.csv", newline="") as f:
        assert f.readline().rstrip("\n") == header
        f.seek(0)
        rows = list(csv.DictReader(f))
        f.seek(0)
        width = len(next(csv.reader(f)))
        assert all(len(cells) == width for cells in csv.reader(f))
    assert [int(r["epoch"]) for r in rows] == list(range(1, 81))
    assert all(None not in r and None not in r.values() for r in rows), "no cell without a column, or missing"
    assert rows[-1]["test_r2"] != "" and rows[-1]["train_r2"] != ""
    dropped = err.getvalue().count("has no column for")
    assert dropped == (1 if then and not first else 0), err.getvalue()
    if then and not first:
        assert "grad_norm_1" in err.getvalue()


def test_edited_config_toml_does_not_change_a_resumed_run(tmp_path) -> None:
    """The checkpoint's own config is authoritative; a hand edit to config.toml is named and ignored."""
    out = tmp_path / "run"
    assert run_headless(TrainConfig(epochs=30), out=out, stderr=io.StringIO()) == 0
    toml = out / "config.toml"
    assert tomllib.loads(toml.read_text())["hidden"] == [10, 6]
    toml.write_text(tomli_w.dumps({**tomllib.loads(toml.read_text()), "hidden": [12, 6]}))
    plan = plan_resume(out, {"epochs": 60})
    config = plan.config
    assert config.hidden == (10, 6) and plan.epoch == 30
    assert rundir.edited_config_fields(out, load_checkpoint(out)[0]) == ("hidden",)
    err = io.StringIO()
    assert run_headless(config, resume=out, stderr=err) == 0, err.getvalue()
    assert "config.toml was edited (hidden)" in err.getvalue()
    assert read_metrics(out / "metrics.csv")["epoch"].tolist() == list(range(1, 61))
    assert tomllib.loads(toml.read_text())["hidden"] == [10, 6], "rewritten from the settings the run really uses"


def test_unedited_config_toml_gives_no_warning(tmp_path) -> None:
    out = tmp_path / "run"
    c = TrainConfig(epochs=30, test_fraction=0.2, optimizer="adam", lr=0.01, clip_grad=1.0)
    assert run_headless(c, out=out, stderr=io.StringIO()) == 0
    assert rundir.edited_config_fields(out, load_checkpoint(out)[0]) == ()
    err = io.StringIO()
    assert run_headless(replace(c, epochs=40), resume=out, stderr=err) == 0
    assert "edited" not in err.getvalue()


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640)])
def test_run_files_honour_the_umask(tmp_path, umask: int, mode: int) -> None:
    old = os.umask(umask)
    try:
        assert run_headless(TrainConfig(epochs=10), out=tmp_path / "run", stderr=io.StringIO()) == 0
    finally:
        os.umask(old)
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in (tmp_path / "run").iterdir()}
    assert set(modes) >= {"checkpoint.safetensors", "model.safetensors", "metrics.csv", "config.toml", "summary.json"}
    assert set(modes.values()) == {oct(mode)}, modes


def test_ignored_sighup_stays_ignored(nntui_cmd, tmp_path) -> None:
    """Under nohup SIGHUP is ignored before nntui starts: a dropped connection must not stop the run."""
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [*nntui_cmd, "--headless", "--epochs", "8000", "--out", str(out), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN),
    )
    try:
        _wait_for_rows(out / "metrics.csv", proc)
        proc.send_signal(signal.SIGHUP)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    summary = json.loads(stdout)
    assert summary["status"] == "done" and summary["epochs"] == 8000
    assert "SIGHUP" not in stderr


def test_unwritable_out_path_is_a_warning_not_a_crash(nntui_cmd, tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    proc = subprocess.run([*nntui_cmd, "--headless", "--epochs", "50", "--out", str(blocker / "run")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0
    assert "cannot write to the run directory" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_json_exports_never_hold_nan_literals(tmp_path) -> None:
    text = record.dumps_json({"a": float("nan"), "b": [float("inf"), 1.0], "c": np.float32("nan")})
    assert json.loads(text) == {"a": None, "b": [None, 1.0], "c": None}


def test_metrics_header_is_stable(tmp_path) -> None:
    sink = RunDirSink(tmp_path)
    Trainer(TrainConfig(epochs=3)).run(sink)
    header = (tmp_path / "metrics.csv").read_text().splitlines()[0]
    assert header == "epoch,train_loss,test_loss,elapsed_s,lr,train_r2,test_r2"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
