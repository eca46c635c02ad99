"""Evaluation metrics of VATT: retrieval, top-k accuracy and the AudioSet measures.

Every function takes NumPy arrays and returns plain Python floats, so results can go straight
into a results JSON. Ties between scores are resolved by their expectation under a uniformly
random tie-break: a constant score matrix therefore measures at chance level instead of
perfect (the original's ``np.where`` on sorted scores miscounted tied rows).
"""

from __future__ import annotations

import math

import numpy as np
import scipy.stats
from sklearn import metrics as sk_metrics

RETRIEVAL_KS = (1, 5, 10)


def _as_matrix(name: str, values: np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return array


def _rank_counts(scores: np.ndarray, true_index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: how many other entries score strictly higher than the true one, and how many tie."""
    true_score = scores[np.arange(scores.shape[0]), true_index][:, None]
    higher = np.sum(scores > true_score, axis=1)
    tied = np.sum(scores == true_score, axis=1) - 1
    return higher, tied


def _hit_rate(higher: np.ndarray, tied: np.ndarray, k: int) -> float:
    """Mean probability that the true item lands in the top ``k`` under a random tie-break.

    The true item's 0-based rank is uniform over ``higher .. higher + tied``.
    """
    probability = np.clip((k - higher) / (tied + 1), 0.0, 1.0)
    return float(np.mean(probability))


def retrieval_metrics(
    similarity: np.ndarray, ks: tuple[int, ...] = RETRIEVAL_KS
) -> dict[str, float]:
    """Recall at k and median rank of a query-by-candidate similarity matrix.

    Definition: row ``i`` is a query whose correct candidate is column ``i`` (ground truth on the
    diagonal), larger similarity is better. The 0-based rank of a query is the number of
    candidates scoring above its correct one (tied candidates contribute their expected
    position under a random tie-break). ``R{k}`` is the fraction of queries with rank < k, and
    ``MedianRank`` is ``median(rank) + 1``, so a perfect ranking gives ``R1 = 1`` and
    ``MedianRank = 1`` as in the original VATT evaluation.

    Args:
      similarity: ``[N, N]`` scores, queries on rows and candidates on columns.
      ks: cut-offs for recall.

    Returns:
      ``{"R1": ..., "R5": ..., "R10": ..., "MedianRank": ...}``.
    """
    scores = _as_matrix("similarity", similarity)
    if scores.shape[0] != scores.shape[1] or scores.shape[0] == 0:
        raise ValueError(
            f"similarity must be a non-empty square matrix with ground truth on the diagonal, "
            f"got shape {scores.shape}"
        )
    higher, tied = _rank_counts(scores, np.arange(scores.shape[0]))
    results = {f"R{k}": _hit_rate(higher, tied, k) for k in ks}
    results["MedianRank"] = float(np.median(higher + tied / 2.0) + 1.0)
    return results


def retrieval_chance_levels(
    num_candidates: int, ks: tuple[int, ...] = RETRIEVAL_KS
) -> dict[str, float]:
    """Expected :func:`retrieval_metrics` of a random ranking over ``num_candidates`` candidates.

    ``R{k} = min(k, N) / N`` and ``MedianRank = (N + 1) / 2``.
    """
    if num_candidates < 1:
        raise ValueError(f"num_candidates must be >= 1, got {num_candidates}")
    results = {f"R{k}": min(k, num_candidates) / num_candidates for k in ks}
    results["MedianRank"] = (num_candidates + 1) / 2.0
    return results


def _l2_normalize(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norm, 1e-12)


def _check_windowed(queries: np.ndarray, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    queries = np.asarray(queries, dtype=np.float64)
    candidates = np.asarray(candidates, dtype=np.float64)
    if candidates.ndim != 3:
        raise ValueError(
            f"candidates must be [N, num_windows, D] (use vatt.eval.split_views on [N*V, D]), "
            f"got shape {candidates.shape}"
        )
    if queries.ndim not in (2, 3) or (
        queries.ndim == 3 and queries.shape[1] != candidates.shape[1]
    ):
        raise ValueError(
            f"queries must be [N, D] or [N, num_windows, D] with the candidates' "
            f"{candidates.shape[1]} windows, got shape {queries.shape}"
        )
    if queries.shape[0] != candidates.shape[0] or queries.shape[-1] != candidates.shape[-1]:
        raise ValueError(
            f"queries {queries.shape} and candidates {candidates.shape} must agree on N and D"
        )
    if not (np.all(np.isfinite(queries)) and np.all(np.isfinite(candidates))):
        raise ValueError("embeddings contain NaN or infinite values")
    return queries, candidates


def similarity_average_embeddings(queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Cosine similarity after averaging the window embeddings (``*_embd_*`` keys).

    Definition: ``S[i, j] = cos(mean_w q_{i,w}, mean_w c_{j,w})``: windows are averaged first,
    then both sides are L2-normalised. Queries without windows are used as they are.

    Args:
      queries: ``[N, D]`` (e.g. text ``tovid``) or ``[N, W, D]`` (e.g. audio ``tovid``).
      candidates: ``[N, W, D]`` candidate embeddings per window (e.g. video ``totxt``).

    Returns:
      ``[N, N]`` similarity matrix, queries on rows.
    """
    queries, candidates = _check_windowed(queries, candidates)
    if queries.ndim == 3:
        queries = queries.mean(axis=1)
    return _l2_normalize(queries) @ _l2_normalize(candidates.mean(axis=1)).T


def similarity_average_cosines(queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Cosine similarity per window, then averaged over windows (``*_cosine_*`` keys).

    Definition: ``S[i, j] = mean_w cos(q_i, c_{j,w})`` for ``[N, D]`` queries, and
    ``S[i, j] = mean_w cos(q_{i,w}, c_{j,w})`` for windowed queries, whose window ``w`` covers the
    same time as the candidate's window ``w``.

    Args:
      queries: ``[N, D]`` or ``[N, W, D]`` query embeddings.
      candidates: ``[N, W, D]`` candidate embeddings per window.

    Returns:
      ``[N, N]`` similarity matrix, queries on rows.
    """
    queries, candidates = _check_windowed(queries, candidates)
    if queries.ndim == 2:
        per_window = np.einsum("id,jwd->ijw", _l2_normalize(queries), _l2_normalize(candidates))
    else:
        per_window = np.einsum("iwd,jwd->ijw", _l2_normalize(queries), _l2_normalize(candidates))
    return per_window.mean(axis=2)


def _class_indices(labels: np.ndarray, num_classes: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim == 2:
        if labels.shape[1] != num_classes:
            raise ValueError(f"labels have {labels.shape[1]} classes, scores {num_classes}")
        return np.argmax(labels, axis=1)
    if labels.ndim != 1:
        raise ValueError(f"labels must be [N] class ids or [N, C] one-hot, got {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"class ids must lie in [0, {num_classes}), got {labels.min()}..{labels.max()}"
        )
    return labels.astype(np.int64)


def top_k_accuracy(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Fraction of examples whose true class is among the ``k`` highest scores.

    Definition: example ``i`` is correct when fewer than ``k`` classes score above its true
    class; classes tied with it count by their expected position under a random tie-break.

    Args:
      scores: ``[N, C]`` logits or probabilities.
      labels: ``[N]`` class ids, or ``[N, C]`` one-hot (argmax is the class).
      k: the cut-off (1 for top-1 accuracy).
    """
    scores = _as_matrix("scores", scores)
    if scores.shape[0] == 0:
        raise ValueError("top_k_accuracy needs at least one example")
    true_class = _class_indices(labels, scores.shape[1])
    if true_class.shape[0] != scores.shape[0]:
        raise ValueError(f"{true_class.shape[0]} labels for {scores.shape[0]} score rows")
    higher, tied = _rank_counts(scores, true_class)
    return _hit_rate(higher, tied, k)


def classification_metrics(scores: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """``{"top_1_accuracy", "top_5_accuracy"}`` of :func:`top_k_accuracy` (k clipped to C)."""
    num_classes = np.asarray(scores).shape[-1]
    return {
        f"top_{k}_accuracy": top_k_accuracy(scores, labels, min(k, num_classes)) for k in (1, 5)
    }


def d_prime(auc: float) -> float:
    """Sensitivity index of a ROC AUC: ``sqrt(2) * Phi^-1(auc)`` (infinite at AUC 0 or 1)."""
    return float(math.sqrt(2.0) * scipy.stats.norm.ppf(auc))


def audioset_metrics(scores: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Multi-label AudioSet measures, computed per class with scikit-learn then averaged.

    Definitions, over the classes that have both positive and negative examples (AP and AUC
    are undefined otherwise):

    * ``mAP``: mean of per-class ``sklearn.metrics.average_precision_score``;
    * ``AUC``: mean of per-class ``sklearn.metrics.roc_auc_score``;
    * ``d_prime``: mean over classes of ``sqrt(2) * norm.ppf(AUC_c)``, i.e. d' per class from its
      AUC and then averaged, as the original (not d' of the mean AUC);
    * ``num_classes_evaluated``: how many classes entered the averages.

    Args:
      scores: ``[N, C]`` scores (sigmoid probabilities or logits; both rank the same).
      labels: ``[N, C]`` multi-hot targets.
    """
    scores = _as_matrix("scores", scores)
    labels = _as_matrix("labels", labels)
    if scores.shape != labels.shape:
        raise ValueError(
            f"scores {scores.shape} and labels {labels.shape} must have the same shape"
        )
    positives = labels > 0.5
    valid = np.flatnonzero(positives.any(axis=0) & (~positives).any(axis=0))
    if valid.size == 0:
        raise ValueError(
            "no class has both positive and negative examples; AP and AUC are undefined"
        )
    aps = [sk_metrics.average_precision_score(positives[:, c], scores[:, c]) for c in valid]
    aucs = [sk_metrics.roc_auc_score(positives[:, c], scores[:, c]) for c in valid]
    return {
        "mAP": float(np.mean(aps)),
        "AUC": float(np.mean(aucs)),
        "d_prime": float(np.mean([d_prime(a) for a in aucs])),
        "num_classes_evaluated": float(valid.size),
    }
