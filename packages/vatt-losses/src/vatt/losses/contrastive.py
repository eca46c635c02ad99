"""Contrastive objectives of VATT: asymmetric NCE / MIL-NCE (the one every paper config uses)
and symmetric NCE, written with ``keras.ops`` only so they run on every Keras backend.

Cross-replica negatives are the caller's business: pass the embeddings gathered from every
replica as ``*_all`` (vatt-train uses ``ReplicaContext.all_gather``). With one replica the local
tensors are the global ones, which is the default.
"""

from __future__ import annotations

from collections.abc import Sequence

from keras import ops

# The original masks invalid pairs by subtracting this from their scores (objectives.py).
LARGE_NUM = 1e9
_L2_EPSILON = 1e-12  # tf.math.l2_normalize's default


def l2_normalize(x, axis: int = -1):
    """``x / ||x||`` along ``axis``, exactly as ``tf.math.l2_normalize`` (rsqrt of max(Σx², 1e-12))."""
    return x * ops.rsqrt(ops.maximum(ops.sum(ops.square(x), axis=axis, keepdims=True), _L2_EPSILON))


def _float(x):
    # Mixed-precision towers emit bfloat16: the -1e9 masking and logsumexp need float32.
    return ops.cast(ops.convert_to_tensor(x), "float32")


def _check_rank(name: str, x, ranks: Sequence[int], meaning: str) -> None:
    if len(x.shape) not in ranks:
        raise ValueError(f"{name} must be {meaning}, got a tensor of shape {tuple(x.shape)}")


def _as_bags(name: str, y):
    """[B, D] → [B, 1, D]; [B, L, D] unchanged."""
    _check_rank(name, y, (2, 3), "[B, D] or [B, L, D] (L candidates per clip)")
    return ops.expand_dims(y, 1) if len(y.shape) == 2 else y


def _as_mask(name: str, mask, batch_like):
    if mask is None:
        return ops.ones((ops.shape(batch_like)[0],), dtype="float32")
    mask = _float(mask)
    if len(mask.shape) == 2 and mask.shape[-1] == 1:  # the original's [B, 1] masks
        mask = ops.squeeze(mask, -1)
    _check_rank(name, mask, (1,), "a [B] (or [B, 1]) float mask")
    return mask


def _gathered(local, gathered, mask_local, mask_gathered, what: str):
    """The global-batch counterpart of a local tensor and its mask (default: the local ones)."""
    if gathered is None:
        if mask_gathered is not None:
            raise ValueError(f"{what}_mask_all was given without {what}_all")
        return local, mask_local
    if mask_gathered is None and mask_local is not None:
        raise ValueError(
            f"{what}_all was given with a local {what}_mask: pass {what}_mask_all too "
            "(the masks gathered from every replica), or the global negatives are unmasked"
        )
    return gathered, mask_gathered


def _rescaled(mask):
    """mask·B/Σmask (0 where Σmask = 0), the original's weighting of per-example losses.

    Averaging loss·mask·B/Σmask over the local batch averages over the valid examples only. The
    loss is multiplied by it rather than selected, so that a NaN in the inputs stays visible.
    """
    batch = ops.cast(ops.shape(mask)[0], "float32")
    valid = ops.sum(mask)
    return mask * ops.where(valid > 0, batch / ops.maximum(valid, 1.0), 0.0)


def asymmetric_nce(
    x,
    y,
    y_mask=None,
    *,
    x_all=None,
    y_all=None,
    y_mask_all=None,
    temperature: float = 0.07,
):
    """The VATT pretraining loss (``AsymmetricNCE`` of the original), exactly.

    For local clip i with query embedding x_i and candidates y_{i,1..L}, with s(a, b) = â·b̂/τ on
    l2-normalised vectors:

    * positive: pos_i = logsumexp_l s(x_i, y_{i,l}) — L > 1 makes it MIL-NCE;
    * denominator: den_i = logsumexp over {s(x_i, y_{j,l})} ∪ {s(x_j, y_{i,l})} for every clip j
      of the global batch and every l (the positives appear in both halves, as in the original);
    * masking: candidates of an invalid clip j are removed from the first set; when y_i itself is
      invalid the whole second set of row i is removed and row i's loss is multiplied by 0;
    * loss = mean_i[(den_i − pos_i)·mask_i·B/Σmask] over the local batch of size B.

    Args:
      x: ``[B, D]`` query embeddings (e.g. video ``totxt``).
      y: ``[B, L, D]`` (or ``[B, D]`` for L = 1) candidate embeddings (e.g. text ``tovid``).
      y_mask: ``[B]`` 1.0 where y is real for that clip; ``None`` means all valid.
      x_all, y_all, y_mask_all: the same tensors gathered from every replica along the batch
        axis (``[B_all, ...]``); default the local ones.
      temperature: softmax temperature τ (0.07 in every VATT config).

    Returns:
      A float32 scalar. An all-masked batch gives 0; a NaN in the inputs gives NaN.
    """
    x = _float(x)
    _check_rank("x", x, (2,), "[B, D] (one query embedding per clip)")
    y = _as_bags("y", _float(y))
    x_all = x if x_all is None else _float(x_all)
    y_all, y_mask_all = _gathered(y, y_all, y_mask, y_mask_all, "y")
    y_mask = _as_mask("y_mask", y_mask, y)
    y_all = _as_bags("y_all", _float(y_all))
    y_mask_all = _as_mask("y_mask_all", y_mask_all, y_all)

    x, x_all = l2_normalize(x), l2_normalize(x_all)
    y, y_all = l2_normalize(y), l2_normalize(y_all)

    positives = ops.einsum("bd,bld->bl", x, y) / temperature  # (B, L)
    local_vs_all = ops.einsum("bd,cld->bcl", x, y_all) / temperature  # (B, B_all, L)
    local_vs_all = local_vs_all - (1.0 - y_mask_all)[None, :, None] * LARGE_NUM
    all_vs_local = ops.einsum("cd,bld->bcl", x_all, y) / temperature  # (B, B_all, L)
    all_vs_local = all_vs_local - (1.0 - y_mask)[:, None, None] * LARGE_NUM

    scores = ops.concatenate([local_vs_all, all_vs_local], axis=1)  # (B, 2·B_all, L)
    scores = ops.reshape(scores, (ops.shape(scores)[0], -1))
    per_example = ops.logsumexp(scores, axis=1) - ops.logsumexp(positives, axis=1)
    return ops.mean(per_example * _rescaled(y_mask))


