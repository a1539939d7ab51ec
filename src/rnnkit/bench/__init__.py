"""rnnkit's benchmark suite: every backend vs torch.nn, a Python loop and torch.compile.

Library first: ``main(argv)`` is the command line (wrap it as ``rnnkit bench``), ``run`` the
same from Python, ``interleaved`` / ``matmul_peak_gflops`` / ``peak_memory_mib`` the timing
tools. See docs/PERFORMANCE.md for results and how to read them.
"""

from rnnkit.bench.cases import Point, candidates
from rnnkit.bench.suite import grid, main, markdown, run
from rnnkit.bench.timing import interleaved, matmul_peak_gflops, peak_memory_mib

__all__ = [
    "Point",
    "candidates",
    "grid",
    "interleaved",
    "main",
    "markdown",
    "matmul_peak_gflops",
    "peak_memory_mib",
    "run",
]
