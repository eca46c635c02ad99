"""pretrain_objective reads contract-2 outputs and the batch masks, and gathers negatives."""

from __future__ import annotations

import numpy as np
import pytest
from keras import ops

from vatt.losses import asymmetric_nce, pretrain_objective

B, K = 4, 5


def _outputs(rng, batch=B):
    def emb(*shape):
        return rng.normal(size=shape).astype("float32")

    return {
        "head": {
            "video": {"toaud": emb(batch, 512), "totxt": emb(batch, 256)},
            "audio": {"tovid": emb(batch, 512)},
            "text": {"tovid": emb(batch * K, 256)},
        }
    }


def _batch():
    return {
        "text_mask": np.array([1, 0, 1, 1], "float32"),
        "audio_mask": np.array([1, 1, 1, 0], "float32"),
    }


def test_terms_equal_the_pair_losses_and_total_is_their_weighted_mean(rng):
    out, batch = _outputs(rng), _batch()
    terms = pretrain_objective(out, batch, vid_txt_weight=1.0, vid_aud_weight=3.0)
    head = out["head"]
    vid_txt = asymmetric_nce(
        head["video"]["totxt"], head["text"]["tovid"].reshape(B, K, 256), batch["text_mask"]
    )
    vid_aud = asymmetric_nce(head["video"]["toaud"], head["audio"]["tovid"], batch["audio_mask"])
    assert set(terms) == {"vid_txt", "vid_aud", "total"}
    np.testing.assert_allclose(float(terms["vid_txt"]), float(vid_txt), rtol=1e-6)
    np.testing.assert_allclose(float(terms["vid_aud"]), float(vid_aud), rtol=1e-6)
    np.testing.assert_allclose(
        float(terms["total"]), (float(vid_txt) + 3 * float(vid_aud)) / 4, rtol=1e-6
    )


def test_gather_supplies_the_global_negatives(rng):
    out, batch = _outputs(rng), _batch()

    def gather(t):
        # Stands in for ReplicaContext.all_gather: a second replica holding the batch reversed.
        return ops.concatenate([t, ops.flip(t, axis=0)], axis=0)

    terms = pretrain_objective(out, batch, gather=gather)
    head = out["head"]
    for name, x, y, mask in (
        ("vid_aud", head["video"]["toaud"], head["audio"]["tovid"], batch["audio_mask"]),
        (
            "vid_txt",
            head["video"]["totxt"],
            head["text"]["tovid"].reshape(B, K, 256),
            batch["text_mask"],
        ),
    ):
        want = asymmetric_nce(
            x,
            y,
            mask,
            x_all=np.concatenate([x, x[::-1]]),
            y_all=np.concatenate([y, y[::-1]]),
            y_mask_all=np.concatenate([mask, mask[::-1]]),
        )
        np.testing.assert_allclose(float(terms[name]), float(want), rtol=1e-6)
        local = pretrain_objective(out, batch)[name]
        assert abs(float(terms[name]) - float(local)) > 1e-3


def test_zero_weight_omits_the_pair_and_missing_masks_mean_valid(rng):
    out = _outputs(rng)
    del out["head"]["audio"]
    terms = pretrain_objective(out, {}, vid_aud_weight=0.0)
    assert set(terms) == {"vid_txt", "total"}
    np.testing.assert_allclose(float(terms["total"]), float(terms["vid_txt"]))


def test_missing_head_is_a_clear_error(rng):
    out = _outputs(rng)
    del out["head"]["audio"]
    with pytest.raises(KeyError, match=r"head\['audio'\]\['tovid'\].*weight to 0"):
        pretrain_objective(out, _batch())


def test_invalid_weights_are_rejected(rng):
    with pytest.raises(ValueError, match="positive sum"):
        pretrain_objective(_outputs(rng), _batch(), vid_txt_weight=0.0, vid_aud_weight=0.0)
