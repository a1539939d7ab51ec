"""``rnnkit translate RUN "a sentence"``: translate with a trained ``translate`` run.

    rnnkit translate runs/en-fr "Where is the exit?"
    rnnkit translate runs/en-fr --file in.txt > out.txt      # one sentence per line, streamed
    rnnkit translate runs/en-fr "Hello." --beam 5 --n-best 3   # score<TAB>translation lines
    rnnkit translate runs/en-fr "Hello." --show-attention attention.png
"""

from __future__ import annotations

import argparse
import sys

from rnnkit.cli.parser import text_lines


def add_parser(sub) -> None:
    p = sub.add_parser("translate", help="translate sentences with a trained translate run",
                       description=__doc__.replace("``", "`"),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", metavar="RUN_OR_CKPT", help="run folder or checkpoint file")
    p.add_argument("sentence", nargs="*", help="sentence(s) to translate")
    p.add_argument("--file", metavar="FILE", help="one sentence per line ('-': stdin)")
    p.add_argument("--beam", type=int, default=5, help="beam size; 1 = greedy [5]")
    p.add_argument("--n-best", type=int, default=1, help="translations per sentence [1]")
    p.add_argument("--length-penalty", type=float, default=1.0,
                   help="GNMT length normalisation alpha; 0 = raw log-probability [1.0]")
    p.add_argument("--show-attention", metavar="PNG",
                   help="write the first sentence's attention heat-map here")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda", "auto"))
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from rnnkit.errors import ConfigError
    from rnnkit.recipes.translation.translator import load_translator

    if args.beam < 1 or args.n_best < 1 or args.n_best > args.beam:
        raise ConfigError(f"--beam must be >= 1 and --n-best in 1..beam (got --beam "
                          f"{args.beam}, --n-best {args.n_best})")
    if args.length_penalty < 0:
        raise ConfigError(f"--length-penalty must be >= 0 (got {args.length_penalty})")
    if bool(args.sentence) == bool(args.file):
        raise ConfigError("give sentences on the command line or --file FILE, not both")
    translator, _ = load_translator(args.checkpoint, args.device)
    kw = {"beam": args.beam, "n_best": args.n_best, "length_penalty": args.length_penalty}
    lines = args.sentence if args.sentence else text_lines(args.file)
    first = None
    for nbest in translator.stream(lines, **kw):
        first = first or nbest[0]
        if args.n_best == 1:
            print(nbest[0].text, flush=True)
        else:
            for t in nbest:
                print(f"{t.score:.4f}\t{t.text}", flush=True)
    if args.show_attention and first is not None:
        from rnnkit.recipes.translation.plots import plot_attention

        if first.attention is None:
            raise ConfigError("this model has no attention to show (--attention none)")
        plot_attention(first, args.show_attention, title=" ".join(first.src_pieces))
        sys.stderr.write(f"attention: {args.show_attention}\n")
    return 0

