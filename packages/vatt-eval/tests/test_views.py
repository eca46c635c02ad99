"""Multi-view aggregation on hand-made logits."""

import numpy as np
import pytest

from vatt.eval.views import average_views, split_views


def test_average_views_on_hand_made_logits():
    # Two videos, three views each, views of one video adjacent.
    logits = np.array(
        [
            [1.0, 0.0],
            [3.0, 0.0],
            [2.0, 3.0],  # video 0: mean [2, 1]
            [0.0, 6.0],
            [0.0, 0.0],
            [3.0, 0.0],  # video 1: mean [1, 2]
        ]
    )
    np.testing.assert_allclose(average_views(logits, 3), [[2.0, 1.0], [1.0, 2.0]])


def test_twelve_views_average_like_the_fine_tuning_protocol():
    # 4 windows x 3 crops: only the mean over the 12 views of each video matters.
    rng = np.random.default_rng(0)
    per_view = rng.normal(size=(2 * 12, 5))
    expected = np.stack([per_view[:12].mean(0), per_view[12:].mean(0)])
    np.testing.assert_allclose(average_views(per_view, 12), expected)


def test_split_views_keeps_trailing_shape_and_order():
    values = np.arange(2 * 4 * 3).reshape(8, 3)
    split = split_views(values, 4)
    assert split.shape == (2, 4, 3)
    np.testing.assert_array_equal(split[1, 2], values[6])


def test_split_views_rejects_a_batch_not_divisible_by_views():
    with pytest.raises(ValueError, match="multiple of num_views=4"):
        split_views(np.zeros((6, 2)), 4)
