"""The translation model a run's config and checkpoint describe: an RNN encoder-decoder
(``seq2seq.Seq2Seq``) or the Transformer baseline (``transformer.TransformerSeq2Seq``).

A checkpoint's ``meta["translator"]`` (the spec) holds the vocabulary sizes and special
ids, so ``model_from_spec(cfg.model, spec)`` rebuilds the model without the data.
"""

from __future__ import annotations

from torch import nn

# Special token ids shared by the tokenisers (rnnkit.data.subwords) and the models.
PAD, BOS, EOS, UNK = 0, 1, 2, 3

# Transformer baseline shape: width 4 x fewer feed-forward units than torch's default, a
# depth that puts its parameter count near the recurrent default's (the recipe reports
# both counts); heads divide the width.
TRANSFORMER_LAYERS = 2
TRANSFORMER_HEADS = 4


def translation_spec(src_vocab_size: int, tgt_vocab_size: int) -> dict:
    """What fixes the model's shape beyond ``cfg.model`` (stored in checkpoints)."""
    return {"src_vocab_size": src_vocab_size, "tgt_vocab_size": tgt_vocab_size,
            "pad_id": PAD, "bos_id": BOS, "eos_id": EOS}


def model_from_spec(m, spec: dict) -> nn.Module:
    """The model for ModelConfig ``m`` and a checkpoint's ``meta["translator"]``."""
    ids = {k: spec[k] for k in ("pad_id", "bos_id", "eos_id")}
    if m.arch == "transformer":
        from rnnkit.models.transformer import TransformerSeq2Seq

        return TransformerSeq2Seq(
            spec["src_vocab_size"], spec["tgt_vocab_size"], d_model=m.hidden_size,
            num_layers=TRANSFORMER_LAYERS, nhead=TRANSFORMER_HEADS,
            dim_feedforward=2 * m.hidden_size, dropout=m.dropout, **ids)
    from rnnkit.models.seq2seq import Seq2Seq

    return Seq2Seq(spec["src_vocab_size"], spec["tgt_vocab_size"], embed_size=m.embed_size,
                   hidden_size=m.hidden_size, cell=m.cell, num_layers=m.num_layers,
                   bidirectional_encoder=m.bidirectional, attention=m.attention,
                   input_feeding=m.input_feeding, tie_embeddings=m.tie_embeddings,
                   dropout=m.dropout, backend=m.backend, **ids)
