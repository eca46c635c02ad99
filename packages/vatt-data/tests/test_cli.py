"""The vatt-data command: subcommands, help, exit statuses and messages."""

from importlib import metadata

import av
import numpy as np
import pytest
import tensorflow as tf

from vatt.data import cli, config, features, records


def _run(capsys, *argv):
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_console_script_is_declared():
    (script,) = [e for e in metadata.entry_points(group="console_scripts") if e.name == "vatt-data"]
    assert script.value == "vatt.data.cli:main"


@pytest.mark.parametrize("command", ["synth", "convert", "validate"])
def test_help_of_every_subcommand(capsys, command):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"vatt-data {command}" in capsys.readouterr().out


def test_no_subcommand_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([])
    assert exit_info.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


def test_synth_then_validate(capsys, tmp_path, monkeypatch, synthetic_dir):
    monkeypatch.chdir(tmp_path)
    options = "--clips 13 --test-clips 12 --seconds 0.4 --size 16 --fps 5 --sample-rate 8000"
    status, out, _ = _run(capsys, "synth", "syn", *options.split(), "--shards", "2")
    assert status == 0
    assert "wrote 13 train and 12 test clips (2 frames of 16x16 at 5 fps, 8000 Hz audio)" in out
    shards = [f"{split}-0000{i}-of-00002" for split in ("test", "train") for i in (0, 1)]
    assert sorted(p.name for p in (tmp_path / "syn").glob("*-of-*")) == shards
    # 8 kHz audio: the spec of the synthetic_dir fixture; 2 frames and 0.2 s are read.
    validate = ["validate", "--dataset", "synthetic_8khz", "--no-progress", "--num-frames", "2"]
    status, out, _ = _run(capsys, *validate, "syn")
    assert status == 0
    assert "OK: 25 records in 4 files match dataset 'synthetic_8khz'" in out
    assert "the pretrain loader reads video 2 frames (0.2 s at 10 fps); audio 1600 samples" in out
    validate[2] = "SYNTHETIC_8KHZ"
    status, out, _ = _run(capsys, *validate, "syn/train@2")
    assert status == 0 and "OK: 13 records in 2 files" in out


def test_validate_names_the_bad_record(capsys, tmp_path):
    frames = np.zeros((3, 8, 8, 3), np.uint8)
    example = records.encode_clip(records.Clip(frames=frames, labels=[51]))
    path = tmp_path / "test_1-00000-of-00001"
    records.write_records(path, [example])
    status, _, err = _run(capsys, "validate", str(path), "--dataset", "hmdb51", "--no-progress")
    assert status == 1
    assert f"invalid record for dataset 'hmdb51': {path}, record 0, key 'WAVEFORM" in err
    status, _, err = _run(
        capsys, "validate", str(path), "--dataset", "hmdb51", "--headers-only", "--no-progress"
    )
    assert status == 1 and "missing" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["validate", "{tmp}/nothing@2", "--dataset", "synthetic"], "expects 2 shards"),
        (["validate", "{tmp}", "--dataset", "no_such_set"], "Unknown dataset 'no_such_set'"),
        (["convert", "{tmp}/missing.csv", "{tmp}/out"], "missing.csv"),
        (["synth", "{tmp}", "--size", "4"], "frame_size must be >= 16"),
    ],
)
def test_errors_exit_2_with_a_message(capsys, tmp_path, argv, message):
    status, _, err = _run(capsys, *(a.replace("{tmp}", str(tmp_path)) for a in argv))
    assert status == 2
    assert message in err and err.startswith(f"vatt-data {argv[0]}: error:")


def _write_silent_video(path):
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv420p"
        for _ in range(5):
            image = np.full((24, 32, 3), 128, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())


def test_convert_reports_skipped_files_and_exit_status(capsys, tmp_path):
    _write_silent_video(tmp_path / "ok.mp4")
    (tmp_path / "broken.mp4").write_bytes(b"not a video")
    (tmp_path / "clips.csv").write_text(
        "path,captions,label\nok.mp4,a grey screen,grey\nbroken.mp4,,grey\n"
    )
    argv = ["convert", str(tmp_path / "clips.csv"), str(tmp_path / "out"), "--split", "valid"]
    argv += [
        "--shorter-side",
        "0",
        "--fps",
        "5",
        "--workers",
        "1",
        "--no-progress",
        "--shards",
        "1",
    ]
    status, out, err = _run(capsys, *argv)
    assert status == 0
    assert "wrote 1 records in 1 shards" in out and "1 records have no audio" in out
    assert "skipped broken.mp4: InvalidDataError" in err and "skipped 1 unreadable files" in err
    (shard,) = (tmp_path / "out").glob("valid-*-of-*")
    assert shard.name == "valid-00000-of-00001"
    status, _, _ = _run(capsys, "validate", str(shard), "--dataset", "hmdb51", "--no-progress")
    assert status == 1  # hmdb51 expects audio; this video has none

    (tmp_path / "bad.csv").write_text("path\nbroken.mp4\n")
    argv[1] = str(tmp_path / "bad.csv")
    status, out, _ = _run(capsys, *argv)
    assert status == 1 and "wrote 0 records" in out


