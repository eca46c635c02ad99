"""Evaluating the checkpoints of a training run directory (contract 4).

:class:`RunEvaluator` reads ``RUN/config.yaml``, builds the run's model once, and evaluates any
checkpoint of it: the run's own ``ckpt-N`` files (written by vatt-train on TensorFlow or JAX) or
an official VATT checkpoint (pretrained or fine-tuned), which vatt-models converts while loading.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pathlib
from collections.abc import Sequence

import keras
import tensorflow as tf

import vatt.models
import vatt.train
from vatt.data.registry import get_dataset_spec
from vatt.eval.finetune_eval import evaluate_finetuning
from vatt.eval.inference import make_predict
from vatt.eval.pretrain_eval import ProbeSettings, evaluate_pretraining
from vatt.eval.results import write_results
from vatt.eval.watch import watch_run
from vatt.models.checkpoints import ROOT_PREFIX
from vatt.train.checkpoints import CheckpointError, checkpoint_step, first_line
from vatt.train.config import CONFIG_FILE
from vatt.train.jax_checkpoints import is_jax_checkpoint
from vatt.train.paths import user_path

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class EvalSettings:
    """What to evaluate and how; the defaults follow the original evaluation.

    Attributes:
      datasets: pretraining runs: registered datasets to evaluate on (default: the run config's
        ``data.eval.name``). Fine-tuning runs evaluate their ``data.eval`` dataset.
      batch_size: clips per evaluation batch (each clip brings its views).
      probes: linear-probe settings of pretraining evaluation.
      progress: show progress bars (on a terminal only).
    """

    datasets: tuple[str, ...] = ()
    batch_size: int = 8
    probes: ProbeSettings = ProbeSettings()
    progress: bool = True


def is_official_checkpoint(prefix: str) -> bool:
    """Whether a checkpoint was written by the original VATT code (its weights are under
    ``model/layer_with_weights-0``, the functional wrapper the original saved)."""
    if is_jax_checkpoint(prefix):  # a vatt-train run on the JAX backend
        return False
    return any(name.startswith(ROOT_PREFIX + "/") for name, _ in tf.train.list_variables(prefix))


class RunEvaluator:
    """Evaluates checkpoints of one run directory with the run's model and evaluation data.

    Args:
      run_dir: a vatt-train run directory (must hold ``config.yaml``); relative, absolute or
        with ``~``.
      settings: what to evaluate.
    """

    def __init__(self, run_dir: str | os.PathLike, settings: EvalSettings = EvalSettings()):
        self.run_dir = pathlib.Path(user_path(run_dir))
        self.settings = settings
        self.config = vatt.train.load_run_config(run_dir)
        if self.config.mode == "pretrain":
            self.datasets = tuple(settings.datasets) or (self.config.data.eval.name,)
        elif settings.datasets:
            raise ValueError(
                "datasets apply to pretraining runs only; a fine-tuning run is evaluated on its "
                f"data.eval dataset ({self.config.data.eval.name!r}, split "
                f"{self.config.data.eval_split!r})"
            )
        else:
            self.datasets = (self.config.data.eval.name,)
        for name in self.datasets:
            get_dataset_spec(name)  # an unknown name fails before the model is built
        self._model = None
        self._predict = None

    @property
    def model(self) -> keras.Model:
        """The run's model, built on first use (so that bad arguments fail fast)."""
        if self._model is None:
            self._model = vatt.train.build_model(self.config)
            self._predict = make_predict(self._model)
        return self._model

    @property
    def final_step(self) -> int:
        """The run's last training step (``train.total_steps``)."""
        return self.config.train.total_steps

    def restore(self, checkpoint: str | os.PathLike) -> str:
        """Load a checkpoint's weights into the model; returns the checkpoint prefix.

        ``checkpoint`` is a prefix (``RUN/ckpt-N`` of the TF or the JAX path, or an official
        ``.../ckpt-500000``), one of its files or a directory (its latest checkpoint).
        """
        prefix = vatt.train.checkpoint_prefix(checkpoint)
        try:
            official = is_official_checkpoint(prefix)
        except tf.errors.OpError as error:
            raise CheckpointError(
                f"checkpoint {prefix} cannot be read ({first_line(error)}); pass another "
                "checkpoint prefix"
            ) from None
        if official:
            vatt.models.load_official_checkpoint(self.model, prefix)
        else:
            vatt.train.restore_model_weights(self.model, prefix)
        return prefix

    def metrics(self, checkpoint: str | os.PathLike) -> dict[str, float]:
        """Restore ``checkpoint`` and compute every metric of the run's evaluation."""
        prefix = self.restore(checkpoint)  # builds the model, and with it self._predict
        logger.info("evaluating %s on %s", prefix, ", ".join(self.datasets))
        settings, data = self.settings, self.config.data
        try:
            if self.config.mode == "pretrain":
                return evaluate_pretraining(
                    self._predict,
                    data.eval,
                    self.datasets,
                    batch_size=settings.batch_size,
                    probes=settings.probes,
                    progress=settings.progress,
                )
            return evaluate_finetuning(
                self._predict,
                data.eval,
                split=data.eval_split,
                batch_size=settings.batch_size,
                progress=settings.progress,
            )
        except FileNotFoundError as error:
            raise FileNotFoundError(
                f"evaluation input (data.eval.data_dir={data.eval.data_dir!r} in "
                f"{self.run_dir / CONFIG_FILE}): {error}"
            ) from None

    def latest_checkpoint(self) -> str:
        """The prefix of the run's newest complete checkpoint (see ``list_checkpoints``)."""
        checkpoints = vatt.train.list_checkpoints(self.run_dir)
        if not checkpoints:
            raise FileNotFoundError(
                f"run directory {self.run_dir} holds no checkpoint yet; pass a checkpoint "
                "prefix explicitly or wait for training to save one"
            )
        return checkpoints[-1][1]

    def evaluate(self, checkpoint: str | os.PathLike | None = None) -> dict[str, float]:
        """Evaluate one checkpoint (default: the run's latest) and write its results.

        Results go to ``RUN/eval/results-N.json`` and TensorBoard scalars at step N, N being the
        step in the checkpoint's ``ckpt-N`` name.
        """
        prefix = vatt.train.checkpoint_prefix(checkpoint or self.latest_checkpoint())
        step = checkpoint_step(prefix)
        metrics = self.metrics(prefix)
        path = write_results(self.run_dir, step, metrics, checkpoint=prefix)
        logger.info("wrote %s", path)
        return metrics

    def watch(self, *, interval: float = 180.0, timeout: float = 7200.0) -> list[int]:
        """Evaluate each checkpoint as training writes it, until the final step or the timeout."""
        return watch_run(
            self.run_dir,
            self.metrics,
            final_step=self.final_step,
            interval=interval,
            timeout=timeout,
        )


def evaluate_checkpoint(
    run_dir: str | os.PathLike,
    checkpoint: str | os.PathLike | None = None,
    *,
    datasets: Sequence[str] = (),
    batch_size: int = 8,
    probes: ProbeSettings | None = None,
    progress: bool = True,
) -> dict[str, float]:
    """Evaluate one checkpoint of a run and write ``RUN/eval/results-N.json``; returns the metrics.

    Pretraining runs get zero-shot retrieval (text->video and audio->video R@1/5/10, median rank,
    chance levels) and linear probes (Keras protocol and SVM); fine-tuning runs get multi-view
    classification metrics. See :class:`EvalSettings` for the arguments.
    """
    settings = EvalSettings(
        datasets=tuple(datasets),
        batch_size=batch_size,
        probes=probes or ProbeSettings(),
        progress=progress,
    )
    return RunEvaluator(run_dir, settings).evaluate(checkpoint)
