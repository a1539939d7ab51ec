"""Parallel contiguous streams for stateful truncated BPTT (as in char-rnn).

The token sequence is cut into B equal contiguous streams, one per batch row:

    ids (N,) -> trim to B*L -> view (B, L)        row b = tokens [b*L, (b+1)*L)

Each update reads a window of k2 tokens from every stream at the same offset ``pos`` and
then moves ``pos`` forward by k1. Because row b of window n+1 continues row b of window n,
the hidden state of row b can be carried across windows (detached at the boundary, so
gradients flow back at most k2 steps). When a stream runs out, the epoch ends: ``pos``
returns to 0 and the carried state is reset.

With k1 < k2 the windows overlap (Williams & Peng 1990, TBPTT(k1, k2)): the loss is taken
on the last k1 positions only, so every token is predicted exactly once per epoch, and
the state carried forward is the one after the first k1 steps of the window.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Window:
    x: torch.Tensor  # (k2, b) inputs, time-major
    y: torch.Tensor  # (k2, b) next-token targets
    fresh: bool      # True at the start of an epoch: the carried state must be reset


class StreamBatcher:
    """Serves TBPTT windows from B streams; its position is part of every checkpoint.

    ``rows`` selects this process's streams under data parallelism (the global batch is
    split by rows, so 2 processes x B/2 rows see exactly what 1 process x B rows sees).
    """

    def __init__(self, ids: torch.Tensor, batch_size: int, k2: int, k1: int,
                 rows: slice = slice(None)):
        assert ids.dim() == 1 and 1 <= k1 <= k2
        length = (ids.numel() - 1) // batch_size  # -1: the last target needs a next token
        if length < k2:
            raise ValueError(f"{ids.numel()} tokens are too few for {batch_size} streams "
                             f"of at least {k2 + 1} tokens; lower --batch-size or --seq-len")
        n = batch_size * length
        self.x_all = ids[:n].view(batch_size, length)[rows]         # (b, L)
        self.y_all = ids[1:n + 1].view(batch_size, length)[rows]    # (b, L) shifted by one
        self.k1, self.k2, self.length = k1, k2, length
        self.epoch, self.pos = 0, 0

    @property
    def windows_per_epoch(self) -> int:
        return (self.length - self.k2) // self.k1 + 1

    def next(self) -> Window:
        """The window at the current position; then advance by k1 (wrapping epochs)."""
        fresh = self.pos == 0
        sl = slice(self.pos, self.pos + self.k2)
        w = Window(self.x_all[:, sl].t().contiguous(), self.y_all[:, sl].t().contiguous(),
                   fresh)
        self.pos += self.k1
        if self.pos + self.k2 > self.length:
            self.epoch, self.pos = self.epoch + 1, 0
        return w

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "pos": self.pos}

    def load_state_dict(self, d: dict) -> None:
        self.epoch, self.pos = int(d["epoch"]), int(d["pos"])


def eval_windows(ids: torch.Tensor, batch_size: int, k2: int, max_tokens: int | None = None):
    """Non-overlapping windows over the whole sequence for evaluation, state carried
    throughout; yields (x, y) of shape (t, b) with t <= k2. Batch is shrunk for short
    texts so that no token is dropped beyond the final ``< B`` remainder."""
    n_tok = ids.numel() - 1
    if max_tokens is not None:
        n_tok = min(n_tok, max_tokens)
    batch_size = max(1, min(batch_size, n_tok // max(k2, 1) or 1))
    length = n_tok // batch_size
    n = batch_size * length
    x_all = ids[:n].view(batch_size, length)
    y_all = ids[1:n + 1].view(batch_size, length)
    for start in range(0, length, k2):
        yield (x_all[:, start:start + k2].t().contiguous(),
               y_all[:, start:start + k2].t().contiguous())


def detach_state(state):
    """Cut the graph at a window boundary; works for a tensor or an LSTM ``(h, c)`` tuple."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()
