"""Builders: named, ordered steps per phase, which users add, insert, remove and replace.

A pipeline is parse -> sample -> decode -> preprocess -> (batch) -> postprocess, each phase an ordered
list of named functions (DMVR's design, dmvr-design.md §1.1). Modalities register their steps under
documented names, so a pipeline is adjusted by name instead of forked::

    factory.preprocessor_builder.replace_fn("image_normalize", my_normalize)
    factory.sampler_builder.add_fn(my_step, feature_name="video", add_before_fn_name="...")

A step given a ``feature_name`` maps that one tensor; without it, it maps the whole dict (to add or
delete keys). A stateful step also receives a dict shared by the steps of one phase for one example:
that is how video and audio windows (sampler) and crops of several views (preprocessor) stay in sync.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from typing import Any

import tensorflow as tf

Features = dict[str, Any]


class Phase(enum.Enum):
    """Where a filter runs: after reading (it sees only ``{'key': ...}``) or after a phase."""

    READ = "read"
    PARSE = "parse"
    SAMPLE = "sample"
    DECODE = "decode"
    PREPROCESS = "preprocess"
    POSTPROCESS = "postprocess"


FeatureType = (
    tf.io.FixedLenFeature
    | tf.io.VarLenFeature
    | tf.io.FixedLenSequenceFeature
    | tf.io.RaggedFeature
)


class SequenceExampleParserBuilder:
    """Parses a serialized ``tf.train.SequenceExample`` into a dict of raw tensors.

    The same record key may be parsed under several output names (several views of one modality), but
    always with one feature type.
    """

    def __init__(self):
        self._context: dict[str, FeatureType] = {}
        self._sequence: dict[str, FeatureType] = {}
        self._outputs: dict[str, tuple[str, bool]] = {}

    def parse_feature(
        self,
        feature_name: str,
        feature_type: FeatureType,
        output_name: str | None = None,
        is_context: bool = False,
    ) -> SequenceExampleParserBuilder:
        """Read record key ``feature_name`` (context or feature list) into ``output_name``."""
        output_name = output_name or feature_name
        if output_name in self._outputs:
            raise ValueError(f"Output name {output_name!r} is already parsed; pick another name.")
        table = self._context if is_context else self._sequence
        if feature_name in table and table[feature_name] != feature_type:
            raise ValueError(
                f"Record key {feature_name!r} is already parsed as {table[feature_name]}; it cannot "
                f"also be parsed as {feature_type}."
            )
        table[feature_name] = feature_type
        self._outputs[output_name] = (feature_name, is_context)
        return self

    @property
    def record_keys(self) -> dict[str, tuple[FeatureType, bool]]:
        """Record key -> (feature type, is_context) for every parsed key."""
        keys = {k: (v, True) for k, v in self._context.items()}
        keys.update({k: (v, False) for k, v in self._sequence.items()})
        return keys

    def build(self) -> Callable[[tf.Tensor], Features]:
        """A function from one serialized record to the dict of parsed outputs."""
        context, sequence, outputs = dict(self._context), dict(self._sequence), dict(self._outputs)

        def parse(serialized: tf.Tensor) -> Features:
            parsed_context, parsed_sequence = tf.io.parse_single_sequence_example(
                serialized, context_features=context, sequence_features=sequence
            )
            return {
                name: (parsed_context if is_context else parsed_sequence)[key]
                for name, (key, is_context) in outputs.items()
            }

        return parse


@dataclasses.dataclass(frozen=True)
class FunctionDescription:
    """One registered step: its name, function, the feature it maps (None: whole dict), state use."""

    fn_name: str
    fn: Callable[..., Any]
    feature_name: str | None
    stateful: bool


class FunctionBuilder:
    """An ordered list of named steps that one phase applies to each example (or batch)."""

    def __init__(self, phase: Phase):
        self.phase = phase
        self._steps: list[FunctionDescription] = []

    def add_fn(
        self,
        fn: Callable[..., Any],
        feature_name: str | None = None,
        fn_name: str | None = None,
        stateful: bool = False,
        add_before_fn_name: str | None = None,
    ) -> FunctionBuilder:
        """Append ``fn`` (or insert it before ``add_before_fn_name``) under a unique name."""
        fn_name = fn_name or f"fn_{len(self._steps)}"
        if fn_name in self.fn_names:
            raise ValueError(f"{self.phase.value} step {fn_name!r} exists; names must be unique.")
        step = FunctionDescription(fn_name, fn, feature_name, stateful)
        if add_before_fn_name is None:
            self._steps.append(step)
        else:
            self._steps.insert(self._index(add_before_fn_name), step)
        return self

    def remove_fn(self, fn_name: str) -> FunctionBuilder:
        """Remove the step ``fn_name``; an unknown name is ignored, as in DMVR."""
        self._steps = [s for s in self._steps if s.fn_name != fn_name]
        return self

    def replace_fn(self, fn_name: str, fn: Callable[..., Any]) -> FunctionBuilder:
        """Swap the function of step ``fn_name``, keeping its place, feature and statefulness."""
        index = self._index(fn_name)
        self._steps[index] = dataclasses.replace(self._steps[index], fn=fn)
        return self

    def reset(self) -> FunctionBuilder:
        """Remove every step."""
        self._steps = []
        return self

    def get_summary(self) -> list[FunctionDescription]:
        """The registered steps, in order."""
        return list(self._steps)

    @property
    def fn_names(self) -> list[str]:
        """Names of the registered steps, in order."""
        return [s.fn_name for s in self._steps]

    def build(self) -> Callable[[Features], Features]:
        """One function running every step in order, with a fresh state dict per call."""
        steps = list(self._steps)

        def process(features: Features) -> Features:
            features = dict(features)
            state: dict[str, Any] = {}
            for step in steps:
                args = (state,) if step.stateful else ()
                if step.feature_name is None:
                    features = step.fn(features, *args)
                else:
                    features[step.feature_name] = step.fn(features[step.feature_name], *args)
            return features

        return process

    def _index(self, fn_name: str) -> int:
        names = self.fn_names
        if fn_name not in names:
            raise ValueError(
                f"No {self.phase.value} step named {fn_name!r}; the steps are {names}."
            )
        return names.index(fn_name)


class FilterBuilder:
    """Predicates ``fn(features) -> scalar bool`` that drop examples after a given phase."""

    def __init__(self):
        self._filters: dict[Phase, list[Callable[[Features], tf.Tensor]]] = {p: [] for p in Phase}

    def add_filter_fn(
        self, fn: Callable[[Features], tf.Tensor], after_phase: Phase
    ) -> FilterBuilder:
        """Keep only examples for which every filter of ``after_phase`` is true."""
        self._filters[after_phase].append(fn)
        return self

    def has_filters(self, phase: Phase) -> bool:
        """Whether any filter runs after ``phase``."""
        return bool(self._filters[phase])

    def build(self, phase: Phase) -> Callable[[Features], tf.Tensor]:
        """The AND of the filters registered for ``phase`` (always true when there are none)."""
        filters = list(self._filters[phase])

        def keep(features: Features) -> tf.Tensor:
            result = tf.constant(True)
            for fn in filters:
                result = tf.logical_and(result, tf.cast(fn(features), tf.bool))
            return result

        return keep
