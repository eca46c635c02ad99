"""End to end over real run directories: tiny models, the synthetic dataset, the CLI and its errors.

The synthetic records are written small (8 frames of 32x32, 8 kHz audio) and registered under
names of their own, so that the tiny models of vatt-models read them as they are.
"""

import dataclasses
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import yaml

import vatt.models
import vatt.train
from vatt.data import synthetic
from vatt.data.registry import register_dataset
from vatt.eval import EvalSettings, KerasProbeConfig, ProbeSettings, RunEvaluator, read_results
from vatt.eval.cli import main
from vatt.train.checkpoints import ModelWeights
from vatt.train.cli import main as train_main

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


def _copy_run(source, target, checkpoint_name=None):
    """``target``: the config of run ``source``, with its ckpt-10 files renamed if asked."""
    target.mkdir(parents=True)
    (target / "config.yaml").write_bytes((source / "config.yaml").read_bytes())
    if checkpoint_name:
        for path in source.glob("ckpt-10.*"):
            suffix = path.name.removeprefix("ckpt-10")
            (target / f"{checkpoint_name}{suffix}").write_bytes(path.read_bytes())


def _bad_checkpoint_run(pretrain_run):
    _copy_run(pretrain_run, pathlib.Path("bad"))
    for name in ("ckpt-3.index", "ckpt-3.data-00000-of-00001"):
        pathlib.Path("bad", name).write_bytes(b"not a checkpoint")


