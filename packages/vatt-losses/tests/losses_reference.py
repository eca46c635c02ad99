"""Brute-force numpy references, written plainly from the formulas (float64, explicit loops)."""

from __future__ import annotations

import keras
import numpy as np
import pytest


def _unit(v):
    return v / np.linalg.norm(v)


def _lse(values):
    values = np.asarray(values, dtype=np.float64)
    top = values.max()
    return top + np.log(np.exp(values - top).sum())


def asymmetric_nce(x, y, mask, x_all, y_all, mask_all, tau):
    """Per the VATT paper code: positives in both halves of the denominator, masks on y."""
    batch, num_cand = y.shape[0], y.shape[1]
    sim = lambda a, b: float(_unit(a) @ _unit(b)) / tau  # noqa: E731
    losses = []
    for i in range(batch):
        positives = [sim(x[i], y[i, k]) for k in range(num_cand)]
        denominator = []
        for j in range(len(x_all)):
            for k in range(num_cand):
                if mask_all[j]:
                    denominator.append(sim(x[i], y_all[j, k]))
        for j in range(len(x_all)):
            for k in range(num_cand):
                if mask[i]:
                    denominator.append(sim(x_all[j], y[i, k]))
        if not denominator:  # row i invalid and nothing valid anywhere: weighted by 0 below
            losses.append(0.0)
            continue
        losses.append(_lse(denominator) - _lse(positives))
    valid = float(np.sum(mask))
    scale = batch / valid if valid else 0.0
    return float(np.mean([loss * mask[i] * scale for i, loss in enumerate(losses)]))


def symmetric_nce(x, y, xm, ym, x_all, y_all, xm_all, ym_all, tau):
    """Two directional MIL-NCE terms over every (clip, clip) pair of candidates."""
    batch = x.shape[0]
    sim = lambda a, b: float(_unit(a) @ _unit(b)) / tau  # noqa: E731

    def direction(anchors, anchor_mask, cands_all, cand_mask_all, pos_pairs):
        out = []
        for i in range(batch):
            den = [
                sim(a, c)
                for j in range(len(cands_all))
                for a in anchors[i]
                for c in cands_all[j]
                if anchor_mask[i] and cand_mask_all[j]
            ]
            out.append(_lse(den) - _lse(pos_pairs[i]) if den else 0.0)
        return np.array(out)

    pos = [[sim(a, b) for a in x[i] for b in y[i]] for i in range(batch)]
    x_to_y = direction(x, xm, y_all, ym_all, pos)
    y_to_x = direction(y, ym, x_all, xm_all, pos)

    def rescaled(m):
        return m * (batch / m.sum() if m.sum() else 0.0)

    weight = rescaled(np.asarray(xm, float)) * rescaled(np.asarray(ym, float))
    return float(np.mean(x_to_y * weight) + np.mean(y_to_x * weight))


def softmax_cross_entropy(logits, labels):
    total = 0.0
    for row, target in zip(logits, labels, strict=True):
        log_probs = row - _lse(row)
        total += -float(np.sum(target * log_probs))
    return total / len(logits)


def sigmoid_cross_entropy(logits, labels, weighting):
    batch, classes = logits.shape
    total = 0.0
    for b in range(batch):
        weight = 1.0
        if weighting:
            k_b = labels[b].sum()
            weight = 0.0
            for c in range(classes):
                n_c = labels[:, c].sum()
                if labels[b, c] and n_c and k_b:
                    weight += labels[b, c] / (n_c * k_b)
        for c in range(classes):
            p = 1.0 / (1.0 + np.exp(-logits[b, c]))
            z = labels[b, c]
            total += weight * -(z * np.log(p) + (1 - z) * np.log(1 - p))
    return total / batch


def value_and_grads(fn, *args):
    """``fn(*args)`` and its gradients with respect to every arg, on the active Keras backend."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tensors = [tf.constant(a) for a in args]
        with tf.GradientTape() as tape:
            tape.watch(tensors)
            value = fn(*tensors)
        grads = tape.gradient(value, tensors)
        return float(value), [np.asarray(g) for g in grads]
    if backend == "jax":
        import jax

        value, grads = jax.value_and_grad(fn, argnums=tuple(range(len(args))))(*args)
        return float(value), [np.asarray(g) for g in grads]
    if backend == "torch":
        import torch

        tensors = [keras.ops.convert_to_tensor(a).requires_grad_() for a in args]
        value = fn(*tensors)
        grads = torch.autograd.grad(value, tensors)
        return float(value.detach()), [keras.ops.convert_to_numpy(g) for g in grads]
    pytest.fail(f"no gradient helper for Keras backend {backend!r}")
