"""Encoder-decoder models and attention: shapes for every cell, teacher forcing equal to the
step-by-step decoder, padding that changes nothing, attention weights, tied embeddings,
name errors, and a copy task the models must start to learn."""

from __future__ import annotations

import copy

import pytest
import torch

from rnnkit.models.attention import ATTENTIONS, AdditiveAttention, make_attention
from rnnkit.models.language import CELLS
from rnnkit.models.seq2seq import Seq2Seq, seq2seq_loss
from rnnkit.models.transformer import TransformerSeq2Seq, sinusoidal_positions

pytestmark = pytest.mark.usefixtures("torch_globals")

SRC_V, TGT_V = 11, 9
KINDS = [*ATTENTIONS, "transformer"]


def make_model(kind: str = "bahdanau", **kw):
    """A tiny model: an RNN encoder-decoder with attention ``kind``, or the Transformer."""
    if kind == "transformer":
        return TransformerSeq2Seq(SRC_V, TGT_V, d_model=8, nhead=2, num_layers=2,
                                  dim_feedforward=16, **kw)
    return Seq2Seq(SRC_V, TGT_V, embed_size=6, hidden_size=8, attention=kind, **kw)


def batch():
    """Three sources of lengths 5, 2, 4 (padded with 0) and teacher-forcing input BOS y."""
    src = torch.randint(3, SRC_V, (3, 5))
    lengths = torch.tensor([5, 2, 4])
    src[1, 2:] = 0
    src[2, 4:] = 0
    tgt_in = torch.randint(3, TGT_V, (3, 4))
    tgt_in[:, 0] = 1
    return src, lengths, tgt_in


def step_by_step(model, src, lengths, tgt_in):
    """log-probs (B, T, V) and attention (B, T, S) or None from a decode_step loop."""
    state = model.encode(src, lengths)
    steps, attns = [], []
    for t in range(tgt_in.shape[1]):
        log_probs, state, a = model.decode_step(tgt_in[:, t], state)
        steps.append(log_probs)
        attns.append(a)
    return torch.stack(steps, 1), None if attns[0] is None else torch.stack(attns, 1)


@pytest.mark.parametrize("cell", CELLS)
def test_shapes_for_every_cell(cell):
    model = Seq2Seq(SRC_V, TGT_V, embed_size=6, hidden_size=8, cell=cell, num_layers=2,
                    bidirectional_encoder=True).eval()
    src, lengths, tgt_in = batch()
    assert model(src, lengths, tgt_in).shape == (3, 4, TGT_V)
    state = model.encode(src, lengths)
    assert state.memory.shape == (3, 5, 8) and state.mask.shape == (3, 5)
    n_states = 2 if cell in ("lstm", "lstm_cifg") else 1  # (h, c) or h
    assert len(state.hidden) == n_states
    assert all(h.shape == (2, 3, 8) for h in state.hidden)  # (L, B, H)
    assert state.memory[1, 2:].abs().max() == 0  # encoder outputs zero past the length
    log_probs, state, a = model.decode_step(tgt_in[:, 0], state)
    assert log_probs.shape == (3, TGT_V) and a.shape == (3, 5)
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(3))


@pytest.mark.parametrize("kind,input_feeding",
                         [(k, f) for k in ATTENTIONS for f in (True, False)]
                         + [("transformer", False)])
def test_teacher_forcing_equals_step_loop(kind, input_feeding):
    kw = {} if kind == "transformer" else {"input_feeding": input_feeding, "num_layers": 2}
    model = make_model(kind, **kw).eval()
    src, lengths, tgt_in = batch()
    with torch.no_grad():
        forced = torch.log_softmax(model(src, lengths, tgt_in), -1)
        stepped, _ = step_by_step(model, src, lengths, tgt_in)
    torch.testing.assert_close(forced, stepped, atol=1e-5, rtol=0)
    # and the loss on it is the same
    tgt_out = torch.randint(3, TGT_V, (3, 4))
    torch.testing.assert_close(seq2seq_loss(forced, tgt_out, 0),
                               seq2seq_loss(stepped, tgt_out, 0), atol=1e-5, rtol=0)


@pytest.mark.parametrize("kind", KINDS)
def test_padding_changes_nothing(kind):
    model = make_model(kind).eval()
    src, lengths, tgt_in = batch()
    with torch.no_grad():
        together = model(src, lengths, tgt_in)
        for i, n in enumerate(lengths.tolist()):
            alone = model(src[i:i + 1, :n], lengths[i:i + 1], tgt_in[i:i + 1])
            torch.testing.assert_close(alone, together[i:i + 1], atol=1e-5, rtol=0)
        src_junk = src.clone()
        src_junk[1, 2:] = 7  # what the padding holds must not matter either
        torch.testing.assert_close(model(src_junk, lengths, tgt_in), together, atol=1e-6,
                                   rtol=0)


