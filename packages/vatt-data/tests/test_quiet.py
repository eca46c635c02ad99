"""The command line starts fast and quiet: --help without TensorFlow, no TensorFlow start-up noise."""

import os
import subprocess
import sys

import pytest

from vatt.data.quiet import is_startup_noise

STARTUP_NOISE = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796399996.946960    4334 port.cc:153] oneDNN custom operations are on. You may "
    "see slightly different numerical results due to floating-point round-off errors.",
    "I0000 00:00:1796399996.947342    4334 cudart_stub.cc:31] Could not find cuda drivers on your "
    "machine, GPU will not be used.",
    "W0000 00:00:1796400016.088267    4377 some_op.cc:12] a C++ warning",
    "2025-09-17 14:44:05.157831: I external/local_xla/xla/tsl/cuda/cudart_stub.cc:32] Could not "
    "find cuda drivers on your machine, GPU will not be used.",
    "E0000 00:00:1796400016.088267    4377 cuda_platform.cc:52] failed call to cuInit: INTERNAL: "
    "CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)",
]
KEPT = [
    # A driver that is there but fails is a real problem.
    "E0000 00:00:1796400016.088267    4377 cuda_platform.cc:52] failed call to cuInit: INTERNAL: "
    "CUDA error: Failed call to cuInit: CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected",
    "E0000 00:00:1796400016.088267    4377 op_kernel.cc:1829] OP_REQUIRES failed: disk full",
    "F0000 00:00:1796400016.088267    4377 cpu_feature_guard.cc:90] this CPU lacks AVX",
    "/site-packages/keras/src/backend.py:12: UserWarning: a Python warning",
    "Traceback (most recent call last):",
    "INFO: a line that is not TensorFlow's",
]


@pytest.mark.parametrize("line", STARTUP_NOISE)
def test_startup_noise_is_recognised(line):
    assert is_startup_noise(line.encode())


@pytest.mark.parametrize("line", KEPT)
def test_errors_and_everything_else_are_kept(line):
    assert not is_startup_noise(line.encode())


def _without_user_level() -> dict:
    return {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}


def test_help_answers_without_importing_tensorflow():
    code = (
        "import sys\n"
        "from vatt.data.cli import main\n"
        "for argv in (['--help'], ['synth', '--help'], ['validate', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as exit:\n"
        "        assert exit.code == 0\n"
        "heavy = sorted(m for m in ('tensorflow', 'keras') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "vatt-data synth OUT" in result.stdout


@pytest.mark.slow
def test_a_real_command_and_its_workers_print_no_tensorflow_startup_lines(tmp_path):
    command = [sys.executable, "-m", "vatt.data.cli", "synth", "out", "--clips", "2"]
    command += ["--test-clips", "2", "--frames", "2", "--size", "16", "--shards", "2"]
    result = subprocess.run(
        [*command, "--workers", "2"],
        cwd=tmp_path,
        env=_without_user_level(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "wrote 2 train and 2 test clips" in result.stdout
    assert "absl::InitializeLog" not in result.stderr and "(303)" not in result.stderr
    assert not [line for line in result.stderr.splitlines() if is_startup_noise(line.encode())]
