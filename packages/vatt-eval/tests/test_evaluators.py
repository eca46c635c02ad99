"""Evaluators over hand-made batches and stand-in models whose outputs are known exactly."""

import io
import sys

import numpy as np
import pytest
import scipy.special
import tensorflow as tf
from sklearn import metrics as sk_metrics

from vatt.eval import KerasProbeConfig, ProbeSettings
from vatt.eval.finetune_eval import multiview_results
from vatt.eval.pretrain_eval import probe_results, retrieval_results

NUM_CLIPS, VIEWS, DIM = 6, 4, 8


def _batches(arrays, batch_clips, views=None, per_view=("video", "audio")):
    """Contract-1 batches: per-view keys hold ``views`` rows per clip, example-major."""
    batches = []
    for start in range(0, NUM_CLIPS, batch_clips):
        stop = min(start + batch_clips, NUM_CLIPS)
        batch = {}
        for key, value in arrays.items():
            rows = (
                slice(start * views, stop * views)
                if key in per_view and views
                else slice(start, stop)
            )
            batch[key] = tf.constant(value[rows])
        if views:
            batch["num_views"] = tf.constant(views, tf.int32)
        batches.append(batch)
    return batches


def _identity_pretraining_model(inputs):
    """Head embeddings equal the inputs: video windows, audio windows, one row per caption."""
    text = tf.reshape(inputs["text"], [-1, DIM])
    return {
        "head": {
            "video": {"totxt": inputs["video"], "toaud": inputs["video"]},
            "audio": {"tovid": inputs["audio"]},
            "text": {"tovid": text},
        }
    }


def test_retrieval_finds_each_clip_and_averages_its_captions():
    rng = np.random.default_rng(0)
    one_hot = np.eye(NUM_CLIPS, DIM)
    video = np.repeat(one_hot, VIEWS, axis=0) + 0.05 * rng.normal(size=(NUM_CLIPS * VIEWS, DIM))
    # Caption 0 alone ties clip i with clip i+1; only their mean points at clip i alone.
    following = np.roll(one_hot, -1, axis=0)
    text = np.stack([one_hot + following, one_hot - following], axis=1)  # [N, K=2, D]
    audio = video + 0.05 * rng.normal(size=video.shape)  # what is heard in each window
    batches = _batches(
        {"video": video.astype(np.float32), "audio": audio.astype(np.float32), "text": text},
        batch_clips=4,
        views=VIEWS,
    )
    results = retrieval_results(
        _identity_pretraining_model, batches, description="test", progress=False
    )
    for task in ("txt2vid", "aud2vid"):
        for variant in ("embd", "cosine"):
            assert results[f"{task}_{variant}_R1"] == 1.0
            assert results[f"{task}_{variant}_MedianRank"] == 1.0
    assert results["retrieval_num_clips"] == NUM_CLIPS
    assert results["retrieval_chance_R1"] == pytest.approx(1 / 6)
    assert results["retrieval_chance_MedianRank"] == 3.5


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("terminal", [True, False])
def test_the_progress_bar_shows_on_a_terminal_only(terminal, monkeypatch):
    stderr = _Terminal() if terminal else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    rng = np.random.default_rng(2)
    arrays = {
        "video": rng.normal(size=(NUM_CLIPS, DIM)).astype(np.float32),
        "audio": rng.normal(size=(NUM_CLIPS, DIM)).astype(np.float32),
        "text": rng.normal(size=(NUM_CLIPS, 1, DIM)).astype(np.float32),
    }
    batches = _batches(arrays, 4)
    retrieval_results(_identity_pretraining_model, batches, description="bar", progress=True)
    # In a log file, tqdm's redrawn lines would interleave with the log's own.
    assert ("bar: " in stderr.getvalue()) == terminal


def test_retrieval_of_shuffled_pairs_matches_brute_force():
    rng = np.random.default_rng(1)
    video = rng.normal(size=(NUM_CLIPS * VIEWS, DIM)).astype(np.float32)
    text = rng.normal(size=(NUM_CLIPS, 1, DIM)).astype(np.float32)
    audio = rng.normal(size=(NUM_CLIPS * VIEWS, DIM)).astype(np.float32)
    batches = _batches({"video": video, "audio": audio, "text": text}, 4, views=VIEWS)
    results = retrieval_results(
        _identity_pretraining_model, batches, description="t", progress=False
    )
    unit = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)  # noqa: E731
    similarity = unit(text[:, 0]) @ unit(video.reshape(NUM_CLIPS, VIEWS, DIM).mean(1)).T
    ranks = np.array([np.sum(row > row[i]) for i, row in enumerate(similarity)])
    assert results["txt2vid_embd_R1"] == pytest.approx(np.mean(ranks < 1))
    assert results["txt2vid_embd_R5"] == pytest.approx(np.mean(ranks < 5))
    assert results["txt2vid_embd_MedianRank"] == pytest.approx(np.median(ranks) + 1)


