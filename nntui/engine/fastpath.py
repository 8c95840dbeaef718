"""The fast path: a hand-written forward and backward pass for plain MLPs.

The lecture's model is tiny (1-10-6-1): a step's FLOPs are about 1% of its time and the
rest is per-op overhead. Autograd pays for building the graph, for the engine walking it
and for allocating every intermediate and gradient on every step. Here each batch size
gets a *program* once: buffers for every intermediate, and the list of kernels that write
into them (``out=`` variants). A step then runs that list and calls the optimizer's ``step()``.

Numbers are the same as autograd's, bit for bit on the CPU: the forward calls the kernels
``F.linear`` and the activations call (``addmm``, ``clamp_min``...), and the backward calls
the very ATen kernels autograd's derivative formulas call (``threshold_backward``,
``gelu_backward``, ``mse_loss_backward``...). Where autograd's formula is a composite
(l1, bce, clamp, where), the same elementwise operations are written out in its order.

No step synchronizes with the device: the loss stays a device tensor, nothing is read
back, and nothing branches on a tensor's value (`.item()` on CUDA is a host-device sync).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, cast

import torch
from torch import Tensor, nn

from nntui.engine import names
from nntui.engine.activations import ELU_ALPHA, LEAKY_SLOPE
from nntui.engine.model import MLP

Op = Callable[[], object]
Step = Callable[[Tensor, Tensor], Tensor]


class SupportsStep(Protocol):
    """All the fast path needs of an optimizer: nntui.engine.optim's, or a torch.optim one."""

    def step(self) -> object: ...


_aten = torch.ops.aten
_MEAN = 1  # at::Reduction::Mean: the ATen loss kernels take the reduction as an int
_IGNORE_INDEX = -100  # F.cross_entropy's default
_MAX_PROGRAMS = 8  # batch sizes kept; an epoch of mini-batches needs two (full and remainder)
# What this module implements (every name there is: a test keeps it so); "auto" is resolved first.
ACTIVATIONS = frozenset(names.ACTIVATIONS)
LOSSES = frozenset(names.TRAINING_LOSSES)


def build_step(model: MLP, loss: str, optimizer: SupportsStep, clip_grad: float = 0.0) -> Step | None:
    """Return step(x, y) -> detached 0-d loss tensor, or None where no fast path exists (caller falls back to autograd).

    step writes the gradients into each parameter's ``.grad`` (allocated here once, then
    overwritten in place: no zero_grad needed), clips them like
    ``torch.nn.utils.clip_grad_norm_`` when ``clip_grad > 0``, then calls
    ``optimizer.step()`` (nntui.engine.optim's: its plain SGD step is one ``_foreach_add_``,
    no Python overhead worth a special case). The step holds detached views of the
    parameters: they follow in-place updates (optimizer steps, ``copy_``,
    ``load_state_dict``), not a parameter whose ``.data`` is replaced.
    """
    if not _supported(model, loss):
        return None
    layers: list[nn.Linear] = list(model.layers)  # type: ignore[arg-type]
    params = [p for layer in layers for p in (layer.weight, layer.bias) if p is not None]
    # Same order as model.parameters(): the clipping norm sums the per-tensor norms in this order.
    if [id(p) for p in params] != [id(p) for p in model.parameters()]:
        return None
    for p in params:
        if p.grad is None or p.grad.shape != p.shape or not p.grad.is_contiguous():
            p.grad = torch.zeros_like(p, memory_format=torch.contiguous_format)
    grads = [_grad(p) for p in params]
    pairs = list(zip(params, grads, strict=True))
    # Per layer: detached weight and bias (out= kernels refuse tensors that require grad) and
    # their gradient buffers.
    tensors: list[LayerTensors] = [
        (
            layer.weight.detach(),
            None if layer.bias is None else layer.bias.detach(),
            _grad(layer.weight),
            None if layer.bias is None else _grad(layer.bias),
        )
        for layer in layers
    ]
    clip = _clipper(grads, float(clip_grad)) if clip_grad > 0 else None
    programs: dict[int, _Program] = {}

    def step(x: Tensor, y: Tensor) -> Tensor:
        program = programs.get(x.shape[0])
        if program is None:
            if len(programs) >= _MAX_PROGRAMS:
                programs.clear()
            program = programs[x.shape[0]] = _Program(tensors, model.acts, loss, x, y)
        program.first(x)
        for op in program.forward:
            op()
        value = program.loss(y)
        for op in program.backward:
            op()
        program.first_grad(x)
        # Someone may have called zero_grad(set_to_none=True) since: the optimizer would skip
        # a parameter without .grad, so hand it our buffer back.
        for p, g in pairs:
            if p.grad is not g:
                p.grad = g
        if clip is not None:
            clip()
        optimizer.step()  # looked up on every call: whoever wraps optimizer.step after the fact is honoured
        return value

    return step


