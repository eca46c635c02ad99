"""Reading the official VATT TensorFlow checkpoints into our Keras 3 models.

The original release saved TF2 object-based checkpoints whose keys are paths of Python
*attribute* names (``model/layer_with_weights-0/_base/tx/layers/3/mha/q/kernel/...``), see
spec §7. We read them with ``tf.train.load_checkpoint`` alone: no original model code.

Mapping protocol
----------------
Every layer or model that holds weights present in an official checkpoint implements::

    def checkpoint_variables(self, prefix: str) -> dict[str, keras.Variable]:
        '''{official object path: our variable} for every weight of this layer.'''

* A path is the official key **without** the ``/.ATTRIBUTES/VARIABLE_VALUE`` suffix, built as
  ``f"{prefix}/{attribute}"`` with the attribute names of the original code (spec §7.2), e.g.
  ``f"{prefix}/mha/q/kernel"``. List items are ``f"{prefix}/layers/{i}"``.
* A composite layer calls ``child.checkpoint_variables(f"{prefix}/{original_attr}")`` for each
  child and merges the dicts; built-in Keras layers (Dense, Conv, LayerNormalization,
  BatchNormalization, Embedding) are mapped with :func:`keras_layer_variables`, whose leaf
  names (``kernel``, ``bias``, ``gamma``, ``beta``, ``moving_mean``, ``moving_variance``,
  ``embeddings``) are the same in Keras 3 and in the original checkpoints.
* The returned variables must exist, so a layer builds its weights before it is mapped (our
  layers build all weights in their constructor from the config).
* A top-level model maps itself under ``prefix = "model/layer_with_weights-0"`` (the
  functional wrapper the original saved, :data:`ROOT_PREFIX`) in the layout of the checkpoints
  it corresponds to (fine-tune classifiers: ``_base/...`` and ``_ops/cls/...``).

:func:`load_official_checkpoint` then checks both directions: every official weight under the
prefix is mapped (else it names the unmapped keys) and every mapped variable exists in the
checkpoint with the same shape (else it names the missing keys and the shape mismatches).
Optimizer slots, ``optimizer/*``, ``save_counter`` and the object graph are never weights.
"""

from __future__ import annotations

import pathlib
import re
from collections.abc import Mapping

import keras
import numpy as np

#: Object path of the single weight-bearing layer inside the original functional wrapper.
ROOT_PREFIX = "model/layer_with_weights-0"
#: Where the video and audio backbones live inside an official pre-training checkpoint.
PRETRAIN_BACKBONE_PREFIXES = {
    "video": f"{ROOT_PREFIX}/_base_layer/vid_backbone/_base",
    "audio": f"{ROOT_PREFIX}/_base_layer/aud_backbone/_base",
}
_VALUE_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
# The files of a checkpoint: PREFIX.index and PREFIX.data-K-of-N.
_FILE_SUFFIX = re.compile(r"\.(index|data-\d+-of-\d+)$")
# The weights of a vatt-train checkpoint (vatt.train.checkpoints.ModelWeights): a flat list.
_VATT_TRAIN_WEIGHT = re.compile(r"model/weights/\d+")


def keras_layer_variables(layer: keras.layers.Layer, prefix: str) -> dict[str, keras.Variable]:
    """``{f"{prefix}/{leaf}": variable}`` for a built-in Keras layer (Dense, Conv, norms...)."""
    if not layer.built:
        raise RuntimeError(f"layer {layer.name!r} is not built; build it before mapping it")
    return {f"{prefix}/{variable.name}": variable for variable in layer.weights}


def official_weight_keys(path: str | pathlib.Path) -> dict[str, tuple[int, ...]]:
    """``{object path: shape}`` of the model weights in an official checkpoint.

    Keeps the keys under ``model/`` that hold a variable value and drops optimizer slots;
    the ``/.ATTRIBUTES/VARIABLE_VALUE`` suffix is removed.
    """
    reader = _reader(path)
    shapes = reader.get_variable_to_shape_map()
    return {
        key.removesuffix(_VALUE_SUFFIX): tuple(shape)
        for key, shape in shapes.items()
        if key.startswith("model/") and key.endswith(_VALUE_SUFFIX) and ".OPTIMIZER_SLOT" not in key
    }


