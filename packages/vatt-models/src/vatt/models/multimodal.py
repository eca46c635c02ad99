"""VATT pre-training models: backbones for video, audio and text, then the FAC head.

Two families, as in the original ``MMRLModel``:

* modality-specific towers (``tx_fac*``: ViT-3D + WaT/SpT + T5/BERT; ``mmv_fac``: I3D +
  ResNet-2D + linear text), each named in the config by a tower arch (``video_backbone``...)
  and configured by that arch's own typed backbone config (``video``...); each backbone reads
  its own batch key (SpT and ResNet-2D ``audio_spectrogram``, WaT ``audio``);
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
import functools
from collections.abc import Callable
from typing import Any, ClassVar

import keras

from vatt.models.backbones import SpTConfig, ViTConfig, WaTConfig
from vatt.models.checkpoints import ROOT_PREFIX
from vatt.models.cnn import I3DConfig, ResNet2DConfig
from vatt.models.heads import FACHead, FACHeadConfig
from vatt.models.registry import ArchConfig, register_arch, tower_config
from vatt.models.text import TextConfig
from vatt.models.unified import MODALITIES, UT_TINY, UnifiedConfig


def _tower(kind: str) -> Callable[[str], Any]:
    """The CHOICES factory of a tower field: tower arch name -> its default backbone config."""
    return functools.partial(tower_config, tower=kind)


@dataclasses.dataclass
class _TowersConfig(ArchConfig):
    """A config whose tower fields are chosen by arch name (see ``CHOICES``).

    A tower left ``None`` gets the named arch's default backbone config; a tower config whose
    class is not the named arch's is an error.
    """

    def __post_init__(self) -> None:
        for field, (selector, factory) in self.CHOICES.items():
            name = getattr(self, selector)
            default = factory(name)
            current = getattr(self, field)
            if current is None:
                setattr(self, field, default)
            elif type(current) is not type(default):
                raise ValueError(
                    f"{field} is a {type(current).__name__} but {selector}={name!r} takes "
                    f"{type(default).__name__}; change {selector} or leave {field} unset"
                )


@dataclasses.dataclass
class MultimodalConfig(_TowersConfig):
    """A pre-training model with one backbone per modality (original ``TxFACModel``).

    ``*_backbone`` name a tower arch (``list_archs(tower="video")`` etc.) and ``video``,
    ``audio``, ``text`` hold that tower's backbone config, the same class and fields as the
    standalone arch's ``backbone`` (``vit_base``'s ``backbone.patch_sampling_rate`` is
    ``video.patch_sampling_rate`` here). Setting ``video_backbone`` by override resets ``video``
    to the new arch's defaults before ``video``'s own overrides apply. The defaults are
    ``tx_fac`` (= MBS).
    """

    CHOICES: ClassVar[dict[str, tuple[str, Callable[[str], Any]]]] = {
        modality: (f"{modality}_backbone", _tower(modality)) for modality in MODALITIES
    }
    #: The original's free-form ``*_model_kwargs`` are the typed tower configs now.
    RENAMED: ClassVar[dict[str, str]] = {f"{m}_model_kwargs": m for m in MODALITIES}

    video_backbone: str = "vit_medium"
    audio_backbone: str = "wat_base"
    text_backbone: str = "t5_small"
    video: ViTConfig | I3DConfig | None = None
    audio: WaTConfig | SpTConfig | ResNet2DConfig | None = None
    text: TextConfig | None = None
    head: FACHeadConfig = dataclasses.field(default_factory=FACHeadConfig)


@dataclasses.dataclass
class UnifiedFACConfig(_TowersConfig):
    """A pre-training model on the shared UT backbone (original ``UnifiedTxFACModel``).

    ``unified_backbone`` names a UT arch and ``unified`` holds its :class:`UnifiedConfig`.
    """

    CHOICES: ClassVar[dict[str, tuple[str, Callable[[str], Any]]]] = {
        "unified": ("unified_backbone", _tower("unified"))
    }
    RENAMED: ClassVar[dict[str, str]] = {"unified_model_kwargs": "unified"}

    unified_backbone: str = "ut_medium"
    unified: UnifiedConfig | None = None
    head: FACHeadConfig = dataclasses.field(default_factory=FACHeadConfig)


class ModalityBackbones(keras.layers.Layer):
    """One backbone per modality (the original ``AudioTextVideoFusion``)."""

    def __init__(self, config: MultimodalConfig, **kwargs):
        kwargs.setdefault("name", "modality_backbones")
        super().__init__(**kwargs)
        self.video = config.video.build_layer()
        self.audio = config.audio.build_layer()
        self.text = config.text.build_layer()
        self.input_keys = {m: getattr(self, m).input_key for m in MODALITIES}
        self.output_dims = {m: getattr(config, m).output_dim for m in MODALITIES}
        self.built = True

    def call(self, batch, training=False):
        outputs = {}
        for modality in MODALITIES:
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


_TINY_TRANSFORMER = {"d_model": 32, "d_kv": 8, "d_ff": 64, "num_layers": 2, "num_heads": 4}
_TINY_HEAD = {"va_dim": 20, "vat_dim": 12}
#: Sizes of the ``tx_fac_tiny`` reference fixture.
TX_FAC_TINY = {
    "video": {
        **_TINY_TRANSFORMER,
        "temporal_patch_size": 2,
        "spatial_patch_size": 8,
        "max_temporal_buckets": 3,
        "max_vertical_buckets": 4,
        "max_horizontal_buckets": 6,
    },
    "audio": {**_TINY_TRANSFORMER, "max_temporal_buckets": 8},
    "text": {
        **_TINY_TRANSFORMER,
        "d_pre_proj": 32,
        "d_embedding": 24,
        "vocab_size": 1000,
    },
    "head": _TINY_HEAD,
}
UT_FAC_TINY = {"unified": UT_TINY, "head": _TINY_HEAD}
#: The CNNs keep their structure (one block per ResNet group); the text tower shrinks.
MMV_FAC_TINY = {
    "video": {"width_multiplier": 2},
    "audio": {"blocks_per_group": [1, 1, 1, 1]},
    "text": {"vocab_size": 1000, "d_embedding": 24, "d_model": 32},
    "head": _TINY_HEAD,
}


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
        video=I3DConfig(width_multiplier=2),
    )


def ut_fac_config() -> UnifiedFACConfig:
    """``ut_fac``: UT-Medium with the FAC head."""
    return UnifiedFACConfig()


@register_arch("tx_fac", tx_fac_config, tiny=TX_FAC_TINY)
@register_arch("tx_fac_mbs", tx_fac_config, tiny=TX_FAC_TINY)
@register_arch("tx_fac_bbs", tx_fac_bbs_config, tiny=TX_FAC_TINY)
@register_arch("tx_fac_lbs", tx_fac_lbs_config, tiny=TX_FAC_TINY)
@register_arch("mmv_fac", mmv_fac_config, tiny=MMV_FAC_TINY)
@register_arch("ut_fac", ut_fac_config, tiny=UT_FAC_TINY)
@keras.saving.register_keras_serializable(package="vatt")
class PretrainingModel(keras.Model):
    """Backbones + FAC head; see the module docstring for inputs and outputs.

    Args:
        config: a :class:`MultimodalConfig` (one tower per modality) or a
            :class:`UnifiedFACConfig` (UT, whose modalities share one Transformer).
    """

    #: Object path of each kind of backbone under ``_base_layer`` in the official checkpoints.
    BACKBONE_PATHS: ClassVar[dict[type, str]] = {
        MultimodalConfig: "",
        UnifiedFACConfig: "/unified_backbone/unified_transformer",
    }

    def __init__(self, config: MultimodalConfig | UnifiedFACConfig, **kwargs):
        kwargs.setdefault("name", "vatt_pretraining")
        super().__init__(**kwargs)
        self.config = config
        if isinstance(config, UnifiedFACConfig):
            self.backbone = config.unified.build_layer()
            dims = dict.fromkeys(MODALITIES, config.unified.output_dim)
        elif isinstance(config, MultimodalConfig):
            self.backbone = ModalityBackbones(config)
            dims = self.backbone.output_dims
        else:
            raise TypeError(
                f"PretrainingModel needs a MultimodalConfig or UnifiedFACConfig, "
                f"got {type(config).__name__}"
            )
        self.head = FACHead(dims["video"], dims["audio"], dims["text"], config.head)
        self.built = True

    def call(self, batch, training=False):
        features = self.backbone(batch, training=training)
        pooled = {m: outputs["features_pooled"] for m, outputs in features.items()}
        return {"backbone": features, "head": self.head(pooled, training=training)}

    def checkpoint_variables(self, prefix: str = ROOT_PREFIX) -> dict[str, keras.Variable]:
        """Official paths: ``{prefix}/_base_layer/...`` and ``{prefix}/_head_layer/...``."""
        backbone_path = self.BACKBONE_PATHS[type(self.config)]
        return {
            **self.backbone.checkpoint_variables(f"{prefix}/_base_layer{backbone_path}"),
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
        kind = {c.__name__: c for c in cls.BACKBONE_PATHS}
        arch_config = kind[config.pop("config_type")].from_dict(config.pop("config"))
        return cls(arch_config, **config)
