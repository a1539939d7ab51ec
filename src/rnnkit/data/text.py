"""Text corpora: read user files safely, tokenise into characters or words, build a vocabulary.

Reading is strict at the boundary (``rnnkit.data.files``): every file must be non-empty
UTF-8 text, plain or gzipped, and the error names the file (and byte offset) when it is
not. Any script works: characters are Unicode code points, and the vocabulary is whatever
occurs in the training text.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch

from rnnkit.data import files
from rnnkit.errors import DataError

UNK = "<unk>"
# Words, single punctuation marks and newlines are tokens; other whitespace separates.
_WORD_RE = re.compile(r"\w+|[^\w\s]|\n")


def read_text(path: str | Path) -> str:
    """Read a file, or every non-hidden file under a folder (sorted, joined by newlines);
    gzipped files are decompressed. DataError (naming the file) for a missing, empty,
    binary or undecodable file: see ``rnnkit.data.files``."""
    p = Path(path).expanduser()
    if p.is_dir():
        found = sorted(f for f in p.rglob("*") if f.is_file()
                       and not any(part.startswith(".") for part in f.relative_to(p).parts))
        if not found:
            raise DataError(f"{p}: folder contains no files")
        return "\n".join(files.read_text(f) for f in found)
    if not p.exists():
        raise DataError(f"{p}: no such file or folder")
    return files.read_text(p)


def tokenize(text: str, level: str) -> list[str]:
    """Characters, or words/punctuation/newlines for ``level='word'``."""
    if level == "char":
        return list(text)
    assert level == "word", level
    return _WORD_RE.findall(text)


def detokenize(tokens: list[str], level: str) -> str:
    if level == "char":
        return "".join(tokens)
    out = []
    for tok in tokens:  # a space before each word, none around newlines
        if out and tok != "\n" and out[-1] != "\n" and (tok[0].isalnum() or tok[0] == "_"):
            out.append(" ")
        out.append(tok)
    return "".join(out)


@dataclass
class Vocab:
    """Token <-> id map. Id 0 is ``<unk>`` for tokens never seen in training."""

    tokens: list[str]
    level: str = "char"

    def __post_init__(self) -> None:
        assert self.tokens[0] == UNK
        self.index = {t: i for i, t in enumerate(self.tokens)}

    @classmethod
    def build(cls, tokens: list[str], level: str, max_size: int | None = None) -> Vocab:
        """Most frequent first (ties by token) so ids are deterministic."""
        counts = Counter(tokens)
        counts.pop(UNK, None)
        ranked = sorted(counts, key=lambda t: (-counts[t], t))
        if max_size is not None and level == "word":
            ranked = ranked[: max(max_size - 1, 1)]
        return cls([UNK, *ranked], level)

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, tokens: list[str]) -> torch.Tensor:
        return torch.tensor([self.index.get(t, 0) for t in tokens], dtype=torch.long)

    def decode(self, ids) -> str:
        return detokenize([self.tokens[int(i)] for i in ids], self.level)

    def to_dict(self) -> dict:
        """Plain lists/str only, so checkpoints load with ``weights_only=True``."""
        return {"level": self.level, "tokens": list(self.tokens)}

    @classmethod
    def from_dict(cls, d: dict) -> Vocab:
        return cls(list(d["tokens"]), d["level"])


@dataclass
class Corpus:
    """Encoded train/valid token ids (1-D LongTensors) and their vocabulary."""

    train: torch.Tensor
    valid: torch.Tensor
    vocab: Vocab
    source: str
    sha256: str  # of the text as read (after UTF-8 decoding and newline normalisation)

    def unigram_bits(self, max_tokens: int | None = None) -> float:
        """Baseline: bits per token of the valid targets (the first ``max_tokens``, as the
        model is scored) under train unigram frequencies, add-one smoothed."""
        counts = torch.bincount(self.train, minlength=len(self.vocab)).double() + 1.0
        logp = torch.log2(counts / counts.sum())
        targets = self.valid[1:] if max_tokens is None else self.valid[1:max_tokens + 1]
        return float(-logp[targets].mean())


def load_corpus(path: str | Path, *, level: str = "char", vocab_size: int | None = None,
                valid_fraction: float = 0.05, valid_path: str | Path | None = None,
                text: str | None = None) -> Corpus:
    """Read, tokenise and split text. ``text`` bypasses reading (shipped corpora)."""
    text = read_text(path) if text is None else text
    tokens = tokenize(text, level)
    if valid_path is not None:
        train_toks, valid_toks = tokens, tokenize(read_text(valid_path), level)
    else:
        n_valid = max(int(len(tokens) * valid_fraction), 2)
        train_toks, valid_toks = tokens[:-n_valid], tokens[-n_valid:]
    if len(train_toks) < 2 or len(valid_toks) < 2:
        raise DataError(f"{path}: too little text ({len(tokens)} {level} tokens) to split "
                        "into training and validation sets")
    vocab = Vocab.build(train_toks, level, vocab_size)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Corpus(vocab.encode(train_toks), vocab.encode(valid_toks), vocab, str(path), digest)


def bits(nats: float) -> float:
    return nats / math.log(2)
