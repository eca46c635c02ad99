"""Experiment configs: the original's defaults, overrides (lists, classes, bad keys), round trip."""

import dataclasses

import pytest
import yaml

import vatt.models
import vatt.train
from vatt.core.config import ConfigError, apply_overrides, parse_overrides
from vatt.train.config import FinetuneDataConfig, PretrainDataConfig
from vatt.train.optim_config import (
    AdamConfig,
    AdamWConfig,
    CosineWarmupConfig,
    MomentumConfig,
    StepCosineWarmupConfig,
)


def test_pretrain_defaults_are_the_originals():
    config = vatt.train.default_config("pretrain", "tx_fac")
    assert isinstance(config.optimizer, AdamConfig)
    assert (config.optimizer.beta_1, config.optimizer.beta_2, config.optimizer.epsilon) == (
        0.9,
        0.999,
        1e-7,
    )
    assert config.optimizer.weight_decay == 0.0
    schedule = config.schedule
    assert isinstance(schedule, StepCosineWarmupConfig)
    assert schedule.warmup_steps == 5000
    assert schedule.learning_rate_levels == (1e-4, 5e-5)
    assert schedule.learning_rate_steps == (5000, 500000)
    train = config.train
    assert (train.total_steps, train.iterations_per_loop) == (500_000, 50)
    assert (train.save_checkpoint_freq, train.max_checkpoints) == (10_000, 50)
    assert train.gradient_clip_norm == 0.0
    assert config.loss.temperature == 0.07
    assert (config.loss.vid_txt_weight, config.loss.vid_aud_weight) == (1.0, 1.0)
    assert isinstance(config.data.train, PretrainDataConfig)


def test_finetune_defaults_are_the_originals():
    config = vatt.train.default_config("finetune", "ViT_Medium")
    assert config.model_arch == "vit_medium"
    assert isinstance(config.optimizer, MomentumConfig)
    assert (config.optimizer.momentum, config.optimizer.nesterov) == (0.9, False)
    assert isinstance(config.schedule, CosineWarmupConfig)
    assert (config.schedule.warmup_steps, config.schedule.base_learning_rate) == (2500, 0.005)
    train = config.train
    assert (train.total_steps, train.save_checkpoint_freq, train.max_checkpoints) == (
        100_000,
        5_000,
        10,
    )
    assert (train.gradient_clip_norm, train.gradient_clip_norm_classifier) == (0.75, 0.0)
    assert isinstance(config.data.train, FinetuneDataConfig)
    assert config.data.train.label_smoothing == 0.1


def test_every_field_has_a_default_factory_so_configs_are_independent():
    first, second = vatt.train.ExperimentConfig(), vatt.train.ExperimentConfig()
    assert first == second
    assert first.train is not second.train and first.data.train is not second.data.train
    for field in dataclasses.fields(vatt.train.ExperimentConfig):
        assert field.default is dataclasses.MISSING or isinstance(field.default, str)


@pytest.mark.parametrize(
    "text",
    [
        "train.total_steps=20,schedule.learning_rate_levels=[2e-4, 1e-4],data.train.datasets=[a]",
        "{train: {total_steps: 20}, schedule: {learning_rate_levels: [2e-4, 1e-4]}, "
        "data.train.datasets: [a]}",
        "train.total_steps: 20\nschedule.learning_rate_levels: [2.0e-4, 1.0e-4]\n"
        "data: {train: {datasets: [a]}}",
    ],
)
def test_params_override_forms_give_the_same_mapping(text):
    assert parse_overrides(text) == {
        "train": {"total_steps": 20},
        "schedule": {"learning_rate_levels": [2e-4, 1e-4]},
        "data": {"train": {"datasets": ["a"]}},
    }


def test_lists_and_tuples_are_overridable():
    config = vatt.train.resolve_config(
        "pretrain",
        "tx_fac",
        params_override=parse_overrides(
            "train.total_steps=400000,schedule.learning_rate_levels=[2e-4,1e-4,1e-5],"
            "schedule.learning_rate_steps=[5000,100000,300000],data.train.datasets=[howto100m]"
        ),
    )
    assert config.schedule.learning_rate_levels == (2e-4, 1e-4, 1e-5)
    assert config.schedule.learning_rate_steps == (5000, 100000, 300000)
    assert config.data.train.datasets == ["howto100m"]


def test_optimizer_and_schedule_classes_are_overridable():
    config = vatt.train.resolve_config(
        "pretrain",
        "tx_fac",
        params_override={
            "optimizer": {"name": "adamw", "weight_decay": 1e-4},
            "schedule": {"name": "cosine_warmup", "base_learning_rate": 3e-4},
        },
    )
    assert config.optimizer == AdamWConfig(weight_decay=1e-4)
    assert config.schedule == CosineWarmupConfig(base_learning_rate=3e-4)
    optimizer = vatt.train.build_optimizer(config)
    assert type(optimizer).__name__ == "AdamW"
    assert optimizer.weight_decay == pytest.approx(1e-4)


def test_unknown_key_names_the_key_and_lists_the_valid_ones():
    with pytest.raises(ConfigError, match=r"config.train has no key 'total_step'.*total_steps"):
        vatt.train.resolve_config("pretrain", "tx_fac", params_override={"train.total_step": 3})
    with pytest.raises(ConfigError, match=r"config has no key 'trian'; valid keys: data, loss"):
        vatt.train.resolve_config("pretrain", "tx_fac", params_override={"trian": {"x": 1}})
    # A key of another optimizer class than the chosen one is unknown too.
    with pytest.raises(ConfigError, match=r"config.optimizer has no key 'momentum'"):
        vatt.train.resolve_config("pretrain", "tx_fac", params_override={"optimizer.momentum": 1})


