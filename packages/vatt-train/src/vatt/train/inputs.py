"""The training input of a run: the per-replica dataset of ``data.train`` and what the train step
does to each batch before the model."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

import tensorflow as tf

import vatt.data

if TYPE_CHECKING:
    from vatt.train.config import ExperimentConfig
    from vatt.train.steps import BatchPreparation

DatasetFn = Callable[[tf.distribute.InputContext], tf.data.Dataset]


def batch_preparation(config: ExperimentConfig) -> BatchPreparation | None:
    """What the train step does to each replica's batch before the model: in pretraining,
    ``vatt.data.finish_batch`` (uint8 video and its ``video_augment`` draws become float video, on
    the accelerator; float batches pass unchanged); nothing in fine-tuning."""
    if config.mode != "pretrain":
        return None
    data = config.data.train
    return functools.partial(
        vatt.data.finish_batch,
        zero_centering=data.zero_centering_image,
        frame_size=data.frame_size,
    )


def train_dataset_fn(config: ExperimentConfig) -> DatasetFn:
    """``input_context -> per-replica batched dataset`` of the training input of ``config``."""
    data, batch_size = config.data, config.train.global_batch_size

    # vatt-data loaders take the global batch and batch per replica from the input context.
    def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
        if config.mode == "pretrain":
            return vatt.data.pretrain_dataset(
                data.train, batch_size=batch_size, input_context=context
            )
        return vatt.data.classification_dataset(
            data.train,
            split=data.train_split,
            training=True,
            batch_size=batch_size,
            input_context=context,
        )

    return dataset_fn
