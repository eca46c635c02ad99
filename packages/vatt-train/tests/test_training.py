"""Tiny pretraining and fine-tuning runs on the synthetic clips of vatt-data."""

import pathlib

import keras
import numpy as np
import pytest
import tensorflow as tf

import vatt.data
import vatt.train

FIXTURES = pathlib.Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def pretrain_config(pretrain_overrides):
    return vatt.train.resolve_config("pretrain", "tx_fac", params_override=pretrain_overrides)


@pytest.fixture(scope="module")
def pretrain_examples(pretrain_config, batch_to_numpy):
    """8 preprocessed clips of the vatt-data pretraining pipeline: every step's global batch."""
    dataset = vatt.data.pretrain_dataset(pretrain_config.data.train, batch_size=8)
    return batch_to_numpy(next(iter(dataset)))


def _without_dropout(build_model):
    """vatt-models keeps the original's fixed 0.1 dropout on positional embeddings, which no
    config turns off; runs that must match across replica counts may draw no random numbers."""

    def build(config):
        model = build_model(config)
        for layer in model._flatten_layers():
            if isinstance(layer, keras.layers.Dropout):
                layer.rate = 0.0
        return model

    return build


@pytest.fixture(scope="module")
def deterministic_models():
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            vatt.train.builders, "build_model", _without_dropout(vatt.train.builders.build_model)
        )
        yield


@pytest.fixture(scope="module")
def single_replica_run(
    pretrain_config,
    pretrain_examples,
    make_array_dataset_fn,
    tmp_path_factory,
    deterministic_models,
):
    run_dir = tmp_path_factory.mktemp("pretrain_1")
    result = vatt.train.train(
        pretrain_config, run_dir, dataset_fn=make_array_dataset_fn(pretrain_examples, 8)
    )
    return run_dir, result


def test_pretraining_loss_decreases_and_the_run_directory_is_complete(
    single_replica_run, pretrain_config
):
    run_dir, result = single_replica_run
    assert result.step == 6 and result.restored_from is None and result.skipped_steps == 0
    assert [record["step"] for record in result.history] == [3, 6]
    first, last = result.history
    assert set(first) == {
        "step",
        "vid_txt",
        "vid_aud",
        "total",
        "learning_rate",
        "examples_per_second",
    }
    assert last["total"] < first["total"]
    assert first["total"] == pytest.approx((first["vid_txt"] + first["vid_aud"]) / 2, rel=1e-5)
    assert first["learning_rate"] == pytest.approx(1e-3)

    assert vatt.train.load_run_config(run_dir) == pretrain_config
    assert vatt.train.list_checkpoints(run_dir) == [
        (3, f"{run_dir}/ckpt-3"),
        (6, f"{run_dir}/ckpt-6"),
    ]
    reader = tf.train.load_checkpoint(str(run_dir / "ckpt-6"))
    assert reader.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE") == 6
    assert reader.get_tensor("optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE") == 6

    scalars = {}
    for path in (run_dir / "train").glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                scalars.setdefault(value.tag, {})[event.step] = float(tf.make_ndarray(value.tensor))
    assert {
        "loss/vid_txt",
        "loss/vid_aud",
        "loss/total",
        "learning_rate",
        "examples_per_second",
        "skipped_steps",
    } <= set(scalars)
    assert scalars["loss/total"] == pytest.approx({3: first["total"], 6: last["total"]})


def test_two_replicas_give_the_losses_of_one_replica_on_the_same_global_batch(
    single_replica_run,
    pretrain_config,
    pretrain_examples,
    make_array_dataset_fn,
    tmp_path,
    deterministic_models,
    two_replicas,
):
    config = vatt.train.apply_overrides(pretrain_config, {"strategy.type": "mirrored"})
    result = vatt.train.train(
        config,
        tmp_path,
        strategy=two_replicas,
        dataset_fn=make_array_dataset_fn(pretrain_examples, 8),
    )
    _, single = single_replica_run
    for two, one in zip(result.history, single.history, strict=True):
        # Local negatives (4 clips instead of 8) or per-replica BatchNorm statistics move these
        # terms by tens of percent. What is left is rounding (the first step agrees to 1e-4),
        # amplified by the sharp loss of the head's BatchNorms over 8 nearly equal features
        # (see pretrain_overrides); test_steps checks the same machinery to 1e-5 on a toy model.
        for term in ("vid_txt", "vid_aud", "total"):
            assert two[term] == pytest.approx(one[term], rel=2e-2), (term, two, one)


