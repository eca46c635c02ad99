"""Multi-head dot-product attention as the original VATT Transformers compute it."""

from __future__ import annotations

import math

import keras
from keras import ops

from vatt.models.checkpoints import keras_layer_variables
from vatt.models.layers.configured import ConfiguredLayer
from vatt.models.layers.dropout import Dropout

# Additive score for masked keys; the original value, large enough that exp() underflows to 0.
MASK_SCORE = -1e9


def _fresh(initializer: keras.initializers.Initializer) -> keras.initializers.Initializer:
    # A separate initializer object per kernel, so a seeded one does not repeat its values.
    return keras.initializers.deserialize(keras.initializers.serialize(initializer))


class MultiHeadAttention(ConfiguredLayer):
    """Self-attention with separate ``q``/``k``/``v``/``o`` Dense projections.

    Head ``h`` owns columns ``h*d_kv ... (h+1)*d_kv - 1`` of the q/k/v kernels, so official
    weights load without any re-ordering.

    Args:
        d_model: width of the input and of the output projection ``o``.
        num_heads: number of heads.
        d_kv: width of one head's query/key/value.
        use_bias: whether the four projections carry a bias (False for SpT and T5).
        dropout_rate: dropout on the attention probabilities (training only; the original:
            0.1). At 0, and at inference, attention runs through the backend's fused kernel
            (``keras.ops.dot_product_attention``); above 0, training computes the scores
            explicitly to drop probabilities, which fused kernels cannot.
        scale_scores: divide scores by sqrt(d_kv); T5 does not.
        kernel_initializer: initializer of the four kernels.

    Call args:
        inputs: ``(B, L, d_model)``.
        attention_mask: optional ``(B, L)`` with 1 for keys to attend to and 0 for padding.
        attention_bias: optional additive score bias broadcastable to ``(B, num_heads, L, L)``
            (T5's relative-position bias).
        training: enables dropout.

    Returns:
        ``(B, L, d_model)``.
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        d_kv: int = 64,
        use_bias: bool = True,
        dropout_rate: float = 0.1,
        scale_scores: bool = True,
        kernel_initializer: str | keras.initializers.Initializer = "glorot_uniform",
        name: str = "multi_head_attention",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        inner = num_heads * d_kv

        def dense(units: int, name: str) -> keras.layers.Dense:
            return keras.layers.Dense(
                units,
                use_bias=use_bias,
                kernel_initializer=_fresh(self.kernel_initializer),
                name=name,
            )

        self.q = dense(inner, "q")
        self.k = dense(inner, "k")
        self.v = dense(inner, "v")
        self.o = dense(d_model, "o")
        self.dropout = Dropout(dropout_rate)

    def build(self, input_shape=None):
        for projection in (self.q, self.k, self.v):
            projection.build((None, None, self.d_model))
        self.o.build((None, None, self.num_heads * self.d_kv))

    def _projections(self, inputs):
        """``q``, ``k``, ``v`` as ``(B, L, H, d_kv)`` from ONE matrix product.

        The three kernels keep their own variables (and checkpoint paths); multiplying by their
        concatenation reads the input once and gives the accelerator one larger product.
        """
        kernel = ops.concatenate([self.q.kernel, self.k.kernel, self.v.kernel], axis=-1)
        qkv = ops.matmul(inputs, ops.cast(kernel, inputs.dtype))
        if self.use_bias:
            bias = ops.concatenate([self.q.bias, self.k.bias, self.v.bias], axis=-1)
            qkv = qkv + ops.cast(bias, qkv.dtype)
        batch, length = ops.shape(inputs)[0], ops.shape(inputs)[1]
        qkv = ops.reshape(qkv, (batch, length, 3, self.num_heads, self.d_kv))
        return qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]

    def call(self, inputs, attention_mask=None, attention_bias=None, training=False):
        q, k, v = self._projections(inputs)  # (B, L, H, d_kv)
        if training and self.dropout_rate > 0.0:
            context = self._attend_with_dropout(q, k, v, attention_mask, attention_bias)
        else:
            context = self._attend_fused(q, k, v, attention_mask, attention_bias)
        batch, length = ops.shape(context)[0], ops.shape(context)[1]
        context = ops.reshape(context, (batch, length, self.num_heads * self.d_kv))
        return self.o(context)

    def _attend_fused(self, q, k, v, attention_mask, attention_bias):
        """``softmax(q k^T + bias) v`` through ``keras.ops.dot_product_attention``.

        The backend picks its fastest kernel (cuDNN flash attention on JAX, SDPA on PyTorch);
        the scores are never materialised by this layer. Same result as the explicit path.
        """
        mask = None
        if attention_mask is not None:
            mask = ops.cast(attention_mask, "bool")
            # A row with no key to attend to attends to every key (the explicit path's
            # softmax of uniformly shifted scores), never to none (NaN in some kernels).
            mask = ops.logical_or(mask, ops.logical_not(ops.any(mask, axis=-1, keepdims=True)))
            mask = mask[:, None, None, :]
        bias = None
        if attention_bias is not None:
            bias = ops.cast(attention_bias, "float32")
            if mask is not None:  # some backends take a bias or a mask, not both
                bias = bias + ops.where(mask, 0.0, MASK_SCORE)
                mask = None
        return ops.dot_product_attention(q, k, v, bias=bias, mask=mask, scale=self._scale)

    def _attend_with_dropout(self, q, k, v, attention_mask, attention_bias):
        """The original's explicit attention, with dropout on the probabilities (training)."""
        q, k, v = (ops.transpose(t, (0, 2, 1, 3)) for t in (q, k, v))  # (B, H, L, d_kv)
        # Scores, mask and softmax in float32 so that -1e9 stays finite under mixed precision.
        scores = ops.cast(ops.einsum("bhqd,bhkd->bhqk", q, k), "float32") * self._scale
        if attention_bias is not None:
            scores = scores + ops.cast(attention_bias, "float32")
        if attention_mask is not None:
            mask = ops.cast(attention_mask, "float32")[:, None, None, :]
            scores = scores + (1.0 - mask) * MASK_SCORE
        probs = ops.cast(ops.softmax(scores, axis=-1), v.dtype)
        probs = self.dropout(probs, training=True)
        return ops.transpose(ops.einsum("bhqk,bhkd->bhqd", probs, v), (0, 2, 1, 3))

    @property
    def _scale(self) -> float:
        return 1.0 / math.sqrt(self.d_kv) if self.scale_scores else 1.0

    def checkpoint_variables(self, prefix: str) -> dict[str, keras.Variable]:
        """Official-checkpoint paths of ``q``, ``k``, ``v``, ``o`` under ``prefix``."""
        names = {}
        for attr in ("q", "k", "v", "o"):
            names.update(keras_layer_variables(getattr(self, attr), f"{prefix}/{attr}"))
        return names
