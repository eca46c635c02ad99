"""Tokenizers against known ids on tiny vocabulary files made here."""

import numpy as np
import pytest
import tensorflow as tf

from vatt.data import BertTokenizer, SentencePieceTokenizer, WordTokenizer
from vatt.data.tokenizers import get_tokenizer

WORDS = ["<pad>", "<bos>", "<eos>", "<unk>", "a", "cat", "sat", "on", "the", "mat"]


@pytest.fixture
def word_vocab(tmp_path):
    path = tmp_path / "words.txt"
    path.write_text("\n".join(WORDS) + "\n")
    return str(path)


def test_word_tokenizer_strips_punctuation_lowercases_and_pads(word_vocab):
    tokenizer = WordTokenizer(word_vocab)
    ids = tokenizer.string_tensor_to_indices(
        tf.constant(["The cat, sat!", "a DOG on the mat.", ""]), max_num_tokens=4
    )
    assert ids.dtype == tf.int32
    np.testing.assert_array_equal(ids, [[8, 5, 6, 0], [4, 3, 7, 8], [0, 0, 0, 0]])
    with_specials = tokenizer.string_tensor_to_indices(
        tf.constant(["cat"]), prepend_bos=True, append_eos=True, max_num_tokens=5
    )
    np.testing.assert_array_equal(with_specials, [[1, 5, 2, 0, 0]])
    assert tokenizer.indices_to_string([8, 5, 0, 0]) == "the cat"
    assert tokenizer.vocab_size == 10


def test_word_vocabulary_with_explicit_ids_and_its_errors(tmp_path):
    path = tmp_path / "ids.txt"
    path.write_text("0 <pad>\n7 <unk>\n3 hello\n")
    tokenizer = WordTokenizer(str(path))
    np.testing.assert_array_equal(
        tokenizer.string_tensor_to_indices(tf.constant(["Hello world"]), max_num_tokens=3),
        [[3, 7, 0]],
    )
    path.write_text("<unk>\n<pad>\n")
    with pytest.raises(ValueError, match="<pad> id 1"):
        WordTokenizer(str(path))
    path.write_text("<pad>\n<unk>\nHello\n")
    with pytest.raises(ValueError, match="not lower case"):
        WordTokenizer(str(path))
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        WordTokenizer(str(tmp_path / "missing.txt"))
    path.write_text("<pad>\n<unk>\nhello\n")
    for flag, token in (("prepend_bos", "BOS"), ("append_eos", "EOS")):
        with pytest.raises(ValueError, match=rf"ids.txt has no {token} token \({flag}\)"):
            WordTokenizer(str(path)).string_tensor_to_indices(
                tf.constant(["hello"]), **{flag: True}
            )


def test_bert_tokenizer_word_pieces(tmp_path):
    path = tmp_path / "bert.txt"
    path.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "cat", "play", "##ing"]))
    tokenizer = BertTokenizer(str(path))
    ids = tokenizer.string_tensor_to_indices(
        tf.constant(["The cat playing!"]), prepend_bos=True, append_eos=True, max_num_tokens=8
    )
    # "!" is a word of its own and unknown.
    np.testing.assert_array_equal(ids, [[2, 4, 5, 6, 7, 1, 3, 0]])


def test_sentencepiece_tokenizer_round_trip(tmp_path):
    import sentencepiece

    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(["a cat sat on the mat", "the dog sat on a log"] * 50))
    sentencepiece.SentencePieceTrainer.train(
        input=str(corpus),
        model_prefix=str(tmp_path / "sp"),
        vocab_size=12,
        pad_id=0,
        unk_id=1,
        bos_id=2,
        eos_id=3,
        model_type="word",
    )
    tokenizer = SentencePieceTokenizer(str(tmp_path / "sp.model"))
    reference = sentencepiece.SentencePieceProcessor(model_file=str(tmp_path / "sp.model"))
    expected = reference.encode("the cat sat")
    ids = tokenizer.string_tensor_to_indices(
        tf.constant(["the cat sat"]), append_eos=True, max_num_tokens=6
    ).numpy()[0]
    np.testing.assert_array_equal(ids, [*expected, 3] + [0] * (5 - len(expected)))
    assert tokenizer.indices_to_string(ids[: len(expected)]) == "the cat sat"


def test_get_tokenizer_names_the_choices(word_vocab):
    assert isinstance(get_tokenizer("word", word_vocab), WordTokenizer)
    with pytest.raises(ValueError, match="choose one of"):
        get_tokenizer("clip", word_vocab)
