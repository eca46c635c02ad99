"""Raw-signal Transformer backbones: ViT-3D (video), WaT (waveform), SpT (spectrogram)."""

from vatt.models.backbones.base import (
    SIZES,
    TINY_TRANSFORMER,
    DropTokenConfig,
    TransformerBackbone,
    TransformerBackboneConfig,
)
from vatt.models.backbones.spt import SpT, SpTConfig
from vatt.models.backbones.vit import ViT3D, ViTConfig
from vatt.models.backbones.wat import WaT, WaTConfig

__all__ = [
    "SIZES",
    "TINY_TRANSFORMER",
    "DropTokenConfig",
    "SpT",
    "SpTConfig",
    "TransformerBackbone",
    "TransformerBackboneConfig",
    "ViT3D",
    "ViTConfig",
    "WaT",
    "WaTConfig",
]