@pytest.mark.parametrize("name", ["bahdanau", "luong_general", "luong_dot"])
def test_attention_weights_zero_on_padding_and_sum_to_one(name):
    attn = make_attention(name, 6, 6)
    memory = torch.randn(3, 5, 6)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 0, 0]], dtype=torch.bool)
    context, weights = attn(torch.randn(3, 6), memory, mask)
    assert context.shape == (3, 6) and weights.shape == (3, 5)
    assert (weights[~mask] == 0).all()  # exactly zero
    torch.testing.assert_close(weights.sum(-1), torch.ones(3))
    torch.testing.assert_close(context, torch.einsum("bs,bsd->bd", weights, memory))
    # precomputed keys give the same; a time axis of queries attends each step alike
    q = torch.randn(3, 4, 6)
    c_t, w_t = attn(q, memory, mask, keys=attn.precompute(memory))  # (B, T, .)
    for t in range(4):
        c1, w1 = attn(q[:, t], memory, mask)
        torch.testing.assert_close(c_t[:, t], c1)
        torch.testing.assert_close(w_t[:, t], w1)


def test_additive_score_by_hand():
    attn = AdditiveAttention(3, 4, attn_size=5)
    q, m = torch.randn(1, 3), torch.randn(1, 2, 4)
    _, weights = attn(q, m, torch.ones(1, 2, dtype=torch.bool))
    W, U, b, v = attn.query_proj.weight, attn.key_proj.weight, attn.key_proj.bias, attn.v.weight
    e = torch.stack([v[0] @ torch.tanh(W @ q[0] + U @ m[0, j] + b) for j in range(2)])
    torch.testing.assert_close(weights[0], torch.softmax(e, 0))


def test_model_attention_in_decode_step():
    model = make_model("bahdanau").eval()
    src, lengths, tgt_in = batch()
    with torch.no_grad():
        _, a = step_by_step(model, src, lengths, tgt_in)  # (B, T, S)
    mask = torch.arange(5)[None, :] < lengths[:, None]
    assert (a.permute(1, 0, 2)[:, ~mask] == 0).all()
    torch.testing.assert_close(a.sum(-1), torch.ones(3, 4))


@pytest.mark.parametrize("kind,embed", [("bahdanau", 8), ("bahdanau", 6), ("none", 6),
                                        ("transformer", None)])
def test_tied_embeddings_share_the_parameter(kind, embed):
    kw = {} if embed is None else {"embed_size": embed}
    if kind == "transformer":
        model = make_model(kind, tie_embeddings=True)
    else:
        model = Seq2Seq(SRC_V, TGT_V, hidden_size=8, attention=kind, tie_embeddings=True, **kw)
    assert model.generator.weight is model.tgt_embed.weight
    names = [n for n, _ in model.named_parameters()]
    assert "generator.weight" not in names  # counted once
    src, lengths, tgt_in = batch()
    assert model(src, lengths, tgt_in).shape == (3, 4, TGT_V)
    untied = make_model(kind) if kind == "transformer" else \
        Seq2Seq(SRC_V, TGT_V, hidden_size=8, attention=kind, **kw)
    assert untied.generator.weight is not untied.tgt_embed.weight


def test_unknown_names_list_the_choices():
    with pytest.raises(ValueError, match="unknown attention 'luong_concat'.*bahdanau"):
        Seq2Seq(SRC_V, TGT_V, attention="luong_concat")
    with pytest.raises(ValueError, match="unknown cell 'lstmx'.*lstm_cifg"):
        Seq2Seq(SRC_V, TGT_V, cell="lstmx")
    with pytest.raises(ValueError, match="unknown attention"):
        make_attention("nope", 4, 4)
    with pytest.raises(ValueError, match="query_size == memory_size"):
        make_attention("luong_dot", 4, 6)
    with pytest.raises(ValueError, match="even"):
        Seq2Seq(SRC_V, TGT_V, hidden_size=7, bidirectional_encoder=True)
    with pytest.raises(ValueError, match="src_lengths"):
        make_model().encode(torch.ones(2, 3, dtype=torch.long), torch.tensor([3, 0]))


def test_loss_ignores_padding_and_smooths():
    logits = torch.randn(2, 3, 5)
    tgt = torch.tensor([[3, 4, 2], [4, 2, 0]])  # pad 0 after the second sentence's EOS
    manual = -torch.log_softmax(logits, -1).gather(-1, tgt[..., None])[..., 0]
    torch.testing.assert_close(seq2seq_loss(logits, tgt, 0), manual[tgt != 0].mean())
    assert seq2seq_loss(logits, tgt, 0, label_smoothing=0.1) != seq2seq_loss(logits, tgt, 0)


def test_sinusoids():
    pe = sinusoidal_positions(3, 4)
    torch.testing.assert_close(pe[2], torch.tensor([
        torch.sin(torch.tensor(2.0)), torch.cos(torch.tensor(2.0)),
        torch.sin(torch.tensor(0.02)), torch.cos(torch.tensor(0.02))]))


