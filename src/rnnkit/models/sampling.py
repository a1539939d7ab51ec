"""The one sampler: draws text from a TokenLM, used by ``rnnkit sample``, the demo and
run reports alike.

Each step feeds one token and keeps the recurrent state, so generating n tokens costs n
single-step forward passes. Logits are divided by the temperature (0 = greedy), then
optionally restricted to the k most likely tokens (top-k) and/or to the smallest set
whose probability reaches p (nucleus / top-p, Holtzman et al. 2020), then renormalised.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from rnnkit.data.text import Vocab, tokenize
from rnnkit.errors import ConfigError


def check_sampling(temperature: float, top_k: int | None, top_p: float | None,
                   length: int) -> None:
    """Boundary checks with messages naming the option."""
    if not 0 <= temperature < float("inf"):  # also catches NaN
        raise ConfigError(f"--temperature must be >= 0 and finite (got {temperature})")
    if top_k is not None and top_k < 1:
        raise ConfigError(f"--top-k must be >= 1 (got {top_k})")
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ConfigError(f"--top-p must be in (0, 1] (got {top_p})")
    if length < 0:
        raise ConfigError(f"--length must be >= 0 (got {length})")


def unknown_tokens(prime: str, vocab: Vocab) -> list[str]:
    """The distinct tokens of ``prime`` (characters, or words for a word-level vocabulary)
    that ``vocab`` lacks, in order of first use. ``generate`` reads each as ``<unk>``
    (id 0), as ``Vocab.encode`` does, so callers can warn before sampling."""
    return list(dict.fromkeys(t for t in tokenize(prime, vocab.level) if t not in vocab.index))


def unknown_line(unknown: list[str], level: str, what: str = "--prime", show: int = 10) -> str:
    """One line naming the prime's unknown tokens (``unknown_tokens``), repr'd so whitespace
    and control characters are visible, at most ``show`` of them; ``what`` names the prime
    as the caller's user knows it (an option, a JSON field)."""
    kind = ("character" if level == "char" else "word") + ("s" if len(unknown) > 1 else "")
    names = ", ".join(repr(t) for t in unknown[:show])
    more = f" and {len(unknown) - show} more" if len(unknown) > show else ""
    return (f"{what} has {len(unknown)} {kind} not in the model's vocabulary ({names}{more}); "
            "each is read as <unk> (id 0)")

def filter_logits(logits: torch.Tensor, top_k: int | None, top_p: float | None) -> torch.Tensor:
    """Set logits outside the top-k / top-p set to -inf. logits: (V,)."""
    if top_k is not None and top_k < logits.numel():
        kth = torch.topk(logits, top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True)
        cum = torch.softmax(sorted_logits, -1).cumsum(-1)
        # keep a token if the mass *before* it is < p: the top token always survives
        drop_sorted = (cum - torch.softmax(sorted_logits, -1)) >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(0, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


@torch.no_grad()
def generate(model: nn.Module, vocab: Vocab, *, prime: str = "", length: int = 200,
             temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
             seed: int | None = None, device: torch.device | str = "cpu") -> Iterator[str]:
    """Yield the generated text piece by piece (one token at a time), after the prime.

    An empty prime starts from a newline, the most neutral context in line-based text.
    Unknown prime tokens map to ``<unk>`` (see ``unknown_tokens``); ``<unk>`` itself is
    never sampled.
    """
    check_sampling(temperature, top_k, top_p, length)
    gen = torch.Generator(device="cpu")
    gen.manual_seed(seed if seed is not None else torch.seed())
    was_training = model.training
    model.eval()
    try:
        context = tokenize(prime, vocab.level) or ["\n"]
        ids = vocab.encode(context).to(device)                      # (P,)
        logits, state = model(ids.view(-1, 1), None)                 # (P, 1, V)
        last = logits[-1, 0]                                         # (V,)
        prev = context[-1]
        for _ in range(length):
            last = last.float().cpu().clone()
            last[0] = float("-inf")  # never emit <unk>
            if temperature == 0:
                nxt = int(torch.argmax(last))
            else:
                probs = torch.softmax(filter_logits(last / temperature, top_k, top_p), -1)
                nxt = int(torch.multinomial(probs, 1, generator=gen))
            tok = vocab.tokens[nxt]
            yield _piece(tok, prev, vocab.level)
            prev = tok
            logits, state = model(torch.tensor([[nxt]], device=device), state)
            last = logits[-1, 0]
    finally:
        model.train(was_training)


def _piece(tok: str, prev: str, level: str) -> str:
    """Text for one token; word level puts a space before words (not after newlines)."""
    if level == "char" or tok == "\n" or prev == "\n" or not (tok[0].isalnum() or tok[0] == "_"):
        return tok
    return " " + tok


def sample_text(model: nn.Module, vocab: Vocab, **kw) -> str:
    """The whole sample (prime included) as one string."""
    return kw.get("prime", "") + "".join(generate(model, vocab, **kw))
