"""Checkpoints: everything needed to continue a run, in one safetensors file.

Weights, optimizer state, the batch order's generator and the position (epoch, lr, clock,
best loss) live in one file so they can never disagree; the config the weights were
trained with rides in its metadata. Safetensors only, never pickle; a checkpoint saved on
a GPU loads on a CPU-only machine. `read_meta` reads the metadata without torch, so the
CLI and the dashboard's UI process can check a run directory before a trainer exists.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from nntui import __version__
from nntui.engine.atomic import atomic_save_tensors
from nntui.engine.config import TrainConfig
from nntui.engine.errors import CheckpointError, NntuiError
from nntui.engine.record import dumps_json
from nntui.engine.tomlio import from_mapping

CHECKPOINT = "checkpoint.safetensors"
MODEL = "model.safetensors"
FORMAT = "nntui-checkpoint-1"
MODEL_FORMAT = "nntui-model-1"
MAX_HEADER = 100 * 1024 * 1024
"""A safetensors header larger than this is damage, not a header (the format caps it too)."""


@dataclass
class Checkpoint:
    """Everything needed to continue a run: CPU tensors and plain values."""

    epoch: int
    model_state: dict[str, Tensor]
    optimizer_state: dict[str, Any]
    """torch.optim's state-dict layout: {"state": {index: {name: tensor}}, "param_groups": [...]}."""
    batch_rng_state: Tensor | None
    lr: float
    elapsed_s: float = 0.0
    """Training time before this checkpoint: a resumed run's clock goes on from here."""
    best_loss: float = math.inf


def to_cpu(value: Any) -> Any:
    """A state dict's tensors copied to the CPU (nested dicts and lists kept)."""
    if isinstance(value, Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: to_cpu(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_cpu(v) for v in value]
    return value


def save_checkpoint(rundir: Path, ck: Checkpoint, config: TrainConfig) -> None:
    """checkpoint.safetensors (to resume) and model.safetensors (the weights alone, for
    `nntui watch` and other readers), each replaced atomically."""
    tensors: dict[str, Tensor] = {f"model.{k}": v for k, v in ck.model_state.items()}
    opt = ck.optimizer_state or {"state": {}, "param_groups": []}
    for idx, state in opt.get("state", {}).items():
        for name, value in state.items():
            if value is None:
                continue
            t = value if isinstance(value, Tensor) else torch.tensor(value)
            tensors[f"optim.{idx}.{name}"] = t.detach().cpu()
    if ck.batch_rng_state is not None:
        tensors["rng.batch"] = ck.batch_rng_state.cpu()
    meta = {
        "format": FORMAT,
        "nntui_version": __version__,
        "epoch": str(ck.epoch),
        "lr": repr(ck.lr),
        "elapsed_s": repr(ck.elapsed_s),
        "best_loss": repr(ck.best_loss),
        "param_groups": json.dumps(opt.get("param_groups", [])),
        "config": dumps_json(config.to_dict()),
    }
    atomic_save_tensors(rundir / CHECKPOINT, tensors, meta)
    weights_meta = {"format": MODEL_FORMAT, "epoch": str(ck.epoch), "config": meta["config"]}
    atomic_save_tensors(rundir / MODEL, dict(ck.model_state), weights_meta)


def read_meta(path: str | Path) -> dict[str, str]:
    """A safetensors file's metadata, read as the format defines it (an 8-byte little-endian
    header length, then a JSON header whose `__metadata__` holds strings): no torch needed."""
    with open(path, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        if not 0 < size <= MAX_HEADER:
            raise ValueError(f"header size {size} is not valid")
        raw = f.read(size)
    if len(raw) != size:
        raise ValueError("the file ends inside its header")
    header = json.loads(raw)
    meta = header.get("__metadata__", {}) if isinstance(header, dict) else {}
    return {str(k): str(v) for k, v in meta.items()} if isinstance(meta, dict) else {}


@dataclass(frozen=True)
class CheckpointInfo:
    """What a checkpoint's metadata says, read without torch."""

    config: TrainConfig
    epoch: int
    lr: float
    elapsed_s: float
    best_loss: float
    param_groups: list[Any]


def checkpoint_info(rundir: str | Path) -> CheckpointInfo:
    """The checkpoint's own config and position; raises CheckpointError naming what is wrong.

    The config is the checkpoint's own copy, the one its weights were trained with; config.toml
    is not read (it is for people, and an edited one would not fit the weights)."""
    rundir = Path(rundir)
    path = rundir / CHECKPOINT
    if not rundir.is_dir():
        raise CheckpointError(f"{rundir}: not a run directory (it does not exist)")
    if not path.exists():
        raise CheckpointError(f"{rundir}: no {CHECKPOINT} to resume from (was the run saved with --out?)")
    try:
        meta = read_meta(path)
    except (OSError, ValueError, struct.error) as exc:
        raise CheckpointError(f"{path}: cannot read the checkpoint ({exc})") from None
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an nntui checkpoint (format {meta.get('format')!r})")
    try:
        return CheckpointInfo(
            config=from_mapping(json.loads(meta["config"]), where=str(path)),
            epoch=int(meta["epoch"]),
            lr=float(meta["lr"]),
            elapsed_s=float(meta.get("elapsed_s", "0")),
            best_loss=float(meta.get("best_loss", "inf")),
            param_groups=json.loads(meta["param_groups"]),
        )
    except (KeyError, ValueError) as exc:
        if isinstance(exc, NntuiError):
            raise
        raise CheckpointError(f"{path}: damaged metadata ({exc})") from None


def load_checkpoint(rundir: str | Path) -> tuple[TrainConfig, Checkpoint]:
    """The checkpoint's config and its tensors, loaded on the CPU whatever saved them."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    info = checkpoint_info(rundir)
    path = Path(rundir) / CHECKPOINT
    try:
        tensors = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: cannot read the checkpoint ({exc})") from None
    model_state = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    state: dict[int, dict[str, Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    optimizer_state = {"state": state, "param_groups": info.param_groups} if info.param_groups else {}
    ck = Checkpoint(
        info.epoch, model_state, optimizer_state, tensors.get("rng.batch"), info.lr, info.elapsed_s, info.best_loss
    )
    return info.config, ck


def restore(model: torch.nn.Module, optimizer: Any, ck: Checkpoint) -> None:
    """Load a checkpoint's weights and optimizer state into a freshly built model; a shape
    that does not fit names the parameter (other hidden sizes or data than the checkpoint's)."""
    own = dict(model.named_parameters())
    for name, tensor in ck.model_state.items():
        if name not in own:
            raise CheckpointError(f"checkpoint has a parameter {name!r} this model does not have")
        if tuple(own[name].shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"parameter {name}: expected shape {tuple(own[name].shape)}, found {tuple(tensor.shape)} "
                "in the checkpoint (was it saved with other hidden sizes or data?)"
            )
    missing = set(own) - set(ck.model_state)
    if missing:
        raise CheckpointError(f"checkpoint lacks parameters: {', '.join(sorted(missing))}")
    with torch.no_grad():
        for name, tensor in ck.model_state.items():
            own[name].copy_(tensor.to(own[name].device))
    if ck.optimizer_state:
        optimizer.load_state_dict(ck.optimizer_state)
    for group in optimizer.param_groups:
        group["lr"] = ck.lr
