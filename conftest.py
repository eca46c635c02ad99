"""Fixtures every package's tests share (pytest loads this file for any test under the root)."""

import hashlib
import pathlib
import subprocess
import sys

import pytest


@pytest.fixture
def in_tmp_dir(tmp_path, monkeypatch):
    """Run the test inside ``tmp_path``, so that it passes relative paths as users type them."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _file_hashes(folder: pathlib.Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.fixture
def file_hashes():
    """``folder -> {relative path: sha256}`` of every file below ``folder``: compare two calls to
    check that a refused command left a run byte for byte."""
    return _file_hashes


def _help_output(entry_point: str, argvs: list[list[str]], heavy: tuple[str, ...]) -> str:
    module, _, function = entry_point.partition(":")
    code = (
        "import sys\n"
        f"from {module} import {function} as main\n"
        f"for argv in {argvs!r}:\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as exit:\n"
        "        assert exit.code == 0, (argv, exit.code)\n"
        f"imported = sorted(m for m in {heavy!r} if m in sys.modules)\n"
        "assert not imported, imported\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def light_help():
    """``(entry_point "module:function", argvs, heavy modules) -> stdout``: runs the command's
    ``main`` with each argv (``--help`` ones) in a fresh interpreter and checks that each exits
    with status 0 without importing any of the heavy modules (a CLI answers ``--help`` at once)."""
    return _help_output
