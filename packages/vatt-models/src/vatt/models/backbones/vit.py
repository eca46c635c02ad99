"""ViT-3D: the VATT video Transformer (original ``ViTx3D``, spec §1.2)."""

from __future__ import annotations

import dataclasses

import keras

from vatt.models.backbones.base import (
    DropTokenConfig,
    TransformerBackbone,
    TransformerBackboneConfig,
)
from vatt.models.layers import SpatioTemporalEmbeddings


@dataclasses.dataclass
class ViTConfig(DropTokenConfig, TransformerBackboneConfig):
    """ViT-3D hyper-parameters; defaults are ``vit_base`` (original names).

    Video is cut into ``temporal_patch_size x spatial_patch_size^2`` voxels; the positional
    tables have ``max_*_buckets`` rows (32 frames / 4, 224 pixels / 16 in pre-training).
    DropToken (:class:`DropTokenConfig`) samples from the ``T*H*W`` buckets.
    """

    temporal_patch_size: int = 4
    spatial_patch_size: int = 16
    max_temporal_buckets: int = 8
    max_vertical_buckets: int = 14
    max_horizontal_buckets: int = 14

    def build_layer(self, **kwargs) -> ViT3D:
        """The :class:`ViT3D` backbone of this config."""
        return ViT3D(self, **kwargs)


class ViT3D(TransformerBackbone):
    """Video backbone: Conv3D voxel patches, factorised 3-D positions, DropToken, Transformer.

    Call args:
        inputs: video ``(B, T, H, W, 3)`` in [-1, 1]; T must be a multiple of
            ``temporal_patch_size`` and H, W multiples of ``spatial_patch_size``.
        training: enables dropout and DropToken.

    Returns:
        ``{"features_pooled": (B, D), "features": (B, N, D)}`` with N = T'·H'·W' tokens in
        t-major order (or the DropToken-kept tokens in training).
    """

    config_class = ViTConfig
    input_key = "video"
    patch_attr = "voxel_to_patch"
    expected_input = "video of shape (B, T, H, W, 3)"

    def __init__(self, config: ViTConfig, name: str = "vit", **kwargs):
        super().__init__(config, name=name, **kwargs)
        with self._scoped():
            patch = (
                config.temporal_patch_size,
                config.spatial_patch_size,
                config.spatial_patch_size,
            )
            self.voxel_to_patch = keras.layers.Conv3D(
                config.d_model,
                kernel_size=patch,
                strides=patch,
                padding="valid",
                name="voxel_to_patch",
            )
            self.voxel_to_patch.build((None, None, None, None, 3))
            buckets = (
                config.max_temporal_buckets,
                config.max_vertical_buckets,
                config.max_horizontal_buckets,
            )
            self.pos_embedding_lookup = SpatioTemporalEmbeddings(
                config.d_model,
                *buckets,
                dropout_rate=config.positional_dropout_rate,
                layer_norm_epsilon=config.layer_norm_epsilon,
            )
            self.drop_token = config.drop_token_layer(buckets[0] * buckets[1] * buckets[2])
        self.built = True

    def _patch_input(self, inputs):
        self._check_rank(inputs, 5)
        _, frames, height, width, channels = inputs.shape
        config = self.config
        if channels != 3:
            raise ValueError(f"{self.expected_input} must have 3 channels, got {channels}")
        for what, size, patch in (
            ("number of frames", frames, config.temporal_patch_size),
            ("height", height, config.spatial_patch_size),
            ("width", width, config.spatial_patch_size),
        ):
            if size is not None and size % patch:
                raise ValueError(
                    f"video {what} {size} is not divisible by the patch size {patch}; "
                    f"crop or pad the clip to a multiple of {patch}"
                )
        return inputs
