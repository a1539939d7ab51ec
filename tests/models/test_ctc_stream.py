"""Streaming CTC: CTCModel.stream_step/stream_finish over any chunking equal the whole
utterance's forward (every cell, subsampling, depth, float32 and float64), GreedyStream equals
best-path decoding of the whole, and audio -> LogMelStream -> model -> GreedyStream equals the
whole-file pipeline."""

from __future__ import annotations

import pytest
import torch

from rnnkit.data.features import LogMel, LogMelStream
from rnnkit.models.ctc import CTCModel, CTCStreamState, GreedyStream, greedy_ctc_decode

pytestmark = pytest.mark.usefixtures("torch_globals")

F_IN, VOCAB = 5, 4


def make_model(cell="lstm", subsample=1, num_layers=1, dtype=torch.float64, **kw) -> CTCModel:
    torch.manual_seed(0)
    model = CTCModel(F_IN, VOCAB, cell=cell, hidden_size=6, num_layers=num_layers,
                     bidirectional=False, subsample=subsample, **kw)
    return model.to(dtype).eval()


def split(T: int, how: str | int, gen: torch.Generator) -> list[int]:
    """Chunk lengths summing to T: all of one size (the last cut short), or random sizes
    from 0 (an empty chunk) to more than the utterance."""
    if isinstance(how, int):
        return [min(how, T - i) for i in range(0, T, how)]
    sizes: list[int] = []
    while sum(sizes) < T:
        pick = [0, 1, 2, 3, 4, 5, 7, T + 5][int(torch.randint(8, (1,), generator=gen))]
        sizes.append(min(pick, T - sum(sizes)))
    return sizes


