"""Parity with the original VATT code: tx_fac_tiny and ut_fac_tiny reference fixtures.

Each fixture holds an official-format checkpoint written by the original code and the outputs
of its inference forward pass. We rebuild the arch from the fixture's config.json, load the
checkpoint (every official weight must map), and compare every output.
"""

import json
import pathlib

import keras
import numpy as np
import pytest

from vatt.models.checkpoints import load_official_checkpoint
from vatt.models.multimodal import MultimodalConfig, PretrainingModel, UnifiedFACConfig

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
RELATIVE_TOLERANCE = 1e-4  # of the largest reference value (fixture README §8)


def _head_config(original: dict) -> dict:
    bridge = original["head_config"]["bridge"][0]
    bn = bridge["bn_config"]
    assert bridge["vid_to_aud_txt_kwargs"]["d_model"] == bridge["aud_to_vid_txt_kwargs"]["d_model"]
    return {
        "va_dim": bridge["vid_to_aud_txt_kwargs"]["d_model"],
        "vat_dim": bridge["txt_to_vid_aud_kwargs"]["d_model"],
        "batch_norm": {"momentum": bn["momentum"], "epsilon": bn["epsilon"], "scale": bn["scale"]},
    }


def _config_from_fixture(name: str):
    original = json.loads((FIXTURES / name / "config.json").read_text())["model_config"]
    backbone = original["backbone_config"]
    if "unified_backbone" in backbone:
        return UnifiedFACConfig.from_dict(
            {
                "unified_backbone": backbone["unified_backbone"],
                "unified": backbone["unified_model_kwargs"],
                "head": _head_config(original),
            }
        )
    return MultimodalConfig.from_dict(
        {
            "video_backbone": backbone["video_backbone"],
            "audio_backbone": backbone["audio_backbone"],
            "text_backbone": backbone["text_backbone"],
            "video": backbone["video_model_kwargs"],
            "audio": backbone["audio_model_kwargs"],
            "text": backbone["text_model_kwargs"],
            "head": _head_config(original),
        }
    )


def _output(outputs: dict, name: str):
    parts = name.split(".")[1:]
    if parts[0] == "head_stack":  # outputs.head_stack.bridge.<modality>.<space>
        node, parts = outputs["head"], parts[2:]
    else:
        node = outputs["backbone"]
    for part in parts:
        node = node[part]
    return keras.ops.convert_to_numpy(node)


@pytest.mark.parametrize("fixture", ["tx_fac_tiny", "ut_fac_tiny"])
def test_outputs_match_the_original(fixture):
    keras.utils.set_random_seed(0)
    model = PretrainingModel(_config_from_fixture(fixture))
    loaded = load_official_checkpoint(model, FIXTURES / fixture)
    assert len(loaded) == len(model.weights)
    reference = np.load(FIXTURES / fixture / "inputs_outputs.npz")
    batch = {
        "video": reference["inputs.video"],
        "audio": reference["inputs.audio"],
        "text": reference["inputs.text"][:, None, :],  # one caption per clip: [B, K=1, L]
    }
    outputs = model(batch, training=False)
    # The original echoes its float32 copy of the ids; ours are the int ids themselves.
    np.testing.assert_array_equal(reference["outputs.text.word_ids"], reference["inputs.text"])
    compared = 0
    for name in reference.files:
        if not name.startswith("outputs.") or name.endswith("word_ids"):
            continue
        expected = reference[name]
        got = _output(outputs, name).reshape(expected.shape)  # grids come back as [B, N, D]
        scale = float(np.abs(expected).max())
        error = float(np.abs(got - expected).max())
        assert error <= RELATIVE_TOLERANCE * scale, f"{name}: max error {error} (scale {scale})"
        compared += 1
    assert compared == 11
