"""``rnnkit eval RUN_OR_CKPT --data FILE``: bits per character (perplexity for words).

Characters (or words) never seen in training count as ``<unk>``; how many there were is
reported, since a large number makes the score optimistic.
"""

from __future__ import annotations

import argparse
import math


def add_parser(sub) -> None:
    p = sub.add_parser("eval", help="score a trained model on a text file",
                       description=__doc__.replace("``", "`"))
    p.add_argument("checkpoint", metavar="RUN_OR_CKPT", help="run folder or checkpoint file")
    p.add_argument("--data", required=True, metavar="FILE_OR_FOLDER", help="UTF-8 text")
    p.add_argument("--batch-size", type=int, default=32, help="parallel streams [32]")
    p.add_argument("--seq-len", type=int, default=100, help="window length [100]")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rnnkit.data.text import read_text, tokenize
    from rnnkit.tasks.charlm import load_model
    from rnnkit.train.errors import ConfigError, DataError
    from rnnkit.train.task import evaluate_lm

    for flag, value in (("--batch-size", args.batch_size), ("--seq-len", args.seq_len)):
        if value < 1:
            raise ConfigError(f"{flag} must be >= 1 (got {value})")
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
