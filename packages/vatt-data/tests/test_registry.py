"""Built-in specs, registration in code and through entry points, table resolution."""

from importlib import metadata

import pytest

from vatt.data import registry
from vatt.data.registry import DatasetSpec, get_dataset_spec, list_datasets, register_dataset


def test_builtin_specs_carry_the_originals_numbers():
    names = list_datasets()
    for name in (
        "howto100m",
        "audioset",
        "kinetics400",
        "kinetics600",
        "kinetics700",
        "mit",
        "ucf101",
        "hmdb51",
        "esc50",
        "youcook2",
        "msrvtt",
        "synthetic",
    ):
        assert name in names
    classes = {
        n: get_dataset_spec(n).num_classes for n in ("kinetics700", "mit", "esc50", "audioset")
    }
    assert classes == {"kinetics700": 700, "mit": 339, "esc50": 50, "audioset": 527}
    assert get_dataset_spec("howto100m").fps == 10 and get_dataset_spec("hmdb51").fps == 25
    assert get_dataset_spec("audioset").multi_label
    assert get_dataset_spec("esc50").classification_modality == "audio"
    assert sorted(get_dataset_spec("ucf101").splits)[:2] == ["test_1", "test_2"]
    assert get_dataset_spec("HMDB51").name == "hmdb51"


def test_unknown_dataset_lists_the_registered_ones():
    with pytest.raises(KeyError, match="Registered datasets: .*howto100m.*kinetics400"):
        get_dataset_spec("kinetics-400")


def test_register_in_code_and_conflicts():
    spec = DatasetSpec(name="mine", splits={"train": "m/train"}, modalities=("video",))
    assert register_dataset(spec) is spec and get_dataset_spec("mine") is spec
    register_dataset(spec)  # the same spec again is fine
    other = DatasetSpec(name="mine", splits={"train": "x"}, modalities=("audio",))
    with pytest.raises(ValueError, match="overwrite=True"):
        register_dataset(other)
    assert register_dataset(other, overwrite=True) is get_dataset_spec("mine")


def test_spec_validation():
    with pytest.raises(ValueError, match="unknown modalities"):
        DatasetSpec(name="bad", splits={"a": "a"}, modalities=("depth",))
    with pytest.raises(ValueError, match="num_classes must be > 0"):
        DatasetSpec(name="bad", splits={"a": "a"}, modalities=("video", "label"))


def test_entry_points_register_specs(monkeypatch):
    provided = [
        DatasetSpec(name="plugin_a", splits={"test": "a"}, modalities=("audio",)),
        DatasetSpec(name="plugin_b", splits={"test": "b"}, modalities=("video",)),
    ]

    class FakeEntryPoint:
        name, value = "plugin", "plugin_pkg:datasets"

        def load(self):
            return lambda: provided

    def entry_points(group):
        return [FakeEntryPoint()] if group == registry.ENTRY_POINT_GROUP else []

    monkeypatch.setattr(metadata, "entry_points", entry_points)
    monkeypatch.setattr(registry, "_entry_points_loaded", False)
    assert {"plugin_a", "plugin_b"} <= set(list_datasets())
    assert get_dataset_spec("plugin_b") is provided[1]


def test_tables_resolve_shard_counts_globs_and_directories(tmp_path):
    for i in range(3):
        (tmp_path / f"train-{i:05d}-of-00003").write_bytes(b"")
    (tmp_path / ".train-00000-of-00003.partial").write_bytes(b"")
    assert len(registry.resolve_table(str(tmp_path / "train@3"))) == 3
    assert registry.resolve_table(str(tmp_path / "train")) == registry.resolve_table(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="expects 4 shards.*train-00000-of-00004"):
        registry.resolve_table(str(tmp_path / "train@4"))
    with pytest.raises(FileNotFoundError, match="No shards match"):
        registry.resolve_table(str(tmp_path / "valid"))
    spec = DatasetSpec(name="t", splits={"train": "train"}, modalities=("video",))
    assert len(spec.shards("train", str(tmp_path))) == 3
    with pytest.raises(KeyError, match=r"no split 'test'; its splits are \['train'\]"):
        spec.shards("test", str(tmp_path))
