"""VATT pre-training models: backbones for video, audio and text, then the FAC head.

Two families, as in the original ``MMRLModel``:

* modality-specific towers (``tx_fac*``: ViT-3D + WaT/SpT + T5/BERT; ``mmv_fac``: I3D +
  ResNet-2D + linear text), each named in the config with optional hyper-parameter overrides;
  SpT and ResNet-2D read the batch key ``audio_spectrogram``, WaT reads ``audio``;
* the modality-agnostic UT (``ut_fac``): one Transformer shared by the three modalities.

Both take a batch dict (Contract 1) and return::

    {"backbone": {"video": {"features_pooled", "features"}, "audio": {...},
                  "text": {"features_pooled", "features", "attention_mask"}},
     "head": {"video": {"toaud", "totxt"}, "audio": {"tovid"}, "text": {"tovid"}}}

A modality absent from the batch is absent from the outputs. Text ``[B, K, L]`` is encoded as
``B*K`` sentences, so the text outputs have ``B*K`` rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import keras

from vatt.models.backbones import SpT, SpTConfig, ViT3D, ViTConfig, WaT, WaTConfig
from vatt.models.checkpoints import ROOT_PREFIX
from vatt.models.cnn import BLOCKS_PER_GROUP, I3D, I3DConfig, ResNet2D, ResNet2DConfig
from vatt.models.heads import FACHead, FACHeadConfig
from vatt.models.registry import ArchConfig, register_arch
from vatt.models.text import (
    TextBackbone,
    TextConfig,
    bert_base_config,
    bert_small_config,
    linear_config,
    t5_base_config,
    t5_small_config,
)
from vatt.models.unified import (
    UT_TINY,
    UnifiedBackbone,
    UnifiedConfig,
    ut_base_config,
    ut_large_config,
    ut_medium_config,
)


@dataclasses.dataclass(frozen=True)
class _Tower:
    """How to build one backbone: its config factory, layer class and batch key."""

    config: Callable[[], Any]
    layer: Callable[[Any], keras.layers.Layer]
    input_key: str


def _sized(config_class, size: str) -> Callable[[], Any]:
    return lambda: config_class.sized(size)


def _resnet(depth: int) -> Callable[[], ResNet2DConfig]:
    return lambda: ResNet2DConfig(blocks_per_group=BLOCKS_PER_GROUP[depth])


VIDEO_TOWERS = {
    **{
        f"vit_{size}": _Tower(_sized(ViTConfig, size), ViT3D, "video")
        for size in ("base", "medium", "large", "xlarge")
    },
    "i3d": _Tower(I3DConfig, I3D, "video"),
}
AUDIO_TOWERS = {
    **{
        f"wat_{size}": _Tower(_sized(WaTConfig, size), WaT, "audio")
        for size in ("base", "medium", "large")
    },
    **{
        f"spt_{size}": _Tower(_sized(SpTConfig, size), SpT, "audio_spectrogram")
        for size in ("base", "medium", "large")
    },
    **{
        f"resnet2d_{depth}": _Tower(_resnet(depth), ResNet2D, "audio_spectrogram")
        for depth in (50, 101)
    },
}
TEXT_TOWERS = {
    name: _Tower(factory, TextBackbone, "text")
    for name, factory in (
        ("linear", linear_config),
        ("t5_small", t5_small_config),
        ("t5_base", t5_base_config),
        ("bert_small", bert_small_config),
        ("bert_base", bert_base_config),
    )
}
UNIFIED_BACKBONES = {
    "ut_base": ut_base_config,
    "ut_medium": ut_medium_config,
    "ut_large": ut_large_config,
}


def _tower_config(towers: dict[str, _Tower], name: str, overrides: dict, what: str):
    if name not in towers:
        raise ValueError(f"unknown {what} {name!r}; choose one of {', '.join(sorted(towers))}")
    return towers[name].config().replace(**overrides)


@dataclasses.dataclass
class MultimodalConfig(ArchConfig):
    """A pre-training model with one backbone per modality (original ``TxFACModel``).

    ``*_backbone`` name a tower (see ``VIDEO_TOWERS``, ``AUDIO_TOWERS``, ``TEXT_TOWERS``) and
    ``*_model_kwargs`` override fields of that tower's config, as the original
    ``video_model_kwargs`` etc. did. The defaults are ``tx_fac`` (= MBS).
    """

    video_backbone: str = "vit_medium"
    audio_backbone: str = "wat_base"
    text_backbone: str = "t5_small"
    video_model_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    audio_model_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    text_model_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    head: FACHeadConfig = dataclasses.field(default_factory=FACHeadConfig)

    def __post_init__(self):
        # Resolving the tower configs here rejects unknown names and keys at config time.
        self.tower_configs()

    def tower_configs(self) -> dict[str, Any]:
        """The resolved ``{"video", "audio", "text"}`` backbone configs."""
        return {
            "video": _tower_config(
                VIDEO_TOWERS, self.video_backbone, self.video_model_kwargs, "video backbone"
            ),
            "audio": _tower_config(
                AUDIO_TOWERS, self.audio_backbone, self.audio_model_kwargs, "audio backbone"
            ),
            "text": _tower_config(
                TEXT_TOWERS, self.text_backbone, self.text_model_kwargs, "text backbone"
            ),
        }


@dataclasses.dataclass
class UnifiedFACConfig(ArchConfig):
    """A pre-training model on the shared UT backbone (original ``UnifiedTxFACModel``)."""

    unified_backbone: str = "ut_medium"
    unified_model_kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)
    head: FACHeadConfig = dataclasses.field(default_factory=FACHeadConfig)

    def __post_init__(self):
        self.backbone_config()

    def backbone_config(self) -> UnifiedConfig:
        """The resolved UT config."""
        if self.unified_backbone not in UNIFIED_BACKBONES:
            raise ValueError(
                f"unknown unified backbone {self.unified_backbone!r}; choose one of "
                f"{', '.join(sorted(UNIFIED_BACKBONES))}"
            )
        return UNIFIED_BACKBONES[self.unified_backbone]().replace(**self.unified_model_kwargs)


class ModalityBackbones(keras.layers.Layer):
    """One backbone per modality (the original ``AudioTextVideoFusion``)."""

    def __init__(self, config: MultimodalConfig, **kwargs):
        kwargs.setdefault("name", "modality_backbones")
        super().__init__(**kwargs)
        configs = config.tower_configs()
        towers = {
            "video": VIDEO_TOWERS[config.video_backbone],
            "audio": AUDIO_TOWERS[config.audio_backbone],
            "text": TEXT_TOWERS[config.text_backbone],
        }
        self.input_keys = {m: tower.input_key for m, tower in towers.items()}
        self.video = towers["video"].layer(configs["video"])
        self.audio = towers["audio"].layer(configs["audio"])
        self.text = towers["text"].layer(configs["text"])
        self.output_dims = {m: _output_dim(c) for m, c in configs.items()}
        self.built = True

    def call(self, batch, training=False):
        outputs = {}
        for modality in ("video", "audio", "text"):
            key = self.input_keys[modality]
            if key in batch:
                outputs[modality] = getattr(self, modality)(batch[key], training=training)
        if not outputs:
            raise KeyError(
                f"the batch holds none of the model inputs {sorted(self.input_keys.values())}; "
                f"got keys {sorted(batch)}"
            )
        return outputs

    def checkpoint_variables(self, prefix: str) -> dict[str, keras.Variable]:
        """Official paths ``vid_backbone/_base``, ``aud_backbone/_base``, ``txt_backbone``."""
        return {
            **self.video.checkpoint_variables(f"{prefix}/vid_backbone/_base"),
            **self.audio.checkpoint_variables(f"{prefix}/aud_backbone/_base"),
            **self.text.checkpoint_variables(f"{prefix}/txt_backbone"),
        }


class UnifiedBackboneAdapter(keras.layers.Layer):
    """UT as the backbone of a pre-training model (original ``UnifiedFusion``)."""

    def __init__(self, config: UnifiedFACConfig, **kwargs):
        kwargs.setdefault("name", "unified_backbones")
        super().__init__(**kwargs)
        backbone_config = config.backbone_config()
        self.unified = UnifiedBackbone(backbone_config)
        self.output_dims = dict.fromkeys(("video", "audio", "text"), backbone_config.d_post_proj)
        self.built = True

    def call(self, batch, training=False):
        return self.unified(batch, training=training)

    def checkpoint_variables(self, prefix: str) -> dict[str, keras.Variable]:
        """Official paths ``unified_backbone/unified_transformer/...``."""
        return self.unified.checkpoint_variables(f"{prefix}/unified_backbone/unified_transformer")


@keras.saving.register_keras_serializable(package="vatt")
class PretrainingModel(keras.Model):
    """Backbones + FAC head; see the module docstring for inputs and outputs.

    Args:
        config: a :class:`MultimodalConfig` (one tower per modality) or a
            :class:`UnifiedFACConfig` (UT).
    """

    def __init__(self, config: MultimodalConfig | UnifiedFACConfig, **kwargs):
        kwargs.setdefault("name", "vatt_pretraining")
        super().__init__(**kwargs)
        self.config = config
        if isinstance(config, UnifiedFACConfig):
            self.backbone = UnifiedBackboneAdapter(config)
        elif isinstance(config, MultimodalConfig):
            self.backbone = ModalityBackbones(config)
        else:
            raise TypeError(
                f"PretrainingModel needs a MultimodalConfig or UnifiedFACConfig, "
                f"got {type(config).__name__}"
            )
        dims = self.backbone.output_dims
        self.head = FACHead(dims["video"], dims["audio"], dims["text"], config.head)
        self.built = True

    def call(self, batch, training=False):
        features = self.backbone(batch, training=training)
        pooled = {m: outputs["features_pooled"] for m, outputs in features.items()}
        return {"backbone": features, "head": self.head(pooled, training=training)}

    def checkpoint_variables(self, prefix: str = ROOT_PREFIX) -> dict[str, keras.Variable]:
        """Official paths: ``{prefix}/_base_layer/...`` and ``{prefix}/_head_layer/...``."""
        return {
            **self.backbone.checkpoint_variables(f"{prefix}/_base_layer"),
            **self.head.checkpoint_variables(f"{prefix}/_head_layer/_bridge_heads/0"),
        }

    def get_config(self):
        return {
            "name": self.name,
            "config_type": type(self.config).__name__,
            "config": self.config.to_dict(),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        kind = {"MultimodalConfig": MultimodalConfig, "UnifiedFACConfig": UnifiedFACConfig}
        arch_config = kind[config.pop("config_type")].from_dict(config.pop("config"))
        return cls(arch_config, **config)


def _output_dim(config) -> int:
    if isinstance(config, TextConfig):
        return config.d_post_proj or config.d_model
    return config.output_dim


def tx_fac_config() -> MultimodalConfig:
    """``tx_fac`` (= MBS): ViT-Medium, WaT-Base, T5-Small, FAC 512/256."""
    return MultimodalConfig()


def tx_fac_bbs_config() -> MultimodalConfig:
    """BBS: ViT-Base, WaT-Base, T5-Small."""
    return MultimodalConfig(video_backbone="vit_base")


def tx_fac_lbs_config() -> MultimodalConfig:
    """LBS: ViT-Large, WaT-Base, T5-Small."""
    return MultimodalConfig(video_backbone="vit_large")


def mmv_fac_config() -> MultimodalConfig:
    """``mmv_fac``: the MMV CNN baseline, I3D + ResNet-2D-50 (on ``audio_spectrogram``) + linear.

    The original passes ``width_multiplier 2`` to I3D, which ignores it; we keep the value.
    """
    return MultimodalConfig(
        video_backbone="i3d",
        audio_backbone="resnet2d_50",
        text_backbone="linear",
        video_model_kwargs={"width_multiplier": 2},
    )


def ut_fac_config() -> UnifiedFACConfig:
    """``ut_fac``: UT-Medium with the FAC head."""
    return UnifiedFACConfig()


_TINY_TRANSFORMER = {"d_model": 32, "d_kv": 8, "d_ff": 64, "num_layers": 2, "num_heads": 4}
_TINY_HEAD = {"va_dim": 20, "vat_dim": 12}
#: Sizes of the ``tx_fac_tiny`` reference fixture.
TX_FAC_TINY = {
    "video_model_kwargs": {
        **_TINY_TRANSFORMER,
        "temporal_patch_size": 2,
        "spatial_patch_size": 8,
        "max_temporal_buckets": 3,
        "max_vertical_buckets": 4,
        "max_horizontal_buckets": 6,
    },
    "audio_model_kwargs": {**_TINY_TRANSFORMER, "max_temporal_buckets": 8},
    "text_model_kwargs": {
        **_TINY_TRANSFORMER,
        "d_pre_proj": 32,
        "d_embedding": 24,
        "vocab_size": 1000,
    },
    "head": _TINY_HEAD,
}
UT_FAC_TINY = {"unified_model_kwargs": UT_TINY, "head": _TINY_HEAD}
#: The CNNs keep their structure (one block per ResNet group); the text tower shrinks.
MMV_FAC_TINY = {
    "video_model_kwargs": {"width_multiplier": 2},
    "audio_model_kwargs": {"blocks_per_group": (1, 1, 1, 1)},
    "text_model_kwargs": {"vocab_size": 1000, "d_embedding": 24, "d_model": 32},
    "head": _TINY_HEAD,
}


def _build(config: MultimodalConfig | UnifiedFACConfig) -> PretrainingModel:
    return PretrainingModel(config)


for _name, _factory in (
    ("tx_fac", tx_fac_config),
    ("tx_fac_mbs", tx_fac_config),
    ("tx_fac_bbs", tx_fac_bbs_config),
    ("tx_fac_lbs", tx_fac_lbs_config),
):
    register_arch(_name, _factory, tiny=TX_FAC_TINY)(_build)
register_arch("ut_fac", ut_fac_config, tiny=UT_FAC_TINY)(_build)
register_arch("mmv_fac", mmv_fac_config, tiny=MMV_FAC_TINY)(_build)
