"""The vatt-train command: flags (new and original), errors, and a run killed and resumed."""

import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest
import yaml
from train_helpers import newest_checkpoint_step

import vatt.train
from vatt.train import cli
from vatt.train.optim_config import AdamWConfig

# Fine-tune vit_base into ./run.
FINETUNE_VIT = ["finetune", "--model_dir", "run", "--model_arch", "vit_base"]


def _config(argv):
    return cli.config_from_args(cli.build_parser().parse_args(argv))


def test_new_and_original_flags_give_the_same_config(in_tmp_dir):
    new = _config(
        [
            "pretrain",
            "--model_dir",
            "runs/tx",
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
            "--model_dir=runs/tx",
            "--model_arch=Tx_FAC",
            "--strategy_type=one_device",
        ]
    )
    assert new == original
    assert new.mode == "pretrain" and new.strategy.type == "one_device"


@pytest.mark.parametrize("given", ["ckpt-3", "ckpt-3.index", "./ckpt-3.data-00000-of-00001"])
def test_overrides_checkpoint_and_tpu_flags_reach_the_config(in_tmp_dir, given):
    pathlib.Path("ckpt-3.index").write_text("x")
    pathlib.Path("ckpt-3.data-00000-of-00001").write_text("x")
    pathlib.Path("file.yaml").write_text(yaml.safe_dump({"train": {"total_steps": 700000}}))
    config = _config(
        [
            *FINETUNE_VIT,
            "--strategy_type",
            "tpu",
            "--tpu",
            "grpc://10.0.0.1:8470",
            "--config_file",
            "file.yaml",
            "--params_override",
            "optimizer.name=adamw,train.total_steps=50,schedule.warmup_steps=5",
            "--params_override",
            "{data: {train: {name: ucf101}}}",
            "--override_checkpoint",
            given,
            "--peak_tflops",
            "989",
        ]
    )
    assert config.train.total_steps == 50
    assert config.optimizer == AdamWConfig()
    assert config.model.num_classes == 101
    assert (config.strategy.type, config.strategy.tpu) == ("tpu", "grpc://10.0.0.1:8470")
    assert config.train.override_checkpoint == str(in_tmp_dir / "ckpt-3")
    assert config.train.peak_tflops_per_device == 989.0


def _make_file(name):
    pathlib.Path(name).write_text("not a directory")


# A flag, what the working directory holds beforehand, and the text the error line must hold.
BAD_INPUTS = {
    "eval mode": (["--mode=eval"], None, "vatt-eval"),
    "task disagrees": (["--task", "finetune"], None, "disagree"),
    "unknown arch": (["--model_arch", "vit_huge"], None, "unknown arch 'vit_huge'"),
    "unknown key": (
        ["--params_override", "train.bogus=1"],
        None,
        "config.train has no key 'bogus'; valid keys",
    ),
    "wrong type": (
        ["--params_override", "train.total_steps=many"],
        None,
        "train.total_steps: Value 'many' of type 'str' could not be converted to Integer",
    ),
    "not a pair": (["--params_override", "train.total_steps"], None, "not a 'dotted.key=value'"),
    "invalid value": (
        ["--params_override", "train.total_steps=0"],
        None,
        "train.total_steps = 0 is invalid",
    ),
    "missing config file": (["--config_file", "my config.yaml"], None, "does not exist"),
    "config file is a folder": (["--config_file", "."], None, "is not a file"),
    "missing checkpoint": (
        ["--override_checkpoint", "old run/ckpt-5.index"],
        None,
        "no checkpoint at",
    ),
    "missing data dir": (
        ["--params_override", "data.train.data_dir=no such data"],
        None,
        "No shards match",
    ),
    "empty data dir": (
        ["--params_override", "data.train.data_dir=empty/"],
        lambda: pathlib.Path("empty").mkdir(),
        "No shards match",
    ),
    "unknown dataset": (
        ["--params_override", "data.train.datasets=[nope]"],
        None,
        "Unknown dataset 'nope'",
    ),
    "model_dir is a file": (["--model_dir", "run.txt"], lambda: _make_file("run.txt"), "is a file"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_each_bad_input_is_one_line_exit_2_and_writes_nothing(case, in_tmp_dir, capsys):
    argv, prepare, message = BAD_INPUTS[case]
    if prepare:
        prepare()
    before = sorted(p.name for p in in_tmp_dir.iterdir())
    model_dir = [] if "--model_dir" in argv else ["--model_dir", "run"]
    status = cli.main(["pretrain", "--strategy_type", "one_device", *model_dir, *argv])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("vatt-train")]
    assert status == 2, err
    assert len(lines) == 1 and lines[0].startswith("vatt-train: error: "), err
    assert message in lines[0]
    assert "Traceback" not in err
    assert sorted(p.name for p in in_tmp_dir.iterdir()) == before  # no run directory


def test_verbose_shows_the_traceback(in_tmp_dir, capsys):
    argv = ["pretrain", "--model_dir", "run", "--model_arch", "vit_huge", "--verbose"]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err
    assert err.strip().splitlines()[-1].startswith("vatt-train: error: unknown arch")


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
        "--coordinator_address",
        "--num_processes",
        "--process_id",
        "--peak_tflops",
        "--verbose",
    ):
        assert flag in text
    assert "its .index or .data-* file names it too" in " ".join(text.split())


