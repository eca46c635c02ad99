"""TensorFlow without its start-up noise, for the command-line tools.

Importing TensorFlow prints C++ log lines on stderr before any of the user's work starts: absl's
``WARNING: All log messages before absl::InitializeLog() is called are written to STDERR``, INFO
lines (oneDNN, ``Could not find cuda drivers``), and, on a machine without an NVIDIA driver, an
``E0000 ... failed call to cuInit: ... (303)`` when the CUDA platform is first probed.
``TF_CPP_MIN_LOG_LEVEL`` hides later INFO and WARNING lines, but not those logged while TensorFlow's
libraries load (before absl logging is initialised), so :func:`import_tensorflow_quietly` also
filters what TensorFlow writes to stderr while it is imported and probes its devices.

Every vatt command-line tool imports TensorFlow through this module, and sets up its log with
:func:`configure_cli_logging`: TensorFlow and JAX also log routine INFO lines through Python's
``logging`` (one per checkpoint save, per collective op traced, per backend probed), which would
bury the tool's own progress.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile

LEVEL_VARIABLE = "TF_CPP_MIN_LOG_LEVEL"
#: C++ INFO and WARNING lines off; ERROR and FATAL lines are still shown.
DEFAULT_LEVEL = "2"
# Set together with LEVEL_VARIABLE: worker processes inherit both and so know the level is this
# module's default rather than the user's choice.
_DEFAULT_MARKER = "VATT_DEFAULT_TF_CPP_MIN_LOG_LEVEL"
_NOISE = re.compile(
    rb"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    # INFO and WARNING lines, the severities DEFAULT_LEVEL hides: absl's format, then TSL's.
    rb"|[IW]\d{4} [\d:.]+ +\d+ \S+:\d+\] "
    rb"|\d{4}-\d\d-\d\d [\d:.]+: [IW] \S+:\d+\] "
    # CUDA_ERROR_SHARED_OBJECT_INIT_FAILED: TensorFlow's CUDA stub found no driver library, i.e.
    # the machine has no NVIDIA driver. Any other cuInit failure is a real problem and is shown.
    rb"|E\d{4} .*failed call to cuInit: .*\(303\)$"
)


def is_startup_noise(line: bytes) -> bool:
    """Whether ``line`` (without its line break) is one of TensorFlow's start-up lines that
    :func:`import_tensorflow_quietly` drops."""
    return _NOISE.match(line) is not None


def import_tensorflow_quietly() -> None:
    """Import TensorFlow and probe its devices, without TensorFlow's start-up noise on stderr.

    Unless the user set ``TF_CPP_MIN_LOG_LEVEL`` (then everything is shown as TensorFlow logs
    it), sets it to :data:`DEFAULT_LEVEL` and drops the start-up lines that TensorFlow prints
    regardless (see the module docstring). Every other line written to stderr meanwhile (errors,
    Python warnings, tracebacks) is written back unchanged. Call it after parsing the command
    line and before importing anything that imports TensorFlow.
    """
    if "tensorflow" in sys.modules:
        return
    level = os.environ.get(LEVEL_VARIABLE)
    if level is not None and os.environ.get(_DEFAULT_MARKER) != level:
        import tensorflow  # noqa: F401

        return
    os.environ[LEVEL_VARIABLE] = os.environ[_DEFAULT_MARKER] = DEFAULT_LEVEL
    sys.stderr.flush()
    stderr = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()  # probes the CUDA driver (cuInit) now, not later
        finally:
            sys.stderr.flush()
            os.dup2(stderr, 2)
            os.close(stderr)
            captured.seek(0)
            lines = captured.read().splitlines(keepends=True)
            kept = b"".join(line for line in lines if not is_startup_noise(line.rstrip()))
            while kept:
                kept = kept[os.write(2, kept) :]


def configure_cli_logging(fmt: str) -> None:
    """Log to stderr in the ``logging`` format ``fmt``: vatt's records from INFO on (a tool's
    progress lines), every other library's from WARNING on.

    Call it once where a command-line tool starts; like :func:`logging.basicConfig`, it adds no
    handler when the root logger already has one.
    """
    logging.basicConfig(level=logging.WARNING, format=fmt, stream=sys.stderr)
    logging.getLogger("vatt").setLevel(logging.INFO)
