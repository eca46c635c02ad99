"""vatt.train: VATT pretraining and fine-tuning on tf.distribute, and the ``vatt-train`` CLI.

Public API (see the package README)::

    resolve_config(mode, model_arch, *, config_file=None, params_override=None) -> ExperimentConfig
    default_config(mode, model_arch) -> ExperimentConfig
    parse_overrides(text) -> dict  (vatt.core.config's, the grammar of --params_override)
    train(config, model_dir, *, strategy=None, dataset_fn=None) -> TrainResult
    create_strategy(strategy_type, tpu="") -> tf.distribute.Strategy
    load_run_config(run_dir) -> ExperimentConfig
    build_model(config) -> keras.Model
    list_checkpoints(run_dir) -> list[tuple[int, str]]
    restore_model_weights(model, checkpoint_prefix) -> str
    initialize_from_pretrained(classifier, checkpoint) -> list[str]
    export_model(checkpoint, output) -> Export
"""

import pkgutil

import lazy_loader

from vatt.train.version import __version__ as __version__

# Submodule -> its public names, imported on first use (lazy_loader): ``vatt-train --help`` answers
# without importing TensorFlow. Every submodule (``vatt.train.precision``) is an attribute too.
_EXPORTS = {
    "checkpoints": ["checkpoint_prefix", "list_checkpoints", "restore_model_weights"],
    "config": [
        "ConfigError",
        "DataConfig",
        "ExperimentConfig",
        "LossConfig",
        "StrategyConfig",
        "TrainConfig",
        "apply_overrides",
        "default_config",
        "load_run_config",
        "parse_overrides",
        "resolve_config",
        "save_config",
    ],
    "errors": ["CheckpointError"],
    "export": ["Export", "export_model"],
    "initialization": ["initialize_from_pretrained"],
    "optim_config": ["OptimizerConfig", "ScheduleConfig"],
    "precision": ["build_model"],
    "schedules": ["CosineWithWarmup", "StepCosineWithWarmup", "build_optimizer"],
    "steps": ["NonFiniteLossError"],
    "strategies": ["create_strategy"],
    "training": ["TrainResult", "train"],
}
_SUBMODULES = [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]
__getattr__, __dir__, _ = lazy_loader.attach(__name__, _SUBMODULES, _EXPORTS)
__all__ = sorted([*(name for names in _EXPORTS.values() for name in names), "__version__"])
