"""The BERT-style text encoder of VATT: learned 1-D positions, its own agg token, Transformer."""

from __future__ import annotations

from typing import TYPE_CHECKING

import keras

from vatt.models.backbones.base import transformer_encoder
from vatt.models.layers import TemporalEmbeddings, prepend_agg_token

if TYPE_CHECKING:
    from vatt.models.text.backbone import TextConfig


class BertEncoder(keras.layers.Layer):
    """``Transformer([agg; x + LN(E_pos)])`` over embedded tokens.

    The positional table has ``max_temporal_buckets`` rows (16 in every original config); a
    longer sequence (BERT-Small's 17 positions, see :func:`bert_small_config`) reads a
    spline-resampled table, as the original does.

    Args:
        config: the text tower's config: its Transformer fields and ``max_temporal_buckets``.

    Call args: ``x`` ``[N, L, d_model]``, ``attention_mask`` ``[N, L]`` (1 = real token).
    Returns ``[N, L + 1, d_model]``; row 0 is the agg token.
    """

    def __init__(self, config: TextConfig, **kwargs):
        super().__init__(**kwargs)
        self.pos_embedding_lookup = TemporalEmbeddings(
            config.d_model, config.max_temporal_buckets, name="temporal_embeddings"
        )
        self.agg_embedding = self.add_weight(
            name="agg_embedding", shape=(config.d_model,), initializer="glorot_normal"
        )
        self.tx = transformer_encoder(config)
        self.built = True

    def call(self, x, attention_mask, training=False):
        x = self.pos_embedding_lookup(x, training=training)
        x, mask = prepend_agg_token(x, self.agg_embedding, attention_mask)
        return self.tx(x, attention_mask=mask, training=training)

    def checkpoint_variables(self, prefix: str) -> dict[str, keras.Variable]:
        """Official paths ``pos_embedding_lookup/*``, ``agg_embedding``, ``tx/*``."""
        return {
            **self.pos_embedding_lookup.checkpoint_variables(f"{prefix}/pos_embedding_lookup"),
            f"{prefix}/agg_embedding": self.agg_embedding,
            **self.tx.checkpoint_variables(f"{prefix}/tx"),
        }
