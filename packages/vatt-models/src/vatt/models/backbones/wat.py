"""WaT: the VATT waveform Transformer (original ``AuTx1D``, spec §1.3)."""

from __future__ import annotations

import dataclasses

import keras
from keras import ops

from vatt.models.backbones.base import TransformerBackbone, TransformerBackboneConfig
from vatt.models.layers import DropToken, TemporalEmbeddings, embed_patches


@dataclasses.dataclass
class WaTConfig(TransformerBackboneConfig):
    """WaT hyper-parameters; defaults are ``wat_base`` (original names).

    The waveform is cut into windows of ``temporal_patch_size`` samples every
    ``temporal_patch_stride``; 1200 positions = 3.2 s at 48 kHz / 128. DropToken keeps
    ``int(patch_sampling_rate * max_temporal_buckets)`` windows, rounded as in ViT-3D
    (``sequence_multiple``).
    """

    temporal_patch_size: int = 128
    temporal_patch_stride: int = 128
    max_temporal_buckets: int = 1200
    random_patch_sampling: bool = True
    patch_sampling_rate: float = 0.5
    sequence_multiple: int = 64

    def validate(self) -> None:
        super().validate()
        if min(self.temporal_patch_size, self.temporal_patch_stride) < 1:
            raise ValueError("temporal_patch_size and temporal_patch_stride must be positive")
        if not 0.0 < self.patch_sampling_rate <= 1.0:
            raise ValueError(
                f"patch_sampling_rate must be in (0, 1], got {self.patch_sampling_rate}"
            )


class WaT(TransformerBackbone):
    """Audio backbone on the raw waveform: Conv1D patches, 1-D positions, DropToken, Transformer.

    Call args:
        inputs: waveform ``(B, S)`` or ``(B, S, 1)``; ``S - temporal_patch_size`` must be a
            multiple of ``temporal_patch_stride``.
        training: enables dropout and DropToken.

    Returns:
        ``{"features_pooled": (B, D), "features": (B, N, D)}``.
    """

    config_class = WaTConfig
    patch_attr = "wave_to_patch"
    expected_input = "a waveform of shape (B, S) or (B, S, 1)"

    def __init__(self, config: WaTConfig, name: str = "wat", **kwargs):
        super().__init__(config, name=name, **kwargs)
        with self._scoped():
            self.wave_to_patch = keras.layers.Conv1D(
                config.d_model,
                kernel_size=config.temporal_patch_size,
                strides=config.temporal_patch_stride,
                padding="valid",
                name="waveform_to_patch",
            )
            self.wave_to_patch.build((None, None, 1))
            self.pos_embedding_lookup = TemporalEmbeddings(
                config.d_model,
                config.max_temporal_buckets,
                layer_norm_epsilon=config.layer_norm_epsilon,
            )
            if config.random_patch_sampling:
                self.drop_token = DropToken(
                    config.patch_sampling_rate,
                    config.max_temporal_buckets,
                    sequence_multiple=config.sequence_multiple,
                    extra_tokens=1,
                )
        self.built = True

    def _grid(self, inputs):
        if len(inputs.shape) == 2:
            inputs = ops.expand_dims(inputs, -1)
        self._check_rank(inputs, 3)
        samples, channels = inputs.shape[1], inputs.shape[2]
        if channels != 1:
            raise ValueError(f"{self.expected_input} must be mono, got {channels} channels")
        size, stride = self.config.temporal_patch_size, self.config.temporal_patch_stride
        if samples is not None and (samples < size or (samples - size) % stride):
            raise ValueError(
                f"waveform of {samples} samples does not tile into windows of {size} samples "
                f"every {stride}; crop or pad it to {size} + a multiple of {stride} samples"
            )
        return embed_patches(self.wave_to_patch, inputs)  # (B, N, d)
