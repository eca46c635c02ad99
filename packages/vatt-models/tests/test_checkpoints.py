"""Official-checkpoint loading: parity with the reference fixtures, loud mismatches, the CLI.

The fixtures (tests/fixtures/, see its README in shared/fixtures/vatt_reference) were written by
the original VATT code: a tiny ViT fine-tuned on Kinetics-400 and a tiny WaT on AudioSet.
"""

import json
import pathlib
import shutil

import numpy as np
import pytest
from backend_helpers import to_numpy

import vatt.models
from vatt.models import cli
from vatt.models.checkpoints import PRETRAIN_BACKBONE_PREFIXES, ROOT_PREFIX, official_weight_keys

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
# fixture -> (arch, our batch key, npz input name)
CASES = {
    "ft_vit_tiny_k400": ("vit_base", "video", "images"),
    "ft_wat_tiny_audioset": ("wat_base", "audio", "audio"),
}
# Fixture README §8: max-abs error / max-abs reference.
TOLERANCE = 1e-4
SPLINE_TOLERANCE = 1e-3


def _original_config(fixture):
    return json.loads((FIXTURES / fixture / "config.json").read_text())


def _config_values(fixture):
    """Our config values for the fixture, from the original's resolved model_config."""
    original = _original_config(fixture)["model_config"]
    arch = CASES[fixture][0]
    backbone_fields = vatt.models.get_config(arch).backbone.to_dict()
    return {
        "backbone": {k: v for k, v in original.items() if k in backbone_fields},
        "num_classes": original["num_classes"],
        "cls_dropout_rate": original["cls_dropout_rate"],
    }


def _build(fixture, **overrides):
    values = _config_values(fixture)
    backbone = {**values["backbone"], **overrides.pop("backbone", {})}
    return vatt.models.build(CASES[fixture][0], **{**values, **overrides, "backbone": backbone})


def _relative_error(actual, expected):
    return np.abs(to_numpy(actual) - expected).max() / np.abs(expected).max()


@pytest.fixture(scope="module", params=sorted(CASES))
def loaded(request):
    fixture = request.param
    model = _build(fixture)
    loaded_keys = vatt.models.load_official_checkpoint(model, FIXTURES / fixture)
    arrays = dict(np.load(FIXTURES / fixture / "inputs_outputs.npz"))
    return fixture, model, loaded_keys, arrays


def test_outputs_match_the_original_code(loaded):
    fixture, model, _, arrays = loaded
    _, key, name = CASES[fixture]
    outputs = model({key: arrays[f"inputs.{name}"]})
    backbone = model.backbone(arrays[f"inputs.{name}"])
    reference_features = arrays["extra.backbone.features"]
    features = to_numpy(backbone["features"]).reshape(reference_features.shape)
    assert _relative_error(outputs["logits"], arrays["outputs.logits"]) < TOLERANCE
    assert (
        _relative_error(outputs["features_pooled"], arrays["extra.backbone.features_pooled"])
        < TOLERANCE
    )
    assert _relative_error(features, reference_features) < TOLERANCE


def test_outputs_on_a_resized_token_grid_match_the_original_spline(loaded):
    fixture, model, _, arrays = loaded
    _, key, name = CASES[fixture]
    outputs = model({key: arrays[f"extra_interp.inputs.{name}"]})
    assert (
        _relative_error(outputs["logits"], arrays["extra_interp.outputs.logits"]) < SPLINE_TOLERANCE
    )
    pooled = arrays["extra_interp.backbone.features_pooled"]
    assert _relative_error(outputs["features_pooled"], pooled) < SPLINE_TOLERANCE


def test_every_model_weight_and_no_optimizer_slot_is_loaded(loaded):
    fixture, model, loaded_keys, _ = loaded
    assert len(loaded_keys) == len(model.weights)
    assert not any("OPTIMIZER_SLOT" in key or key.startswith("optimizer") for key in loaded_keys)
    assert model.count_params() == _original_config(fixture)["num_trainable_params"]


def test_a_deeper_model_names_the_missing_checkpoint_keys():
    model = _build("ft_vit_tiny_k400", backbone={"num_layers": 3})
    with pytest.raises(ValueError, match=r"not in the checkpoint:\n\s+\S+/_base/tx/layers/2/"):
        vatt.models.load_official_checkpoint(model, FIXTURES / "ft_vit_tiny_k400")


def test_a_shallower_model_names_the_unmapped_checkpoint_keys():
    model = _build("ft_wat_tiny_audioset", backbone={"num_layers": 1})
    with pytest.raises(ValueError, match=r"have no model variable:\n\s+\S+/_base/tx/layers/1/"):
        vatt.models.load_official_checkpoint(model, FIXTURES / "ft_wat_tiny_audioset")


def test_shape_mismatch_names_the_key_and_both_shapes_and_assigns_nothing():
    model = _build("ft_vit_tiny_k400", num_classes=10)
    before = np.asarray(model.backbone.agg_embedding)
    with pytest.raises(
        ValueError, match=r"_ops/cls/kernel: checkpoint \(32, 400\) vs model \(32, 10\)"
    ):
        vatt.models.load_official_checkpoint(model, FIXTURES / "ft_vit_tiny_k400")
    np.testing.assert_array_equal(np.asarray(model.backbone.agg_embedding), before)


