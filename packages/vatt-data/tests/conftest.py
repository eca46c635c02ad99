"""Shared fixtures: tiny datasets written with the package's own writer (vatt.data.records)."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from vatt.data import records, synthetic  # noqa: E402
from vatt.data.registry import DatasetSpec, register_dataset  # noqa: E402

SYNTHETIC_CONFIG = synthetic.SyntheticConfig(num_frames=8, frame_size=32, fps=10, sample_rate=8000)
# Registered under its own name: the built-in "synthetic" (48 kHz) must stay intact for the other
# packages' tests, which run in the same process.
SYNTHETIC_TINY = "synthetic_8khz"


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory) -> str:
    """12 train and 12 test clips of the synthetic dataset: 8 frames of 32x32, 0.8 s at 8 kHz."""
    out = tmp_path_factory.mktemp("synthetic")
    synthetic.write_synthetic_dataset(
        out, num_clips=12, num_test_clips=12, config=SYNTHETIC_CONFIG, num_shards=2
    )
    register_dataset(
        synthetic.synthetic_spec(SYNTHETIC_CONFIG, name=SYNTHETIC_TINY), overwrite=True
    )
    return str(out)


def _gradient_frames(num_frames: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """Smooth frames (JPEG keeps them nearly lossless) whose content differs per frame."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    frames = [
        np.stack([xx * 255 // width, yy * 255 // height, np.full_like(xx, rng.integers(256))], -1)
        for _ in range(num_frames)
    ]
    return np.asarray(frames, dtype=np.uint8)


def _write_dataset(
    directory,
    name: str,
    clips: list[records.Clip] | list[bytes],
    *,
    modalities=("video", "audio", "text", "label"),
    num_classes: int = 5,
    split: str = "test",
    **spec_kwargs,
) -> DatasetSpec:
    """Write ``clips`` (Clip objects or serialized records) as one shard and register a spec."""
    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    encoded = [c if isinstance(c, bytes) else records.encode_clip(c) for c in clips]
    records.write_records(os.path.join(directory, records.shard_name(split, 0, 1)), encoded)
    num_classes = num_classes if "label" in modalities else 0
    return _register_spec(name, {split: split}, modalities, num_classes=num_classes, **spec_kwargs)


def _register_spec(name: str, splits: dict[str, str], modalities, **spec_kwargs) -> DatasetSpec:
    """Register (replacing any of that name) and return a spec of records under ``splits``."""
    spec = DatasetSpec(name=name, splits=splits, modalities=tuple(modalities), **spec_kwargs)
    return register_dataset(spec, overwrite=True)


@pytest.fixture
def gradient_frames():
    """``gradient_frames(num_frames, height, width, seed=0)`` -> uint8 ``[T, H, W, 3]``."""
    return _gradient_frames


@pytest.fixture
def register_spec():
    """``register_spec(name, splits, modalities, **spec_fields)`` -> the registered DatasetSpec."""
    return _register_spec


@pytest.fixture
def write_dataset():
    """``write_dataset(directory, name, clips, modalities=..., num_classes=5, split="test")``."""
    return _write_dataset
