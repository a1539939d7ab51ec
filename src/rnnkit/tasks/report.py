"""A short markdown report for a run folder: what was trained, how well, and samples."""

from __future__ import annotations

import math
from pathlib import Path

from rnnkit.data.text import Corpus
from rnnkit.train.config import RunConfig
from rnnkit.train.diagnose import report_section
from rnnkit.train.loop import FitResult

LN2 = math.log(2)


def quality_lines(valid_nats: float, unigram_bits: float, level: str) -> list[str]:
    """Human-readable validation numbers next to the unigram baseline."""
    if math.isinf(valid_nats):
        return ["- no validation pass was run"]
    unit = "bits/char" if level == "char" else "bits/word"
    lines = [f"- validation: **{valid_nats / LN2:.3f} {unit}** ({valid_nats:.3f} nats)",
             f"- unigram baseline: {unigram_bits:.3f} {unit} "
             f"(model is {unigram_bits - valid_nats / LN2:+.3f} {unit} better)"]
    if level == "word":
        lines.append(f"- perplexity: {math.exp(valid_nats):.1f} "
                     f"(unigram {2 ** unigram_bits:.1f})")
    return lines


def write_report(run_dir: Path, cfg: RunConfig, fit: FitResult, corpus: Corpus,
                 unigram_bits: float, samples: dict[float, str], *, n_params: int,
                 wall_s: float, target: tuple[str, bool] | None = None) -> Path:
    m, t = cfg.model, cfg.train
    lines = [
        f"# Run `{run_dir.name}`",
        "",
        f"- recipe `{cfg.recipe}`; data `{corpus.source}` ({corpus.train.numel():,} train / "
        f"{corpus.valid.numel():,} valid {corpus.vocab.level} tokens, vocabulary "
        f"{len(corpus.vocab):,}; text sha256 `{corpus.sha256[:16]}…`)",
        f"- model: {m.cell} {m.num_layers}x{m.hidden_size}, embedding {m.embed_size}, "
        f"dropout {m.dropout}, {n_params:,} parameters",
        f"- training: {fit.steps:,} updates of {t.batch_size} streams x {t.k1_steps} tokens "
        f"(k2={t.seq_len}), {t.optimizer} lr {t.lr:g} {t.schedule}; stopped by "
        f"{fit.stopped} after {fit.elapsed_s:.0f} s training ({wall_s:.0f} s this session)",
        *quality_lines(fit.best_valid_loss, unigram_bits, corpus.vocab.level),
        f"- validation set: {min(corpus.valid.numel(), t.eval_tokens or corpus.valid.numel()):,}"
        f" of {corpus.valid.numel():,} held-out tokens scored per pass",
        *([f"- target ({target[0]}): **{'met' if target[1] else 'not met'}**"]
          if target is not None else []),
        "",
        "![loss curve](loss.png)",
        "",
        "Files: `config.toml` (repeat with `rnnkit train --config config.toml`), "
        "`metrics.jsonl`, `ckpt-*.pt`, `best.pt`, `samples.txt`.",
        "",
        *report_section(run_dir),
        "",
        "## Samples (final model)",
    ]
    for temp, text in samples.items():
        lines += ["", f"temperature {temp}:", "", "```", text.strip("\n"), "```"]
    path = run_dir / "report.md"
    path.write_text("\n".join(lines) + "\n")
    return path
