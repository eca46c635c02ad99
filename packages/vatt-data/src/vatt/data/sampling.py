"""Temporal sampling along axis 0: random, middle and linspaced windows, caption choice.

A window of ``num_steps`` elements at ``stride`` starting at ``offset`` reads indices
``offset + k * stride``. When the sequence is shorter than that, ``short_input_policy`` decides:
``"loop"`` wraps around (DMVR's behaviour), ``"pad"`` repeats the last element (or writes zeros, with
``zero_pad=True``, for audio), ``"error"`` raises naming the record. With ``return_overrun=True`` the samplers also say whether
the window reached past the end (bool scalar), i.e. was looped or padded.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from vatt.data.processors import derive_seed

# Key under which the first sampled modality leaves offset / length for the others (DMVR's sync).
OFFSET_PROPORTION_KEY = "sample_offset_proportion"
CAPTION_PERMUTATION_KEY = "sample_sequence_random_perm"


def _gather_window(
    sequence: tf.Tensor,
    offset: tf.Tensor,
    num_steps: int,
    stride: int,
    policy: str,
    zero_pad: bool,
    name: str,
    record: tf.Tensor | None,
) -> tuple[tf.Tensor, tf.Tensor]:
    """The window and whether it reached past the end of ``sequence``."""
    length = tf.shape(sequence, out_type=tf.int32)[0]
    needed = (num_steps - 1) * stride + 1
    inside = offset + needed <= length
    checks = [_check(length > 0, f"{name}: the sequence is empty", record)]
    if policy == "error":
        checks.append(
            _check(
                inside,
                f"{name}: fewer elements than a window of {needed}; "
                "choose short_input_policy 'loop' or 'pad' to accept short clips",
                record,
            )
        )
    with tf.control_dependencies(checks):
        indices = offset + tf.range(num_steps, dtype=tf.int32) * stride
    if stride == 1:
        # A contiguous window inside the sequence is a slice: no index tensor, no gather.
        window = tf.cond(
            inside,
            lambda: sequence[offset : offset + num_steps],
            lambda: _pad_or_loop(sequence, indices, length, policy, zero_pad),
        )
    else:
        window = _pad_or_loop(sequence, indices, length, policy, zero_pad)
    window = tf.ensure_shape(window, [num_steps] + sequence.shape[1:].as_list())
    return window, tf.logical_not(inside)


def _pad_or_loop(
    sequence: tf.Tensor, indices: tf.Tensor, length: tf.Tensor, policy: str, zero_pad: bool
) -> tf.Tensor:
    if policy == "pad":
        window = tf.gather(sequence, tf.minimum(indices, length - 1))
        if zero_pad:
            valid = tf.reshape(indices < length, [-1] + [1] * (len(sequence.shape) - 1))
            window = tf.where(valid, window, tf.zeros_like(window))
    else:
        window = tf.gather(sequence, tf.math.floormod(indices, length))
    return window


def _check(condition: tf.Tensor, text: str, record: tf.Tensor | None) -> tf.Operation:
    data = [text] if record is None else [text, "record:", record]
    return tf.debugging.Assert(condition, data, summarize=1)


def sample_sequence(
    sequence: tf.Tensor,
    num_steps: int,
    random: bool,
    stride: int = 1,
    *,
    seed: int | None = None,
    state: dict[str, Any] | None = None,
    policy: str = "loop",
    zero_pad: bool = False,
    name: str = "sequence",
    record: tf.Tensor | None = None,
    return_overrun: bool = False,
) -> tf.Tensor | tuple[tf.Tensor, tf.Tensor]:
    """A window of ``num_steps`` at ``stride``: random (offset synced through ``state``) or middle
    (and, with ``return_overrun``, whether it reached past the end: looped or padded).

    Random offsets are uniform in ``[0, max(len - (num_steps - 1) * stride, 1))``. When ``state``
    already holds an offset proportion from another modality, this one starts at
    ``round(proportion * len)`` instead, so video and audio cover the same moment.
    """
    length = tf.shape(sequence, out_type=tf.int32)[0]
    if random:
        if state is not None and OFFSET_PROPORTION_KEY in state:
            offset = tf.cast(
                tf.round(state[OFFSET_PROPORTION_KEY] * tf.cast(length, tf.float32)), tf.int32
            )
        else:
            max_offset = tf.maximum(length - (num_steps - 1) * stride, 1)
            offset = tf.random.uniform(
                [], 0, max_offset, dtype=tf.int32, seed=derive_seed(seed, "window_offset")
            )
            if state is not None:
                state[OFFSET_PROPORTION_KEY] = tf.cast(offset, tf.float32) / tf.cast(
                    tf.maximum(length, 1), tf.float32
                )
    else:
        offset = tf.maximum(0, (length - num_steps * stride) // 2)
    window, overrun = _gather_window(
        sequence, offset, num_steps, stride, policy, zero_pad, name, record
    )
    return (window, overrun) if return_overrun else window


def sample_linspace_sequence(
    sequence: tf.Tensor,
    num_windows: int,
    num_steps: int,
    stride: int = 1,
    *,
    policy: str = "loop",
    zero_pad: bool = False,
    name: str = "sequence",
    record: tf.Tensor | None = None,
    return_overrun: bool = False,
) -> tf.Tensor | tuple[tf.Tensor, tf.Tensor]:
    """``num_windows`` windows at offsets ``linspace(0, max(0, len - num_steps * stride))``,
    concatenated along axis 0: ``[num_windows * num_steps, ...]`` (and, with ``return_overrun``,
    whether any of them reached past the end)."""
    length = tf.shape(sequence, out_type=tf.int32)[0]
    last = tf.cast(tf.maximum(0, length - num_steps * stride), tf.float32)
    offsets = tf.cast(tf.linspace(0.0, last, num_windows), tf.int32)
    windows, overruns = zip(
        *(
            _gather_window(sequence, offsets[i], num_steps, stride, policy, zero_pad, name, record)
            for i in range(num_windows)
        ),
        strict=True,
    )
    window = tf.concat(windows, axis=0)
    return (window, tf.reduce_any(tf.stack(overruns))) if return_overrun else window


def sample_or_pad_non_sorted_sequence(
    sequence: tf.Tensor,
    max_num_steps: int,
    pad_value: Any,
    random: bool,
    *,
    seed: int | None = None,
    state: dict[str, Any] | None = None,
    state_key: str = CAPTION_PERMUTATION_KEY,
) -> tf.Tensor:
    """The first ``max_num_steps`` elements (of a random permutation when ``random``), padded with
    ``pad_value`` to exactly ``max_num_steps`` along axis 0."""
    length = tf.shape(sequence)[0]
    if random:
        if state is not None and state_key in state:
            permutation = state[state_key]
        else:
            permutation = tf.random.shuffle(tf.range(length), seed=derive_seed(seed, "captions"))
            if state is not None:
                state[state_key] = permutation
        sequence = tf.gather(sequence, permutation)
    sequence = sequence[:max_num_steps]
    padding = [[0, max_num_steps - tf.shape(sequence)[0]]] + [[0, 0]] * (len(sequence.shape) - 1)
    sequence = tf.pad(sequence, padding, constant_values=pad_value)
    return tf.ensure_shape(sequence, [max_num_steps] + sequence.shape[1:].as_list())
