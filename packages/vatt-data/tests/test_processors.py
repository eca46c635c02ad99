"""Crop geometry, fused decode, colour operations and label processing against references."""

import numpy as np
import pytest
import tensorflow as tf

from vatt.data import accelerator, processors


def _jpegs(frames):
    return tf.stack([tf.io.encode_jpeg(f, quality=95) for f in frames])


def test_central_vgg_box_matches_hand_computation():
    # 256x340 -> shorter side 224: 224 x (340 * 224 // 256 = 297); central x offset (297-224)//2.
    box = processors.vgg_crop_box(tf.constant(256), tf.constant(340), 224, 224, random=False)
    np.testing.assert_allclose(box, [0.0, 36 * 340 / 297, 256.0, 224 * 340 / 297], rtol=1e-6)


def test_random_vgg_boxes_stay_inside_and_jitter_the_aspect_ratio():
    boxes = np.stack(
        [
            processors.vgg_crop_box(
                tf.constant(256), tf.constant(340), 224, 224, random=True, scale_jitter=True
            ).numpy()
            for _ in range(300)
        ]
    )
    y, x, h, w = boxes.T
    assert (y >= 0).all() and (x >= 0).all()
    assert (y + h <= 256 + 1e-3).all() and (x + w <= 340 + 1e-3).all()
    ratio = h / w  # 1 without jitter; factors in [0.8, 1.2) bound it by 1.2 / 0.8 either way
    assert ratio.min() < 0.9 and ratio.max() > 1.1
    assert ratio.min() > 0.8 / 1.2 - 0.02 and ratio.max() < 1.2 / 0.8 + 0.02
    assert np.isclose(ratio, 1.0, atol=1e-2).mean() > 0.15  # the 20% of clips left unjittered


def test_inception_boxes_respect_area_and_aspect_ranges():
    boxes = np.stack(
        [
            processors.inception_crop_box(tf.constant(120), tf.constant(160)).numpy()
            for _ in range(200)
        ]
    )
    y, x, h, w = boxes.T
    assert (y + h <= 120).all() and (x + w <= 160).all()
    area = h * w / (120 * 160)
    assert area.min() >= 0.08 - 0.01 and area.max() <= 1.0
    assert area.std() > 0.1


def test_decode_crop_resize_equals_decode_then_crop_then_resize(gradient_frames):
    frames = gradient_frames(3, 80, 120)
    jpegs = _jpegs(frames)
    out = processors.decode_crop_resize(jpegs, tf.constant([8.0, 16.0, 64.0, 96.0]), 32)
    decoded = tf.stack([tf.io.decode_jpeg(j) for j in jpegs])
    reference = tf.image.resize(decoded[:, 8:72, 16:112], [32, 32])
    assert out.shape == (3, 32, 32, 3) and out.dtype == tf.float32
    np.testing.assert_allclose(out, reference, atol=1.0)


def test_three_crops_along_the_longer_side(gradient_frames):
    frames = gradient_frames(2, 40, 60)
    jpegs = _jpegs(frames)
    out = processors.decode_resize_multi_crop(jpegs, 32, 32, 3).numpy()
    # 40x60 -> 32 x (60 * 32 // 40 = 48); crops at x = 0, 8, 16.
    resized = tf.image.resize(tf.stack([tf.io.decode_jpeg(j) for j in jpegs]), [32, 48]).numpy()
    assert out.shape == (6, 32, 32, 3)
    for i, x in enumerate((0, 8, 16)):
        np.testing.assert_allclose(out[2 * i : 2 * i + 2], resized[:, :, x : x + 32], atol=1e-4)


def test_not_a_jpeg_is_an_error_naming_the_record():
    with pytest.raises(tf.errors.InvalidArgumentError, match="(?s)not a JPEG.*shard-1#7"):
        processors.decode_crop_resize(
            tf.constant([b"garbage"]),
            tf.constant([0.0, 0.0, 4.0, 4.0]),
            4,
            record=tf.constant("shard-1#7"),
        )


@pytest.mark.parametrize("value", [0.35, 1.3])
def test_rgb_saturation_and_hue_match_tf_image(value):
    rng = np.random.default_rng(0)
    rgb = tf.constant(rng.uniform(-0.2, 1.2, size=(2, 16, 16, 3)).astype(np.float32))
    np.testing.assert_allclose(
        processors.adjust_saturation(rgb, value), tf.image.adjust_saturation(rgb, value), atol=1e-5
    )
    delta = value - 0.5  # -0.15 and 0.8
    np.testing.assert_allclose(
        processors.adjust_hue(rgb, delta), tf.image.adjust_hue(rgb, delta), atol=1e-5
    )


def test_fused_colour_jitter_matches_dmvr_sequence_of_tf_ops():
    rng = np.random.default_rng(1)
    video = tf.constant(rng.uniform(0, 1, size=(3, 8, 8, 3)).astype(np.float32))
    params = tf.constant([0.1, 1.3, 0.7, -0.15])
    reference = tf.image.adjust_brightness(video, 0.1)
    reference = tf.image.adjust_saturation(reference, 1.3)
    reference = tf.image.adjust_contrast(reference, 0.7)
    reference = tf.clip_by_value(tf.image.adjust_hue(reference, -0.15), 0.0, 1.0)
    np.testing.assert_allclose(processors.color_jitter(video, params), reference, atol=1e-5)


