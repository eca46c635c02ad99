"""What the ViT-3D, WaT and SpT backbones share: config fields and the token pipeline.

Every raw-signal backbone computes ``patches -> [pre_proj] -> positions -> flatten ->
[DropToken] -> prepend agg token -> Transformer -> [post_proj]`` (in training DropToken's choice
is applied to the raw patches, which gives the same kept tokens: see
:func:`~vatt.models.layers.patch_tokens`) and returns
``{"features_pooled": (B, D), "features": (B, N, D)}``: the agg-token output and the patch
tokens (the kept ones after DropToken).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import keras

from vatt.models.checkpoints import keras_layer_variables
from vatt.models.layers import (
    ACTIVATIONS,
    DropToken,
    TransformerEncoder,
    activation_fn,
    patch_tokens,
    prepend_agg_token,
)
from vatt.models.registry import ArchConfig, ConfiguredLayer

#: Transformer sizes of the original configs: (d_model, num_layers, num_heads, d_ff).
SIZES: dict[str, dict[str, int]] = {
    "base": {"d_model": 768, "num_layers": 12, "num_heads": 12, "d_ff": 3072},
    "medium": {"d_model": 1024, "num_layers": 12, "num_heads": 16, "d_ff": 4096},
    "large": {"d_model": 1024, "num_layers": 24, "num_heads": 16, "d_ff": 4096},
    "xlarge": {"d_model": 1536, "num_layers": 24, "num_heads": 24, "d_ff": 4096},
}

#: A two-layer, 32-wide Transformer (the size of the reference fixtures) for CPU tests.
TINY_TRANSFORMER: dict[str, int] = {
    "d_model": 32,
    "num_layers": 2,
    "num_heads": 4,
    "d_kv": 8,
    "d_ff": 64,
}


@dataclasses.dataclass
class TransformerBackboneConfig(ArchConfig):
    """Transformer fields common to every raw-signal backbone (original names and defaults).

    ``pre_projection`` / ``post_projection`` add the GELU Dense layers needed to receive the
    weights of the modality-agnostic (UT) checkpoint; ``d_post_proj`` is their output width.
    ``dropout_rate`` applies to the residual and MLP dropouts, ``positional_dropout_rate`` to the
    dropout after the positional embeddings (the original fixed it at 0.1, whatever
    ``dropout_rate``) and ``attention_dropout_rate`` to the attention probabilities: 0, the
    default, lets training use the backend's fused attention kernel; the original used 0.1.
    """

    d_model: int = 768
    num_layers: int = 12
    num_heads: int = 12
    d_kv: int = 64
    d_ff: int = 3072
    activation: str = "gelu"
    dropout_rate: float = 0.1
    attention_dropout_rate: float = 0.0
    positional_dropout_rate: float = 0.1
    layer_norm_epsilon: float = 1e-6
    use_bias: bool = True
    pre_norm: bool = True
    pre_projection: bool = False
    post_projection: bool = False
    d_post_proj: int = 1024
    post_proj_activation: str = "gelu"

    @classmethod
    def sized(cls, size: str, **overrides: Any):
        """The config of a named size (``base``, ``medium``, ``large``, ``xlarge``)."""
        if size not in SIZES:
            raise ValueError(f"unknown size {size!r}; expected one of {', '.join(SIZES)}")
        return cls(**SIZES[size]).replace(**overrides)

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name.endswith(("_patch_size", "_patch_stride")) and value < 1:
                raise ValueError(f"{field.name} must be positive, got {value}")
        for name in ("d_model", "num_layers", "num_heads", "d_kv", "d_ff", "d_post_proj"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("activation", "post_proj_activation"):
            if getattr(self, name) not in ACTIVATIONS:
                raise ValueError(f"{name} {getattr(self, name)!r} is not one of {ACTIVATIONS}")
        for name in ("dropout_rate", "attention_dropout_rate", "positional_dropout_rate"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")

    @property
    def output_dim(self) -> int:
        """Width of ``features_pooled``: ``d_post_proj`` with post-projection, else ``d_model``."""
        return self.d_post_proj if self.post_projection else self.d_model


@dataclasses.dataclass
class DropTokenConfig:
    """The DropToken fields of ViT-3D, WaT and UT (original names, spec §1.2 step 5).

    In training, DropToken keeps ``int(patch_sampling_rate * max tokens)`` tokens when
    ``random_patch_sampling`` is on, rounded down so that they plus the aggregation token are a
    multiple of ``sequence_multiple`` (the length fused attention kernels want; 1 keeps the
    original's count). ``patch_sampling_rate`` is in (0, 1]; 1 keeps every token.
    """

    random_patch_sampling: bool = True
    patch_sampling_rate: float = 0.5
    sequence_multiple: int = 64

    def __post_init__(self) -> None:
        """Check the DropToken fields, then run the other base class's ``__post_init__``."""
        if not 0.0 < self.patch_sampling_rate <= 1.0:
            raise ValueError(
                f"patch_sampling_rate must be in (0, 1], got {self.patch_sampling_rate}"
            )
        if self.sequence_multiple < 1:
            raise ValueError(f"sequence_multiple must be >= 1, got {self.sequence_multiple}")
        next_check = getattr(super(), "__post_init__", None)
        if next_check is not None:
            next_check()

    def drop_token_layer(self, max_tokens: int, **kwargs: Any) -> DropToken:
        """The DropToken layer over a grid of ``max_tokens`` positions (one agg token added)."""
        return DropToken(
            self.patch_sampling_rate,
            max_tokens,
            enabled=self.random_patch_sampling,
            sequence_multiple=self.sequence_multiple,
            extra_tokens=1,
            **kwargs,
        )


def transformer_encoder(config: TransformerBackboneConfig | Any) -> TransformerEncoder:
    """The built Transformer ``tx`` of a config with the Transformer fields of
    :class:`TransformerBackboneConfig` (ViT-3D, WaT, SpT and UT configs)."""
    encoder = TransformerEncoder(
        num_layers=config.num_layers,
        d_model=config.d_model,
        num_heads=config.num_heads,
        d_kv=config.d_kv,
        d_ff=config.d_ff,
        activation=config.activation,
        dropout_rate=config.dropout_rate,
        attention_dropout_rate=config.attention_dropout_rate,
        layer_norm_epsilon=config.layer_norm_epsilon,
        use_bias=config.use_bias,
        pre_norm=config.pre_norm,
    )
    encoder.build()
    return encoder


class TransformerBackbone(ConfiguredLayer, keras.layers.Layer):
    """Base class of the raw-signal backbones; subclasses tokenise their input.

    Subclasses set ``self.patch_attr`` (the original attribute of the patch layer), create that
    layer and ``self.pos_embedding_lookup``, optionally ``self.drop_token``, and implement
    ``_patch_input(inputs)``: the checked input of the patch layer. In training, DropToken
    chooses its tokens before the patch embedding (:func:`~vatt.models.layers.patch_tokens`).
    """

    config_class: type[TransformerBackboneConfig] = TransformerBackboneConfig
    #: The batch key (contract 1) whose tensor the backbone reads.
    input_key: ClassVar[str] = ""
    patch_attr: str = ""
    #: Name of the input for error messages, e.g. "video (B, T, H, W, 3)".
    expected_input: str = ""

    def __init__(self, config: TransformerBackboneConfig, name: str | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.config = config
        d_model = config.d_model
        self.agg_embedding = self.add_weight(
            shape=(d_model,), initializer="glorot_normal", name="agg_embedding"
        )
        self.pre_proj = None
        self.post_proj = None
        self.drop_token: DropToken | None = None  # ViT-3D and WaT set it
        with self._scoped():
            if config.pre_projection:
                self.pre_proj = keras.layers.Dense(
                    d_model, activation=activation_fn(config.activation), name="pre_tx_projection"
                )
                self.pre_proj.build((None, d_model))
            self.tx = transformer_encoder(config)
            if config.post_projection:
                self.post_proj = keras.layers.Dense(
                    config.d_post_proj,
                    activation=activation_fn(config.post_proj_activation),
                    name="post_tx_projection",
                )
                self.post_proj.build((None, d_model))

    def _scoped(self):
        """Context in which sub-layers built in ``__init__`` get paths under this layer's name."""
        return keras.name_scope(self.name)

    def _patch_input(self, inputs):
        raise NotImplementedError

    def call(self, inputs, training=False):
        dtype = keras.backend.standardize_dtype(inputs.dtype)
        if "float" not in dtype:
            # Raw uint8 frames or int16 audio would be silently mis-scaled by the patch layer.
            raise TypeError(
                f"{type(self).__name__} expects float {self.expected_input} normalised as in the "
                f"data contract (video in [-1, 1]), got dtype {dtype}"
            )
        tokens = patch_tokens(
            getattr(self, self.patch_attr),
            self._patch_input(inputs),
            self.pos_embedding_lookup,
            drop_token=self.drop_token,
            projection=self.pre_proj,
            training=training,
        )  # (B, N, d)
        tokens, _ = prepend_agg_token(tokens, self.agg_embedding)
        hidden = self.tx(tokens, training=training)
        if self.post_proj is not None:
            hidden = self.post_proj(hidden)
        return {"features_pooled": hidden[:, 0], "features": hidden[:, 1:]}

    def _check_rank(self, inputs, rank: int) -> None:
        if len(inputs.shape) != rank:
            raise ValueError(
                f"{type(self).__name__} expects {self.expected_input}, got shape "
                f"{tuple(inputs.shape)} (rank {len(inputs.shape)})"
            )

    def checkpoint_variables(self, prefix: str) -> dict[str, keras.Variable]:
        """Official paths of a modality-specific backbone (spec §7.2 B and E)."""
        names = {
            **keras_layer_variables(getattr(self, self.patch_attr), f"{prefix}/{self.patch_attr}"),
            **self.pos_embedding_lookup.checkpoint_variables(f"{prefix}/pos_embedding_lookup"),
            f"{prefix}/agg_embedding": self.agg_embedding,
            **self.tx.checkpoint_variables(f"{prefix}/tx"),
        }
        if self.pre_proj is not None:
            names.update(keras_layer_variables(self.pre_proj, f"{prefix}/pre_proj"))
        if self.post_proj is not None:
            names.update(keras_layer_variables(self.post_proj, f"{prefix}/post_proj"))
        return names
