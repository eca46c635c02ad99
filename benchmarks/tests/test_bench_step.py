"""benchmarks/bench_step.py: bad arguments are refused in one line, exit code 2, before any work;
a tiny step runs and writes its results to a relative path."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "bench_step.py"


def _run(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--batch_size", "0"], "--batch_size must be at least 1, got 0"),
        (["--steps", "-1"], "--steps must be at least 1, got -1"),
        (["--warmup", "0"], "--warmup must be at least 1, got 0"),
        (["--peak_tflops", "0"], "--peak_tflops must be above 0, got 0.0"),
        (["--peak_tflops", "x"], "argument --peak_tflops: invalid float value: 'x'"),
        (["--arch", "nope"], "argument --arch: invalid choice: 'nope'"),
        (["--set", "nokey"], "--set item 'nokey' is not a 'dotted.key=value' pair"),
        (["--set", "backbone.nope=1"], "--set: VideoClassifierConfig.backbone has no key 'nope'"),
        (["--set", "backbone.dropout_rate=2"], "dropout_rate must be in [0, 1), got 2.0"),
        (["--json", "."], "--json . is a folder; give a file name for the results"),
        (["--json", "missing/out.json"], "the folder of missing/out.json does not exist"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    done = _run("--arch", "vit_base", "--tiny", *args)
    assert done.returncode == 2, done.stderr[-2000:]
    assert message in done.stderr.splitlines()[-1]
    assert "Traceback" not in done.stderr
    assert not list(tmp_path.iterdir())


def test_a_tiny_step_writes_its_results_to_a_relative_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    done = _run(
        "--arch", "vit_base", "--tiny", "--batch_size", "2", "--steps", "1", "--warmup", "1",
        "--json", "result.json", "--peak_tflops", "0.001",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads((tmp_path / "result.json").read_text())
    assert result == json.loads(done.stdout.splitlines()[-1])
    assert result["arch"] == "vit_base (tiny)" and result["batch_size"] == 2
    assert result["clips_per_s"] > 0 and result["train_gflops_per_clip"] > 0
    assert result["mfu"] > 0 and result["loss"] > 0
