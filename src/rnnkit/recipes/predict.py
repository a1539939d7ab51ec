"""A trained classifier or tagger applied to new inputs: class probabilities per item, or
runs of one tag per record. Shared by ``rnnkit predict`` (tables) and ``rnnkit serve``
(JSON).

    items (key, x)  --batches of batch_size, padded-->  model  --softmax-->
        classifier: (key, probabilities (C,)) per item            class_probabilities
        tagger:     per record, runs of one tag (1-based, inclusive) with their mean
                    probability; bases that are N get no tag        tag_records

Items come from a recipe's ``predict`` reader (``Recipe.readers``, see
``rnnkit.recipes.genome``) or from any list of ``(key, x)`` with ``x`` one model input
((T,) int64 tokens or (T, F) float features). For taggers ``key = (record, offset)``, with
a record's chunks in order.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from rnnkit.data.fasta import N_INDEX
from rnnkit.data.sequences import pad_batch


def batched(items: Iterable[tuple], batch_size: int
            ) -> Iterator[tuple[tuple, Tensor, Tensor]]:
    """(keys, padded x (B, T_max, ...), lengths (B,)) batches of ``(key, x)`` items; a key
    that is not a tuple becomes a 1-tuple."""
    batch: list = []
    for key, x in items:
        batch.append((key if isinstance(key, tuple) else (key,), x))
        if len(batch) == batch_size:
            keys, xs = zip(*batch, strict=True)
            yield keys, *pad_batch(xs)  # readers may yield items of different lengths
            batch = []
    if batch:
        keys, xs = zip(*batch, strict=True)
        yield keys, *pad_batch(xs)


@torch.no_grad()
def class_probabilities(model: nn.Module, items: Iterable[tuple], batch_size: int = 512
                        ) -> Iterator[tuple[tuple, Tensor]]:
    """(key, class probabilities (C,)) for every item of a classifier's input, in order."""
    device = next(model.parameters()).device
    for keys, x, lengths in batched(items, batch_size):
        p = torch.softmax(model(x.to(device), lengths), dim=-1).cpu()    # (B, C)
        yield from zip(keys, p, strict=True)


@dataclass(frozen=True)
class TagRun:
    """Positions ``start..end`` (1-based, inclusive) of a record with one tag (an index of
    the model's classes), and the mean probability of that tag over them."""

    start: int
    end: int
    tag: int
    mean_probability: float


@torch.no_grad()
def tag_records(model: nn.Module, items: Iterable[tuple], batch_size: int = 512
                ) -> Iterator[tuple[str, int, list[TagRun]]]:
    """(record, positions tagged, runs of one tag) per record of a tagger's input.

    ``items``: ((record, offset), x) chunks, each record's in order; the chunks' tags are
    joined back into one sequence per record. A token input that is N (``N_INDEX``) gets
    no tag: the model never saw one in training.
    """
    device = next(model.parameters()).device
    record, tags, probs = None, [], []

    def runs() -> tuple[str, int, list[TagRun]]:
        t, p = torch.cat(tags), torch.cat(probs)                        # (L,), (L,)
        change = torch.nonzero(t[1:] != t[:-1]).flatten() + 1
        bounds = [0, *change.tolist(), len(t)]
        found = [TagRun(a + 1, b, int(t[a]), float(p[a:b].mean()))
                 for a, b in zip(bounds[:-1], bounds[1:], strict=True) if int(t[a]) >= 0]
        return record, len(t), found

    for keys, x, lengths in batched(items, batch_size):
        p = torch.softmax(model(x.to(device), lengths), dim=-1).cpu()    # (B, T, K)
        best_p, best = p.max(-1)                                         # (B, T)
        if not x.is_floating_point():
            best[x == N_INDEX] = -1
        for (rec, _), t, bp, n in zip(keys, best, best_p, lengths, strict=True):
            if rec != record:
                if record is not None:
                    yield runs()
                record, tags, probs = rec, [], []
            tags.append(t[:n])
            probs.append(bp[:n])
    if record is not None:
        yield runs()