@pytest.mark.parametrize("kind", ["bahdanau", "none", "transformer"])
def test_gradients_flow_and_a_copy_task_gets_learned(kind):
    src = torch.tensor([[3, 4, 5, 6], [6, 5, 4, 0], [7, 3, 0, 0]])
    lengths = torch.tensor([4, 3, 2])
    tgt_in = torch.tensor([[1, 3, 4, 5, 6], [1, 6, 5, 4, 0], [1, 7, 3, 0, 0]])
    tgt_out = torch.tensor([[3, 4, 5, 6, 2], [6, 5, 4, 2, 0], [7, 3, 2, 0, 0]])
    model = make_model(kind, dropout=0.0)
    loss = seq2seq_loss(model(src, lengths, tgt_in), tgt_out, 0)
    loss.backward()
    for name, p in model.named_parameters():  # every parameter is reached
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    trained = copy.deepcopy(model)
    opt = torch.optim.Adam(trained.parameters(), lr=3e-2)
    for _ in range(30):
        opt.zero_grad()
        seq2seq_loss(trained(src, lengths, tgt_in), tgt_out, 0).backward()
        opt.step()
    after = seq2seq_loss(trained(src, lengths, tgt_in), tgt_out, 0)
    assert after < 0.5 * loss


# ---- copy (pointer-generator) -------------------------------------------------------------

def copy_model(**kw):
    """A tiny pointer-generator: one vocabulary (SRC_V) for both sides."""
    return Seq2Seq(SRC_V, SRC_V, embed_size=6, hidden_size=8, copy=True, **kw)


@pytest.mark.parametrize("input_feeding", [True, False])
def test_copy_teacher_forcing_equals_step_loop_and_sums_to_one(input_feeding):
    model = copy_model(input_feeding=input_feeding, num_layers=2).eval()
    src, lengths, tgt_in = batch()
    with torch.no_grad():
        forced = model(src, lengths, tgt_in)                       # log-probabilities
        stepped, _ = step_by_step(model, src, lengths, tgt_in)
    torch.testing.assert_close(forced, stepped, atol=1e-5, rtol=0)
    torch.testing.assert_close(forced.exp().sum(-1), torch.ones(3, 4))


def test_copy_gate_closed_puts_the_attention_on_the_source_ids():
    """With the generator switched off (g = 0) the output is the attention mass gathered
    onto each source position's id: tokens absent from the source get nothing."""
    model = copy_model().eval()
    with torch.no_grad():
        model.copy_gate.weight.zero_()
        model.copy_gate.bias.fill_(-60.0)                          # sigmoid -> ~1e-26
    src = torch.tensor([[3, 5, 3, 7], [4, 4, 0, 0]])
    lengths = torch.tensor([4, 2])
    with torch.no_grad():
        log_probs, _, a = model.decode_step(torch.tensor([1, 1]), model.encode(src, lengths))
    p = log_probs.exp()
    expected = torch.zeros(2, SRC_V)
    for b in range(2):
        for j in range(int(lengths[b])):
            expected[b, src[b, j]] += a[b, j]
    torch.testing.assert_close(p, expected, atol=1e-6, rtol=0)


def test_copy_learns_a_copy_task_faster_than_attention_alone():
    """Target = source: with the same budget the pointer-generator's loss ends far below
    the same model's without copying; padding still changes nothing."""
    def train(copy):
        torch.manual_seed(0)
        model = Seq2Seq(SRC_V, SRC_V, embed_size=6, hidden_size=8, copy=copy, dropout=0.0)
        opt = torch.optim.Adam(model.parameters(), lr=3e-2)
        for _ in range(40):
            opt.zero_grad()
            loss = seq2seq_loss(model(src, lengths, tgt_in), tgt_out, 0)
            loss.backward()
            opt.step()
        return model, loss.item()

    gen = torch.Generator().manual_seed(0)
    src = torch.randint(3, SRC_V, (8, 5), generator=gen)
    lengths = torch.full((8,), 5)
    tgt_in = torch.cat([torch.ones(8, 1, dtype=torch.long), src], 1)
    tgt_out = torch.cat([src, torch.full((8, 1), 2)], 1)
    model, copied = train(True)
    _, plain = train(False)
    assert copied < 0.5 * plain
    model.eval()
    with torch.no_grad():
        padded = torch.cat([src, torch.zeros(8, 3, dtype=torch.long)], 1)
        torch.testing.assert_close(model(padded, lengths, tgt_in), model(src, lengths, tgt_in),
                                   atol=1e-5, rtol=0)


def test_copy_needs_attention_and_one_vocabulary():
    with pytest.raises(ValueError, match="needs attention"):
        Seq2Seq(SRC_V, SRC_V, hidden_size=8, attention="none", copy=True)
    with pytest.raises(ValueError, match="equal vocabulary sizes"):
        Seq2Seq(SRC_V, TGT_V, hidden_size=8, copy=True)
