"""A text-to-speech model's shape in a checkpoint (``tts_spec``) and the model it builds
(``tts_model_from_spec``): a ``tts.Tacotron`` or a ``duration_tts.DurationTTS``."""

from __future__ import annotations

from torch import nn

from rnnkit.models.duration_tts import DurationTTS
from rnnkit.models.tts import PAD, Tacotron


def tts_spec(m, vocab_size: int, n_mels: int = 80, reduction: int = 3,
             speakers: list[str] | None = None, **sizes) -> dict:
    """What fixes the model's shape beyond ModelConfig ``m`` (stored in checkpoints; its
    ``arch``: "rnn" for Tacotron, "durations" for ``DurationTTS``).
    ``speakers``: the voices' names, index order (None: one voice). ``sizes``: any of
    prenet_size, prenet_dropout, attention_size, location_filters, location_kernel,
    postnet_channels (defaults: ``Tacotron``'s)."""
    unknown = set(sizes) - set(SPEC_SIZES)
    if unknown:
        raise ValueError(f"unknown TTS sizes {sorted(unknown)} (choose from: "
                         f"{', '.join(SPEC_SIZES)})")
    return {"vocab_size": vocab_size, "n_mels": n_mels, "reduction": reduction,
            "pad_id": PAD, "speakers": speakers, "arch": m.arch,
            **{k: sizes.get(k, v) for k, v in SPEC_SIZES.items()}}


SPEC_SIZES = {"prenet_size": 128, "prenet_dropout": 0.5, "attention_size": 128,
              "location_filters": 32, "location_kernel": 31, "postnet_channels": 256}


def tts_model_from_spec(m, spec: dict) -> nn.Module:
    """The model for ModelConfig ``m`` and a checkpoint's TTS metadata: a ``Tacotron``, or
    with ``spec["arch"] == "durations"`` a ``duration_tts.DurationTTS``."""
    num_speakers = len(spec["speakers"]) if spec.get("speakers") else None
    if spec.get("arch", "rnn") == "durations":
        return DurationTTS(spec["vocab_size"], spec["n_mels"], embed_size=m.embed_size,
                           hidden_size=m.hidden_size, cell=m.cell, num_layers=m.num_layers,
                           dropout=m.dropout, backend=m.backend,
                           postnet_channels=spec["postnet_channels"],
                           num_speakers=num_speakers)
    return Tacotron(spec["vocab_size"], spec["n_mels"], spec["reduction"],
                    embed_size=m.embed_size, hidden_size=m.hidden_size, cell=m.cell,
                    num_layers=m.num_layers, dropout=m.dropout, backend=m.backend,
                    num_speakers=num_speakers, **{k: spec[k] for k in SPEC_SIZES})

