"""UT backbone: per-modality paths, DropToken, masking, mapping, sizes, UT -> ViT/WaT init."""

import pathlib

import keras
import numpy as np
import pytest
from backend_helpers import to_numpy

from vatt.models.backbones import SpT, SpTConfig, ViT3D, ViTConfig, WaT, WaTConfig
from vatt.models.checkpoints import load_official_checkpoint
from vatt.models.layers import spline_resampling_matrix
from vatt.models.registry import build, tiny_overrides
from vatt.models.unified import UNIFIED_PREFIX, UnifiedBackbone, UnifiedConfig
from vatt.models.unified_transfer import load_unified_checkpoint

FIXTURE = pathlib.Path(__file__).parent / "fixtures" / "ut_fac_tiny"
_TINY = dict(d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4)


def _tiny_ut(**overrides):
    keras.utils.set_random_seed(0)
    return build("ut_medium", **{**tiny_overrides("ut_medium"), "dropout_rate": 0.0, **overrides})


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    text = np.zeros((2, 3, 16), "int32")
    text[..., :5] = rng.integers(1, 1000, (2, 3, 5))
    return {
        "video": rng.uniform(-1, 1, (2, 6, 32, 32, 3)).astype("float32"),
        "audio": rng.normal(0, 0.1, (2, 1024)).astype("float32"),
        "text": text,
    }


def test_shapes_in_inference_and_droptoken_in_training():
    model = _tiny_ut()
    batch = _batch()
    out = model(batch)
    assert tuple(out["video"]["features"].shape) == (2, 48, 48)  # 3*4*4 tokens, d_post_proj 48
    assert tuple(out["audio"]["features"].shape) == (2, 8, 48)
    assert tuple(out["text"]["features"].shape) == (6, 16, 48)  # B*K sentences
    assert tuple(out["text"]["features_pooled"].shape) == (6, 48)
    trained = model(batch, training=True)
    # DropToken keeps int(0.5 * max buckets): video 0.5*3*4*4, audio 0.5*8; text is never dropped.
    assert tuple(trained["video"]["features"].shape) == (2, 24, 48)
    assert tuple(trained["audio"]["features"].shape) == (2, 4, 48)
    assert tuple(trained["text"]["features"].shape) == (6, 16, 48)


def test_modalities_do_not_attend_to_each_other():
    model = _tiny_ut()
    batch = _batch()
    together = to_numpy(model(batch))
    for modality in ("video", "audio", "text"):
        alone = to_numpy(model({modality: batch[modality]}))
        assert set(alone) == {modality}
        np.testing.assert_allclose(
            alone[modality]["features_pooled"], together[modality]["features_pooled"], atol=1e-5
        )


def test_text_padding_is_masked_and_audio_rank_2_equals_rank_3():
    model = _tiny_ut()
    batch = _batch()
    before = to_numpy(model(batch))
    table = np.asarray(model.text_embedding.embeddings).copy()
    table[0] -= 2.0
    model.text_embedding.embeddings.assign(table)
    after = to_numpy(model(batch))
    np.testing.assert_allclose(
        after["text"]["features_pooled"], before["text"]["features_pooled"], atol=1e-5
    )
    rank3 = to_numpy(model({"audio": batch["audio"][..., None]}))
    np.testing.assert_allclose(
        rank3["audio"]["features_pooled"], before["audio"]["features_pooled"], atol=1e-6
    )


def test_text_ids_of_a_wrong_rank_are_refused_as_by_the_text_tower():
    ids = np.ones((2, 3, 4, 5), "int32")
    for model in (_tiny_ut(), build("t5_small", **tiny_overrides("t5_small"))):
        with pytest.raises(ValueError, match=r"text ids must be \[N, L\] or \[B, K, L\]"):
            model({"text": ids} if isinstance(model, UnifiedBackbone) else ids)


def test_ut_loaded_alone_from_the_ut_fac_checkpoint_matches_the_original():
    model = _tiny_ut()
    load_official_checkpoint(model, FIXTURE, prefix=UNIFIED_PREFIX)
    reference = np.load(FIXTURE / "inputs_outputs.npz")
    out = model({"video": reference["inputs.video"], "text": reference["inputs.text"]})
    for name in ("video.features_pooled", "video.features", "text.features_pooled"):
        modality, key = name.split(".")
        expected = reference[f"outputs.{name}"]
        got = to_numpy(out[modality][key]).reshape(expected.shape)
        np.testing.assert_allclose(got, expected, atol=1e-4 * np.abs(expected).max())


