"""Linear probes separate linearly separable synthetic features and fail on noise."""

import numpy as np
import pytest

from vatt.eval.probes import (
    KerasProbeConfig,
    build_keras_probe,
    keras_linear_probe,
    select_svm_c,
    svm_linear_probe,
)

NUM_CLASSES, DIM = 5, 16


def _separable(rng, num_clips, num_views=1):
    """Clusters around random class centres, far apart relative to the noise."""
    centres = np.random.default_rng(123).normal(size=(NUM_CLASSES, DIM)) * 3.0
    labels = rng.integers(0, NUM_CLASSES, num_clips)
    features = centres[labels][:, None, :] + rng.normal(size=(num_clips, num_views, DIM)) * 0.3
    return features.reshape(num_clips * num_views, DIM).astype(np.float32), labels


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    train = _separable(rng, 150)
    test = _separable(rng, 40, num_views=4)
    return train, test


def test_keras_probe_has_the_original_layers():
    model = build_keras_probe(7)
    model.build((None, DIM))
    hidden, dropout, output = model.layers
    assert hidden.units == 128 and hidden.activation.__name__ == "linear"
    assert dropout.rate == 0.9
    assert output.units == 7 and output.activation.__name__ == "softmax"
    assert output.kernel_regularizer.l2 == pytest.approx(0.1)


def test_keras_probe_separates_separable_features(data):
    (train_x, train_y), (test_x, test_y) = data
    result = keras_linear_probe(
        train_x,
        train_y,
        test_x,
        test_y,
        num_classes=NUM_CLASSES,
        num_test_views=4,
        config=KerasProbeConfig(epochs=40),
    )
    assert result == {
        "train_top_1_accuracy": 1.0,
        "train_top_5_accuracy": 1.0,
        "test_top_1_accuracy": 1.0,
        "test_top_5_accuracy": 1.0,
    }


def test_svm_probe_separates_separable_features(data):
    (train_x, train_y), (test_x, test_y) = data
    result = svm_linear_probe(
        train_x, train_y, test_x, test_y, num_classes=NUM_CLASSES, num_test_views=4
    )
    assert result["train_top_1_accuracy"] == 1.0
    assert result["test_top_1_accuracy"] == 1.0
    assert result["svm_holdout_top_1_accuracy"] == 1.0
    # Every C separates these clusters, so the tie goes to the smallest (most regularised) C.
    assert result["svm_C"] == 1e-4


def test_svm_probe_on_noise_is_near_chance():
    rng = np.random.default_rng(1)
    train_x, test_x = rng.normal(size=(200, DIM)), rng.normal(size=(400, DIM))
    train_y, test_y = rng.integers(0, 2, 200), rng.integers(0, 2, 400)
    result = svm_linear_probe(train_x, train_y, test_x, test_y, num_classes=2)
    assert 0.4 < result["test_top_1_accuracy"] < 0.6


def test_svm_c_is_the_best_held_out_choice():
    rng = np.random.default_rng(2)
    features = rng.normal(size=(120, 40))
    labels = (features[:, 0] + 0.8 * rng.normal(size=120) > 0).astype(int)
    grid = (1e-4, 1e-2, 1.0, 100.0)
    held_out = select_svm_c(features, labels, num_classes=2, c_grid=grid, holdout_fraction=0.25)
    assert list(held_out) == list(grid)
    assert all(0.0 <= a <= 1.0 for a in held_out.values())
    result = svm_linear_probe(
        features, labels, features, labels, num_classes=2, c_grid=grid, holdout_fraction=0.25
    )
    best = max(held_out.values())
    assert result["svm_C"] == min(c for c, a in held_out.items() if a == best)


def test_probes_reject_mismatched_views():
    x = np.zeros((10, 3))
    y = np.array([0, 1] * 5)
    with pytest.raises(ValueError, match="labels x 4 views"):
        svm_linear_probe(x, y, x, y, num_classes=2, num_test_views=4)
