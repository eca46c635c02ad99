"""End to end over real run directories: tiny models, the synthetic dataset, the CLI and its errors.

The synthetic records are written small (8 frames of 32x32, 8 kHz audio) and registered under
names of their own, so that the tiny models of vatt-models read them as they are.
"""

import dataclasses
import json
import pathlib

import numpy as np
import pytest
import tensorflow as tf

import vatt.models
import vatt.train
from vatt.data import synthetic
from vatt.data.registry import register_dataset
from vatt.eval import EvalSettings, KerasProbeConfig, ProbeSettings, RunEvaluator, read_results
from vatt.eval.cli import main
from vatt.train.checkpoints import ModelWeights

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
CLIPS = synthetic.NUM_CLASSES  # one clip per class and split: every batch holds a whole split
SAMPLE_RATE = 8000
DATA = synthetic.SyntheticConfig(num_frames=8, frame_size=32, sample_rate=SAMPLE_RATE)
# Sizes of the reference fixture ft_vit_tiny_k400 (an official fine-tuned checkpoint).
FIXTURE_VIT = {
    "d_model": 32,
    "d_kv": 8,
    "d_ff": 64,
    "num_layers": 2,
    "num_heads": 4,
    "temporal_patch_size": 2,
    "spatial_patch_size": 8,
    "max_temporal_buckets": 3,
    "max_vertical_buckets": 4,
    "max_horizontal_buckets": 6,
}
SHORT_SCHEDULE = {"warmup_steps": 2, "learning_rate_steps": [2, 10]}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("synthetic")
    synthetic.write_synthetic_dataset(out, num_clips=CLIPS, num_test_clips=CLIPS, config=DATA)
    spec = synthetic.synthetic_spec(DATA, name="synthetic_eval_tiny")
    register_dataset(spec)
    # The same clips in a 400-class label space, to evaluate a Kinetics-400 classifier on.
    register_dataset(dataclasses.replace(spec, name="synthetic_eval_400", num_classes=400))
    return out


def _eval_data(name, data_dir, **extra):
    return {
        "name": name,
        "data_dir": str(data_dir),
        "num_frames": 4,
        "frame_size": 32,
        "audio_sample_rate": SAMPLE_RATE,
        "audio_seconds": 0.128,  # 1024 samples: 8 WaT patches of 128
        "num_windows_test": 2,
        **extra,
    }


@pytest.fixture(scope="module")
def pretrain_run(tmp_path_factory, data_dir):
    """A pretraining run of a tiny tx_fac at step 10 of 10, written as vatt-train writes it."""
    run = tmp_path_factory.mktemp("pretrain_run")
    config = vatt.train.resolve_config(
        "pretrain",
        "tx_fac",
        params_override={
            "model": vatt.models.tiny_overrides("tx_fac"),
            "data": {"eval": _eval_data("synthetic_eval_tiny", data_dir)},
            "train": {"total_steps": 10},
            "schedule": SHORT_SCHEDULE,
        },
    )
    vatt.train.save_config(config, run)
    model = vatt.train.build_model(config)
    manager = tf.train.CheckpointManager(
        tf.train.Checkpoint(model=ModelWeights(model)),
        str(run),
        max_to_keep=2,
        checkpoint_name="ckpt",
    )
    manager.save(checkpoint_number=10)
    return run


