"""Dataset registry: what each dataset holds and where its tables are.

A :class:`DatasetSpec` names a dataset's modalities, splits (each a table path relative to a
``data_dir`` given at load time), class count and frame rate. Built-in specs cover the datasets VATT was
trained and evaluated on; others are added with :func:`register_dataset` or, without touching this
package, through the entry-point group ``vatt.datasets``.

Table paths: ``prefix@N`` is exactly the N shards ``prefix-00000-of-0000N`` ...; any other path is every
file matching ``prefix-*-of-*``, or ``path/*-of-*`` when it is a directory.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from importlib import metadata

import tensorflow as tf

from vatt.data import features

ENTRY_POINT_GROUP = "vatt.datasets"
MODALITIES = ("video", "audio", "text", "label")
COMPRESSION_TYPES = ("", "GZIP", "ZLIB")

_REGISTRY: dict[str, DatasetSpec] = {}
_entry_points_loaded = False


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """What a dataset holds and where its shards are (relative to a data_dir).

    Attributes:
      name: registry key, lower case.
      splits: split name -> table path relative to data_dir (see the module docstring).
      modalities: which of ``video``, ``audio``, ``text``, ``label`` the records carry.
      num_classes: size of the label space; 0 when the dataset has no labels.
      multi_label: whether a clip may carry several labels (AudioSet).
      fps: frame rate the frames were stored at (not recorded in the records themselves).
      sample_rate: audio sample rate of the stored waveforms.
      vocabulary: default tokenizer vocabulary file, relative to data_dir; empty if none.
      classification_modality: what a classifier of this dataset reads, ``video`` or ``audio``.
      compression_type: of the record files: ``""`` (none, as DMVR's generator writes), ``GZIP``
        or ``ZLIB``.
    """

    name: str
    splits: Mapping[str, str]
    modalities: tuple[str, ...]
    num_classes: int = 0
    multi_label: bool = False
    fps: int = features.DEFAULT_FPS
    sample_rate: int = features.DEFAULT_SAMPLE_RATE
    vocabulary: str = ""
    classification_modality: str = "video"
    compression_type: str = ""

    def __post_init__(self):
        unknown = set(self.modalities) - set(MODALITIES)
        if unknown:
            raise ValueError(
                f"DatasetSpec {self.name!r}: unknown modalities {sorted(unknown)}; "
                f"allowed: {list(MODALITIES)}."
            )
        if ("label" in self.modalities) != (self.num_classes > 0):
            raise ValueError(
                f"DatasetSpec {self.name!r}: num_classes must be > 0 exactly when 'label' is a "
                f"modality (num_classes={self.num_classes}, modalities={self.modalities})."
            )
        if self.classification_modality not in ("video", "audio"):
            raise ValueError(
                f"DatasetSpec {self.name!r}: classification_modality must be 'video' or 'audio', "
                f"got {self.classification_modality!r}."
            )
        if not self.splits:
            raise ValueError(f"DatasetSpec {self.name!r} has no splits.")
        if self.compression_type not in COMPRESSION_TYPES:
            raise ValueError(
                f"DatasetSpec {self.name!r}: compression_type must be one of "
                f"{COMPRESSION_TYPES}, got {self.compression_type!r}."
            )

    def shards(self, split: str, data_dir: str) -> list[str]:
        """The shard files of ``split`` under ``data_dir``; errors name what is missing."""
        if split not in self.splits:
            raise KeyError(
                f"Dataset {self.name!r} has no split {split!r}; its splits are {sorted(self.splits)}."
            )
        return resolve_table(os.path.join(data_dir, self.splits[split]))


def resolve_table(path: str) -> list[str]:
    """Shard files of a table path (``prefix@N``, a directory, or a ``prefix``), sorted."""
    match = re.fullmatch(r"(.*)@(\d+)", path)
    if match:
        prefix, count = match.group(1), int(match.group(2))
        shards = [f"{prefix}-{i:05d}-of-{count:05d}" for i in range(count)]
        missing = [s for s in shards if not tf.io.gfile.exists(s)]
        if missing:
            raise FileNotFoundError(
                f"Table {path!r} expects {count} shards named {prefix}-NNNNN-of-{count:05d}; "
                f"{len(missing)} are missing, the first is {missing[0]}."
            )
        return shards
    pattern = os.path.join(path, "*-of-*") if tf.io.gfile.isdir(path) else f"{path}-*-of-*"
    # Hidden files are shards still being written (vatt.data.records names them ".<name>.partial").
    shards = sorted(p for p in tf.io.gfile.glob(pattern) if not os.path.basename(p).startswith("."))
    if not shards:
        raise FileNotFoundError(
            f"No shards match {pattern!r} (table {path!r}). Write records with the vatt-data "
            "writer, or check data_dir."
        )
    return shards


def register_dataset(spec: DatasetSpec, *, overwrite: bool = False) -> DatasetSpec:
    """Make ``spec`` available to the loaders under ``spec.name``; returns it."""
    if not isinstance(spec, DatasetSpec):
        raise TypeError(f"register_dataset takes a DatasetSpec, got {type(spec).__name__}.")
    if spec.name in _REGISTRY and not overwrite and _REGISTRY[spec.name] != spec:
        raise ValueError(
            f"A different dataset {spec.name!r} is already registered; pass overwrite=True to "
            "replace it."
        )
    _REGISTRY[spec.name] = spec
    return spec


def get_dataset_spec(name: str) -> DatasetSpec:
    """The spec registered as ``name`` (case-insensitive)."""
    _load_entry_points()
    spec = _REGISTRY.get(name.lower())
    if spec is None:
        raise KeyError(
            f"Unknown dataset {name!r}. Registered datasets: {', '.join(list_datasets())}. "
            f"Add one with vatt.data.register_dataset or the {ENTRY_POINT_GROUP!r} entry points."
        )
    return spec


def list_datasets() -> list[str]:
    """Names of every registered dataset, sorted."""
    _load_entry_points()
    return sorted(_REGISTRY)


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    # The synthetic dataset registers itself when its module loads (it imports this one).
    from vatt.data import synthetic  # noqa: F401

    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        loaded = entry_point.load()
        specs = loaded() if callable(loaded) and not isinstance(loaded, DatasetSpec) else loaded
        for spec in specs if isinstance(specs, list | tuple) else [specs]:
            if not isinstance(spec, DatasetSpec):
                raise TypeError(
                    f"Entry point {entry_point.name!r} ({entry_point.value}) in group "
                    f"{ENTRY_POINT_GROUP!r} gave {type(spec).__name__}, not a DatasetSpec."
                )
            register_dataset(spec, overwrite=True)


def _classification_splits(num_splits: int) -> dict[str, str]:
    splits = {}
    for i in range(1, num_splits + 1):
        splits[f"train_{i}"] = f"train_{i}"
        splits[f"test_{i}"] = f"test_{i}"
    return splits


def _builtin(name: str, splits: dict[str, str], **kwargs) -> None:
    register_dataset(
        DatasetSpec(name=name, splits={k: f"{name}/{v}" for k, v in splits.items()}, **kwargs)
    )


# Class counts, frame rates and split layouts are the original's (vatt-spec §2.2).
_VIDEO_AUDIO_LABEL = ("video", "audio", "label")
_builtin(
    "howto100m",
    {"train": "train"},
    modalities=("video", "audio", "text"),
    fps=features.HOWTO100M_FPS,
)
_builtin(
    "audioset",
    {"train": "train", "test": "test"},
    modalities=_VIDEO_AUDIO_LABEL,
    num_classes=527,
    multi_label=True,
    classification_modality="audio",
)
for _classes in (400, 600, 700):
    _builtin(
        f"kinetics{_classes}",
        {"train": "train", "valid": "valid", "test": "test"},
        modalities=_VIDEO_AUDIO_LABEL,
        num_classes=_classes,
    )
_builtin("mit", {"train": "train", "test": "test"}, modalities=_VIDEO_AUDIO_LABEL, num_classes=339)
_builtin("ucf101", _classification_splits(3), modalities=_VIDEO_AUDIO_LABEL, num_classes=101)
_builtin("hmdb51", _classification_splits(3), modalities=_VIDEO_AUDIO_LABEL, num_classes=51)
_builtin(
    "esc50",
    _classification_splits(5),
    modalities=("audio", "label"),
    num_classes=50,
    classification_modality="audio",
)
_builtin("youcook2", {"test": "test"}, modalities=("video", "audio", "text"))
_builtin("msrvtt", {"train": "train", "test": "test"}, modalities=("video", "audio", "text"))
