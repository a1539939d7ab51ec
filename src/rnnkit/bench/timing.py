"""Interleaved timing with medians, the machine's matmul peak, and peak memory of a call.

Why interleaved: this machine is shared, so its speed drifts over seconds. Each round times
every candidate once, in turn, so drift hits all of them alike; the median over rounds then
drops the rounds that a burst of foreign load spoiled. Compare candidates only as ratios
within one run.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch


def _once(fn: Callable[[], object], number: int) -> float:
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def calibrate(fn: Callable[[], object], min_sample_s: float) -> int:
    """How many calls make one sample last at least ``min_sample_s`` (after a warm-up call)."""
    fn()  # warm-up: first-call costs (allocation, lazy init, compilation) are not timed
    t = _once(fn, 1)
    return max(1, int(min_sample_s / max(t, 1e-9)) + (1 if t < min_sample_s else 0))


def interleaved(
    cases: dict[str, Callable[[], object]], rounds: int = 5, min_sample_s: float = 0.05
) -> dict[str, dict]:
    """Median seconds per call of each case, timed in interleaved rounds.

    Returns {name: {"median_s", "samples_s", "number"}}; ``number`` calls make one sample.
    """
    numbers = {name: calibrate(fn, min_sample_s) for name, fn in cases.items()}
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            samples[name].append(_once(fn, numbers[name]))
    return {
        name: {"median_s": statistics.median(s), "samples_s": s, "number": numbers[name]}
        for name, s in samples.items()
    }


def matmul_peak_gflops(n: int = 1024, rounds: int = 5, dtype=torch.float32) -> float:
    """Measured float32 GEMM throughput of this machine now: n x n @ n x n, median GFLOP/s."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    out = torch.empty(n, n, dtype=dtype)
    res = interleaved({"mm": lambda: torch.mm(a, b, out=out)}, rounds=rounds, min_sample_s=0.2)
    return 2 * n**3 / res["mm"]["median_s"] / 1e9


def gemm_bound_s(gemms, rounds: int = 3, min_sample_s: float = 0.01,
                 dtype=torch.float32) -> float:
    """The seconds a shape's GEMMs alone take on this machine now: each (M, N, K, count) of
    ``gemms`` (``Point.gemms``) timed as torch.mm into a preallocated output (interleaved
    medians), less the per-call dispatch cost of a 1 x 1 product (Python's, not the
    GEMM's; a C++ time loop does not pay it), times its count.

    What no implementation that runs these products through this BLAS can beat, whatever it
    does around them: a speed-up over torch.nn that is small where both sides are near it
    is bound by the same GEMMs, not lost to overhead."""
    one, one_out = torch.ones(1, 1, dtype=dtype), torch.empty(1, 1, dtype=dtype)
    overhead = interleaved({"mm": lambda: torch.mm(one, one, out=one_out)},
                           rounds=rounds, min_sample_s=min_sample_s)["mm"]["median_s"]
    total = 0.0
    for M, N, K, count in gemms:
        a, b = torch.randn(M, K, dtype=dtype), torch.randn(K, N, dtype=dtype)
        out = torch.empty(M, N, dtype=dtype)
        t = interleaved({"mm": lambda a=a, b=b, out=out: torch.mm(a, b, out=out)},
                        rounds=rounds, min_sample_s=min_sample_s)["mm"]["median_s"]
        total += max(t - overhead, 0.0) * count
    return total


def _vm_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _libc():
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def peak_memory_mib(fn: Callable[[], object]) -> float | None:
    """Peak resident-memory growth (MiB) while ``fn`` runs once; None where not measurable.

    Linux/glibc only. glibc keeps freed memory for reuse, so resident memory would not show a
    call's peak; ``M_MMAP_THRESHOLD`` is therefore fixed at 64 KiB (every larger block is
    mmap'ed and returned on free) and ``malloc_trim`` releases the rest before the call. Then
    writing 5 to /proc/self/clear_refs resets the high-water mark VmHWM, and VmHWM after the
    call minus VmRSS before it is what the call added at its peak: saved activations,
    workspace and gradients, as a user would see them. This changes the allocator for the rest
    of the process, so the suite measures memory in a pass after all timing.
    """
    libc = _libc()
    if libc is None:
        return None
    libc.mallopt(-3, 64 * 1024)  # M_MMAP_THRESHOLD
    fn()  # warm-up, so one-time allocations (caches, thread pools) are not counted
    libc.malloc_trim(0)
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return None
    before = _vm_kib("VmRSS")
    fn()
    peak = _vm_kib("VmHWM")
    if before is None or peak is None:
        return None
    return max(0, peak - before) / 1024
