"""Learning-rate schedules of the original (cosine and step-cosine, both with linear warmup),
and the optimizer of a run driven by its schedule.

Both are finite at every step: the original's step-cosine divided by the length of its last
segment, which is 0 with the pretraining defaults, and so logged NaN from step ``total_steps`` on.
Here an empty segment holds its level and the learning rate after ``total_steps`` stays at the
value the schedule reached there.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import keras
import tensorflow as tf

if TYPE_CHECKING:
    from vatt.train.config import ExperimentConfig


def build_optimizer(config: ExperimentConfig) -> keras.optimizers.Optimizer:
    """The optimizer of ``config``, driven by its schedule over ``train.total_steps``."""
    schedule = config.schedule.build(config.train.total_steps)
    return config.optimizer.build(schedule)


class _LinearWarmup(keras.optimizers.schedules.LearningRateSchedule, abc.ABC):
    """A linear warmup from ``warmup_learning_rate`` at step 0 to ``peak`` at ``warmup_steps``,
    then what :meth:`after_warmup` gives (subclasses define both)."""

    def __init__(self, warmup_steps: int, warmup_learning_rate: float):
        self.warmup_steps = int(warmup_steps)
        self.warmup_learning_rate = float(warmup_learning_rate)

    @property
    @abc.abstractmethod
    def peak(self) -> float:
        """The learning rate at the end of the warmup."""

    @abc.abstractmethod
    def after_warmup(self, step: tf.Tensor) -> tf.Tensor:
        """The learning rate at float ``step`` from ``warmup_steps`` on."""

    def __call__(self, step):
        step = tf.cast(tf.convert_to_tensor(step), tf.float32)
        fraction = step / max(self.warmup_steps, 1)
        warmup = self.warmup_learning_rate + fraction * (self.peak - self.warmup_learning_rate)
        return tf.where(step < self.warmup_steps, warmup, self.after_warmup(step))

    def get_config(self) -> dict:
        return {
            "warmup_steps": self.warmup_steps,
            "warmup_learning_rate": self.warmup_learning_rate,
        }


@keras.saving.register_keras_serializable(package="vatt.train")
class CosineWithWarmup(_LinearWarmup):
    """Linear warmup from ``warmup_learning_rate`` to ``base_learning_rate`` over ``warmup_steps``,
    then a half cosine from ``base_learning_rate`` to 0 at ``total_steps`` (0 afterwards)."""

    def __init__(
        self,
        base_learning_rate: float,
        total_steps: int,
        warmup_steps: int = 0,
        warmup_learning_rate: float = 0.0,
    ):
        if not 0 <= warmup_steps < total_steps:
            raise ValueError(
                f"warmup_steps must be in [0, total_steps={total_steps}), got {warmup_steps}"
            )
        super().__init__(warmup_steps, warmup_learning_rate)
        self.base_learning_rate = float(base_learning_rate)
        self.total_steps = int(total_steps)

    @property
    def peak(self) -> float:
        return self.base_learning_rate

    def after_warmup(self, step: tf.Tensor) -> tf.Tensor:
        progress = tf.clip_by_value(
            (step - self.warmup_steps) / (self.total_steps - self.warmup_steps), 0.0, 1.0
        )
        return self.base_learning_rate * 0.5 * (1.0 + tf.cos(math.pi * progress))

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "base_learning_rate": self.base_learning_rate,
            "total_steps": self.total_steps,
        }


@keras.saving.register_keras_serializable(package="vatt.train")
class StepCosineWithWarmup(_LinearWarmup):
    """Linear warmup to ``levels[0]``, then one half cosine per level down to the next level.

    Segment k runs from ``starts[k]`` to ``starts[k+1]`` (the last one to ``total_steps``) and
    decays from ``levels[k]`` to ``levels[k+1]`` (0 after the last level). ``starts[0]`` must be
    ``warmup_steps``, as in the original. With the pretraining defaults, levels (1e-4, 5e-5) and
    starts (5000, 500000) over 500000 steps, this is a warmup to 1e-4 over 5k steps and a half
    cosine down to 5e-5 at step 500000.
    """

    def __init__(
        self,
        levels: Sequence[float],
        starts: Sequence[int],
        total_steps: int,
        warmup_steps: int,
        warmup_learning_rate: float = 0.0,
    ):
        levels, starts = [float(v) for v in levels], [int(s) for s in starts]
        if not levels or len(levels) != len(starts):
            raise ValueError(
                f"learning_rate_levels {levels} and learning_rate_steps {starts} must be "
                "non-empty and of the same length"
            )
        if starts[0] != warmup_steps:
            raise ValueError(
                f"the first of learning_rate_steps {starts} must equal warmup_steps={warmup_steps}"
            )
        if any(b < a for a, b in zip(starts, starts[1:], strict=False)) or starts[-1] > total_steps:
            raise ValueError(
                f"learning_rate_steps {starts} must be non-decreasing and at most "
                f"total_steps={total_steps}"
            )
        super().__init__(warmup_steps, warmup_learning_rate)
        self.levels, self.starts = levels, starts
        self.total_steps = int(total_steps)

    @property
    def peak(self) -> float:
        return self.levels[0]

    def after_warmup(self, step: tf.Tensor) -> tf.Tensor:
        starts = tf.constant(self.starts, tf.float32)
        ends = tf.constant([*self.starts[1:], self.total_steps], tf.float32)
        upper = tf.constant(self.levels, tf.float32)
        lower = tf.constant([*self.levels[1:], 0.0], tf.float32)
        # The segment holding ``step``: the last one that has started.
        index = tf.maximum(tf.reduce_sum(tf.cast(starts <= step, tf.int32)) - 1, 0)
        start, end = tf.gather(starts, index), tf.gather(ends, index)
        length = end - start
        progress = tf.where(
            length > 0, tf.clip_by_value((step - start) / tf.maximum(length, 1.0), 0.0, 1.0), 0.0
        )
        high, low = tf.gather(upper, index), tf.gather(lower, index)
        return (high - low) * 0.5 * (1.0 + tf.cos(math.pi * progress)) + low

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "levels": list(self.levels),
            "starts": list(self.starts),
            "total_steps": self.total_steps,
        }


@keras.saving.register_keras_serializable(package="vatt.train")
class ConstantWithWarmup(_LinearWarmup):
    """Linear warmup to ``learning_rate``, then constant."""

    def __init__(
        self, learning_rate: float, warmup_steps: int = 0, warmup_learning_rate: float = 0.0
    ):
        super().__init__(warmup_steps, warmup_learning_rate)
        self.learning_rate = float(learning_rate)

    @property
    def peak(self) -> float:
        return self.learning_rate

    def after_warmup(self, step: tf.Tensor) -> tf.Tensor:
        return tf.constant(self.learning_rate, tf.float32)

    def get_config(self) -> dict:
        return {**super().get_config(), "learning_rate": self.learning_rate}
