"""``rnnkit eval RUN_OR_CKPT --data FILE``: score a trained model on new data.

* language models: bits per character (perplexity for words) on a UTF-8 text. Characters
  (or words) never seen in training count as ``<unk>``; how many there were is reported,
  since a large number makes the score optimistic.
* sequence classifiers (splice, promoters, ...): accuracy, macro-F1 and a per-class report
  on a labelled file read by the recipe's ``READERS[recipe]["labelled"]`` (for the DNA
  recipes: FASTA with the class in each header, or a TSV with class/sequence columns).
* taggers (genes): per-step accuracy, macro-F1 and per-tag F1 (a genome with its
  annotation beside it).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("eval", help="score a trained model on a text or labelled file",
                       description=__doc__.replace("``", "`"),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", metavar="RUN_OR_CKPT", help="run folder or checkpoint file")
    p.add_argument("--data", required=True, metavar="FILE_OR_FOLDER",
                   help="UTF-8 text (language models) or a labelled file (classifiers)")
    p.add_argument("--batch-size", type=int, default=32, help="parallel streams / "
                   "sequences per batch [32]")
    p.add_argument("--seq-len", type=int, default=100, help="LM window length [100]")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    p.set_defaults(run=run)


def checkpoint_kind(path: str | Path) -> str:
    """"classifier", "tagger" or "lm", from what the checkpoint (best.pt of a run) holds."""
    from rnnkit.train import checkpoint as ckpt_io

    p = Path(path)
    ck = ckpt_io.load(p / "best.pt" if (p / "best.pt").is_file() else ckpt_io.resolve(p))
    return next((k for k in ("classifier", "tagger") if k in ck), "lm")


def run(args: argparse.Namespace) -> int:
    from rnnkit.train.errors import ConfigError

    for flag, value in (("--batch-size", args.batch_size), ("--seq-len", args.seq_len)):
        if value < 1:
            raise ConfigError(f"{flag} must be >= 1 (got {value})")
    kind = checkpoint_kind(args.checkpoint)
    if kind == "lm":
        return run_lm(args)
    return run_labelled(args, kind)


def run_labelled(args: argparse.Namespace, kind: str) -> int:
    """Classifier or tagger: the recipe's labelled reader, then the recipe's metrics."""
    from rnnkit.cli.predict import reader_for
    from rnnkit.train.loop import resolve_device

    device = str(resolve_device(args.device))
    if kind == "classifier":
        from rnnkit.tasks.classify import batches_of, load_classifier, score

        model, spec, cfg, _ = load_classifier(args.checkpoint, device)
    else:
        from rnnkit.tasks.tagging import batches_of, load_tagger
        from rnnkit.tasks.tagging import score_tags as score

        model, spec, cfg, _ = load_tagger(args.checkpoint, device)
    data = reader_for(cfg.recipe, "labelled")["labelled"](args.data, spec)
    metrics, report = score(model, batches_of(data, args.batch_size, device), spec["classes"])
    unit = "sequences" if kind == "classifier" else "sequences (per-step scores)"
    print(f"{args.data}: {len(data):,} {unit} scored with {args.checkpoint} "
          f"(recipe {cfg.recipe})")
    print(f"  accuracy {metrics['accuracy']:.2%}  macro-F1 {metrics['macro_f1']:.4f}  "
          f"loss {metrics['loss']:.4f}")
    print("\n".join("  " + line for line in str(report).splitlines()))
    return 0


def run_lm(args: argparse.Namespace) -> int:
    """Bits per character (or perplexity) of a language model on a text file."""
    from rnnkit.data.text import read_text, tokenize
    from rnnkit.tasks.charlm import load_model
    from rnnkit.train.errors import DataError
    from rnnkit.train.task import evaluate_lm

    model, vocab, ck = load_model(args.checkpoint, args.device)
    tokens = tokenize(read_text(args.data), vocab.level)
    if len(tokens) < 2:
        raise DataError(f"{args.data}: needs at least 2 {vocab.level} tokens")
    ids = vocab.encode(tokens)
    nats = evaluate_lm(model, ids, args.batch_size, args.seq_len,
                       next(model.parameters()).device)
    unk = int((ids == 0).sum())
    unit = "char" if vocab.level == "char" else "word"
    print(f"{args.data}: {len(tokens) - 1:,} {unit}s predicted with {ck['file']}")
    print(f"  {nats / math.log(2):.4f} bits/{unit}  ({nats:.4f} nats/{unit})")
    if vocab.level == "word":
        print(f"  perplexity {math.exp(nats):.2f}")
    if unk:
        print(f"  note: {unk:,} {unit}s ({unk / len(tokens):.2%}) were not in the training "
              "vocabulary and were scored as <unk>")
    return 0
