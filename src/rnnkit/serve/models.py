"""Served runs: ``load_models`` wraps each run in the class for its kind (``text_models``,
``speech_models``; their shared base is ``served``), each over the library calls the
``rnnkit`` commands use (``models.sampling.generate``, ``recipes.predict``, ``Translator``,
``Recogniser``, ``Voice``).
Nothing here knows HTTP: requests arrive as plain values, answers leave as plain dicts, and
a request the server refuses is a ``RequestError`` with its status.

    kind        endpoints              library call
    vocab       generate               sampling.generate, one token at a time (a stream)
    classifier  classify, predict*     recipes.predict.class_probabilities   (batched)
    tagger      tag, predict*          recipes.predict.tag_records           (batched)
    translator  translate              Translator.translate                  (batched)
    recogniser  transcribe             Recogniser.log_probs + decode         (batched)
    tts         say                    Voice.say -> audio.wav_bytes          (one text each)

    * predict: a FASTA text scanned by the recipe's own reader, as ``rnnkit predict`` does

Each model has one lock: forward passes of one model run one at a time (a batch is one
forward pass, a generated token one step, a FASTA scan all of its windows), so concurrent
requests interleave rather than share a module's buffers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rnnkit.errors import ConfigError
from rnnkit.recipes.base import load_run
from rnnkit.serve.limits import Limits
from rnnkit.serve.served import Served
from rnnkit.serve.speech_models import SpeechModel, VoiceModel
from rnnkit.serve.text_models import Classifier, LanguageModel, Tagger, TranslationModel

KINDS = {"vocab": LanguageModel, "classifier": Classifier, "tagger": Tagger,
         "translator": TranslationModel, "recogniser": SpeechModel, "tts": VoiceModel}


def served_name(path: str | Path) -> str:
    """A run is served under its folder's name (a checkpoint file: its folder's)."""
    p = Path(path).resolve()
    return p.name if p.is_dir() else p.parent.name


def load_models(paths: Sequence[str | Path], limits: Limits, device: str = "cpu",
                precision: str = "float32") -> dict[str, Served]:
    """The runs to serve, by name (``precision``: see load_run); ConfigError for two runs of
    one name."""
    models: dict[str, Served] = {}
    for path in paths:
        run = load_run(path, tuple(KINDS), device, precision)
        name = served_name(path)
        if name in models:
            raise ConfigError(f"two runs would be served as {name!r} ({models[name].run.file} "
                              f"and {run.file}): serve runs from folders of different names")
        models[name] = KINDS[run.kind](name, run, limits)
    if not models:
        raise ConfigError("no runs to serve")
    return models
