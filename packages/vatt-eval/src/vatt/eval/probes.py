"""Linear probes on frozen features: the original Keras protocol and a linear SVM with a C sweep.

Both take train features (one deterministic view per clip) and test features with
``num_test_views`` views per clip stacked example-major, and return the top-1/top-5 accuracy on
train and test, test scores being averaged over the views of each clip.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf
from sklearn import model_selection, preprocessing, svm

from vatt.eval.metrics import classification_metrics
from vatt.eval.views import average_views


@dataclasses.dataclass(frozen=True)
class KerasProbeConfig:
    """The original ``LinearClsHead`` protocol (defaults are the original's values)."""

    hidden_units: int = 128
    dropout_rate: float = 0.9
    l2: float = 0.1
    learning_rate: float = 5e-4
    batch_size: int = 64
    epochs: int = 1000
    seed: int = 1


# Regularisation strengths tried by the SVM probe, weakest regularisation last.
DEFAULT_SVM_C_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0)


def _check_inputs(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    test_features: np.ndarray,
    test_labels: np.ndarray,
    num_classes: int,
    num_test_views: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    train_features = np.asarray(train_features, dtype=np.float32)
    test_features = np.asarray(test_features, dtype=np.float32)
    train_labels = np.asarray(train_labels, dtype=np.int64)
    test_labels = np.asarray(test_labels, dtype=np.int64)
    if train_features.ndim != 2 or test_features.ndim != 2:
        raise ValueError(
            f"features must be [N, D], got train {train_features.shape}, test {test_features.shape}"
        )
    if train_features.shape[1] != test_features.shape[1]:
        raise ValueError(
            f"train ({train_features.shape[1]}) and test ({test_features.shape[1]}) feature "
            "dimensions differ"
        )
    if train_labels.shape != (train_features.shape[0],):
        raise ValueError(
            f"train_labels must be [{train_features.shape[0]}] class ids, got {train_labels.shape}"
        )
    if test_labels.shape[0] * num_test_views != test_features.shape[0]:
        raise ValueError(
            f"{test_features.shape[0]} test feature rows do not match {test_labels.shape[0]} "
            f"labels x {num_test_views} views"
        )
    for name, labels in (("train", train_labels), ("test", test_labels)):
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(f"{name} class ids must lie in [0, {num_classes})")
    return train_features, train_labels, test_features, test_labels


def _metrics(train_scores, train_labels, test_scores, test_labels) -> dict[str, float]:
    results = {
        f"train_{k}": v for k, v in classification_metrics(train_scores, train_labels).items()
    }
    results.update(
        {f"test_{k}": v for k, v in classification_metrics(test_scores, test_labels).items()}
    )
    return results


def build_keras_probe(
    num_classes: int, config: KerasProbeConfig = KerasProbeConfig()
) -> keras.Model:
    """``Dense(128) -> Dropout(0.9) -> Dense(C, softmax, L2 0.1)``, glorot-normal kernels.

    The hidden layer has no activation, so the probe is linear at inference.
    """
    return keras.Sequential(
        [
            keras.layers.Dense(
                config.hidden_units,
                kernel_initializer=keras.initializers.GlorotNormal(seed=config.seed),
            ),
            keras.layers.Dropout(config.dropout_rate, seed=config.seed),
            keras.layers.Dense(
                num_classes,
                activation="softmax",
                kernel_initializer=keras.initializers.GlorotNormal(seed=config.seed + 1),
                kernel_regularizer=keras.regularizers.L2(config.l2),
            ),
        ],
        name="linear_probe",
    )


def keras_linear_probe(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    test_features: np.ndarray,
    test_labels: np.ndarray,
    *,
    num_classes: int,
    num_test_views: int = 1,
    config: KerasProbeConfig = KerasProbeConfig(),
) -> dict[str, float]:
    """Train the original VATT linear classifier on frozen features and measure it.

    Adam (``config.learning_rate``) on categorical cross-entropy for ``config.epochs`` epochs of
    shuffled mini-batches; test softmax scores are averaged over the views of each clip.

    Args:
      train_features: ``[N, D]`` one view per training clip.
      train_labels: ``[N]`` class ids.
      test_features: ``[M * num_test_views, D]``, views of one clip adjacent.
      test_labels: ``[M]`` class ids.
      num_classes: C.
      num_test_views: views per test clip.
      config: protocol hyper-parameters.

    Returns:
      ``{"train_top_1_accuracy", "train_top_5_accuracy", "test_top_1_accuracy",
      "test_top_5_accuracy"}``.
    """
    train_x, train_y, test_x, test_y = _check_inputs(
        train_features, train_labels, test_features, test_labels, num_classes, num_test_views
    )
    model = build_keras_probe(num_classes, config)
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss=keras.losses.CategoricalCrossentropy(),
    )
    # Seeded per-epoch shuffling without touching the global random state.
    dataset = (
        tf.data.Dataset.from_tensor_slices(
            (train_x, np.eye(num_classes, dtype=np.float32)[train_y])
        )
        .shuffle(len(train_x), seed=config.seed, reshuffle_each_iteration=True)
        .batch(config.batch_size)
    )
    model.fit(dataset, epochs=config.epochs, shuffle=False, verbose=0)
    train_scores = model.predict(train_x, batch_size=1024, verbose=0)
    test_scores = average_views(model.predict(test_x, batch_size=1024, verbose=0), num_test_views)
    return _metrics(train_scores, train_y, test_scores, test_y)


