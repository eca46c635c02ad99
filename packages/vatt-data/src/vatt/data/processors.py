"""Per-example image processing, fused for speed, and batch-level label processing.

DMVR decodes every full frame, resizes twice in float (scale jitter, then shorter side), casts back to
uint8, crops and normalises. Here the crop geometry of the same augmentations is computed first from
the JPEG header, only the needed window is decoded (``decode_and_crop_jpeg``, uint8) and one resize
produces the output: the same distribution of crops at a fraction of the cost (and without DMVR's
truncation to uint8 between resizes).
"""

from __future__ import annotations

import zlib
from typing import Any

import tensorflow as tf


def derive_seed(seed: int | None, name: str) -> int | None:
    """A distinct op seed per random draw: TF ops given the same op seed draw the same stream, so
    one user seed must not reach two draws unchanged (it would correlate, e.g., both crop offsets)."""
    if seed is None:
        return None
    return (seed * 1_000_003 + zlib.crc32(name.encode())) % (2**31 - 1)


# Keys of the preprocessor state: views of one example (e.g. RGB and another rendering) share them.
CROP_BOX_KEY = "crop_box"
FLIP_KEY = "flip_left_right_is_flipped"


def jpeg_shape(frames: tf.Tensor, record: tf.Tensor | None = None) -> tuple[tf.Tensor, tf.Tensor]:
    """Height and width of the first JPEG of ``frames`` (all frames of a clip share them), after
    checking that every frame is a JPEG (the error names ``record``)."""
    with tf.control_dependencies([check_jpeg(frames, record)]):
        shape = tf.image.extract_jpeg_shape(frames[0])
    return shape[0], shape[1]


def resize_smallest_size(
    height: tf.Tensor, width: tf.Tensor, min_resize: int
) -> tuple[tf.Tensor, tf.Tensor]:
    """DMVR's output size when the shorter side becomes ``min_resize`` (integer arithmetic)."""
    out_h = tf.maximum(min_resize, height * min_resize // width)
    out_w = tf.maximum(min_resize, width * min_resize // height)
    return out_h, out_w


def vgg_crop_box(
    height: tf.Tensor,
    width: tf.Tensor,
    crop_size: int,
    min_resize: int,
    *,
    random: bool,
    scale_jitter: bool = False,
    min_scale_factor: float = 0.8,
    max_scale_factor: float = 1.2,
    scale_jitter_prob: float = 0.8,
    seed: int | None = None,
) -> tf.Tensor:
    """Source window ``[y, x, h, w]`` (float pixels) of DMVR's scale jitter -> resize the shorter side
    to ``min_resize`` -> ``crop_size`` crop (random, or central when ``random`` is False).

    Scale jitter draws independent height and width factors in ``[min, max)`` with probability
    ``scale_jitter_prob``; the resize of the shorter side then undoes the overall scale, so its effect
    is an aspect-ratio jitter, as in the original.
    """
    h, w = height, width
    if scale_jitter:
        factors = tf.random.uniform(
            [2], min_scale_factor, max_scale_factor, seed=derive_seed(seed, "jitter_factors")
        )
        apply = tf.random.uniform([], seed=derive_seed(seed, "jitter_apply")) < scale_jitter_prob
        factors = tf.where(apply, factors, tf.ones([2]))
        h = tf.cast(tf.cast(height, tf.float32) * factors[0], tf.int32)
        w = tf.cast(tf.cast(width, tf.float32) * factors[1], tf.int32)
    out_h, out_w = resize_smallest_size(h, w, min_resize)
    if random:
        off_y = tf.random.uniform(
            [], 0, tf.maximum(out_h - crop_size, 0) + 1, tf.int32, seed=derive_seed(seed, "crop_y")
        )
        off_x = tf.random.uniform(
            [], 0, tf.maximum(out_w - crop_size, 0) + 1, tf.int32, seed=derive_seed(seed, "crop_x")
        )
    else:
        off_y, off_x = (out_h - crop_size) // 2, (out_w - crop_size) // 2
    scale_y = tf.cast(height, tf.float32) / tf.cast(out_h, tf.float32)
    scale_x = tf.cast(width, tf.float32) / tf.cast(out_w, tf.float32)
    return tf.stack(
        [
            tf.cast(off_y, tf.float32) * scale_y,
            tf.cast(off_x, tf.float32) * scale_x,
            crop_size * scale_y,
            crop_size * scale_x,
        ]
    )


def inception_crop_box(
    height: tf.Tensor,
    width: tf.Tensor,
    *,
    area_range: tuple[float, float] = (0.08, 1.0),
    aspect_ratio_range: tuple[float, float] = (0.5, 2.0),
    min_object_covered: float = 0.1,
    max_attempts: int = 100,
    seed: int | None = None,
) -> tf.Tensor:
    """Source window ``[y, x, h, w]`` of an Inception-style crop (``sample_distorted_bounding_box``
    over the whole frame), as VATT's fine-tuning ``random_crop_resize``."""
    begin, size, _ = tf.image.sample_distorted_bounding_box(
        tf.stack([height, width, 3]),
        bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]),
        seed=derive_seed(seed, "inception_crop") or 0,
        min_object_covered=min_object_covered,
        aspect_ratio_range=aspect_ratio_range,
        area_range=area_range,
        max_attempts=max_attempts,
        use_image_if_no_bounding_boxes=True,
    )
    return tf.cast(tf.stack([begin[0], begin[1], size[0], size[1]]), tf.float32)


