"""Text backbones: frozen word vectors, optional agg token, projection, then an encoder.

The tower takes int word ids ``[N, L]`` (or the batch's ``[B, K, L]``, flattened to
``[B*K, L]``) with pad id 0 and returns
``{"features_pooled": [N, D], "features": [N, L', D], "attention_mask": [N, L]}`` where
``attention_mask`` is 1 on real words and ``L' = L`` (``L + 1`` for ``bert_small``, whose extra
agg token the original kept among the word features).
"""

from __future__ import annotations

import dataclasses
import pathlib

import keras
import numpy as np
from keras import ops

from vatt.models.checkpoints import ROOT_PREFIX, keras_layer_variables
from vatt.models.layers import prepend_agg_token
from vatt.models.registry import ArchConfig, ConfiguredLayer, register_arch
from vatt.models.text.bert import BertEncoder
from vatt.models.text.linear import LinearEncoder
from vatt.models.text.t5 import T5Encoder

ENCODERS = ("t5", "bert", "linear")
#: Object path of the text tower inside an official pre-training checkpoint.
PRETRAIN_TEXT_PREFIX = f"{ROOT_PREFIX}/_base_layer/txt_backbone"

# Size of the original word2vec vocabulary and vectors (misc_data.tgz in the VATT release).
WORD2VEC_VOCAB_SIZE = 2**16
WORD2VEC_DIM = 300


@dataclasses.dataclass
class TextConfig(ArchConfig):
    """Hyper-parameters of a text backbone (names follow the original ``configs/text.py``).

    ``pre_norm``, ``use_bias`` and ``max_temporal_buckets`` are read by the BERT encoder only;
    ``num_relative_buckets`` and ``max_relative_distance`` by T5 only.
    ``attention_dropout_rate`` is the dropout on attention probabilities (0: fused attention
    kernels in training; the original used ``dropout_rate``, 0.1).
    """

    encoder: str = "t5"
    vocab_size: int = WORD2VEC_VOCAB_SIZE
    d_embedding: int = WORD2VEC_DIM
    trainable_embeddings: bool = False
    use_agg_token: bool = True
    d_pre_proj: int | None = 512
    d_post_proj: int | None = None
    activation: str | None = "gelu"
    d_model: int = 512
    d_kv: int = 64
    d_ff: int = 2048
    num_layers: int = 6
    num_heads: int = 8
    dropout_rate: float = 0.1
    attention_dropout_rate: float = 0.0
    layer_norm_epsilon: float = 1e-6
    num_relative_buckets: int = 32
    max_relative_distance: int = 64
    pre_norm: bool = True
    use_bias: bool = True
    max_temporal_buckets: int = 16

    def __post_init__(self):
        if self.encoder not in ENCODERS:
            raise ValueError(f"text encoder {self.encoder!r} is unknown; choose one of {ENCODERS}")
        if self.encoder != "linear" and self.d_pre_proj not in (None, self.d_model):
            raise ValueError(
                f"d_pre_proj {self.d_pre_proj} must equal d_model {self.d_model} "
                f"for the {self.encoder} encoder (or be None when d_embedding == d_model)"
            )
        if (
            self.encoder != "linear"
            and self.d_pre_proj is None
            and self.d_embedding != self.d_model
        ):
            raise ValueError(
                f"d_embedding {self.d_embedding} != d_model {self.d_model}: set d_pre_proj to "
                f"{self.d_model} to project the word vectors"
            )

    @property
    def output_dim(self) -> int:
        """Width of ``features_pooled``: ``d_post_proj`` when set, else ``d_model``."""
        return self.d_post_proj or self.d_model

    def build_layer(self, **kwargs) -> TextBackbone:
        """The :class:`TextBackbone` of this config."""
        return TextBackbone(self, **kwargs)


def t5_small_config() -> TextConfig:
    """T5-Small as VATT uses it: 512/6/8/2048 over 300-d word2vec, agg token, GELU."""
    return TextConfig()


def t5_base_config() -> TextConfig:
    """T5-Base: 768/12/12/3072."""
    return TextConfig(d_pre_proj=768, d_model=768, d_ff=3072, num_layers=12, num_heads=12)


def bert_base_config() -> TextConfig:
    """BERT-Base: 768/12/12/3072, pre-norm, no extra agg token (BERT adds its own)."""
    return TextConfig(
        encoder="bert",
        use_agg_token=False,
        d_pre_proj=768,
        d_model=768,
        d_ff=3072,
        num_layers=12,
        num_heads=12,
    )


def bert_small_config() -> TextConfig:
    """BERT-Small with the original's quirks: it inherits T5's agg token and runs post-norm.

    The sequence gets two agg tokens (17 positions, spline-interpolated onto the 16-row
    positional table), so ``features`` has one more position than the input.
    """
    return TextConfig(encoder="bert", pre_norm=False)


def linear_config() -> TextConfig:
    """The MMV linear tower: word2vec -> Conv1D(2048) -> ReLU -> max over tokens."""
    return TextConfig(
        encoder="linear", use_agg_token=False, d_pre_proj=None, activation=None, d_model=2048
    )


_TINY = {
    "vocab_size": 1000,
    "d_embedding": 24,
    "d_pre_proj": 32,
    "d_model": 32,
    "d_kv": 8,
    "d_ff": 64,
    "num_layers": 2,
    "num_heads": 4,
}
_TINY_LINEAR = {"vocab_size": 1000, "d_embedding": 24, "d_model": 32}


