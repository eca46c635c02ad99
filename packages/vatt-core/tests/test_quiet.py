"""TensorFlow's start-up noise is recognised; errors and everything else are kept. The tools'
log shows vatt's progress and the other libraries' warnings."""

import subprocess
import sys

import pytest

from vatt.core.quiet import is_startup_noise

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


def test_the_tools_log_shows_vatt_from_info_and_the_libraries_from_warning():
    script = """
import logging
from vatt.core.quiet import configure_cli_logging
configure_cli_logging("%(name)s: %(message)s")
logging.getLogger("vatt.train").info("step 2")
logging.getLogger("absl").info("Sharding callback duration: 55 microseconds")
logging.getLogger("tensorflow").info("Collective all_reduce tensors: 1 all_reduces")
logging.getLogger("jax").warning("a warning")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "vatt.train: step 2\njax: a warning\n"