def _supported(model: nn.Module, loss: str) -> bool:
    """A plain MLP whose every parameter trains and that has no hooks the fast path would skip."""
    if not isinstance(model, MLP) or loss not in LOSSES:
        return False
    layers = list(model.layers)
    if len(layers) != len(model.acts) + 1 or any(a not in ACTIVATIONS for a in model.acts):
        return False
    if any(type(layer) is not nn.Linear for layer in layers):
        return False
    linears = cast(list[nn.Linear], layers)
    for layer, act, nxt in zip(linears[:-1], model.acts, linears[1:], strict=True):
        width = layer.out_features
        if act == "maxout":
            if width % 2:
                return False
            width //= 2
        if nxt.in_features != width:
            return False
    first = layers[0].weight
    for p in model.parameters():
        if (
            not p.requires_grad
            or p.dtype != first.dtype
            or not p.dtype.is_floating_point
            or p.device != first.device
            or p.layout != torch.strided
            or getattr(p, "_post_accumulate_grad_hooks", None)
            or getattr(p, "_backward_hooks", None)
        ):
            return False
    for module in model.modules():
        if module._forward_hooks or module._forward_pre_hooks or module._backward_hooks:
            return False
    return True


LayerTensors = tuple[Tensor, Tensor | None, Tensor, Tensor | None]
"""A layer's weight, bias (None without), weight gradient and bias gradient."""


class _Program:
    """Buffers and bound kernels for one batch size: forward, loss, backward.

    ``first(x)`` and ``first_grad(x)`` are the first layer's forward and weight gradient
    (the only ops that read x); ``forward`` and ``backward`` are the zero-argument kernel
    calls in between, in order; ``loss(y)`` returns the loss and writes its gradient.
    """

    def __init__(self, layers: list[LayerTensors], acts: tuple[str, ...], loss: str, x: Tensor, y: Tensor) -> None:
        n = x.shape[0]
        w0 = layers[0][0]
        dev, dtype = w0.device, w0.dtype
        _check_batch(w0.shape[1], layers[-1][0].shape[0], loss, x, y)

        def empty(*shape: int) -> Tensor:
            return torch.empty(shape, device=dev, dtype=dtype)

        self.zero = torch.zeros((), device=dev, dtype=dtype)
        self.forward: list[Op] = []
        backward: list[list[Op]] = []  # per layer, built front to back, run back to front

        # Forward: z_i = h_i W_iᵀ + b_i; h_{i+1} = act(z_i). h_0 is x, passed per call.
        h: Tensor | None = None  # input of the current layer (None: x)
        dh: Tensor | None = None  # gradient w.r.t. h (None: nothing flows back through h)
        act_grad: list[Op] = []  # ops that turn the gradient w.r.t. h into the previous dz
        for i, (w, b, w_grad, b_grad) in enumerate(layers):
            z, dz = empty(n, w.shape[0]), empty(n, w.shape[0])
            if h is None:
                self.first = _linear_x(b, w.t(), z)
            else:
                self.forward.append(_linear(b, h, w.t(), z))
            # This layer's backward: weight and bias gradients, then the gradient w.r.t. its
            # input h (d·W, skipped where the activation before passes nothing back), then
            # through that activation into the previous layer's dz.
            layer_ops: list[Op] = []
            if h is None:
                self.first_grad = _mm_x_into(dz.t(), w_grad)
            else:
                layer_ops.append(_mm_into(dz.t(), h, w_grad))
            if b_grad is not None:
                layer_ops.append(_sum_rows(dz, b_grad))
            if h is not None:
                if dh is not None:
                    layer_ops.append(_mm_into(dz, w, dh))
                layer_ops.extend(act_grad)
            backward.append(layer_ops)
            if i < len(acts):
                h, dh, fwd, act_grad = _activation(acts[i], z, dz, empty, self.zero)
                self.forward.extend(fwd)
            else:
                self.out, self.dout = z, dz
        self.backward = [op for ops in reversed(backward) for op in ops]
        self.loss = _loss(loss, self.out, self.dout, self.zero)


