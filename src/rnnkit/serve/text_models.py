"""Served text models: language models (a stream of generated tokens), sequence
classifiers and taggers (batched; DNA FASTA scans as ``rnnkit predict``), translation
(batched)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import torch

from rnnkit.data import fasta
from rnnkit.data.text import Vocab
from rnnkit.errors import ConfigError, RnnkitError
from rnnkit.models.sampling import check_sampling, generate, unknown_line, unknown_tokens
from rnnkit.recipes.base import LoadedRun
from rnnkit.recipes.predict import class_probabilities, tag_records
from rnnkit.recipes.translation.translator import translator_from_run
from rnnkit.serve.limits import Limits
from rnnkit.serve.served import RequestError, Served, TimedOut, as_file, check_limit

DNA_TOKENS = 5  # A, C, G, T, N: what fasta.encode_index gives a token classifier


# ---- language models ------------------------------------------------------------------------

class LanguageModel(Served):
    endpoints = ("generate",)

    def __init__(self, name: str, run: LoadedRun, limits: Limits):
        super().__init__(name, run, limits)
        self.vocab = Vocab.from_dict(run.spec)

    def details(self) -> dict:
        return {"level": self.vocab.level, "vocabulary": len(self.vocab)}

    def start(self, prime: str, length: int, temperature: float, top_k: int | None,
              top_p: float | None, seed: int | None) -> tuple[int, list[str]]:
        """Check a request before any work: (the seed to use, warnings)."""
        lim = self.limits
        check_limit("prime", len(prime), lim.max_prime_chars, " characters")
        check_limit("length", length, lim.max_generate, " tokens")
        try:
            check_sampling(temperature, top_k, top_p, length)
        except ConfigError as e:  # its messages name the command's options
            message = str(e)
            for option in ("--temperature", "--top-k", "--top-p", "--length"):
                message = message.replace(option, option[2:].replace("-", "_"))
            raise RequestError(message) from None
        unknown = unknown_tokens(prime, self.vocab)
        warnings = [unknown_line(unknown, self.vocab.level, "prime")] if unknown else []
        # A seed drawn here and returned lets a client repeat a sample it liked.
        return (secrets.randbelow(2**31) if seed is None else seed), warnings

    def pieces(self, prime: str, length: int, temperature: float, top_k: int | None,
               top_p: float | None, seed: int, deadline: float) -> Iterator[str]:
        """The generated text piece by piece; TimedOut once past ``deadline`` (monotonic)."""
        device = next(self.run.model.parameters()).device
        steps = generate(self.run.model, self.vocab, prime=prime, length=length,
                         temperature=temperature, top_k=top_k, top_p=top_p, seed=seed,
                         device=device)
        try:
            while True:
                with self.lock:  # one step at a time: concurrent streams interleave
                    piece = next(steps, None)
                if piece is None:
                    return
                if time.monotonic() > deadline:
                    raise TimedOut(self.limits.timeout_s)
                yield piece
        finally:
            steps.close()


# ---- classifiers and taggers ----------------------------------------------------------------

def recipe_readers(recipe: str) -> dict:
    """The recipe's readers of a user's files (empty for a recipe this rnnkit lacks)."""
    from rnnkit.recipes.registry import get

    try:
        return get(recipe).readers or {}
    except ConfigError:
        return {}


class SequenceModel(Served):
    """A classifier or tagger: ``sequences`` of DNA letters for token models (every token
    model rnnkit trains reads DNA), ``features`` (T, F) for the others; ``predict`` scans a
    FASTA text with the recipe's reader."""

    verb = "classify"  # the endpoint for sequences: "classify" or "tag"

    def __init__(self, name: str, run: LoadedRun, limits: Limits):
        super().__init__(name, run, limits)
        self.classes = list(run.spec["classes"])
        self.num_features = run.spec.get("num_features")
        self.readers = recipe_readers(run.config.recipe)
        self.window = self.readers.get("window")
        self.reads_dna = self.num_features is None and run.spec.get("vocab_size") == DNA_TOKENS
        self.scans_fasta = self.reads_dna and "predict" in self.readers
        self.endpoints = (self.verb, "predict") if self.scans_fasta else (self.verb,)
        self.batcher = self.make_batcher(size=len)

    def details(self) -> dict:
        return {"classes": self.classes,
                "input": "DNA letters" if self.reads_dna
                else f"features (T, {self.num_features})" if self.num_features
                else "token ids",
                "window": self.window, "background": self.readers.get("background")}

    def inputs(self, sequences: list[str] | None, features: list | None) -> list[torch.Tensor]:
        """A request's model inputs, checked: exactly one of ``sequences`` / ``features``,
        the one this model reads, within the limits."""
        lim = self.limits
        if (sequences is None) == (features is None):
            raise RequestError("give either 'sequences' (DNA letters) or 'features' "
                               "(a list of (T, F) number lists)")
        given = sequences if sequences is not None else features
        if not given:
            raise RequestError("no sequences given")
        check_limit("sequences", len(given), lim.max_sequences)
        out = []
        for i, s in enumerate(given):
            where = f"{'sequences' if sequences is not None else 'features'}[{i}]"
            check_limit(f"{where} length", len(s), lim.max_sequence_length, " steps")
            if not len(s):
                raise RequestError(f"{where}: empty")
            if sequences is not None:
                if not self.reads_dna:
                    raise RequestError(f"model {self.name!r} reads {self.details()['input']}, "
                                       "not DNA letters: send 'features'")
                try:
                    x = fasta.encode_index(s.upper(), where=where)
                except RnnkitError as e:
                    raise RequestError(str(e)) from None
            else:
                if self.num_features is None:
                    raise RequestError(f"model {self.name!r} reads DNA letters: send "
                                       "'sequences'")
                try:
                    x = torch.tensor(s, dtype=torch.float32)                  # (T, F)
                except ValueError:
                    raise RequestError(f"{where}: rows of different lengths") from None
                if x.dim() != 2 or x.shape[1] != self.num_features:
                    raise RequestError(f"{where}: shape {tuple(x.shape)}, this model reads "
                                       f"(T, {self.num_features})")
            if self.window is not None and len(x) != self.window:
                raise RequestError(f"{where}: {len(x)} long; this model classifies "
                                   f"{self.window}-long windows (use predict to scan a "
                                   "longer sequence)")
            out.append(x)
        return out

    def fasta_items(self, text: str):
        """The recipe's predict reader over a FASTA text (a context manager's items)."""
        check_limit("fasta", sum(len(ln.strip()) for ln in text.splitlines()
                                 if not ln.startswith(">")), self.limits.max_fasta_bases,
                    " bases")
        return as_file(text.encode(), "fasta")