@pytest.mark.parametrize("shape", [(8, 8, 3), (2, 3, 8, 8, 3)])
def test_xla_compiled_colour_jitter_matches_tf_ops_on_any_rank(shape):
    # The fused kernel compiles color_jitter with XLA and moves channels first; a single frame and
    # a batch of clips must keep per-frame contrast means and equal tf.image's values.
    rng = np.random.default_rng(2)
    video = tf.constant(rng.uniform(0, 1, size=shape).astype(np.float32))
    params = tf.constant([-0.1, 0.7, 1.3, 0.15])
    frames = tf.reshape(video, [-1, 8, 8, 3])
    reference = tf.image.adjust_saturation(tf.image.adjust_brightness(frames, -0.1), 0.7)
    reference = tf.image.adjust_contrast(reference, 1.3)
    reference = tf.clip_by_value(tf.image.adjust_hue(reference, 0.15), 0.0, 1.0)
    compiled = tf.function(processors.color_jitter, jit_compile=True)
    np.testing.assert_allclose(compiled(video, params), tf.reshape(reference, shape), atol=1e-5)


def test_flip_color_normalize_without_colour_is_flip_then_normalize():
    frames = tf.constant(np.arange(2 * 4 * 4 * 3, dtype=np.float32).reshape(2, 4, 4, 3))
    flips = []
    for _ in range(20):
        state = {}
        out = processors.flip_color_normalize(
            frames, state, random_flip=True, color_augment=False, zero_centering=True
        )
        flipped = bool(state[processors.FLIP_KEY])
        expected = (tf.reverse(frames, [2]) if flipped else frames) * 2 / 255 - 1
        np.testing.assert_allclose(out, expected, atol=1e-6)
        flips.append(flipped)
    assert 0 < sum(flips) < 20
    coloured = processors.flip_color_normalize(
        frames * 0 + 128, {}, random_flip=False, color_augment=True, zero_centering=True
    )
    assert float(tf.reduce_min(coloured)) >= -1.0 and float(tf.reduce_max(coloured)) <= 1.0


@pytest.mark.parametrize("zero_centering", [True, False])
def test_deferred_augmentation_equals_the_fused_kernel_with_the_same_draws(zero_centering):
    # augment_params makes the same draws as flip_color_normalize (same ops, same seeds), so
    # finish_video on the uint8 frames gives the same clip wherever it runs.
    rng = np.random.default_rng(3)
    frames = tf.constant(rng.integers(0, 256, size=(2, 6, 6, 3)).astype(np.float32))
    cases = set()
    for trial in range(12):
        kwargs = dict(random_flip=True, color_augment=True, prob_color_drop=0.3, seed=100 + trial)
        tf.random.set_seed(trial)
        fused = processors.flip_color_normalize(frames, {}, zero_centering=zero_centering, **kwargs)
        tf.random.set_seed(trial)
        draws = processors.augment_params({}, **kwargs)
        finished = accelerator.finish_video(
            processors.round_to_uint8(frames)[None], draws[None], zero_centering=zero_centering
        )
        np.testing.assert_allclose(finished[0], fused, atol=2e-6)
        cases.add((float(draws[0]), float(draws[1]), float(draws[6])))
    assert len(cases) >= 4  # flips, colour and drop all took both values across the trials


def test_augment_params_distribution_and_disabled_parts():
    draws = np.stack(
        [
            processors.augment_params(
                {}, random_flip=True, color_augment=True, prob_color_drop=0.2
            ).numpy()
            for _ in range(600)
        ]
    )
    flip, color, brightness, saturation, contrast, hue, drop = draws.T
    assert set(np.unique(flip)) == {0.0, 1.0} and abs(flip.mean() - 0.5) < 0.08
    assert abs(color.mean() - 0.8) < 0.06 and abs(drop.mean() - 0.2) < 0.06
    assert np.abs(brightness).max() <= 32 / 255 and np.abs(hue).max() <= 0.2
    assert saturation.min() >= 0.6 and saturation.max() <= 1.4
    assert contrast.min() >= 0.6 and contrast.max() <= 1.4
    state = {}
    plain = processors.augment_params(state, random_flip=False, color_augment=False).numpy()
    assert plain[0] == plain[1] == plain[6] == 0.0 and processors.FLIP_KEY not in state