def test_unknown_class_name_lists_the_valid_names():
    with pytest.raises(ConfigError, match=r"unknown name 'lamb'; valid names: adam, adamw, momen"):
        vatt.train.resolve_config("pretrain", "tx_fac", params_override={"optimizer.name": "lamb"})


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            {"train.total_steps": "many"},
            r"train.total_steps: Value 'many' of type 'str' could not be converted to Integer",
        ),
        (
            {"train.total_steps": 1.5},
            r"train.total_steps: Value '1.5' .* could not be converted to Integer",
        ),
        (
            {"loss.temperature": True},
            r"loss.temperature: Value 'True' .* could not be converted to Float",
        ),
        ({"train": 3}, r"config.train is a section .*override it with a mapping"),
        ({"train.non_finite_loss": "ignore"}, r"train.non_finite_loss = 'ignore' is invalid"),
        ({"strategy.type": "horovod"}, r"strategy.type = 'horovod' is invalid"),
        ({"train.total_steps": 1000}, r"schedule: .*learning_rate_steps.*at most total_steps=1000"),
        ({"mode": "finetune"}, r"sets mode='finetune' but the command runs mode='pretrain'"),
    ],
)
def test_bad_values_are_errors_naming_the_field(override, message):
    with pytest.raises(ConfigError, match=message):
        vatt.train.resolve_config("pretrain", "tx_fac", params_override=override)


def test_config_file_then_params_override(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text(
        yaml.safe_dump({"train": {"total_steps": 600000, "global_batch_size": 64}, "seedless": 1})
    )
    with pytest.raises(ConfigError, match="no key 'seedless'"):
        vatt.train.resolve_config("pretrain", "tx_fac", config_file=path)
    path.write_text(yaml.safe_dump({"train": {"total_steps": 600000, "global_batch_size": 64}}))
    config = vatt.train.resolve_config(
        "pretrain", "tx_fac", config_file=path, params_override={"train.global_batch_size": 32}
    )
    assert (config.train.total_steps, config.train.global_batch_size) == (600000, 32)
    with pytest.raises(ConfigError, match="does not exist"):
        vatt.train.resolve_config("pretrain", "tx_fac", config_file=tmp_path / "missing.yaml")


def test_a_tower_is_chosen_by_name_then_its_own_typed_config_is_overridden():
    config = vatt.train.resolve_config(
        "pretrain",
        "tx_fac",
        params_override=parse_overrides(
            "model.video_backbone=vit_base,model.video.num_layers=2,model.video.d_model=64"
        ),
    )
    base = vatt.models.tower_config("vit_base", "video")
    assert config.model.video_backbone == "vit_base"
    assert config.model.video == base.replace(num_layers=2, d_model=64)


def test_one_knob_one_path_on_a_standalone_backbone_and_inside_a_pretraining_model():
    standalone = vatt.train.resolve_config(
        "finetune",
        "vit_base",
        params_override=parse_overrides("model.backbone.patch_sampling_rate=0.3"),
    )
    nested = vatt.train.resolve_config(
        "pretrain",
        "tx_fac_bbs",
        params_override=parse_overrides("model.video.patch_sampling_rate=0.3"),
    )
    assert standalone.model.backbone == nested.model.video
    assert nested.model.video.patch_sampling_rate == 0.3


def test_the_old_tower_kwargs_key_still_works_and_names_the_new_one():
    with pytest.warns(
        DeprecationWarning, match=r"model.video_model_kwargs is deprecated; use .*model.video"
    ):
        config = vatt.train.resolve_config(
            "pretrain",
            "tx_fac",
            params_override=parse_overrides("model.video_model_kwargs.num_layers=2"),
        )
    assert config.model.video.num_layers == 2


def test_finetune_num_classes_follows_the_dataset():
    config = vatt.train.resolve_config(
        "finetune", "vit_base", params_override={"data": {"train": {"name": "ucf101"}}}
    )
    assert config.model.num_classes == 101
    with pytest.raises(ConfigError, match="model.num_classes=7 but dataset 'ucf101' has 101"):
        vatt.train.resolve_config(
            "finetune",
            "vit_base",
            params_override={"data.train.name": "ucf101", "model.num_classes": 7},
        )


def test_run_config_round_trip(tmp_path):
    config = vatt.train.resolve_config(
        "finetune",
        "wat_base",
        params_override=parse_overrides(
            "data.train.name=audioset,optimizer.name=adam,train.total_steps=10,"
            "schedule.warmup_steps=2,model.backbone.num_layers=2"
        ),
    )
    vatt.train.save_config(config, tmp_path)
    loaded = vatt.train.load_run_config(tmp_path)
    assert loaded == config
    assert loaded.mode == "finetune" and loaded.model_arch == "wat_base"
    assert isinstance(loaded.optimizer, AdamConfig)


def test_load_run_config_without_config_yaml_is_a_clear_error(tmp_path):
    with pytest.raises(
        FileNotFoundError, match=r"config.yaml does not exist.*not a vatt-train run"
    ):
        vatt.train.load_run_config(tmp_path)


def test_apply_overrides_keeps_the_original_untouched():
    config = vatt.train.default_config("pretrain", "tx_fac")
    changed = apply_overrides(config, {"train": {"seed": 3}})
    assert (config.train.seed, changed.train.seed) == (0, 3)