def test_convert_keeps_the_size_with_shorter_side_0(tmp_path):
    _write_silent_video(tmp_path / "ok.mp4")
    (tmp_path / "clips.csv").write_text("path\nok.mp4\n")
    argv = ["convert", str(tmp_path / "clips.csv"), str(tmp_path), "--shorter-side", "0"]
    assert cli.main([*argv, "--workers", "1", "--no-progress"]) == 0
    (shard,) = tmp_path.glob("train-*-of-*")
    (record,) = tf.data.TFRecordDataset(str(shard)).as_numpy_iterator()
    example = tf.train.SequenceExample.FromString(record)
    frame = example.feature_lists.feature_list[features.IMAGE_KEY].feature[0].bytes_list.value[0]
    assert tuple(tf.image.extract_jpeg_shape(frame).numpy()) == (24, 32, 3)


def test_validate_names_records_shorter_than_the_loader_reads(
    capsys, tmp_path, monkeypatch, register_spec
):
    monkeypatch.chdir(tmp_path)
    register_spec("short_clips", {"train": "train"}, ("video", "audio"), fps=10, sample_rate=8000)
    clips = [(8, 0.8, "long.mp4"), (8, 0.02, "quiet.mp4"), (3, 0.8, "cut.mp4"), (8, 0.8, None)]
    examples = [
        records.encode_clip(
            records.Clip(
                np.zeros((frames, 16, 16, 3), np.uint8),
                np.full(round(seconds * 8000), 0.1, np.float32),
                media_id=name,
            )
        )
        for frames, seconds, name in clips
    ]
    (tmp_path / "data").mkdir()
    records.write_records("data/train-00000-of-00001", examples)
    base = ["validate", "data/train-00000-of-00001", "--dataset", "short_clips", "--no-progress"]

    # 8 frames and 0.8 s: records 1 (0.02 s of audio) and 2 (3 frames) are named.
    status, out, err = _run(capsys, *base, "--num-frames", "8")
    assert status == 1 and not out
    assert (
        "short record for the pretrain loader: data/train-00000-of-00001, record 1 (quiet.mp4): "
        "audio holds 160 samples (0.02 s); the loader reads 6400 samples (0.8 s at 8000 Hz)"
    ) in err
    assert (
        "short record for the pretrain loader: data/train-00000-of-00001, record 2 (cut.mp4): "
        "video holds 3 frames (0.3 s); the loader reads 8 frames (0.8 s at 10 fps)"
    ) in err
    assert "record 0" not in err and "record 3" not in err
    assert "2 of 4 records are shorter than the pretrain loader reads" in err
    assert "--allow-short accepts them" in err

    status, out, err = _run(capsys, *base, "--num-frames", "8", "--allow-short")
    assert status == 0 and "OK: 4 records" in out and "record 1 (quiet.mp4)" in err

    # The loader's defaults (32 frames, 3.2 s) find every record short; fine-tuning reads video
    # only, at its stride 2: 4 frames span 7.
    status, _, err = _run(capsys, *base)
    assert status == 1 and "4 of 4 records" in err
    status, out, err = _run(capsys, *base, "--loader", "finetune", "--num-frames", "4")
    assert status == 1 and "1 of 4 records" in err and "record 2 (cut.mp4): video holds 3" in err
    assert "4 frames at stride 2, i.e. 7 frames (0.7 s at 10 fps)" in err
    assert "audio holds" not in err
    status, out, _ = _run(capsys, *base, "--num-frames", "3", "--audio-seconds", "0.02")
    assert status == 0 and "OK: 4 records in 1 files" in out
    status, out, _ = _run(capsys, *base, "--num-frames", "3", "--audio-stride", "2")
    assert status == 1  # 0.3 s at stride 2 spans 4799 samples: record 1 holds 160


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--num-frames", "0", "must be >= 1, got 0"),
        ("--audio-seconds", "-1", "must be > 0, got -1"),
        ("--audio-seconds", "nan", "must be > 0, got nan"),
        ("--video-stride", "two", "must be an integer >= 1, got 'two'"),
        ("--loader", "train", "invalid choice: 'train'"),
    ],
)
def test_validate_rejects_bad_loader_settings(capsys, tmp_path, monkeypatch, flag, value, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["validate", "data", "--dataset", "synthetic", flag, value])
    assert exit_info.value.code == 2
    last_line = capsys.readouterr().err.splitlines()[-1]
    assert last_line.startswith(f"vatt-data validate: error: argument {flag}: {message}")


def test_validate_loader_choices_are_the_loader_configs(capsys):
    with pytest.raises(SystemExit):
        cli.main(["validate", "--help"])
    assert f"{{{','.join(config.LOADER_CONFIGS)}}}" in capsys.readouterr().out


def test_bad_input_is_one_line_and_verbose_adds_the_traceback(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, _, err = _run(capsys, "validate", "missing", "--dataset", "hmdb51")
    assert status == 2
    assert err.strip().splitlines() == [
        "vatt-data validate: error: No shards match 'missing-*-of-*' (table 'missing'). "
        "Write records with the vatt-data writer, or check data_dir."
    ]
    status, _, err = _run(capsys, "validate", "missing", "--dataset", "hmdb51", "--verbose")
    assert status == 2 and "Traceback (most recent call last)" in err
    assert err.strip().splitlines()[-1].startswith("vatt-data validate: error: No shards match")