class Classifier(SequenceModel):
    verb = "classify"

    def run_batch(self, items: list[list[torch.Tensor]]) -> list[list[dict]]:
        flat = [(k, x) for k, x in enumerate(x for item in items for x in item)]
        with self.lock:
            probs = [p for _, p in class_probabilities(self.run.model, flat,
                                                       self.limits.max_batch)]
        answers, at = [], 0
        for item in items:
            answers.append([self.answer(p) for p in probs[at:at + len(item)]])
            at += len(item)
        return answers

    def answer(self, p: torch.Tensor) -> dict:
        k = int(p.argmax())
        return {"class": self.classes[k], "probability": round(float(p[k]), 6),
                "probabilities": {c: round(float(v), 6)
                                  for c, v in zip(self.classes, p, strict=True)}}

    def predict(self, text: str, min_prob: float, show_all: bool, deadline: float) -> dict:
        """Every window of a FASTA text, as ``rnnkit predict`` prints them."""
        skip = None if show_all else self.readers.get("background")
        columns = list(self.readers.get("columns", ("id",)))
        found, n = [], 0
        with self.fasta_items(text) as path, self.lock:
            for key, p in class_probabilities(self.run.model,
                                              self.readers["predict"](path, self.run.spec),
                                              self.limits.max_batch):
                n += 1
                if n % self.limits.max_batch == 0 and time.monotonic() > deadline:
                    raise TimedOut(self.limits.timeout_s)
                a = self.answer(p)
                if a["class"] == skip or a["probability"] < min_prob:
                    continue
                found.append({**dict(zip(columns, key, strict=True)), **a})
        return {"items": n, "columns": columns, "predictions": found}


