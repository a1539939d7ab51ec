"""Data loaders per field. Text: strict UTF-8 reading, char/word vocabularies, splits,
and the shipped Shakespeare corpus; streams for truncated BPTT live in ``rnnkit.train``."""

from rnnkit.data.text import Corpus, Vocab, load_corpus, read_text

__all__ = ["Corpus", "Vocab", "load_corpus", "read_text"]
