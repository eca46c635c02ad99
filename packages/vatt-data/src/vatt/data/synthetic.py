"""A small synthetic video-audio-text dataset whose modalities describe the same thing.

Every clip shows one coloured shape moving in one direction. What is seen is also heard and said:

* the colour sets the pitch of a tone (``COLOUR_PITCH_HZ``),
* the shape sets its timbre: a circle is a pure sine, a triangle a triangle wave (odd harmonics
  falling as 1/k²), a square a square wave (odd harmonics falling as 1/k),
* the direction sets its rhythm, an amplitude modulation at ``DIRECTION_PULSE_HZ``,
* five captions say it in words ("a red circle moving left" and four paraphrases, the 1 + 4 caption
  windows VATT's MIL-NCE uses),
* the label is the (colour, shape) pair: 4 colours x 3 shapes = 12 classes.

So cross-modal retrieval and classification are learnable and measurable in seconds on a CPU.
Clip ``i`` of a split is a pure function of (seed, split, i): the dataset is the same whatever the
number of worker processes.

Layout written under ``out_dir`` (the ``data_dir`` of the registered ``synthetic`` dataset)::

    train-00000-of-00004 ... test-00000-of-00001   records (see vatt.data.records)
    vocab.txt                                      word vocabulary: <pad>=0, <bos>, <eos>, <unk>, words
    labels.txt                                     class names, line i = class id i
    dataset.json                                   how it was generated (frames, fps, sample rate...)
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import re

import numpy as np

from vatt.data import features, records
from vatt.data._parallel import ordered_map
from vatt.data.registry import DatasetSpec, register_dataset

COLOURS = ("red", "green", "blue", "yellow")
SHAPES = ("circle", "square", "triangle")
DIRECTIONS = ("left", "right", "up", "down")
CLASS_NAMES = tuple(f"{colour} {shape}" for colour in COLOURS for shape in SHAPES)
NUM_CLASSES = len(CLASS_NAMES)

COLOUR_RGB = {
    "red": (220, 40, 40),
    "green": (40, 200, 60),
    "blue": (50, 90, 235),
    "yellow": (235, 215, 40),
}
# A major chord's notes (C4 E4 G4 B4): at least 18% apart, far beyond the 2% per-clip jitter.
COLOUR_PITCH_HZ = {"red": 261.63, "green": 329.63, "blue": 392.00, "yellow": 493.88}
DIRECTION_PULSE_HZ = {"left": 2.0, "right": 3.0, "up": 4.0, "down": 5.0}
DIRECTION_STEP = {"left": (0, -1), "right": (0, 1), "up": (-1, 0), "down": (1, 0)}  # (dy, dx)
# Odd harmonics up to 9: below Nyquist for every pitch even at 8 kHz.
_HARMONICS = (1, 3, 5, 7, 9)

SHAPE_WORDS = {
    "circle": ("circle", "disc", "ball"),
    "square": ("square", "box", "block"),
    "triangle": ("triangle", "wedge", "pyramid"),
}
DIRECTION_WORDS = {
    "left": ("left", "to the left", "leftwards"),
    "right": ("right", "to the right", "rightwards"),
    "up": ("up", "upwards", "towards the top"),
    "down": ("down", "downwards", "towards the bottom"),
}
_CAPTION = "a {colour} {shape} moving {direction}"
_PARAPHRASES = (
    "the {colour} {shape} moves {direction}",
    "a {colour} {shape} slides {direction}",
    "there is a {shape} in {colour} travelling {direction}",
    "{colour} {shape} going {direction}",
    "watch the {colour} {shape} drift {direction}",
    "a small {colour} {shape} heads {direction}",
)
NUM_CAPTIONS = 5
SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<unk>")

SPLIT_IDS = {"train": 0, "test": 1}
# Clips per shard when the shard count is left to the writer; small shards keep the CPU demo's
# interleave busy, and parallel writing has one task per shard.
_CLIPS_PER_SHARD = 128
# Below this many clips (about a minute on one core), starting worker processes, each of which
# imports TensorFlow, costs more than it saves.
_PARALLEL_MIN_CLIPS = 2048


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
    """How synthetic clips look and sound.

    Attributes:
      num_frames: frames per clip.
      frame_size: frame height and width in pixels.
      fps: frame rate; the audio lasts ``num_frames / fps`` seconds.
      sample_rate: audio sample rate in Hz.
      seed: base seed; clip i of a split depends only on (seed, split, i).
      jpeg_quality: JPEG quality of the stored frames.
    """

    num_frames: int = 16
    frame_size: int = 64
    fps: int = 10
    sample_rate: int = features.DEFAULT_SAMPLE_RATE
    seed: int = 0
    jpeg_quality: int = records.DEFAULT_JPEG_QUALITY

    def __post_init__(self):
        for name, low in (("num_frames", 2), ("frame_size", 16), ("fps", 1), ("sample_rate", 8000)):
            if getattr(self, name) < low:
                raise ValueError(
                    f"SyntheticConfig.{name} must be >= {low}, got {getattr(self, name)}"
                )

    @property
    def seconds(self) -> float:
        """Clip duration in seconds."""
        return self.num_frames / self.fps

    @property
    def num_samples(self) -> int:
        """Audio samples per clip."""
        return round(self.seconds * self.sample_rate)


@dataclasses.dataclass(frozen=True)
class SyntheticClip:
    """What clip ``index`` of a split shows, and the clip itself (see :func:`make_clip`)."""

    colour: str
    shape: str
    direction: str
    label: int
    clip: records.Clip


def _render_mask(shape: str, dy: np.ndarray, dx: np.ndarray, radius: float) -> np.ndarray:
    if shape == "circle":
        return dy**2 + dx**2 <= radius**2
    if shape == "square":
        # 0.85 r: about a circle's area, so size does not give the shape away.
        return np.maximum(np.abs(dy), np.abs(dx)) <= 0.85 * radius
    # Apex up, base of width 2r at the bottom.
    return (np.abs(dy) <= radius) & (np.abs(dx) <= (dy + radius) / 2)


def _render_video(
    rng: np.random.Generator, colour: str, shape: str, direction: str, config: SyntheticConfig
) -> np.ndarray:
    size, steps = config.frame_size, config.num_frames
    radius = rng.uniform(0.10, 0.16) * size
    travel = rng.uniform(0.30, 0.55) * size
    (step_y, step_x) = DIRECTION_STEP[direction]
    # Start where the whole path stays inside the frame.
    along = rng.uniform(radius, size - radius - travel)
    across = rng.uniform(radius, size - radius)
    t = np.linspace(0.0, 1.0, steps)
    if step_y:
        start = size - along if step_y < 0 else along
        cy, cx = start + step_y * travel * t, np.full(steps, across)
    else:
        start = size - along if step_x < 0 else along
        cy, cx = np.full(steps, across), start + step_x * travel * t
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    background = rng.uniform(30, 80) + rng.normal(0, 4, size=(steps, size, size, 1))
    frames = np.broadcast_to(background, (steps, size, size, 3)).copy()
    rgb = np.clip(np.array(COLOUR_RGB[colour]) + rng.uniform(-15, 15, size=3), 0, 255)
    for k in range(steps):
        frames[k][_render_mask(shape, yy - cy[k], xx - cx[k], radius)] = rgb
    return np.clip(np.rint(frames), 0, 255).astype(np.uint8)


def _render_audio(
    rng: np.random.Generator, colour: str, shape: str, direction: str, config: SyntheticConfig
) -> np.ndarray:
    t = np.arange(config.num_samples) / config.sample_rate
    pitch = COLOUR_PITCH_HZ[colour] * rng.uniform(0.98, 1.02)
    phase = 2 * np.pi * pitch * t + rng.uniform(0, 2 * np.pi)
    if shape == "circle":
        tone = np.sin(phase)
    elif shape == "square":
        tone = sum(np.sin(k * phase) / k for k in _HARMONICS) * 4 / np.pi
    else:
        tone = sum((-1) ** (k // 2) * np.sin(k * phase) / k**2 for k in _HARMONICS) * 8 / np.pi**2
    pulse = DIRECTION_PULSE_HZ[direction]
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * pulse * t + rng.uniform(0, 2 * np.pi))
    waveform = rng.uniform(0.3, 0.6) * envelope * tone + rng.normal(0, 0.01, size=t.shape)
    return np.clip(waveform, -1.0, 1.0).astype(np.float32)


def _captions(rng: np.random.Generator, colour: str, shape: str, direction: str) -> list[str]:
    captions = [_CAPTION.format(colour=colour, shape=shape, direction=direction)]
    for index in rng.permutation(len(_PARAPHRASES))[: NUM_CAPTIONS - 1]:
        captions.append(
            _PARAPHRASES[index].format(
                colour=colour,
                shape=rng.choice(SHAPE_WORDS[shape]),
                direction=rng.choice(DIRECTION_WORDS[direction]),
            )
        )
    return captions


def make_clip(split: str, index: int, config: SyntheticConfig = SyntheticConfig()) -> SyntheticClip:
    """Clip ``index`` of ``split``: a pure function of (config.seed, split, index).

    Classes cycle with the index (clip i has class i mod 12), so every split is balanced.
    """
    if split not in SPLIT_IDS:
        raise ValueError(f"split must be one of {sorted(SPLIT_IDS)}, got {split!r}")
    rng = np.random.default_rng([config.seed, SPLIT_IDS[split], index])
    label = index % NUM_CLASSES
    colour, shape = COLOURS[label // len(SHAPES)], SHAPES[label % len(SHAPES)]
    direction = DIRECTIONS[rng.integers(len(DIRECTIONS))]
    clip = records.Clip(
        frames=_render_video(rng, colour, shape, direction, config),
        waveform=_render_audio(rng, colour, shape, direction, config),
        captions=_captions(rng, colour, shape, direction),
        labels=[label],
        label_names=[CLASS_NAMES[label]],
        media_id=f"synthetic/{split}/{index:06d}",
        start_seconds=0.0,
        end_seconds=config.seconds,
    )
    return SyntheticClip(colour, shape, direction, label, clip)


def vocabulary() -> list[str]:
    """Every token the captions use, after the special tokens; line i of vocab.txt is id i."""
    phrases = [
        *(re.sub(r"\{\w+\}", " ", template) for template in (_CAPTION, *_PARAPHRASES)),
        *COLOURS,
        *(name for names in SHAPE_WORDS.values() for name in names),
        *(name for names in DIRECTION_WORDS.values() for name in names),
    ]
    return [*SPECIAL_TOKENS, *sorted({word for phrase in phrases for word in phrase.split()})]


def _write_shard(
    out_dir: str, split: str, shard: int, num_shards: int, num_clips: int, config: SyntheticConfig
) -> int:
    path = pathlib.Path(out_dir) / records.shard_name(split, shard, num_shards)
    clips = (
        records.encode_clip(make_clip(split, i, config).clip, config.jpeg_quality)
        for i in range(shard, num_clips, num_shards)
    )
    return records.write_records(path, clips)


def _default_num_shards(num_clips: int) -> int:
    return max(1, -(-num_clips // _CLIPS_PER_SHARD))


def write_synthetic_dataset(
    out_dir: str | os.PathLike,
    num_clips: int = 96,
    num_test_clips: int | None = None,
    config: SyntheticConfig = SyntheticConfig(),
    *,
    num_shards: int | None = None,
    workers: int | None = None,
) -> DatasetSpec:
    """Writes the train and test splits, ``vocab.txt``, ``labels.txt`` and ``dataset.json``.

    Args:
      out_dir: directory to write into (created); it is the ``data_dir`` of the returned spec.
      num_clips: clips in the train split.
      num_test_clips: clips in the test split; default a quarter of ``num_clips`` (at least 12).
      config: frames, frame size, fps, sample rate and seed.
      num_shards: shards per split; default one per 128 clips.
      workers: processes writing shards in parallel; default one per CPU for 2048 clips or more,
        otherwise 1 (in this process). The output does not depend on it.

    Returns:
      The :class:`~vatt.data.registry.DatasetSpec` describing what was written (``fps`` and
      ``sample_rate`` from ``config``), for loaders given ``data_dir=out_dir``.
    """
    if num_test_clips is None:
        num_test_clips = max(NUM_CLASSES, num_clips // 4)
    if num_clips < 1 or num_test_clips < 1:
        raise ValueError(
            f"num_clips and num_test_clips must be >= 1, got {num_clips}, {num_test_clips}"
        )
    out = pathlib.Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sizes = {"train": num_clips, "test": num_test_clips}
    tasks = []
    for split, count in sizes.items():
        shards = num_shards or _default_num_shards(count)
        records.check_split_is_free(out, split, shards)
        tasks += [(str(out), split, s, shards, count, config) for s in range(shards)]
    if workers is None:
        workers = (os.cpu_count() or 1) if sum(sizes.values()) >= _PARALLEL_MIN_CLIPS else 1
    for _ in ordered_map(_write_shard, tasks, workers):
        pass
    (out / "vocab.txt").write_text("\n".join(vocabulary()) + "\n", encoding="utf-8")
    (out / "labels.txt").write_text("\n".join(CLASS_NAMES) + "\n", encoding="utf-8")
    info = {
        "name": "synthetic",
        "clips": sizes,
        "class_names": list(CLASS_NAMES),
        **dataclasses.asdict(config),
    }
    (out / "dataset.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return synthetic_spec(config)


def synthetic_spec(
    config: SyntheticConfig = SyntheticConfig(), name: str = "synthetic"
) -> DatasetSpec:
    """The :class:`~vatt.data.registry.DatasetSpec` of a synthetic dataset written with ``config``."""
    return DatasetSpec(
        name=name,
        splits={"train": "train", "test": "test"},
        modalities=("video", "audio", "text", "label"),
        num_classes=NUM_CLASSES,
        fps=config.fps,
        sample_rate=config.sample_rate,
        vocabulary="vocab.txt",
    )


# The default configuration is registered; other ones register the spec write_synthetic_dataset returns.
SYNTHETIC = register_dataset(synthetic_spec())
