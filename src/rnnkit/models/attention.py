"""Attention over a memory: which positions of an encoded sequence a decoder step reads.

    query q (B, Dq)   memory m (B, S, Dm)   mask (B, S), True on real positions
    e_j = score(q, m_j)                                   (B, S)
    a   = softmax_j(e_j) over the real positions          (B, S), exactly 0 on padding
    c   = sum_j a_j m_j                                   (B, Dm)  the context vector

Score functions (Luong et al. 2015, sec. 3.1, eq. 8, names theirs):

    additive ("bahdanau", Bahdanau et al. 2014, appendix A.1.2):  e_j = v^T tanh(W q + U m_j)
    general  ("luong_general"):                                    e_j = q^T W_a m_j
    dot      ("luong_dot", needs Dq == Dm):                        e_j = q^T m_j

Location-sensitive (Chorowski et al. 2015, eq. 8-9; Tacotron 2, Shen et al. 2018, sec.
2.2) adds what the previous step attended to: e_j = v^T tanh(W q + U m_j + V f_j), f = conv
of the previous and cumulative weights. It needs those weights at every step, so it is not
one of ``make_attention``'s names (the translation decoder passes only the query); the
speech synthesiser (``models.tts``) builds it directly.

The memory-side products (U m_j, W_a m_j) depend on the source alone, so ``precompute(memory)``
makes them once per sentence as ``keys`` and every decoder step passes them back in; the
per-step cost is then O(S * Dq) (dot, general) or O(S * A) (additive) instead of a fresh
projection of the whole memory.

Nothing here knows about text: the memory may be encoded words, speech frames or phonemes.
A query may also carry a time axis, q (B, T, Dq) -> c (B, T, Dm), a (B, T, S), for decoders
whose queries do not depend on earlier attention (all steps attended in one call).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rnnkit.errors import unknown_name

ATTENTIONS = ("bahdanau", "luong_general", "luong_dot", "none")


class Attention(nn.Module):
    """Shared masking, softmax and weighted sum; subclasses give ``precompute`` and ``score``.

    Inputs: query (B, Dq) or (B, T, Dq); memory (B, S, Dm); mask (B, S) bool, True on real
    positions, at least one per row; keys from ``precompute(memory)`` (computed if omitted).
    Outputs: context (B, Dm) and weights (B, S) (with a time axis: (B, T, Dm), (B, T, S)).
    """

    def __init__(self, query_size: int, memory_size: int):
        super().__init__()
        self.query_size, self.memory_size = query_size, memory_size

    def precompute(self, memory: Tensor) -> Tensor:
        """The memory-side part of the score, once per memory: (B, S, Dm) -> (B, S, K)."""
        return memory

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        """(B, T, Dq) queries, (B, S, K) keys -> (B, T, S) unnormalised scores."""
        raise NotImplementedError

    def forward(self, query: Tensor, memory: Tensor, mask: Tensor,
                keys: Tensor | None = None) -> tuple[Tensor, Tensor]:
        one_step = query.dim() == 2
        q = query.unsqueeze(1) if one_step else query               # (B, T, Dq)
        if keys is None:
            keys = self.precompute(memory)                          # (B, S, K)
        e = self.score(q, keys)                                     # (B, T, S)
        context, a = _weigh(e, memory, mask)                        # (B, T, Dm), (B, T, S)
        if one_step:
            return context.squeeze(1), a.squeeze(1)                 # (B, Dm), (B, S)
        return context, a


def _weigh(e: Tensor, memory: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Scores e (B, T, S) -> context (B, T, Dm) and weights (B, T, S), 0 on padding."""
    # -inf before the softmax: exp(-inf) = 0, so padding gets exactly zero weight.
    e = e.masked_fill(~mask.unsqueeze(1), float("-inf"))
    a = torch.softmax(e, dim=-1)                                    # (B, T, S)
    return torch.bmm(a, memory), a                                  # (B, T, Dm), (B, T, S)


class AdditiveAttention(Attention):
    """Bahdanau et al. 2014 (appendix A.1.2): e_j = v^T tanh(W q + U m_j), A = attn_size.
    ``precompute`` gives U m_j (B, S, A), the bias included."""

    def __init__(self, query_size: int, memory_size: int, attn_size: int | None = None):
        super().__init__(query_size, memory_size)
        attn_size = attn_size or query_size  # the decoder's width: the papers' choice
        self.query_proj = nn.Linear(query_size, attn_size, bias=False)  # W
        self.key_proj = nn.Linear(memory_size, attn_size)               # U (+ b)
        self.v = nn.Linear(attn_size, 1, bias=False)

    def precompute(self, memory: Tensor) -> Tensor:
        return self.key_proj(memory)                                # (B, S, A)

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        w = self.query_proj(query)                                  # (B, T, A)
        hidden = torch.tanh(w.unsqueeze(2) + keys.unsqueeze(1))     # (B, T, S, A)
        return self.v(hidden).squeeze(-1)                           # (B, T, S)


