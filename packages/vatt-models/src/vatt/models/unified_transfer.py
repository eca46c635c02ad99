"""Initialising a ViT-3D or WaT backbone from the modality-agnostic UT checkpoint (spec §7.3).

The released UT-Medium model (``ut_fac_medium``) is fine-tuned as a ViT-Medium (video) or a
WaT-Medium (audio) whose ``pre_projection`` and ``post_projection`` are on, so that they
receive UT's per-modality projections. The Transformer ``tx`` is shared; the tokenizer,
positions, agg token and projections are those of the chosen modality. A positional table
whose row count differs from the target's is resampled with the order-3 spline, as the
original ``restore.py`` does.
"""

from __future__ import annotations

import pathlib

import keras
import numpy as np

from vatt.models.backbones import TransformerBackbone, ViT3D, WaT
from vatt.models.checkpoints import _VALUE_SUFFIX, _reader, official_weight_keys
from vatt.models.layers import spline_resampling_matrix
from vatt.models.unified import AGG_TOKEN_NAMES, UNIFIED_PREFIX

# Modality-specific object path -> UT object path, per modality (spec §7.3 UT rules).
_RENAMES = {
    "video": {
        "voxel_to_patch": "raw_to_embeddings/video",
        "pos_embedding_lookup": "pos_embedding_lookup/video",
        "agg_embedding": AGG_TOKEN_NAMES["video"],
        "pre_proj": "pre_proj/video",
        "post_proj": "post_proj/video",
        "tx": "tx",
    },
    "audio": {
        "wave_to_patch": "raw_to_embeddings/audio",
        "pos_embedding_lookup": "pos_embedding_lookup/audio",
        "agg_embedding": AGG_TOKEN_NAMES["audio"],
        "pre_proj": "pre_proj/audio",
        "post_proj": "post_proj/audio",
        "tx": "tx",
    },
}


def unified_checkpoint_variables(
    backbone: TransformerBackbone, prefix: str = UNIFIED_PREFIX
) -> dict[str, keras.Variable]:
    """``{UT checkpoint path: backbone variable}`` for a ViT-3D (video) or WaT (audio)."""
    modality = _modality(backbone)
    if backbone.pre_proj is None or backbone.post_proj is None:
        raise ValueError(
            f"{type(backbone).__name__} has no pre/post projection: set pre_projection=True "
            "and post_projection=True (with d_post_proj = UT's) so that it can receive UT's "
            f"{modality} projections"
        )
    renames = _RENAMES[modality]
    mapped = {}
    for path, variable in backbone.checkpoint_variables("").items():
        head, _, rest = path.lstrip("/").partition("/")
        target = renames[head] + (f"/{rest}" if rest else "")
        mapped[f"{prefix}/{target}"] = variable
    return mapped


def load_unified_checkpoint(
    backbone: TransformerBackbone,
    path: str | pathlib.Path,
    *,
    prefix: str = UNIFIED_PREFIX,
) -> list[str]:
    """Assign a UT checkpoint's weights for the backbone's modality to ``backbone``.

    Args:
        backbone: a :class:`~vatt.models.backbones.ViT3D` or :class:`~vatt.models.backbones.WaT`
            with ``pre_projection`` and ``post_projection`` on (e.g. ``model.backbone`` of a
            ``vit_medium`` classifier).
        path: the UT checkpoint (prefix or folder).
        prefix: object path of UT in the checkpoint; the default is that of ``ut_fac``.

    Returns:
        The sorted UT checkpoint keys that were loaded. The other modalities' weights, the
        text table and the FAC head are not used.

    Raises:
        ValueError: a backbone weight is absent from the checkpoint, or its shape differs in
            a way other than the row count of a positional table. Nothing is assigned then.
    """
    expected = unified_checkpoint_variables(backbone, prefix)
    available = official_weight_keys(path)
    missing = sorted(set(expected) - set(available))
    if missing:
        raise ValueError(
            f"checkpoint {path} lacks {len(missing)} weights of {type(backbone).__name__}: "
            f"{missing}; is it a UT (ut_fac) checkpoint?"
        )
    bad = [
        f"{key}: checkpoint {available[key]} vs model {tuple(v.shape)}"
        for key, v in sorted(expected.items())
        if available[key] != tuple(v.shape) and not _resizable(key, available[key], v.shape)
    ]
    if bad:
        raise ValueError(f"checkpoint {path} does not fit {type(backbone).__name__}: {bad}")
    reader = _reader(path)
    for key, variable in expected.items():
        value = np.asarray(reader.get_tensor(key + _VALUE_SUFFIX), dtype="float64")
        if value.shape != tuple(variable.shape):
            value = spline_resampling_matrix(value.shape[0], variable.shape[0]) @ value
        variable.assign(value.astype(variable.dtype))
    return sorted(expected)


def _modality(backbone) -> str:
    if isinstance(backbone, ViT3D):
        return "video"
    if isinstance(backbone, WaT):
        return "audio"
    raise TypeError(
        f"only ViT3D (video) and WaT (audio) backbones can be initialised from UT, got "
        f"{type(backbone).__name__}; UT has no spectrogram tokenizer"
    )


def _resizable(key: str, stored: tuple[int, ...], wanted: tuple[int, ...]) -> bool:
    return (
        "_position_embeddings/" in key
        and len(stored) == len(wanted) == 2
        and stored[1] == wanted[1]
    )
