"""RNN encoder-decoder with attention (Sutskever et al. 2014; Cho et al. 2014; Bahdanau et al.
2014; Luong et al. 2015) on rnnkit's recurrent layers.

    src (B, S) --Embedding, dropout--> (B, S, E) --encoder (bi)RNN, lengths=--> memory (B, S, H)
                                                      final states --bridge--> decoder state
    step t:   e_t  = dropout(Embedding(y_{t-1}))                              (B, E)
              x_t  = [e_t; h~_{t-1}]     input feeding (Luong sec. 3.3), else e_t
              h_t  = decoder RNN(x_t, state)  (L stacked layers, state carried)  (B, H)
              c_t, a_t = attention(h_t, memory, mask)                         (B, H), (B, S)
              h~_t = dropout(tanh(W_c [c_t; h_t]))   (Luong eq. 5); dropout(h_t) with "none"
              logits_t = W_out h~_t  (W_out = the target embedding with tie_embeddings)  (B, V)
    with copy (pointer-generator, See et al. 2017, eq. 8-9; one vocabulary for both sides):
              g_t  = sigmoid(w_g [h~_t; e_t] + b_g)                                (B, 1)
              P_t(w) = g_t softmax(logits_t)(w) + (1 - g_t) sum_{j: src_j = w} a_t,j   (B, V)

The attention names pick the score function (``models.attention``); the step is Luong's
for all of them (attend with h_t, after the recurrent step), as in OpenNMT's "global
attention": "bahdanau" is Bahdanau's additive score, not his decoder wiring (query
s_{t-1}, context fed into the RNN). With attention "none" the decoder sees the source only
through its initial state, the Sutskever/Cho baseline.

A bidirectional encoder has hidden_size // 2 units per direction (OpenNMT's convention),
so the memory and the bridged states are hidden_size wide whatever the direction count,
and every score function, "luong_dot" included, applies.

Bridge: decoder layer k starts from tanh(W_k [fwd_k; bwd_k] + b_k) of encoder layer k's
final states, one Linear per layer and per recurrent state (h, and c for LSTMs).

Decoding interface (``models.decoding`` runs on it; ``TransformerSeq2Seq`` has the same):
``encode(src, src_lengths) -> state``, ``decode_step(prev_tokens, state) -> (log_probs,
state, attn)``, ``reorder_state(state, index)``, and the ids ``pad_id``, ``bos_id``,
``eos_id``. ``forward`` (teacher forcing) and a decode_step loop fed the gold tokens give
the same log-probabilities.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.backends.base import capture
from rnnkit.models.attention import make_attention
from rnnkit.models.language import make_recurrent
from rnnkit.models.sequence import length_mask


class Seq2SeqState(NamedTuple):
    """What a decoder step reads and carries; batch dim 0 except ``hidden`` (dim 1)."""

    memory: Tensor              # (B, S, H) encoder outputs, zeros past each length
    mask: Tensor                # (B, S) bool, True on real source positions
    keys: Tensor | None         # (B, S, K) attention.precompute(memory); None without attention
    hidden: tuple[Tensor, ...]  # decoder state, (h,) or (h, c): each (L, B, H)
    feed: Tensor | None         # (B, H) h~_{t-1} for input feeding (zeros before step 1)
    src: Tensor | None = None   # (B, S) source ids, which the copy mechanism points at

    def index_select(self, index: Tensor) -> Seq2SeqState:
        """Rows ``index`` (N,) of every batch: expand or reorder beams, drop finished rows."""
        def pick(x, dim=0):
            return None if x is None else x.index_select(dim, index)
        return Seq2SeqState(pick(self.memory), pick(self.mask), pick(self.keys),
                            tuple(pick(s, 1) for s in self.hidden), pick(self.feed),
                            pick(self.src))


def _state_count(rnn: nn.Module) -> int:
    """Recurrent states a layer carries: LSTM (h, c), a GatedCell its own, others h."""
    if rnn.mode == "LSTM":
        return 2
    return len(rnn.cell.states) if rnn.cell is not None else 1


class Seq2Seq(nn.Module):
    """Encoder-decoder for token sequences, e.g. translation.

    Args:
        src_vocab_size, tgt_vocab_size: token ids on each side (ids ``pad_id``, ``bos_id``,
            ``eos_id`` are the target's framing; ``pad_id`` pads both sides).
        embed_size: both embeddings' width.
        hidden_size: decoder units = memory width (a bidirectional encoder has half per
            direction, so hidden_size must then be even).
        cell: one of ``models.language.CELLS``, for encoder and decoder.
        num_layers: depth of encoder and decoder alike (the bridge maps layer to layer).
        bidirectional_encoder: read the source both ways (Bahdanau sec. 3.2).
        attention: one of ``models.attention.ATTENTIONS``; "none": no attention.
        input_feeding: feed h~_{t-1} into step t (Luong sec. 3.3), so the decoder knows what
            it attended to; ignored without attention (there is no h~ to feed). Off, the
            decoder's recurrence runs over the whole target in one layer call.
        tie_embeddings: the output layer's weight is the target embedding (Press & Wolf
            2017); with embed_size != hidden_size a Linear(hidden, embed) comes before it.
        copy: mix the output distribution with the attention weights over the source
            tokens (a pointer-generator), so names and numbers can be copied as they are;
            needs attention and one vocabulary for both sides (equal vocabulary sizes).
        dropout: on embeddings, between recurrent layers and on h~, never on the carried
            state (Zaremba et al. 2014).
        backend: the rnnkit backend of both recurrent layers.

    Inputs: src (B, S) int64, src_lengths (B,) int64 in [1, S], tgt_in (B, T) int64 = BOS y.
    Output: logits (B, T, V) (with copy: log-probabilities, which the softmax of
    ``seq2seq_loss`` leaves unchanged); ``seq2seq_loss`` against tgt_out = y EOS.
    """

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, *, embed_size: int = 256,
                 hidden_size: int = 256, cell: str = "lstm", num_layers: int = 1,
                 bidirectional_encoder: bool = True, attention: str = "bahdanau",
                 input_feeding: bool = True, tie_embeddings: bool = False,
                 copy: bool = False, dropout: float = 0.0, backend: str = "auto",
                 pad_id: int = 0, bos_id: int = 1, eos_id: int = 2):
        super().__init__()
        D = 2 if bidirectional_encoder else 1
        if hidden_size % D:
            raise ValueError(f"a bidirectional encoder splits hidden_size between its two "
                             f"directions: it must be even, got {hidden_size}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        if copy and (attention == "none" or src_vocab_size != tgt_vocab_size):
            raise ValueError("copy points at source tokens through attention in one shared "
                             f"vocabulary: it needs attention (got {attention!r}) and equal "
                             f"vocabulary sizes (got {src_vocab_size} and {tgt_vocab_size})")
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        self.num_layers, self.num_directions, self.hidden_size = num_layers, D, hidden_size
        self.src_embed = nn.Embedding(src_vocab_size, embed_size, padding_idx=pad_id)
        self.tgt_embed = nn.Embedding(tgt_vocab_size, embed_size, padding_idx=pad_id)
        self.encoder = make_recurrent(cell, embed_size, hidden_size // D, num_layers, dropout,
                                      backend, bidirectional=bidirectional_encoder,
                                      batch_first=True)
        self.attention = make_attention(attention, hidden_size, hidden_size)
        self.input_feeding = input_feeding and self.attention is not None
        feed_size = hidden_size if self.input_feeding else 0
        self.decoder = make_recurrent(cell, embed_size + feed_size, hidden_size, num_layers,
                                      dropout, backend, batch_first=True)
        # bridge[s * L + k]: recurrent state s of decoder layer k
        self.bridge = nn.ModuleList(nn.Linear(hidden_size, hidden_size)
                                    for _ in range(_state_count(self.decoder) * num_layers))
        # W_c of Luong eq. 5 (no bias there)
        self.combine = nn.Linear(2 * hidden_size, hidden_size, bias=False) \
            if self.attention is not None else None
        self.drop = nn.Dropout(dropout)
        self.tie_proj = nn.Linear(hidden_size, embed_size, bias=False) \
            if tie_embeddings and embed_size != hidden_size else None
        self.generator = nn.Linear(embed_size if tie_embeddings else hidden_size,
                                   tgt_vocab_size)
        if tie_embeddings:
            self.generator.weight = self.tgt_embed.weight  # (V, E), one parameter
        self.copy_gate = nn.Linear(hidden_size + embed_size, 1) if copy else None

    def encode(self, src: Tensor, src_lengths: Tensor) -> Seq2SeqState:
        """Read the source once: memory, mask, attention keys and the decoder's start."""
        _check_source(src, src_lengths)
        B, S = src.shape
        L, D = self.num_layers, self.num_directions
        e = self.drop(self.src_embed(src))                               # (B, S, E)
        memory, final = self.encoder(e, lengths=src_lengths.cpu())       # (B, S, H)
        final = final if isinstance(final, tuple) else (final,)          # each (L*D, B, H/D)
        # final[s][k*D + d]: layer k, direction d (forward at each sentence's last token,
        # reverse after reading back to token 0)
        hidden = tuple(torch.stack([
            torch.tanh(self.bridge[s * L + k](torch.cat(list(f[k * D:(k + 1) * D]), -1)))
            for k in range(L)]) for s, f in enumerate(final))            # each (L, B, H)
        mask = length_mask(src_lengths.to(src.device), S)                # (B, S)
        keys = self.attention.precompute(memory) if self.attention is not None else None
        feed = memory.new_zeros(B, self.hidden_size) if self.input_feeding else None
        return Seq2SeqState(memory, mask, keys, hidden, feed,
                            src if self.copy_gate is not None else None)

    def _attend(self, h: Tensor, state: Seq2SeqState) -> tuple[Tensor, Tensor | None]:
        """Decoder outputs h (B, [T,] H) -> attentional vectors h~ (B, [T,] H), weights."""
        if self.attention is None:
            return self.drop(h), None
        c, a = self.attention(h, state.memory, state.mask, state.keys)   # (B, [T,] H)
        return self.drop(torch.tanh(self.combine(torch.cat([c, h], -1)))), a

    def _step(self, e: Tensor, state: Seq2SeqState):
        """One decoder step from embedded previous tokens e (B, E): (h~ (B, H), state, a)."""
        x = torch.cat([e, state.feed], -1) if self.input_feeding else e  # (B, E [+ H])
        out, hidden = self.decoder(x.unsqueeze(1), _hx(state.hidden))    # (B, 1, H)
        v, a = self._attend(out.squeeze(1), state)                       # (B, H)
        hidden = hidden if isinstance(hidden, tuple) else (hidden,)
        return v, state._replace(hidden=hidden, feed=v if self.input_feeding else None), a

    def _logits(self, v: Tensor) -> Tensor:
        return self.generator(self.tie_proj(v) if self.tie_proj is not None else v)

    def _scores(self, v: Tensor, e: Tensor, a: Tensor | None, state: Seq2SeqState) -> Tensor:
        """h~ v (B, [T,] H), embedded inputs e (B, [T,] E), attention a (B, [T,] S) ->
        logits (B, [T,] V), or with copy the log-probabilities of the mixture."""
        logits = self._logits(v)
        if self.copy_gate is None:
            return logits
        gen = torch.sigmoid(self.copy_gate(torch.cat([v, e], -1)))      # (B, [T,] 1)
        src = state.src if a.dim() == 2 else state.src.unsqueeze(1).expand_as(a)
        # padding has a = 0 exactly, so its (pad) ids gain nothing
        p = (gen * torch.softmax(logits, -1)).scatter_add(-1, src, (1 - gen) * a)
        return torch.log(p.clamp_min(torch.finfo(p.dtype).tiny))

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher forcing: logits (B, T, V) for tgt_in (B, T) = BOS y_1 .. y_{T-1}."""
        state = self.encode(src, src_lengths)
        e = self.drop(self.tgt_embed(tgt_in))                            # (B, T, E)
        if self.input_feeding:  # step t needs h~_{t-1}: one step at a time
            vs, attns = [], []
            for t in range(e.shape[1]):
                v, state, a = self._step(e[:, t], state)
                vs.append(v)
                attns.append(a)
            v = torch.stack(vs, 1)                                       # (B, T, H)
            a = torch.stack(attns, 1) if self.copy_gate is not None else None
        else:  # the recurrence does not depend on attention: all steps in one call
            out, _ = self.decoder(e, _hx(state.hidden))                  # (B, T, H)
            v, a = self._attend(out, state)                              # (B, T, H)
        return self._scores(v, e, a, state)                              # (B, T, V)

    def decode_step(self, prev_tokens: Tensor, state: Seq2SeqState
                    ) -> tuple[Tensor, Seq2SeqState, Tensor | None]:
        """prev_tokens (B,) (BOS first) -> log-probs (B, V) of the next token, the new state,
        and the attention weights (B, S) of this step (None without attention)."""
        e = self.drop(self.tgt_embed(prev_tokens))                       # (B, E)
        v, state, a = self._step(e, state)
        return F.log_softmax(self._scores(v, e, a, state), dim=-1), state, a

    def reorder_state(self, state: Seq2SeqState, index: Tensor) -> Seq2SeqState:
        """The states of batch rows ``index`` (N,), in that order."""
        return state.index_select(index)


def _hx(hidden: tuple[Tensor, ...]):
    """The state as rnnkit's layers take it: h alone, or the tuple (h, c, ...)."""
    return hidden[0] if len(hidden) == 1 else hidden


