"""Run directories: config.toml, metrics.csv, summary.json, model.safetensors, checkpoint.

Every whole file is written atomically (temporary file, flush, fsync, os.replace), so a
kill leaves either the old or the new version, never half of one; each file gets the mode
a plain new file would (0644 under umask 022). metrics.csv is appended one chunk of rows
per `os.write` call: a write syscall to a regular file is not cut short by a signal, so a
kill cannot leave a torn last line, and an append that fails part-way (disk full) is cut
back to the last complete row. An existing metrics.csv's header is authoritative: resumed
rows are written in its column order.

On resume the checkpoint's own copy of the config is authoritative; config.toml is written
for people to read and is not read back (an edit to it does not change a resumed run; see
`edited_config_fields`).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from nntui import __version__
from nntui.engine.config import TrainConfig
from nntui.engine.errors import CheckpointError, ConfigError, NntuiError
from nntui.engine.events import EpochsEnded, Event, RunFailed, RunFinished, RunStarted
from nntui.engine.tomlio import from_mapping, load_toml
from nntui.engine.trainer import Checkpoint

CONFIG = "config.toml"
METRICS = "metrics.csv"
SUMMARY = "summary.json"
MODEL = "model.safetensors"
CHECKPOINT = "checkpoint.safetensors"
BASE_COLUMNS = ("epoch", "train_loss", "test_loss", "elapsed_s", "lr")


def json_safe(value: Any) -> Any:
    """NaN and ±inf become null: JSON has no literal for them (and strict parsers refuse them)."""
    if isinstance(value, float) or isinstance(value, np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def dumps_json(value: Any, **kwargs: Any) -> str:
    return json.dumps(json_safe(value), allow_nan=False, **kwargs)


def _atomic_replace(path: Path, write: Callable[[str], None]) -> None:
    """`write(tmp)` fills a temporary file beside `path`; it is fsynced and renamed over `path`.

    A crash at any moment leaves the old file or the new one, never a torn one; a failed
    write leaves no temporary file behind.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.close(fd)
        write(tmp)
        with open(tmp, "rb+") as f:
            # after `write`: a writer may replace the file (safetensors does, as 0600)
            os.fchmod(f.fileno(), _umask_mode())
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def atomic_write(path: Path, data: bytes | str) -> None:
    """Replace `path` with `data`, atomically."""
    raw = data.encode() if isinstance(data, str) else data
    _atomic_replace(path, lambda tmp: Path(tmp).write_bytes(raw))


def atomic_save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """Replace `path` with a safetensors file, atomically."""
    contiguous = {k: v.contiguous() for k, v in tensors.items()}
    _atomic_replace(path, lambda tmp: save_file(contiguous, tmp, metadata=metadata))


