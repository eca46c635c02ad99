"""Paths as users type them: relative, absolute, with ``~``, a trailing slash or spaces."""

from __future__ import annotations

import os


def user_path(path: str | os.PathLike) -> str:
    """``path`` made independent of the working directory.

    ``~`` is expanded, a relative path is made absolute against the current working directory,
    ``..`` and a trailing slash are normalised away and spaces are kept. A URL such as
    ``gs://bucket/run`` keeps its form (less a trailing slash); an empty path stays empty (a
    config's "not set").
    """
    text = os.fspath(path)
    if not text:
        return text
    if "://" in text:
        return text.rstrip("/") or text
    return os.path.abspath(os.path.expanduser(text))