def _grad(p: Tensor) -> Tensor:
    assert p.grad is not None  # build_step allocated every .grad
    return p.grad


def _check_batch(n_in: int, n_out: int, loss: str, x: Tensor, y: Tensor) -> None:
    """Shapes once per batch size: an ``out=`` buffer of the wrong shape would be silently resized."""
    n = x.shape[0]
    if x.dim() != 2 or x.shape[1] != n_in:
        raise ValueError(f"fast path: x must be (n, {n_in}), got {tuple(x.shape)}")
    want = (n,) if loss == "ce" else (n, n_out)
    if tuple(y.shape) != want:
        raise ValueError(f"fast path: {loss} needs y of shape {want}, got {tuple(y.shape)}")


# ----------------------------------------------------------------------------- kernels
# Small factories so every op is a closure over its own buffers: no lookups in the loop.


def _linear_x(b: Tensor | None, wt: Tensor, z: Tensor) -> Callable[[Tensor], object]:
    # F.linear on a 2-d input is addmm(b, x, Wᵀ) with a bias and mm(x, Wᵀ) without.
    if b is None:
        return lambda x: torch.mm(x, wt, out=z)
    return lambda x: torch.addmm(b, x, wt, out=z)


def _linear(b: Tensor | None, h: Tensor, wt: Tensor, z: Tensor) -> Op:
    if b is None:
        return lambda: torch.mm(h, wt, out=z)
    return lambda: torch.addmm(b, h, wt, out=z)


def _mm_into(a: Tensor, b: Tensor, out: Tensor) -> Op:
    return lambda: torch.mm(a, b, out=out)


def _mm_x_into(dt: Tensor, out: Tensor) -> Callable[[Tensor], object]:
    # Autograd's weight gradient of addmm(b, x, Wᵀ) is gradᵀ·x, computed as such (mm_mat2_backward).
    return lambda x: torch.mm(dt, x, out=out)


def _sum_rows(d: Tensor, out: Tensor) -> Op:
    # The bias gradient: autograd's sum_to reduces the broadcast rows with a sum.
    return lambda: torch.sum(d, 0, out=out)