def _umask_mode() -> int:
    """mkstemp makes 0600 files; a run directory's files should read like any other file."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fmt(v: float) -> str:
    return "" if not math.isfinite(v) else repr(float(v))


# ----------------------------------------------------------------------------- checkpoints


def save_checkpoint(rundir: Path, ck: Checkpoint, config: TrainConfig) -> None:
    """One file holds weights, optimizer state and position: they can never disagree."""
    tensors: dict[str, torch.Tensor] = {f"model.{k}": v for k, v in ck.model_state.items()}
    opt = ck.optimizer_state or {"state": {}, "param_groups": []}
    for idx, state in opt.get("state", {}).items():
        for name, value in state.items():
            if value is None:
                continue
            t = value if isinstance(value, torch.Tensor) else torch.tensor(value)
            tensors[f"optim.{idx}.{name}"] = t.detach().cpu()
    if ck.batch_rng_state is not None:
        tensors["rng.batch"] = ck.batch_rng_state.cpu()
    meta = {
        "format": "nntui-checkpoint-1",
        "nntui_version": __version__,
        "epoch": str(ck.epoch),
        "lr": repr(ck.lr),
        "elapsed_s": repr(ck.elapsed_s),
        "best_loss": repr(ck.best_loss),
        "param_groups": json.dumps(opt.get("param_groups", [])),
        "config": dumps_json(config.to_dict()),
    }
    atomic_save_tensors(rundir / CHECKPOINT, tensors, meta)
    weights_meta = {"format": "nntui-model-1", "epoch": str(ck.epoch), "config": meta["config"]}
    atomic_save_tensors(rundir / MODEL, dict(ck.model_state), weights_meta)


def load_checkpoint(rundir: str | Path) -> tuple[TrainConfig, Checkpoint]:
    """Resume from a run directory; safetensors only, never pickle. Loads on CPU whatever saved it.

    The config is the checkpoint's own copy, the one its weights were trained with; config.toml
    is not read (it is for people, and an edited one would not fit the weights).
    """
    rundir = Path(rundir)
    path = rundir / CHECKPOINT
    if not rundir.is_dir():
        raise CheckpointError(f"{rundir}: not a run directory (it does not exist)")
    if not path.exists():
        raise CheckpointError(f"{rundir}: no {CHECKPOINT} to resume from (was the run saved with --out?)")
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
        tensors = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: cannot read the checkpoint ({exc})") from None
    if meta.get("format") != "nntui-checkpoint-1":
        raise CheckpointError(f"{path}: not an nntui checkpoint (format {meta.get('format')!r})")
    try:
        config = from_mapping(json.loads(meta["config"]), where=str(path))
        epoch = int(meta["epoch"])
        lr = float(meta["lr"])
        elapsed = float(meta.get("elapsed_s", "0"))
        best = float(meta.get("best_loss", "inf"))
        param_groups = json.loads(meta["param_groups"])
    except (KeyError, ValueError) as exc:
        if isinstance(exc, NntuiError):
            raise
        raise CheckpointError(f"{path}: damaged metadata ({exc})") from None
    model_state = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    optimizer_state = {"state": state, "param_groups": param_groups} if param_groups else {}
    return config, Checkpoint(epoch, model_state, optimizer_state, tensors.get("rng.batch"), lr, elapsed, best)


def edited_config_fields(rundir: str | Path, config: TrainConfig) -> tuple[str, ...]:
    """Fields where the run directory's config.toml differs from `config` (the checkpoint's):
    someone edited it by hand. Resuming ignores those edits; a caller can say so. An unreadable
    or missing config.toml differs in nothing."""
    toml = Path(rundir) / CONFIG
    try:
        edited = load_toml(toml).to_dict() if toml.is_file() else {}
    except (ConfigError, OSError):
        return ()
    if not edited:
        return ()
    own = config.to_dict()
    return tuple(k for k in sorted(own.keys() | edited.keys()) if own.get(k) != edited.get(k))


RESUME_CHANGEABLE = ("epochs", "lr", "device", "engine", "clip_grad", "health")
"""What may differ when a run is continued; the rest would make it another run."""


def resume_config(rundir: str | Path, overrides: dict[str, Any] | None = None) -> tuple[TrainConfig, Checkpoint]:
    """The saved run's config with allowed overrides (e.g. more epochs), and its checkpoint."""
    from dataclasses import replace

    config, ck = load_checkpoint(rundir)
    overrides = {k: v for k, v in (overrides or {}).items() if getattr(config, k) != v}
    for key, value in overrides.items():
        if key not in RESUME_CHANGEABLE:
            raise ConfigError(
                key, value, f"cannot change when resuming {rundir}; only {', '.join(RESUME_CHANGEABLE)} can"
            )
    if "lr" in overrides:
        ck.lr = overrides["lr"]
    return replace(config, **overrides), ck


# ----------------------------------------------------------------------------- the record


