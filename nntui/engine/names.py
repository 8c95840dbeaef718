"""The vocabulary every layer shares: activation, loss, data-set and delimiter names.

One home, so the config's validation, the torch implementations, the dashboard's
suggestions and the CSV loader can never disagree about a name. No imports: the CLI
reads these before torch or textual load.
"""

from __future__ import annotations

ACTIVATIONS = (
    "step",
    "sign",
    "linear",
    "piecewise",
    "sigmoid",
    "tanh",
    "relu",
    "leaky_relu",
    "elu",
    "maxout",
    "gelu",
    "silu",
)
ZERO_GRAD_ACTIVATIONS = ("step", "sign")
"""Zero gradient almost everywhere: training with them stalls (the lecture's point)."""
REGRESSION_DATASETS = ("quadratic", "linreg", "linear", "sine", "abs", "step")
CLASSIFICATION_DATASETS = ("xor", "ring", "three-modes", "gaussians", "spiral")
DATASETS = (*REGRESSION_DATASETS, *CLASSIFICATION_DATASETS, "csv")
REGRESSION_LOSSES = ("l1", "mse", "huber")
CLASSIFICATION_LOSSES = ("bce", "ce")
LOSSES = (*REGRESSION_LOSSES, *CLASSIFICATION_LOSSES, "auto")
TRAINING_LOSSES = (*REGRESSION_LOSSES, *CLASSIFICATION_LOSSES)
"""The losses a trainer runs (`auto` is resolved against the data first)."""
OPTIMIZERS = ("sgd", "momentum", "adam", "rmsprop")
ENGINES = ("fast", "autograd")
TASKS = ("auto", "regression", "classification")

DELIMITER_NAMES: dict[str, str] = {",": "comma", ";": "semicolon", "\t": "tab", "|": "bar"}
"""Each CSV delimiter the loader detects, by the name a person types (`--delimiter tab`)."""
DETECTED_DELIMITERS = tuple(DELIMITER_NAMES)
DELIMITERS = ("", *DETECTED_DELIMITERS)
"""What the config accepts: empty means detect."""
DELIMITER_ALIASES: dict[str, str] = {
    "auto": "",
    **{name: char for char, name in DELIMITER_NAMES.items()},
    "\\t": "\t",
}
"""Text a person may type for a delimiter → the character."""
