"""vatt-data's command line starts fast and quiet: --help without TensorFlow, no start-up noise."""

import os
import subprocess
import sys

import pytest

from vatt.core.quiet import is_startup_noise


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
