"""LogMelStream: pushing audio in chunks and flushing gives the whole-file LogMel frames, for
any chunking, framing (even/odd n_fft, hop above n_fft, centred or not, each pad mode) and
file length down to the shortest LogMel accepts; bounded memory; errors at the boundary."""

from __future__ import annotations

import zlib

import pytest
import torch

from rnnkit.data.features import LogMel, LogMelStream

CONFIGS = {
    "speech-16k": dict(n_fft=400, hop_length=160),          # 25 ms / 10 ms, the default
    "odd-n_fft-short-window": dict(n_fft=401, hop_length=100, win_length=300),
    "small": dict(n_fft=64, hop_length=16, n_mels=8),
    "hop-above-n_fft": dict(n_fft=64, hop_length=100, n_mels=8),
    "constant-pad": dict(n_fft=64, hop_length=16, n_mels=8, pad_mode="constant"),
    "replicate-pad": dict(n_fft=64, hop_length=16, n_mels=8, pad_mode="replicate"),
    "not-centred": dict(n_fft=64, hop_length=16, n_mels=8, center=False),
    "not-centred-gaps": dict(n_fft=64, hop_length=100, n_mels=8, center=False),
}


def shortest(logmel: LogMel) -> int:
    """The fewest samples the whole-file call accepts."""
    spec = logmel.spectrogram
    return spec.n_fft // 2 + 1 if spec.center else spec.n_fft


def chunk_sizes(N: int, how: str, gen: torch.Generator) -> list[int]:
    """Chunk lengths summing to N: all ones, all at once (plus empty chunks around it), or
    random sizes from 0 (empty) to more than the file (cut to what is left)."""
    if how == "ones":
        return [1] * N
    if how == "whole":
        return [0, N, 0]
    choices = [0, 1, 2, 5, 37, 159, 160, 161, 1000, N + 10]
    sizes = []
    while sum(sizes) < N:
        pick = choices[int(torch.randint(len(choices), (1,), generator=gen))]
        sizes.append(min(pick, N - sum(sizes)))
    return sizes


def run_stream(logmel: LogMel, x: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    stream = LogMelStream(logmel)
    outs, at = [], 0
    for n in sizes:
        outs.append(stream.push(x[at:at + n]))
        at += n
    assert at == x.shape[0]
    outs.append(stream.flush())
    assert all(o.shape[1:] == (logmel.n_mels,) and o.dtype == x.dtype for o in outs)
    return torch.cat(outs)


@pytest.mark.parametrize("how", ["ones", "whole", "random"])
@pytest.mark.parametrize("name", list(CONFIGS))
def test_stream_equals_whole_file_float64(name, how):
    logmel = LogMel(**CONFIGS[name])
    gen = torch.Generator().manual_seed(zlib.crc32(f"{name}/{how}".encode()))
    n0 = shortest(logmel)
    # The shortest file, lengths around one hop and one n_fft, and a longer one.
    lengths = [n0, n0 + 1, 2 * n0 + 3, logmel.spectrogram.n_fft + 1, 1237]
    for N in lengths:
        x = torch.randn(N, dtype=torch.float64, generator=gen)
        want = logmel(x)
        for _ in range(3 if how == "random" else 1):
            got = run_stream(logmel, x, chunk_sizes(N, how, gen))
            assert got.shape == want.shape, (N, got.shape, want.shape)
            torch.testing.assert_close(got, want, atol=1e-10, rtol=0)


def test_stream_equals_whole_file_float32_speech():
    logmel = LogMel()  # 16 kHz, 25 ms windows every 10 ms
    gen = torch.Generator().manual_seed(0)
    x = 0.1 * torch.randn(16000 + 77, generator=gen)  # a second and a bit: 101 frames
    want = logmel(x)
    for how in ("whole", "random"):
        got = run_stream(logmel, x, chunk_sizes(x.shape[0], how, gen))
        assert got.shape == want.shape == (101, 40)
        torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


def test_frames_come_as_soon_as_final():
    """Centred reflect framing, n_fft=64, hop=16: frame t reads samples 16t - 32 .. 16t + 31
    (the first ones reflected from x[1..32]), so it is final once 16t + 32 samples (and at
    least 33, for the reflection) have arrived; the last frames wait for the flush."""
    logmel = LogMel(**CONFIGS["small"])
    stream = LogMelStream(logmel)
    x = torch.randn(100, dtype=torch.float64)
    counts = [stream.push(x[n - 1:n]).shape[0] for n in range(1, 101)]
    ready = [n for n, c in enumerate(counts, start=1) if c]
    assert ready == [33, 48, 64, 80, 96]
    assert all(c <= 1 for c in counts)
    assert stream.flush().shape[0] == logmel(x).shape[0] - 5  # 1 + 100 // 16 = 7 frames


@pytest.mark.parametrize("name", ["speech-16k", "odd-n_fft-short-window", "hop-above-n_fft",
                                  "not-centred-gaps"])
def test_memory_is_bounded(name):
    logmel = LogMel(**CONFIGS[name])
    n_fft = logmel.spectrogram.n_fft
    stream = LogMelStream(logmel)
    gen = torch.Generator().manual_seed(1)
    frames = 0
    for size in [1] * 500 + [7, 333, 1000, 2] * 50:
        frames += stream.push(torch.randn(size, generator=gen)).shape[0]
        assert stream.buffered < n_fft
    frames += stream.flush().shape[0]
    assert stream.buffered == 0
    N = 500 + 50 * 1342
    assert frames == logmel(torch.zeros(N)).shape[0]


@pytest.mark.parametrize("name", list(CONFIGS))
def test_too_short_raises_as_whole_file(name):
    logmel = LogMel(**CONFIGS[name])
    for N in (0, 1, shortest(logmel) - 1):
        x = torch.randn(N)
        with pytest.raises(ValueError) as whole:
            logmel(x)
        stream = LogMelStream(logmel)
        assert stream.push(x).shape == (0, logmel.n_mels)
        with pytest.raises(ValueError) as streamed:
            stream.flush()
        assert str(streamed.value) == str(whole.value)


def test_bad_use_is_rejected():
    logmel = LogMel(**CONFIGS["small"])
    stream = LogMelStream(logmel)
    stream.push(torch.randn(100))
    with pytest.raises(ValueError, match="1-D float"):
        stream.push(torch.randn(2, 10))
    with pytest.raises(ValueError, match="1-D float"):
        stream.push(torch.arange(10))
    with pytest.raises(ValueError, match="float64"):
        stream.push(torch.randn(10, dtype=torch.float64))
    stream.flush()
    with pytest.raises(ValueError, match="push after flush"):
        stream.push(torch.randn(10))
    with pytest.raises(ValueError, match="flush called twice"):
        stream.flush()
    with pytest.raises(ValueError, match="not streamable"):
        LogMelStream(LogMel(n_fft=64, hop_length=16, n_mels=8, pad_mode="circular"))
