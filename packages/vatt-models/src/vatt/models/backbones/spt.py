"""SpT: the VATT spectrogram Transformer (original ``AuTx2D``, spec §1.4)."""

from __future__ import annotations

import dataclasses

import keras

from vatt.models.backbones.base import TransformerBackbone, TransformerBackboneConfig
from vatt.models.layers import SpectroTemporalEmbeddings


@dataclasses.dataclass
class SpTConfig(TransformerBackboneConfig):
    """SpT hyper-parameters; defaults are ``spt_base`` (original names).

    Patches are ``temporal_patch_size`` frames x ``spectoral_patch_size`` mel bins; a
    (150, 80) log-mel gives 9 x 16 tokens (the last 6 frames are dropped, as the original's
    "valid" convolution does). The Transformer has no biases and there is no DropToken.
    """

    use_bias: bool = False
    temporal_patch_size: int = 16
    spectoral_patch_size: int = 5
    max_temporal_buckets: int = 9
    max_spectoral_buckets: int = 16

    def build_layer(self, **kwargs) -> SpT:
        """The :class:`SpT` backbone of this config."""
        return SpT(self, **kwargs)


class SpT(TransformerBackbone):
    """Audio backbone on a log-mel spectrogram: Conv2D patches, 2-D positions, Transformer.

    Call args:
        inputs: spectrogram ``(B, F, M, 1)`` (frames, mel bins); frames and bins beyond a
            whole patch are dropped.
        training: enables dropout.

    Returns:
        ``{"features_pooled": (B, D), "features": (B, N, D)}`` with N = F'·M' in time-major
        order.
    """

    config_class = SpTConfig
    input_key = "audio_spectrogram"
    patch_attr = "spectrum_to_patch"
    expected_input = "a spectrogram of shape (B, frames, mel_bins, 1)"

    def __init__(self, config: SpTConfig, name: str = "spt", **kwargs):
        super().__init__(config, name=name, **kwargs)
        with self._scoped():
            patch = (config.temporal_patch_size, config.spectoral_patch_size)
            self.spectrum_to_patch = keras.layers.Conv2D(
                config.d_model,
                kernel_size=patch,
                strides=patch,
                padding="valid",
                name="spectrum_to_patch",
            )
            self.spectrum_to_patch.build((None, None, None, 1))
            self.pos_embedding_lookup = SpectroTemporalEmbeddings(
                config.d_model,
                config.max_temporal_buckets,
                config.max_spectoral_buckets,
                dropout_rate=config.positional_dropout_rate,
                layer_norm_epsilon=config.layer_norm_epsilon,
            )
        self.built = True

    def _patch_input(self, inputs):
        self._check_rank(inputs, 4)
        _, frames, bins, channels = inputs.shape
        if channels != 1:
            raise ValueError(f"{self.expected_input} must have 1 channel, got {channels}")
        config = self.config
        if (frames is not None and frames < config.temporal_patch_size) or (
            bins is not None and bins < config.spectoral_patch_size
        ):
            raise ValueError(
                f"spectrogram ({frames} frames, {bins} bins) is smaller than one patch "
                f"({config.temporal_patch_size} x {config.spectoral_patch_size})"
            )
        return inputs
