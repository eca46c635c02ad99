"""Fine-tuning classifiers on the video and audio backbones (spec §1.10) and their archs.

A classifier takes the batch dict of contract 1 and returns
``{"logits": (B, C), "features_pooled": (B, D)}``. Probabilities (softmax for video, sigmoid
for AudioSet-style audio) and multi-view averaging belong to the loss and the evaluator.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import keras
from keras import ops

from vatt.models.backbones import (
    TINY_TRANSFORMER,
    SpT,
    SpTConfig,
    TransformerBackbone,
    ViT3D,
    ViTConfig,
    WaT,
    WaTConfig,
)
from vatt.models.checkpoints import keras_layer_variables
from vatt.models.registry import ArchConfig, register_arch

#: Number of classes of the default fine-tuning datasets (Kinetics-400, AudioSet).
KINETICS400_CLASSES = 400
AUDIOSET_CLASSES = 527


@dataclasses.dataclass
class VideoClassifierConfig(ArchConfig):
    """ViT-3D plus a softmax classifier; defaults are ``vit_base`` on Kinetics-400."""

    backbone: ViTConfig = dataclasses.field(default_factory=ViTConfig)
    num_classes: int = KINETICS400_CLASSES
    cls_dropout_rate: float = 0.5
    freeze_backbone: bool = False


@dataclasses.dataclass
class WaveformClassifierConfig(ArchConfig):
    """WaT plus a sigmoid (multi-label) classifier; defaults are ``wat_base`` on AudioSet."""

    backbone: WaTConfig = dataclasses.field(default_factory=WaTConfig)
    num_classes: int = AUDIOSET_CLASSES
    cls_dropout_rate: float = 0.0
    freeze_backbone: bool = False


@dataclasses.dataclass
class SpectrogramClassifierConfig(ArchConfig):
    """SpT plus a sigmoid (multi-label) classifier; defaults are ``spt_base`` on AudioSet."""

    backbone: SpTConfig = dataclasses.field(default_factory=SpTConfig)
    num_classes: int = AUDIOSET_CLASSES
    cls_dropout_rate: float = 0.0
    freeze_backbone: bool = False


ClassifierConfig = VideoClassifierConfig | WaveformClassifierConfig | SpectrogramClassifierConfig


class Classifier(keras.Model):
    """Backbone -> dropout -> Dense classifier on ``features_pooled``.

    Subclasses set the batch key they read, the backbone class and the classifier init.
    The layout of :meth:`checkpoint_variables` is that of the official fine-tuned checkpoints:
    backbone under ``_base/``, classifier under ``_ops/cls/``.
    """

    input_key: str = ""
    input_description: str = ""
    backbone_class: type[TransformerBackbone] = TransformerBackbone
    config_class: type[ArchConfig] = ArchConfig

    def __init__(self, config: ClassifierConfig, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        if config.num_classes < 1:
            raise ValueError(f"num_classes must be positive, got {config.num_classes}")
        if not 0.0 <= config.cls_dropout_rate < 1.0:
            raise ValueError(f"cls_dropout_rate must be in [0, 1), got {config.cls_dropout_rate}")
        self.config = config
        with keras.name_scope(self.name):  # sub-layers are built here: scope their paths
            self.backbone = self.backbone_class(config.backbone)
            self.cls = keras.layers.Dense(
                config.num_classes,
                kernel_initializer=self._kernel_initializer(),
                bias_initializer=self._bias_initializer(),
                # Logits in the variable dtype (float32 under mixed precision) for a stable loss.
                dtype=keras.mixed_precision.global_policy().variable_dtype,
                name="classification",
            )
            self.cls.build((None, config.backbone.output_dim))
        if config.freeze_backbone:
            self.backbone.trainable = False
        self.dropout = keras.layers.Dropout(config.cls_dropout_rate)
        self.built = True

    def _kernel_initializer(self):
        return "glorot_uniform"

    def _bias_initializer(self):
        return "zeros"

    def call(self, inputs, training=False):
        if not isinstance(inputs, Mapping) or self.input_key not in inputs:
            got = sorted(inputs) if isinstance(inputs, Mapping) else type(inputs).__name__
            raise KeyError(
                f"{type(self).__name__} expects a batch dict with key {self.input_key!r} "
                f"({self.input_description}); got {got}"
            )
        outputs = self.backbone(inputs[self.input_key], training=training)
        pooled = outputs["features_pooled"]
        if self.config.freeze_backbone:
            pooled = ops.stop_gradient(pooled)
        logits = self.cls(self.dropout(pooled, training=training))
        return {"logits": logits, "features_pooled": pooled}

    def checkpoint_variables(self, prefix: str) -> dict[str, keras.Variable]:
        """Official fine-tune layout: ``{prefix}/_base/...`` and ``{prefix}/_ops/cls/*``."""
        return {
            **self.backbone.checkpoint_variables(f"{prefix}/_base"),
            **keras_layer_variables(self.cls, f"{prefix}/_ops/cls"),
        }

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, "config": self.config.to_dict()}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        arch_config = cls.config_class.from_dict(config.pop("config"))
        return cls(arch_config, **config)


@keras.saving.register_keras_serializable(package="vatt")
class VideoClassifier(Classifier):
    """ViT-3D video classifier; kernel glorot_normal, zero bias (softmax targets)."""

    input_key = "video"
    input_description = "float32 video (B, T, H, W, 3) in [-1, 1]"
    backbone_class = ViT3D
    config_class = VideoClassifierConfig

    def _kernel_initializer(self):
        return "glorot_normal"


class _AudioClassifier(Classifier):
    """Audio classifiers start with bias ``-log(C - 1)``: sigmoid outputs of about 1/C."""

    def _bias_initializer(self):
        classes = self.config.num_classes
        return keras.initializers.Constant(-math.log(classes - 1) if classes > 1 else 0.0)


@keras.saving.register_keras_serializable(package="vatt")
class WaveformClassifier(_AudioClassifier):
    """WaT classifier on the raw waveform."""

    input_key = "audio"
    input_description = "float32 waveform (B, S) or (B, S, 1)"
    backbone_class = WaT
    config_class = WaveformClassifierConfig


@keras.saving.register_keras_serializable(package="vatt")
class SpectrogramClassifier(_AudioClassifier):
    """SpT classifier on the log-mel spectrogram."""

    input_key = "audio_spectrogram"
    input_description = "float32 log-mel spectrogram (B, F, M, 1)"
    backbone_class = SpT
    config_class = SpectrogramClassifierConfig


# Tiny sizes: the reference fixtures' Transformer with small patch grids.
_TINY_VIT = {
    **TINY_TRANSFORMER,
    "temporal_patch_size": 2,
    "spatial_patch_size": 8,
    "max_temporal_buckets": 2,
    "max_vertical_buckets": 2,
    "max_horizontal_buckets": 2,
}
_TINY_WAT = {**TINY_TRANSFORMER, "max_temporal_buckets": 8}
_TINY_SPT = {**TINY_TRANSFORMER, "max_temporal_buckets": 2, "max_spectoral_buckets": 4}


_VIDEO_TINY = {"backbone": _TINY_VIT, "num_classes": 5}
_WAVEFORM_TINY = {"backbone": _TINY_WAT, "num_classes": 5}
_SPECTROGRAM_TINY = {"backbone": _TINY_SPT, "num_classes": 5}


def _video(size: str) -> VideoClassifierConfig:
    return VideoClassifierConfig(backbone=ViTConfig.sized(size))


def _waveform(size: str) -> WaveformClassifierConfig:
    return WaveformClassifierConfig(backbone=WaTConfig.sized(size))


def _spectrogram(size: str) -> SpectrogramClassifierConfig:
    return SpectrogramClassifierConfig(backbone=SpTConfig.sized(size))


@register_arch("vit_base", lambda: _video("base"), tiny=_VIDEO_TINY)
def vit_base(config: VideoClassifierConfig) -> VideoClassifier:
    """ViT-Base (768 wide, 12 layers, 12 heads; backbone 87,446,016 parameters)."""
    return VideoClassifier(config, name="vit_base")


@register_arch("vit_medium", lambda: _video("medium"), tiny=_VIDEO_TINY)
def vit_medium(config: VideoClassifierConfig) -> VideoClassifier:
    """ViT-Medium (1024 wide, 12 layers, 16 heads; backbone 154,343,424 parameters)."""
    return VideoClassifier(config, name="vit_medium")


@register_arch("vit_large", lambda: _video("large"), tiny=_VIDEO_TINY)
def vit_large(config: VideoClassifierConfig) -> VideoClassifier:
    """ViT-Large (1024 wide, 24 layers, 16 heads; backbone 305,498,112 parameters)."""
    return VideoClassifier(config, name="vit_large")


@register_arch("wat_base", lambda: _waveform("base"), tiny=_WAVEFORM_TINY)
def wat_base(config: WaveformClassifierConfig) -> WaveformClassifier:
    """WaT-Base (768 wide, 12 layers, 12 heads; backbone 86,078,976 parameters)."""
    return WaveformClassifier(config, name="wat_base")


@register_arch("wat_medium", lambda: _waveform("medium"), tiny=_WAVEFORM_TINY)
def wat_medium(config: WaveformClassifierConfig) -> WaveformClassifier:
    """WaT-Medium (1024 wide, 12 layers, 16 heads; backbone 152,520,704 parameters)."""
    return WaveformClassifier(config, name="wat_medium")


@register_arch("spt_base", lambda: _spectrogram("base"), tiny=_SPECTROGRAM_TINY)
def spt_base(config: SpectrogramClassifierConfig) -> SpectrogramClassifier:
    """SpT-Base (768 wide, 12 layers, 12 heads, no biases; backbone 85,056,768 parameters)."""
    return SpectrogramClassifier(config, name="spt_base")


@register_arch("spt_medium", lambda: _spectrogram("medium"), tiny=_SPECTROGRAM_TINY)
def spt_medium(config: SpectrogramClassifierConfig) -> SpectrogramClassifier:
    """SpT-Medium (1024 wide, 12 layers, 16 heads, no biases; backbone 151,157,760 parameters)."""
    return SpectrogramClassifier(config, name="spt_medium")
