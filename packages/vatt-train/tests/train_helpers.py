"""Helpers of vatt-train's tests that the multi-worker script (run in its own process) shares."""

import keras


def without_dropout(build_model):
    """``build_model`` whose models draw no random numbers (every Dropout at rate 0, whatever the
    arch's config says): runs that must match across replica counts, workers or backends may not
    draw any."""

    def build(config):
        model = build_model(config)
        for layer in model._flatten_layers():
            if isinstance(layer, keras.layers.Dropout):
                layer.rate = 0.0
        return model

    return build
