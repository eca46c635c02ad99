"""The compiled step loop on a toy model: clipping, stopping at and skipping non-finite steps."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import vatt.losses
from vatt.train.steps import ClipGroup, NonFiniteLossError, StepRunner


class Toy(keras.Model):
    """Two Dense layers: ``body`` and ``cls`` (the parts fine-tuning clips separately)."""

    def __init__(self):
        super().__init__()
        self.body = keras.layers.Dense(4, kernel_initializer="ones")
        self.cls = keras.layers.Dense(1, kernel_initializer="ones")

    def call(self, batch, training=False):
        return {"logits": self.cls(self.body(batch["x"]))}


def _squared_error(outputs, batch):
    error = tf.reduce_mean(tf.square(outputs["logits"][:, 0] - batch["y"]))
    return {"error": error, "total": error}


def _step_runner(
    strategy, make_model, example, make_optimizer, objective, terms, groups, **options
):
    """A StepRunner of ``make_model()`` (built on ``example``) and ``make_optimizer()``, made under
    ``strategy``; ``groups(model)`` are its clip groups."""
    with strategy.scope():
        model = make_model()
        model(example)
        optimizer = make_optimizer()
        optimizer.build(model.trainable_variables)
        step = tf.Variable(0, dtype=tf.int64)
        skipped = tf.Variable(0, dtype=tf.int64)
    return StepRunner(
        strategy, model, optimizer, objective, terms, groups(model), step, skipped, **options
    )


def _batches(strategy, examples, global_batch_size):
    """The examples in global batches of ``global_batch_size`` over ``strategy``, repeated."""
    dataset = strategy.distribute_datasets_from_function(
        lambda context: (
            tf.data.Dataset.from_tensor_slices(examples)
            .batch(context.get_per_replica_batch_size(global_batch_size))
            .repeat()
        )
    )
    return iter(dataset)


def _runner(
    strategy,
    x,
    y,
    *,
    clip_norms=(0.0, 0.0),
    stop=True,
    learning_rate=0.1,
    flags=None,
    count_keys=(),
):
    runner = _step_runner(
        strategy,
        Toy,
        {"x": x[:1]},
        lambda: keras.optimizers.SGD(learning_rate),
        _squared_error,
        ["error", "total"],
        lambda model: [
            ClipGroup(model.body.trainable_variables, clip_norms[0]),
            ClipGroup(model.cls.trainable_variables, clip_norms[1]),
        ],
        stop_on_non_finite=stop,
        count_keys=count_keys,
    )
    return runner, _batches(strategy, {"x": x, "y": y, **(flags or {})}, len(y))


def _data(poison=False):
    x = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
    if poison:
        x[1, 2] = np.nan
    return x, np.array([1.0, -1.0, 0.5, 2.0], np.float32)


def test_one_step_is_plain_sgd_with_per_group_clipping():
    x, y = _data()
    runner, iterator = _runner(
        tf.distribute.OneDeviceStrategy("/cpu:0"), x, y, clip_norms=(0.5, 0.0)
    )
    model = runner.model
    before = [v.numpy() for v in model.trainable_variables]
    with tf.GradientTape() as tape:
        loss = _squared_error(model({"x": x}), {"y": y})["total"]
    grads = [g.numpy() for g in tape.gradient(loss, model.trainable_variables)]
    outcome = runner.run(iterator, 1)
    assert outcome.applied_steps == 1 and outcome.non_finite is None
    assert outcome.mean_terms["total"] == pytest.approx(float(loss), rel=1e-6)
    body = len(model.body.trainable_variables)
    norm = np.sqrt(sum((g**2).sum() for g in grads[:body]))
    assert norm > 0.5  # the clip is active
    expected = [
        w - 0.1 * g * (0.5 / norm if i < body else 1.0)
        for i, (w, g) in enumerate(zip(before, grads, strict=True))
    ]
    for variable, value in zip(model.trainable_variables, expected, strict=True):
        np.testing.assert_allclose(variable.numpy(), value, rtol=1e-5)
    assert int(runner.step.numpy()) == 1


def test_non_finite_step_stops_the_loop_before_its_update():
    x, y = _data(poison=True)
    runner, iterator = _runner(tf.distribute.OneDeviceStrategy("/cpu:0"), x, y)
    before = [v.numpy() for v in runner.model.trainable_variables]
    outcome = runner.run(iterator, 3)
    assert outcome.applied_steps == 0
    assert set(outcome.non_finite) == {"error", "total", "gradient_norm"}
    assert np.isnan(outcome.non_finite["total"])
    for variable, value in zip(runner.model.trainable_variables, before, strict=True):
        np.testing.assert_array_equal(variable.numpy(), value)
    error = NonFiniteLossError(int(runner.step.numpy()) + 1, outcome.non_finite)
    assert str(error).startswith("non-finite loss at step 1: error = nan, total = nan")


def test_skip_mode_counts_non_finite_steps_and_never_applies_them():
    x, y = _data(poison=True)
    runner, iterator = _runner(
        tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]), x, y, stop=False
    )
    before = [v.numpy() for v in runner.model.trainable_variables]
    outcome = runner.run(iterator, 3)
    assert outcome.applied_steps == 0 and outcome.non_finite is None
    assert int(runner.skipped_steps.numpy()) == 3 and int(runner.step.numpy()) == 3
    for variable, value in zip(runner.model.trainable_variables, before, strict=True):
        np.testing.assert_array_equal(variable.numpy(), value)


def test_per_example_flags_are_summed_over_replicas_and_every_batch_read(two_replicas):
    # Skipped (non-finite) steps read their batch too: its clips count.
    x, y = _data(poison=True)
    runner, iterator = _runner(
        two_replicas,
        x,
        y,
        stop=False,
        flags={"video_short": np.array([1.0, 0.0, 1.0, 1.0], np.float32)},
        count_keys=("video_short", "audio_short"),
    )
    outcome = runner.run(iterator, 3)
    assert int(runner.skipped_steps.numpy()) == 3
    assert outcome.counts == {"video_short": 9.0, "audio_short": 0.0}  # absent: 0
    assert runner.run(iterator, 1).counts == {"video_short": 3.0, "audio_short": 0.0}


class ToyPretraining(keras.Model):
    """Video and audio embeddings, the video one through a synchronized BatchNorm (as FAC)."""

    def __init__(self):
        super().__init__()
        self.video = keras.layers.Dense(8)
        self.norm = keras.layers.BatchNormalization(synchronized=True)
        self.audio = keras.layers.Dense(8)

    def call(self, batch, training=False):
        video = self.norm(self.video(batch["video"]), training=training)
        return {"head": {"video": {"toaud": video}, "audio": {"tovid": self.audio(batch["audio"])}}}


def _contrastive_losses(strategy, num_calls=3, jit_compile=False):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    data = {
        "video": rng.normal(size=(64, 5)).astype(np.float32),
        "audio": rng.normal(size=(64, 3)).astype(np.float32),
    }
    gather = (
        (lambda x: tf.distribute.get_replica_context().all_gather(x, axis=0))
        if strategy.num_replicas_in_sync > 1
        else None
    )
    runner = _step_runner(
        strategy,
        ToyPretraining,
        {k: v[:2] for k, v in data.items()},
        lambda: keras.optimizers.Adam(1e-2),
        lambda outputs, batch: vatt.losses.pretrain_objective(
            outputs, batch, vid_txt_weight=0.0, gather=gather
        ),
        ["vid_aud", "total"],
        lambda model: [ClipGroup(model.video.trainable_variables, 0.1)],
        jit_compile=jit_compile,
    )
    iterator = _batches(strategy, data, 16)
    return [runner.run(iterator, 4).mean_terms["total"] for _ in range(num_calls)]


def test_two_replicas_match_one_with_gathered_negatives_synced_norm_and_global_clipping(
    two_replicas,
):
    one = _contrastive_losses(tf.distribute.OneDeviceStrategy("/cpu:0"))
    two = _contrastive_losses(two_replicas)
    assert one[-1] < one[0]
    np.testing.assert_allclose(two, one, rtol=1e-5)


def test_xla_compiled_step_trains_as_the_plain_one():
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    plain = _contrastive_losses(strategy)
    compiled = _contrastive_losses(strategy, jit_compile=True)
    assert compiled[-1] < compiled[0]
    np.testing.assert_allclose(compiled, plain, rtol=1e-4)


def test_xla_compiled_step_refuses_several_replicas(two_replicas):
    with pytest.raises(ValueError, match="jit_compile needs one replica, not 2"):
        _contrastive_losses(two_replicas, jit_compile=True)
