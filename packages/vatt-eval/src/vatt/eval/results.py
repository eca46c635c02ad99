"""Evaluation outputs in a run directory: ``RUN/eval/results-N.json`` and TensorBoard scalars."""

from __future__ import annotations

import json
import math
import numbers
import os
import pathlib
from collections.abc import Mapping

import tensorflow as tf

EVAL_DIR = "eval"


def results_path(run_dir: str | os.PathLike, step: int) -> pathlib.Path:
    """``RUN/eval/results-<step>.json``."""
    return pathlib.Path(run_dir) / EVAL_DIR / f"results-{step}.json"


def _json_value(name: str, value: float) -> float | None:
    if not isinstance(value, numbers.Real):
        raise TypeError(f"metric {name!r} must be a number, got {type(value).__name__}")
    return float(value) if math.isfinite(value) else None


def write_results(
    run_dir: str | os.PathLike,
    step: int,
    metrics: Mapping[str, float],
    *,
    checkpoint: str | None = None,
) -> pathlib.Path:
    """Write the metrics of the evaluation at ``step`` as JSON and as TensorBoard scalars.

    The JSON file is ``{"step": N, "checkpoint": PATH, "metrics": {name: value}}``; values that
    are not finite (d' of a perfectly separated class) are written as ``null`` so that the file
    stays strict JSON. Scalars go to the event files in ``RUN/eval`` at ``step``. The JSON is
    written to a temporary file and renamed, so readers never see a partial file.

    Returns:
      the path of the JSON file.
    """
    path = results_path(run_dir, step)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "step": int(step),
        "checkpoint": checkpoint,
        "metrics": {name: _json_value(name, value) for name, value in sorted(metrics.items())},
    }
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(payload, indent=2, allow_nan=False) + "\n")
    partial.replace(path)

    writer = tf.summary.create_file_writer(str(path.parent))
    with writer.as_default():
        for name, value in sorted(metrics.items()):
            tf.summary.scalar(name, float(value), step=int(step))
    writer.close()
    return path


def read_results(run_dir: str | os.PathLike, step: int) -> dict:
    """The payload written by :func:`write_results` for ``step``."""
    path = results_path(run_dir, step)
    if not path.exists():
        raise FileNotFoundError(f"no evaluation results for step {step}: {path} does not exist")
    return json.loads(path.read_text())