def decode_window(
    frames: tf.Tensor, box: tf.Tensor, *, record: tf.Tensor | None = None
) -> tf.Tensor:
    """Decode only window ``box`` (``[y, x, h, w]`` source pixels, widened to whole pixels) of each
    JPEG in ``frames``: uint8 ``[T, h, w, 3]``."""
    window = pixel_window(box, *jpeg_shape(frames, record))
    return _decode_frames(frames, window)


def pixel_window(box: tf.Tensor, height: tf.Tensor, width: tf.Tensor) -> tf.Tensor:
    """``box`` (float ``[y, x, h, w]``) widened to whole pixels inside a ``height`` x ``width``
    frame: int32 ``[y, x, h, w]``, at least one pixel each way."""
    y0 = tf.clip_by_value(tf.cast(tf.floor(box[0]), tf.int32), 0, height - 1)
    x0 = tf.clip_by_value(tf.cast(tf.floor(box[1]), tf.int32), 0, width - 1)
    y1 = tf.clip_by_value(tf.cast(tf.math.ceil(box[0] + box[2]), tf.int32), y0 + 1, height)
    x1 = tf.clip_by_value(tf.cast(tf.math.ceil(box[1] + box[3]), tf.int32), x0 + 1, width)
    return tf.stack([y0, x0, y1 - y0, x1 - x0])


def _decode_frames(frames: tf.Tensor, window: tf.Tensor | None = None) -> tf.Tensor:
    """Each JPEG of ``frames`` decoded (only ``window`` of it when given): uint8 ``[T, h, w, 3]``."""
    if window is None:
        decode = lambda jpeg: tf.io.decode_jpeg(jpeg, channels=3)  # noqa: E731
    else:
        decode = lambda jpeg: tf.image.decode_and_crop_jpeg(jpeg, window, channels=3)  # noqa: E731
    return tf.map_fn(decode, frames, fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8))


def resize_frames(crops: tf.Tensor, output_size: int) -> tf.Tensor:
    """uint8 ``[T, h, w, 3]`` -> bilinear (half-pixel centres) float32 ``[T, S, S, 3]`` in [0, 255]."""
    # A cast and TF's float kernel cost ~20% less than TF's uint8 kernel, for the same values.
    resized = tf.image.resize(tf.cast(crops, tf.float32), [output_size, output_size])
    return tf.ensure_shape(resized, [crops.shape[0], output_size, output_size, 3])


