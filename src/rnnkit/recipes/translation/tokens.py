"""Sentence pairs -> token ids for training: tokenisers trained on the training side only
(sentencepiece subwords or characters, ``rnnkit.data.subwords``), BOS/EOS framing and the
length limit."""

from __future__ import annotations

import torch

from rnnkit.data.parallel import SentencePairs
from rnnkit.models.translation import BOS, EOS


def make_tokenizers(train: SentencePairs, level: str, vocab_size: int, joint: bool = False):
    """(source, target) tokenisers fitted to the training pairs only; with ``joint`` one
    tokeniser fitted to both sides serves as both (a shared vocabulary, so a source token's
    id is the same target token's: what copying needs)."""
    from rnnkit.data.subwords import CharTokenizer, SubwordTokenizer

    if joint:
        both = [*train.src, *train.tgt]
        tok = CharTokenizer.train(both) if level == "char" \
            else SubwordTokenizer.train(both, vocab_size)
        return tok, tok
    if level == "char":
        return CharTokenizer.train(train.src), CharTokenizer.train(train.tgt)
    return (SubwordTokenizer.train(train.src, vocab_size),
            SubwordTokenizer.train(train.tgt, vocab_size))


def encode_pairs(pairs: SentencePairs, src_tok, tgt_tok, limit: int | None
                 ) -> tuple[list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]], int]:
    """[(src (S,), tgt_in = BOS y (T,), tgt_out = y EOS (T,))] and how many pairs were left
    out for a side longer than ``limit`` tokens (or empty after tokenising)."""
    out, dropped = [], 0
    for s, t in zip(pairs.src, pairs.tgt, strict=True):
        x, y = src_tok.encode(s), tgt_tok.encode(t)
        if not x or not y or (limit is not None and max(len(x), len(y) + 1) > limit):
            dropped += 1
            continue
        out.append((torch.tensor(x), torch.tensor([BOS, *y]), torch.tensor([*y, EOS])))
    return out, dropped
