"""Text backbones of VATT: T5 and BERT encoders over frozen word vectors, and MMV's linear tower.

Importing this package registers the archs ``t5_small``, ``t5_base``, ``bert_small``,
``bert_base`` and ``linear``.
"""

from vatt.models.text.backbone import (
    PRETRAIN_TEXT_PREFIX,
    TextBackbone,
    TextConfig,
    bert_base_config,
    bert_small_config,
    linear_config,
    load_word_embeddings,
    t5_base_config,
    t5_small_config,
)
from vatt.models.text.t5 import relative_position_buckets

__all__ = [
    "PRETRAIN_TEXT_PREFIX",
    "TextBackbone",
    "TextConfig",
    "bert_base_config",
    "bert_small_config",
    "linear_config",
    "load_word_embeddings",
    "relative_position_buckets",
    "t5_base_config",
    "t5_small_config",
]