def _video_features(model, video):
    return model.backbone(tf.constant(video), training=False)["features_pooled"].numpy()


def test_finetuning_backbone_initialised_from_our_pretraining_run(
    single_replica_run, finetune_overrides, pretrain_examples
):
    run_dir, _ = single_replica_run
    pretrained = vatt.train.build_model(vatt.train.load_run_config(run_dir))
    vatt.train.restore_model_weights(pretrained, run_dir / "ckpt-6")
    config = vatt.train.resolve_config(
        "finetune",
        "vit_base",
        params_override={
            **finetune_overrides,
            "model": {"backbone": pretrained.config.tower_configs()["video"].to_dict()},
        },
    )
    classifier = vatt.train.build_model(config)
    loaded = vatt.train.initialize_from_pretrained(classifier, run_dir / "ckpt-6")
    assert len(loaded) == len(classifier.backbone.weights)
    video = pretrain_examples["video"][:2]
    expected = pretrained({"video": tf.constant(video)}, training=False)["backbone"]["video"]
    np.testing.assert_allclose(
        _video_features(classifier, video),
        expected["features_pooled"].numpy(),
        rtol=1e-5,
        atol=1e-6,
    )


@pytest.mark.parametrize(
    ("fixture", "inputs", "features"),
    [
        ("ft_vit_tiny_k400", "inputs.images", "extra.backbone.features_pooled"),
        ("tx_fac_tiny", "inputs.video", "outputs.video.features_pooled"),
    ],
)
def test_finetuning_backbone_initialised_from_official_checkpoints(
    fixture, inputs, features, finetune_overrides
):
    # The fixtures' ViT has positional tables of 3 x 4 x 6 buckets.
    config = vatt.train.resolve_config(
        "finetune",
        "vit_base",
        params_override={
            **finetune_overrides,
            "model": {
                "backbone": {
                    **finetune_overrides["model"]["backbone"],
                    "max_temporal_buckets": 3,
                    "max_vertical_buckets": 4,
                    "max_horizontal_buckets": 6,
                }
            },
        },
    )
    classifier = vatt.train.build_model(config)
    classifier_kernel = classifier.cls.kernel.numpy()
    vatt.train.initialize_from_pretrained(classifier, FIXTURES / fixture / "ckpt-1")
    reference = np.load(FIXTURES / fixture / "inputs_outputs.npz")
    np.testing.assert_allclose(
        _video_features(classifier, reference[inputs]), reference[features], rtol=1e-4, atol=1e-5
    )
    np.testing.assert_array_equal(classifier.cls.kernel.numpy(), classifier_kernel)


def test_finetuning_from_an_official_checkpoint_stops_at_an_injected_nan(
    finetune_overrides, tmp_path, caplog
):
    override = str(FIXTURES / "tx_fac_tiny" / "ckpt-1")
    config = vatt.train.resolve_config(
        "finetune",
        "vit_base",
        params_override={
            **finetune_overrides,
            "train": {**finetune_overrides["train"], "override_checkpoint": override},
        },
    )
    configured = vatt.train.builders.train_dataset_fn(config)

    def poisoned(context):
        def poison(index, batch):
            nan_if_third = tf.where(index == 2, float("nan"), 1.0)
            return {**batch, "video": batch["video"] * nan_if_third}

        return configured(context).enumerate().map(poison)

    with (
        caplog.at_level("INFO", logger="vatt.train"),
        pytest.raises(
            vatt.train.NonFiniteLossError,
            match=r"^non-finite loss at step 3: total = nan, gradient_norm",
        ) as error,
    ):
        vatt.train.train(config, tmp_path, dataset_fn=poisoned)
    assert error.value.step == 3
    assert "initialised" in caplog.text and override in caplog.text
    # The first loop (steps 1-2) trained and was saved; the failing step was never applied.
    assert [step for step, _ in vatt.train.list_checkpoints(tmp_path)] == [2]
    assert vatt.train.load_run_config(tmp_path).train.override_checkpoint == override
