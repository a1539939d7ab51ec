"""Report lines for language-model runs: validation against the unigram baseline
and samples (the run report itself is ``base.write_report``; the target line comes from
the recipe's ``Target``)."""

from __future__ import annotations

import math

from rnnkit.data.text import Corpus
from rnnkit.train.loop import FitResult

LN2 = math.log(2)


def quality_lines(valid_nats: float, unigram_bits: float, level: str) -> list[str]:
    """Human-readable validation numbers next to the unigram baseline."""
    if math.isinf(valid_nats):
        return ["- no validation pass was run"]
    unit = "bits/char" if level == "char" else "bits/word"
    lines = [f"- validation: **{valid_nats / LN2:.3f} {unit}** ({valid_nats:.3f} nats)",
             f"- unigram baseline: {unigram_bits:.3f} {unit} "
             f"(model is {unigram_bits - valid_nats / LN2:+.3f} {unit} better)"]
    if level == "word":
        lines.append(f"- perplexity: {math.exp(valid_nats):.1f} "
                     f"(unigram {2 ** unigram_bits:.1f})")
    return lines


def describe_corpus(corpus: Corpus, eval_tokens: int | None) -> str:
    """One line: where the text came from, its split, vocabulary and how much is scored."""
    n_valid = corpus.valid.numel()
    return (f"data `{corpus.source}` ({corpus.train.numel():,} train / {n_valid:,} valid "
            f"{corpus.vocab.level} tokens, vocabulary {len(corpus.vocab):,}; text sha256 "
            f"`{corpus.sha256[:16]}…`; {min(n_valid, eval_tokens or n_valid):,} valid tokens "
            "scored per pass)")


def lm_report_lines(fit: FitResult, corpus: Corpus, unigram_bits: float,
                    samples: dict[float, str]) -> list[str]:
    """Validation against the unigram baseline, then the samples."""
    lines = quality_lines(fit.best_valid_loss, unigram_bits, corpus.vocab.level)
    lines += ["", "## Samples (final model)"]
    for temp, text in samples.items():
        lines += ["", f"temperature {temp}:", "", "```", text.strip("\n"), "```"]
    return lines
