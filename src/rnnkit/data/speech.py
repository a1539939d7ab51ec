"""Spoken-letter data for the recipes: the klettres-data layout, silence trimming,
waveform augmentation and the log-mel features. Audio files are read by
``rnnkit.data.audio``.

Dataset: klettres-data (KDE, GPL-2+), Debian package: spoken letters; ``en`` and ``en_GB``
are two different English speakers reading A-Z.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor

from rnnkit.errors import DataError


def klettres_root(root: Path) -> Path | None:
    """``usr/share/klettres`` under an unpacked klettres-data package, or root itself."""
    for cand in (root / "usr" / "share" / "klettres", root):
        if (cand / "en" / "sounds.xml").is_file():
            return cand
    return None


def klettres_letters(root: Path, lang: str, groups: tuple[str, ...] = ("alphabet",)
                     ) -> list[tuple[Path, str]]:
    """(ogg file, upper-case name) for the recordings of one klettres voice: its letters
    (group "alphabet"), and with ``groups=("alphabet", "syllables")`` its syllables too."""
    from rnnkit.data.audio import read_sound_list

    xml = root / lang / "sounds.xml"
    if not xml.is_file():
        raise DataError(f"{xml}: no such file (klettres voices: "
                        f"{', '.join(sorted(p.parent.name for p in root.glob('*/sounds.xml')))})")
    return [(f, name.upper()) for f, name, group in read_sound_list(xml, root, missing="skip")
            if group in groups]


def trim_silence(wave: Tensor, sample_rate: int, threshold_db: float = -35.0,
                 pad_s: float = 0.05) -> Tensor:
    """Cut leading and trailing stretches quieter than ``threshold_db`` below the clip's
    loudest 10 ms frame (recordings carry up to a second of silence around the word)."""
    hop = max(1, sample_rate // 100)
    n = len(wave) // hop
    if n < 3:
        return wave
    energy = wave[:n * hop].reshape(n, hop).pow(2).mean(1)
    db = 10 * torch.log10(energy.clamp_min(1e-12))
    loud = (db > db.max() + threshold_db).nonzero().flatten()
    pad = int(pad_s * sample_rate)
    start = max(0, int(loud[0]) * hop - pad)
    end = min(len(wave), (int(loud[-1]) + 1) * hop + pad)
    return wave[start:end]


def augment_wave(wave: Tensor, g: torch.Generator, sample_rate: int) -> Tensor:
    """Speed perturbation (0.85-1.15: tempo and pitch move together, as between speakers;
    Ko et al. 2015), gain, and white noise at 15-40 dB SNR."""
    from rnnkit.data.audio import resample

    factor = 0.85 + 0.3 * float(torch.rand((), generator=g))
    new = int(round(sample_rate / factor / 100)) * 100
    w = resample(wave, sample_rate, new) if new != sample_rate else wave
    w = w * (0.5 + float(torch.rand((), generator=g)))
    snr_db = 15 + 25 * float(torch.rand((), generator=g))
    power = float(w.pow(2).mean()) + 1e-12
    return w + torch.randn(len(w), generator=g) * math.sqrt(power / 10 ** (snr_db / 10))


def vtlp(power: Tensor, alpha: float, sample_rate: int, f_hi: float = 4800.0) -> Tensor:
    """Vocal tract length perturbation (Jaitly & Hinton 2013): the power spectrum with its
    frequency axis scaled by ``alpha``, (frames, K) -> (frames, K).

    The warp is piecewise linear, f -> alpha f up to b = f_hi min(alpha, 1) / alpha, then a
    straight line to Nyquist (which stays put). Unlike speed perturbation it moves formants
    and pitch without changing the duration. Each output bin g reads the input at the
    inverse warp of g, linearly interpolated."""
    K = power.shape[-1]
    nyq = sample_rate / 2
    g = torch.linspace(0, nyq, K, dtype=torch.float64)  # (K,) output bin frequencies
    b = f_hi * min(alpha, 1.0) / alpha
    f = torch.where(g <= alpha * b, g / alpha,
                    nyq - (nyq - g) * (nyq - b) / (nyq - alpha * b))  # source Hz
    pos = (f / nyq * (K - 1)).clamp(0, K - 1)  # (K,) fractional source bin
    lo = pos.floor().long().clamp(max=K - 2)
    w = (pos - lo).to(power.dtype)
    return power[..., lo] * (1 - w) + power[..., lo + 1] * w


def stretch_frames(x: Tensor, factor: float) -> Tensor:
    """Tempo change without pitch change: (T, F) frames linearly re-sampled to
    max(1, round(factor T)) frames."""
    T = len(x)
    n = max(1, round(factor * T))
    t = torch.linspace(0, T - 1, n, dtype=x.dtype)
    lo = t.floor().long().clamp(max=max(T - 2, 0))
    hi = (lo + 1).clamp(max=T - 1)
    w = (t - lo)[:, None]
    return x[lo] * (1 - w) + x[hi] * w


class SpeechFeatures:
    """Waveform (N,) at ``sample_rate`` -> (frames, n_mels) log-mel, 25 ms windows every
    ``hop_ms``, with per-clip mean and variance normalisation (removes microphone and level)
    unless ``normalise=False`` (a streaming recogniser normalises with fixed statistics,
    since a clip's own are known only at its end)."""

    def __init__(self, sample_rate: int = 16000, n_mels: int = 40, hop_ms: int = 10,
                 normalise: bool = True):
        from rnnkit.data.features import LogMel

        self.logmel = LogMel(sample_rate, n_fft=int(0.025 * sample_rate),
                             hop_length=int(hop_ms * sample_rate / 1000), n_mels=n_mels)
        self.normalise = normalise

    def __call__(self, wave: Tensor) -> Tensor:
        from rnnkit.data.features import normalise_per_sequence

        with torch.no_grad():
            x = self.logmel(wave)
            return normalise_per_sequence(x) if self.normalise else x


def augmented_features(feats: SpeechFeatures, wave: Tensor, g: torch.Generator,
                       warp: float, tempo: float) -> Tensor:
    """``feats(wave)`` of a waveform with a random vocal-tract warp alpha in
    [1 - warp, 1 + warp] (``vtlp``) and tempo factor in [1 - tempo, 1 + tempo]
    (``stretch_frames``), normalised as ``feats`` normalises: (N,) -> (T', n_mels)."""
    from rnnkit.data.features import normalise_per_sequence

    alpha = 1 - warp + 2 * warp * float(torch.rand((), generator=g))
    factor = 1 - tempo + 2 * tempo * float(torch.rand((), generator=g))
    lm = feats.logmel
    with torch.no_grad():
        x = lm.from_power(vtlp(lm.spectrogram(wave), alpha, lm.sample_rate))
        x = stretch_frames(x, factor)
        return normalise_per_sequence(x) if feats.normalise else x