def symmetric_nce(
    x,
    y,
    x_mask=None,
    y_mask=None,
    *,
    x_all=None,
    y_all=None,
    x_mask_all=None,
    y_mask_all=None,
    temperature: float = 0.07,
):
    """Two directional (MIL-)InfoNCE terms, added: the original's ``SymmetricNCE``.

    With N1 candidates per clip on the x side and N2 on the y side, the positive score of clip i
    is logsumexp over its N1·N2 pairs; term x→y normalises against every (x_i, y_{j,·}) pair of
    the global batch and term y→x against every (y_i, x_{j,·}) pair. Pairs that involve an
    invalid clip (per ``x_mask`` / ``y_mask``) are removed, and each term is the masked,
    B/Σmask-rescaled mean over the local batch, as in :func:`asymmetric_nce`.

    Args:
      x: ``[B, D]`` or ``[B, N1, D]``; y: ``[B, D]`` or ``[B, N2, D]``.
      x_mask, y_mask: ``[B]`` validity masks (``None``: all valid).
      x_all, y_all, x_mask_all, y_mask_all: the same, gathered from every replica.
      temperature: softmax temperature τ.

    Returns:
      A float32 scalar: loss(x→y) + loss(y→x).
    """
    x = _as_bags("x", _float(x))
    y = _as_bags("y", _float(y))
    x_all, x_mask_all = _gathered(x, x_all, x_mask, x_mask_all, "x")
    y_all, y_mask_all = _gathered(y, y_all, y_mask, y_mask_all, "y")
    x_all, y_all = _as_bags("x_all", _float(x_all)), _as_bags("y_all", _float(y_all))
    x_mask, y_mask = _as_mask("x_mask", x_mask, x), _as_mask("y_mask", y_mask, y)
    x_mask_all = _as_mask("x_mask_all", x_mask_all, x_all)
    y_mask_all = _as_mask("y_mask_all", y_mask_all, y_all)

    x, x_all = l2_normalize(x), l2_normalize(x_all)
    y, y_all = l2_normalize(y), l2_normalize(y_all)

    positives = ops.einsum("bmd,bnd->bmn", x, y) / temperature  # (B, N1, N2)
    positives = ops.reshape(positives, (ops.shape(positives)[0], -1))
    x_vs_y_all = ops.einsum("bmd,cnd->bcmn", x, y_all) / temperature  # (B, B_all, N1, N2)
    y_vs_x_all = ops.einsum("bnd,cmd->bcnm", y, x_all) / temperature  # (B, B_all, N2, N1)
    # A pair is invalid when either of its clips is: the anchor (local) or the candidate (global).
    x_vs_y_all -= (1.0 - x_mask)[:, None, None, None] * LARGE_NUM
    x_vs_y_all -= (1.0 - y_mask_all)[None, :, None, None] * LARGE_NUM
    y_vs_x_all -= (1.0 - y_mask)[:, None, None, None] * LARGE_NUM
    y_vs_x_all -= (1.0 - x_mask_all)[None, :, None, None] * LARGE_NUM

    batch = ops.shape(x)[0]
    pos = ops.logsumexp(positives, axis=1)
    x_to_y = ops.logsumexp(ops.reshape(x_vs_y_all, (batch, -1)), axis=1) - pos
    y_to_x = ops.logsumexp(ops.reshape(y_vs_x_all, (batch, -1)), axis=1) - pos
    # The original applies each side's mask and B/Σmask scale in turn, to both terms.
    weight = _rescaled(x_mask) * _rescaled(y_mask)
    return ops.mean(x_to_y * weight) + ops.mean(y_to_x * weight)
