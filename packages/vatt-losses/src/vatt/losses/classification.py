"""Fine-tuning objectives: softmax cross-entropy (video) and weighted sigmoid BCE (AudioSet)."""

from __future__ import annotations

from keras import ops


def _check_pair(logits, labels):
    logits = ops.cast(ops.convert_to_tensor(logits), "float32")
    labels = ops.cast(ops.convert_to_tensor(labels), "float32")
    if len(logits.shape) != 2 or tuple(logits.shape) != tuple(labels.shape):
        raise ValueError(
            "logits and labels must both be [B, C] with the same shape, got "
            f"{tuple(logits.shape)} and {tuple(labels.shape)} (labels are one-/multi-hot, "
            "not class indices)"
        )
    return logits, labels


def softmax_cross_entropy(logits, labels):
    """Mean over the batch of −Σ_c labels_c · log softmax(logits)_c.

    ``labels`` are ``[B, C]`` distributions: one-hot, label-smoothed or mixed up. The original
    applied Keras' categorical cross-entropy to probabilities (clipped at 1e-7); computing it from
    the logits is the same value without that clipping and is numerically stable.
    """
    logits, labels = _check_pair(logits, labels)
    return ops.mean(-ops.sum(labels * ops.log_softmax(logits, axis=-1), axis=-1))


def inverse_label_occurrence(labels):
    """Per-sample weight w_b = Σ_c y_bc / (n_c · k_b) of the original's AudioSet loss.

    n_c = Σ_b y_bc is how many samples of the batch carry class c and k_b = Σ_c y_bc how many
    labels sample b has, so rare classes weigh more. Returns ``[B, 1]``; a sample without any
    label gets weight 0 (the original divided by k_b = 0 and produced NaN).
    """
    labels = ops.cast(ops.convert_to_tensor(labels), "float32")
    per_class = ops.sum(labels, axis=0, keepdims=True)  # (1, C)
    per_sample = ops.sum(labels, axis=1, keepdims=True)  # (B, 1)
    inv_class = ops.where(per_class > 0, 1.0 / ops.maximum(per_class, 1e-12), 0.0)
    weight = ops.sum(inv_class * labels, axis=1, keepdims=True)
    return ops.where(per_sample > 0, weight / ops.maximum(per_sample, 1e-12), 0.0)


def sigmoid_cross_entropy(logits, labels, *, inverse_frequency_weighting: bool = True):
    """Multi-label BCE with logits, summed over classes and averaged over the batch.

    With ``inverse_frequency_weighting`` (the original's AudioSet fine-tuning loss) every class
    term of sample b is multiplied by :func:`inverse_label_occurrence`. The element loss is
    max(x, 0) − x·y + log(1 + e^(−|x|)), as ``tf.nn.sigmoid_cross_entropy_with_logits``.
    """
    logits, labels = _check_pair(logits, labels)
    elementwise = ops.maximum(logits, 0.0) - logits * labels + ops.log1p(ops.exp(-ops.abs(logits)))
    if inverse_frequency_weighting:
        elementwise = elementwise * inverse_label_occurrence(labels)
    return ops.mean(ops.sum(elementwise, axis=1))
