"""The aggregation token that every VATT backbone prepends to its token sequence."""

from __future__ import annotations

from keras import ops


def prepend_agg_token(tokens, agg_embedding, attention_mask=None):
    """``[agg; tokens]``: the learned ``agg_embedding`` as row 0 of every example.

    Args:
        tokens: ``(B, N, d)``.
        agg_embedding: the ``(d,)`` weight (cast to the tokens' dtype).
        attention_mask: optional ``(B, N)`` 0/1 mask of the tokens.

    Returns:
        The ``(B, N + 1, d)`` tokens and the ``(B, N + 1)`` mask that also attends to the agg
        token (None without ``attention_mask``).
    """
    agg = ops.cast(agg_embedding, tokens.dtype)[None, None, :]
    agg = ops.broadcast_to(agg, (ops.shape(tokens)[0], 1, tokens.shape[-1]))
    tokens = ops.concatenate([agg, tokens], axis=1)
    if attention_mask is not None:
        ones = ops.ones_like(attention_mask[:, :1])
        attention_mask = ops.concatenate([ones, attention_mask], axis=1)
    return tokens, attention_mask
