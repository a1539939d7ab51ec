"""Text-to-speech model (Tacotron 2, small): shapes, padding that changes nothing, teacher
forcing equal to the step loop, location-sensitive attention (weights, gradcheck), the
guided-attention loss by hand, the stop token, the alignment measure, the spec round trip,
and one sentence the model must learn to say with an alignment that reaches the end."""

from __future__ import annotations

import math

import pytest
import torch

from rnnkit.models.attention import LocationSensitiveAttention
from rnnkit.models.tts import (
    MaskedBatchNorm1d,
    Tacotron,
    attention_reaches_end,
    guided_attention_loss,
    tts_loss,
)
from rnnkit.models.tts_spec import tts_model_from_spec, tts_spec
from rnnkit.train.config import ModelConfig

pytestmark = pytest.mark.usefixtures("torch_globals")

V, M, R = 9, 6, 2
TINY = dict(embed_size=8, hidden_size=12, prenet_size=8, attention_size=8,
            location_filters=3, location_kernel=5, postnet_channels=8)


def make_model(reduction: int = R, dropout: float = 0.0, prenet_dropout: float = 0.0, **kw):
    return Tacotron(V, M, reduction, dropout=dropout, prenet_dropout=prenet_dropout,
                    **{**TINY, **kw})


def batch():
    """Texts of lengths 5, 2, 4 (padded with 0) and mels of 7, 4, 6 frames (zero-padded)."""
    text = torch.randint(1, V, (3, 5))
    text_lengths = torch.tensor([5, 2, 4])
    mel_lengths = torch.tensor([7, 4, 6])
    text[1, 2:] = 0
    text[2, 4:] = 0
    mels = torch.randn(3, 7, M)
    mels[1, 4:] = 0
    mels[2, 6:] = 0
    return text, text_lengths, mels, mel_lengths


def test_shapes_for_a_padded_batch():
    model = make_model(dropout=0.5, prenet_dropout=0.5)
    text, tl, mels, ml = batch()
    out = model(text, tl, mels, ml)
    N = math.ceil(7 / R)
    assert out.mels.shape == out.mels_post.shape == (3, N * R, M)
    assert out.stop_logits.shape == (3, N) and out.attention.shape == (3, N, 5)
    parts = tts_loss(out, mels, ml, tl)
    assert set(parts) == {"mel", "post", "stop", "guided", "loss"}
    assert all(v.dim() == 0 and torch.isfinite(v) for v in parts.values())
    parts["loss"].backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("train", [True, False])
def test_padding_changes_nothing_for_the_real_items(train):
    """More text padding and more mel padding: same outputs on real positions, same loss
    (train mode: the batch norms count real positions only)."""
    model = make_model().train(train)
    text, tl, mels, ml = batch()
    out = model(text, tl, mels, ml)
    loss = tts_loss(out, mels, ml, tl)
    text2 = torch.cat([text, torch.zeros(3, 3, dtype=torch.long)], 1)          # S 5 -> 8
    mels2 = torch.cat([mels, torch.randn(3, 5, M)], 1)                          # T 7 -> 12
    out2 = model(text2, tl, mels2, ml)
    loss2 = tts_loss(out2, mels2, ml, tl)
    for b in range(3):
        T, N, S = int(ml[b]), math.ceil(int(ml[b]) / R), int(tl[b])
        torch.testing.assert_close(out2.mels[b, :T], out.mels[b, :T])
        torch.testing.assert_close(out2.mels_post[b, :T], out.mels_post[b, :T])
        torch.testing.assert_close(out2.stop_logits[b, :N], out.stop_logits[b, :N])
        torch.testing.assert_close(out2.attention[b, :N, :S], out.attention[b, :N, :S])
        assert out2.attention[b, :, S:].abs().max() == 0
    for k in loss:
        torch.testing.assert_close(loss2[k], loss[k])


def test_an_item_alone_equals_it_in_a_batch_in_eval_mode():
    model = make_model().eval()
    text, tl, mels, ml = batch()
    out = model(text, tl, mels, ml)
    alone = model(text[1:2, :2], tl[1:2], mels[1:2, :4], ml[1:2])
    torch.testing.assert_close(alone.mels_post[0], out.mels_post[1, :4])
    torch.testing.assert_close(alone.attention[0], out.attention[1, :2, :2])


