"""Fine-tuning from pretrained weights: the backbone of a classifier, the classifier left fresh.

The source is a checkpoint prefix (or its folder) in one of three layouts:

* a pretraining run of ours (``RUN/ckpt-N`` next to ``RUN/config.yaml``, written by the TF or
  the JAX path, read on either backend): its model is rebuilt from that config, restored, and the
  classifier's backbone takes the weights of the tower of the same modality;
* an official VATT pretraining checkpoint (``tx_fac``: ``_base_layer/vid_backbone`` ...), or a
  UT one (``ut_fac``), whose shared Transformer and per-modality projections go to a ViT or WaT
  built with ``pre_projection`` and ``post_projection`` on;
* an official VATT fine-tuned checkpoint (``_base/...``): its backbone, not its classifier.

Both directions are checked (every backbone weight is initialised, every source weight of that
tower is used) through the official-layout key maps of vatt-models
(``checkpoint_variables(prefix)``), so a size or arch mismatch names the keys.
"""

from __future__ import annotations

import pathlib

import keras
import numpy as np
import tensorflow as tf

import vatt.models
from vatt.models.checkpoints import PRETRAIN_BACKBONE_PREFIXES, ROOT_PREFIX
from vatt.models.unified import UNIFIED_PREFIX
from vatt.models.unified_transfer import load_unified_checkpoint, unified_checkpoint_variables
from vatt.train.checkpoints import CheckpointError, checkpoint_prefix, restore_model_weights
from vatt.train.config import CONFIG_FILE, load_run_config
from vatt.train.jax_checkpoints import is_jax_checkpoint
from vatt.train.precision import build_model

FINETUNED_BACKBONE_PREFIX = f"{ROOT_PREFIX}/_base"


def initialize_from_pretrained(
    classifier: keras.Model, checkpoint: str | pathlib.Path
) -> list[str]:
    """Load the backbone weights of ``checkpoint`` into ``classifier.backbone``.

    Returns the official-layout keys of the weights that were loaded.
    """
    if not hasattr(classifier, "backbone") or not hasattr(classifier, "cls"):
        raise TypeError(
            f"{type(classifier).__name__} is not a vatt.models classifier (backbone + cls); "
            "only fine-tuning models are initialised from pretrained weights"
        )
    prefix = checkpoint_prefix(checkpoint)
    if is_jax_checkpoint(prefix):  # a vatt-train run on the JAX backend
        return _from_run(classifier, prefix)
    keys = {name for name, _ in tf.train.list_variables(prefix)}
    if any(k.startswith(f"{ROOT_PREFIX}/") for k in keys):
        return _from_official(classifier, prefix, keys)
    return _from_run(classifier, prefix)


def _modality(classifier: keras.Model) -> str:
    return "video" if classifier.input_key == "video" else "audio"


def _from_official(classifier: keras.Model, prefix: str, keys: set[str]) -> list[str]:
    modality = _modality(classifier)
    if any(k.startswith(f"{FINETUNED_BACKBONE_PREFIX}/") for k in keys):
        source = FINETUNED_BACKBONE_PREFIX
    elif any(k.startswith(f"{UNIFIED_PREFIX}/") for k in keys):
        return load_unified_checkpoint(classifier.backbone, prefix)
    else:
        source = PRETRAIN_BACKBONE_PREFIXES[modality]
    return vatt.models.load_official_checkpoint(classifier.backbone, prefix, prefix=source)


def _from_run(classifier: keras.Model, prefix: str) -> list[str]:
    run_dir = pathlib.Path(prefix).parent
    if not (run_dir / CONFIG_FILE).is_file():
        raise CheckpointError(
            f"{prefix} is neither an official VATT checkpoint nor in a vatt-train run directory "
            f"(no {run_dir / CONFIG_FILE} next to it)"
        )
    source_config = load_run_config(run_dir)
    if source_config.mode != "pretrain":
        raise CheckpointError(
            f"{prefix} is from a {source_config.mode} run ({source_config.model_arch}); "
            "fine-tuning starts from a pretraining run or an official checkpoint"
        )
    pretrained = build_model(source_config)
    restore_model_weights(pretrained, prefix)
    source = pretrained.checkpoint_variables()
    modality = _modality(classifier)
    if any(key.startswith(f"{UNIFIED_PREFIX}/") for key in source):
        target = unified_checkpoint_variables(classifier.backbone)
    else:
        target = classifier.backbone.checkpoint_variables(PRETRAIN_BACKBONE_PREFIXES[modality])
    missing = sorted(set(target) - set(source))
    if missing:
        raise CheckpointError(
            f"the {modality} backbone of {type(classifier).__name__} does not fit the "
            f"{source_config.model_arch} model of {prefix}: {len(missing)} weights have no "
            f"counterpart, e.g. {missing[:5]}"
        )
    mismatched = [
        f"{key}: pretrained {tuple(source[key].shape)} vs classifier {tuple(var.shape)}"
        for key, var in sorted(target.items())
        if tuple(source[key].shape) != tuple(var.shape)
    ]
    if mismatched:
        raise CheckpointError(f"shape mismatches between {prefix} and the classifier: {mismatched}")
    for key, variable in target.items():
        variable.assign(np.asarray(source[key].numpy(), dtype=variable.dtype))
    return sorted(target)
