"""The BatchNorm used by every CNN layer, with the original VATT settings."""

from __future__ import annotations

import dataclasses

import keras


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
