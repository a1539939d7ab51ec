"""A/B of one native-kernel switch, interleaved in one process (one thread by default).

The native kernels read their switches (src/rnnkit/native/settings.h) from the environment
once; each timed call sets or unsets ``NAME=VALUE`` and has them re-read
(``rnnkit.native.reload_settings()``, a few microseconds, the same in both variants), so
the variant and the default (unset) are timed side by side:

    python benchmarks/probes/env_ab.py RNNKIT_NATIVE_MKL_PACK=1   # MKL vs panels
    python benchmarks/probes/env_ab.py RNNKIT_NATIVE_NO_FUSE=1 --cells LSTM --batches 16,64,256
    python benchmarks/probes/env_ab.py RNNKIT_NATIVE_SMALL_MM_MAX_B=2 --batches 4,8 --hidden 64
    python benchmarks/probes/env_ab.py RNNKIT_NATIVE_NO_BATCH_SPLIT=1 --threads 2

Prints time(with NAME=VALUE) / time(default) for the training step and for inference:
> 1 means the default is faster.
"""

from __future__ import annotations

import argparse
import os

import torch

import rnnkit
from rnnkit import native
from rnnkit.bench.cases import train_and_infer
from rnnkit.bench.timing import interleaved


def ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("switch", help="NAME=VALUE, e.g. RNNKIT_NATIVE_MKL_PACK=1")
    ap.add_argument("--cells", default="LSTM,GRU")
    ap.add_argument("--batches", type=ints, default=[1, 4, 16, 64, 256])
    ap.add_argument("--hidden", type=ints, default=[64, 256])
    ap.add_argument("--steps", type=int, default=50, help="sequence length T")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    name, _, value = args.switch.partition("=")
    os.environ[name] = value
    native.reload_settings()  # a value the kernels refuse stops here, naming the variable
    torch.set_num_threads(args.threads)
    print(f"cell B H   time with {args.switch} / default:  train  infer")
    for cell in args.cells.split(","):
        for B in args.batches:
            for H in args.hidden:
                m = getattr(rnnkit, cell)(H, H, backend="native")
                train, infer = train_and_infer(m, torch.randn(args.steps, B, H))

                def variant(fn, on):
                    def run():
                        if on:
                            os.environ[name] = value
                        else:
                            os.environ.pop(name, None)
                        native.reload_settings()
                        fn()
                    return run

                cases = {f"{k}-{on}": variant(fn, on) for k, fn in (("train", train),
                         ("infer", infer)) for on in (True, False)}
                t = {k: r["median_s"] for k, r in
                     interleaved(cases, rounds=args.rounds, min_sample_s=0.1).items()}
                print(f"{cell} {B:>3} {H:>4}   {t['train-True'] / t['train-False']:.2f}"
                      f"   {t['infer-True'] / t['infer-False']:.2f}", flush=True)
    os.environ.pop(name, None)
    native.reload_settings()


if __name__ == "__main__":
    main()
