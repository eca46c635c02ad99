"""CNN backbones of the MMV baseline: Inception-I3D (video) and ResNet-2D (audio spectrogram).

Importing this package registers the archs ``i3d``, ``resnet2d_50`` and ``resnet2d_101``.
"""

from vatt.models.cnn.batch_norm import BatchNormSettings
from vatt.models.cnn.classifiers import (
    I3DClassifier,
    I3DClassifierConfig,
    ResNet2DClassifier,
    ResNet2DClassifierConfig,
)
from vatt.models.cnn.i3d import I3D, INCEPTION_FILTERS, I3DConfig, InceptionFilters
from vatt.models.cnn.resnet2d import BLOCKS_PER_GROUP, ResNet2D, ResNet2DConfig

__all__ = [
    "BLOCKS_PER_GROUP",
    "BatchNormSettings",
    "I3D",
    "I3DClassifier",
    "I3DClassifierConfig",
    "I3DConfig",
    "INCEPTION_FILTERS",
    "InceptionFilters",
    "ResNet2D",
    "ResNet2DClassifier",
    "ResNet2DClassifierConfig",
    "ResNet2DConfig",
]
