"""FAC ("fine and coarse") projection heads that map pooled features into the shared spaces.

Two spaces: **va** (video-audio, 512-d by default) and **vat** (video-audio-text, 256-d).
The video path is a chain, so its vat embedding is computed *from* its va embedding::

    video.toaud = BN(Dense(ReLU(BN(Dense(x_v)))))      # va
    video.totxt = BN(Dense(ReLU(video.toaud)))         # vat
    audio.tovid = Dense(x_a) (with bias, linear)       # va
    text.tovid  = Dense(x_t) (with bias, linear)       # vat

Every BatchNorm is cross-replica (``synchronized=True`` on TensorFlow), momentum 0.9,
epsilon 1e-5, as in the original.
"""

from __future__ import annotations

import dataclasses

import keras
from keras import ops

from vatt.models.checkpoints import keras_layer_variables
from vatt.models.cnn.batch_norm import BatchNormSettings


@dataclasses.dataclass
class FACHeadConfig:
    """Widths of the two shared spaces and the settings of every BatchNorm of the head."""

    va_dim: int = 512
    vat_dim: int = 256
    batch_norm: BatchNormSettings = dataclasses.field(default_factory=BatchNormSettings)

    def __post_init__(self):
        for field in ("va_dim", "vat_dim"):
            if getattr(self, field) <= 0:
                raise ValueError(f"FAC head {field} must be positive, got {getattr(self, field)}")


def _dense(units: int, input_dim: int, use_bias: bool, name: str) -> keras.layers.Dense:
    layer = keras.layers.Dense(units, use_bias=use_bias, name=name)
    layer.build((None, input_dim))
    return layer


def _batch_norm(settings: BatchNormSettings, dim: int, name: str):
    layer = settings.layer(name)
    layer.build((None, dim))
    return layer


class FACHead(keras.layers.Layer):
    """The FAC bridge head.

    Args:
        video_dim, audio_dim, text_dim: widths of the pooled backbone features.
        config: space widths and BatchNorm settings.

    Call args:
        features: ``{"video": [B, Dv], "audio": [B, Da], "text": [N, Dt]}``; a modality that
            is absent is absent from the output too.
        training: BatchNorms use batch statistics (and update their moving averages).

    Returns:
        ``{"video": {"toaud": [B, va], "totxt": [B, vat]}, "audio": {"tovid": [B, va]},
        "text": {"tovid": [N, vat]}}``.
    """

    def __init__(
        self, video_dim: int, audio_dim: int, text_dim: int, config: FACHeadConfig, **kwargs
    ):
        kwargs.setdefault("name", "fac_head")
        super().__init__(**kwargs)
        self.config = config
        va, vat, bn = config.va_dim, config.vat_dim, config.batch_norm
        self.vid_to_hid = _dense(va, video_dim, False, "vid_to_hid")
        self.hid_to_va_pre_bn = _batch_norm(bn, va, "hid_to_va_pre_bn")
        self.hid_to_va_dense = _dense(va, va, False, "hid_to_va_dense")
        self.hid_to_va_bn = _batch_norm(bn, va, "hid_to_va_bn")
        self.va_to_vat_dense = _dense(vat, va, False, "va_to_vat_dense")
        self.va_to_vat_bn = _batch_norm(bn, vat, "va_to_vat_bn")
        self.aud_to_va = _dense(va, audio_dim, True, "aud_to_va")
        self.txt_to_vat = _dense(vat, text_dim, True, "txt_to_vat")
        self.built = True

    def call(self, features, training=False):
        outputs = {}
        if "video" in features:
            h = self.vid_to_hid(features["video"])
            h = ops.relu(self.hid_to_va_pre_bn(h, training=training))
            video_va = self.hid_to_va_bn(self.hid_to_va_dense(h), training=training)
            h = self.va_to_vat_dense(ops.relu(video_va))
            video_vat = self.va_to_vat_bn(h, training=training)
            outputs["video"] = {"toaud": video_va, "totxt": video_vat}
        if "audio" in features:
            outputs["audio"] = {"tovid": self.aud_to_va(features["audio"])}
        if "text" in features:
            outputs["text"] = {"tovid": self.txt_to_vat(features["text"])}
        return outputs

    def checkpoint_variables(self, prefix: str) -> dict[str, keras.Variable]:
        """Official paths under ``_head_layer/_bridge_heads/0``."""
        layers = {
            "vid_to_hid": self.vid_to_hid,
            "hid_to_va/pre_bn": self.hid_to_va_pre_bn,
            "hid_to_va/dense": self.hid_to_va_dense,
            "hid_to_va/bn": self.hid_to_va_bn,
            "va_to_vat/dense": self.va_to_vat_dense,
            "va_to_vat/bn": self.va_to_vat_bn,
            "aud_to_va": self.aud_to_va,
            "txt_to_vat": self.txt_to_vat,
        }
        found = {}
        for path, layer in layers.items():
            found.update(keras_layer_variables(layer, f"{prefix}/{path}"))
        return found
