"""Position-wise feed-forward blocks of the VATT Transformers."""

from __future__ import annotations

import keras

from vatt.models.checkpoints import keras_layer_variables
from vatt.models.layers.configured import ConfiguredLayer
from vatt.models.layers.dropout import Dropout

#: Activations of the original code; ``geglu`` gates ``gelu(wi_0 x)`` with ``wi_1 x``.
ACTIVATIONS = ("relu", "gelu", "swish", "geglu")


def activation_fn(name: str):
    """The activation function ``name``; GELU is the exact erf form, as in the original."""
    if name == "gelu":
        return lambda x: keras.activations.gelu(x, approximate=False)
    if name == "relu":
        return keras.activations.relu
    if name == "swish":
        return keras.activations.silu
    raise ValueError(f"unknown activation {name!r}; expected one of relu, gelu, swish")


class DenseActivationDense(ConfiguredLayer):
    """``wo(dropout(act(wi(x))))``: the MLP of a Transformer layer (original ``mlp``).

    The Keras name follows the original class (``dense_gelu_dense`` etc.).

    Args:
        d_model: input and output width.
        d_ff: hidden width.
        activation: one of :data:`ACTIVATIONS`.
        use_bias: whether ``wi``/``wo`` carry biases.
        dropout_rate: dropout after the activation (training only).
    """

    def __init__(
        self,
        d_model: int,
        d_ff: int,
        activation: str = "gelu",
        use_bias: bool = True,
        dropout_rate: float = 0.1,
        name: str | None = None,
        **kwargs,
    ):
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}; expected one of {ACTIVATIONS}")
        super().__init__(name=name or f"dense_{activation}_dense", **kwargs)
        if activation == "geglu":
            self.wi_0 = keras.layers.Dense(d_ff, use_bias=use_bias, name="wi_0")
            self.wi_1 = keras.layers.Dense(d_ff, use_bias=use_bias, name="wi_1")
            self._act = activation_fn("gelu")
        else:
            self.wi = keras.layers.Dense(d_ff, use_bias=use_bias, name="wi")
            self._act = activation_fn(activation)
        self.wo = keras.layers.Dense(d_model, use_bias=use_bias, name="wo")
        self.dropout = Dropout(dropout_rate)

    def _inputs(self) -> tuple[str, ...]:
        return ("wi_0", "wi_1") if self.activation == "geglu" else ("wi",)

    def build(self, input_shape=None):
        for attr in self._inputs():
            getattr(self, attr).build((None, None, self.d_model))
        self.wo.build((None, None, self.d_ff))

    def call(self, inputs, training=False):
        if self.activation == "geglu":
            hidden = self._act(self.wi_0(inputs)) * self.wi_1(inputs)
        else:
            hidden = self._act(self.wi(inputs))
        return self.wo(self.dropout(hidden, training=training))

    def checkpoint_variables(self, prefix: str) -> dict[str, keras.Variable]:
        """Official paths ``{prefix}/wi/*`` (or ``wi_0``/``wi_1``) and ``{prefix}/wo/*``."""
        names = {}
        for attr in (*self._inputs(), "wo"):
            names.update(keras_layer_variables(getattr(self, attr), f"{prefix}/{attr}"))
        return names


class FeedForward(ConfiguredLayer):
    """Residual feed-forward block: ``x + dropout(mlp(LN(x)))`` (pre-norm) or post-norm.

    Args:
        *args, **kwargs: the arguments of :class:`DenseActivationDense` (``d_model``, ``d_ff``,
            ``activation``, ``use_bias``, ``dropout_rate``), given to ``mlp``; ``dropout_rate``
            is also the residual dropout. Other keyword arguments go to ``keras.layers.Layer``.
        layer_norm_epsilon: epsilon of ``layer_norm`` (1e-6 in every VATT config).
        pre_norm: normalise the block input (True in VATT) instead of the residual sum.
    """

    def __init__(
        self,
        *args,
        layer_norm_epsilon: float = 1e-6,
        pre_norm: bool = True,
        name: str = "feed_forward",
        **kwargs,
    ):
        mlp_kwargs = DenseActivationDense.take_arguments(kwargs)
        super().__init__(name=name, **kwargs)
        self.mlp = DenseActivationDense(*args, **mlp_kwargs)
        self.configure(**self.mlp.arguments())
        self.layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, name="layer_norm"
        )
        self.dropout = Dropout(self.dropout_rate)

    def build(self, input_shape=None):
        self.mlp.build()
        self.layer_norm.build((None, None, self.d_model))

    def call(self, inputs, training=False):
        if self.pre_norm:
            hidden = self.mlp(self.layer_norm(inputs), training=training)
            return inputs + self.dropout(hidden, training=training)
        hidden = self.mlp(inputs, training=training)
        return self.layer_norm(inputs + self.dropout(hidden, training=training))

    def checkpoint_variables(self, prefix: str) -> dict[str, keras.Variable]:
        """Official paths ``{prefix}/layer_norm/*`` and ``{prefix}/mlp/*``."""
        return {
            **keras_layer_variables(self.layer_norm, f"{prefix}/layer_norm"),
            **self.mlp.checkpoint_variables(f"{prefix}/mlp"),
        }
