"""Attention over a memory: which positions of an encoded sequence a decoder step reads.

    query q (B, Dq)   memory m (B, S, Dm)   mask (B, S), True on real positions
    e_j = score(q, m_j)                                   (B, S)
    a   = softmax_j(e_j) over the real positions          (B, S), exactly 0 on padding
    c   = sum_j a_j m_j                                   (B, Dm)  the context vector

Score functions (Luong et al. 2015, sec. 3.1, eq. 8, names theirs):

    additive ("bahdanau", Bahdanau et al. 2014, appendix A.1.2):  e_j = v^T tanh(W q + U m_j)
    general  ("luong_general"):                                    e_j = q^T W_a m_j
    dot      ("luong_dot", needs Dq == Dm):                        e_j = q^T m_j

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
        # -inf before the softmax: exp(-inf) = 0, so padding gets exactly zero weight.
        e = e.masked_fill(~mask.unsqueeze(1), float("-inf"))
        a = torch.softmax(e, dim=-1)                                # (B, T, S)
        context = torch.bmm(a, memory)                              # (B, T, Dm)
        if one_step:
            return context.squeeze(1), a.squeeze(1)                 # (B, Dm), (B, S)
        return context, a


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
