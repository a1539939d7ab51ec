"""How close synthesised speech is to a reference: mel-cepstral distortion, mel L1, and
spectral convergence.

Mel-cepstral distortion (Kubichek 1993; the usual TTS measure, in dB), over the frame
pairs (t, u) of a DTW alignment of the two utterances (``rnnkit.data.dtw``), c_0 left out
(it is the frame's loudness, not its timbre):

    MCD = (10 / ln 10) * mean_{(t, u) on the path} sqrt(2 * sum_{d=1..D} (c_d[t] - c'_d[u])^2)

The formula assumes c_d are the cepstrum of the natural-log amplitude spectrum,
ln|X(w)| = c_0 + 2 sum_{d>=1} c_d cos(d w) (its sqrt(2) counts each c_d twice, for the
positive and negative quefrency; 10 / ln 10 turns nepers into dB). ``mel_cepstra``
computes exactly that expansion on the mel frequency axis: rnnkit's ``LogMel`` frames
(natural log power, M bands, 25 ms Hann windows every 10 ms) are samples of
2 ln|X| at the mel-warped frequencies w_m = pi (m + 1/2) / M, and

    c_d[t] = (1 / M) sum_m (logmel[t, m] / 2) cos(pi d (m + 1/2) / M),   d = 0..D

(an unnormalised DCT-II; the orthonormal DCT of ``features.MFCC`` times
1 / (2 sqrt(2 M)) for d >= 1). Defaults: M = 40 bands over 0 - sample_rate / 2, D = 24
(c_1..c_24, the order of the SPTK-style mel-cepstra used in TTS papers).

These are filterbank mel-cepstra, not SPTK's ``mcep`` (all-pass warping alpha = 0.42
fitted to the spectrum): the scale is the same and values are of the same size (a few dB
between different voices, 0 for identical signals), but absolute numbers are comparable
only with numbers from this definition and these settings, not with published MCDs. The
DTW's frame cost is the per-pair distortion itself, so the path is the one of least
total MCD. Silence is not trimmed: both utterances' pauses are scored too (floored at
``LogMel``'s log_floor, so digital silence on both sides costs 0).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from rnnkit.data.dtw import dtw, euclidean_cost
from rnnkit.data.features import LogMel

MCD_SCALE = 10.0 / math.log(10.0) * math.sqrt(2.0)  # dB per unit of ||c - c'||, 6.1418
N_MELS = 40  # the speech front end's bands; the cepstrum below reads 24 of their 40 DoF
N_CEPSTRA = 24  # c_1..c_24: mel-cepstral order 24, as in most TTS evaluations
FRAME_MS, HOP_MS = 25.0, 10.0


def mel_cepstra(wave: Tensor, sample_rate: int, n_cepstra: int = N_CEPSTRA,
                n_mels: int = N_MELS) -> Tensor:
    """Mel-cepstra c_0..c_D of a waveform (module docstring), (N,) -> (T, D + 1) float64.

    Frames: ``LogMel(sample_rate, n_fft=win=25 ms, hop=10 ms, n_mels)``, centred."""
    if not 0 < n_cepstra < n_mels:
        raise ValueError(f"n_cepstra must be in 1..n_mels - 1 = {n_mels - 1}, got {n_cepstra}")
    wave = _mono(wave, "wave")
    n_fft = round(sample_rate * FRAME_MS / 1000)
    logmel = LogMel(sample_rate, n_fft=n_fft, hop_length=round(sample_rate * HOP_MS / 1000),
                    n_mels=n_mels)
    L = logmel(wave.to(torch.float64))  # (T, M) natural-log power
    m = torch.arange(n_mels, dtype=torch.float64)
    d = torch.arange(n_cepstra + 1, dtype=torch.float64)
    cos = torch.cos(math.pi * (m[:, None] + 0.5) * d[None, :] / n_mels)  # (M, D + 1)
    return (L / 2) @ cos / n_mels  # (T, D + 1)


def cepstral_distortion(ref: Tensor | np.ndarray, syn: Tensor | np.ndarray,
                        align: bool = True) -> float:
    """MCD in dB between two cepstrum sequences (T, D + 1) and (T', D + 1) whose column 0
    is c_0 (left out): the mean over DTW-aligned pairs (``align``) or over frame t with
    frame t (equal lengths, ``align=False``) of (10 / ln 10) sqrt(2 sum_d (c_d - c'_d)^2)."""
    a, b = _frames(ref, "ref")[:, 1:], _frames(syn, "syn")[:, 1:]  # (T, D), (T', D)
    if a.shape[1] != b.shape[1] or a.shape[1] == 0:
        raise ValueError(f"cepstra must have the same D >= 1 beside c_0, got "
                         f"{a.shape[1]} and {b.shape[1]}")
    if align:
        _, path = dtw(euclidean_cost(a, b))  # (L, 2)
        diff = a[path[:, 0]] - b[path[:, 1]]  # (L, D)
    else:
        _same_length(a, b)
        diff = a - b
    return float(MCD_SCALE * np.sqrt((diff ** 2).sum(1)).mean())


def mel_cepstral_distortion(ref_wave: Tensor, syn_wave: Tensor, sample_rate: int,
                            n_cepstra: int = N_CEPSTRA, n_mels: int = N_MELS) -> float:
    """DTW-aligned mel-cepstral distortion (dB) of ``syn_wave`` against ``ref_wave``,
    both (N,) at ``sample_rate``: ``cepstral_distortion(mel_cepstra(ref), mel_cepstra(syn))``
    (module docstring for the definition and what it is comparable with)."""
    return cepstral_distortion(mel_cepstra(ref_wave, sample_rate, n_cepstra, n_mels),
                               mel_cepstra(syn_wave, sample_rate, n_cepstra, n_mels))


def mel_l1(a: Tensor | np.ndarray, b: Tensor | np.ndarray, align: bool = False) -> float:
    """Mean |a - b| over log-mel frames (T, n_mels): frame t with frame t (equal lengths,
    as a teacher-forced model's output and its target), or with ``align`` over the pairs
    of a DTW alignment whose frame cost is the L1 distance (free-running synthesis, whose
    length differs from the reference's). The TTS training loss, as a measure."""
    x, y = _frames(a, "a"), _frames(b, "b")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"mel_l1: frames have {x.shape[1]} and {y.shape[1]} bands")
    if not align:
        _same_length(x, y)
        return float(np.abs(x - y).mean())
    from scipy.spatial.distance import cdist

    _, path = dtw(cdist(x, y, "cityblock"))  # (L, 2)
    return float(np.abs(x[path[:, 0]] - y[path[:, 1]]).mean())


def spectral_convergence(ref_wave: Tensor, syn_wave: Tensor, logmel: LogMel) -> float:
    """|| |S| - |R| ||_F / || |R| ||_F over the STFT magnitudes of ``logmel``'s analysis
    (Sturmel & Daudet 2011; the usual Griffin-Lim measure): 0 for a perfect phase
    reconstruction. The waves must give the same number of frames."""
    spec = logmel.spectrogram
    R = spec(_mono(ref_wave, "ref_wave").to(torch.float64)).sqrt()  # (T, K) magnitude
    S = spec(_mono(syn_wave, "syn_wave").to(torch.float64)).sqrt()
    if R.shape != S.shape:
        raise ValueError(f"spectral_convergence: {R.shape[0]} and {S.shape[0]} frames; "
                         "compare waves of (about) the same length")
    return float(torch.linalg.norm(S - R) / torch.linalg.norm(R).clamp(min=1e-300))


def _mono(wave: Tensor, name: str) -> Tensor:
    if not isinstance(wave, Tensor):
        wave = torch.as_tensor(np.asarray(wave))
    if wave.dim() != 1 or not wave.is_floating_point():
        raise ValueError(f"{name} must be a 1-D float waveform, got {wave.dim()}-D {wave.dtype}")
    if not torch.isfinite(wave).all():
        raise ValueError(f"{name} contains NaN or infinite samples")
    return wave


def _frames(x: Tensor | np.ndarray, name: str) -> np.ndarray:
    x = x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"{name} must be (T, F) frames with T >= 1, got shape {x.shape}")
    x = x.astype(np.float64)
    if not np.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return x


def _same_length(a: np.ndarray, b: np.ndarray) -> None:
    if len(a) != len(b):
        raise ValueError(f"{len(a)} and {len(b)} frames: pass align=True to compare "
                         "sequences of different lengths")