def _check_source(src: Tensor, src_lengths: Tensor) -> None:
    if src.dim() != 2 or src.dtype != torch.long:
        raise ValueError(f"src must be (B, S) int64, got {tuple(src.shape)} {src.dtype}")
    if src_lengths.shape != src.shape[:1]:
        raise ValueError(f"src_lengths must be ({src.shape[0]},), got "
                         f"{tuple(src_lengths.shape)}")
    if capture() is not None:  # an exported graph cannot test the lengths' values
        return
    if len(src_lengths) and not 1 <= int(src_lengths.min()) <= int(src_lengths.max()) \
            <= src.shape[1]:
        raise ValueError(f"src_lengths must be in [1, {src.shape[1]}] (an empty source has "
                         f"nothing to attend to), got {src_lengths.tolist()}")


def seq2seq_loss(logits: Tensor, tgt_out: Tensor, pad_id: int,
                 label_smoothing: float = 0.0) -> Tensor:
    """Mean cross-entropy over the non-pad target tokens. logits (B, T, V), tgt_out (B, T).
    ``label_smoothing`` (Szegedy et al. 2016) spreads that mass uniformly over the vocabulary."""
    V = logits.shape[-1]
    return F.cross_entropy(logits.reshape(-1, V), tgt_out.reshape(-1), ignore_index=pad_id,
                           label_smoothing=label_smoothing)
