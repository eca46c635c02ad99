"""Clips shorter than what the loaders read: counted per example, reported as a running count.

A record with fewer frames or waveform samples than a loader's window is looped or padded to fill it
(``short_input_policy``). The sample step marks every such clip: each batch carries ``video_short``
and ``audio_short`` (float32 ``[B]``, 1.0 for a clip whose window was filled that way). A flag per
example travels through tf.data's parallel maps and ``tf.distribute`` like any other input; whoever
consumes the batches sums the flags (vatt-train does, inside its train step, over every replica) and
hands the sums to a :class:`ShortClipLog`, which logs the running count. ``vatt-data validate`` names
the records themselves.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping

from vatt.data import features

# The per-example flags of the batches, in the order they are reported.
SHORT_CLIP_KEYS = (features.VIDEO_SHORT, features.AUDIO_SHORT)

logger = logging.getLogger("vatt.data")


class ShortClipLog:
    """Running counts of the clips the loaders looped or padded, logged as a warning at the first
    one and then at most every ``min_interval_s`` seconds while the count grows."""

    def __init__(
        self, *, min_interval_s: float = 600.0, clock: Callable[[], float] = time.monotonic
    ):
        self.totals = dict.fromkeys(SHORT_CLIP_KEYS, 0)
        self._min_interval_s = min_interval_s
        self._clock = clock
        self._logged_at: float | None = None
        self._logged_totals = dict(self.totals)

    def update(self, counts: Mapping[str, float]) -> None:
        """Add ``counts`` (flag key -> clips, e.g. the sums of a batch's ``video_short`` and
        ``audio_short``; other keys are ignored) and log the totals if they grew and the last
        warning is older than ``min_interval_s``."""
        for key in SHORT_CLIP_KEYS:
            self.totals[key] += int(round(counts.get(key, 0)))
        now = self._clock()
        due = self._logged_at is None or now - self._logged_at >= self._min_interval_s
        if due and self.totals != self._logged_totals:
            self._logged_at, self._logged_totals = now, dict(self.totals)
            logger.warning(self.message())

    def message(self) -> str:
        """The running counts, what they mean and how to find the records."""
        video, audio = (self.totals[key] for key in SHORT_CLIP_KEYS)
        return (
            f"short clips so far: {video} with fewer frames and {audio} with fewer audio samples "
            "than the loader's window; they were looped or padded to fill it "
            "(short_input_policy). `vatt-data validate DATA --dataset NAME` with the loader's "
            "settings names the records; short_input_policy='error' refuses them"
        )