def test_teacher_forcing_equals_the_step_loop():
    """With the pre-net's dropout off, forward equals encode + decode_step fed the targets."""
    model = make_model(reduction=3)
    text, tl, mels, ml = batch()
    out = model(text, tl, mels, ml)
    state = model.encode(text, tl)
    frame = torch.zeros(3, M)
    frames, stops, attns = [], [], []
    for n in range(out.stop_logits.shape[1]):
        f, s, state, a = model.decode_step(frame, state)
        frames.append(f)
        stops.append(s)
        attns.append(a)
        frame = mels[:, min(3 * n + 2, 6)]   # step n + 1 reads frame 3n + 2
    torch.testing.assert_close(torch.cat(frames, 1), out.mels)
    torch.testing.assert_close(torch.stack(stops, 1), out.stop_logits)
    torch.testing.assert_close(torch.stack(attns, 1), out.attention)


def test_full_scheduled_sampling_equals_free_running_and_none_equals_teacher_forcing():
    """sampling = 1 feeds back the model's own frames (the generate loop without a stop);
    a sampling step reads the detached frame, so no gradient flows through the feedback;
    an in-between rate, drawn with a generator, is reproducible."""
    model = make_model(reduction=3)
    text, tl, mels, ml = batch()
    torch.testing.assert_close(model(text, tl, mels, ml, 0.0).mels, model(text, tl, mels, ml).mels)
    out = model(text, tl, mels, ml, 1.0)
    state = model.encode(text, tl)
    frame, frames = torch.zeros(3, M), []
    for _ in range(out.stop_logits.shape[1]):
        f, _, state, _ = model.decode_step(frame, state)
        frames.append(f)
        frame = f[:, -1]
    torch.testing.assert_close(torch.cat(frames, 1), out.mels)
    half = [model(text, tl, mels, ml, 0.5, torch.Generator().manual_seed(3)).mels
            for _ in range(2)]
    assert torch.equal(*half)
    assert not torch.equal(half[0], out.mels)
    with pytest.raises(ValueError, match=r"sampling must be in \[0, 1\]"):
        model(text, tl, mels, ml, 1.5)


def test_prenet_dropout_stays_on_and_a_generator_fixes_it():
    model = make_model(prenet_dropout=0.5).eval()
    x = torch.ones(4, M)
    assert not torch.equal(model.prenet(x), model.prenet(x))  # on in eval mode too
    text = torch.tensor([1, 2, 3])
    a = model.generate(text, 9, generator=torch.Generator().manual_seed(3))
    b = model.generate(text, 9, generator=torch.Generator().manual_seed(3))
    c = model.generate(text, 9, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a.mels, b.mels) and not torch.equal(a.mels, c.mels)


def test_location_attention_weights_sum_to_one_and_skip_padding():
    attn = LocationSensitiveAttention(5, 4, attn_size=6, filters=3, kernel_size=5)
    memory = torch.randn(2, 7, 4)
    mask = torch.tensor([[True] * 7, [True] * 3 + [False] * 4])
    prev = torch.softmax(torch.randn(2, 7), -1) * mask
    previous = torch.stack([prev, 2 * prev], 1)                                 # (B, 2, S)
    for p in (None, previous):
        c, a = attn(torch.randn(2, 5), memory, mask, previous=p)
        assert c.shape == (2, 4) and a.shape == (2, 7)
        torch.testing.assert_close(a.sum(-1), torch.ones(2))
        assert (a[1, 3:] == 0).all()
    with pytest.raises(ValueError, match="one step at a time"):
        attn(torch.randn(2, 3, 5), memory, mask)
    with pytest.raises(ValueError, match="previous must be"):
        attn(torch.randn(2, 5), memory, mask, previous=previous[:, :1])


def test_location_attention_gradcheck():
    attn = LocationSensitiveAttention(3, 4, attn_size=5, filters=2, kernel_size=3).double()
    mask = torch.tensor([[True] * 4, [True, True, False, False]])
    query = torch.randn(2, 3, dtype=torch.double, requires_grad=True)
    memory = torch.randn(2, 4, 4, dtype=torch.double, requires_grad=True)
    previous = (torch.rand(2, 2, 4, dtype=torch.double) * mask[:, None]).requires_grad_()

    def f(q, m, p):
        return attn(q, m, mask, previous=p)

    assert torch.autograd.gradcheck(f, (query, memory, previous))