class GeneralAttention(Attention):
    """Luong et al. 2015 "general": e_j = q^T W_a m_j. ``precompute`` gives W_a m_j
    (B, S, Dq), so a step is one batched dot product."""

    def __init__(self, query_size: int, memory_size: int):
        super().__init__(query_size, memory_size)
        self.W_a = nn.Linear(memory_size, query_size, bias=False)

    def precompute(self, memory: Tensor) -> Tensor:
        return self.W_a(memory)                                     # (B, S, Dq)

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        return torch.bmm(query, keys.transpose(1, 2))               # (B, T, S)


class DotAttention(Attention):
    """Luong et al. 2015 "dot": e_j = q^T m_j; no parameters, query and memory equally wide."""

    def __init__(self, query_size: int, memory_size: int):
        if query_size != memory_size:
            raise ValueError(f"luong_dot attention needs query_size == memory_size, got "
                             f"{query_size} and {memory_size} (use luong_general or bahdanau)")
        super().__init__(query_size, memory_size)

    def score(self, query: Tensor, keys: Tensor) -> Tensor:
        return torch.bmm(query, keys.transpose(1, 2))               # (B, T, S)


class LocationSensitiveAttention(Attention):
    """Chorowski et al. 2015 (eq. 8-9) as in Tacotron 2 (Shen et al. 2018, sec. 2.2):
    the additive score plus features of where the previous steps attended,

        f   = Conv1d([a_{t-1}; sum_{u<t} a_u])      F filters of width K over the S positions
        e_j = v^T tanh(W q + U m_j + b + V f_j),    A = attn_size

    so the attention can learn to move forward from where it was (and, with the cumulative
    weights, not to return to what it has read). One step at a time: query (B, Dq), and
    ``previous`` (B, 2, S) = the last weights and their running sum, zeros before the first
    step (None) and on padding. ``precompute`` gives U m_j + b (B, S, A), as additive.
    Tacotron 2: A = 128, F = 32, K = 31.
    """

    def __init__(self, query_size: int, memory_size: int, attn_size: int = 128,
                 filters: int = 32, kernel_size: int = 31):
        super().__init__(query_size, memory_size)
        if kernel_size % 2 == 0:
            raise ValueError(f"location kernel_size must be odd (centred on position j), "
                             f"got {kernel_size}")
        self.query_proj = nn.Linear(query_size, attn_size, bias=False)  # W
        self.key_proj = nn.Linear(memory_size, attn_size)               # U (+ b)
        self.location_conv = nn.Conv1d(2, filters, kernel_size, padding=kernel_size // 2,
                                       bias=False)
        self.location_proj = nn.Linear(filters, attn_size, bias=False)  # V
        self.v = nn.Linear(attn_size, 1, bias=False)

    def precompute(self, memory: Tensor) -> Tensor:
        return self.key_proj(memory)                                # (B, S, A)

    def score(self, query: Tensor, keys: Tensor, previous: Tensor | None = None) -> Tensor:
        """(B, 1, Dq) query, (B, S, A) keys, (B, 2, S) previous weights -> (B, 1, S)."""
        hidden = self.query_proj(query) + keys                      # (B, S, A) by broadcast
        if previous is not None:
            f = self.location_conv(previous)                        # (B, F, S)
            hidden = hidden + self.location_proj(f.transpose(1, 2))  # (B, S, A)
        return self.v(torch.tanh(hidden)).transpose(1, 2)           # (B, 1, S)

    def forward(self, query: Tensor, memory: Tensor, mask: Tensor, keys: Tensor | None = None,
                previous: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """query (B, Dq), memory (B, S, Dm), mask (B, S), previous (B, 2, S) or None ->
        context (B, Dm), weights (B, S)."""
        if query.dim() != 2:
            raise ValueError(f"location-sensitive attention reads the previous step's weights, "
                             f"so it attends one step at a time: query must be (B, "
                             f"{self.query_size}), got {tuple(query.shape)}")
        if previous is not None and previous.shape != (*mask.shape[:1], 2, mask.shape[1]):
            raise ValueError(f"previous must be (B, 2, S) = {(mask.shape[0], 2, mask.shape[1])}"
                             f", got {tuple(previous.shape)}")
        if keys is None:
            keys = self.precompute(memory)                          # (B, S, A)
        e = self.score(query.unsqueeze(1), keys, previous)          # (B, 1, S)
        context, a = _weigh(e, memory, mask)                        # (B, 1, Dm), (B, 1, S)
        return context.squeeze(1), a.squeeze(1)                    # (B, Dm), (B, S)


def make_attention(name: str, query_size: int, memory_size: int,
                   attn_size: int | None = None) -> Attention | None:
    """The attention called ``name`` (one of ATTENTIONS); None for "none". ``attn_size`` is
    the additive score's hidden width (default: query_size); the others ignore it."""
    if name not in ATTENTIONS:
        raise ValueError(unknown_name("attention", name, ATTENTIONS))
    if name == "bahdanau":
        return AdditiveAttention(query_size, memory_size, attn_size)
    if name == "luong_general":
        return GeneralAttention(query_size, memory_size)
    if name == "luong_dot":
        return DotAttention(query_size, memory_size)
    return None
