"""Trained text-to-speech model -> audio: the text front end, synthesis and the vocoder,
shared by the ``tts`` recipe's finish step and ``rnnkit say``.

    text --tts_text--> characters --ids--> Tacotron.generate --> normalised log-mel (T, 80)
         --x std + mean--> log-mel --Griffin-Lim--> waveform (N,) at 16 kHz
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from rnnkit.data.features import LogMel
from rnnkit.data.transcribed import normalise_transcript
from rnnkit.errors import ConfigError, DataError, unknown_name

PUNCTUATION = ",.?!"  # kept as symbols: pauses and the question's rise are in the audio
MAX_SECONDS_PER_CHAR = 0.25  # synthesis stops at this many seconds per input character


def tts_text(text: str, lang: str = "en") -> str:
    """What the model reads: ``normalise_transcript`` (lower case, numbers spelt out,
    other punctuation to spaces) on the text between the ``PUNCTUATION`` marks, which are
    kept, each followed by a space: "Hello, World 2!" -> "hello, world two!"."""
    parts = re.split(f"([{re.escape(PUNCTUATION)}])", text)
    out = ""
    for part in parts:
        if part and part in PUNCTUATION:
            out = out.rstrip() + part + " "
        else:
            words = normalise_transcript(part, lang)
            out += words + " " if words else ""
    return " ".join(out.split())


def mel_analysis(spec: dict) -> LogMel:
    """The log-mel analysis a TTS spec's frames use (also the vocoder's synthesis)."""
    f = spec["features"]
    return LogMel(f["sample_rate"], n_fft=f["n_fft"], hop_length=f["hop_length"],
                  n_mels=f["n_mels"])


@dataclass
class Spoken:
    """One synthesised text: audio (N,), its normalised frames (T, M), the attention
    (steps, S), whether synthesis stopped by itself, and the seconds it took."""

    text: str
    wave: Tensor
    mels: Tensor
    attention: Tensor
    stopped: bool
    seconds: float


class Voice:
    """A trained Tacotron with its symbols and feature statistics.

    Args:
        model: a ``Tacotron``.
        spec: the checkpoint's ``tts`` metadata (``symbols``, ``features`` with ``mean``
            and ``std`` per band, ``lang``, ``speakers``: the voices' names or None).
    """

    def __init__(self, model: nn.Module, spec: dict, device: str | torch.device = "cpu"):
        self.model, self.spec, self.device = model.eval(), spec, device
        self.symbols = list(spec["symbols"])
        self.index = {c: i + 1 for i, c in enumerate(self.symbols)}  # 0 pads
        self.analysis = mel_analysis(spec)
        self.mean = torch.tensor(spec["features"]["mean"])
        self.std = torch.tensor(spec["features"]["std"])
        self.sample_rate = int(spec["features"]["sample_rate"])
        self.speakers = list(spec.get("speakers") or [])  # most training clips first

    @classmethod
    def load(cls, path, device: str = "cpu") -> Voice:
        """From a ``tts`` run folder or checkpoint."""
        from rnnkit.recipes.base import load_run

        run = load_run(path, ("tts",), device)
        return cls(run.model, run.spec, device)

    def frames(self, wave: Tensor) -> Tensor:
        """A waveform (N,) -> the normalised frames (T, M) the model predicts (to compare
        a recording with a synthesis)."""
        return (self.analysis(wave) - self.mean) / self.std

    def encode(self, text: str, where: str = "text", drop_unknown: bool = False) -> Tensor:
        """Symbol ids (S,) of ``tts_text(text)``; DataError naming characters the voice
        never learnt, or with ``drop_unknown`` they are left out (scoring test sentences
        of a small corpus)."""
        chars = tts_text(text, self.spec["lang"])
        unknown = sorted({c for c in chars if c not in self.index})
        if drop_unknown:
            chars = "".join(c for c in chars if c in self.index).strip()
        if not any(c.isalnum() for c in chars):
            raise DataError(f"{where}: nothing to say (no letters or digits)")
        if unknown and not drop_unknown:
            raise DataError(f"{where}: characters the voice never learnt: "
                            f"{''.join(unknown)!r} (it knows {''.join(self.symbols)!r})")
        return torch.tensor([self.index[c] for c in chars])

    def speaker_index(self, name: str | None) -> torch.Tensor | None:
        """The index of voice ``name`` (None: the one with most training clips); None for a
        one-voice model, which takes no name."""
        if not self.speakers:
            if name is not None:
                raise ConfigError(f"speaker {name!r}: this model has one voice")
            return None
        name = self.speakers[0] if name is None else name
        if name not in self.speakers:
            raise ConfigError(unknown_name("speaker", name, self.speakers))
        return torch.tensor(self.speakers.index(name), device=self.device)

    def clip_speaker(self, name: str | None) -> str | None:
        """The voice to say a recorded clip's sentence in: the clip's speaker ``name``
        where the model has several voices, None (its one voice) where it has one."""
        return name if self.speakers else None

    @torch.no_grad()
    def say(self, text: str, *, seed: int = 0, where: str = "text",
            griffin_lim_iters: int = 32, drop_unknown: bool = False,
            speaker: str | None = None) -> Spoken:
        """Synthesise one text; the pre-net dropout and the vocoder's phase start from
        ``seed``; ``drop_unknown`` as ``encode``; ``speaker`` as ``speaker_index``."""
        from rnnkit.data.vocoder import griffin_lim

        who = self.speaker_index(speaker)
        ids = self.encode(text, where, drop_unknown)
        t0 = time.perf_counter()
        frames_per_second = self.sample_rate / self.analysis.spectrogram.hop_length
        max_frames = int(MAX_SECONDS_PER_CHAR * len(ids) * frames_per_second)
        g = torch.Generator().manual_seed(seed)
        out = self.model.generate(ids.to(self.device), max_frames=max(max_frames, 10),
                                  generator=g, require_end=True, speakers=who)
        mels = out.mels.float().cpu()                                     # (T, M)
        wave = griffin_lim(mels * self.std + self.mean, self.analysis, griffin_lim_iters,
                           seed=seed)
        return Spoken(text, wave, mels, out.attention.float().cpu(), out.stop_step is not None,
                      time.perf_counter() - t0)
