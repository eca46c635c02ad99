"""The Transformer encoder shared by ViT-3D, WaT, SpT, BERT and the unified UT backbone."""

from __future__ import annotations

import keras

from vatt.models.checkpoints import keras_layer_variables
from vatt.models.layers.attention import MultiHeadAttention
from vatt.models.layers.configured import ConfiguredLayer
from vatt.models.layers.dropout import Dropout
from vatt.models.layers.feed_forward import FeedForward


class TransformerEncoderLayer(ConfiguredLayer):
    """One encoder layer: attention block then feed-forward block, both residual.

    Pre-norm (VATT): ``h = x + drop(mha(LN(x)))``, ``y = h + drop(mlp(LN'(h)))``.
    Post-norm: ``h = LN(x + drop(mha(x)))``, ``y = LN'(h + drop(mlp(h)))``.

    Args:
        d_model: token width.
        num_heads: attention heads.
        d_kv: per-head width.
        d_ff: feed-forward hidden width.
        activation: feed-forward activation (``gelu`` in VATT, exact erf form).
        dropout_rate: rate of the residual and MLP dropouts.
        attention_dropout_rate: dropout on the attention probabilities; 0 lets attention run
            through the backend's fused kernel in training too (the original: 0.1, the same
            rate as the other dropouts).
        layer_norm_epsilon: 1e-6 in VATT.
        use_bias: biases of q/k/v/o/wi/wo (False for SpT).
        pre_norm: pre-norm (True in VATT) or post-norm residuals.

    Call args:
        inputs: ``(B, L, d_model)``; attention_mask: optional ``(B, L)`` 0/1; training.
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        d_kv: int,
        d_ff: int,
        activation: str = "gelu",
        dropout_rate: float = 0.1,
        attention_dropout_rate: float = 0.0,
        layer_norm_epsilon: float = 1e-6,
        use_bias: bool = True,
        pre_norm: bool = True,
        name: str | None = None,
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        self.layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, name="layer_norm"
        )
        self.mha = MultiHeadAttention(d_model, num_heads, d_kv, use_bias, attention_dropout_rate)
        self.dropout = Dropout(dropout_rate)
        self.feed_forward = FeedForward(
            d_model,
            d_ff,
            activation,
            use_bias,
            dropout_rate,
            layer_norm_epsilon=layer_norm_epsilon,
            pre_norm=pre_norm,
        )

    def build(self, input_shape=None):
        self.layer_norm.build((None, None, self.d_model))
        self.mha.build()
        self.feed_forward.build()

    def call(self, inputs, attention_mask=None, training=False):
        if self.pre_norm:
            attended = self.mha(self.layer_norm(inputs), attention_mask, training=training)
            hidden = inputs + self.dropout(attended, training=training)
        else:
            attended = self.mha(inputs, attention_mask, training=training)
            hidden = self.layer_norm(inputs + self.dropout(attended, training=training))
        return self.feed_forward(hidden, training=training)

    def checkpoint_variables(self, prefix: str) -> dict[str, keras.Variable]:
        """Official paths ``{prefix}/layer_norm/*``, ``{prefix}/mha/*``, ``{prefix}/feed_forward/*``."""
        return {
            **keras_layer_variables(self.layer_norm, f"{prefix}/layer_norm"),
            **self.mha.checkpoint_variables(f"{prefix}/mha"),
            **self.feed_forward.checkpoint_variables(f"{prefix}/feed_forward"),
        }


class TransformerEncoder(ConfiguredLayer):
    """A stack of :class:`TransformerEncoderLayer` (original attribute ``tx``).

    With ``pre_norm`` a ``final_layer_norm`` (eps ``layer_norm_epsilon``) and a dropout follow
    the last layer.

    Args:
        num_layers: number of layers.
        *args, **kwargs: the arguments of :class:`TransformerEncoderLayer` (``d_model``,
            ``num_heads``, ``d_kv``, ``d_ff``, ... in its order), given to every layer, and those
            of ``keras.layers.Layer``.

    Call args:
        inputs: ``(B, L, d_model)``; attention_mask: optional ``(B, L)`` 0/1; training.

    Returns:
        The last hidden states ``(B, L, d_model)``.
    """

    def __init__(self, num_layers: int, *args, name: str = "transformer", **kwargs):
        layer_kwargs = TransformerEncoderLayer.take_arguments(kwargs)
        super().__init__(name=name, **kwargs)
        if num_layers < 1:
            raise ValueError(f"num_layers must be at least 1, got {num_layers}")
        self.encoder_layers = [
            TransformerEncoderLayer(*args, **layer_kwargs, name=f"layer_{i}")
            for i in range(num_layers)
        ]
        self.configure(**self.encoder_layers[0].arguments())
        if self.pre_norm:
            self.final_layer_norm = keras.layers.LayerNormalization(
                epsilon=self.layer_norm_epsilon, name="final_layer_norm"
            )
            self.final_dropout = Dropout(self.dropout_rate)

    def build(self, input_shape=None):
        for layer in self.encoder_layers:
            layer.build()
        if self.pre_norm:
            self.final_layer_norm.build((None, None, self.d_model))

    def call(self, inputs, attention_mask=None, training=False):
        hidden = inputs
        for layer in self.encoder_layers:
            hidden = layer(hidden, attention_mask=attention_mask, training=training)
        if self.pre_norm:
            hidden = self.final_dropout(self.final_layer_norm(hidden), training=training)
        return hidden

    def checkpoint_variables(self, prefix: str) -> dict[str, keras.Variable]:
        """Official paths ``{prefix}/layers/{i}/*`` and ``{prefix}/final_layer_norm/*``."""
        names = {}
        for i, layer in enumerate(self.encoder_layers):
            names.update(layer.checkpoint_variables(f"{prefix}/layers/{i}"))
        if self.pre_norm:
            names.update(keras_layer_variables(self.final_layer_norm, f"{prefix}/final_layer_norm"))
        return names
