"""Whole-file writes that a kill cannot tear: temporary file, flush, fsync, rename.

A crash at any moment leaves the old version of a file or the new one, never half of one;
each file gets the mode a plain new file would (0644 under umask 022). Every file of a run
directory but the appended metrics.csv is written this way.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def atomic_replace(path: Path, write: Callable[[str], None]) -> None:
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
    def write(tmp: str) -> None:
        Path(tmp).write_bytes(raw)

    atomic_replace(path, write)


def atomic_save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
    """Replace `path` with a safetensors file, atomically."""
    from safetensors.torch import save_file

    contiguous = {k: v.contiguous() for k, v in tensors.items()}
    atomic_replace(path, lambda tmp: save_file(contiguous, tmp, metadata=metadata))


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
