"""vatt.data.accelerator (keras.ops) against the TensorFlow kernels it replaced, on TF and on JAX.

This suite runs on the TensorFlow backend; the JAX runs happen in a subprocess
(accelerator_jax_run.py) with two CPU devices.
"""

import functools
import itertools
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import vatt.data as vd
from vatt.data import accelerator, processors

SCRIPT = os.path.join(os.path.dirname(__file__), "accelerator_jax_run.py")
SIZE = 12  # the output frame size of the windows
# float32 rounding of the [-1, 1] values, 1/400 of a grey level: compiled (and vectorised) code
# fuses multiplies and adds, which moves the bilinear weights by a few ulps of the source position.
ATOL = 2e-5


def _tf_axis_samples(start, length, size):
    scale = tf.cast(length, tf.float32)[:, None] / size
    position = (tf.range(size, dtype=tf.float32)[None] + 0.5) * scale - 0.5
    floor = tf.floor(position)
    lower = tf.maximum(tf.cast(floor, tf.int32), 0)
    upper = tf.minimum(tf.cast(tf.math.ceil(position), tf.int32), length[:, None] - 1)
    return lower + start[:, None], upper + start[:, None], position - floor


def _tf_resize_windows(video, window, output_size):
    rows_lo, rows_hi, row_lerp = _tf_axis_samples(window[:, 0], window[:, 2], output_size)
    cols_lo, cols_hi, col_lerp = _tf_axis_samples(window[:, 1], window[:, 3], output_size)

    def rows(index):
        return tf.gather(video, index, axis=2, batch_dims=1)

    def cols(frames, index):
        return tf.cast(tf.gather(frames, index, axis=3, batch_dims=1), tf.float32)

    col_lerp = tf.reshape(col_lerp, [-1, 1, 1, output_size, 1])
    row_lerp = tf.reshape(row_lerp, [-1, 1, output_size, 1, 1])
    top, bottom = rows(rows_lo), rows(rows_hi)
    top_left, top_right = cols(top, cols_lo), cols(top, cols_hi)
    bottom_left, bottom_right = cols(bottom, cols_lo), cols(bottom, cols_hi)
    top = top_left + (top_right - top_left) * col_lerp
    bottom = bottom_left + (bottom_right - bottom_left) * col_lerp
    return top + (bottom - top) * row_lerp


def _tf_finish_video(video, augment, *, zero_centering, window=None, output_size=None):
    """The TensorFlow finish_video that accelerator.finish_video replaced (the reference)."""
    video, augment = tf.constant(video), tf.constant(augment)
    if window is not None:
        frames = _tf_resize_windows(video, tf.constant(window), output_size) * (1.0 / 255.0)
    else:
        frames = tf.cast(video, tf.float32) * (1.0 / 255.0)
    flip, color, drop = (tf.reshape(augment[:, i], [-1, 1, 1, 1, 1]) for i in (0, 1, 6))
    frames = tf.where(flip > 0.5, tf.reverse(frames, axis=[-2]), frames)
    frames = tf.where(color > 0.5, processors.color_jitter(frames, augment[:, 2:6]), frames)
    frames = tf.where(drop > 0.5, processors.grayscale(frames), frames)
    return (frames * 2.0 - 1.0 if zero_centering else frames).numpy()


@pytest.fixture(scope="module")
def clips() -> dict[str, np.ndarray]:
    """16 clips on a 20x26 canvas: every (flip, colour, drop) case twice, with their own colour
    draws, and windows that shrink or enlarge to SIZE (one the whole canvas)."""
    rng = np.random.default_rng(7)
    cases = np.array(list(itertools.product([0, 1], repeat=3)) * 2, np.float32)
    batch = len(cases)
    colour = np.stack(
        [
            rng.uniform(-32 / 255, 32 / 255, batch),
            rng.uniform(0.6, 1.4, batch),
            rng.uniform(0.6, 1.4, batch),
            rng.uniform(-0.2, 0.2, batch),
        ],
        axis=1,
    )
    augment = np.concatenate([cases[:, :2], colour, cases[:, 2:]], axis=1).astype(np.float32)
    window = np.stack(
        [
            rng.integers(0, 5, batch),
            rng.integers(0, 8, batch),
            rng.integers(8, 16, batch),
            rng.integers(10, 19, batch),
        ],
        axis=1,
    ).astype(np.int32)
    window[0] = [0, 0, 20, 26]
    return {
        "video": rng.integers(0, 256, size=(batch, 3, 20, 26, 3)).astype(np.uint8),
        "video_augment": augment,
        "video_window": window,
    }


def _expected(clips, zero_centering: bool, resize: bool) -> np.ndarray:
    window = clips["video_window"] if resize else None
    return _tf_finish_video(
        clips["video"],
        clips["video_augment"],
        zero_centering=zero_centering,
        window=window,
        output_size=SIZE,
    )


def _batch(clips, resize: bool) -> dict[str, tf.Tensor]:
    keys = ["video", "video_augment"] + (["video_window"] if resize else [])
    return {"audio": tf.ones([len(clips["video"]), 5]), **{k: tf.constant(clips[k]) for k in keys}}