class RunRecord:
    """Remembers what a summary needs: the start, the latest epochs, the end."""

    def __init__(self, run_dir: Path | None = None) -> None:
        self.run_dir = run_dir
        self.config: TrainConfig | None = None
        self.started: RunStarted | None = None
        self.last: EpochsEnded | None = None
        self.finished: RunFinished | None = None
        self.failed: RunFailed | None = None
        self.best = math.inf

    def __call__(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.started, self.config = event, event.config
        elif isinstance(event, EpochsEnded):
            self.last = event
            self.best = min(self.best, float(np.nanmin(event.train_loss)))
        elif isinstance(event, RunFinished):
            self.finished = event
        elif isinstance(event, RunFailed):
            self.failed = event

    def summary(self, status: str, error: str = "") -> dict[str, Any]:
        fin, last, started = self.finished, self.last, self.started
        out: dict[str, Any] = {
            "status": status,
            "epochs": fin.epoch if fin else (last.last_epoch if last else 0),
            "total_epochs": self.config.epochs if self.config else None,
            "final_loss": fin.final_loss if fin else (float(last.train_loss[-1]) if last else None),
            "best_loss": fin.best_loss if fin else self.best,
            "steps_per_s": fin.steps_per_s if fin else (last.steps_per_s if last else None),
            "elapsed_s": fin.elapsed_s if fin else (last.elapsed_s if last else None),
            "device": started.device if started else None,
            "engine": started.engine if started else None,
            "parameters": started.parameters if started else None,
            "run_dir": str(self.run_dir) if self.run_dir else None,
        }
        if started is not None and started.baseline is not None:
            out["baseline_loss"] = started.baseline.train_loss
            out["baseline_degree"] = started.baseline.degree
        if fin is not None and fin.diverged_at is not None:
            out["diverged_at"] = fin.diverged_at
        metrics = (fin.metrics if fin else None) or (last.metrics if last else {})
        for key, value in metrics.items():
            out[key] = value
            # train_r2 / test_accuracy: also under the plain name, from the test split where there is one
            split, name = key.split("_", 1)
            if split == "test" or f"test_{name}" not in metrics:
                out[name] = value
                out[f"{name}_split"] = split
        if fin and fin.message:
            out["message"] = fin.message
        if fin and fin.suggested_lr is not None:
            out["suggested_lr"] = fin.suggested_lr
        error = error or (self.failed.error if self.failed else "")
        if error:
            out["error"] = error
        return out


# ----------------------------------------------------------------------------- the sink


class RunDirSink:
    """Listens to trainer events and keeps a run directory current.

    A disk error (read-only directory, full disk) is reported once through `on_error` and
    training goes on; files already written are never touched by a failing write.
    """

    def __init__(self, rundir: str | Path, on_error: Callable[[str], None] | None = None, resume: bool = False) -> None:
        self.rundir = Path(rundir)
        self.on_error = on_error or (lambda message: None)
        self.resume = resume
        self.failed = False
        self.columns: tuple[str, ...] = BASE_COLUMNS
        self.record = RunRecord(self.rundir)
        self._fd: int | None = None
        self._size = 0
        """Bytes of metrics.csv up to its last complete row: a failed append is cut back to it."""
        self._dropped_warned = False

    @property
    def config(self) -> TrainConfig | None:
        return self.record.config

    # -- events ----------------------------------------------------------------------

    def __call__(self, event: Event) -> None:
        self.record(event)
        if isinstance(event, RunStarted):
            self._guard(self._start, event)
        elif isinstance(event, EpochsEnded):
            self._guard(self._append, event)
        elif isinstance(event, RunFinished):
            self._guard(self.write_summary, event.reason)
        elif isinstance(event, RunFailed):
            self._guard(self.write_summary, "failed", event.error)

    def _guard(self, fn: Callable[..., None], *args: Any) -> None:
        # after a disk error only summaries are still tried (the disk may have room again);
        # a bound method is a new object at each access: compare the functions
        if self.failed and getattr(fn, "__func__", fn) is not type(self).write_summary:
            return
        try:
            fn(*args)
        except OSError as exc:
            if not self.failed:
                self.failed = True
                self.on_error(
                    f"cannot write to the run directory {self.rundir}: {exc.strerror or exc}. "
                    "Training goes on; files saved before are intact."
                )

    def _start(self, event: RunStarted) -> None:
        self.rundir.mkdir(parents=True, exist_ok=True)
        self.columns = metrics_columns(event.task, event.config)
        atomic_write(self.rundir / CONFIG, event.config.to_toml())
        path = self.rundir / METRICS
        header = _truncate_metrics(path, event.start_epoch) if self.resume and path.exists() else None
        if header:
            self.columns = header  # the file's own header decides what each cell means
        else:
            atomic_write(path, ",".join(self.columns) + "\n")
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        self._size = os.fstat(self._fd).st_size
        self.write_summary("running")

    def _append(self, event: EpochsEnded) -> None:
        if self._fd is None:
            return
        n = len(event.epochs)
        lr = repr(event.lr)
        index = {name: j for j, name in enumerate(self.columns)}
        width = len(self.columns)
        last_cells: dict[str, str] = {"elapsed_s": f"{event.elapsed_s:.4f}"}
        last_cells.update((name, _fmt(value)) for name, value in event.metrics.items())
        for j, h in enumerate(event.health):
            last_cells[f"grad_norm_{j + 1}"] = _fmt(h.grad_norm)
            if j < len(event.health) - 1:
                last_cells[f"dead_{j + 1}"] = _fmt(h.dead_fraction)
        dropped = sorted(k for k in last_cells if k not in index)
        rows = []
        for i in range(n):
            row = [""] * width
            for name, value in (("epoch", str(int(event.epochs[i]))), ("train_loss", _fmt(event.train_loss[i])),
                                ("test_loss", _fmt(event.test_loss[i])), ("lr", lr)):
                if name in index:
                    row[index[name]] = value
            if i == n - 1:
                for name, value in last_cells.items():
                    if name in index:
                        row[index[name]] = value
            rows.append(",".join(row))
        data = raw = ("\n".join(rows) + "\n").encode()
        try:
            while data:  # one syscall in practice; loop only on a short write (disk nearly full)
                written = os.write(self._fd, data)
                data = data[written:]
        except OSError:
            # cut a part-written chunk back to the last complete row: a later append (or a
            # resume) must never continue a torn line
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)
            raise
        self._size += len(raw)
        if dropped and not self._dropped_warned:
            self._dropped_warned = True
            self.on_error(
                f"{self.rundir / METRICS} has no column for {', '.join(dropped)} (its header is from an earlier "
                "run with other settings); those values are not written there"
            )

    # -- files -----------------------------------------------------------------------

    def write_summary(self, status: str, error: str = "") -> None:
        if not self.rundir.is_dir():
            return
        summary = self.record.summary(status, error)
        atomic_write(self.rundir / SUMMARY, dumps_json(summary, indent=2) + "\n")

    def finish(self, status: str, error: str = "") -> None:
        """The last summary, under the disk-error guard (a read-only directory only warns, once)."""
        self._guard(self.write_summary, status, error)

    def save_checkpoint(self, ck: Checkpoint) -> None:
        """Called by the trainer (on_checkpoint): weights, optimizer and metrics made durable."""
        if self.config is None:
            return
        self._guard(self._save, ck)

    def _save(self, ck: Checkpoint) -> None:
        assert self.config is not None
        if self._fd is not None:
            os.fsync(self._fd)
        save_checkpoint(self.rundir, ck, self.config)

    def close(self) -> None:
        if self._fd is not None:
            try:
                os.fsync(self._fd)
            except OSError:
                pass
            os.close(self._fd)
            self._fd = None


