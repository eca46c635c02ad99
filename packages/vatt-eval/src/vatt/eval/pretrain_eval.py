"""Evaluation of a pretrained VATT model: zero-shot retrieval and linear probes on frozen features.

Which evaluations a dataset gets follows from its registry spec:

* retrieval when it has a ``test`` split with video and captions: text->video (text ``tovid``
  against video ``totxt``) and, when it also has audio, audio->video (audio ``tovid`` against
  video ``toaud``), each with both window-averaging variants;
* linear probes when it is single-label: for each pair of splits ``train<S>``/``test<S>``
  (``train_1``/``test_1`` ... on UCF101, HMDB51, ESC-50), the original Keras protocol and a linear
  SVM on the backbone's ``features_pooled`` of the dataset's classification modality.

Metric keys follow the original: ``{ds}_txt2vid_{embd|cosine}_{R1|R5|R10|MedianRank}``,
``{ds}_{split}_{train|test}_top_{1|5}_accuracy`` and their mean over splits
``{ds}_top_{1|5}_accuracy``; the SVM's keys carry ``svm`` after the split.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

import vatt.data
from vatt.data.config import EvalDataConfig
from vatt.data.registry import DatasetSpec, get_dataset_spec
from vatt.eval import metrics
from vatt.eval.inference import Batches, Predict, collect
from vatt.eval.probes import (
    DEFAULT_SVM_C_GRID,
    KerasProbeConfig,
    keras_linear_probe,
    svm_linear_probe,
)
from vatt.eval.views import split_views

RETRIEVAL_SPLIT = "test"
# Task name -> (query modality, the video head output it is matched against).
RETRIEVAL_TASKS = {"txt2vid": ("text", "totxt"), "aud2vid": ("audio", "toaud")}


@dataclasses.dataclass(frozen=True)
class ProbeSettings:
    """How the linear probes are trained (defaults: the original protocol plus an SVM sweep)."""

    keras: KerasProbeConfig = KerasProbeConfig()
    svm_c_grid: tuple[float, ...] = DEFAULT_SVM_C_GRID
    svm_holdout_fraction: float = 0.2


def has_retrieval(spec: DatasetSpec) -> bool:
    """Whether ``spec`` supports zero-shot retrieval: a ``test`` split with video and captions."""
    return RETRIEVAL_SPLIT in spec.splits and {"video", "text"} <= set(spec.modalities)


def probe_splits(spec: DatasetSpec) -> list[tuple[str, str, str]]:
    """``(split id, train split, test split)`` for each ``train<S>``/``test<S>`` pair of ``spec``.

    The id is ``S`` without its underscore (``"1"`` for ``train_1``), or ``"0"`` when the dataset
    has a single ``train``/``test`` pair. Multi-label datasets get no probe.
    """
    if "label" not in spec.modalities or spec.multi_label:
        return []
    pairs = []
    for split in sorted(spec.splits):
        suffix = split.removeprefix("train")
        if split.startswith("train") and "test" + suffix in spec.splits:
            pairs.append((suffix.lstrip("_") or "0", split, "test" + suffix))
    return pairs


def evaluate_pretraining(
    predict: Predict,
    eval_config: EvalDataConfig,
    datasets: Sequence[str],
    *,
    batch_size: int = 8,
    probes: ProbeSettings = ProbeSettings(),
    progress: bool = True,
) -> dict[str, float]:
    """Every retrieval and linear-probe metric of a pretraining model on ``datasets``.

    Args:
      predict: the pretraining model's inference function (:func:`vatt.eval.make_predict`).
      eval_config: the run's evaluation input; ``name`` is replaced by each dataset in turn.
      datasets: registered dataset names.
      batch_size: clips per batch (their views come on top).
      probes: probe settings.
      progress: show progress bars.
    """
    if not datasets:
        raise ValueError("no dataset to evaluate on; name at least one registered dataset")
    specs = [get_dataset_spec(name) for name in datasets]  # unknown names fail before any work
    for spec in specs:
        if not has_retrieval(spec) and not probe_splits(spec):
            raise ValueError(
                f"dataset {spec.name!r} supports neither retrieval (a 'test' split with video and "
                "text) nor linear probes (single-label train<S>/test<S> splits)"
            )
    results: dict[str, float] = {}
    for spec in specs:
        config = dataclasses.replace(eval_config, name=spec.name)
        found: dict[str, float] = {}
        if has_retrieval(spec):
            dataset = vatt.data.retrieval_dataset(config, batch_size=batch_size)
            found.update(
                retrieval_results(
                    predict, dataset, description=f"{spec.name} retrieval", progress=progress
                )
            )
        splits = probe_splits(spec)
        for split_id, train_split, test_split in splits:
            train = vatt.data.classification_dataset(
                config, split=train_split, training=True, batch_size=batch_size
            )
            test = vatt.data.classification_dataset(
                config, split=test_split, training=False, batch_size=batch_size
            )
            split_results = probe_results(
                predict,
                train,
                test,
                modality=spec.classification_modality,
                num_classes=spec.num_classes,
                probes=probes,
                description=f"{spec.name} split {split_id}",
                progress=progress,
            )
            found.update({f"{split_id}_{k}": v for k, v in split_results.items()})
        if splits:
            found.update(_mean_over_splits(found, [split_id for split_id, _, _ in splits]))
            found["chance_top_1_accuracy"] = 1.0 / spec.num_classes
        results.update({f"{spec.name}_{key}": value for key, value in found.items()})
    return results


def retrieval_results(
    predict: Predict, dataset: Batches, *, description: str, progress: bool = True
) -> dict[str, float]:
    """Zero-shot text->video and audio->video retrieval over every clip of ``dataset``.

    The K captions of a clip are averaged into one text query; audio queries keep their windows,
    each matched with the video window of the same time (cosine variant) or averaged (embedding
    variant). Keys: ``{txt2vid|aud2vid}_{embd|cosine}_{R1|R5|R10|MedianRank}``, the chance
    levels ``retrieval_chance_*`` and ``retrieval_num_clips``.
    """

    def select(outputs, batch):
        head = outputs["head"]
        picked = {}
        for query, video_key in RETRIEVAL_TASKS.values():
            if query in head and "video" in head:
                picked[query] = head[query]["tovid"]
                picked[f"video_{video_key}"] = head["video"][video_key]
        if "text" in picked:  # [B*K, D] -> [B, D]
            clips, captions = batch["text"].shape[0], batch["text"].shape[1]
            picked["text"] = tf.reduce_mean(tf.reshape(picked["text"], [clips, captions, -1]), 1)
        return picked

    arrays, num_views = collect(
        predict, dataset, select, description=description, progress=progress
    )
    results: dict[str, float] = {}
    num_clips = 0
    for task, (query, video_key) in RETRIEVAL_TASKS.items():
        if query not in arrays:
            continue
        candidates = split_views(arrays[f"video_{video_key}"], num_views)
        queries = arrays["text"] if query == "text" else split_views(arrays[query], num_views)
        num_clips = candidates.shape[0]
        for variant, similarity in (
            ("embd", metrics.similarity_average_embeddings),
            ("cosine", metrics.similarity_average_cosines),
        ):
            scores = metrics.retrieval_metrics(similarity(queries, candidates))
            results.update({f"{task}_{variant}_{k}": v for k, v in scores.items()})
    if not results:
        raise ValueError(
            f"{description}: the model gave no video embedding with a text or audio one to "
            "retrieve with (does the batch hold video and text?)"
        )
    chance = metrics.retrieval_chance_levels(num_clips)
    results.update({f"retrieval_chance_{k}": v for k, v in chance.items()})
    results["retrieval_num_clips"] = float(num_clips)
    return results


def _pooled_features(
    predict: Predict, dataset: Batches, modality: str, description: str, progress: bool
) -> tuple[np.ndarray, np.ndarray, int]:
    """Frozen backbone ``features_pooled`` of ``modality``, class ids, views per clip."""

    def select(outputs, batch):
        backbone = outputs["backbone"]
        if modality not in backbone:
            raise KeyError(f"{description}: the model gave no {modality} features")
        return {"features": backbone[modality]["features_pooled"], "label": batch["label"]}

    arrays, num_views = collect(
        predict, dataset, select, description=description, progress=progress
    )
    return arrays["features"], np.argmax(arrays["label"], axis=-1), num_views


def probe_results(
    predict: Predict,
    train_dataset: Batches,
    test_dataset: Batches,
    *,
    modality: str,
    num_classes: int,
    probes: ProbeSettings = ProbeSettings(),
    description: str = "probe",
    progress: bool = True,
) -> dict[str, float]:
    """Keras and SVM linear probes on frozen features of one train/test split pair.

    Train batches hold one view per clip (one per pass with augmentation); test batches hold
    ``num_views`` views per clip, whose scores are averaged. Keys: the Keras probe's
    ``{train|test}_top_{1|5}_accuracy`` and the SVM's ``svm_{train|test}_top_{1|5}_accuracy``,
    ``svm_C``, ``svm_holdout_top_1_accuracy``.
    """
    train_x, train_y, _ = _pooled_features(
        predict, train_dataset, modality, f"{description} train features", progress
    )
    test_x, test_y, test_views = _pooled_features(
        predict, test_dataset, modality, f"{description} test features", progress
    )
    common = {"num_classes": num_classes, "num_test_views": test_views}
    results = keras_linear_probe(train_x, train_y, test_x, test_y, config=probes.keras, **common)
    svm = svm_linear_probe(
        train_x,
        train_y,
        test_x,
        test_y,
        c_grid=probes.svm_c_grid,
        holdout_fraction=probes.svm_holdout_fraction,
        **common,
    )
    results.update({f"svm_{k.removeprefix('svm_')}": v for k, v in svm.items()})
    return results


def _mean_over_splits(results: dict[str, float], split_ids: list[str]) -> dict[str, float]:
    means = {}
    for probe in ("", "svm_"):
        for k in (1, 5):
            values = [results[f"{s}_{probe}test_top_{k}_accuracy"] for s in split_ids]
            means[f"{probe}top_{k}_accuracy"] = float(np.mean(values))
    return means
