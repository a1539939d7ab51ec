"""The ``rnnkit`` command. This module only registers subcommands; each subcommand
module has ``add_parser(subparsers)`` and ``run(args) -> exit status`` over library calls.

Errors a user can cause (``RnnkitError``) print one line and exit 1; usage errors exit 2;
Ctrl-C outside training exits 130 without a traceback.
"""

from __future__ import annotations

import sys

from rnnkit.cli import (
    bench,
    demo,
    evaluate,
    experiment,
    export,
    gradients,
    info,
    predict,
    sample,
    say,
    serve,
    train,
    transcribe,
    translate,
)
from rnnkit.cli.parser import OneLineParser

SUBCOMMANDS = (train, sample, evaluate, translate, transcribe, say, demo, info, gradients, bench,
               experiment, predict, export, serve)


def build_parser() -> OneLineParser:
    from rnnkit import __version__

    parser = OneLineParser(
        prog="rnnkit",
        description="Train, sample and evaluate recurrent networks. "
                    "Start with `rnnkit demo`.")
    parser.add_argument("--version", action="version", version=f"rnnkit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND",
                                parser_class=OneLineParser)
    for module in SUBCOMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from rnnkit.errors import RnnkitError

    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if getattr(args, "passthrough", False):  # a subcommand that owns its options (bench)
        args.options = extra
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except RnnkitError as e:
        sys.stderr.write(f"rnnkit {args.command}: error: {e}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("\nrnnkit: interrupted\n")
        return 130
    except BrokenPipeError:  # `rnnkit sample ... | head`
        return 0
