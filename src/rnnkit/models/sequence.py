"""Sequence classification and per-step tagging on rnnkit's recurrent layers.

    tokens (B, T) int  --Embedding-->  (B, T, E) --+
                                                   +--> RNN/LSTM/GRU, uni- or bidirectional,
    features (B, T, F) --[Linear]----> (B, T, E) --+    masked by lengths  -> (B, T, D*H)
                                                                 |
     SequenceClassifier: pool over valid steps (last | mean | max | attention | steps)
                         -> (B, P) -> dropout -> Linear -> logits (B, num_classes)
     SequenceTagger:     per step -> dropout -> Linear -> logits (B, T, num_tags)

Variable lengths: every layer gets ``lengths=`` (rnnkit's masking: steps at or past a
sequence's length leave the state unchanged and output zeros; the reverse direction starts
at each sequence's own last step, as with a PackedSequence), and every pooling ignores the
padded steps, so a sequence's prediction does not depend on what it is batched with.

Batch-first throughout, as the loaders' ``collate`` produces.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.errors import unknown_name
from rnnkit.models.language import make_recurrent

POOLINGS = ("last", "mean", "max", "attention", "steps")


def length_mask(lengths: Tensor, T: int) -> Tensor:
    """(B,) lengths -> (B, T) bool, True on valid steps."""
    return torch.arange(T, device=lengths.device)[None, :] < lengths[:, None]


class SequenceEncoder(nn.Module):
    """Input adapter + recurrent stack: (B, T) ids or (B, T, F) features -> (B, T, D*H).

    Args:
        vocab_size: number of token ids (tokens in, ``nn.Embedding``), or None for
            continuous features.
        num_features: F for continuous inputs (ignored with vocab_size).
        embed_size: embedding width for tokens; for features, the width of an optional
            Linear projection (0: features go straight into the RNN, whose input weights are
            already a linear map; a projection only helps to share one across tasks).
        cell, hidden_size, num_layers, bidirectional, dropout, backend: the recurrent stack
            (dropout between layers and on the embedded input, never on the recurrent state).
    """

    def __init__(self, vocab_size: int | None = None, num_features: int | None = None,
                 embed_size: int = 32, cell: str = "lstm", hidden_size: int = 128,
                 num_layers: int = 1, bidirectional: bool = True, dropout: float = 0.0,
                 backend: str = "auto"):
        super().__init__()
        if (vocab_size is None) == (num_features is None):
            raise ValueError("give exactly one of vocab_size (tokens) or num_features "
                             "(continuous inputs)")
        self.vocab_size, self.num_features = vocab_size, num_features
        if vocab_size is not None:
            self.embed = nn.Embedding(vocab_size, embed_size)
            rnn_in = embed_size
        elif embed_size:
            self.embed = nn.Linear(num_features, embed_size)
            rnn_in = embed_size
        else:
            self.embed = nn.Identity()
            rnn_in = num_features
        self.drop = nn.Dropout(dropout)
        self.rnn = make_recurrent(cell, rnn_in, hidden_size, num_layers, dropout, backend,
                                  bidirectional=bidirectional, batch_first=True)
        self.num_directions = 2 if bidirectional else 1
        self.output_size = self.num_directions * hidden_size

    def _check(self, x: Tensor, lengths: Tensor | None) -> Tensor:
        tokens = self.vocab_size is not None
        if tokens and (x.dim() != 2 or x.dtype != torch.long):
            raise ValueError(f"token input must be (B, T) int64, got {tuple(x.shape)} {x.dtype}")
        if not tokens and (x.dim() != 3 or x.shape[-1] != self.num_features):
            raise ValueError(f"feature input must be (B, T, {self.num_features}), got "
                             f"{tuple(x.shape)}")
        B, T = x.shape[:2]
        if lengths is None:
            return torch.full((B,), T, dtype=torch.long)
        if lengths.shape != (B,):
            raise ValueError(f"lengths must be ({B},), got {tuple(lengths.shape)}")
        return lengths

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """Returns outputs (B, T, D*H) (zeros past each length), final (B, D*H) = the last
        layer's final state of each direction, and the lengths used."""
        lengths = self._check(x, lengths)
        e = self.drop(self.embed(x))  # (B, T, E)
        out, h_n = self.rnn(e, lengths=lengths.cpu())  # (B, T, D*H)
        if isinstance(h_n, tuple):
            h_n = h_n[0]  # LSTM: (h_n, c_n)
        D = self.num_directions
        # h_n (L*D, B, H): forward's state at each sequence's last valid step, reverse's
        # after reading back to step 0.
        final = torch.cat(list(h_n[-D:]), dim=-1)  # (B, D*H)
        return out, final, lengths


