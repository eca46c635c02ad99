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
    export_model(checkpoint, output) -> Export
"""

import importlib
import importlib.util

from vatt.train.version import __version__ as __version__

# Public name -> the module defining it. Modules load on first use (PEP 562): ``vatt-train
# --help`` answers without importing TensorFlow.
_EXPORTS = {
    "CheckpointError": ".errors",
    "ConfigError": ".overrides",
    "CosineWithWarmup": ".schedules",
    "DataConfig": ".config",
    "ExperimentConfig": ".config",
    "Export": ".export",
    "LossConfig": ".config",
    "NonFiniteLossError": ".steps",
    "OptimizerConfig": ".optim_config",
    "ScheduleConfig": ".optim_config",
    "StepCosineWithWarmup": ".schedules",
    "StrategyConfig": ".config",
    "TrainConfig": ".config",
    "TrainResult": ".training",
    "apply_overrides": ".overrides",
    "build_model": ".builders",
    "build_optimizer": ".builders",
    "checkpoint_prefix": ".checkpoints",
    "create_strategy": ".strategies",
    "default_config": ".config",
    "export_model": ".export",
    "initialize_from_pretrained": ".initialization",
    "list_checkpoints": ".checkpoints",
    "load_run_config": ".config",
    "parse_params_override": ".overrides",
    "resolve_config": ".config",
    "restore_model_weights": ".checkpoints",
    "save_config": ".config",
    "train": ".training",
}
__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str):
    """A public name or a submodule (``vatt.train.builders``), imported on first use."""
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    elif not name.startswith("__") and importlib.util.find_spec(f"{__name__}.{name}"):
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
