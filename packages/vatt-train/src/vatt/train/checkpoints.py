"""Checkpoints of a run directory (contract 4): ``RUN/checkpoint`` and ``RUN/ckpt-N.*``.

A checkpoint is named by its *prefix*, e.g. ``RUN/ckpt-1000``: the path without the
``.index`` / ``.data-00000-of-00001`` suffixes of the files TensorFlow writes for it.
"""

from __future__ import annotations

import pathlib
import re

import tensorflow as tf

CHECKPOINT_NAME = "ckpt"
_CHECKPOINT_INDEX = re.compile(rf"^{CHECKPOINT_NAME}-(\d+)\.index$")
_FILE_SUFFIX = re.compile(r"\.(data-\d+-of-\d+|index)$")


class CheckpointError(ValueError):
    """A checkpoint path that does not name a readable checkpoint."""


class ModelWeights(tf.Module):
    """Every weight of a Keras model, as the ``model`` entry of our checkpoints.

    Keras 3 layers keep sub-layers held in lists (a Transformer's layers) out of the object graph
    that ``tf.train.Checkpoint(model=keras_model)`` saves, so those weights would be saved only
    through the optimizer and silently skipped by a model-only restore. Tracking
    ``model.weights`` (a fixed order for a given config) saves and restores all of them.
    """

    def __init__(self, model):
        super().__init__(name=None)
        if not model.weights:
            raise ValueError(f"{type(model).__name__} has no weights yet; build it first")
        self.weights = list(model.weights)


def checkpoint_prefix(path: str | pathlib.Path) -> str:
    """Validate that ``path`` names a checkpoint and return its prefix.

    ``path`` may be a prefix (``RUN/ckpt-1000``) or a directory with a ``checkpoint`` file (its
    latest checkpoint is used). A ``.data-*`` or ``.index`` file is refused with the prefix to
    pass instead.
    """
    path = str(path)
    match = _FILE_SUFFIX.search(path)
    if match:
        raise CheckpointError(
            f"{path} is one of a checkpoint's files; pass the checkpoint prefix "
            f"{path[: match.start()]} (the path without .index or .data-*)"
        )
    if tf.io.gfile.isdir(path):
        latest = tf.train.latest_checkpoint(path)
        if latest is None:
            raise CheckpointError(
                f"directory {path} holds no checkpoint (no 'checkpoint' file naming one); "
                "pass a checkpoint prefix such as RUN/ckpt-1000"
            )
        return latest
    if not tf.io.gfile.exists(path + ".index"):
        raise CheckpointError(
            f"no checkpoint at {path} ({path}.index does not exist); pass a checkpoint prefix "
            "such as RUN/ckpt-1000"
        )
    return path


def list_checkpoints(run_dir: str | pathlib.Path) -> list[tuple[int, str]]:
    """Every ``(step, prefix)`` of ``run_dir``'s ``ckpt-N`` checkpoints, sorted by step."""
    run_dir = str(run_dir)
    if not tf.io.gfile.isdir(run_dir):
        raise FileNotFoundError(f"run directory {run_dir} does not exist")
    found = []
    for name in tf.io.gfile.listdir(run_dir):
        match = _CHECKPOINT_INDEX.match(name)
        if match:
            prefix = f"{run_dir.rstrip('/')}/{CHECKPOINT_NAME}-{match.group(1)}"
            found.append((int(match.group(1)), prefix))
    return sorted(found)


def restore_model_weights(model, checkpoint: str | pathlib.Path) -> str:
    """Restore ``model``'s weights from a checkpoint of a run, ignoring the optimizer and step.

    ``checkpoint`` is a prefix (``RUN/ckpt-1000``) or a run directory (its latest checkpoint).
    Every weight of ``model`` must be in the checkpoint. Returns the prefix that was read.
    """
    prefix = checkpoint_prefix(checkpoint)
    try:
        status = tf.train.Checkpoint(model=ModelWeights(model)).read(prefix)
        status.expect_partial().assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.InvalidArgumentError) as error:
        raise CheckpointError(
            f"checkpoint {prefix} does not hold the weights of this model "
            f"({type(model).__name__}): {error}"
        ) from None
    return prefix


def checkpoint_step(prefix: str) -> int:
    """The step ``N`` of a ``.../ckpt-N`` prefix."""
    match = re.search(rf"{CHECKPOINT_NAME}-(\d+)$", prefix)
    if match is None:
        raise CheckpointError(f"{prefix} is not named {CHECKPOINT_NAME}-<step>")
    return int(match.group(1))