def _svm_scores(model: svm.LinearSVC, features: np.ndarray, num_classes: int) -> np.ndarray:
    """Decision values as ``[N, num_classes]``; classes unseen in training score lowest."""
    decision = model.decision_function(features)
    if decision.ndim == 1:  # binary problems return the positive-class margin only
        decision = np.stack([-decision, decision], axis=1)
    scores = np.full((features.shape[0], num_classes), decision.min() - 1.0)
    scores[:, model.classes_] = decision
    return scores


def _fit_svm(features: np.ndarray, labels: np.ndarray, c: float, seed: int) -> svm.LinearSVC:
    return svm.LinearSVC(C=c, dual="auto", max_iter=10_000, random_state=seed).fit(features, labels)


def select_svm_c(
    features: np.ndarray,
    labels: np.ndarray,
    *,
    num_classes: int,
    c_grid: tuple[float, ...] = DEFAULT_SVM_C_GRID,
    holdout_fraction: float = 0.2,
    seed: int = 0,
) -> dict[float, float]:
    """Held-out top-1 accuracy of a linear SVM for each C of ``c_grid``.

    ``holdout_fraction`` of the (already standardised) train features is held out, stratified
    when every class has two or more clips; each C is fitted on the rest.

    Returns:
      ``{C: held-out top-1 accuracy}`` in increasing C.
    """
    if not 0.0 < holdout_fraction < 1.0:
        raise ValueError(f"holdout_fraction must lie in (0, 1), got {holdout_fraction}")
    num_clips, class_counts = labels.shape[0], np.bincount(labels)[np.unique(labels)]
    num_held = max(int(round(holdout_fraction * num_clips)), 1)
    stratify = None
    # Stratifying needs every class twice and room for one clip per class on each side.
    if np.all(class_counts >= 2) and num_clips >= 2 * class_counts.size:
        num_held = min(max(num_held, class_counts.size), num_clips - class_counts.size)
        stratify = labels
    fit_x, held_x, fit_y, held_y = model_selection.train_test_split(
        features, labels, test_size=num_held, random_state=seed, stratify=stratify
    )
    if np.unique(fit_y).size < 2:
        raise ValueError("the train split is too small to hold out a part for choosing C")
    accuracy = {}
    for c in sorted(c_grid):
        scores = _svm_scores(_fit_svm(fit_x, fit_y, c, seed), held_x, num_classes)
        accuracy[float(c)] = classification_metrics(scores, held_y)["top_1_accuracy"]
    return accuracy


def svm_linear_probe(
    train_features: np.ndarray,
    train_labels: np.ndarray,
    test_features: np.ndarray,
    test_labels: np.ndarray,
    *,
    num_classes: int,
    num_test_views: int = 1,
    c_grid: tuple[float, ...] = DEFAULT_SVM_C_GRID,
    holdout_fraction: float = 0.2,
    seed: int = 0,
) -> dict[str, float]:
    """A scikit-learn linear SVM whose C is chosen on a held-out part of the train split.

    Features are standardised with train statistics; C is the one with the best held-out top-1
    accuracy (:func:`select_svm_c`; the smallest C on ties) and is then refitted on the whole
    train split. Test decision values are averaged over the views of each clip.

    Args: as :func:`keras_linear_probe`, plus
      c_grid: the values of C to try.
      holdout_fraction: share of the train split used to choose C.
      seed: seed of the hold-out split and the solver.

    Returns:
      the metrics of :func:`keras_linear_probe` plus ``"svm_C"`` (the chosen C) and
      ``"svm_holdout_top_1_accuracy"`` (its held-out accuracy).
    """
    train_x, train_y, test_x, test_y = _check_inputs(
        train_features, train_labels, test_features, test_labels, num_classes, num_test_views
    )
    if np.unique(train_y).size < 2:
        raise ValueError("the SVM probe needs at least two classes in the train split")
    scaler = preprocessing.StandardScaler().fit(train_x)
    train_x, test_x = scaler.transform(train_x), scaler.transform(test_x)
    held_out = select_svm_c(
        train_x,
        train_y,
        num_classes=num_classes,
        c_grid=c_grid,
        holdout_fraction=holdout_fraction,
        seed=seed,
    )
    best_c = max(held_out, key=lambda c: (held_out[c], -c))
    model = _fit_svm(train_x, train_y, best_c, seed)
    test_scores = average_views(_svm_scores(model, test_x, num_classes), num_test_views)
    results = _metrics(_svm_scores(model, train_x, num_classes), train_y, test_scores, test_y)
    results["svm_C"] = best_c
    results["svm_holdout_top_1_accuracy"] = held_out[best_c]
    return results
