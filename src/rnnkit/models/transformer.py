"""Transformer encoder-decoder (Vaswani et al. 2017) with ``Seq2Seq``'s interface: the
baseline a recurrent encoder-decoder is compared with at about equal parameter count
(``models.language.count_parameters``).

    src (B, S) --Embedding * sqrt(d) + sinusoid, dropout--> encoder (padding masked)
                                                              --> memory (B, S, d)
    tgt_in (B, T) --Embedding * sqrt(d) + sinusoid, dropout--> decoder (causal, memory
                   padding masked) --> LayerNorm --> Linear --> logits (B, T, V)

Layers are torch.nn's (TransformerEncoderLayer / TransformerDecoderLayer, batch_first) with
pre-layer normalisation (Xiong et al. 2020: trains without a learning-rate warm-up, which a
small data set's short runs cannot afford) and a final LayerNorm on each stack, as
torch.nn.Transformer adds. Embeddings start at N(0, 1/d), so scaled by sqrt(d) they are
about as large as the sinusoids.

``decode_step`` keeps the target prefix in the state and recomputes the decoder over it
(O(t^2) per sentence, no key/value cache: simple, and cheap at sentence lengths). It
returns no attention weights (None): a Transformer has one map per head and layer.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.models.sequence import length_mask


class TransformerState(NamedTuple):
    """Encoder output and the target prefix; batch dim 0 throughout."""

    memory: Tensor  # (B, S, d)
    mask: Tensor    # (B, S) bool, True on real source positions
    prefix: Tensor  # (B, t) int64, the tokens fed so far (BOS first), (B, 0) before step 1

    def index_select(self, index: Tensor) -> TransformerState:
        return TransformerState(*(x.index_select(0, index) for x in self))


def sinusoidal_positions(T: int, d: int, device=None, dtype=None) -> Tensor:
    """(T, d): PE[t, 2i] = sin(t / 10000^(2i/d)), PE[t, 2i+1] = cos(same) (Vaswani sec. 3.5)."""
    pos = torch.arange(T, device=device, dtype=torch.float32)[:, None]             # (T, 1)
    inv = torch.exp(torch.arange(0, d, 2, device=device, dtype=torch.float32)
                    * (-math.log(10000.0) / d))                                    # (d/2,)
    pe = torch.zeros(T, d, device=device)
    pe[:, 0::2] = torch.sin(pos * inv)
    pe[:, 1::2] = torch.cos(pos * inv)
    return pe.to(dtype) if dtype is not None else pe


class TransformerSeq2Seq(nn.Module):
    """Encoder-decoder Transformer with Seq2Seq's inputs, outputs and decoding interface.

    Args: src_vocab_size, tgt_vocab_size; d_model (even, divisible by nhead); nhead;
    num_layers (encoder and decoder each); dim_feedforward; dropout (embeddings, attention,
    feed-forward); tie_embeddings (output weight = target embedding); pad_id, bos_id, eos_id.

    Inputs: src (B, S) int64, src_lengths (B,) int64 in [1, S], tgt_in (B, T) int64 = BOS y.
    Output: logits (B, T, V).
    """

    def __init__(self, src_vocab_size: int, tgt_vocab_size: int, *, d_model: int = 256,
                 nhead: int = 4, num_layers: int = 2, dim_feedforward: int = 1024,
                 dropout: float = 0.1, tie_embeddings: bool = False, pad_id: int = 0,
                 bos_id: int = 1, eos_id: int = 2):
        super().__init__()
        if d_model % 2 or d_model % nhead:
            raise ValueError(f"d_model must be even and divisible by nhead={nhead}, "
                             f"got {d_model}")
        self.pad_id, self.bos_id, self.eos_id = pad_id, bos_id, eos_id
        self.d_model = d_model
        self.src_embed = nn.Embedding(src_vocab_size, d_model, padding_idx=pad_id)
        self.tgt_embed = nn.Embedding(tgt_vocab_size, d_model, padding_idx=pad_id)
        for emb in (self.src_embed, self.tgt_embed):
            nn.init.normal_(emb.weight, 0.0, d_model ** -0.5)
            with torch.no_grad():
                emb.weight[pad_id].zero_()
        layer = dict(d_model=d_model, nhead=nhead, dim_feedforward=dim_feedforward,
                     dropout=dropout, batch_first=True, norm_first=True)
        # enable_nested_tensor=False: the nested fast path does not apply to pre-LN layers
        self.encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(**layer), num_layers,
                                             norm=nn.LayerNorm(d_model),
                                             enable_nested_tensor=False)
        self.decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(**layer), num_layers,
                                             norm=nn.LayerNorm(d_model))
        self.drop = nn.Dropout(dropout)
        self.generator = nn.Linear(d_model, tgt_vocab_size)
        if tie_embeddings:
            self.generator.weight = self.tgt_embed.weight  # (V, d), one parameter

    def _embed(self, emb: nn.Embedding, x: Tensor) -> Tensor:
        e = emb(x) * math.sqrt(self.d_model)                             # (B, T, d)
        return self.drop(e + sinusoidal_positions(x.shape[1], self.d_model, e.device, e.dtype))

    def encode(self, src: Tensor, src_lengths: Tensor) -> TransformerState:
        if src.dim() != 2 or src_lengths.shape != src.shape[:1]:
            raise ValueError(f"src must be (B, S) and src_lengths (B,), got "
                             f"{tuple(src.shape)} and {tuple(src_lengths.shape)}")
        if len(src_lengths) and int(src_lengths.min()) < 1:
            raise ValueError("src_lengths must be >= 1 (an empty source has nothing to "
                             "attend to)")
        mask = length_mask(src_lengths.to(src.device), src.shape[1])    # (B, S)
        memory = self.encoder(self._embed(self.src_embed, src),
                              src_key_padding_mask=~mask)                # (B, S, d)
        return TransformerState(memory, mask, src.new_zeros(src.shape[0], 0))

    def _decode(self, tgt_in: Tensor, state: TransformerState) -> Tensor:
        """tgt_in (B, T) -> logits (B, T, V), each position seeing only those before it."""
        T = tgt_in.shape[1]
        causal = torch.ones(T, T, dtype=torch.bool, device=tgt_in.device).triu(1)  # True: hidden
        y = self.decoder(self._embed(self.tgt_embed, tgt_in), state.memory, tgt_mask=causal,
                         tgt_is_causal=True, memory_key_padding_mask=~state.mask)  # (B, T, d)
        return self.generator(y)                                         # (B, T, V)

    def forward(self, src: Tensor, src_lengths: Tensor, tgt_in: Tensor) -> Tensor:
        """Teacher forcing: logits (B, T, V) for tgt_in (B, T) = BOS y_1 .. y_{T-1}."""
        return self._decode(tgt_in, self.encode(src, src_lengths))

    def decode_step(self, prev_tokens: Tensor, state: TransformerState
                    ) -> tuple[Tensor, TransformerState, None]:
        """prev_tokens (B,) -> log-probs (B, V) of the next token, the state, None."""
        state = state._replace(prefix=torch.cat([state.prefix, prev_tokens[:, None]], 1))
        logits = self._decode(state.prefix, state)[:, -1]                # (B, V)
        return F.log_softmax(logits, dim=-1), state, None

    def reorder_state(self, state: TransformerState, index: Tensor) -> TransformerState:
        """The states of batch rows ``index`` (N,), in that order."""
        return state.index_select(index)
