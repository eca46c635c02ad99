"""The input's last step, inside the compiled train step: uint8 clips and their augmentation draws
become contract-1 float video on the accelerator.

Written in ``keras.ops``, so the same functions run in a TensorFlow (``tf.function``, XLA), JAX
(``jax.jit``, sharded) or PyTorch train step; this module imports no TensorFlow. The values are
those of the host pipeline's TensorFlow kernels (:mod:`vatt.data.processors`), which stay in
TensorFlow because ``tf.data`` runs them whatever the Keras backend.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
from keras import ops

from vatt.data import features as F

# Columns of ``video_augment``: one clip's draws, carried with uint8 video to the accelerator.
AUGMENT_COLUMNS = ("flip", "color", "brightness", "saturation", "contrast", "hue", "drop")
# ``tf.image.rgb_to_grayscale``'s weights.
LUMA_WEIGHTS = (0.2989, 0.5870, 0.1140)


def finish_batch(
    batch: Mapping[str, Any], *, zero_centering: bool = True, frame_size: int | None = None
) -> dict:
    """The batch with uint8 ``video`` and ``video_augment`` (``video_dtype="uint8"``) replaced by
    float32 contract-1 ``video``: each clip's window resized to ``frame_size`` squared when the
    batch carries ``video_window`` (``resize_on_accelerator``), its flip and colour draws applied,
    then normalised to [-1, 1] (or [0, 1] without ``zero_centering``). Both arguments must match
    the loader config's ``zero_centering_image`` and ``frame_size``. Any other batch is returned
    unchanged, so a train step can call it on every batch. Call it where the model runs (inside
    ``strategy.run`` or the jitted step), not in ``tf.data``; ``keras.ops`` only, so it runs on
    every Keras backend.
    """
    if F.VIDEO_AUGMENT not in batch:
        return dict(batch)
    window = batch.get(F.VIDEO_WINDOW)
    if window is not None and frame_size is None:
        raise ValueError(
            "this batch carries decoded windows to resize (resize_on_accelerator); pass "
            "frame_size=<the loader config's frame_size> to finish_batch"
        )
    extra = (F.VIDEO_AUGMENT, F.VIDEO_WINDOW)
    finished = {k: v for k, v in batch.items() if k not in extra}
    finished[F.VIDEO] = finish_video(
        batch[F.VIDEO],
        batch[F.VIDEO_AUGMENT],
        zero_centering=zero_centering,
        window=window,
        output_size=frame_size,
    )
    return finished


def finish_video(
    video: Any,
    augment: Any,
    *,
    zero_centering: bool,
    window: Any | None = None,
    output_size: int | None = None,
) -> Any:
    """uint8 clips ``[B, T, H, W, 3]`` and their draws ``[B, 7]`` -> float32 contract-1 video.

    With ``window`` (int32 ``[B, 4]``, from ``processors.decode_into_canvas``), each clip's window
    is first resized to ``output_size`` squared. Then each clip's flip, colour augmentation and
    colour drop are applied (as ``processors.flip_color_normalize`` would have, from the draws of
    ``processors.augment_params``), and the [-1, 1] (or [0, 1]) scaling. Gathers, elementwise work
    and per-frame reductions only: it costs a negligible fraction of the model's FLOPs.
    """
    video, augment = ops.convert_to_tensor(video), ops.convert_to_tensor(augment)
    dtype = keras.backend.standardize_dtype(video.dtype)
    if dtype != "uint8" or len(video.shape) != 5:
        raise ValueError(
            f"finish_video takes uint8 video [B, T, H, W, 3], got {dtype} of shape "
            f"{tuple(video.shape)}; float video from the loaders is already finished."
        )
    if len(augment.shape) != 2 or augment.shape[-1] != len(AUGMENT_COLUMNS):
        raise ValueError(
            f"finish_video takes draws [B, {len(AUGMENT_COLUMNS)}] ({', '.join(AUGMENT_COLUMNS)}), "
            f"got shape {tuple(augment.shape)}."
        )
    if window is not None:
        if output_size is None:
            raise ValueError("finish_video needs output_size (the loader's frame_size) to resize")
        frames = resize_windows(video, window, output_size) * (1.0 / 255.0)
    else:
        frames = ops.cast(video, "float32") * (1.0 / 255.0)
    augment = ops.cast(augment, "float32")
    flip, color, drop = (_per_clip(augment[:, i], 5) for i in (0, 1, 6))
    frames = ops.where(flip > 0.5, ops.flip(frames, axis=-2), frames)
    frames = ops.where(color > 0.5, color_jitter(frames, augment[:, 2:6]), frames)
    frames = ops.where(drop > 0.5, grayscale(frames), frames)
    return frames * 2.0 - 1.0 if zero_centering else frames


def resize_windows(video: Any, window: Any, output_size: int) -> Any:
    """Resize each clip's ``window`` (int ``[B, 4]``: y, x, h, w) of ``video`` ``[B, T, H, W, 3]``
    to ``output_size`` squared: float32 in the input's range, the values of ``tf.image.resize``
    (bilinear, half-pixel centres) on the window. Per-clip gathers, vectorised over the batch
    (``keras.ops.vectorized_map``: batched gathers that shard with the batch)."""
    video, window = ops.convert_to_tensor(video), ops.cast(window, "int32")

    def resize(clip_and_window):
        clip, (y, x, h, w) = clip_and_window[0], ops.unstack(clip_and_window[1])
        rows_lo, rows_hi, row_lerp = _axis_samples(y, h, output_size)
        cols_lo, cols_hi, col_lerp = _axis_samples(x, w, output_size)

        def cols(frames, index):
            return ops.cast(ops.take(frames, index, axis=2), "float32")

        top, bottom = ops.take(clip, rows_lo, axis=1), ops.take(clip, rows_hi, axis=1)
        top_left, top_right = cols(top, cols_lo), cols(top, cols_hi)
        bottom_left, bottom_right = cols(bottom, cols_lo), cols(bottom, cols_hi)
        col_lerp = ops.reshape(col_lerp, [1, 1, output_size, 1])
        row_lerp = ops.reshape(row_lerp, [1, output_size, 1, 1])
        top = top_left + (top_right - top_left) * col_lerp
        bottom = bottom_left + (bottom_right - bottom_left) * col_lerp
        return top + (bottom - top) * row_lerp

    return ops.vectorized_map(resize, (video, window))


def _axis_samples(start: Any, length: Any, size: int) -> tuple[Any, Any, Any]:
    """TensorFlow's half-pixel bilinear sampling of ``[start, start + length)`` at ``size``
    points: lower and upper source indices ``[size]`` and the weight of the upper."""
    scale = ops.cast(length, "float32") / size
    position = (ops.arange(size, dtype="float32") + 0.5) * scale - 0.5
    floor = ops.floor(position)
    lower = ops.maximum(ops.cast(floor, "int32"), 0)
    upper = ops.minimum(ops.cast(ops.ceil(position), "int32"), length - 1)
    return lower + start, upper + start, position - floor


def color_jitter(video: Any, params: Any) -> Any:
    """Brightness, saturation, contrast (per-frame channel means), hue, then clip to [0, 1]: DMVR's
    ``color_default_augm`` on [0, 1] clips ``[B, T, H, W, 3]`` with ``params`` ``[B, 4]``
    (brightness, saturation, contrast, hue; one draw per clip)."""
    # Channel planes, not a channel axis: each plane's chain is computed once per pixel instead of
    # once per output channel.
    brightness, saturation, contrast, hue = (_per_clip(params[:, i], 4) for i in range(4))
    planes = [plane + brightness for plane in ops.unstack(ops.transpose(video, [4, 0, 1, 2, 3]))]
    planes = _saturation_planes(*planes, saturation)
    planes = [
        (plane - mean) * contrast + mean
        for plane, mean in ((p, ops.mean(p, axis=(-2, -1), keepdims=True)) for p in planes)
    ]
    planes = _hue_planes(*planes, hue)
    clipped = ops.stack([ops.clip(plane, 0.0, 1.0) for plane in planes])
    return ops.transpose(clipped, [1, 2, 3, 4, 0])


def _per_clip(column: Any, rank: int) -> Any:
    """A ``[B]`` column of draws, broadcastable against rank-``rank`` tensors of ``B`` clips."""
    return ops.reshape(column, [-1] + [1] * (rank - 1))


def _saturation_planes(r: Any, g: Any, b: Any, factor: Any) -> tuple[Any, Any, Any]:
    """``tf.image.adjust_saturation`` in RGB: every channel moves towards the max."""
    high = ops.maximum(ops.maximum(r, g), b)
    low = ops.minimum(ops.minimum(r, g), b)
    k = ops.where(high > 0, ops.minimum(factor, ops.divide_no_nan(high, high - low)), 0.0)
    return high - (high - r) * k, high - (high - g) * k, high - (high - b) * k


def _hue_planes(r: Any, g: Any, b: Any, delta: Any) -> tuple[Any, Any, Any]:
    """``tf.image.adjust_hue`` in RGB: H rotated (in sextants), each channel rebuilt from V, C, H."""
    high = ops.maximum(ops.maximum(r, g), b)
    chroma = ops.where(high > 0, high - ops.minimum(ops.minimum(r, g), b), 0.0)
    inverse = ops.divide_no_nan(1.0, chroma)
    hue = ops.where(
        high == r,
        (g - b) * inverse,
        ops.where(high == g, (b - r) * inverse + 2.0, (r - g) * inverse + 4.0),
    )
    hue = hue + 6.0 * delta
    hue = hue - 6.0 * ops.floor(hue / 6.0)

    def channel(n: float) -> Any:
        k = n + hue
        k = ops.where(k >= 6.0, k - 6.0, k)
        return high - chroma * ops.clip(ops.minimum(k, 4.0 - k), 0.0, 1.0)

    return channel(5.0), channel(3.0), channel(1.0)


def grayscale(video: Any) -> Any:
    """``tf.image.rgb_to_grayscale`` tiled back to 3 channels."""
    weights = ops.convert_to_tensor(LUMA_WEIGHTS, "float32")
    return ops.repeat(ops.sum(video * weights, axis=-1, keepdims=True), 3, axis=-1)