@pytest.mark.parametrize("resize", [False, True])
@pytest.mark.parametrize("zero_centering", [True, False])
def test_finish_batch_equals_the_tensorflow_kernels(clips, zero_centering, resize):
    batch = _batch(clips, resize)
    expected = _expected(clips, zero_centering, resize)
    finish = functools.partial(vd.finish_batch, zero_centering=zero_centering, frame_size=SIZE)
    finished = finish(batch)
    assert set(finished) == {"video", "audio"} and finished["audio"] is batch["audio"]
    assert finished["video"].dtype == tf.float32 and finished["video"].shape == expected.shape
    if resize:
        np.testing.assert_allclose(finished["video"], expected, atol=ATOL, rtol=0)
    else:  # the same TensorFlow kernels, one by one
        np.testing.assert_array_equal(finished["video"], expected)
    for compiled in (tf.function(finish), tf.function(finish, jit_compile=True)):
        np.testing.assert_allclose(compiled(batch)["video"], expected, atol=ATOL, rtol=0)


def test_finish_batch_on_jax_equals_tensorflow_jitted_and_sharded(clips, tmp_path):
    np.savez(tmp_path / "clips.npz", **clips)
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
    }
    result = subprocess.run(
        [sys.executable, SCRIPT, str(tmp_path), str(SIZE)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outputs = np.load(tmp_path / "finished.npz")
    assert len(outputs.files) == 12  # eager, jit and sharded jit of the 4 cases
    for zero_centering, resize in itertools.product([True, False], repeat=2):
        expected = _expected(clips, zero_centering, resize)
        for run in ("eager", "jit", "sharded"):
            got = outputs[f"{run}-{int(zero_centering)}-{int(resize)}"]
            np.testing.assert_allclose(got, expected, atol=ATOL, rtol=0, err_msg=run)


def test_finish_video_applies_each_clips_own_draws():
    rng = np.random.default_rng(4)
    video = rng.integers(0, 256, size=(3, 2, 5, 5, 3)).astype(np.uint8)
    draws = np.array(
        [
            [1, 0, 0, 1, 1, 0, 0],  # flip only
            [0, 1, 0.1, 1.3, 0.7, -0.15, 0],  # colour only
            [0, 0, 0, 1, 1, 0, 1],  # colour drop only
        ],
        np.float32,
    )
    out = accelerator.finish_video(video, draws, zero_centering=False)
    unit = video.astype(np.float32) / 255
    np.testing.assert_allclose(out[0], unit[0][:, :, ::-1], atol=1e-6)
    np.testing.assert_allclose(
        out[1], processors.color_jitter(tf.constant(unit[1]), draws[1, 2:6]), atol=1e-6
    )
    np.testing.assert_allclose(out[2], processors.grayscale(tf.constant(unit[2])), atol=1e-6)
    # A float batch passes finish_batch unchanged.
    float_batch = {"video": tf.constant(unit), "audio": tf.zeros([3, 4])}
    assert vd.finish_batch(float_batch)["video"] is float_batch["video"]


def test_finish_video_rejects_float_video_wrong_draws_and_a_missing_size():
    video = np.zeros((2, 2, 6, 6, 3), np.uint8)
    draws = np.zeros((2, 7), np.float32)
    with pytest.raises(ValueError, match="uint8 video"):
        accelerator.finish_video(video.astype(np.float32), draws, zero_centering=True)
    with pytest.raises(ValueError, match="uint8 video"):
        accelerator.finish_video(video[0], draws, zero_centering=True)
    with pytest.raises(ValueError, match=r"draws \[B, 7\]"):
        accelerator.finish_video(video, draws[:, :4], zero_centering=True)
    window = np.array([[0, 0, 6, 6]] * 2, np.int32)
    with pytest.raises(ValueError, match="needs output_size"):
        accelerator.finish_video(video, draws, zero_centering=True, window=window)
    batch = {"video": video, "video_augment": draws, "video_window": window}
    with pytest.raises(ValueError, match="pass frame_size="):
        vd.finish_batch(batch)


def test_resize_windows_equals_tf_image_resize_of_each_window():
    rng = np.random.default_rng(5)
    video = rng.integers(0, 256, size=(3, 2, 40, 50, 3)).astype(np.uint8)
    windows = np.array([[0, 0, 40, 50], [3, 5, 20, 31], [10, 2, 30, 17]], np.int32)
    out = accelerator.resize_windows(video, windows, 24)
    compiled = tf.function(accelerator.resize_windows, jit_compile=True, reduce_retracing=True)
    for resized in (out, compiled(video, windows, 24)):
        for clip_out, clip, (y, x, h, w) in zip(resized, video, windows, strict=True):
            window = tf.cast(clip[:, y : y + h, x : x + w], tf.float32)
            # [0, 255] values: a few ulps of the source position (see ATOL) times pixel steps.
            np.testing.assert_allclose(clip_out, tf.image.resize(window, [24, 24]), atol=5e-3)
    # A window of the output size is copied unchanged.
    same = accelerator.resize_windows(video, np.array([[1, 2, 24, 24]] * 3, np.int32), 24)
    np.testing.assert_array_equal(same, video[:, :, 1:25, 2:26].astype(np.float32))
