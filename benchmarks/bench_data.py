"""Pretraining-loader throughput against the JPEG-decode floor, on the same records, in one run.

Writes clips of 256x340 JPEG frames at 10 fps, 48 kHz audio and captions with vatt-data's writer,
then measures

* the floor: ``tf.io.decode_jpeg`` of the 32 frames each loader clip needs, nothing else;
* the VATT pretraining loader: 32 frames at stride 1 -> 224² (scale jitter, random crop, flip,
  colour jitter, [-1, 1]), 3.2 s of audio with noise, 16-token captions, batch 8;

and prints clips/s and CPU milliseconds per clip (process CPU time over every thread) of each, and
their ratio; then the loader once more without colour jitter (DMVR's measured configuration), with
``video_dtype="uint8"`` (flip, colour and normalisation left to ``finish_batch`` on the
accelerator), with ``resize_on_accelerator`` too (the host only decodes the crop windows), and
reading video only (the difference is what audio and text cost). Usage: ``nox -s bench_data``
or ``python benchmarks/bench_data.py --batches 40``.
"""

from __future__ import annotations

import argparse
import dataclasses
import pathlib
import tempfile
import time

from vatt.core.quiet import import_tensorflow_quietly

import_tensorflow_quietly()

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import vatt.data as vd  # noqa: E402
from vatt.data import features, records  # noqa: E402

HEIGHT, WIDTH = 256, 340
FPS = 10
NUM_FRAMES = 32
BATCH_SIZE = 8
WORDS = ["a", "person", "is", "cutting", "onions", "on", "the", "table", "with", "knife", "now"]


def natural_frames(rng: np.random.Generator, num_frames: int) -> np.ndarray:
    """Smooth moving colour fields plus texture: JPEG sizes like real video frames."""
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    phases = rng.uniform(0, 2 * np.pi, size=(3, 2))
    frames = []
    for t in range(num_frames):
        channels = [
            128 + 90 * np.sin(xx / 23 + phases[c, 0] + t / 7) * np.cos(yy / 31 + phases[c, 1])
            for c in range(3)
        ]
        frame = np.stack(channels, -1) + rng.normal(0, 8, size=(HEIGHT, WIDTH, 3))
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    return np.stack(frames)


def write_dataset(root: pathlib.Path, num_clips: int, frames_per_clip: int) -> None:
    rng = np.random.default_rng(0)
    with records.ShardedRecordWriter(root, "train", num_shards=4) as writer:
        for i in range(num_clips):
            seconds = frames_per_clip / FPS
            waveform = rng.uniform(-0.5, 0.5, size=int(seconds * 48_000)).astype(np.float32)
            captions = [" ".join(rng.choice(WORDS, size=8)) for _ in range(5)]
            clip = records.Clip(natural_frames(rng, frames_per_clip), waveform, captions)
            writer.write(records.encode_clip(clip))
            print(f"\rwriting clip {i + 1}/{num_clips}", end="", flush=True)
    print()
    (root / "vocab.txt").write_text("\n".join(["<pad>", "<unk>", *WORDS]) + "\n")


def measure(name: str, dataset: tf.data.Dataset, clips_per_element: int, warmup: int, steps: int):
    iterator = iter(dataset)
    for _ in range(warmup):
        next(iterator)
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        next(iterator)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    clips = steps * clips_per_element
    print(
        f"{name:34s} {clips / wall:8.1f} clips/s   {cpu / clips * 1e3:7.2f} CPU ms/clip "
        f"({clips} clips)",
        flush=True,
    )
    return cpu / clips


def decode_floor(shards: list[str]) -> tf.data.Dataset:
    """Parse, then decode the first NUM_FRAMES JPEGs of each clip; nothing else."""

    def decode(record):
        _, sequence = tf.io.parse_single_sequence_example(
            record,
            sequence_features={features.IMAGE_KEY: tf.io.FixedLenSequenceFeature((), tf.string)},
        )
        frames = sequence[features.IMAGE_KEY][:NUM_FRAMES]
        decoded = tf.map_fn(
            lambda jpeg: tf.io.decode_jpeg(jpeg, channels=3),
            frames,
            fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8),
        )
        # Reduce to a scalar so that the floor pays for no copy the loader would not pay for.
        return tf.shape(decoded)[0]

    ds = tf.data.TFRecordDataset(shards).repeat()
    return ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE).batch(BATCH_SIZE).prefetch(2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=24, help="clips written (reused each epoch)")
    parser.add_argument("--batches", type=int, default=24, help="measured batches of 8 clips")
    parser.add_argument("--warmup", type=int, default=4, help="batches before measuring")
    args = parser.parse_args()
    if min(args.clips, args.batches) < 1 or args.warmup < 0:
        parser.error("--clips and --batches must be at least 1, --warmup at least 0")

    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        write_dataset(root, args.clips, frames_per_clip=40)
        vd.register_dataset(
            vd.DatasetSpec(
                name="bench",
                splits={"train": "train"},
                modalities=("video", "audio", "text"),
                fps=FPS,
                vocabulary="vocab.txt",
            ),
            overwrite=True,
        )
        vd.register_dataset(
            vd.DatasetSpec(
                name="bench_video", splits={"train": "train"}, modalities=("video",), fps=FPS
            ),
            overwrite=True,
        )
        config = vd.PretrainDataConfig(datasets=["bench"], data_dir=str(root), seed=None)
        shards = vd.get_dataset_spec("bench").shards("train", str(root))

        def run(name: str, dataset: tf.data.Dataset) -> float:
            return measure(name, dataset, BATCH_SIZE, args.warmup, args.batches)

        floor = run("floor: decode_jpeg of 32 frames", decode_floor(shards))
        uint8 = dataclasses.replace(config, video_dtype="uint8")
        variants = [
            ("pretrain_dataset (float32 video)", config, "all pixel work on the host"),
            # DMVR's measured configuration (~4.5x its floor).
            ("  without colour jitter", dataclasses.replace(config, color_augment=False), ""),
            ("  video_dtype=uint8", uint8, "flip, colour, normalise in finish_batch"),
            (
                "  + resize_on_accelerator",
                dataclasses.replace(uint8, resize_on_accelerator=True),
                "target <= 1.6x; vatt-train's default",
            ),
        ]
        costs = {}
        for name, variant, remark in variants:
            costs[name] = run(name, vd.pretrain_dataset(variant, batch_size=BATCH_SIZE))
            remark = f" ({remark})" if remark else ""
            print(f"{'':34s} {costs[name] / floor:.2f}x the floor{remark}", flush=True)
        # The same records read as video only (zero audio and text): what audio and text cost.
        video_only = dataclasses.replace(config, datasets=["bench_video"])
        video_cpu = run("  video only", vd.pretrain_dataset(video_only, batch_size=BATCH_SIZE))
        audio_text = costs[variants[0][0]] - video_cpu
        print(f"audio and text: {audio_text * 1e3:.2f} CPU ms/clip")


if __name__ == "__main__":
    main()
