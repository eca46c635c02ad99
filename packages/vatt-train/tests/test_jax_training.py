"""Training on the JAX backend (vatt.train.jax_training) through vatt.train.train and the CLI.

This suite runs on the TensorFlow backend, so every JAX run is a subprocess (jax_train_run.py, or
the vatt-train command) with KERAS_BACKEND=jax and two CPU devices. They share a persistent XLA
cache, so that a step compiled once is not compiled again.
"""

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
import yaml
from train_helpers import newest_checkpoint_step, run_together, tensorboard_scalars

import vatt.data
import vatt.train
from vatt.train import cli

SCRIPT = pathlib.Path(__file__).parent / "jax_train_run.py"
TIMEOUT_S = 300


def _jax_env(workdir: pathlib.Path, **extra: str) -> dict:
    # A user's shell: no TF_CPP_MIN_LOG_LEVEL (conftest sets it in this process).
    inherited = {k: v for k, v in os.environ.items() if not k.endswith("TF_CPP_MIN_LOG_LEVEL")}
    return {
        **inherited,
        "KERAS_BACKEND": "jax",
        "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
        "JAX_COMPILATION_CACHE_DIR": str(workdir / "xla_cache"),
        **extra,
    }


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, pretrain_overrides):
    """The tiny pretraining config and the 8 clips of every global batch: the pretraining
    pipeline's uint8 video with its crop windows and draws, which the JAX step finishes."""
    out = tmp_path_factory.mktemp("jax_training")
    (out / "overrides.json").write_text(json.dumps(pretrain_overrides))
    config = vatt.train.resolve_config("pretrain", "tx_fac", params_override=pretrain_overrides)
    batch = next(iter(vatt.data.pretrain_dataset(config.data.train, batch_size=8)))
    assert batch["video"].dtype == tf.uint8 and "video_window" in batch
    np.savez(out / "examples.npz", **{key: np.asarray(value) for key, value in batch.items()})
    return out


@pytest.fixture(scope="module")
def devices_runs(workdir):
    """One device, two devices, and one device with a NaN in the 3rd batch (jax_train_run.py)."""
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(workdir), "devices"],
        capture_output=True,
        text=True,
        env=_jax_env(workdir),
        timeout=TIMEOUT_S,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((workdir / "devices.json").read_text())


def _assert_same_losses(history, reference):
    """Same global batch, same weights: only the float32 reduction order differs, 1e-6 at the first
    step; local negatives or per-device BatchNorm statistics would move it by tens of percent.
    The sharp loss of the tiny head's BatchNorms (see pretrain_overrides) amplifies rounding about
    tenfold per update (seen here: 1.4e-4 at step 4; in a fresh CI environment 1.5% at step 4), so
    steps 2 and 3 are compared to 2e-3 and 2e-2 and the later ones only for being finite."""
    assert [r["step"] for r in history] == [r["step"] for r in reference]
    for record, expected in zip(history, reference, strict=True):
        tolerance = {1: 1e-5, 2: 2e-3, 3: 2e-2}.get(record["step"])
        for term in ("vid_txt", "vid_aud", "total"):
            assert np.isfinite(record[term]), (term, record)
            if tolerance:
                assert record[term] == pytest.approx(expected[term], rel=tolerance), (term, record)
        assert record["learning_rate"] == expected["learning_rate"]


def test_pretraining_on_jax_lowers_the_loss_and_writes_the_run_directory(devices_runs, workdir):
    history = devices_runs["one"]["history"]
    assert devices_runs["one"]["step"] == 8
    assert [record["step"] for record in history] == list(range(1, 9))
    assert set(history[0]) == {
        "step",
        "vid_txt",
        "vid_aud",
        "total",
        "learning_rate",
        "examples_per_second",
    }
    first_half = np.mean([record["total"] for record in history[:4]])
    assert np.mean([record["total"] for record in history[4:]]) < first_half
    assert history[0]["learning_rate"] == pytest.approx(1e-3)

    run_dir = workdir / "one"
    config = vatt.train.load_run_config(run_dir)
    assert (config.strategy.backend, config.strategy.type) == ("jax", "one_device")
    assert [step for step, _ in vatt.train.list_checkpoints(run_dir)] == [1, 4, 8]
    scalars = tensorboard_scalars(run_dir)
    assert scalars["loss/total"] == pytest.approx({r["step"]: r["total"] for r in history})
    assert {"loss/vid_txt", "loss/vid_aud", "learning_rate", "examples_per_second"} <= set(scalars)
    assert scalars["skipped_steps"] == dict.fromkeys(range(1, 9), 0.0)
    assert scalars["data/video_short"] == dict.fromkeys(range(1, 9), 0.0)
    assert scalars["data/audio_short"] == dict.fromkeys(range(1, 9), 0.0)


def test_two_devices_give_the_losses_of_one_on_the_same_global_batch(devices_runs):
    _assert_same_losses(devices_runs["two"]["history"], devices_runs["one"]["history"])


