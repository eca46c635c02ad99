"""Checking records against what the loaders of a dataset expect, naming the first bad record.

The loaders read the keys of :mod:`vatt.data.features` for every modality of the dataset's
:class:`~vatt.data.registry.DatasetSpec`. A record that breaks that format fails deep inside tf.data with
errors such as ``Number of values != expected. values size: 23 but output shape: []``; this module says
instead which file, which record, which key and what to change. Given the windows a loader reads
(:func:`vatt.data.config.windows_read`), it also lists every record with fewer frames or audio
samples than a window, which that loader would loop or pad.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Iterator, Sequence

import numpy as np
import tensorflow as tf
from google.protobuf.message import DecodeError
from tqdm import tqdm

from vatt.data import features
from vatt.data.config import Window
from vatt.data.registry import DatasetSpec, resolve_table

_WRITER_HINT = "write records with vatt.data.records.encode_clip or `vatt-data convert`"


@dataclasses.dataclass(frozen=True)
class RecordProblem:
    """What is wrong with one record.

    Attributes:
      path: the record file.
      index: the record's position in the file, from 0.
      key: the record key at fault; None when the record or file itself is unreadable.
      message: what is wrong and how to fix it.
    """

    path: str
    index: int
    key: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}, record {self.index}"
        return (
            f"{where}, key {self.key!r}: {self.message}" if self.key else f"{where}: {self.message}"
        )


@dataclasses.dataclass(frozen=True)
class ShortRecord:
    """A record holding fewer frames or audio samples than a loader's window reads.

    Attributes:
      path: the record file.
      index: the record's position in the file, from 0.
      clip: the record's ``video/filename`` (its source clip), or None.
      window: what the loader reads (:class:`vatt.data.config.Window`).
      length: the frames or samples the record holds.
    """

    path: str
    index: int
    clip: str | None
    window: Window
    length: int

    def __str__(self) -> str:
        clip = f" ({self.clip})" if self.clip else ""
        window = self.window
        return (
            f"{self.path}, record {self.index}{clip}: {window.modality} holds {self.length} "
            f"{window.unit} ({self.length / window.rate:g} s); the loader reads {window}"
        )


@dataclasses.dataclass(frozen=True)
class ValidationReport:
    """The outcome of :func:`validate_records`: records checked, the first problem if any, and
    every record shorter than a window."""

    files: tuple[str, ...]
    num_records: int
    problem: RecordProblem | None
    short: tuple[ShortRecord, ...] = ()

    @property
    def ok(self) -> bool:
        """True when every checked record matches the dataset and holds every window."""
        return self.problem is None and not self.short


class _Invalid(Exception):
    def __init__(self, key: str | None, message: str):
        super().__init__(message)
        self.key, self.message = key, message


def _error_text(error: tf.errors.OpError) -> str:
    # Drop TensorFlow's "{{function_node ...}}" prefix and "[Op:...]" suffix: they name no record.
    text = error.message.split("}}")[-1]
    return text.split(" [Op:")[0].strip()


def _present_keys(example: tf.train.SequenceExample) -> str:
    lists = sorted(example.feature_lists.feature_list)
    context = sorted(example.context.feature)
    return f"the record has feature lists {lists} and context keys {context}"


def _missing(example: tf.train.SequenceExample, key: str, where: str) -> _Invalid:
    other = "context" if where == "feature_lists" else "feature_lists"
    container = (
        example.context.feature if other == "context" else example.feature_lists.feature_list
    )
    if key in container:
        layout = (
            "one feature-list entry per frame (a tf.train.SequenceExample; a tf.train.Example has "
            "no feature lists)"
            if where == "feature_lists"
            else "a context feature"
        )
        return _Invalid(key, f"found in {other}, but it must be {layout}; {_WRITER_HINT}")
    present = {
        k.lower(): k for k in (*example.feature_lists.feature_list, *example.context.feature)
    }
    close = difflib.get_close_matches(key.lower(), present, n=1, cutoff=0.6)
    hint = f" Did you mean {present[close[0]]!r}? Rename it to {key!r}." if close else ""
    return _Invalid(key, f"missing; {_present_keys(example)}.{hint}")


def _context_values(example: tf.train.SequenceExample, key: str, kind: str) -> list:
    if key not in example.context.feature:
        raise _missing(example, key, "context")
    feature = example.context.feature[key]
    if feature.WhichOneof("kind") != kind:
        raise _Invalid(key, f"holds {feature.WhichOneof('kind')}, expected {kind}")
    values = list(getattr(feature, kind).value)
    if not values:
        raise _Invalid(key, "is empty")
    return values


def _check_frames(example: tf.train.SequenceExample, decode: bool) -> None:
    key = features.IMAGE_KEY
    if key not in example.feature_lists.feature_list:
        raise _missing(example, key, "feature_lists")
    entries = example.feature_lists.feature_list[key].feature
    if not entries:
        raise _Invalid(key, "has no frames")
    frame_shape = None
    for index, entry in enumerate(entries):
        if entry.WhichOneof("kind") != "bytes_list":
            raise _Invalid(
                key, f"entry {index} holds {entry.WhichOneof('kind')}, expected JPEG bytes"
            )
        count = len(entry.bytes_list.value)
        if count != 1 and len(entries) == 1:
            raise _Invalid(
                key,
                f"all {count} frames are in ONE feature-list entry; the format is one entry per "
                f"frame, each holding one JPEG (the classic DMVR generator bug); {_WRITER_HINT}",
            )
        if count != 1:
            raise _Invalid(
                key, f"entry {index} holds {count} values; each entry must hold one JPEG"
            )
        jpeg = entry.bytes_list.value[0]
        try:
            shape = (
                tf.io.decode_jpeg(jpeg, channels=3).shape
                if decode
                else tuple(tf.image.extract_jpeg_shape(jpeg).numpy())
            )
        except (tf.errors.InvalidArgumentError, tf.errors.DataLossError) as error:
            raise _Invalid(
                key, f"frame {index} is not a decodable JPEG ({_error_text(error)})"
            ) from None
        if frame_shape is None:
            frame_shape = shape
        elif tuple(shape[:2]) != tuple(frame_shape[:2]):
            raise _Invalid(
                key,
                f"frame {index} is {shape[0]}x{shape[1]} but frame 0 is "
                f"{frame_shape[0]}x{frame_shape[1]}; all frames of a clip must have one size",
            )


def _check_waveform(example: tf.train.SequenceExample) -> None:
    key = features.WAVEFORM_KEY
    if key not in example.feature_lists.feature_list:
        raise _missing(example, key, "feature_lists")
    entries = example.feature_lists.feature_list[key].feature
    if len(entries) != 1:
        raise _Invalid(
            key,
            f"has {len(entries)} feature-list entries; the whole mono waveform must be ONE entry "
            "(readers take entry 0 only)",
        )
    kind = entries[0].WhichOneof("kind")
    if kind != "float_list":
        raise _Invalid(key, f"holds {kind}; store the waveform as float32 in [-1, 1]")
    waveform = np.asarray(entries[0].float_list.value, dtype=np.float32)
    if not waveform.size:
        raise _Invalid(key, "the waveform is empty")
    if not np.all(np.isfinite(waveform)):
        raise _Invalid(key, "the waveform holds NaN or infinite values")
    peak = float(np.max(np.abs(waveform)))
    if peak > 1.0 + 1e-6:
        raise _Invalid(
            key,
            f"the waveform reaches {peak:g}; store float in [-1, 1] (16-bit PCM: divide by 32768)",
        )


def _check_captions(example: tf.train.SequenceExample) -> None:
    key = features.CAPTION_KEY
    captions = _context_values(example, key, "bytes_list")
    if not any(c.strip() for c in captions):
        raise _Invalid(key, f"all {len(captions)} captions are empty")


def _check_labels(example: tf.train.SequenceExample, spec: DatasetSpec) -> None:
    key = features.LABEL_INDEX_KEY
    labels = _context_values(example, key, "int64_list")
    if len(labels) > 1 and not spec.multi_label:
        raise _Invalid(
            key, f"holds {len(labels)} labels {labels}, but {spec.name!r} is single-label"
        )
    bad = [v for v in labels if not 0 <= v < spec.num_classes]
    if bad:
        raise _Invalid(
            key,
            f"label {bad[0]} is out of range for {spec.name!r}, which has {spec.num_classes} "
            f"classes (valid ids 0..{spec.num_classes - 1})",
        )


def check_record(serialized: bytes, spec: DatasetSpec, *, decode_frames: bool = True) -> None:
    """Raises ``ValueError("key 'K': ...")`` if one serialized record does not fit ``spec``.

    Args:
      serialized: one record's bytes.
      spec: the dataset whose modalities say which keys are required.
      decode_frames: decode every JPEG (slower, catches corrupt frames); otherwise only read
        their headers.
    """
    try:
        _check_example(_parse(serialized), spec, decode_frames)
    except _Invalid as invalid:
        key, message = invalid.key, invalid.message
        raise ValueError(f"key {key!r}: {message}" if key else message) from None


def _parse(serialized: bytes) -> tf.train.SequenceExample:
    try:
        return tf.train.SequenceExample.FromString(serialized)
    except DecodeError as error:
        raise _Invalid(None, f"not a tf.train.SequenceExample ({error}); {_WRITER_HINT}") from None


def _check_example(example: tf.train.SequenceExample, spec: DatasetSpec, decode: bool) -> None:
    if "video" in spec.modalities:
        _check_frames(example, decode)
    if "audio" in spec.modalities:
        _check_waveform(example)
    if "text" in spec.modalities:
        _check_captions(example)
    if "label" in spec.modalities:
        _check_labels(example, spec)


def _length(example: tf.train.SequenceExample, modality: str) -> int | None:
    """Frames (video) or waveform samples (audio) of a record; None when it stores none."""
    lists = example.feature_lists.feature_list
    key = features.IMAGE_KEY if modality == "video" else features.WAVEFORM_KEY
    if key not in lists or not lists[key].feature:
        return None
    if modality == "video":
        return len(lists[key].feature)
    return len(lists[key].feature[0].float_list.value)


def _short_windows(
    example: tf.train.SequenceExample, windows: Sequence[Window], path: str, index: int
) -> list[ShortRecord]:
    lengths = [(window, _length(example, window.modality)) for window in windows]
    short = [(w, length) for w, length in lengths if length is not None and length < w.span]
    if not short:
        return []
    name = example.context.feature[features.FILENAME_KEY].bytes_list.value
    clip = name[0].decode("utf-8", "replace") if name else None
    return [ShortRecord(path, index, clip, window, length) for window, length in short]


def record_files(path: str | os.PathLike) -> list[str]:
    """The record files at ``path``: a file, a directory (its ``*-of-*`` shards) or a table path
    (``dir/train@8``, ``dir/train``)."""
    path = os.fspath(path)
    if tf.io.gfile.exists(path) and not tf.io.gfile.isdir(path):
        return [path]
    return resolve_table(path)


def _iterate(path: str, compression_type: str | None) -> Iterator[bytes]:
    return tf.data.TFRecordDataset(
        path, compression_type=compression_type or ""
    ).as_numpy_iterator()


def validate_records(
    files: Sequence[str],
    spec: DatasetSpec,
    *,
    windows: Sequence[Window] = (),
    decode_frames: bool = True,
    max_records_per_file: int | None = None,
    compression_type: str | None = None,
    progress: bool = False,
) -> ValidationReport:
    """Checks records in order and stops at the first one that does not fit ``spec``; lists every
    record (up to there) that is shorter than one of ``windows``.

    Args:
      files: record files (see :func:`record_files`).
      spec: the dataset the records are meant for.
      windows: what a loader reads of each record (:func:`vatt.data.config.windows_read`, the
        same values the loaders sample with); empty: lengths are not checked.
      decode_frames: decode every JPEG rather than reading headers only.
      max_records_per_file: check only the first N records of each file; None checks all.
      compression_type: ``"GZIP"`` or ``"ZLIB"`` for compressed files.
      progress: show a tqdm progress bar (records checked, current file) when stderr is a
        terminal.
    """
    checked, short = 0, []
    with tqdm(unit="record", disable=None if progress else True) as bar:  # None: not on a tty
        for path in files:
            bar.set_postfix_str(os.path.basename(path), refresh=False)
            read = 0
            try:
                for serialized in _iterate(path, compression_type):
                    if max_records_per_file is not None and read >= max_records_per_file:
                        break
                    try:
                        example = _parse(serialized)
                        _check_example(example, spec, decode_frames)
                    except _Invalid as invalid:
                        problem = RecordProblem(path, read, invalid.key, invalid.message)
                        return ValidationReport(tuple(files), checked, problem, tuple(short))
                    short += _short_windows(example, windows, path, read)
                    read += 1
                    checked += 1
                    bar.update()
            except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as error:
                reason = (
                    f"not a readable TFRecord file after {read} records ({_error_text(error)}); "
                    "if it is compressed pass compression_type='GZIP'"
                )
                problem = RecordProblem(path, read, None, reason)
                return ValidationReport(tuple(files), checked, problem, tuple(short))
    return ValidationReport(tuple(files), checked, None, tuple(short))
