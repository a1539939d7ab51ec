"""Speech quality measures: MCD on a case computed by hand, the cepstrum's convention, and
on vowel-like signals: identical, time-stretched, different."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rnnkit.data.features import MFCC, LogMel
from rnnkit.data.speech_quality import (
    MCD_SCALE,
    cepstral_distortion,
    mel_cepstra,
    mel_cepstral_distortion,
    mel_l1,
    spectral_convergence,
)

SR = 16000
OPEN = [(700, 1200), (300, 2300), (500, 900), (650, 1700)]  # (F1, F2) Hz, a vowel sequence
CLOSED = [(300, 900), (650, 1100), (350, 2000), (450, 1500)]


def vowels(formants, seconds, f0=(110.0, 140.0)) -> torch.Tensor:
    """A voiced sound gliding through vowels: harmonics of a pitch contour, weighted by two
    formant resonances that move between the given (F1, F2) targets. The contours are
    functions of the fraction of the duration, so a longer call is a time-stretched copy
    (same pitch, same spectra, slower)."""
    n = int(seconds * SR)
    u = np.arange(n) / n  # (N,) fraction of the duration
    pos = u * (len(formants) - 1)
    i = np.minimum(pos.astype(int), len(formants) - 2)
    w = pos - i
    F = np.array(formants, float)
    F1, F2 = F[i, 0] * (1 - w) + F[i + 1, 0] * w, F[i, 1] * (1 - w) + F[i + 1, 1] * w
    pitch = f0[0] + (f0[1] - f0[0]) * np.sin(np.pi * u)  # (N,) Hz
    phase = 2 * np.pi * np.cumsum(pitch) / SR
    x = np.zeros(n)
    for h in range(1, 40):
        fh = h * pitch
        amp = np.exp(-((fh - F1) / 120) ** 2) + 0.7 * np.exp(-((fh - F2) / 180) ** 2) + 0.05
        x += np.where(fh < SR / 2 - 200, amp, 0.0) * np.sin(h * phase) / math.sqrt(h)
    return torch.from_numpy(0.1 * x / np.abs(x).max()).float()


def test_mcd_by_hand():
    # Columns: c0 (left out: 5 against -2 costs nothing), c1, c2. Frame distances
    # ||(c1, c2) - (c1', c2')||: ref (0,0) (3,4) (6,8) against syn (0,0) (0,0) (3,4) (9,12)
    #              syn:  (0,0) (0,0) (3,4) (9,12)
    #   ref (0,0)          0     0     5    15
    #   ref (3,4)          5     5     0    10
    #   ref (6,8)         10    10     5     5
    # The cheapest path is (0,0) (0,1) (1,2) (2,3): 0 + 0 + 0 + 5 over 4 pairs, so
    # MCD = (10 / ln 10) * sqrt(2) * 5 / 4 = 7.677 dB.
    ref = np.array([[5, 0, 0], [5, 3, 4], [5, 6, 8]], float)
    syn = np.array([[-2, 0, 0], [-2, 0, 0], [-2, 3, 4], [-2, 9, 12]], float)
    expected = 10 / math.log(10) * math.sqrt(2) * 5 / 4
    assert MCD_SCALE == pytest.approx(10 / math.log(10) * math.sqrt(2))
    assert cepstral_distortion(ref, syn) == pytest.approx(expected)
    assert expected == pytest.approx(7.677, abs=1e-3)
    # without alignment, frame t against frame t: syn[1:] costs 0 + 0 + 5, syn[:3] 0 + 5 + 5
    assert cepstral_distortion(ref, syn[1:], align=False) == pytest.approx(MCD_SCALE * 5 / 3)
    assert cepstral_distortion(ref, syn[:3], align=False) == pytest.approx(MCD_SCALE * 10 / 3)
    with pytest.raises(ValueError, match="align=True"):
        cepstral_distortion(ref, syn, align=False)
    with pytest.raises(ValueError, match="same D"):
        cepstral_distortion(ref, syn[:, :2])


def test_mel_cepstra_are_the_log_amplitude_cosine_expansion():
    x = vowels(OPEN, 0.3)
    c = mel_cepstra(x, SR, n_cepstra=39, n_mels=40)  # (T, 40): every degree of freedom
    L = LogMel(SR, n_mels=40)(x.double())  # (T, 40) natural-log power, 25 ms / 10 ms
    m = torch.arange(40, dtype=torch.float64)
    w = math.pi * (m + 0.5) / 40  # (40,) the bands' mel-warped frequencies
    d = torch.arange(1, 40, dtype=torch.float64)
    # ln|X(w)| = c0 + 2 sum_d c_d cos(d w), and ln|X| is half the log power
    back = c[:, :1] + 2 * c[:, 1:] @ torch.cos(d[:, None] * w[None, :])
    assert torch.allclose(back, L / 2, atol=1e-9)
    # the same as the orthonormal DCT of MFCC, rescaled: c_d = mfcc_d / (2 sqrt(2 M))
    mfcc = MFCC(SR, n_mfcc=25, n_mels=40)(x.double())  # (T, 25)
    assert torch.allclose(mel_cepstra(x, SR)[:, 1:], mfcc[:, 1:] / (2 * math.sqrt(80)),
                          atol=1e-9)


def test_mcd_identical_stretched_different():
    a = vowels(OPEN, 1.0)
    stretched = vowels(OPEN, 1.25)  # the same sounds, 25% slower
    other = vowels(CLOSED, 1.0, f0=(180.0, 220.0))  # other vowels, higher voice
    assert mel_cepstral_distortion(a, a, SR) == 0.0
    near = mel_cepstral_distortion(a, stretched, SR)
    far = mel_cepstral_distortion(a, other, SR)
    assert near < 0.5 < 4.0 < far  # measured: 0.19 and 9.1 dB
    # alignment is what makes the stretched copy close: frame t against frame t is far off
    ca, cs = mel_cepstra(a, SR), mel_cepstra(stretched, SR)
    assert cepstral_distortion(ca, cs[:len(ca)], align=False) > 4 * near


def test_mel_l1():
    a = torch.tensor([[0.0, 1.0], [2.0, 2.0]])
    b = torch.tensor([[1.0, 1.0], [2.0, 0.0]])
    assert mel_l1(a, b) == pytest.approx(0.75)  # (1 + 0 + 0 + 2) / 4
    assert mel_l1(a, a) == 0.0
    repeated = torch.stack([a[0], a[0], a[0], a[1]])  # a, its first frame held
    assert mel_l1(a, repeated, align=True) == 0.0
    with pytest.raises(ValueError, match="align=True"):
        mel_l1(a, repeated)
    with pytest.raises(ValueError, match="bands"):
        mel_l1(a, a[:, :1])
    with pytest.raises(ValueError, match="NaN"):
        mel_l1(a, torch.full((2, 2), float("nan")))


def test_spectral_convergence():
    lm = LogMel(SR)
    a = vowels(OPEN, 0.3)
    assert spectral_convergence(a, a, lm) == 0.0
    assert spectral_convergence(a, -a, lm) < 1e-6  # magnitudes only: the sign is phase
    assert spectral_convergence(a, 0.5 * a, lm) == pytest.approx(0.5, abs=1e-6)
    with pytest.raises(ValueError, match="frames"):
        spectral_convergence(a, a[:-800], lm)
