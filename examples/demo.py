"""The main job: the whole VATT workflow on the built-in synthetic dataset, end to end.

``python examples/demo.py [--size small] [--out runs/demo]`` (what ``./dev demo`` runs, with every
package installed) drives the public APIs of vatt-data, vatt-train and vatt-eval:

1. ``vatt-data synth``: moving coloured shapes whose tones and captions describe them;
2. ``vatt-train pretrain``: a small ``tx_fac`` (ViT + WaT + linear text + FAC head) with the
   asymmetric NCE / MIL-NCE loss, on a MirroredStrategy over the CPU (two logical devices, so
   the negatives really are gathered across replicas);
3. ``vatt-eval run``: zero-shot text→video and audio→video retrieval and linear probes on the
   pretrained features, beside the same evaluation of a randomly initialised model;
4. ``vatt-train finetune`` of a ViT classifier initialised from the pretrained video tower, and
   its multi-view evaluation;
5. ``RUN/report.md`` and ``RUN/report.json``.

Sizes trade time for signal: ``tiny`` is the integration test (about two minutes), ``small``
the default (about ten minutes on a 2-core CPU), ``medium`` and ``large`` are for a GPU.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import pathlib
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from vatt.core.quiet import configure_cli_logging, import_tensorflow_quietly

# Keras, TensorFlow and the vatt packages other than vatt.core (pure Python) are imported where
# they are used, after the command line is parsed: `--help` and a bad argument answer at once,
# and TensorFlow starts quietly.
if TYPE_CHECKING:
    import tensorflow as tf

    from vatt.eval import ProbeSettings

DATASET = "synthetic"
SAMPLE_RATE = 48_000  # the registered synthetic dataset's audio rate, as the paper's


@dataclasses.dataclass(frozen=True)
class DemoSize:
    """Everything that scales with the time a user is willing to spend."""

    train_clips: int
    test_clips: int
    frames: int  # frames per model input, at 10 fps (written clips are twice as long)
    frame_size: int  # written frames are frame_size², model inputs crop_size²
    crop_size: int
    d_model: int
    num_layers: int
    pretrain_steps: int
    finetune_steps: int
    batch_size: int
    learning_rate: float
    probe_epochs: int
    audio_patch: int  # waveform samples per WaT token (the paper: 128 at 48 kHz)


SIZES = {
    "tiny": DemoSize(96, 24, 8, 40, 32, 64, 2, 700, 30, 32, 2e-3, 100, 768),
    "small": DemoSize(384, 96, 8, 40, 32, 64, 2, 3000, 200, 32, 2e-3, 300, 768),
    "medium": DemoSize(2048, 256, 16, 72, 64, 256, 4, 10_000, 1000, 64, 1e-3, 500, 384),
    "large": DemoSize(8192, 512, 32, 128, 112, 512, 8, 30_000, 3000, 256, 5e-4, 1000, 128),
}


@contextlib.contextmanager
def _stage(number: int, title: str, command: str) -> Iterator[None]:
    print(f"\n[{number}/5] {title}\n      equivalent command: {command}", flush=True)
    start = time.perf_counter()
    yield
    print(f"      done in {time.perf_counter() - start:.0f} s", flush=True)


def _tower(size: DemoSize, **extra: Any) -> dict[str, Any]:
    return {
        "d_model": size.d_model,
        "num_layers": size.num_layers,
        "num_heads": max(1, size.d_model // 32),
        "d_kv": 32,
        "d_ff": 4 * size.d_model,
        **extra,
    }


def _video_tower(size: DemoSize) -> dict[str, Any]:
    return _tower(
        size,
        temporal_patch_size=2,
        spatial_patch_size=8,
        max_temporal_buckets=size.frames // 2,
        max_vertical_buckets=size.crop_size // 8,
        max_horizontal_buckets=size.crop_size // 8,
    )


def _input(size: DemoSize, data_dir: str) -> dict[str, Any]:
    return {
        "data_dir": data_dir,
        "num_frames": size.frames,
        "frame_size": size.crop_size,
        "min_resize": size.crop_size,
        "audio_seconds": size.frames / 10,
    }


def pretrain_overrides(size: DemoSize, data_dir: str) -> dict[str, Any]:
    """``--params_override`` of the demo's pretraining run."""
    seconds = size.frames / 10
    return {
        "model": {
            "video_backbone": "vit_base",
            "audio_backbone": "wat_base",
            "text_backbone": "linear",
            "video": _video_tower(size),
            "audio": _tower(
                size,
                temporal_patch_size=size.audio_patch,
                temporal_patch_stride=size.audio_patch,
                max_temporal_buckets=int(seconds * SAMPLE_RATE) // size.audio_patch,
            ),
            # No word2vec table ships with the synthetic data, so the word embeddings train too.
            "text": {
                "vocab_size": 128,
                "d_embedding": 64,
                "d_model": size.d_model,
                "trainable_embeddings": True,
            },
        },
        "data": {
            "train": {**_input(size, data_dir), "datasets": [DATASET], "video_stride": 1},
            "eval": {**_input(size, data_dir), "name": DATASET, "video_stride": 1},
        },
        "optimizer": {"name": "adam"},
        "schedule": {
            "name": "cosine_warmup",
            "warmup_steps": size.pretrain_steps // 10,
            "base_learning_rate": size.learning_rate,
        },
        "train": {
            "total_steps": size.pretrain_steps,
            "global_batch_size": size.batch_size,
            "iterations_per_loop": 10,
            "save_checkpoint_freq": size.pretrain_steps,
        },
    }