def streamed(model: CTCModel, x: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    """x (T, F) fed in chunks of the given sizes -> the concatenated log-probs (T', V+1)."""
    outs, state, at = [], None, 0
    for n in sizes:
        out, state = model.stream_step(x[at:at + n], state)
        assert out.shape[1:] == (VOCAB + 1,)
        outs.append(out)
        at += n
    outs.append(model.stream_finish(state))
    return torch.cat(outs)


@pytest.mark.parametrize("dtype, atol", [(torch.float64, 1e-10), (torch.float32, 1e-6)])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("subsample", [1, 3])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
def test_stream_equals_whole_utterance(cell, subsample, num_layers, dtype, atol):
    model = make_model(cell, subsample, num_layers, dtype)
    gen = torch.Generator().manual_seed(subsample * 10 + num_layers)
    for T in (1, 2, 3, 17):  # 1, 2: shorter than one stack; 17: not a multiple of 3
        x = torch.randn(T, F_IN, generator=gen).to(dtype)
        with torch.no_grad():
            want = model(x.unsqueeze(0))[0][0]                     # (ceil(T/k), V+1)
        for how in (1, 2, 5, T + 10, "random", "random"):
            got = streamed(model, x, split(T, how, gen))
            assert got.shape == want.shape, (T, how)
            torch.testing.assert_close(got, want, atol=atol, rtol=0)


def test_dropout_model_in_eval_and_batched_chunks():
    """Dropout between layers and before the head is off in eval(); chunks may come as
    (1, t, F), and a state can be resumed twice (stream_step does not change it)."""
    model = make_model("lstm", 3, 2, dropout=0.5)
    x = torch.randn(1, 11, F_IN, dtype=torch.float64)
    with torch.no_grad():
        want = model(x)[0][0]
    first, state = model.stream_step(x[:, :4])
    leftover = state.leftover.clone()
    rest_a, state_a = model.stream_step(x[:, 4:], state)
    rest_b, state_b = model.stream_step(x[:, 4:], state)
    assert torch.equal(state.leftover, leftover)
    torch.testing.assert_close(rest_a, rest_b, atol=0, rtol=0)
    got = torch.cat([first, rest_a, model.stream_finish(state_a)])
    torch.testing.assert_close(got, want, atol=1e-10, rtol=0)


def test_empty_chunks_and_empty_stream():
    model = make_model("gru", 3)
    out, state = model.stream_step(torch.zeros(0, F_IN, dtype=torch.float64))
    assert out.shape == (0, VOCAB + 1) and state.hx is None
    out, state = model.stream_step(torch.randn(2, F_IN, dtype=torch.float64), state)
    assert out.shape == (0, VOCAB + 1)          # 2 < k = 3 frames: nothing final yet
    assert state.hx is None and state.leftover.shape == (2, F_IN)
    assert model.stream_finish(state).shape == (1, VOCAB + 1)
    assert model.stream_finish(None).shape == (0, VOCAB + 1)
    assert model.stream_finish(CTCStreamState()).shape == (0, VOCAB + 1)


def test_bad_use_is_rejected():
    bi = CTCModel(F_IN, VOCAB, hidden_size=4, bidirectional=True).eval()
    x = torch.randn(3, F_IN)
    with pytest.raises(ValueError, match=r"^streaming needs a unidirectional model "
                                         r"\(bidirectional=False\)$"):
        bi.stream_step(x)
    with pytest.raises(ValueError, match="unidirectional"):
        bi.stream_finish(None)
    uni = CTCModel(F_IN, VOCAB, hidden_size=4, bidirectional=False)
    with pytest.raises(ValueError, match=r"model.eval\(\)"):
        uni.stream_step(x)                      # still in training mode
    uni.eval()
    with pytest.raises(ValueError, match=r"\(t, 5\) or \(1, t, 5\)"):
        uni.stream_step(torch.randn(2, 3, F_IN))
    with pytest.raises(ValueError, match=r"\(t, 5\)"):
        uni.stream_step(torch.randn(3, F_IN + 1))


def test_stream_step_builds_no_graph():
    model = make_model()
    out, state = model.stream_step(torch.randn(4, F_IN, dtype=torch.float64))
    assert not out.requires_grad and not state.hx[0].requires_grad


# ------------------------------------------------------------------ greedy decoding


def test_greedy_stream_merges_runs_across_chunks():
    # Per-frame argmax 1 1 | 1 0 1 | 2 2 -> collapse: 1 1 2.
    path = [1, 1, 1, 0, 1, 2, 2]
    log_probs = torch.full((7, 3), -5.0)
    log_probs[torch.arange(7), torch.tensor(path)] = 0.0
    decoder = GreedyStream()
    assert decoder.push(log_probs[:2]) == [1]
    assert decoder.push(log_probs[2:5]) == [1]
    assert decoder.push(log_probs[5:5]) == []
    assert decoder.push(log_probs[5:]) == [2]


def test_greedy_stream_equals_whole_decode():
    gen = torch.Generator().manual_seed(3)
    for trial in range(30):
        T = 1 + trial
        # Few labels and a sharp softmax: long runs, repeats and blanks between them.
        log_probs = (3 * torch.randn(T, 3, generator=gen)).log_softmax(-1)
        want = greedy_ctc_decode(log_probs.unsqueeze(0))[0]
        decoder, got, at = GreedyStream(), [], 0
        for n in split(T, "random", gen):
            got += decoder.push(log_probs[at:at + n])
            at += n
        assert got == want
    with pytest.raises(ValueError, match=r"\(t, V\+1\)"):
        GreedyStream().push(torch.zeros(1, 2, 3))


# ------------------------------------------------------------------ audio to labels


@pytest.mark.parametrize("subsample", [1, 3])
def test_audio_to_labels_streaming_equals_whole_file(subsample):
    """Audio in 10 ms-ish pieces -> LogMelStream -> CTCModel.stream_step -> GreedyStream
    gives the log-probs and labels of LogMel -> CTCModel -> greedy_ctc_decode on the file."""
    logmel = LogMel(n_mels=F_IN, n_fft=128, hop_length=64, sample_rate=8000)
    model = make_model("lstm", subsample, 2)
    wave = torch.randn(3000, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        want, _ = model(logmel(wave).unsqueeze(0))                 # (1, T', V+1)
    features, state, decoder = LogMelStream(logmel), None, GreedyStream()
    outs, labels = [], []
    for start in range(0, 3000 + 83, 83):  # the last piece: the end of the file
        frames = features.push(wave[start:start + 83]) if start < 3000 else features.flush()
        out, state = model.stream_step(frames, state)
        outs.append(out)
        labels += decoder.push(out)
    outs.append(model.stream_finish(state))
    labels += decoder.push(outs[-1])
    torch.testing.assert_close(torch.cat(outs), want[0], atol=1e-10, rtol=0)
    assert labels == greedy_ctc_decode(want)[0]
