"""The pretraining objective over a model's output dict (ARCHITECTURE.md contract 2)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from keras import ops

from vatt.losses.contrastive import asymmetric_nce

Gather = Callable[[Any], Any]


def _embedding(outputs: Mapping[str, Any], modality: str, space: str):
    try:
        return outputs["head"][modality][space]
    except (KeyError, TypeError):
        heads = outputs.get("head", {}) if isinstance(outputs, Mapping) else {}
        available = {m: sorted(v) for m, v in heads.items()} if isinstance(heads, Mapping) else {}
        raise KeyError(
            f"model outputs have no head[{modality!r}][{space!r}] (available: {available}); "
            "a pretraining model must return the FAC head embeddings of contract 2, or set "
            "this pair's weight to 0"
        ) from None


def _mask(batch: Mapping[str, Any], key: str, like):
    if key in batch:
        return ops.reshape(ops.cast(batch[key], "float32"), (-1,))
    return ops.ones((ops.shape(like)[0],), dtype="float32")


def _pair_loss(x, y, y_mask, gather: Gather | None, temperature: float):
    if gather is None:
        return asymmetric_nce(x, y, y_mask, temperature=temperature)
    return asymmetric_nce(
        x,
        y,
        y_mask,
        x_all=gather(x),
        y_all=gather(y),
        y_mask_all=gather(y_mask),
        temperature=temperature,
    )


def pretrain_objective(
    outputs: Mapping[str, Any],
    batch: Mapping[str, Any],
    *,
    temperature: float = 0.07,
    vid_txt_weight: float = 1.0,
    vid_aud_weight: float = 1.0,
    gather: Gather | None = None,
) -> dict[str, Any]:
    """VATT's pretraining loss: MIL-NCE video–text plus NCE video–audio, weighted.

    * ``vid_txt``: :func:`asymmetric_nce` with x = ``head.video.totxt`` ``[B, 256]`` and
      y = ``head.text.tovid`` ``[B·K, 256]`` viewed as ``[B, K, 256]`` (K captions per clip),
      masked by ``batch["text_mask"]`` (0 for clips without narration, e.g. AudioSet).
    * ``vid_aud``: x = ``head.video.toaud``, y = ``head.audio.tovid`` (L = 1), masked by
      ``batch["audio_mask"]``.
    * ``total`` = Σ w·loss / Σ w over the pairs with a non-zero weight, as the original.

    A missing mask means "all valid". ``gather`` maps a local ``[B, ...]`` tensor to the tensor
    gathered from every replica (``[B_all, ...]``), e.g.
    ``lambda t: tf.distribute.get_replica_context().all_gather(t, axis=0)``; ``None`` uses the
    local batch as the negatives.

    Returns:
      ``{"vid_txt", "vid_aud", "total"}`` float32 scalars (a pair with weight 0 is omitted).
    """
    if vid_txt_weight < 0 or vid_aud_weight < 0 or vid_txt_weight + vid_aud_weight <= 0:
        raise ValueError(
            "vid_txt_weight and vid_aud_weight must be >= 0 with a positive sum, got "
            f"{vid_txt_weight} and {vid_aud_weight}"
        )
    terms: dict[str, Any] = {}
    weighted = []
    if vid_txt_weight > 0:
        video = _embedding(outputs, "video", "totxt")
        text = _embedding(outputs, "text", "tovid")
        text = ops.reshape(text, (ops.shape(video)[0], -1, ops.shape(text)[-1]))
        mask = _mask(batch, "text_mask", video)
        terms["vid_txt"] = _pair_loss(video, text, mask, gather, temperature)
        weighted.append(vid_txt_weight * terms["vid_txt"])
    if vid_aud_weight > 0:
        video = _embedding(outputs, "video", "toaud")
        audio = _embedding(outputs, "audio", "tovid")
        mask = _mask(batch, "audio_mask", video)
        terms["vid_aud"] = _pair_loss(video, audio, mask, gather, temperature)
        weighted.append(vid_aud_weight * terms["vid_aud"])
    terms["total"] = sum(weighted[1:], weighted[0]) / (vid_txt_weight + vid_aud_weight)
    return terms
