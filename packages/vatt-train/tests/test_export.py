"""vatt-train export: a run's checkpoint becomes Keras weights that vatt.models loads on any backend.

The printed loading lines are run as printed, on TensorFlow here and on JAX in a subprocess, and
must give the outputs of the trained model.
"""

import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import yaml

import vatt.models
import vatt.train
from vatt.models import cli as models_cli
from vatt.train import cli

# Reads the loading lines on stdin, runs them, and saves the logits of the clip in sys.argv[1].
JAX_SCRIPT = """
import sys
import keras
import numpy as np
assert keras.backend.backend() == "jax"
exec(sys.stdin.read())
clip = np.load(sys.argv[1])
np.save(sys.argv[2], keras.ops.convert_to_numpy(model({"video": clip}, training=False)["logits"]))
"""


@pytest.fixture(scope="module")
def run_dir(finetune_overrides, tmp_path_factory):
    """A tiny fine-tuning run of 2 steps: one checkpoint, ckpt-2."""
    overrides = {**finetune_overrides, "train": {**finetune_overrides["train"], "total_steps": 2}}
    config = vatt.train.resolve_config("finetune", "vit_base", params_override=overrides)
    run = tmp_path_factory.mktemp("export") / "runs" / "ft"
    vatt.train.train(config, run)
    assert [step for step, _ in vatt.train.list_checkpoints(run)] == [2]
    return run


@pytest.fixture(scope="module")
def clip_and_logits(run_dir):
    """A clip and the logits of the trained model, restored the way vatt-eval restores it."""
    config = vatt.train.load_run_config(run_dir)
    size, frames = config.data.train.frame_size, config.data.train.num_frames
    clip = np.random.default_rng(0).uniform(-1, 1, (2, frames, size, size, 3)).astype("float32")
    model = vatt.train.build_model(config)
    vatt.train.restore_model_weights(model, run_dir)
    return clip, np.asarray(model({"video": clip}, training=False)["logits"])


def _export(argv, capsys):
    status = cli.main(["export", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def _loading_code(out: str) -> str:
    return textwrap.dedent(out.split("load them with:\n", 1)[1])


@pytest.mark.slow
def test_export_loads_with_the_printed_lines_on_tensorflow_and_jax(
    run_dir, clip_and_logits, tmp_path, monkeypatch, capsys
):
    clip, logits = clip_and_logits
    monkeypatch.chdir(tmp_path)
    run = os.path.relpath(run_dir, tmp_path)  # ../export0/runs/ft
    status, out, err = _export([run, "models/vit.weights.h5"], capsys)
    assert (status, err) == (0, "")
    assert sorted(os.listdir("models")) == ["vit.config.yaml", "vit.weights.h5"]
    code = _loading_code(out)
    assert "vatt.models.build('vit_base', config)" in code
    assert repr(str(tmp_path / "models" / "vit.weights.h5")) in code

    namespace: dict = {}
    exec(code, namespace)
    exported = np.asarray(namespace["model"]({"video": clip}, training=False)["logits"])
    np.testing.assert_allclose(exported, logits, rtol=1e-6, atol=1e-6)

    np.save("clip.npy", clip)
    env = {key: value for key, value in os.environ.items() if key != "KERAS_BACKEND"}
    result = subprocess.run(
        [sys.executable, "-c", JAX_SCRIPT, "clip.npy", "jax_logits.npy"],
        input=code,
        env={**env, "KERAS_BACKEND": "jax"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    np.testing.assert_allclose(np.load("jax_logits.npy"), logits, rtol=1e-4, atol=1e-5)


def test_checkpoint_files_home_and_spaces_name_the_same_export(
    run_dir, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("HOME", str(run_dir.parent))
    monkeypatch.chdir(tmp_path)
    status, out, err = _export(["~/ft/ckpt-2.index", "out dir/vit.weights.h5"], capsys)
    assert (status, err) == (0, "")
    assert f"from {run_dir / 'ckpt-2'})" in out
    config = yaml.safe_load((tmp_path / "out dir" / "vit.config.yaml").read_text())
    assert config == vatt.train.load_run_config(run_dir).model.to_dict()


def _copy_run(run_dir, destination):
    shutil.copytree(run_dir, destination, ignore=shutil.ignore_patterns("train", "eval"))
    return destination


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no run", "no checkpoint at"),
        ("not .weights.h5", "must be named NAME.weights.h5"),
        ("missing step", "holds ckpt-2"),
        ("no config.yaml", "not a checkpoint of a vatt-train run; an official VATT checkpoint"),
        ("changed model", "does not hold the weights of this model"),
    ],
)
def test_bad_inputs_exit_2_with_one_line_and_write_nothing(
    case, message, run_dir, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    run, output = os.path.relpath(run_dir, tmp_path), "vit.weights.h5"
    if case == "no run":
        run = "runs/missing"
    elif case == "not .weights.h5":
        output = "vit.h5"
    elif case == "missing step":
        run = f"{run}/ckpt-7"
    elif case == "no config.yaml":
        run = "official"
        _copy_run(run_dir, tmp_path / run)
        (tmp_path / run / "config.yaml").unlink()
    elif case == "changed model":
        run = "changed"
        _copy_run(run_dir, tmp_path / run)
        config = yaml.safe_load((tmp_path / run / "config.yaml").read_text())
        config["model"]["backbone"]["d_model"] *= 2
        (tmp_path / run / "config.yaml").write_text(yaml.safe_dump(config))
    before = sorted(os.listdir(tmp_path))
    status, out, err = _export([run, output], capsys)
    assert status == 2 and out == ""
    assert err.startswith("vatt-train export: error: ") and err.count("\n") == 1, err
    assert message in err
    assert sorted(os.listdir(tmp_path)) == before


def test_vatt_models_convert_points_a_vatt_train_checkpoint_to_export(run_dir, tmp_path, capsys):
    output = tmp_path / "vit.weights.h5"
    status = models_cli.main(
        ["convert", "--arch", "vit_base", str(run_dir / "ckpt-2"), str(output)]
    )
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1
    assert "written by vatt-train" in err and "vatt-train export RUN_OR_CHECKPOINT" in err
    assert not output.exists()


def test_train_flags_still_parse_next_to_export(tmp_path):
    args = cli.build_parser().parse_args(["--task=finetune", f"--model_dir={tmp_path}"])
    assert args.task_flag == "finetune" and args.task is None
    assert cli.build_parser().parse_args(["pretrain", "--model_dir", "r"]).task == "pretrain"


def test_help_answers_without_importing_tensorflow(light_help):
    out = light_help(
        "vatt.train.cli:main", [["--help"], ["export", "--help"]], ("tensorflow", "keras", "jax")
    )
    assert "vatt-train export RUN OUT.weights.h5" in out
    assert "usage: vatt-train export [-h]" in out
