"""Metrics on cases with known answers, against brute-force NumPy and scikit-learn directly."""

import math

import numpy as np
import pytest
import scipy.stats
from sklearn import metrics as sk_metrics

from vatt.eval import metrics


def _brute_force_ranks(similarity):
    """0-based rank of the diagonal entry of each row, for matrices without ties."""
    return np.array([np.sum(row > row[i]) for i, row in enumerate(similarity)])


def test_perfect_ranking_gives_recall_one_and_median_rank_one():
    similarity = np.eye(20) + 0.01 * np.random.default_rng(0).random((20, 20))
    result = metrics.retrieval_metrics(similarity)
    assert result == {"R1": 1.0, "R5": 1.0, "R10": 1.0, "MedianRank": 1.0}


def test_reversed_ranking_puts_every_truth_last():
    n = 12
    # The diagonal scores lowest in every row: each query's truth has rank n - 1.
    similarity = np.ones((n, n)) - np.eye(n) + np.random.default_rng(1).random((n, n)) * 0.1
    np.fill_diagonal(similarity, -1.0)
    result = metrics.retrieval_metrics(similarity)
    assert result["R1"] == 0.0 and result["R5"] == 0.0 and result["R10"] == 0.0
    assert result["MedianRank"] == n


def test_random_matrix_matches_brute_force_ranks():
    similarity = np.random.default_rng(2).normal(size=(50, 50))
    ranks = _brute_force_ranks(similarity)
    result = metrics.retrieval_metrics(similarity)
    for k in (1, 5, 10):
        assert result[f"R{k}"] == pytest.approx(np.mean(ranks < k))
    assert result["MedianRank"] == pytest.approx(np.median(ranks) + 1)


def test_ties_count_by_expected_position():
    # A constant matrix: every candidate ties with the truth, so the result is chance level.
    n = 20
    result = metrics.retrieval_metrics(np.zeros((n, n)))
    assert result == pytest.approx(metrics.retrieval_chance_levels(n))
    assert result == pytest.approx({"R1": 1 / 20, "R5": 5 / 20, "R10": 10 / 20, "MedianRank": 10.5})
    # Truth tied with exactly one other candidate at the top: R1 = 1/2, R5 = 1, rank 1.5.
    similarity = np.eye(6) * 2.0
    similarity[:, 0] = np.maximum(similarity[:, 0], 2.0)
    result = metrics.retrieval_metrics(similarity)
    assert result["R1"] == pytest.approx((1.0 + 5 * 0.5) / 6)
    assert result["R5"] == 1.0
    assert result["MedianRank"] == pytest.approx(1.5)


def test_retrieval_rejects_non_square_and_nan():
    with pytest.raises(ValueError, match="square"):
        metrics.retrieval_metrics(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="NaN"):
        metrics.retrieval_metrics(np.full((3, 3), np.nan))


def test_window_similarity_variants_against_numpy():
    rng = np.random.default_rng(3)
    queries, candidates = rng.normal(size=(5, 8)), rng.normal(size=(5, 4, 8))
    unit = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)  # noqa: E731
    expected_embd = np.array(
        [[unit(q) @ unit(candidates[j].mean(0)) for j in range(5)] for q in queries]
    )
    expected_cos = np.array(
        [[np.mean([unit(q) @ unit(c) for c in candidates[j]]) for j in range(5)] for q in queries]
    )
    np.testing.assert_allclose(
        metrics.similarity_average_embeddings(queries, candidates), expected_embd, rtol=1e-10
    )
    np.testing.assert_allclose(
        metrics.similarity_average_cosines(queries, candidates), expected_cos, rtol=1e-10
    )
    # The two variants differ in general, and agree when all windows are the same.
    assert not np.allclose(expected_embd, expected_cos)
    same = np.repeat(candidates[:, :1], 4, axis=1)
    np.testing.assert_allclose(
        metrics.similarity_average_embeddings(queries, same),
        metrics.similarity_average_cosines(queries, same),
        rtol=1e-10,
    )


