"""The lecture's own training script (seed 003, "(순한맛) Neural Network"), as a whole process.

    python benchmarks/seed_script.py          # the lecture's 5000 epochs
    python benchmarks/seed_script.py 200      # fewer (the benchmark's smoke test)

Why it is here: `benchmarks/startup.py` times it against `nntui --headless` from process
start to exit, so "nntui is faster than the script it replaces" is measured on what a
student runs, not on a loop written to be fast. It therefore does what the seed does, in
the seed's order, with none of nntui's optimisations: a fresh autograd graph every epoch,
`optimizer.zero_grad()` after the forward pass, a `print(loss)` every 100 epochs and every
loss copied to the host (`loss.cpu().detach().numpy()`, one device sync per step).

Changed from the seed, on purpose: the CPU instead of `.cuda()`; no Visdom (it needs a
server; the seed only plotted `loss_arr` with it); `Variable(...)` dropped (a no-op since
PyTorch 0.4) and the deprecated `init.uniform`/`init.normal` spelled `uniform_`/`normal_`;
`loss.cpu().data.numpy()[0]` spelled `loss.cpu().detach().numpy()` (a 0-d array today);
a fixed seed, so two runs print the same numbers (it costs nothing).
"""

from __future__ import annotations

import sys

import numpy as np  # noqa: F401  (the seed imports it; its import time is part of the script's)
import torch
import torch.nn as nn
import torch.nn.init as init
import torch.optim as optim

# nntui trains a model this small on 1 thread (nntui.engine.trainer.default_threads: 1 thread
# below 2·10⁷ parameter·rows), so the script does too: the comparison is then about the
# program, not about thread counts.
torch.set_num_threads(1)
torch.manual_seed(0)

num_data = 1000
num_epoch = int(sys.argv[1]) if len(sys.argv) > 1 else 5000

x = init.uniform_(torch.Tensor(num_data, 1), -15, 15)
y = 8 * (x**2) + 7 * x + 3
noise = init.normal_(torch.FloatTensor(num_data, 1), std=1)
y_noise = y + noise

# The OCR'd slides (/work/shared/seeds/003_*.txt) show an nn.ReLU() after nn.Linear(10, 6)
# too; the reference experiment in CONTEXT.md (and nntui's lecture preset, activation
# "relu,linear") has no activation there, so neither has this script.
model = nn.Sequential(
    nn.Linear(1, 10),
    nn.ReLU(),
    nn.Linear(10, 6),
    nn.Linear(6, 1),
)

loss_func = nn.L1Loss()
optimizer = optim.SGD(model.parameters(), lr=0.001)

loss_arr = []
label = y_noise
for i in range(num_epoch):
    output = model(x)
    optimizer.zero_grad()
    loss = loss_func(output, label)
    loss.backward()
    optimizer.step()
    if i % 100 == 0:
        print(loss)
    loss_arr.append(loss.cpu().detach().numpy())

param_list = list(model.parameters())
print(param_list)