def _activation(
    name: str, z: Tensor, dz: Tensor, empty: Callable[..., Tensor], zero: Tensor
) -> tuple[Tensor, Tensor | None, list[Op], list[Op]]:
    """(output a, gradient buffer for a, forward ops, backward ops) of one hidden activation.

    The backward ops read the gradient w.r.t. a from the returned buffer and write the
    gradient w.r.t. z into dz, with the kernel autograd's derivative formula for that function uses.
    """
    n, width = z.shape
    if name == "linear":
        # Identity: a is z and the gradient passes through untouched; nothing runs.
        return z, dz, [], []
    if name in ("step", "sign"):
        # Autograd's sign backward is zeros_like(grad): dz stays the zeros written here, and
        # the gradient w.r.t. a is never computed (the caller skips it).
        dz.zero_()
        a = empty(n, width)
        if name == "sign":
            return a, None, [lambda: torch.sign(z, out=a)], []
        # sign(z)·0.5 + 0.5, the same two roundings as activations._step
        return a, None, [lambda: torch.sign(z, out=a), lambda: a.mul_(0.5), lambda: a.add_(0.5)], []
    if name == "maxout":
        k = width // 2
        first, second = z[:, :k], z[:, k:]
        a, da, mask = empty(n, k), empty(n, k), torch.empty((n, k), dtype=torch.bool, device=z.device)
        dz_first, dz_second = dz[:, :k], dz[:, k:]
        fwd: list[Op] = [lambda: torch.ge(first, second, out=mask), lambda: torch.where(mask, first, second, out=a)]
        # where's backward: the gradient goes to the piece that was taken, the other gets 0.
        bwd: list[Op] = [
            lambda: torch.where(mask, da, zero, out=dz_first),
            lambda: torch.where(mask, zero, da, out=dz_second),
        ]
        return a, da, fwd, bwd
    a, da = empty(n, width), empty(n, width)
    if name == "piecewise":
        s, mask = empty(n, width), torch.empty((n, width), dtype=torch.bool, device=z.device)
        fwd = [lambda: torch.add(z, 0.5, out=s), lambda: torch.clamp(s, 0.0, 1.0, out=a)]
        # clamp's backward passes the gradient where 0 <= s <= 1, bounds included. That is
        # exactly where clamp(s) == s (NaN compares unequal, as it fails both bounds).
        bwd = [lambda: torch.eq(a, s, out=mask), lambda: torch.where(mask, da, zero, out=dz)]
        return a, da, fwd, bwd
    if name == "relu":
        # F.relu is clamp_min(z, 0); autograd's relu backward is threshold_backward(grad, result, 0).
        fwd = [lambda: torch.clamp_min(z, 0.0, out=a)]
        bwd = [lambda: _aten.threshold_backward.grad_input(da, a, 0, grad_input=dz)]
    elif name == "leaky_relu":
        fwd = [lambda: torch._C._nn.leaky_relu(z, LEAKY_SLOPE, out=a)]
        bwd = [lambda: _aten.leaky_relu_backward.grad_input(da, z, LEAKY_SLOPE, False, grad_input=dz)]
    elif name == "elu":
        fwd = [lambda: torch._C._nn.elu(z, ELU_ALPHA, 1, 1, out=a)]  # type: ignore[call-arg]  # the stubs lack out=
        bwd = [lambda: _aten.elu_backward.grad_input(da, ELU_ALPHA, 1, 1, False, z, grad_input=dz)]
    elif name == "sigmoid":
        fwd = [lambda: torch.sigmoid(z, out=a)]
        bwd = [lambda: _aten.sigmoid_backward.grad_input(da, a, grad_input=dz)]
    elif name == "tanh":
        fwd = [lambda: torch.tanh(z, out=a)]
        bwd = [lambda: _aten.tanh_backward.grad_input(da, a, grad_input=dz)]
    elif name == "gelu":
        fwd = [lambda: torch._C._nn.gelu(z, approximate="none", out=a)]  # type: ignore[call-arg]
        bwd = [lambda: _aten.gelu_backward.grad_input(da, z, approximate="none", grad_input=dz)]
    elif name == "silu":
        fwd = [lambda: torch._C._nn.silu(z, out=a)]  # type: ignore[call-arg]
        bwd = [lambda: _aten.silu_backward.grad_input(da, z, grad_input=dz)]
    else:  # pragma: no cover - _supported checked the name against ACTIVATIONS
        raise ValueError(f"no fast path for activation {name!r}")
    return a, da, fwd, bwd


