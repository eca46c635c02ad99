"""Building blocks shared by every VATT Transformer backbone.

All blocks are Keras 3 layers written with ``keras.ops`` only, build their weights from their
constructor arguments, and implement ``checkpoint_variables(prefix)`` (see
:mod:`vatt.models.checkpoints`).
"""

from vatt.models.layers.agg_token import prepend_agg_token
from vatt.models.layers.attention import MultiHeadAttention
from vatt.models.layers.drop_token import DropToken
from vatt.models.layers.dropout import Dropout
from vatt.models.layers.embeddings import (
    ExpandableEmbedding,
    SpatioTemporalEmbeddings,
    SpectroTemporalEmbeddings,
    TemporalEmbeddings,
    positional_initializer,
)
from vatt.models.layers.feed_forward import (
    ACTIVATIONS,
    DenseActivationDense,
    FeedForward,
    activation_fn,
)
from vatt.models.layers.patches import cut_patches, embed_patches, patch_tokens, project_patches
from vatt.models.layers.spline import resize_positional_table, spline_resampling_matrix
from vatt.models.layers.transformer import TransformerEncoder, TransformerEncoderLayer

__all__ = [
    "ACTIVATIONS",
    "DenseActivationDense",
    "DropToken",
    "Dropout",
    "ExpandableEmbedding",
    "FeedForward",
    "MultiHeadAttention",
    "SpatioTemporalEmbeddings",
    "SpectroTemporalEmbeddings",
    "TemporalEmbeddings",
    "TransformerEncoder",
    "TransformerEncoderLayer",
    "activation_fn",
    "cut_patches",
    "embed_patches",
    "patch_tokens",
    "positional_initializer",
    "prepend_agg_token",
    "project_patches",
    "resize_positional_table",
    "spline_resampling_matrix",
]
