"""When the loss becomes NaN/inf: go back to the best weights seen and find an lr that works.

The best weights, not merely the last finite ones: a run on its way to inf has finite but
useless weights for a while, and resuming from those diverges again at any rate. The
suggested learning rate is one that was tried, not guessed (`probe_lr`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from nntui.engine.model import MLP
from nntui.engine.optim import Optimizer, make_optimizer

PROBE_STEPS = 25
PROBE_ROWS = 4096
PROBE_FACTORS = (10, 100, 1_000, 10_000, 100_000, 1_000_000)


@dataclass(frozen=True)
class WeightsSnapshot:
    """A model's weights and its optimizer's state at one epoch (device copies)."""

    epoch: int
    weights: list[Tensor]
    optimizer_state: dict[str, Any]

    @classmethod
    def take(cls, epoch: int, model: MLP, optimizer: Optimizer) -> WeightsSnapshot:
        return cls(
            epoch, [p.detach().clone() for p in model.parameters()], copy.deepcopy(optimizer.state_dict())
        )

    @torch.no_grad()
    def restore(self, model: MLP, optimizer: Optimizer) -> None:
        for p, w in zip(model.parameters(), self.weights):
            p.copy_(w)
        optimizer.load_state_dict(copy.deepcopy(self.optimizer_state))


def probe_lr(
    model: MLP, optimizer_name: str, loss_fn: Callable[[Tensor, Tensor], Tensor], x: Tensor, y: Tensor, lr: float
) -> float:
    """The largest of lr/10, lr/100, … that, from the current weights, lowers the loss over
    a few full-batch steps without blowing up.

    Runs on copies (autograd, the first batch of at most PROBE_ROWS rows); the model is untouched.
    """
    x, y = x[:PROBE_ROWS], y[:PROBE_ROWS]
    for factor in PROBE_FACTORS:
        trial = copy.deepcopy(model)
        opt = make_optimizer(optimizer_name, trial.parameters(), lr / factor)
        losses = []
        for _ in range(PROBE_STEPS):
            opt.zero_grad()
            loss = loss_fn(trial(x), y)
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            losses.append(loss.detach())
        values = torch.stack(losses).cpu().numpy()  # one sync for the whole probe
        if np.isfinite(values).all() and values[-1] < values[0]:
            return lr / factor
    return lr / PROBE_FACTORS[-1]


def diverged_message(bad_epoch: int, lr: float, kept_epoch: int, kept_loss: float) -> str:
    """What went wrong and what the run went back to, in one sentence a person can act on."""
    kept = f"the weights after epoch {kept_epoch}" if kept_epoch else "the initial weights"
    loss = f" (loss {kept_loss:.4g})" if np.isfinite(kept_loss) else ""
    return f"loss became NaN/inf at epoch {bad_epoch} (learning rate {lr:g} too high?). Went back to {kept}{loss}."
