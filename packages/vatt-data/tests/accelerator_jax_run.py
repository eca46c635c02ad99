"""Run by test_accelerator.py with KERAS_BACKEND=jax and two CPU devices: finish_batch on the clips
of DIR/clips.npz, eagerly, under jax.jit and under jax.jit on a batch sharded over both devices,
into DIR/finished.npz. Imports no TensorFlow (asserted).

Usage: python accelerator_jax_run.py DIR FRAME_SIZE
"""

import functools
import itertools
import pathlib
import sys

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

import vatt.data
from vatt.data.accelerator import finish_batch


def main(workdir: pathlib.Path, frame_size: int) -> None:
    assert vatt.data.finish_batch is finish_batch
    clips = dict(np.load(workdir / "clips.npz"))
    assert jax.device_count() == 2, jax.devices()
    sharding = NamedSharding(Mesh(np.array(jax.devices()), ("batch",)), PartitionSpec("batch"))
    outputs = {}
    for zero_centering, resize in itertools.product([True, False], repeat=2):
        batch = {k: v for k, v in clips.items() if resize or k != "video_window"}
        finish = functools.partial(
            finish_batch, zero_centering=zero_centering, frame_size=frame_size
        )
        jitted = jax.jit(finish)
        sharded = jax.device_put(batch, sharding)
        compiled = jitted.lower(sharded).compile()
        # The batch stays sharded: each device finishes its own clips, nothing is gathered.
        hlo = compiled.as_text()
        assert not any(op in hlo for op in ("all-gather", "all-to-all", "collective-permute"))
        finished = compiled(sharded)["video"]
        assert finished.sharding.is_equivalent_to(sharding, finished.ndim), finished.sharding
        tag = f"{int(zero_centering)}-{int(resize)}"
        outputs[f"eager-{tag}"] = np.asarray(finish(batch)["video"])
        outputs[f"jit-{tag}"] = np.asarray(jitted(batch)["video"])
        outputs[f"sharded-{tag}"] = np.asarray(finished)
    assert "tensorflow" not in sys.modules, "finish_batch imported TensorFlow"
    np.savez(workdir / "finished.npz", **outputs)


if __name__ == "__main__":
    main(pathlib.Path(sys.argv[1]), int(sys.argv[2]))