def finetune_overrides(size: DemoSize, data_dir: str, checkpoint: str) -> dict[str, Any]:
    """``--params_override`` of the demo's fine-tuning run (initialised from ``checkpoint``)."""
    return {
        "model": {"backbone": _video_tower(size)},
        "data": {
            "train": {**_input(size, data_dir), "name": DATASET, "video_stride": 1},
            "eval": {**_input(size, data_dir), "name": DATASET, "video_stride": 1},
        },
        "schedule": {
            "warmup_steps": size.finetune_steps // 10,
            "base_learning_rate": size.learning_rate * 10,
        },
        "train": {
            "total_steps": size.finetune_steps,
            "global_batch_size": size.batch_size,
            "iterations_per_loop": 10,
            "save_checkpoint_freq": size.finetune_steps,
            "override_checkpoint": checkpoint,
        },
    }


def _cpu_strategy(replicas: int) -> tf.distribute.Strategy:
    """MirroredStrategy over ``replicas`` logical CPU devices (must run before TF starts)."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    with contextlib.suppress(RuntimeError):  # already configured in this process
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * replicas
        )
    devices = [d.name for d in tf.config.list_logical_devices("CPU")][:replicas]
    return tf.distribute.MirroredStrategy(devices)


def _strategy(replicas: int) -> tf.distribute.Strategy | None:
    """TensorFlow: a MirroredStrategy (GPUs, else ``replicas`` CPU devices). JAX: None, so that
    vatt-train shards the batch over every local device (``strategy.type`` mirrored)."""
    import keras
    import tensorflow as tf

    if keras.backend.backend() != "tensorflow":
        return None
    if tf.config.list_physical_devices("GPU"):
        return tf.distribute.MirroredStrategy()
    return _cpu_strategy(replicas)


def _random_init_metrics(run_dir: pathlib.Path, probes: ProbeSettings) -> dict[str, float]:
    """The pretraining evaluation of the same model with its initial, untrained weights."""
    import keras

    import vatt.train
    from vatt.eval import evaluate_pretraining, make_predict

    config = vatt.train.load_run_config(run_dir)
    keras.utils.set_random_seed(config.train.seed)
    model = vatt.train.build_model(config)
    return evaluate_pretraining(
        make_predict(model), config.data.eval, (DATASET,), probes=probes, progress=True
    )


def _summary(pretrained: dict, random_init: dict, finetuned: dict) -> dict[str, Any]:
    def pick(metrics: dict, key: str) -> float:
        return float(metrics[f"{DATASET}_{key}"])

    retrieval = {}
    for task in ("txt2vid", "aud2vid"):
        for metric in ("R1", "R5", "MedianRank"):
            retrieval[f"{task}_{metric}"] = {
                "pretrained": pick(pretrained, f"{task}_embd_{metric}"),
                "random_init": pick(random_init, f"{task}_embd_{metric}"),
                "chance": pick(pretrained, f"retrieval_chance_{metric}"),
            }
    probe = {
        name: {
            "pretrained": pick(pretrained, key),
            "random_init": pick(random_init, key),
            "chance": pick(pretrained, "chance_top_1_accuracy"),
        }
        for name, key in (
            ("linear_probe_top1", "top_1_accuracy"),
            ("svm_probe_top1", "svm_top_1_accuracy"),
        )
    }
    finetune = {k: float(v) for k, v in finetuned.items() if "top_1" in k or "top_5" in k}
    return {"retrieval": retrieval, "probe": probe, "finetune": finetune}


def _markdown(summary: dict[str, Any], size_name: str, size: DemoSize) -> str:
    lines = [
        "# VATT demo on the synthetic dataset",
        "",
        f"Size `{size_name}`: {size.train_clips} training clips, {size.test_clips} test clips, "
        f"{size.pretrain_steps} pretraining steps and {size.finetune_steps} fine-tuning steps "
        f"at batch {size.batch_size}.",
        "",
        "| metric | pretrained | random init | chance |",
        "|---|---|---|---|",
    ]
    for name, row in {**summary["retrieval"], **summary["probe"]}.items():
        lines.append(
            f"| {name} | {row['pretrained']:.3f} | {row['random_init']:.3f} | {row['chance']:.3f} |"
        )
    lines += ["", "Fine-tuned ViT classifier (multi-view evaluation):", ""]
    lines += [f"* {name}: {value:.3f}" for name, value in summary["finetune"].items()]
    return "\n".join(lines) + "\n"


def run_demo(
    out_dir: str | os.PathLike,
    size: str = "small",
    *,
    replicas: int = 2,
) -> dict[str, Any]:
    """Run the five stages into ``out_dir``; returns the summary written to ``report.json``."""
    if size not in SIZES:
        raise ValueError(f"unknown demo size {size!r}; choose one of {', '.join(SIZES)}")
    import_tensorflow_quietly()
    import vatt.train
    from vatt.data.synthetic import SyntheticConfig, write_synthetic_dataset
    from vatt.eval import KerasProbeConfig, ProbeSettings, evaluate_checkpoint

    chosen = SIZES[size]
    out = pathlib.Path(out_dir)
    data_dir = out / "data"
    pretrain_dir, finetune_dir = out / "pretrain", out / "finetune"
    strategy = _strategy(replicas)
    probes = ProbeSettings(keras=KerasProbeConfig(epochs=chosen.probe_epochs))

    with _stage(1, "synthetic data", f"vatt-data synth {data_dir} --clips {chosen.train_clips}"):
        synthetic = SyntheticConfig(
            num_frames=chosen.frames * 2,
            frame_size=chosen.frame_size,
        )
        write_synthetic_dataset(data_dir, chosen.train_clips, chosen.test_clips, synthetic)

    overrides = pretrain_overrides(chosen, str(data_dir))
    with _stage(
        2,
        "pretraining tx_fac",
        f"vatt-train pretrain --model_dir {pretrain_dir} --model_arch tx_fac "
        "--strategy_type mirrored --params_override '...'",
    ):
        config = vatt.train.resolve_config("pretrain", "tx_fac", params_override=overrides)
        result = vatt.train.train(config, pretrain_dir, strategy=strategy)

    with _stage(3, "evaluating the pretrained model", f"vatt-eval run {pretrain_dir}"):
        pretrained = evaluate_checkpoint(pretrain_dir, probes=probes)
        print("      …and the same model with random weights, for comparison", flush=True)
        random_init = _random_init_metrics(pretrain_dir, probes)

    checkpoint = str(pretrain_dir / f"ckpt-{result.step}")
    with _stage(
        4,
        "fine-tuning a ViT classifier from the pretrained video tower",
        f"vatt-train finetune --model_dir {finetune_dir} --model_arch vit_base "
        f"--override_checkpoint {checkpoint}",
    ):
        config = vatt.train.resolve_config(
            "finetune",
            "vit_base",
            params_override=finetune_overrides(chosen, str(data_dir), checkpoint),
        )
        vatt.train.train(config, finetune_dir, strategy=strategy)
        finetuned = evaluate_checkpoint(finetune_dir)

    with _stage(5, "report", f"cat {out / 'report.md'}"):
        summary = _summary(pretrained, random_init, finetuned)
        (out / "report.json").write_text(json.dumps(summary, indent=2) + "\n")
        text = _markdown(summary, size, chosen)
        (out / "report.md").write_text(text)
        print(text)
    print(f"TensorBoard: tensorboard --logdir {out}")
    return summary


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point of the demo."""
    parser = argparse.ArgumentParser(prog="./dev demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    parser.add_argument("--size", default="small", choices=sorted(SIZES), help="demo size")
    parser.add_argument(
        "--replicas",
        type=int,
        default=2,
        help="TensorFlow: CPU replicas of the MirroredStrategy (default 2); JAX uses every local "
        "device (XLA_FLAGS=--xla_force_host_platform_device_count=N makes N CPU devices)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="delete the output folder first if it exists"
    )
    args = parser.parse_args(argv)
    if args.replicas < 1:
        parser.error(f"--replicas must be at least 1, got {args.replicas}")
    configure_cli_logging("      %(message)s")
    out = pathlib.Path(args.out)
    if out.exists() and not out.is_dir():
        print(f"{out} is a file: pass a folder to --out", file=sys.stderr)
        return 2
    if out.exists() and any(out.iterdir()):
        if not args.overwrite:
            print(
                f"{out} is not empty: pass another --out, or --overwrite to replace it",
                file=sys.stderr,
            )
            return 2
        shutil.rmtree(out)
    run_demo(out, args.size, replicas=args.replicas)
    return 0


if __name__ == "__main__":
    sys.exit(main())