def test_killed_run_resumes_from_its_last_checkpoint(finetune_overrides, in_tmp_dir):
    config_file = "tiny.yaml"
    pathlib.Path(config_file).write_text(
        yaml.safe_dump({k: v for k, v in finetune_overrides.items() if k != "strategy"})
    )
    run_dir = in_tmp_dir / "run"
    command = [
        sys.executable,
        "-m",
        "vatt.train.cli",
        *FINETUNE_VIT,
        "--strategy_type",
        "one_device",
        "--config_file",
        config_file,
        "--params_override",
        "train.total_steps=100000,train.iterations_per_loop=2,train.save_checkpoint_freq=2",
        "--peak_tflops",
        "1",
    ]
    log = in_tmp_dir / "log.txt"
    with open(log, "w") as out:
        # A user's shell: no TF_CPP_MIN_LOG_LEVEL (the tests' conftest sets one).
        env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 300
        while newest_checkpoint_step(run_dir) < 4:
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
    # Only vatt's progress: no TensorFlow start-up lines, no INFO line of its checkpoint writer.
    assert all(" vatt.train " in line for line in text.splitlines()), text[:3000]

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
    result = vatt.train.train(resumed, "run")
    assert result.restored_from == last_prefix
    assert [record["step"] for record in result.history] == [last_step + 2]
    assert vatt.train.list_checkpoints(run_dir)[-1][0] == last_step + 2


def test_resuming_refuses_what_the_checkpoints_do_not_fit_and_records_safe_changes(
    finetune_overrides, synthetic_dir, in_tmp_dir, monkeypatch, capsys, file_hashes
):
    tiny = {k: v for k, v in finetune_overrides.items() if k != "strategy"}
    pathlib.Path("tiny.yaml").write_text(yaml.safe_dump(tiny))
    flags = ["--model_arch", "vit_base", "--strategy_type", "one_device"]
    first = ["--config_file", "tiny.yaml", "--params_override"]
    data = f"data.train.data_dir={os.path.relpath(synthetic_dir)}/"
    assert (
        cli.main(
            ["finetune", "--model_dir", "runs/ft/", *flags, *first, f"{data},train.total_steps=2"]
        )
        == 0
    )
    run = in_tmp_dir / "runs" / "ft"
    recorded = yaml.safe_load((run / "config.yaml").read_text())
    assert recorded["data"]["train"]["data_dir"] == str(synthetic_dir)
    assert [step for step, _ in vatt.train.list_checkpoints("runs/ft")] == [2]
    before = file_hashes(run)
    capsys.readouterr()

    for change, key in [
        ("model.backbone.d_model=64", "model.backbone.d_model: recorded 32, requested 64"),
        ("optimizer.name=adam", "optimizer.name: recorded 'momentum', requested 'adam'"),
    ]:
        argv = [*first, f"{data},train.total_steps=4,{change}"]
        assert cli.main(["finetune", "--model_dir", "runs/ft", *flags, *argv]) == 2
        err = capsys.readouterr().err
        (line,) = [line for line in err.splitlines() if line.startswith("vatt-train")]
        assert key in line and "train into a new --model_dir" in line, line
        assert file_hashes(run) == before  # byte for byte
    # The run still loads: its recorded config builds the model its checkpoint holds.
    config = vatt.train.load_run_config("runs/ft")
    vatt.train.restore_model_weights(vatt.train.build_model(config), "runs/ft")

    # Safe changes, from another working directory, the run given with ~ and the data elsewhere.
    monkeypatch.setenv("HOME", str(in_tmp_dir))
    monkeypatch.chdir(in_tmp_dir / "runs")
    data = f"data.train.data_dir={os.path.relpath(synthetic_dir)}"
    argv = ["--config_file", "~/tiny.yaml", "--params_override", f"{data},train.total_steps=4"]
    assert cli.main(["finetune", "--model_dir", "~/runs/ft", *flags, *argv]) == 0
    assert [step for step, _ in vatt.train.list_checkpoints("ft")] == [2, 4]
    recorded = yaml.safe_load((run / "config.yaml").read_text())
    assert recorded["train"]["total_steps"] == 4
    assert recorded["data"]["train"]["data_dir"] == str(synthetic_dir)
