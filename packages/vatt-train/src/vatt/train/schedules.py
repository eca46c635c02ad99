"""Learning-rate schedules of the original (cosine and step-cosine, both with linear warmup),
and the optimizer of a run driven by its schedule.

Both are finite at every step: the original's step-cosine divided by the length of its last
segment, which is 0 with the pretraining defaults, and so logged NaN from step ``total_steps`` on.
Here an empty segment holds its level and the learning rate after ``total_steps`` stays at the
value the schedule reached there.

They are written in ``keras.ops``, so the optimizer evaluates them inside the compiled step on any
Keras backend (a ``tf.function`` on TensorFlow, ``jax.jit`` on JAX).
"""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import keras
from keras import ops

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
    def after_warmup(self, step):
        """The learning rate at float ``step`` from ``warmup_steps`` on."""

    def __call__(self, step):
        step = ops.cast(step, "float32")
        fraction = step / max(self.warmup_steps, 1)
        warmup = self.warmup_learning_rate + fraction * (self.peak - self.warmup_learning_rate)
        return ops.where(step < self.warmup_steps, warmup, self.after_warmup(step))

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

    def after_warmup(self, step):
        progress = ops.clip(
            (step - self.warmup_steps) / (self.total_steps - self.warmup_steps), 0.0, 1.0
        )
        return self.base_learning_rate * 0.5 * (1.0 + ops.cos(math.pi * progress))

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

    def after_warmup(self, step):
        starts = ops.convert_to_tensor(self.starts, "float32")
        ends = ops.convert_to_tensor([*self.starts[1:], self.total_steps], "float32")
        upper = ops.convert_to_tensor(self.levels, "float32")
        lower = ops.convert_to_tensor([*self.levels[1:], 0.0], "float32")
        # The segment holding ``step``: the last one that has started.
        index = ops.maximum(ops.sum(ops.cast(starts <= step, "int32")) - 1, 0)
        start, end = ops.take(starts, index), ops.take(ends, index)
        length = end - start
        progress = ops.where(
            length > 0, ops.clip((step - start) / ops.maximum(length, 1.0), 0.0, 1.0), 0.0
        )
        high, low = ops.take(upper, index), ops.take(lower, index)
        return (high - low) * 0.5 * (1.0 + ops.cos(math.pi * progress)) + low

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

    def after_warmup(self, step):
        return ops.full_like(step, self.learning_rate)

    def get_config(self) -> dict:
        return {**super().get_config(), "learning_rate": self.learning_rate}
