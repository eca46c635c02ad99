"""The T5-style text encoder of VATT, with the original's hybrid normalisation.

It differs from Hugging Face / Mesh T5 in three ways that matter for loading the official
weights, and all three are kept:

* the attention block uses an RMS norm but the feed-forward block uses a standard
  mean-centred ``LayerNormalization`` with gamma and beta;
* the maximum relative distance is 64 (T5 uses 128);
* the feed-forward MLP is ``wi -> exact GELU -> wo`` without biases.

As in T5, attention scores are not scaled by ``1/sqrt(d_kv)``, q/k/v/o have no bias, and the
relative-position bias table exists only in layer 0; every layer adds that same bias.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import keras
from keras import ops

from vatt.models.checkpoints import keras_layer_variables
from vatt.models.layers.attention import MultiHeadAttention
from vatt.models.layers.dropout import Dropout

if TYPE_CHECKING:
    from vatt.models.text.backbone import TextConfig


class RMSNorm(keras.layers.Layer):
    """T5's layer norm: ``x / sqrt(mean(x^2) + eps) * weight``, no centring and no bias."""

    def __init__(self, dim: int, epsilon: float = 1e-6, **kwargs):
        super().__init__(**kwargs)
        self.dim = dim
        self.epsilon = epsilon
        self.weight = self.add_weight(name="weight", shape=(dim,), initializer="ones")
        self.built = True

    def call(self, x):
        x32 = ops.cast(x, "float32")
        variance = ops.mean(ops.square(x32), axis=-1, keepdims=True)
        return ops.cast(self.weight * (x32 * ops.rsqrt(variance + self.epsilon)), x.dtype)

    def get_config(self):
        return {**super().get_config(), "dim": self.dim, "epsilon": self.epsilon}


def relative_position_buckets(length, num_buckets: int = 32, max_distance: int = 64):
    """Bidirectional T5 bucket of every (query, key) pair, int32 ``[length, length]``.

    With ``n = query - key``: half of the buckets are for ``n < 0``; distances below a quarter
    of ``num_buckets`` get their own bucket, larger ones are binned logarithmically up to
    ``max_distance`` (evaluated in float32, as the original does).
    """
    positions = ops.arange(length, dtype="int32")
    n = positions[:, None] - positions[None, :]
    half = num_buckets // 2
    max_exact = half // 2
    offset = ops.where(n < 0, half, 0)
    distance = ops.abs(n)
    # log(0) is discarded by the `where` below; the clamp keeps it finite on every backend.
    scaled = ops.log(ops.cast(ops.maximum(distance, 1), "float32") / max_exact)
    scaled = scaled / math.log(max_distance / max_exact) * (half - max_exact)
    large = ops.minimum(max_exact + ops.cast(scaled, "int32"), half - 1)
    return offset + ops.where(distance < max_exact, distance, large)


