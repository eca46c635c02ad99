"""Learning-rate schedules against the original's formulas (spec §4.2), written plainly."""

import json
import math
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from vatt.train.schedules import ConstantWithWarmup, CosineWithWarmup, StepCosineWithWarmup


def reference_step_cosine(step, levels, starts, total, warmup, warmup_lr):
    """The original's formula, for steps where it is defined (before the empty last segment)."""
    if step < warmup:
        return warmup_lr + step / warmup * (levels[0] - warmup_lr)
    k = max(i for i, s in enumerate(starts) if s <= step)
    end = starts[k + 1] if k + 1 < len(starts) else total
    low = levels[k + 1] if k + 1 < len(levels) else 0.0
    return (levels[k] - low) * (
        1 + math.cos(math.pi * (step - starts[k]) / (end - starts[k]))
    ) / 2 + low


def test_step_cosine_pretraining_default_matches_the_original():
    schedule = StepCosineWithWarmup(
        (1e-4, 5e-5), (5000, 500000), total_steps=500000, warmup_steps=5000
    )
    for step in [0, 1, 2500, 4999, 5000, 5001, 100000, 252500, 400000, 499999]:
        expected = reference_step_cosine(step, (1e-4, 5e-5), (5000, 500000), 500000, 5000, 0.0)
        assert float(schedule(step)) == pytest.approx(expected, rel=1e-5, abs=1e-12)
    assert float(schedule(2500)) == pytest.approx(5e-5)
    assert float(schedule(252500)) == pytest.approx(7.5e-5, rel=1e-5)


def test_step_cosine_is_finite_at_and_after_total_steps():
    # The original divided by the empty last segment's length: NaN from step 500000 on.
    schedule = StepCosineWithWarmup(
        (1e-4, 5e-5), (5000, 500000), total_steps=500000, warmup_steps=5000
    )
    values = [float(schedule(s)) for s in (500000, 500001, 10**7)]
    assert np.all(np.isfinite(values))
    assert values == pytest.approx([5e-5] * 3)


def test_step_cosine_three_levels_and_warmup_start():
    levels, starts = (3e-4, 1e-4, 2e-5), (100, 400, 700)
    schedule = StepCosineWithWarmup(
        levels, starts, total_steps=1000, warmup_steps=100, warmup_learning_rate=1e-5
    )
    for step in range(0, 1000, 37):
        expected = reference_step_cosine(step, levels, starts, 1000, 100, 1e-5)
        assert float(schedule(step)) == pytest.approx(expected, rel=1e-5, abs=1e-12)
    assert float(schedule(1000)) == pytest.approx(0.0, abs=1e-12)
    assert float(schedule(5000)) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(
    ("levels", "starts", "message"),
    [
        ((1e-4,), (10,), "must equal warmup_steps=5"),
        ((1e-4, 1e-5), (5,), "same length"),
        ((1e-4, 1e-5), (5, 200), "at most total_steps=100"),
    ],
)
def test_step_cosine_rejects_inconsistent_steps(levels, starts, message):
    with pytest.raises(ValueError, match=message):
        StepCosineWithWarmup(levels, starts, total_steps=100, warmup_steps=5)


def test_cosine_with_warmup_matches_the_original_and_stays_at_zero():
    schedule = CosineWithWarmup(0.005, total_steps=100000, warmup_steps=2500)
    assert float(schedule(0)) == 0.0
    assert float(schedule(1250)) == pytest.approx(0.0025)
    assert float(schedule(2500)) == pytest.approx(0.005)
    middle = 2500 + (100000 - 2500) / 2
    assert float(schedule(middle)) == pytest.approx(0.0025, rel=1e-5)
    assert float(schedule(100000)) == pytest.approx(0.0, abs=1e-12)
    assert float(schedule(150000)) == pytest.approx(0.0, abs=1e-12)


def test_constant_with_warmup():
    schedule = ConstantWithWarmup(1e-3, warmup_steps=10)
    assert [float(schedule(s)) for s in (0, 5, 10, 10**6)] == pytest.approx([0, 5e-4, 1e-3, 1e-3])


@pytest.mark.parametrize(
    "schedule",
    [
        ConstantWithWarmup(1e-3, warmup_steps=10, warmup_learning_rate=1e-5),
        CosineWithWarmup(1e-3, total_steps=100, warmup_steps=10),
        StepCosineWithWarmup([1e-3, 5e-4], [10, 60], total_steps=100, warmup_steps=10),
    ],
    ids=lambda schedule: type(schedule).__name__,
)
def test_schedules_round_trip_through_keras_serialization(schedule):
    restored = keras.optimizers.schedules.deserialize(
        keras.optimizers.schedules.serialize(schedule)
    )
    assert type(restored) is type(schedule) and restored.get_config() == schedule.get_config()
    steps = (0, 5, 10, 50, 100, 200)
    assert [float(restored(s)) for s in steps] == [float(schedule(s)) for s in steps]


JAX_SCHEDULES = """
import json, sys
import jax
from vatt.train.schedules import ConstantWithWarmup, CosineWithWarmup, StepCosineWithWarmup
schedules = [
    ConstantWithWarmup(1e-3, warmup_steps=10, warmup_learning_rate=1e-5),
    CosineWithWarmup(1e-3, total_steps=100, warmup_steps=10),
    StepCosineWithWarmup([1e-3, 5e-4, 1e-4], [10, 60, 100], total_steps=100, warmup_steps=10),
]
steps = jax.numpy.asarray(json.loads(sys.argv[1]))
print(json.dumps([jax.jit(jax.vmap(schedule))(steps).tolist() for schedule in schedules]))
"""


def test_schedules_give_the_same_values_under_jax_jit():
    """The optimizer evaluates its schedule inside the compiled step: under ``jax.jit`` (traced
    step) on the JAX backend (a subprocess; this suite runs on TensorFlow)."""
    steps = [0, 5, 10, 11, 35, 59, 60, 61, 99, 100, 150]
    result = subprocess.run(
        [sys.executable, "-c", JAX_SCHEDULES, json.dumps(steps)],
        capture_output=True,
        text=True,
        env={**os.environ, "KERAS_BACKEND": "jax"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    on_jax = json.loads(result.stdout.strip().splitlines()[-1])
    schedules = [
        ConstantWithWarmup(1e-3, warmup_steps=10, warmup_learning_rate=1e-5),
        CosineWithWarmup(1e-3, total_steps=100, warmup_steps=10),
        StepCosineWithWarmup([1e-3, 5e-4, 1e-4], [10, 60, 100], total_steps=100, warmup_steps=10),
    ]
    for schedule, values in zip(schedules, on_jax, strict=True):
        expected = [float(schedule(step)) for step in steps]
        assert values == pytest.approx(expected, rel=1e-6, abs=1e-12), type(schedule).__name__
