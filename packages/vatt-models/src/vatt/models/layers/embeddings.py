"""Learned, factorised positional embeddings of the VATT backbones (spec §1.1).

Each module adds ``LN(positional sum)`` to the tokens (the LayerNorm normalises the positional
vectors, not the tokens) and applies dropout. When the token grid along an axis differs from
the table's row count, the table is resampled with the original's order-3 polyharmonic spline
(:mod:`vatt.models.layers.spline`), so models run on clips of any size.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from vatt.models.checkpoints import keras_layer_variables
from vatt.models.layers.configured import ConfiguredLayer
from vatt.models.layers.dropout import Dropout
from vatt.models.layers.spline import resize_positional_table


def positional_initializer(hidden_size: int) -> keras.initializers.Initializer:
    """TruncatedNormal with stddev ``hidden_size ** -0.5``, the original positional-table init."""
    return keras.initializers.TruncatedNormal(stddev=hidden_size**-0.5)


def _static_size(size, what: str) -> int:
    if size is None:
        raise ValueError(f"positional embeddings need a static {what}; got None")
    return int(size)


class ExpandableEmbedding(ConfiguredLayer):
    """A positional table ``embeddings`` ``(num_buckets, dim)`` that can be resampled.

    Args:
        num_buckets: rows of the table (positions seen in pre-training).
        dim: row width.
        embeddings_initializer: defaults to :func:`positional_initializer` of ``dim``.

    Call args:
        positions: integer position ids of any shape.
        num_positions: length of the axis the ids index; when it differs from
            ``num_buckets`` the ids index the spline-resampled table of that many rows.

    Returns:
        ``positions.shape + (dim,)``.
    """

    def __init__(
        self,
        num_buckets: int,
        dim: int,
        embeddings_initializer: str | keras.initializers.Initializer | None = None,
        name: str | None = None,
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        self.embeddings_initializer = keras.initializers.get(
            embeddings_initializer or positional_initializer(dim)
        )
        self.embeddings = self.add_weight(
            shape=(num_buckets, dim), initializer=self.embeddings_initializer, name="embeddings"
        )
        self.built = True

    def table(self, num_positions: int):
        """The ``(num_positions, dim)`` table: the weights, or their spline resampling."""
        return resize_positional_table(ops.convert_to_tensor(self.embeddings), num_positions)

    def call(self, positions, num_positions=None):
        table = self.table(self.num_buckets if num_positions is None else num_positions)
        return ops.take(table, ops.cast(positions, "int32"), axis=0)

    def checkpoint_variables(self, prefix: str) -> dict[str, keras.Variable]:
        """Official path ``{prefix}/embeddings``."""
        return {f"{prefix}/embeddings": self.embeddings}


class _PositionalEmbeddings(ConfiguredLayer):
    """Shared parts: the ``layernorm`` on the positional sum, dropout, the tables, the mapping.

    A subclass names its tables (``_tables``) and passes their row counts as ``buckets``.
    """

    _tables: tuple[str, ...] = ()

    def __init__(self, hidden_size, buckets, dropout_rate, layer_norm_epsilon, name, **kwargs):
        super().__init__(name=name, **kwargs)
        # The original attribute is `layernorm`; the Keras name `layer_norm` as in the original.
        self.layernorm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, name="layer_norm"
        )
        with keras.name_scope(self.name):  # weights are built here, so scope their paths
            self.layernorm.build((None, hidden_size))
        self.dropout = Dropout(dropout_rate)
        with keras.name_scope(self.name):
            for attr, rows in zip(self._tables, buckets, strict=True):
                setattr(self, attr, ExpandableEmbedding(rows, hidden_size, name=attr))
        self.built = True

    def _table(self, attr: str, num_positions: int):
        return getattr(self, attr).table(num_positions)

    def positions(self, grid: tuple[int, ...]):
        """The positional sum ``(*grid, d)`` of a token grid, before the LayerNorm."""
        raise NotImplementedError

    def add_positions(self, tokens, positional, training=False):
        """``dropout(tokens + LN(positional))``; ``positional`` is one example's ``(..., d)``.

        The LayerNorm normalises each position's row alone, so rows of :meth:`positions` may
        be selected first (as :func:`~vatt.models.layers.patch_tokens` does for DropToken).
        """
        positional = ops.cast(self.layernorm(positional), tokens.dtype)
        return self.dropout(tokens + positional[None], training=training)

    def call(self, inputs, training=False):
        # One table per grid axis: the token grid is the inputs' next len(_tables) axes.
        grid = tuple(
            _static_size(size, "token grid") for size in inputs.shape[1 : 1 + len(self._tables)]
        )
        return self.add_positions(inputs, self.positions(grid), training=training)

    def checkpoint_variables(self, prefix: str) -> dict[str, keras.Variable]:
        """Official paths ``{prefix}/<table>/embeddings`` and ``{prefix}/layernorm/*``."""
        names = keras_layer_variables(self.layernorm, f"{prefix}/layernorm")
        for attr in self._tables:
            names.update(getattr(self, attr).checkpoint_variables(f"{prefix}/{attr}"))
        return names


class TemporalEmbeddings(_PositionalEmbeddings):
    """1-D positions (WaT, BERT, UT audio/text): ``dropout(x + LN(E_t[0..N-1]))``.

    Args:
        hidden_size: token width d.
        max_temporal_buckets: rows of ``temporal_position_embeddings``.
        dropout_rate: 0.1 in the original (the backbones never change it).
        layer_norm_epsilon: 1e-6.

    Call args:
        inputs: ``(B, N, d)``; training.
    """

    _tables = ("temporal_position_embeddings",)

    def __init__(
        self,
        hidden_size: int,
        max_temporal_buckets: int,
        dropout_rate: float = 0.1,
        layer_norm_epsilon: float = 1e-6,
        name: str = "temporal_embeddings",
        **kwargs,
    ):
        buckets = (max_temporal_buckets,)
        super().__init__(hidden_size, buckets, dropout_rate, layer_norm_epsilon, name, **kwargs)

    def positions(self, grid):
        (length,) = grid
        return self._table("temporal_position_embeddings", length)  # (N, d)


class SpatioTemporalEmbeddings(_PositionalEmbeddings):
    """3-D positions (ViT): token (t, h, w) gets ``LN(E_t[t] + E_v[h] + E_h[w])``.

    Args:
        hidden_size: token width d.
        max_temporal_buckets, max_vertical_buckets, max_horizontal_buckets: rows of the
            temporal, vertical (height) and horizontal (width) tables.
        dropout_rate, layer_norm_epsilon: as :class:`TemporalEmbeddings`.

    Call args:
        inputs: the token grid ``(B, T', H', W', d)``; training.

    Returns:
        The grid with positions added, same shape.
    """

    _tables = (
        "temporal_position_embeddings",
        "vertical_position_embeddings",
        "horizontal_position_embeddings",
    )

    def __init__(
        self,
        hidden_size: int,
        max_temporal_buckets: int,
        max_vertical_buckets: int,
        max_horizontal_buckets: int,
        dropout_rate: float = 0.1,
        layer_norm_epsilon: float = 1e-6,
        name: str = "spatio_temporal_embeddings",
        **kwargs,
    ):
        buckets = (max_temporal_buckets, max_vertical_buckets, max_horizontal_buckets)
        super().__init__(hidden_size, buckets, dropout_rate, layer_norm_epsilon, name, **kwargs)

    def positions(self, grid):
        temporal, vertical, horizontal = (
            self._table(attr, size) for attr, size in zip(self._tables, grid, strict=True)
        )
        return (
            temporal[:, None, None, :] + vertical[None, :, None, :] + horizontal[None, None, :, :]
        )  # (T', H', W', d)


class SpectroTemporalEmbeddings(_PositionalEmbeddings):
    """2-D positions (SpT) with the original's spectral-major id quirk.

    The patch grid ``(T', S')`` is flattened time-major (k = t*S' + s), but the original
    built its ids spectral-major, so flat token k receives temporal id ``k mod T'`` and
    spectral id ``k div T'``. We reproduce that, since official SpT weights were trained with it.
    (The misspelt ``spectoral`` table name is the original's.)

    Args:
        hidden_size: token width d.
        max_temporal_buckets, max_spectoral_buckets: rows of the two tables.
        dropout_rate, layer_norm_epsilon: as :class:`TemporalEmbeddings`.

    Call args:
        inputs: the token grid ``(B, T', S', d)``; training.
    """

    _tables = ("temporal_position_embeddings", "spectoral_position_embeddings")

    def __init__(
        self,
        hidden_size: int,
        max_temporal_buckets: int,
        max_spectoral_buckets: int,
        dropout_rate: float = 0.1,
        layer_norm_epsilon: float = 1e-6,
        name: str = "spectro_temporal_embeddings",
        **kwargs,
    ):
        buckets = (max_temporal_buckets, max_spectoral_buckets)
        super().__init__(hidden_size, buckets, dropout_rate, layer_norm_epsilon, name, **kwargs)

    @staticmethod
    def position_ids(num_temporal: int, num_spectral: int) -> tuple[np.ndarray, np.ndarray]:
        """(temporal ids, spectral ids) of the time-major flat tokens, as the original assigns."""
        flat = np.arange(num_temporal * num_spectral)
        return flat % num_temporal, flat // num_temporal

    def positions(self, grid):
        t, s = grid
        temporal_ids, spectral_ids = self.position_ids(t, s)
        temporal = ops.take(self._table(self._tables[0], t), temporal_ids, axis=0)
        spectral = ops.take(self._table(self._tables[1], s), spectral_ids, axis=0)
        return ops.reshape(temporal + spectral, (t, s, self.hidden_size))