def test_a_nan_stops_the_run_with_the_promised_message(devices_runs, workdir):
    nan = devices_runs["nan"]
    assert nan["step"] == 3
    assert nan["message"].startswith(
        "non-finite loss at step 3: vid_aud = nan, total = nan, gradient_norm = nan. The update "
        "of that step was not applied and training stopped"
    )
    # Saved after the first step; step 2 had no checkpoint due and step 3 was never applied.
    assert [step for step, _ in vatt.train.list_checkpoints(workdir / "nan")] == [1]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_processes_train_to_the_losses_of_one(devices_runs, workdir):
    address = f"127.0.0.1:{_free_port()}"
    run_together(
        [
            (
                [sys.executable, str(SCRIPT), str(workdir), "process"],
                _jax_env(
                    workdir,
                    JAX_COORDINATOR_ADDRESS=address,
                    JAX_NUM_PROCESSES="2",
                    JAX_PROCESS_ID=str(index),
                ),
            )
            for index in range(2)
        ],
        TIMEOUT_S,
    )
    chief, other = (json.loads((workdir / f"process-{i}.json").read_text()) for i in range(2))
    _assert_same_losses(chief, devices_runs["one"]["history"])
    _assert_same_losses(other, chief)
    run_dir = workdir / "multi"
    assert [step for step, _ in vatt.train.list_checkpoints(run_dir)] == [1, 4, 8]
    assert sorted(p.name for p in run_dir.iterdir() if p.name.startswith(".")) == []


@pytest.mark.slow
def test_kill_9_mid_run_then_a_restart_resumes_at_the_checkpoint_with_the_same_losses(
    devices_runs, workdir
):
    run = workdir / "resumed"
    command = [sys.executable, str(SCRIPT), str(workdir), "resume"]
    env = _jax_env(workdir)
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + TIMEOUT_S
    while process.poll() is None and newest_checkpoint_step(run) < 2:
        assert time.monotonic() < deadline, "no checkpoint within the timeout"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "the run ended before it could be killed"
    killed_at = [step for step, _ in vatt.train.list_checkpoints(run)]
    assert killed_at and 2 <= killed_at[-1] < 8, killed_at

    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert result.returncode == 0, result.stderr[-3000:]
    resumed = json.loads((workdir / "resume.json").read_text())
    assert resumed["restored_from"] == str(run / f"ckpt-{killed_at[-1]}")
    assert resumed["step"] == 8
    assert [record["step"] for record in resumed["history"]] == list(range(killed_at[-1] + 1, 9))
    # Every batch is the same 8 clips: the resumed steps are the uninterrupted run's steps.
    uninterrupted = {record["step"]: record for record in devices_runs["one"]["history"]}
    for record in resumed["history"]:
        assert record["total"] == pytest.approx(uninterrupted[record["step"]]["total"], rel=1e-4)


def _vatt_train(workdir, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vatt.train.cli", *argv],
        capture_output=True,
        text=True,
        env=_jax_env(workdir),
        timeout=TIMEOUT_S,
    )


def test_cli_trains_on_jax_from_relative_paths_and_the_run_resumes_only_there(
    workdir, pretrain_overrides, synthetic_dir, in_tmp_dir, capsys
):
    # The config's default strategy (mirrored): every local device on either backend.
    tiny = {k: v for k, v in pretrain_overrides.items() if k != "strategy"}
    pathlib.Path("tiny.yaml").write_text(yaml.safe_dump(tiny))
    argv = [
        "pretrain",
        "--model_dir",
        "runs/jax",
        "--config_file",
        "tiny.yaml",
        "--params_override",
        f"data.train.data_dir={os.path.relpath(synthetic_dir)},train.total_steps=2",
        "--peak_tflops",
        "1",
    ]
    result = _vatt_train(workdir, *argv)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stderr.splitlines()
    assert lines[0].endswith("vatt.train pretrain tx_fac on the jax backend (strategy mirrored)")
    assert "JAX mesh of 2 cpu devices in 1 process" in lines[1]
    assert any("step 2/2 | loss " in line and " clips/s | MFU " in line for line in lines)
    run = in_tmp_dir / "runs" / "jax"
    recorded = yaml.safe_load((run / "config.yaml").read_text())
    assert recorded["strategy"] == {"type": "mirrored", "tpu": "", "backend": "jax"}
    assert recorded["data"]["train"]["data_dir"] == str(synthetic_dir)
    assert [step for step, _ in vatt.train.list_checkpoints("runs/jax")] == [1, 2]

    # This process runs Keras on TensorFlow: the JAX run is refused, nothing is touched.
    before = sorted(p.name for p in run.iterdir())
    assert cli.main(argv) == 2
    (line,) = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert line.startswith("vatt-train: error: ") and "trained on the jax backend" in line
    assert "KERAS_BACKEND=jax" in line
    assert sorted(p.name for p in run.iterdir()) == before


def test_a_strategy_of_the_other_backend_is_one_line_and_exit_2(workdir, in_tmp_dir, capsys):
    result = _vatt_train(workdir, "pretrain", "--model_dir", "run", "--strategy_type", "tpu")
    assert result.returncode == 2, result.stderr[-3000:]
    assert [line for line in result.stderr.splitlines() if line.strip()] == [
        "vatt-train: error: strategy.type='tpu' is a tensorflow strategy; on the jax backend "
        "use one of one_device, data_parallel, mirrored, multi_process"
    ]
    # And the reverse, in this (TensorFlow) process.
    assert cli.main(["pretrain", "--model_dir", "run", "--strategy_type", "multi_process"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "vatt-train: error: strategy.type='multi_process' is a jax strategy; on the tensorflow "
        "backend use one of one_device, mirrored, multi_worker_mirrored, tpu"
    ]
    assert list(in_tmp_dir.iterdir()) == []
