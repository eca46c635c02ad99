"""Order-3 polyharmonic spline resampling of positional tables (the original used TF-Addons).

The original resized a positional table of N rows to M rows with
``tfa.image.interpolate_spline(order=3, regularization=0)``: knots ``x_i = i/N``, queries
``q_j = j/M``, kernel ``|x - y|^3`` plus an affine term, rows of the table as values. In one
dimension that interpolant *is* the natural cubic spline through the knots, continued linearly
beyond the last knot (the cubic terms cancel there because the kernel weights are orthogonal
to the affine functions). We therefore compute it as a natural cubic spline, whose tridiagonal
system is well conditioned, instead of the dense (N+2)-square system that TF-Addons solved in
float32 and that is numerically meaningless at N = 1200 (the full WaT table).

The result is linear in the table, ``resized = R @ table``, with an ``(M, N)`` matrix R that
depends only on N and M: it is built once in float64 NumPy and applied with ``keras.ops``, so
the op runs on every backend and is differentiable in the table.
"""

from __future__ import annotations

import functools

import numpy as np
from keras import ops


@functools.lru_cache(maxsize=64)
def spline_resampling_matrix(num_rows: int, num_target_rows: int) -> np.ndarray:
    """The read-only ``(num_target_rows, num_rows)`` float64 matrix R with ``resized = R @ table``.

    Raises:
        ValueError: fewer than 2 rows (the affine part of the spline is then undetermined).
    """
    if num_rows < 2:
        raise ValueError(f"a positional table needs at least 2 rows to be resized, got {num_rows}")
    if num_target_rows < 1:
        raise ValueError(f"cannot resize a positional table to {num_target_rows} rows")
    n, step = num_rows, 1.0 / num_rows
    # Second derivatives m = curvature @ y: zero at both ends (natural spline), and inside
    # m[i-1] + 4 m[i] + m[i+1] = 6 / step^2 (y[i-1] - 2 y[i] + y[i+1]).
    curvature = np.zeros((n, n))
    if n > 2:
        tridiagonal = 4.0 * np.eye(n - 2) + np.eye(n - 2, k=1) + np.eye(n - 2, k=-1)
        second_difference = np.zeros((n - 2, n))
        for i in range(n - 2):
            second_difference[i, i : i + 3] = (1.0, -2.0, 1.0)
        curvature[1:-1] = np.linalg.solve(tridiagonal, second_difference) * 6.0 / step**2
    queries = np.arange(num_target_rows, dtype=np.float64) / num_target_rows
    segment = np.minimum(np.floor(queries / step).astype(int), n - 2)  # left knot of each query
    t = queries / step - segment  # position in the segment; > 1 past the last knot
    rows = np.arange(num_target_rows)
    matrix = np.zeros((num_target_rows, n))
    inside = t <= 1.0
    # Inside a segment: linear part plus the cubic correction from the end curvatures.
    left, right = segment[inside], segment[inside] + 1
    u = t[inside]
    np.add.at(matrix, (rows[inside], left), 1.0 - u)
    np.add.at(matrix, (rows[inside], right), u)
    cubic_left = step**2 / 6.0 * ((1.0 - u) ** 3 - (1.0 - u))
    cubic_right = step**2 / 6.0 * (u**3 - u)
    matrix[inside] += (
        cubic_left[:, None] * curvature[left] + cubic_right[:, None] * curvature[right]
    )
    # Past the last knot: the value there plus its slope times the distance.
    beyond = rows[~inside]
    if beyond.size:
        distance = (queries[beyond] - (n - 1) * step)[:, None]
        slope = np.zeros(n)
        slope[n - 1], slope[n - 2] = 1.0 / step, -1.0 / step
        slope = slope + step / 6.0 * curvature[n - 2]  # curvature at the last knot is zero
        last = np.zeros(n)
        last[n - 1] = 1.0
        matrix[beyond] = last + distance * slope
    matrix.setflags(write=False)  # shared through the cache
    return matrix


def resize_positional_table(table, num_target_rows: int):
    """``table`` ``(N, d)`` resampled to ``(num_target_rows, d)``; unchanged when sizes agree."""
    num_rows = int(table.shape[0])
    if num_rows == num_target_rows:
        return table
    matrix = spline_resampling_matrix(num_rows, int(num_target_rows))
    return ops.matmul(ops.cast(matrix, table.dtype), table)