def _loss(name: str, out: Tensor, dout: Tensor, zero: Tensor) -> Callable[[Tensor], Tensor]:
    """loss(y): the mean loss as a new 0-d tensor; writes d loss / d out into dout."""
    numel = out.numel()
    one = torch.ones((), device=out.device, dtype=out.dtype)  # the incoming gradient of loss.backward()
    if name == "l1":
        # l1_loss is (out - y).abs().mean(): mean's backward is 1/numel (divided in the tensor's
        # dtype, as autograd does), abs's is grad · sgn(diff). sgn(0) = 0, as autograd gives.
        inv = one / numel
        diff, absdiff = torch.empty_like(out), torch.empty_like(out)

        def l1(y: Tensor) -> Tensor:
            torch.sub(out, y, out=diff)
            value = torch.mean(torch.abs(diff, out=absdiff))
            torch.mul(torch.sign(diff, out=dout), inv, out=dout)
            return value

        return l1
    if name == "mse":

        def mse(y: Tensor) -> Tensor:
            _aten.mse_loss_backward.grad_input(one, out, y, _MEAN, grad_input=dout)
            return torch._C._nn.mse_loss(out, y, _MEAN)  # type: ignore[arg-type]  # ATen takes the enum as an int

        return mse
    if name == "huber":

        def huber(y: Tensor) -> Tensor:
            _aten.huber_loss_backward.out(one, out, y, _MEAN, 1.0, grad_input=dout)
            return torch._C._nn.huber_loss(out, y, _MEAN, 1.0)  # type: ignore[arg-type]

        return huber
    if name == "bce":
        # Autograd's formula: (sigmoid(out) - y) · grad, then divided by numel (divided, not
        # multiplied by 1/numel: the roundings differ).
        def bce(y: Tensor) -> Tensor:
            torch.sigmoid(out, out=dout)
            dout.sub_(y)
            dout.div_(numel)
            return torch.binary_cross_entropy_with_logits(out, y, None, None, _MEAN)

        return bce
    if name == "ce":
        # cross_entropy is log_softmax then nll_loss; backward through both ATen kernels.
        logp, glogp = torch.empty_like(out), torch.empty_like(out)
        dtype = out.dtype

        def ce(y: Tensor) -> Tensor:
            torch._log_softmax(out, 1, False, out=logp)
            value, total_weight = _aten.nll_loss_forward(logp, y, None, _MEAN, _IGNORE_INDEX)
            _aten.nll_loss_backward.grad_input(one, logp, y, None, _MEAN, _IGNORE_INDEX, total_weight, grad_input=glogp)
            torch._log_softmax_backward_data(glogp, logp, 1, dtype, out=dout)
            loss: Tensor = value
            return loss

        return ce
    raise ValueError(f"no fast path for loss {name!r}")  # pragma: no cover - checked by _supported


def _clipper(grads: list[Tensor], max_norm: float) -> Op:
    """clip_grad_norm_(max_norm) on these gradients, the same operations in the same order.

    Written out so that nothing is looked up per step; it never reads the norm back (no sync).
    """
    from torch.utils._foreach_utils import _has_foreach_support

    foreach = _has_foreach_support(grads, grads[0].device)

    def clip() -> None:
        norms: Sequence[Tensor]
        if foreach:
            norms = torch._foreach_norm(grads, 2.0)
        else:
            norms = [torch.linalg.vector_norm(g, 2.0) for g in grads]
        total = torch.linalg.vector_norm(torch.stack(norms), 2.0)
        # clip_grad_norm_'s own expression: python / tensor is tensor.reciprocal() * python.
        coef = torch.clamp(max_norm / (total + 1e-6), max=1.0)
        if foreach:
            torch._foreach_mul_(grads, coef)
        else:
            for g in grads:
                g.mul_(coef)

    return clip
