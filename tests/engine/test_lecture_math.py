"""The lecture's worked examples: seed 004's gradient step and the backprop examples."""

from __future__ import annotations

import torch

from nntui.engine.data import make_dataset
from nntui.engine.presets import preset
from nntui.engine.trainer import Trainer


def test_seed004_one_step_from_w3_gives_2_6() -> None:
    """From w = 3 on the point (1, 1) with lr 0.1, one gradient step gives w = 2.6."""
    trainer = Trainer(preset("linreg"))
    trainer.prepare()
    model, opt = trainer.model, trainer.optimizer
    assert model is not None and opt is not None
    (w,) = list(model.parameters())  # hypothesis w·x: one parameter, no bias
    with torch.no_grad():
        w.fill_(3.0)
    x = torch.tensor([[1.0]])
    y = torch.tensor([[1.0]])
    trainer.step_fn(x, y)
    assert abs(float(w.detach()) - 2.6) < 1e-6


def test_seed004_data_is_x_equals_y() -> None:
    ds = make_dataset(preset("linreg"))
    assert ds.x_train[:, 0].tolist() == [1.0, 2.0, 3.0]
    assert ds.y_train[:, 0].tolist() == [1.0, 2.0, 3.0]


def test_linreg_preset_converges_to_w_1() -> None:
    trainer = Trainer(preset("linreg"))
    result = trainer.run(lambda e: None)
    assert result.reason == "done"
    (w,) = list(trainer.model.parameters())
    assert abs(float(w.detach()) - 1.0) < 1e-4


def test_backprop_add_multiply() -> None:
    """f = (x + y)·z at x = −2, y = 5, z = −4: ∂f/∂x = ∂f/∂y = −4, ∂f/∂z = 3."""
    x, y, z = (torch.tensor(v, requires_grad=True) for v in (-2.0, 5.0, -4.0))
    f = (x + y) * z
    f.backward()
    assert float(f.detach()) == -12.0
    assert (float(x.grad), float(y.grad), float(z.grad)) == (-4.0, -4.0, 3.0)


def test_backprop_sigmoid_neuron() -> None:
    """w = (2, −3, −3), x = (−1, −2): σ(w0·x0 + w1·x1 + w2) gives ∂/∂w0 ≈ −0.2."""
    w = torch.tensor([2.0, -3.0, -3.0], requires_grad=True)
    x = torch.tensor([-1.0, -2.0])
    f = torch.sigmoid(w[0] * x[0] + w[1] * x[1] + w[2])
    f.backward()
    assert abs(float(w.grad[0]) - (-0.2)) < 0.01
    assert abs(float(w.grad[1]) - (-0.39)) < 0.01
    assert abs(float(w.grad[2]) - 0.2) < 0.01


def test_backprop_norm_of_matrix_vector() -> None:
    """f = ‖W·x‖² with W = [[0.1, 0.5], [−0.3, 0.8]], x = (0.2, 0.4)."""
    W = torch.tensor([[0.1, 0.5], [-0.3, 0.8]], requires_grad=True)
    x = torch.tensor([0.2, 0.4], requires_grad=True)
    f = (W @ x).pow(2).sum()
    f.backward()
    torch.testing.assert_close(W.grad, torch.tensor([[0.088, 0.176], [0.104, 0.208]]))
    torch.testing.assert_close(x.grad, torch.tensor([-0.112, 0.636]))
