"""Evaluation of a fine-tuned classifier over a whole evaluation split, with multi-view averaging.

Each clip comes as several views (vatt-data: 4 temporal windows x 3 spatial crops for video, 4
windows for audio); the logits of its views are averaged, then turned into probabilities
(softmax, or sigmoid for multi-label datasets), as the original.
"""

from __future__ import annotations

import numpy as np
import scipy.special

import vatt.data
from vatt.data.config import FinetuneDataConfig
from vatt.data.registry import get_dataset_spec
from vatt.eval import metrics
from vatt.eval.inference import Batches, Predict, collect
from vatt.eval.views import average_views


def categorical_cross_entropy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Mean over examples of ``-sum_c y_c log p_c`` (probabilities clipped at 1e-7 as Keras)."""
    return float(np.mean(-np.sum(labels * np.log(np.clip(probabilities, 1e-7, 1.0)), axis=-1)))


def classification_results(logits: np.ndarray, labels: np.ndarray, *, multi_label: bool) -> dict:
    """Metrics of per-clip (view-averaged) logits against ``[N, C]`` labels.

    Single-label: ``top_1_accuracy``, ``top_5_accuracy`` and ``categorical_cross_entropy`` of the
    softmax. Multi-label: :func:`vatt.eval.metrics.audioset_metrics` of the sigmoid.
    """
    if multi_label:
        return metrics.audioset_metrics(scipy.special.expit(logits), labels)
    results = metrics.classification_metrics(logits, labels)
    results["categorical_cross_entropy"] = categorical_cross_entropy(
        scipy.special.softmax(logits, axis=-1), labels
    )
    return results


def multiview_results(
    predict: Predict,
    dataset: Batches,
    *,
    multi_label: bool,
    description: str,
    progress: bool = True,
) -> dict[str, float]:
    """Classification metrics over every clip of a multi-view dataset.

    The logits of each clip's ``num_views`` views are averaged, then scored with
    :func:`classification_results`; ``num_clips`` and ``num_views`` are added.
    """

    def select(outputs, batch):
        return {"logits": outputs["logits"], "label": batch["label"]}

    arrays, num_views = collect(
        predict, dataset, select, description=description, progress=progress
    )
    logits = average_views(arrays["logits"], num_views)
    labels = arrays["label"]
    if labels.shape[0] != logits.shape[0]:
        raise ValueError(
            f"{description}: {labels.shape[0]} labels for {logits.shape[0]} clips "
            f"({arrays['logits'].shape[0]} views / {num_views})"
        )
    results = classification_results(logits, labels, multi_label=multi_label)
    results.update(num_clips=float(logits.shape[0]), num_views=float(num_views))
    return results


def evaluate_finetuning(
    predict: Predict,
    data_config: FinetuneDataConfig,
    *,
    split: str,
    batch_size: int = 8,
    progress: bool = True,
) -> dict[str, float]:
    """Multi-view classification metrics of a classifier on ``split`` of ``data_config.name``.

    Keys are those of :func:`multiview_results` prefixed with the dataset name
    (``kinetics400_top_1_accuracy``).
    """
    spec = get_dataset_spec(data_config.name)
    if "label" not in spec.modalities:
        raise ValueError(f"dataset {spec.name!r} has no labels to evaluate a classifier on")
    dataset = vatt.data.classification_dataset(
        data_config, split=split, training=False, batch_size=batch_size
    )
    results = multiview_results(
        predict,
        dataset,
        multi_label=spec.multi_label,
        description=f"{spec.name} {split}",
        progress=progress,
    )
    return {f"{spec.name}_{key}": value for key, value in results.items()}
