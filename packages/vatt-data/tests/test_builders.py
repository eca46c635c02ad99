"""Named steps per phase, filters, the parser and the factory around them."""

import numpy as np
import pytest
import tensorflow as tf

from vatt.data import features, records
from vatt.data.builders import FilterBuilder, FunctionBuilder, Phase, SequenceExampleParserBuilder
from vatt.data.factory import DatasetFactory


def test_steps_run_in_order_and_can_be_inserted_replaced_removed():
    builder = FunctionBuilder(Phase.PREPROCESS)
    builder.add_fn(lambda x: x + 1, "a", "plus_one")
    builder.add_fn(lambda x: x * 10, "a", "times_ten")
    builder.add_fn(lambda x: x - 3, "a", "minus_three", add_before_fn_name="times_ten")
    assert builder.fn_names == ["plus_one", "minus_three", "times_ten"]
    assert builder.build()({"a": 1})["a"] == (1 + 1 - 3) * 10

    builder.replace_fn("minus_three", lambda x: x - 2)
    assert builder.fn_names == ["plus_one", "minus_three", "times_ten"]
    assert builder.build()({"a": 1})["a"] == 0
    builder.remove_fn("plus_one").remove_fn("not_there")
    assert builder.build()({"a": 1})["a"] == -10
    assert builder.reset().fn_names == []


def test_step_name_errors_list_the_existing_names():
    builder = FunctionBuilder(Phase.SAMPLE).add_fn(lambda f: f, fn_name="only")
    with pytest.raises(ValueError, match="names must be unique"):
        builder.add_fn(lambda f: f, fn_name="only")
    with pytest.raises(ValueError, match=r"the steps are \['only'\]"):
        builder.replace_fn("other", lambda f: f)
    with pytest.raises(ValueError, match="No sample step named 'x'"):
        builder.add_fn(lambda f: f, add_before_fn_name="x")


def test_whole_dict_steps_and_state_shared_within_one_call():
    builder = FunctionBuilder(Phase.SAMPLE)

    def remember(x, state):
        state["seen"] = x
        return x

    builder.add_fn(remember, "a", "remember", stateful=True)
    builder.add_fn(lambda x, state: state["seen"] * 2, "b", "use", stateful=True)
    builder.add_fn(lambda f: {k: v for k, v in f.items() if k != "a"}, fn_name="drop_a")
    out = builder.build()({"a": 4, "b": 0})
    assert out == {"b": 8}
    with pytest.raises(KeyError):  # a fresh state per call: nothing leaks from the last example
        FunctionBuilder(Phase.SAMPLE).add_fn(
            lambda x, state: state["seen"], "b", stateful=True
        ).build()({"b": 0})


def test_filter_builder_ands_the_filters_of_one_phase():
    filters = FilterBuilder()
    filters.add_filter_fn(lambda f: f["x"] > 1, Phase.DECODE)
    filters.add_filter_fn(lambda f: f["x"] < 5, Phase.DECODE)
    keep = filters.build(Phase.DECODE)
    assert [bool(keep({"x": tf.constant(v)})) for v in (0, 3, 7)] == [False, True, False]
    assert bool(filters.build(Phase.PARSE)({"x": tf.constant(0)}))


def test_parser_rejects_duplicate_outputs_and_conflicting_types():
    parser = SequenceExampleParserBuilder()
    key = features.LABEL_INDEX_KEY
    parser.parse_feature(key, tf.io.VarLenFeature(tf.int64), "out", is_context=True)
    with pytest.raises(ValueError, match="already parsed"):
        parser.parse_feature("other", tf.io.VarLenFeature(tf.int64), "out", is_context=True)
    with pytest.raises(ValueError, match="cannot also be parsed"):
        parser.parse_feature(key, tf.io.VarLenFeature(tf.string), "out2", is_context=True)
    parser.parse_feature(key, tf.io.VarLenFeature(tf.int64), "view2", is_context=True)
    example = records.encode_clip(records.Clip(frames=[b"\xff\xd8"], labels=[3, 4]))
    parsed = parser.build()(example.SerializeToString())
    for key in ("out", "view2"):
        np.testing.assert_array_equal(tf.sparse.to_dense(parsed[key]), [3, 4])


def _label_factory(tmp_path, labels):
    path = tmp_path / records.shard_name("train", 0, 1)
    clips = [records.Clip(frames=[b"\xff\xd8"], labels=[label]) for label in labels]
    records.write_records(path, (records.encode_clip(c) for c in clips))
    factory = DatasetFactory([str(path)])
    factory.parser_builder.parse_feature(
        features.LABEL_INDEX_KEY, tf.io.VarLenFeature(tf.int64), "label", is_context=True
    )
    factory.decoder_builder.add_fn(lambda s: tf.sparse.to_dense(s)[0], "label", "dense")
    return factory


def test_factory_filters_keys_epochs_and_sharding(tmp_path):
    factory = _label_factory(tmp_path, range(6))
    factory.filter_builder.add_filter_fn(lambda f: f["label"] % 2 == 0, Phase.DECODE)
    ds = factory.make_dataset(shuffle=False, num_epochs=2, batch_size=None, keep_key=True)
    items = list(ds.as_numpy_iterator())
    assert [int(i["label"]) for i in items] == [0, 2, 4, 0, 2, 4]
    assert items[1][features.KEY].decode().endswith("train-00000-of-00001#2")

    cached = _label_factory(tmp_path, range(3)).make_dataset(
        shuffle=False, num_epochs=2, batch_size=None, cache=True
    )
    assert [int(i["label"]) for i in cached.as_numpy_iterator()] == [0, 1, 2, 0, 1, 2]

    context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=1)
    ds = _label_factory(tmp_path, range(6)).make_dataset(
        shuffle=False, num_epochs=1, batch_size=2, drop_remainder=False, input_context=context
    )
    assert [b["label"].tolist() for b in ds.as_numpy_iterator()] == [[1, 3], [5]]


def test_factory_configure_once_and_tune_validation(tmp_path):
    class Labels(DatasetFactory):
        def _build(self, name="label"):
            self.parser_builder.parse_feature(
                features.LABEL_INDEX_KEY, tf.io.VarLenFeature(tf.int64), name, is_context=True
            )

    path = tmp_path / "x-00000-of-00001"
    records.write_records(path, [records.encode_clip(records.Clip([b"\xff\xd8"], labels=[1]))])
    factory = Labels([str(path)]).configure(name="y")
    with pytest.raises(ValueError, match="already called"):
        factory.configure()
    with pytest.raises(ValueError, match="Unknown tuning parameters"):
        factory.tune(shuffle_size=3)
    with pytest.raises(ValueError, match="Nothing to parse"):
        DatasetFactory([str(path)]).make_dataset()
    factory.tune(seed=0)  # 0 is a real seed here, unlike DMVR's `new or old`
    assert factory._tuning["seed"] == 0
