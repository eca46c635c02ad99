"""The experiment config: dataclasses for data, model, loss, optimizer, schedule and training.

Defaults are the original release's ``Pretrain`` and ``Finetune`` experiments (spec §6.2, §4):

* pretraining: Adam, warmup 5k steps then step-cosine 1e-4 → 5e-5 over 500k steps, no clipping,
  checkpoints every 10k steps (50 kept);
* fine-tuning: SGD with momentum 0.9, warmup 2.5k steps to 0.005 then cosine to 0 at 100k,
  backbone gradients clipped to global norm 0.75 and classifier gradients unclipped, label
  smoothing 0.1 (in the data config), checkpoints every 5k steps (10 kept).

:func:`resolve_config` applies, in order, the arch defaults, a YAML file and ``--params_override``.
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import vatt.models
from vatt.core.config import (
    Config,
    ConfigError,
    apply_overrides,
    expand_dotted,
    read_yaml,
)
from vatt.core.config import parse_overrides as parse_overrides  # public in vatt.train
from vatt.data.config import EvalDataConfig, FinetuneDataConfig, PretrainDataConfig
from vatt.data.registry import get_dataset_spec
from vatt.train.choices import MODES, STRATEGY_TYPES
from vatt.train.optim_config import (
    AdamConfig,
    CosineWarmupConfig,
    MomentumConfig,
    Optimizer,
    OptimizerConfig,
    Schedule,
    ScheduleConfig,
    StepCosineWarmupConfig,
)
from vatt.train.paths import user_path

NON_FINITE_POLICIES = ("stop", "skip")
PRECISIONS = ("float32", "mixed_bfloat16")
CONFIG_FILE = "config.yaml"


@dataclass
class LossConfig:
    """Objective settings. Pretraining: the asymmetric NCE pairs of the original (temperature
    0.07, equal weights). Fine-tuning: softmax cross-entropy for single-label datasets, sigmoid
    cross-entropy with inverse label-occurrence weights for multi-label ones (AudioSet)."""

    temperature: float = 0.07
    vid_txt_weight: float = 1.0
    vid_aud_weight: float = 1.0
    inverse_frequency_weighting: bool = True

    def __post_init__(self):
        _require(self, "loss", [("temperature", self.temperature > 0, "> 0")])


@dataclass
class TrainConfig:
    """Length, batch, cadence and safety settings of the training loop."""

    total_steps: int = 500_000
    # The original's placeholder default; the paper pretrained with a global batch of 2048.
    global_batch_size: int = 8
    # Steps run inside one tf.function call; also the logging cadence.
    iterations_per_loop: int = 50
    save_checkpoint_freq: int = 10_000
    max_checkpoints: int = 50
    # Global-norm clipping of the backbone (every non-classifier weight) and of the classifier;
    # 0 disables it.
    gradient_clip_norm: float = 0.0
    gradient_clip_norm_classifier: float = 0.0
    # "stop": raise at the first NaN/Inf loss term or gradient; "skip": drop that step, count it.
    non_finite_loss: str = "stop"
    precision: str = "float32"
    # Compile each replica's forward pass, objective and gradients with XLA (tf.function
    # jit_compile): faster on accelerators, where the model supports it.
    jit_compile: bool = False
    seed: int = 0
    # Peak dense TFLOP/s of one accelerator, for the MFU estimate of the progress line (0: no MFU).
    peak_tflops_per_device: float = 0.0
    # Fine-tuning: pretrained weights to start from (ours or official); pretraining: the
    # checkpoint to restore instead of the run's latest. Set by --override_checkpoint.
    override_checkpoint: str = ""

    def __post_init__(self):
        at_least_1 = "at least 1"
        _require(
            self,
            "train",
            [
                ("total_steps", self.total_steps >= 1, at_least_1),
                ("global_batch_size", self.global_batch_size >= 1, at_least_1),
                ("iterations_per_loop", self.iterations_per_loop >= 1, at_least_1),
                ("save_checkpoint_freq", self.save_checkpoint_freq >= 1, at_least_1),
                ("max_checkpoints", self.max_checkpoints >= 1, at_least_1),
                ("gradient_clip_norm", self.gradient_clip_norm >= 0, ">= 0 (0: off)"),
                (
                    "gradient_clip_norm_classifier",
                    self.gradient_clip_norm_classifier >= 0,
                    ">= 0 (0: off)",
                ),
                (
                    "non_finite_loss",
                    self.non_finite_loss in NON_FINITE_POLICIES,
                    f"one of {NON_FINITE_POLICIES}",
                ),
                ("precision", self.precision in PRECISIONS, f"one of {PRECISIONS}"),
                ("peak_tflops_per_device", self.peak_tflops_per_device >= 0, ">= 0"),
            ],
        )


def _keras_backend() -> str:
    import keras

    return keras.backend.backend()


@dataclass
class StrategyConfig:
    """How the run is distributed (``--strategy_type`` / ``--tpu``), on which Keras backend.

    ``type`` names a strategy of ``backend`` (:data:`vatt.train.choices.STRATEGIES_BY_BACKEND`).
    ``backend`` is the Keras backend the run trains on: ``KERAS_BACKEND`` when the config is made,
    recorded in ``RUN/config.yaml``; a run resumes only on the backend it was trained on.
    """

    type: str = "mirrored"
    tpu: str = ""
    backend: str = field(default_factory=_keras_backend)

    def __post_init__(self):
        _require(
            self, "strategy", [("type", self.type in STRATEGY_TYPES, f"one of {STRATEGY_TYPES}")]
        )


def _require(config: Any, section: str, checks: list[tuple[str, bool, str]]) -> None:
    """Raise :class:`ConfigError` naming the first field of ``checks`` whose value is invalid."""
    for name, ok, allowed in checks:
        if not ok:
            value = getattr(config, name)
            key = f"{section}.{name}" if section else name
            raise ConfigError(f"{key} = {value!r} is invalid: it must be {allowed}")


@dataclass
class DataConfig:
    """Training and evaluation inputs (configs of vatt-data).

    Pretraining trains on ``train`` (a ``PretrainDataConfig``) and evaluates with ``eval`` (an
    ``EvalDataConfig``); fine-tuning uses ``FinetuneDataConfig`` for both, reading ``train_split``
    and ``eval_split`` of their datasets. Pretraining input defaults to ``video_dtype: uint8`` and
    ``resize_on_accelerator: true``: the input hosts decode the crop windows and the train step
    resizes them, applies the flip and colour draws and normalises on the accelerator
    (``vatt.data.finish_batch``).
    """

    train: PretrainDataConfig | FinetuneDataConfig = field(
        default_factory=lambda: PretrainDataConfig(video_dtype="uint8", resize_on_accelerator=True)
    )
    eval: EvalDataConfig | FinetuneDataConfig = field(default_factory=EvalDataConfig)
    train_split: str = "train"
    eval_split: str = "test"


def _default_model() -> vatt.models.ArchConfig:
    return vatt.models.get_config("tx_fac")


@dataclass
class ExperimentConfig(Config):
    """A complete pretraining or fine-tuning experiment; written to ``RUN/config.yaml``.

    ``optimizer.name`` and ``schedule.name`` choose their classes (``optimizer.name=momentum``
    starts from ``MomentumConfig``'s defaults). ``model`` is the config of the ``model_arch``
    registered in vatt-models; ``mode`` and ``model_arch`` come from the command.
    """

    CHOICES: ClassVar = {
        "optimizer": ("optimizer.name", OptimizerConfig.choose),
        "schedule": ("schedule.name", ScheduleConfig.choose),
    }

    mode: str = "pretrain"
    model_arch: str = "tx_fac"
    # The registered arch's own config class (any ``vatt.models.ArchConfig``).
    model: Any = field(default_factory=_default_model)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optimizer: Optimizer = field(default_factory=AdamConfig)
    schedule: Schedule = field(default_factory=StepCosineWarmupConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    strategy: StrategyConfig = field(default_factory=StrategyConfig)

    def __post_init__(self):
        _require(self, "", [("mode", self.mode in MODES, f"one of {MODES}")])
        # Building the schedule validates its steps against the run length.
        try:
            self.schedule.build(self.train.total_steps)
        except ValueError as error:
            raise ConfigError(f"schedule: {error}") from None


def default_config(mode: str, model_arch: str) -> ExperimentConfig:
    """The original's defaults for ``mode`` (``pretrain``/``finetune``) and ``model_arch``."""
    mode, model_arch = mode.lower(), model_arch.lower()
    if mode not in MODES:
        raise ConfigError(f"unknown mode {mode!r}; valid modes: {', '.join(MODES)}")
    model = vatt.models.get_config(model_arch)
    if mode == "pretrain":
        return ExperimentConfig(mode=mode, model_arch=model_arch, model=model)
    return ExperimentConfig(
        mode=mode,
        model_arch=model_arch,
        model=model,
        data=DataConfig(train=FinetuneDataConfig(), eval=FinetuneDataConfig()),
        optimizer=MomentumConfig(),
        schedule=CosineWarmupConfig(),
        train=TrainConfig(
            total_steps=100_000,
            save_checkpoint_freq=5_000,
            max_checkpoints=10,
            gradient_clip_norm=0.75,
            gradient_clip_norm_classifier=0.0,
        ),
    )


def resolve_config(
    mode: str,
    model_arch: str,
    *,
    config_file: str | pathlib.Path | None = None,
    params_override: Mapping[str, Any] | None = None,
) -> ExperimentConfig:
    """Arch defaults, then ``config_file`` (YAML), then ``params_override`` (nested mapping).

    ``mode`` and ``model_arch`` come from the caller (the CLI flags); a file or override that
    sets them to something else is an error. The result is validated.
    """
    config = default_config(mode, model_arch)
    layers = []
    if config_file:
        layers.append((read_yaml(user_path(config_file)), f"config file {config_file}"))
    if params_override:
        layers.append((expand_dotted(params_override), "--params_override"))
    explicit_classes = False
    for overrides, source in layers:
        for key in ("mode", "model_arch"):
            if key in overrides and str(overrides[key]).lower() != getattr(config, key):
                raise ConfigError(
                    f"{source} sets {key}={overrides[key]!r} but the command runs "
                    f"{key}={getattr(config, key)!r}; drop the key or change the command"
                )
            overrides.pop(key, None)
        explicit_classes |= "num_classes" in overrides.get("model", {})
        config = apply_overrides(config, overrides)
    return _sync_num_classes(config, explicit=explicit_classes)


def _sync_num_classes(config: ExperimentConfig, explicit: bool) -> ExperimentConfig:
    """Fine-tuning: the classifier has as many classes as the training dataset."""
    if config.mode != "finetune" or not hasattr(config.model, "num_classes"):
        return config
    expected = get_dataset_spec(config.data.train.name).num_classes
    if config.model.num_classes == expected:
        return config
    if explicit:
        raise ConfigError(
            f"model.num_classes={config.model.num_classes} but dataset "
            f"{config.data.train.name!r} has {expected} classes; drop the override"
        )
    return dataclasses.replace(
        config, model=dataclasses.replace(config.model, num_classes=expected)
    )


# Fields of the data configs that hold paths a user typed.
_DATA_PATH_FIELDS = ("data_dir", "vocabulary_path")


def resolve_paths(config: ExperimentConfig) -> ExperimentConfig:
    """``config`` with the paths it holds made absolute (:func:`vatt.train.paths.user_path`):
    ``data.train`` / ``data.eval`` ``data_dir`` and ``vocabulary_path``, and
    ``train.override_checkpoint``. What a run records then reads the same from any working
    directory. Empty paths stay empty."""
    data = config.data
    sections = {}
    for name in ("train", "eval"):
        section = getattr(data, name)
        paths = {
            key: user_path(getattr(section, key))
            for key in _DATA_PATH_FIELDS
            if getattr(section, key, "")
        }
        sections[name] = dataclasses.replace(section, **paths)
    return dataclasses.replace(
        config,
        data=dataclasses.replace(data, **sections),
        train=dataclasses.replace(
            config.train, override_checkpoint=user_path(config.train.override_checkpoint)
        ),
    )


def save_config(config: ExperimentConfig, run_dir: str | pathlib.Path) -> pathlib.Path:
    """Write ``RUN/config.yaml`` (whole or not at all: a temporary file is renamed over it)."""
    path = pathlib.Path(user_path(run_dir)) / CONFIG_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{CONFIG_FILE}.partial")
    partial.write_text(config.to_yaml())
    partial.replace(path)
    return path


def load_run_config(run_dir: str | pathlib.Path) -> ExperimentConfig:
    """The resolved experiment config of a run, read back from ``RUN/config.yaml``."""
    path = pathlib.Path(user_path(run_dir)) / CONFIG_FILE
    if not path.parent.is_dir():
        problem = "is a file" if path.parent.exists() else "does not exist"
        raise FileNotFoundError(
            f"run directory {run_dir} {problem}; pass the --model_dir of a vatt-train run"
        )
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist: {run_dir} is not a vatt-train run directory (vatt-train "
            "writes config.yaml there when training starts); pass the --model_dir of a run"
        )
    values = read_yaml(path)
    try:
        mode, arch = values.pop("mode"), values.pop("model_arch")
    except KeyError as error:
        raise ConfigError(f"{path} has no {error.args[0]!r} key") from None
    return apply_overrides(default_config(mode, arch), values, where=str(path))
