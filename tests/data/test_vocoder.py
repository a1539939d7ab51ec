"""Griffin-Lim from rnnkit's log-mel frames: a harmonic signal with a gliding pitch goes
LogMel -> griffin_lim -> LogMel and comes back close, at the length asked for; and the
WAV writer its output goes to."""

from __future__ import annotations

import math
import sys

import pytest
import soundfile as sf
import torch

from rnnkit.data.audio import read_audio, write_wav
from rnnkit.data.features import LogMel
from rnnkit.data.speech_quality import mel_l1, spectral_convergence
from rnnkit.data.vocoder import griffin_lim, mel_to_power
from rnnkit.errors import ConfigError

SR = 16000


def gliding_harmonics(seconds: float = 1.0) -> torch.Tensor:
    """12 harmonics (amplitudes 0.6^h) of a pitch gliding 40-200 Hz, loudness swelling."""
    t = torch.arange(int(seconds * SR), dtype=torch.float64) / SR
    f0 = 120 + 80 * torch.sin(2 * math.pi * 0.7 * t)
    phase = 2 * math.pi * torch.cumsum(f0, 0) / SR
    x = sum(0.6 ** h * torch.sin((h + 1) * phase) for h in range(12))
    return (0.3 * x * (0.5 + 0.5 * torch.sin(2 * math.pi * 1.3 * t) ** 2)).float()


def test_mel_inversion_fits_the_frames():
    lm = LogMel(SR)
    L = lm(gliding_harmonics(0.5))  # (T, 40)
    P = mel_to_power(L, lm)  # (T, 201)
    assert P.shape == (L.shape[0], 201) and (P >= 0).all()
    assert mel_l1(lm.from_power(P), L) < 0.03  # measured 0.01; pinv alone is 0.5 off


def test_griffin_lim_round_trip():
    pytest.importorskip("librosa")
    x = gliding_harmonics()
    for lm in (LogMel(SR), LogMel(SR, n_fft=1024, hop_length=256, n_mels=80)):
        hop = lm.spectrogram.hop_length
        L = lm(x)  # (T, n_mels)
        y = griffin_lim(L, lm, n_iter=32)
        assert y.dtype == torch.float32 and y.shape == ((L.shape[0] - 1) * hop,)
        L2 = lm(y)
        assert L2.shape == L.shape
        # measured (1 s) at 40 / 80 mels: L1 0.14 / 0.27 nats, spectral convergence 0.19 / 0.20
        assert mel_l1(L2, L) < 0.35
        assert spectral_convergence(x[:len(y)], y, lm) < 0.35
    assert griffin_lim(L, lm, n_iter=2, length=len(x)).shape == x.shape


def test_griffin_lim_is_seeded():
    pytest.importorskip("librosa")
    lm = LogMel(SR)
    L = lm(gliding_harmonics(0.2))
    a, b = griffin_lim(L, lm, n_iter=2, seed=1), griffin_lim(L, lm, n_iter=2, seed=1)
    assert torch.equal(a, b)
    assert not torch.equal(a, griffin_lim(L, lm, n_iter=2, seed=2))


def test_griffin_lim_errors(monkeypatch):
    lm = LogMel(SR)
    with pytest.raises(ValueError, match="n_mels=40"):
        griffin_lim(torch.zeros(5, 80), lm)
    with pytest.raises(ValueError, match="NaN"):
        griffin_lim(torch.full((5, 40), float("nan")), lm)
    monkeypatch.setitem(sys.modules, "librosa", None)  # import librosa -> ImportError
    with pytest.raises(ConfigError, match=r"rnnkit\[tts\]") as info:
        griffin_lim(torch.zeros(5, 40), lm)
    assert "\n" not in str(info.value)


def test_write_wav_round_trip_and_clipping(tmp_path):
    # the one WAV writer (rnnkit.data.audio), as `rnnkit say -o out.wav` will use it
    x = gliding_harmonics(0.1)
    x[:3] = torch.tensor([1.5, -2.0, 0.5])  # beyond +-1: clipped, not wrapped around
    path = write_wav(tmp_path / "out.wav", x, SR)
    y, sr = read_audio(path)  # (1, N)
    assert sr == SR and y.shape == (1, len(x)) and sf.info(str(path)).subtype == "PCM_16"
    assert y[0, 0] > 0.99 and y[0, 1] == -1.0 and abs(y[0, 2] - 0.5) < 1e-4
    assert torch.allclose(y[0, 3:], x[3:], atol=1 / 32768)
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left beside it
    stereo = write_wav(tmp_path / "st.wav", torch.stack([x, -x]).numpy(), SR)
    assert sf.info(str(stereo)).channels == 2
    for bad, why in ((torch.tensor([0.0, float("nan")]), "NaN"), (torch.zeros(0), "shape")):
        with pytest.raises(ValueError, match=why):
            write_wav(tmp_path / "bad.wav", bad, SR)
    with pytest.raises(ValueError, match="sample_rate"):
        write_wav(tmp_path / "bad.wav", x, 16000.0)
    assert not (tmp_path / "bad.wav").exists()


@pytest.mark.parametrize("frames", [2, 3])
def test_griffin_lim_on_fewer_frames_than_a_window(frames):
    """A synthesis that stopped at once (a frame or two) still gives (T - 1) * hop samples,
    without librosa's too-short-signal warning (an error under the test settings)."""
    logmel = LogMel(16000, n_fft=400, hop_length=160, n_mels=40)
    wave = griffin_lim(torch.full((frames, 40), -5.0), logmel, n_iter=2)
    assert wave.shape == ((frames - 1) * 160,) and torch.isfinite(wave).all()
