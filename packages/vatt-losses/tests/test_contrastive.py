"""asymmetric_nce / symmetric_nce against the brute-force references, and their invariants."""

from __future__ import annotations

import numpy as np
import pytest
from keras import ops
from losses_reference import asymmetric_nce as ref_asymmetric
from losses_reference import symmetric_nce as ref_symmetric
from losses_reference import value_and_grads

from vatt.losses import asymmetric_nce, symmetric_nce

TAU = 0.07


def _global_batch(rng, local, others, dim, cands, mask_rate=0.3, local_slot=1):
    """Local tensors and the 'all-gathered' ones, with the local replica at ``local_slot``."""
    x = rng.normal(size=(local, dim)).astype("float32")
    y = rng.normal(size=(local, cands, dim)).astype("float32")
    m = (rng.random(local) > mask_rate).astype("float32")
    m[0] = 1.0  # at least one valid example
    xo = rng.normal(size=(others, dim)).astype("float32")
    yo = rng.normal(size=(others, cands, dim)).astype("float32")
    mo = (rng.random(others) > mask_rate).astype("float32")
    cut = local_slot * local
    x_all = np.concatenate([xo[:cut], x, xo[cut:]])
    y_all = np.concatenate([yo[:cut], y, yo[cut:]])
    m_all = np.concatenate([mo[:cut], m, mo[cut:]])
    return x, y, m, x_all, y_all, m_all


@pytest.mark.parametrize("cands", [1, 5])
def test_asymmetric_matches_reference_with_gathered_negatives(rng, cands):
    x, y, m, x_all, y_all, m_all = _global_batch(rng, local=4, others=8, dim=16, cands=cands)
    got = asymmetric_nce(x, y, m, x_all=x_all, y_all=y_all, y_mask_all=m_all, temperature=TAU)
    want = ref_asymmetric(x, y, m, x_all, y_all, m_all, TAU)
    np.testing.assert_allclose(float(got), want, rtol=2e-5)


def test_asymmetric_local_defaults_equal_explicit_local(rng):
    x, y, m, *_ = _global_batch(rng, local=6, others=0, dim=8, cands=3, local_slot=0)
    got = asymmetric_nce(x, y, m)
    explicit = asymmetric_nce(x, y, m, x_all=x, y_all=y, y_mask_all=m)
    np.testing.assert_allclose(float(got), float(explicit), rtol=1e-6)
    np.testing.assert_allclose(float(got), ref_asymmetric(x, y, m, x, y, m, TAU), rtol=2e-5)


def test_asymmetric_single_candidate_accepts_rank2_y(rng):
    x, y, m, x_all, y_all, m_all = _global_batch(rng, local=3, others=3, dim=8, cands=1)
    a = asymmetric_nce(x, y[:, 0], m, x_all=x_all, y_all=y_all[:, 0], y_mask_all=m_all)
    b = asymmetric_nce(x, y, m, x_all=x_all, y_all=y_all, y_mask_all=m_all)
    np.testing.assert_allclose(float(a), float(b), rtol=1e-6)


def test_asymmetric_no_mask_means_all_valid(rng):
    x, y, _, x_all, y_all, _ = _global_batch(rng, local=4, others=4, dim=8, cands=2)
    ones, ones_all = np.ones(4, "float32"), np.ones(8, "float32")
    got = asymmetric_nce(x, y, x_all=x_all, y_all=y_all)
    want = ref_asymmetric(x, y, ones, x_all, y_all, ones_all, TAU)
    np.testing.assert_allclose(float(got), want, rtol=2e-5)


def test_asymmetric_is_invariant_to_permuting_the_batch(rng):
    x, y, m, x_all, y_all, m_all = _global_batch(rng, local=5, others=5, dim=8, cands=3)
    local_perm = rng.permutation(5)
    global_perm = rng.permutation(10)
    base = asymmetric_nce(x, y, m, x_all=x_all, y_all=y_all, y_mask_all=m_all)
    permuted = asymmetric_nce(
        x[local_perm],
        y[local_perm],
        m[local_perm],
        x_all=x_all[global_perm],
        y_all=y_all[global_perm],
        y_mask_all=m_all[global_perm],
    )
    np.testing.assert_allclose(float(base), float(permuted), rtol=1e-5)


def test_asymmetric_all_masked_batch_is_zero_not_nan(rng):
    x, y, _, x_all, y_all, _ = _global_batch(rng, local=4, others=4, dim=8, cands=2)
    zeros, zeros_all = np.zeros(4, "float32"), np.zeros(8, "float32")
    value, grads = value_and_grads(
        lambda a, b: asymmetric_nce(a, b, zeros, x_all=x_all, y_all=y_all, y_mask_all=zeros_all),
        x,
        y,
    )
    assert value == 0.0
    assert all(np.all(np.isfinite(g)) and not np.any(g) for g in grads)