class AttentionPool(nn.Module):
    """Additive attention pooling (Bahdanau et al. 2015; Yang et al. 2016, sec. 2.2):
    a_t = softmax_t(v . tanh(W o_t + b) + p_t) over valid steps, pooled = sum_t a_t o_t.

    ``position_bias=N`` adds a learned score p_t per position t < N (0 otherwise): for
    aligned windows (a splice site always between the same two bases) where to look is
    known in advance, and content-only scores must rediscover it from the states.
    """

    def __init__(self, size: int, attn_size: int = 64, position_bias: int = 0):
        super().__init__()
        self.proj = nn.Linear(size, attn_size)
        self.v = nn.Linear(attn_size, 1, bias=False)
        self.position_bias = nn.Parameter(torch.zeros(position_bias)) if position_bias \
            else None

    def forward(self, out: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
        scores = self.v(torch.tanh(self.proj(out))).squeeze(-1)  # (B, T)
        if self.position_bias is not None:
            n = min(out.shape[1], len(self.position_bias))
            scores = torch.cat([scores[:, :n] + self.position_bias[:n], scores[:, n:]], 1)
        scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1)  # (B, T), zero on padding
        return torch.einsum("bt,btd->bd", weights, out), weights


class SequenceClassifier(nn.Module):
    """One label per sequence: encoder -> masked pooling -> dropout -> Linear.

    Pooling: "last" (the final states: forward at the last valid step, reverse at step 0),
    "mean" or "max" over valid steps, "attention" (``AttentionPool``, with
    ``position_bias``; its weights of the latest call are kept in ``self.last_attention``
    (B, T) for plots), or "steps": the outputs at the fixed steps ``pool_steps``,
    concatenated, for aligned windows (StatLog splice: ``pool_steps=(29, 30)``, the two
    bases either side of the candidate junction; a bidirectional encoder's output there
    has read the whole window from both sides). Other arguments as ``SequenceEncoder``.

    Inputs: x (B, T) int64 or (B, T, F) float, lengths (B,) int64 or None (all T).
    Output: logits (B, num_classes).
    """

    def __init__(self, num_classes: int, vocab_size: int | None = None,
                 num_features: int | None = None, pooling: str = "last",
                 pool_steps: tuple[int, ...] = (), position_bias: int = 0, **encoder_kwargs):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(unknown_name("pooling", pooling, POOLINGS))
        if num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {num_classes}")
        if (pooling == "steps") != bool(pool_steps) or any(k < 0 for k in pool_steps):
            raise ValueError("pool_steps (non-negative step indices) goes with, and only "
                             f"with, pooling='steps'; got pooling={pooling!r}, "
                             f"pool_steps={pool_steps!r}")
        if position_bias and pooling != "attention":
            raise ValueError("position_bias applies to pooling='attention' only")
        self.encoder = SequenceEncoder(vocab_size, num_features, **encoder_kwargs)
        self.pooling, self.pool_steps = pooling, tuple(pool_steps)
        size = self.encoder.output_size
        self.attention = AttentionPool(size, position_bias=position_bias) \
            if pooling == "attention" else None
        self.drop = nn.Dropout(self.encoder.drop.p)
        self.head = nn.Linear(size * max(1, len(self.pool_steps)), num_classes)
        self.last_attention: Tensor | None = None

    def pool(self, out: Tensor, final: Tensor, lengths: Tensor) -> Tensor:
        """(B, T, D*H) outputs -> (B, D*H) per the pooling mode."""
        mask = length_mask(lengths.to(out.device), out.shape[1])  # (B, T)
        if self.pooling == "last":
            return final
        if self.pooling == "mean":
            m = mask.unsqueeze(-1).to(out.dtype)
            return (out * m).sum(1) / m.sum(1).clamp_min(1.0)
        if self.pooling == "max":
            return out.masked_fill(~mask.unsqueeze(-1), float("-inf")).max(1).values
        if self.pooling == "steps":
            if int(lengths.min()) <= max(self.pool_steps):
                raise ValueError(f"pooling='steps' reads step {max(self.pool_steps)}, but a "
                                 f"sequence has only {int(lengths.min())} steps")
            return out[:, list(self.pool_steps)].flatten(1)  # (B, len(steps) * D*H)
        pooled, self.last_attention = self.attention(out, mask)
        return pooled

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        out, final, lengths = self.encoder(x, lengths)
        return self.head(self.drop(self.pool(out, final, lengths)))  # (B, C)


