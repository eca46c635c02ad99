"""DropToken: random token subsampling during training (VATT §3, spec §1.2 step 5)."""

from __future__ import annotations

import keras
from keras import ops

from vatt.models.layers.configured import ConfiguredLayer


class DropToken(ConfiguredLayer):
    """Keep a random subset of ``int(rate * max_tokens)`` tokens while training.

    As the original, ONE permutation is drawn per batch and shared by every example, and the
    kept count comes from the maximum token grid (``max_tokens``), not from the actual number
    of tokens (fewer tokens than that are all kept, shuffled). At inference, or with
    ``enabled=False``, tokens pass through unchanged.

    Fused attention kernels run fastest when the sequence length is a multiple of 64:
    ``sequence_multiple`` rounds the kept count down so that it plus ``extra_tokens`` (the
    aggregation token the backbone prepends) is a multiple of it, e.g. 1568 patches at rate 0.5
    keep 767 instead of 784 (768 tokens instead of 785). A rounding that would keep no multiple
    at all is not applied.

    Args:
        rate: fraction of ``max_tokens`` to keep (``patch_sampling_rate``, 0.5 in VATT).
        max_tokens: token count of the full positional grid (e.g. 8*14*14 = 1568).
        enabled: the original ``random_patch_sampling`` switch.
        seed: optional seed of the permutation.
        sequence_multiple: round ``kept + extra_tokens`` down to a multiple of this (1: the
            original's ``int(rate * max_tokens)``).
        extra_tokens: tokens the backbone adds to the kept ones before its Transformer.

    Call args:
        tokens: ``(B, N, d)``; training: sampling happens only when True.
    """

    def __init__(
        self,
        rate: float,
        max_tokens: int,
        enabled: bool = True,
        seed: int | None = None,
        sequence_multiple: int = 1,
        extra_tokens: int = 0,
        name: str = "drop_token",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        if not 0.0 < rate <= 1.0:
            raise ValueError(f"DropToken rate must be in (0, 1], got {rate}")
        if int(rate * max_tokens) < 1:
            raise ValueError(f"DropToken would keep no token: int({rate} * {max_tokens}) == 0")
        if sequence_multiple < 1 or extra_tokens < 0:
            raise ValueError(
                f"sequence_multiple must be >= 1 and extra_tokens >= 0, got {sequence_multiple} "
                f"and {extra_tokens}"
            )
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    @property
    def num_kept(self) -> int:
        """Tokens kept per example in training: ``int(rate * max_tokens)``, rounded."""
        kept = int(self.rate * self.max_tokens)
        sequence = (kept + self.extra_tokens) // self.sequence_multiple * self.sequence_multiple
        return sequence - self.extra_tokens if sequence > self.extra_tokens else kept

    def kept_indices(self, num_tokens: int | None, training=False):
        """Positions of the tokens kept from ``num_tokens``, or None when all pass (inference,
        or ``enabled=False``). One draw of the layer's seed per call."""
        if not (training and self.enabled):
            return None
        if num_tokens is None:
            raise ValueError("DropToken needs a static token count; got (B, None, d) tokens")
        permutation = keras.random.shuffle(ops.arange(num_tokens), seed=self.seed_generator)
        return permutation[: min(self.num_kept, num_tokens)]

    def call(self, tokens, training=False):
        kept = self.kept_indices(tokens.shape[1], training)
        return tokens if kept is None else ops.take(tokens, kept, axis=1)