def test_checkpoint_mapping_covers_every_weight_once():
    model = _tiny_ut()
    mapped = model.checkpoint_variables("U")
    assert sorted(id(v) for v in mapped.values()) == sorted(id(w) for w in model.weights)
    assert {
        "U/vid_agg_embedding",
        "U/aud_agg_embedding",
        "U/txt_agg_embedding",
        "U/raw_to_embeddings/text/embeddings",
        "U/pre_proj/video/kernel",
        "U/post_proj/text/bias",
    } <= set(mapped)


def test_serialisation_round_trip(tmp_path):
    model = _tiny_ut()
    batch = _batch()
    model.save_weights(tmp_path / "ut.weights.h5")
    clone = UnifiedBackbone.from_config(model.get_config())
    clone.load_weights(tmp_path / "ut.weights.h5")
    np.testing.assert_allclose(
        to_numpy(clone(batch)["text"]["features"]),
        to_numpy(model(batch)["text"]["features"]),
        atol=1e-6,
    )


def test_config_validation():
    with pytest.raises(ValueError, match=r"patch_sampling_rate must be in \(0, 1\]"):
        UnifiedConfig(patch_sampling_rate=1.5)
    with pytest.raises(KeyError, match="needs at least one of the batch keys"):
        _tiny_ut()({"label": np.zeros((2, 3), "float32")})


def _vit(horizontal=4, projections=True):
    return ViT3D(
        ViTConfig(
            **_TINY,
            temporal_patch_size=2,
            spatial_patch_size=8,
            max_temporal_buckets=3,
            max_vertical_buckets=4,
            max_horizontal_buckets=horizontal,
            pre_projection=projections,
            post_projection=projections,
            d_post_proj=48,
        )
    )


def test_vit_and_wat_initialised_from_ut_reproduce_its_outputs():
    reference = np.load(FIXTURE / "inputs_outputs.npz")
    vit = _vit()
    loaded = load_unified_checkpoint(vit, FIXTURE)
    assert f"{UNIFIED_PREFIX}/pre_proj/video/kernel" in loaded
    assert f"{UNIFIED_PREFIX}/vid_agg_embedding" in loaded
    np.testing.assert_allclose(
        to_numpy(vit(reference["inputs.video"])["features_pooled"]),
        reference["outputs.video.features_pooled"],
        atol=1e-5,
    )
    wat = WaT(
        WaTConfig(
            **_TINY,
            max_temporal_buckets=8,
            pre_projection=True,
            post_projection=True,
            d_post_proj=48,
        )
    )
    load_unified_checkpoint(wat, FIXTURE)
    np.testing.assert_allclose(
        to_numpy(wat(reference["inputs.audio"])["features_pooled"]),
        reference["outputs.audio.features_pooled"],
        atol=1e-5,
    )


def test_ut_init_resamples_positional_tables_and_rejects_bad_targets():
    import tensorflow as tf

    vit = _vit(horizontal=6)
    load_unified_checkpoint(vit, FIXTURE)
    stored = tf.train.load_checkpoint(str(FIXTURE / "ckpt-1")).get_tensor(
        f"{UNIFIED_PREFIX}/pos_embedding_lookup/video/horizontal_position_embeddings/embeddings"
        "/.ATTRIBUTES/VARIABLE_VALUE"
    )
    table = vit.pos_embedding_lookup.horizontal_position_embeddings.embeddings
    np.testing.assert_allclose(table, spline_resampling_matrix(4, 6) @ stored, atol=1e-6)
    with pytest.raises(ValueError, match="pre_projection=True"):
        load_unified_checkpoint(_vit(projections=False), FIXTURE)
    with pytest.raises(TypeError, match="UT has no spectrogram tokenizer"):
        load_unified_checkpoint(SpT(SpTConfig(**_TINY)), FIXTURE)
    with pytest.raises(ValueError, match="does not fit"):
        load_unified_checkpoint(
            ViT3D(
                ViTConfig(
                    **_TINY,
                    temporal_patch_size=4,
                    spatial_patch_size=8,
                    pre_projection=True,
                    post_projection=True,
                    d_post_proj=48,
                )
            ),
            FIXTURE,
        )
