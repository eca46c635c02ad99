"""The modality-agnostic backbone UT ("uvatt", spec §1.6): one Transformer for all modalities.

Each modality has its own tokenizer (video Conv3D patches, audio Conv1D patches, frozen text
word vectors), its own GELU pre-projection (applied on the patch grid, before the positions),
positional tables, agg token and GELU post-projection; the Transformer ``tx`` is shared. The
modalities run through it separately: there is no cross-modal attention.
"""

from __future__ import annotations

import dataclasses

import keras
from keras import ops

from vatt.models.backbones.base import DropTokenConfig, transformer_encoder
from vatt.models.checkpoints import ROOT_PREFIX, keras_layer_variables
from vatt.models.layers import (
    SpatioTemporalEmbeddings,
    TemporalEmbeddings,
    patch_tokens,
    prepend_agg_token,
)
from vatt.models.registry import ArchConfig, ConfiguredLayer, register_arch
from vatt.models.text.backbone import flat_word_ids, word_embedding

MODALITIES = ("video", "audio", "text")
#: Object path of UT inside the official ``ut_fac`` pre-training checkpoint.
UNIFIED_PREFIX = f"{ROOT_PREFIX}/_base_layer/unified_backbone/unified_transformer"
#: Attribute-name prefix of each modality's agg token in the official checkpoint.
AGG_TOKEN_NAMES = {
    "video": "vid_agg_embedding",
    "audio": "aud_agg_embedding",
    "text": "txt_agg_embedding",
}


