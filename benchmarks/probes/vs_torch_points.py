"""Native against torch.nn at chosen points, inference and training step, one process.

    python benchmarks/probes/vs_torch_points.py                      # docs/PERFORMANCE.md 3c
    python benchmarks/probes/vs_torch_points.py --threads 2 --points LSTM:1024:1:50,GRU:512:4:8

A point is CELL:H:B:T[:LAYERS[:bi]] (input size = H): `rnnkit bench --grid random`'s slowest
shape "LSTM T=217 B=5 H=45 L2 bi" is LSTM:45:5:217:2:bi, and its RNN_TANH is RNN here. Prints
native's time and its speed-up over torch.nn (> 1 = native faster), interleaved medians. To
compare two builds, run it from each checkout with its own RNNKIT_NATIVE_CACHE and
PYTHONPATH=<checkout>/src, alternating.
"""

from __future__ import annotations

import argparse

import torch

import rnnkit
from rnnkit.bench.cases import train_and_infer
from rnnkit.bench.timing import interleaved

DEFAULT = (
    "LSTM:1024:1:1,LSTM:1024:1:50,GRU:1024:1:1,LSTM:512:1:1,LSTM:256:16:1,"
    "LSTM:256:1:1,LSTM:1024:16:4"
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", default=DEFAULT)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for spec in args.points.split(","):
        cell, H, B, T, *rest = spec.split(":")
        H, B, T = int(H), int(B), int(T)
        layers = int(rest[0]) if rest else 1
        bi = rest[1:] == ["bi"]
        torch.manual_seed(0)
        theirs = getattr(torch.nn, cell)(H, H, layers, bidirectional=bi)
        ours = getattr(rnnkit, cell)(H, H, layers, bidirectional=bi, backend="native")
        ours.load_state_dict(theirs.state_dict())
        x = torch.randn(T, B, H)

        (tt, ti), (nt, ni) = train_and_infer(theirs, x), train_and_infer(ours, x)
        r = interleaved({"ti": ti, "ni": ni, "tt": tt, "nt": nt}, rounds=args.rounds)
        t = {k: v["median_s"] for k, v in r.items()}
        print(
            f"{cell} H={H} B={B} T={T} L={layers}{' bi' if bi else ''}: "
            f"infer {t['ni'] * 1e3:.2f} ms (x{t['ti'] / t['ni']:.2f}"
            f" torch.nn)  train {t['nt'] * 1e3:.2f} ms (x{t['tt'] / t['nt']:.2f})",
            flush=True,
        )


if __name__ == "__main__":
    main()
