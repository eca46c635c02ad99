"""Pretraining and fine-tuning: one driver that writes the run directory of contract 4.

``RUN/config.yaml`` (the resolved config, ``strategy.backend`` naming the Keras backend),
``RUN/checkpoint`` and ``RUN/ckpt-N.*`` (model, optimizer and step, N = the step), ``RUN/train/``
(TensorBoard scalars: every loss term, the learning rate, examples/s, skipped steps, and
``data/video_short``/``data/audio_short``: the clips of each logging interval that the loader
looped or padded to fill its window).

On the TensorFlow backend the steps run under a ``tf.distribute`` strategy
(:class:`vatt.train.steps.StepRunner`); on JAX, :mod:`vatt.train.jax_training` runs them on a
device mesh. Everything else (checks, input, restore, cadence, reports) is shared.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pathlib
import time

import keras
import tensorflow as tf

import vatt.data
import vatt.models
from vatt.core.config import ConfigError, read_yaml
from vatt.train import precision, progress
from vatt.train.checkpoints import (
    CHECKPOINT_NAME,
    CheckpointError,
    ModelWeights,
    checkpoint_prefix,
    first_line,
    list_checkpoints,
)
from vatt.train.choices import strategy_problem
from vatt.train.clipping import clip_groups
from vatt.train.config import CONFIG_FILE, ExperimentConfig, resolve_paths, save_config
from vatt.train.initialization import initialize_from_pretrained
from vatt.train.inputs import DatasetFn, batch_preparation, train_dataset_fn
from vatt.train.objective import build_objective, objective_terms
from vatt.train.paths import user_path
from vatt.train.resume import check_resume
from vatt.train.schedules import build_optimizer
from vatt.train.steps import BatchPreparation, NonFiniteLossError, StepRunner
from vatt.train.strategies import create_strategy

logger = logging.getLogger("vatt.train")


@dataclasses.dataclass
class TrainResult:
    """What a call of :func:`train` did."""

    step: int  # the step reached (= the number of the last checkpoint)
    # One record per logged loop: step, each loss term (mean over the loop), learning_rate,
    # examples_per_second.
    history: list[dict[str, float]]
    skipped_steps: int
    restored_from: str | None  # the checkpoint the run resumed from, if any


def train(
    config: ExperimentConfig,
    model_dir: str | os.PathLike,
    *,
    strategy: tf.distribute.Strategy | None = None,
    dataset_fn: DatasetFn | None = None,
) -> TrainResult:
    """Train ``config`` into ``model_dir``, resuming from its latest checkpoint if there is one.

    Args:
      config: a resolved experiment (see :func:`vatt.train.resolve_config`).
      model_dir: the run directory (relative, absolute or with ``~``).
      strategy: defaults to the one ``config.strategy`` names (TensorFlow backend only; on JAX
        ``config.strategy`` names the device mesh).
      dataset_fn: ``input_context -> per-replica batched tf.data.Dataset`` replacing the input
        that ``config.data`` describes (e.g. your own data); it must repeat indefinitely.

    Nothing is written before every input has been checked: the paths of ``config`` are made
    absolute (:func:`vatt.train.config.resolve_paths`), a resumed run's recorded config is
    compared with ``config`` (:func:`vatt.train.resume.check_resume`), the input is opened and
    the checkpoint to start from is restored; only then is ``RUN/config.yaml`` written.

    Raises:
      ConfigError: a value that does not fit (a change a resumed run's checkpoints do not allow,
        a run of another backend, a strategy of another backend, a missing data directory, a
        batch the replicas do not divide...); nothing was written.
      CheckpointError: the checkpoint to start from is missing or does not fit the model.
      NonFiniteLossError: a loss term or the gradient was NaN/Inf (with
        ``train.non_finite_loss="stop"``, the default); the step is in the message.
    """
    model_dir = user_path(model_dir)
    if tf.io.gfile.exists(model_dir) and not tf.io.gfile.isdir(model_dir):
        raise ConfigError(
            f"model_dir {model_dir} is a file; pass a directory (a new one, or a run to resume)"
        )
    config = resolve_paths(config)
    backend = keras.backend.backend()
    _check_backend(config, model_dir, backend)
    logger.info(
        "%s %s on the %s backend (strategy %s)",
        config.mode,
        config.model_arch,
        backend,
        config.strategy.type,
    )
    check_resume(config, model_dir)
    if backend == "jax":
        if strategy is not None:
            raise ValueError(
                "strategy is a tf.distribute.Strategy of the TensorFlow backend; on JAX, "
                "config.strategy.type names the device mesh"
            )
        from vatt.train import jax_training

        return jax_training.train(config, model_dir, dataset_fn=dataset_fn)
    strategy = strategy or create_strategy(config.strategy.type, config.strategy.tpu)
    chief = _is_chief(strategy)
    keras.utils.set_random_seed(config.train.seed)
    replicas = strategy.num_replicas_in_sync
    if config.train.global_batch_size % replicas:
        raise ConfigError(
            f"train.global_batch_size={config.train.global_batch_size} is not divisible by the "
            f"{replicas} replicas of the {type(strategy).__name__}"
        )
    if config.train.jit_compile and replicas > 1:
        raise ConfigError(
            f"train.jit_compile=true compiles one replica's step, but the "
            f"{type(strategy).__name__} has {replicas} replicas whose cross-replica ops "
            "(synchronized BatchNorm, gathered negatives) cannot run inside it; train on one "
            "device or set train.jit_compile=false"
        )

    dataset_fn = dataset_fn or train_dataset_fn(config)
    iterator = open_input(
        config, lambda: iter(strategy.distribute_datasets_from_function(dataset_fn))
    )

    with strategy.scope():
        model = precision.build_model(config)
        optimizer = build_optimizer(config)
        # Keras 3 under tf.distribute: the optimizer's slots must exist, mirrored, before the
        # first step and before a restore (keras-team/keras#23085).
        optimizer.build(model.trainable_variables)
        step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        skipped = tf.Variable(0, dtype=tf.int64, trainable=False, name="skipped_steps")
    logger.info("number of parameters in the model: %.2f M", model.count_params() / 1e6)

    checkpoint = tf.train.Checkpoint(
        model=ModelWeights(model), optimizer=optimizer, step=step, skipped_steps=skipped
    )
    write_dir = model_dir if chief else _worker_dir(model_dir, strategy)
    manager = tf.train.CheckpointManager(
        checkpoint,
        write_dir,
        max_to_keep=config.train.max_checkpoints,
        checkpoint_name=CHECKPOINT_NAME,
        step_counter=step,
    )
    restored = _restore(config, checkpoint, model, model_dir)

    runner = StepRunner(
        strategy,
        model,
        optimizer,
        build_objective(config, replicas),
        objective_terms(config),
        clip_groups(config, model),
        step,
        skipped,
        stop_on_non_finite=config.train.non_finite_loss == "stop",
        prepare_batch=batch_preparation(config),
        count_keys=vatt.data.SHORT_CLIP_KEYS,
        jit_compile=config.train.jit_compile,
    )
    flops_per_example = (
        training_flops_per_example(model, dataset_fn, replicas, runner.prepare_batch)
        if config.train.peak_tflops_per_device
        else None
    )
    if chief:
        save_config(config, model_dir)
    reporter = LoopReporter(config, model_dir, chief, flops_per_example, replicas)
    _loop(config, runner, iterator, manager, reporter, None if chief else write_dir)
    return TrainResult(
        step=int(step.numpy()),
        history=reporter.history,
        skipped_steps=int(skipped.numpy()),
        restored_from=restored,
    )


def _loop(
    config: ExperimentConfig,
    runner: StepRunner,
    iterator,
    manager: tf.train.CheckpointManager,
    reporter: LoopReporter,
    scratch_dir: str | None,
) -> None:
    step, total = int(runner.step.numpy()), config.train.total_steps
    while step < total:
        started = time.perf_counter()
        outcome = runner.run(iterator, loop_length(step, config))
        elapsed = time.perf_counter() - started
        previous, step = step, int(runner.step.numpy())
        if outcome.non_finite is not None:
            raise NonFiniteLossError(step + 1, outcome.non_finite)
        reporter.report(
            step=step,
            steps_run=step - previous,
            elapsed=elapsed,
            mean_terms=outcome.mean_terms,
            counts=outcome.counts,
            learning_rate=float(runner.optimizer.learning_rate),
            skipped_steps=int(runner.skipped_steps.numpy()),
        )
        if save_due(step, config):
            _save(manager, step, scratch_dir)
    if manager.latest_checkpoint != _expected_prefix(manager, step):
        _save(manager, step, scratch_dir)
    reporter.close()


def loop_length(step: int, config: ExperimentConfig) -> int:
    """How many steps the loop that starts after ``step`` runs: ``train.iterations_per_loop``,
    less where the run ends or a checkpoint falls due (every ``train.save_checkpoint_freq``)."""
    train = config.train
    next_save = (step // train.save_checkpoint_freq + 1) * train.save_checkpoint_freq
    return min(train.iterations_per_loop, train.total_steps - step, next_save - step)


def save_due(step: int, config: ExperimentConfig) -> bool:
    """Whether a loop that ended at ``step`` saves a checkpoint: every
    ``train.save_checkpoint_freq`` steps, and after the first loop, as the original."""
    train = config.train
    return step % train.save_checkpoint_freq == 0 or step == train.iterations_per_loop


def open_input(config: ExperimentConfig, open_fn):
    """``open_fn()``, with a missing training input reported as the ConfigError of its path."""
    try:
        return open_fn()
    except FileNotFoundError as error:
        raise ConfigError(
            f"training input (data.train.data_dir={config.data.train.data_dir!r}): {error}"
        ) from None


class LoopReporter:
    """What every loop of steps reports, on either backend: a record of ``TrainResult.history``,
    the TensorBoard scalars of ``RUN/train`` (chief only), the running count of short clips and
    the console line (clips/s, MFU when ``flops_per_example`` is known, ETA)."""

    def __init__(
        self,
        config: ExperimentConfig,
        model_dir: str,
        chief: bool,
        flops_per_example: float | None,
        num_devices: int,
    ):
        self.config = config
        self.flops_per_example = flops_per_example
        self.num_devices = num_devices
        self.history: list[dict[str, float]] = []
        self.short_clips = vatt.data.ShortClipLog()
        self.writer = (
            tf.summary.create_file_writer(os.path.join(model_dir, "train"))
            if chief
            else tf.summary.create_noop_writer()
        )

    def report(
        self,
        *,
        step: int,
        steps_run: int,
        elapsed: float,
        mean_terms: dict[str, float],
        counts: dict[str, float],
        learning_rate: float,
        skipped_steps: int,
    ) -> None:
        """Report the loop of ``steps_run`` steps that took ``elapsed`` seconds up to ``step``."""
        train = self.config.train
        examples_per_second = steps_run * train.global_batch_size / elapsed
        record: dict[str, float] = {
            "step": step,
            **mean_terms,
            "learning_rate": learning_rate,
            "examples_per_second": examples_per_second,
        }
        self.history.append(record)
        _write_summaries(self.writer, record, skipped_steps, counts)
        self.short_clips.update(counts)
        mfu = (
            progress.model_flops_utilization(
                self.flops_per_example,
                examples_per_second,
                train.peak_tflops_per_device,
                self.num_devices,
            )
            if self.flops_per_example
            else None
        )
        logger.info(
            progress.progress_line(
                step=step,
                total_steps=train.total_steps,
                losses=mean_terms,
                learning_rate=learning_rate,
                examples_per_second=examples_per_second,
                seconds_per_step=elapsed / max(steps_run, 1),
                mfu=mfu,
                skipped_steps=skipped_steps,
            )
        )

    def close(self) -> None:
        """Flush the TensorBoard events."""
        self.writer.flush()


def _expected_prefix(manager: tf.train.CheckpointManager, step: int) -> str:
    return os.path.join(manager.directory, f"{CHECKPOINT_NAME}-{step}")


def _save(manager: tf.train.CheckpointManager, step: int, scratch_dir: str | None) -> None:
    path = manager.save(checkpoint_number=step)
    logger.info("saved checkpoint %s", path)
    if scratch_dir is not None:
        # Non-chief workers take part in the (collective) save but keep nothing.
        tf.io.gfile.rmtree(scratch_dir)


def _write_summaries(
    writer, record: dict[str, float], skipped_steps: int, counts: dict[str, float]
) -> None:
    step = int(record["step"])
    with writer.as_default(step=step):
        for name, value in record.items():
            if name == "step":
                continue
            tag = name if name in ("learning_rate", "examples_per_second") else f"loss/{name}"
            tf.summary.scalar(tag, value)
        tf.summary.scalar("skipped_steps", skipped_steps)
        for key, count in counts.items():
            tf.summary.scalar(f"data/{key}", count)


def training_flops_per_example(
    model: keras.Model,
    dataset_fn: DatasetFn,
    replicas: int,
    prepare_batch: BatchPreparation | None,
) -> float:
    """Training FLOPs of one example (vatt-models' estimate), at the shapes the model sees: those of
    the input after the step's batch preparation (traced on the Keras backend, not run).
    ``replicas``: the input pipelines' ``num_replicas_in_sync``."""
    context = tf.distribute.InputContext(num_replicas_in_sync=replicas)
    spec = {
        key: tf.TensorSpec((1, *value.shape[1:]), value.dtype)
        for key, value in dataset_fn(context).element_spec.items()
    }
    if prepare_batch is not None and keras.backend.backend() == "jax":
        import jax

        spec = jax.eval_shape(
            prepare_batch,
            {k: jax.ShapeDtypeStruct(v.shape, v.dtype.as_numpy_dtype) for k, v in spec.items()},
        )
    elif prepare_batch is not None:
        prepared = tf.function(prepare_batch).get_concrete_function(spec).structured_outputs
        spec = {key: tf.TensorSpec(value.shape, value.dtype) for key, value in prepared.items()}
    shapes = {key: tuple(value.shape) for key, value in spec.items()}
    return float(vatt.models.estimate_flops(model, shapes))


def start_checkpoint(config: ExperimentConfig, model_dir: str) -> str | None:
    """The checkpoint a run resumes from (model, optimizer and counters), as the original: in
    pretraining ``--override_checkpoint`` if given, else the run's latest checkpoint, if any (see
    ``--override_checkpoint`` in the package README)."""
    override = config.train.override_checkpoint
    if config.mode == "pretrain" and override:
        return checkpoint_prefix(override)
    held = list_checkpoints(model_dir) if tf.io.gfile.isdir(model_dir) else []
    return held[-1][1] if held else None


def initialize_finetuning(config: ExperimentConfig, model: keras.Model) -> None:
    """A fine-tuning run that starts from no checkpoint of its own: the backbone from
    ``--override_checkpoint``, if given."""
    override = config.train.override_checkpoint
    if config.mode == "finetune" and override:
        loaded = initialize_from_pretrained(model, override)
        logger.info("initialised %d weights from %s", len(loaded), override)


def _restore(
    config: ExperimentConfig,
    checkpoint: tf.train.Checkpoint,
    model: keras.Model,
    model_dir: str,
) -> str | None:
    prefix = start_checkpoint(config, model_dir)
    if prefix is not None:
        try:
            checkpoint.restore(prefix).assert_existing_objects_matched()
        except (AssertionError, ValueError, tf.errors.OpError) as error:
            raise CheckpointError(
                f"checkpoint {prefix} does not fit the requested model and optimizer "
                f"({first_line(error)}); train into a new --model_dir"
            ) from None
        logger.info("restored %s (step %d)", prefix, int(checkpoint.step.numpy()))
        return prefix
    initialize_finetuning(config, model)
    return None


def _check_backend(config: ExperimentConfig, model_dir: str, backend: str) -> None:
    """``config`` can train on the Keras ``backend``, into ``model_dir``: the strategy is one of
    the backend's, and a run being resumed was trained on the same backend (its checkpoints hold
    that backend's optimizer state)."""
    if config.strategy.backend != backend:
        raise ConfigError(
            f"strategy.backend={config.strategy.backend!r} but Keras runs on {backend!r}; set "
            f"KERAS_BACKEND={config.strategy.backend} or drop strategy.backend from the config"
        )
    problem = strategy_problem(config.strategy.type, backend)
    if problem:
        raise ConfigError(problem)
    recorded = pathlib.Path(model_dir) / CONFIG_FILE
    if not recorded.is_file():
        return
    try:
        strategy = read_yaml(recorded).get("strategy") or {}
    except (ConfigError, OSError):
        return  # check_resume reports an unreadable config
    # Runs recorded before strategy.backend existed trained on TensorFlow.
    trained_on = strategy.get("backend", "tensorflow") if isinstance(strategy, dict) else None
    if trained_on and trained_on != backend:
        raise ConfigError(
            f"{model_dir} holds a run trained on the {trained_on} backend, whose checkpoints "
            f"resume only there; run with KERAS_BACKEND={trained_on}, or train into a new "
            "--model_dir (fine-tuning can start from its checkpoints on any backend)"
        )


def _is_chief(strategy: tf.distribute.Strategy) -> bool:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    cluster = resolver.cluster_spec().as_dict()
    if "chief" in cluster:
        return resolver.task_type == "chief"
    return resolver.task_type == "worker" and resolver.task_id == 0


def _worker_dir(model_dir: str, strategy: tf.distribute.Strategy) -> str:
    resolver = strategy.cluster_resolver
    return str(pathlib.Path(model_dir) / f".worker-{resolver.task_type}-{resolver.task_id}")