def test_watching_a_pretraining_run_evaluates_its_final_checkpoint(pretrain_run):
    settings = EvalSettings(
        batch_size=CLIPS,
        probes=ProbeSettings(keras=KerasProbeConfig(epochs=5)),
        progress=False,
    )
    evaluator = RunEvaluator(pretrain_run, settings)
    assert evaluator.final_step == 10
    # ckpt-10 is the run's final step: it is evaluated once, then watching stops by itself.
    assert evaluator.watch(interval=0.05, timeout=30.0) == [10]

    payload = read_results(pretrain_run, 10)
    assert payload["checkpoint"] == str(pretrain_run / "ckpt-10")
    metrics = payload["metrics"]
    prefix = "synthetic_eval_tiny"
    for task in ("txt2vid", "aud2vid"):
        for variant in ("embd", "cosine"):
            for k in (1, 5, 10):
                assert 0.0 <= metrics[f"{prefix}_{task}_{variant}_R{k}"] <= 1.0
            assert 1.0 <= metrics[f"{prefix}_{task}_{variant}_MedianRank"] <= CLIPS
    assert metrics[f"{prefix}_retrieval_num_clips"] == CLIPS
    assert metrics[f"{prefix}_retrieval_chance_R1"] == pytest.approx(1 / CLIPS)
    assert metrics[f"{prefix}_retrieval_chance_MedianRank"] == (CLIPS + 1) / 2
    for probe in ("", "svm_"):
        for k in (1, 5):
            split_value = metrics[f"{prefix}_0_{probe}test_top_{k}_accuracy"]
            assert 0.0 <= split_value <= 1.0
            assert metrics[f"{prefix}_{probe}top_{k}_accuracy"] == split_value  # one split
    assert metrics[f"{prefix}_chance_top_1_accuracy"] == pytest.approx(1 / 12)
    assert list((pretrain_run / "eval").glob("events.out.tfevents.*"))


@pytest.fixture(scope="module")
def finetune_run(tmp_path_factory, data_dir):
    """A fine-tuning run configuration of a tiny vit_base on a 400-class dataset, no checkpoint."""
    run = tmp_path_factory.mktemp("finetune_run")
    data = _eval_data("synthetic_eval_400", data_dir, num_windows_test=1, multi_crop=True)
    data.pop("num_windows_test")
    config = vatt.train.resolve_config(
        "finetune",
        "vit_base",
        params_override={
            "model": {"backbone": FIXTURE_VIT},
            "data": {"train": {**data}, "eval": {**data, "num_windows_test": 1}},
            "train": {"total_steps": 10},
            "schedule": {"warmup_steps": 2},
        },
    )
    vatt.train.save_config(config, run)
    return run


def test_official_fine_tuned_checkpoint_is_converted_and_evaluated(finetune_run, capsys):
    official = FIXTURES / "ft_vit_tiny_k400" / "ckpt-1"
    status = main(
        [
            "run",
            str(finetune_run),
            "--checkpoint",
            str(official),
            "--batch_size",
            "12",
            "--no_progress",
        ]
    )
    assert status == 0
    printed = json.loads(capsys.readouterr().out)
    metrics = read_results(finetune_run, 1)["metrics"]
    assert printed == pytest.approx(metrics)
    # One temporal window x 3 spatial crops per clip; the classifier has Kinetics' 400 classes.
    assert metrics["synthetic_eval_400_num_views"] == 3
    assert metrics["synthetic_eval_400_num_clips"] == CLIPS
    for key in ("top_1_accuracy", "top_5_accuracy"):
        assert 0.0 <= metrics[f"synthetic_eval_400_{key}"] <= 1.0
    assert metrics["synthetic_eval_400_categorical_cross_entropy"] > 0


def test_official_weights_land_in_the_model(finetune_run):
    official = FIXTURES / "ft_vit_tiny_k400" / "ckpt-1"
    evaluator = RunEvaluator(finetune_run, EvalSettings(progress=False))
    evaluator.restore(official)
    expected = tf.train.load_checkpoint(str(official)).get_tensor(
        "model/layer_with_weights-0/_ops/cls/kernel/.ATTRIBUTES/VARIABLE_VALUE"
    )
    np.testing.assert_array_equal(evaluator.model.cls.kernel.numpy(), expected)


def test_cli_errors_name_the_problem(tmp_path, pretrain_run, capsys):
    assert main(["run", str(tmp_path)]) == 2
    assert "config.yaml does not exist" in capsys.readouterr().err

    data_file = pretrain_run / "ckpt-10.data-00000-of-00001"
    assert main(["run", str(pretrain_run), "--checkpoint", str(data_file)]) == 2
    error = capsys.readouterr().err
    assert "pass the checkpoint prefix" in error and str(pretrain_run / "ckpt-10") in error

    assert main(["watch", str(pretrain_run), "--datasets", "no_such_dataset"]) == 2
    error = capsys.readouterr().err
    assert "Unknown dataset 'no_such_dataset'" in error and "synthetic" in error


def test_cli_help_lists_both_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "run" in out and "watch" in out
    with pytest.raises(SystemExit):
        main(["watch", "--help"])
    assert "--interval" in capsys.readouterr().out
