"""jaxrl_suite: seeds x hyperparameters as one compiled program, scored honestly."""

__version__ = "0.1.0"
