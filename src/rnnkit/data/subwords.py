"""Tokenisers for translation: sentencepiece subwords, or characters, one interface.

Both map text to ids and back with the same special ids, which the translation models rely
on: ``PAD = 0`` (batch padding), ``BOS = 1`` (start of a target sentence), ``EOS = 2``
(end of a sentence), ``UNK = 3`` (a piece or character never seen in training).
``encode`` adds none of them; ``decode`` drops PAD/BOS/EOS and writes UNK as ⁇.

Both train on the training side only (valid/test text must not shape the vocabulary) and
fit in a checkpoint: ``to_dict()`` holds only str/int/list/bytes, which ``torch.load(...,
weights_only=True)`` accepts, so a checkpoint alone is enough to translate;
``tokenizer_from_dict`` rebuilds either kind.

Subwords: sentencepiece's unigram model (Kudo 2018, "Subword Regularization", section 3)
trained on one thread with a fixed seed, so the same texts give byte-identical models.
Text is not normalised (``identity`` rule: what the model writes is in the data's own
conventions) except that runs of spaces become one and ends are trimmed.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from rnnkit.errors import DataError, unknown_name

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ("<pad>", "<s>", "</s>", "<unk>")
UNK_TEXT = "\u2047"  # ⁇, what sentencepiece writes for <unk>


class CharTokenizer:
    """Characters (Unicode code points) as tokens: ids 0-3 are the special ids, then the
    training text's characters, most frequent first (ties by code point)."""

    kind = "char"
    suffix = ".chars.json"  # what ``save`` writes

    def __init__(self, chars: Sequence[str]):
        assert all(len(c) == 1 for c in chars), "one character per token"
        self.chars = list(chars)
        self.index = {c: k + len(SPECIALS) for k, c in enumerate(self.chars)}

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int | None = None,
              path_prefix: str | Path | None = None, seed: int = 0) -> CharTokenizer:
        """The characters of ``texts`` (the training side), the most frequent
        ``vocab_size - 4`` where given (rarer ones become UNK). ``path_prefix`` and
        ``seed`` are accepted for the common interface; nothing is written (the vocabulary
        lives in the checkpoint, ``to_dict``) and nothing is random."""
        counts = Counter(c for t in texts for c in t)
        if not counts:
            raise DataError("no training text to build a character vocabulary from")
        ranked = sorted(counts, key=lambda c: (-counts[c], c))
        if vocab_size is not None:
            if vocab_size <= len(SPECIALS):
                raise DataError(f"vocab_size {vocab_size} leaves no room for characters "
                                f"after the {len(SPECIALS)} special ids")
            ranked = ranked[:vocab_size - len(SPECIALS)]
        return cls(ranked)

    @property
    def vocab_size(self) -> int:
        return len(SPECIALS) + len(self.chars)

    def encode(self, text: str) -> list[int]:
        return [self.index.get(c, UNK) for c in text]

    def decode(self, ids: Iterable[int]) -> str:
        out = []
        for i in ids:
            i = int(i)
            if i >= len(SPECIALS):
                out.append(self.chars[i - len(SPECIALS)])
            elif i == UNK:
                out.append(UNK_TEXT)
        return "".join(out)

    def id_pieces(self, ids: Iterable[int]) -> list[str]:
        """One string per id (special ids by their names), e.g. for attention plots."""
        return [self.chars[i - len(SPECIALS)] if i >= len(SPECIALS) else SPECIALS[i]
                for i in map(int, ids)]

    def save(self, path: str | Path) -> Path:
        """Write the characters as JSON (atomically); the checkpoint holds them too."""
        import json

        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), ensure_ascii=False))
        tmp.replace(path)
        return path

    def to_dict(self) -> dict:
        return {"kind": self.kind, "chars": list(self.chars)}

    @classmethod
    def from_dict(cls, d: dict) -> CharTokenizer:
        return cls(list(d["chars"]))


