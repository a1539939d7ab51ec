"""Trained CTC recogniser -> text: features, decoding and scoring, shared by the ``asr``
recipe's finish step, ``rnnkit transcribe`` and ``rnnkit eval``.

    audio --16 kHz mono--> log-mel (T, F) --normalise--> CTCModel --> log-probs (T', V+1)
          --greedy | prefix beam (+ character LM, shallow fusion)--> labels --> text

Normalisation is per utterance for a bidirectional model (it reads the whole clip anyway)
and with the training set's mean and deviation per band for a unidirectional one, so that
a stream can be normalised before its end is known. Scores are jiwer's CER and WER on
``normalise_transcript``'d references.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from rnnkit.data.speech import SpeechFeatures
from rnnkit.errors import DataError
from rnnkit.models.ctc import (
    BLANK,
    GreedyStream,
    greedy_ctc_decode,
    prefix_beam_search,
)

SILENCE_PEAK = 1e-4  # a clip whose loudest sample is below this holds no speech (-80 dBFS)


@dataclass
class Alphabet:
    """The model's output characters: label i + 1 is ``chars[i]`` (label 0 is the blank)."""

    chars: list[str]

    def __post_init__(self) -> None:
        self.index = {c: i + 1 for i, c in enumerate(self.chars)}

    @classmethod
    def build(cls, texts: Iterable[str]) -> Alphabet:
        """Every character of ``texts``, sorted (deterministic ids)."""
        return cls(sorted({c for t in texts for c in t}))

    def __len__(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        """Labels of the characters the alphabet has (others cannot be output: left out)."""
        return [self.index[c] for c in text if c in self.index]

    def decode(self, labels: Sequence[int]) -> str:
        return "".join(self.chars[i - 1] for i in labels if i != BLANK)


def feature_spec(sample_rate: int, n_mels: int, hop_ms: int, *, norm: str,
                 mean: Tensor | None = None, std: Tensor | None = None) -> dict:
    """What turns audio into the model's input (plain types, for the checkpoint)."""
    spec = {"sample_rate": sample_rate, "n_mels": n_mels, "hop_ms": hop_ms, "norm": norm}
    if norm == "global":
        spec.update(mean=[float(v) for v in mean], std=[float(v) for v in std])
    return spec


class Featuriser:
    """Audio (N,) at the spec's rate -> normalised log-mel (T, n_mels); ``raw`` gives the
    log-mel before normalisation, ``normalise`` applies it."""

    def __init__(self, spec: dict):
        self.spec = spec
        self.sample_rate = int(spec["sample_rate"])
        self.logmel = SpeechFeatures(self.sample_rate, int(spec["n_mels"]), int(spec["hop_ms"]),
                                     normalise=False)
        if spec["norm"] == "global":
            self.mean = torch.tensor(spec["mean"])
            self.std = torch.tensor(spec["std"])

    def raw(self, wave: Tensor) -> Tensor:
        return self.logmel(wave)

    def normalise(self, x: Tensor) -> Tensor:
        """(T, F) -> (T, F), per the spec's ``norm``."""
        if self.spec["norm"] == "global":
            return (x - self.mean) / self.std
        from rnnkit.data.features import normalise_per_sequence

        return normalise_per_sequence(x)

    def __call__(self, wave: Tensor) -> Tensor:
        return self.normalise(self.raw(wave))


def read_speech(path, sample_rate: int) -> Tensor:
    """An audio file -> mono (N,) at ``sample_rate``; DataError for a silent clip or one
    shorter than a feature window (the reader already refuses empty and corrupt files)."""
    from rnnkit.data.audio import load_audio

    wave = load_audio(path, sample_rate)
    if float(wave.abs().max()) < SILENCE_PEAK:
        raise DataError(f"{path}: the audio is silent (peak below {SILENCE_PEAK:g})")
    if len(wave) < sample_rate // 40:
        raise DataError(f"{path}: {len(wave)} samples, shorter than one 25 ms window")
    return wave


class CharLM:
    """A ``charlm`` run as the language model of ``prefix_beam_search``: ``lm(prefix, c)``
    is log p(c | prefix) under the LM, given the text so far.

    The LM reads a newline first (transcripts are one per line, so a newline is what
    precedes an utterance). A character the LM never saw gets the LM's ``<unk>``
    probability. Each prefix's distribution is computed once, from its parent's state with
    one step, and kept: a beam search asks for the same prefixes every frame.
    """

    def __init__(self, model: nn.Module, tokens: list[str], alphabet: Alphabet):
        self.model = model.eval()
        lm_index = {t: i for i, t in enumerate(tokens)}
        self.to_lm = [0] + [lm_index.get(c, 0) for c in alphabet.chars]  # label -> LM id
        self.start = lm_index.get("\n", 0)
        self.cache: dict[tuple[int, ...], tuple[list[float], object]] = {}

    @torch.no_grad()
    def _step(self, token: int, state) -> tuple[list[float], object]:
        logits, state = self.model(torch.tensor([[token]]), state)     # (1, 1, V_lm)
        return logits[0, 0].log_softmax(-1).tolist(), state

    def _dist(self, prefix: tuple[int, ...]) -> list[float]:
        if prefix not in self.cache:
            if prefix:
                self._dist(prefix[:-1])
                _, state = self.cache[prefix[:-1]]
                self.cache[prefix] = self._step(self.to_lm[prefix[-1]], state)
            else:
                self.cache[prefix] = self._step(self.start, None)
        return self.cache[prefix][0]

    def __call__(self, prefix: tuple[int, ...], label: int) -> float:
        return self._dist(prefix)[self.to_lm[label]]

    def reset(self) -> None:
        """Forget the cached prefixes (between utterances, to bound memory)."""
        self.cache.clear()


def load_char_lm(path, alphabet: Alphabet) -> CharLM:
    """The language model of a ``charlm`` run folder or checkpoint, for ``alphabet``."""
    from rnnkit.errors import ConfigError
    from rnnkit.recipes.base import load_run

    run = load_run(path, ("vocab",))
    if run.spec.get("level", "char") != "char":
        raise ConfigError(f"{run.file}: a {run.spec.get('level')}-level language model; "
                          "shallow fusion needs a character-level one (rnnkit train charlm)")
    return CharLM(run.model, list(run.spec["tokens"]), alphabet)


@dataclass
class Decoding:
    """How log-probabilities become labels: greedy (beam 1, no LM) or prefix beam search
    with optional shallow fusion (``lm_weight`` alpha, ``length_bonus`` beta per label)."""

    beam: int = 1
    lm: CharLM | None = None
    lm_weight: float = 0.0
    length_bonus: float = 0.0

    def describe(self) -> str:
        if self.beam == 1 and self.lm is None:
            return "greedy"
        fused = (f", LM weight {self.lm_weight:g}, bonus {self.length_bonus:g}"
                 if self.lm is not None else "")
        return f"prefix beam {self.beam}{fused}"

    def __call__(self, log_probs: Tensor) -> list[int]:
        """log_probs (T', V+1) of one utterance -> labels."""
        if self.beam == 1 and self.lm is None:
            return greedy_ctc_decode(log_probs.unsqueeze(0))[0]
        if self.lm is not None:
            self.lm.reset()
        best = prefix_beam_search(log_probs, self.beam, lm=self.lm, lm_weight=self.lm_weight,
                                  length_bonus=self.length_bonus)
        return best[0][0] if best else []


class Recogniser:
    """A trained CTC model with its features and alphabet.

    Args:
        model: a ``CTCModel``.
        spec: the checkpoint's ``recogniser`` metadata (``alphabet``, ``features``, ``lang``).
    """

    def __init__(self, model: nn.Module, spec: dict, device: str | torch.device = "cpu"):
        self.model, self.spec, self.device = model.eval(), spec, device
        self.alphabet = Alphabet(list(spec["alphabet"]))
        self.features = Featuriser(spec["features"])
        self.sample_rate = self.features.sample_rate

    @classmethod
    def load(cls, path, device: str = "cpu") -> Recogniser:
        """From an ``asr`` run folder or checkpoint."""
        from rnnkit.recipes.base import load_run

        run = load_run(path, ("recogniser",), device)
        return cls(run.model, run.spec, device)

    @torch.no_grad()
    def log_probs(self, feats: Sequence[Tensor], batch_size: int = 16) -> list[Tensor]:
        """Normalised features [(T_i, F)] -> per-utterance log-probs [(T'_i, V+1)] (CPU)."""
        from rnnkit.data.sequences import pad_batch

        out: list[Tensor] = []
        order = sorted(range(len(feats)), key=lambda i: len(feats[i]))  # little padding
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            x, lengths = pad_batch([feats[i] for i in idx])
            lp, out_len = self.model(x.to(self.device), lengths)
            out += [lp[b, :int(out_len[b])].float().cpu() for b in range(len(idx))]
        result: list[Tensor] = [torch.empty(0)] * len(feats)
        for k, i in enumerate(order):
            result[i] = out[k]
        return result

    def decode(self, log_probs: Sequence[Tensor], decoding: Decoding | None = None
               ) -> list[str]:
        decoding = decoding or Decoding()
        return [self.alphabet.decode(decoding(lp)) for lp in log_probs]

    def file_log_probs(self, paths: Sequence, batch_size: int = 16) -> list[Tensor]:
        """Audio files -> per-file log-probs (``read_speech``'s checks, then ``log_probs``)."""
        feats = [self.features(read_speech(p, self.sample_rate)) for p in paths]
        return self.log_probs(feats, batch_size)

    def transcribe(self, waves: Sequence[Tensor], decoding: Decoding | None = None
                   ) -> list[str]:
        """Waveforms (n,) at ``sample_rate`` -> text, one per waveform."""
        return self.decode(self.log_probs([self.features(w) for w in waves]), decoding)

    def transcribe_files(self, paths: Sequence, decoding: Decoding | None = None) -> list[str]:
        """Audio files -> text, one per file."""
        return self.decode(self.file_log_probs(paths), decoding)

    @torch.no_grad()
    def stream(self, chunks: Iterable[Tensor]) -> Iterator[str]:
        """Audio chunks (n,) at ``sample_rate`` -> the text each chunk makes final (greedy).

        Needs a unidirectional model with fixed (``global``) normalisation; joined, the
        pieces equal the greedy transcript of the whole audio.
        """
        from rnnkit.data.features import LogMelStream

        if self.spec["features"]["norm"] != "global" or self.model.rnn.bidirectional:
            raise DataError("streaming needs a unidirectional model (train it with "
                            "--bidirectional false)")
        frames = LogMelStream(self.features.logmel.logmel)
        greedy, state = GreedyStream(), None
        for chunk in chunks:
            x = self.features.normalise(frames.push(chunk))            # (t, F)
            lp, state = self.model.stream_step(x.to(self.device), state)
            yield self.alphabet.decode(greedy.push(lp.cpu()))
        tail = self.features.normalise(frames.flush())
        lp, state = self.model.stream_step(tail.to(self.device), state)
        last = torch.cat([lp, self.model.stream_finish(state)])
        yield self.alphabet.decode(greedy.push(last.cpu()))


def error_rates(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Corpus CER and WER (jiwer: edit operations over all utterances / reference length)."""
    import jiwer

    if not references:
        return {"cer": math.nan, "wer": math.nan}
    hyps = list(hypotheses)
    return {"cer": float(jiwer.cer(list(references), hyps)),
            "wer": float(jiwer.wer(list(references), hyps))}
