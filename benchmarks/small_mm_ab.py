"""A/B of the per-step micro-kernel at batch 3-8 against MKL's packed GEMM, in one process.

RNNKIT_NATIVE_SMALL_MM_MAX_B=2 restores the old rule (micro-kernel at batch <= 2 only);
the kernels read it on every call, so both variants are timed interleaved, one thread.
Run: .venv/bin/python benchmarks/small_mm_ab.py
"""

from __future__ import annotations

import os

import torch

import rnnkit
from rnnkit.bench.timing import interleaved


def main() -> None:
    torch.set_num_threads(1)
    print("cell B H   train: micro/MKL time   infer: micro/MKL time   (< 1: micro-kernel faster)")
    for cell in ("LSTM", "GRU"):
        for B in (4, 8):
            H = 64
            m = getattr(rnnkit, cell)(H, H, backend="native")
            x = torch.randn(50, B, H)
            params = list(m.parameters())

            def train():
                torch.autograd.grad(m(x)[0].sum(), params)

            def infer():
                with torch.no_grad():
                    m(x)

            def variant(fn, max_b):
                def run():
                    os.environ["RNNKIT_NATIVE_SMALL_MM_MAX_B"] = max_b
                    fn()

                return run

            cases = {f"{k}-{v}": variant(fn, mb) for k, fn in (("train", train), ("infer", infer))
                     for v, mb in (("micro", "8"), ("mkl", "2"))}
            t = {k: r["median_s"] for k, r in interleaved(cases, rounds=7, min_sample_s=0.1).items()}
            print(f"{cell} {B:>2} {H}   {t['train-micro'] / t['train-mkl']:.2f}"
                  f"   {t['infer-micro'] / t['infer-mkl']:.2f}", flush=True)
    os.environ.pop("RNNKIT_NATIVE_SMALL_MM_MAX_B", None)


if __name__ == "__main__":
    main()
