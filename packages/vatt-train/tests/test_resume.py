"""Which config changes a run's checkpoints allow on resume (compared before anything is written)."""

import pytest

import vatt.models
import vatt.train
from vatt.core.config import merge_mappings
from vatt.train.resume import check_resume, config_changes


@pytest.fixture
def recorded(in_tmp_dir):
    config = vatt.train.resolve_config(
        "pretrain", "tx_fac", params_override={"model": vatt.models.tiny_overrides("tx_fac")}
    )
    vatt.train.save_config(config, "run")
    return config


def _requested(override):
    tiny = {"model": vatt.models.tiny_overrides("tx_fac")}
    return vatt.train.resolve_config(
        "pretrain", "tx_fac", params_override=merge_mappings(tiny, override)
    )


def test_a_new_run_has_nothing_to_compare(in_tmp_dir):
    assert check_resume(_requested({}), "new run") == {}


def test_safe_changes_are_allowed_and_returned(recorded):
    requested = _requested(
        {
            "train": {
                "total_steps": 600_000,
                "save_checkpoint_freq": 100,
                "iterations_per_loop": 5,
            },
            "data": {"train": {"data_dir": "/elsewhere"}, "eval": {"name": "ucf101"}},
            "schedule": {"warmup_learning_rate": 1e-6},
            "strategy": {"type": "one_device"},
        }
    )
    changes = check_resume(requested, "run")
    assert changes["train.total_steps"] == (500_000, 600_000)
    assert changes["data.train.data_dir"] == ("", "/elsewhere")
    assert set(changes) == {
        "train.total_steps",
        "train.save_checkpoint_freq",
        "train.iterations_per_loop",
        "data.train.data_dir",
        "data.eval.name",
        "schedule.warmup_learning_rate",
        "strategy.type",
    }
    assert check_resume(recorded, "run") == {}


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"model": {"video": {"d_model": 64}}}, "model.video.d_model"),
        ({"model": {"head": {"va_dim": 8}}}, "model.head.va_dim"),
        ({"optimizer": {"name": "momentum"}}, "optimizer.name: recorded 'adam'"),
        ({"optimizer": {"beta_1": 0.5}}, "optimizer.beta_1: recorded 0.9, requested 0.5"),
    ],
)
def test_changes_the_checkpoints_do_not_fit_are_refused_naming_the_keys(recorded, override, named):
    with pytest.raises(vatt.train.ConfigError) as error:
        check_resume(_requested(override), "run")
    message = str(error.value)
    assert "\n" not in message and named in message
    assert message.endswith("train into a new --model_dir, or drop the change to resume this run")


def test_another_arch_lists_the_arch_first(recorded):
    requested = vatt.train.resolve_config("pretrain", "tx_fac_mbs")
    with pytest.raises(
        vatt.train.ConfigError, match=r"\(model_arch: recorded 'tx_fac', requested "
    ):
        check_resume(requested, "run")
    changes = config_changes(recorded, requested)
    assert changes["model_arch"] == ("tx_fac", "tx_fac_mbs")


def test_an_unreadable_recorded_config_is_refused(in_tmp_dir):
    (in_tmp_dir / "run").mkdir()
    (in_tmp_dir / "run" / "config.yaml").write_text(
        "mode: pretrain\nmodel_arch: tx_fac\nbogus: 1\n"
    )
    with pytest.raises(vatt.train.ConfigError, match="cannot be read .*bogus.*new --model_dir"):
        check_resume(_requested({}), "run")
