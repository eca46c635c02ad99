"""Writing clips as DMVR records: one ``tf.train.SequenceExample`` per clip, in sharded TFRecord files.

The layout is the one DMVR and the original VATT read (see :mod:`vatt.data.features`): one JPEG per
``image/encoded`` feature-list entry, the whole mono waveform in ONE ``WAVEFORM/feature/floats``
entry, captions, label ids and label names in the context.

Shard files are named ``<split>-<index:05d>-of-<count:05d>`` (``train-00003-of-00008``), DMVR's
convention, which a :class:`~vatt.data.registry.DatasetSpec` table finds both as ``train@8`` (exactly
those eight files) and as ``train`` (every ``train-*-of-*`` file).
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
from collections.abc import Iterable, Sequence

import numpy as np
import tensorflow as tf

from vatt.data import features

# On tf.io.encode_jpeg's 1-100 scale; 90 keeps the edges of the synthetic shapes clean.
DEFAULT_JPEG_QUALITY = 90


@dataclasses.dataclass(frozen=True)
class Clip:
    """One clip, as it goes into a record.

    Attributes:
      frames: uint8 ``[T, H, W, 3]`` RGB frames, or a sequence of already encoded JPEG bytes
        (one per frame, as the converter produces them).
      waveform: mono waveform ``[S]`` in [-1, 1]; stored as float32. ``None`` writes no audio.
      captions: zero or more captions.
      labels: zero or more class ids (several for multi-label datasets).
      label_names: the class names of ``labels``, written under both DMVR name keys.
      media_id: where the clip comes from (a file path or a video id), ``video/filename``.
      start_seconds, end_seconds: where the clip lies in the source, stored in microseconds.
    """

    frames: np.ndarray | Sequence[bytes]
    waveform: np.ndarray | None = None
    captions: Sequence[str] = ()
    labels: Sequence[int] = ()
    label_names: Sequence[str] = ()
    media_id: str | None = None
    start_seconds: float | None = None
    end_seconds: float | None = None


def encode_jpeg_frames(frames: np.ndarray, quality: int = DEFAULT_JPEG_QUALITY) -> list[bytes]:
    """Encodes uint8 ``[T, H, W, 3]`` frames to one JPEG each."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or not len(frames):
        raise ValueError(
            f"frames must be uint8 [T, H, W, 3] with T >= 1, got {frames.dtype} {list(frames.shape)}; "
            "convert with np.clip(x, 0, 255).astype(np.uint8) and stack the frames on axis 0"
        )
    return [tf.io.encode_jpeg(frame, quality=quality).numpy() for frame in frames]


def _bytes_feature(values: Sequence[bytes]) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))


def _int64_feature(values: Sequence[int]) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))


def _encode_strings(values: Sequence[str], what: str) -> list[bytes]:
    if isinstance(values, str | bytes):
        raise TypeError(f"{what} must be a list of strings, got a single string {values!r}")
    return [v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in values]


def encode_clip(clip: Clip, jpeg_quality: int = DEFAULT_JPEG_QUALITY) -> tf.train.SequenceExample:
    """Builds the ``tf.train.SequenceExample`` of one clip in DMVR's layout.

    Every frame becomes its own ``image/encoded`` feature-list entry (storing all frames in one
    entry is the classic DMVR mistake that breaks every reader).
    """
    if isinstance(clip.frames, np.ndarray):
        jpegs = encode_jpeg_frames(clip.frames, jpeg_quality)
    else:
        jpegs = list(clip.frames)
        if not jpegs or not all(isinstance(j, bytes) for j in jpegs):
            raise ValueError("frames must be a uint8 array or a non-empty list of JPEG bytes")
    example = tf.train.SequenceExample()
    feature_lists = example.feature_lists.feature_list
    feature_lists[features.IMAGE_KEY].feature.extend(_bytes_feature([j]) for j in jpegs)

    if clip.waveform is not None:
        waveform = np.asarray(clip.waveform, dtype=np.float32)
        if waveform.ndim != 1 or not waveform.size or not np.all(np.isfinite(waveform)):
            raise ValueError(
                f"waveform must be a non-empty finite mono array [S], got shape "
                f"{list(waveform.shape)}; average the channels of a stereo signal first"
            )
        feature_lists[features.WAVEFORM_KEY].feature.add().float_list.value.extend(waveform)

    context = example.context.feature
    if clip.captions:
        context[features.CAPTION_KEY].CopyFrom(
            _bytes_feature(_encode_strings(clip.captions, "captions"))
        )
    if len(clip.labels):
        labels = [int(v) for v in clip.labels]
        if min(labels) < 0:
            raise ValueError(f"label ids must be >= 0, got {labels}")
        context[features.LABEL_INDEX_KEY].CopyFrom(_int64_feature(labels))
    if clip.label_names:
        names = _bytes_feature(_encode_strings(clip.label_names, "label_names"))
        context[features.LABEL_TEXT_KEY].CopyFrom(names)
        context[features.LABEL_STRING_KEY].CopyFrom(names)
    if clip.media_id is not None:
        context[features.FILENAME_KEY].CopyFrom(_bytes_feature([clip.media_id.encode("utf-8")]))
    for key, seconds in (
        (features.START_TIMESTAMP_KEY, clip.start_seconds),
        (features.END_TIMESTAMP_KEY, clip.end_seconds),
    ):
        if seconds is not None:
            context[key].CopyFrom(_int64_feature([round(seconds * 1e6)]))
    return example


