"""The linear text tower of MMV: a kernel-1 Conv1D with ReLU over the word vectors."""

from __future__ import annotations

import keras
from keras import ops

from vatt.models.checkpoints import keras_layer_variables


class LinearEncoder(keras.layers.Layer):
    """Per-token ``ReLU(Conv1D(d_model, kernel 1)(x))``; the mask is accepted and unused."""

    def __init__(self, d_embedding: int, d_model: int = 2048, **kwargs):
        super().__init__(**kwargs)
        self.conv1d = keras.layers.Conv1D(d_model, 1, name="text_conv1")
        self.conv1d.build((None, None, d_embedding))
        self.built = True

    def call(self, x, attention_mask, training=False):
        del attention_mask, training  # every token is projected independently
        return ops.relu(self.conv1d(x))

    def checkpoint_variables(self, prefix: str) -> dict[str, keras.Variable]:
        """Official paths ``{prefix}/conv1d/{kernel,bias}``."""
        return keras_layer_variables(self.conv1d, f"{prefix}/conv1d")