@register_arch("t5_small", t5_small_config, tiny=_TINY, tower="text")
@register_arch("t5_base", t5_base_config, tiny=_TINY, tower="text")
@register_arch("bert_small", bert_small_config, tiny=_TINY, tower="text")
@register_arch("bert_base", bert_base_config, tiny=_TINY, tower="text")
@register_arch("linear", linear_config, tiny=_TINY_LINEAR, tower="text")
@keras.saving.register_keras_serializable(package="vatt")
class TextBackbone(ConfiguredLayer, keras.Model):
    """A VATT text tower (the original ``LanguageModel``); see the module docstring for I/O."""

    config_class = TextConfig
    #: The batch key of the word ids.
    input_key = "text"

    def __init__(self, config: TextConfig, **kwargs):
        kwargs.setdefault("name", "text_backbone")
        super().__init__(**kwargs)
        self.config = config
        self.embedding = word_embedding(
            config.vocab_size, config.d_embedding, config.trainable_embeddings, "embedding"
        )
        self.agg_embedding = (
            self.add_weight(
                name="agg_embedding", shape=(config.d_embedding,), initializer="glorot_normal"
            )
            if config.use_agg_token
            else None
        )
        self.pre_proj = _projection(config.d_pre_proj, config.d_embedding, config, "pre_proj")
        encoder_width = config.d_pre_proj or config.d_embedding
        self.base_lm = _build_encoder(config, encoder_width)
        self.post_proj = _projection(config.d_post_proj, config.d_model, config, "post_proj")
        self.built = True

    def call(self, word_ids, training=False):
        word_ids, word_mask = flat_word_ids(word_ids)
        x = self.embedding(word_ids)  # (N, L, d_embedding)
        mask = word_mask
        if self.agg_embedding is not None:
            x, mask = prepend_agg_token(x, self.agg_embedding, word_mask)
        if self.pre_proj is not None:
            x = self.pre_proj(x)
        h = self.base_lm(x, mask, training=training)
        if self.post_proj is not None:
            h = self.post_proj(h)
        if self.config.use_agg_token or self.config.encoder != "linear":
            pooled, features = h[:, 0], h[:, 1:]
        else:
            # MMV pools with a max over every position, padding included, as the original.
            pooled, features = ops.max(h, axis=1), h
        return {"features_pooled": pooled, "features": features, "attention_mask": word_mask}

    def set_word_embeddings(self, table: np.ndarray) -> None:
        """Copy a ``[vocab_size, d_embedding]`` word-vector table into the frozen embedding."""
        expected = (self.config.vocab_size, self.config.d_embedding)
        table = np.asarray(table)
        if table.shape != expected:
            raise ValueError(
                f"word-embedding table has shape {table.shape}, the model expects {expected} "
                "(vocab_size, d_embedding); change the config or the table"
            )
        self.embedding.embeddings.assign(table.astype("float32"))

    def checkpoint_variables(self, prefix: str) -> dict[str, keras.Variable]:
        """Official paths of the text tower (``.../_base_layer/txt_backbone`` in pre-training)."""
        found = keras_layer_variables(self.embedding, f"{prefix}/embedding")
        if self.agg_embedding is not None:
            found[f"{prefix}/agg_embedding"] = self.agg_embedding
        for name in ("pre_proj", "post_proj"):
            if getattr(self, name) is not None:
                found.update(keras_layer_variables(getattr(self, name), f"{prefix}/{name}"))
        found.update(self.base_lm.checkpoint_variables(f"{prefix}/base_lm"))
        return found


def word_embedding(vocab_size: int, dim: int, trainable: bool, name: str) -> keras.layers.Embedding:
    """The built word-vector table of a text tower (frozen word2vec unless ``trainable``)."""
    layer = keras.layers.Embedding(vocab_size, dim, trainable=trainable, name=name)
    layer.build((None, None))
    return layer


def flat_word_ids(word_ids):
    """Text ids ``[N, L]`` or ``[B, K, L]`` as int32 ``[N, L]`` (``N = B*K``), and their
    ``[N, L]`` int32 mask: 1 on real words, 0 on the padding id 0."""
    word_ids = ops.cast(word_ids, "int32")
    if len(word_ids.shape) == 3:
        word_ids = ops.reshape(word_ids, (-1, word_ids.shape[-1]))  # (B*K, L)
    elif len(word_ids.shape) != 2:
        raise ValueError(f"text ids must be [N, L] or [B, K, L], got shape {tuple(word_ids.shape)}")
    return word_ids, ops.cast(ops.not_equal(word_ids, 0), "int32")


def load_word_embeddings(path: str | pathlib.Path) -> np.ndarray:
    """Read a word-vector table saved with ``numpy.save`` (never unpickled)."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"word-embedding file {path} does not exist")
    if path.suffix != ".npy":
        raise ValueError(
            f"{path}: word embeddings must be a .npy array; convert the original .pkl once "
            "with numpy.save(path, table) (pickles are not read, they can run code)"
        )
    table = np.load(path, allow_pickle=False)
    if table.ndim != 2:
        raise ValueError(f"{path}: expected a 2-D [vocab, dim] table, got shape {table.shape}")
    return table


def _projection(units: int | None, input_width: int, config: TextConfig, name: str):
    if units is None:
        return None
    layer = keras.layers.Dense(units, use_bias=False, activation=config.activation, name=name)
    layer.build((None, None, input_width))
    return layer


def _build_encoder(config: TextConfig, input_width: int) -> keras.layers.Layer:
    if config.encoder == "linear":
        return LinearEncoder(input_width, config.d_model, name="base_lm")
    encoder = T5Encoder if config.encoder == "t5" else BertEncoder
    return encoder(config, name="base_lm")
