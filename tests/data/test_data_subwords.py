"""Tokenisers: round trips, the special ids, checkpoint dicts that load with
weights_only=True, deterministic subword training, and vocabulary sizes the text
cannot support."""

from __future__ import annotations

import io

import pytest
import torch

from rnnkit.data.subwords import (
    BOS,
    EOS,
    PAD,
    UNK,
    CharTokenizer,
    SubwordTokenizer,
    tokenizer_from_dict,
)
from rnnkit.errors import DataError

pytest.importorskip("sentencepiece")

TEXTS = [f"{a} {b} the {c}." for a in ("The fish", "A crab", "Our boss", "This ship")
         for b in ("sees", "finds", "moves", "likes") for c in ("pipe", "ship", "eye", "key")]
TEXTS += ["What kind of strange ship is that?", "Can you see that eye?"]


def through_checkpoint(d: dict) -> dict:
    buf = io.BytesIO()
    torch.save({"tokenizer": d}, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)["tokenizer"]


def test_char_round_trip_and_special_ids():
    tok = CharTokenizer.train(TEXTS)
    ids = tok.encode("The fish sees the key.")
    assert min(ids) > UNK and tok.decode([BOS, *ids, EOS, PAD, PAD]) == "The fish sees the key."
    assert tok.encode("Zz") == [UNK, UNK] and tok.decode(tok.encode("é")) == "\u2047"
    assert tok.vocab_size == 4 + len(set("".join(TEXTS)))
    again = tokenizer_from_dict(through_checkpoint(tok.to_dict()))
    assert isinstance(again, CharTokenizer) and again.chars == tok.chars


def test_char_vocab_size_keeps_the_most_frequent():
    tok = CharTokenizer.train(["aaab", "ab"], vocab_size=5)
    assert tok.chars == ["a"] and tok.encode("ab") == [4, UNK]
    with pytest.raises(DataError, match="no training text"):
        CharTokenizer.train([])
    with pytest.raises(DataError, match="leaves no room"):
        CharTokenizer.train(["ab"], vocab_size=4)


def test_subword_round_trip_file_and_checkpoint(tmp_path):
    tok = SubwordTokenizer.train(TEXTS, 40, tmp_path / "src", seed=0)
    assert tok.vocab_size == 40 and tok.note == ""
    assert tok.sp.id_to_piece([PAD, BOS, EOS, UNK]) == ["<pad>", "<s>", "</s>", "<unk>"]
    text = "What kind of strange fish is that?"
    ids = tok.encode(text)
    assert min(ids) > UNK and tok.decode([BOS, *ids, EOS, PAD]) == text
    assert UNK in tok.encode("Zoë")  # never seen: Z, ë
    loaded = SubwordTokenizer.load(tmp_path / "src.model")
    assert loaded.model == tok.model and loaded.encode(text) == ids
    again = tokenizer_from_dict(through_checkpoint(tok.to_dict()))
    assert isinstance(again, SubwordTokenizer) and again.encode(text) == ids


def test_subword_training_is_deterministic():
    a = SubwordTokenizer.train(TEXTS, 40, seed=1)
    b = SubwordTokenizer.train(list(TEXTS), 40, seed=1)
    assert a.model == b.model


def test_subword_vocab_size_too_large_is_lowered_with_a_note():
    tok = SubwordTokenizer.train(TEXTS, 5000)
    assert tok.vocab_size < 5000
    assert tok.note == (f"vocab_size 5000 lowered to {tok.vocab_size}: the most unigram "
                        "pieces this training text supports")


def test_subword_errors_are_one_line(tmp_path):
    with pytest.raises(DataError, match="^no training text to train a subword vocabulary on$"):
        SubwordTokenizer.train(["", "  "], 100)
    with pytest.raises(DataError, match=r"^vocab_size 10 is too small: the training text "
                                        r"needs at least \d+ \(its characters"):
        SubwordTokenizer.train(TEXTS, 10)
    bad = tmp_path / "x.model"
    bad.write_bytes(b"not a model at all")
    with pytest.raises(DataError, match=f"^{bad}: not a sentencepiece model"):
        SubwordTokenizer.load(bad)
    with pytest.raises(DataError, match="unknown tokenizer kind 'bpe'"):
        tokenizer_from_dict({"kind": "bpe"})
