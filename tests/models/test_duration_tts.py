"""Duration model (characters held for durations from a Tacotron's alignment): durations
read from attention by hand, shapes, padding that changes nothing, synthesis that follows
the predicted durations (and their cut at the frame limit), the loss, the spec round trip,
and a sentence it learns."""

from __future__ import annotations

import pytest
import torch

from rnnkit.models.duration_tts import (
    DurationTTS,
    duration_loss,
    durations_from_attention,
    durations_from_starts,
)
from rnnkit.models.tts_spec import tts_model_from_spec, tts_spec
from rnnkit.train.config import ModelConfig

pytestmark = pytest.mark.usefixtures("torch_globals")

V, M = 9, 6
TINY = dict(embed_size=8, hidden_size=12, postnet_channels=8)


def batch():
    """Texts of lengths 4 and 2 (0-padded) held for 2+0+3+1 = 6 and 1+2 = 3 frames."""
    text = torch.tensor([[3, 1, 4, 1], [5, 2, 0, 0]])
    text_lengths = torch.tensor([4, 2])
    durations = torch.tensor([[2, 0, 3, 1], [1, 2, 0, 0]])
    mels = torch.randn(2, 6, M)
    mels[1, 3:] = 0
    return text, text_lengths, durations, mels, torch.tensor([6, 3])


def test_durations_from_attention_by_hand():
    # 4 steps of r = 2 frames over 3 characters; step 2 looks back (made monotone)
    attn = torch.tensor([[0.9, 0.1, 0.0], [0.1, 0.2, 0.7], [0.6, 0.3, 0.1], [0.0, 0.1, 0.9]])
    assert durations_from_attention(attn, 7, 2).tolist() == [2, 0, 5]
    assert durations_from_attention(attn, 8, 2).sum() == 8
    with pytest.raises(ValueError, match="N \\* 2 >= 9"):
        durations_from_attention(attn, 9, 2)


def test_durations_from_starts_by_hand():
    # the first character also takes the frames before it, the last those after it
    assert durations_from_starts([2, None, 5, 9], 12).tolist() == [5, 0, 4, 3]
    assert durations_from_starts([None, 0, 0, 3], 3).tolist() == [0, 0, 3, 0]
    with pytest.raises(ValueError, match="must not decrease"):
        durations_from_starts([4, 2], 6)
    with pytest.raises(ValueError, match="no character"):
        durations_from_starts([None], 6)


def test_shapes_padding_and_a_lone_item():
    model = DurationTTS(V, M, dropout=0.0, **TINY).eval()
    text, tl, d, mels, ml = batch()
    out = model(text, tl, d)
    assert out.mels.shape == out.mels_post.shape == (2, 6, M)
    assert out.log_durations.shape == (2, 4) and out.log_durations[1, 2:].abs().sum() == 0
    assert out.mels_post[1, 3:].abs().sum() == 0           # nothing past the length
    alone = model(text[1:, :2], tl[1:], d[1:, :2])
    torch.testing.assert_close(alone.mels_post[0], out.mels_post[1, :3])
    parts = duration_loss(out, mels, ml, d, tl)
    assert set(parts) == {"mel", "post", "duration", "loss"}
    torch.testing.assert_close(parts["loss"], parts["mel"] + parts["post"] + parts["duration"])
    with pytest.raises(ValueError, match="durations must be"):
        model(text, tl, d[:, :3])


def test_duration_loss_by_hand():
    model = DurationTTS(V, M, dropout=0.0, **TINY).eval()
    text, tl, d, mels, ml = batch()
    out = model(text, tl, d)
    want = torch.log1p(d.float())
    sq = [(out.log_durations[0] - want[0]) ** 2, (out.log_durations[1, :2] - want[1, :2]) ** 2]
    expected = (sq[0].sum() + sq[1].sum()) / 6
    torch.testing.assert_close(duration_loss(out, mels, ml, d, tl)["duration"], expected)


def test_synthesis_follows_the_predicted_durations_and_is_cut_at_the_limit():
    model = DurationTTS(V, M, dropout=0.0, **TINY).eval()
    with torch.no_grad():  # predict log(1 + d) = log 4: three frames per character
        model.duration_proj.weight.zero_()
        model.duration_proj.bias.fill_(float(torch.log(torch.tensor(4.0))))
    text = torch.tensor([3, 1, 4, 1, 5])
    out = model.generate(text)
    assert out.mels.shape == (15, M) and out.stop_step == 15
    assert out.attention.shape == (15, 5)
    assert out.attention.argmax(1).tolist() == [k for k in range(5) for _ in range(3)]
    cut = model.generate(text, max_frames=7)
    assert cut.mels.shape == (7, M) and cut.stop_step is None
    both = model.generate(torch.stack([text, text]), text_lengths=torch.tensor([5, 2]))
    assert [len(s.mels) for s in both] == [15, 6]


def test_speakers_and_spec_round_trip():
    cfg = ModelConfig(hidden_size=12, embed_size=8, arch="durations", num_layers=2)
    spec = tts_spec(cfg, V, M, 3, ["a", "b"], postnet_channels=8)
    a, b = tts_model_from_spec(cfg, spec), tts_model_from_spec(cfg, spec)
    assert isinstance(a, DurationTTS) and a.num_speakers == 2
    b.load_state_dict(a.state_dict())
    text, tl, d, _, _ = batch()
    with pytest.raises(ValueError, match="pass speakers"):
        a(text, tl, d)
    a.eval()
    one = a(text, tl, d, torch.tensor([0, 1])).mels_post
    other = a(text, tl, d, torch.tensor([1, 1])).mels_post
    assert not torch.allclose(one[0], other[0])
    torch.testing.assert_close(one[1], other[1])


def test_a_sentence_is_learned_with_its_durations():
    """One text and its frames: the frames' L1 and the duration error fall well below
    where they start, and each predicted duration is within a frame of the recorded one."""
    torch.manual_seed(0)
    model = DurationTTS(V, M, dropout=0.0, **TINY)
    text, tl = torch.tensor([[3, 1, 4, 1, 5, 2]]), torch.tensor([6])
    d = torch.tensor([[3, 4, 2, 5, 3, 3]])
    mels = torch.sin(torch.arange(20.0)[:, None] * torch.arange(1.0, M + 1) / 5)[None]
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(150):
        parts = duration_loss(model(text, tl, d), mels, torch.tensor([20]), d, tl)
        first = first or {k: float(v.detach()) for k, v in parts.items()}
        opt.zero_grad()
        parts["loss"].backward()
        opt.step()
    last = {k: float(v.detach()) for k, v in parts.items()}
    assert last["post"] < 0.3 * first["post"] and last["duration"] < 0.05
    predicted = torch.expm1(model(text, tl, d).log_durations.detach()).round()
    assert (predicted - d).abs().max() <= 1
