"""nntui: watch a small neural network learn, in a terminal."""

__version__ = "0.1.0"