def decode_crop_resize(
    frames: tf.Tensor, box: tf.Tensor, output_size: int, *, record: tf.Tensor | None = None
) -> tf.Tensor:
    """Decode only window ``box`` (``[y, x, h, w]`` source pixels, widened to whole pixels) of each
    JPEG in ``frames`` and resize it to ``output_size`` squared: float32 ``[T, S, S, 3]`` in [0, 255].
    """
    return resize_frames(decode_window(frames, box, record=record), output_size)


def decode_into_canvas(
    frames: tf.Tensor,
    box: tf.Tensor,
    canvas: tuple[int, int],
    output_size: int,
    *,
    record: tf.Tensor | None = None,
) -> tuple[tf.Tensor, tf.Tensor]:
    """The frames on a ``canvas`` (``[T, H, W, 3]`` uint8) with the window of ``box`` in it, and
    where that window is (int32 ``[y, x, h, w]``), for :func:`vatt.data.accelerator.finish_video`
    to resize on the accelerator.

    Frames of the canvas size are decoded whole (as fast as decoding the window, and no copy);
    otherwise the window is decoded and placed at the top left of a canvas of zeros, or, when it is
    larger than the canvas, resized here (to ``output_size`` squared, rounded), which the
    accelerator's resize then leaves as it is.
    """
    canvas_h, canvas_w = canvas
    if canvas_h < output_size or canvas_w < output_size:
        raise ValueError(f"the canvas {canvas} is smaller than the output size {output_size}")
    height, width = jpeg_shape(frames, record)
    window = pixel_window(box, height, width)

    def placed() -> tuple[tf.Tensor, tf.Tensor]:
        crops = _decode_frames(frames, window)
        fits = tf.logical_and(window[2] <= canvas_h, window[3] <= canvas_w)
        pixels, place = tf.cond(
            fits,
            lambda: (crops, tf.stack([0, 0, window[2], window[3]])),
            lambda: (
                round_to_uint8(resize_frames(crops, output_size)),
                tf.constant([0, 0, output_size, output_size]),
            ),
        )
        pad = [[0, 0], [0, canvas_h - place[2]], [0, canvas_w - place[3]], [0, 0]]
        return tf.pad(pixels, pad), place

    is_canvas = tf.logical_and(tf.equal(height, canvas_h), tf.equal(width, canvas_w))
    video, place = tf.cond(is_canvas, lambda: (_decode_frames(frames), window), placed)
    return tf.ensure_shape(video, [frames.shape[0], canvas_h, canvas_w, 3]), place


