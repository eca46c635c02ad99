"""Parameter counts at FULL size equal the original VATT's (spec §1, [derived] numbers).

Models are built with shapes only (variables created inside a StatelessScope are never
initialised), so even ViT-Large costs no memory and the whole file runs in seconds.
"""

from __future__ import annotations

import contextlib
import math

import keras
import pytest

import vatt.models as vm
from vatt.models.cnn import INCEPTION_FILTERS

WORD2VEC_TABLE = 65536 * 300  # the frozen word-vector table, excluded from "trainable"
FAC_BN_MOVING_STATS = 2560  # 2 x (512 + 512 + 256) moving mean/variance of the FAC head
T5_SMALL = 19_038_252  # encoder 18,884,352 + pre_proj 153,600 + agg token 300

# Backbone parameters (spec §1.2-1.6); a classifier adds (D + 1) x C for its Dense head.
BACKBONES = {
    "vit_base": 87_446_016,
    "vit_medium": 154_343_424,
    "vit_large": 305_498_112,
    "wat_base": 86_078_976,
    "wat_medium": 152_520_704,
    "spt_base": 85_056_768,
}
UNIFIED = {"ut_base": 92_258_304, "ut_medium": 161_283_072, "ut_large": 312_437_760}
# Pre-training models: video + audio (WaT-Base) + T5-Small + FAC head (spec §1.8-1.9).
# tx_fac is tx_fac_mbs (same config, checked below), so it is counted once.
PRETRAINING = {
    "tx_fac_bbs": 87_446_016 + 86_078_976 + T5_SMALL + 1_314_048,  # 193.9M
    "tx_fac_mbs": 154_343_424 + 86_078_976 + T5_SMALL + 1_445_120,  # 260.9M
    "tx_fac_lbs": 305_498_112 + 86_078_976 + T5_SMALL + 1_445_120,  # 412.1M
    "ut_fac": 161_283_072 + 1_707_264,  # 163.0M
}


@contextlib.contextmanager
def shapes_only():
    """Build without initialising any variable, then drop the pending initialisations."""
    with keras.StatelessScope(initialize_variables=False):
        yield
    # Forget the uninitialised variables it registered (no garbage collection: it is slow).
    keras.backend.clear_session(free_memory=False)


def counts(arch: str) -> tuple[int, int]:
    """(trainable, non-trainable) parameters of ``arch`` at full size."""
    with shapes_only():
        model = vm.build(arch)
        trainable = sum(math.prod(v.shape) for v in model.trainable_weights)
        frozen = sum(math.prod(v.shape) for v in model.non_trainable_weights)
    return trainable, frozen


@pytest.mark.parametrize("arch", list(BACKBONES))
def test_classifier_backbone_matches_the_original(arch):
    config = vm.get_config(arch)
    head = (config.backbone.output_dim + 1) * config.num_classes
    trainable, frozen = counts(arch)
    assert trainable - head == BACKBONES[arch]
    assert frozen == 0


@pytest.mark.parametrize("arch", list(UNIFIED))
def test_unified_backbone_matches_the_original(arch):
    trainable, frozen = counts(arch)
    assert (trainable, frozen) == (UNIFIED[arch], WORD2VEC_TABLE)


def test_t5_small_text_tower_matches_the_original():
    assert counts("t5_small") == (T5_SMALL, WORD2VEC_TABLE)


@pytest.mark.parametrize("arch", list(PRETRAINING))
def test_pretraining_model_matches_the_original(arch):
    trainable, frozen = counts(arch)
    assert trainable == PRETRAINING[arch]
    # The original logs count_params() = trainable + word vectors + BN moving statistics,
    # e.g. 213.5M for BBS.
    assert frozen == WORD2VEC_TABLE + FAC_BN_MOVING_STATS


def test_tx_fac_is_the_mbs_model():
    assert vm.get_config("tx_fac") == vm.get_config("tx_fac_mbs")


def i3d_unit_count(kernel: int, c_in: int, c_out: int) -> int:
    return kernel**3 * c_in * c_out + 2 * c_out  # conv without bias + BN gamma/beta


def i3d_by_hand() -> tuple[int, int]:
    """(trainable, BN moving statistics) of I3D from its published filter table."""
    units = [(7, 3, 64), (1, 64, 64), (3, 64, 192)]
    channels = 192
    for f in INCEPTION_FILTERS.values():
        units += [
            (1, channels, f.branch_0),
            (1, channels, f.branch_1[0]),
            (3, f.branch_1[0], f.branch_1[1]),
            (1, channels, f.branch_2[0]),
            (3, f.branch_2[0], f.branch_2[1]),
            (1, channels, f.branch_3),
        ]
        channels = f.out_channels
    assert channels == 1024
    return sum(i3d_unit_count(*u) for u in units), sum(2 * u[2] for u in units)


def test_i3d_matches_the_published_filter_table():
    trainable, moving = i3d_by_hand()
    assert trainable == 12_287_264
    head = (1024 + 1) * 400  # Kinetics-400 classifier
    assert counts("i3d") == (trainable + head, moving)


def test_resnet2d_50_matches_resnet50():
    # torchvision's resnet50 has 25,557,032 parameters, 2,049,000 of them in its fc layer (same
    # bottleneck layout, no conv biases); on a 1-channel spectrogram the stem conv has
    # 7*7*(3-1)*64 = 6,272 fewer.
    backbone = 25_557_032 - 2_049_000 - 6_272
    head = (2048 + 1) * 527  # AudioSet classifier
    trainable, frozen = counts("resnet2d_50")
    assert trainable == backbone + head
    # Moving statistics mirror gamma and beta; the BN channels sum to 26,560 in ResNet-50.
    assert frozen == 2 * 26_560


def test_resnet2d_101_matches_resnet101():
    # torchvision's resnet101: 44,549,160 parameters, the same fc and stem difference as above.
    backbone = 44_549_160 - 2_049_000 - 6_272
    head = (2048 + 1) * 527
    assert counts("resnet2d_101")[0] == backbone + head
