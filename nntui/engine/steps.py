"""One optimizer step on the autograd path, the losses, and the thread count.

The fast path (hand-written forward and backward, `fastpath`) is the default; this is
the reference it is checked against and the fallback for models it does not cover.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from nntui.engine.model import MLP
from nntui.engine.optim import Optimizer

Step = Callable[[Tensor, Tensor], Tensor]
LossFn = Callable[[Tensor, Tensor], Tensor]

LOSS_FUNCTIONS: dict[str, LossFn] = {
    "l1": F.l1_loss,
    "mse": F.mse_loss,
    "huber": F.huber_loss,
    "bce": F.binary_cross_entropy_with_logits,
    "ce": F.cross_entropy,
}


def loss_function(name: str) -> LossFn:
    return LOSS_FUNCTIONS[name]


def autograd_step(model: MLP, loss_fn: LossFn, optimizer: Optimizer, clip_grad: float) -> Step:
    """The reference path: exactly the loop a user writes, with its names bound once."""
    zero_grad, step = optimizer.zero_grad, optimizer.step
    params = list(model.parameters())
    clip = torch.nn.utils.clip_grad_norm_

    def autograd(x: Tensor, y: Tensor) -> Tensor:
        zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()  # type: ignore[no-untyped-call]
        if clip_grad > 0:
            clip(params, clip_grad)
        step()
        return loss.detach()

    return autograd


def default_threads(params: int, rows: int) -> int:
    """1 torch thread for small models: measured here, 2 threads ran 0.72× and next to a busy
    UI thread cores-many threads fell to 6 steps/s. Big models get all but one core."""
    if params * rows < 20_000_000:
        return 1
    return max(1, (os.cpu_count() or 2) - 1)
