"""A run's film: a bounded reel of its fit (or decision-boundary) snapshots, for replay.

At most MAX_FRAMES frames, spread evenly over the epochs so far: when the reel is full,
every other frame goes and the spacing doubles (as the loss history's buckets do), so a
run of 10⁶ epochs keeps 256 frames as evenly spaced as a run of 10³. The newest frame is
always kept. A frame is small (a 200-point curve, a 96×48 heatmap, a few hundred points),
and the reel also stops at MAX_BYTES whatever the frame size.

With a run directory the film is saved as film.npz, written atomically like every other
run file, and comes back on resume.
"""

from __future__ import annotations

import io
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import get_args

import numpy as np

from nntui.engine.atomic import atomic_write
from nntui.engine.events import FitKind, FitUpdated

FILM = "film.npz"
MAX_FRAMES = 256
MAX_BYTES = 20 * 1024 * 1024
FORMAT = 1


@dataclass(frozen=True)
class FilmError(Exception):
    """film.npz cannot be read: the run resumes without its replay."""

    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}; the run goes on without its earlier replay frames"


def frame_bytes(frame: FitUpdated) -> int:
    arrays = (frame.x, frame.y, frame.true_y, frame.grid)
    return sum(a.nbytes for a in arrays if a is not None) + 8 * len(frame.params) + 64


class Film:
    """Frames by epoch, evenly thinned; `at(epoch)` is the frame shown for a cursor there."""

    def __init__(self, max_frames: int = MAX_FRAMES, max_bytes: int = MAX_BYTES) -> None:
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self.spacing = 1
        """Epochs between kept frames (doubles when the reel fills)."""
        self.frames: list[FitUpdated] = []
        self.nbytes = 0
        self._provisional = False
        """The last frame is kept only for being the newest (it is replaced by the next one)."""

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def epochs(self) -> list[int]:
        return [f.epoch for f in self.frames]

    def add(self, frame: FitUpdated) -> None:
        """Keep `frame` if it is at least `spacing` epochs after the last kept one; the newest
        frame is always shown, as a provisional last frame until the next one replaces it."""
        frames = self.frames
        if frames and frame.epoch < frames[-1].epoch:
            self._drop_after(frame.epoch)  # a divergence went back: the later frames are gone
        if self._provisional or (frames and frames[-1].epoch == frame.epoch):
            self._pop()
        self._provisional = bool(frames) and frame.epoch - frames[-1].epoch < self.spacing
        frames.append(frame)
        self.nbytes += frame_bytes(frame)
        while len(self.frames) > self.max_frames or (self.nbytes > self.max_bytes and len(self.frames) > 2):
            self._thin()

    def at(self, epoch: int) -> FitUpdated | None:
        """The newest frame at or before `epoch` (the first frame when there is none before)."""
        if not self.frames:
            return None
        epochs = self.epochs
        i = int(np.searchsorted(epochs, epoch, side="right")) - 1
        return self.frames[max(i, 0)]

    def _pop(self) -> None:
        self.nbytes -= frame_bytes(self.frames.pop())

    def _drop_after(self, epoch: int) -> None:
        while self.frames and self.frames[-1].epoch > epoch:
            self._pop()
        self._provisional = False

    def _thin(self) -> None:
        """Twice the spacing: keep the first frame, then each one `spacing` epochs after the last
        kept, and the newest."""
        self.spacing *= 2
        frames = self.frames
        kept = frames[:1]
        for f in frames[1:-1]:
            if f.epoch - kept[-1].epoch >= self.spacing:
                kept.append(f)
        if len(kept) == len(frames) - 1 and len(frames) > 2:
            kept.pop()  # all were far apart already: the spacing grows until some go
        last = frames[-1]
        self._provisional = len(kept) > 0 and last.epoch - kept[-1].epoch < self.spacing
        self.frames = [*kept, last] if len(frames) > 1 else kept
        self.nbytes = sum(frame_bytes(f) for f in self.frames)

    # -- files ---------------------------------------------------------------------------------

    def save(self, rundir: Path) -> None:
        """film.npz in `rundir`, replaced atomically."""
        arrays: dict[str, np.ndarray] = {
            "format": np.array([FORMAT]),
            "epochs": np.array(self.epochs, dtype=np.int64),
            "kinds": np.array([f.kind for f in self.frames]),
            "losses": np.array([f.loss for f in self.frames], dtype=np.float64),
        }
        for i, f in enumerate(self.frames):
            arrays[f"x{i}"] = f.x
            arrays[f"y{i}"] = f.y
            if f.true_y is not None:
                arrays[f"t{i}"] = f.true_y
            if f.grid is not None:
                arrays[f"g{i}"] = f.grid
            if f.params:
                arrays[f"p{i}"] = np.asarray(f.params)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
        atomic_write(rundir / FILM, buffer.getvalue())

    @classmethod
    def load(cls, rundir: Path, up_to_epoch: int | None = None) -> Film:
        """The film saved in `rundir` (frames past `up_to_epoch` dropped: the checkpoint is
        where a resumed run goes on). Raises FilmError for a missing or damaged file."""
        path = rundir / FILM
        film = cls()
        try:
            with np.load(path, allow_pickle=False) as data:
                if int(data["format"][0]) != FORMAT:
                    raise FilmError(str(path), f"format {int(data['format'][0])} is not one this nntui reads")
                kinds = [str(k) for k in data["kinds"]]
                losses = data["losses"].tolist() if "losses" in data else [math.nan] * len(kinds)
                for i, (epoch, kind) in enumerate(zip(data["epochs"].tolist(), kinds)):
                    if kind not in get_args(FitKind):
                        raise FilmError(str(path), f"frame {i} has an unknown kind {kind!r}")
                    if up_to_epoch is not None and epoch > up_to_epoch:
                        break
                    frame = FitUpdated(
                        epoch=int(epoch), kind=kind,  # type: ignore[arg-type]
                        x=data[f"x{i}"], y=data[f"y{i}"],
                        true_y=data[f"t{i}"] if f"t{i}" in data else None,
                        grid=data[f"g{i}"] if f"g{i}" in data else None,
                        params=tuple(float(v) for v in data[f"p{i}"]) if f"p{i}" in data else (),
                        loss=float(losses[i]),
                    )
                    film.add(frame)
        except FileNotFoundError:
            raise FilmError(str(path), "no film was saved") from None
        except FilmError:
            raise
        except (OSError, ValueError, KeyError, IndexError, zipfile.BadZipFile, EOFError) as exc:
            raise FilmError(str(path), f"cannot read it ({type(exc).__name__}: {exc})") from None
        return film


def _on_grid(epoch: int, spacing: int, origin: int) -> bool:
    return (epoch - origin) % spacing == 0