def test_asymmetric_nan_input_stays_visible(rng):
    x, y, m, *_ = _global_batch(rng, local=4, others=0, dim=8, cands=2, local_slot=0)
    x[2, 3] = np.nan
    m[2] = 0.0  # even a masked example's NaN must not be hidden
    assert np.isnan(float(asymmetric_nce(x, y, m)))


def test_asymmetric_gradients_reach_both_sides_and_the_gathered_negatives(rng):
    x, y, m, x_all, y_all, m_all = _global_batch(rng, local=3, others=6, dim=8, cands=2)
    m[:], m_all[:] = 1.0, 1.0
    _, (gx, gy, gx_all, gy_all) = value_and_grads(
        lambda a, b, c, d: asymmetric_nce(a, b, m, x_all=c, y_all=d, y_mask_all=m_all),
        x,
        y,
        x_all,
        y_all,
    )
    for grad in (gx, gy):
        assert np.all(np.abs(grad).sum(axis=-1) > 0)
    # Other replicas' rows are negatives: they must receive gradient too.
    others = np.r_[0:3, 6:9]
    assert np.all(np.abs(gx_all[others]).sum(axis=-1) > 0)
    assert np.all(np.abs(gy_all[others]).sum(axis=(-1, -2)) > 0)


def test_asymmetric_gradient_matches_finite_differences(rng):
    x, y, m, x_all, y_all, m_all = _global_batch(rng, local=3, others=3, dim=4, cands=2)
    x64 = x.astype("float64")

    def loss(v):
        return ref_asymmetric(v, y, m, v_all(v), y_all, m_all, TAU)

    def v_all(v):  # x is part of x_all, as it is under all_gather
        out = x_all.astype("float64").copy()
        out[3:6] = v
        return out

    _, (gx,) = value_and_grads(
        lambda a: asymmetric_nce(
            a,
            y,
            m,
            x_all=ops.concatenate([x_all[:3], a, x_all[6:]]),
            y_all=y_all,
            y_mask_all=m_all,
        ),
        x,
    )
    eps = 1e-5
    for idx in [(0, 0), (1, 2), (2, 3)]:
        step = np.zeros_like(x64)
        step[idx] = eps
        numeric = (loss(x64 + step) - loss(x64 - step)) / (2 * eps)
        np.testing.assert_allclose(gx[idx], numeric, rtol=1e-3, atol=1e-4)


def test_asymmetric_requires_gathered_mask_with_gathered_candidates(rng):
    x, y, m, x_all, y_all, _ = _global_batch(rng, local=2, others=2, dim=4, cands=1)
    with pytest.raises(ValueError, match="y_mask_all"):
        asymmetric_nce(x, y, m, x_all=x_all, y_all=y_all)


def test_asymmetric_rejects_bad_ranks(rng):
    x = np.ones((2, 3, 4), "float32")
    with pytest.raises(ValueError, match=r"x must be \[B, D\]"):
        asymmetric_nce(x, x)
    with pytest.raises(ValueError, match="y must be"):
        asymmetric_nce(x[:, 0], np.ones((2, 1, 1, 4), "float32"))


@pytest.mark.parametrize(("n1", "n2"), [(1, 1), (2, 3)])
def test_symmetric_matches_reference(rng, n1, n2):
    b, d = 4, 8
    x = rng.normal(size=(b, n1, d)).astype("float32")
    y = rng.normal(size=(b, n2, d)).astype("float32")
    xo = rng.normal(size=(4, n1, d)).astype("float32")
    yo = rng.normal(size=(4, n2, d)).astype("float32")
    xm = np.array([1, 0, 1, 1], "float32")
    ym = np.array([1, 1, 0, 1], "float32")
    xmo = np.array([1, 1, 0, 1], "float32")
    ymo = np.array([0, 1, 1, 1], "float32")
    x_all, y_all = np.concatenate([xo, x]), np.concatenate([yo, y])
    xm_all, ym_all = np.concatenate([xmo, xm]), np.concatenate([ymo, ym])
    got = symmetric_nce(
        x,
        y,
        xm,
        ym,
        x_all=x_all,
        y_all=y_all,
        x_mask_all=xm_all,
        y_mask_all=ym_all,
        temperature=TAU,
    )
    want = ref_symmetric(x, y, xm, ym, x_all, y_all, xm_all, ym_all, TAU)
    np.testing.assert_allclose(float(got), want, rtol=2e-5)


def test_symmetric_all_masked_is_zero_and_rank2_inputs_work(rng):
    x = rng.normal(size=(3, 8)).astype("float32")
    y = rng.normal(size=(3, 8)).astype("float32")
    assert float(symmetric_nce(x, y, np.zeros(3, "float32"))) == 0.0
    ones = np.ones(3)
    want = ref_symmetric(
        x[:, None], y[:, None], ones, ones, x[:, None], y[:, None], ones, ones, TAU
    )
    np.testing.assert_allclose(float(symmetric_nce(x, y)), want, rtol=2e-5)
