"""``rnnkit bench [OPTIONS]``: time every backend against torch.nn, a Python loop and
torch.compile (``rnnkit bench --help`` lists the options; see docs/PERFORMANCE.md)."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
    # The suite owns its options (rnnkit.bench.main); this subcommand only forwards them.
    p = sub.add_parser("bench", help="benchmark the backends against torch.nn", add_help=False,
                       description=__doc__.replace("``", "`"))
    p.set_defaults(run=run, passthrough=True)


def run(args: argparse.Namespace) -> int:
    from rnnkit.bench import main

    return main(args.options)
