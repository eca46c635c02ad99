"""Checkpoints of a run directory (contract 4): ``RUN/checkpoint`` and ``RUN/ckpt-N.*``.

A checkpoint is named by its *prefix*, e.g. ``RUN/ckpt-1000``: the path without the suffixes of
its files. Two formats share the names and are read alike by every function here:

* the TensorFlow path's ``tf.train.Checkpoint`` (``ckpt-N.index`` + ``ckpt-N.data-K-of-M``,
  the model under ``model/weights/<i>`` as :class:`ModelWeights` tracks it);
* the JAX path's Keras weights + training state (``ckpt-N.weights.h5`` + ``ckpt-N.train.npz``,
  see :mod:`vatt.train.jax_checkpoints`).

Either loads into a model on either backend: a TF checkpoint is read by key with
``tf.train.load_checkpoint``, a JAX one with ``model.load_weights``.
"""

from __future__ import annotations

import os
import pathlib
import re

import tensorflow as tf

from vatt.train import jax_checkpoints
from vatt.train.errors import CheckpointError, first_line
from vatt.train.jax_checkpoints import CHECKPOINT_NAME, is_jax_checkpoint
from vatt.train.paths import user_path

_CHECKPOINT_INDEX = re.compile(rf"^{CHECKPOINT_NAME}-(\d+)\.index$")
_FILE_SUFFIX = re.compile(r"\.(data-\d+-of-\d+|index|weights\.h5|train\.npz)$")
_TF_WEIGHT_KEY = "model/weights/{}/.ATTRIBUTES/VARIABLE_VALUE"


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

    ``path`` may be a prefix (``RUN/ckpt-1000``), one of its files (``RUN/ckpt-1000.index``,
    ``.data-*``, ``.weights.h5`` or ``.train.npz``: the prefix they belong to) or a directory (its
    latest complete checkpoint, see :func:`list_checkpoints`); relative, with ``~`` or a trailing
    slash (see :func:`vatt.train.paths.user_path`). TF and JAX checkpoints alike.
    """
    path = _FILE_SUFFIX.sub("", user_path(path))
    if tf.io.gfile.isdir(path):
        checkpoints = list_checkpoints(path)
        if not checkpoints:
            raise CheckpointError(
                f"directory {path} holds no complete checkpoint ({CHECKPOINT_NAME}-N.index with "
                f"its .data-* files, or {CHECKPOINT_NAME}-N.weights.h5 with its .train.npz); "
                "pass a checkpoint prefix such as RUN/ckpt-1000"
            )
        return checkpoints[-1][1]
    if not tf.io.gfile.exists(path + ".index") and not is_jax_checkpoint(path):
        name = os.path.basename(path)
        raise CheckpointError(
            f"no checkpoint at {path} ({name}.index does not exist, nor {name}.weights.h5 with "
            f"{name}.train.npz){_held_by_parent(path)}; pass a checkpoint prefix such as "
            "RUN/ckpt-1000"
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
    last one, vatt-eval evaluates them), for the TF and the JAX path's checkpoints alike. A TF
    checkpoint is complete when its ``.index`` file is not empty and every ``.data-K-of-M``
    shard is there (TensorFlow writes the index last, and rotation deletes the files); a JAX one
    when its ``.weights.h5`` and ``.train.npz`` are there (see
    :mod:`vatt.train.jax_checkpoints`). So one still being written or already deleted is left
    out. ``run_dir`` may be relative, with ``~`` or a trailing slash; the prefixes are absolute.
    """
    run_dir = user_path(run_dir)
    if not tf.io.gfile.isdir(run_dir):
        raise FileNotFoundError(f"run directory {run_dir} does not exist")
    names = set(tf.io.gfile.listdir(run_dir))
    found = dict(jax_checkpoints.complete_checkpoints(names))
    for name in names:
        match = _CHECKPOINT_INDEX.match(name)
        if match and _complete(run_dir, name.removesuffix(".index"), names):
            found[int(match.group(1))] = name.removesuffix(".index")
    return [(step, os.path.join(run_dir, name)) for step, name in sorted(found.items())]


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
    :func:`checkpoint_prefix`, of the TF or the JAX path, read on either backend. Every weight of
    ``model`` must be in the checkpoint, with its shape. Returns the prefix that was read.
    """
    prefix = checkpoint_prefix(checkpoint)
    if is_jax_checkpoint(prefix):
        jax_checkpoints.load_model_weights(model, prefix)
        return prefix
    try:
        reader = tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError) as error:
        raise CheckpointError(
            f"checkpoint {prefix} cannot be read ({first_line(error)}); pass another checkpoint"
        ) from None
    shapes = reader.get_variable_to_shape_map()
    weights = model.weights
    if not weights:
        raise CheckpointError(f"{type(model).__name__} has no weights yet; build it first")
    keys = [_TF_WEIGHT_KEY.format(i) for i in range(len(weights))]
    mismatched = [
        f"weight {i} ({weight.path}): checkpoint "
        f"{tuple(shapes[key]) if key in shapes else 'none'}, model {tuple(weight.shape)}"
        for i, (key, weight) in enumerate(zip(keys, weights, strict=True))
        if key not in shapes or tuple(shapes[key]) != tuple(weight.shape)
    ]
    if mismatched:
        raise CheckpointError(
            f"checkpoint {prefix} does not hold the weights of this model "
            f"({type(model).__name__}): {len(mismatched)} of {len(weights)} differ, e.g. "
            f"{mismatched[0]}"
        )
    for key, weight in zip(keys, weights, strict=True):
        weight.assign(reader.get_tensor(key))
    return prefix


def checkpoint_step(prefix: str | os.PathLike) -> int:
    """The step ``N`` of a ``.../ckpt-N`` prefix."""
    match = re.fullmatch(rf"{CHECKPOINT_NAME}-(\d+)", pathlib.PurePath(prefix).name)
    if match is None:
        raise CheckpointError(
            f"checkpoint prefix {prefix} is not named {CHECKPOINT_NAME}-<step>; results and "
            f"resumption go by that step, so rename (or link) its files to "
            f"{CHECKPOINT_NAME}-<step>.* (.index/.data-*, or .weights.h5/.train.npz)"
        )
    return int(match.group(1))