@dataclasses.dataclass
class UnifiedConfig(DropTokenConfig, ArchConfig):
    """Hyper-parameters of UT (names follow the original ``configs/unified.py``).

    ``attention_dropout_rate``, ``positional_dropout_rate`` and the DropToken fields
    (:class:`DropTokenConfig`, on video and audio) are as in ViT-3D's config.
    The defaults are UT-Medium: 32x224x224 video in 4x16x16 patches, 3.2 s of 48 kHz audio in
    128-sample patches, 16 word2vec tokens.
    """

    vid_temporal_patch_size: int = 4
    vid_spatial_patch_size: int = 16
    aud_temporal_patch_size: int = 128
    txt_vocab_size: int = 2**16
    txt_embedding_dim: int = 300
    txt_embedding_trainable: bool = False
    d_model: int = 1024
    d_kv: int = 64
    d_ff: int = 4096
    num_layers: int = 12
    num_heads: int = 16
    pre_norm: bool = True
    use_bias: bool = True
    activation: str = "gelu"
    dropout_rate: float = 0.1
    attention_dropout_rate: float = 0.0
    positional_dropout_rate: float = 0.1
    layer_norm_epsilon: float = 1e-6
    max_vid_temporal_buckets: int = 8  # 32 frames // 4
    max_vid_spatial_buckets: int = 14  # 224 // 16
    max_aud_temporal_buckets: int = 1200  # 3.2 s * 48 kHz // 128
    max_txt_temporal_buckets: int = 16
    d_post_proj: int = 1024
    post_proj_activation: str = "gelu"

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("dropout_rate", "attention_dropout_rate", "positional_dropout_rate"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")

    @property
    def output_dim(self) -> int:
        """Width of every modality's ``features_pooled``: ``d_post_proj``."""
        return self.d_post_proj

    def build_layer(self, **kwargs) -> UnifiedBackbone:
        """The :class:`UnifiedBackbone` of this config."""
        return UnifiedBackbone(self, **kwargs)


def ut_base_config() -> UnifiedConfig:
    """UT-Base: 768/12/12/3072."""
    return UnifiedConfig(d_model=768, num_layers=12, num_heads=12, d_ff=3072)


def ut_medium_config() -> UnifiedConfig:
    """UT-Medium, the released modality-agnostic model: 1024/12/16/4096."""
    return UnifiedConfig()


def ut_large_config() -> UnifiedConfig:
    """UT-Large: 1024/24/16/4096."""
    return UnifiedConfig(num_layers=24)


#: Overrides for a CPU-test-sized UT (the sizes of the ``ut_fac_tiny`` reference fixture).
UT_TINY = {
    "d_model": 32,
    "d_kv": 8,
    "d_ff": 64,
    "num_layers": 2,
    "num_heads": 4,
    "vid_temporal_patch_size": 2,
    "vid_spatial_patch_size": 8,
    "txt_vocab_size": 1000,
    "txt_embedding_dim": 24,
    "max_vid_temporal_buckets": 3,
    "max_vid_spatial_buckets": 4,
    "max_aud_temporal_buckets": 8,
    "d_post_proj": 48,
}


@register_arch("ut_base", ut_base_config, tiny=UT_TINY, tower="unified")
@register_arch("ut_medium", ut_medium_config, tiny=UT_TINY, tower="unified")
@register_arch("ut_large", ut_large_config, tiny=UT_TINY, tower="unified")
@keras.saving.register_keras_serializable(package="vatt")
class UnifiedBackbone(ConfiguredLayer, keras.Model):
    """UT: ``{"video"?, "audio"?, "text"?}`` inputs to per-modality features.

    Call args:
        inputs: a batch dict (Contract 1) holding any of ``video`` ``[B, T, H, W, 3]``,
            ``audio`` ``[B, S]`` or ``[B, S, 1]``, ``text`` ids ``[B, K, L]`` or ``[N, L]``.
            Other keys are ignored.
        training: enables dropout and DropToken (video and audio only).

    Returns:
        For each modality present, ``{"features_pooled": [B, d_post_proj],
        "features": [B, N, d_post_proj]}``, N the patch tokens in t-major order (the kept ones
        when DropToken is active); text also has ``attention_mask`` ``[N, L]`` (1 = real word).
    """

    config_class = UnifiedConfig

    def __init__(self, config: UnifiedConfig, **kwargs):
        kwargs.setdefault("name", "unified_backbone")
        super().__init__(**kwargs)
        self.config = config
        c = config
        d = c.d_model
        video_patch = (
            c.vid_temporal_patch_size,
            c.vid_spatial_patch_size,
            c.vid_spatial_patch_size,
        )
        self.voxel_to_patch = keras.layers.Conv3D(
            d, video_patch, strides=video_patch, padding="valid", name="voxel_to_patch"
        )
        self.voxel_to_patch.build((None, None, None, None, 3))
        self.waveform_to_patch = keras.layers.Conv1D(
            d,
            c.aud_temporal_patch_size,
            strides=c.aud_temporal_patch_size,
            padding="valid",
            name="waveform_to_patch",
        )
        self.waveform_to_patch.build((None, None, 1))
        self.text_embedding = word_embedding(
            c.txt_vocab_size, c.txt_embedding_dim, c.txt_embedding_trainable, "text_embedding"
        )
        token_widths = {"video": d, "audio": d, "text": c.txt_embedding_dim}
        self.pre_proj = {
            m: _dense(d, token_widths[m], c.activation, f"{m}_pre_tx_projection")
            for m in MODALITIES
        }
        self.pos_embedding_lookup = {
            "video": SpatioTemporalEmbeddings(
                d,
                c.max_vid_temporal_buckets,
                c.max_vid_spatial_buckets,
                c.max_vid_spatial_buckets,
                dropout_rate=c.positional_dropout_rate,
                layer_norm_epsilon=c.layer_norm_epsilon,
                name="video_spatio_temporal_embeddings",
            ),
            "audio": TemporalEmbeddings(
                d,
                c.max_aud_temporal_buckets,
                dropout_rate=c.positional_dropout_rate,
                layer_norm_epsilon=c.layer_norm_epsilon,
                name="audio_temporal_embeddings",
            ),
            "text": TemporalEmbeddings(
                d,
                c.max_txt_temporal_buckets,
                dropout_rate=c.positional_dropout_rate,
                layer_norm_epsilon=c.layer_norm_epsilon,
                name="text_temporal_embeddings",
            ),
        }
        max_tokens = {
            "video": c.max_vid_temporal_buckets * c.max_vid_spatial_buckets**2,
            "audio": c.max_aud_temporal_buckets,
        }
        self.drop_token = {
            m: c.drop_token_layer(max_tokens[m], name=f"{m}_drop_token") for m in ("video", "audio")
        }
        self.agg_token = {
            m: self.add_weight(name=AGG_TOKEN_NAMES[m], shape=(d,), initializer="glorot_normal")
            for m in MODALITIES
        }
        self.tx = transformer_encoder(c)
        self.post_proj = {
            m: _dense(c.d_post_proj, d, c.post_proj_activation, f"{m}_post_tx_projection")
            for m in MODALITIES
        }
        self.built = True

    def call(self, inputs, training=False):
        present = [m for m in MODALITIES if m in inputs]
        if not present:
            raise KeyError(
                f"UT needs at least one of the batch keys {MODALITIES}; got {sorted(inputs)}"
            )
        outputs = {}
        if "video" in inputs:
            outputs["video"] = self._encode_video(inputs["video"], training)
        if "audio" in inputs:
            outputs["audio"] = self._encode_audio(inputs["audio"], training)
        if "text" in inputs:
            outputs["text"] = self._encode_text(inputs["text"], training)
        return outputs

    def _encode_video(self, video, training):
        return self._encode_patches("video", self.voxel_to_patch, video, training)

    def _encode_audio(self, audio, training):
        if len(audio.shape) == 2:
            audio = ops.expand_dims(audio, -1)  # (B, S) -> (B, S, 1)
        return self._encode_patches("audio", self.waveform_to_patch, audio, training)

    def _encode_patches(self, modality, conv, inputs, training):
        tokens = patch_tokens(
            conv,
            inputs,
            self.pos_embedding_lookup[modality],
            drop_token=self.drop_token[modality],
            projection=self.pre_proj[modality],
            training=training,
        )  # (B, N, d), DropToken applied
        return self._encode_tokens(modality, tokens, None, training)

    def _encode_text(self, word_ids, training):
        word_ids, word_mask = flat_word_ids(word_ids)
        tokens = self.pre_proj["text"](self.text_embedding(word_ids))  # (N, L, d)
        tokens = self.pos_embedding_lookup["text"](tokens, training=training)
        outputs = self._encode_tokens("text", tokens, word_mask, training)
        outputs["attention_mask"] = word_mask
        return outputs

    def _encode_tokens(self, modality, tokens, word_mask, training):
        tokens, mask = prepend_agg_token(tokens, self.agg_token[modality], word_mask)
        hidden = self.post_proj[modality](self.tx(tokens, attention_mask=mask, training=training))
        return {"features_pooled": hidden[:, 0], "features": hidden[:, 1:]}

    def checkpoint_variables(self, prefix: str) -> dict[str, keras.Variable]:
        """Official paths under ``_base_layer/unified_backbone/unified_transformer``."""
        found = {
            **keras_layer_variables(self.voxel_to_patch, f"{prefix}/raw_to_embeddings/video"),
            **keras_layer_variables(self.waveform_to_patch, f"{prefix}/raw_to_embeddings/audio"),
            **keras_layer_variables(self.text_embedding, f"{prefix}/raw_to_embeddings/text"),
            **self.tx.checkpoint_variables(f"{prefix}/tx"),
        }
        for m in MODALITIES:
            found.update(keras_layer_variables(self.pre_proj[m], f"{prefix}/pre_proj/{m}"))
            found.update(keras_layer_variables(self.post_proj[m], f"{prefix}/post_proj/{m}"))
            lookup = self.pos_embedding_lookup[m]
            found.update(lookup.checkpoint_variables(f"{prefix}/pos_embedding_lookup/{m}"))
            found[f"{prefix}/{AGG_TOKEN_NAMES[m]}"] = self.agg_token[m]
        return found


def _dense(units: int, input_dim: int, activation: str, name: str) -> keras.layers.Dense:
    layer = keras.layers.Dense(units, activation=activation, name=name)
    layer.build((None, input_dim))
    return layer
