"""Paths as users type them, and the paths a run records."""

import pathlib

import vatt.train
from vatt.train.config import resolve_paths
from vatt.train.paths import user_path


def test_user_path_is_absolute_whatever_the_user_typed(in_tmp_dir, monkeypatch):
    monkeypatch.setenv("HOME", "/home/someone")
    assert user_path("runs/my run/") == f"{in_tmp_dir}/runs/my run"
    assert user_path(pathlib.Path("./runs//pt")) == f"{in_tmp_dir}/runs/pt"
    assert user_path("~/data sets/") == "/home/someone/data sets"
    assert user_path("/abs/run/../pt") == "/abs/pt"
    assert user_path("gs://bucket/run/") == "gs://bucket/run"
    assert user_path("") == ""


def test_resolve_paths_makes_the_recorded_paths_absolute(in_tmp_dir):
    config = vatt.train.resolve_config(
        "pretrain",
        "tx_fac",
        params_override={
            "data": {"train": {"data_dir": "data/", "vocabulary_path": "vocab.txt"}},
            "train": {"override_checkpoint": "runs/pt/ckpt-10"},
        },
    )
    resolved = resolve_paths(config)
    assert resolved.data.train.data_dir == f"{in_tmp_dir}/data"
    assert resolved.data.train.vocabulary_path == f"{in_tmp_dir}/vocab.txt"
    assert resolved.train.override_checkpoint == f"{in_tmp_dir}/runs/pt/ckpt-10"
    assert resolved.data.eval.data_dir == ""  # not set: left to the dataset's registered tables
    assert resolve_paths(resolved) == resolved
