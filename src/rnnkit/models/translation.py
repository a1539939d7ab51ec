"""The translation model a run's config and checkpoint describe: an RNN encoder-decoder
(``seq2seq.Seq2Seq``) or the Transformer baseline (``transformer.TransformerSeq2Seq``).

A checkpoint's ``meta["translator"]`` (the spec) holds the vocabulary sizes and special
ids, so ``model_from_spec(cfg.model, spec)`` rebuilds the model without the data.
"""

from __future__ import annotations

from torch import nn

# Special token ids shared by the tokenisers (rnnkit.data.subwords) and the models.
PAD, BOS, EOS, UNK = 0, 1, 2, 3

# Transformer baseline shape: 2 encoder and 2 decoder layers, 4 heads, feed-forward twice
# the width; the width is chosen so the parameter count matches the recurrent model the
# same config describes ("about equal parameter count"), and kept in the spec.
TRANSFORMER_LAYERS = 2
TRANSFORMER_HEADS = 4


def translation_spec(m, src_vocab_size: int, tgt_vocab_size: int) -> dict:
    """What fixes the model's shape beyond ModelConfig ``m`` (stored in checkpoints)."""
    spec = {"src_vocab_size": src_vocab_size, "tgt_vocab_size": tgt_vocab_size,
            "pad_id": PAD, "bos_id": BOS, "eos_id": EOS}
    if m.arch == "transformer":
        spec["transformer_width"] = matching_width(m, spec)
    return spec


def matching_width(m, spec: dict) -> int:
    """The Transformer width (a multiple of the head count) whose parameter count is
    closest to that of the recurrent encoder-decoder ``m`` describes with these
    vocabularies."""
    from rnnkit.models.language import count_parameters, matching_width

    step = TRANSFORMER_HEADS
    target = count_parameters(_recurrent(m, spec))
    return step * matching_width(
        lambda k: count_parameters(_transformer(m, spec, step * k)), target, 1024 // step)


def model_from_spec(m, spec: dict) -> nn.Module:
    """The model for ModelConfig ``m`` and a checkpoint's ``meta["translator"]``."""
    if m.arch == "transformer":
        return _transformer(m, spec, spec["transformer_width"])
    return _recurrent(m, spec)


def _transformer(m, spec: dict, width: int) -> nn.Module:
    from rnnkit.models.transformer import TransformerSeq2Seq

    ids = {k: spec[k] for k in ("pad_id", "bos_id", "eos_id")}
    return TransformerSeq2Seq(spec["src_vocab_size"], spec["tgt_vocab_size"], d_model=width,
                              num_layers=TRANSFORMER_LAYERS, nhead=TRANSFORMER_HEADS,
                              dim_feedforward=2 * width, dropout=m.dropout, **ids)


def _recurrent(m, spec: dict) -> nn.Module:
    from rnnkit.models.seq2seq import Seq2Seq

    ids = {k: spec[k] for k in ("pad_id", "bos_id", "eos_id")}
    return Seq2Seq(spec["src_vocab_size"], spec["tgt_vocab_size"], embed_size=m.embed_size,
                   hidden_size=m.hidden_size, cell=m.cell, num_layers=m.num_layers,
                   bidirectional_encoder=m.bidirectional, attention=m.attention,
                   input_feeding=m.input_feeding, tie_embeddings=m.tie_embeddings,
                   copy=m.copy,
                   dropout=m.dropout, backend=m.backend, **ids)
