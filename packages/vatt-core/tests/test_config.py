"""The config engine: one grammar, typed values, choices by name, renamed keys, one-line errors."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import pytest

from vatt.core.config import (
    Choice,
    Config,
    ConfigError,
    apply_overrides,
    parse_overrides,
    read_yaml,
    register_choice,
)


@dataclasses.dataclass
class Video(Config):
    patch_sampling_rate: float = 1.0
    num_layers: int = 12
    patch_size: tuple[int, ...] = (4, 16, 16)

    def __post_init__(self):
        if not 0 < self.patch_sampling_rate <= 1:
            raise ValueError(
                f"patch_sampling_rate must be in (0, 1], got {self.patch_sampling_rate}"
            )


@dataclasses.dataclass
class CNN(Config):
    width_multiplier: int = 1


def video_tower(name: str) -> Video | CNN:
    towers = {"vit": Video, "vit_small": lambda: Video(num_layers=4), "i3d": CNN}
    if name not in towers:
        raise KeyError(f"unknown video tower {name!r}; valid: {', '.join(towers)}")
    return towers[name]()


@dataclasses.dataclass
class Optimizer(Choice, family=True):
    name: str = ""


@register_choice("adam")
@dataclasses.dataclass
class Adam(Optimizer):
    name: str = "adam"
    beta_1: float = 0.9


@register_choice("momentum")
@dataclasses.dataclass
class Momentum(Optimizer):
    name: str = "momentum"
    momentum: float = 0.9


@dataclasses.dataclass
class Model(Config):
    CHOICES: ClassVar = {"video": ("video_backbone", video_tower)}
    RENAMED: ClassVar = {"video_model_kwargs": "video"}

    video_backbone: str = "vit"
    video: Video | CNN = dataclasses.field(default_factory=Video)

    def __post_init__(self):
        if type(self.video) is not type(video_tower(self.video_backbone)):
            raise ValueError(f"video does not match video_backbone {self.video_backbone!r}")


@dataclasses.dataclass
class Experiment(Config):
    CHOICES: ClassVar = {"optimizer": ("optimizer.name", Optimizer.choose)}

    model: Model = dataclasses.field(default_factory=Model)
    optimizer: Adam | Momentum = dataclasses.field(default_factory=Adam)
    steps: int = 10
    levels: list[float] = dataclasses.field(default_factory=lambda: [1e-4])


def test_one_grammar_dotted_pairs_and_yaml_mapping_agree():
    pairs = parse_overrides("model.video.patch_sampling_rate=0.5,levels=[1e-4, 5e-5],steps=3")
    mapping = parse_overrides(
        "{model: {video: {patch_sampling_rate: 0.5}}, levels: [1e-4, 5e-5], steps: 3}"
    )
    assert pairs == mapping
    assert pairs["levels"] == [1e-4, 5e-5]


@pytest.mark.parametrize("text", ["steps", "steps=1,=2", "a.b=[1,"])
def test_malformed_override_text_is_one_line(text):
    with pytest.raises(ConfigError) as error:
        parse_overrides(text, flag="--override")
    assert "\n" not in str(error.value) and "--override" in str(error.value)


def test_same_knob_same_path_standalone_and_nested():
    alone = Video().replace(patch_sampling_rate=0.5)
    nested = Experiment().replace(**{"model.video.patch_sampling_rate": 0.5})
    assert alone == nested.model.video


def test_exponent_strings_become_floats_for_float_fields():
    config = Experiment().replace(**{"model.video.patch_sampling_rate": "5e-1"})
    assert config.model.video.patch_sampling_rate == 0.5


def test_tuples_stay_tuples_and_lists_lists():
    config = Video().replace(patch_size=[2, 8, 8])
    assert config.patch_size == (2, 8, 8)
    assert Experiment().replace(levels=[1, 2]).levels == [1.0, 2.0]


def test_unknown_key_names_the_path_and_the_valid_keys():
    with pytest.raises(ConfigError) as error:
        Experiment().replace(**{"model.video.patch_sampling": 0.5})
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("Experiment.model.video has no key 'patch_sampling'; valid keys: ")
    assert "patch_sampling_rate" in message


def test_wrong_type_is_one_line_with_the_key():
    with pytest.raises(ConfigError) as error:
        Experiment().replace(steps="many")
    assert "steps" in str(error.value) and "\n" not in str(error.value)


def test_post_init_is_the_validation_hook():
    with pytest.raises(
        ConfigError, match=r"^Experiment.model.video: patch_sampling_rate must be in"
    ):
        Experiment().replace(**{"model.video.patch_sampling_rate": 1.5})
    with pytest.raises(ValueError, match="patch_sampling_rate must be in"):
        Video(patch_sampling_rate=0)


def test_a_sibling_selector_switches_the_class_and_starts_from_its_defaults():
    config = Experiment().replace(**{"model.video.num_layers": 6})
    switched = config.replace(**{"model.video_backbone": "i3d", "model.video.width_multiplier": 2})
    assert switched.model.video == CNN(width_multiplier=2)
    small = config.replace(**{"model.video_backbone": "vit_small"})
    assert small.model.video.num_layers == 4  # the new name's defaults, not the old values


def test_an_unknown_choice_lists_the_valid_names():
    with pytest.raises(ConfigError, match="unknown video tower 'vit_huge'; valid: vit, "):
        Experiment().replace(**{"model.video_backbone": "vit_huge"})


def test_a_selector_inside_the_field_switches_the_family_member():
    config = Experiment().replace(optimizer={"name": "momentum", "momentum": 0.8})
    assert config.optimizer == Momentum(momentum=0.8)
    with pytest.raises(ConfigError, match="valid names: adam, momentum"):
        Experiment().replace(**{"optimizer.name": "lamb"})


def test_renamed_keys_still_work_with_a_warning_naming_the_new_key():
    with pytest.warns(
        DeprecationWarning, match=r"Model.video_model_kwargs is deprecated; use Model.video"
    ):
        config = Model().replace(video_model_kwargs={"num_layers": 2})
    assert config.video.num_layers == 2


def test_yaml_round_trip(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = Experiment().replace(
        **parse_overrides("optimizer.name=momentum,model.video.patch_size=[1,2,3]")
    )
    config.to_yaml("experiment.yaml")
    assert Experiment.from_yaml("experiment.yaml") == config
    assert read_yaml("experiment.yaml")["optimizer"]["name"] == "momentum"


def test_yaml_file_errors_are_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="config file missing.yaml does not exist"):
        read_yaml("missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must hold a mapping, got list"):
        read_yaml("list.yaml")
    (tmp_path / "bad.yaml").write_text("a: [1,\n")
    with pytest.raises(ConfigError) as error:
        read_yaml("bad.yaml")
    assert "\n" not in str(error.value)


def test_plain_dataclasses_take_overrides_too():
    @dataclasses.dataclass
    class Plain:
        size: int = 1

    assert apply_overrides(Plain(), {"size": 3}) == Plain(size=3)
    with pytest.raises(ConfigError, match="valid keys: size"):
        apply_overrides(Plain(), {"sise": 3}, where="data")