def decode_resize_multi_crop(
    frames: tf.Tensor,
    crop_size: int,
    min_resize: int,
    num_crops: int,
    *,
    record: tf.Tensor | None = None,
) -> tf.Tensor:
    """Shorter side to ``min_resize``, then ``num_crops`` crops along the longer side (start, centre,
    end for 3; the centre for 1), as VATT's ``multi_crop_image``: ``[num_crops * T, S, S, 3]``."""
    with tf.control_dependencies([check_jpeg(frames, record)]):
        decoded = _decode_frames(frames)
    height, width = tf.shape(decoded)[1], tf.shape(decoded)[2]
    out_h, out_w = resize_smallest_size(height, width, min_resize)
    resized = tf.image.resize(decoded, tf.stack([out_h, out_w]))
    spare_y, spare_x = out_h - crop_size, out_w - crop_size
    fractions = [0.5] if num_crops == 1 else [i / (num_crops - 1) for i in range(num_crops)]
    crops = []
    for fraction in fractions:
        along_height = spare_y > spare_x
        spare = tf.cast(tf.maximum(spare_y, spare_x), tf.float32)
        offset = tf.cast(spare * fraction, tf.int32)
        off_y = tf.where(along_height, offset, spare_y // 2)
        off_x = tf.where(along_height, spare_x // 2, offset)
        crops.append(resized[:, off_y : off_y + crop_size, off_x : off_x + crop_size])
    result = tf.concat(crops, axis=0)
    return tf.ensure_shape(result, [num_crops * frames.shape[0], crop_size, crop_size, 3])


def check_jpeg(frames: tf.Tensor, record: tf.Tensor | None) -> tf.Operation:
    """Assert that every frame starts with the JPEG SOI marker; the error names the record."""
    is_jpeg = tf.reduce_all(tf.strings.substr(frames, 0, 2) == b"\xff\xd8")
    data = ["a frame under 'image/encoded' is not a JPEG (no SOI marker)"]
    if record is not None:
        data += ["record:", record]
    return tf.debugging.Assert(is_jpeg, data)


def random_flip_left_right(
    frames: tf.Tensor, state: dict[str, Any] | None = None, seed: int | None = None
) -> tf.Tensor:
    """Flip the whole clip with probability 1/2 (one coin per clip, shared through ``state``)."""
    flip = _flip_coin(state, seed)
    return tf.cond(flip, lambda: tf.reverse(frames, axis=[-2]), lambda: frames)


def _flip_coin(state: dict[str, Any] | None, seed: int | None) -> tf.Tensor:
    if state is not None and FLIP_KEY in state:
        return state[FLIP_KEY]
    flip = tf.random.uniform([], seed=derive_seed(seed, "flip")) < 0.5
    if state is not None:
        state[FLIP_KEY] = flip
    return flip


def normalize_image(frames: tf.Tensor, zero_centering: bool) -> tf.Tensor:
    """[0, 255] -> [-1, 1] (x·2/255 − 1) with zero centring, else [0, 1]."""
    frames = tf.cast(frames, tf.float32)
    if zero_centering:
        return frames * (2.0 / 255.0) - 1.0
    return frames * (1.0 / 255.0)


# DMVR's colour augmentation ranges (dmvr-design.md §4.3).
BRIGHTNESS_DELTA = 32.0 / 255.0
SATURATION_RANGE = (0.6, 1.4)
CONTRAST_RANGE = (0.6, 1.4)
HUE_DELTA = 0.2


def sample_color_params(seed: int | None = None) -> tf.Tensor:
    """One clip's ``[brightness, saturation, contrast, hue]``, drawn as tf.image.random_* do."""
    return tf.stack(
        [
            tf.random.uniform(
                [], -BRIGHTNESS_DELTA, BRIGHTNESS_DELTA, seed=derive_seed(seed, "brightness")
            ),
            tf.random.uniform([], *SATURATION_RANGE, seed=derive_seed(seed, "saturation")),
            tf.random.uniform([], *CONTRAST_RANGE, seed=derive_seed(seed, "contrast")),
            tf.random.uniform([], -HUE_DELTA, HUE_DELTA, seed=derive_seed(seed, "hue")),
        ]
    )


Planes = tuple[tf.Tensor, tf.Tensor, tf.Tensor]


def _saturation_planes(r: tf.Tensor, g: tf.Tensor, b: tf.Tensor, factor: tf.Tensor) -> Planes:
    high = tf.maximum(tf.maximum(r, g), b)
    low = tf.minimum(tf.minimum(r, g), b)
    k = tf.where(high > 0, tf.minimum(factor, tf.math.divide_no_nan(high, high - low)), 0.0)
    return high - (high - r) * k, high - (high - g) * k, high - (high - b) * k


def _hue_planes(r: tf.Tensor, g: tf.Tensor, b: tf.Tensor, delta: tf.Tensor) -> Planes:
    high = tf.maximum(tf.maximum(r, g), b)
    chroma = tf.where(high > 0, high - tf.minimum(tf.minimum(r, g), b), 0.0)
    inverse = tf.math.divide_no_nan(1.0, chroma)
    hue = tf.where(
        high == r,
        (g - b) * inverse,
        tf.where(high == g, (b - r) * inverse + 2.0, (r - g) * inverse + 4.0),
    )
    hue = hue + 6.0 * delta
    hue = hue - 6.0 * tf.floor(hue / 6.0)

    def channel(n: float) -> tf.Tensor:
        k = n + hue
        k = tf.where(k >= 6.0, k - 6.0, k)
        return high - chroma * tf.clip_by_value(tf.minimum(k, 4.0 - k), 0.0, 1.0)

    return channel(5.0), channel(3.0), channel(1.0)


def adjust_saturation(rgb: tf.Tensor, factor: tf.Tensor) -> tf.Tensor:
    """``tf.image.adjust_saturation`` written in RGB: HSV keeps V = max and H, so every channel moves
    towards the max, ``c' = max − k·(max − c)`` with ``k = min(factor, 1 / S)`` (S clipped to 1);
    pixels with max <= 0 (S = 0 in TF's HSV) become grey at V. Elementwise, so XLA fuses it."""
    return tf.stack(_saturation_planes(*tf.unstack(rgb, axis=-1), factor), axis=-1)


def adjust_hue(rgb: tf.Tensor, delta: tf.Tensor) -> tf.Tensor:
    """``tf.image.adjust_hue`` written in RGB: rotate H (in sextants) and rebuild each channel as
    ``V − C·clip(min(k, 4 − k), 0, 1)`` with ``k = (n + H) mod 6``, n = 5, 3, 1 for R, G, B."""
    return tf.stack(_hue_planes(*tf.unstack(rgb, axis=-1), delta), axis=-1)


def color_jitter(video: tf.Tensor, params: tf.Tensor) -> tf.Tensor:
    """Brightness, saturation, contrast (per-frame channel means), hue, then clip to [0, 1]: the
    sequence of DMVR's ``color_default_augm`` on a [0, 1] clip, with ``params`` from
    :func:`sample_color_params`: ``[4]`` for one clip, or ``[B, 4]`` for a batch of clips
    ``[B, T, H, W, 3]`` (one draw per clip). TensorFlow, for ``tf.data`` on any Keras backend; the
    train step applies the same values with :func:`vatt.data.accelerator.color_jitter`."""
    # Channel planes, not a channel axis: under XLA each plane's chain is computed once per pixel
    # instead of once per output channel (about 40% less work). The planes are contiguous (channels
    # moved first): XLA's loops then run along the width instead of over 3 interleaved channels,
    # about 25% less time for the same values.
    rank = video.shape.rank
    brightness, saturation, contrast, hue = _per_clip(params, rank - 1)
    channels_first = tf.transpose(video, [rank - 1, *range(rank - 1)])
    planes = [plane + brightness for plane in tf.unstack(channels_first)]
    planes = _saturation_planes(*planes, saturation)
    planes = [
        (plane - mean) * contrast + mean
        for plane, mean in ((p, tf.reduce_mean(p, axis=[-2, -1], keepdims=True)) for p in planes)
    ]
    planes = _hue_planes(*planes, hue)
    clipped = tf.stack([tf.clip_by_value(plane, 0.0, 1.0) for plane in planes])
    return tf.transpose(clipped, [*range(1, rank), 0])


def _per_clip(params: tf.Tensor, plane_rank: int) -> list[tf.Tensor]:
    """The columns of ``params`` (``[N]`` or ``[B, N]``), each broadcastable against planes of rank
    ``plane_rank`` whose first axis is the batch when ``params`` is batched."""
    params = tf.convert_to_tensor(params, tf.float32)
    if params.shape.rank == 1:
        return tf.unstack(params)
    return [tf.reshape(c, [-1] + [1] * (plane_rank - 1)) for c in tf.unstack(params, axis=-1)]


def grayscale(video: tf.Tensor) -> tf.Tensor:
    """``tf.image.rgb_to_grayscale`` tiled back to 3 channels."""
    weights = tf.constant([0.2989, 0.5870, 0.1140])
    return tf.repeat(tf.reduce_sum(video * weights, axis=-1, keepdims=True), 3, axis=-1)


def color_default_augm(
    frames: tf.Tensor,
    *,
    zero_centering: bool,
    prob_color_augment: float = 0.8,
    prob_color_drop: float = 0.0,
    seed: int | None = None,
) -> tf.Tensor:
    """DMVR's colour augmentation of a float clip in [0, 1] (or [-1, 1] when ``zero_centering``).

    With probability ``prob_color_augment``: brightness ±32/255, saturation [0.6, 1.4], contrast
    [0.6, 1.4], hue ±0.2, one draw per clip, then clipped; with ``prob_color_drop``: grey, tiled to 3
    channels.
    """
    if zero_centering:
        frames = 0.5 * (frames + 1.0)
    draws = _augment_draws(prob_color_augment, prob_color_drop, seed)
    frames = _finish(frames, flip=tf.constant(False), **draws)
    return 2.0 * frames - 1.0 if zero_centering else frames


def _augment_draws(prob_color_augment: float, prob_color_drop: float, seed: int | None) -> dict:
    return {
        "color": tf.random.uniform([], seed=derive_seed(seed, "color")) < prob_color_augment,
        "params": sample_color_params(seed),
        "drop": tf.random.uniform([], seed=derive_seed(seed, "color_drop")) < prob_color_drop,
    }


@tf.function(jit_compile=True)
def _finish(
    video: tf.Tensor,
    color: tf.Tensor,
    params: tf.Tensor,
    drop: tf.Tensor,
    flip: tf.Tensor,
    scale: float = 1.0,
    shift: float = 0.0,
    out_scale: float = 1.0,
    out_shift: float = 0.0,
) -> tf.Tensor:
    # One XLA kernel: the flip, the colour operations and both affine maps fuse into a couple of
    # passes over the clip instead of the ~15 full passes separate TF ops make. One branch per
    # (colour, drop) case, each the whole chain: a conditional in the middle of the chain would
    # write the clip out before it and read it back after it (two extra passes per clip).

    def chain(with_color: bool, with_drop: bool) -> tf.Tensor:
        out = video * scale + shift
        out = tf.where(flip, tf.reverse(out, axis=[-2]), out)
        if with_color:
            out = color_jitter(out, params)
        if with_drop:
            out = grayscale(out)
        return out * out_scale + out_shift

    case = tf.cast(color, tf.int32) + 2 * tf.cast(drop, tf.int32)
    return tf.switch_case(
        case,
        [
            lambda: chain(False, False),
            lambda: chain(True, False),
            lambda: chain(False, True),
            lambda: chain(True, True),
        ],
    )


def flip_color_normalize(
    frames: tf.Tensor,
    state: dict[str, Any] | None,
    *,
    random_flip: bool,
    color_augment: bool,
    zero_centering: bool,
    prob_color_augment: float = 0.8,
    prob_color_drop: float = 0.0,
    seed: int | None = None,
) -> tf.Tensor:
    """Random flip, DMVR's colour augmentation and normalisation of a [0, 255] clip, fused.

    Same distribution as ``random_flip_left_right`` -> ``normalize_image`` ->
    ``color_default_augm`` applied one after the other (flip coin shared through ``state``).
    """
    draws = _clip_draws(
        state, random_flip, color_augment, prob_color_augment, prob_color_drop, seed
    )
    out_scale, out_shift = (2.0, -1.0) if zero_centering else (1.0, 0.0)
    return _finish(frames, scale=1.0 / 255.0, out_scale=out_scale, out_shift=out_shift, **draws)


def _clip_draws(
    state: dict[str, Any] | None,
    random_flip: bool,
    color_augment: bool,
    prob_color_augment: float,
    prob_color_drop: float,
    seed: int | None,
) -> dict[str, tf.Tensor]:
    """One clip's ``flip``, ``color``, ``params`` and ``drop`` draws (a disabled part is False):
    the same ops with the same seeds whether applied now or later (:func:`augment_params`)."""
    draws = _augment_draws(prob_color_augment, prob_color_drop, seed)
    if not color_augment:
        draws["color"] = draws["drop"] = tf.constant(False)
    draws["flip"] = _flip_coin(state, seed) if random_flip else tf.constant(False)
    return draws


def check_labels(
    indices: tf.Tensor, num_classes: int, record: tf.Tensor | None = None
) -> tf.Tensor:
    """``indices`` as int32, after asserting the clip has a label and every id is in range; the
    error names the record."""
    indices = tf.cast(indices, tf.int32)
    record_data = [] if record is None else ["record:", record]
    in_range = tf.reduce_all((indices >= 0) & (indices < num_classes))
    checks = [
        tf.debugging.Assert(
            tf.size(indices) > 0,
            ["the clip has no label under 'clip/label/index'", *record_data],
        ),
        tf.debugging.Assert(
            in_range,
            [f"label ids must be in [0, {num_classes})", "got", indices, *record_data],
        ),
    ]
    with tf.control_dependencies(checks):
        return tf.identity(indices)


def labels_to_multi_hot(
    indices: tf.Tensor, num_classes: int, record: tf.Tensor | None = None
) -> tf.Tensor:
    """Class ids -> float32 ``[num_classes]``: one-hot, or multi-hot for several ids."""
    hot = tf.one_hot(check_labels(indices, num_classes, record), num_classes, dtype=tf.float32)
    return tf.minimum(tf.reduce_sum(hot, axis=0), 1.0)


def label_smoothing(labels: tf.Tensor, smoothing: float) -> tf.Tensor:
    """``(1 - s) · y + s / C`` over the last axis (multi-hot labels included)."""
    num_classes = tf.cast(tf.shape(labels)[-1], labels.dtype)
    return (1.0 - smoothing) * labels + smoothing / num_classes


def sample_beta(shape: Any, alpha: float, beta: float, seed: int | None = None) -> tf.Tensor:
    """Beta(alpha, beta) samples from two Gamma draws, X / (X + Y) (no tensorflow-probability)."""
    x = tf.random.gamma(shape, alpha, seed=derive_seed(seed, "beta_x"))
    y = tf.random.gamma(shape, beta, seed=derive_seed(seed, "beta_y"))
    return x / (x + y)


def batched_mixup(
    features: dict[str, tf.Tensor],
    feature_name: str,
    *,
    alpha: float,
    beta: float,
    mix_labels: bool,
    label_name: str = "label",
    seed: int | None = None,
) -> dict[str, tf.Tensor]:
    """Mix each example of the batch with a random partner: ``λ·x + (1−λ)·x[perm]`` with a per-example
    λ ~ Beta(alpha, beta); labels are mixed with the same λ when ``mix_labels``."""
    features = dict(features)
    inputs = features[feature_name]
    batch = tf.shape(inputs)[0]
    lam = sample_beta([batch], alpha, beta, seed=seed)
    partner = tf.random.shuffle(tf.range(batch), seed=derive_seed(seed, "mixup_partner"))

    def mix(x: tf.Tensor) -> tf.Tensor:
        weight = tf.reshape(tf.cast(lam, x.dtype), [-1] + [1] * (len(x.shape) - 1))
        return weight * x + (1.0 - weight) * tf.gather(x, partner)

    features[feature_name] = mix(inputs)
    if mix_labels:
        features[label_name] = mix(features[label_name])
    return features


def augment_params(
    state: dict[str, Any] | None,
    *,
    random_flip: bool,
    color_augment: bool,
    prob_color_augment: float = 0.8,
    prob_color_drop: float = 0.0,
    seed: int | None = None,
) -> tf.Tensor:
    """float32 ``[7]`` (:data:`vatt.data.accelerator.AUGMENT_COLUMNS`): the draws
    :func:`flip_color_normalize` makes for one clip, the same ops with the same seeds, for
    :func:`vatt.data.accelerator.finish_video` to apply later, in the train step."""
    draws = _clip_draws(
        state, random_flip, color_augment, prob_color_augment, prob_color_drop, seed
    )
    flip_color = tf.cast(tf.stack([draws["flip"], draws["color"]]), tf.float32)
    return tf.concat([flip_color, draws["params"], [tf.cast(draws["drop"], tf.float32)]], axis=0)


@tf.function(jit_compile=True)
def round_to_uint8(frames: tf.Tensor) -> tf.Tensor:
    """Float pixels in [0, 255] rounded to the nearest uint8 (values outside are clipped), in one
    XLA pass."""
    return tf.cast(tf.clip_by_value(frames + 0.5, 0.0, 255.0), tf.uint8)
