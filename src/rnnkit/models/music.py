"""Polyphonic music as piano rolls: p(v_t | v_<t) for binary frames v_t of K keys.

A recurrent network reads the previous frames (the first frame is predicted from an
all-zero frame) and conditions an output distribution over the next frame:

- ``independent``: one Bernoulli per key (the setting of Chung et al. 2014);
- ``nade``: a NADE over the keys from low to high (Larochelle & Murray 2011), whose two
  biases come from the recurrent state: the RNN-NADE of Boulanger-Lewandowski et al. 2012,
  which models the notes of a chord jointly.

The benchmark measure is the negative log-likelihood of a frame in nats, summed over the
keys and averaged over all frames of all pieces (``frame_nll``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.models.language import make_recurrent
from rnnkit.models.sequence import length_mask

OUTPUTS = ("independent", "nade", "notes")


class IndependentKeys(nn.Module):
    """Every key an independent Bernoulli given the context: logits = Linear(context)."""

    def __init__(self, context_size: int, keys: int):
        super().__init__()
        self.proj = nn.Linear(context_size, keys)

    def log_prob(self, context: Tensor, frames: Tensor) -> Tensor:
        """context (N, C), frames (N, K) in {0, 1} -> log p(frame) (N,)."""
        logits = self.proj(context)
        return -F.binary_cross_entropy_with_logits(logits, frames, reduction="none").sum(-1)

    @torch.no_grad()
    def sample(self, context: Tensor, temperature: float, generator) -> Tensor:
        """context (N, C) -> frames (N, K)."""
        p = torch.sigmoid(self.proj(context) / temperature)
        return torch.bernoulli(p, generator=generator)


class NadeKeys(nn.Module):
    """A NADE over the keys, low to high, with biases given by the context.

        a_d = b_h(c) + W[:, :d] v_<d          h_d = sigmoid(a_d)          (hidden H)
        p(v_d = 1 | v_<d, c) = sigmoid(b_v(c)_d + V_d . h_d)

    ``W`` and ``V`` are shared by all frames; ``b_h(c)``, ``b_v(c)`` are affine in the
    context, as in the RNN-NADE.
    """

    def __init__(self, context_size: int, keys: int, hidden: int):
        super().__init__()
        self.keys, self.hidden = keys, hidden
        self.bias_v = nn.Linear(context_size, keys)
        self.bias_h = nn.Linear(context_size, hidden)
        self.W = nn.Parameter(torch.empty(keys, hidden))   # input key d -> hidden
        self.V = nn.Parameter(torch.empty(keys, hidden))   # hidden -> output key d
        bound = (6.0 / (keys + hidden)) ** 0.5
        nn.init.uniform_(self.W, -bound, bound)
        nn.init.uniform_(self.V, -bound, bound)

    def logits(self, context: Tensor, frames: Tensor) -> Tensor:
        """Teacher-forced key logits: context (N, C), frames (N, K) -> (N, K)."""
        contrib = frames.unsqueeze(-1) * self.W                  # (N, K, H): key d's input
        a = torch.cumsum(contrib, dim=1) - contrib               # (N, K, H): keys < d only
        h = torch.sigmoid(a + self.bias_h(context).unsqueeze(1))
        return (h * self.V).sum(-1) + self.bias_v(context)       # (N, K)

    def log_prob(self, context: Tensor, frames: Tensor) -> Tensor:
        """context (N, C), frames (N, K) in {0, 1} -> log p(frame) (N,)."""
        logits = self.logits(context, frames)
        return -F.binary_cross_entropy_with_logits(logits, frames, reduction="none").sum(-1)

    @torch.no_grad()
    def sample(self, context: Tensor, temperature: float, generator) -> Tensor:
        """context (N, C) -> frames (N, K), key by key from low to high."""
        bv, a = self.bias_v(context), self.bias_h(context)      # (N, K), (N, H)
        out = torch.zeros_like(bv)
        for d in range(self.keys):
            logit = bv[:, d] + torch.sigmoid(a) @ self.V[d]        # (N,)
            v = torch.bernoulli(torch.sigmoid(logit / temperature), generator=generator)
            out[:, d] = v
            a = a + v.unsqueeze(1) * self.W[d]
        return out


class NoteRnnKeys(nn.Module):
    """A GRU across the keys of a frame, low to high: its state starts from the context and
    reads, at key d, whether key d-1 sounds and key d's embedding; a linear read-out of
    the state (plus a per-key bias from the context) gives key d's logit. A recurrent
    generalisation of the NADE's running sum (cf. Johnson 2017's note-axis LSTM)."""

    def __init__(self, context_size: int, keys: int, hidden: int, embed: int = 16):
        super().__init__()
        self.keys, self.hidden = keys, hidden
        self.key_embed = nn.Parameter(torch.randn(keys, embed) * 0.1)   # (K, E)
        self.start = nn.Linear(context_size, hidden)
        self.bias_v = nn.Linear(context_size, keys)
        self.rnn = make_recurrent("gru", 1 + embed, hidden)
        self.out = nn.Linear(hidden, 1)

    def _inputs(self, previous: Tensor) -> Tensor:
        """previous (K', N) values of the keys below -> GRU inputs (K', N, 1 + E)."""
        emb = self.key_embed[:len(previous)].unsqueeze(1).expand(-1, previous.size(1), -1)
        return torch.cat([previous.unsqueeze(-1), emb], -1)

    def logits(self, context: Tensor, frames: Tensor) -> Tensor:
        """Teacher-forced key logits: context (N, C), frames (N, K) -> (N, K)."""
        # frames.shape[0], not len(frames): an exported graph keeps N symbolic
        previous = torch.cat([frames.new_zeros(1, frames.shape[0]), frames.T[:-1]])  # (K, N)
        h0 = torch.tanh(self.start(context)).unsqueeze(0)                        # (1, N, H)
        out, _ = self.rnn(self._inputs(previous), h0)                             # (K, N, H)
        return self.out(out).squeeze(-1).T + self.bias_v(context)                 # (N, K)

    def log_prob(self, context: Tensor, frames: Tensor) -> Tensor:
        """context (N, C), frames (N, K) in {0, 1} -> log p(frame) (N,)."""
        logits = self.logits(context, frames)
        return -F.binary_cross_entropy_with_logits(logits, frames, reduction="none").sum(-1)

    @torch.no_grad()
    def sample(self, context: Tensor, temperature: float, generator) -> Tensor:
        """context (N, C) -> frames (N, K), key by key from low to high."""
        bv = self.bias_v(context)                                       # (N, K)
        h = torch.tanh(self.start(context)).unsqueeze(0)               # (1, N, H)
        v = bv.new_zeros(len(bv))
        out = torch.zeros_like(bv)
        for d in range(self.keys):
            x = torch.cat([v[:, None], self.key_embed[d].expand(len(v), -1)], -1)
            y, h = self.rnn(x.unsqueeze(0), h)                          # (1, N, H)
            logit = self.out(y[0]).squeeze(-1) + bv[:, d]
            v = torch.bernoulli(torch.sigmoid(logit / temperature), generator=generator)
            out[:, d] = v
        return out


class PianoRollModel(nn.Module):
    """Frame RNN + per-frame output over K keys.

    ``forward(rolls (T, B, K))`` -> log p(v_t | v_<t) (T, B), summed over the keys.
    Dropout (Zaremba et al. 2014) between layers and on the context, never on the state.
    """

    def __init__(self, keys: int, cell: str = "lstm", hidden_size: int = 256,
                 num_layers: int = 1, dropout: float = 0.0, output: str = "independent",
                 nade_hidden: int = 150, backend: str = "auto",
                 recurrent_init: str = "default", forget_bias: float | None = None,
                 input_dropout: float = 0.0):
        super().__init__()
        if output not in OUTPUTS:
            raise ValueError(f"unknown output {output!r} (choose from: {', '.join(OUTPUTS)})")
        self.keys, self.output = keys, output
        self.rnn = make_recurrent(cell, keys, hidden_size, num_layers, dropout, backend,
                                  recurrent_init=recurrent_init, forget_bias=forget_bias)
        self.drop, self.in_drop = nn.Dropout(dropout), nn.Dropout(input_dropout)
        self.head = (IndependentKeys(hidden_size, keys) if output == "independent"
                     else NadeKeys(hidden_size, keys, nade_hidden) if output == "nade"
                     else NoteRnnKeys(hidden_size, keys, nade_hidden))

    def contexts(self, rolls: Tensor, state=None) -> tuple[Tensor, object]:
        """rolls (T, B, K) -> the context for frames 1..T+1 (T+1, B, H) and the state after
        reading all T frames. Context t summarises frames < t; context 0 comes from
        ``state`` alone (the start of a piece when None)."""
        start = rolls.new_zeros(1, *rolls.shape[1:])
        out, state = self.rnn(torch.cat([start, rolls]), state)  # (T+1, B, H)
        return self.drop(out), state

    def forward(self, rolls: Tensor, lengths: Tensor | None = None) -> Tensor:
        """rolls (T, B, K) in {0, 1} -> log p(v_t | v_<t) (T, B); 0 at padded steps
        (t >= lengths[b])."""
        if rolls.dim() != 3 or rolls.size(-1) != self.keys:
            raise ValueError(f"expected rolls (T, B, {self.keys}), got {tuple(rolls.shape)}")
        T, B, _ = rolls.shape
        ctx = self.contexts(self.in_drop(rolls[:-1]))[0]          # (T, B, H)
        mask = (torch.ones(T, B, dtype=torch.bool, device=rolls.device) if lengths is None
                else length_mask(lengths.to(rolls.device), T).T)   # (T, B)
        out = rolls.new_zeros(T, B)
        out[mask] = self.head.log_prob(ctx[mask], rolls[mask])
        return out

    @torch.no_grad()
    def generate(self, length: int, *, prime: Tensor | None = None, temperature: float = 1.0,
                 seed: int | None = None, batch: int = 1) -> Tensor:
        """``length`` new frames after ``prime`` (P, K) (or from the start of a piece):
        (P + length, batch, K), the prime repeated in every row."""
        weight = next(self.parameters())
        gen = torch.Generator(device=weight.device)
        gen.manual_seed(torch.seed() if seed is None else seed)
        prime = torch.zeros(0, self.keys) if prime is None else prime
        prime = prime.to(weight).unsqueeze(1).expand(-1, batch, -1)     # (P, batch, K)
        ctx, state = self.contexts(prime)
        c = ctx[-1]                                                      # (batch, H)
        frames = [prime]
        for _ in range(length):
            v = self.head.sample(c, temperature, gen)                   # (batch, K)
            frames.append(v.unsqueeze(0))
            out, state = self.rnn(v.unsqueeze(0), state)
            c = self.drop(out[0])
        return torch.cat(frames)


def frame_nll(model: PianoRollModel, rolls: Tensor, lengths: Tensor) -> tuple[Tensor, int]:
    """Summed negative log-likelihood over the valid frames, and their count; the benchmark
    figure is the sum over a set's batches divided by its frame count (nats per frame)."""
    return -model(rolls, lengths).sum(), int(lengths.sum())


def music_model_from_spec(m, spec: dict) -> PianoRollModel:
    """The model a checkpoint's ``music`` metadata and config describe."""
    return PianoRollModel(spec["keys"], m.cell, m.hidden_size, m.num_layers, m.dropout,
                          spec["output"], spec.get("nade_hidden", 150), m.backend,
                          m.recurrent_init, m.forget_bias)