def shard_name(split: str, index: int, num_shards: int) -> str:
    """``train-00003-of-00008``: the file name of shard ``index`` of ``split``."""
    return f"{split}-{index:05d}-of-{num_shards:05d}"


def table_pattern(split: str, num_shards: int) -> str:
    """The registry table entry (``train@8``) that finds the shards :func:`shard_name` names."""
    return f"{split}@{num_shards}"


def check_split_is_free(out_dir: str | os.PathLike, split: str, num_shards: int) -> None:
    """Raises if ``out_dir`` holds shards of ``split`` with another shard count.

    A table such as ``train`` globs every ``train-*-of-*`` file, so shards left from an earlier
    run would be read together with the new ones.
    """
    expected = {shard_name(split, i, num_shards) for i in range(num_shards)}
    stale = sorted(
        p.name for p in pathlib.Path(out_dir).glob(f"{split}-*-of-*") if p.name not in expected
    )
    if stale:
        raise FileExistsError(
            f"{out_dir} already holds {len(stale)} shards of split {split!r} from another run "
            f"(first: {stale[0]}); a table would read them together with the new ones. Remove "
            "them, or write to another directory or split."
        )


def _serialize(record: tf.train.SequenceExample | bytes) -> bytes:
    # deterministic: map keys sorted, so files are byte-identical whatever the process's hash seed.
    return record if isinstance(record, bytes) else record.SerializeToString(deterministic=True)


def _partial_path(path: pathlib.Path) -> pathlib.Path:
    # Hidden and without "-of-" at the end, so no table pattern ever globs a half-written shard.
    return path.with_name(f".{path.name}.partial")


def write_records(
    path: str | os.PathLike, records: Iterable[tf.train.SequenceExample | bytes]
) -> int:
    """Writes records (protos or serialized bytes) to one TFRecord file; returns how many.

    The file appears at ``path`` only once every record is written.
    """
    path = pathlib.Path(path)
    partial = _partial_path(path)
    count = 0
    try:
        with tf.io.TFRecordWriter(str(partial)) as writer:
            for record in records:
                writer.write(_serialize(record))
                count += 1
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(path)
    return count


class ShardedRecordWriter:
    """Writes records round-robin into the ``num_shards`` shard files of one split.

    Shards are written under hidden temporary names and renamed when the writer closes without an
    error, so that a reader never globs a half-written shard; shards of the split with another
    count already in ``out_dir`` are an error (see :func:`check_split_is_free`). Use it as a
    context manager::

        with ShardedRecordWriter(out_dir, "train", num_shards=8) as writer:
            for clip in clips:
                writer.write(encode_clip(clip))
    """

    def __init__(self, out_dir: str | os.PathLike, split: str, num_shards: int) -> None:
        if num_shards < 1:
            raise ValueError(f"num_shards must be >= 1, got {num_shards}")
        if not split or "/" in split or "@" in split or "-of-" in split:
            raise ValueError(f"split {split!r} must be a plain name such as 'train' or 'test'")
        self.out_dir = pathlib.Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        check_split_is_free(self.out_dir, split, num_shards)
        self.paths = [self.out_dir / shard_name(split, i, num_shards) for i in range(num_shards)]
        self._partial = [_partial_path(p) for p in self.paths]
        self._writers = [tf.io.TFRecordWriter(str(p)) for p in self._partial]
        self.num_written = 0

    def write(self, record: tf.train.SequenceExample | bytes) -> None:
        """Appends one record (a proto or its serialized bytes) to the next shard."""
        self._writers[self.num_written % len(self._writers)].write(_serialize(record))
        self.num_written += 1

    def close(self, keep: bool = True) -> list[pathlib.Path]:
        """Closes every shard; renames them into place if ``keep``, deletes them otherwise."""
        for writer in self._writers:
            writer.close()
        for partial, final in zip(self._partial, self.paths, strict=True):
            if keep:
                partial.replace(final)
            else:
                partial.unlink(missing_ok=True)
        self._writers = []
        return self.paths if keep else []

    def __enter__(self) -> ShardedRecordWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._writers:
            self.close(keep=exc_type is None)
