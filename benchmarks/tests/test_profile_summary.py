"""benchmarks/profile_summary.py on a synthetic GPU trace, from a temporary working directory."""

import gzip
import json
import pathlib
import subprocess
import sys

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "profile_summary.py"

HLO = """HloModule jit_step, entry_computation_layout={()->()}

ENTRY %main.1 () -> f32[] {
  %gemm.1 = bf16[8,8]{1,0} custom-call(), custom_call_target="__cublas$gemm", metadata={op_name="jit(step)/jvp(vit)/transformer/layer_0/feed_forward/dense_gelu_dense/wi/dot_general"}
  %loop_select_fusion.2 = bf16[8,8]{1,0} fusion(), kind=kLoop, metadata={op_name="jit(step)/jvp(vit)/transformer/layer_0/feed_forward/dropout_3/select_n"}
  %fmha.3 = bf16[8,8]{1,0} custom-call(), custom_call_target="__cudnn$fmhaSoftmax", metadata={op_name="jit(step)/jvp(vit)/transformer/layer_0/multi_head_attention/dot_product_attention"}
  ROOT %adam_fusion.4 = f32[] fusion(), kind=kLoop, metadata={op_name="jit(step)/adam/mul"}
}
"""


def _trace(path: pathlib.Path, steps: int = 2) -> None:
    events = [
        {"ph": "M", "name": "process_name", "pid": 1, "args": {"name": "/device:GPU:0"}},
        {"ph": "M", "name": "thread_name", "pid": 1, "tid": 7, "args": {"name": "XLA Ops"}},
        {"ph": "M", "name": "process_name", "pid": 2, "args": {"name": "/host:CPU"}},
    ]
    durations = {"gemm.1": 600, "loop_select_fusion.2": 250, "fmha.3": 100, "adam_fusion.4": 50}
    for _ in range(steps):
        for name, dur in durations.items():
            events.append(
                {
                    "ph": "X",
                    "pid": 1,
                    "tid": 7,
                    "ts": 0,
                    "dur": dur,
                    "name": name,
                    "args": {"hlo_op": name, "hlo_module": "jit_step"},
                }
            )
    events.append({"ph": "X", "pid": 2, "tid": 1, "ts": 0, "dur": 99999, "name": "python"})
    with gzip.open(path, "wt") as stream:
        json.dump({"traceEvents": events}, stream)


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60
    )


def test_device_time_split_by_kind_and_by_part_of_the_model(in_tmp_dir):
    _trace(pathlib.Path("step.trace.json.gz"))
    pathlib.Path("step.hlo.txt").write_text(HLO)
    result = _run("step.trace.json.gz", "--steps", "2", "--hlo", "step.hlo.txt")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "device XLA Ops: 8 operations, busy 1.00 ms per step" in out
    assert "| matrix product | 0.60 | 60.0% |" in out
    assert "| fused attention | 0.10 | 10.0% |" in out
    assert "| MLP | 0.60 | 60.0% |" in out
    assert "| dropout | 0.25 | 25.0% |" in out
    assert "| attention | 0.10 | 10.0% |" in out
    assert "| optimizer | 0.05 | 5.0% |" in out
    assert "python" not in out  # host events are not device time


@pytest.mark.parametrize(
    ("make", "args", "message"),
    [
        (None, ["missing.trace.json.gz"], "is not a file"),
        ("garbage", ["bad.trace.json.gz"], "cannot be read as the .trace.json.gz"),
        ("not json", ["bad.trace.json.gz"], "is not a Chrome trace"),
        ("trace", ["bad.trace.json.gz", "--hlo", "missing.txt"], "missing.txt is not a file"),
        ("trace", ["bad.trace.json.gz", "--steps", "0"], "--steps and --top must be at least 1"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(in_tmp_dir, make, args, message):
    if make == "garbage":
        pathlib.Path("bad.trace.json.gz").write_bytes(b"not gzip")
    elif make == "not json":
        pathlib.Path("bad.trace.json.gz").write_bytes(gzip.compress(b"{oops"))
    elif make == "trace":
        _trace(pathlib.Path("bad.trace.json.gz"))
    result = _run(*args)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
