"""Token language model: embedding -> recurrent stack -> linear decoder.

``make_recurrent`` is the one place where toolkit code builds a recurrent layer, so every
recipe runs on rnnkit's own layers (``rnnkit.LSTM`` etc., drop-in torch.nn signatures).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from rnnkit.core.gated_cell import GATED_CELLS
from rnnkit.errors import unknown_name
from rnnkit.layers.custom import CustomRNN
from rnnkit.layers.rnn import GRU, LSTM, RNN
from rnnkit.train.config import ModelConfig

CELLS = ("lstm", "gru", "rnn_tanh", "rnn_relu", *GATED_CELLS)  # the last: GatedCells


def make_recurrent(cell: str, input_size: int, hidden_size: int, num_layers: int = 1,
                   dropout: float = 0.0, backend: str = "auto", *, bidirectional: bool = False,
                   batch_first: bool = False, recurrent_init: str = "default",
                   forget_bias: float | None = None) -> nn.Module:
    """A stacked rnnkit layer: ``(T, B, input_size) -> (T, B, D * hidden_size)``
    (``(B, T, ...)`` with ``batch_first``); D = 2 when bidirectional. ``recurrent_init``
    and ``forget_bias`` (LSTM only) are the remedies for vanishing gradients."""
    if cell not in CELLS:
        raise ValueError(unknown_name("cell", cell, CELLS))
    if forget_bias is not None and cell != "lstm":
        raise ValueError(f"forget_bias applies to LSTMs only, not {cell!r}")
    kw = dict(num_layers=num_layers, dropout=dropout if num_layers > 1 else 0.0,
              backend=backend, bidirectional=bidirectional, batch_first=batch_first,
              recurrent_init=recurrent_init)
    if cell == "lstm":
        return LSTM(input_size, hidden_size, forget_bias=forget_bias, **kw)
    if cell == "gru":
        return GRU(input_size, hidden_size, **kw)
    if cell in GATED_CELLS:  # generated native kernels (rnnkit.GatedCell)
        return CustomRNN(GATED_CELLS[cell](), input_size, hidden_size, **kw)
    return RNN(input_size, hidden_size, nonlinearity=cell[4:], **kw)


class TokenLM(nn.Module):
    """p(x_{t+1} | x_{<=t}) for char- or word-level text.

    Dropout (Zaremba et al. 2014) is applied to the embeddings, between recurrent layers
    and before the decoder, never to the recurrent state, so the carried state is clean.
    """

    def __init__(self, vocab_size: int, cfg: ModelConfig):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, cfg.embed_size)
        self.rnn = make_recurrent(cfg.cell, cfg.embed_size, cfg.hidden_size, cfg.num_layers,
                                  cfg.dropout, cfg.backend, recurrent_init=cfg.recurrent_init,
                                  forget_bias=cfg.forget_bias)
        self.drop = nn.Dropout(cfg.dropout)
        self.decoder = nn.Linear(cfg.hidden_size, vocab_size)

    def forward(self, x: torch.Tensor, state=None, carry_at: int | None = None):
        """x (T, B) token ids -> logits (T, B, V) and the state to carry forward.

        The carried state is the final one, or with ``carry_at=k`` the state after the
        first k steps (TBPTT with k1 < k2: the next window starts k steps later).
        """
        e = self.drop(self.embed(x))                        # (T, B, E)
        if carry_at is None or carry_at >= x.size(0):
            out, state = self.rnn(e, state)                 # (T, B, H)
        else:
            out_a, state = self.rnn(e[:carry_at], state)    # (k, B, H)
            out_b, _ = self.rnn(e[carry_at:], state)        # (T-k, B, H)
            out = torch.cat([out_a, out_b])
        return self.decoder(self.drop(out)), state          # (T, B, V)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def matching_width(size: Callable[[int], int], target: int, upper: int) -> int:
    """The width w in 1..upper whose ``size(w)`` (a parameter count, growing with w) is
    closest to ``target``, the smaller on a tie: equal-size comparisons of models."""
    lo, hi = 1, upper
    while lo < hi:  # bisection: the smallest width with at least the target count
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if size(mid) < target else (lo, mid)
    return min((lo - 1, lo), key=lambda w: abs(size(w) - target)) if lo > 1 else lo
