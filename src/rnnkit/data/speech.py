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


def klettres_letters(root: Path, lang: str) -> list[tuple[Path, str]]:
    """(ogg file, upper-case letter) for the alphabet recordings of one klettres voice."""
    from rnnkit.data.audio import read_sound_list

    xml = root / lang / "sounds.xml"
    if not xml.is_file():
        raise DataError(f"{xml}: no such file (klettres voices: "
                        f"{', '.join(sorted(p.parent.name for p in root.glob('*/sounds.xml')))})")
    return [(f, name.upper()) for f, name, group in read_sound_list(xml, root, missing="skip")
            if group == "alphabet"]


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
