"""CNN backbones of the MMV baseline: Inception-I3D (video) and ResNet-2D (audio spectrogram).

Their classifier archs ``i3d``, ``resnet2d_50`` and ``resnet2d_101`` are those of
:mod:`vatt.models.classifiers`.
"""

from vatt.models.cnn.batch_norm import BatchNormSettings, CNNBackboneConfig
from vatt.models.cnn.i3d import I3D, INCEPTION_FILTERS, I3DConfig, InceptionFilters
from vatt.models.cnn.resnet2d import BLOCKS_PER_GROUP, ResNet2D, ResNet2DConfig

__all__ = [
    "BLOCKS_PER_GROUP",
    "BatchNormSettings",
    "CNNBackboneConfig",
    "I3D",
    "I3DConfig",
    "INCEPTION_FILTERS",
    "InceptionFilters",
    "ResNet2D",
    "ResNet2DConfig",
]