class SubwordTokenizer:
    """A sentencepiece model with the special ids above (pieces ``<pad> <s> </s> <unk>``).

    Train with ``SubwordTokenizer.train``; rebuild with ``load(path)`` or ``from_dict``.
    """

    kind = "subword"
    suffix = ".model"

    def __init__(self, model: bytes, note: str = ""):
        self.model = bytes(model)
        self.note = note  # set where training lowered the vocabulary size
        self.sp = _spm().SentencePieceProcessor(model_proto=self.model)
        got = (self.sp.pad_id(), self.sp.bos_id(), self.sp.eos_id(), self.sp.unk_id())
        if got != (PAD, BOS, EOS, UNK):
            raise DataError(f"sentencepiece model has special ids pad/bos/eos/unk = {got}, "
                            f"expected {(PAD, BOS, EOS, UNK)}: train it with "
                            "SubwordTokenizer.train")

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int,
              path_prefix: str | Path | None = None, seed: int = 0,
              model_type: str = "unigram") -> SubwordTokenizer:
        """Train on ``texts`` (the training side only) and, with ``path_prefix``, write
        ``<path_prefix>.model``.

        A ``vocab_size`` larger than the text supports (sentencepiece stops with "Vocabulary
        size too high ... <= N") is lowered to N and said in ``.note``; one smaller than the
        text's distinct characters plus 4 is a DataError (every character is kept, as
        ``character_coverage=1.0``: a small corpus has no characters to spare).
        """
        texts = [t for t in texts if t.strip()]
        if not texts:
            raise DataError("no training text to train a subword vocabulary on")
        longest = max(len(t.encode("utf-8")) for t in texts)
        options = dict(
            model_type=model_type,
            pad_id=PAD, bos_id=BOS, eos_id=EOS, unk_id=UNK,
            pad_piece=SPECIALS[PAD], bos_piece=SPECIALS[BOS], eos_piece=SPECIALS[EOS],
            unk_piece=SPECIALS[UNK],
            character_coverage=1.0,
            normalization_rule_name="identity",
            num_threads=1,  # the EM and pruning steps then run in one fixed order
            input_sentence_size=0,  # use every sentence: no sampling, no shuffle
            shuffle_input_sentence=False,
            max_sentence_length=max(longest + 1, 4192),  # longer ones are dropped silently
            minloglevel=2,  # errors only: no progress log on stderr
        )
        note = ""
        try:
            model = _train(texts, vocab_size, seed, options)
        except RuntimeError as e:
            msg = str(e)
            if m := re.search(r"Please set it to a value <= (\d+)", msg):
                fit = int(m.group(1))
                note = (f"vocab_size {vocab_size} lowered to {fit}: the most {model_type} "
                        "pieces this training text supports")
                model = _train(texts, fit, seed, options)
            elif m := re.search(r"smaller than required_chars\. (\d+) vs (\d+)", msg):
                raise DataError(f"vocab_size {vocab_size} is too small: the training text "
                                f"needs at least {m.group(2)} (its characters and the 4 "
                                "special pieces)") from None
            else:
                raise DataError(f"sentencepiece training failed: {msg.splitlines()[-1]}"
                                ) from None
        tok = cls(model, note)
        if path_prefix is not None:
            tok.save(f"{path_prefix}.model")
        return tok

    @classmethod
    def load(cls, path: str | Path) -> SubwordTokenizer:
        """A model written by ``train``/``save``. DataError for a missing, empty or
        unreadable file, or one that is not a sentencepiece model with these special ids."""
        from rnnkit.data import files

        raw = files.read_bytes(path, "a sentencepiece model")
        try:
            return cls(raw)
        except RuntimeError as e:  # sentencepiece's parse error
            raise DataError(f"{path}: not a sentencepiece model ({e})") from None

    def save(self, path: str | Path) -> Path:
        """Write the model (atomically: a killed run leaves no partial file)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(self.model)
        tmp.replace(path)
        return path

    @property
    def vocab_size(self) -> int:
        return self.sp.get_piece_size()

    def encode(self, text: str) -> list[int]:
        return self.sp.encode(text)

    def decode(self, ids: Iterable[int]) -> str:
        return self.sp.decode([int(i) for i in ids])

    def pieces(self, text: str) -> list[str]:
        """The pieces of ``text`` (for inspection: ``▁`` marks a word start)."""
        return self.sp.encode(text, out_type=str)

    def id_pieces(self, ids: Iterable[int]) -> list[str]:
        """One piece per id (``▁`` marks a word start), e.g. for attention plots."""
        return [self.sp.id_to_piece(int(i)) for i in ids]

    def to_dict(self) -> dict:
        return {"kind": self.kind, "model": self.model}

    @classmethod
    def from_dict(cls, d: dict) -> SubwordTokenizer:
        return cls(bytes(d["model"]))


Tokenizer = CharTokenizer | SubwordTokenizer
_KINDS = {"char": CharTokenizer, "subword": SubwordTokenizer}


def tokenizer_from_dict(d: dict) -> Tokenizer:
    """Either tokeniser from its ``to_dict()`` (as stored in a checkpoint)."""
    kind = d.get("kind")
    if kind not in _KINDS:
        raise DataError(unknown_name("tokenizer kind", kind, _KINDS))
    return _KINDS[kind].from_dict(d)


def _spm():
    """sentencepiece, imported on first use so character tokenisers work without it."""
    try:
        import sentencepiece
    except ImportError:
        raise ImportError("subword tokenisers need sentencepiece: "
                          "pip install sentencepiece==0.2.3") from None
    return sentencepiece


def _train(texts: list[str], vocab_size: int, seed: int, options: dict) -> bytes:
    spm = _spm()
    spm.set_random_generator_seed(seed)
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(texts), model_writer=buf,
                                   vocab_size=vocab_size, **options)
    return buf.getvalue()
