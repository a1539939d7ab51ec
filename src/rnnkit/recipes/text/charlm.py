"""Recipe ``charlm``: character- (or word-) level language model on any UTF-8 text.

Default data is the shipped Shakespeare corpus (4.5 MB, 74 characters). Target (issue 4):
validation loss <= 1.45 nats/char (2.09 bpc) within 2 hours on a 2-core CPU.

    rnnkit train charlm                                   # Shakespeare, 2x384 LSTM
    rnnkit train charlm --data my.txt --cell gru --hidden-size 256
    rnnkit train charlm --data corpus/ --level word --vocab-size 20000
"""

from __future__ import annotations

import math

from rnnkit.data import shakespeare
from rnnkit.data.text import Corpus, load_corpus
from rnnkit.errors import ConfigError
from rnnkit.models.language import TokenLM
from rnnkit.models.sampling import sample_text
from rnnkit.recipes.base import Outcome, Setup
from rnnkit.recipes.result import Target
from rnnkit.recipes.text.report import describe_corpus, lm_report_lines
from rnnkit.train.config import RunConfig
from rnnkit.train.task import LMTask

LN2 = math.log(2)

# Defaults with their reasons. A 2-hour budget on one core buys ~11k updates of a 2x384
# LSTM (0.66 s each; 2x512 costs 1.4 s and would see half the data): a smaller model that
# sees the corpus ~8 times beats a larger one that sees it 4 times at equal compute.
# Light dropout for the same reason; cosine decay follows the clock so the run ends
# annealed however fast the machine is; one thread leaves the other core free.
DEFAULTS = {
    "model": {"cell": "lstm", "hidden_size": 384, "num_layers": 2, "embed_size": 64,
              "dropout": 0.1},
    "data": {"level": "char", "valid_fraction": 0.05},
    "train": {"batch_size": 32, "seq_len": 100, "optimizer": "adam", "lr": 2e-3,
              "schedule": "cosine", "schedule_clock": "time", "warmup_steps": 200,
              "max_steps": 100_000, "max_seconds": 7200.0, "threads": 1,
              "eval_every": 1000, "ckpt_every": 500, "clip_norm": 5.0, "log_every": 20},
}
# Seconds-long configuration for tests and quick checks.
SMOKE = {
    "model": {"hidden_size": 32, "num_layers": 1, "embed_size": 16, "dropout": 0.0},
    "train": {"batch_size": 4, "seq_len": 16, "max_steps": 20, "max_seconds": None,
              "schedule_clock": "steps",
              "eval_every": 10, "ckpt_every": 10, "log_every": 5, "warmup_steps": 2,
              "eval_tokens": 2000},
}
TARGET = Target("valid_nats", "<=", 1.45, "validation <= 1.45 nats/char",
                budget="2 h on one core of a 2-core CPU", hours=2.0)
SAMPLE_TEMPERATURES = (0.5, 0.8, 1.0)
SAMPLE_LENGTH = 400


def build_corpus(cfg: RunConfig) -> Corpus:
    d = cfg.data
    if d.level == "subword":
        raise ConfigError(f"{cfg.recipe}: --level is char or word (subword is for translate)")
    if d.data is None:
        return load_corpus(shakespeare.NAME, level=d.level, vocab_size=d.vocab_size,
                           valid_fraction=d.valid_fraction, valid_path=d.valid_data,
                           text=shakespeare.load_text())
    return load_corpus(d.data, level=d.level, vocab_size=d.vocab_size,
                       valid_fraction=d.valid_fraction, valid_path=d.valid_data)


def lm_metrics(valid_nats: float, unigram_bits: float) -> dict[str, float]:
    """Validation nats and bits per token, and how many bits/token better than unigram."""
    if math.isinf(valid_nats):
        return {}
    return {"valid_nats": valid_nats, "valid_bits": valid_nats / LN2,
            "bits_below_unigram": unigram_bits - valid_nats / LN2}


def build(cfg: RunConfig) -> Setup:
    """Corpus, TokenLM and LMTask; the finish step scores against the unigram baseline and
    writes samples.txt (samples at three temperatures from the final model)."""
    corpus = build_corpus(cfg)
    t = cfg.train
    task = LMTask(corpus.train, corpus.valid, t.batch_size, t.seq_len, t.k1_steps,
                  eval_tokens=t.eval_tokens, unit=corpus.vocab.level)

    def finish(trainer, fit) -> Outcome:
        unigram = corpus.unigram_bits(t.eval_tokens)
        samples = {temp: sample_text(trainer.model, corpus.vocab, length=SAMPLE_LENGTH,
                                     temperature=temp, seed=t.seed, device=trainer.device)
                   for temp in SAMPLE_TEMPERATURES}
        (trainer.run_dir / "samples.txt").write_text("".join(
            f"--- temperature {temp} ---\n{s}\n\n" for temp, s in samples.items()))
        return Outcome(lm_report_lines(fit, corpus, unigram, samples),
                       lm_metrics(fit.best_valid_loss, unigram),
                       baseline={"name": "unigram (training counts)",
                                 "metrics": {"valid_bits": unigram}},
                       extras={"samples": samples})

    return Setup(TokenLM(len(corpus.vocab), cfg.model), task,
                 meta={"vocab": corpus.vocab.to_dict(), "data_source": corpus.source,
                       "data_sha256": corpus.sha256},
                 describe=describe_corpus(corpus, t.eval_tokens), finish=finish)
