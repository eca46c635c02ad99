"""Text tokenizers that run inside tf.data: word-level, BERT WordPiece and SentencePiece.

Each turns a string tensor ``[N]`` into int32 ``[N, max_num_tokens]`` ids, cut or padded with id 0
(VATT's text mask is ``id != 0``). Every tokenizer reads a local file and says which file is missing;
nothing is downloaded. tensorflow-text is imported only by the tokenizers that need it.
"""

from __future__ import annotations

import os

import tensorflow as tf

PAD_ID = 0


def _require_file(path: str, what: str) -> None:
    if not path or not tf.io.gfile.exists(path):
        raise FileNotFoundError(
            f"{what} file {path!r} does not exist. Point the config's vocabulary_path (or the "
            "dataset spec's vocabulary) at it; nothing is downloaded."
        )


class _Tokenizer:
    """What the tokenizers share: ``[N]`` strings -> int32 ids ``[N, max_num_tokens]``, with a BOS
    and an EOS id when asked for, cut or padded with :data:`PAD_ID`. A tokenizer defines
    ``_tokenize`` (strings -> ragged ids) and the ``pad_token``, ``unk_token``, ``bos_token`` and
    ``eos_token`` ids (``None``: the vocabulary has no such token)."""

    bos_token: int | None
    eos_token: int | None

    def __init__(self, path: str, what: str):
        _require_file(path, what)
        self._file = path

    def string_tensor_to_indices(
        self,
        strings: tf.Tensor,
        *,
        prepend_bos: bool = False,
        append_eos: bool = False,
        max_num_tokens: int = 16,
    ) -> tf.Tensor:
        """``[N]`` strings -> int32 ``[N, max_num_tokens]`` ids padded with 0."""
        ids = tf.cast(self._tokenize(strings), tf.int64)
        parts = [ids]
        if prepend_bos:
            parts.insert(0, self._column(ids.nrows(), self.bos_token, "BOS token (prepend_bos)"))
        if append_eos:
            parts.append(self._column(ids.nrows(), self.eos_token, "EOS token (append_eos)"))
        ids = tf.concat(parts, axis=1) if len(parts) > 1 else ids
        ids = tf.cast(ids[:, :max_num_tokens], tf.int32)
        return ids.to_tensor(default_value=PAD_ID, shape=[None, max_num_tokens])

    def _tokenize(self, strings: tf.Tensor) -> tf.RaggedTensor:
        raise NotImplementedError

    def _column(self, rows: tf.Tensor, token: int | None, what: str) -> tf.RaggedTensor:
        if token is None:
            raise ValueError(f"The vocabulary {self._file} has no {what}.")
        return tf.RaggedTensor.from_tensor(tf.fill([rows, 1], tf.constant(token, tf.int64)))


class WordTokenizer(_Tokenizer):
    """Word-level tokenizer of the original VATT (``howto100m_en.txt``).

    Vocabulary file: one word per line (the line index is the id) or ``"<id> <word>"`` lines. It must
    hold ``<pad>`` with id 0 and ``<unk>``; ``<bos>`` and ``<eos>`` are needed only when asked for.
    Text is stripped of ``[[:punct:]]``, lower-cased and split on whitespace.
    """

    def __init__(self, vocabulary_path: str):
        super().__init__(vocabulary_path, "WordTokenizer vocabulary")
        self.vocabulary_path = vocabulary_path
        self._vocabulary = _read_word_vocabulary(vocabulary_path)
        self.pad_token = self._vocabulary["<pad>"]
        self.unk_token = self._vocabulary["<unk>"]
        self.bos_token = self._vocabulary.get("<bos>")
        self.eos_token = self._vocabulary.get("<eos>")
        self._words = {i: w for w, i in self._vocabulary.items()}
        self._table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                list(self._vocabulary), list(self._vocabulary.values()), tf.string, tf.int64
            ),
            default_value=self.unk_token,
        )

    @property
    def vocab_size(self) -> int:
        """One more than the largest id."""
        return max(self._vocabulary.values()) + 1

    def _tokenize(self, strings: tf.Tensor) -> tf.RaggedTensor:
        text = tf.strings.lower(tf.strings.regex_replace(strings, r"[[:punct:]]", ""))
        return tf.ragged.map_flat_values(self._table.lookup, tf.strings.split(text))

    def indices_to_string(self, ids) -> str:
        """Ids back to words joined by spaces, padding dropped."""
        return " ".join(self._words[int(i)] for i in ids if int(i) != self.pad_token)


