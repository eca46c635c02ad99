"""The vatt-train command: flags (new and original), errors, and a run killed and resumed."""

import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

import vatt.train
from vatt.train import cli
from vatt.train.optim_config import AdamWConfig


def _config(argv):
    return cli.config_from_args(cli.build_parser().parse_args(argv))


def test_new_and_original_flags_give_the_same_config(tmp_path):
    new = _config(
        [
            "pretrain",
            "--model_dir",
            str(tmp_path),
            "--model_arch",
            "tx_fac",
            "--strategy_type",
            "one_device",
        ]
    )
    original = _config(
        [
            "--task=PRETRAIN",
            "--mode=train",
            f"--model_dir={tmp_path}",
            "--model_arch=Tx_FAC",
            "--strategy_type=one_device",
        ]
    )
    assert new == original
    assert new.mode == "pretrain" and new.strategy.type == "one_device"


def test_overrides_checkpoint_and_tpu_flags_reach_the_config(tmp_path):
    (tmp_path / "ckpt-3.index").write_text("")
    (tmp_path / "file.yaml").write_text(yaml.safe_dump({"train": {"total_steps": 700000}}))
    config = _config(
        [
            "finetune",
            "--model_dir",
            str(tmp_path),
            "--model_arch",
            "vit_base",
            "--strategy_type",
            "tpu",
            "--tpu",
            "grpc://10.0.0.1:8470",
            "--config_file",
            str(tmp_path / "file.yaml"),
            "--params_override",
            "optimizer.name=adamw,train.total_steps=50,schedule.warmup_steps=5",
            "--params_override",
            "{data: {train: {name: ucf101}}}",
            "--override_checkpoint",
            str(tmp_path / "ckpt-3"),
            "--peak_tflops",
            "989",
        ]
    )
    assert config.train.total_steps == 50
    assert config.optimizer == AdamWConfig()
    assert config.model.num_classes == 101
    assert (config.strategy.type, config.strategy.tpu) == ("tpu", "grpc://10.0.0.1:8470")
    assert config.train.override_checkpoint == str(tmp_path / "ckpt-3")
    assert config.train.peak_tflops_per_device == 989.0


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--mode=eval"], "vatt-eval"),
        (["--params_override", "train.bogus=1"], "config.train has no key 'bogus'; valid keys"),
        (["--model_arch", "vit_huge"], "unknown arch 'vit_huge'"),
        (
            ["--override_checkpoint", "RUN/ckpt-5.data-00000-of-00001"],
            "pass the checkpoint prefix RUN/ckpt-5",
        ),
    ],
)
def test_bad_flags_exit_with_a_message(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["pretrain", "--model_dir", str(tmp_path), *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_help_lists_every_flag(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = capsys.readouterr().out
    for flag in (
        "--model_dir",
        "--model_arch",
        "--strategy_type",
        "--tpu",
        "--config_file",
        "--params_override",
        "--override_checkpoint",
        "--task",
        "--mode",
    ):
        assert flag in text
    assert "not its .index or .data-* file" in " ".join(text.split())


def test_killed_run_resumes_from_its_last_checkpoint(finetune_overrides, tmp_path):
    config_file = tmp_path / "tiny.yaml"
    config_file.write_text(
        yaml.safe_dump({k: v for k, v in finetune_overrides.items() if k != "strategy"})
    )
    run_dir = tmp_path / "run"
    command = [
        sys.executable,
        "-m",
        "vatt.train.cli",
        "finetune",
        "--model_dir",
        str(run_dir),
        "--model_arch",
        "vit_base",
        "--strategy_type",
        "one_device",
        "--config_file",
        str(config_file),
        "--params_override",
        "train.total_steps=100000,train.iterations_per_loop=2,train.save_checkpoint_freq=2",
        "--peak_tflops",
        "1",
    ]
    log = tmp_path / "log.txt"
    with open(log, "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while not (run_dir / "ckpt-4.index").exists():
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
    assert process.returncode == -signal.SIGKILL
    text = log.read_text()
    assert "step 2/100000 | loss " in text and " clips/s | MFU " in text and "| ETA " in text

    last_step, last_prefix = vatt.train.list_checkpoints(run_dir)[-1]
    assert last_step >= 4
    resumed = vatt.train.resolve_config(
        "finetune",
        "vit_base",
        config_file=config_file,
        params_override={
            "train": {"total_steps": last_step + 2, "iterations_per_loop": 2},
            "strategy": {"type": "one_device"},
        },
    )
    result = vatt.train.train(resumed, run_dir)
    assert result.restored_from == last_prefix
    assert [record["step"] for record in result.history] == [last_step + 2]
    assert vatt.train.list_checkpoints(run_dir)[-1][0] == last_step + 2