class Tagger(SequenceModel):
    verb = "tag"

    def run_batch(self, items: list[list[torch.Tensor]]) -> list[list[dict]]:
        flat = [((k, 0), x) for k, x in enumerate(x for item in items for x in item)]
        with self.lock:
            tagged = [(n, runs) for _, n, runs in tag_records(self.run.model, flat,
                                                              self.limits.max_batch)]
        answers, at = [], 0
        for item in items:
            answers.append([{"length": n, "runs": [self.run_dict(r) for r in runs]}
                            for n, runs in tagged[at:at + len(item)]])
            at += len(item)
        return answers

    def run_dict(self, r) -> dict:
        return {"start": r.start, "end": r.end, "tag": self.classes[r.tag],
                "mean_probability": round(r.mean_probability, 6)}

    def predict(self, text: str, min_prob: float, show_all: bool, deadline: float) -> dict:
        """Runs of one tag per FASTA record, as ``rnnkit predict`` prints them."""
        skip = None if show_all else self.readers.get("background")
        found, bases = [], 0
        with self.fasta_items(text) as path, self.lock:
            for record, n, runs in tag_records(self.run.model,
                                               self.readers["predict"](path, self.run.spec),
                                               self.limits.max_batch):
                if time.monotonic() > deadline:
                    raise TimedOut(self.limits.timeout_s)
                bases += n
                found += [{"record": record, **self.run_dict(r)} for r in runs
                          if self.classes[r.tag] != skip and r.mean_probability >= min_prob]
        return {"bases": bases, "columns": ["record", "start", "end", "tag",
                                            "mean_probability"], "predictions": found}


# ---- translation ----------------------------------------------------------------------------

class TranslationModel(Served):
    endpoints = ("translate",)

    def __init__(self, name: str, run: LoadedRun, limits: Limits):
        super().__init__(name, run, limits)
        self.translator = translator_from_run(run)
        self.batcher = self.make_batcher(size=lambda item: len(item[0]))

    def details(self) -> dict:
        spec = self.run.spec
        return {"pair": spec.get("pair"), "max_tokens": spec.get("max_tokens")}

    def check(self, sentences: list[str], beam: int, n_best: int) -> None:
        lim = self.limits
        if not sentences:
            raise RequestError("no sentences given")
        check_limit("sentences", len(sentences), lim.max_sentences)
        check_limit("beam", beam, lim.max_beam)
        if n_best > beam:
            raise RequestError(f"n_best ({n_best}) must be at most beam ({beam})")
        for i, s in enumerate(sentences):
            check_limit(f"sentences[{i}]", len(s), lim.max_sentence_chars, " characters")
            if s.strip():
                try:
                    self.translator.encode(s, f"sentences[{i}]")  # the model's own limit
                except RnnkitError as e:
                    raise RequestError(str(e)) from None

    def run_batch(self, items: list[tuple[list[str], tuple]]) -> list[list[list[dict]]]:
        """Requests with the same decoding settings are translated together."""
        out: list = [None] * len(items)
        for settings in dict.fromkeys(kw for _, kw in items):
            which = [k for k, (_, kw) in enumerate(items) if kw == settings]
            sentences = [s for k in which for s in items[k][0]]
            beam, n_best, length_penalty = settings
            with self.lock:
                done = self.translator.translate(sentences, beam=beam, n_best=n_best,
                                                 length_penalty=length_penalty,
                                                 batch_size=self.limits.max_batch)
            at = 0
            for k in which:
                n = len(items[k][0])
                out[k] = [[{"text": t.text, "score": round(t.score, 6)} for t in nbest]
                          for nbest in done[at:at + n]]
                at += n
        return out
