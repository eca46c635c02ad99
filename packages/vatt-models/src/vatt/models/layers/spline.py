"""Order-3 polyharmonic spline resampling of positional tables (the original used TF-Addons).

The original resized a positional table of N rows to M rows with
``tfa.image.interpolate_spline(order=3, regularization=0)``: knots ``x_i = i/N``, queries
``q_j = j/M``, kernel ``phi(s) = max(s, 1e-10) ** 1.5`` of the *squared* distance ``s`` plus an
affine term. The result is linear in the table, ``new = R @ table`` with an ``(M, N)`` matrix R
that depends only on N and M. We compute R once in float64 NumPy and apply it with
``keras.ops.matmul``, so the op is backend-agnostic and differentiable in the table. The
original solved the system in float32, which is badly conditioned for large N (its result is
meaningless at N = 1200); float64 gives the mathematically intended spline.
"""

from __future__ import annotations

import functools

import numpy as np
from keras import ops

# The original's floor on squared distances before raising to 1.5.
_MIN_SQUARED_DISTANCE = 1e-10


def _phi(squared_distance: np.ndarray) -> np.ndarray:
    return np.maximum(squared_distance, _MIN_SQUARED_DISTANCE) ** 1.5


@functools.lru_cache(maxsize=64)
def spline_resampling_matrix(num_rows: int, num_target_rows: int) -> np.ndarray:
    """The ``(num_target_rows, num_rows)`` float64 matrix R with ``resized = R @ table``.

    Raises:
        ValueError: fewer than 2 rows (the affine part of the spline is then undetermined).
    """
    if num_rows < 2:
        raise ValueError(f"a positional table needs at least 2 rows to be resized, got {num_rows}")
    if num_target_rows < 1:
        raise ValueError(f"cannot resize a positional table to {num_target_rows} rows")
    knots = np.arange(num_rows, dtype=np.float64) / num_rows
    queries = np.arange(num_target_rows, dtype=np.float64) / num_target_rows
    affine = np.stack([knots, np.ones_like(knots)], axis=1)  # (N, 2)
    system = np.zeros((num_rows + 2, num_rows + 2))
    system[:num_rows, :num_rows] = _phi((knots[:, None] - knots[None, :]) ** 2)
    system[:num_rows, num_rows:] = affine
    system[num_rows:, :num_rows] = affine.T
    # Columns of the inverse that multiply the table; the zero right-hand-side rows drop out.
    coefficients = np.linalg.solve(system, np.eye(num_rows + 2)[:, :num_rows])  # (N+2, N)
    evaluation = np.concatenate(
        [
            _phi((queries[:, None] - knots[None, :]) ** 2),
            np.stack([queries, np.ones_like(queries)], axis=1),
        ],
        axis=1,
    )  # (M, N+2)
    return evaluation @ coefficients


def resize_positional_table(table, num_target_rows: int):
    """``table`` ``(N, d)`` resampled to ``(num_target_rows, d)``; unchanged when sizes agree."""
    num_rows = int(table.shape[0])
    if num_rows == num_target_rows:
        return table
    matrix = spline_resampling_matrix(num_rows, int(num_target_rows))
    return ops.matmul(ops.cast(matrix, table.dtype), table)
