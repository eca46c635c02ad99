"""WaT: the VATT waveform Transformer (original ``AuTx1D``, spec §1.3)."""

from __future__ import annotations

import dataclasses

import keras
from keras import ops

from vatt.models.backbones.base import (
    DropTokenConfig,
    TransformerBackbone,
    TransformerBackboneConfig,
)
from vatt.models.layers import TemporalEmbeddings


@dataclasses.dataclass
class WaTConfig(DropTokenConfig, TransformerBackboneConfig):
    """WaT hyper-parameters; defaults are ``wat_base`` (original names).

    The waveform is cut into windows of ``temporal_patch_size`` samples every
    ``temporal_patch_stride``; 1200 positions = 3.2 s at 48 kHz / 128. DropToken
    (:class:`DropTokenConfig`) samples from the ``max_temporal_buckets`` windows.
    """

    temporal_patch_size: int = 128
    temporal_patch_stride: int = 128
    max_temporal_buckets: int = 1200

    def build_layer(self, **kwargs) -> WaT:
        """The :class:`WaT` backbone of this config."""
        return WaT(self, **kwargs)


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
    input_key = "audio"
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
                dropout_rate=config.positional_dropout_rate,
                layer_norm_epsilon=config.layer_norm_epsilon,
            )
            self.drop_token = config.drop_token_layer(config.max_temporal_buckets)
        self.built = True

    def _patch_input(self, inputs):
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
        return inputs
