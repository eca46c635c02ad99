"""The BatchNorm used by every CNN layer, with the original VATT settings, and the config
fields every CNN backbone shares."""

from __future__ import annotations

import dataclasses

import keras

from vatt.models.registry import ArchConfig


@dataclasses.dataclass(frozen=True)
class BatchNormSettings:
    """BatchNorm hyperparameters shared by all BN layers of a CNN backbone.

    Defaults are the VATT CNN configs' (decay 0.9, epsilon 1e-5, learned scale, cross-replica).
    """

    momentum: float = 0.9
    epsilon: float = 1e-5
    scale: bool = True
    cross_replica: bool = True

    def __post_init__(self) -> None:
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"batch-norm momentum must be in [0, 1), got {self.momentum}")
        if self.epsilon <= 0.0:
            raise ValueError(f"batch-norm epsilon must be positive, got {self.epsilon}")

    def layer(self, name: str, zero_init: bool = False) -> keras.layers.BatchNormalization:
        """A BatchNormalization layer; ``zero_init`` starts gamma at 0 (last BN of a block)."""
        return keras.layers.BatchNormalization(
            momentum=self.momentum,
            epsilon=self.epsilon,
            scale=self.scale,
            gamma_initializer="zeros" if zero_init else "ones",
            # Keras implements synchronised statistics only on TensorFlow (tf.distribute);
            # on JAX the flag is refused, and batch statistics follow the sharding instead.
            synchronized=self.cross_replica and keras.backend.backend() == "tensorflow",
            name=name,
        )


@dataclasses.dataclass
class CNNBackboneConfig(ArchConfig):
    """The BatchNorm fields of the I3D and ResNet-2D configs (original names and defaults)."""

    batch_norm_momentum: float = 0.9
    batch_norm_epsilon: float = 1e-5
    batch_norm_scale: bool = True
    cross_replica_bn: bool = True

    def __post_init__(self) -> None:
        self.batch_norm()

    def batch_norm(self) -> BatchNormSettings:
        """The BatchNorm settings of every layer (validated)."""
        return BatchNormSettings(
            self.batch_norm_momentum,
            self.batch_norm_epsilon,
            self.batch_norm_scale,
            self.cross_replica_bn,
        )
