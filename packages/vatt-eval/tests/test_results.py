"""Results files and TensorBoard scalars of an evaluation."""

import json
import math

import pytest
import tensorflow as tf

from vatt.eval.results import read_results, results_path, write_results


def _scalars(event_dir):
    """{(tag, step): value} of every scalar in the event files of ``event_dir``."""
    found = {}
    for path in sorted(event_dir.glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                found[(value.tag, event.step)] = float(tf.make_ndarray(value.tensor))
    return found


def test_results_json_and_scalars_at_the_step(tmp_path):
    metrics = {"youcook2_txt2vid_embd_R1": 0.25, "audioset_d_prime": math.inf}
    path = write_results(tmp_path, 300, metrics, checkpoint=str(tmp_path / "ckpt-300"))
    assert path == results_path(tmp_path, 300) == tmp_path / "eval" / "results-300.json"
    # Strict JSON: the infinite d' of a perfectly separated class is null.
    payload = json.loads(path.read_text(), parse_constant=lambda name: pytest.fail(name))
    assert payload == {
        "step": 300,
        "checkpoint": str(tmp_path / "ckpt-300"),
        "metrics": {"audioset_d_prime": None, "youcook2_txt2vid_embd_R1": 0.25},
    }
    assert read_results(tmp_path, 300) == payload
    scalars = _scalars(tmp_path / "eval")
    assert scalars[("youcook2_txt2vid_embd_R1", 300)] == 0.25
    assert scalars[("audioset_d_prime", 300)] == math.inf


def test_results_reject_non_numbers_and_report_missing_steps(tmp_path):
    with pytest.raises(TypeError, match="'name' must be a number"):
        write_results(tmp_path, 1, {"name": "high"})
    with pytest.raises(FileNotFoundError, match="no evaluation results for step 7"):
        read_results(tmp_path, 7)