def test_backbone_alone_loads_from_its_prefix():
    model = _build("ft_wat_tiny_audioset")
    keys = vatt.models.load_official_checkpoint(
        model.backbone, FIXTURES / "ft_wat_tiny_audioset", prefix=f"{ROOT_PREFIX}/_base"
    )
    assert len(keys) == len(model.backbone.weights)
    reader_keys = official_weight_keys(FIXTURES / "ft_wat_tiny_audioset")
    assert set(keys) == {k for k in reader_keys if "/_ops/" not in k}


@pytest.mark.parametrize(
    ("modality", "fixture"), [("video", "ft_vit_tiny_k400"), ("audio", "ft_wat_tiny_audioset")]
)
def test_classifier_backbone_initialises_from_a_pretraining_checkpoint(modality, fixture):
    # tx_fac_tiny's ViT and WaT have the sizes of the fine-tune fixtures.
    model = _build(fixture)
    vatt.models.load_official_checkpoint(
        model.backbone, FIXTURES / "tx_fac_tiny", prefix=PRETRAIN_BACKBONE_PREFIXES[modality]
    )
    arrays = np.load(FIXTURES / "tx_fac_tiny" / "inputs_outputs.npz")
    pooled = model.backbone(arrays[f"inputs.{modality}"])["features_pooled"]
    assert _relative_error(pooled, arrays[f"outputs.{modality}.features_pooled"]) < TOLERANCE


def test_a_pretraining_checkpoint_loaded_into_a_classifier_explains_the_backbone_prefix():
    model = _build("ft_vit_tiny_k400")
    with pytest.raises(
        ValueError, match=r"none of the model's variables.*PRETRAIN_BACKBONE_PREFIXES"
    ):
        vatt.models.load_official_checkpoint(model, FIXTURES / "tx_fac_tiny")


def test_missing_checkpoint_is_a_file_not_found_error(tmp_path):
    model = _build("ft_wat_tiny_audioset")
    with pytest.raises(FileNotFoundError, match="no TensorFlow checkpoint"):
        vatt.models.load_official_checkpoint(model, tmp_path)
    with pytest.raises(FileNotFoundError, match=r"ckpt-7\.index"):
        vatt.models.load_official_checkpoint(model, tmp_path / "ckpt-7")


@pytest.mark.parametrize("name", ["ckpt-1.index", "ckpt-1.data-00000-of-00001"])
def test_cli_converts_a_checkpoint_named_by_a_file_relative_or_from_home(
    name, tmp_path, monkeypatch, capsys
):
    fixture = "ft_wat_tiny_audioset"
    home = tmp_path / "my home"
    shutil.copytree(FIXTURES / fixture, home / "checkpoints" / "wat")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(home)
    vatt.models.get_config("wat_base").replace(**_config_values(fixture)).to_yaml("wat.yaml")
    for checkpoint in (f"checkpoints/wat/{name}", f"~/checkpoints/wat/{name}"):
        output = "out dir/wat.weights.h5"
        status = cli.main(
            ["convert", "--arch", "wat_base", "--config", "~/wat.yaml", checkpoint, output]
        )
        assert status == 0, capsys.readouterr().err
        assert (home / output).is_file()
        (home / output).unlink()


def test_cli_converts_a_checkpoint_into_keras_weights(tmp_path):
    fixture = "ft_vit_tiny_k400"
    values = _config_values(fixture)
    config_file = tmp_path / "vit.yaml"
    vatt.models.get_config("vit_base").replace(
        backbone=values["backbone"], cls_dropout_rate=0.5
    ).to_yaml(config_file)
    output = tmp_path / "out" / "vit.weights.h5"
    status = cli.main(
        [
            "convert",
            "--arch",
            "vit_base",
            "--config",
            str(config_file),
            "--override",
            "num_classes=400",
            str(FIXTURES / fixture / "ckpt-1"),
            str(output),
        ]
    )
    assert status == 0 and output.is_file()
    config = type(vatt.models.get_config("vit_base")).from_yaml(
        tmp_path / "out" / "vit.config.yaml"
    )
    model = vatt.models.build("vit_base", config)
    model.load_weights(output)
    arrays = np.load(FIXTURES / fixture / "inputs_outputs.npz")
    logits = model({"video": arrays["inputs.images"]})["logits"]
    assert _relative_error(logits, arrays["outputs.logits"]) < TOLERANCE


def test_cli_reports_a_bad_override_without_a_traceback(tmp_path, capsys):
    status = cli.main(
        [
            "convert",
            "--arch",
            "wat_base",
            "--override",
            "backbone.d_modle=32",
            str(FIXTURES / "ft_wat_tiny_audioset"),
            str(tmp_path / "wat.weights.h5"),
        ]
    )
    assert status == 2
    assert "has no key 'd_modle'" in capsys.readouterr().err


def test_override_grammar_is_vatt_trains():
    """--override and vatt-train --params_override read one grammar: 1e-4 is a float in both."""
    from vatt.core.config import parse_overrides

    assert parse_overrides("backbone.d_model=32") == {"backbone": {"d_model": 32}}
    assert parse_overrides("freeze_backbone=true,cls_dropout_rate=1e-4") == {
        "freeze_backbone": True,
        "cls_dropout_rate": 1e-4,
    }
    config = vatt.models.get_config("vit_base").replace(**parse_overrides("cls_dropout_rate=1e-4"))
    assert config.cls_dropout_rate == 1e-4
    with pytest.raises(ValueError, match="dotted.key=value"):
        parse_overrides("num_classes", flag="--override")