class T5EncoderLayer(keras.layers.Layer):
    """``x + Drop(Attn(RMS(x)))`` then ``x + Drop(wo(Drop(GELU(wi(LN(x))))))``."""

    def __init__(
        self,
        d_model: int,
        d_kv: int,
        d_ff: int,
        num_heads: int,
        dropout_rate: float,
        layer_norm_epsilon: float,
        attention_dropout_rate: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.attention_norm = RMSNorm(d_model, layer_norm_epsilon, name="attention_norm")
        self.attention = MultiHeadAttention(
            d_model,
            num_heads,
            d_kv,
            use_bias=False,
            dropout_rate=attention_dropout_rate,
            scale_scores=False,
            name="attention",
        )
        self.attention.build()
        self.ffn_norm = keras.layers.LayerNormalization(epsilon=layer_norm_epsilon, name="ffn_norm")
        self.ffn_norm.build((None, None, d_model))
        self.wi = keras.layers.Dense(d_ff, use_bias=False, name="wi")
        self.wi.build((None, None, d_model))
        self.wo = keras.layers.Dense(d_model, use_bias=False, name="wo")
        self.wo.build((None, None, d_ff))
        self.attention_dropout = Dropout(dropout_rate)
        self.ffn_inner_dropout = Dropout(dropout_rate)
        self.ffn_dropout = Dropout(dropout_rate)
        self.built = True

    def call(self, x, attention_mask, attention_bias, training=False):
        h = self.attention(
            self.attention_norm(x),
            attention_mask=attention_mask,
            attention_bias=attention_bias,
            training=training,
        )
        x = x + self.attention_dropout(h, training=training)
        h = ops.gelu(self.wi(self.ffn_norm(x)), approximate=False)
        h = self.wo(self.ffn_inner_dropout(h, training=training))
        return x + self.ffn_dropout(h, training=training)

    def checkpoint_variables(self, prefix: str) -> dict[str, keras.Variable]:
        """Official paths: ``self_attention/{attention,layer_norm}``, ``feed_forward/...``."""
        found = self.attention.checkpoint_variables(f"{prefix}/self_attention/attention")
        found[f"{prefix}/self_attention/layer_norm/weight"] = self.attention_norm.weight
        found.update(keras_layer_variables(self.ffn_norm, f"{prefix}/feed_forward/layer_norm"))
        found.update(keras_layer_variables(self.wi, f"{prefix}/feed_forward/mlp/wi"))
        found.update(keras_layer_variables(self.wo, f"{prefix}/feed_forward/mlp/wo"))
        return found


class T5Encoder(keras.layers.Layer):
    """Stack of :class:`T5EncoderLayer` over embedded tokens.

    Args:
        config: the text tower's config: its Transformer fields, ``num_relative_buckets`` and
            ``max_relative_distance``.

    Call args: ``x`` ``[N, L, d_model]``, ``attention_mask`` ``[N, L]`` (1 = real token).
    Returns ``[N, L, d_model]``.
    """

    def __init__(self, config: TextConfig, **kwargs):
        super().__init__(**kwargs)
        self.num_relative_buckets = config.num_relative_buckets
        self.max_relative_distance = config.max_relative_distance
        self.relative_attention_bias = keras.layers.Embedding(
            config.num_relative_buckets, config.num_heads, name="relative_attention_bias"
        )
        self.relative_attention_bias.build((None,))
        self.input_dropout = Dropout(config.dropout_rate)
        self.encoder_layers = [
            T5EncoderLayer(
                config.d_model,
                config.d_kv,
                config.d_ff,
                config.num_heads,
                config.dropout_rate,
                config.layer_norm_epsilon,
                attention_dropout_rate=config.attention_dropout_rate,
                name=f"layer_{i}",
            )
            for i in range(config.num_layers)
        ]
        self.final_layer_norm = RMSNorm(
            config.d_model, config.layer_norm_epsilon, name="final_layer_norm"
        )
        self.output_dropout = Dropout(config.dropout_rate)
        self.built = True

    def position_bias(self, length):
        """Relative-position bias ``[1, heads, length, length]`` (float32)."""
        buckets = relative_position_buckets(
            length, self.num_relative_buckets, self.max_relative_distance
        )
        values = ops.cast(self.relative_attention_bias(buckets), "float32")  # (L, L, H)
        return ops.expand_dims(ops.transpose(values, (2, 0, 1)), 0)

    def call(self, x, attention_mask, training=False):
        bias = self.position_bias(ops.shape(x)[1])
        x = self.input_dropout(x, training=training)
        for layer in self.encoder_layers:
            x = layer(x, attention_mask, bias, training=training)
        return self.output_dropout(self.final_layer_norm(x), training=training)

    def checkpoint_variables(self, prefix: str) -> dict[str, keras.Variable]:
        """Official paths under ``txt_backbone/base_lm`` (the bias table lives in layer 0)."""
        found = {}
        for i, layer in enumerate(self.encoder_layers):
            found.update(layer.checkpoint_variables(f"{prefix}/layers/{i}"))
        found[f"{prefix}/layers/0/self_attention/attention/relative_attention_bias/embeddings"] = (
            self.relative_attention_bias.embeddings
        )
        found[f"{prefix}/final_layer_norm/weight"] = self.final_layer_norm.weight
        return found
