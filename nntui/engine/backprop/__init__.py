"""The backprop stepper: one gradient step taken apart as a computational graph.

A `Lesson` is an ordered list of `Node`s, one per key press: first the forward values,
then, going backwards, "upstream gradient × local gradient = the gradient at each input",
and last the update w ← w − lr·g. Every number in the text is computed here with a
hand-written chain rule in numpy, never typed in: the lecture's slides have slips (seed
002 says ∂f/∂x = 3 where it is −4), and a stepper that only replays typed numbers would
repeat them. The tests compare these hand-written gradients with autograd's.

numpy only: the dashboard's UI process never imports torch, and this package is read there.

- `lesson`: the data model (Node, Lesson, LayerGrads, NetworkGrads) and the number text.
- `seeds`: the lecture's worked examples (seeds 002 and 004).
- `derivatives`: activations and losses, forward and derivative, by hand.
- `network`: the current network on one point (network_grads, network_lesson, NetworkInput).
"""

from nntui.engine.backprop.derivatives import (
    ACTIVATION_FORMULAS,
    ACTIVATIONS,
    ELU_ALPHA,
    HUBER_DELTA,
    LEAKY_SLOPE,
    LOSSES,
    activation_forward,
    activation_local,
    loss_forward_backward,
)
from nntui.engine.backprop.lesson import (
    SUPERSCRIPTS,
    FloatArray,
    LayerGrads,
    Lesson,
    NetworkGrads,
    Node,
    Phase,
    block,
    block_note,
    num,
    showing,
    sup,
    term,
    vec,
)
from nntui.engine.backprop.network import NetworkInput, network_grads, network_lesson, unavailable_lesson
from nntui.engine.backprop.seeds import NUMERIC_H, scalar_lesson, seed_lessons, slope_lesson, vector_lesson

__all__ = [
    "ACTIVATIONS",
    "ACTIVATION_FORMULAS",
    "ELU_ALPHA",
    "HUBER_DELTA",
    "LEAKY_SLOPE",
    "LOSSES",
    "NUMERIC_H",
    "SUPERSCRIPTS",
    "FloatArray",
    "LayerGrads",
    "Lesson",
    "NetworkGrads",
    "NetworkInput",
    "Node",
    "Phase",
    "activation_forward",
    "activation_local",
    "block",
    "block_note",
    "loss_forward_backward",
    "network_grads",
    "network_lesson",
    "num",
    "scalar_lesson",
    "seed_lessons",
    "showing",
    "slope_lesson",
    "sup",
    "term",
    "unavailable_lesson",
    "vec",
    "vector_lesson",
]
