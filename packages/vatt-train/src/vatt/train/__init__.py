"""vatt.train: VATT pretraining and fine-tuning on tf.distribute, and the ``vatt-train`` CLI.

Public API (see the package README)::

    resolve_config(mode, model_arch, *, config_file=None, params_override=None) -> ExperimentConfig
    default_config(mode, model_arch) -> ExperimentConfig
    parse_params_override(text) -> dict
    train(config, model_dir, *, strategy=None, dataset_fn=None) -> TrainResult
    create_strategy(strategy_type, tpu="") -> tf.distribute.Strategy
    load_run_config(run_dir) -> ExperimentConfig
    build_model(config) -> keras.Model
    list_checkpoints(run_dir) -> list[tuple[int, str]]
    restore_model_weights(model, checkpoint_prefix) -> str
    initialize_from_pretrained(classifier, checkpoint) -> list[str]
"""

from vatt.train.builders import build_model, build_optimizer
from vatt.train.checkpoints import (
    CheckpointError,
    checkpoint_prefix,
    list_checkpoints,
    restore_model_weights,
)
from vatt.train.config import (
    DataConfig,
    ExperimentConfig,
    LossConfig,
    StrategyConfig,
    TrainConfig,
    default_config,
    load_run_config,
    resolve_config,
    save_config,
)
from vatt.train.initialization import initialize_from_pretrained
from vatt.train.optim_config import OptimizerConfig, ScheduleConfig
from vatt.train.overrides import ConfigError, apply_overrides, parse_params_override
from vatt.train.schedules import CosineWithWarmup, StepCosineWithWarmup
from vatt.train.steps import NonFiniteLossError
from vatt.train.strategies import create_strategy
from vatt.train.training import TrainResult, train
from vatt.train.version import __version__

__all__ = [
    "CheckpointError",
    "ConfigError",
    "CosineWithWarmup",
    "DataConfig",
    "ExperimentConfig",
    "LossConfig",
    "NonFiniteLossError",
    "OptimizerConfig",
    "ScheduleConfig",
    "StepCosineWithWarmup",
    "StrategyConfig",
    "TrainConfig",
    "TrainResult",
    "__version__",
    "apply_overrides",
    "build_model",
    "build_optimizer",
    "checkpoint_prefix",
    "create_strategy",
    "default_config",
    "initialize_from_pretrained",
    "list_checkpoints",
    "load_run_config",
    "parse_params_override",
    "resolve_config",
    "restore_model_weights",
    "save_config",
    "train",
]
