"""Multi-view aggregation: evaluation batches stack the V views of each example on the batch axis.

vatt-data emits ``[B*V, ...]`` with the views of one example adjacent (example-major), the
layout of the original ``EvalLoader``: rows ``b*V .. b*V + V - 1`` belong to example ``b``.
"""

from __future__ import annotations

import numpy as np


def split_views(values: np.ndarray, num_views: int) -> np.ndarray:
    """Reshape ``[B*V, ...]`` into ``[B, V, ...]``.

    Args:
      values: per-view outputs, views of one example adjacent.
      num_views: V, the number of views per example.
    """
    values = np.asarray(values)
    if num_views < 1:
        raise ValueError(f"num_views must be >= 1, got {num_views}")
    if values.ndim == 0 or values.shape[0] % num_views:
        raise ValueError(
            f"leading dimension {values.shape[:1]} is not a multiple of num_views={num_views}"
        )
    return values.reshape(values.shape[0] // num_views, num_views, *values.shape[1:])


def average_views(values: np.ndarray, num_views: int) -> np.ndarray:
    """Mean over the V views of each example: ``[B*V, ...] -> [B, ...]``.

    Used on logits (fine-tuning: 4 windows x 3 crops for video, 4 windows for audio; softmax or
    sigmoid is applied after averaging, as the original) and on probe probabilities.
    """
    return split_views(values, num_views).mean(axis=1)
