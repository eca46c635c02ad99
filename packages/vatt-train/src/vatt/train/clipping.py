"""The groups of variables whose gradients a run clips by global norm, each with its own norm."""

from __future__ import annotations

from typing import TYPE_CHECKING

import keras

from vatt.train.steps import ClipGroup

if TYPE_CHECKING:
    from vatt.train.config import ExperimentConfig


def clip_groups(config: ExperimentConfig, model: keras.Model) -> list[ClipGroup]:
    """Fine-tuning clips the classifier and the backbone separately (spec §4.3)."""
    train = config.train
    classifier = getattr(model, "cls", None) if config.mode == "finetune" else None
    if classifier is None:
        return [ClipGroup(model.trainable_variables, train.gradient_clip_norm)]
    head = {id(v) for v in classifier.trainable_variables}
    backbone = [v for v in model.trainable_variables if id(v) not in head]
    return [
        ClipGroup(backbone, train.gradient_clip_norm),
        ClipGroup(classifier.trainable_variables, train.gradient_clip_norm_classifier),
    ]