def _feature_model(inputs):
    """Backbone features are the inputs themselves."""
    return {"backbone": {"video": {"features_pooled": inputs["video"]}}}


def test_probe_results_on_separable_features():
    rng = np.random.default_rng(2)
    num_classes, train_clips, test_clips = 3, 60, 12
    centres = 4.0 * np.eye(num_classes, DIM)

    def clips(n, views):
        labels = np.arange(n) % num_classes
        features = np.repeat(centres[labels], views, axis=0) + 0.3 * rng.normal(
            size=(n * views, DIM)
        )
        return features.astype(np.float32), np.eye(num_classes, dtype=np.float32)[labels]

    train_x, train_y = clips(train_clips, 1)
    test_x, test_y = clips(test_clips, 3)
    train = [
        {"video": tf.constant(train_x[i : i + 16]), "label": tf.constant(train_y[i : i + 16])}
        for i in range(0, train_clips, 16)
    ]
    test = [
        {
            "video": tf.constant(test_x[i * 3 : (i + 5) * 3]),
            "label": tf.constant(test_y[i : i + 5]),
            "num_views": tf.constant(3, tf.int32),
        }
        for i in range(0, test_clips, 5)
    ]
    results = probe_results(
        _feature_model,
        train,
        test,
        modality="video",
        num_classes=num_classes,
        probes=ProbeSettings(keras=KerasProbeConfig(epochs=150)),
        progress=False,
    )
    assert results["test_top_1_accuracy"] == 1.0
    assert results["svm_test_top_1_accuracy"] == 1.0
    assert results["svm_train_top_1_accuracy"] == 1.0
    assert "svm_C" in results and "svm_holdout_top_1_accuracy" in results


def _logit_model(inputs):
    return {"logits": inputs["video"]}


def _multiview(logits, labels, num_views, *, multi_label):
    """multiview_results of one batch whose video inputs are the logits themselves."""
    batch = {
        "video": tf.constant(logits),
        "label": tf.constant(labels),
        "num_views": tf.constant(num_views, tf.int32),
    }
    return multiview_results(
        _logit_model, [batch], multi_label=multi_label, description="t", progress=False
    )


def test_multiview_results_average_logits_per_clip():
    # Two clips x 3 views; per-view argmax disagrees, the mean over views decides.
    logits = np.array(
        [
            [3.0, 0.0, 0.0],
            [0.0, 1.0, 0.0],
            [0.0, 1.0, 0.0],  # mean [1, 2/3, 0] -> class 0
            [0.0, 0.0, 1.0],
            [0.0, 0.0, 1.0],
            [0.0, 4.0, 0.0],
        ],  # mean [0, 4/3, 2/3] -> class 1
        dtype=np.float32,
    )
    labels = np.array([[0.0, 1.0, 0.0], [0.0, 1.0, 0.0]], dtype=np.float32)
    results = _multiview(logits, labels, 3, multi_label=False)
    assert results["top_1_accuracy"] == 0.5
    assert results["num_clips"] == 2 and results["num_views"] == 3
    mean = logits.reshape(2, 3, 3).mean(1)
    expected_ce = -np.mean(np.log(scipy.special.softmax(mean, axis=1))[:, 1])
    assert results["categorical_cross_entropy"] == pytest.approx(expected_ce, rel=1e-5)


def test_multiview_results_multi_label_uses_sigmoid_of_mean_logits():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(20 * 4, 5)).astype(np.float32)
    labels = (rng.random((20, 5)) < 0.4).astype(np.float32)
    labels[0], labels[1] = 1.0, 0.0  # every class has positives and negatives
    results = _multiview(logits, labels, 4, multi_label=True)
    probabilities = scipy.special.expit(logits.reshape(20, 4, 5).mean(1))
    assert results["mAP"] == pytest.approx(
        sk_metrics.average_precision_score(labels, probabilities, average="macro")
    )
    assert results["AUC"] == pytest.approx(
        sk_metrics.roc_auc_score(labels, probabilities, average="macro")
    )


def test_collect_rejects_batches_without_model_inputs():
    with pytest.raises(KeyError, match="none of the model inputs"):
        multiview_results(
            _logit_model,
            [{"label": tf.zeros([1, 2])}],
            multi_label=False,
            description="t",
            progress=False,
        )
