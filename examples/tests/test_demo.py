"""The main job at its smallest size: the whole workflow runs and visibly learns."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest
import yaml

# Retrieval must beat chance by this factor at R@5 after the tiny pretraining (a random ranking
# gets exactly chance; the tiny run reaches about 4x on this machine).
RETRIEVAL_MULTIPLE_OF_CHANCE = 2.0


def _run(demo, *args: str, timeout: int) -> subprocess.CompletedProcess:
    """``python examples/demo.py ARGS`` in its own process, output captured, with a user's
    environment (other packages' test conftests set ``TF_CPP_MIN_LOG_LEVEL``; a shell does not)."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run(
        [sys.executable, demo.__file__, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


@pytest.mark.slow
def test_tiny_demo_learns_and_writes_its_report(demo, in_tmp_dir):
    # The command users run, with its default relative output folder (runs/demo), in its own
    # process: TensorFlow's collective ops cannot be shared with the MirroredStrategies that
    # other tests of this session created.
    done = _run(demo, "--size", "tiny", timeout=1200)
    out = in_tmp_dir / "runs" / "demo"
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "[5/5] report" in done.stdout
    assert "step 700/700" in done.stderr  # the progress lines are logged
    # Only vatt's progress, indented under its stage: no TensorFlow start-up lines, none of the
    # INFO lines of its collectives or checkpoint writer (about 40 per run until they were hidden).
    noise = [
        line
        for line in done.stderr.splitlines()
        if (line.strip() and not line.startswith("      "))
        or "Collective" in line
        or "Sharding callback" in line
        or "MirroredStrategy" in line
    ]
    assert not noise, noise[:5]
    summary = json.loads((out / "report.json").read_text())

    for task in ("txt2vid", "aud2vid"):
        r5 = summary["retrieval"][f"{task}_R5"]
        assert r5["pretrained"] >= RETRIEVAL_MULTIPLE_OF_CHANCE * r5["chance"], (task, r5)
        rank = summary["retrieval"][f"{task}_MedianRank"]
        assert rank["pretrained"] < rank["chance"], (task, rank)
    # The linear probe separates learned features from random ones (pretrained 0.21-0.54 in
    # runs here, random init 0.08-0.125, chance 1/12). The SVM probe only has to beat chance: on
    # 24 test clips it is coarse, random features reach 0.25-0.375 with it, and so did the
    # pretrained ones in one CI run whose linear probe was 0.458.
    linear = summary["probe"]["linear_probe_top1"]
    assert linear["pretrained"] >= 2 * linear["chance"], linear
    assert linear["pretrained"] > linear["random_init"], linear
    svm = summary["probe"]["svm_probe_top1"]
    assert svm["pretrained"] > svm["chance"], svm

    report = (out / "report.md").read_text()
    assert "| txt2vid_R1 |" in report and "synthetic_top_1_accuracy" in report
    for run in ("pretrain", "finetune"):
        assert (out / run / "config.yaml").is_file()
        assert list((out / run / "train").iterdir()), f"no TensorBoard events in {run}/train"
        assert list((out / run / "eval").glob("results-*.json"))
    # What the runs record does not depend on the working directory.
    recorded = yaml.safe_load((out / "finetune" / "config.yaml").read_text())
    assert recorded["data"]["train"]["data_dir"] == str(out / "data")
    assert recorded["train"]["override_checkpoint"] == str(out / "pretrain" / "ckpt-700")


def test_unknown_size_is_a_clear_error(demo, tmp_path):
    with pytest.raises(ValueError, match="unknown demo size 'huge'; choose one of tiny"):
        demo.run_demo(tmp_path, "huge")


def test_main_refuses_a_non_empty_output_folder(demo, in_tmp_dir, capsys):
    pathlib.Path("runs/demo").mkdir(parents=True)
    pathlib.Path("runs/demo/old.txt").write_text("x")
    assert demo.main(["--out", "runs/demo/", "--size", "tiny"]) == 2
    assert "is not empty" in capsys.readouterr().err


def test_main_refuses_no_replicas(demo, in_tmp_dir, capsys):
    with pytest.raises(SystemExit) as exit:
        demo.main(["--replicas", "0"])
    assert exit.value.code == 2
    assert "--replicas must be at least 1, got 0" in capsys.readouterr().err
    assert not pathlib.Path("runs").exists()


def test_main_refuses_a_file_as_output_folder(demo, in_tmp_dir, capsys):
    pathlib.Path("report.md").write_text("x")
    assert demo.main(["--out", "report.md", "--size", "tiny"]) == 2
    assert capsys.readouterr().err == "report.md is a file: pass a folder to --out\n"
    assert pathlib.Path("report.md").read_text() == "x"


def test_a_bad_argument_answers_before_tensorflow_starts(demo, in_tmp_dir):
    done = _run(demo, "--size", "huge", timeout=60)
    assert done.returncode == 2
    # argparse's usage and its one error line, and none of TensorFlow's start-up lines.
    assert done.stderr.splitlines()[-1].startswith("./dev demo: error: argument --size:")
    assert "absl" not in done.stderr and "tensorflow" not in done.stderr.lower()
