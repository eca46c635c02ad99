"""One training step of the video tower: examples/s and model FLOPs utilisation (MFU).

Builds a video classifier (``vit_base`` by default) on synthetic clips, times full training
steps (forward, backward, Adam update; compiled by Keras) on the current Keras backend, and
prints throughput, achieved TFLOP/s and MFU (training FLOPs from ``vatt.models.flops``).

Usage::

    nox -s bench_models -- --peak_tflops 989                  # TensorFlow backend
    KERAS_BACKEND=jax nox -s bench_models -- --peak_tflops 989
    python benchmarks/bench_models.py --arch vit_medium --batch_size 16 --droptoken_rate 0.49

For a ViT, the positional grid follows ``--frames`` / ``--size`` (T/4 x H/16 x W/16 patches)
and DropToken keeps ``int(rate * patches)`` of them; one aggregation token is added. Fused
attention kernels want that count + 1 to be a multiple of 64 or 128 (see the vatt-models
README): with 1568 patches, rate 0.49 keeps 767 tokens (768 with the agg token) where 0.5
keeps 784 (785). ``--tiny`` runs the CPU-test-sized arch as a smoke test.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import vatt.models as vm  # noqa: E402
from vatt.models.flops import estimate_flops, mfu  # noqa: E402

VIDEO_ARCHS = ("vit_base", "vit_medium", "vit_large", "i3d")
TEMPORAL_PATCH, SPATIAL_PATCH = 4, 16  # ViT-3D patch size of every full-size config


class LogitsOnly(keras.Model):
    """The classifier with its logits as the single output, for ``compile`` / ``train_on_batch``."""

    def __init__(self, classifier: keras.Model, **kwargs):
        super().__init__(**kwargs)
        self.classifier = classifier

    def call(self, batch, training=False):
        return self.classifier(batch, training=training)["logits"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="vit_base", choices=VIDEO_ARCHS)
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--frames", type=int, default=None, help="default 32 (4 with --tiny)")
    parser.add_argument(
        "--size", type=int, default=None, help="clip height and width; default 224 (16 with --tiny)"
    )
    parser.add_argument(
        "--droptoken_rate",
        type=float,
        default=0.5,
        help="fraction of ViT patches kept in training (1.0 keeps all; ignored by i3d)",
    )
    parser.add_argument("--num_classes", type=int, default=400)
    parser.add_argument(
        "--precision", default="mixed_bfloat16", choices=["float32", "mixed_bfloat16"]
    )
    parser.add_argument("--steps", type=int, default=20, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps (compilation)")
    parser.add_argument(
        "--peak_tflops",
        type=float,
        default=None,
        help="accelerator peak dense TFLOP/s at --precision (989 for H100 SXM bf16); enables MFU",
    )
    parser.add_argument("--tiny", action="store_true", help="CPU smoke test with the tiny arch")
    args = parser.parse_args()
    args.frames = args.frames or (4 if args.tiny else 32)
    args.size = args.size or (16 if args.tiny else 224)
    return args


def build_classifier(args: argparse.Namespace) -> tuple[keras.Model, int | None]:
    """The classifier and, for a ViT, the number of tokens its Transformer sees in training."""
    overrides = vm.tiny_overrides(args.arch) if args.tiny else {}
    overrides["num_classes"] = args.num_classes
    if args.arch == "i3d":
        return vm.build(args.arch, **overrides), None
    backbone = dict(overrides.get("backbone", {}))
    t_patch = backbone.get("temporal_patch_size", TEMPORAL_PATCH)
    s_patch = backbone.get("spatial_patch_size", SPATIAL_PATCH)
    if args.frames % t_patch or args.size % s_patch:
        raise SystemExit(
            f"--frames must be a multiple of {t_patch} and --size of {s_patch} for {args.arch}"
        )
    grid = (args.frames // t_patch, args.size // s_patch, args.size // s_patch)
    backbone.update(
        max_temporal_buckets=grid[0],
        max_vertical_buckets=grid[1],
        max_horizontal_buckets=grid[2],
        random_patch_sampling=args.droptoken_rate < 1.0,
        patch_sampling_rate=args.droptoken_rate,
    )
    overrides["backbone"] = backbone
    patches = grid[0] * grid[1] * grid[2]
    kept = int(args.droptoken_rate * patches) if args.droptoken_rate < 1.0 else patches
    return vm.build(args.arch, **overrides), kept + 1


def main() -> None:
    args = parse_args()
    keras.config.set_dtype_policy(args.precision)
    classifier, tokens = build_classifier(args)
    shape = (args.batch_size, args.frames, args.size, args.size, 3)
    flops_per_example = estimate_flops(classifier, {"video": shape})

    model = LogitsOnly(classifier)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-4),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True),
    )
    rng = np.random.default_rng(0)
    # Device-resident inputs, so the timing measures compute and not host-to-device copies.
    batch = {"video": keras.ops.convert_to_tensor(rng.uniform(-1, 1, shape).astype("float32"))}
    labels = np.eye(args.num_classes, dtype="float32")[rng.integers(0, args.num_classes, shape[0])]
    labels = keras.ops.convert_to_tensor(labels)

    for _ in range(args.warmup):
        model.train_on_batch(batch, labels)
    start = time.perf_counter()
    for _ in range(args.steps):
        loss = model.train_on_batch(batch, labels)  # returns a host value: steps are synchronous
    seconds = time.perf_counter() - start

    examples_per_second = args.steps * args.batch_size / seconds
    achieved = flops_per_example * examples_per_second / 1e12
    print(f"backend            {keras.backend.backend()} ({args.precision})")
    print(f"arch               {args.arch}{' (tiny)' if args.tiny else ''}, batch {shape}")
    if tokens is not None:
        print(f"transformer tokens {tokens} (DropToken rate {args.droptoken_rate} + agg token)")
    print(f"parameters         {classifier.count_params():,}")
    print(f"training GFLOPs    {flops_per_example / 1e9:.4g} per example")
    print(f"step time          {1e3 * seconds / args.steps:.1f} ms (loss {float(loss):.3f})")
    print(f"throughput         {examples_per_second:.2f} examples/s, {achieved:.2f} TFLOP/s")
    if args.peak_tflops is not None:
        utilisation = mfu(flops_per_example, examples_per_second, args.peak_tflops)
        print(f"MFU                {100 * utilisation:.1f}% of {args.peak_tflops} TFLOP/s")


if __name__ == "__main__":
    main()
