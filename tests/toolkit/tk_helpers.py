"""Helpers for toolkit tests (a uniquely named module: tests/ has no packages, so test
and helper file names must not clash with the core tests)."""

from __future__ import annotations

import os
import random
import sys

from rnnkit.cli import main

WORDS = ("the king is dead long live the queen my lord good night sweet prince "
         "to be or not that is question what light through yonder window breaks").split()

# Arguments shared by tiny training runs: smoke recipe, tiny model, no progress bar.
TINY = ["--smoke", "--no-progress", "--hidden-size", "16", "--embed-size", "8"]


def make_text(n_lines: int = 600, seed: int = 0) -> str:
    """Deterministic pseudo-verse: enough structure that a model can learn something."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n_lines):
        speaker = rng.choice(["KING", "QUEEN", "HAMLET"])
        lines.append(f"{speaker}:\n" + " ".join(rng.choice(WORDS) for _ in range(7)) + ".\n")
    return "\n".join(lines)


def run_cli(args: list, capsys) -> tuple[int, str, str]:
    """Run ``rnnkit ARGS`` in this process; return (exit status, stdout, stderr)."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as e:  # argparse's --help/--version/usage errors
        code = e.code if isinstance(e.code, int) else 1
    out = capsys.readouterr()
    return code, out.out, out.err


def subprocess_env() -> dict:
    """Child processes: one thread each (2-core machines), warnings not turned to errors."""
    env = dict(os.environ)
    env["PYTHONWARNINGS"] = "ignore"
    env["OMP_NUM_THREADS"] = "1"
    return env


def rnnkit_cmd(*args) -> list[str]:
    return [sys.executable, "-m", "rnnkit.cli", *[str(a) for a in args]]

