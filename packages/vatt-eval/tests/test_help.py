"""vatt-eval answers --help at once: without importing TensorFlow or Keras."""


def test_help_answers_without_importing_tensorflow(light_help):
    out = light_help(
        "vatt.eval.cli:main",
        [["--help"], ["run", "--help"], ["watch", "--help"]],
        ("tensorflow", "keras", "sklearn"),
    )
    assert "evaluate each new checkpoint as training writes it" in out
