"""Recipe ``charlm``: character- (or word-) level language model on any UTF-8 text.

Default data is the shipped Shakespeare corpus (4.5 MB, 74 characters). Target (issue 4):
validation loss <= 1.45 nats/char (2.09 bpc) within 2 hours on a 2-core CPU.

    rnnkit train charlm                                   # Shakespeare, 2x384 LSTM
    rnnkit train charlm --data my.txt --cell gru --hidden-size 256
    rnnkit train charlm --data corpus/ --level word --vocab-size 20000
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from rnnkit.data import shakespeare
from rnnkit.data.text import Corpus, Vocab, load_corpus
from rnnkit.tasks import demo
from rnnkit.tasks.models import TokenLM
from rnnkit.tasks.report import describe_corpus, lm_report_lines, quality_lines
from rnnkit.tasks.runner import Setup, run_recipe
from rnnkit.tasks.sampler import sample_text
from rnnkit.train import checkpoint as ckpt_io
from rnnkit.train.config import RunConfig
from rnnkit.train.loop import FitResult, resolve_device
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
TARGET_VALID_NATS = 1.45
SAMPLE_TEMPERATURES = (0.5, 0.8, 1.0)


def target_check(recipe: str, valid_nats: float, unigram_bits: float) -> tuple[str, bool] | None:
    """The recipe's target as (description, met?); None for recipes without one."""
    if recipe == "charlm":
        return f"validation <= {TARGET_VALID_NATS} nats/char", valid_nats <= TARGET_VALID_NATS
    if recipe == "demo":
        margin = demo.TARGET_BEATS_UNIGRAM_BY_BITS
        return (f"beat the unigram baseline by >= {margin} bit/char",
                unigram_bits - valid_nats / LN2 >= margin)
    return None


@dataclass
class RunResult:
    run_dir: Path
    fit: FitResult
    corpus: Corpus
    unigram_bits: float          # bits/token of the valid set under train unigram counts
    samples: dict[float, str]    # temperature -> text
    target: tuple[str, bool] | None = None  # the recipe's target and whether it was met

    def summary(self) -> list[str]:
        """Validation against the unigram baseline and the target, for a terminal."""
        lines = quality_lines(self.fit.best_valid_loss, self.unigram_bits,
                              self.corpus.vocab.level)
        if self.target is not None:
            lines.append(f"- target ({self.target[0]}): "
                         f"{'met' if self.target[1] else 'NOT met'}")
        return [line.replace("**", "") for line in lines]


def build_corpus(cfg: RunConfig) -> Corpus:
    d = cfg.data
    if d.data is None:
        return load_corpus(shakespeare.NAME, level=d.level, vocab_size=d.vocab_size,
                           valid_fraction=d.valid_fraction, valid_path=d.valid_data,
                           text=shakespeare.load_text())
    return load_corpus(d.data, level=d.level, vocab_size=d.vocab_size,
                       valid_fraction=d.valid_fraction, valid_path=d.valid_data)


def build_model(cfg: RunConfig, vocab_size: int) -> TokenLM:
    return TokenLM(vocab_size, cfg.model)


def load_model(path: str | Path, device: str = "cpu") -> tuple[TokenLM, Vocab, dict]:
    """Model, vocabulary and checkpoint dict from a run folder (best.pt if present) or file."""
    p = Path(path)
    file = p / "best.pt" if (p / "best.pt").is_file() else ckpt_io.resolve(p)
    ck = ckpt_io.load(file)
    if "vocab" not in ck:
        raise ckpt_io.CheckpointError(f"{file}: not a language-model checkpoint (recipe "
                                      f"{ck['config'].get('recipe')!r})")
    cfg = RunConfig.from_dict(ck["config"], source=str(file))
    vocab = Vocab.from_dict(ck["vocab"])
    model = build_model(cfg, len(vocab))
    try:
        model.load_state_dict(ck["model"])
    except RuntimeError as e:
        raise ckpt_io.CheckpointError(f"{file}: weights do not fit its config ({e})") from None
    ck["file"] = str(file)
    return model.to(resolve_device(device)).eval(), vocab, ck


def run(cfg: RunConfig, run_dir: Path, *, resume_from: Path | None = None,
        progress: bool = True, should_stop=None, sample_length: int = 400) -> RunResult:
    """Train (or resume), then write samples, the loss plot and report into ``run_dir``."""
    got: dict = {}

    def build(cfg: RunConfig) -> Setup:
        corpus = got["corpus"] = build_corpus(cfg)
        t = cfg.train
        task = LMTask(corpus.train, corpus.valid, t.batch_size, t.seq_len, t.k1_steps,
                      eval_tokens=t.eval_tokens, unit=corpus.vocab.level)
        return Setup(build_model(cfg, len(corpus.vocab)), task,
                     meta={"vocab": corpus.vocab.to_dict(), "data_source": corpus.source,
                           "data_sha256": corpus.sha256},
                     describe=describe_corpus(corpus, t.eval_tokens), finish=finish)

    def finish(trainer, fit) -> list[str]:
        corpus = got["corpus"]
        got["unigram"] = unigram = corpus.unigram_bits(cfg.train.eval_tokens)
        got["target"] = target = target_check(cfg.recipe, fit.best_valid_loss, unigram)
        got["samples"] = samples = {
            t: sample_text(trainer.model, corpus.vocab, length=sample_length, temperature=t,
                           seed=cfg.train.seed, device=trainer.device)
            for t in SAMPLE_TEMPERATURES}
        (run_dir / "samples.txt").write_text("".join(
            f"--- temperature {t} ---\n{s}\n\n" for t, s in samples.items()))
        return lm_report_lines(fit, corpus, unigram, samples, target)

    result = run_recipe(cfg, run_dir, build, resume_from=resume_from, progress=progress,
                        should_stop=should_stop)
    corpus = got["corpus"]
    unigram = got.get("unigram")
    if unigram is None:  # not the main process: finish did not run
        unigram = corpus.unigram_bits(cfg.train.eval_tokens)
    return RunResult(run_dir, result.fit, corpus, unigram, got.get("samples", {}),
                     got.get("target"))
