"""Replay: the run's film seen through a cursor (←/→, Home/End) while it is paused or over.

Plain state, no widgets: the app feeds it every fit snapshot (with the network's health at
that epoch, when it was recorded) and asks it which frame to show.
"""

from __future__ import annotations

from nntui.engine.events import FitUpdated, LayerHealth
from nntui.engine.film import Film


class Replay:
    """The frames of one run and, while scrubbing, which one the cursor is on."""

    def __init__(self, film: Film | None = None) -> None:
        self.film = film or Film()
        self.health: dict[int, tuple[LayerHealth, ...]] = {}
        """Health rows by epoch, for the frames that had them (pruned with the film)."""
        self.cursor: int | None = None
        """Index into the film's frames while scrubbing; None when live."""

    @property
    def active(self) -> bool:
        return self.cursor is not None

    def record(self, fits: list[tuple[FitUpdated, tuple[LayerHealth, ...]]]) -> bool:
        """New snapshots from the run. While scrubbing the cursor stays on its frame, except on
        the newest one, which it follows (End means "the newest": the chunk in flight when
        training paused lands after the key). True when the cursor moved to another frame."""
        if not fits:
            return False
        on = self.frame
        at_end = on is not None and self.cursor == len(self.film) - 1
        for fit, health in fits:
            self.film.add(fit)
            if health:
                self.health[fit.epoch] = health
        if len(self.health) > 2 * len(self.film) + 8:
            kept = set(self.film.epochs)
            self.health = {e: h for e, h in self.health.items() if e in kept}
        if on is None:
            return False
        epochs = self.film.epochs
        if at_end or on.epoch not in epochs:
            self.cursor = len(epochs) - 1
        else:
            self.cursor = epochs.index(on.epoch)
        return self.frame is not on

    @property
    def frame(self) -> FitUpdated | None:
        if self.cursor is None or not self.film.frames:
            return None
        return self.film.frames[min(self.cursor, len(self.film) - 1)]

    def enter(self) -> FitUpdated | None:
        """Start scrubbing at the newest frame (None: nothing to replay yet)."""
        if not self.film.frames:
            return None
        self.cursor = len(self.film) - 1
        return self.frame

    def move(self, step: int) -> FitUpdated | None:
        """`step` frames on (negative: back), clamped to the film."""
        if self.cursor is None:
            return self.enter()
        self.cursor = max(0, min(len(self.film) - 1, self.cursor + step))
        return self.frame

    def home(self) -> FitUpdated | None:
        self.cursor = 0 if self.film.frames else None
        return self.frame

    def end(self) -> FitUpdated | None:
        return self.enter()

    def leave(self) -> FitUpdated | None:
        """Back to live; returns the newest frame (what the live view shows)."""
        self.cursor = None
        return self.film.frames[-1] if self.film.frames else None

    def health_at(self, epoch: int) -> tuple[LayerHealth, ...] | None:
        """The health recorded at exactly this epoch, or None (it was not recorded there)."""
        return self.health.get(epoch)