def load_official_checkpoint(
    model: keras.layers.Layer,
    path: str | pathlib.Path,
    *,
    prefix: str = ROOT_PREFIX,
) -> list[str]:
    """Assign the weights of an official VATT checkpoint to ``model``.

    Args:
        model: any layer or model implementing ``checkpoint_variables(prefix)`` (see the module
            docstring), e.g. a model from :func:`vatt.models.build`.
        path: a checkpoint prefix (``.../ckpt-500000``), one of its files (``.index``,
            ``.data-*``) or a folder holding a ``checkpoint`` file; ``~`` is expanded.
        prefix: object path of ``model`` inside the checkpoint. The default is the top-level
            model; pass e.g. ``PRETRAIN_BACKBONE_PREFIXES["video"]`` to initialise a
            classifier's ``model.backbone`` from a pre-training checkpoint.

    Returns:
        The sorted official keys that were loaded.

    Raises:
        FileNotFoundError: no checkpoint at ``path``.
        ValueError: a weight under ``prefix`` has no counterpart in ``model``, a variable of
            ``model`` is absent from the checkpoint, or shapes differ, or the checkpoint is a
            vatt-train one (export those with ``vatt-train export``). Nothing is assigned then.
    """
    if not hasattr(model, "checkpoint_variables"):
        raise TypeError(
            f"{type(model).__name__} does not implement checkpoint_variables(prefix); "
            "only vatt.models layers and models can read official checkpoints"
        )
    available = official_weight_keys(path)
    if available and all(_VATT_TRAIN_WEIGHT.fullmatch(key) for key in available):
        raise ValueError(
            f"checkpoint {path} was written by vatt-train, not by the original VATT code; "
            "export it with `vatt-train export RUN_OR_CHECKPOINT OUT.weights.h5`"
        )
    expected: Mapping[str, keras.Variable] = model.checkpoint_variables(prefix)
    under_prefix = {key for key in available if key.startswith(prefix + "/")}
    if not under_prefix:
        raise ValueError(
            f"checkpoint {path} has no weights under {prefix!r}; its weights start with "
            f"{sorted({'/'.join(k.split('/')[:4]) for k in available})}"
        )
    unmapped = sorted(under_prefix - set(expected))
    missing = sorted(set(expected) - set(available))
    mismatched = [
        f"{key}: checkpoint {available[key]} vs model {tuple(variable.shape)}"
        for key, variable in sorted(expected.items())
        if key in available and tuple(variable.shape) != available[key]
    ]
    problems = [
        _listing(f"{len(unmapped)} checkpoint weights have no model variable", unmapped),
        _listing(f"{len(missing)} model variables are not in the checkpoint", missing),
        _listing(f"{len(mismatched)} shapes differ", mismatched),
    ]
    problems = [problem for problem in problems if problem]
    if expected and not set(expected) & set(available):
        problems.append(
            "  none of the model's variables is in the checkpoint: is it another model's? "
            "A classifier backbone loads from a pre-training checkpoint through "
            "load_official_checkpoint(model.backbone, path, "
            'prefix=PRETRAIN_BACKBONE_PREFIXES["video" or "audio"])'
        )
    if problems:
        raise ValueError(
            f"checkpoint {path} does not match {type(model).__name__} "
            f"{getattr(model, 'name', '')!r} under {prefix!r}:\n" + "\n".join(problems)
        )
    reader = _reader(path)
    for key, variable in expected.items():
        value = reader.get_tensor(key + _VALUE_SUFFIX)
        variable.assign(np.asarray(value, dtype=variable.dtype))
    return sorted(expected)


def _listing(title: str, items: list[str], limit: int = 12) -> str:
    """``title:`` and up to ``limit`` items, one a line (empty when there are no items)."""
    if not items:
        return ""
    shown = [f"    {item}" for item in items[:limit]]
    if len(items) > limit:
        shown.append(f"    ... and {len(items) - limit} more")
    return "\n".join([f"  {title}:", *shown])


def _reader(path: str | pathlib.Path):
    import tensorflow as tf  # only the checkpoint reader; the models themselves are pure Keras

    # A prefix, or one of its files (PREFIX.index, PREFIX.data-*); ~ is the home directory.
    location = pathlib.Path(_FILE_SUFFIX.sub("", str(pathlib.Path(path).expanduser())))
    if location.is_dir():
        latest = tf.train.latest_checkpoint(str(location))
        if latest is None:
            raise FileNotFoundError(f"folder {location} holds no TensorFlow checkpoint")
        location = pathlib.Path(latest)
    if not pathlib.Path(f"{location}.index").exists():
        raise FileNotFoundError(
            f"no TensorFlow checkpoint at {location} (expected {location}.index); pass a "
            "checkpoint prefix such as .../ckpt-500000 or its folder"
        )
    return tf.train.load_checkpoint(str(location))
