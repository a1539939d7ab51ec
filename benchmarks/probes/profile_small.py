"""Where the time goes at small sizes: torch.nn's fused LSTM/GRU vs rnnkit's engine.

Run: .venv/bin/python benchmarks/probes/profile_small.py   (prints a table; medians of
interleaved repeats, so a loaded machine shifts all columns alike).
"""

from __future__ import annotations

import torch

import rnnkit
from rnnkit.bench.timing import interleaved

T = 100


def _point(mode, B, H):
    """Median seconds of each measured thing at one size (interleaved repeats)."""
    ref = getattr(torch.nn, mode)(H, H)
    eng = getattr(rnnkit, mode)(H, H, backend="engine")
    eng.load_state_dict(ref.state_dict())
    nat = getattr(rnnkit, mode)(H, H, backend="native")
    nat.load_state_dict(ref.state_dict())
    x = torch.randn(T, B, H, requires_grad=True)
    G = 4 if mode == "LSTM" else 3
    w, h, pre = torch.randn(G * H, H), torch.randn(B, H), torch.randn(B, G * H)

    def train(m):
        return lambda: m(x)[0].sum().backward()

    def infer(m):
        def f():
            with torch.no_grad():
                m(x)

        return f

    cases = {
        "nn_train": train(ref),
        "eng_train": train(eng),
        "nat_train": train(nat),
        "nn_infer": infer(ref),
        "eng_infer": infer(eng),
        "nat_infer": infer(nat),
        "addmm_step": lambda: torch.addmm(pre, h, w.t()),  # one step's recurrent matmul
        "sigmoid_step": lambda: pre.sigmoid(),  # one step's gate op, as a torch call
    }
    res = interleaved(cases, rounds=7, min_sample_s=0.02)
    return {k: v["median_s"] for k, v in res.items()}


def main():
    torch.manual_seed(0)
    print(
        "| cell | B | H | torch.nn train µs/step | engine | native | torch.nn infer µs/step | "
        "engine | native | one addmm call µs | one sigmoid call µs | addmm GFLOP/s |"
    )
    print("|---" * 12 + "|")
    for mode in ("LSTM", "GRU"):
        for B, H in ((1, 64), (16, 64), (64, 256), (16, 512)):
            md = _point(mode, B, H)
            G = 4 if mode == "LSTM" else 3
            flops = 2 * B * H * G * H  # one step's recurrent matmul
            us = {k: v / T * 1e6 for k, v in md.items()}
            print(
                f"| {mode} | {B} | {H} | {us['nn_train']:.1f} | {us['eng_train']:.1f} | "
                f"{us['nat_train']:.1f} | {us['nn_infer']:.1f} | {us['eng_infer']:.1f} | "
                f"{us['nat_infer']:.1f} | {md['addmm_step'] * 1e6:.2f} | "
                f"{md['sigmoid_step'] * 1e6:.2f} | {flops / md['addmm_step'] / 1e9:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