def metrics_columns(task: str, config: TrainConfig) -> tuple[str, ...]:
    """The header a new metrics.csv gets for this task and config."""
    metric = "accuracy" if task == "classification" else "r2"
    cols = [*BASE_COLUMNS, f"train_{metric}", f"test_{metric}"]
    if config.health:
        n_hidden = len(config.hidden)
        cols += [f"grad_norm_{i + 1}" for i in range(n_hidden + 1)]
        cols += [f"dead_{i + 1}" for i in range(n_hidden)]
    return tuple(cols)


def _truncate_metrics(path: Path, epoch: int) -> tuple[str, ...] | None:
    """Resuming from `epoch`: drop rows past it (they will be trained again) and any torn tail.

    Returns the file's header (None when it has none: the caller writes a new file)."""
    lines = path.read_text().splitlines(keepends=True)
    if not lines or not lines[0].endswith("\n"):
        return None
    kept = lines[:1]
    for line in lines[1:]:
        if not line.endswith("\n"):
            break
        first = line.split(",", 1)[0]
        if first.isdigit() and int(first) <= epoch:
            kept.append(line)
    atomic_write(path, "".join(kept))
    return tuple(lines[0].rstrip("\r\n").split(","))


def read_metrics(path: str | Path) -> dict[str, np.ndarray]:
    """metrics.csv → columns (empty cells are NaN)."""
    lines = Path(path).read_text().splitlines()
    header = lines[0].split(",")
    rows = [line.split(",") for line in lines[1:] if line]
    cols: dict[str, np.ndarray] = {}
    for j, name in enumerate(header):
        cols[name] = np.array([float(r[j]) if j < len(r) and r[j] else math.nan for r in rows])
    return cols
