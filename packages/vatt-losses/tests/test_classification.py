"""softmax_cross_entropy and sigmoid_cross_entropy against the brute-force references."""

from __future__ import annotations

import numpy as np
import pytest
from losses_reference import sigmoid_cross_entropy as ref_sigmoid
from losses_reference import softmax_cross_entropy as ref_softmax
from losses_reference import value_and_grads

from vatt.losses import inverse_label_occurrence, sigmoid_cross_entropy, softmax_cross_entropy


def test_softmax_cross_entropy_one_hot_smoothed_and_mixed(rng):
    logits = rng.normal(size=(6, 5)).astype("float32") * 3
    one_hot = np.eye(5, dtype="float32")[rng.integers(0, 5, 6)]
    smoothed = one_hot * 0.9 + 0.1 / 5
    lam = 0.3
    mixed = lam * smoothed + (1 - lam) * smoothed[::-1]
    for labels in (one_hot, smoothed, mixed):
        got = float(softmax_cross_entropy(logits, labels))
        np.testing.assert_allclose(got, ref_softmax(logits.astype("float64"), labels), rtol=1e-5)


def test_softmax_cross_entropy_is_stable_for_large_logits():
    logits = np.array([[1000.0, 0.0, -1000.0]], "float32")
    labels = np.array([[0.0, 1.0, 0.0]], "float32")
    np.testing.assert_allclose(float(softmax_cross_entropy(logits, labels)), 1000.0, rtol=1e-6)


def test_softmax_gradient_is_probabilities_minus_labels(rng):
    logits = rng.normal(size=(4, 3)).astype("float32")
    labels = np.eye(3, dtype="float32")[[0, 2, 1, 1]]
    _, (grad,) = value_and_grads(lambda z: softmax_cross_entropy(z, labels), logits)
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(grad, (probs - labels) / 4, atol=1e-6)


@pytest.mark.parametrize("weighting", [True, False])
def test_sigmoid_cross_entropy_matches_reference(rng, weighting):
    logits = rng.normal(size=(8, 6)).astype("float32") * 2
    labels = (rng.random((8, 6)) > 0.6).astype("float32")
    labels[3] = 0.0  # a clip with no label at all gets weight 0, not NaN
    got = float(sigmoid_cross_entropy(logits, labels, inverse_frequency_weighting=weighting))
    assert np.isfinite(got)
    np.testing.assert_allclose(
        got, ref_sigmoid(logits.astype("float64"), labels, weighting), rtol=1e-5
    )


def test_inverse_label_occurrence_hand_computed():
    labels = np.array([[1, 1, 0], [1, 0, 0], [0, 0, 1]], "float32")
    # class counts: [2, 1, 1]; labels per sample: [2, 1, 1]
    want = [[(1 / 2 + 1 / 1) / 2], [1 / 2], [1 / 1]]
    np.testing.assert_allclose(np.asarray(inverse_label_occurrence(labels)), want, rtol=1e-6)


def test_classification_losses_reject_index_labels():
    with pytest.raises(ValueError, match="one-/multi-hot"):
        softmax_cross_entropy(np.zeros((4, 3), "float32"), np.array([0, 1, 2, 0]))
    with pytest.raises(ValueError, match="same shape"):
        sigmoid_cross_entropy(np.zeros((4, 3), "float32"), np.zeros((4, 2), "float32"))
