"""Fine-tuning classifiers on the CNN backbones and their archs ``i3d``, ``resnet2d_50|101``.

The heads are those of the Transformer classifiers (spec §1.10): I3D takes the video head
(dropout 0.5, glorot-normal kernel, softmax targets), ResNet-2D the audio head (no dropout,
bias ``-log(C - 1)``, sigmoid targets) on the log-mel spectrogram.
"""

from __future__ import annotations

import dataclasses

import keras

from vatt.models.classifiers import (
    AUDIOSET_CLASSES,
    KINETICS400_CLASSES,
    SpectrogramClassifier,
    VideoClassifier,
)
from vatt.models.cnn.i3d import I3D, I3DConfig
from vatt.models.cnn.resnet2d import BLOCKS_PER_GROUP, ResNet2D, ResNet2DConfig
from vatt.models.registry import ArchConfig, register_arch


@dataclasses.dataclass
class I3DClassifierConfig(ArchConfig):
    """I3D plus a softmax classifier; defaults are ``i3d`` on Kinetics-400."""

    backbone: I3DConfig = dataclasses.field(default_factory=I3DConfig)
    num_classes: int = KINETICS400_CLASSES
    cls_dropout_rate: float = 0.5
    freeze_backbone: bool = False


@dataclasses.dataclass
class ResNet2DClassifierConfig(ArchConfig):
    """ResNet-2D plus a sigmoid (multi-label) classifier; defaults are ``resnet2d_50`` on AudioSet."""

    backbone: ResNet2DConfig = dataclasses.field(default_factory=ResNet2DConfig)
    num_classes: int = AUDIOSET_CLASSES
    cls_dropout_rate: float = 0.0
    freeze_backbone: bool = False


@keras.saving.register_keras_serializable(package="vatt")
class I3DClassifier(VideoClassifier):
    """I3D video classifier on the batch key ``video``."""

    backbone_class = I3D
    config_class = I3DClassifierConfig


@keras.saving.register_keras_serializable(package="vatt")
class ResNet2DClassifier(SpectrogramClassifier):
    """ResNet-2D audio classifier on the batch key ``audio_spectrogram``."""

    backbone_class = ResNet2D
    config_class = ResNet2DClassifierConfig


# The CNNs keep their published layer structure at any size; tiny ResNets keep one block per
# group so that a CPU test still runs every kind of layer (projection, identity, zero-init BN).
_I3D_TINY = {"num_classes": 5}
_RESNET_TINY = {"backbone": {"blocks_per_group": (1, 1, 1, 1)}, "num_classes": 5}


def _resnet(depth: int) -> ResNet2DClassifierConfig:
    return ResNet2DClassifierConfig(
        backbone=ResNet2DConfig(blocks_per_group=BLOCKS_PER_GROUP[depth])
    )


@register_arch("i3d", I3DClassifierConfig, tiny=_I3D_TINY)
def i3d(config: I3DClassifierConfig) -> I3DClassifier:
    """Inception-I3D (1024-d features, 12,287,264 trainable backbone parameters)."""
    return I3DClassifier(config, name="i3d")


@register_arch("resnet2d_50", lambda: _resnet(50), tiny=_RESNET_TINY)
def resnet2d_50(config: ResNet2DClassifierConfig) -> ResNet2DClassifier:
    """ResNet-50 on a 1-channel spectrogram (2048-d features, 23,501,760 backbone parameters)."""
    return ResNet2DClassifier(config, name="resnet2d_50")


@register_arch("resnet2d_101", lambda: _resnet(101), tiny=_RESNET_TINY)
def resnet2d_101(config: ResNet2DClassifierConfig) -> ResNet2DClassifier:
    """ResNet-101 on a 1-channel spectrogram (2048-d features, 42,493,888 backbone parameters)."""
    return ResNet2DClassifier(config, name="resnet2d_101")
