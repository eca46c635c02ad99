"""The JAX train step (vatt.train.jax_step) on two CPU devices, against itself and the TF path.

The JAX runs happen in subprocesses (jax_step_run.py): this suite runs on the TensorFlow backend.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import vatt.losses
import vatt.models

SCRIPT = os.path.join(os.path.dirname(__file__), "jax_step_run.py")
B = 4


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A fixed batch of 4 clips: tiny video, audio, 2 captions each, one masked caption set."""
    out = tmp_path_factory.mktemp("jax_step")
    rng = np.random.default_rng(0)
    np.savez(
        out / "batch.npz",
        video=rng.uniform(-1, 1, (B, 4, 32, 48, 3)).astype("float32"),
        audio=rng.uniform(-1, 1, (B, 8 * 128)).astype("float32"),
        text=rng.integers(1, 1000, (B, 2, 8)).astype("int32"),
        text_mask=np.array([1, 1, 0, 1], "float32"),
        audio_mask=np.ones(B, "float32"),
        video_short=np.array([1, 0, 0, 1], "float32"),
    )
    return out


def _run(workdir, devices: int, *extra: str) -> dict:
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    result = subprocess.run(
        [sys.executable, SCRIPT, str(workdir), str(devices), *extra],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((workdir / f"result-{devices}.json").read_text())


@pytest.fixture(scope="module")
def one_device(workdir):
    return _run(workdir, 1)


@pytest.mark.slow
def test_two_devices_train_exactly_like_one_on_the_same_global_batch(workdir, one_device):
    two = _run(workdir, 2)
    assert (one_device["num_devices"], two["num_devices"]) == (1, 2)
    for a, b in zip(one_device["steps"], two["steps"], strict=True):
        # The contrastive negatives (and the head's BatchNorm statistics) are the global batch
        # on both meshes, so the losses agree to float32 reduction order.
        np.testing.assert_allclose(a["terms"], b["terms"], rtol=1e-4)
        np.testing.assert_allclose(a["gradient_norm"], b["gradient_norm"], rtol=1e-4)
    assert [s["counts"] for s in two["steps"]] == [[2.0, 0.0]] * 3
    assert two["max_weight_change"] > 0


@pytest.mark.slow
def test_a_nan_step_leaves_the_weights_unchanged(workdir, one_device):
    assert one_device["max_weight_change"] > 0
    nan = _run(workdir, 1, "--nan")
    assert [s["finite"] for s in nan["steps"]] == [False] * 3
    assert nan["max_weight_change"] == 0.0


@pytest.mark.slow
def test_first_step_loss_and_gradient_norm_equal_the_tensorflow_paths(workdir, one_device):
    """Same weights (a backend-neutral .weights.h5) and batch: the TF forward and gradients."""
    sys.path.insert(0, os.path.dirname(SCRIPT))
    from jax_step_run import TERMS, tiny_model

    batch = {k: tf.constant(v) for k, v in np.load(workdir / "batch.npz").items()}
    model = tiny_model()
    model(batch)
    model.load_weights(str(workdir / "init.weights.h5"))
    with tf.GradientTape() as tape:
        terms = vatt.losses.pretrain_objective(model(batch, training=True), batch)
    grads = tape.gradient(terms["total"], model.trainable_variables)
    first = one_device["steps"][0]
    # float32 on two backends: XLA (JAX) and TF kernels sum in different orders.
    np.testing.assert_allclose([float(terms[t]) for t in TERMS], first["terms"], rtol=1e-4)
    np.testing.assert_allclose(
        float(tf.linalg.global_norm(grads)), first["gradient_norm"], rtol=1e-3
    )
