"""Errors of vatt-train that name a bad input, importable without TensorFlow (the CLI reports
them in one line)."""


class CheckpointError(ValueError):
    """A checkpoint path that does not name a readable checkpoint."""


def first_line(error: BaseException, limit: int = 300) -> str:
    """The first line of ``error``'s message, at most ``limit`` characters (TensorFlow's
    messages can list every variable)."""
    lines = str(error).strip().splitlines() or [type(error).__name__]
    text = lines[0]
    return text if len(text) <= limit else text[: limit - 3] + "..."