def test_guided_attention_loss_by_hand():
    # 2 steps over 2 characters: W = [[0, w], [w, 0]], w = 1 - exp(-0.5^2 / (2 * 0.2^2))
    w = 1 - math.exp(-0.25 / 0.08)
    diag = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    uniform = torch.full((1, 2, 2), 0.5)
    two = torch.tensor([2])
    assert guided_attention_loss(diag, two, two).item() == 0.0
    torch.testing.assert_close(guided_attention_loss(uniform, two, two),
                               torch.tensor(0.5 * w))     # (0.5 w + 0.5 w) / 2 steps
    # batched with padding: item 2 has 1 step over 1 character (W = 0); padding ignored
    batched = torch.stack([uniform[0], torch.tensor([[1.0, 0.0], [9.0, 9.0]])])
    torch.testing.assert_close(
        guided_attention_loss(batched, torch.tensor([2, 1]), torch.tensor([2, 1])),
        torch.tensor(w / 3))                              # (0.5 w + 0.5 w + 0) / 3 steps
    # a diagonal alignment of 40 steps over 20 characters costs next to nothing
    T, N = 40, 20
    a = torch.zeros(1, T, N)
    a[0, torch.arange(T), torch.arange(T) * N // T] = 1
    assert guided_attention_loss(a, torch.tensor([T]), torch.tensor([N])).item() < 0.01


def test_stop_token_ends_synthesis():
    model = make_model(reduction=3, prenet_dropout=0.5).eval()
    text = torch.tensor([[1, 2, 3, 4], [5, 6, 0, 0]])
    lengths = torch.tensor([4, 2])
    with torch.no_grad():
        model.stop_proj.bias.fill_(100.0)
    outs = model.generate(text, 30, text_lengths=lengths)
    assert [o.stop_step for o in outs] == [0, 0]
    assert [tuple(o.mels.shape) for o in outs] == [(3, M), (3, M)]
    assert outs[1].attention.shape == (1, 2)
    with torch.no_grad():
        model.stop_proj.bias.fill_(-100.0)
    one = model.generate(text[0], 7)   # never fires: ends by max_frames, cut to 7 frames
    assert one.stop_step is None and one.mels.shape == (7, M)
    assert one.attention.shape == (3, 4)


def test_attention_reaches_end_definition():
    def onehot(path, S=6):
        return torch.eye(S)[torch.tensor(path)]

    assert attention_reaches_end(onehot([0, 1, 1, 2, 3, 4, 5]), 6)
    assert attention_reaches_end(onehot([0, 2, 1, 3, 3]), 6)           # back by 1 is tolerated
    padded = onehot([0, 1, 2, 3, 4, 5], S=8) * 0.5
    padded[:, 7] = 0.5                                                  # ignored
    assert attention_reaches_end(padded, 6)
    assert not attention_reaches_end(onehot([0, 1, 2, 0, 3, 5]), 6)    # repeats from 0
    assert not attention_reaches_end(onehot([0, 4, 5]), 6)             # skips 1..3
    assert not attention_reaches_end(onehot([4, 5]), 6)                # starts late
    assert not attention_reaches_end(onehot([0, 1, 2]), 6)             # stops at 2 of 6
    assert attention_reaches_end(onehot([0, 1, 2, 3]), 6)              # 3 >= 6 - 3
    with pytest.raises(ValueError, match="weights must be"):
        attention_reaches_end(torch.zeros(3, 4), 6)


def test_spec_rebuilds_the_model():
    cfg = ModelConfig(hidden_size=12, embed_size=8, cell="gru", num_layers=2)
    spec = tts_spec(cfg, vocab_size=V, n_mels=M, reduction=3, prenet_size=8,
                    attention_size=8, location_filters=3, location_kernel=5,
                    postnet_channels=8)
    a, b = tts_model_from_spec(cfg, spec), tts_model_from_spec(cfg, spec)
    b.load_state_dict(a.state_dict())
    assert b.reduction == 3 and b.n_mels == M and b.decoder_rnn.num_layers == 2
    with pytest.raises(ValueError, match="unknown TTS sizes"):
        tts_spec(cfg, V, nope=1)


def test_bad_text_is_refused():
    model = make_model()
    with pytest.raises(ValueError, match="text_lengths must be in"):
        model.encode(torch.ones(2, 3, dtype=torch.long), torch.tensor([3, 0]))
    with pytest.raises(ValueError, match="hidden_size must be even"):
        Tacotron(V, M, hidden_size=7)


def test_masked_batch_norm_equals_batch_norm_without_padding():
    x = torch.randn(3, 4, 5)
    ours, theirs = MaskedBatchNorm1d(4), torch.nn.BatchNorm1d(4)
    mask = torch.ones(3, 5, dtype=torch.bool)
    torch.testing.assert_close(ours(x, mask), theirs(x))
    torch.testing.assert_close(ours.running_var, theirs.running_var)
    torch.testing.assert_close(ours.eval()(x, mask), theirs.eval()(x))


def test_one_sentence_is_learned_and_aligned():
    """Each of 7 characters is a fixed mel pattern held 4 frames; 150 Adam steps at tiny
    size (about 3 s) must cut the loss by half, form a forward alignment, and synthesise
    the sentence with the stop token firing at its last step."""
    torch.manual_seed(0)
    n_mels, S = 8, 7
    text = torch.arange(1, S + 1).unsqueeze(0)
    tl = torch.tensor([S])
    mels = torch.randn(S + 1, n_mels)[text[0].repeat_interleave(4)].unsqueeze(0)  # (1, 28, M)
    ml = torch.tensor([mels.shape[1]])
    model = Tacotron(S + 1, n_mels, 2, dropout=0.0, **{**TINY, "embed_size": 16,
                     "hidden_size": 32, "prenet_size": 16, "attention_size": 16,
                     "location_filters": 4, "postnet_channels": 16})
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    losses = []
    for _ in range(150):
        parts = tts_loss(model(text, tl, mels, ml), mels, ml, tl)
        opt.zero_grad()
        parts["loss"].backward()
        opt.step()
        losses.append(parts["loss"].item())
    assert losses[-1] < 0.5 * losses[0]
    assert parts["guided"].item() < 0.2
    model.eval()
    syn = model.generate(text[0], 60, generator=torch.Generator().manual_seed(0))
    assert syn.stop_step is not None and abs(syn.stop_step - 13) <= 1
    assert attention_reaches_end(syn.attention, S)
    assert syn.attention.max(-1).values.mean() > 0.5    # sharp, not a near-uniform argmax


def test_speakers_give_each_voice_its_own_output_and_batch_alone_agree():
    """Several voices: the speaker's vector changes the frames; an item in a batch equals
    it alone (eval mode); teacher forcing still equals the step loop."""
    model = make_model(reduction=3, num_speakers=3).eval()
    text, tl, mels, ml = batch()
    who = torch.tensor([0, 2, 1])
    out = model(text, tl, mels, ml, speakers=who)
    other = model(text, tl, mels, ml, speakers=torch.tensor([1, 2, 1]))
    assert not torch.allclose(out.mels[0], other.mels[0])       # another voice
    torch.testing.assert_close(out.mels[1:], other.mels[1:])     # the same voices
    alone = model(text[1:2, :2], tl[1:2], mels[1:2, :4], ml[1:2], speakers=who[1:2])
    torch.testing.assert_close(alone.mels[0], out.mels[1, :alone.mels.shape[1]])
    state = model.encode(text, tl, who)
    frame = torch.zeros(3, M)
    frames = []
    for n in range(out.stop_logits.shape[1]):
        f, _, state, _ = model.decode_step(frame, state)
        frames.append(f)
        frame = mels[:, min(3 * n + 2, 6)]
    torch.testing.assert_close(torch.cat(frames, 1), out.mels)
    one = model.generate(text[0], max_frames=6, speakers=torch.tensor(2))
    assert one.mels.shape[1] == M


def test_speakers_are_checked():
    text, tl, mels, ml = batch()
    one, several = make_model(), make_model(num_speakers=2)
    with pytest.raises(ValueError, match="one voice"):
        one(text, tl, mels, ml, speakers=torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="pass speakers"):
        several(text, tl, mels, ml)
    with pytest.raises(ValueError, match=r"in \[0, 2\)"):
        several(text, tl, mels, ml, speakers=torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match=r"must be \(3,\)"):
        several(text, tl, mels, ml, speakers=torch.tensor([0, 1]))


def test_spec_with_speakers_rebuilds_the_model():
    cfg = ModelConfig(hidden_size=12, embed_size=8)
    spec = tts_spec(cfg, V, M, 3, ["font_big", "font_small"], prenet_size=8,
                    attention_size=8, location_filters=3, location_kernel=5,
                    postnet_channels=8)
    model = tts_model_from_spec(cfg, spec)
    assert model.num_speakers == 2 and model.speaker_embed.weight.shape == (2, 12)
    old = {k: v for k, v in spec.items() if k != "speakers"}  # a checkpoint from before
    assert tts_model_from_spec(cfg, old).num_speakers is None
