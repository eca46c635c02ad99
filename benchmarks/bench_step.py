"""The whole training step of a VATT arch on the current Keras backend: clips/s and MFU.

One step is the forward pass in training mode, the real objective (MIL-NCE + NCE of
``vatt.losses.pretrain_objective`` for the pretraining archs, softmax cross-entropy for the
classifiers), the gradients and the Adam update, on a synthetic batch that already lives on the
accelerator, so that the numbers measure compute and nothing else:

* JAX: ``model.stateless_call`` under ``jax.value_and_grad``, ``optimizer.stateless_apply``,
  the whole step ``jax.jit``-compiled with its state donated (what a JAX trainer runs);
* PyTorch: the Keras model in eager mode with ``loss.backward()`` and ``optimizer.apply``,
  the forward pass and loss optionally ``torch.compile``-d (``--torch_compile``);
* TensorFlow: a ``tf.function`` with ``GradientTape``, XLA-compiled (``--no_xla`` turns it off).

Training FLOPs come from ``vatt.models.flops.estimate_flops`` (fused attention counted from its
shapes); MFU is those FLOPs per second over ``--peak_tflops``. No TensorFlow is imported unless
it is the backend, so this runs on a machine with only JAX or PyTorch.

Usage::

    KERAS_BACKEND=jax python benchmarks/bench_step.py --arch tx_fac_bbs --batch_size 64 --peak_tflops 790
    KERAS_BACKEND=jax python benchmarks/bench_step.py --arch vit_base --set backbone.attention_dropout_rate=0.1
    KERAS_BACKEND=jax python benchmarks/bench_step.py --arch vit_base --keras_dropout
    python benchmarks/bench_step.py --arch ut_fac --tiny          # CPU smoke test

``--set KEY=VALUE`` (repeatable) overrides the arch config by dotted path, values read as YAML.
``--keras_dropout`` measures the step with Keras' own dropout masks (one threefry hash per
element; what vatt-models used up to 0.3) instead of ``vatt.models.layers.Dropout``'s packed
masks, for a before/after in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import vatt.models as vm  # noqa: E402
from vatt.core.config import ConfigError, merge_mappings, parse_overrides  # noqa: E402
from vatt.losses import pretrain_objective, softmax_cross_entropy  # noqa: E402
from vatt.models.flops import estimate_flops, mfu  # noqa: E402

PRETRAINING = ("tx_fac", "tx_fac_bbs", "tx_fac_lbs", "ut_fac")
VIDEO_CLASSIFIERS = ("vit_base", "vit_medium", "vit_large")
AUDIO_CLASSIFIERS = ("wat_base", "wat_medium")
ARCHS = PRETRAINING + VIDEO_CLASSIFIERS + AUDIO_CLASSIFIERS

# The paper's pretraining inputs: 32 frames of 224^2, 3.2 s of 48 kHz audio, 5 captions of 16
# words. The tiny shapes fit each family's tiny overrides (``vatt.models.tiny_overrides``).
FULL = {"frames": 32, "height": 224, "width": 224, "samples": 153_600, "captions": 5, "words": 16}
TINY = {
    "pretraining": {"frames": 6, "height": 32, "width": 48, "samples": 1024},
    "classifier": {"frames": 4, "height": 16, "width": 16, "samples": 1024},
}
VOCAB = 1000


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="tx_fac_bbs", choices=ARCHS)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=10, help="timed training steps")
    parser.add_argument(
        "--warmup", type=int, default=2, help="untimed steps (compilation), at least 1"
    )
    parser.add_argument(
        "--precision", default="mixed_bfloat16", choices=["float32", "mixed_bfloat16"]
    )
    parser.add_argument("--peak_tflops", type=float, help="accelerator peak dense TFLOP/s")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--tiny", action="store_true", help="tiny arch and shapes (CPU smoke test)")
    parser.add_argument("--torch_compile", action="store_true", help="PyTorch: torch.compile")
    parser.add_argument("--no_xla", action="store_true", help="TensorFlow: no jit_compile")
    parser.add_argument(
        "--keras_dropout",
        action="store_true",
        help="JAX: Keras' own dropout masks instead of vatt's packed ones (the former default)",
    )
    parser.add_argument(
        "--trainer",
        action="store_true",
        help="JAX: time vatt-train's step (vatt.train.jax_step: finiteness check, gradient norm, "
        "clipping groups, flag counts, sharded batch) instead of the bare model step",
    )
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="JAX: after timing, record --steps more steps with jax.profiler into DIR "
        "(summarise with benchmarks/profile_summary.py)",
    )
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    for name in ("batch_size", "steps", "warmup"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.peak_tflops is not None and not args.peak_tflops > 0:
        parser.error(f"--peak_tflops must be above 0, got {args.peak_tflops}")
    return args


def fail(message: str) -> None:
    """Bad input: one line on stderr, exit code 2."""
    print(message, file=sys.stderr)
    raise SystemExit(2)


def config_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The arch overrides: tiny ones with ``--tiny``, then every ``--set`` (vatt.core's grammar)."""
    overrides = vm.tiny_overrides(args.arch) if args.tiny else {}
    try:
        for item in args.set:
            overrides = merge_mappings(overrides, parse_overrides(item, flag="--set"))
    except ConfigError as error:
        fail(str(error))
    try:
        vm.get_config(args.arch, **overrides)  # an unknown key or a bad value: one line, now
    except ConfigError as error:
        fail(f"--set: {error}")
    return overrides


