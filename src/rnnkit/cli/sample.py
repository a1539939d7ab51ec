"""``rnnkit sample RUN_OR_CKPT``: stream generated text to the terminal.

Needs only the checkpoint (it holds the config and vocabulary). A run folder means its
best.pt (best validation loss), else its newest checkpoint.
"""

from __future__ import annotations

import argparse
import sys


def add_parser(sub) -> None:
    p = sub.add_parser("sample", help="generate text from a trained model",
                       description=__doc__.replace("``", "`"))
    p.add_argument("checkpoint", metavar="RUN_OR_CKPT", help="run folder or checkpoint file")
    p.add_argument("--prime", default="", help="text to start from (default: a newline)")
    p.add_argument("--length", type=int, default=500, help="tokens to generate [500]")
    p.add_argument("--temperature", type=float, default=0.8,
                   help="softmax temperature; 0 = greedy [0.8]")
    p.add_argument("--top-k", type=int, default=None, help="sample from the k likeliest")
    p.add_argument("--top-p", type=float, default=None,
                   help="sample from the smallest set with this much probability")
    p.add_argument("--seed", type=int, default=None, help="seed for repeatable samples")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rnnkit.data.text import Vocab
    from rnnkit.errors import ConfigError
    from rnnkit.models.sampling import check_sampling, generate, unknown_tokens
    from rnnkit.recipes.base import load_run

    check_sampling(args.temperature, args.top_k, args.top_p, args.length)
    if args.seed is not None and args.seed < 0:
        raise ConfigError(f"--seed must be >= 0 (got {args.seed})")
    run = load_run(args.checkpoint, ("vocab",), args.device)
    model, vocab = run.model, Vocab.from_dict(run.spec)
    unknown = unknown_tokens(args.prime, vocab)
    if unknown:  # a warning, not an error: the model still samples, the prime is echoed
        sys.stderr.write(f"rnnkit sample: warning: {_unknown_line(unknown, vocab.level)}\n")
    out = sys.stdout
    out.write(args.prime)
    for piece in generate(model, vocab, prime=args.prime, length=args.length,
                          temperature=args.temperature, top_k=args.top_k, top_p=args.top_p,
                          seed=args.seed, device=next(model.parameters()).device):
        out.write(piece)
        out.flush()
    out.write("\n")
    return 0


def _unknown_line(unknown: list[str], level: str, show: int = 10) -> str:
    """One line naming the prime's unknown tokens, repr'd so whitespace and control
    characters are visible, at most ``show`` of them."""
    kind = ("character" if level == "char" else "word") + ("s" if len(unknown) > 1 else "")
    names = ", ".join(repr(t) for t in unknown[:show])
    more = f" and {len(unknown) - show} more" if len(unknown) > show else ""
    return (f"--prime has {len(unknown)} {kind} not in the model's vocabulary ({names}{more}); "
            "each is read as <unk> (id 0)")
