"""Temporal windows and caption choice against hand-computed indices."""

import numpy as np
import pytest
import tensorflow as tf

from vatt.data import sampling


def _seq(n):
    return tf.range(n) * 10


def test_middle_window_offsets():
    # len 20, 4 steps at stride 3: offset (20 - 12) // 2 = 4 -> 4, 7, 10, 13.
    window = sampling.sample_sequence(_seq(20), 4, False, 3)
    np.testing.assert_array_equal(window, [40, 70, 100, 130])


def test_random_windows_stay_inside_and_cover_every_offset():
    # len 10, 3 steps at stride 2 span 5 elements: offsets uniform in [0, 10 - 2 * 2) = 0..5,
    # so the last index, offset + 4, is at most 9.
    starts = {int(sampling.sample_sequence(_seq(10), 3, True, 2)[0]) // 10 for _ in range(300)}
    assert starts == set(range(6))
    window = sampling.sample_sequence(_seq(10), 3, True, 2).numpy()
    np.testing.assert_array_equal(np.diff(window), [20, 20])


def test_offset_proportion_syncs_a_second_modality():
    state = {}
    video = sampling.sample_sequence(_seq(40), 8, True, 1, state=state)
    proportion = float(state[sampling.OFFSET_PROPORTION_KEY])
    assert proportion == pytest.approx(int(video[0]) / 10 / 40)
    audio = sampling.sample_sequence(tf.range(4000), 800, True, 1, state=state)
    assert int(audio[0]) == round(proportion * 4000)


def test_linspace_windows():
    # len 30, 4 windows of 5 at stride 2: offsets linspace(0, 30 - 10, 4) -> 0, 6, 13, 20.
    window = sampling.sample_linspace_sequence(_seq(30), 4, 5, 2).numpy() // 10
    expected = [o + 2 * k for o in (0, 6, 13, 20) for k in range(5)]
    np.testing.assert_array_equal(window, expected)


def test_short_sequences_loop_pad_or_fail():
    short = _seq(3)  # 3 elements for a window of 5
    np.testing.assert_array_equal(
        sampling.sample_sequence(short, 5, False, 1, policy="loop"), [0, 10, 20, 0, 10]
    )
    np.testing.assert_array_equal(
        sampling.sample_sequence(short, 5, False, 1, policy="pad"), [0, 10, 20, 20, 20]
    )
    np.testing.assert_array_equal(
        sampling.sample_sequence(short + 1, 5, False, 1, policy="pad", zero_pad=True),
        [1, 11, 21, 0, 0],
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match="fewer elements than a window of 5"):
        sampling.sample_sequence(short, 5, False, 1, policy="error", record=tf.constant("r#0"))
    with pytest.raises(tf.errors.InvalidArgumentError, match="the sequence is empty"):
        sampling.sample_sequence(_seq(0), 2, True, 1)


def test_multidimensional_windows_keep_trailing_shape():
    frames = tf.reshape(tf.range(6 * 4), [6, 2, 2])
    window = sampling.sample_sequence(frames, 2, False, 2)
    assert window.shape == (2, 2, 2)
    np.testing.assert_array_equal(window[:, 0, 0], [4, 12])  # offset (6 - 4) // 2 = 1 -> 1, 3


def test_captions_first_k_or_random_subset_padded():
    captions = tf.constant([b"a", b"b", b"c"])
    first = sampling.sample_or_pad_non_sorted_sequence(captions, 2, b"", random=False)
    np.testing.assert_array_equal(first, [b"a", b"b"])
    padded = sampling.sample_or_pad_non_sorted_sequence(captions, 5, b"", random=False)
    np.testing.assert_array_equal(padded, [b"a", b"b", b"c", b"", b""])
    subsets = {
        tuple(sampling.sample_or_pad_non_sorted_sequence(captions, 2, b"", random=True).numpy())
        for _ in range(100)
    }
    assert len(subsets) == 6  # every ordered pair of distinct captions
    empty = sampling.sample_or_pad_non_sorted_sequence(tf.constant([], tf.string), 2, b"", True)
    np.testing.assert_array_equal(empty, [b"", b""])


def test_overrun_says_whether_the_window_was_looped_or_padded():
    sequence = tf.range(10)
    for policy in ("loop", "pad"):  # 4 elements at stride 3 span 10: 9 are too few
        window, overrun = sampling.sample_sequence(
            tf.range(9), 4, False, 3, policy=policy, return_overrun=True
        )
        assert bool(overrun) and window.shape == (4,)
    for random in (True, False):
        _, overrun = sampling.sample_sequence(sequence, 4, random, 3, seed=1, return_overrun=True)
        assert not bool(overrun)
    # A second modality synced late in the clip reaches past its end though it holds a window.
    state = {sampling.OFFSET_PROPORTION_KEY: tf.constant(0.9)}
    window, overrun = sampling.sample_sequence(sequence, 5, True, state=state, return_overrun=True)
    assert bool(overrun) and window.numpy().tolist() == [9, 0, 1, 2, 3]
    _, overrun = sampling.sample_linspace_sequence(sequence, 3, 10, return_overrun=True)
    assert not bool(overrun)
    _, overrun = sampling.sample_linspace_sequence(sequence, 3, 11, return_overrun=True)
    assert bool(overrun)
