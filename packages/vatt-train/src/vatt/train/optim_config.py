"""Optimizer and learning-rate schedule configs, and the Keras objects they build.

Each is a :class:`vatt.core.config.Choice`: ``optimizer.name=momentum`` switches the class,
then the remaining keys of the override apply to the new class's defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import keras

from vatt.core.config import Choice, register_choice
from vatt.train import schedules


class OptimizerConfig(Choice, family=True):
    """An optimizer of the original's ``optimizers.py``.

    ``weight_decay`` is Keras 3's decoupled decay, which is multiplied by the learning rate
    (the tensorflow-addons SGDW/AdamW of the original did not multiply it).
    """

    def build(self, learning_rate) -> keras.optimizers.Optimizer:
        """The Keras optimizer driven by ``learning_rate`` (a float or a schedule)."""
        raise NotImplementedError


@register_choice("adam")
@dataclass
class AdamConfig(OptimizerConfig):
    """``keras.optimizers.Adam``; the pretraining optimizer (no weight decay)."""

    KERAS_CLASS: ClassVar[type] = keras.optimizers.Adam

    name: str = "adam"
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7
    weight_decay: float = 0.0

    def build(self, learning_rate) -> keras.optimizers.Optimizer:
        return self.KERAS_CLASS(
            learning_rate=learning_rate,
            beta_1=self.beta_1,
            beta_2=self.beta_2,
            epsilon=self.epsilon,
            weight_decay=self.weight_decay or None,
        )


@register_choice("adamw")
@dataclass
class AdamWConfig(AdamConfig):
    """``keras.optimizers.AdamW`` (the original's unused ``AdamWOptimizer``)."""

    KERAS_CLASS: ClassVar[type] = keras.optimizers.AdamW

    name: str = "adamw"
    weight_decay: float = 5e-5

    def __post_init__(self):
        super().__post_init__()
        if self.weight_decay <= 0:
            raise ValueError(
                f"optimizer.weight_decay of adamw must be > 0, got {self.weight_decay}; "
                "use optimizer.name=adam for no decay"
            )


@register_choice("momentum")
@dataclass
class MomentumConfig(OptimizerConfig):
    """``keras.optimizers.SGD`` with momentum; the fine-tuning optimizer."""

    name: str = "momentum"
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0

    def build(self, learning_rate) -> keras.optimizers.Optimizer:
        return keras.optimizers.SGD(
            learning_rate=learning_rate,
            momentum=self.momentum,
            nesterov=self.nesterov,
            weight_decay=self.weight_decay or None,
        )


@register_choice("momentum_w")
@dataclass
class MomentumWConfig(MomentumConfig):
    """SGD with momentum and decoupled weight decay (the original's unused ``MomentumWOptimizer``)."""

    name: str = "momentum_w"
    weight_decay: float = 5e-5


class ScheduleConfig(Choice, family=True):
    """A learning-rate schedule; ``total_steps`` comes from ``train.total_steps``."""

    def build(self, total_steps: int) -> keras.optimizers.schedules.LearningRateSchedule:
        """The Keras schedule for a run of ``total_steps`` steps."""
        raise NotImplementedError


@register_choice("step_cosine_warmup")
@dataclass
class StepCosineWarmupConfig(ScheduleConfig):
    """The pretraining schedule: warmup to 1e-4 over 5k steps, half cosine to 5e-5 at 500k."""

    name: str = "step_cosine_warmup"
    warmup_steps: int = 5000
    warmup_learning_rate: float = 0.0
    learning_rate_levels: tuple[float, ...] = (1e-4, 5e-5)
    learning_rate_steps: tuple[int, ...] = (5000, 500000)

    def build(self, total_steps: int) -> schedules.StepCosineWithWarmup:
        return schedules.StepCosineWithWarmup(
            self.learning_rate_levels,
            self.learning_rate_steps,
            total_steps=total_steps,
            warmup_steps=self.warmup_steps,
            warmup_learning_rate=self.warmup_learning_rate,
        )


@register_choice("cosine_warmup")
@dataclass
class CosineWarmupConfig(ScheduleConfig):
    """The fine-tuning schedule: warmup to 0.005 over 2500 steps, cosine to 0 at the end."""

    name: str = "cosine_warmup"
    warmup_steps: int = 2500
    warmup_learning_rate: float = 0.0
    base_learning_rate: float = 0.005

    def build(self, total_steps: int) -> schedules.CosineWithWarmup:
        return schedules.CosineWithWarmup(
            self.base_learning_rate,
            total_steps=total_steps,
            warmup_steps=self.warmup_steps,
            warmup_learning_rate=self.warmup_learning_rate,
        )


@register_choice("constant")
@dataclass
class ConstantConfig(ScheduleConfig):
    """A constant learning rate after an optional linear warmup."""

    name: str = "constant"
    learning_rate: float = 1e-4
    warmup_steps: int = 0
    warmup_learning_rate: float = 0.0

    def build(self, total_steps: int) -> schedules.ConstantWithWarmup:
        del total_steps  # a constant schedule does not depend on the run length
        return schedules.ConstantWithWarmup(
            self.learning_rate, self.warmup_steps, self.warmup_learning_rate
        )


#: The registered optimizer and schedule configs: the types ``optimizer`` and ``schedule`` take.
Optimizer = AdamConfig | AdamWConfig | MomentumConfig | MomentumWConfig
Schedule = StepCosineWarmupConfig | CosineWarmupConfig | ConstantConfig
