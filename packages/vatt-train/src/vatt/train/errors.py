"""Errors of vatt-train that name a bad input, importable without TensorFlow (the CLI reports
them in one line)."""


class CheckpointError(ValueError):
    """A checkpoint path that does not name a readable checkpoint."""
