"""The objective of a run: the loss terms of one replica's batch, for pretraining (NCE / MIL-NCE)
or fine-tuning (softmax or sigmoid cross-entropy)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import tensorflow as tf

import vatt.losses
from vatt.data.registry import get_dataset_spec

if TYPE_CHECKING:
    from vatt.train.config import ExperimentConfig
    from vatt.train.steps import Objective


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
