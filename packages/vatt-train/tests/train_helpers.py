"""Helpers shared by vatt-train's TensorFlow and JAX training tests."""

import pathlib
import subprocess

import tensorflow as tf

import vatt.train


def run_together(commands: list[tuple[list[str], dict]], timeout: float) -> None:
    """Start every ``(argv, env)`` at once (the processes of one distributed run), wait for all
    and assert that each exited 0, showing the end of a failed one's output."""
    processes = [
        subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for argv, env in commands
    ]
    try:
        outputs = [process.communicate(timeout=timeout)[0] for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output[-3000:]


def tensorboard_scalars(run_dir: pathlib.Path) -> dict[str, dict[int, float]]:
    """tag -> {step: value} of the TensorBoard scalars in ``run_dir/train``."""
    scalars = {}
    for path in (run_dir / "train").glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                scalars.setdefault(value.tag, {})[event.step] = float(tf.make_ndarray(value.tensor))
    return scalars


def newest_checkpoint_step(run_dir: pathlib.Path) -> int:
    """The step of the newest complete checkpoint in ``run_dir``; 0 while it holds none.

    Tests that wait for a running trainer poll this rather than one checkpoint's files: rotation
    in a fast run can delete a given ``ckpt-N`` between two looks.
    """
    held = vatt.train.list_checkpoints(run_dir) if run_dir.is_dir() else []
    return held[-1][0] if held else 0
