"""vatt-eval answers --help at once: without importing TensorFlow or Keras."""

import subprocess
import sys


def test_help_answers_without_importing_tensorflow():
    code = (
        "import sys\n"
        "from vatt.eval.cli import main\n"
        "for argv in (['--help'], ['run', '--help'], ['watch', '--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as exit:\n"
        "        assert exit.code == 0\n"
        "heavy = sorted(m for m in ('tensorflow', 'keras', 'sklearn') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "evaluate each new checkpoint as training writes it" in result.stdout
