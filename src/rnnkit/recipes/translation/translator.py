"""Trained translation model + its tokenisers -> text: decoding and scoring, shared by the
recipe's finish step, ``rnnkit translate`` and ``rnnkit eval``.

    sentence --src tokenizer--> ids (S,) --model.encode/decode_step + beam--> ids --tgt--> text

Scores are sacrebleu's corpus BLEU and chrF on detokenised text against the raw references
(sacrebleu tokenises itself: "13a" for BLEU), with its signature string in every report.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from rnnkit.data.parallel import straight_quotes
from rnnkit.data.sequences import pad_batch
from rnnkit.errors import DataError
from rnnkit.models.decoding import Hypothesis, beam_search, greedy_decode, length_limits

# Decoding length limit per sentence: a*S + b target tokens, generous for language pairs
# whose sentences are within 2x of each other in token count.
MAX_LEN_SCALE, MAX_LEN_EXTRA = 2.0, 10


@dataclass
class Translation:
    """One output sentence: text, normalised score, the token strings on both sides and
    the attention weights (T, S) between them (None without attention)."""

    text: str
    score: float
    src_pieces: list[str]
    tgt_pieces: list[str]
    attention: torch.Tensor | None


class Translator:
    """A trained model with its tokenisers. ``max_tokens``: the longest source sentence the
    model was trained for; longer input is a DataError naming the sentence."""

    def __init__(self, model: nn.Module, src_tok, tgt_tok, max_tokens: int | None = None,
                 device: str | torch.device = "cpu"):
        self.model, self.src_tok, self.tgt_tok = model.eval(), src_tok, tgt_tok
        self.max_tokens, self.device = max_tokens, device

    def encode(self, sentence: str, where: str = "sentence") -> torch.Tensor:
        """Source ids (S,); DataError for an empty or over-long sentence. Curly quotes are
        straightened as the training data's were (``data.parallel.straight_quotes``)."""
        ids = self.src_tok.encode(straight_quotes(sentence))
        if not ids:
            raise DataError(f"{where}: empty sentence")
        if self.max_tokens is not None and len(ids) > self.max_tokens:
            raise DataError(f"{where}: {len(ids)} tokens, longer than the model's limit of "
                            f"{self.max_tokens} (split the sentence)")
        return torch.tensor(ids, dtype=torch.long)

    @torch.no_grad()
    def translate(self, sentences: list[str], *, beam: int = 5, n_best: int = 1,
                  length_penalty: float = 1.0, batch_size: int = 32,
                  where: list[str] | None = None) -> list[list[Translation]]:
        """n-best translations of each sentence (beam 1: greedy decoding). A blank sentence
        gets one empty translation, so output lines stay aligned with input lines."""
        where = where or [f"sentence {k + 1}" for k in range(len(sentences))]
        blank = [Translation("", 0.0, [], [], None)]
        out: list[list[Translation]] = [blank] * len(sentences)
        todo = [k for k, s in enumerate(sentences) if s.strip()]
        for i in range(0, len(todo), batch_size):
            chunk = todo[i:i + batch_size]
            ids = [self.encode(sentences[k], where[k]) for k in chunk]
            src, lengths = pad_batch(ids)
            src, lengths = src.to(self.device), lengths.to(self.device)
            max_len = length_limits(lengths, MAX_LEN_SCALE, MAX_LEN_EXTRA)  # (B,) per sentence
            if beam == 1 and n_best == 1:
                hyps = [[h] for h in greedy_decode(self.model, src, lengths, max_len)]
            else:
                hyps = beam_search(self.model, src, lengths, beam_size=max(beam, n_best),
                                   max_len=max_len, length_penalty=length_penalty,
                                   n_best=n_best)
            for k, src_ids, nbest in zip(chunk, ids, hyps, strict=True):
                out[k] = [self._translation(src_ids, h) for h in nbest]
        return out

    def _translation(self, src_ids: torch.Tensor, h: Hypothesis) -> Translation:
        return Translation(self.tgt_tok.decode(h.tokens), float(h.score),
                           self.src_tok.id_pieces(src_ids.tolist()),
                           self.tgt_tok.id_pieces(h.tokens), h.attention)

    def stream(self, lines: Iterable[str], **kw) -> Iterator[list[Translation]]:
        """Translate line by line in batches of ``batch_size`` as they arrive."""
        batch_size = kw.get("batch_size", 32)
        batch: list[str] = []
        for line in lines:
            batch.append(line.rstrip("\n"))
            if len(batch) == batch_size:
                yield from self.translate(batch, **kw)
                batch = []
        if batch:
            yield from self.translate(batch, **kw)


def corpus_scores(hypotheses: list[str], references: list[str]) -> dict:
    """BLEU and chrF (sacrebleu, corpus level) with their signature strings."""
    import sacrebleu

    bleu, chrf = sacrebleu.metrics.BLEU(), sacrebleu.metrics.CHRF()
    b = bleu.corpus_score(hypotheses, [references])
    c = chrf.corpus_score(hypotheses, [references])
    return {"bleu": b.score, "chrf": c.score, "bleu_signature": str(bleu.get_signature()),
            "chrf_signature": str(chrf.get_signature())}


def sentence_bleu(hypothesis: str, reference: str) -> float:
    """Smoothed sentence BLEU, for picking good and bad examples (not for reporting)."""
    import sacrebleu

    return sacrebleu.sentence_bleu(hypothesis, [reference]).score


def translator_from_run(run) -> Translator:
    """The Translator of a loaded translation run (``base.LoadedRun``)."""
    from rnnkit.data.subwords import tokenizer_from_dict

    spec = run.spec
    return Translator(run.model, tokenizer_from_dict(spec["src_tokenizer"]),
                      tokenizer_from_dict(spec["tgt_tokenizer"]), spec.get("max_tokens"),
                      next(run.model.parameters()).device)


def load_translator(path, device: str = "cpu", precision: str = "float32"):
    """(Translator, LoadedRun) from a translation run folder or checkpoint file."""
    from rnnkit.recipes.base import load_run

    run = load_run(path, ("translator",), device, precision)
    return translator_from_run(run), run