def uniform(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Float32 values uniform in [-1, 1), drawn as float32 (a 64-clip video takes ~1 s, not ~10)."""
    values = rng.random(shape, dtype=np.float32)
    values *= 2
    values -= 1
    return values


def synthetic_batch(args: argparse.Namespace, overrides: dict[str, Any]) -> dict[str, Any]:
    """A random batch of the arch's inputs on the default device (contract 1 dtypes)."""
    family = "pretraining" if args.arch in PRETRAINING else "classifier"
    shapes = {**FULL, **(TINY[family] if args.tiny else {})}
    rng = np.random.default_rng(0)
    size = args.batch_size
    video = (size, shapes["frames"], shapes["height"], shapes["width"], 3)
    arrays: dict[str, np.ndarray] = {}
    if args.arch in PRETRAINING or args.arch in VIDEO_CLASSIFIERS:
        arrays["video"] = uniform(rng, video)
    if args.arch in PRETRAINING or args.arch in AUDIO_CLASSIFIERS:
        arrays["audio"] = uniform(rng, (size, shapes["samples"]))
    if args.arch in PRETRAINING:
        text = (size, shapes["captions"], shapes["words"])
        arrays["text"] = rng.integers(1, VOCAB, text).astype("int32")
        arrays["text_mask"] = np.ones((size,), "float32")
        arrays["audio_mask"] = np.ones((size,), "float32")
    else:
        classes = vm.get_config(args.arch, **overrides).num_classes
        arrays["labels"] = np.eye(classes, dtype="float32")[rng.integers(0, classes, size)]
    return {key: keras.ops.convert_to_tensor(value) for key, value in arrays.items()}


def objective(outputs, batch):
    """The training loss of the arch's outputs: pretraining objective or cross-entropy."""
    if "labels" in batch:
        return softmax_cross_entropy(outputs["logits"], batch["labels"])
    return pretrain_objective(outputs, batch)["total"]


def use_keras_dropout() -> None:
    """Make ``vatt.models.layers.Dropout`` behave as ``keras.layers.Dropout`` everywhere."""
    from vatt.models.layers import Dropout

    Dropout.call = keras.layers.Dropout.call


def jax_step(model, optimizer):
    """A jitted step ``(state, batch) -> (loss, state)`` with the state donated."""
    import jax

    def loss_fn(trainable, non_trainable, batch):
        outputs, non_trainable = model.stateless_call(
            trainable, non_trainable, batch, training=True
        )
        return objective(outputs, batch), non_trainable

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def step(state, batch):
        trainable, non_trainable, optimizer_state = state
        (loss, non_trainable), grads = grad_fn(trainable, non_trainable, batch)
        trainable, optimizer_state = optimizer.stateless_apply(optimizer_state, grads, trainable)
        return loss, (trainable, non_trainable, optimizer_state)

    state = tuple(
        [v.value for v in variables]
        for variables in (
            model.trainable_variables,
            model.non_trainable_variables,
            optimizer.variables,
        )
    )
    compiled = jax.jit(step, donate_argnums=0)

    def run(batch):
        nonlocal state
        loss, state = compiled(state, batch)
        return loss

    return run, jax.block_until_ready


def jax_trainer_step(model, optimizer, batch):
    """vatt-train's own JAX step (:class:`vatt.train.jax_step.JaxTrainStep`) on every device.

    Returns ``(run, wait, batch)``: the batch sharded over the step's mesh."""
    import jax

    from vatt.train.jax_step import JaxTrainStep

    step = JaxTrainStep(
        model,
        optimizer,
        lambda outputs, batch: {"total": objective(outputs, batch)},
        ["total"],
        count_keys=["video_short", "audio_short"],
    )
    state = step.initial_state()

    def run(batch):
        nonlocal state
        state, output = step(state, batch)
        return output.terms[0]

    return run, jax.block_until_ready, step.shard_batch(batch)


def torch_step(model, optimizer, compile_forward: bool):
    """An eager step: forward (+ loss), ``backward()``, Adam; optionally ``torch.compile``-d."""
    import torch

    def forward(batch):
        return objective(model(batch, training=True), batch)

    forward = torch.compile(forward) if compile_forward else forward
    variables = model.trainable_variables

    def run(batch):
        loss = forward(batch)
        loss.backward()
        grads = [v.value.grad for v in variables]
        with torch.no_grad():
            optimizer.apply(grads, variables)
        for v in variables:
            v.value.grad = None
        return loss

    def synchronize(value):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        return value

    return run, synchronize


def tensorflow_step(model, optimizer, jit_compile: bool):
    """A ``tf.function`` step with ``GradientTape``; XLA-compiled unless told otherwise."""
    import tensorflow as tf

    variables = model.trainable_variables

    @tf.function(jit_compile=jit_compile)
    def run(batch):
        with tf.GradientTape() as tape:
            loss = objective(model(batch, training=True), batch)
        optimizer.apply(tape.gradient(loss, variables), variables)
        return loss

    return run, lambda value: value.numpy()


def main() -> None:
    args = parse_args()
    backend = keras.backend.backend()
    if args.profile and backend != "jax":
        fail(
            f"--profile records a jax.profiler trace; run it with KERAS_BACKEND=jax, not {backend}"
        )
    if args.profile and os.path.exists(args.profile) and not os.path.isdir(args.profile):
        fail(f"--profile {args.profile} is a file; give a directory for the trace")
    if args.keras_dropout and backend != "jax":
        fail(f"--keras_dropout compares masks on KERAS_BACKEND=jax; {backend} always uses Keras'")
    if args.trainer and backend != "jax":
        fail(f"--trainer times vatt-train's JAX step; run it with KERAS_BACKEND=jax, not {backend}")
    if args.json and os.path.isdir(args.json):
        fail(f"--json {args.json} is a folder; give a file name for the results")
    if args.json and not os.path.isdir(os.path.dirname(args.json) or "."):
        fail(f"--json: the folder of {args.json} does not exist; create it first")
    overrides = config_overrides(args)
    if args.keras_dropout:
        use_keras_dropout()
    keras.config.set_dtype_policy(args.precision)
    keras.utils.set_random_seed(0)  # the same weights and dropout masks in every run
    model = vm.build(args.arch, **overrides)
    batch = synthetic_batch(args, overrides)
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    if not model.built:  # every registered arch builds its weights in its constructor
        model({k: v[:1] for k, v in inputs.items()}, training=False)
    flops_per_clip = estimate_flops(model, {k: tuple(v.shape) for k, v in inputs.items()})
    optimizer = keras.optimizers.Adam(1e-4)
    optimizer.build(model.trainable_variables)

    if args.trainer:
        run, wait, batch = jax_trainer_step(model, optimizer, batch)
    elif backend == "jax":
        run, wait = jax_step(model, optimizer)
    elif backend == "torch":
        run, wait = torch_step(model, optimizer, args.torch_compile)
    else:
        run, wait = tensorflow_step(model, optimizer, not args.no_xla)

    start = time.perf_counter()
    for _ in range(args.warmup):
        loss = run(batch)
    wait(loss)
    compile_seconds = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(args.steps):
        loss = run(batch)
    wait(loss)
    seconds = (time.perf_counter() - start) / args.steps
    if args.profile:
        import jax

        with jax.profiler.trace(args.profile):
            for _ in range(args.steps):
                loss = run(batch)
            wait(loss)

    clips_per_second = args.batch_size / seconds
    result = {
        "arch": args.arch + (" (tiny)" if args.tiny else ""),
        "backend": backend,
        "precision": args.precision,
        "batch_size": args.batch_size,
        "overrides": args.set,
        "dropout": "keras" if args.keras_dropout or backend != "jax" else "packed",
        "step": "vatt.train.jax_step" if args.trainer else "model only",
        "step_ms": round(1e3 * seconds, 2),
        "clips_per_s": round(clips_per_second, 1),
        "train_gflops_per_clip": round(flops_per_clip / 1e9, 3),
        "tflops": round(flops_per_clip * clips_per_second / 1e12, 2),
        "warmup_s": round(compile_seconds, 1),
        "loss": round(float(keras.ops.convert_to_numpy(loss)), 4),
        "parameters": model.count_params(),
    }
    if args.peak_tflops:
        result["mfu"] = round(mfu(flops_per_clip, clips_per_second, args.peak_tflops), 4)
    print(json.dumps(result), flush=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=1)


if __name__ == "__main__":
    main()
