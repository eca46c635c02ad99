"""Video files -> sharded DMVR records, with PyAV (no ffmpeg binary needed).

The input is a CSV file with a header row. Columns:

============  ========  ==========================================================================
column        required  meaning
============  ========  ==========================================================================
``path``      yes       video file; relative paths are relative to ``video_root`` (default: the
                        CSV's directory). ``video_path`` is accepted as well (DMVR's name).
``start``     no        clip start in seconds; empty or absent: 0
``end``       no        clip end in seconds; empty or absent: the end of the video
``captions``  no        captions separated by ``|`` (``caption`` is accepted as well)
``label``     no        class name(s) separated by ``|``, or integer class id(s)
                        (``labels`` is accepted as well)
============  ========  ==========================================================================

Each row becomes one record (see :mod:`vatt.data.records`): frames sampled at ``fps`` (the frame
shown at each time ``start + k / fps``), resized so that the shorter side is ``shorter_side`` and
re-encoded as JPEG; the audio track mixed down to mono and resampled to ``sample_rate``, cut to the
same window. A video without an audio track gives a record without audio.

Class names map to ids through ``labels.txt`` in the output directory when it exists (so splits
converted one after the other share ids), else through ``label_names``, else through the sorted
names of the CSV; the map used is written to ``labels.txt``.

Rows are converted in parallel worker processes; records are written in CSV order, round-robin
over the shards. A file that cannot be read is skipped and reported, not fatal.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import pathlib
from collections.abc import Iterator, Sequence

import av
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from vatt.data import features, records
from vatt.data._parallel import ordered_map

_COLUMN_ALIASES = {
    "path": "path",
    "video_path": "path",
    "start": "start",
    "end": "end",
    "captions": "captions",
    "caption": "captions",
    "label": "label",
    "labels": "label",
}
LABELS_FILE = "labels.txt"
# Below this many clips per worker, starting the worker costs more than it saves.
_CLIPS_PER_WORKER = 16
# Tolerance on frame times: container timestamps are rounded to their time base.
_TIME_EPSILON = 1e-6


@dataclasses.dataclass(frozen=True)
class ConvertOptions:
    """How clips are stored.

    Attributes:
      fps: frames per second stored (VATT: 10 for HowTo100M, 25 for the other datasets).
      shorter_side: the shorter frame side after resizing, in pixels; None keeps the video's size.
      sample_rate: audio sample rate stored, in Hz.
      jpeg_quality: JPEG quality of the stored frames.
      audio: store the audio track.
    """

    fps: float = float(features.HOWTO100M_FPS)
    shorter_side: int | None = 256
    sample_rate: int = features.DEFAULT_SAMPLE_RATE
    jpeg_quality: int = records.DEFAULT_JPEG_QUALITY
    audio: bool = True

    def __post_init__(self):
        if self.fps <= 0:
            raise ValueError(f"fps must be > 0, got {self.fps}")
        if self.shorter_side is not None and self.shorter_side < 1:
            raise ValueError(f"shorter_side must be >= 1 or None, got {self.shorter_side}")
        if self.sample_rate < 1:
            raise ValueError(f"sample_rate must be >= 1, got {self.sample_rate}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be in [1, 100], got {self.jpeg_quality}")


@dataclasses.dataclass(frozen=True)
class ClipSource:
    """One CSV row: where a clip comes from and what it is about."""

    path: str
    start: float = 0.0
    end: float | None = None
    captions: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    media_id: str = ""


@dataclasses.dataclass(frozen=True)
class ConversionReport:
    """What :func:`convert` did.

    Attributes:
      shards: the shard files written.
      num_written: records written.
      skipped: (media id, reason) of every row that could not be converted.
      without_audio: media ids of records written without audio (no audio track in the window).
      label_names: the class names, index = id; empty when labels were integer ids or absent.
    """

    shards: tuple[pathlib.Path, ...]
    num_written: int
    skipped: tuple[tuple[str, str], ...]
    without_audio: tuple[str, ...]
    label_names: tuple[str, ...]


def _seconds(value: str, column: str, line: int) -> float | None:
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        raise ValueError(
            f"CSV line {line}: {column} {value!r} is not a number of seconds"
        ) from None
    if seconds < 0 or not math.isfinite(seconds):
        raise ValueError(f"CSV line {line}: {column} {value!r} must be a finite time >= 0")
    return seconds


def _split(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split("|") if part.strip())


def read_csv(
    csv_path: str | os.PathLike, video_root: str | os.PathLike | None = None
) -> list[ClipSource]:
    """Reads the clip list (columns in the module docstring); errors name the line and column."""
    csv_path = pathlib.Path(csv_path)
    root = pathlib.Path(video_root) if video_root is not None else csv_path.parent
    with open(csv_path, newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        header = [name.strip() for name in reader.fieldnames or ()]
        unknown = [name for name in header if name.lower() not in _COLUMN_ALIASES]
        if unknown:
            raise ValueError(
                f"{csv_path}: unknown columns {unknown}; valid columns are path (or video_path), "
                "start, end, captions (or caption), label (or labels), in a header row"
            )
        columns = {name: _COLUMN_ALIASES[name.strip().lower()] for name in reader.fieldnames}
        if "path" not in columns.values():
            raise ValueError(f"{csv_path}: no 'path' column in the header row {header}")
        sources = []
        for line, raw in enumerate(reader, start=2):
            row = {columns[k]: (v or "") for k, v in raw.items() if k is not None}
            path = row["path"].strip()
            if not path:
                raise ValueError(f"{csv_path} line {line}: empty path")
            start = _seconds(row.get("start", ""), "start", line) or 0.0
            end = _seconds(row.get("end", ""), "end", line)
            if end is not None and end <= start:
                raise ValueError(f"{csv_path} line {line}: end {end} is not after start {start}")
            sources.append(
                ClipSource(
                    path=str(root / path),
                    start=start,
                    end=end,
                    captions=_split(row.get("captions", "")),
                    labels=_split(row.get("label", "")),
                    media_id=path,
                )
            )
    return sources


def _output_size(width: int, height: int, shorter_side: int | None) -> tuple[int, int]:
    if shorter_side is None:
        return width, height
    scale = shorter_side / min(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _sample_frames(
    stream_frames: Iterator[av.VideoFrame], start: float, end: float | None, fps: float
) -> Iterator[av.VideoFrame]:
    """The frame on screen at each time ``start + k / fps`` before ``end``."""
    step = 1.0 / fps
    k, shown, last_time, interval = 0, None, None, 0.0
    for frame in stream_frames:
        time = frame.time
        if time is None:
            raise ValueError("the video frames carry no timestamps")
        if last_time is not None:
            interval = time - last_time
        last_time = time
        while start + k * step < time - _TIME_EPSILON:
            if end is not None and start + k * step >= end - _TIME_EPSILON:
                return
            # Before the first frame nothing was shown yet: the first frame stands in.
            yield shown if shown is not None else frame
            k += 1
        shown = frame
        if end is not None and time >= end:
            break
    if shown is None:
        return
    # The last frame stays on screen for one frame interval; a video shorter than `end` is not padded.
    stop = last_time + interval if end is None else min(end, last_time + interval)
    while start + k * step < stop - _TIME_EPSILON:
        yield shown
        k += 1


def _read_audio(
    container: av.container.InputContainer, start: float, end: float, sample_rate: int
) -> np.ndarray | None:
    stream = container.streams.audio[0]
    if start > 0:
        container.seek(int(start / stream.time_base), stream=stream)
    # Channels are averaged here rather than by swresample, whose downmix adds them at -3 dB each:
    # two identical channels would come out 1.41 times louder and clip.
    resampler = av.AudioResampler(format="fltp", rate=sample_rate)
    chunks, first_time = [], None
    for frame in container.decode(stream):
        if first_time is None:
            first_time = frame.time if frame.time is not None else 0.0
        chunks += [f.to_ndarray().mean(axis=0) for f in resampler.resample(frame)]
        if frame.time is not None and frame.time > end:
            break
    chunks += [f.to_ndarray().mean(axis=0) for f in resampler.resample(None)]
    if first_time is None:
        return None
    waveform = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    # The decoded stream starts at first_time; a positive offset means it starts before the clip.
    offset = round((start - first_time) * sample_rate)
    waveform = waveform[offset:] if offset >= 0 else np.concatenate([np.zeros(-offset), waveform])
    waveform = waveform[: round((end - start) * sample_rate)]
    if not waveform.size:
        return None
    return np.clip(waveform, -1.0, 1.0).astype(np.float32)


def read_clip(
    source: ClipSource, options: ConvertOptions = ConvertOptions()
) -> tuple[list[bytes], np.ndarray | None]:
    """Decodes one clip: its JPEG frames at ``options.fps`` and its mono waveform (or None).

    Raises:
      ValueError: the file has no video stream, or no frame in [start, end).
      av.error.FFmpegError, OSError: the file cannot be read.
    """
    jpegs: list[bytes] = []
    with av.open(source.path) as container:
        if not container.streams.video:
            raise ValueError("no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if source.start > 0:
            container.seek(int(source.start / stream.time_base), stream=stream)
        width, height = _output_size(stream.width, stream.height, options.shorter_side)
        previous, previous_jpeg = None, None
        frames = _sample_frames(container.decode(stream), source.start, source.end, options.fps)
        for frame in frames:
            if frame is not previous:
                rgb = frame.reformat(width, height, format="rgb24", interpolation="AREA")
                previous_jpeg = tf.io.encode_jpeg(rgb.to_ndarray(), quality=options.jpeg_quality)
                previous = frame
            jpegs.append(previous_jpeg.numpy())
    if not jpegs:
        end = "the end" if source.end is None else f"{source.end} s"
        raise ValueError(f"no video frame from {source.start} s to {end}")
    waveform = None
    if options.audio:
        # The audio covers exactly the frames' window, also when the video ends before `end`.
        end = source.start + len(jpegs) / options.fps
        with av.open(source.path) as container:
            if container.streams.audio:
                waveform = _read_audio(container, source.start, end, options.sample_rate)
    return jpegs, waveform


def _convert_one(
    source: ClipSource, labels: tuple[int, ...], names: tuple[str, ...], options: ConvertOptions
) -> tuple[bytes | None, str | None, bool]:
    """(serialized record, None, has_audio) or (None, reason, False); never raises for bad files."""
    try:
        jpegs, waveform = read_clip(source, options)
    except (av.error.FFmpegError, OSError, ValueError) as error:
        return None, f"{type(error).__name__}: {error}", False
    clip = records.Clip(
        frames=jpegs,
        waveform=waveform,
        captions=source.captions,
        labels=labels,
        label_names=names,
        media_id=source.media_id,
        start_seconds=source.start,
        end_seconds=source.start + len(jpegs) / options.fps,
    )
    record = records.encode_clip(clip).SerializeToString(deterministic=True)
    return record, None, waveform is not None


def _label_map(
    sources: Sequence[ClipSource], out_dir: pathlib.Path, label_names: Sequence[str] | None
) -> tuple[str, ...]:
    used = sorted({name for source in sources for name in source.labels})
    if all(name.isdigit() for name in used):
        return ()
    labels_file = out_dir / LABELS_FILE
    if labels_file.exists():
        existing = [n.strip() for n in labels_file.read_text(encoding="utf-8").splitlines()]
        existing = [n for n in existing if n]
        if label_names is not None and list(label_names) != existing:
            raise ValueError(
                f"{labels_file} holds another label map than the one given; records already in "
                f"{out_dir} use it. Convert into another directory, or pass it as the label map."
            )
        label_names = existing
    names = tuple(label_names) if label_names is not None else tuple(used)
    unknown = sorted(set(used) - set(names))
    if unknown:
        raise ValueError(
            f"labels {unknown[:5]} of the CSV are not in the label map ({len(names)} names, from "
            f"{labels_file if labels_file.exists() else 'label_names'}); add them to it"
        )
    return names


def convert(
    csv_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    split: str = "train",
    num_shards: int | None = None,
    options: ConvertOptions = ConvertOptions(),
    video_root: str | os.PathLike | None = None,
    label_names: Sequence[str] | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> ConversionReport:
    """Converts the clips listed in ``csv_path`` into ``<out_dir>/<split>-NNNNN-of-MMMMM`` shards.

    Args:
      csv_path: the clip list (format in the module docstring).
      out_dir: output directory (created).
      split: split name, the shard file prefix.
      num_shards: shard count; default the square root of the number of clips (DMVR's rule).
      options: frame rate, frame size, audio rate, JPEG quality.
      video_root: directory relative video paths start from; default the CSV's directory.
      label_names: class names, index = id; must equal ``out_dir/labels.txt`` if that exists.
      workers: worker processes; default one per CPU, at most one per 16 clips; 1 converts in
        this process.
      progress: show a tqdm progress bar when stderr is a terminal.
    """
    sources = read_csv(csv_path, video_root)
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = _label_map(sources, out, label_names)
    ids = {name: i for i, name in enumerate(names)}

    def labels_of(source: ClipSource) -> tuple[int, ...]:
        return tuple(ids[n] if names else int(n) for n in source.labels)

    tasks = [
        (source, labels_of(source), source.labels if names else (), options) for source in sources
    ]
    num_shards = num_shards or max(1, math.isqrt(len(sources)))
    if workers is None:
        # Each worker process imports TensorFlow (seconds): not worth it for a handful of clips.
        workers = min(os.cpu_count() or 1, max(1, len(sources) // _CLIPS_PER_WORKER))
    skipped, without_audio = [], []
    with (
        records.ShardedRecordWriter(out, split, num_shards) as writer,
        tqdm(total=len(tasks), unit="clip", disable=None if progress else True) as bar,
    ):
        for source, (record, reason, has_audio) in zip(
            sources, ordered_map(_convert_one, tasks, workers), strict=True
        ):
            bar.update()
            if record is None:
                skipped.append((source.media_id, reason))
                if progress:
                    bar.write(f"skipped {source.path}: {reason}")
                continue
            writer.write(record)
            if options.audio and not has_audio:
                without_audio.append(source.media_id)
        if not writer.num_written:
            writer.close(keep=False)
    if names:
        (out / LABELS_FILE).write_text("\n".join(names) + "\n", encoding="utf-8")
    return ConversionReport(
        shards=tuple(writer.paths) if writer.num_written else (),
        num_written=writer.num_written,
        skipped=tuple(skipped),
        without_audio=tuple(without_audio),
        label_names=names,
    )