class SequenceTagger(nn.Module):
    """One label per step: encoder -> dropout -> Linear at every step.

    Inputs as ``SequenceClassifier``. Output: logits (B, T, num_tags); padded steps carry
    values but ``tagging_loss`` and the metrics ignore them.
    """

    def __init__(self, num_tags: int, vocab_size: int | None = None,
                 num_features: int | None = None, **encoder_kwargs):
        super().__init__()
        if num_tags < 2:
            raise ValueError(f"num_tags must be >= 2, got {num_tags}")
        self.encoder = SequenceEncoder(vocab_size, num_features, **encoder_kwargs)
        self.drop = nn.Dropout(self.encoder.drop.p)
        self.head = nn.Linear(self.encoder.output_size, num_tags)

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        out, _, _ = self.encoder(x, lengths)
        return self.head(self.drop(out))  # (B, T, num_tags)


def tagging_loss(logits: Tensor, tags: Tensor, lengths: Tensor,
                 weight: Tensor | None = None) -> Tensor:
    """Mean cross-entropy over valid steps only. logits (B, T, K), tags (B, T), lengths (B,)."""
    mask = length_mask(lengths.to(logits.device), logits.shape[1])  # (B, T)
    return F.cross_entropy(logits[mask], tags[mask], weight=weight)


def valid_steps(x: Tensor, lengths: Tensor) -> Tensor:
    """Flatten the valid steps of a (B, T, ...) tensor to (sum(lengths), ...), for metrics."""
    return x[length_mask(lengths.to(x.device), x.shape[1])]


def _encoder_args(m, spec: dict) -> dict:
    """SequenceEncoder arguments from a ModelConfig ``m`` and a checkpoint ``spec``
    ({"classes", "vocab_size", "num_features", ...}): tokens when vocab_size is set."""
    return dict(vocab_size=spec["vocab_size"],
                num_features=None if spec["vocab_size"] is not None else spec["num_features"],
                embed_size=m.embed_size, cell=m.cell, hidden_size=m.hidden_size,
                num_layers=m.num_layers, bidirectional=m.bidirectional, dropout=m.dropout,
                backend=m.backend)


def classifier_from_spec(m, spec: dict) -> SequenceClassifier:
    """The classifier a ModelConfig ``m`` and a checkpoint's ``meta["classifier"]`` describe.
    Spec keys other than classes/vocab_size/num_features/features are model arguments
    (e.g. ``pool_steps``, ``position_bias``); "features" tells a recipe's readers how files
    became inputs and is not a model argument."""
    extra = {k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()
             if k not in ("classes", "vocab_size", "num_features", "features")}
    return SequenceClassifier(len(spec["classes"]), pooling=m.pooling,
                              **_encoder_args(m, spec), **extra)


def tagger_from_spec(m, spec: dict) -> SequenceTagger:
    """The tagger a ModelConfig ``m`` and a checkpoint's ``meta["tagger"]`` describe."""
    return SequenceTagger(len(spec["classes"]), **_encoder_args(m, spec))
