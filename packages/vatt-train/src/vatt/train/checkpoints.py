"""Checkpoints of a run directory (contract 4): ``RUN/checkpoint`` and ``RUN/ckpt-N.*``.

A checkpoint is named by its *prefix*, e.g. ``RUN/ckpt-1000``: the path without the
``.index`` / ``.data-00000-of-00001`` suffixes of the files TensorFlow writes for it.
"""

from __future__ import annotations

import os
import pathlib
import re

import tensorflow as tf

from vatt.train.errors import CheckpointError
from vatt.train.paths import user_path

CHECKPOINT_NAME = "ckpt"
_CHECKPOINT_INDEX = re.compile(rf"^{CHECKPOINT_NAME}-(\d+)\.index$")
_FILE_SUFFIX = re.compile(r"\.(data-\d+-of-\d+|index)$")


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


def checkpoint_prefix(path: str | os.PathLike) -> str:
    """Validate that ``path`` names a checkpoint and return its prefix, made absolute.

    ``path`` may be a prefix (``RUN/ckpt-1000``), one of its files (``RUN/ckpt-1000.index`` or
    ``.data-*``: the prefix they belong to) or a directory (its latest complete checkpoint, see
    :func:`list_checkpoints`); relative, with ``~`` or a trailing slash (see
    :func:`vatt.train.paths.user_path`).
    """
    path = _FILE_SUFFIX.sub("", user_path(path))
    if tf.io.gfile.isdir(path):
        checkpoints = list_checkpoints(path)
        if not checkpoints:
            raise CheckpointError(
                f"directory {path} holds no complete checkpoint ({CHECKPOINT_NAME}-N.index with "
                "its .data-* files); pass a checkpoint prefix such as RUN/ckpt-1000"
            )
        return checkpoints[-1][1]
    if not tf.io.gfile.exists(path + ".index"):
        raise CheckpointError(
            f"no checkpoint at {path} ({path}.index does not exist){_held_by_parent(path)}; "
            "pass a checkpoint prefix such as RUN/ckpt-1000"
        )
    return path


def _held_by_parent(prefix: str) -> str:
    parent = os.path.dirname(prefix)
    held = list_checkpoints(parent) if parent and tf.io.gfile.isdir(parent) else []
    if not held:
        return ""
    return f"; {parent} holds " + ", ".join(os.path.basename(p) for _, p in held)


def list_checkpoints(run_dir: str | os.PathLike) -> list[tuple[int, str]]:
    """Every complete ``ckpt-N`` checkpoint of ``run_dir`` as ``(step, prefix)``, sorted by step.

    This is the one answer to "which checkpoints does this run hold" (training resumes from the
    last one, vatt-eval evaluates them). A checkpoint is complete when its ``.index`` file is
    not empty and every ``.data-K-of-M`` shard is there (TensorFlow writes the index last, and
    rotation deletes the files), so one still being written or already deleted is left out.
    ``run_dir`` may be relative, with ``~`` or a trailing slash; the prefixes are absolute.
    """
    run_dir = user_path(run_dir)
    if not tf.io.gfile.isdir(run_dir):
        raise FileNotFoundError(f"run directory {run_dir} does not exist")
    names = set(tf.io.gfile.listdir(run_dir))
    found = []
    for name in names:
        match = _CHECKPOINT_INDEX.match(name)
        if match and _complete(run_dir, name.removesuffix(".index"), names):
            found.append((int(match.group(1)), os.path.join(run_dir, name.removesuffix(".index"))))
    return sorted(found)


def _complete(run_dir: str, name: str, names: set[str]) -> bool:
    shards = [re.fullmatch(rf"{re.escape(name)}\.data-(\d+)-of-(\d+)", n) for n in names]
    counts = {(int(m.group(1)), int(m.group(2))) for m in shards if m}
    totals = {total for _, total in counts}
    if len(totals) != 1 or {i for i, _ in counts} != set(range(totals.pop())):
        return False
    try:
        return tf.io.gfile.stat(os.path.join(run_dir, name + ".index")).length > 0
    except tf.errors.NotFoundError:  # deleted by rotation meanwhile
        return False


def restore_model_weights(model, checkpoint: str | os.PathLike) -> str:
    """Restore ``model``'s weights from a checkpoint of a run, ignoring the optimizer and step.

    ``checkpoint`` is a prefix (``RUN/ckpt-1000``) or a run directory (its latest checkpoint), see
    :func:`checkpoint_prefix`. Every weight of ``model`` must be in the checkpoint. Returns the
    prefix that was read.
    """
    prefix = checkpoint_prefix(checkpoint)
    try:
        status = tf.train.Checkpoint(model=ModelWeights(model)).read(prefix)
        status.expect_partial().assert_existing_objects_matched()
    except tf.errors.OpError as error:
        raise CheckpointError(
            f"checkpoint {prefix} cannot be read ({first_line(error)}); pass another checkpoint"
        ) from None
    except (AssertionError, ValueError) as error:
        raise CheckpointError(
            f"checkpoint {prefix} does not hold the weights of this model "
            f"({type(model).__name__}): {first_line(error)}"
        ) from None
    return prefix


def first_line(error: BaseException, limit: int = 300) -> str:
    """The first line of ``error``'s message, at most ``limit`` characters (TensorFlow's
    messages can list every variable)."""
    lines = str(error).strip().splitlines() or [type(error).__name__]
    text = lines[0]
    return text if len(text) <= limit else text[: limit - 3] + "..."


def checkpoint_step(prefix: str | os.PathLike) -> int:
    """The step ``N`` of a ``.../ckpt-N`` prefix."""
    match = re.fullmatch(rf"{CHECKPOINT_NAME}-(\d+)", pathlib.PurePath(prefix).name)
    if match is None:
        raise CheckpointError(
            f"checkpoint prefix {prefix} is not named {CHECKPOINT_NAME}-<step>; results and "
            f"resumption go by that step, so rename (or link) its files to "
            f"{CHECKPOINT_NAME}-<step>.index/.data-*"
        )
    return int(match.group(1))
