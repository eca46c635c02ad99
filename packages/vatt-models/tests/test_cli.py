"""The vatt-models command starts fast and quiet: --help without Keras or TensorFlow, and none of
TensorFlow's start-up lines unless the user sets TF_CPP_MIN_LOG_LEVEL."""

import os
import subprocess
import sys

import pytest

from vatt.core.quiet import is_startup_noise


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    base = {
        k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "KERAS_BACKEND")
    }
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**base, "KERAS_BACKEND": "tensorflow", **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_help_answers_without_importing_keras_or_tensorflow():
    code = (
        "import sys\n"
        "from vatt.models.cli import main\n"
        "for argv in (['--help'], ['convert', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as exit:\n"
        "        assert exit.code == 0\n"
        "heavy = sorted(m for m in ('tensorflow', 'keras', 'jax') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    result = _python(code)
    assert result.returncode == 0, result.stderr
    assert "official TF checkpoint -> .weights.h5" in result.stdout


@pytest.mark.slow
def test_list_prints_no_tensorflow_startup_lines():
    result = _python("import sys\nfrom vatt.models.cli import main\nsys.exit(main(['list']))")
    assert result.returncode == 0, result.stderr
    assert "vit_base" in result.stdout.split()
    assert "absl::InitializeLog" not in result.stderr and "(303)" not in result.stderr
    assert not [line for line in result.stderr.splitlines() if is_startup_noise(line.encode())]


@pytest.mark.slow
def test_a_level_the_user_sets_is_kept():
    code = (
        "import os\n"
        "from vatt.core.quiet import import_tensorflow_quietly\n"
        "import_tensorflow_quietly()\n"
        "print(os.environ['TF_CPP_MIN_LOG_LEVEL'], 'VATT_DEFAULT_TF_CPP_MIN_LOG_LEVEL' in os.environ)"
    )
    assert _python(code, TF_CPP_MIN_LOG_LEVEL="1").stdout.split() == ["1", "False"]


def test_bad_checkpoint_is_one_line_and_verbose_adds_the_traceback(capsys, tmp_path, monkeypatch):
    from vatt.models import cli

    monkeypatch.chdir(tmp_path)
    argv = ["convert", "--arch", "vit_base", "runs/missing/ckpt-3", "out.weights.h5"]
    assert cli.main(argv) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("vatt-models convert: no TensorFlow checkpoint at runs/missing/ckpt-3")
    assert cli.main([*argv, "--verbose"]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and not list(tmp_path.iterdir())
