"""Run rnnkit's benchmark suite and write benchmarks/results/report.{md,json,png}.

    .venv/bin/python benchmarks/run.py --grid docs      # the tables in docs/PERFORMANCE.md
    .venv/bin/python benchmarks/run.py --help

A thin wrapper over ``rnnkit.bench.main`` (the library does the work).
"""

import sys

from rnnkit.bench import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
