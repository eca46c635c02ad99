"""Names shared by the record writer and the readers.

Record keys follow DMVR's defaults, so records written for DMVR (and for the original VATT) are read
unchanged. A record is one ``tf.train.SequenceExample`` per clip:

==========================  =============  ===================================================
key                          where          layout
==========================  =============  ===================================================
``image/encoded``            feature_lists  one bytes Feature per frame, each one JPEG
``WAVEFORM/feature/floats``  feature_lists  ONE float Feature holding the whole mono waveform
``caption/string``           context        bytes, one or more captions
``clip/label/index``         context        int64, one or more class ids
``clip/label/text``          context        bytes, the class name(s)
``video/filename``           context        bytes, the source file (written, not read)
``clip/start/timestamp``     context        int64 microseconds (written, not read)
``clip/end/timestamp``       context        int64 microseconds (written, not read)
==========================  =============  ===================================================
"""

from __future__ import annotations

# Keys inside a serialized tf.train.SequenceExample.
IMAGE_KEY = "image/encoded"
FLOW_KEY = "flow/encoded"
WAVEFORM_KEY = "WAVEFORM/feature/floats"
CAPTION_KEY = "caption/string"
LABEL_INDEX_KEY = "clip/label/index"
LABEL_TEXT_KEY = "clip/label/text"
# DMVR's own tests write the label names under this key; the writer writes both.
LABEL_STRING_KEY = "clip/label/string"
FILENAME_KEY = "video/filename"
START_TIMESTAMP_KEY = "clip/start/timestamp"
END_TIMESTAMP_KEY = "clip/end/timestamp"

# Keys of the example dicts inside a pipeline, and of the batches (contract 1).
VIDEO = "video"
AUDIO = "audio"
AUDIO_SPECTROGRAM = "audio_spectrogram"
TEXT = "text"
TEXT_STRING = "text_string"
TEXT_MASK = "text_mask"
AUDIO_MASK = "audio_mask"
LABEL = "label"
LABEL_NAME = "label_name"
NUM_VIEWS = "num_views"
# ``video`` + this: the per-clip draws that travel with uint8 video (``video_dtype="uint8"``).
AUGMENT_SUFFIX = "_augment"
VIDEO_AUGMENT = VIDEO + AUGMENT_SUFFIX
# ``video`` + this: where each clip's decoded window lies in its canvas (``resize_on_accelerator``).
WINDOW_SUFFIX = "_window"
VIDEO_WINDOW = VIDEO + WINDOW_SUFFIX
# ``video``/``audio`` + this: float32 1.0 for a clip whose window reached past the end of the
# record, so the loader looped or padded it (``short_input_policy``); summed to report them.
SHORT_SUFFIX = "_short"
VIDEO_SHORT = VIDEO + SHORT_SUFFIX
AUDIO_SHORT = AUDIO + SHORT_SUFFIX
KEY = "key"

# Storage conventions that no record carries: readers must know them (dmvr-design.md §3).
HOWTO100M_FPS = 10
DEFAULT_FPS = 25
# The rate the audio length is defined against: num_frames / REFERENCE_FPS seconds of audio.
REFERENCE_FPS = 10
DEFAULT_SAMPLE_RATE = 48_000