# Arguments after the command, what the working directory gets beforehand, the error text.
BAD_INPUTS = {
    "missing run dir": (["run", "runs/nope"], None, "run directory runs/nope does not exist"),
    "run dir is a file": (
        ["watch", "run.txt"],
        lambda run: pathlib.Path("run.txt").write_text("x"),
        "run directory run.txt is a file",
    ),
    "not a run dir": (
        ["run", "empty/"],
        lambda run: pathlib.Path("empty").mkdir(),
        "config.yaml does not exist",
    ),
    "no checkpoint yet": (
        ["run", "fresh"],
        lambda run: _copy_run(run, pathlib.Path("fresh")),
        "holds no checkpoint yet",
    ),
    "missing checkpoint": (
        ["run", "fresh", "--checkpoint", "fresh/ckpt-7.index"],
        lambda run: _copy_run(run, pathlib.Path("fresh")),
        "fresh/ckpt-7 (",
    ),
    "unreadable checkpoint": (["run", "bad"], _bad_checkpoint_run, "ckpt-3 cannot be read"),
    "checkpoint without a step": (
        ["run", "other", "--checkpoint", "other/model"],
        lambda run: _copy_run(run, pathlib.Path("other"), checkpoint_name="model"),
        "is not named ckpt-<step>",
    ),
    "unknown dataset": (
        ["watch", "RUN", "--datasets", "no_such_dataset"],
        None,
        "Unknown dataset 'no_such_dataset'",
    ),
    "bad batch size": (["run", "RUN", "--batch_size", "0"], None, "--batch_size must be"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_each_bad_input_is_one_line_exit_2_and_writes_nothing(
    case, pretrain_run, in_tmp_dir, capsys
):
    argv, prepare, message = BAD_INPUTS[case]
    if prepare:
        prepare(pretrain_run)
    argv = [os.path.relpath(pretrain_run) if arg == "RUN" else arg for arg in argv]
    before = sorted(str(p) for p in in_tmp_dir.rglob("*"))
    assert main([*argv, "--no_progress"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    (line,) = [line for line in err.splitlines() if line.startswith("vatt-eval")]
    assert line.startswith("vatt-eval: error: ") and message in line, line
    assert sorted(str(p) for p in in_tmp_dir.rglob("*")) == before
    assert not (pretrain_run / "eval" / "results-7.json").exists()


def test_verbose_shows_the_traceback(in_tmp_dir, capsys):
    assert main(["run", "runs/nope", "--verbose"]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.strip().splitlines()[-1].startswith("vatt-eval: error: run directory runs/nope")


def test_run_and_watch_take_a_relative_run_directory(pretrain_run, in_tmp_dir, capsys):
    relative = os.path.relpath(pretrain_run)
    flags = ["--batch_size", str(CLIPS), "--probe_epochs", "2", "--no_progress"]
    assert main(["run", f"{relative}/", *flags]) == 0
    assert json.loads(capsys.readouterr().out) == pytest.approx(
        read_results(pretrain_run, 10)["metrics"]
    )
    assert read_results(pretrain_run, 10)["checkpoint"] == str(pretrain_run / "ckpt-10")
    # The checkpoint given by one of its files, relative.
    assert main(["run", relative, "--checkpoint", f"{relative}/ckpt-10.index", *flags]) == 0
    capsys.readouterr()
    assert main(["watch", relative, "--interval", "0.05", "--timeout", "30", *flags]) == 0
    assert "evaluated steps: [10]" in capsys.readouterr().out


def test_a_run_trained_here_evaluates_from_elsewhere_and_survives_a_bad_resume(
    data_dir, in_tmp_dir, monkeypatch, capsys, file_hashes
):
    """vatt-train with relative paths in one working directory; a resume with a change its
    checkpoints do not fit is refused and leaves the run byte for byte; vatt-eval from another
    working directory, with a relative path, evaluates it."""
    (in_tmp_dir / "train_here").mkdir()
    monkeypatch.chdir(in_tmp_dir / "train_here")
    video = {"num_frames": 4, "frame_size": 32, "min_resize": 32, "audio_seconds": 0.128}
    data = {
        "data_dir": f"{os.path.relpath(data_dir)}/",
        "audio_sample_rate": SAMPLE_RATE,
        **video,
    }
    overrides = {
        "model": vatt.models.tiny_overrides("tx_fac"),
        "data": {
            "train": {**data, "datasets": ["synthetic_eval_tiny"], "video_stride": 1},
            "eval": {**data, "name": "synthetic_eval_tiny", "num_windows_test": 2},
        },
        "train": {"total_steps": 2, "global_batch_size": 4, "iterations_per_loop": 2},
        "schedule": {"name": "constant", "learning_rate": 1e-3},
    }
    pathlib.Path("tiny.yaml").write_text(yaml.safe_dump(overrides))
    train = ["pretrain", "--model_dir", "runs/pt", "--strategy_type", "one_device"]
    assert train_main([*train, "--config_file", "tiny.yaml"]) == 0
    run = in_tmp_dir / "train_here" / "runs" / "pt"
    before = file_hashes(run)
    capsys.readouterr()

    change = "model.video.d_model=64"
    assert train_main([*train, "--config_file", "tiny.yaml", "--params_override", change]) == 2
    err = capsys.readouterr().err
    (line,) = [line for line in err.splitlines() if line.startswith("vatt-train")]
    assert "model.video.d_model: recorded 32, requested 64" in line
    assert "new --model_dir" in line
    assert file_hashes(run) == before

    (in_tmp_dir / "elsewhere").mkdir()
    monkeypatch.chdir(in_tmp_dir / "elsewhere")
    flags = ["--batch_size", str(CLIPS), "--probe_epochs", "2", "--no_progress"]
    assert main(["run", "../train_here/runs/pt", *flags]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["synthetic_eval_tiny_retrieval_num_clips"] == CLIPS
    assert read_results(run, 2)["checkpoint"] == str(run / "ckpt-2")


@pytest.mark.slow
def test_a_jax_runs_checkpoint_evaluates_as_the_tf_one(pretrain_run, in_tmp_dir, capsys):
    """The checkpoint of ``pretrain_run`` saved again by vatt-train's JAX path (in a JAX process):
    ``vatt-eval run`` and ``watch`` read it as they read the TF one, to the same metrics."""
    _copy_run(pretrain_run, in_tmp_dir / "jax run")
    copied = subprocess.run(
        [sys.executable, str(pathlib.Path(__file__).parent / "jax_copy_run.py")]
        + [str(pretrain_run), "jax run"],
        capture_output=True,
        text=True,
        env={**os.environ, "KERAS_BACKEND": "jax"},
        timeout=600,
    )
    assert copied.returncode == 0, copied.stderr[-3000:]
    jax_run = in_tmp_dir / "jax run"
    assert sorted(p.name for p in jax_run.glob("ckpt-*")) == [
        "ckpt-10.train.npz",
        "ckpt-10.weights.h5",
    ]
    flags = ["--batch_size", str(CLIPS), "--probe_epochs", "2", "--no_progress"]
    assert main(["run", os.path.relpath(pretrain_run), *flags]) == 0
    expected = json.loads(capsys.readouterr().out)
    assert main(["watch", "jax run", "--interval", "0.05", "--timeout", "30", *flags]) == 0
    assert "evaluated steps: [10]" in capsys.readouterr().out
    assert read_results(jax_run, 10)["metrics"] == pytest.approx(expected)
    assert read_results(jax_run, 10)["checkpoint"] == str(jax_run / "ckpt-10")
    assert main(["run", "jax run", "--checkpoint", "jax run/ckpt-10.weights.h5", *flags]) == 0
    assert json.loads(capsys.readouterr().out) == pytest.approx(expected)

    # vatt-eval itself on the JAX backend (inference jitted with the restored weights): the same
    # retrieval; the probes train on other random numbers, so only they may move.
    code = (
        "import sys\n"
        "from vatt.data import synthetic\n"
        "from vatt.data.registry import register_dataset\n"
        "from vatt.eval.cli import main\n"
        f"register_dataset(synthetic.synthetic_spec(synthetic.{DATA!r}, name='synthetic_eval_tiny'))\n"
        f"sys.exit(main(['run', 'jax run', *{flags!r}]))\n"
    )
    on_jax = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "KERAS_BACKEND": "jax"},
        timeout=600,
    )
    assert on_jax.returncode == 0, on_jax.stderr[-3000:]
    metrics = json.loads(on_jax.stdout)
    retrieval = {k: v for k, v in expected.items() if "2vid" in k}
    assert retrieval and {k: metrics[k] for k in retrieval} == pytest.approx(retrieval, abs=1e-6)


def test_cli_help_lists_both_commands(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "run" in out and "watch" in out
    with pytest.raises(SystemExit):
        main(["watch", "--help"])
    assert "--interval" in capsys.readouterr().out