def test_windowed_queries_match_windows_in_time():
    rng = np.random.default_rng(5)
    queries, candidates = rng.normal(size=(4, 3, 6)), rng.normal(size=(4, 3, 6))
    unit = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)  # noqa: E731
    expected_cos = np.array(
        [
            [np.mean([unit(q[w]) @ unit(c[w]) for w in range(3)]) for c in candidates]
            for q in queries
        ]
    )
    expected_embd = np.array(
        [[unit(q.mean(0)) @ unit(c.mean(0)) for c in candidates] for q in queries]
    )
    np.testing.assert_allclose(
        metrics.similarity_average_cosines(queries, candidates), expected_cos, rtol=1e-10
    )
    np.testing.assert_allclose(
        metrics.similarity_average_embeddings(queries, candidates), expected_embd, rtol=1e-10
    )
    with pytest.raises(ValueError, match="windows"):
        metrics.similarity_average_cosines(queries[:, :2], candidates)


def test_window_similarity_rejects_flat_candidates():
    with pytest.raises(ValueError, match="split_views"):
        metrics.similarity_average_cosines(np.zeros((2, 3)), np.zeros((8, 3)))


def test_top_k_accuracy_known_cases():
    scores = np.array([[0.1, 0.7, 0.2], [0.5, 0.3, 0.2], [0.2, 0.3, 0.5], [0.6, 0.3, 0.1]])
    labels = np.array([1, 1, 0, 2])
    # Ranks of the truth: 0, 1, 2, 2.
    assert metrics.top_k_accuracy(scores, labels, 1) == 0.25
    assert metrics.top_k_accuracy(scores, labels, 2) == 0.5
    assert metrics.top_k_accuracy(scores, labels, 3) == 1.0
    assert metrics.top_k_accuracy(scores, np.eye(3)[labels], 2) == 0.5
    # All classes tied: expected top-1 accuracy is 1/C.
    assert metrics.top_k_accuracy(np.zeros((4, 4)), labels, 1) == pytest.approx(0.25)


def test_classification_metrics_clips_k_to_the_class_count():
    result = metrics.classification_metrics(np.array([[0.2, 0.8], [0.9, 0.1]]), np.array([0, 0]))
    assert result == {"top_1_accuracy": 0.5, "top_5_accuracy": 1.0}


def test_top_k_rejects_out_of_range_labels():
    with pytest.raises(ValueError, match="class ids"):
        metrics.top_k_accuracy(np.zeros((2, 3)), np.array([0, 3]), 1)


def test_audioset_metrics_against_sklearn():
    rng = np.random.default_rng(4)
    labels = (rng.random((60, 5)) < 0.3).astype(np.float32)
    labels[:, 4] = 0.0  # a class without positives is left out of the averages
    scores = labels * 0.5 + rng.random((60, 5))
    result = metrics.audioset_metrics(scores, labels)
    aps = [sk_metrics.average_precision_score(labels[:, c], scores[:, c]) for c in range(4)]
    aucs = [sk_metrics.roc_auc_score(labels[:, c], scores[:, c]) for c in range(4)]
    assert result["mAP"] == pytest.approx(np.mean(aps))
    assert result["AUC"] == pytest.approx(np.mean(aucs))
    assert result["d_prime"] == pytest.approx(
        np.mean([math.sqrt(2) * scipy.stats.norm.ppf(a) for a in aucs])
    )
    # d' is averaged per class, which differs from d' of the mean AUC.
    assert result["d_prime"] != pytest.approx(metrics.d_prime(np.mean(aucs)))
    assert result["num_classes_evaluated"] == 4


def test_d_prime_known_values():
    assert metrics.d_prime(0.5) == 0.0
    assert metrics.d_prime(scipy.stats.norm.cdf(1.0)) == pytest.approx(math.sqrt(2))
    assert metrics.d_prime(1.0) == math.inf


def test_audioset_metrics_rejects_degenerate_labels():
    with pytest.raises(ValueError, match="both positive and negative"):
        metrics.audioset_metrics(np.zeros((4, 2)), np.ones((4, 2)))
