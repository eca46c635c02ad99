"""From an :class:`ExperimentConfig` to the model, optimizer, objective and input of a run."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import keras
import tensorflow as tf

import vatt.data
import vatt.losses
import vatt.models
from vatt.data.registry import get_dataset_spec
from vatt.train.config import ExperimentConfig
from vatt.train.steps import BatchPreparation, ClipGroup, Objective

DatasetFn = Callable[[tf.distribute.InputContext], tf.data.Dataset]


@contextlib.contextmanager
def precision_policy(precision: str) -> Iterator[None]:
    """Build layers under the Keras dtype policy ``precision``, then restore the previous one."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def build_model(config: ExperimentConfig) -> keras.Model:
    """The model of ``config`` (``model_arch`` with the ``model`` section), in its precision."""
    with precision_policy(config.train.precision):
        return vatt.models.build(config.model_arch, config.model)


def build_optimizer(config: ExperimentConfig) -> keras.optimizers.Optimizer:
    """The optimizer of ``config``, driven by its schedule over ``train.total_steps``."""
    schedule = config.schedule.build(config.train.total_steps)
    return config.optimizer.build(schedule)


def objective_terms(config: ExperimentConfig) -> list[str]:
    """Names of the loss terms the objective of ``config`` returns (``total`` last)."""
    if config.mode == "finetune":
        return ["total"]
    pairs = [("vid_txt", config.loss.vid_txt_weight), ("vid_aud", config.loss.vid_aud_weight)]
    return [name for name, weight in pairs if weight > 0] + ["total"]


def _all_gather(x):
    return tf.distribute.get_replica_context().all_gather(x, axis=0)


def build_objective(config: ExperimentConfig, num_replicas: int) -> Objective:
    """``(outputs, batch) -> {term: scalar}``: the loss of one replica's batch.

    Pretraining gathers the contrastive negatives of every replica (``ReplicaContext.all_gather``,
    differentiable) when there are several replicas.
    """
    loss = config.loss
    if config.mode == "pretrain":
        gather = _all_gather if num_replicas > 1 else None

        def pretrain(outputs: Mapping[str, Any], batch: Mapping[str, Any]) -> dict[str, Any]:
            return vatt.losses.pretrain_objective(
                outputs,
                batch,
                temperature=loss.temperature,
                vid_txt_weight=loss.vid_txt_weight,
                vid_aud_weight=loss.vid_aud_weight,
                gather=gather,
            )

        return pretrain
    if get_dataset_spec(config.data.train.name).multi_label:

        def multi_label(outputs: Mapping[str, Any], batch: Mapping[str, Any]) -> dict[str, Any]:
            return {
                "total": vatt.losses.sigmoid_cross_entropy(
                    outputs["logits"],
                    batch["label"],
                    inverse_frequency_weighting=loss.inverse_frequency_weighting,
                )
            }

        return multi_label

    def single_label(outputs: Mapping[str, Any], batch: Mapping[str, Any]) -> dict[str, Any]:
        return {"total": vatt.losses.softmax_cross_entropy(outputs["logits"], batch["label"])}

    return single_label


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
