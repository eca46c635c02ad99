"""The running count of looped or padded clips: summed flags in, rate-limited warnings out."""

import logging

import vatt.data as vd


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_the_count_is_logged_at_the_first_short_clip_then_at_most_every_interval(caplog):
    clock = _Clock()
    log = vd.ShortClipLog(min_interval_s=60.0, clock=clock)
    with caplog.at_level(logging.WARNING, logger="vatt.data"):
        log.update({"video_short": 0.0, "audio_short": 0.0, "other": 5.0})
        assert not caplog.records  # nothing short, nothing said
        log.update({"video_short": 2.0, "audio_short": 1.0})
        clock.now = 30.0
        log.update({"video_short": 1.0})  # within the interval: counted, not logged
        clock.now = 90.0
        log.update({})  # due: the count grew since the last warning
        clock.now = 200.0
        log.update({})  # due, but nothing new
        log.update({"audio_short": 4.0})
    assert log.totals == {"video_short": 3, "audio_short": 5}
    messages = [record.getMessage() for record in caplog.records]
    assert [m.split(" than")[0] for m in messages] == [
        "short clips so far: 2 with fewer frames and 1 with fewer audio samples",
        "short clips so far: 3 with fewer frames and 1 with fewer audio samples",
        "short clips so far: 3 with fewer frames and 5 with fewer audio samples",
    ]
    assert "vatt-data validate" in messages[0] and "short_input_policy='error'" in messages[0]
