"""The BERT-style text encoder of VATT: learned 1-D positions, its own agg token, Transformer."""

from __future__ import annotations

import keras
from keras import ops

from vatt.models.layers import TemporalEmbeddings, TransformerEncoder


class BertEncoder(keras.layers.Layer):
    """``Transformer([agg; x + LN(E_pos)])`` over embedded tokens.

    The positional table has ``max_temporal_buckets`` rows (16 in every original config); a
    longer sequence (BERT-Small's 17 positions, see :func:`bert_small_config`) reads a
    spline-resampled table, as the original does.

    Call args: ``x`` ``[N, L, d_model]``, ``attention_mask`` ``[N, L]`` (1 = real token).
    Returns ``[N, L + 1, d_model]``; row 0 is the agg token.
    """

    def __init__(
        self,
        d_model: int,
        d_kv: int,
        d_ff: int,
        num_layers: int,
        num_heads: int,
        pre_norm: bool,
        use_bias: bool = True,
        activation: str = "gelu",
        dropout_rate: float = 0.1,
        layer_norm_epsilon: float = 1e-6,
        max_temporal_buckets: int = 16,
        attention_dropout_rate: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.pos_embedding_lookup = TemporalEmbeddings(
            d_model, max_temporal_buckets, name="temporal_embeddings"
        )
        self.agg_embedding = self.add_weight(
            name="agg_embedding", shape=(d_model,), initializer="glorot_normal"
        )
        self.tx = TransformerEncoder(
            num_layers,
            d_model,
            num_heads,
            d_kv,
            d_ff,
            activation=activation,
            dropout_rate=dropout_rate,
            attention_dropout_rate=attention_dropout_rate,
            layer_norm_epsilon=layer_norm_epsilon,
            use_bias=use_bias,
            pre_norm=pre_norm,
        )
        self.tx.build()
        self.built = True

    def call(self, x, attention_mask, training=False):
        x = self.pos_embedding_lookup(x, training=training)
        batch = ops.shape(x)[0]
        agg = ops.broadcast_to(
            ops.cast(self.agg_embedding, x.dtype)[None, None, :], (batch, 1, x.shape[-1])
        )
        x = ops.concatenate([agg, x], axis=1)
        mask = ops.concatenate([ops.ones_like(attention_mask[:, :1]), attention_mask], axis=1)
        return self.tx(x, attention_mask=mask, training=training)

    def checkpoint_variables(self, prefix: str) -> dict[str, keras.Variable]:
        """Official paths ``pos_embedding_lookup/*``, ``agg_embedding``, ``tx/*``."""
        return {
            **self.pos_embedding_lookup.checkpoint_variables(f"{prefix}/pos_embedding_lookup"),
            f"{prefix}/agg_embedding": self.agg_embedding,
            **self.tx.checkpoint_variables(f"{prefix}/tx"),
        }
