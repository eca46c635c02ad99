"""Tiny pretraining and fine-tuning runs on the synthetic clips of vatt-data."""

import json
import logging
import os
import pathlib
import socket
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from train_helpers import run_together, tensorboard_scalars

import vatt.data
import vatt.train
from vatt.data import synthetic
from vatt.train import inputs, objective

FIXTURES = pathlib.Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def pretrain_config(pretrain_overrides):
    return vatt.train.resolve_config("pretrain", "tx_fac", params_override=pretrain_overrides)


@pytest.fixture(scope="module")
def pretrain_examples(pretrain_config, batch_to_numpy):
    """8 preprocessed clips of the vatt-data pretraining pipeline: every step's global batch."""
    dataset = vatt.data.pretrain_dataset(pretrain_config.data.train, batch_size=8)
    return batch_to_numpy(next(iter(dataset)))


@pytest.fixture(scope="module")
def single_replica_run(
    pretrain_config,
    pretrain_examples,
    make_array_dataset_fn,
    tmp_path_factory,
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
    assert result.step == 8 and result.restored_from is None and result.skipped_steps == 0
    assert [record["step"] for record in result.history] == list(range(1, 9))
    first = result.history[0]
    assert set(first) == {
        "step",
        "vid_txt",
        "vid_aud",
        "total",
        "learning_rate",
        "examples_per_second",
    }
    first_half = np.mean([record["total"] for record in result.history[:4]])
    assert np.mean([record["total"] for record in result.history[4:]]) < first_half
    assert first["total"] == pytest.approx((first["vid_txt"] + first["vid_aud"]) / 2, rel=1e-5)
    assert first["learning_rate"] == pytest.approx(1e-3)

    assert vatt.train.load_run_config(run_dir) == pretrain_config
    # Every 4 steps, and after the first call, as the original.
    assert vatt.train.list_checkpoints(run_dir) == [
        (1, f"{run_dir}/ckpt-1"),
        (4, f"{run_dir}/ckpt-4"),
        (8, f"{run_dir}/ckpt-8"),
    ]
    reader = tf.train.load_checkpoint(str(run_dir / "ckpt-8"))
    assert reader.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE") == 8
    assert reader.get_tensor("optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE") == 8

    scalars = tensorboard_scalars(run_dir)
    assert {
        "loss/vid_txt",
        "loss/vid_aud",
        "loss/total",
        "learning_rate",
        "examples_per_second",
        "skipped_steps",
    } <= set(scalars)
    assert scalars["loss/total"] == pytest.approx({r["step"]: r["total"] for r in result.history})
    # The synthetic clips hold the 4 frames and 0.08 s read: none was looped.
    assert set(scalars["data/video_short"].values()) == set(scalars["data/audio_short"].values())
    assert set(scalars["data/video_short"].values()) == {0.0}


def test_xla_compiled_steps_train_the_real_model_to_the_same_losses(
    single_replica_run, pretrain_config, pretrain_examples, make_array_dataset_fn, tmp_path
):
    config = vatt.train.apply_overrides(pretrain_config, {"train.jit_compile": True})
    result = vatt.train.train(
        config, tmp_path, dataset_fn=make_array_dataset_fn(pretrain_examples, 8)
    )
    _assert_same_first_steps(result.history, single_replica_run[1].history)


def test_two_replicas_give_the_losses_of_one_replica_on_the_same_global_batch(
    single_replica_run,
    pretrain_config,
    pretrain_examples,
    make_array_dataset_fn,
    tmp_path,
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
    assert [record["step"] for record in result.history] == list(range(1, 9))
    _assert_same_first_steps(result.history, single.history)


def _assert_same_first_steps(history, reference):
    """Local negatives (4 clips instead of 8) or per-replica BatchNorm statistics move the terms
    by tens of percent. What is left is rounding (up to 1.6e-4 at the first step in a fresh CI
    environment, where the input's crop windows are resized in or out of XLA), amplified step after
    step by the sharp loss of the head's BatchNorms over 8 nearly equal features (see
    pretrain_overrides), so the first two steps (before and after an update) are compared;
    test_steps checks the same machinery over 12 steps to 1e-5 on a well-conditioned toy.
    Seen after one update: up to 0.8% between fresh environments, so 2% still tells rounding
    from those errors."""
    for step, tolerance in ((0, 1e-3), (1, 2e-2)):
        for term in ("vid_txt", "vid_aud", "total"):
            expected = reference[step][term]
            assert history[step][term] == pytest.approx(expected, rel=tolerance), (
                step,
                term,
                history,
            )
    assert all(np.isfinite(record["total"]) for record in history)


def _video_features(model, video):
    return model.backbone(tf.constant(video), training=False)["features_pooled"].numpy()


def test_finetuning_backbone_initialised_from_our_pretraining_run(
    single_replica_run, finetune_overrides, pretrain_config, pretrain_examples
):
    run_dir, _ = single_replica_run
    pretrained = vatt.train.build_model(vatt.train.load_run_config(run_dir))
    vatt.train.restore_model_weights(pretrained, run_dir / "ckpt-8")
    config = vatt.train.resolve_config(
        "finetune",
        "vit_base",
        params_override={
            **finetune_overrides,
            "model": {"backbone": pretrained.config.video.to_dict()},
        },
    )
    classifier = vatt.train.build_model(config)
    loaded = vatt.train.initialize_from_pretrained(classifier, run_dir / "ckpt-8")
    assert len(loaded) == len(classifier.backbone.weights)
    prepare = inputs.batch_preparation(pretrain_config)
    video = prepare(pretrain_examples)["video"].numpy()[:2]
    expected = pretrained({"video": tf.constant(video)}, training=False)["backbone"]["video"]
    np.testing.assert_allclose(
        _video_features(classifier, video),
        expected["features_pooled"].numpy(),
        rtol=1e-5,
        atol=1e-6,
    )


@pytest.fixture(scope="module")
def fixture_sized_finetune(finetune_overrides):
    """The tiny classifier with the reference fixtures' positional tables (3 x 4 x 6 buckets)."""
    buckets = {"max_temporal_buckets": 3, "max_vertical_buckets": 4, "max_horizontal_buckets": 6}
    backbone = {**finetune_overrides["model"]["backbone"], **buckets}
    return {**finetune_overrides, "model": {"backbone": backbone}}


# The fixtures' ViT has positional tables of 3 x 4 x 6 buckets; UT's are 3 x 4 x 4, with GELU
# projections 32 -> 32 before and 32 -> 48 after the shared Transformer.
UT_SIZED = {
    "max_horizontal_buckets": 4,
    "pre_projection": True,
    "post_projection": True,
    "d_post_proj": 48,
}


@pytest.mark.parametrize(
    ("fixture", "inputs", "features", "backbone"),
    [
        ("ft_vit_tiny_k400", "inputs.images", "extra.backbone.features_pooled", {}),
        ("tx_fac_tiny", "inputs.video", "outputs.video.features_pooled", {}),
        ("ut_fac_tiny", "inputs.video", "outputs.video.features_pooled", UT_SIZED),
    ],
)
def test_finetuning_backbone_initialised_from_official_checkpoints(
    fixture, inputs, features, backbone, fixture_sized_finetune
):
    overrides = {"model": {"backbone": backbone}}
    config = vatt.train.resolve_config(
        "finetune", "vit_base", params_override=fixture_sized_finetune
    )
    config = vatt.train.apply_overrides(config, overrides)
    classifier = vatt.train.build_model(config)
    classifier_kernel = classifier.cls.kernel.numpy()
    loaded = vatt.train.initialize_from_pretrained(classifier, FIXTURES / fixture / "ckpt-1")
    assert len(loaded) == len(classifier.backbone.weights)
    reference = np.load(FIXTURES / fixture / "inputs_outputs.npz")
    np.testing.assert_allclose(
        _video_features(classifier, reference[inputs]), reference[features], rtol=1e-4, atol=1e-5
    )
    np.testing.assert_array_equal(classifier.cls.kernel.numpy(), classifier_kernel)


def test_finetuning_from_an_official_checkpoint_stops_at_an_injected_nan(
    fixture_sized_finetune, tmp_path, caplog
):
    override = str(FIXTURES / "tx_fac_tiny" / "ckpt-1")
    config = vatt.train.resolve_config(
        "finetune",
        "vit_base",
        params_override={
            **fixture_sized_finetune,
            "train": {**fixture_sized_finetune["train"], "override_checkpoint": override},
        },
    )
    configured = inputs.train_dataset_fn(config)

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


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def test_two_workers_train_to_the_same_losses(single_replica_run, pretrain_examples, tmp_path):
    run_dir, single = single_replica_run
    np.savez(tmp_path / "examples.npz", **pretrain_examples)
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    script = str(pathlib.Path(__file__).parent / "multi_worker.py")
    commands = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        argv = [sys.executable, script, str(run_dir), str(tmp_path / "examples.npz")]
        argv += [str(tmp_path / "run"), str(tmp_path / f"history-{index}.json")]
        commands.append((argv, {**os.environ, "TF_CONFIG": json.dumps(tf_config)}))
    run_together(commands, 300)
    chief, other = (json.loads((tmp_path / f"history-{i}.json").read_text()) for i in range(2))
    assert [record["step"] for record in chief] == list(range(1, 9))
    assert chief == [
        {**record, "examples_per_second": c["examples_per_second"]}
        for record, c in zip(other, chief, strict=True)
    ]
    _assert_same_first_steps(chief, single.history)
    # Only the chief keeps checkpoints; the other worker's scratch copies are gone.
    assert [step for step, _ in vatt.train.list_checkpoints(tmp_path / "run")] == [1, 4, 8]
    assert sorted(p.name for p in (tmp_path / "run").iterdir() if p.name.startswith(".")) == []


def test_mixed_bfloat16_builds_a_bfloat16_model_with_float32_weights(
    pretrain_config, pretrain_examples
):
    config = vatt.train.apply_overrides(pretrain_config, {"train.precision": "mixed_bfloat16"})
    model = vatt.train.build_model(config)
    assert keras.config.dtype_policy().name == "float32"  # the global policy is left as it was
    assert {w.dtype for w in model.weights} <= {"float32", "int32"}
    batch = inputs.batch_preparation(config)(pretrain_examples)
    outputs = model(batch, training=True)
    assert outputs["head"]["video"]["totxt"].dtype == tf.bfloat16
    terms = objective.build_objective(config, num_replicas=1)(outputs, batch)
    assert terms["total"].dtype == tf.float32 and np.isfinite(float(terms["total"]))


def test_pretraining_input_is_uint8_and_the_step_finishes_it(pretrain_config, pretrain_examples):
    # The loader only decodes the crop windows; the step's batch preparation (run by StepRunner on
    # each replica) resizes them, applies the draws and normalises, as the float loader would have.
    assert pretrain_config.data.train.video_dtype == "uint8"
    assert pretrain_config.data.train.resize_on_accelerator
    assert pretrain_examples["video"].dtype == np.uint8
    assert pretrain_examples["video_augment"].shape == (8, 7)
    assert pretrain_examples["video_window"].shape == (8, 4)
    prepare = inputs.batch_preparation(pretrain_config)
    finished = prepare({k: tf.constant(v) for k, v in pretrain_examples.items()})
    assert "video_augment" not in finished and finished["video"].dtype == tf.float32
    assert -1.0 <= float(tf.reduce_min(finished["video"])) < float(tf.reduce_max(finished["video"]))
    assert float(tf.reduce_max(finished["video"])) <= 1.0
    finetune = vatt.train.resolve_config("finetune", "vit_base")
    assert inputs.batch_preparation(finetune) is None


@pytest.mark.parametrize("resize_on_accelerator", [True, False])
def test_pretraining_on_the_real_loader_with_each_video_placement(
    pretrain_config, tmp_path, resize_on_accelerator
):
    config = vatt.train.apply_overrides(
        pretrain_config,
        {
            "data.train.resize_on_accelerator": resize_on_accelerator,
            "train.total_steps": 2,
            "train.save_checkpoint_freq": 2,
            "train.peak_tflops_per_device": 1.0,  # MFU: FLOPs at the shapes the model sees
        },
    )
    size = config.data.train.frame_size
    batch = next(iter(vatt.data.pretrain_dataset(config.data.train, batch_size=4)))
    assert batch["video"].dtype == tf.uint8
    assert ("video_window" in batch) == resize_on_accelerator
    finished = inputs.batch_preparation(config)(batch)
    assert finished["video"].shape[1:] == (config.data.train.num_frames, size, size, 3)
    result = vatt.train.train(config, tmp_path)
    assert result.step == 2
    assert all(np.isfinite(record["total"]) for record in result.history)


def test_clips_the_loader_looped_reach_tensorboard_and_the_log(pretrain_config, tmp_path, caplog):
    # 2 frames at 50 fps (0.04 s) where 4 frames at stride int(50 // 10) = 5 and 0.08 s are read.
    short = synthetic.SyntheticConfig(num_frames=2, frame_size=32, fps=50)
    data_dir = tmp_path / "short_clips"
    synthetic.write_synthetic_dataset(data_dir, num_clips=8, num_test_clips=1, config=short)
    vatt.data.register_dataset(synthetic.synthetic_spec(short, name="short_clips"), overwrite=True)
    config = vatt.train.apply_overrides(
        pretrain_config,
        {
            "data.train.datasets": ["short_clips"],
            "data.train.data_dir": str(data_dir),
            "train.total_steps": 2,
            "train.save_checkpoint_freq": 2,
        },
    )
    with caplog.at_level(logging.WARNING, logger="vatt.data"):
        result = vatt.train.train(config, tmp_path / "run")
    assert result.step == 2
    scalars = tensorboard_scalars(tmp_path / "run")
    assert scalars["data/video_short"] == {1: 8.0, 2: 8.0}  # every clip of both steps of 8
    assert scalars["data/audio_short"] == {1: 8.0, 2: 8.0}
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "vatt.data"]
    assert warning.startswith("short clips so far: 8 with fewer frames and 8 with fewer audio")