def test_decode_into_canvas_places_the_window_or_resizes_what_does_not_fit(gradient_frames):
    frames = _jpegs(gradient_frames(3, 40, 56))
    box = tf.constant([4.0, 6.0, 30.0, 40.0])
    # Frames of the canvas size: decoded whole, the window stays where it is.
    whole, place = processors.decode_into_canvas(frames, box, (40, 56), 16)
    np.testing.assert_array_equal(place, [4, 6, 30, 40])
    np.testing.assert_array_equal(whole, tf.stack([tf.io.decode_jpeg(f) for f in frames]))
    reference = tf.image.resize(tf.cast(whole[:, 4:34, 6:46], tf.float32), [16, 16])
    np.testing.assert_allclose(
        accelerator.resize_windows(whole[None], place[None], 16)[0], reference, atol=1e-4
    )
    # decode_and_crop_jpeg upsamples chroma without the pixels outside the window: its edge
    # pixels may differ from the whole frame's by one level; the resized clips stay that close.
    np.testing.assert_allclose(reference, processors.decode_crop_resize(frames, box, 16), atol=1)
    canvas, place = processors.decode_into_canvas(frames, box, (48, 64), 16)
    np.testing.assert_array_equal(place, [0, 0, 30, 40])
    assert canvas.shape == (3, 48, 64, 3) and canvas.dtype == tf.uint8
    window = processors.decode_window(frames, box)
    np.testing.assert_array_equal(canvas[:, :30, :40], window)
    assert not np.any(canvas[:, 30:]) and not np.any(canvas[:, :, 40:])
    # Resized on the accelerator, the canvas gives the host pipeline's frames.
    resized = accelerator.resize_windows(canvas[None], place[None], 16)[0]
    np.testing.assert_allclose(resized, processors.decode_crop_resize(frames, box, 16), atol=1e-4)
    small, place = processors.decode_into_canvas(frames, box, (24, 24), 16)
    np.testing.assert_array_equal(place, [0, 0, 16, 16])
    np.testing.assert_array_equal(
        small[:, :16, :16],
        processors.round_to_uint8(processors.decode_crop_resize(frames, box, 16)),
    )
    with pytest.raises(ValueError, match="smaller than the output size"):
        processors.decode_into_canvas(frames, box, (12, 64), 16)


def test_labels_multi_hot_and_errors():
    np.testing.assert_array_equal(processors.labels_to_multi_hot([2], 4), [0, 0, 1, 0])
    np.testing.assert_array_equal(processors.labels_to_multi_hot([0, 3, 3], 4), [1, 0, 0, 1])
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"(?s)in \[0, 4\).*a.tfrecord#3"):
        processors.labels_to_multi_hot([4], 4, tf.constant("a.tfrecord#3"))
    with pytest.raises(tf.errors.InvalidArgumentError, match="no label"):
        processors.labels_to_multi_hot(tf.constant([], tf.int64), 4)


def test_label_smoothing():
    smoothed = processors.label_smoothing(tf.constant([[0.0, 1.0, 0.0, 0.0]]), 0.1)
    np.testing.assert_allclose(smoothed, [[0.025, 0.925, 0.025, 0.025]], rtol=1e-6)


def test_beta_samples_have_the_beta_moments():
    samples = processors.sample_beta([40000], 10.0, 2.0, seed=3).numpy()
    assert samples.mean() == pytest.approx(10 / 12, abs=0.004)
    assert samples.var() == pytest.approx(20 / (144 * 13), rel=0.05)


def test_mixup_is_a_convex_combination_with_a_partner():
    batch = {"x": tf.eye(6), "label": tf.eye(6) * 2}
    mixed = processors.batched_mixup(batch, "x", alpha=5.0, beta=5.0, mix_labels=True)
    x, label = mixed["x"].numpy(), mixed["label"].numpy()
    np.testing.assert_allclose(x.sum(axis=1), 1.0, rtol=1e-6)
    assert ((x > 0).sum(axis=1) <= 2).all()
    np.testing.assert_allclose(label, 2 * x, rtol=1e-6)  # same lambda and partner for labels


def test_derived_seeds_differ_per_draw_and_keep_none():
    assert processors.derive_seed(None, "flip") is None
    seeds = {processors.derive_seed(7, name) for name in ("crop_x", "crop_y", "flip", "hue")}
    assert len(seeds) == 4
    assert processors.derive_seed(7, "flip") == processors.derive_seed(7, "flip")


def test_flip_is_shared_through_state_and_colour_keeps_the_range():
    frames = tf.reshape(tf.range(2 * 2 * 3 * 3, dtype=tf.float32), [2, 2, 3, 3])
    state = {}
    first = processors.random_flip_left_right(frames, state)
    second = processors.random_flip_left_right(frames, state)  # e.g. another view of the clip
    np.testing.assert_array_equal(first, second)
    unit = processors.normalize_image(frames * 7, zero_centering=False)
    assert float(tf.reduce_max(unit)) == pytest.approx(35 * 7 / 255)
    centred = processors.normalize_image(tf.constant([0, 255], tf.uint8), zero_centering=True)
    np.testing.assert_allclose(centred, [-1.0, 1.0])
    video = tf.random.uniform([2, 6, 6, 3], -1.0, 1.0)
    out = processors.color_default_augm(
        video, zero_centering=True, prob_color_augment=1.0, prob_color_drop=1.0
    )
    assert float(tf.reduce_min(out)) >= -1.0 and float(tf.reduce_max(out)) <= 1.0
    np.testing.assert_allclose(out[..., 0], out[..., 2], atol=1e-6)  # colour drop: grey