def _read_word_vocabulary(path: str) -> dict[str, int]:
    with tf.io.gfile.GFile(path) as handle:
        lines = [line.rstrip("\n") for line in handle if line.strip()]
    vocabulary: dict[str, int] = {}
    for number, line in enumerate(lines):
        parts = line.split()
        if len(parts) == 2 and parts[0].isdigit():
            index, word = int(parts[0]), parts[1]
        elif len(parts) == 1:
            index, word = number, parts[0]
        else:
            raise ValueError(f"{path}:{number + 1}: expected 'word' or '<id> word', got {line!r}.")
        if word in vocabulary:
            raise ValueError(f"{path}:{number + 1}: the word {word!r} appears twice.")
        if word != word.lower():
            raise ValueError(f"{path}:{number + 1}: {word!r} is not lower case; text is lowered.")
        vocabulary[word] = index
    for required in ("<pad>", "<unk>"):
        if required not in vocabulary:
            raise ValueError(f"The vocabulary {path} lacks the {required} token.")
    if vocabulary["<pad>"] != PAD_ID:
        raise ValueError(
            f"The vocabulary {path} gives <pad> id {vocabulary['<pad>']}; VATT's text mask needs 0."
        )
    return vocabulary


class BertTokenizer(_Tokenizer):
    """BERT WordPiece (lower-cased) over a vocabulary file with ``[PAD]`` (id 0), ``[UNK]``,
    ``[CLS]`` (BOS) and ``[SEP]`` (EOS); word pieces of a caption are concatenated."""

    def __init__(self, vocabulary_path: str):
        import tensorflow_text

        super().__init__(vocabulary_path, "BertTokenizer vocabulary")
        self.vocabulary_path = vocabulary_path
        with tf.io.gfile.GFile(vocabulary_path) as handle:
            self._tokens = [line.rstrip("\n") for line in handle]
        index = {token: i for i, token in enumerate(self._tokens)}
        missing = [t for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]") if t not in index]
        if missing:
            raise ValueError(f"The BERT vocabulary {vocabulary_path} lacks {missing}.")
        if index["[PAD]"] != PAD_ID:
            raise ValueError(f"The BERT vocabulary {vocabulary_path} must have [PAD] on line 1.")
        self.pad_token, self.unk_token = index["[PAD]"], index["[UNK]"]
        self.bos_token, self.eos_token = index["[CLS]"], index["[SEP]"]
        lookup = tf.lookup.StaticVocabularyTable(
            tf.lookup.KeyValueTensorInitializer(
                self._tokens, tf.range(len(self._tokens), dtype=tf.int64)
            ),
            num_oov_buckets=1,
        )
        self._tokenizer = tensorflow_text.BertTokenizer(
            lookup, token_out_type=tf.int64, lower_case=True, unknown_token="[UNK]"
        )

    @property
    def vocab_size(self) -> int:
        """Number of word pieces in the vocabulary."""
        return len(self._tokens)

    def _tokenize(self, strings: tf.Tensor) -> tf.RaggedTensor:
        return self._tokenizer.tokenize(strings).merge_dims(-2, -1)

    def indices_to_string(self, ids) -> str:
        """Word pieces joined by spaces, padding dropped."""
        return " ".join(self._tokens[int(i)] for i in ids if int(i) != self.pad_token)


class SentencePieceTokenizer(_Tokenizer):
    """SentencePiece over a ``.model`` file; output padded with id 0 (VATT's pad id)."""

    def __init__(self, model_path: str):
        import tensorflow_text

        super().__init__(model_path, "SentencePiece model")
        self.model_path = model_path
        with tf.io.gfile.GFile(model_path, "rb") as handle:
            model = handle.read()
        self._tokenizer = tensorflow_text.SentencepieceTokenizer(model=model, out_type=tf.int32)
        self.pad_token = PAD_ID
        self.unk_token = int(self._tokenizer.string_to_id("<unk>"))
        self.bos_token = int(self._tokenizer.string_to_id("<s>"))
        self.eos_token = int(self._tokenizer.string_to_id("</s>"))

    @property
    def vocab_size(self) -> int:
        """Number of pieces in the model."""
        return int(self._tokenizer.vocab_size())

    def _tokenize(self, strings: tf.Tensor) -> tf.RaggedTensor:
        return self._tokenizer.tokenize(strings)

    def indices_to_string(self, ids) -> str:
        """Decoded text of ``ids``, padding dropped."""
        kept = [int(i) for i in ids if int(i) != self.pad_token]
        return self._tokenizer.detokenize(tf.constant(kept, tf.int32)).numpy().decode()


TOKENIZER_CLASSES = {
    "word": WordTokenizer,
    "bert": BertTokenizer,
    "sentencepiece": SentencePieceTokenizer,
}


def get_tokenizer(name: str, path: str) -> WordTokenizer | BertTokenizer | SentencePieceTokenizer:
    """The tokenizer ``name`` (``word``, ``bert`` or ``sentencepiece``) reading ``path``."""
    if name not in TOKENIZER_CLASSES:
        raise ValueError(f"Unknown tokenizer {name!r}; choose one of {sorted(TOKENIZER_CLASSES)}.")
    return TOKENIZER_CLASSES[name](os.fspath(path))
