"""Running a model over a finite evaluation dataset and collecting its outputs as NumPy arrays."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import keras
import numpy as np
import tensorflow as tf
import tqdm

# Batch keys that models read; labels, masks and num_views stay with the evaluator.
MODEL_INPUT_KEYS = ("video", "audio", "audio_spectrogram", "text")

# A tf.data.Dataset of contract-1 batches, or any iterable of them.
Batches = Iterable[Mapping[str, tf.Tensor]]
Predict = Callable[[Mapping[str, tf.Tensor]], Any]
Select = Callable[[Any, Mapping[str, tf.Tensor]], Mapping[str, Any]]


def make_predict(model: keras.Model) -> Predict:
    """A compiled ``batch -> outputs`` function that runs ``model`` in inference mode.

    TensorFlow: a ``tf.function``. JAX: ``model.stateless_call`` under ``jax.jit`` with the
    weights passed at every call, so weights restored later (the next checkpoint) are used.
    """
    if keras.backend.backend() == "jax":
        return _jax_predict(model)

    @tf.function(reduce_retracing=True)
    def predict(inputs):
        return model(inputs, training=False)

    return predict


def _jax_predict(model: keras.Model) -> Predict:
    import jax

    @jax.jit
    def run(trainable, non_trainable, inputs):
        outputs, _ = model.stateless_call(trainable, non_trainable, inputs, training=False)
        return outputs

    def predict(inputs):
        return run(
            [v.value for v in model.trainable_variables],
            [v.value for v in model.non_trainable_variables],
            {key: np.asarray(value) for key, value in inputs.items()},
        )

    return predict


def collect(
    predict: Predict,
    dataset: Batches,
    select: Select,
    *,
    description: str,
    progress: bool = True,
) -> tuple[dict[str, np.ndarray], int]:
    """Run ``predict`` over every batch and concatenate what ``select`` picks from each.

    Args:
      predict: from :func:`make_predict`.
      dataset: a finite ``tf.data.Dataset`` (or any iterable) of contract-1 batches.
      select: ``(outputs, batch) -> {name: tensor}``, the arrays to keep from each batch.
      description: label of the progress bar.
      progress: show a progress bar (clips evaluated so far) when stderr is a terminal; in a
        log file its redrawn lines would only interleave with the log's.

    Returns:
      ``({name: concatenated array}, num_views)``; ``num_views`` is 1 for single-view batches.
    """
    pieces: dict[str, list[np.ndarray]] = {}
    num_views = None
    disable = None if progress else True  # None: tqdm's "not on a terminal"
    with tqdm.tqdm(desc=description, unit="clip", disable=disable, leave=False) as bar:
        for batch in dataset:
            views = int(batch["num_views"]) if "num_views" in batch else 1
            if num_views not in (None, views):
                raise ValueError(f"{description}: num_views changed from {num_views} to {views}")
            num_views = views
            inputs = {k: batch[k] for k in MODEL_INPUT_KEYS if k in batch}
            if not inputs:
                raise KeyError(
                    f"{description}: the batch holds none of the model inputs "
                    f"{list(MODEL_INPUT_KEYS)}; got keys {sorted(batch)}"
                )
            for name, value in select(predict(inputs), batch).items():
                pieces.setdefault(name, []).append(np.asarray(value))
            first = next(iter(inputs.values()))
            bar.update(int(first.shape[0]) // views)
    if num_views is None:
        raise ValueError(f"{description}: the dataset is empty")
    return {name: np.concatenate(parts) for name, parts in pieces.items()}, num_views
