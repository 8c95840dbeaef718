"""RunFollower: polling a run directory another process writes (nntui watch's reading side).

Costs are checked by counting the bytes a poll reads (a wrapper around os.pread), never by
timing: the machine is shared and noisy.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nntui.engine import follow, follow_fit, follow_rows
from nntui.engine.events import EpochsEnded, LearningRateChanged, RunFailed, RunFinished
from nntui.engine.follow import Polled, RunFollower
from nntui.engine.follow_rows import parse_rows
from nntui.engine.follow_status import FollowStatus

HEADER = "epoch,train_loss,test_loss,elapsed_s,lr,train_r2,test_r2\n"


def row(epoch: int, loss: float | None = None, lr: float = 0.001, elapsed: float | None = None) -> str:
    loss = 1.0 / epoch if loss is None else loss
    return f"{epoch},{loss!r},,{'' if elapsed is None else f'{elapsed:.4f}'},{lr!r},,\n"


def rows(first: int, last: int, lr: float = 0.001) -> str:
    return "".join(row(e, lr=lr) for e in range(first, last + 1))


def append(path: Path, text: str | bytes) -> None:
    """Append to a file (a run directory: to its metrics.csv), as the writer does."""
    if path.is_dir():
        path = path / "metrics.csv"
    with open(path, "ab") as f:
        f.write(text.encode() if isinstance(text, str) else text)


def replace(path: Path, text: str) -> None:
    """As RunDirSink's atomic_write: a new file renamed over the old one (a new inode)."""
    tmp = path.with_name(".metrics.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def summary(rundir: Path, status: str, **fields: object) -> None:
    tmp = rundir / ".summary.tmp"
    tmp.write_text(json.dumps({"status": status, **fields}))
    os.replace(tmp, rundir / "summary.json")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def run(tmp_path: Path) -> Path:
    d = tmp_path / "run"
    d.mkdir()
    (d / "metrics.csv").write_text(HEADER)
    return d


def poll_all(f: RunFollower) -> list[Polled]:
    """Poll until the follower has caught up with the file."""
    out = [f.poll()]
    while out[-1].behind:
        out.append(f.poll())
    return out


# -- the files it reads are the files the writer writes --------------------------------------------


def test_file_names_are_the_writers() -> None:
    from nntui.engine import checkpoint, rundir

    assert (follow.METRICS, follow.SUMMARY, follow.CONFIG) == (rundir.METRICS, rundir.SUMMARY, rundir.CONFIG)
    assert follow.MODEL == checkpoint.MODEL
    assert follow_rows.BASE_COLUMNS == rundir.BASE_COLUMNS


def test_polling_imports_no_torch(run: Path) -> None:
    append(run, rows(1, 10))
    code = (
        "import sys; from nntui.engine.follow import RunFollower; "
        f"p = RunFollower({str(run)!r}).poll(); assert len(p.rows) == 10, p; "
        "assert 'torch' not in sys.modules, 'polling imported torch'"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr


# -- reading only what was appended ---------------------------------------------------------------------


def test_a_poll_after_a_million_rows_reads_only_the_new_bytes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "big"
    d.mkdir()
    n = 1_000_000
    epochs = np.arange(1, n + 1)
    body = "\n".join(f"{e},{1.0 / e!r},,,0.001,," for e in epochs.tolist())
    (d / "metrics.csv").write_text(HEADER + body + "\n")
    f = RunFollower(d)
    seen = sum(len(p.rows) for p in poll_all(f))
    assert seen == n

    reads: list[int] = []
    real_pread = os.pread

    def counting_pread(fd: int, size: int, offset: int) -> bytes:
        data = real_pread(fd, size, offset)
        reads.append(len(data))
        return data

    monkeypatch.setattr(follow.os, "pread", counting_pread)
    new = rows(n + 1, n + 100)
    append(d / "metrics.csv", new)
    before = f.bytes_read
    p = f.poll()
    assert len(p.rows) == 100 and p.rows.epochs[0] == n + 1 and p.rows.epochs[-1] == n + 100
    assert sum(reads) == len(new.encode()), "a poll reads exactly the appended bytes"
    assert f.bytes_read - before == len(new.encode())
    reads.clear()
    assert len(f.poll().rows) == 0 and reads == [], "nothing appended: nothing read"


def test_a_long_file_is_read_over_several_polls(run: Path) -> None:
    append(run, rows(1, 20_000))
    f = RunFollower(run, max_read=64 * 1024)
    polls = poll_all(f)
    assert len(polls) > 5 and all(p.behind for p in polls[:-1]) and not polls[-1].behind
    got = np.concatenate([p.rows.epochs for p in polls])
    assert np.array_equal(got, np.arange(1, 20_001))
    assert sum(p.bad_rows for p in polls[-1:]) == 0


def test_a_half_written_row_waits_for_its_end(run: Path) -> None:
    f = RunFollower(run)
    append(run, rows(1, 2) + "3,0.25")
    p = f.poll()
    assert p.rows.epochs.tolist() == [1, 2]
    append(run, "5,,")  # still no newline
    assert len(f.poll().rows) == 0
    append(run, "0.5,0.002,,\n")
    p = f.poll()
    assert p.rows.epochs.tolist() == [3]
    assert p.rows.train_loss[0] == 0.255 and p.rows.elapsed_s[0] == 0.5 and p.rows.lr[0] == 0.002
    assert math.isnan(p.rows.test_loss[0]) and p.bad_rows == 0


def test_a_header_being_written_is_waited_for(tmp_path: Path) -> None:
    d = tmp_path / "run"
    f = RunFollower(d)
    p = f.poll()
    assert (p.status.state, p.status.text) == ("waiting", "waiting: no directory yet")
    d.mkdir()
    assert f.poll().status.text == "waiting for metrics"
    append(d / "metrics.csv", "epoch,train_lo")
    assert f.poll().status.text == "waiting for metrics"
    append(d / "metrics.csv", "ss,test_loss,elapsed_s,lr\n1,0.5,,,0.1\n")
    p = f.poll()
    assert p.status.state == "running" and p.rows.epochs.tolist() == [1]
    assert f.header == ("epoch", "train_loss", "test_loss", "elapsed_s", "lr")


# -- files replaced, truncated, deleted underneath -------------------------------------------------------


def test_resume_rewrites_the_file_and_the_rows_start_again_then_continue(run: Path) -> None:
    append(run, rows(1, 50))
    f = RunFollower(run)
    assert len(f.poll().rows) == 50
    # resume truncates to the checkpoint's epoch (30) and rewrites the file atomically
    replace(run / "metrics.csv", HEADER + rows(1, 30))
    p = f.poll()
    assert p.reset and p.rows.epochs.tolist() == list(range(1, 31))
    append(run, rows(31, 60))
    p = f.poll()
    assert not p.reset and p.rows.epochs.tolist() == list(range(31, 61))


def test_a_finished_run_resumed_keeps_every_row_but_is_read_again(run: Path) -> None:
    """Resuming at the last epoch keeps the same bytes in a new file: still a reset (the
    watcher cannot know the content is the same without reading it)."""
    append(run, rows(1, 40))
    f = RunFollower(run)
    f.poll()
    replace(run / "metrics.csv", (run / "metrics.csv").read_text())
    p = f.poll()
    assert p.reset and len(p.rows) == 40


def test_truncated_in_place(run: Path) -> None:
    append(run, rows(1, 50))
    f = RunFollower(run)
    f.poll()
    with open(run / "metrics.csv", "w") as fh:  # same inode, shorter
        fh.write(HEADER + rows(1, 5))
    p = f.poll()
    assert p.reset and p.rows.epochs.tolist() == [1, 2, 3, 4, 5]


def test_rewritten_in_place_longer_than_what_was_read(run: Path) -> None:
    """Same inode, larger than the offset already read: the epochs going back give it away."""
    append(run, rows(1, 20))
    f = RunFollower(run)
    f.poll()
    with open(run / "metrics.csv", "r+") as fh:
        fh.write(HEADER + rows(1, 200, lr=0.5))
    p = f.poll()
    assert p.reset
    assert p.rows.epochs.tolist() == list(range(1, 201)) and set(p.rows.lr.tolist()) == {0.5}


def test_directory_deleted_and_created_again(run: Path) -> None:
    append(run, rows(1, 10))
    summary(run, "running")
    f = RunFollower(run)
    assert len(f.poll().rows) == 10
    shutil.rmtree(run)
    p = f.poll()
    assert (p.status.state, p.status.text) == ("deleted", "directory deleted") and not p.reset
    p = f.poll()
    assert p.status.state == "deleted"
    run.mkdir()
    assert f.poll().status.text == "waiting for metrics"
    (run / "metrics.csv").write_text(HEADER + rows(1, 3))
    p = f.poll()
    assert p.reset and p.rows.epochs.tolist() == [1, 2, 3] and p.status.state == "running"


def test_metrics_deleted_and_created_again_within_one_poll(run: Path) -> None:
    append(run, rows(1, 10))
    f = RunFollower(run)
    f.poll()
    (run / "metrics.csv").unlink()
    (run / "metrics.csv").write_text(HEADER + rows(1, 4))
    p = f.poll()
    assert p.reset and p.rows.epochs.tolist() == [1, 2, 3, 4]


def test_metrics_deleted_says_so(run: Path) -> None:
    append(run, rows(1, 10))
    f = RunFollower(run)
    f.poll()
    (run / "metrics.csv").unlink()
    p = f.poll()
    assert (p.status.state, p.status.text) == ("deleted", "metrics.csv deleted")
    (run / "metrics.csv").write_text(HEADER + rows(1, 2))
    p = f.poll()
    assert p.reset and len(p.rows) == 2 and p.status.state == "running"


def test_a_path_that_is_a_file(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a,b\n")
    p = RunFollower(path).poll()
    assert p.status.state == "error" and "not a directory" in p.status.text


# -- other columns, garbage ---------------------------------------------------------------------------------


def test_an_older_file_is_read_by_header_name(run: Path) -> None:
    (run / "metrics.csv").write_text("lr,epoch,train_loss,accuracy_old\n0.1,1,0.9,0.5\n0.1,2,0.8,0.6\n")
    p = RunFollower(run).poll()
    assert p.rows.epochs.tolist() == [1, 2]
    assert p.rows.train_loss.tolist() == [0.9, 0.8] and p.rows.lr.tolist() == [0.1, 0.1]
    assert np.isnan(p.rows.test_loss).all() and np.isnan(p.rows.elapsed_s).all()
    assert p.rows.columns["accuracy_old"].tolist() == [0.5, 0.6]
    assert p.bad_rows == 0
    ended = [e for e in p.events if isinstance(e, EpochsEnded)]
    assert len(ended) == 1 and ended[0].epochs.tolist() == [1, 2]


def test_a_file_without_an_epoch_column_counts_rows(run: Path) -> None:
    (run / "metrics.csv").write_text("train_loss\n0.5\n0.4\n")
    f = RunFollower(run)
    assert f.poll().rows.epochs.tolist() == [1, 2]
    append(run / "metrics.csv", "0.3\n")
    assert f.poll().rows.epochs.tolist() == [3]


def test_garbage_rows_are_skipped_and_counted(run: Path) -> None:
    garbage = [
        "hello world\n",  # one cell
        "1,2,3\n",  # too few cells
        "4,abc,,,0.001,,\n",  # not a number
        ",0.5,,,0.001,,\n",  # no epoch
        "2.5,0.5,,,0.001,,\n",  # not a whole epoch
        "1,2,3,4,5,6,7,8,9\n",  # too many
    ]
    append(run, row(1) + "".join(garbage) + row(2) + "\x00\xff\xfe,,,,,,\n" + row(3) + "\r\n")
    f = RunFollower(run)
    p = f.poll()
    assert p.rows.epochs.tolist() == [1, 2, 3]
    assert p.bad_rows == len(garbage) + 1
    append(run, "junk\n" + row(4))
    p = f.poll()
    assert p.rows.epochs.tolist() == [4] and p.bad_rows == len(garbage) + 2, "counted over the file's life"


def test_an_endless_line_is_dropped(run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(follow, "MAX_PARTIAL", 100)
    f = RunFollower(run)
    append(run, row(1) + "9" * 150)
    assert f.poll().rows.epochs.tolist() == [1]
    append(run, "9" * 150)
    f.poll()
    append(run, "9\n" + row(2))
    p = f.poll()
    assert p.rows.epochs.tolist() == [2] and p.bad_rows == 1


def test_crlf_lines(run: Path) -> None:
    (run / "metrics.csv").write_text(HEADER.replace("\n", "\r\n") + row(1).replace("\n", "\r\n"))
    p = RunFollower(run).poll()
    assert p.rows.epochs.tolist() == [1] and "test_r2" in p.rows.columns and p.bad_rows == 0


def test_the_fast_parser_agrees_with_the_line_by_line_one() -> None:
    rng = np.random.default_rng(3)
    lines = []
    for e in range(1, 3001):
        cells = [str(e), repr(float(rng.random())), "" if e % 7 else "0.25", "", "0.001", "", "" if e % 5 else "1e-3"]
        lines.append(",".join(cells).encode())
    fast, bad_fast = parse_rows(lines, 7)
    slow, bad_slow = follow_rows._parse_slow(lines, 7)
    assert bad_fast == bad_slow == 0 and np.array_equal(fast, slow, equal_nan=True)
    lines[1234] = b"1235,oops,,,0.001,,"
    fast, bad = parse_rows(lines, 7)
    assert bad == 1 and len(fast) == 2999 and fast[1234, 0] == 1236


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kinds=st.lists(st.sampled_from(["row", "row", "row", "junk", "short", "nan-epoch"]), min_size=1, max_size=60),
    cuts=st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=30),
)
def test_any_split_of_rows_and_garbage_reads_the_rows_and_counts_the_rest(
    tmp_path_factory: pytest.TempPathFactory, kinds: list[str], cuts: list[int]
) -> None:
    d = tmp_path_factory.mktemp("fuzz")
    text = HEADER
    good = []
    epoch = 0
    for kind in kinds:
        if kind == "row":
            epoch += 1
            good.append(epoch)
            text += row(epoch)
        elif kind == "junk":
            text += "x1,y,,z\n"
        elif kind == "short":
            text += "7,0.1\n"
        else:
            text += "nan,0.1,,,0.001,,\n"
    data = text.encode()
    path = d / "metrics.csv"
    path.write_bytes(b"")
    f = RunFollower(d)
    got: list[int] = []
    pos = 0
    for cut in [*cuts, len(data)]:
        append(path, data[pos : pos + cut])
        pos += cut
        got += f.poll().rows.epochs.tolist()
        if pos >= len(data):
            break
    got += f.poll().rows.epochs.tolist()
    assert got == good
    assert f.poll().bad_rows == len(kinds) - len(good)


# -- status and events ---------------------------------------------------------------------------------------


def test_status_comes_from_the_summary(run: Path) -> None:
    append(run, rows(1, 5))
    f = RunFollower(run)
    assert f.poll().status.state == "running"  # no summary yet: rows are coming
    for status in ("running", "done", "stopped", "diverged", "interrupted", "failed"):
        summary(run, status, epochs=5, final_loss=0.2, best_loss=0.1, steps_per_s=1000.0, elapsed_s=1.0,
                error="boom" if status == "failed" else None)
        p = f.poll()
        assert isinstance(p.status, FollowStatus)
        assert p.status.state == status and p.status.summary["status"] == status


def test_the_end_is_an_event_once_and_again_after_a_resume(run: Path) -> None:
    append(run, rows(1, 5))
    f = RunFollower(run)
    summary(run, "running")
    assert not [e for e in f.poll().events if isinstance(e, RunFinished)]
    summary(run, "done", epochs=5, final_loss=0.2, best_loss=0.1, steps_per_s=900.0, elapsed_s=1.5,
            train_r2=0.9, r2=0.9)
    ends = [e for e in f.poll().events if isinstance(e, RunFinished)]
    assert len(ends) == 1
    end = ends[0]
    assert (end.reason, end.epoch, end.final_loss, end.best_loss, end.steps_per_s) == ("done", 5, 0.2, 0.1, 900.0)
    assert end.metrics == {"train_r2": 0.9}
    assert not f.poll().events, "said once"
    summary(run, "running")  # resumed
    append(run, rows(6, 8))
    f.poll()
    summary(run, "interrupted", epochs=8, final_loss=0.1, best_loss=0.1)
    ends = [e for e in f.poll().events if isinstance(e, RunFinished)]
    assert len(ends) == 1 and ends[0].reason == "stopped" and ends[0].message == "interrupted"
    summary(run, "failed", error="CUDA out of memory")
    fails = [e for e in f.poll().events if isinstance(e, RunFailed)]
    assert [e.error for e in fails] == ["CUDA out of memory"]


def test_rows_become_the_trainers_events(run: Path) -> None:
    (run / "config.toml").write_text("epochs = 500\n")
    append(run, row(1, lr=0.1) + row(2, lr=0.1, elapsed=0.5) + row(3, lr=0.01) + row(4, lr=0.01, elapsed=1.0))
    p = RunFollower(run).poll()
    kinds = [type(e).__name__ for e in p.events]
    assert kinds == ["EpochsEnded", "LearningRateChanged", "EpochsEnded"]
    first, change, second = p.events
    assert isinstance(first, EpochsEnded) and isinstance(second, EpochsEnded)
    assert isinstance(change, LearningRateChanged)
    assert first.epochs.tolist() == [1, 2] and first.lr == 0.1 and first.total_epochs == 500
    assert (change.epoch, change.old, change.new) == (3, 0.1, 0.01)
    assert second.elapsed_s == 1.0 and second.lr == 0.01


def test_the_rate_comes_from_the_rows_own_clock(run: Path) -> None:
    (run / "config.toml").write_text("epochs = 500\nfull_batch = true\n")
    f = RunFollower(run)
    append(run, row(1) + row(2, elapsed=0.1) + row(3) + row(4, elapsed=0.2))
    ended = [e for e in f.poll().events if isinstance(e, EpochsEnded)]
    assert ended[-1].steps_per_s == pytest.approx(20.0)  # 2 epochs in 0.1 s, one step each
    append(run, row(5) + row(6, elapsed=0.6))
    ended = [e for e in f.poll().events if isinstance(e, EpochsEnded)]
    assert ended[-1].steps_per_s == pytest.approx(5.0), "from the last clock of the previous poll"


def test_learning_rate_changes_across_polls(run: Path) -> None:
    f = RunFollower(run)
    append(run, row(1, lr=0.1))
    f.poll()
    append(run, row(2, lr=0.05))
    changes = [e for e in f.poll().events if isinstance(e, LearningRateChanged)]
    assert [(c.epoch, c.old, c.new) for c in changes] == [(2, 0.1, 0.05)]


def test_quiet_is_told_by_the_injected_clock(run: Path) -> None:
    clock = Clock()
    append(run, rows(1, 3))
    summary(run, "running")
    f = RunFollower(run, clock=clock, quiet_after=10.0)
    assert f.poll().status.state == "running"
    clock.now += 9
    assert f.poll().status.state == "running"
    clock.now += 3
    p = f.poll()
    assert p.status.state == "quiet" and p.status.text == "no write for 12s" and p.status.quiet_s >= 12
    append(run, rows(4, 4))
    assert f.poll().status.state == "running", "a new row: no longer quiet"
    clock.now += 100
    summary(run, "done")
    assert f.poll().status.state == "done"
    clock.now += 100
    assert f.poll().status.state == "done", "a finished run is done, never quiet"


def test_quiet_from_the_first_poll_for_an_old_run(run: Path) -> None:
    append(run, rows(1, 3))
    summary(run, "running")
    old = os.path.getmtime(run) - 3600
    for path in (run, run / "metrics.csv", run / "summary.json"):
        os.utime(path, (old, old))
    p = RunFollower(run).poll()
    assert p.status.state == "quiet" and p.status.text.startswith("no write for 1h")


# -- the weights ----------------------------------------------------------------------------------------------


def _train(out: Path, **changes: object) -> object:
    """A real short run through the session into `out`; returns its trainer."""
    from dataclasses import replace as dc_replace

    from nntui.engine.control import Control
    from nntui.engine.presets import preset
    from nntui.engine.session import Session

    config = dc_replace(preset("lecture"), **changes)
    session = Session(config, out=out)
    session.run(Control())
    return session.trainer


def test_weights_redraw_the_fit_the_trainer_sends(tmp_path: Path) -> None:
    out = tmp_path / "lecture"
    trainer = _train(out, epochs=300)
    f = RunFollower(out)
    p = f.poll()
    assert p.weights_changed and p.status.state == "done" and len(p.rows) == 300
    assert not f.poll().weights_changed
    shown = f.load_fit()
    own = trainer.fit_snapshot()  # type: ignore[attr-defined]
    assert shown.epoch == 300 and shown.fit.kind == own.kind == "curve"
    np.testing.assert_allclose(shown.fit.y, own.y, rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(shown.fit.x, own.x)
    assert shown.started.task == "regression" and len(shown.started.x_points) > 0
    assert shown.started.baseline is not None


def test_a_boundary_for_two_d_classes(tmp_path: Path) -> None:
    out = tmp_path / "xor"
    _train(out, dataset="xor", epochs=50, hidden=(8,), activation=("tanh",), loss="auto")
    shown = RunFollower(out).load_fit()
    assert shown.fit.kind == "boundary" and shown.fit.grid is not None
    assert shown.started.task == "classification"


def test_no_weights_yet_is_one_line(run: Path) -> None:
    with pytest.raises(follow_fit.FollowError, match=r"no model\.safetensors yet"):
        RunFollower(run).load_fit()


def test_damaged_weights_are_one_line(run: Path) -> None:
    (run / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(follow_fit.FollowError, match="cannot read the weights"):
        RunFollower(run).load_fit()


def test_a_real_run_directory_reads_as_the_writer_wrote_it(tmp_path: Path) -> None:
    from nntui.engine.rundir import read_metrics

    out = tmp_path / "health"
    _train(out, epochs=120, health=True)
    f = RunFollower(out)
    p = f.poll()
    written = read_metrics(out / "metrics.csv")
    assert set(written) <= set(p.rows.columns) and p.bad_rows == 0
    for name, values in written.items():
        np.testing.assert_array_equal(p.rows.columns[name], values)
    ended = [e for e in p.events if isinstance(e, EpochsEnded)]
    assert sum(len(e.epochs) for e in ended) == 120
