"""Served speech models: recognisers (an uploaded audio file -> text, batched) and
voices (text -> WAV bytes, one text per call)."""

from __future__ import annotations

from pathlib import Path

import torch

from rnnkit.data.audio import AUDIO_EXTENSIONS, wav_bytes
from rnnkit.errors import RnnkitError
from rnnkit.recipes.base import LoadedRun
from rnnkit.recipes.speech.recogniser import Decoding, Recogniser, read_speech
from rnnkit.recipes.synthesis.voice import Spoken, Voice
from rnnkit.serve.limits import Limits
from rnnkit.serve.served import RequestError, Served, as_file, check_limit, upload_name

# ---- speech recognition ---------------------------------------------------------------------

class SpeechModel(Served):
    endpoints = ("transcribe",)

    def __init__(self, name: str, run: LoadedRun, limits: Limits):
        super().__init__(name, run, limits)
        self.recogniser = Recogniser(run.model, run.spec, next(run.model.parameters()).device)
        self.batcher = self.make_batcher()

    def details(self) -> dict:
        return {"lang": self.run.spec.get("lang"), "sample_rate": self.recogniser.sample_rate}

    def features(self, data: bytes, filename: str | None, beam: int) -> tuple[torch.Tensor,
                                                                               float]:
        """An upload -> (normalised log-mel (T, F), seconds); RequestError for audio the
        reader refuses (empty, corrupt, silent, too short) or too long."""
        check_limit("beam", beam, self.limits.max_beam)
        if not data:
            raise RequestError("the uploaded file is empty")
        suffix = Path(filename or "").suffix.lower()
        name = "audio" + (suffix if suffix in AUDIO_EXTENSIONS else "")
        rate = self.recogniser.sample_rate
        with as_file(data, name, upload_name(filename, name)) as path:
            wave = read_speech(path, rate)
        seconds = len(wave) / rate
        check_limit("audio", round(seconds, 2), self.limits.max_audio_s, " s")
        return self.recogniser.features(wave), seconds

    def run_batch(self, items: list[tuple[torch.Tensor, int]]) -> list[str]:
        with self.lock:
            log_probs = self.recogniser.log_probs([f for f, _ in items],
                                                  batch_size=self.limits.max_batch)
        return [self.recogniser.decode([lp], Decoding(beam))[0]
                for lp, (_, beam) in zip(log_probs, items, strict=True)]


# ---- text to speech -------------------------------------------------------------------------

class VoiceModel(Served):
    """A ``tts`` run: one text per request, not batched (the decoder stops each text at its
    own step, and Griffin-Lim works on one waveform)."""

    endpoints = ("say",)

    def __init__(self, name: str, run: LoadedRun, limits: Limits):
        super().__init__(name, run, limits)
        self.voice = Voice(run.model, run.spec, next(run.model.parameters()).device)

    def details(self) -> dict:
        return {"lang": self.run.spec.get("lang"), "sample_rate": self.voice.sample_rate,
                "symbols": "".join(self.voice.symbols), "speakers": self.voice.speakers}

    def check(self, text: str, speaker: str | None = None) -> None:
        """Before any work: RequestError 413 for a text above the limit, 422 for characters
        the voice never learnt, nothing to say or an unknown speaker (the voice's own
        message)."""
        check_limit("text", len(text), self.limits.max_say_chars, " characters")
        try:
            self.voice.speaker_index(speaker)
            self.voice.encode(text)
        except RnnkitError as e:
            raise RequestError(str(e)) from None

    def say(self, text: str, seed: int, speaker: str | None = None) -> tuple[bytes, Spoken]:
        """(a 16-bit PCM WAV file's bytes, what the voice made)."""
        with self.lock:
            spoken = self.voice.say(text, seed=seed, speaker=speaker)
        return wav_bytes(spoken.wave, self.voice.sample_rate), spoken
