"""Fine-tuning classifiers on the video and audio backbones (spec §1.10) and their archs.

One classifier per modality, whatever its backbone: :class:`VideoClassifier` on ViT-3D or I3D
(``vit_*``, ``i3d``) and :class:`AudioClassifier` on WaT, SpT or ResNet-2D (``wat_*``,
``spt_*``, ``resnet2d_*``). The classifier fields are those of :class:`ClassifierConfig`; each
subclass only types ``backbone``, the very config the same tower has inside a pre-training
model (``video``/``audio`` of ``MultimodalConfig``), so every backbone knob has one name in
both places. The backbone says which batch key it reads.

A classifier takes the batch dict of contract 1 and returns
``{"logits": (B, C), "features_pooled": (B, D)}``. Probabilities (softmax for video, sigmoid
for AudioSet-style audio) and multi-view averaging belong to the loss and the evaluator.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

import keras
from keras import ops

from vatt.models.backbones import TINY_TRANSFORMER, SpTConfig, ViTConfig, WaTConfig
from vatt.models.checkpoints import keras_layer_variables
from vatt.models.cnn import BLOCKS_PER_GROUP, I3DConfig, ResNet2DConfig
from vatt.models.layers.dropout import Dropout
from vatt.models.registry import ArchConfig, register_arch

#: Number of classes of the default fine-tuning datasets (Kinetics-400, AudioSet).
KINETICS400_CLASSES = 400
AUDIOSET_CLASSES = 527

#: What a classifier reads under each batch key, for error messages.
_INPUTS = {
    "video": "float32 video (B, T, H, W, 3) in [-1, 1]",
    "audio": "float32 waveform (B, S) or (B, S, 1)",
    "audio_spectrogram": "float32 log-mel spectrogram (B, F, M, 1)",
}


@dataclasses.dataclass
class ClassifierConfig(ArchConfig):
    """A backbone plus a Dense classifier on its pooled features (original ``ModelConfig``).

    Subclasses add ``backbone``, typed by its config class. Defaults are a video classifier's.
    """

    num_classes: int = KINETICS400_CLASSES
    cls_dropout_rate: float = 0.5
    freeze_backbone: bool = False

    def __post_init__(self) -> None:
        if self.num_classes < 1:
            raise ValueError(f"num_classes must be positive, got {self.num_classes}")
        if not 0.0 <= self.cls_dropout_rate < 1.0:
            raise ValueError(f"cls_dropout_rate must be in [0, 1), got {self.cls_dropout_rate}")


@dataclasses.dataclass
class VideoClassifierConfig(ClassifierConfig):
    """ViT-3D plus a softmax classifier; defaults are ``vit_base`` on Kinetics-400."""

    backbone: ViTConfig = dataclasses.field(default_factory=ViTConfig)


@dataclasses.dataclass
class I3DClassifierConfig(ClassifierConfig):
    """I3D plus a softmax classifier; defaults are ``i3d`` on Kinetics-400."""

    backbone: I3DConfig = dataclasses.field(default_factory=I3DConfig)


@dataclasses.dataclass
class AudioClassifierConfig(ClassifierConfig):
    """The defaults of a sigmoid (multi-label) audio classifier: AudioSet, no dropout."""

    num_classes: int = AUDIOSET_CLASSES
    cls_dropout_rate: float = 0.0


@dataclasses.dataclass
class WaveformClassifierConfig(AudioClassifierConfig):
    """WaT plus a sigmoid classifier; defaults are ``wat_base`` on AudioSet."""

    backbone: WaTConfig = dataclasses.field(default_factory=WaTConfig)


@dataclasses.dataclass
class SpectrogramClassifierConfig(AudioClassifierConfig):
    """SpT plus a sigmoid classifier; defaults are ``spt_base`` on AudioSet."""

    backbone: SpTConfig = dataclasses.field(default_factory=SpTConfig)


@dataclasses.dataclass
class ResNet2DClassifierConfig(AudioClassifierConfig):
    """ResNet-2D plus a sigmoid classifier; defaults are ``resnet2d_50`` on AudioSet."""

    backbone: ResNet2DConfig = dataclasses.field(default_factory=ResNet2DConfig)


#: Every classifier config class by name, to rebuild a classifier from its Keras config.
_CONFIGS = {
    c.__name__: c
    for c in (
        VideoClassifierConfig,
        I3DClassifierConfig,
        WaveformClassifierConfig,
        SpectrogramClassifierConfig,
        ResNet2DClassifierConfig,
    )
}


class Classifier(keras.Model):
    """Backbone -> dropout -> Dense classifier on ``features_pooled``.

    Subclasses set the classifier init. The layout of :meth:`checkpoint_variables` is that of
    the official fine-tuned checkpoints: backbone under ``_base/``, classifier under
    ``_ops/cls/``.
    """

    def __init__(self, config: ClassifierConfig, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.config = config
        with keras.name_scope(self.name):  # sub-layers are built here: scope their paths
            self.backbone = config.backbone.build_layer()
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
        self.dropout = Dropout(config.cls_dropout_rate)
        self.built = True

    @property
    def input_key(self) -> str:
        """The batch key the backbone reads (``video``, ``audio`` or ``audio_spectrogram``)."""
        return self.backbone.input_key

    def _kernel_initializer(self):
        return "glorot_uniform"

    def _bias_initializer(self):
        return "zeros"

    def call(self, inputs, training=False):
        if not isinstance(inputs, Mapping) or self.input_key not in inputs:
            got = sorted(inputs) if isinstance(inputs, Mapping) else type(inputs).__name__
            raise KeyError(
                f"{type(self).__name__} expects a batch dict with key {self.input_key!r} "
                f"({_INPUTS[self.input_key]}); got {got}"
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

    def get_config(self) -> dict[str, Any]:
        """Keras config: the base model's, the config and its class name."""
        return {
            **super().get_config(),
            "config_type": type(self.config).__name__,
            "config": self.config.to_dict(),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Classifier:
        """The classifier rebuilt from :meth:`get_config`'s output."""
        config = dict(config)
        arch_config = _CONFIGS[config.pop("config_type")].from_dict(config.pop("config"))
        return cls(arch_config, **config)


def _sized(config_class: type, backbone_class: type, size: str) -> Callable[[], Any]:
    """Default-config factory of a classifier arch on a Transformer of a named size."""
    return lambda: config_class(backbone=backbone_class.sized(size))


def _resnet(depth: int) -> Callable[[], ResNet2DClassifierConfig]:
    """Default-config factory of a ResNet-2D classifier arch of the given depth."""
    blocks = BLOCKS_PER_GROUP[depth]
    return lambda: ResNet2DClassifierConfig(backbone=ResNet2DConfig(blocks_per_group=blocks))


# Tiny sizes: the reference fixtures' Transformer with small patch grids; the CNNs keep their
# published structure (tiny ResNets keep one block per group, so that a CPU test still runs
# every kind of layer: projection, identity, zero-init BN).
_VIT_TINY = {
    "backbone": {
        **TINY_TRANSFORMER,
        "temporal_patch_size": 2,
        "spatial_patch_size": 8,
        "max_temporal_buckets": 2,
        "max_vertical_buckets": 2,
        "max_horizontal_buckets": 2,
    },
    "num_classes": 5,
}
_WAT_TINY = {"backbone": {**TINY_TRANSFORMER, "max_temporal_buckets": 8}, "num_classes": 5}
_SPT_TINY = {
    "backbone": {**TINY_TRANSFORMER, "max_temporal_buckets": 2, "max_spectoral_buckets": 4},
    "num_classes": 5,
}
_I3D_TINY = {"num_classes": 5}
_RESNET_TINY = {"backbone": {"blocks_per_group": [1, 1, 1, 1]}, "num_classes": 5}


# Backbone parameters: vit_base 87,446,016, vit_medium 154,343,424, vit_large 305,498,112;
# i3d 12,287,264 trainable (1024-d features).
@register_arch(
    "vit_base", _sized(VideoClassifierConfig, ViTConfig, "base"), tiny=_VIT_TINY, tower="video"
)
@register_arch(
    "vit_medium", _sized(VideoClassifierConfig, ViTConfig, "medium"), tiny=_VIT_TINY, tower="video"
)
@register_arch(
    "vit_large", _sized(VideoClassifierConfig, ViTConfig, "large"), tiny=_VIT_TINY, tower="video"
)
@register_arch(
    "vit_xlarge", _sized(VideoClassifierConfig, ViTConfig, "xlarge"), tiny=_VIT_TINY, tower="video"
)
@register_arch("i3d", I3DClassifierConfig, tiny=_I3D_TINY, tower="video")
@keras.saving.register_keras_serializable(package="vatt")
class VideoClassifier(Classifier):
    """Video classifier; kernel glorot_normal, zero bias (softmax targets)."""

    def _kernel_initializer(self):
        return "glorot_normal"


# Backbone parameters: wat_base 86,078,976, wat_medium 152,520,704; spt_base 85,056,768,
# spt_medium 151,157,760 (no biases); resnet2d_50 23,501,760, resnet2d_101 42,493,888
# (2048-d features).
@register_arch(
    "wat_base", _sized(WaveformClassifierConfig, WaTConfig, "base"), tiny=_WAT_TINY, tower="audio"
)
@register_arch(
    "wat_medium",
    _sized(WaveformClassifierConfig, WaTConfig, "medium"),
    tiny=_WAT_TINY,
    tower="audio",
)
@register_arch(
    "wat_large", _sized(WaveformClassifierConfig, WaTConfig, "large"), tiny=_WAT_TINY, tower="audio"
)
@register_arch(
    "spt_base",
    _sized(SpectrogramClassifierConfig, SpTConfig, "base"),
    tiny=_SPT_TINY,
    tower="audio",
)
@register_arch(
    "spt_medium",
    _sized(SpectrogramClassifierConfig, SpTConfig, "medium"),
    tiny=_SPT_TINY,
    tower="audio",
)
@register_arch(
    "spt_large",
    _sized(SpectrogramClassifierConfig, SpTConfig, "large"),
    tiny=_SPT_TINY,
    tower="audio",
)
@register_arch("resnet2d_50", _resnet(50), tiny=_RESNET_TINY, tower="audio")
@register_arch("resnet2d_101", _resnet(101), tiny=_RESNET_TINY, tower="audio")
@keras.saving.register_keras_serializable(package="vatt")
class AudioClassifier(Classifier):
    """Audio classifier; bias ``-log(C - 1)``: sigmoid outputs of about 1/C at the start."""

    def _bias_initializer(self):
        classes = self.config.num_classes
        return keras.initializers.Constant(-math.log(classes - 1) if classes > 1 else 0.0)
